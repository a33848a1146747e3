//! The auth layer on a tonic gRPC server: credentials from the call's metadata, scope rules per
//! gRPC method, refusals as gRPC statuses (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
//! `RESOURCE_EXHAUSTED`, `UNAVAILABLE`), and the caller's identity in tonic's request extensions.
//!
//! ```text
//! cargo run -p tower-api-auth-examples --example grpc
//! ```
//!
//! It serves the standard gRPC health service on 127.0.0.1:50051 (or `PORT`), calls it three
//! times with its own tonic client (no credential, a key without the method's scope, a key with
//! it) and prints what each call got, then keeps serving and prints a `grpcurl` line to try.

use std::net::SocketAddr;

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_api_auth::api_key::{ApiKeys, KeyManager, KeySpec};
use tower_api_auth::grpc::{GrpcErrors, MethodScopesLayer};
use tower_api_auth::scope::{ScopeRequirement, Scopes};
use tower_api_auth::{AuthLayer, Identity, MemoryKeyStore, Tenant};

type Error = Box<dyn std::error::Error>;

/// A key of tenant `tn_demo` with `scopes`.
async fn key(keys: &MemoryKeyStore, scopes: &str) -> Result<String, Error> {
    let spec = KeySpec::default()
        .owner("svc_demo")
        .tenants([Tenant::new("tn_demo")?])
        .scopes(Scopes::parse(scopes)?);
    Ok(KeyManager::new(keys.clone()).create(spec).await?.key)
}

/// One `Check` call with `key` (if any), described in one line.
async fn call(client: &mut HealthClient<Channel>, key: Option<&str>) -> String {
    let mut request = Request::new(HealthCheckRequest::default());
    if let Some(key) = key.and_then(|key| MetadataValue::try_from(key).ok()) {
        request.metadata_mut().insert("x-api-key", key);
        request
            .metadata_mut()
            .insert("x-tenant-id", MetadataValue::from_static("tn_demo"));
    }
    match client.check(request).await {
        Ok(answer) => format!("OK, status {:?}", answer.into_inner().status()),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let keys = MemoryKeyStore::new();
    let checker = key(&keys, "health:check").await?;
    let other = key(&keys, "reports:read").await?;
    let auth = AuthLayer::builder()
        .api_keys(ApiKeys::new(keys))
        .error_renderer(GrpcErrors) // refusals as trailers-only gRPC responses
        .build()?;
    let scopes = MethodScopesLayer::new()
        .method(
            "/grpc.health.v1.Health/Check",
            ScopeRequirement::all(["health:check"]),
        )
        .otherwise(ScopeRequirement::all(["admin"])); // methods not listed: fail closed

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    // Handlers and interceptors read the caller from the request's extensions.
    let health = tonic::service::interceptor::InterceptedService::new(
        health,
        |request: Request<()>| -> Result<Request<()>, Status> {
            if let Some(identity) = request.extensions().get::<Identity>() {
                println!(
                    "  (the service sees {} of {:?})",
                    identity.principal(),
                    identity.tenant()
                );
            }
            Ok(request)
        },
    );

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(50051);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let address = listener.local_addr()?;
    let server = Server::builder()
        .layer(auth)
        .layer(scopes)
        .add_service(health)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    let server = tokio::spawn(server);

    let channel = Channel::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let mut client = HealthClient::new(channel);
    println!("Serving gRPC health on {address}");
    println!("no credential:          {}", call(&mut client, None).await);
    println!(
        "key without the scope:  {}",
        call(&mut client, Some(&other)).await
    );
    println!(
        "key with health:check:  {}",
        call(&mut client, Some(&checker)).await
    );
    println!(
        "\nTry it (grpcurl needs the service's proto; this one ships with grpcurl's examples):\n  \
         grpcurl -plaintext -H 'x-api-key: {checker}' -H 'x-tenant-id: tn_demo' {address} grpc.health.v1.Health/Check"
    );
    server.await??;
    Ok(())
}
