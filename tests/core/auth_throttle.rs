//! Failed authentication throttled per client IP and per username, over real HTTP: bad API
//! keys and tokens at the auth layer, wrong passwords and bad refresh tokens at the token
//! endpoints, refused with 429 before any store lookup or password check; client addresses from
//! the socket, or from `X-Forwarded-For` / `Forwarded` behind a trusted proxy. The clients are
//! told apart by their loopback source address (127.0.0.2, 127.0.0.3, …).
#![cfg(all(
    feature = "rate-limit",
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeys, KeyRecord};
use tower_api_auth::client_ip::TrustedProxies;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::TokenEndpoints;
use tower_api_auth::issuer::{
    Account, MemoryClientStore, MemoryRefreshStore, PasswordVerifier, TokenService,
};
use tower_api_auth::rate_limit::{AuthThrottle, Quota};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{Lookup, StoreError};
use tower_api_auth::{AuthLayer, Identity, KeyProvider, MemoryKeyStore};

use common::lifecycle::hs256_issuer;
use common::{Reply, Server, api_key_with, serve_with_peers};

const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice's correct password";
const BOB: &str = "bob";
const BOB_PASSWORD: &str = "bob's correct password";

/// A key store that counts its lookups, and answers after a wait when `pending` (as a database
/// would), so that both the layer's paths are covered.
#[derive(Clone)]
struct CountingKeys {
    keys: Arc<MemoryKeyStore>,
    lookups: Arc<AtomicUsize>,
    pending: bool,
}

impl KeyProvider for CountingKeys {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let found = self.keys.lookup(key_id);
        if !self.pending {
            return found;
        }
        Lookup::pending(async move {
            match found {
                Lookup::Ready(result) => result,
                Lookup::Pending(lookup) => lookup.await,
            }
        })
    }
}

/// Two users whose passwords it checks, counting each check (where a real store would hash).
#[derive(Clone, Default)]
struct CountingUsers {
    checks: Arc<AtomicUsize>,
}

impl PasswordVerifier for CountingUsers {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let right = match username {
            ALICE => ALICE_PASSWORD,
            BOB => BOB_PASSWORD,
            _ => return Ok(None),
        };
        Ok((password == right).then(|| Account::new(username, Scopes::parse("profile").unwrap())))
    }
}

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

async fn hello(identity: Option<Identity>) -> String {
    identity.map_or("hello, stranger".into(), |i| {
        format!("hello, {}", i.principal())
    })
}

struct App {
    server: Server,
    clock: ManualClock,
    lookups: Arc<AtomicUsize>,
    password_checks: Arc<AtomicUsize>,
    /// A valid key (no tenant) of the counting store.
    good_key: String,
    /// A well-formed key the store does not know: each try costs a lookup.
    unknown_key: String,
    /// The secret of the OAuth client `client_billing`.
    client_secret: String,
}

impl App {
    /// `GET /v1/me` behind the auth layer (API keys and the service's JWTs) and the token
    /// endpoints under `/v1`, both throttled by `throttle` (on the app's clock), served with
    /// peer addresses.
    async fn start(throttle: AuthThrottle) -> Self {
        Self::with(throttle, false).await
    }

    async fn with(throttle: AuthThrottle, pending_lookups: bool) -> Self {
        let clock = ManualClock::starting_now();
        let throttle = throttle.clock(clock.clone());
        let format = ApiKeyFormat::default();
        let (good_key, record) = api_key_with(&format, &[], "reports:read");
        let (unknown_key, _) = api_key_with(&format, &[], "reports:read");
        let keys = CountingKeys {
            keys: Arc::new(MemoryKeyStore::new()),
            lookups: Arc::new(AtomicUsize::new(0)),
            pending: pending_lookups,
        };
        keys.keys.insert(record);
        let users = CountingUsers::default();
        let clients = Arc::new(MemoryClientStore::new(ApiKeyHasher::default()));
        let client_secret = clients.register(
            "client_billing",
            Scopes::parse("billing:read").unwrap(),
            Vec::new(),
        );
        let tokens = Arc::new(
            TokenService::new(hs256_issuer(), MemoryRefreshStore::new())
                .passwords(users.clone())
                .api_keys(ApiKeys::new(keys.clone()))
                .clients(clients)
                .clock(clock.clone()),
        );
        let auth = AuthLayer::builder()
            .jwt(tokens.validator())
            .revocation(tokens.revocations())
            .api_keys(ApiKeys::new(keys.clone()))
            .clock(clock.clone())
            .throttle_failures(throttle.clone())
            .build()
            .unwrap();
        let app = Router::new()
            .nest(
                "/v1",
                TokenEndpoints::new(tokens)
                    .password_grant(true)
                    .throttle_failures(throttle)
                    .router(auth.clone()),
            )
            .merge(
                Router::new()
                    .route("/v1/hello", get(hello))
                    .route_layer(auth.optional()),
            )
            .merge(Router::new().route("/v1/me", get(me)).route_layer(auth));
        Self {
            server: serve_with_peers(app).await,
            clock,
            lookups: keys.lookups,
            password_checks: users.checks,
            good_key,
            unknown_key,
            client_secret,
        }
    }

    fn from(&self, ip: &str) -> Server {
        self.server.from_ip(ip)
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn password_checks(&self) -> usize {
        self.password_checks.load(Ordering::SeqCst)
    }
}

async fn with_key(server: &Server, key: &str) -> Reply {
    server.get("/v1/me").header("x-api-key", key).send().await
}

async fn login(server: &Server, username: &str, password: &str) -> Reply {
    let body = json!({ "username": username, "password": password });
    server.post_json("/v1/auth/login", &body).await
}

/// Asserts the throttle's refusal: 429 `rate_limit_exceeded` in the app's (default) format,
/// `Retry-After` of `seconds`, and no challenge (the credential is not what is wrong).
fn assert_throttled(reply: &Reply, seconds: u64) {
    reply.assert_error(429, "rate_limit_exceeded");
    assert_eq!(
        reply.header("retry-after"),
        Some(seconds.to_string().as_str())
    );
    assert_eq!(reply.challenge(), None);
}

#[tokio::test]
async fn bad_api_keys_from_one_ip_are_refused_before_the_lookup_until_retry_after() {
    for pending in [false, true] {
        let app = App::with(AuthThrottle::new(Quota::per_minute(3)), pending).await;
        let guesser = app.from("127.0.0.2");
        for _ in 0..3 {
            with_key(&guesser, &app.unknown_key)
                .await
                .assert_error(401, "invalid_api_key");
        }
        assert_eq!(app.lookups(), 3);

        // The fourth costs no lookup, nor does a good key from the same address.
        assert_throttled(&with_key(&guesser, &app.unknown_key).await, 20);
        assert_throttled(&with_key(&guesser, &app.good_key).await, 20);
        assert_eq!(
            app.lookups(),
            3,
            "refused without a lookup (pending: {pending})"
        );

        // Another address is not affected.
        let other = app.from("127.0.0.3");
        assert_eq!(with_key(&other, &app.good_key).await.status, 200);

        // Retry-After is what it says: not a second early, and then the guesser may try again.
        app.clock.advance(Duration::from_secs(19));
        assert_throttled(&with_key(&guesser, &app.good_key).await, 1);
        app.clock.advance(Duration::from_secs(1));
        assert_eq!(with_key(&guesser, &app.good_key).await.status, 200);
        // One more failure fits, and the next is refused again.
        with_key(&guesser, &app.unknown_key)
            .await
            .assert_error(401, "invalid_api_key");
        assert_throttled(&with_key(&guesser, &app.unknown_key).await, 20);
    }
}

#[tokio::test]
async fn successes_and_requests_without_credentials_do_not_spend_the_quota() {
    let app = App::start(AuthThrottle::new(Quota::per_minute(3))).await;
    let client = app.from("127.0.0.2");
    for _ in 0..10 {
        assert_eq!(with_key(&client, &app.good_key).await.status, 200);
        client
            .get("/v1/me")
            .send()
            .await
            .assert_error(401, "missing_credentials");
    }
    // All three failures are still there to spend.
    for _ in 0..3 {
        with_key(&client, &app.unknown_key)
            .await
            .assert_error(401, "invalid_api_key");
    }
    assert_throttled(&with_key(&client, &app.good_key).await, 20);
    // Throttled, it may still use what needs no credential: the request costs nothing.
    let public = client.get("/v1/hello").send().await;
    assert_eq!(
        (public.status, public.text.as_str()),
        (200, "hello, stranger")
    );
    let strict = client.get("/v1/me").send().await;
    strict.assert_error(401, "missing_credentials");
    let with_credential = client
        .get("/v1/hello")
        .header("x-api-key", &app.good_key)
        .send()
        .await;
    assert_throttled(&with_credential, 20);
}

#[tokio::test]
async fn forged_and_malformed_tokens_count_as_failures() {
    let app = App::start(AuthThrottle::new(Quota::per_minute(2))).await;
    let client = app.from("127.0.0.2");
    let forged = common::jwt::hs256(&common::jwt::claims("mallory"));
    client
        .get("/v1/me")
        .bearer(&forged)
        .send()
        .await
        .assert_error(401, "invalid_token");
    client
        .get("/v1/me")
        .bearer("a.b.c")
        .send()
        .await
        .assert_error(401, "invalid_token");
    let refused = client.get("/v1/me").bearer(&forged).send().await;
    assert_throttled(&refused, 30);
    // A malformed request (400) is no guess: it did not count for another client.
    let careless = app.from("127.0.0.3");
    for _ in 0..3 {
        let reply = careless
            .get("/v1/me")
            .header("x-api-key", &app.good_key)
            .bearer(&forged)
            .send()
            .await;
        reply.assert_error(400, "invalid_request");
    }
    assert_eq!(with_key(&careless, &app.good_key).await.status, 200);
}

#[tokio::test]
async fn failed_logins_of_one_username_are_limited_across_addresses() {
    let throttle = AuthThrottle::new(Quota::per_minute(100)).per_username(Quota::per_hour(3));
    let app = App::start(throttle).await;
    for (ip, spelling) in [
        ("127.0.0.2", "alice"),
        ("127.0.0.3", " Alice"),
        ("127.0.0.4", "ALICE "),
    ] {
        let reply = login(&app.from(ip), spelling, "guess").await;
        reply.assert_error(400, "invalid_grant");
    }
    assert_eq!(app.password_checks(), 3);

    // Even the right password, from a fresh address: alice's quota is spent, and no password
    // is checked.
    let refused = login(&app.from("127.0.0.5"), ALICE, ALICE_PASSWORD).await;
    assert_throttled(&refused, 1200);
    assert_eq!(
        app.password_checks(),
        3,
        "throttled before the password check"
    );
    // Bob, from the same address, is not affected.
    assert_eq!(
        login(&app.from("127.0.0.5"), BOB, BOB_PASSWORD)
            .await
            .status,
        200
    );

    app.clock.advance(Duration::from_secs(1200));
    assert_eq!(
        login(&app.from("127.0.0.5"), ALICE, ALICE_PASSWORD)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn failed_logins_from_one_address_are_limited_across_usernames() {
    let throttle = AuthThrottle::new(Quota::per_minute(3)).per_username(Quota::per_hour(100));
    let app = App::start(throttle).await;
    let sprayer = app.from("127.0.0.2");
    for username in ["alice", "bob", "carol"] {
        login(&sprayer, username, "Winter2026!")
            .await
            .assert_error(400, "invalid_grant");
    }
    assert_throttled(&login(&sprayer, "dave", "Winter2026!").await, 20);
    // The OAuth token endpoint's password grant is the same login, refused the same way.
    let grant = "grant_type=password&username=erin&password=Winter2026%21";
    let reply = sprayer.post_form("/v1/auth/token", grant).await;
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(reply.header("retry-after"), Some("20"));
    assert_eq!(app.password_checks(), 3);
    // And so is a login with the right password from there, while another address logs in.
    assert_throttled(&login(&sprayer, ALICE, ALICE_PASSWORD).await, 20);
    assert_eq!(
        login(&app.from("127.0.0.3"), ALICE, ALICE_PASSWORD)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn bad_refresh_tokens_and_api_key_exchanges_count_per_address() {
    let app = App::start(AuthThrottle::new(Quota::per_minute(3))).await;
    let client = app.from("127.0.0.2");
    let refresh = json!({ "refresh_token": "rt_1_notarealtoken" });
    client
        .post_json("/v1/auth/refresh", &refresh)
        .await
        .assert_error(400, "invalid_grant");
    let exchange = json!({ "api_key": app.unknown_key });
    client
        .post_json("/v1/auth/login", &exchange)
        .await
        .assert_error(400, "invalid_grant");
    with_key(&client, &app.unknown_key)
        .await
        .assert_error(401, "invalid_api_key");
    // The layer and the endpoints share one count: the third failure was at the layer.
    let lookups = app.lookups();
    assert_throttled(&client.post_json("/v1/auth/refresh", &refresh).await, 20);
    assert_throttled(
        &client
            .post_json("/v1/auth/login", &json!({ "api_key": app.good_key }))
            .await,
        20,
    );
    assert_eq!(app.lookups(), lookups, "no lookup for a throttled exchange");
}

/// The app behind a proxy at 127.0.0.1 (the test client's default source address).
async fn behind_proxy() -> App {
    let proxies = TrustedProxies::parse(["127.0.0.1"]).unwrap();
    App::start(AuthThrottle::new(Quota::per_minute(2)).trusted_proxies(proxies)).await
}

async fn via(server: &Server, header: &str, value: &str, key: &str) -> Reply {
    server
        .get("/v1/me")
        .header(header, value)
        .header("x-api-key", key)
        .send()
        .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
    let app = behind_proxy().await;
    let proxy = app.from("127.0.0.1");
    // The client's own claim (left) is skipped; the address the proxy appended counts.
    for claimed in ["198.51.100.1", "198.51.100.2"] {
        let chain = format!("{claimed}, 203.0.113.7");
        via(&proxy, "x-forwarded-for", &chain, &app.unknown_key)
            .await
            .assert_error(401, "invalid_api_key");
    }
    let refused = via(&proxy, "x-forwarded-for", "203.0.113.7", &app.good_key).await;
    assert_throttled(&refused, 30);
    // RFC 7239's Forwarded names the same client: quoted, with a port.
    let forwarded = r#"for="203.0.113.7:4711";proto=https"#;
    assert_throttled(
        &via(&proxy, "forwarded", forwarded, &app.good_key).await,
        30,
    );
    // Other clients behind the proxy are not.
    let other = via(&proxy, "x-forwarded-for", "203.0.113.8", &app.good_key).await;
    assert_eq!(other.status, 200);
    let ipv6 = r#"for="[2001:db8::1]:4711""#;
    assert_eq!(
        via(&proxy, "forwarded", ipv6, &app.good_key).await.status,
        200
    );
}

#[tokio::test]
async fn an_untrusted_peers_forwarding_headers_are_ignored() {
    let app = behind_proxy().await;
    let direct = app.from("127.0.0.2");
    // A new claimed address for each guess: all count against the peer.
    for (i, header) in ["x-forwarded-for", "forwarded"].into_iter().enumerate() {
        let value = match header {
            "forwarded" => format!("for=198.51.100.{i}"),
            _ => format!("198.51.100.{i}"),
        };
        via(&direct, header, &value, &app.unknown_key)
            .await
            .assert_error(401, "invalid_api_key");
    }
    let refused = via(&direct, "x-forwarded-for", "198.51.100.99", &app.good_key).await;
    assert_throttled(&refused, 30);
    // The proxy's clients are not affected by the peer 127.0.0.2's failures.
    let proxy = app.from("127.0.0.1");
    let forwarded = via(&proxy, "x-forwarded-for", "127.0.0.2", &app.good_key).await;
    assert_eq!(
        forwarded.status, 429,
        "the same client, reported by the proxy"
    );
    let another = via(&proxy, "x-forwarded-for", "198.51.100.99", &app.good_key).await;
    assert_eq!(another.status, 200);
}

#[tokio::test]
async fn garbage_forwarding_headers_count_against_the_proxy_itself() {
    let app = behind_proxy().await;
    let proxy = app.from("127.0.0.1");
    for garbage in ["not-an-address", "for=unknown"] {
        let header = if garbage.starts_with("for=") {
            "forwarded"
        } else {
            "x-forwarded-for"
        };
        via(&proxy, header, garbage, &app.unknown_key)
            .await
            .assert_error(401, "invalid_api_key");
    }
    // Both counted as the peer: a request from the proxy without any header is refused now.
    let refused = app
        .from("127.0.0.1")
        .get("/v1/me")
        .header("x-api-key", &app.good_key)
        .send()
        .await;
    assert_throttled(&refused, 30);
    let malformed = via(&proxy, "forwarded", r#"for="203.0.113.9"#, &app.good_key).await;
    assert_throttled(&malformed, 30);
    // A well-formed client address is still its own client.
    let client = via(&proxy, "x-forwarded-for", "203.0.113.9", &app.good_key).await;
    assert_eq!(client.status, 200);
}

#[tokio::test]
async fn bad_client_secrets_count_per_address_and_the_oauth_endpoint_answers_in_its_format() {
    let app = App::start(AuthThrottle::new(Quota::per_minute(2))).await;
    let client = app.from("127.0.0.2");
    let grant = "grant_type=client_credentials";
    for _ in 0..2 {
        let reply = client
            .post("/v1/auth/token")
            .basic("client_billing", "not-the-secret")
            .form(grant)
            .send()
            .await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(reply.json()["error"], "invalid_client");
    }
    let refused = client
        .post("/v1/auth/token")
        .basic("client_billing", &app.client_secret)
        .form(grant)
        .send()
        .await;
    // RFC 6749 §5.2's flat body, as every answer of the OAuth token endpoint.
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.json()["error"], "rate_limit_exceeded");
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    assert_eq!(refused.challenge(), None);
    // The right secret from another address is granted.
    let granted = app
        .from("127.0.0.3")
        .post("/v1/auth/token")
        .basic("client_billing", &app.client_secret)
        .form(grant)
        .send()
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
}
