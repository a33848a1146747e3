//! The token lifecycle's fixtures: a token service with known users, API keys and clients on a
//! manual clock, its endpoints called in process or served over real HTTP, and stores that fail
//! on demand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tower_api_auth::KeyProvider;
use tower_api_auth::api_key::KeyRecord;
use tower_api_auth::clock::{Clock, ManualClock};
use tower_api_auth::issuer::{MemoryRefreshStore, RefreshPolicy};
use tower_api_auth::store::Lookup;
use tower_api_auth::store::{RefreshStore, RefreshTokenHash, Rotation, Session, StoredSession};
use tower_api_auth::{
    Algorithm, AuthLayer, Identity, MemoryKeyStore, Tenant, api_key::ApiKeyFormat,
    api_key::ApiKeyHasher, api_key::ApiKeys, endpoints::TokenEndpoints, error::ErrorFormat,
    issuer::Account, issuer::MemoryClientStore, issuer::PasswordVerifier, issuer::SigningKey,
    issuer::TokenIssuer, issuer::TokenService, scope::Scopes, store::StoreError,
};

use super::{Reply, Server, in_process, serve};

/// The `iss` of every token here.
pub const ISSUER: &str = "https://auth.lifecycle.test";
/// The `aud` of every token here.
pub const AUDIENCE: &str = "lifecycle-api";
/// An HS256 secret (32 bytes or more).
pub const SECRET: &[u8] = b"a-lifecycle-test-secret-of-at-least-32-bytes";

/// Alice: two scopes and more, one tenant.
pub const ALICE: &str = "alice";
pub const ALICE_EMAIL: &str = "alice@example.test";
pub const ALICE_PASSWORD: &str = "correct horse battery staple";
pub const ALICE_SUB: &str = "user_alice";
pub const ALICE_SCOPES: &str = "conversations:read conversations:write profile";
/// Bob: one scope, two tenants.
pub const BOB: &str = "bob";
pub const BOB_PASSWORD: &str = "hunter2-but-longer";
pub const BOB_SUB: &str = "user_bob";
pub const BOB_SCOPES: &str = "conversations:read";
/// The API key's owner, tenants and scopes.
pub const KEY_OWNER: &str = "svc_reporting";
pub const KEY_SCOPES: &str = "reports:read reports:write";
/// The OAuth client.
pub const CLIENT_ID: &str = "client_billing";
pub const CLIENT_SCOPES: &str = "billing:read billing:write";

/// The decoded JSON header and payload of a JWT.
pub fn decode_jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three parts: {token}");
    let part = |i: usize| -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(parts[i]).expect("base64url part");
        serde_json::from_slice(&bytes).expect("JSON part")
    };
    (part(0), part(1))
}

/// The payload of a JWT.
pub fn payload(token: &str) -> Value {
    decode_jwt(token).1
}

/// The hex of the stored hash of a refresh token.
pub fn hash_hex(refresh_token: &str) -> String {
    let hash = RefreshTokenHash::of(refresh_token).expect("shaped like a refresh token");
    hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A refresh-token hash numbered `n` (for driving a store directly).
pub fn nth_hash(n: u8) -> RefreshTokenHash {
    RefreshTokenHash::from_bytes([n; 32])
}

/// The users, by username and by email; wrong password and unknown user alike answer `None`.
pub struct Users {
    users: HashMap<&'static str, (&'static str, Account)>,
    /// When set, every verification fails like a database that is down.
    pub down: Arc<AtomicBool>,
}

impl Users {
    pub fn new() -> Self {
        let alice = Account::new(ALICE_SUB, Scopes::parse(ALICE_SCOPES).unwrap())
            .with_tenants([Tenant::new("tn_a").unwrap()])
            .with_user(serde_json::json!({ "id": ALICE_SUB, "email": ALICE_EMAIL }));
        let bob = Account::new(BOB_SUB, Scopes::parse(BOB_SCOPES).unwrap())
            .with_tenants([Tenant::new("tn_b").unwrap(), Tenant::new("tn_c").unwrap()]);
        let mut users = HashMap::new();
        users.insert(ALICE, (ALICE_PASSWORD, alice.clone()));
        users.insert(ALICE_EMAIL, (ALICE_PASSWORD, alice));
        users.insert(BOB, (BOB_PASSWORD, bob));
        Self {
            users,
            down: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl PasswordVerifier for Users {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("user database is down"));
        }
        Ok(self
            .users
            .get(username)
            .filter(|(expected, _)| *expected == password)
            .map(|(_, account)| account.clone()))
    }
}

/// A refresh store that delegates to a shared [`MemoryRefreshStore`], records the sessions it
/// starts, and fails every call while `failing` is set.
#[derive(Clone)]
pub struct TestStore {
    pub inner: Arc<MemoryRefreshStore>,
    pub started: Arc<Mutex<Vec<Session>>>,
    pub failing: Arc<AtomicBool>,
    /// When set, only the compare-and-swap of a rotation fails.
    pub failing_rotations: Arc<AtomicBool>,
}

impl TestStore {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(MemoryRefreshStore::new()),
            started: Arc::default(),
            failing: Arc::new(AtomicBool::new(false)),
            failing_rotations: Arc::new(AtomicBool::new(false)),
        }
    }

    fn up(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::new("refresh store is down"))
        } else {
            Ok(())
        }
    }

    /// The last session started.
    pub fn last_session(&self) -> Session {
        self.started
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a session started")
    }
}

impl RefreshStore for TestStore {
    async fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.up()?;
        self.started.lock().unwrap().push(session.clone());
        self.inner.start(session, first, max_per_subject).await
    }

    async fn load(&self, session_id: &str) -> Result<Option<StoredSession>, StoreError> {
        self.up()?;
        self.inner.load(session_id).await
    }

    async fn rotate(&self, session_id: &str, rotation: Rotation) -> Result<bool, StoreError> {
        self.up()?;
        if self.failing_rotations.load(Ordering::SeqCst) {
            return Err(StoreError::new("refresh store is down"));
        }
        self.inner.rotate(session_id, rotation).await
    }

    async fn end(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        self.up()?;
        self.inner.end(session_id).await
    }

    async fn purge(&self, now: u64) -> Result<usize, StoreError> {
        self.up()?;
        self.inner.purge(now).await
    }
}

/// An API-key store that delegates to a shared [`MemoryKeyStore`] and fails every lookup while
/// `down` is set.
#[derive(Clone)]
pub struct TestKeys {
    pub inner: Arc<MemoryKeyStore>,
    pub down: Arc<AtomicBool>,
}

impl TestKeys {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(MemoryKeyStore::new()),
            down: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl KeyProvider for TestKeys {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        if self.down.load(Ordering::SeqCst) {
            return Lookup::Ready(Err(StoreError::new("key store is down")));
        }
        self.inner.lookup(key_id)
    }
}

/// How to build a [`Fixture`].
#[derive(Clone, Default)]
pub struct Options {
    pub session_ttl: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_sessions_per_subject: Option<usize>,
    pub reuse_interval: Option<Duration>,
    pub body_limit: Option<usize>,
    pub body_timeout: Option<Duration>,
    pub error_format: Option<ErrorFormat>,
    pub refresh_policy: Option<RefreshPolicy>,
    pub reuse_access_tokens: bool,
    /// The auth layers accept the fixture's API keys too.
    pub layer_api_keys: bool,
    /// Shapes the token endpoints (paths, fields, failures).
    pub endpoints: Option<Arc<dyn Fn(TokenEndpoints) -> TokenEndpoints + Send + Sync>>,
    /// Serve over real HTTP rather than call the router in process.
    pub http: bool,
}

/// A token service with users, an API key and a client on a manual clock, its endpoints under
/// `/v1` and a protected `GET /v1/me`.
pub struct Fixture {
    pub server: Server,
    pub tokens: Arc<TokenService>,
    pub store: TestStore,
    pub keys: TestKeys,
    pub users_down: Arc<AtomicBool>,
    /// The time of the service and of both auth layers; it moves only when a test moves it.
    pub clock: ManualClock,
    /// An `sk_live` key of [`KEY_OWNER`] for tenants `tn_a` and `tn_b` with [`KEY_SCOPES`].
    pub api_key: String,
    /// The public id of [`api_key`](Self::api_key).
    pub api_key_id: String,
    /// The secret of [`CLIENT_ID`].
    pub client_secret: String,
}

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

/// The issuer every fixture signs with.
pub fn hs256_issuer() -> TokenIssuer {
    let key = SigningKey::hmac(Algorithm::HS256, SECRET)
        .expect("HS256 key")
        .with_kid("hs-1");
    TokenIssuer::new(key, ISSUER).audience(AUDIENCE)
}

impl Fixture {
    /// The default fixture, called in process.
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    /// The default fixture, served over real HTTP.
    pub async fn over_http() -> Self {
        Self::with(Options {
            http: true,
            ..Options::default()
        })
        .await
    }

    pub async fn with(options: Options) -> Self {
        let clock = ManualClock::starting_now();
        let users = Users::new();
        let users_down = users.down.clone();
        let (api_key, record) = ApiKeyHasher::default()
            .generate(&ApiKeyFormat::default())
            .with_record(|r| {
                r.with_owner(KEY_OWNER)
                    .with_tenants([Tenant::new("tn_a").unwrap(), Tenant::new("tn_b").unwrap()])
                    .with_scopes(Scopes::parse(KEY_SCOPES).unwrap())
            })
            .into_parts();
        let api_key_id = record.key_id.to_string();
        let keys = TestKeys::new();
        keys.inner.insert(record);
        let clients = Arc::new(MemoryClientStore::new(ApiKeyHasher::default()));
        let client_secret = clients.register(
            CLIENT_ID,
            Scopes::parse(CLIENT_SCOPES).unwrap(),
            vec![Tenant::new("tn_billing").unwrap()],
        );
        let store = TestStore::new();
        let mut service = TokenService::new(hs256_issuer(), store.clone())
            .passwords(users)
            .api_keys(ApiKeys::new(keys.clone()))
            .clients(clients)
            .clock(clock.clone());
        if let Some(ttl) = options.session_ttl {
            service = service.session_ttl(ttl);
        }
        if let Some(idle) = options.idle_timeout {
            service = service.idle_timeout(idle);
        }
        if let Some(max) = options.max_sessions_per_subject {
            service = service.max_sessions_per_subject(max);
        }
        if let Some(interval) = options.reuse_interval {
            service = service.reuse_interval(interval);
        }
        if let Some(policy) = options.refresh_policy {
            service = service.refresh_policy(policy);
        }
        service = service.reuse_access_tokens(options.reuse_access_tokens);
        let tokens = Arc::new(service);
        let auth = || {
            let mut builder = AuthLayer::builder()
                .jwt(tokens.validator())
                .revocation(tokens.revocations())
                .clock(clock.clone());
            if let Some(format) = options.error_format {
                builder = builder.error_format(format);
            }
            if options.layer_api_keys {
                builder = builder.api_keys(ApiKeys::new(keys.clone()));
            }
            builder.build().unwrap()
        };
        // The suites exercise the password grant at the token endpoint too (off by default).
        let mut endpoints = TokenEndpoints::new(tokens.clone()).password_grant(true);
        if let Some(limit) = options.body_limit {
            endpoints = endpoints.body_limit(limit);
        }
        if let Some(timeout) = options.body_timeout {
            endpoints = endpoints.body_timeout(timeout);
        }
        if let Some(shape) = &options.endpoints {
            endpoints = shape(endpoints);
        }
        let protected = Router::new().route("/v1/me", get(me)).route_layer(auth());
        let app = Router::new()
            .nest("/v1", endpoints.router(auth()))
            .merge(protected);
        let server = if options.http {
            serve(app).await
        } else {
            in_process(app)
        };
        Self {
            server,
            tokens,
            store,
            keys,
            users_down,
            clock,
            api_key,
            api_key_id,
            client_secret,
        }
    }

    /// The fixture's time now.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Logs `username` in with JSON and returns the successful grant.
    pub async fn login(&self, username: &str, password: &str) -> Grant {
        self.login_with(serde_json::json!({ "username": username, "password": password }))
            .await
    }

    /// Logs in with the JSON `body` and returns the successful grant.
    pub async fn login_with(&self, body: Value) -> Grant {
        let reply = self.server.post_json("/v1/auth/login", &body).await;
        reply.assert_granted()
    }

    /// Refreshes with `refresh_token` at `/v1/auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.server
            .post_json(
                "/v1/auth/refresh",
                &serde_json::json!({ "refresh_token": refresh_token }),
            )
            .await
    }

    /// `GET /v1/me` with `access_token`. A token of several tenants must name one in
    /// `X-Tenant-ID` (the tenant rules); it names the first, as good as any here.
    pub async fn me(&self, access_token: &str) -> Reply {
        let request = self.server.get("/v1/me").bearer(access_token);
        let tenants = if access_token.split('.').count() == 3 {
            payload(access_token)["tenant_id"].clone()
        } else {
            Value::Null
        };
        match &tenants {
            Value::Array(tenants) if tenants.len() > 1 => {
                let first = tenants[0].as_str().expect("tenant ids are strings");
                request.header("x-tenant-id", first).send().await
            }
            _ => request.send().await,
        }
    }
}

/// A successful grant.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub session_id: Option<String>,
    pub body: Value,
}

impl Grant {
    /// The refresh token, which must be there.
    pub fn refresh(&self) -> &str {
        self.refresh_token.as_deref().expect("a refresh token")
    }
}

impl Reply {
    /// Asserts an RFC 6749 §5.1 success and returns the grant.
    pub fn assert_granted(&self) -> Grant {
        assert_eq!(self.status, 200, "status of {:?}", self.text);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
        let body = self.json();
        assert_eq!(body["token_type"], "Bearer", "{body}");
        // 900 s, or less when the session (or the API key) ends sooner: never past it.
        let expires_in = body["expires_in"].as_u64().expect("expires_in");
        assert!((1..=900).contains(&expires_in), "{body}");
        let access_token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("access_token in {body}"))
            .to_owned();
        assert_eq!(access_token.split('.').count(), 3, "a JWS");
        let refresh_token = body.get("refresh_token").map(|r| {
            let r = r.as_str().expect("refresh_token is a string").to_owned();
            assert!(
                r.starts_with("rt_") && RefreshTokenHash::of(&r).is_some(),
                "refresh token shape: {r}"
            );
            r
        });
        let scope = body["scope"]
            .as_str()
            .unwrap_or_else(|| panic!("scope in {body}"))
            .to_owned();
        let session_id = body
            .get("session_id")
            .map(|s| s.as_str().expect("session_id is a string").to_owned());
        Grant {
            access_token,
            refresh_token,
            scope,
            session_id,
            body,
        }
    }

    /// Asserts a token-endpoint error: the default (`Nested`) error body, `Cache-Control:
    /// no-store`, and no challenge for a 400, 413 or 503; returns the message.
    ///
    /// The OAuth token endpoint answers RFC 6749 §5.2 bodies (`{"error":…,"error_description":…}`),
    /// the other endpoints the default format: either is accepted, with the same code.
    pub fn assert_grant_error(&self, status: u16, code: &str) -> String {
        let message = if self.json()["error"].is_string() {
            self.assert_oauth_error(status, code)
        } else {
            let error = self.assert_error(status, code);
            error["message"].as_str().expect("message").to_owned()
        };
        assert_eq!(self.header("cache-control"), Some("no-store"), "{code}");
        if status == 400 || status == 413 || status == 503 {
            assert_eq!(self.header("www-authenticate"), None, "{code}");
        }
        message
    }

    /// Asserts an RFC 6749 §5.2 error body with `code`; returns its `error_description`.
    pub fn assert_oauth_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "status of {:?}", self.text);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["error"], code, "body: {body}");
        body["error_description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| panic!("error_description in {body}"))
            .to_owned()
    }

    /// Asserts a 401 `token_revoked` with its RFC 6750 challenge.
    pub fn assert_revoked(&self) {
        self.assert_error(401, "token_revoked");
        assert_eq!(
            self.header("www-authenticate"),
            Some(
                r#"Bearer error="invalid_token", error_description="The access token has been revoked""#
            )
        );
    }

    /// Asserts neither the body nor any header contains `secret`.
    pub fn assert_no_leak(&self, secret: &str) {
        super::assert_no_leak(self, secret);
    }
}

/// Percent-encodes a form value (tokens are URL-safe already; this covers `+`, `/`, `=`, spaces).
pub fn form_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
