//! The OAuth 2.0 authorization server over real HTTP: the authorization-code flow with PKCE
//! (RFC 6749 §4.1, RFC 7636, RFC 9207), client-bound refresh tokens, client credentials within the
//! registered scopes, RFC 7662 introspection and RFC 8414 metadata.
#![cfg(all(
    feature = "axum",
    feature = "issuer",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::{Consent, ConsentDecision, TokenEndpoints};
use tower_api_auth::issuer::{
    Account, AuthorizationRequest, MemoryClientStore, MemoryCodeStore, MemoryRefreshStore,
    SigningKey, TokenIssuer, TokenService,
};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::ClientRecord;
use tower_api_auth::{Algorithm, AuthLayer, Identity};

const ISSUER: &str = "https://auth.example.test";
const WEBAPP_REDIRECT: &str = "https://webapp.example/callback";
const SPA_REDIRECT: &str = "http://127.0.0.1:9/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The issuer of the small fixtures: HS256 tokens as [`ISSUER`].
fn issuer() -> TokenIssuer {
    let signing =
        SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    TokenIssuer::new(signing, ISSUER)
}

/// One public client, `client_id` with `scopes`, sent back to [`SPA_REDIRECT`].
fn public_client(client_id: &str, scopes: &str) -> MemoryClientStore {
    let clients = MemoryClientStore::new(ApiKeyHasher::default());
    clients.insert(
        ClientRecord::public(client_id, Scopes::parse(scopes).unwrap())
            .with_redirect_uris([SPA_REDIRECT]),
    );
    clients
}

/// `tokens`' endpoints under `/v1`, shaped by `shape`, behind a layer on its tokens.
fn endpoints_app(
    tokens: Arc<TokenService>,
    shape: impl FnOnce(TokenEndpoints) -> TokenEndpoints,
) -> Router {
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    Router::new().nest("/v1", shape(TokenEndpoints::new(tokens)).router(auth))
}

/// The app's consent: the signed-in user is named by a test header; `x-test-deny` refuses; no
/// user is sent to the login page.
struct HeaderConsent;

impl Consent for HeaderConsent {
    async fn decide(&self, _request: &AuthorizationRequest, parts: &Parts) -> ConsentDecision {
        if parts.headers.contains_key("x-test-deny") {
            return ConsentDecision::Deny;
        }
        match parts
            .headers
            .get("x-test-user")
            .and_then(|v| v.to_str().ok())
        {
            Some(user) => ConsentDecision::Approve(Account::new(
                user.to_owned(),
                Scopes::parse("read write").unwrap(),
            )),
            None => ConsentDecision::Respond(Redirect::to("/login").into_response()),
        }
    }
}

struct Fixture {
    base: String,
    http: reqwest::Client,
    clock: ManualClock,
    webapp_secret: String,
    other_secret: String,
}

struct Options {
    password_grant: bool,
    reuse_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            password_grant: false,
            reuse_interval: Duration::ZERO,
        }
    }
}

async fn fixture() -> Fixture {
    fixture_with(Options::default()).await
}

async fn fixture_with(options: Options) -> Fixture {
    let clock = ManualClock::at(1_800_000_000);
    let hasher = ApiKeyHasher::default();
    let clients = MemoryClientStore::new(hasher.clone());
    let webapp_secret = "webapp-secret-of-some-length".to_owned();
    let other_secret = "other-secret-of-some-length".to_owned();
    clients.insert(
        ClientRecord::new(
            "webapp",
            hasher.hash(&webapp_secret),
            Scopes::parse("read write").unwrap(),
        )
        .with_redirect_uris([WEBAPP_REDIRECT, "https://webapp.example/second"]),
    );
    clients.insert(
        ClientRecord::new(
            "other",
            hasher.hash(&other_secret),
            Scopes::parse("read").unwrap(),
        )
        .with_redirect_uris(["https://other.example/cb"]),
    );
    clients.insert(
        ClientRecord::public("spa", Scopes::parse("read").unwrap())
            .with_redirect_uris([SPA_REDIRECT]),
    );
    let tokens = Arc::new(
        TokenService::new(issuer().audience("api"), MemoryRefreshStore::new())
            .clients(clients)
            .authorization_codes(MemoryCodeStore::new())
            .reuse_interval(options.reuse_interval)
            .passwords(tower_api_auth_tests::lifecycle::Users::new())
            .clock(clock.clone()),
    );
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .clock(clock.clone())
        .build()
        .unwrap();
    async fn me(identity: Identity) -> axum::Json<Value> {
        axum::Json(
            json!({ "sub": identity.principal(), "client_id": identity.client_id(), "scope": identity.scopes() }),
        )
    }
    let endpoints = TokenEndpoints::new(tokens.clone())
        .consent(HeaderConsent)
        .password_grant(options.password_grant)
        .public_url(format!("{ISSUER}/v1"));
    let app = Router::new()
        .merge(endpoints.well_known_router())
        .nest("/v1", endpoints.router(auth.clone()))
        .merge(Router::new().route("/me", get(me)).route_layer(auth));
    let server = tower_api_auth_tests::serve(app).await;
    Fixture {
        base: server.base().to_owned(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        webapp_secret,
        other_secret,
    }
}

/// What an authorization request answered.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    /// The redirect's query parameters, checking that it goes to `redirect_uri`.
    fn redirected_to(&self, redirect_uri: &str) -> Vec<(String, String)> {
        let location = self.location.as_deref().expect("a redirect");
        let query = location
            .strip_prefix(redirect_uri)
            .and_then(|rest| rest.strip_prefix('?'))
            .unwrap_or_else(|| panic!("redirected to {location}, not {redirect_uri}"));
        serde_urlencoded::from_str(query).unwrap()
    }

    fn param(&self, redirect_uri: &str, name: &str) -> Option<String> {
        self.redirected_to(redirect_uri)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

impl Fixture {
    async fn authorize(&self, query: &[(&str, &str)], user: Option<&str>) -> Answer {
        let mut request = self
            .http
            .get(format!("{}/v1/oauth/authorize", self.base))
            .query(query);
        if let Some(user) = user {
            request = request.header("x-test-user", user);
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: response.text().await.unwrap(),
        }
    }

    /// A code for `client_id` (redirect `redirect_uri`) with the test verifier.
    async fn code(&self, client_id: &str, redirect_uri: &str, scope: &str) -> String {
        let challenge = challenge(VERIFIER);
        let answer = self
            .authorize(
                &[
                    ("response_type", "code"),
                    ("client_id", client_id),
                    ("redirect_uri", redirect_uri),
                    ("scope", scope),
                    ("state", "st-1"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
                Some("user_alice"),
            )
            .await;
        assert_eq!(answer.status, 302, "{}", answer.body);
        assert_eq!(answer.param(redirect_uri, "state").as_deref(), Some("st-1"));
        assert_eq!(answer.param(redirect_uri, "iss").as_deref(), Some(ISSUER));
        answer.param(redirect_uri, "code").expect("a code")
    }

    async fn token(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/auth/token", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn token_form(&self, body: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/auth/token", self.base))
            .form(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn me(&self, access_token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/me", self.base))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn introspect(&self, client: (&str, &str), token: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/oauth/introspect", self.base))
            .basic_auth(client.0, Some(client.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The webapp's code exchanged as the seed writes it: JSON with the secret in the body.
    async fn webapp_tokens(&self) -> Value {
        let code = self.code("webapp", WEBAPP_REDIRECT, "read write").await;
        let (status, body) = self
            .token(&json!({
                "grant_type": "authorization_code",
                "code": code,
                "client_id": "webapp",
                "client_secret": self.webapp_secret,
                "redirect_uri": WEBAPP_REDIRECT,
                "code_verifier": VERIFIER,
            }))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[tokio::test]
async fn the_whole_flow_with_a_confidential_client_and_a_json_token_request() {
    let f = fixture().await;
    let tokens = f.webapp_tokens().await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "read write");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt_"));
    let (status, me) = f.me(access).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["sub"], "user_alice");
    assert_eq!(
        me["client_id"], "webapp",
        "the token names its client (RFC 9068)"
    );

    // The seed's refresh: the same client's credentials in a JSON body.
    let (status, refreshed) = f
        .token(&json!({
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "webapp",
            "client_secret": f.webapp_secret,
        }))
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "rotated"
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_the_first_redemption_issued() {
    let f = fixture().await;
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    let request = json!({
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "webapp",
        "client_secret": f.webapp_secret,
        "redirect_uri": WEBAPP_REDIRECT,
        "code_verifier": VERIFIER,
    });
    let (status, first) = f.token(&request).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(f.me(first["access_token"].as_str().unwrap()).await.0, 200);

    let (status, replay) = f.token(&request).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The first redemption's tokens are dead: its access token is refused at once, its refresh
    // token refreshes nothing.
    assert_eq!(f.me(first["access_token"].as_str().unwrap()).await.0, 401);
    let (status, refreshed) = f
        .token(&json!({
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "webapp",
            "client_secret": f.webapp_secret,
        }))
        .await;
    assert_eq!(
        (status, refreshed["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_spends_the_code() {
    let f = fixture().await;
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    let mut request = json!({
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "webapp",
        "client_secret": f.webapp_secret,
        "redirect_uri": WEBAPP_REDIRECT,
        "code_verifier": "x".repeat(43),
    });
    let (status, body) = f.token(&request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // An attacker who holds a stolen code but not the verifier has burnt it.
    request["code_verifier"] = json!(VERIFIER);
    assert_eq!(f.token(&request).await.0, 400);
    // A verifier of the wrong shape, and none at all, are malformed requests.
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    request["code"] = json!(code);
    request["code_verifier"] = json!("short");
    let (status, body) = f.token(&request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    request.as_object_mut().unwrap().remove("code_verifier");
    let (status, body) = f.token(&request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_wrong_or_unregistered_redirect_uri_is_never_redirected_to() {
    let f = fixture().await;
    let challenge = challenge(VERIFIER);
    for (client, redirect) in [
        ("webapp", "https://evil.example/callback"),
        ("webapp", "https://webapp.example/callback/"),
        ("webapp", "https://webapp.example/callback?x=1"),
        ("webapp", "HTTPS://webapp.example/callback"),
        ("nobody", WEBAPP_REDIRECT),
    ] {
        let answer = f
            .authorize(
                &[
                    ("response_type", "code"),
                    ("client_id", client),
                    ("redirect_uri", redirect),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("state", "s"),
                ],
                Some("user_alice"),
            )
            .await;
        assert_eq!(answer.status, 400, "{client} {redirect}: {}", answer.body);
        assert!(answer.location.is_none(), "no redirect to {redirect}");
        assert!(answer.body.contains("invalid_request"), "{}", answer.body);
    }
    // Left out, with two registered: which one is unknown, so no redirect either.
    let answer = f
        .authorize(
            &[
                ("response_type", "code"),
                ("client_id", "webapp"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            Some("user_alice"),
        )
        .await;
    assert_eq!((answer.status, answer.location.is_none()), (400, true));
    // A repeated parameter is refused too (RFC 6749 §3.1).
    let answer = f
        .authorize(
            &[
                ("client_id", "webapp"),
                ("client_id", "other"),
                ("redirect_uri", WEBAPP_REDIRECT),
            ],
            Some("user_alice"),
        )
        .await;
    assert_eq!((answer.status, answer.location.is_none()), (400, true));

    // A code issued for one redirect URI is not redeemed with another registered one.
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    let (status, body) = f
        .token(&json!({
            "grant_type": "authorization_code", "code": code, "client_id": "webapp",
            "client_secret": f.webapp_secret, "redirect_uri": "https://webapp.example/second",
            "code_verifier": VERIFIER,
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn errors_about_a_trusted_client_go_back_by_redirect_with_state_and_iss() {
    let f = fixture().await;
    let challenge = challenge(VERIFIER);
    let base = [
        ("client_id", "webapp"),
        ("redirect_uri", WEBAPP_REDIRECT),
        ("state", "st-9"),
    ];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        // No PKCE, plain PKCE, a challenge of the wrong shape.
        (vec![("response_type", "code")], "invalid_request"),
        (
            vec![("response_type", "code"), ("code_challenge", &challenge)],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("code_challenge", "too-short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "token"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "unsupported_response_type",
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", "read admin"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_scope",
        ),
    ];
    for (extra, error) in cases {
        let query: Vec<(&str, &str)> = base.iter().copied().chain(extra.clone()).collect();
        let answer = f.authorize(&query, Some("user_alice")).await;
        assert_eq!(answer.status, 302, "{extra:?}: {}", answer.body);
        assert_eq!(
            answer.param(WEBAPP_REDIRECT, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(
            answer.param(WEBAPP_REDIRECT, "state").as_deref(),
            Some("st-9")
        );
        assert_eq!(
            answer.param(WEBAPP_REDIRECT, "iss").as_deref(),
            Some(ISSUER)
        );
        assert!(answer.param(WEBAPP_REDIRECT, "code").is_none());
    }

    // The user's refusal.
    let query: Vec<(&str, &str)> = base
        .iter()
        .copied()
        .chain([
            ("response_type", "code"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .collect();
    let response = f
        .http
        .get(format!("{}/v1/oauth/authorize", f.base))
        .query(&query)
        .header("x-test-deny", "1")
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{WEBAPP_REDIRECT}?error=access_denied")),
        "{location}"
    );
    // Nobody signed in: the app's login page comes first.
    let answer = f.authorize(&query, None).await;
    assert_eq!(
        (answer.status, answer.location.as_deref()),
        (303, Some("/login"))
    );
}

#[tokio::test]
async fn a_public_client_uses_pkce_alone_and_its_refresh_tokens_are_single_use() {
    // Even with a retry grace for confidential clients, a public client's tokens are single use.
    let f = fixture_with(Options {
        reuse_interval: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    let code = f.code("spa", SPA_REDIRECT, "read").await;
    // Form encoded, no secret (token_endpoint_auth_method "none").
    let (status, tokens) = f
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "spa"),
            ("redirect_uri", SPA_REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(status, 200, "{tokens}");
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let f = &f;
        async move {
            f.token_form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", "spa"),
            ])
            .await
        }
    };
    let (status, next) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{next}");
    // The spent token again, well within the grace: a reuse, and the session ends.
    let (status, body) = refresh(first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(next["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 400, "the whole session ended");

    // A public client cannot authenticate with a secret, nor use client credentials.
    let code = f.code("spa", SPA_REDIRECT, "read").await;
    let (status, body) = f
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "spa"),
            ("client_secret", "made-up"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = f
        .token_form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = f
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "spa"),
            ("client_secret", "made-up"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_client_cannot_redeem_another_clients_code_or_refresh_token() {
    let f = fixture().await;
    let tokens = f.webapp_tokens().await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    // Another confidential client, authenticated, presents the webapp's refresh token.
    let (status, body) = f
        .token(&json!({
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "other", "client_secret": f.other_secret,
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // No client at all (the token endpoint without credentials, and /auth/refresh).
    let (status, _) = f
        .token(&json!({ "grant_type": "refresh_token", "refresh_token": refresh_token }))
        .await;
    assert_eq!(status, 400);
    let response = f
        .http
        .post(format!("{}/v1/auth/refresh", f.base))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // The webapp with a wrong secret is not the webapp.
    let (status, body) = f
        .token(&json!({
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "webapp", "client_secret": "wrong",
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // None of that spent or ended the session: its own client still refreshes.
    let (status, body) = f
        .token(&json!({
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "webapp", "client_secret": f.webapp_secret,
        }))
        .await;
    assert_eq!(status, 200, "{body}");

    // A code of the webapp, redeemed by the other client with the right verifier.
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    let (status, body) = f
        .token(&json!({
            "grant_type": "authorization_code", "code": code, "client_id": "other",
            "client_secret": f.other_secret, "redirect_uri": WEBAPP_REDIRECT, "code_verifier": VERIFIER,
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_code_expires_after_a_minute() {
    let f = fixture().await;
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    f.clock.advance(Duration::from_secs(60));
    let (status, body) = f
        .token(&json!({
            "grant_type": "authorization_code", "code": code, "client_id": "webapp",
            "client_secret": f.webapp_secret, "redirect_uri": WEBAPP_REDIRECT, "code_verifier": VERIFIER,
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_consented_scope_is_what_the_account_holds_of_what_was_asked() {
    let f = fixture().await;
    // The webapp may ask for `read write`; the user holds both; asking for `read` gives `read`.
    let code = f.code("webapp", WEBAPP_REDIRECT, "read").await;
    let (status, body) = f
        .token(&json!({
            "grant_type": "authorization_code", "code": code, "client_id": "webapp",
            "client_secret": f.webapp_secret, "redirect_uri": WEBAPP_REDIRECT, "code_verifier": VERIFIER,
        }))
        .await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("read")));
}

#[tokio::test]
async fn client_credentials_grant_at_most_the_registered_scopes() {
    let f = fixture().await;
    let grant = |scope: Option<&'static str>| {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let f = &f;
        async move {
            let response = f
                .http
                .post(format!("{}/v1/auth/token", f.base))
                .basic_auth("other", Some(&f.other_secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = grant(None).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("read")));
    for beyond in ["write", "read write", "read read:all", "admin"] {
        let (status, body) = grant(Some(beyond)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope")),
            "{beyond}"
        );
    }
}

#[tokio::test]
async fn a_rotated_refresh_token_never_extends_the_session() {
    let f = fixture().await;
    let tokens = f.webapp_tokens().await;
    let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Refresh every 10 days: the 30-day session ends on its 30th day all the same.
    for _ in 0..2 {
        f.clock.advance(Duration::from_secs(10 * 24 * 3600));
        let (status, body) = f
            .token(&json!({
                "grant_type": "refresh_token", "refresh_token": refresh_token,
                "client_id": "webapp", "client_secret": f.webapp_secret,
            }))
            .await;
        assert_eq!(status, 200, "{body}");
        refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    f.clock.advance(Duration::from_secs(10 * 24 * 3600));
    let (status, _) = f
        .token(&json!({
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "webapp", "client_secret": f.webapp_secret,
        }))
        .await;
    assert_eq!(
        status, 400,
        "30 days after the login, however often it rotated"
    );
}

#[tokio::test]
async fn introspection_answers_active_tokens_and_nothing_about_the_rest() {
    let f = fixture().await;
    let tokens = f.webapp_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other = ("other", f.other_secret.as_str());
    let (status, body) = f.introspect(other, access).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "webapp");
    assert_eq!(body["sub"], "user_alice");
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["token_type"], "Bearer");
    // A refresh token only for the client it was issued to (RFC 7662 §4).
    let webapp = ("webapp", f.webapp_secret.as_str());
    let (_, body) = f.introspect(webapp, refresh).await;
    assert_eq!(
        (body["active"].as_bool(), body["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    assert_eq!(body["client_id"], "webapp");
    assert_eq!(
        f.introspect(other, refresh).await.1,
        json!({ "active": false })
    );

    // Garbage, another issuer's token, an expired one: inactive, and nothing else said.
    for token in ["garbage", "rt_0_x_y", &format!("{access}x")] {
        let (status, body) = f.introspect(other, token).await;
        assert_eq!((status, body), (200, json!({ "active": false })), "{token}");
    }
    // Revoked (RFC 7009) by its client: the access token and the refresh token are inactive at
    // once. Another client, or none, cannot revoke what was issued to the webapp.
    let revoke = |client: Option<(&'static str, String)>| {
        let mut request = f
            .http
            .post(format!("{}/v1/auth/revoke", f.base))
            .form(&[("token", refresh)]);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        async move { request.send().await.unwrap() }
    };
    let response = revoke(Some(("other", f.other_secret.clone()))).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(revoke(None).await.status().as_u16(), 400);
    assert_eq!(f.introspect(webapp, refresh).await.1["active"], true);
    let response = revoke(Some(("webapp", f.webapp_secret.clone()))).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        f.introspect(other, refresh).await.1,
        json!({ "active": false })
    );
    assert_eq!(
        f.introspect(other, access).await.1,
        json!({ "active": false })
    );
    // Expired.
    let fresh = f.webapp_tokens().await;
    f.clock.advance(Duration::from_secs(16 * 60));
    let (_, body) = f
        .introspect(other, fresh["access_token"].as_str().unwrap())
        .await;
    assert_eq!(body, json!({ "active": false }));

    // Only authenticated confidential clients may ask.
    let (status, body) = f.introspect(("other", "wrong"), access).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let response = f
        .http
        .post(format!("{}/v1/oauth/introspect", f.base))
        .form(&[("token", access), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = f
        .http
        .post(format!("{}/v1/oauth/introspect", f.base))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn the_metadata_document_describes_what_the_router_serves() {
    let f = fixture().await;
    let response = f
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let metadata: Value = response.json().await.unwrap();
    assert_eq!(metadata["issuer"], ISSUER);
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{ISSUER}/v1/oauth/authorize")
    );
    assert_eq!(
        metadata["token_endpoint"],
        format!("{ISSUER}/v1/auth/token")
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        format!("{ISSUER}/v1/oauth/introspect")
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        format!("{ISSUER}/v1/auth/revoke")
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("authorization_code")));
    assert!(
        !grants.contains(&json!("password")),
        "off by default (OAuth 2.1)"
    );
    // An HMAC secret is never published: no JWK set, and no jwks_uri.
    assert!(metadata.get("jwks_uri").is_none(), "{metadata}");
    let response = f
        .http
        .get(format!("{}/.well-known/jwks.json", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn the_password_grant_is_off_at_the_token_endpoint_unless_offered() {
    use tower_api_auth_tests::lifecycle::{ALICE, ALICE_PASSWORD};
    let f = fixture().await;
    let (status, body) = f
        .token_form(&[
            ("grant_type", "password"),
            ("username", ALICE),
            ("password", ALICE_PASSWORD),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    // The login endpoint takes passwords as before.
    let response = f
        .http
        .post(format!("{}/v1/auth/login", f.base))
        .json(&json!({ "username": ALICE, "password": ALICE_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let f = fixture_with(Options {
        password_grant: true,
        ..Options::default()
    })
    .await;
    let (status, _) = f
        .token_form(&[
            ("grant_type", "password"),
            ("username", ALICE),
            ("password", ALICE_PASSWORD),
        ])
        .await;
    assert_eq!(status, 200);
}

#[cfg(feature = "rate-limit")]
#[tokio::test]
async fn password_consent_signs_users_in_with_basic_and_throttles_guesses() {
    use tower_api_auth::endpoints::PasswordConsent;
    use tower_api_auth::rate_limit::{AuthThrottle, Quota};
    use tower_api_auth_tests::lifecycle::{ALICE, ALICE_PASSWORD, ALICE_SUB, Users};

    let clients = MemoryClientStore::new(ApiKeyHasher::default());
    clients.insert(
        ClientRecord::public("cli", Scopes::parse("profile").unwrap())
            .with_redirect_uris([SPA_REDIRECT]),
    );
    let users = Arc::new(Users::new());
    let tokens = Arc::new(
        TokenService::new(issuer(), MemoryRefreshStore::new())
            .clients(clients)
            .authorization_codes(MemoryCodeStore::new())
            .passwords(users.clone()),
    );
    let throttle = AuthThrottle::new(Quota::per_minute(100)).per_username(Quota::per_minute(3));
    let consent = PasswordConsent::new(users)
        .realm("Test \"realm\"")
        .throttle_failures(throttle);
    let app = endpoints_app(tokens, |endpoints| endpoints.consent(consent));
    let server = tower_api_auth_tests::serve(app).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = challenge(VERIFIER);
    let query = [
        ("response_type", "code"),
        ("client_id", "cli"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let authorize = |credentials: Option<(&'static str, &'static str)>| {
        let mut request = http
            .get(format!("{}/v1/oauth/authorize", server.base()))
            .query(&query);
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        async move { request.send().await.unwrap() }
    };
    // Not signed in: the browser's prompt, in the given realm without its quotes.
    let response = authorize(None).await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Basic realm="Test realm", charset="UTF-8""#
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.headers()["x-frame-options"],
        "DENY",
        "no clickjacking"
    );
    assert_eq!(
        response.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    // Signed in: the code goes to the only registered redirect URI.
    let response = authorize(Some((ALICE, ALICE_PASSWORD))).await;
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{SPA_REDIRECT}?code=ac_")),
        "{location}"
    );
    let code: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let response = http
        .post(format!("{}/v1/auth/token", server.base()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code[0].1),
            ("client_id", "cli"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "profile", "{tokens}");
    let payload =
        tower_api_auth_tests::lifecycle::payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(payload["sub"], ALICE_SUB);

    // Wrong passwords: prompted again, then throttled (3 a minute for one username).
    for _ in 0..3 {
        assert_eq!(
            authorize(Some((ALICE, "wrong"))).await.status().as_u16(),
            401
        );
    }
    let response = authorize(Some((ALICE, ALICE_PASSWORD))).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn only_its_client_revokes_a_token_issued_to_a_client() {
    let f = fixture().await;
    let tokens = f.webapp_tokens().await;
    let revoke = |token: String, client: Option<(&'static str, String)>| {
        let mut request = f
            .http
            .post(format!("{}/v1/auth/revoke", f.base))
            .form(&[("token", token)]);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // Another client, no client, a wrong secret: refused, and the token still works.
    // (The revocation endpoint answers in the auth layer's error format, the crate's default.)
    let code = |body: &Value| body["error"]["code"].as_str().map(str::to_owned);
    let (status, body) = revoke(access.clone(), Some(("other", f.other_secret.clone()))).await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (400, Some("invalid_request"))
    );
    assert_eq!(revoke(access.clone(), None).await.0, 400);
    let (status, body) = revoke(access.clone(), Some(("webapp", "wrong".into()))).await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (401, Some("invalid_client"))
    );
    assert_eq!(f.me(&access).await.0, 200);
    // Its own client: revoked at once (RFC 7009 §2.2: 200, empty).
    let (status, _) = revoke(access.clone(), Some(("webapp", f.webapp_secret.clone()))).await;
    assert_eq!(status, 200);
    assert_eq!(f.me(&access).await.0, 401);
    // An unknown token, by an authenticated client: 200, nothing to say (RFC 7009 §2.2).
    let (status, _) = revoke("unknown".into(), Some(("other", f.other_secret.clone()))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_authorization_request_by_post_is_answered_with_303() {
    let f = fixture().await;
    let challenge = challenge(VERIFIER);
    let response = f
        .http
        .post(format!("{}/v1/oauth/authorize", f.base))
        .header("x-test-user", "user_alice")
        .form(&[
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", WEBAPP_REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    // RFC 9700 §4.11: never 307, which would post the form (and the user's credentials) on.
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{WEBAPP_REDIRECT}?code=ac_")),
        "{location}"
    );
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[cfg(feature = "rate-limit")]
#[tokio::test]
async fn guessed_codes_and_verifiers_count_against_the_failure_throttle() {
    use tower_api_auth::rate_limit::{AuthThrottle, Quota};
    let clients = public_client("spa", "read");
    let tokens = Arc::new(
        TokenService::new(issuer(), MemoryRefreshStore::new())
            .clients(clients)
            .authorization_codes(MemoryCodeStore::new()),
    );
    let app = endpoints_app(tokens, |endpoints| {
        endpoints
            .consent(HeaderConsent)
            .throttle_failures(AuthThrottle::new(Quota::per_minute(3)))
    });
    let server = tower_api_auth_tests::serve_with_peers(app).await;
    let http = reqwest::Client::new();
    let guess = |code: String| {
        let request = http
            .post(format!("{}/v1/auth/token", server.base()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", "spa"),
                ("code_verifier", VERIFIER),
            ]);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for n in 0..3 {
        let code = format!("ac_{}", format!("{n}").repeat(43));
        assert_eq!(guess(code).await, 400, "guess {n}");
    }
    // The fourth guess from the address is refused before any lookup.
    assert_eq!(guess(format!("ac_{}", "9".repeat(43))).await, 429);
}

/// A refresh store whose `start` takes its time, so that a replay lands while the first
/// redemption of a code is still writing its session.
struct SlowStart(MemoryRefreshStore);

impl tower_api_auth::store::RefreshStore for SlowStart {
    async fn start(
        &self,
        session: tower_api_auth::store::Session,
        first: tower_api_auth::store::RefreshTokenHash,
        max_per_subject: usize,
    ) -> Result<Vec<tower_api_auth::store::Session>, tower_api_auth::store::StoreError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.start(session, first, max_per_subject).await
    }

    async fn load(
        &self,
        session_id: &str,
    ) -> Result<Option<tower_api_auth::store::StoredSession>, tower_api_auth::store::StoreError>
    {
        self.0.load(session_id).await
    }

    async fn rotate(
        &self,
        session_id: &str,
        rotation: tower_api_auth::store::Rotation,
    ) -> Result<bool, tower_api_auth::store::StoreError> {
        self.0.rotate(session_id, rotation).await
    }

    async fn end(
        &self,
        session_id: &str,
    ) -> Result<Option<tower_api_auth::store::Session>, tower_api_auth::store::StoreError> {
        self.0.end(session_id).await
    }
}

/// A replay that races the first redemption — it spends nothing new and ends a session not yet
/// written — still leaves nothing usable: the first redemption finds the replay's revocation once
/// its session is written, and answers `invalid_grant` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_racing_the_first_redemption_still_revokes_what_it_issues() {
    let clients = public_client("spa", "read");
    let tokens = Arc::new(
        TokenService::new(issuer(), SlowStart(MemoryRefreshStore::new()))
            .clients(clients)
            .authorization_codes(MemoryCodeStore::new()),
    );
    let app = endpoints_app(tokens, |endpoints| endpoints.consent(HeaderConsent));
    let server = tower_api_auth_tests::serve(app).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = challenge(VERIFIER);
    let response = http
        .get(format!("{}/v1/oauth/authorize", server.base()))
        .query(&[
            ("response_type", "code"),
            ("client_id", "spa"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .header("x-test-user", "user_alice")
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let code = params[0].1.clone();
    let redeem = || {
        let request = http
            .post(format!("{}/v1/auth/token", server.base()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", "spa"),
                ("code_verifier", VERIFIER),
            ]);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let first = tokio::spawn(redeem());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, replay) = redeem().await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, first) = first.await.unwrap();
    assert_eq!(
        (status, first["error"].as_str()),
        (400, Some("invalid_grant")),
        "the first redemption's tokens would outlive the replay: {first}"
    );
}

/// Wrong client secrets at introspection and revocation are guesses as at the token endpoint.
#[cfg(feature = "rate-limit")]
#[tokio::test]
async fn wrong_client_secrets_at_introspection_and_revocation_are_throttled() {
    use tower_api_auth::rate_limit::{AuthThrottle, Quota};
    let hasher = ApiKeyHasher::default();
    let clients = MemoryClientStore::new(hasher.clone());
    clients.insert(ClientRecord::new(
        "rs",
        hasher.hash("the-resource-servers-secret"),
        Scopes::empty(),
    ));
    let tokens = Arc::new(TokenService::new(issuer(), MemoryRefreshStore::new()).clients(clients));
    let app = endpoints_app(tokens, |endpoints| {
        endpoints.throttle_failures(AuthThrottle::new(Quota::per_minute(3)))
    });
    let server = tower_api_auth_tests::serve_with_peers(app).await;
    let http = reqwest::Client::new();
    let call = |path: &'static str, secret: &'static str| {
        let request = http
            .post(format!("{}/v1{path}", server.base()))
            .basic_auth("rs", Some(secret))
            .form(&[("token", "whatever")]);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        call("/oauth/introspect", "the-resource-servers-secret").await,
        200
    );
    assert_eq!(call("/oauth/introspect", "guess-1").await, 401);
    assert_eq!(call("/auth/revoke", "guess-2").await, 401);
    assert_eq!(call("/oauth/introspect", "guess-3").await, 401);
    // Over the quota: refused before the secret is checked, right or wrong.
    assert_eq!(call("/oauth/introspect", "guess-4").await, 429);
    assert_eq!(
        call("/auth/revoke", "the-resource-servers-secret").await,
        429
    );
}

/// A user's password is sent as RFC 7617 sends it: `+`, `%` and `&` are the password's own.
#[tokio::test]
async fn password_consent_reads_user_passwords_as_sent() {
    use tower_api_auth::endpoints::PasswordConsent;
    struct OneUser;
    impl tower_api_auth::issuer::PasswordVerifier for OneUser {
        async fn verify(
            &self,
            username: &str,
            password: &str,
        ) -> Result<Option<Account>, tower_api_auth::store::StoreError> {
            Ok(
                (username == "a+b@example.com" && password == "p+ss&w%41rd=:x")
                    .then(|| Account::new("user_ab", Scopes::parse("read").unwrap())),
            )
        }
    }
    let clients = public_client("cli", "read");
    let tokens = Arc::new(
        TokenService::new(issuer(), MemoryRefreshStore::new())
            .clients(clients)
            .authorization_codes(MemoryCodeStore::new()),
    );
    let app = endpoints_app(tokens, |endpoints| {
        endpoints.consent(PasswordConsent::new(OneUser))
    });
    let server = tower_api_auth_tests::serve(app).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = challenge(VERIFIER);
    let authorize = |password: &'static str| {
        let request = http
            .get(format!("{}/v1/oauth/authorize", server.base()))
            .query(&[
                ("response_type", "code"),
                ("client_id", "cli"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .basic_auth("a+b@example.com", Some(password));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(authorize("p+ss&w%41rd=:x").await, 302);
    // What a form-decoding would have made of it is not the password.
    assert_eq!(authorize("p ss&wArd=:x").await, 401);
}

/// The metadata lists what the router really serves: no code flow without a code store (or a
/// consent), no client credentials without clients.
#[tokio::test]
async fn the_metadata_lists_only_the_grants_that_are_offered() {
    let bare = Arc::new(TokenService::new(issuer(), MemoryRefreshStore::new()));
    let metadata = TokenEndpoints::new(bare).metadata();
    assert_eq!(metadata["grant_types_supported"], json!(["refresh_token"]));
    assert!(metadata.get("authorization_endpoint").is_none());
    assert_eq!(metadata["response_types_supported"], json!([]));
    assert_eq!(metadata["issuer"], ISSUER);
    assert_eq!(metadata["token_endpoint"], format!("{ISSUER}/auth/token"));
}

/// An authorization request with very many parameters is refused before any is looked at.
#[tokio::test]
async fn an_authorization_request_with_too_many_parameters_is_refused() {
    let f = fixture().await;
    let names: Vec<String> = (0..65).map(|n| format!("p{n}")).collect();
    let mut query: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    query.push(("client_id", "webapp"));
    let answer = f.authorize(&query, Some("user_alice")).await;
    assert_eq!((answer.status, answer.location.is_none()), (400, true));
    assert!(
        answer.body.contains("too many parameters"),
        "{}",
        answer.body
    );
}
