//! What the issued tokens say beyond the registered claims: the app's claims (per account, and
//! per API key from its metadata) reaching a handler's `Claims<C>` over real HTTP, never
//! overriding the issuer's; the API key's id and the OAuth client's id in the payload.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::TokenEndpoints;
use tower_api_auth::issuer::{
    Account, MemoryClientStore, MemoryRefreshStore, PasswordVerifier, REGISTERED_CLAIMS,
    TokenService,
};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::StoreError;
use tower_api_auth::{AuthLayer, Claims, MemoryKeyStore, Tenant};

use common::lifecycle::*;
use common::{Server, serve};

/// The app's claims type: registered claims and its own, read by the `Claims<C>` extractor.
#[derive(Debug, Deserialize)]
struct AppClaims {
    sub: String,
    scope: String,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    org: Option<Value>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    api_key_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

async fn claims(Claims(claims): Claims<AppClaims>) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "scope": claims.scope,
        "plan": claims.plan,
        "org": claims.org,
        "region": claims.region,
        "api_key_id": claims.api_key_id,
        "client_id": claims.client_id,
    }))
}

/// One user whose account carries claims, some of them registered names it may not set.
struct ClaimingUsers;

impl PasswordVerifier for ClaimingUsers {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        let ok = username == ALICE && password == ALICE_PASSWORD;
        Ok(ok.then(|| {
            let mut account = Account::new(ALICE_SUB, Scopes::parse(ALICE_SCOPES).unwrap())
                .with_tenants([Tenant::new("tn_a").unwrap()])
                .with_claim("plan", "pro")
                .with_claim("org", json!({ "id": 7, "name": "Acme" }));
            for registered in REGISTERED_CLAIMS {
                account = account.with_claim(*registered, "forged");
            }
            // Even set by hand, a registered name never reaches a token.
            account.claims.insert("scope".into(), json!("admin"));
            account
                .claims
                .insert("api_key_id".into(), json!("k_forged"));
            account
        }))
    }
}

struct Setup {
    server: Server,
    /// An API key with metadata `plan`, `region`, `sub`.
    api_key: String,
    api_key_id: String,
    client_secret: String,
}

async fn setup() -> Setup {
    let clock = ManualClock::starting_now();
    let (api_key, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .with_record(|r| {
            r.with_owner(KEY_OWNER)
                .with_scopes(Scopes::parse(KEY_SCOPES).unwrap())
                .with_metadata("plan", "enterprise")
                .with_metadata("region", "eu-west")
                .with_metadata("sub", "forged")
                .with_metadata("internal_note", "not for tokens")
        })
        .into_parts();
    let api_key_id = record.key_id.to_string();
    let clients = Arc::new(MemoryClientStore::new(ApiKeyHasher::default()));
    let client_secret = clients.register(CLIENT_ID, Scopes::parse(CLIENT_SCOPES).unwrap(), vec![]);
    let tokens = Arc::new(
        TokenService::new(hs256_issuer(), MemoryRefreshStore::new())
            .passwords(ClaimingUsers)
            .api_keys(ApiKeys::new(MemoryKeyStore::from(vec![record])))
            // `sub` is registered: ignored.
            .api_key_claims(["plan", "region", "sub"])
            .clients(clients)
            .clock(clock.clone()),
    );
    let auth = || {
        AuthLayer::builder()
            .jwt(tokens.validator_with(|options| options.claims::<AppClaims>()))
            .revocation(tokens.revocations())
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let app = Router::new()
        .route("/v1/claims", get(claims).route_layer(auth()))
        .nest("/v1", TokenEndpoints::new(tokens.clone()).router(auth()));
    Setup {
        server: serve(app).await,
        api_key,
        api_key_id,
        client_secret,
    }
}

async fn claims_of(server: &Server, access_token: &str) -> Value {
    let reply = server.get("/v1/claims").bearer(access_token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[tokio::test]
async fn an_accounts_claims_reach_the_claims_extractor_and_never_override_the_issuers() {
    let setup = setup().await;
    let login = setup
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await
        .assert_granted();
    let refreshed = setup
        .server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": login.refresh() }),
        )
        .await
        .assert_granted();
    for grant in [&login, &refreshed] {
        let expected = json!({
            "sub": ALICE_SUB,
            "scope": ALICE_SCOPES,
            "plan": "pro",
            "org": { "id": 7, "name": "Acme" },
            "region": null,
            "api_key_id": null,
            "client_id": null,
        });
        assert_eq!(
            claims_of(&setup.server, &grant.access_token).await,
            expected
        );
        let payload = payload(&grant.access_token);
        assert_eq!(payload["iss"], ISSUER);
        assert_eq!(payload["aud"], AUDIENCE);
        assert_eq!(payload["tenant_id"], "tn_a");
        assert_eq!(payload["sid"], grant.session_id.as_deref().unwrap());
        assert!(payload["jti"].as_str().is_some_and(|jti| jti != "forged"));
        for registered in REGISTERED_CLAIMS {
            assert_ne!(payload[*registered], "forged", "{registered}: {payload}");
        }
        assert!(payload.get("scp").is_none(), "{payload}");
        assert!(payload.get("api_key_id").is_none(), "{payload}");
    }
}

#[tokio::test]
async fn api_key_metadata_becomes_claims_only_where_named() {
    let setup = setup().await;
    let pair = setup
        .server
        .post_json("/v1/auth/token", &json!({ "api_key": setup.api_key }))
        .await
        .assert_granted();
    let expected = json!({
        "sub": KEY_OWNER,
        "scope": KEY_SCOPES,
        "plan": "enterprise",
        "org": null,
        "region": "eu-west",
        "api_key_id": setup.api_key_id,
        "client_id": null,
    });
    assert_eq!(claims_of(&setup.server, &pair.access_token).await, expected);
    assert!(payload(&pair.access_token).get("internal_note").is_none());
    // A refresh keeps them.
    let refreshed = setup
        .server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": pair.refresh() }),
        )
        .await
        .assert_granted();
    assert_eq!(
        claims_of(&setup.server, &refreshed.access_token).await,
        expected
    );
}

#[tokio::test]
async fn exchanged_tokens_name_their_api_key_and_client_tokens_their_client() {
    let setup = setup().await;
    let exchanged = setup
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "api_key": setup.api_key, "scope": "reports:read" }),
        )
        .await
        .assert_granted();
    let refreshed = setup
        .server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": exchanged.refresh() }),
        )
        .await
        .assert_granted();
    for grant in [&exchanged, &refreshed] {
        let payload = payload(&grant.access_token);
        assert_eq!(
            payload["api_key_id"],
            setup.api_key_id.as_str(),
            "{payload}"
        );
        assert!(payload.get("client_id").is_none(), "{payload}");
    }
    let password = setup
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await
        .assert_granted();
    assert!(payload(&password.access_token).get("api_key_id").is_none());

    let client = setup
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, &setup.client_secret)
        .form("grant_type=client_credentials")
        .send()
        .await
        .assert_granted();
    let payload = payload(&client.access_token);
    assert_eq!(payload["client_id"], CLIENT_ID);
    assert!(payload.get("api_key_id").is_none(), "{payload}");
    assert_eq!(
        claims_of(&setup.server, &client.access_token).await["client_id"],
        CLIENT_ID
    );
}
