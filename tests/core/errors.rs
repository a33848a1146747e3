//! Requests without or with malformed credentials, optional authentication, the other credential
//! sources, error body formats, and what a rejection must never contain.
#![cfg(feature = "axum")]

use tower_api_auth_tests as common;

use std::convert::Infallible;

use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::{Layer as _, ServiceExt as _};
use tower_api_auth::credential::CredentialSources;
use tower_api_auth::{
    AuthError, AuthErrorKind, AuthLayer, Identity, MemoryKeyStore, RequireScopesLayer,
    api_key::KeyRecord, error::ErrorFormat, layer::AuthLayerBuilder,
};

use common::{PAST, PAST_RFC3339, Server, api_key, assert_no_leak, serve};

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

async fn maybe(identity: Option<Identity>) -> String {
    identity.map_or_else(|| "anonymous".to_owned(), |i| i.principal().to_owned())
}

async fn sensitive(headers: HeaderMap) -> Json<Value> {
    let flag = |name: &str| headers.get(name).map(http::HeaderValue::is_sensitive);
    Json(json!({
        "authorization": flag("authorization"),
        "x-api-key": flag("x-api-key"),
        "x-tenant-id": flag("x-tenant-id"),
        "cookie": flag("cookie"),
    }))
}

fn router(auth: AuthLayer) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/headers", get(sensitive))
        .route(
            "/scoped",
            get(me).route_layer(RequireScopesLayer::all(["admin"])),
        )
        .layer(auth)
}

fn builder(records: Vec<KeyRecord>) -> AuthLayerBuilder {
    AuthLayer::builder().api_keys(MemoryKeyStore::from(records))
}

async fn start(builder: AuthLayerBuilder) -> Server {
    serve(router(builder.build().unwrap())).await
}

// ---------------------------------------------------------------------------------------------
// missing_credentials and invalid_request
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_credentials_is_missing_credentials_with_a_bare_challenge() {
    let server = start(builder(vec![])).await;
    let reply = server.get("/me").send().await;
    let error = reply.assert_error(401, "missing_credentials");
    assert_eq!(
        reply.json(),
        json!({ "error": { "code": "missing_credentials", "message": "Authentication is required" } })
    );
    assert!(error.get("details").is_none());
    // RFC 6750 §3.1: no error code when the request had no credentials.
    reply.assert_challenge(Some("Bearer"));
    // A tenant header alone is no credential.
    let reply = server.get("/me").header("x-tenant-id", "tn_a").send().await;
    reply.assert_error(401, "missing_credentials");
    reply.assert_challenge(Some("Bearer"));
}

#[tokio::test]
async fn the_realm_goes_into_every_challenge() {
    let (key, record) = api_key("");
    let server = start(builder(vec![record]).realm("api")).await;
    let reply = server.get("/me").send().await;
    reply.assert_error(401, "missing_credentials");
    reply.assert_challenge(Some(r#"Bearer realm="api""#));

    let (unknown, _) = api_key("");
    let reply = server.get("/me").api_key(&unknown, "tn_a").send().await;
    reply.assert_error(401, "invalid_api_key");
    reply.assert_challenge(Some(
        r#"Bearer realm="api", error="invalid_token", error_description="The API key is invalid""#,
    ));

    let reply = server.get("/scoped").api_key(&key, "tn_a").send().await;
    reply.assert_error(403, "insufficient_scope");
    reply.assert_challenge(Some(
        r#"Bearer realm="api", error="insufficient_scope", error_description="The credential lacks a required scope", scope="admin""#,
    ));
}

/// Asserts a 400 `invalid_request` without a challenge.
fn assert_invalid_request(reply: &common::Reply) {
    reply.assert_error(400, "invalid_request");
    reply.assert_bearer_error("invalid_request");
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let (key, record) = api_key("");
    let server = start(builder(vec![record])).await;
    let reply = server
        .get("/me")
        .bearer(&key)
        .bearer(&key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_invalid_request(&reply);
    assert_no_leak(&reply, &key);
    // Two API-key headers, too.
    let reply = server
        .get("/me")
        .api_key(&key, "tn_a")
        .header("x-api-key", &key)
        .send()
        .await;
    assert_invalid_request(&reply);
}

#[tokio::test]
async fn a_bearer_token_and_an_api_key_together_are_invalid_request() {
    let (key, record) = api_key("");
    let server = start(builder(vec![record])).await;
    let reply = server
        .get("/me")
        .bearer(&key)
        .api_key(&key, "tn_a")
        .send()
        .await;
    let error = reply.assert_error(400, "invalid_request");
    assert_eq!(
        error["message"],
        "Send exactly one credential: a Bearer token or an API key, not both"
    );
    reply.assert_bearer_error("invalid_request");
}

#[tokio::test]
async fn malformed_authorization_headers_are_invalid_request() {
    let server = start(builder(vec![])).await;
    for value in [
        "Bearer",
        "Bearer a b",
        "Bearer a,b",
        "Bearer ===",
        "Bearer tok\"en",
    ] {
        let reply = server
            .get("/me")
            .header("authorization", value)
            .send()
            .await;
        assert_eq!(reply.status, 400, "{value:?}: {}", reply.text);
        assert_invalid_request(&reply);
    }
    // Another scheme is no Bearer credential at all (RFC 7235): 401 with the Bearer challenge.
    for value in [
        "Bearertoken",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Digest username=\"u\"",
    ] {
        let reply = server
            .get("/me")
            .header("authorization", value)
            .send()
            .await;
        reply.assert_error(401, "missing_credentials");
        reply.assert_challenge(Some("Bearer"));
    }
    // The scheme is case-insensitive, and runs of spaces are allowed.
    let (key, record) = api_key("");
    let server = serve(router(builder(vec![record]).build().unwrap())).await;
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let reply = server
            .get("/me")
            .header("authorization", &format!("{scheme}   {key}"))
            .header("x-tenant-id", "tn_a")
            .send()
            .await;
        assert_eq!(reply.status, 200, "{scheme}: {}", reply.text);
    }
}

#[tokio::test]
async fn a_token_over_max_token_len_is_invalid_request() {
    let (key, record) = api_key("");
    let server =
        start(builder(vec![record]).credentials(CredentialSources::new().max_token_len(key.len())))
            .await;
    // Exactly the limit is fine.
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let long = format!("{key}A");
    for reply in [
        server.get("/me").bearer(&long).send().await,
        server.get("/me").api_key(&long, "tn_a").send().await,
    ] {
        let error = reply.assert_error(400, "invalid_request");
        assert!(
            error["message"].as_str().unwrap().contains("too long"),
            "{error}"
        );
        reply.assert_bearer_error("invalid_request");
        assert_no_leak(&reply, &long);
    }
    // The default limit is 8 KiB.
    let server = start(builder(vec![])).await;
    let huge = "a".repeat(tower_api_auth::credential::DEFAULT_MAX_TOKEN_LEN + 1);
    assert_invalid_request(&server.get("/me").bearer(&huge).send().await);
}

#[tokio::test]
async fn an_empty_api_key_header_is_invalid_request() {
    let server = start(builder(vec![])).await;
    assert_invalid_request(&server.get("/me").api_key("", "tn_a").send().await);
}

// ---------------------------------------------------------------------------------------------
// Optional authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn optional_auth_lets_anonymous_requests_through() {
    let (key, record) = api_key("");
    let key_id = record.key_id.to_string();
    let server = start(builder(vec![record]).optional()).await;
    let reply = server.get("/maybe").send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "anonymous"));
    let reply = server.get("/maybe").api_key(&key, "tn_a").send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, key_id.as_str()));
}

#[tokio::test]
async fn optional_auth_still_rejects_invalid_credentials() {
    let (key, record) = api_key("");
    let (unknown, _) = api_key("");
    let server = start(builder(vec![record.revoked()]).optional()).await;
    let reply = server.get("/maybe").api_key(&unknown, "tn_a").send().await;
    reply.assert_error(401, "invalid_api_key");
    reply.assert_bearer_error("invalid_token");
    let reply = server.get("/maybe").api_key(&key, "tn_a").send().await;
    reply.assert_error(401, "api_key_revoked");
    let reply = server
        .get("/maybe")
        .header("authorization", "Bearer a b")
        .send()
        .await;
    assert_invalid_request(&reply);
    // Basic (say, for a proxy in front) is no credential of ours: anonymous, as without it.
    let reply = server
        .get("/maybe")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn optional_auth_with_a_required_identity_is_401_in_the_layers_format() {
    let server = start(builder(vec![]).optional().error_format(ErrorFormat::Flat)).await;
    for path in ["/scoped", "/me"] {
        let reply = server.get(path).send().await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(
            reply.json(),
            json!({ "error": "missing_credentials", "message": "Authentication is required" }),
            "{path}"
        );
        reply.assert_challenge(Some("Bearer"));
    }
}

// ---------------------------------------------------------------------------------------------
// Cookie and query sources
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_cookie_source_is_opt_in() {
    let (key, record) = api_key("");
    let off = start(builder(vec![record.clone()])).await;
    let reply = off
        .get("/me")
        .header("cookie", &format!("session={key}"))
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    reply.assert_error(401, "missing_credentials");
    reply.assert_challenge(Some("Bearer"));

    let on =
        start(builder(vec![record]).credentials(CredentialSources::new().cookie("session"))).await;
    let reply = on
        .get("/me")
        .header("cookie", &format!("theme=dark; session={key}"))
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // A header credential wins over the cookie.
    let reply = on
        .get("/me")
        .header("cookie", "session=not-a-valid-key")
        .api_key(&key, "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Two credential cookies are ambiguous.
    let reply = on
        .get("/me")
        .header("cookie", &format!("session={key}; session={key}"))
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_invalid_request(&reply);
    assert_no_leak(&reply, &key);
}

#[tokio::test]
async fn the_query_source_is_opt_in() {
    let (key, record) = api_key("");
    let off = start(builder(vec![record.clone()])).await;
    let path = format!("/me?access_token={key}");
    let reply = off.get(&path).header("x-tenant-id", "tn_a").send().await;
    reply.assert_error(401, "missing_credentials");
    reply.assert_challenge(Some("Bearer"));

    let on = start(
        builder(vec![record]).credentials(CredentialSources::new().query_param("access_token")),
    )
    .await;
    let reply = on.get(&path).header("x-tenant-id", "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Query and header together, or the parameter twice: ambiguous.
    let reply = on.get(&path).api_key(&key, "tn_a").send().await;
    assert_invalid_request(&reply);
    let reply = on
        .get(&format!("{path}&access_token={key}"))
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_invalid_request(&reply);
    assert_no_leak(&reply, &key);
}

// ---------------------------------------------------------------------------------------------
// Error formats
// ---------------------------------------------------------------------------------------------

fn expired_key() -> (String, KeyRecord) {
    let (key, record) = api_key("");
    (key, record.with_expires_at(PAST))
}

#[tokio::test]
async fn the_nested_format_is_the_default() {
    let (key, record) = expired_key();
    let server = start(builder(vec![record])).await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({ "error": {
            "code": "api_key_expired",
            "message": "The API key has expired",
            "details": { "expired_at": PAST_RFC3339 },
        }})
    );
    reply.assert_bearer_error("invalid_token");
}

#[tokio::test]
async fn the_upper_case_format() {
    let (key, record) = expired_key();
    let server = start(builder(vec![record]).error_format(ErrorFormat::UpperCase)).await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({ "error": {
            "code": "API_KEY_EXPIRED",
            "message": "The API key has expired",
            "details": { "expired_at": PAST_RFC3339 },
        }})
    );
    reply.assert_challenge(Some(
        r#"Bearer error="invalid_token", error_description="The API key has expired""#,
    ));
}

#[tokio::test]
async fn the_flat_format() {
    let (key, record) = expired_key();
    let server = start(builder(vec![record]).error_format(ErrorFormat::Flat)).await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({
            "error": "api_key_expired",
            "message": "The API key has expired",
            "expired_at": PAST_RFC3339,
        })
    );
    reply.assert_challenge(Some(
        r#"Bearer error="invalid_token", error_description="The API key has expired""#,
    ));
}

#[tokio::test]
async fn the_problem_format() {
    let (key, record) = expired_key();
    let server = start(builder(vec![record]).error_format(ErrorFormat::Problem)).await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:tower-api-auth:error:api_key_expired",
            "title": "The API key has expired",
            "status": 401,
            "detail": "The API key has expired",
            "code": "api_key_expired",
            "expired_at": PAST_RFC3339,
        })
    );
    reply.assert_challenge(Some(
        r#"Bearer error="invalid_token", error_description="The API key has expired""#,
    ));
    // A custom message goes to `detail`, the kind's message stays the `title`.
    let reply = server
        .get("/me")
        .header("authorization", "Bearer a b")
        .send()
        .await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["title"], "The request's credentials are malformed");
    assert_eq!(body["status"], 400);
    assert_eq!(body["code"], "invalid_request");
    assert_ne!(body["detail"], body["title"]);
}

#[tokio::test]
async fn a_custom_renderer_closure() {
    let renderer = |error: &AuthError| {
        Response::builder()
            .status(error.status())
            .header("content-type", "text/plain")
            .header("x-auth-error", error.code())
            .body(Bytes::from(format!("denied: {}", error.code())))
            .expect("response")
    };
    let server = start(builder(vec![]).error_renderer(renderer)).await;
    let reply = server.get("/me").send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("x-auth-error"), Some("missing_credentials"));
    assert_eq!(reply.text, "denied: missing_credentials");
    // The layer adds the challenge the renderer did not set.
    reply.assert_challenge(Some("Bearer"));

    // A renderer that sets its own challenge keeps it.
    let own = |error: &AuthError| {
        Response::builder()
            .status(error.status())
            .header("www-authenticate", "ApiKey")
            .body(Bytes::new())
            .expect("response")
    };
    let server = start(builder(vec![]).error_renderer(own)).await;
    let reply = server.get("/me").send().await;
    assert_eq!(reply.status, 401);
    reply.assert_challenge(Some("ApiKey"));
    assert_eq!(reply.text, "");
}

// ---------------------------------------------------------------------------------------------
// The error travels in the rejection's extensions (tower level)
// ---------------------------------------------------------------------------------------------

async fn hello(_request: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new("hello".to_owned()))
}

#[tokio::test]
async fn the_auth_error_is_in_the_rejections_extensions() {
    let (key, record) = expired_key();
    let service = builder(vec![record])
        .build()
        .unwrap()
        .layer(tower::service_fn(hello));

    let response = service
        .clone()
        .oneshot(Request::get("/").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let error = response.extensions().get::<AuthError>().expect("AuthError");
    assert_eq!(error.kind(), AuthErrorKind::MissingCredentials);
    assert_eq!(error.code(), "missing_credentials");

    let request = Request::get("/")
        .header("x-api-key", &key)
        .header("x-tenant-id", "tn_a")
        .body(String::new())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let error = response
        .extensions()
        .get::<AuthError>()
        .expect("AuthError")
        .clone();
    assert_eq!(error.kind(), AuthErrorKind::ApiKeyExpired);
    assert_eq!(error.status(), 401);
    assert_eq!(error.details()["expired_at"], PAST_RFC3339);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "api_key_expired");

    // And from the scope layer.
    let (key, record) = api_key("read");
    let scoped = builder(vec![record])
        .build()
        .unwrap()
        .layer(RequireScopesLayer::all(["write"]).layer(tower::service_fn(hello)));
    let request = Request::get("/")
        .header("x-api-key", &key)
        .header("x-tenant-id", "tn_a")
        .body(String::new())
        .unwrap();
    let response = scoped.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 403);
    let error = response.extensions().get::<AuthError>().expect("AuthError");
    assert_eq!(error.kind(), AuthErrorKind::InsufficientScope);
    assert_eq!(error.details()["required_scopes"], "write");
}

#[tokio::test]
async fn an_admitted_request_reaches_the_inner_service_with_its_body() {
    let (key, record) = api_key("");
    let service = builder(vec![record])
        .build()
        .unwrap()
        .layer(tower::service_fn(|request: Request<String>| async move {
            let identity = request.extensions().get::<Identity>().cloned();
            Ok::<_, Infallible>(Response::new(format!(
                "{}:{}",
                identity
                    .map(|i| i.principal().to_owned())
                    .unwrap_or_default(),
                request.body()
            )))
        }));
    let request = Request::post("/")
        .header("x-api-key", &key)
        .header("x-tenant-id", "tn_a")
        .body("payload".to_owned())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.extensions().get::<AuthError>().is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.ends_with(b":payload"), "{body:?}");
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_response_contains_the_presented_secret() {
    let (revoked_key, revoked) = api_key("");
    let (expired_key, expired) = api_key("");
    let (good_key, good) = api_key("");
    let (unknown_key, _) = api_key("");
    let server = start(builder(vec![
        revoked.revoked(),
        expired.with_expires_at(PAST),
        good,
    ]))
    .await;
    let cases: Vec<(String, common::Reply)> = vec![
        (
            revoked_key.clone(),
            server.get("/me").api_key(&revoked_key, "tn_a").send().await,
        ),
        (
            expired_key.clone(),
            server.get("/me").api_key(&expired_key, "tn_a").send().await,
        ),
        (
            unknown_key.clone(),
            server
                .get("/me")
                .bearer(&unknown_key)
                .header("x-tenant-id", "tn_a")
                .send()
                .await,
        ),
        (
            good_key.clone(),
            server
                .get("/me")
                .api_key(&good_key, "tn_other")
                .send()
                .await,
        ),
        (
            good_key.clone(),
            server
                .get("/me")
                .header("x-api-key", &good_key)
                .send()
                .await,
        ),
        (
            good_key.clone(),
            server
                .get("/scoped")
                .api_key(&good_key, "tn_a")
                .send()
                .await,
        ),
        (
            "secret-looking.jwt.value".to_owned(),
            server
                .get("/me")
                .bearer("secret-looking.jwt.value")
                .send()
                .await,
        ),
        (
            "hunter2".to_owned(),
            server
                .get("/me")
                .header("authorization", "Basic hunter2")
                .send()
                .await,
        ),
    ];
    for (secret, reply) in &cases {
        assert!(reply.status >= 400, "{secret}: {}", reply.status);
        assert_no_leak(reply, secret);
        // Nor its secret part alone.
        if secret.starts_with("sk_live_") {
            assert_no_leak(reply, &secret[secret.len() - 38..]);
        }
    }
}

#[tokio::test]
async fn credentials_are_marked_sensitive_for_the_handler() {
    let (key, record) = api_key("");
    let server = start(builder(vec![record])).await;
    let reply = server.get("/headers").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({ "authorization": null, "x-api-key": true, "x-tenant-id": false, "cookie": null })
    );
    let reply = server
        .get("/headers")
        .bearer(&key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({ "authorization": true, "x-api-key": null, "x-tenant-id": false, "cookie": null })
    );
    // Another scheme's secret is marked too: beside an API key, and on a request an optional
    // layer lets through anonymously.
    let optional = start(builder(vec![]).optional()).await;
    let reply = optional
        .get("/headers")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["authorization"], true);
    let reply = server
        .get("/headers")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .api_key(&key, "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({ "authorization": true, "x-api-key": true, "x-tenant-id": false, "cookie": null })
    );
}

#[tokio::test]
async fn a_credential_cookie_is_marked_sensitive_when_the_cookie_source_is_on() {
    let (key, record) = api_key("");
    let cookie = format!("theme=dark; session={key}");
    let off = start(builder(vec![record.clone()])).await;
    let reply = off
        .get("/headers")
        .header("cookie", &cookie)
        .api_key(&key, "tn_a")
        .send()
        .await;
    assert_eq!(
        reply.json()["cookie"],
        false,
        "no cookie source: left alone"
    );
    let on =
        start(builder(vec![record]).credentials(CredentialSources::new().cookie("session"))).await;
    let reply = on
        .get("/headers")
        .header("cookie", &cookie)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["cookie"], true);
}

#[tokio::test]
async fn a_renderer_cannot_break_the_challenge_header() {
    // RFC 6750 §3 forbids quotes and backslashes in error_description even escaped: they are
    // dropped, as are control characters.
    let error = AuthError::new(AuthErrorKind::InvalidToken).with_message("a \"b\" \\ c\r\nd");
    assert_eq!(
        error.challenge().unwrap(),
        r#"Bearer error="invalid_token", error_description="a b  cd""#
    );
    let scope = AuthError::new(AuthErrorKind::InsufficientScope).with_required_scopes("a b");
    assert_eq!(
        scope.challenge().unwrap(),
        r#"Bearer error="insufficient_scope", error_description="The credential lacks a required scope", scope="a b""#
    );
    for kind in [AuthErrorKind::AuthUnavailable, AuthErrorKind::Misconfigured] {
        assert!(AuthError::new(kind).challenge().is_none(), "{kind:?}");
    }
    // A malformed credential request is challenged with RFC 6750's invalid_request.
    for kind in [AuthErrorKind::InvalidRequest, AuthErrorKind::TenantRequired] {
        let challenge = AuthError::new(kind).challenge().unwrap();
        assert!(
            challenge
                .to_str()
                .unwrap()
                .starts_with(r#"Bearer error="invalid_request""#),
            "{kind:?}"
        );
    }
}
