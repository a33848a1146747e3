//! One layer, two forms: `AuthLayer::optional()` lets requests without a credential through on the
//! routes it guards while the strict form still answers 401, both sharing one validator and one key
//! store; and a builder is a value that can be cloned into several layers.
#![cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]

use tower_api_auth_tests as common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt as _;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{AuthLayer, Identity, JwtValidator, MemoryKeyStore, RequireScopesLayer};

use common::jwt::{claims, hs256};
use common::{HS256_SECRET, api_key};

async fn who(identity: Option<Identity>) -> String {
    identity.map_or_else(|| "anonymous".to_owned(), |i| i.principal().to_owned())
}

/// `GET path` with `headers`: the status and the body.
async fn call(app: &Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_optional_form_of_a_layer_shares_its_credentials_and_lets_anonymous_requests_through() {
    let (key, record) = api_key("");
    let keys = MemoryKeyStore::from(vec![record.clone()]);
    let auth = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).expect("validator"))
        .api_keys(keys.clone())
        .build()
        .expect("layer");
    let app = Router::new()
        .route("/strict", get(who))
        .route_layer(auth.clone())
        .merge(
            Router::new()
                .route("/optional", get(who))
                .route_layer(auth.optional()),
        );

    let (status, body) = call(&app, "/strict", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("missing_credentials"), "{body}");
    assert_eq!(
        call(&app, "/optional", &[]).await,
        (StatusCode::OK, "anonymous".to_owned())
    );
    // The same credentials on both forms.
    let token = format!("Bearer {}", hs256(&claims("user_42")));
    for path in ["/strict", "/optional"] {
        assert_eq!(
            call(&app, path, &[("authorization", &token)]).await,
            (StatusCode::OK, "user_42".to_owned()),
            "{path}"
        );
    }
    // An invalid credential is refused by the optional form too: a forged one, a well-signed
    // but expired one, a malformed one.
    let (status, body) = call(&app, "/optional", &[("authorization", "Bearer a.b.c")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let expired = format!(
        "Bearer {}",
        hs256(&serde_json::json!({ "sub": "user_42", "exp": common::PAST }))
    );
    let (status, body) = call(&app, "/optional", &[("authorization", &expired)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("token_expired"), "{body}");
    let (status, body) = call(&app, "/optional", &[("authorization", "Bearer a,b")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
    // One key store: a key revoked through the app's clone stops working behind both forms.
    let api_key_headers = [("x-api-key", key.as_str()), ("x-tenant-id", "tn_a")];
    assert_eq!(
        call(&app, "/optional", &api_key_headers).await.0,
        StatusCode::OK
    );
    assert!(keys.revoke(&record.key_id));
    for path in ["/strict", "/optional"] {
        let (status, body) = call(&app, path, &api_key_headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(body.contains("api_key_revoked"), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_builder_is_a_value_cloned_into_several_layers() {
    let base = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).expect("validator"));
    let strict = base.clone().realm("strict").build().expect("layer");
    let problem = base
        .error_format(tower_api_auth::error::ErrorFormat::Problem)
        .build()
        .expect("layer");
    let app = Router::new()
        .route("/a", get(who))
        .route_layer(strict)
        .merge(Router::new().route("/b", get(who)).route_layer(problem));
    let strict_reply = app
        .clone()
        .oneshot(Request::get("/a").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(
        strict_reply.headers()["www-authenticate"],
        r#"Bearer realm="strict""#
    );
    let problem_reply = app
        .oneshot(Request::get("/b").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(
        problem_reply.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(problem_reply.headers()["www-authenticate"], "Bearer");
}

/// A service that is only a value, to see which instance the accessors reach.
#[derive(Clone, Debug, PartialEq)]
struct Inner(u32);

#[test]
fn the_services_give_their_inner_service_back() {
    use tower::Layer as _;
    use tower_api_auth::layer::AuthService;
    use tower_api_auth::require_scopes::RequireScopes;

    let auth = AuthLayer::builder()
        .api_keys(MemoryKeyStore::new())
        .build()
        .unwrap();
    let mut service: AuthService<Inner> = auth.layer(Inner(1));
    assert_eq!(service.get_ref(), &Inner(1));
    service.get_mut().0 = 2;
    assert_eq!(
        service.into_inner(),
        Inner(2),
        "get_mut reached the inner service"
    );

    let mut scoped: RequireScopes<Inner> = RequireScopesLayer::all(["read"]).layer(Inner(3));
    assert_eq!(scoped.get_ref(), &Inner(3));
    scoped.get_mut().0 = 4;
    assert_eq!(
        scoped.into_inner(),
        Inner(4),
        "get_mut reached the inner service"
    );

    let mut methods: tower_api_auth::grpc::MethodScopes<Inner> =
        tower_api_auth::grpc::MethodScopesLayer::new().layer(Inner(5));
    assert_eq!(methods.get_ref(), &Inner(5));
    methods.get_mut().0 = 6;
    assert_eq!(
        methods.into_inner(),
        Inner(6),
        "get_mut reached the inner service"
    );
}

/// Whether the request passed an auth layer, and the error format it answers in, as middleware
/// and handlers below the layer see them.
async fn passed(request: Request<Body>) -> String {
    let extensions = request.extensions();
    let refusal = tower_api_auth::layer::error_response(
        extensions,
        tower_api_auth::AuthError::new(tower_api_auth::AuthErrorKind::RateLimitExceeded),
    );
    let body = String::from_utf8(refusal.into_body().to_vec()).expect("utf-8");
    let format =
        if serde_json::from_str::<serde_json::Value>(&body).expect("json")["error"].is_string() {
            "flat"
        } else {
            "nested"
        };
    format!(
        "{} {format}",
        tower_api_auth::layer::passed_auth_layer(extensions)
    )
}

/// A layer of API keys `record` that answers in the flat error format.
fn flat_layer(record: tower_api_auth::api_key::KeyRecord) -> AuthLayer {
    AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(vec![record]))
        .error_format(tower_api_auth::error::ErrorFormat::Flat)
        .build()
        .expect("layer")
}

#[tokio::test]
async fn requests_let_through_carry_the_layers_error_format_with_or_without_an_identity() {
    let (key, record) = api_key("");
    let flat = flat_layer(record);
    // An identity someone else put there (a test, a custom middleware) is no proof of a layer.
    let planted = Identity::builder("planted", tower_api_auth::AuthMethod::ApiKey).build();
    let app =
        Router::new()
            .route("/strict", get(passed))
            .route_layer(flat.clone())
            .merge(
                Router::new()
                    .route("/optional", get(passed))
                    .route_layer(flat.optional()),
            )
            .merge(Router::new().route("/none", get(passed)).route_layer(
                axum::middleware::from_fn(
                    move |mut request: Request<Body>, next: axum::middleware::Next| {
                        request.extensions_mut().insert(planted.clone());
                        next.run(request)
                    },
                ),
            ));
    let with_key = [("x-api-key", key.as_str()), ("x-tenant-id", "tn_a")];
    assert_eq!(
        call(&app, "/strict", &with_key).await,
        (StatusCode::OK, "true flat".to_owned())
    );
    assert_eq!(
        call(&app, "/optional", &with_key).await,
        (StatusCode::OK, "true flat".to_owned())
    );
    assert_eq!(
        call(&app, "/optional", &[]).await,
        (StatusCode::OK, "true flat".to_owned())
    );
    assert_eq!(
        call(&app, "/none", &[]).await,
        (StatusCode::OK, "false nested".to_owned())
    );
}

/// The same with a layer of the default format, which puts a marker into the extensions rather
/// than a format of its own: a request it authenticated, one it let through anonymously, and one
/// whose identity middleware below it replaced all passed it; an identity planted without a
/// layer is no proof.
#[tokio::test]
async fn a_default_format_layer_is_told_by_its_marker() {
    let (key, record) = api_key("");
    let plain = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(vec![record]))
        .build()
        .expect("layer");
    let replace = |mut request: Request<Body>, next: axum::middleware::Next| {
        let mapped = Identity::builder("mapped", tower_api_auth::AuthMethod::ApiKey).build();
        request.extensions_mut().insert(mapped);
        next.run(request)
    };
    let app = Router::new()
        .route("/strict", get(passed))
        .route_layer(plain.clone())
        .merge(
            Router::new()
                .route("/optional", get(passed))
                .route_layer(plain.optional()),
        )
        .merge(
            Router::new()
                .route("/replaced", get(passed))
                .route_layer(axum::middleware::from_fn(replace))
                .route_layer(plain),
        )
        .merge(
            Router::new()
                .route("/none", get(passed))
                .route_layer(axum::middleware::from_fn(replace)),
        );
    let with_key = [("x-api-key", key.as_str()), ("x-tenant-id", "tn_a")];
    for (path, headers, expected) in [
        ("/strict", &with_key[..], "true nested"),
        ("/optional", &with_key[..], "true nested"),
        ("/optional", &[][..], "true nested"),
        ("/replaced", &with_key[..], "true nested"),
        ("/none", &[][..], "false nested"),
    ] {
        assert_eq!(
            call(&app, path, headers).await,
            (StatusCode::OK, expected.to_owned()),
            "{path} {headers:?}"
        );
    }
}

#[tokio::test]
async fn an_identity_replaced_below_the_layer_keeps_the_layers_format() {
    let (key, record) = api_key("");
    let flat = flat_layer(record);
    // Middleware that maps the identity builds a new one: nothing of the layer is in it.
    let app = Router::new()
        .route("/replaced", get(passed))
        .route_layer(axum::middleware::from_fn(
            |mut request: Request<Body>, next: axum::middleware::Next| {
                let mapped =
                    Identity::builder("mapped", tower_api_auth::AuthMethod::ApiKey).build();
                request.extensions_mut().insert(mapped);
                next.run(request)
            },
        ))
        .route_layer(flat);
    let with_key = [("x-api-key", key.as_str()), ("x-tenant-id", "tn_a")];
    assert_eq!(
        call(&app, "/replaced", &with_key).await,
        (StatusCode::OK, "true flat".to_owned())
    );
}

#[tokio::test]
async fn the_innermost_layer_a_request_passed_sets_the_format() {
    let (key, record) = api_key("");
    let keys = MemoryKeyStore::from(vec![record]);
    let nested = AuthLayer::builder()
        .api_keys(keys.clone())
        .build()
        .expect("layer");
    // The inner layer reads another header, so it lets the request through anonymously.
    let inner_flat = AuthLayer::builder()
        .api_keys(keys)
        .credentials(
            tower_api_auth::credential::CredentialSources::new()
                .api_key_header(http::HeaderName::from_static("x-other-key")),
        )
        .error_format(tower_api_auth::error::ErrorFormat::Flat)
        .build()
        .expect("layer")
        .optional();
    let app = Router::new()
        .route("/two", get(passed))
        .route_layer(inner_flat.clone())
        .route_layer(nested.clone());
    let with_key = [("x-api-key", key.as_str()), ("x-tenant-id", "tn_a")];
    assert_eq!(
        call(&app, "/two", &with_key).await,
        (StatusCode::OK, "true flat".to_owned())
    );
    // The other way round: the inner layer's default format replaces the outer one's.
    let app = Router::new()
        .route("/two", get(passed))
        .route_layer(nested)
        .route_layer(inner_flat);
    assert_eq!(
        call(&app, "/two", &with_key).await,
        (StatusCode::OK, "true nested".to_owned())
    );
}
