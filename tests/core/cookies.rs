//! The credential cookie (opt-in: `AuthLayerBuilder::cookie`) at its edges, on required and
//! optional layers: an empty cookie is no credential; a stale one is rejected like a header's.
#![cfg(feature = "axum")]
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_api_auth::credential::CredentialSources;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{AuthLayer, Identity, JwtValidator};

use common::jwt::{claims, hmac_secret, hs256, sign};
use common::{HS256_SECRET, PAST};

const COOKIE: &str = "access_token";

/// A route that says who is calling, behind a layer reading `access_token`: required or optional.
fn app(optional: bool) -> Router {
    async fn whoami(identity: Option<Identity>) -> String {
        identity.map_or_else(|| "anonymous".to_owned(), |i| i.principal().to_owned())
    }
    let layer = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).expect("validator"))
        .credentials(CredentialSources::new().cookie(COOKIE))
        .build()
        .expect("layer");
    let layer = if optional { layer.optional() } else { layer };
    Router::new().route("/", get(whoami)).layer(layer)
}

/// `GET /` with `Cookie: <cookie>`: the status and the body (the caller, or the error code).
async fn call(optional: bool, cookie: &str) -> (StatusCode, String) {
    let request = Request::get("/")
        .header("cookie", cookie)
        .body(Body::empty())
        .expect("request");
    let response = app(optional).oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 body");
    let said = match serde_json::from_str::<Value>(&text) {
        Ok(error) => error["error"]["code"]
            .as_str()
            .expect("error code")
            .to_owned(),
        Err(_) => text,
    };
    (status, said)
}

fn answer(status: StatusCode, said: &str) -> (StatusCode, String) {
    (status, said.to_owned())
}

#[tokio::test]
async fn an_empty_cookie_is_no_credential() {
    for cookie in [
        "access_token=",
        "access_token=\"\"",
        "theme=dark; access_token=",
        "access_token= ; theme=dark",
    ] {
        assert_eq!(
            call(false, cookie).await,
            answer(StatusCode::UNAUTHORIZED, "missing_credentials"),
            "required layer, {cookie:?}"
        );
        assert_eq!(
            call(true, cookie).await,
            answer(StatusCode::OK, "anonymous"),
            "optional layer, {cookie:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_cookie_beside_a_real_one_is_not_a_second_credential() {
    let token = hs256(&claims("cookie_user"));
    for cookie in [
        format!("access_token=; access_token={token}"),
        format!("access_token={token}; access_token=\"\""),
    ] {
        for optional in [false, true] {
            assert_eq!(
                call(optional, &cookie).await,
                answer(StatusCode::OK, "cookie_user"),
                "optional: {optional}"
            );
        }
    }
}

#[tokio::test]
async fn a_stale_cookie_is_rejected_even_on_an_optional_layer() {
    let expired = hs256(&json!({ "sub": "u", "iat": PAST - 600, "exp": PAST }));
    // Signed with another key.
    let badly_signed = sign(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("u"),
        &jsonwebtoken::EncodingKey::from_secret(&hmac_secret(32)),
    );
    for optional in [false, true] {
        assert_eq!(
            call(optional, &format!("{COOKIE}={expired}")).await,
            answer(StatusCode::UNAUTHORIZED, "token_expired"),
            "expired, optional: {optional}"
        );
        assert_eq!(
            call(optional, &format!("{COOKIE}={badly_signed}")).await,
            answer(StatusCode::UNAUTHORIZED, "invalid_token"),
            "badly signed, optional: {optional}"
        );
        assert_eq!(
            call(optional, &format!("{COOKIE}=not.a.jwt")).await,
            answer(StatusCode::UNAUTHORIZED, "invalid_token"),
            "not a JWT, optional: {optional}"
        );
        let good = hs256(&claims("cookie_user"));
        assert_eq!(
            call(optional, &format!("theme=dark; {COOKIE}={good}")).await,
            answer(StatusCode::OK, "cookie_user"),
            "valid, optional: {optional}"
        );
    }
}
