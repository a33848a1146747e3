//! A SilentChat-style API protected by tower-api-auth.
//!
//! ```text
//! cargo run --example quickstart                                  # demo secret, key and token
//! cargo run --example quickstart -- examples/quickstart.toml      # configuration from a file
//! PORT=8080 cargo run --example quickstart
//! ```
//!
//! Routes: `GET /v1/health` (public), `GET /v1/me` (any valid credential), `GET /v1/conversations`
//! (scope `conversations:read`), `POST /v1/conversations` (scope `conversations:write`),
//! `GET /v1/public` (optional authentication).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_api_auth::config::AuthConfig;
use tower_api_auth::{
    ApiKeyFormat, ApiKeyHasher, AuthLayer, AuthLayerBuilder, Identity, JwtValidator,
    MemoryKeyProvider, RequireScopes, Scopes, Tenant, crypto,
};

const ISSUER: &str = "https://auth.silentchat.test";
const AUDIENCE: &str = "silentchat-api";

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

async fn list_conversations(identity: Identity) -> Json<Value> {
    let tenant = identity.tenant().map(Tenant::as_str).unwrap_or("none");
    Json(json!({
        "tenant": tenant,
        "conversations": [
            { "id": "cv_1", "title": "Welcome" },
            { "id": "cv_2", "title": "Release planning" }
        ]
    }))
}

async fn create_conversation(identity: Identity) -> (http::StatusCode, Json<Value>) {
    (
        http::StatusCode::CREATED,
        Json(json!({ "id": "cv_3", "created_by": identity.principal() })),
    )
}

async fn public(identity: Option<Identity>) -> Json<Value> {
    match identity {
        Some(identity) => Json(json!({ "hello": identity.principal() })),
        None => Json(json!({ "hello": "anonymous" })),
    }
}

/// The app, given how to build its auth layer (called twice: strict and optional).
fn app(auth: impl Fn() -> AuthLayerBuilder) -> Router {
    let protected = Router::new()
        .route("/v1/me", get(me))
        .route(
            "/v1/conversations",
            get(list_conversations)
                .route_layer(RequireScopes::all(["conversations:read"]))
                .merge(
                    axum::routing::post(create_conversation)
                        .route_layer(RequireScopes::all(["conversations:write"])),
                ),
        )
        .route_layer(auth().build());
    let optional = Router::new()
        .route("/v1/public", get(public))
        .route_layer(auth().optional().build());
    Router::new()
        .route("/v1/health", get(health))
        .merge(protected)
        .merge(optional)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A demo setup: a fresh HS256 secret, a fresh API key for tenant `tn_demo`, and a token.
fn demo(base: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let secret = crypto::random_secret(43);
    let format = ApiKeyFormat::new("sk_live")?;
    let hasher = ApiKeyHasher::default();
    let (api_key, record) = hasher
        .generate(&format)
        .with_record(|r| {
            r.with_name("quickstart demo key")
                .with_tenants([Tenant::new("tn_demo").expect("valid tenant id")])
                .with_scopes(
                    Scopes::parse("conversations:read conversations:write").expect("valid scopes"),
                )
        })
        .into_parts();
    let keys = std::sync::Arc::new(MemoryKeyProvider::from(vec![record]));

    // The token issuer of issue #3 will mint these; until then the demo signs one itself.
    crypto::ensure_provider();
    let now = unix_now();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user_demo",
        "iat": now, "exp": now + 15 * 60,
        "scope": "conversations:read", "tenant_id": "tn_demo",
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?;

    let validator = JwtValidator::hs256(&secret)?
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .max_lifetime(Duration::from_secs(60 * 60));
    let auth = move || {
        AuthLayer::builder()
            .jwt(validator.clone())
            .api_keys(tower_api_auth::ApiKeys::from_shared(keys.clone()).format(format.clone()))
    };

    println!("Demo credentials (new on every start):");
    println!("  JWT (user_demo, tenant tn_demo, scope conversations:read, 15 min):\n    {token}");
    println!(
        "  API key (tenant tn_demo, scopes conversations:read conversations:write):\n    {api_key}\n"
    );
    println!("Try:");
    println!("  curl -i {base}/v1/health");
    println!("  curl -i {base}/v1/me");
    println!("  curl -i {base}/v1/me -H 'Authorization: Bearer {token}'");
    println!("  curl -i {base}/v1/conversations -H 'Authorization: Bearer {token}'");
    println!(
        "  curl -i -X POST {base}/v1/conversations -H 'Authorization: Bearer {token}'   # 403: no conversations:write"
    );
    println!(
        "  curl -i {base}/v1/conversations -H 'X-API-Key: {api_key}' -H 'X-Tenant-ID: tn_demo'"
    );
    println!(
        "  curl -i -X POST {base}/v1/conversations -H 'X-API-Key: {api_key}' -H 'X-Tenant-ID: tn_demo'"
    );
    println!(
        "  curl -i {base}/v1/conversations -H 'X-API-Key: {api_key}'   # 400: tenant_required"
    );
    println!(
        "  curl -i {base}/v1/conversations -H 'X-API-Key: {api_key}' -H 'X-Tenant-ID: tn_other'   # 403"
    );
    println!("  curl -i {base}/v1/public");
    println!("  curl -i {base}/v1/public -H 'Authorization: Bearer {token}'");
    Ok(app(auth))
}

/// Routes protected by the layer a configuration file describes.
fn from_file(path: &str, base: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let config: AuthConfig = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let _validated = config.build()?; // report configuration errors once, before serving
    println!("Loaded {path}. Try:");
    println!("  curl -i {base}/v1/health");
    println!("  curl -i {base}/v1/me -H 'Authorization: Bearer <token>'");
    println!("  curl -i {base}/v1/conversations -H 'X-API-Key: <key>' -H 'X-Tenant-ID: <tenant>'");
    Ok(app(move || config.builder().expect("validated above")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_api_auth=debug,info".into()),
        )
        .init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT={port:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = match std::env::args().nth(1) {
        Some(path) => from_file(&path, &base)?,
        None => demo(&base)?,
    };
    println!("\nListening on {base}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
