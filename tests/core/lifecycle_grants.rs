//! The token lifecycle's grants: signed access tokens, password login, the token endpoint's
//! grants, API-key exchange, client credentials, scope narrowing and tenant selection. In process,
//! but for the tenant cases, which go over HTTP.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use tower_api_auth::clock::{Clock, ManualClock};
use tower_api_auth::issuer::{DEFAULT_ACCESS_TOKEN_TTL, MemoryRefreshStore};
use tower_api_auth::{
    Algorithm, AuthLayer, Identity, Tenant, api_key::ApiKeyHasher, issuer::AccessGrant,
    issuer::SigningKey, issuer::TokenIssuer, issuer::TokenService, scope::Scopes,
    store::RevocationCheck,
};

use common::lifecycle::*;
use common::{now, pem, serve};

async fn who(identity: Identity) -> Json<Value> {
    Json(json!({
        "principal": identity.principal(),
        "tenant": identity.tenant().map(Tenant::as_str),
        "scopes": identity.scopes(),
        "session_id": identity.session_id(),
        "token_id": identity.token_id(),
        "key_id": identity.key_id(),
        "expires_at": identity.expires_at(),
    }))
}

fn signing_keys() -> Vec<(&'static str, SigningKey)> {
    tower_api_auth::crypto::ensure_provider();
    vec![
        ("HS256", SigningKey::hmac(Algorithm::HS256, SECRET).unwrap()),
        (
            "RS256",
            SigningKey::from_pem(Algorithm::RS256, &pem("rsa_private")).unwrap(),
        ),
        (
            "PS256",
            SigningKey::from_pem(Algorithm::PS256, &pem("rsa_private")).unwrap(),
        ),
        (
            "ES256",
            SigningKey::from_pem(Algorithm::ES256, &pem("ec256_private")).unwrap(),
        ),
        (
            "EdDSA",
            SigningKey::from_pem(Algorithm::EdDSA, &pem("ed25519_private")).unwrap(),
        ),
    ]
}

#[tokio::test]
async fn issued_tokens_of_every_algorithm_validate_through_the_layer_with_no_glue() {
    let keys = signing_keys();
    let mut issued = Vec::new();
    for (alg, key) in &keys {
        let kid = format!("kid-{alg}");
        let key = key.clone().with_kid(kid.as_str());
        assert_eq!(key.kid(), Some(kid.as_str()));
        let issuer = TokenIssuer::new(key, ISSUER).audience(AUDIENCE);
        assert_eq!(issuer.ttl_secs(), 900);
        assert_eq!(DEFAULT_ACCESS_TOKEN_TTL, Duration::from_secs(900));
        let grant = AccessGrant::new("user_1", Scopes::parse("a:read a:write").unwrap())
            .with_tenants(vec![Tenant::new("tn_a").unwrap()])
            .with_session("ses_test");
        let at = now();
        let token = issuer.issue(&grant, at).expect("signed");
        assert_eq!(token.expires_in, 900);
        assert_eq!(token.expires_at, at + 900);
        assert!(
            !format!("{token:?}").contains(&token.token),
            "AccessToken's Debug redacts the JWT"
        );

        let (header, claims) = decode_jwt(&token.token);
        assert_eq!(header["alg"], *alg, "{header}");
        assert_eq!(header["typ"], "at+jwt", "{header}");
        assert_eq!(header["kid"], kid, "{header}");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["sub"], "user_1");
        assert_eq!(claims["iat"], at);
        assert_eq!(claims["exp"], at + 900);
        assert_eq!(claims["jti"], token.token_id.as_str());
        assert!(token.token_id.len() >= 16, "jti has entropy");
        assert_eq!(claims["sid"], "ses_test");
        assert_eq!(claims["scope"], "a:read a:write");
        assert_eq!(claims["tenant_id"], "tn_a");

        let app = Router::new().route("/who", get(who)).route_layer(
            AuthLayer::builder()
                .jwt(issuer.validator())
                .build()
                .unwrap(),
        );
        let server = serve(app).await;
        let reply = server.get("/who").bearer(&token.token).send().await;
        assert_eq!(reply.status, 200, "{alg}: {}", reply.text);
        let body = reply.json();
        assert_eq!(body["principal"], "user_1", "{alg}");
        assert_eq!(body["tenant"], "tn_a", "{alg}");
        assert_eq!(body["scopes"], json!(["a:read", "a:write"]), "{alg}");
        assert_eq!(body["session_id"], "ses_test", "{alg}");
        assert_eq!(body["token_id"], token.token_id.as_str(), "{alg}");
        assert_eq!(body["key_id"], kid, "{alg}");
        assert_eq!(body["expires_at"], at + 900, "{alg}");
        issued.push((alg.to_string(), token.token, server));
    }
    // Each validator accepts its own issuer's tokens only.
    for (i, (alg, _, server)) in issued.iter().enumerate() {
        let (other_alg, other_token, _) = &issued[(i + 1) % issued.len()];
        let reply = server.get("/who").bearer(other_token).send().await;
        assert_eq!(
            reply.status, 401,
            "{alg} layer must refuse a {other_alg} token"
        );
        assert_eq!(reply.json()["error"]["code"], "invalid_token");
    }
}

#[tokio::test]
async fn issuer_options_shape_the_claims() {
    let key = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
    assert_eq!(key.kid(), None);
    let issuer = TokenIssuer::new(key, ISSUER)
        .audience("api-1")
        .audience("api-2")
        .access_token_ttl(Duration::from_secs(60));
    let grant = AccessGrant::new("svc", Scopes::empty())
        .with_tenants(vec![
            Tenant::new("tn_x").unwrap(),
            Tenant::new("tn_y").unwrap(),
        ])
        .with_client("client_1");
    let at = now();
    let token = issuer.issue(&grant, at).unwrap();
    assert_eq!(token.expires_in, 60);
    let (header, claims) = decode_jwt(&token.token);
    assert_eq!(header["typ"], "at+jwt");
    assert!(header.get("kid").is_none_or(Value::is_null), "{header}");
    assert_eq!(claims["aud"], json!(["api-1", "api-2"]));
    assert_eq!(claims["tenant_id"], json!(["tn_x", "tn_y"]));
    assert_eq!(claims["client_id"], "client_1");
    assert_eq!(claims["exp"], at + 60);
    assert!(claims.get("sid").is_none(), "no session, no sid: {claims}");

    let app = Router::new().route("/who", get(who)).route_layer(
        AuthLayer::builder()
            .jwt(issuer.validator())
            .build()
            .unwrap(),
    );
    let server = serve(app).await;
    let reply = server
        .get("/who")
        .bearer(&token.token)
        .header("x-tenant-id", "tn_y")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["tenant"], "tn_y");
    assert_eq!(reply.json()["scopes"], json!([]));
}

#[test]
fn hmac_pem_mixups_are_refused() {
    tower_api_auth::crypto::ensure_provider();
    assert!(SigningKey::from_pem(Algorithm::HS256, &pem("rsa_private")).is_err());
    assert!(SigningKey::from_pem(Algorithm::ES256, &pem("rsa_private")).is_err());
    assert!(SigningKey::hmac(Algorithm::HS256, b"too short").is_err());
}

#[tokio::test]
async fn login_tokens_carry_the_session_and_account() {
    let fx = Fixture::start().await;
    let grant = fx.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(grant.scope, ALICE_SCOPES);
    let session_id = grant.session_id.clone().expect("session_id");
    assert!(session_id.starts_with("ses_"), "{session_id}");
    let (header, claims) = decode_jwt(&grant.access_token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], "hs-1");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["sub"], ALICE_SUB);
    assert_eq!(claims["sid"], session_id.as_str());
    assert_eq!(claims["scope"], ALICE_SCOPES);
    assert_eq!(claims["tenant_id"], "tn_a");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 900);
    assert_eq!(iat, fx.now());
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let me = fx.me(&grant.access_token).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        me.json(),
        json!({
            "principal": ALICE_SUB,
            "method": "jwt",
            "tenant": "tn_a",
            "scopes": ["conversations:read", "conversations:write", "profile"],
            "expires_at": exp,
        })
    );

    // Bob has two tenants: an array claim, and the tenant header picks one.
    let bob = fx.login(BOB, BOB_PASSWORD).await;
    assert_eq!(
        payload(&bob.access_token)["tenant_id"],
        json!(["tn_b", "tn_c"])
    );
    let me = fx
        .server
        .get("/v1/me")
        .bearer(&bob.access_token)
        .header("x-tenant-id", "tn_c")
        .send()
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["tenant"], "tn_c");
    let me = fx
        .server
        .get("/v1/me")
        .bearer(&bob.access_token)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    me.assert_error(403, "tenant_forbidden");
}

#[tokio::test]
async fn password_login_by_username_or_email() {
    let fx = Fixture::start().await;
    let by_name = fx.login(ALICE, ALICE_PASSWORD).await;
    let by_email = fx
        .login_with(json!({ "email": ALICE_EMAIL, "password": ALICE_PASSWORD }))
        .await;
    for grant in [&by_name, &by_email] {
        assert_eq!(payload(&grant.access_token)["sub"], ALICE_SUB);
        assert_eq!(grant.scope, ALICE_SCOPES);
        let me = fx.me(&grant.access_token).await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json()["principal"], ALICE_SUB);
    }
    assert_ne!(
        by_name.session_id, by_email.session_id,
        "two logins, two sessions"
    );
    assert_ne!(by_name.refresh_token, by_email.refresh_token);

    // A form body works at /auth/login as well.
    let reply = fx
        .server
        .post_form(
            "/v1/auth/login",
            &format!("username={ALICE}&password={}", form_value(ALICE_PASSWORD)),
        )
        .await;
    assert_eq!(
        payload(&reply.assert_granted().access_token)["sub"],
        ALICE_SUB
    );
}

#[tokio::test]
async fn wrong_or_missing_passwords_are_refused() {
    let fx = Fixture::start().await;
    let wrong = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": "not the password" }),
        )
        .await;
    let wrong_message = wrong.assert_grant_error(400, "invalid_grant");
    let unknown = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": "mallory", "password": ALICE_PASSWORD }),
        )
        .await;
    let unknown_message = unknown.assert_grant_error(400, "invalid_grant");
    assert_eq!(wrong_message, unknown_message, "no user enumeration");
    wrong.assert_no_leak("not the password");

    // Another user's password is wrong too.
    let crossed = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": BOB_PASSWORD }),
        )
        .await;
    crossed.assert_grant_error(400, "invalid_grant");

    for body in [
        json!({ "username": ALICE }),
        json!({ "username": ALICE, "password": "" }),
        json!({ "email": ALICE_EMAIL }),
    ] {
        let reply = fx.server.post_json("/v1/auth/login", &body).await;
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(message.contains("password"), "{message}");
    }
    for body in [json!({ "password": ALICE_PASSWORD }), json!({})] {
        let reply = fx.server.post_json("/v1/auth/login", &body).await;
        reply.assert_grant_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn token_endpoint_password_grant_with_form_and_json_bodies() {
    let fx = Fixture::start().await;
    let form = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!(
                "grant_type=password&username={ALICE}&password={}",
                form_value(ALICE_PASSWORD)
            ),
        )
        .await
        .assert_granted();
    let json = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "grant_type": "password", "username": BOB, "password": BOB_PASSWORD }),
        )
        .await
        .assert_granted();
    assert_eq!(payload(&form.access_token)["sub"], ALICE_SUB);
    assert_eq!(payload(&json.access_token)["sub"], BOB_SUB);
    assert!(form.refresh_token.is_some() && json.refresh_token.is_some());
    for grant in [&form, &json] {
        assert_eq!(fx.me(&grant.access_token).await.status, 200);
    }

    let wrong = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=password&username={ALICE}&password=nope"),
        )
        .await;
    wrong.assert_grant_error(400, "invalid_grant");
    let missing = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=password&username={ALICE}"),
        )
        .await;
    missing.assert_grant_error(400, "invalid_request");
}

#[tokio::test]
async fn token_endpoint_refresh_grant() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let next = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=refresh_token&refresh_token={}", login.refresh()),
        )
        .await
        .assert_granted();
    assert_ne!(next.refresh(), login.refresh());
    assert_eq!(next.session_id, login.session_id, "same session");
    assert_eq!(next.scope, ALICE_SCOPES);
    assert_eq!(fx.me(&next.access_token).await.status, 200);
    let again = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "grant_type": "refresh_token", "refresh_token": next.refresh() }),
        )
        .await
        .assert_granted();
    assert_ne!(again.refresh(), next.refresh());

    let missing = fx
        .server
        .post_form("/v1/auth/token", "grant_type=refresh_token")
        .await;
    assert!(
        missing
            .assert_grant_error(400, "invalid_request")
            .contains("refresh_token")
    );
    for garbage in ["rt_short", "not-a-token", &format!("rt_{}", "A".repeat(43))] {
        let reply = fx
            .server
            .post_json(
                "/v1/auth/token",
                &json!({ "grant_type": "refresh_token", "refresh_token": garbage }),
            )
            .await;
        reply.assert_grant_error(400, "invalid_grant");
    }
}

#[tokio::test]
async fn client_credentials_in_the_body_or_basic() {
    let fx = Fixture::start().await;
    let in_body = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!(
                "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={}",
                fx.client_secret
            ),
        )
        .await
        .assert_granted();
    let basic = fx
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, &fx.client_secret)
        .form("grant_type=client_credentials")
        .send()
        .await
        .assert_granted();
    for grant in [&in_body, &basic] {
        assert!(grant.body.get("refresh_token").is_none(), "{}", grant.body);
        assert!(grant.body.get("session_id").is_none(), "{}", grant.body);
        assert_eq!(grant.scope, CLIENT_SCOPES);
        let claims = payload(&grant.access_token);
        assert_eq!(claims["sub"], CLIENT_ID);
        assert_eq!(claims["client_id"], CLIENT_ID);
        assert_eq!(claims["tenant_id"], "tn_billing");
        assert!(claims.get("sid").is_none());
        let me = fx.me(&grant.access_token).await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json()["principal"], CLIENT_ID);
        assert_eq!(me.json()["tenant"], "tn_billing");
    }
    // Narrowed.
    let narrowed = fx
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, &fx.client_secret)
        .form("grant_type=client_credentials&scope=billing%3Aread")
        .send()
        .await
        .assert_granted();
    assert_eq!(narrowed.scope, "billing:read");
    assert_eq!(payload(&narrowed.access_token)["scope"], "billing:read");
    let widened = fx
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, &fx.client_secret)
        .form("grant_type=client_credentials&scope=admin")
        .send()
        .await;
    widened.assert_grant_error(400, "invalid_scope");

    // Wrong secret, unknown client, broken Basic: 401 invalid_client challenged with Basic.
    let wrong_secret = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!(
                "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=wrong-secret"
            ),
        )
        .await;
    let wrong_basic = fx
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, "wrong-secret")
        .form("grant_type=client_credentials")
        .send()
        .await;
    let unknown = fx
        .server
        .post("/v1/auth/token")
        .basic("client_nobody", &fx.client_secret)
        .form("grant_type=client_credentials")
        .send()
        .await;
    let broken = fx
        .server
        .post("/v1/auth/token")
        .header("authorization", "Basic !!!not-base64!!!")
        .form("grant_type=client_credentials")
        .send()
        .await;
    for reply in [&wrong_secret, &wrong_basic, &unknown, &broken] {
        reply.assert_grant_error(401, "invalid_client");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let challenge = reply.header("www-authenticate").expect("a challenge");
        assert!(challenge.starts_with("Basic"), "{challenge}");
        assert!(challenge.contains("realm="), "{challenge}");
        reply.assert_no_leak(&fx.client_secret);
    }
    let missing = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=client_credentials&client_id={CLIENT_ID}"),
        )
        .await;
    assert!(
        missing
            .assert_grant_error(400, "invalid_request")
            .contains("client_secret")
    );
}

#[tokio::test]
async fn api_key_exchange_carries_tenant_and_scopes() {
    let fx = Fixture::start().await;
    let no_grant_type = fx
        .server
        .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
        .await
        .assert_granted();
    let with_grant_type = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=api_key&api_key={}", fx.api_key),
        )
        .await
        .assert_granted();
    let at_login = fx.login_with(json!({ "api_key": fx.api_key })).await;
    for grant in [&no_grant_type, &with_grant_type, &at_login] {
        assert_eq!(grant.scope, KEY_SCOPES);
        assert!(grant.refresh_token.is_some());
        let claims = payload(&grant.access_token);
        assert_eq!(claims["sub"], KEY_OWNER);
        assert_eq!(claims["scope"], KEY_SCOPES);
        assert_eq!(claims["tenant_id"], json!(["tn_a", "tn_b"]));
        assert_eq!(claims["sid"], grant.session_id.as_deref().unwrap());

        // The token names the key's two tenants: like the key itself, it must pick one.
        fx.server
            .get("/v1/auth/verify")
            .bearer(&grant.access_token)
            .send()
            .await
            .assert_error(400, "tenant_required");
        let verify = fx
            .server
            .get("/v1/auth/verify")
            .bearer(&grant.access_token)
            .header("x-tenant-id", "tn_b")
            .send()
            .await;
        assert_eq!(verify.status, 200, "{}", verify.text);
        assert_eq!(verify.json()["user_id"], KEY_OWNER);
        assert_eq!(
            verify.json()["scopes"],
            json!(["reports:read", "reports:write"])
        );
        let me = fx
            .server
            .get("/v1/me")
            .bearer(&grant.access_token)
            .header("x-tenant-id", "tn_b")
            .send()
            .await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json()["principal"], KEY_OWNER);
        assert_eq!(me.json()["tenant"], "tn_b");
        assert_eq!(me.json()["method"], "jwt");
        assert_eq!(
            me.json()["scopes"],
            json!(["reports:read", "reports:write"])
        );
    }

    // One of the key's tenants, picked.
    let picked = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "api_key": fx.api_key, "tenant": "tn_b" }),
        )
        .await
        .assert_granted();
    assert_eq!(payload(&picked.access_token)["tenant_id"], "tn_b");
    let me = fx.me(&picked.access_token).await;
    assert_eq!(me.json()["tenant"], "tn_b");
    // A tenant the key does not have.
    let foreign = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "api_key": fx.api_key, "tenant": "tn_zzz" }),
        )
        .await;
    foreign.assert_grant_error(400, "invalid_grant");

    // A refresh keeps the key's tenants and scopes.
    let refreshed = fx.refresh(no_grant_type.refresh()).await.assert_granted();
    let claims = payload(&refreshed.access_token);
    assert_eq!(claims["tenant_id"], json!(["tn_a", "tn_b"]));
    assert_eq!(claims["scope"], KEY_SCOPES);

    // A wrong key, or the key with its last character changed.
    let mut tampered = fx.api_key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    for key in ["sk_live_nope", tampered.as_str()] {
        let reply = fx
            .server
            .post_json("/v1/auth/token", &json!({ "api_key": key }))
            .await;
        reply.assert_grant_error(400, "invalid_grant");
        reply.assert_no_leak(key);
    }
    // grant_type=api_key without a key is a malformed request.
    let missing = fx
        .server
        .post_form("/v1/auth/token", "grant_type=api_key")
        .await;
    assert!(
        missing
            .assert_grant_error(400, "invalid_request")
            .contains("api_key")
    );
}

#[tokio::test]
async fn unknown_or_missing_grant_types() {
    let fx = Fixture::start().await;
    for body in [
        "grant_type=authorization_code&code=x",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        "grant_type=PASSWORD&username=alice&password=x",
    ] {
        let reply = fx.server.post_form("/v1/auth/token", body).await;
        reply.assert_grant_error(400, "unsupported_grant_type");
    }
    let reply = fx
        .server
        .post_json("/v1/auth/token", &json!({ "grant_type": "implicit" }))
        .await;
    reply.assert_grant_error(400, "unsupported_grant_type");

    for reply in [
        fx.server
            .post_form(
                "/v1/auth/token",
                &format!("username={ALICE}&password={}", form_value(ALICE_PASSWORD)),
            )
            .await,
        fx.server.post_json("/v1/auth/token", &json!({})).await,
        fx.server.post("/v1/auth/token").send().await,
    ] {
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(message.contains("grant_type"), "{message}");
    }
}

#[tokio::test]
async fn scopes_narrow_and_never_widen() {
    let fx = Fixture::start().await;
    let narrowed = fx
        .login_with(json!({
            "username": ALICE, "password": ALICE_PASSWORD, "scope": "conversations:read"
        }))
        .await;
    assert_eq!(narrowed.scope, "conversations:read");
    assert_eq!(
        payload(&narrowed.access_token)["scope"],
        "conversations:read"
    );
    let me = fx.me(&narrowed.access_token).await;
    assert_eq!(me.json()["scopes"], json!(["conversations:read"]));

    // The session holds what the login granted; a refresh stays within it.
    let refreshed = fx.refresh(narrowed.refresh()).await.assert_granted();
    assert_eq!(refreshed.scope, "conversations:read");
    let widen = fx
        .server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refreshed.refresh(), "scope": "conversations:write" }),
        )
        .await;
    widen.assert_grant_error(400, "invalid_scope");
    // A refused scope does not spend the refresh token.
    let still = fx.refresh(refreshed.refresh()).await.assert_granted();
    assert_eq!(fx.me(&still.access_token).await.status, 200);

    // Refresh narrowing per token.
    let full = fx.login(ALICE, ALICE_PASSWORD).await;
    let one = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!(
                "grant_type=refresh_token&refresh_token={}&scope=profile",
                full.refresh()
            ),
        )
        .await
        .assert_granted();
    assert_eq!(one.scope, "profile");
    assert_eq!(payload(&one.access_token)["scope"], "profile");
    let back = fx.refresh(one.refresh()).await.assert_granted();
    assert_eq!(back.scope, ALICE_SCOPES, "the session's scopes, not wider");

    // API-key exchange narrowing.
    let key = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "api_key": fx.api_key, "scope": "reports:read" }),
        )
        .await
        .assert_granted();
    assert_eq!(key.scope, "reports:read");
    assert_eq!(payload(&key.access_token)["scope"], "reports:read");

    // Not granted, or malformed: invalid_scope everywhere.
    let refused = [
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": BOB, "password": BOB_PASSWORD, "scope": "conversations:write" }),
            )
            .await,
        fx.server
            .post_json(
                "/v1/auth/token",
                &json!({ "api_key": fx.api_key, "scope": "reports:read admin" }),
            )
            .await,
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": ALICE_PASSWORD, "scope": "bad\"scope" }),
            )
            .await,
    ];
    for reply in &refused {
        reply.assert_grant_error(400, "invalid_scope");
    }
}

#[tokio::test]
async fn an_exchanged_sessions_lives_and_dies_with_its_api_key() {
    // Revoked: the next refresh fails and the session's access tokens are refused.
    let keys = Arc::new(tower_api_auth::MemoryKeyStore::new());
    let (key, record) = ApiKeyHasher::default()
        .generate(&tower_api_auth::api_key::ApiKeyFormat::default())
        .with_record(|r| r.with_scopes(Scopes::parse("read").unwrap()))
        .into_parts();
    let key_id = record.key_id.clone();
    keys.insert(record);
    let clock = ManualClock::starting_now();
    let tokens = Arc::new(
        TokenService::new(hs256_issuer(), MemoryRefreshStore::new())
            .api_keys(tower_api_auth::api_key::ApiKeys::from_shared(keys.clone()))
            .clock(clock.clone()),
    );
    let pair = tokens.login(Login::api_key(&key)).await.unwrap();
    let next = tokens
        .refresh(pair.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    keys.revoke(&key_id);
    let refused = tokens
        .refresh(next.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_grant");
    let sid = payload(&next.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        tokens
            .revocations()
            .is_revoked(Some(&sid), None, clock.now())
            .unwrap()
    );

    // Expiring: the session cannot outlast the key, whatever the session lifetime.
    let (key, record) = ApiKeyHasher::default()
        .generate(&tower_api_auth::api_key::ApiKeyFormat::default())
        .with_record(|r| r.with_expires_at(clock.now() + 2))
        .into_parts();
    keys.insert(record);
    let pair = tokens.login(Login::api_key(&key)).await.unwrap();
    clock.advance(Duration::from_secs(2));
    let refused = tokens
        .refresh(pair.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_grant");
}

#[tokio::test]
async fn empty_parameters_count_as_omitted() {
    let fx = Fixture::start().await;
    // `scope=` asks for nothing in particular: the whole grant, not an empty one.
    let grant = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={}&scope=&session_id=", fx.client_secret),
        )
        .await
        .assert_granted();
    assert_eq!(grant.scope, CLIENT_SCOPES);
    // `grant_type=` is a missing grant type, not an unknown one.
    let reply = fx.server.post_form("/v1/auth/token", "grant_type=").await;
    reply.assert_grant_error(400, "invalid_request");
}

#[tokio::test]
async fn password_login_honours_the_tenant_over_http() {
    let fx = Fixture::over_http().await;
    // One of the account's tenants: the token's only one, at /auth/login and /auth/token alike.
    let login = fx
        .login_with(json!({ "username": BOB, "password": BOB_PASSWORD, "tenant": "tn_c" }))
        .await;
    let token = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=password&username={BOB}&password={BOB_PASSWORD}&tenant=tn_c"),
        )
        .await
        .assert_granted();
    for grant in [&login, &token] {
        assert_eq!(payload(&grant.access_token)["tenant_id"], "tn_c");
        let me = fx.me(&grant.access_token).await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json()["tenant"], "tn_c");
        // The other tenant of the account is not in this token.
        fx.server
            .get("/v1/me")
            .bearer(&grant.access_token)
            .header("x-tenant-id", "tn_b")
            .send()
            .await
            .assert_error(403, "tenant_forbidden");
        // A refresh keeps the one tenant.
        let next = fx.refresh(grant.refresh()).await.assert_granted();
        assert_eq!(payload(&next.access_token)["tenant_id"], "tn_c");
    }
    // Alice's only tenant, asked for by name.
    let alice = fx
        .login_with(json!({ "username": ALICE, "password": ALICE_PASSWORD, "tenant": "tn_a" }))
        .await;
    assert_eq!(payload(&alice.access_token)["tenant_id"], "tn_a");

    // A tenant the account does not hold: refused like the API-key exchange refuses it.
    let refused = [
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": ALICE_PASSWORD, "tenant": "other" }),
            )
            .await,
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": BOB, "password": BOB_PASSWORD, "tenant": "tn_a" }),
            )
            .await,
        fx.server
            .post_form(
                "/v1/auth/token",
                &format!(
                    "grant_type=password&username={ALICE}&password={}&tenant=other",
                    form_value(ALICE_PASSWORD)
                ),
            )
            .await,
        fx.server
            .post_json(
                "/v1/auth/token",
                &json!({ "api_key": fx.api_key, "tenant": "other" }),
            )
            .await,
    ];
    for reply in &refused {
        let message = reply.assert_grant_error(400, "invalid_grant");
        assert!(message.contains("tenant"), "{message}");
    }
    // A wrong password with a foreign tenant says nothing about the tenant.
    let wrong = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": "nope", "tenant": "other" }),
        )
        .await;
    assert_eq!(
        wrong.assert_grant_error(400, "invalid_grant"),
        "The username or password is wrong"
    );
}
