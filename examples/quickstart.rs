//! A SilentChat-style API protected by tower-api-auth, with the whole token lifecycle.
//!
//! ```text
//! cargo run --example quickstart                                  # demo user, secret and API key
//! cargo run --example quickstart -- examples/quickstart.toml      # configuration from a file
//! PORT=8080 cargo run --example quickstart
//! ```
//!
//! Routes: `GET /v1/health` (public), `GET /v1/me` (any valid credential), `GET /v1/conversations`
//! (scope `conversations:read`), `POST /v1/conversations` (scope `conversations:write`),
//! `GET /v1/public` (optional authentication), and the token endpoints under `/v1/auth/`:
//! `login`, `token`, `refresh`, `logout`, `revoke`, `verify`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tower_api_auth::config::AuthConfig;
use tower_api_auth::{
    Algorithm, AuthLayer, Identity, MemoryKeyProvider, RequireScopesLayer, Tenant,
    api_key::ApiKeyFormat, api_key::ApiKeyHasher, api_key::ApiKeys, crypto, issuer::Account,
    issuer::MemoryRefreshStore, issuer::PasswordVerifier, issuer::SigningKey,
    issuer::TokenEndpoints, issuer::TokenIssuer, issuer::TokenService, layer::AuthLayerBuilder,
    scope::Scopes, store::StoreError,
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

/// A demo user as the configuration file lists it.
#[derive(Debug, Clone, Deserialize)]
struct DemoUser {
    username: String,
    /// DEMO ONLY. A real app stores an argon2/scrypt hash and verifies with its own crate.
    password: String,
    subject: String,
    scopes: Scopes,
    #[serde(default)]
    tenants: Vec<Tenant>,
}

/// The app's user store: this crate never stores passwords, the app plugs its own in.
struct DemoUsers(HashMap<String, DemoUser>);

impl PasswordVerifier for DemoUsers {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.0.get(username).and_then(|user| {
            let matches: bool = user.password.as_bytes().ct_eq(password.as_bytes()).into();
            matches.then(|| {
                Account::new(user.subject.as_str(), user.scopes.clone())
                    .with_tenants(user.tenants.clone())
            })
        }))
    }
}

/// The app, given the token service and how to build its auth layer (strict or optional).
fn app(tokens: Arc<TokenService>, auth: impl Fn() -> AuthLayerBuilder) -> Router {
    let protected = Router::new()
        .route("/v1/me", get(me))
        .route(
            "/v1/conversations",
            get(list_conversations)
                .route_layer(RequireScopesLayer::all(["conversations:read"]))
                .merge(
                    post(create_conversation)
                        .route_layer(RequireScopesLayer::all(["conversations:write"])),
                ),
        )
        .route_layer(auth().build());
    let optional = Router::new()
        .route("/v1/public", get(public))
        .route_layer(auth().optional().build());
    Router::new()
        .route("/v1/health", get(health))
        .nest("/v1", TokenEndpoints::new(tokens).router(auth().build()))
        .merge(protected)
        .merge(optional)
}

/// The token service: signs with `signing`, knows the demo users and the API keys.
fn token_service(
    issuer: TokenIssuer,
    users: Vec<DemoUser>,
    api_keys: ApiKeys,
) -> Arc<TokenService> {
    let users = DemoUsers(users.into_iter().map(|u| (u.username.clone(), u)).collect());
    let issuer = issuer.access_token_ttl(Duration::from_secs(15 * 60));
    Arc::new(
        TokenService::new(issuer, MemoryRefreshStore::new())
            .passwords(users)
            .api_keys(api_keys)
            .session_ttl(Duration::from_secs(30 * 24 * 60 * 60)),
    )
}

fn print_walkthrough(base: &str, username: &str, password: &str, api_key: &str, tenant: &str) {
    println!("Walk through the whole flow (copy the tokens from each answer):");
    println!("  curl -i {base}/v1/health");
    println!("  curl -i {base}/v1/me                                   # 401 missing_credentials");
    println!("  # 1. Log in: an access token (15 min) and a refresh token (single use)");
    println!(
        "  curl -s -X POST {base}/v1/auth/login -H 'Content-Type: application/json' \\\n       -d '{{\"username\":\"{username}\",\"password\":\"{password}\"}}'"
    );
    println!("  export ACCESS=<access_token> REFRESH=<refresh_token>");
    println!("  # 2. Use the access token");
    println!("  curl -i {base}/v1/me -H \"Authorization: Bearer $ACCESS\"");
    println!("  curl -i {base}/v1/conversations -H \"Authorization: Bearer $ACCESS\"");
    println!("  curl -i {base}/v1/auth/verify -H \"Authorization: Bearer $ACCESS\"");
    println!(
        "  # 3. Refresh: a new pair; the old refresh token is spent (using it again ends the session)"
    );
    println!(
        "  curl -s -X POST {base}/v1/auth/refresh -H 'Content-Type: application/json' -d \"{{\\\"refresh_token\\\":\\\"$REFRESH\\\"}}\""
    );
    println!("  # 4. Log out: the session ends and its access tokens stop working at once");
    println!("  curl -i -X POST {base}/v1/auth/logout -H \"Authorization: Bearer $ACCESS\"");
    println!("  curl -i {base}/v1/me -H \"Authorization: Bearer $ACCESS\"   # 401 token_revoked");
    println!("  # 5. Server to server: an API key, directly or exchanged for tokens");
    println!(
        "  curl -i {base}/v1/conversations -H 'X-API-Key: {api_key}' -H 'X-Tenant-ID: {tenant}'"
    );
    println!("  curl -i {base}/v1/conversations -H 'X-API-Key: {api_key}'   # 400 tenant_required");
    println!(
        "  curl -s -X POST {base}/v1/auth/token -H 'Content-Type: application/json' -d '{{\"api_key\":\"{api_key}\"}}'"
    );
    println!("  curl -i {base}/v1/public");
}

/// A demo setup: a fresh signing secret, a demo user with a fresh password, a fresh API key.
fn demo(base: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let secret = crypto::random_secret(43);
    let signing = SigningKey::hmac(Algorithm::HS256, secret.as_bytes())?.with_kid("demo");
    let tenant = Tenant::new("tn_demo")?;
    let format = ApiKeyFormat::new("sk_live")?;
    let (api_key, record) = ApiKeyHasher::default()
        .generate(&format)
        .with_record(|r| {
            r.with_name("quickstart demo key")
                .with_owner("svc_demo")
                .with_tenants([tenant.clone()])
                .with_scopes(
                    Scopes::parse("conversations:read conversations:write").expect("valid scopes"),
                )
        })
        .into_parts();
    let api_keys = ApiKeys::new(MemoryKeyProvider::from(vec![record])).format(format);
    let user = DemoUser {
        username: "demo@silentchat.test".into(),
        password: crypto::random_secret(16),
        subject: "user_demo".into(),
        scopes: Scopes::parse("conversations:read")?,
        tenants: vec![tenant.clone()],
    };
    let (username, password) = (user.username.clone(), user.password.clone());
    let issuer = TokenIssuer::new(signing, ISSUER).audience(AUDIENCE);
    let tokens = token_service(issuer, vec![user], api_keys.clone());

    let (validator, revocations) = (tokens.validator(), tokens.revocations());
    let auth = move || {
        AuthLayer::builder()
            .jwt(validator.clone())
            .revocation(revocations.clone())
            .api_keys(api_keys.clone())
    };
    println!("Demo credentials (new on every start):");
    println!("  user {username} / password {password} (scope conversations:read, tenant tn_demo)");
    println!("  API key {api_key} (tenant tn_demo, conversations:read and :write)\n");
    print_walkthrough(base, &username, &password, &api_key, tenant.as_str());
    Ok(app(tokens, auth))
}

/// The configuration file: the auth layer, the token issuer and the demo users.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuickstartConfig {
    auth: AuthConfig,
    tokens: TokensConfig,
    #[serde(default)]
    users: Vec<DemoUser>,
}

/// How the quickstart signs tokens: with the `[[auth.jwt.keys]]` entry named `kid` (an HMAC
/// secret), or with a private key file for RS/PS/ES/EdDSA whose public half is that entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensConfig {
    kid: String,
    #[serde(default)]
    private_key_file: Option<String>,
}

/// Routes protected by the layer a configuration file describes.
fn from_file(path: &str, base: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let config: QuickstartConfig = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let jwt = config
        .auth
        .jwt
        .as_ref()
        .ok_or(format!("{path}: [auth.jwt] is required"))?;
    let key = jwt
        .keys
        .iter()
        .find(|k| k.kid.as_deref() == Some(config.tokens.kid.as_str()))
        .ok_or(format!(
            "{path}: no [[auth.jwt.keys]] has kid {:?}",
            config.tokens.kid
        ))?;
    let signing = match (&key.secret, &config.tokens.private_key_file) {
        (_, Some(file)) => SigningKey::from_pem(key.alg, &std::fs::read(file)?)?,
        (Some(secret), None) => SigningKey::hmac(key.alg, secret.as_bytes())?,
        (None, None) => {
            return Err(format!("{path}: [tokens] needs an HMAC key or a private_key_file").into());
        }
    }
    .with_kid(config.tokens.kid.as_str());
    let mut issuer = TokenIssuer::new(signing, jwt.issuers.first().map_or(ISSUER, String::as_str));
    for audience in &jwt.audiences {
        issuer = issuer.audience(audience.as_str());
    }
    let api_keys = match &config.auth.api_keys {
        Some(api_keys) => api_keys.api_keys()?,
        None => ApiKeys::new(MemoryKeyProvider::new()),
    };
    let first_user = config
        .users
        .first()
        .map(|u| (u.username.clone(), u.password.clone()));
    let tokens = token_service(issuer, config.users, api_keys);
    let auth_config = config.auth;
    let _validated = auth_config.builder()?; // report configuration errors once, before serving
    let revocations = tokens.revocations();
    let auth = move || {
        let builder = auth_config.builder().expect("validated above");
        builder.revocation(revocations.clone())
    };
    println!("Loaded {path}.");
    if let Some((username, password)) = first_user {
        print_walkthrough(
            base,
            &username,
            &password,
            "sk_live_Wbec1HUApOhv_kIQXRP5jyerrWl6yKODBSEc1TRKh33iE00lIre",
            "tn_demo",
        );
    }
    Ok(app(tokens, auth))
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
