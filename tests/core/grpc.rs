//! The layer on a real tonic server, called by a real tonic client over 127.0.0.1 (HTTP/2): the
//! credential read from gRPC metadata (`authorization`, `x-api-key` with `x-tenant-id`), the
//! identity in tonic's request extensions, scope rules per gRPC method, and refusals as
//! trailers-only responses with `UNAUTHENTICATED`, `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED` or
//! `UNAVAILABLE` and no secret in the message. The service is tonic-health's, with its
//! generated client.
#![cfg(all(
    feature = "rate-limit",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::sync::{Arc, Mutex};

use serde_json::json;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeys, KeyManager, KeySpec};
use tower_api_auth::grpc::{GrpcErrors, MethodScopesLayer};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::rate_limit::{KeyBy, Method, Policy, RateLimits};
use tower_api_auth::scope::{ScopeRequirement, Scopes};
use tower_api_auth::store::{KeyProvider, Lookup};
use tower_api_auth::{AuthLayer, Identity, JwtValidator, MemoryKeyStore, Tenant};

use common::HS256_SECRET;

const CHECK: &str = "/grpc.health.v1.Health/Check";

/// The principals the service saw, read from tonic's request extensions.
type Seen = Arc<Mutex<Vec<String>>>;

/// A tonic server with tonic-health's service behind `auth` and per-method scope rules
/// (`Check` needs `health:check`; the rest of the service `health:watch`), and a client of it.
async fn start(
    auth: AuthLayer,
    limits: Option<tower_api_auth::rate_limit::RateLimitLayer>,
) -> (HealthClient<Channel>, Seen) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let seen = Seen::default();
    let record = seen.clone();
    // An interceptor runs in front of the generated service with the tonic request, as a
    // handler would see it.
    let health = tonic::service::interceptor::InterceptedService::new(
        health,
        move |request: Request<()>| -> Result<Request<()>, Status> {
            let identity = request
                .extensions()
                .get::<Identity>()
                .ok_or_else(|| Status::internal("no identity"))?;
            record.lock().unwrap().push(identity.principal().to_owned());
            Ok(request)
        },
    );
    let scopes = MethodScopesLayer::new()
        .method(CHECK, ScopeRequirement::all(["health:check"]))
        .service(
            "grpc.health.v1.Health",
            ScopeRequirement::all(["health:watch"]),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let router = Server::builder()
        .layer(auth)
        .layer(limits.unwrap_or_else(|| quota("1000/minute")))
        .layer(scopes)
        .add_service(health);
    tokio::spawn(router.serve_with_incoming(incoming));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (HealthClient::new(channel), seen)
}

/// A quota per API key.
fn quota(quota: &str) -> tower_api_auth::rate_limit::RateLimitLayer {
    RateLimits::new()
        .policy(
            Policy::new("per_key", quota.parse().unwrap())
                .methods([Method::ApiKey])
                .by([KeyBy::ApiKey]),
        )
        .build()
        .unwrap()
}

fn layer(keys: MemoryKeyStore) -> AuthLayer {
    AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
        .api_keys(ApiKeys::new(keys))
        .error_renderer(GrpcErrors)
        .build()
        .unwrap()
}

/// A key of tenant `tn_grpc` with `scopes`.
async fn api_key(keys: &MemoryKeyStore, scopes: &str) -> String {
    KeyManager::new(keys.clone())
        .create(
            KeySpec::default()
                .owner("svc_1")
                .tenants([Tenant::new("tn_grpc").unwrap()])
                .scopes(Scopes::parse(scopes).unwrap()),
        )
        .await
        .unwrap()
        .key
}

/// A `Check` call carrying `metadata`.
fn check(metadata: &[(&'static str, &str)]) -> Request<HealthCheckRequest> {
    let mut request = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    for (name, value) in metadata {
        request
            .metadata_mut()
            .insert(*name, MetadataValue::try_from(*value).unwrap());
    }
    request
}

fn assert_status(result: Result<impl std::fmt::Debug, Status>, code: Code, secret: &str) -> Status {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        secret.is_empty() || !status.message().contains(secret),
        "{status:?}"
    );
    status
}

#[tokio::test]
async fn an_api_key_or_a_jwt_in_metadata_passes_and_the_service_sees_the_identity() {
    let keys = MemoryKeyStore::new();
    let key = api_key(&keys, "health:check").await;
    let (mut client, seen) = start(layer(keys), None).await;

    let answer = client
        .check(check(&[("x-api-key", &key), ("x-tenant-id", "tn_grpc")]))
        .await
        .unwrap();
    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);

    let token = common::jwt::hs256(&json!({
        "sub": "user_7", "exp": common::now() + 600, "scope": "health:check",
    }));
    let bearer = format!("Bearer {token}");
    client
        .check(check(&[("authorization", &bearer)]))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["svc_1", "user_7"]);
}

#[tokio::test]
async fn refusals_are_unauthenticated_or_permission_denied_with_no_secret_in_the_message() {
    let keys = MemoryKeyStore::new();
    let reader = api_key(&keys, "health:watch").await;
    let (mut client, seen) = start(layer(keys), None).await;

    let status = assert_status(client.check(check(&[])).await, Code::Unauthenticated, "");
    assert_eq!(status.message(), "Authentication is required");

    let forged = &ApiKeyFormat::default().generate_plaintext();
    assert_status(
        client
            .check(check(&[("x-api-key", forged), ("x-tenant-id", "tn_grpc")]))
            .await,
        Code::Unauthenticated,
        forged,
    );
    let expired = common::jwt::hs256(&json!({ "sub": "u", "exp": common::PAST }));
    assert_status(
        client
            .check(check(&[("authorization", &format!("Bearer {expired}"))]))
            .await,
        Code::Unauthenticated,
        &expired,
    );

    // The key's only scope is the service's, not Check's own.
    let status = assert_status(
        client
            .check(check(&[("x-api-key", &reader), ("x-tenant-id", "tn_grpc")]))
            .await,
        Code::PermissionDenied,
        &reader,
    );
    assert!(status.message().contains("scope"), "{status:?}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "no refused call reached the service"
    );
}

#[tokio::test]
async fn a_method_without_a_rule_of_its_own_follows_its_services_rule() {
    let keys = MemoryKeyStore::new();
    let checker = api_key(&keys, "health:check").await;
    let watcher = api_key(&keys, "health:watch").await;
    let (mut client, _) = start(layer(keys), None).await;
    let watch = |key: &str| {
        let mut request = check(&[("x-tenant-id", "tn_grpc")]);
        request
            .metadata_mut()
            .insert("x-api-key", MetadataValue::try_from(key).unwrap());
        request
    };
    assert_status(
        client.watch(watch(&checker)).await,
        Code::PermissionDenied,
        &checker,
    );
    let mut stream = client.watch(watch(&watcher)).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
}

/// A key store that is down.
struct Down;

impl KeyProvider for Down {
    fn lookup(&self, _: &str) -> Lookup<Option<Arc<tower_api_auth::api_key::KeyRecord>>> {
        Lookup::Ready(Err(tower_api_auth::store::StoreError::new(
            "connection refused",
        )))
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_unavailable_and_a_spent_quota_resource_exhausted() {
    let auth = AuthLayer::builder()
        .api_keys(ApiKeys::new(Down))
        .error_renderer(GrpcErrors)
        .build()
        .unwrap();
    let (mut client, _) = start(auth, None).await;
    let key = &ApiKeyFormat::default().generate_plaintext();
    assert_status(
        client
            .check(check(&[("x-api-key", key), ("x-tenant-id", "tn_grpc")]))
            .await,
        Code::Unavailable,
        key,
    );

    let keys = MemoryKeyStore::new();
    let key = api_key(&keys, "health:check").await;
    let limits = quota("2/minute");
    let (mut client, seen) = start(layer(keys), Some(limits)).await;
    let call = || check(&[("x-api-key", &key), ("x-tenant-id", "tn_grpc")]);
    client.check(call()).await.unwrap();
    client.check(call()).await.unwrap();
    let status = assert_status(client.check(call()).await, Code::ResourceExhausted, &key);
    assert!(status.metadata().get("retry-after").is_some(), "{status:?}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn every_refusal_has_its_grpc_status_and_the_message_is_percent_encoded() {
    use tower_api_auth::error::ErrorRenderer;
    use tower_api_auth::grpc::{GrpcStatus, grpc_status};
    use tower_api_auth::{AuthError, AuthErrorKind};
    for (kind, status) in [
        (
            AuthErrorKind::MissingCredentials,
            GrpcStatus::UNAUTHENTICATED,
        ),
        (AuthErrorKind::InvalidApiKey, GrpcStatus::UNAUTHENTICATED),
        (
            AuthErrorKind::InsufficientScope,
            GrpcStatus::PERMISSION_DENIED,
        ),
        (
            AuthErrorKind::RateLimitExceeded,
            GrpcStatus::RESOURCE_EXHAUSTED,
        ),
        (AuthErrorKind::AuthUnavailable, GrpcStatus::UNAVAILABLE),
        (AuthErrorKind::InvalidRequest, GrpcStatus::INVALID_ARGUMENT),
        (AuthErrorKind::Misconfigured, GrpcStatus::INTERNAL),
    ] {
        let error = AuthError::new(kind);
        assert_eq!(grpc_status(&error), status, "{kind:?}");
        let response = GrpcErrors.render(&error);
        assert_eq!(
            response.headers()["grpc-status"],
            status.code().to_string().as_str()
        );
    }
    let error = AuthError::new(AuthErrorKind::InvalidApiKey).with_message("clé 100% invalide\n");
    let response = GrpcErrors.render(&error);
    assert_eq!(
        response.headers()["grpc-message"],
        "cl%C3%A9 100%25 invalide%0A"
    );
}

#[test]
#[should_panic(expected = "a gRPC method path is /package.Service/Method")]
fn a_method_rule_must_name_a_full_method_path() {
    let _ = MethodScopesLayer::new().method("Health/Check", ScopeRequirement::all(["a"]));
}

/// `path` through a `MethodScopesLayer` made by `rules`, for a caller granted `health:check`:
/// the HTTP status (200 when the inner service was reached).
async fn through(rules: MethodScopesLayer, path: &str) -> u16 {
    use tower::{Layer as _, ServiceExt as _};
    use tower_api_auth::AuthMethod;
    let inner = tower::service_fn(|_: axum::http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(axum::http::Response::new(()))
    });
    let mut request = axum::http::Request::builder().uri(path).body(()).unwrap();
    request.extensions_mut().insert(
        Identity::builder("svc_1", AuthMethod::ApiKey)
            .scopes(Scopes::parse("health:check").unwrap())
            .build(),
    );
    let response = rules.layer(inner).oneshot(request).await.unwrap();
    response.status().as_u16()
}

/// `path` through `rules` with no identity (an optional auth layer let the call through).
async fn anonymous(rules: MethodScopesLayer, path: &str) -> u16 {
    use tower::{Layer as _, ServiceExt as _};
    let inner = tower::service_fn(|_: axum::http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(axum::http::Response::new(()))
    });
    let request = axum::http::Request::builder().uri(path).body(()).unwrap();
    let response = rules.layer(inner).oneshot(request).await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn a_method_no_rule_names_is_refused_unless_unlisted_methods_are_allowed() {
    let rules = || MethodScopesLayer::new().method(CHECK, ScopeRequirement::all(["health:check"]));
    assert_eq!(through(rules(), CHECK).await, 200);
    assert_eq!(
        through(rules(), "/chat.v1.Chat/Send").await,
        403,
        "fail closed"
    );
    // Another spelling of the method's path is no way around its rule.
    for path in [
        "//grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Check/",
        "/grpc.health.v1.Health/%43heck",
    ] {
        assert_eq!(through(rules(), path).await, 403, "{path}");
    }
    assert_eq!(
        through(rules().allow_unlisted(), "/chat.v1.Chat/Send").await,
        200
    );
    assert_eq!(
        through(
            rules().otherwise(ScopeRequirement::all(["admin"])),
            "/chat.v1.Chat/Send"
        )
        .await,
        403
    );
    // Unlisted methods are open to authenticated callers only, not to anonymous ones.
    assert_eq!(
        anonymous(rules().allow_unlisted(), "/chat.v1.Chat/Send").await,
        401
    );
    // A clone configured further is a layer of its own.
    let base = rules();
    let open = base.clone().allow_unlisted();
    assert_eq!(through(base, "/chat.v1.Chat/Send").await, 403);
    assert_eq!(through(open, "/chat.v1.Chat/Send").await, 200);
}

#[test]
#[should_panic(expected = "has a rule already")]
fn a_second_rule_for_one_method_is_a_mistake_caught_at_start_up() {
    let _ = MethodScopesLayer::new()
        .method(CHECK, ScopeRequirement::all(["a"]))
        .method(CHECK, ScopeRequirement::all(["b"]));
}
