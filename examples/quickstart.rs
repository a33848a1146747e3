//! A SilentChat-style API protected by tower-api-auth, with the whole token lifecycle.
//!
//! ```text
//! cargo run --example quickstart                                  # demo user, secret and API key
//! cargo run --example quickstart -- examples/quickstart.toml      # configuration from a file
//! PORT=8080 cargo run --example quickstart
//!
//! # Several instances sharing state (see quickstart_support/stores.rs for what goes where):
//! DATABASE_URL=postgres://postgres@127.0.0.1/app REDIS_URL=redis://127.0.0.1 \
//!   cargo run --example quickstart -- examples/quickstart.toml
//! ```
//!
//! Routes: `GET /v1/health` (readiness: 503 naming the stale feed or the store that does not
//! answer), `GET /v1/live` (liveness, always 200), `GET /v1/me` (any valid credential), `GET /v1/conversations`
//! (scope `conversations:read`), `POST /v1/conversations` (scope `conversations:write`),
//! `GET /v1/public` (optional authentication), the token endpoints under `/v1/auth/`:
//! `login`, `token`, `refresh`, `logout`, `revoke`, `verify`, and the OAuth 2.0 authorization
//! server: `GET /v1/oauth/authorize` (the authorization-code flow with PKCE; users sign in with
//! HTTP Basic, the browser's own prompt or `curl -u`), `POST /v1/oauth/introspect`, the RFC 8414
//! metadata at `/.well-known/oauth-authorization-server`, and `GET /callback`, a demo client's
//! redirect URI that shows the code it receives.
//!
//! Rate limits (seed 004's): API keys 1000 requests an hour, OAuth tokens 5000, the app's own
//! JWTs 2000, each caller counted on its own, and a demo-sized `burst` of 20 a minute so that the
//! walkthrough can show a 429; every answer carries the IETF `RateLimit` fields. Anonymous
//! callers of `/v1/public` are counted by address. Failed authentications are throttled per
//! client address (20 a minute) and wrong passwords per username (5 a minute): beyond them the
//! client is answered 429 before its credential costs a lookup or a password check.
//!
//! Served as a production server should be (`quickstart_support/serve.rs`, the README's
//! "Serving"): 10 s to send a request's headers, 30 s for a request to be answered, at most 512
//! connections at once; the token endpoints refuse a body declared over 16 KiB unread (413) and
//! one not received within 10 s (408).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tower_api_auth::config::AuthConfig;
use tower_api_auth::health::Readiness;
use tower_api_auth::rate_limit::{
    AuthThrottle, AuthThrottleConfig, Method, Policy, Quota, RateLimitLayer, RateLimits,
    RateLimitsConfig,
};
use tower_api_auth::{
    AuthLayer, Identity, MemoryKeyStore, RequireScopesLayer, Tenant, api_key::ApiKeyFormat,
    api_key::ApiKeys, api_key::KeyManager, api_key::KeySpec, config::ClientConfig, crypto,
    endpoints::PasswordConsent, endpoints::TokenEndpoints, endpoints::TokenEndpointsConfig,
    issuer::Account, issuer::MemoryClientStore, issuer::MemorySigningKeyStore,
    issuer::PasswordVerifier, issuer::SigningKey, issuer::SigningKeys, issuer::TokenIssuer,
    issuer::TokenService, scope::Scopes, store::ClientRecord, store::StoreError,
};

#[path = "quickstart_support/serve.rs"]
pub(crate) mod serve;
#[path = "quickstart_support/stores.rs"]
pub(crate) mod stores;

use stores::Stores;

const ISSUER: &str = "https://auth.silentchat.test";
const AUDIENCE: &str = "silentchat-api";

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The caller, named as `/v1/auth/verify` names it.
async fn me(identity: Identity) -> Json<Value> {
    Json(json!({
        "user_id": identity.principal(),
        "method": identity.method(),
        "tenant": identity.tenant().map(Tenant::as_str),
        "scopes": identity.scopes(),
        "expires_at": identity.expires_at(),
        "api_key_id": identity.api_key_id(),
    }))
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

/// A demo client's redirect URI: shows the code (or the error) the authorization endpoint sent
/// back, as a client's callback page would before exchanging it.
async fn callback(
    axum::extract::Query(params): axum::extract::Query<HashMap<String, String>>,
) -> Json<Value> {
    Json(json!({ "callback": params }))
}

/// The quickstart's rate limits when the file sets none: seed 004's quota per authentication
/// method, and a small burst limit for the walkthrough to run into.
fn default_limits() -> RateLimits {
    RateLimits::new()
        .policy(Policy::per_method(Method::ApiKey, Quota::per_hour(1000)))
        .policy(Policy::per_method(Method::OAuth, Quota::per_hour(5000)))
        .policy(Policy::per_method(Method::Jwt, Quota::per_hour(2000)))
        .policy(Policy::new("burst", Quota::per_minute(20)))
        .success_headers(true)
}

/// The quickstart's failed-authentication throttle when the file sets none.
fn default_throttle() -> AuthThrottle {
    AuthThrottle::new(Quota::per_minute(20)).per_username(Quota::per_minute(5))
}

/// What the OAuth authorization server needs of the app: where clients reach it, and its users
/// (who sign in at the authorization endpoint).
struct OAuth {
    /// The public URL of the `/v1` routes, the base of the endpoints' URLs in the metadata.
    public_url: String,
    users: Arc<DemoUsers>,
}

/// The app, given the token service, its auth layer (made optional for the public route), the
/// rate limits (which the auth layer checks on what it lets through) and the throttle of failed
/// authentications, which the layer and the token endpoints share.
fn app(
    tokens: Arc<TokenService>,
    auth: AuthLayer,
    endpoints: TokenEndpointsConfig,
    limits: RateLimitLayer,
    throttle: AuthThrottle,
    oauth: OAuth,
    readiness: Readiness,
) -> Router {
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
        // The auth layer checks the quotas itself, on every request it lets through.
        .route_layer(auth.with_rate_limits(&limits));
    let optional = Router::new()
        .route("/v1/public", get(public))
        .route_layer(auth.optional().with_rate_limits(&limits));
    let consent = PasswordConsent::new(oauth.users)
        .realm("SilentChat")
        .throttle_failures(throttle.clone());
    let endpoints = TokenEndpoints::new(tokens)
        .configure(endpoints)
        .throttle_failures(throttle)
        .consent(consent)
        .public_url(oauth.public_url);
    Router::new()
        // Readiness: 503, naming the part, while the feed is stale or a store does not answer
        // (take the instance out of rotation; it recovers by itself). Liveness stays 200.
        .route_service("/v1/health", readiness)
        .route("/v1/live", get(live))
        .route("/callback", get(callback))
        .merge(endpoints.well_known_router())
        .nest("/v1", endpoints.router(auth))
        .merge(protected)
        .merge(optional)
}

/// The token service: signs with `signing`, knows the demo users and the API keys, keeps
/// sessions where `stores` says.
fn token_service(
    stores: &Stores,
    issuer: TokenIssuer,
    users: &Arc<DemoUsers>,
    api_keys: ApiKeys,
    clients: MemoryClientStore,
) -> Arc<TokenService> {
    let issuer = issuer.access_token_ttl(Duration::from_secs(15 * 60));
    Arc::new(
        stores
            .token_service(issuer)
            .passwords(users.clone())
            .api_keys(api_keys)
            .clients(clients)
            .session_ttl(Duration::from_secs(30 * 24 * 60 * 60)),
    )
}

fn demo_users(users: Vec<DemoUser>) -> Arc<DemoUsers> {
    Arc::new(DemoUsers(
        users.into_iter().map(|u| (u.username.clone(), u)).collect(),
    ))
}

/// The demo's OAuth clients: a web app with a secret and a command-line tool without one, both
/// sent back to the quickstart's `/callback`. Returns the web app's secret.
fn demo_clients(clients: &MemoryClientStore, base: &str) -> String {
    let secret = crypto::random_secret(43);
    let hasher = tower_api_auth::store::ClientStore::secret_hasher(clients);
    let redirect = format!("{base}/callback");
    clients.insert(
        ClientRecord::new(
            "demo-webapp",
            hasher.hash(&secret),
            Scopes::parse("conversations:read conversations:write").expect("scopes"),
        )
        .with_redirect_uris([redirect.as_str()]),
    );
    clients.insert(
        ClientRecord::public(
            "demo-cli",
            Scopes::parse("conversations:read").expect("scopes"),
        )
        .with_redirect_uris([redirect.as_str()]),
    );
    secret
}

/// What the walkthrough logs in with.
struct Walkthrough<'a> {
    base: &'a str,
    username: &'a str,
    password: &'a str,
    /// A plaintext API key, when one is known (a configuration file holds only hashes).
    api_key: Option<&'a str>,
    tenant: &'a str,
    /// Whether API keys live in a shared database (then the command-line tool manages them).
    shared_database: bool,
    /// An OAuth client to walk the authorization-code flow with: its id, its secret and its
    /// redirect URI.
    oauth_client: Option<(&'a str, &'a str, &'a str)>,
}

/// Commands to paste into a POSIX shell in order: each answer's tokens land in variables.
fn print_walkthrough(w: &Walkthrough<'_>) {
    let Walkthrough {
        base,
        username,
        password,
        api_key,
        tenant,
        shared_database,
        oauth_client,
    } = w;
    let login = format!(
        r#"curl -s -X POST $BASE/v1/auth/login -H 'Content-Type: application/json' -d '{{"username":"{username}","password":"{password}"}}'"#
    );
    let refresh = |token: &str| {
        format!(
            r#"curl -s -X POST $BASE/v1/auth/refresh -H 'Content-Type: application/json' -d "{{\"refresh_token\":\"${token}\"}}""#
        )
    };
    println!(
        r#"Walk through the whole flow: paste these into a shell, in order (tokens go into variables).
  BASE={base}
  field() {{ sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }}   # reads a string field of a JSON answer (or: jq -r ".$1")
  curl -i $BASE/v1/health
  curl -i $BASE/v1/me                                                  # 401 missing_credentials

  # 1. Log in: an access token (15 min) and a refresh token (single use)
  LOGIN=$({login})
  ACCESS=$(echo "$LOGIN" | field access_token); REFRESH=$(echo "$LOGIN" | field refresh_token)
  # 2. Use the access token; /v1/me and /v1/auth/verify both name the caller user_id
  curl -i $BASE/v1/me -H "Authorization: Bearer $ACCESS"
  curl -i $BASE/v1/auth/verify -H "Authorization: Bearer $ACCESS"
  curl -i $BASE/v1/conversations -H "Authorization: Bearer $ACCESS"             # 200: scope conversations:read
  curl -i -X POST $BASE/v1/conversations -H "Authorization: Bearer $ACCESS"     # 403 insufficient_scope: no conversations:write
  # 3. Refresh: a new pair; the refresh token just used is spent
  NEXT=$({refresh_old})
  ACCESS=$(echo "$NEXT" | field access_token); REFRESH2=$(echo "$NEXT" | field refresh_token)
  curl -i $BASE/v1/me -H "Authorization: Bearer $ACCESS"                         # 200 with the new access token
  # 4. Reuse: the spent refresh token again ends the whole session (stolen-token defence)
  curl -i -X POST $BASE/v1/auth/refresh -H 'Content-Type: application/json' -d "{{\"refresh_token\":\"$REFRESH\"}}"   # 400 invalid_grant
  curl -i $BASE/v1/me -H "Authorization: Bearer $ACCESS"                         # 401 token_revoked
  curl -i -X POST $BASE/v1/auth/refresh -H 'Content-Type: application/json' -d "{{\"refresh_token\":\"$REFRESH2\"}}"  # 400: the session is over
  # 5. Log in again, then log out: the session's access tokens stop working at once
  LOGIN=$({login})
  ACCESS=$(echo "$LOGIN" | field access_token); REFRESH=$(echo "$LOGIN" | field refresh_token)
  curl -i -X POST $BASE/v1/auth/logout -H "Authorization: Bearer $ACCESS"       # 204
  curl -i $BASE/v1/me -H "Authorization: Bearer $ACCESS"                         # 401 token_revoked
  # 6. Revoke (RFC 7009): a refresh token ends its session; unknown tokens answer 200 too
  LOGIN=$({login})
  REFRESH=$(echo "$LOGIN" | field refresh_token)
  curl -i -X POST $BASE/v1/auth/revoke -H 'Content-Type: application/json' -d "{{\"token\":\"$REFRESH\"}}"            # 200
  curl -i -X POST $BASE/v1/auth/refresh -H 'Content-Type: application/json' -d "{{\"refresh_token\":\"$REFRESH\"}}"   # 400 invalid_grant
  # 7. Optional authentication: anonymous, or the caller when a credential is sent
  curl -i $BASE/v1/public
  # 8. Rate limits: every answer says what is left (RateLimit-Policy, RateLimit); the demo's
  #    burst allows 20 a minute per caller, so a loop runs into 429 rate_limit_exceeded
  LOGIN=$({login}); ACCESS=$(echo "$LOGIN" | field access_token)
  for i in $(seq 20); do curl -s -o /dev/null -w '%{{http_code}} ' $BASE/v1/me -H "Authorization: Bearer $ACCESS"; done; echo
  curl -i $BASE/v1/me -H "Authorization: Bearer $ACCESS"     # 429 with Retry-After, RateLimit-Policy and RateLimit"#,
        refresh_old = refresh("REFRESH"),
    );
    match api_key {
        Some(key) => println!(
            r#"  # 9. Server to server: an API key (tenant {tenant}, conversations:read and :write)
  KEY={key}
  curl -i $BASE/v1/conversations -H "X-API-Key: $KEY" -H 'X-Tenant-ID: {tenant}'             # 200
  curl -i -X POST $BASE/v1/conversations -H "X-API-Key: $KEY" -H 'X-Tenant-ID: {tenant}'     # 201
  curl -i $BASE/v1/conversations -H "X-API-Key: $KEY"                                       # 200: its one tenant
  curl -i $BASE/v1/conversations -H "X-API-Key: $KEY" -H 'X-Tenant-ID: tn_other'            # 403 tenant_forbidden
  # … or exchanged for tokens that carry its tenant, scopes and key id
  PAIR=$(curl -s -X POST $BASE/v1/auth/token -H 'Content-Type: application/json' -d "{{\"api_key\":\"$KEY\"}}")
  curl -i $BASE/v1/auth/verify -H "Authorization: Bearer $(echo "$PAIR" | field access_token)""#
        ),
        None => println!(
            "  # 9. API keys: the file holds only hashes; add the plaintext of one as [demo] api_key to try it"
        ),
    }
    if let Some((client_id, secret, redirect_uri)) = oauth_client {
        print_oauth_walkthrough(username, password, client_id, secret, redirect_uri);
        println!(
            r#"  # 12. A second service that trusts these tokens by discovery alone (the RFC 8414 metadata
  #     names the JWK set), across key rotations, with no secret of this server's. In another shell:
  #       ISSUER={base} PORT=3001 cargo run -p tower-api-auth-examples --example resource_server
  ACCESS=$({login} | field access_token)
  curl -i http://127.0.0.1:3001/v1/me                                       # 401: WWW-Authenticate names its metadata
  curl -i http://127.0.0.1:3001/v1/me -H "Authorization: Bearer $ACCESS"    # 200"#
        );
    }
    if *shared_database {
        println!(
            r#"  # 10. Manage keys in the shared database (same DATABASE_URL) with the command-line tool;
  #    every instance refuses a revoked key within a second
  NEW=$(cargo run -q -p tower-api-auth-cli -- keys create --owner svc_cli --tenant {tenant} --scope conversations:read | head -n1)
  curl -i $BASE/v1/conversations -H "X-API-Key: $NEW" -H 'X-Tenant-ID: {tenant}'             # 200
  cargo run -q -p tower-api-auth-cli -- keys list --tenant {tenant}
  cargo run -q -p tower-api-auth-cli -- keys revoke "$(echo "$NEW" | cut -d_ -f3)"
  curl -i $BASE/v1/conversations -H "X-API-Key: $NEW" -H 'X-Tenant-ID: {tenant}'             # 401 api_key_revoked"#
        );
    } else {
        println!(
            "  # Several instances as one service: start each with the same configuration file and\n  #   DATABASE_URL=postgres://… (or sqlite://…) and/or REDIS_URL=redis://…"
        );
    }
}

/// The authorization-code flow with PKCE, as a web app and its user walk it, in curl.
fn print_oauth_walkthrough(
    username: &str,
    password: &str,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
) {
    let exchange = format!(
        r#"curl -s -X POST $BASE/v1/auth/token -H 'Content-Type: application/json' -d "{{\"grant_type\":\"authorization_code\",\"code\":\"$CODE\",\"client_id\":\"{client_id}\",\"client_secret\":\"{secret}\",\"redirect_uri\":\"{redirect_uri}\",\"code_verifier\":\"$VERIFIER\"}}""#
    );
    println!(
        r#"  # 11. OAuth 2.0: a web app ({client_id}) signs its user in with the authorization-code flow and PKCE
  #     A PKCE pair (or take RFC 7636's: VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM)
  VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
  CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
  #     The user signs in at the authorization endpoint (a browser shows its sign-in prompt; curl -u here)
  #     and is sent back to the app's redirect URI with a code, the state and the issuer (RFC 9207)
  LOCATION=$(curl -s -o /dev/null -w '%{{redirect_url}}' -u '{username}:{password}' "$BASE/v1/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={redirect_uri}&scope=conversations:read&state=xyz&code_challenge=$CHALLENGE&code_challenge_method=S256")
  echo "$LOCATION"
  CODE=$(echo "$LOCATION" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
  #     The app exchanges the code (once, within a minute) with its secret and the verifier
  OAUTH=$({exchange})
  curl -i $BASE/v1/me -H "Authorization: Bearer $(echo "$OAUTH" | field access_token)"      # 200
  curl -s -X POST $BASE/v1/auth/token -H 'Content-Type: application/json' -d "{{\"grant_type\":\"refresh_token\",\"refresh_token\":\"$(echo "$OAUTH" | field refresh_token)\",\"client_id\":\"{client_id}\",\"client_secret\":\"{secret}\"}}"
  #     Introspection (RFC 7662) for the app's back end, and the server's metadata (RFC 8414)
  curl -s -u '{client_id}:{secret}' $BASE/v1/oauth/introspect -d "token=$(echo "$OAUTH" | field access_token)"
  curl -s $BASE/.well-known/oauth-authorization-server
  #     The same code again: refused, and the tokens it gave are revoked
  curl -s -X POST $BASE/v1/auth/token -H 'Content-Type: application/json' -d "{{\"grant_type\":\"authorization_code\",\"code\":\"$CODE\",\"client_id\":\"{client_id}\",\"client_secret\":\"{secret}\",\"redirect_uri\":\"{redirect_uri}\",\"code_verifier\":\"$VERIFIER\"}}"   # 400 invalid_grant
  curl -i $BASE/v1/me -H "Authorization: Bearer $(echo "$OAUTH" | field access_token)"      # 401 token_revoked"#
    );
}

/// A demo setup: a fresh signing secret, a demo user with a fresh password, a fresh API key.
pub(crate) async fn demo(
    base: &str,
    stores: &Stores,
) -> Result<Router, Box<dyn std::error::Error>> {
    // Rotating ES256 keys, in this process's memory: other services trust the tokens through the
    // JWK set (/.well-known/jwks.json) without any secret of the issuer's. (For a fleet, the ring
    // lives in the shared store under a fleet secret every instance is given.)
    let signing_keys =
        SigningKeys::builder(MemorySigningKeyStore::new(), crypto::random_secret(43))
            .access_token_ttl(Duration::from_secs(15 * 60))
            .build()
            .await?;
    signing_keys.spawn_refresh();
    let tenant = Tenant::new("tn_demo")?;
    let format = ApiKeyFormat::new("sk_live")?;
    let demo_key = KeySpec::default()
        .name("quickstart demo key")
        .owner("svc_demo")
        .tenants([tenant.clone()])
        .scopes(Scopes::parse("conversations:read conversations:write")?);
    let memory = MemoryKeyStore::new();
    let api_keys = stores
        .api_keys(ApiKeys::new(memory.clone()).format(format.clone()), &[])
        .await?;
    let keys = stores
        .key_manager(&api_keys)
        .unwrap_or_else(|| KeyManager::new(memory).format(format));
    let api_key = keys.create(demo_key).await?.key;
    let user = DemoUser {
        username: "demo@silentchat.test".into(),
        password: crypto::random_secret(16),
        subject: "user_demo".into(),
        scopes: Scopes::parse("conversations:read")?,
        tenants: vec![tenant.clone()],
    };
    let (username, password) = (user.username.clone(), user.password.clone());
    // The issuer is this instance's own address: other services find its metadata (and keys)
    // there, by discovery.
    let issuer = TokenIssuer::rotating(signing_keys, base).audience(AUDIENCE);
    let users = demo_users(vec![user]);
    let clients = MemoryClientStore::new(tower_api_auth::api_key::ApiKeyHasher::default());
    let client_secret = demo_clients(&clients, base);
    let redirect_uri = format!("{base}/callback");
    let tokens = token_service(stores, issuer, &users, api_keys.clone(), clients);

    let throttle = default_throttle();
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(api_keys)
        .throttle_failures(throttle.clone())
        .build()?;
    println!("Demo credentials (new on every start):");
    println!("  user {username} / password {password} (scope conversations:read, tenant tn_demo)");
    println!("  API key {api_key} (tenant tn_demo, conversations:read and :write)\n");
    print_walkthrough(&Walkthrough {
        base,
        username: &username,
        password: &password,
        api_key: Some(&api_key),
        tenant: tenant.as_str(),
        shared_database: stores.database_url.is_some(),
        oauth_client: Some(("demo-webapp", &client_secret, &redirect_uri)),
    });
    Ok(app(
        tokens,
        auth,
        TokenEndpointsConfig::default(),
        stores.rate_limits(default_limits()).build()?,
        throttle,
        OAuth {
            public_url: format!("{base}/v1"),
            users,
        },
        stores.readiness(),
    ))
}

/// The configuration file: the auth layer, the token issuer and the demo users.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuickstartConfig {
    auth: AuthConfig,
    tokens: TokensConfig,
    #[serde(default)]
    users: Vec<DemoUser>,
    #[serde(default)]
    demo: DemoConfig,
    /// The token endpoints' paths, fields and failures (defaults: see the walkthrough).
    #[serde(default)]
    endpoints: TokenEndpointsConfig,
    /// The rate limits (default: [`default_limits`]).
    #[serde(default)]
    rate_limits: Option<RateLimitsConfig>,
    /// The failed-authentication throttle (default: [`default_throttle`]).
    #[serde(default)]
    throttle: Option<AuthThrottleConfig>,
    /// The OAuth authorization server's clients and where it is reached.
    #[serde(default)]
    oauth: OAuthConfig,
}

/// `[oauth]`: the registered clients of the authorization server.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthConfig {
    /// The public URL of the `/v1` routes (default: this instance's address + `/v1`).
    public_url: Option<String>,
    #[serde(default)]
    clients: Vec<ClientConfig>,
}

/// What the walkthrough may show: DEMO ONLY, a real configuration holds no plaintext key.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoConfig {
    /// The plaintext of one of the `[[auth.api_keys.keys]]` (only its hash is a record).
    api_key: Option<String>,
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
async fn from_file(
    path: &str,
    base: &str,
    stores: &Stores,
) -> Result<Router, Box<dyn std::error::Error>> {
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
    // The same secret the layer verifies with, wherever the file says it is (`secret`,
    // `secret_base64` or `secret_env`), or the private half of a public key entry.
    let signing = match (key.hmac_secret()?, &config.tokens.private_key_file) {
        (_, Some(file)) => SigningKey::from_pem(key.alg, &std::fs::read(file)?)?,
        (Some(secret), None) => SigningKey::hmac(key.alg, &secret)?,
        (None, None) => {
            return Err(format!("{path}: [tokens] needs an HMAC key or a private_key_file").into());
        }
    }
    .with_kid(config.tokens.kid.as_str());
    let mut issuer = TokenIssuer::new(signing, jwt.issuers.first().map_or(ISSUER, String::as_str));
    for audience in &jwt.audiences {
        issuer = issuer.audience(audience.as_str());
    }
    let (api_keys, records) = match &config.auth.api_keys {
        Some(api_keys) => (api_keys.api_keys()?, api_keys.keys.clone()),
        None => (ApiKeys::new(MemoryKeyStore::new()), Vec::new()),
    };
    // With a shared database the file's keys are written into it, and looked up there.
    let api_keys = stores.api_keys(api_keys, &records).await?;
    let first_user = config
        .users
        .first()
        .map(|u| (u.username.clone(), u.password.clone()));
    let first_tenant = config
        .users
        .first()
        .and_then(|u| u.tenants.first())
        .map_or_else(|| "tn_demo".to_owned(), |t| t.to_string());
    let api_keys_in_file: Vec<String> = config
        .auth
        .api_keys
        .iter()
        .flat_map(|keys| keys.keys.iter().map(|record| record.key_id.to_string()))
        .collect();
    let clients = MemoryClientStore::new(tower_api_auth::api_key::ApiKeyHasher::default());
    let hasher = tower_api_auth::store::ClientStore::secret_hasher(&clients);
    for client in &config.oauth.clients {
        clients.insert(client.record(&hasher)?);
    }
    // The walkthrough's client: the first with a plaintext (demo) secret and a redirect URI.
    let oauth_client = config.oauth.clients.iter().find_map(|client| {
        Some((
            client.client_id.clone(),
            client.secret.clone()?,
            client.redirect_uris.first()?.clone(),
        ))
    });
    let users = demo_users(config.users);
    let tokens = token_service(stores, issuer, &users, api_keys.clone(), clients);
    let throttle = config
        .throttle
        .as_ref()
        .map_or_else(default_throttle, |throttle| throttle.clone().build());
    let auth_config = config.auth;
    // Readiness: the stores and the feed, and every remote key set or introspection endpoint
    // the file names.
    let (builder, readiness) = auth_config.builder_with_readiness(stores.readiness())?;
    let auth = builder
        .api_keys(api_keys)
        .revocation(tokens.revocations())
        .throttle_failures(throttle.clone())
        .build()?;
    println!("Loaded {path}.");
    let demo_key = config.demo.api_key.as_deref();
    if let Some(key) = demo_key {
        let known = api_keys_in_file
            .iter()
            .any(|id| key.contains(&format!("_{id}_")));
        if !known {
            return Err(
                format!("{path}: [demo] api_key is not one of [[auth.api_keys.keys]]").into(),
            );
        }
    }
    match first_user {
        Some((username, password)) => print_walkthrough(&Walkthrough {
            base,
            username: &username,
            password: &password,
            api_key: demo_key,
            tenant: &first_tenant,
            shared_database: stores.database_url.is_some(),
            oauth_client: oauth_client
                .as_ref()
                .map(|(id, secret, uri)| (id.as_str(), secret.as_str(), uri.as_str())),
        }),
        None => println!("No [[users]] in {path}: add one to log in."),
    }
    let limits = match &config.rate_limits {
        Some(limits) => limits.builder()?,
        None => default_limits(),
    };
    let public_url = config
        .oauth
        .public_url
        .unwrap_or_else(|| format!("{base}/v1"));
    Ok(app(
        tokens,
        auth,
        config.endpoints,
        stores.rate_limits(limits).build()?,
        throttle,
        OAuth { public_url, users },
        readiness,
    ))
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
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(format!(
                "port {port} is in use: set PORT to a free one, e.g. PORT={} cargo run --example quickstart",
                port.wrapping_add(1)
            )
            .into());
        }
        Err(error) => return Err(error.into()),
    };
    let base = format!("http://{}", listener.local_addr()?);
    let stores = Stores::from_env().await?;
    println!("State: {}.", stores.describe);
    let router = match std::env::args().nth(1) {
        Some(path) => from_file(&path, &base, &stores).await?,
        None => {
            if stores.feed.is_some() {
                println!(
                    "Demo mode signs with a fresh secret: for several instances, start each with the same configuration file."
                );
            }
            demo(&base, &stores).await?
        }
    };
    println!("\nListening on {base}");
    // With time limits on headers and requests and a connection limit (see serve.rs), and the
    // peer's address in each request: anonymous quotas and the failure throttle count by it.
    serve::serve(listener, router, serve::Limits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}
