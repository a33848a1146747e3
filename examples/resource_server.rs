//! A second service that trusts an authorization server's tokens given only its URL: it finds the
//! server's JWK set through its RFC 8414 metadata (this crate's `remote` feature), follows its key
//! rotations without a restart, and tells clients where tokens come from (RFC 9728).
//!
//! ```text
//! cargo run --example quickstart                          # the authorization server, on :3000
//! ISSUER=http://127.0.0.1:3000 PORT=3001 cargo run -p tower-api-auth-examples --example resource_server
//! ```
//!
//! Routes: `GET /v1/me` (any token of the issuer), `GET /v1/conversations` (scope
//! `conversations:read`), and `GET /.well-known/oauth-protected-resource/v1`, the document a
//! client told 401 is pointed to (`resource_metadata` in `WWW-Authenticate`).

#[path = "quickstart_support/serve.rs"]
mod serve;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_api_auth::endpoints::ProtectedResource;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::remote::RemoteJwks;
use tower_api_auth::resource_metadata::ProtectedResourceMetadata;
use tower_api_auth::{AuthLayer, Identity, JwtValidator, RequireScopesLayer};

/// The audience the quickstart's tokens are issued for.
const AUDIENCE: &str = "silentchat-api";

async fn me(identity: Identity) -> Json<Value> {
    Json(json!({
        "user_id": identity.principal(),
        "client_id": identity.client_id(),
        "scopes": identity.scopes(),
        "issuer": identity.issuer(),
    }))
}

async fn conversations(identity: Identity) -> Json<Value> {
    Json(json!({ "for": identity.principal(), "conversations": [{ "id": "cv_1" }] }))
}

/// The service, for `issuer`'s tokens, reachable at `base`.
async fn app(issuer: &str, base: &str) -> Result<Router, Box<dyn std::error::Error>> {
    // Only the issuer's URL: the metadata names the JWK set, which is fetched, refreshed in the
    // background, and fetched again when a token names a key it does not hold yet (a rotation).
    let keys = RemoteJwks::discover(issuer).load().await?;
    let validator = JwtValidator::from_source(
        keys,
        JwtOptions::new()
            .issuer(issuer)
            .audience(AUDIENCE)
            .require_typ("at+jwt"),
    );
    let metadata = ProtectedResourceMetadata::new(format!("{base}/v1"))
        .authorization_server(issuer)
        .scopes(["conversations:read", "conversations:write"])
        .resource_name("A service that trusts the quickstart");
    let auth = AuthLayer::builder()
        .jwt(validator)
        .resource_metadata(metadata.url())
        .build()?;
    Ok(Router::new()
        .route("/v1/me", get(me))
        .route(
            "/v1/conversations",
            get(conversations).route_layer(RequireScopesLayer::all(["conversations:read"])),
        )
        .route_layer(auth)
        .merge(ProtectedResource::new(metadata).router()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_api_auth=info,info".into()),
        )
        .init();
    let issuer = std::env::var("ISSUER").unwrap_or_else(|_| "http://127.0.0.1:3000".into());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT={port:?} is not a port number"))?,
        Err(_) => 3001,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = app(&issuer, &base)
        .await
        .map_err(|e| format!("discovering {issuer}: {e} (is the quickstart running there?)"))?;
    println!("Trusting the tokens of {issuer}, found by discovery alone.");
    println!(
        "  curl -i {base}/v1/me                                    # 401: WWW-Authenticate names the metadata"
    );
    println!("  curl -s {base}/.well-known/oauth-protected-resource/v1  # … which names {issuer}");
    println!(
        "  curl -i {base}/v1/me -H \"Authorization: Bearer $ACCESS\"  # 200 with a token of {issuer}"
    );
    println!("\nListening on {base}");
    serve::serve(listener, router, serve::Limits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}
