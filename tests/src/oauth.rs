//! The authorization server as a fleet: instances that share the code store, the refresh store
//! and the revocation feed (and, with rotating keys, the signing-key store), each with its own
//! memory, served over real HTTP. The store crates run the same scenarios on PostgreSQL, SQLite
//! and Redis.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::{Consent, ConsentDecision, TokenEndpoints};
use tower_api_auth::fleet::RevocationFeed;
use tower_api_auth::issuer::{
    Account, AuthorizationRequest, MemoryClientStore, TokenIssuer, TokenService,
};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{ClientRecord, CodeStore, FeedStore, RefreshStore};
use tower_api_auth::{AuthLayer, Identity};

use super::fleet::wait_until;
use super::{Server, serve};

/// The registered client of the fleet tests: confidential, one redirect URI.
pub const CLIENT_ID: &str = "webapp";
/// Its secret.
pub const CLIENT_SECRET: &str = "webapp-secret-of-some-length";
/// Its redirect URI.
pub const REDIRECT_URI: &str = "https://webapp.example/callback";
/// The PKCE verifier every flow of these tests uses (RFC 7636 Appendix B's).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Approves `x-test-user`.
struct HeaderConsent;

impl Consent for HeaderConsent {
    async fn decide(&self, request: &AuthorizationRequest, parts: &Parts) -> ConsentDecision {
        match parts
            .headers
            .get("x-test-user")
            .and_then(|v| v.to_str().ok())
        {
            Some(user) => {
                ConsentDecision::Approve(Account::new(user.to_owned(), request.scopes().clone()))
            }
            None => ConsentDecision::Deny,
        }
    }
}

/// One instance of the authorization server.
pub struct OAuthInstance {
    pub server: Server,
    pub tokens: Arc<TokenService>,
    pub feed: RevocationFeed,
}

async fn me(identity: Identity) -> String {
    identity.principal().to_owned()
}

/// Starts an instance issuing with `issuer` on the shared `feed`, `refresh` and `codes`; its
/// clients are registered in its own memory (as from a configuration file).
pub async fn start<B, R, C>(
    clock: &ManualClock,
    issuer: TokenIssuer,
    feed: B,
    refresh: R,
    codes: C,
) -> OAuthInstance
where
    B: FeedStore,
    R: RefreshStore,
    C: CodeStore,
{
    let feed = RevocationFeed::builder(feed)
        .max_staleness(Duration::from_secs(30))
        .resync_every(Duration::from_millis(500))
        .clock(clock.clone())
        .start();
    tokio::time::timeout(Duration::from_secs(10), feed.synced())
        .await
        .expect("the feed syncs");
    let hasher = ApiKeyHasher::default();
    let clients = MemoryClientStore::new(hasher.clone());
    clients.insert(
        ClientRecord::new(
            CLIENT_ID,
            hasher.hash(CLIENT_SECRET),
            Scopes::parse("read write").unwrap(),
        )
        .with_redirect_uris([REDIRECT_URI]),
    );
    let tokens = Arc::new(
        TokenService::new(issuer, refresh)
            .clients(clients)
            .authorization_codes(codes)
            .revocation_store(feed.clone())
            .clock(clock.clone()),
    );
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(feed.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(me).route_layer(auth.clone()))
        .nest(
            "/v1",
            TokenEndpoints::new(tokens.clone())
                .consent(HeaderConsent)
                .router(auth),
        );
    OAuthInstance {
        server: serve(app).await,
        tokens,
        feed,
    }
}

/// A client that does not follow redirects: the code is read from the `Location`.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A code issued by `instance` to the fleet's client for `user`.
pub async fn code(instance: &OAuthInstance, user: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let response = browser()
        .get(format!("{}/v1/oauth/authorize", instance.server.base()))
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "read"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .header("x-test-user", user)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let query = location
        .strip_prefix(&format!("{REDIRECT_URI}?"))
        .expect("to the redirect URI");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    params
        .into_iter()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code)
        .expect("a code")
}

/// `code` redeemed at `instance`: the status and the answer.
pub async fn redeem(instance: &OAuthInstance, code: &str) -> (u16, Value) {
    token_request(
        instance,
        &json!({
            "grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER,
        }),
    )
    .await
}

/// A refresh by the fleet's client at `instance`.
pub async fn refresh(instance: &OAuthInstance, refresh_token: &str) -> (u16, Value) {
    token_request(
        instance,
        &json!({
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        }),
    )
    .await
}

async fn token_request(instance: &OAuthInstance, body: &Value) -> (u16, Value) {
    let response = browser()
        .post(format!("{}/v1/auth/token", instance.server.base()))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A code issued on `a` is redeemed once on `b`; its tokens work on both; replayed on `a`, it is
/// refused there and what it issued is refused on `b` within a second (the feed), and its refresh
/// token refreshes nowhere (the shared refresh store). A second flow's refresh token, issued on
/// `b`, refreshes on `a`.
pub async fn codes_are_shared(a: &OAuthInstance, b: &OAuthInstance) {
    let code = code(a, "user_alice").await;
    let (status, tokens) = redeem(b, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    for instance in [a, b] {
        let reply = instance.server.get("/me").bearer(&access).send().await;
        assert_eq!((reply.status, reply.text.as_str()), (200, "user_alice"));
    }
    let (status, replay) = redeem(a, &code).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    wait_until(
        Duration::from_secs(1),
        || b.server.get("/me").bearer(&access).send(),
        |reply| reply.status == 401,
    )
    .await;
    for instance in [a, b] {
        let (status, _) = refresh(instance, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            status, 400,
            "the replayed code's session is over everywhere"
        );
    }

    let code = self::code(b, "user_bob").await;
    let (status, tokens) = redeem(b, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, next) = refresh(a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{next}");
    // Spent on `a`, presented on `b`: a reuse, and the session ends.
    let (status, _) = refresh(b, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    let (status, _) = refresh(a, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
}

/// [`codes_are_shared`] on two instances, each on its own handle of one store that holds the feed,
/// the sessions and the codes (a database, Redis), issuing with the shared HS256 key.
pub async fn shared_through<S>(a_store: S, b_store: S)
where
    S: FeedStore + RefreshStore + CodeStore + Clone,
{
    let clock = ManualClock::starting_now();
    let issuer = super::lifecycle::hs256_issuer;
    let a = start(&clock, issuer(), a_store.clone(), a_store.clone(), a_store).await;
    let b = start(&clock, issuer(), b_store.clone(), b_store.clone(), b_store).await;
    codes_are_shared(&a, &b).await;
}
