//! The token endpoints shaped as an API's documentation says, over real HTTP: paths, request and
//! answer field names, envelopes, the login's user, `expires_at`, per-endpoint failures, disabled
//! routes — in code and from a configuration file, which must behave the same.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;
use tower_api_auth::endpoints::{
    Endpoint, Failure, RequestField, ResponseShape, TokenEndpoints, TokenEndpointsConfig,
    TokenField, TokenRoute,
};
use tower_api_auth::error::ErrorFormat;
use tower_api_auth::issuer::{GrantCause, GrantErrorKind};

use common::lifecycle::*;

async fn shaped(
    shape: impl Fn(TokenEndpoints) -> TokenEndpoints + Send + Sync + 'static,
) -> Fixture {
    Fixture::with(Options {
        endpoints: Some(Arc::new(shape)),
        http: true,
        ..Options::default()
    })
    .await
}

/// RAG Chats' login and refresh, written in code.
fn ragchats(endpoints: TokenEndpoints) -> TokenEndpoints {
    endpoints
        .endpoint(
            TokenRoute::Login,
            Endpoint::at("/auth/login/")
                .request_field(RequestField::Username, "email")
                .response(ResponseShape::fields([
                    (TokenField::AccessToken, "access"),
                    (TokenField::RefreshToken, "refresh"),
                    (TokenField::User, "user"),
                ])),
        )
        .endpoint(
            TokenRoute::Refresh,
            Endpoint::at("/auth/token/refresh/")
                .request_field(RequestField::RefreshToken, "refresh")
                .response(ResponseShape::fields([
                    (TokenField::AccessToken, "access"),
                    (TokenField::RefreshToken, "refresh"),
                ]))
                .on(
                    GrantCause::InvalidRefreshToken,
                    Failure::new(StatusCode::UNAUTHORIZED, "token_not_valid")
                        .message("Token is invalid or expired"),
                ),
        )
        .endpoint(TokenRoute::Logout, Endpoint::at("/auth/logout/"))
        .disable(TokenRoute::Token)
}

const RAGCHATS_TOML: &str = r#"
[login]
path = "/auth/login/"
request = { username = "email" }
response.fields = { access_token = "access", refresh_token = "refresh", user = "user" }

[refresh]
path = "/auth/token/refresh/"
request = { refresh_token = "refresh" }
response.fields = { access_token = "access", refresh_token = "refresh" }
errors.invalid_refresh_token = { status = 401, code = "token_not_valid", message = "Token is invalid or expired" }

[logout]
path = "/auth/logout/"

[token]
enabled = false
"#;

async fn walk_ragchats(fx: &Fixture) {
    let login = fx
        .server
        .post_json(
            "/v1/auth/login/",
            &json!({ "email": ALICE_EMAIL, "password": ALICE_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let body = login.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["access", "refresh", "user"],
        "exactly the documented fields"
    );
    assert_eq!(
        body["user"],
        json!({ "id": ALICE_SUB, "email": ALICE_EMAIL })
    );
    let access = body["access"].as_str().unwrap();
    let refresh = body["refresh"].as_str().unwrap();
    assert_eq!(fx.me(access).await.status, 200);
    // Without the trailing slash there is no such route, and the standard field name is not read.
    assert_eq!(
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "email": ALICE_EMAIL, "password": ALICE_PASSWORD })
            )
            .await
            .status,
        404
    );
    let standard = fx
        .server
        .post_json(
            "/v1/auth/login/",
            &json!({ "username": ALICE_EMAIL, "password": ALICE_PASSWORD }),
        )
        .await;
    let message = standard.assert_grant_error(400, "invalid_request");
    assert!(message.contains("`email`"), "{message}");

    let next = fx
        .server
        .post_json("/v1/auth/token/refresh/", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    let next = next.json();
    assert!(
        next["access"].is_string() && next["refresh"].is_string(),
        "{next}"
    );
    assert!(
        next.get("user").is_none(),
        "a refresh has no account to show: {next}"
    );
    // The spent token: the endpoint's own failure, a 401 with a challenge, in the API's format.
    let spent = fx
        .server
        .post_json("/v1/auth/token/refresh/", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(spent.status, 401, "{}", spent.text);
    assert_eq!(
        spent.json(),
        json!({ "error": { "code": "token_not_valid", "message": "Token is invalid or expired" } })
    );
    assert!(
        spent.challenge().is_some_and(|c| c.starts_with("Bearer")),
        "{:?}",
        spent.challenge()
    );
    // Other failures keep their defaults.
    let malformed = fx
        .server
        .post_json("/v1/auth/token/refresh/", &json!({}))
        .await;
    assert!(
        malformed
            .assert_grant_error(400, "invalid_request")
            .contains("`refresh`")
    );
    // The disabled OAuth endpoint is not there.
    assert_eq!(
        fx.server
            .post_form("/v1/auth/token", "grant_type=password")
            .await
            .status,
        404
    );
    // Logout at its path.
    let fresh = fx
        .server
        .post_json(
            "/v1/auth/login/",
            &json!({ "email": ALICE_EMAIL, "password": ALICE_PASSWORD }),
        )
        .await
        .json();
    let out = fx
        .server
        .post("/v1/auth/logout/")
        .bearer(fresh["access"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    fx.me(fresh["access"].as_str().unwrap())
        .await
        .assert_revoked();
}

#[tokio::test]
async fn endpoints_shaped_in_code() {
    walk_ragchats(&shaped(ragchats).await).await;
}

#[tokio::test]
async fn endpoints_shaped_by_a_configuration_file_behave_the_same() {
    let config: TokenEndpointsConfig = toml::from_str(RAGCHATS_TOML).unwrap();
    walk_ragchats(&shaped(move |e| e.configure(config.clone())).await).await;
}

#[tokio::test]
async fn an_envelope_and_failures_keyed_by_cause_and_kind() {
    // Chalk: {"data": {…}}, 401 UNAUTHORIZED for a bad API key, 401 INVALID_REFRESH_TOKEN.
    let fx = shaped(|e| {
        let envelope = ResponseShape::oauth()
            .without(TokenField::Scope)
            .without(TokenField::SessionId)
            .envelope("data");
        e.error_format(ErrorFormat::UpperCase)
            .endpoint(
                TokenRoute::Login,
                Endpoint::at("/auth/token").response(envelope.clone()).on(
                    GrantCause::InvalidApiKey,
                    Failure::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
                        .message("Invalid API key"),
                ),
            )
            .endpoint(
                TokenRoute::Refresh,
                Endpoint::new().response(envelope).on(
                    GrantErrorKind::InvalidGrant,
                    Failure::new(StatusCode::UNAUTHORIZED, "INVALID_REFRESH_TOKEN")
                        .message("Refresh token is invalid or expired"),
                ),
            )
            .disable(TokenRoute::Token)
    })
    .await;
    let pair = fx
        .server
        .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
        .await;
    assert_eq!(pair.status, 200, "{}", pair.text);
    let body = pair.json();
    let data = body["data"].as_object().expect("an envelope");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(body.as_object().unwrap().len(), 1);
    let refresh = data["refresh_token"].as_str().unwrap();
    let next = fx.refresh(refresh).await;
    assert_eq!(next.status, 200);
    assert!(next.json()["data"]["access_token"].is_string());

    let bad_key = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "api_key": "sk_live_not_a_real_key" }),
        )
        .await;
    assert_eq!(bad_key.status, 401);
    assert_eq!(
        bad_key.json(),
        json!({ "error": { "code": "UNAUTHORIZED", "message": "Invalid API key" } })
    );
    // A tenant the key does not hold is another cause: the default answer, in the API's format.
    let tenant = fx
        .server
        .post_json(
            "/v1/auth/token",
            &json!({ "api_key": fx.api_key, "tenant": "tn_zzz" }),
        )
        .await;
    assert_eq!(tenant.status, 400);
    assert_eq!(tenant.json()["error"]["code"], "INVALID_GRANT");
    let spent = fx.refresh(refresh).await;
    assert_eq!(spent.status, 401);
    assert_eq!(
        spent.json(),
        json!({ "error": { "code": "INVALID_REFRESH_TOKEN", "message": "Refresh token is invalid or expired" } })
    );
    spent.assert_no_leak(refresh);
}

#[tokio::test]
async fn expires_at_is_rfc3339_and_fields_can_be_renamed() {
    // The generic API's login: {"token", "expires_at", "refresh_token"}; 401 invalid_credentials.
    let fx = shaped(|e| {
        e.endpoint(
            TokenRoute::Login,
            Endpoint::new()
                .response(ResponseShape::fields([
                    (TokenField::AccessToken, "token"),
                    (TokenField::ExpiresAt, "expires_at"),
                    (TokenField::RefreshToken, "refresh_token"),
                ]))
                .on(
                    GrantCause::WrongPassword,
                    Failure::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
                        .message("Username or password incorrect"),
                ),
        )
    })
    .await;
    let login = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let body = login.json();
    let exp = payload(body["token"].as_str().unwrap())["exp"]
        .as_u64()
        .unwrap();
    assert_eq!(body["expires_at"], tower_api_auth::clock::rfc3339(exp));
    let wrong = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": "nope" }),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "invalid_credentials");
    assert!(wrong.challenge().is_some());
    wrong.assert_no_leak("nope");
    // The OAuth token endpoint keeps RFC 6749 §5.2: its own errors, 400 invalid_grant.
    let oauth = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!("grant_type=password&username={ALICE}&password=nope"),
        )
        .await;
    oauth.assert_oauth_error(400, "invalid_grant");
}

#[tokio::test]
async fn the_oauth_endpoint_can_be_given_the_apis_format() {
    let fx = shaped(|e| {
        e.endpoint(
            TokenRoute::Token,
            Endpoint::new().error_format(ErrorFormat::Nested),
        )
    })
    .await;
    fx.server
        .post_form("/v1/auth/token", "grant_type=device_code")
        .await
        .assert_error(400, "unsupported_grant_type");
}

#[tokio::test]
async fn configuration_mistakes_are_reported_when_read() {
    for (toml, expected) in [
        ("[login]\npth = \"/x\"", "unknown field `pth`"),
        (
            "[login]\nerrors.nope = { status = 401, code = \"x\" }",
            "neither a grant error code",
        ),
        (
            "[login]\nerrors.invalid_grant = { status = 200, code = \"x\" }",
            "400 to 599",
        ),
        (
            "[login]\nresponse.fields = { acess_token = \"a\" }",
            "unknown variant `acess_token`",
        ),
        (
            "[login]\nrequest = { passwd = \"pw\" }",
            "unknown variant `passwd`",
        ),
        ("[logon]\npath = \"/x\"", "unknown field `logon`"),
    ] {
        let error = toml::from_str::<TokenEndpointsConfig>(toml)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{toml}: {error}");
    }
}

#[test]
#[should_panic(expected = "400 to 599")]
fn a_failure_answered_as_a_success_is_refused() {
    let _ = Failure::new(StatusCode::OK, "fine");
}

#[tokio::test]
async fn repeated_or_non_string_fields_are_invalid_requests() {
    let fx = Fixture::over_http().await;
    let repeated = fx
        .server
        .post_form(
            "/v1/auth/token",
            "grant_type=refresh_token&refresh_token=a&refresh_token=b",
        )
        .await;
    assert!(
        repeated
            .assert_grant_error(400, "invalid_request")
            .contains("once")
    );
    let number = fx
        .server
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": 42 }))
        .await;
    assert!(
        number
            .assert_grant_error(400, "invalid_request")
            .contains("must be a string")
    );
    // Fields the endpoint does not read are ignored, whatever their type.
    fx.login_with(json!({ "username": ALICE, "password": ALICE_PASSWORD, "remember_me": true }))
        .await;
}

#[test]
fn the_readmes_endpoint_configuration_parses() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme
        .find("(`TokenEndpointsConfig`")
        .expect("the README section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let config: TokenEndpointsConfig = toml::from_str(block).unwrap();
    assert!(config.login.is_some() && config.refresh.is_some() && config.token.is_some());
}

#[tokio::test]
#[should_panic(expected = "must show the refresh token")]
async fn a_rotating_refresh_answer_without_its_refresh_token_is_refused_at_start() {
    let _ = shaped(|e| {
        e.endpoint(
            TokenRoute::Refresh,
            Endpoint::new().response(ResponseShape::fields([(TokenField::AccessToken, "access")])),
        )
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "has no response to shape")]
async fn configuration_an_endpoint_would_ignore_is_refused_at_start() {
    let _ = shaped(|e| {
        e.endpoint(
            TokenRoute::Logout,
            Endpoint::new().response(ResponseShape::oauth()),
        )
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "must show the access token")]
async fn a_grant_answer_without_the_access_token_is_refused_at_start() {
    let _ = shaped(|e| {
        e.endpoint(
            TokenRoute::Login,
            Endpoint::new().response(ResponseShape::oauth().without(TokenField::AccessToken)),
        )
    })
    .await;
}
