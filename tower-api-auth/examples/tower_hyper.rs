//! The auth layer on a plain hyper 1 server: no axum, just tower.
//!
//! ```text
//! cargo run --example tower_hyper
//! ```
//!
//! It prints an API key and serves `GET /` on 127.0.0.1:3001 (or `PORT`), answering with the
//! caller's identity, or with the layer's 401/400/403 JSON errors.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::{ServiceBuilder, ServiceExt as _, service_fn};
use tower_api_auth::client_ip::ClientAddr;
use tower_api_auth::{
    AuthLayer, Identity, MemoryKeyStore, Tenant, api_key::ApiKeyFormat, api_key::ApiKeyHasher,
    scope::Scopes,
};

async fn handler(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer only lets authenticated requests through, so the identity is always there.
    let body = match request.extensions().get::<Identity>() {
        Some(identity) => serde_json::to_vec(identity).unwrap_or_default(),
        None => b"{}".to_vec(),
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (api_key, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .with_record(|r| {
            r.with_tenants([Tenant::new("tn_demo").expect("valid tenant")])
                .with_scopes(Scopes::parse("conversations:read").expect("valid scopes"))
        })
        .into_parts();
    let service = ServiceBuilder::new()
        .layer(
            AuthLayer::builder()
                .api_keys(MemoryKeyStore::from(vec![record]))
                .build()
                .unwrap(),
        )
        .service(service_fn(handler));

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("curl -i http://{addr}/ -H 'X-API-Key: {api_key}' -H 'X-Tenant-ID: tn_demo'");
    loop {
        let (stream, remote) = listener.accept().await?;
        // The peer's address, where the client-IP readers (the failed-auth throttle, IP
        // quotas) look for it; axum apps get it from `into_make_service_with_connect_info`.
        let service = service
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ClientAddr(remote));
                request
            });
        let service = TowerToHyperService::new(service);
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                eprintln!("connection error: {error}");
            }
        });
    }
}
