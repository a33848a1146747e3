//! Seed 004, the generic API page: API keys and JWTs as Bearer tokens, the login answering
//! `token`/`expires_at`/`refresh_token`, the OAuth authorization-code flow and its refresh grant,
//! verify, and the error body.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tower_api_auth::clock::{Clock, ManualClock, rfc3339};
use tower_api_auth_tests::lifecycle::payload;

use crate::generic_api_app::{demo, support::Stores};
use crate::{field, start};

#[tokio::test]
async fn generic_api() {
    let clock = ManualClock::starting_now();
    let demo = demo(
        Stores::from_urls(None, None).await.unwrap(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let username = field(&demo.credentials, "username").to_owned();
    let password = field(&demo.credentials, "password").to_owned();
    let api_key = field(&demo.credentials, "api_key").to_owned();
    let server = start(demo.router).await;

    // Using API keys.
    assert_eq!(
        server.get("/v1/users").bearer(&api_key).send().await.status,
        200
    );
    let verify = server
        .get("/v1/auth/verify")
        .bearer(&api_key)
        .send()
        .await
        .json();
    assert_eq!(verify["authenticated"], true);
    assert_eq!(verify["user_id"], "svc_example");
    assert_eq!(verify["scopes"], json!(["read"]));

    // Getting a JWT.
    let login = server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": username, "password": password }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let body = login.json();
    let fields = crate::fields(&body);
    assert_eq!(fields, ["expires_at", "refresh_token", "token"]);
    let token = body["token"].as_str().unwrap();
    let exp = payload(token)["exp"].as_u64().unwrap();
    assert_eq!(exp, clock.now() + 3600, "access tokens expire after 1 hour");
    assert_eq!(body["expires_at"], rfc3339(exp));
    assert_eq!(
        server.get("/v1/users").bearer(token).send().await.status,
        200
    );
    let verify = server
        .get("/v1/auth/verify")
        .bearer(token)
        .send()
        .await
        .json();
    assert_eq!(verify["authenticated"], true);
    assert_eq!(verify["user_id"], "12345");
    assert_eq!(verify["scopes"], json!(["read", "write"]));
    assert_eq!(verify["expires_at"], rfc3339(exp));

    // A wrong password: 401 invalid_credentials, in the API's error body.
    let wrong = server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": username, "password": "nope" }),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let error = wrong.json();
    assert_eq!(error["error"], "invalid_credentials");
    assert_eq!(error["message"], "Username or password incorrect");
    assert_eq!(error["code"], 401);
    assert_eq!(error["timestamp"], rfc3339(clock.now()));

    // Invalid and expired tokens.
    let invalid = server
        .get("/v1/users")
        .bearer("eyJhbGciOiJIUzI1NiJ9.e30.x")
        .send()
        .await
        .json();
    assert_eq!(invalid["error"], "invalid_token");
    assert_eq!(invalid["code"], 401);
    clock.advance(Duration::from_secs(3600 + 120));
    let expired = server.get("/v1/users").bearer(token).send().await;
    assert_eq!(expired.status, 401);
    let expired = expired.json();
    assert_eq!(expired["error"], "token_expired");
    assert_eq!(expired["code"], 401);
    assert!(expired["message"].is_string() && expired["timestamp"].is_string());

    // Refresh tokens: the OAuth token endpoint, with a JSON body. (The seed's body also names a
    // client_id and client_secret; this service registers no clients, and does not check them.)
    let refreshed = server
        .post_json(
            "/oauth/token",
            &json!({
                "grant_type": "refresh_token",
                "refresh_token": body["refresh_token"],
            }),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server.get("/v1/users").bearer(&access).send().await.status,
        200
    );
    // Its errors are RFC 6749 §5.2, what OAuth client libraries read.
    let spent = server
        .post_json(
            "/oauth/token",
            &json!({ "grant_type": "refresh_token", "refresh_token": body["refresh_token"] }),
        )
        .await;
    assert_eq!(spent.status, 400);
    assert_eq!(spent.json()["error"], "invalid_grant");
    assert!(spent.json()["error_description"].is_string());
}

/// "API Keys: 1000 requests/hour … JWT: 2000 requests/hour": the 1001st and the 2001st request
/// of the hour are `429 rate_limit_exceeded` in the API's error body, with `Retry-After`.
#[tokio::test]
async fn generic_api_rate_limits_per_authentication_method() {
    let clock = ManualClock::starting_now();
    let demo = demo(
        Stores::from_urls(None, None).await.unwrap(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let api_key = field(&demo.credentials, "api_key").to_owned();
    let credentials = json!({
        "username": field(&demo.credentials, "username"),
        "password": field(&demo.credentials, "password"),
    });
    let server = start(demo.router).await;
    let login = server.post_json("/v1/auth/login", &credentials).await;
    let token = login.json()["token"].as_str().unwrap().to_owned();

    for (credential, quota) in [(&api_key, 1000), (&token, 2000)] {
        for i in 0..quota {
            let reply = server.get("/v1/users").bearer(credential).send().await;
            assert_eq!(reply.status, 200, "request {i} of {quota}: {}", reply.text);
        }
        let refused = server.get("/v1/users").bearer(credential).send().await;
        assert_eq!(refused.status, 429);
        let body = refused.json();
        assert_eq!(body["error"], "rate_limit_exceeded");
        assert_eq!(body["code"], 429);
        assert_eq!(body["timestamp"], rfc3339(clock.now()));
        // One request comes back every hour / quota: 3.6 s and 1.8 s, rounded up.
        let every = 3600_u32.div_ceil(quota);
        assert_eq!(
            refused.header("retry-after"),
            Some(every.to_string().as_str())
        );
        assert_eq!(
            refused.header("ratelimit-policy"),
            Some(
                format!(
                    "\"{}\";q={quota};w=3600",
                    if quota == 1000 { "api_key" } else { "jwt" }
                )
                .as_str()
            )
        );
    }
    // Retry-After honoured: the key may send one more.
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        server.get("/v1/users").bearer(&api_key).send().await.status,
        200
    );
    assert_eq!(
        server.get("/v1/users").bearer(&api_key).send().await.status,
        429
    );
}

/// "OAuth 2.0 … Authorization Code Flow", step by step as the seed writes it (its step 1 with
/// PKCE, which OAuth 2.1 requires of every client): redirect to the authorization endpoint, the
/// code on the callback, the code exchanged in a JSON body with the client's secret, the access
/// token on the API, and the refresh with the client's credentials.
#[tokio::test]
async fn generic_api_authorization_code_flow() {
    use base64::Engine;
    use sha2::Digest;
    let clock = ManualClock::starting_now();
    let demo = demo(
        Stores::from_urls(None, None).await.unwrap(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let (username, password) = (
        field(&demo.credentials, "username").to_owned(),
        field(&demo.credentials, "password").to_owned(),
    );
    let client_id = field(&demo.credentials, "client_id").to_owned();
    let client_secret = field(&demo.credentials, "client_secret").to_owned();
    let server = start(demo.router).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = "a-fresh-random-verifier-of-the-clients-own-making-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));

    // Step 1: the user's browser at the authorization endpoint; the user signs in.
    let auth_url = format!(
        "{}/oauth/authorize?client_id={client_id}&redirect_uri=https://yourapp.com/callback&response_type=code&scope=read%20write&code_challenge={challenge}&code_challenge_method=S256",
        server.base()
    );
    let prompt = browser.get(&auth_url).send().await.unwrap();
    assert_eq!(prompt.status().as_u16(), 401, "the sign-in prompt first");
    let response = browser
        .get(&auth_url)
        .basic_auth(&username, Some(&password))
        .send()
        .await
        .unwrap();
    // Step 2: redirected to https://yourapp.com/callback?code=AUTH_CODE
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let query = location
        .strip_prefix("https://yourapp.com/callback?")
        .unwrap_or_else(|| panic!("{location}"));
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let code = &params.iter().find(|(k, _)| k == "code").unwrap().1;
    assert_eq!(
        params.iter().find(|(k, _)| k == "iss").unwrap().1,
        "https://api.example.com"
    );

    // Step 3: exchange the code for a token, the JSON body of the seed.
    let exchanged = server
        .post_json(
            "/oauth/token",
            &json!({
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": "https://yourapp.com/callback",
                "code_verifier": verifier,
            }),
        )
        .await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.text);
    let tokens = exchanged.json();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["client_id"], client_id.as_str());
    assert_eq!(payload(access)["sub"], "12345");
    assert_eq!(
        payload(access)["exp"].as_u64().unwrap(),
        clock.now() + 3600,
        "access tokens expire after 1 hour"
    );

    // Step 4: use the access token; an OAuth token counts against the OAuth quota.
    let users = server.get("/v1/users").bearer(access).send().await;
    assert_eq!(users.status, 200);

    // Refresh tokens, as the seed sends them: with the client's id and secret.
    let refreshed = server
        .post_json(
            "/oauth/token",
            &json!({
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": client_id,
                "client_secret": client_secret,
            }),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server.get("/v1/users").bearer(&access).send().await.status,
        200
    );
    // The server's metadata points a client library at the same endpoints.
    let metadata = server
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert_eq!(
        metadata["authorization_endpoint"],
        "https://api.example.com/oauth/authorize"
    );
    assert_eq!(
        metadata["token_endpoint"],
        "https://api.example.com/oauth/token"
    );
}
