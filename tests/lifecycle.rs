//! The token lifecycle over real HTTP: signing, the grants, rotation with reuse detection, session
//! lifetimes, logout, revocation, the endpoints' bodies and errors, and that no token ever leaks.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

mod lifecycle_support;

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use tower_api_auth::issuer::{
    DEFAULT_ACCESS_TOKEN_TTL, MemoryRefreshStore, RefreshStore, RefreshTokenHash, Rotation,
};
use tower_api_auth::{
    Algorithm, AuthLayer, Identity, Tenant, api_key::ApiKeyHasher, error::ErrorFormat,
    issuer::AccessGrant, issuer::MemoryClients, issuer::SigningKey, issuer::TokenEndpoints,
    issuer::TokenIssuer, issuer::TokenService, revocation::RevocationCheck, scope::Scopes,
};

use lifecycle_support::*;

// ---------------------------------------------------------------------------------------------
// 1. Access tokens
// ---------------------------------------------------------------------------------------------

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
    assert!(iat.abs_diff(now()) <= 2);
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

// ---------------------------------------------------------------------------------------------
// 2. Password login
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// 3. The token endpoint
// ---------------------------------------------------------------------------------------------

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
        reply.assert_error(401, "invalid_client");
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

        let verify = fx
            .server
            .get("/v1/auth/verify")
            .bearer(&grant.access_token)
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

// ---------------------------------------------------------------------------------------------
// 4. Response shape
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn responses_follow_rfc_6749_section_5_1() {
    let fx = Fixture::start().await;
    let reply = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await;
    let grant = reply.assert_granted();
    let body = grant.body.as_object().unwrap();
    let keys: HashSet<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "scope",
            "session_id"
        ]),
        "{body:?}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["expires_in"].is_u64());
    assert_eq!(body["scope"], ALICE_SCOPES);

    // The 204 and the errors are not stored either.
    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&grant.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204);
    assert_eq!(logout.header("cache-control"), Some("no-store"));
    let error = fx.refresh(grant.refresh()).await;
    error.assert_grant_error(400, "invalid_grant");
    assert_eq!(error.header("pragma"), Some("no-cache"));
}

// ---------------------------------------------------------------------------------------------
// 5. Rotation and reuse detection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rotation_then_reuse_revokes_the_whole_family() {
    let fx = Fixture::start().await;
    let first = fx.login(ALICE, ALICE_PASSWORD).await;
    let second = fx.refresh(first.refresh()).await.assert_granted();
    assert_ne!(second.refresh(), first.refresh());
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(
        payload(&second.access_token)["jti"],
        payload(&first.access_token)["jti"]
    );
    assert_eq!(second.session_id, first.session_id);
    let third = fx.refresh(second.refresh()).await.assert_granted();
    for token in [&first, &second, &third] {
        assert_eq!(fx.me(&token.access_token).await.status, 200);
    }
    // An unrelated session of the same user.
    let other = fx.login(ALICE, ALICE_PASSWORD).await;

    // The first refresh token comes back: reuse.
    let reuse = fx.refresh(first.refresh()).await;
    reuse.assert_grant_error(400, "invalid_grant");
    reuse.assert_no_leak(first.refresh());
    reuse.assert_no_leak(third.refresh());

    // The newest refresh token is refused too, and so is every access token of the session.
    fx.refresh(third.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.refresh(second.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    for token in [&first, &second, &third] {
        fx.me(&token.access_token).await.assert_revoked();
        let verify = fx
            .server
            .get("/v1/auth/verify")
            .bearer(&token.access_token)
            .send()
            .await;
        verify.assert_revoked();
    }
    // The other session lives on.
    assert_eq!(fx.me(&other.access_token).await.status, 200);
    fx.refresh(other.refresh()).await.assert_granted();
}

// ---------------------------------------------------------------------------------------------
// 6. Session lifetimes
// ---------------------------------------------------------------------------------------------
//
// Times are whole unix seconds: an interval of `d` seconds of wall time spans `floor(d)` or
// `ceil(d)` whole seconds. The sleeps are chosen so that every check holds either way.

#[tokio::test]
async fn absolute_session_lifetime_is_not_extended_by_rotation() {
    let fx = Fixture::with(Options {
        session_ttl: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let session = fx.store.last_session();
    assert_eq!(session.expires_at - session.created_at, 2);
    tokio::time::sleep(Duration::from_millis(700)).await; // 0 or 1 s: alive
    let rotated = fx.refresh(login.refresh()).await.assert_granted();
    tokio::time::sleep(Duration::from_millis(1500)).await; // 2 or 3 s after login: over
    let late = fx.refresh(rotated.refresh()).await;
    late.assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn idle_timeout_ends_an_unrefreshed_session() {
    let fx = Fixture::with(Options {
        idle_timeout: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(fx.store.last_session().idle_timeout, Some(2));
    tokio::time::sleep(Duration::from_millis(700)).await; // 0 or 1 s idle
    let rotated = fx.refresh(login.refresh()).await.assert_granted();
    tokio::time::sleep(Duration::from_millis(2050)).await; // 2 or 3 s idle
    fx.refresh(rotated.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn refreshing_resets_the_idle_timer() {
    let fx = Fixture::with(Options {
        idle_timeout: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    let mut grant = fx.login(ALICE, ALICE_PASSWORD).await;
    // 2.1 s in all: 2 or 3 whole seconds after the login, yet never more than 1 after a refresh.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        grant = fx.refresh(grant.refresh()).await.assert_granted();
    }
    assert_eq!(fx.me(&grant.access_token).await.status, 200);
}

/// The store's lifetimes with explicit clocks: exact boundaries, no sleeping.
#[tokio::test]
async fn memory_store_lifetimes_at_exact_boundaries() {
    // A session as the service starts it, to re-time.
    let fx = Fixture::start().await;
    fx.login(ALICE, ALICE_PASSWORD).await;
    let mut template = fx.store.last_session();
    template.slot = None;

    // Absolute end 1010, idle 4: rotations at 1003, 1006, 1009 keep it alive; 1010 is the end.
    let store = MemoryRefreshStore::new();
    let mut session = template.clone();
    session.created_at = 1_000;
    session.expires_at = 1_010;
    session.idle_timeout = Some(4);
    assert_eq!(
        store.start(session.clone(), nth_hash(0)).await.unwrap(),
        None
    );
    for (i, at) in [1_003, 1_006, 1_009].into_iter().enumerate() {
        match store
            .rotate(nth_hash(i), nth_hash(i + 1), at)
            .await
            .unwrap()
        {
            Rotation::Rotated(s) => {
                assert_eq!(s.expires_at, 1_010, "rotation never extends the end")
            }
            other => panic!("rotation at {at}: {other:?}"),
        }
    }
    assert!(
        store
            .session_of(nth_hash(3), 1_009)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.rotate(nth_hash(3), nth_hash(4), 1_010).await.unwrap(),
        Rotation::Ended
    );
    assert_eq!(store.session_of(nth_hash(3), 1_009).await.unwrap(), None);

    // Idle: exactly `idle` seconds without a refresh ends it.
    let store = MemoryRefreshStore::new();
    store.start(session.clone(), nth_hash(10)).await.unwrap();
    assert!(matches!(
        store
            .rotate(nth_hash(10), nth_hash(11), 1_003)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    assert!(
        store
            .session_of(nth_hash(11), 1_006)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.session_of(nth_hash(11), 1_007).await.unwrap(), None);
    assert_eq!(
        store
            .rotate(nth_hash(11), nth_hash(12), 1_007)
            .await
            .unwrap(),
        Rotation::Ended
    );

    // Reuse: the spent token revokes the family, once; after that the session is just over.
    let store = MemoryRefreshStore::new();
    store.start(session.clone(), nth_hash(20)).await.unwrap();
    assert!(matches!(
        store
            .rotate(nth_hash(20), nth_hash(21), 1_001)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    match store
        .rotate(nth_hash(20), nth_hash(22), 1_002)
        .await
        .unwrap()
    {
        Rotation::Reused(s) => assert_eq!(s.id, session.id),
        other => panic!("reuse: {other:?}"),
    }
    assert_eq!(
        store
            .rotate(nth_hash(21), nth_hash(23), 1_002)
            .await
            .unwrap(),
        Rotation::Ended
    );
    assert_eq!(
        store
            .rotate(nth_hash(99), nth_hash(98), 1_002)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert_eq!(store.session_of(nth_hash(21), 1_002).await.unwrap(), None);

    // Ending: once.
    let store = MemoryRefreshStore::new();
    store.start(session.clone(), nth_hash(30)).await.unwrap();
    assert_eq!(
        store.end(&session.id, 1_001).await.unwrap().map(|s| s.id),
        Some(session.id.clone())
    );
    assert_eq!(store.end(&session.id, 1_001).await.unwrap(), None);
    assert_eq!(
        store
            .rotate(nth_hash(30), nth_hash(31), 1_001)
            .await
            .unwrap(),
        Rotation::Ended
    );

    // Slots: a new session in the same slot ends and returns the previous one.
    let store = MemoryRefreshStore::new();
    let mut a = session.clone();
    a.slot = Some("slot-1".into());
    let mut b = a.clone();
    b.id = "ses_second".into();
    assert_eq!(store.start(a.clone(), nth_hash(40)).await.unwrap(), None);
    assert_eq!(
        store
            .start(b.clone(), nth_hash(41))
            .await
            .unwrap()
            .map(|s| s.id),
        Some(a.id.clone())
    );
    assert_eq!(
        store
            .rotate(nth_hash(40), nth_hash(42), 1_001)
            .await
            .unwrap(),
        Rotation::Ended
    );
    assert!(matches!(
        store
            .rotate(nth_hash(41), nth_hash(43), 1_001)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));

    // Past its absolute end a family is forgotten when the next session starts.
    let store = MemoryRefreshStore::new();
    store.start(session.clone(), nth_hash(50)).await.unwrap();
    let mut later = session.clone();
    later.id = "ses_later".into();
    later.created_at = 2_000;
    later.expires_at = 2_010;
    store.start(later, nth_hash(51)).await.unwrap();
    assert_eq!(
        store
            .rotate(nth_hash(50), nth_hash(52), 2_001)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    let debug = format!("{store:?}");
    assert!(debug.contains("sessions: 1"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// 7. Concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_refreshes_over_http_have_one_winner() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let refresh_token = Arc::new(login.refresh().to_owned());
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let server = fx.server.clone();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (server, token, barrier) = (server.clone(), refresh_token.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            server
                .post_json(
                    "/v1/auth/refresh",
                    &json!({ "refresh_token": token.as_str() }),
                )
                .await
        }));
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == 200 {
            winners.push(reply.assert_granted());
        } else {
            reply.assert_grant_error(400, "invalid_grant");
            reply.assert_no_leak(&refresh_token);
            losers += 1;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    assert_eq!(losers, 31);
    // The losers presented a spent token: reuse was detected and the family revoked, so the
    // winner's new pair is dead too.
    let winner = &winners[0];
    fx.refresh(winner.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&winner.access_token).await.assert_revoked();
    fx.me(&login.access_token).await.assert_revoked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_refreshes_on_the_service_have_one_winner() {
    let store = TestStore::new();
    let tokens = Arc::new(TokenService::new(hs256_issuer(), store.clone()).passwords(Users::new()));
    let login = tokens
        .password(ALICE, ALICE_PASSWORD, None, None)
        .await
        .unwrap();
    let refresh_token: Arc<str> = login.refresh_token.clone().unwrap().into();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (tokens, token) = (tokens.clone(), refresh_token.clone());
        tasks.push(tokio::spawn(
            async move { tokens.refresh(&token, None).await },
        ));
    }
    let mut ok = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(pair) => ok.push(pair),
            Err(error) => assert_eq!(error.code(), "invalid_grant"),
        }
    }
    assert_eq!(ok.len(), 1);
    let winner = ok.pop().unwrap();
    let err = tokens
        .refresh(winner.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_grant");
    let sid = login.session_id.as_deref().unwrap();
    assert!(
        tokens
            .revocations()
            .is_revoked(Some(sid), None, now())
            .unwrap()
    );
}

#[test]
fn racing_rotations_on_the_memory_store_have_one_winner() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = TestStore::new();
    let tokens = TokenService::new(hs256_issuer(), store.clone()).passwords(Users::new());
    let login = runtime
        .block_on(tokens.password(ALICE, ALICE_PASSWORD, None, None))
        .unwrap();
    let presented = RefreshTokenHash::of(login.refresh_token.as_deref().unwrap()).unwrap();
    let inner = store.inner.clone();
    let at = now();
    let outcomes: Vec<Rotation> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let inner = &inner;
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    runtime
                        .block_on(inner.rotate(presented, nth_hash(1_000 + i), at))
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, Rotation::Rotated(_)))
        .count();
    let reused = outcomes
        .iter()
        .filter(|o| matches!(o, Rotation::Reused(_)))
        .count();
    let ended = outcomes.iter().filter(|o| **o == Rotation::Ended).count();
    assert_eq!((rotated, reused, ended), (1, 1, 62), "{outcomes:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Logout
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn logout_ends_one_session_only() {
    let fx = Fixture::start().await;
    let phone = fx.login(ALICE, ALICE_PASSWORD).await;
    let laptop = fx.login(ALICE, ALICE_PASSWORD).await;
    let bob = fx.login(BOB, BOB_PASSWORD).await;
    assert_ne!(phone.session_id, laptop.session_id);

    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&phone.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert!(logout.text.is_empty());
    assert_eq!(logout.header("cache-control"), Some("no-store"));

    fx.me(&phone.access_token).await.assert_revoked();
    let reply = fx.me(&phone.access_token).await;
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    fx.refresh(phone.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    // Logging out again with the revoked token is refused by the layer.
    fx.server
        .post("/v1/auth/logout")
        .bearer(&phone.access_token)
        .send()
        .await
        .assert_revoked();

    // The other session of the same user, and the other user, are untouched.
    assert_eq!(fx.me(&laptop.access_token).await.status, 200);
    let next = fx.refresh(laptop.refresh()).await.assert_granted();
    assert_eq!(fx.me(&next.access_token).await.status, 200);
    assert_eq!(fx.me(&bob.access_token).await.status, 200);

    // Logging out with an older access token of a rotated session ends the session too.
    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&laptop.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204);
    fx.me(&next.access_token).await.assert_revoked();
    fx.refresh(next.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");

    // Without a token: 401 missing_credentials.
    let anonymous = fx.server.post("/v1/auth/logout").send().await;
    anonymous.assert_error(401, "missing_credentials");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn logout_of_a_client_credentials_token_revokes_that_token() {
    let fx = Fixture::start().await;
    let get = || async {
        fx.server
            .post("/v1/auth/token")
            .basic(CLIENT_ID, &fx.client_secret)
            .form("grant_type=client_credentials")
            .send()
            .await
            .assert_granted()
    };
    let (first, second) = (get().await, get().await);
    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&first.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204);
    fx.me(&first.access_token).await.assert_revoked();
    assert_eq!(fx.me(&second.access_token).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// 9. Revocation (RFC 7009)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let rotated = fx.refresh(login.refresh()).await.assert_granted();
    let other = fx.login(ALICE, ALICE_PASSWORD).await;

    let reply = fx
        .server
        .post_form(
            "/v1/auth/revoke",
            &format!("token={}&token_type_hint=refresh_token", rotated.refresh()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.text.is_empty());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    fx.refresh(rotated.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&rotated.access_token).await.assert_revoked();
    fx.me(&login.access_token).await.assert_revoked();
    // Revoking again (a token of an ended session) is fine.
    let again = fx
        .server
        .post_json("/v1/auth/revoke", &json!({ "token": rotated.refresh() }))
        .await;
    assert_eq!(again.status, 200);

    // A spent refresh token of a live session also ends it.
    let spent_session = fx.login(BOB, BOB_PASSWORD).await;
    let current = fx.refresh(spent_session.refresh()).await.assert_granted();
    let reply = fx
        .server
        .post_json(
            "/v1/auth/revoke",
            &json!({ "token": spent_session.refresh() }),
        )
        .await;
    assert_eq!(reply.status, 200);
    fx.refresh(current.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&current.access_token).await.assert_revoked();

    assert_eq!(fx.me(&other.access_token).await.status, 200);
    fx.refresh(other.refresh()).await.assert_granted();
}

#[tokio::test]
async fn revoking_an_access_token_refuses_just_that_token() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let reply = fx
        .server
        .post_form(
            "/v1/auth/revoke",
            &format!("token={}&token_type_hint=access_token", login.access_token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    fx.me(&login.access_token).await.assert_revoked();
    // The session's refresh token still works and its new access token is accepted.
    let next = fx.refresh(login.refresh()).await.assert_granted();
    assert_eq!(fx.me(&next.access_token).await.status, 200);
}

#[tokio::test]
async fn revoking_unknown_tokens_is_fine_and_a_missing_token_is_not() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    // A token of another issuer, a well-shaped unknown refresh token, garbage.
    let foreign = TokenIssuer::new(
        SigningKey::hmac(Algorithm::HS256, b"another-secret-of-at-least-32-bytes!!!").unwrap(),
        ISSUER,
    )
    .audience(AUDIENCE)
    .issue(
        &AccessGrant::new(ALICE_SUB, Scopes::empty())
            .with_session(login.session_id.clone().unwrap()),
        now(),
    )
    .unwrap();
    let unknown_rt = format!("rt_{}", "Z".repeat(43));
    for token in [foreign.token.as_str(), unknown_rt.as_str(), "garbage"] {
        let reply = fx
            .server
            .post_json("/v1/auth/revoke", &json!({ "token": token }))
            .await;
        assert_eq!(reply.status, 200, "{token}: {}", reply.text);
    }
    // None of that touched alice's session.
    assert_eq!(fx.me(&login.access_token).await.status, 200);
    fx.refresh(login.refresh()).await.assert_granted();

    for reply in [
        fx.server
            .post_form("/v1/auth/revoke", "token_type_hint=refresh_token")
            .await,
        fx.server
            .post_json("/v1/auth/revoke", &json!({ "token": "" }))
            .await,
        fx.server.post("/v1/auth/revoke").send().await,
    ] {
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(message.contains("token"), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// 10. Verify
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn verify_describes_the_token() {
    let fx = Fixture::start().await;
    let login = fx
        .login_with(json!({
            "username": ALICE, "password": ALICE_PASSWORD, "scope": "profile conversations:read"
        }))
        .await;
    let exp = payload(&login.access_token)["exp"].clone();
    let reply = fx
        .server
        .get("/v1/auth/verify")
        .bearer(&login.access_token)
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["user_id"], ALICE_SUB);
    assert_eq!(body["scopes"], json!(["profile", "conversations:read"]));
    assert_eq!(body["expires_at"], exp);
    assert_eq!(body["method"], "jwt");
    assert_eq!(body["tenant"], "tn_a");

    let anonymous = fx.server.get("/v1/auth/verify").send().await;
    anonymous.assert_error(401, "missing_credentials");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let garbage = fx
        .server
        .get("/v1/auth/verify")
        .bearer("not.a.jwt")
        .send()
        .await;
    garbage.assert_error(401, "invalid_token");
    // A refresh token is no access token.
    let refresh = fx
        .server
        .get("/v1/auth/verify")
        .bearer(login.refresh())
        .send()
        .await;
    refresh.assert_error(401, "invalid_token");
    refresh.assert_no_leak(login.refresh());
}

// ---------------------------------------------------------------------------------------------
// 11. Client-chosen session ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_session_id_replaces_the_previous_session() {
    let fx = Fixture::start().await;
    let login = |user: &'static str, password: &'static str, sid: Option<&'static str>| {
        let mut body = json!({ "username": user, "password": password });
        if let Some(sid) = sid {
            body["session_id"] = json!(sid);
        }
        fx.login_with(body)
    };
    let first = login(ALICE, ALICE_PASSWORD, Some("device-42")).await;
    let bob_same_name = login(BOB, BOB_PASSWORD, Some("device-42")).await;
    // Bob chose the same name: Alice's session is not his to end.
    assert_eq!(fx.me(&first.access_token).await.status, 200);
    let second = login(ALICE, ALICE_PASSWORD, Some("device-42")).await;
    assert_ne!(first.session_id, second.session_id);
    // The session id in the answer is the server's, not the client's name.
    assert!(first.session_id.as_deref().unwrap().starts_with("ses_"));

    fx.refresh(first.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&first.access_token).await.assert_revoked();
    assert_eq!(fx.me(&second.access_token).await.status, 200);
    fx.refresh(second.refresh()).await.assert_granted();
    // Bob chose the same name: his session is his own.
    assert_eq!(fx.me(&bob_same_name.access_token).await.status, 200);
    fx.refresh(bob_same_name.refresh()).await.assert_granted();

    // The slot survives rotation: a new login in it ends the rotated session.
    let third = login(ALICE, ALICE_PASSWORD, Some("device-7")).await;
    let third_rotated = fx.refresh(third.refresh()).await.assert_granted();
    let fourth = login(ALICE, ALICE_PASSWORD, Some("device-7")).await;
    fx.refresh(third_rotated.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&third_rotated.access_token).await.assert_revoked();
    assert_eq!(fx.me(&fourth.access_token).await.status, 200);

    // Without session_id: independent sessions.
    let a = login(ALICE, ALICE_PASSWORD, None).await;
    let b = login(ALICE, ALICE_PASSWORD, None).await;
    fx.refresh(a.refresh()).await.assert_granted();
    fx.refresh(b.refresh()).await.assert_granted();

    // The session_id is also honoured on the token endpoint.
    let form = |sid: &str| {
        format!(
            "grant_type=password&username={ALICE}&password={}&session_id={sid}",
            form_value(ALICE_PASSWORD)
        )
    };
    let t1 = fx
        .server
        .post_form("/v1/auth/token", &form("cli"))
        .await
        .assert_granted();
    let t2 = fx
        .server
        .post_form("/v1/auth/token", &form("cli"))
        .await
        .assert_granted();
    fx.me(&t1.access_token).await.assert_revoked();
    assert_eq!(fx.me(&t2.access_token).await.status, 200);

    // Malformed session ids (an empty one is omitted, RFC 6749 §3.2).
    for sid in [json!("has space"), json!("x".repeat(129))] {
        let reply = fx
            .server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": ALICE_PASSWORD, "session_id": sid }),
            )
            .await;
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(message.contains("session_id"), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// 12. Scope narrowing
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// 13. Bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_bodies_and_content_types() {
    let fx = Fixture::with(Options {
        body_limit: Some(256),
        ..Options::default()
    })
    .await;
    let malformed = fx
        .server
        .post("/v1/auth/login")
        .raw("application/json", r#"{"username": "alice", "password": "#)
        .send()
        .await;
    let message = malformed.assert_grant_error(400, "invalid_request");
    assert!(message.contains("JSON"), "{message}");
    let wrong_shape = fx
        .server
        .post("/v1/auth/login")
        .raw("application/json", r#"{"username": 42, "password": []}"#)
        .send()
        .await;
    assert!(
        wrong_shape
            .assert_grant_error(400, "invalid_request")
            .contains("JSON")
    );
    let not_object = fx
        .server
        .post("/v1/auth/token")
        .raw("application/json", "[1,2,3]")
        .send()
        .await;
    not_object.assert_grant_error(400, "invalid_request");

    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let reply = fx
            .server
            .post("/v1/auth/token")
            .raw(content_type, "grant_type=password")
            .send()
            .await;
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(
            message.contains("Content-Type"),
            "{content_type}: {message}"
        );
    }
    // Parameters of the media type are fine.
    let charset = fx
        .server
        .post("/v1/auth/login")
        .raw(
            "application/json; charset=utf-8",
            json!({ "username": ALICE, "password": ALICE_PASSWORD }).to_string(),
        )
        .send()
        .await;
    charset.assert_granted();

    // Over the limit: 413, on every endpoint that reads a body.
    let big = json!({ "username": ALICE, "password": "x".repeat(300) });
    for path in [
        "/v1/auth/login",
        "/v1/auth/token",
        "/v1/auth/refresh",
        "/v1/auth/revoke",
    ] {
        let reply = fx.server.post_json(path, &big).await;
        reply.assert_grant_error(413, "request_too_large");
    }
    // Just under the limit is read.
    let padding = 256
        - json!({ "username": ALICE, "password": ALICE_PASSWORD, "p": "" })
            .to_string()
            .len();
    let under = json!({ "username": ALICE, "password": ALICE_PASSWORD, "p": "y".repeat(padding) });
    assert_eq!(under.to_string().len(), 256);
    fx.server
        .post_json("/v1/auth/login", &under)
        .await
        .assert_granted();
}

// ---------------------------------------------------------------------------------------------
// 14. Error format
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_layers_error_format_applies_to_the_token_endpoints() {
    let fx = Fixture::with(Options {
        error_format: Some(ErrorFormat::Flat),
        ..Options::default()
    })
    .await;
    let wrong = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": "nope" }),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.header("content-type"), Some("application/json"));
    assert_eq!(wrong.header("cache-control"), Some("no-store"));
    assert_eq!(
        wrong.json(),
        json!({ "error": "invalid_grant", "message": "The username or password is wrong" })
    );
    let unsupported = fx
        .server
        .post_form("/v1/auth/token", "grant_type=device_code")
        .await;
    assert_eq!(unsupported.status, 400);
    assert_eq!(unsupported.json()["error"], "unsupported_grant_type");
    assert!(unsupported.json()["message"].is_string());
    let client = fx
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, "wrong")
        .form("grant_type=client_credentials")
        .send()
        .await;
    assert_eq!(client.status, 401);
    assert_eq!(client.json()["error"], "invalid_client");
    assert!(
        client
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let anonymous = fx.server.get("/v1/auth/verify").send().await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"], "missing_credentials");
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    fx.refresh(login.refresh()).await.assert_granted();
    let reuse = fx.refresh(login.refresh()).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.json()["error"], "invalid_grant");
    let revoked = fx.me(&login.access_token).await;
    assert_eq!(revoked.status, 401);
    assert_eq!(revoked.json()["error"], "token_revoked");
}

// ---------------------------------------------------------------------------------------------
// 15. No leakage
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: the server's tasks run on this thread, under the scoped subscriber.
#[tokio::test(flavor = "current_thread")]
async fn no_token_leaks_into_responses_debug_output_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fx = Fixture::start().await;
    let mut replies = Vec::new();
    let mut secrets: Vec<String> = vec![
        ALICE_PASSWORD.into(),
        fx.api_key.clone(),
        fx.client_secret.clone(),
    ];

    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let r1 = login.refresh().to_owned();
    let rotated = fx.refresh(&r1).await;
    let r2 = rotated.assert_granted().refresh().to_owned();
    // From here on r1 is spent: nothing may ever show it again.
    replies.push(fx.refresh(&r1).await); // reuse: the family ends
    replies.push(fx.refresh(&r2).await);
    replies.push(fx.me(&login.access_token).await);
    let second = fx.login(ALICE, ALICE_PASSWORD).await;
    replies.push(
        fx.server
            .post("/v1/auth/logout")
            .bearer(&second.access_token)
            .send()
            .await,
    );
    replies.push(fx.refresh(second.refresh()).await);
    replies.push(
        fx.server
            .post_json("/v1/auth/revoke", &json!({ "token": r1 }))
            .await,
    );
    replies.push(
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": "wrong-password-in-logs?" }),
            )
            .await,
    );
    replies.push(
        fx.server
            .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
            .await,
    );
    replies.push(
        fx.server
            .post("/v1/auth/token")
            .basic(CLIENT_ID, &fx.client_secret)
            .form("grant_type=client_credentials")
            .send()
            .await,
    );
    let verify = fx
        .server
        .get("/v1/auth/verify")
        .bearer(&second.access_token)
        .send()
        .await;
    verify.assert_revoked();
    replies.push(verify);
    secrets.extend([
        "wrong-password-in-logs?".into(),
        login.access_token.clone(),
        second.access_token.clone(),
        r2.clone(),
        second.refresh().to_owned(),
    ]);

    for reply in &replies {
        reply.assert_no_leak(&r1);
        reply.assert_no_leak(&hash_hex(&r1));
        reply.assert_no_leak(&hash_hex(&r2));
        reply.assert_no_leak(ALICE_PASSWORD);
        reply.assert_no_leak(&fx.client_secret);
    }
    // The rejections among them carry no tokens at all.
    for reply in replies.iter().filter(|r| r.status >= 400) {
        for secret in &secrets {
            reply.assert_no_leak(secret);
        }
    }

    // Debug output.
    let service_login = fx
        .tokens
        .password(ALICE, ALICE_PASSWORD, None, None)
        .await
        .unwrap();
    let debug = [
        format!("{service_login:?}"),
        format!("{:?}", fx.store.inner),
        format!("{:?}", fx.tokens),
        format!("{:?}", fx.store.last_session()),
        format!("{:?}", RefreshTokenHash::of(&r1).unwrap()),
        format!("{:?}", hs256_issuer()),
    ];
    secrets.extend([
        r1.clone(),
        hash_hex(&r1),
        service_login.access_token.clone(),
        service_login.refresh_token.clone().unwrap(),
        String::from_utf8_lossy(SECRET).into_owned(),
    ]);
    for text in &debug {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text} leaks a secret");
        }
    }
    assert!(debug[0].contains("<redacted>"), "{}", debug[0]);

    // Logs: there are some, and they hold no secret.
    drop(_guard);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("refresh token reuse"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("token endpoint request rejected"), "{logs}");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs:\n{logs}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 16. A failing store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_failing_store_answers_503_never_401_or_400() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    fx.store.failing.store(true, Ordering::SeqCst);

    let replies = [
        (
            "login",
            fx.server
                .post_json(
                    "/v1/auth/login",
                    &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
                )
                .await,
        ),
        (
            "token password",
            fx.server
                .post_form(
                    "/v1/auth/token",
                    &format!(
                        "grant_type=password&username={ALICE}&password={}",
                        form_value(ALICE_PASSWORD)
                    ),
                )
                .await,
        ),
        ("refresh", fx.refresh(login.refresh()).await),
        (
            "token refresh",
            fx.server
                .post_form(
                    "/v1/auth/token",
                    &format!("grant_type=refresh_token&refresh_token={}", login.refresh()),
                )
                .await,
        ),
        (
            "api key",
            fx.server
                .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
                .await,
        ),
        (
            "revoke",
            fx.server
                .post_json("/v1/auth/revoke", &json!({ "token": login.refresh() }))
                .await,
        ),
        (
            "logout",
            fx.server
                .post("/v1/auth/logout")
                .bearer(&login.access_token)
                .send()
                .await,
        ),
    ];
    for (what, reply) in &replies {
        assert_eq!(reply.status, 503, "{what}: {}", reply.text);
        assert_eq!(reply.json()["error"]["code"], "auth_unavailable", "{what}");
        assert_eq!(reply.header("www-authenticate"), None, "{what}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
        reply.assert_no_leak("refresh store is down");
    }

    // The store recovers: nothing was spent or ended by the failed calls.
    fx.store.failing.store(false, Ordering::SeqCst);
    assert_eq!(fx.me(&login.access_token).await.status, 200);
    fx.refresh(login.refresh()).await.assert_granted();

    // A password verifier that fails: 503 as well.
    fx.users_down.store(true, Ordering::SeqCst);
    let reply = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await;
    reply.assert_grant_error(503, "auth_unavailable");
    reply.assert_no_leak("user database is down");
}

#[tokio::test]
async fn basic_client_credentials_are_form_decoded_and_sent_once() {
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded before the Basic encoding.
    let clients = Arc::new(MemoryClients::new(ApiKeyHasher::default()));
    let client_id = "svc:reports+1";
    let secret = clients.register(client_id, Scopes::parse("reports:read").unwrap(), vec![]);
    let tokens =
        Arc::new(TokenService::new(hs256_issuer(), MemoryRefreshStore::new()).clients(clients));
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    let server = serve(Router::new().nest("/v1", TokenEndpoints::new(tokens).router(auth))).await;

    let grant = server
        .post("/v1/auth/token")
        .basic("svc%3Areports%2B1", &secret)
        .form("grant_type=client_credentials")
        .send()
        .await
        .assert_granted();
    assert_eq!(payload(&grant.access_token)["client_id"], client_id);

    // Unescaped, the `+` reads as a space: another client, refused.
    let reply = server
        .post("/v1/auth/token")
        .basic("svc%3Areports+1", &secret)
        .form("grant_type=client_credentials")
        .send()
        .await;
    reply.assert_grant_error(401, "invalid_client");

    // Two authentication methods in one request are malformed (RFC 6749 §2.3).
    let reply = server
        .post("/v1/auth/token")
        .basic("svc%3Areports%2B1", &secret)
        .form(&format!(
            "grant_type=client_credentials&client_secret={secret}"
        ))
        .send()
        .await;
    reply.assert_grant_error(400, "invalid_request");
    assert!(!reply.text.contains(&secret));
}

#[tokio::test]
async fn an_exchanged_sessions_lives_and_dies_with_its_api_key() {
    // Revoked: the next refresh fails and the session's access tokens are refused.
    let keys = Arc::new(tower_api_auth::MemoryKeyProvider::new());
    let (key, record) = ApiKeyHasher::default()
        .generate(&tower_api_auth::api_key::ApiKeyFormat::default())
        .with_record(|r| r.with_scopes(Scopes::parse("read").unwrap()))
        .into_parts();
    let key_id = record.key_id.clone();
    keys.insert(record);
    let tokens = Arc::new(
        TokenService::new(hs256_issuer(), MemoryRefreshStore::new())
            .api_keys(tower_api_auth::api_key::ApiKeys::from_shared(keys.clone())),
    );
    let pair = tokens
        .exchange_api_key(&key, None, None, None)
        .await
        .unwrap();
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
            .is_revoked(Some(&sid), None, now())
            .unwrap()
    );

    // Expiring: the session cannot outlast the key, whatever the session lifetime.
    let (key, record) = ApiKeyHasher::default()
        .generate(&tower_api_auth::api_key::ApiKeyFormat::default())
        .with_record(|r| r.with_expiry(now() + 2))
        .into_parts();
    keys.insert(record);
    let pair = tokens
        .exchange_api_key(&key, None, None, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
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
async fn the_token_endpoints_can_answer_in_the_oauth_format() {
    let tokens = Arc::new(TokenService::new(hs256_issuer(), MemoryRefreshStore::new()));
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    let endpoints = TokenEndpoints::new(tokens).error_format(ErrorFormat::OAuth);
    let server = serve(Router::new().nest("/v1", endpoints.router(auth))).await;
    let reply = server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": "rt_unknown" }),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({
            "error": "invalid_grant",
            "error_description": "The refresh token is invalid, expired or revoked"
        })
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}
