//! tower-api-auth (default features: `aws-lc-rs`) in a build where jsonwebtoken also has
//! `rust_crypto` on. jsonwebtoken 11 cannot pick a backend then and panics on first use unless a
//! process-level provider is installed; the crate must install its own before each of its calls
//! into jsonwebtoken. Every test starts from a fresh process state as far as it can tell: tests
//! run in any order, so each must pass whichever of them reaches jsonwebtoken first.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tower::ServiceExt as _;
use tower_api_auth::issuer::{AccessGrant, SigningKey, TokenIssuer};
use tower_api_auth::jwt::{JwtKey, JwtKeySet, JwtOptions};
use tower_api_auth::scope::Scopes;
use tower_api_auth::{Algorithm, AuthLayer, Identity, JwtValidator};

const SECRET: &[u8] = b"a-secret-of-at-least-thirty-two-bytes!!";

fn key(name: &str) -> Vec<u8> {
    let path = format!("{}/../../testdata/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The status of `GET /me` with `token`, behind an auth layer with `validator`.
async fn status(validator: JwtValidator, token: &str) -> StatusCode {
    async fn me(identity: Identity) -> String {
        identity.principal().to_owned()
    }
    let app = Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::builder().jwt(validator).build().expect("layer"));
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    app.oneshot(request).await.expect("infallible").status()
}

/// Issues a token with `key` and sends it through a layer with the issuer's own validator.
async fn issue_and_validate(key: SigningKey) {
    let issuer = TokenIssuer::new(key, "https://auth.example.test").audience("api");
    let grant = AccessGrant::new(
        "user_1",
        Scopes::parse("conversations:read").expect("scopes"),
    );
    let token = issuer.issue(&grant, now()).expect("token issued");
    assert_eq!(
        status(issuer.validator(), &token.token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_hmac_issuer_issues_tokens_its_validator_accepts() {
    let key = SigningKey::hmac(Algorithm::HS256, SECRET).expect("hmac key");
    issue_and_validate(key).await;
}

#[tokio::test]
async fn an_rsa_issuer_issues_tokens_its_validator_accepts() {
    // Deriving the public key goes through a JWK: jsonwebtoken's key utilities.
    let key = SigningKey::from_pem(Algorithm::RS256, &key("rsa_private")).expect("rsa key");
    issue_and_validate(key).await;
}

#[tokio::test]
async fn ec_and_ed25519_issuers_issue_tokens_their_validators_accept() {
    let ec = SigningKey::from_pem(Algorithm::ES256, &key("ec256_private")).expect("ec key");
    issue_and_validate(ec).await;
    let ed = SigningKey::from_pem(Algorithm::EdDSA, &key("ed25519_private")).expect("ed key");
    issue_and_validate(ed).await;
}

#[test]
fn verification_keys_of_every_kind_build() {
    JwtKey::hmac(Algorithm::HS256, SECRET).expect("hmac");
    JwtKey::from_pem(Algorithm::RS256, &key("rsa_public")).expect("rsa");
    JwtKey::from_pem(Algorithm::ES256, &key("ec256_public")).expect("ec");
    JwtKey::from_pem(Algorithm::EdDSA, &key("ed25519_public")).expect("ed");
    JwtValidator::public_pem(Algorithm::PS256, key("rsa_public"), JwtOptions::new())
        .expect("validator");
    let jwks = r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0"}]}"#;
    assert_eq!(JwtKeySet::from_jwks(jwks).expect("jwks").len(), 1);
}

#[tokio::test]
async fn the_apps_own_jsonwebtoken_calls_work_once_the_crate_built_a_key() {
    let validator = JwtValidator::hs256(SECRET, JwtOptions::new()).expect("validator");
    let claims = serde_json::json!({ "sub": "user_2", "exp": now() + 600 });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("signed by the app");
    assert_eq!(status(validator, &token).await, StatusCode::OK);
}
