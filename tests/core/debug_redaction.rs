//! `Debug` output never shows a secret: one value of every public type that holds a token, a key,
//! a hash, a pepper or a password-like secret, formatted with `{:?}` and `{:#?}`.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, Response, Uri};
use tower::ServiceExt as _;
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys, CachedKeyProvider};
use tower_api_auth::credential::CredentialSources;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::jwt::{JwtKey, JwtKeySet};
use tower_api_auth::{Algorithm, AuthError, AuthLayer, Identity, JwtValidator, MemoryKeyStore};

use common::jwt::{claims, hs256};
use common::{HS256_SECRET, api_key};

/// A pepper for API-key hashes.
const PEPPER: &str = "pepper-a-server-side-secret-0123456789";

/// Asserts that neither `{:?}` nor `{:#?}` of `value` shows `secret` in any usual spelling: as
/// text, hex, base64 or the list of its bytes.
#[track_caller]
fn assert_hidden(value: &impl Debug, secret: impl AsRef<[u8]>) {
    let secret = secret.as_ref();
    assert!(secret.len() >= 16, "too short to be a meaningful probe");
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let bytes = format!("{:?}", &secret[..8]);
    let spellings = [
        String::from_utf8_lossy(secret).into_owned(),
        hex.clone(),
        hex.to_uppercase(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        // `[97, 110, 45, …` without the closing bracket: a prefix of the bytes as a list.
        bytes[..bytes.len() - 1].to_owned(),
    ];
    for debug in [format!("{value:?}"), format!("{value:#?}")] {
        for spelling in &spellings {
            assert!(
                !debug.contains(spelling.as_str()),
                "the secret shows as {spelling:?} in {debug}"
            );
        }
    }
}

/// Asserts that `{:?}` and `{:#?}` of `value` show `visible`.
#[track_caller]
fn assert_shown(value: &impl Debug, visible: &str) {
    for debug in [format!("{value:?}"), format!("{value:#?}")] {
        assert!(debug.contains(visible), "{visible:?} missing from {debug}");
    }
}

/// A request with `headers`, for `CredentialSources::extract`.
fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::get("/");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).expect("request")
}

#[test]
fn presented_credentials_show_their_kind_and_tenant_not_the_secret() {
    let sources = CredentialSources::default();
    let token = hs256(&claims("user_1"));
    let bearer = request(&[
        ("authorization", &format!("Bearer {token}")),
        ("x-tenant-id", "tn_visible"),
    ]);
    let presented = sources
        .extract(bearer.headers(), bearer.uri())
        .expect("well-formed")
        .expect("a credential");
    assert_hidden(&presented.credential, &token);
    assert_hidden(&presented, &token);
    assert_shown(&presented, "tn_visible");
    assert_shown(&presented.credential, "Bearer");
    assert_shown(
        &presented.credential,
        &format!("<redacted, {} bytes>", token.len()),
    );

    let (key, _) = api_key("read");
    let with_key = request(&[("x-api-key", &key), ("x-tenant-id", "tn_a")]);
    let presented = sources
        .extract(with_key.headers(), with_key.uri())
        .expect("well-formed")
        .expect("a credential");
    assert_hidden(&presented.credential, &key);
    assert_hidden(&presented, &key);
    assert_shown(&presented, "ApiKey");
}

#[test]
fn errors_about_a_credential_do_not_repeat_it() {
    let sources = CredentialSources::default();
    let token = hs256(&claims("user_1"));
    let (key, _) = api_key("read");
    let long_key = format!("{key}{}", "x".repeat(9000));
    for headers in [
        vec![("authorization", format!("Bearer {token},{token}"))],
        vec![
            ("authorization", format!("Bearer {token}")),
            ("x-api-key", key.clone()),
        ],
        vec![("x-api-key", long_key)],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let request = request(&headers);
        let error: AuthError = sources
            .extract(request.headers(), request.uri())
            .expect_err("a malformed credential");
        // With details, as the scope checks add them.
        let error = error.with_required_scopes("conversations:read");
        assert_hidden(&error, &token);
        assert_hidden(&error, &key);
        assert_shown(&error, "invalid_request");
        assert_shown(&error, "conversations:read");
    }
}

#[test]
fn api_key_types_hide_the_key_its_hash_and_the_pepper() {
    let hasher = ApiKeyHasher::with_pepper(PEPPER.as_bytes());
    assert_hidden(&hasher, PEPPER);
    let format = ApiKeyFormat::default();
    let new_key = hasher.generate(&format);
    let plaintext = new_key.plaintext().to_owned();
    let hash = new_key.record().hash;
    assert_hidden(&new_key, &plaintext);
    assert_hidden(&new_key, hash.to_hex());
    assert_hidden(&hash, hash.to_hex());
    let record = new_key.record().clone().with_name("deploy key");
    assert_hidden(&record, hash.to_hex());
    assert_hidden(&record, &plaintext);
    assert_shown(&record, &record.key_id);

    let parsed = format.parse(&plaintext).expect("a key of this format");
    assert_hidden(&parsed, &plaintext);
    assert_shown(&parsed, parsed.key_id());

    let provider = MemoryKeyStore::from(vec![record.clone()]);
    assert_hidden(&provider, hash.to_hex());
    let cached = CachedKeyProvider::new(MemoryKeyStore::from(vec![record.clone()]));
    assert_hidden(&cached, hash.to_hex());
    let api_keys = ApiKeys::new(provider).hasher(hasher);
    assert_hidden(&api_keys, PEPPER);
    assert_hidden(&api_keys, hash.to_hex());
}

#[test]
fn jwt_keys_and_validators_hide_the_hmac_secret() {
    let key = JwtKey::hmac(Algorithm::HS256, HS256_SECRET)
        .expect("hmac key")
        .with_kid("k-visible");
    assert_hidden(&key, HS256_SECRET);
    assert_shown(&key, "k-visible");
    let validator = JwtValidator::new(
        key.clone(),
        JwtOptions::new().issuer("https://auth.example.test"),
    );
    assert_hidden(&validator, HS256_SECRET);
    let set = JwtKeySet::from(key);
    assert_hidden(&set, HS256_SECRET);

    let jwks = format!(
        r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(HS256_SECRET)
    );
    let from_jwks = JwtKeySet::from_jwks(&jwks).expect("jwks");
    assert_hidden(&from_jwks, HS256_SECRET);
    assert_hidden(
        &JwtValidator::jwks(&jwks, JwtOptions::new()).expect("jwks"),
        HS256_SECRET,
    );
}

#[test]
fn layers_and_their_configuration_hide_every_secret() {
    let (key, record) = api_key("read");
    let hash = record.hash.to_hex();
    let builder = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).expect("validator"))
        .api_keys(
            ApiKeys::new(MemoryKeyStore::from(vec![record]))
                .hasher(ApiKeyHasher::with_pepper(PEPPER.as_bytes())),
        );
    assert_hidden(&builder, HS256_SECRET);
    assert_hidden(&builder, PEPPER);
    assert_hidden(&builder, &hash);
    let layer = builder.build();
    for secret in [
        HS256_SECRET,
        PEPPER.as_bytes(),
        hash.as_bytes(),
        key.as_bytes(),
    ] {
        assert_hidden(&layer, secret);
    }
}

#[test]
fn a_configuration_holding_secrets_hides_them_built_or_not() {
    use tower_api_auth::config::AuthConfig;

    let secret = String::from_utf8(HS256_SECRET.to_vec()).expect("text");
    let base64_secret = "c2VjcmV0LWJhc2U2NC1zZWNyZXQtYmFzZTY0LXNlY3JldC1iYXNlNjQ=";
    let config: AuthConfig = serde_json::from_value(serde_json::json!({
        "jwt": { "keys": [
            { "kid": "k1", "alg": "HS256", "secret": secret },
            { "kid": "k2", "alg": "HS256", "secret_base64": base64_secret },
        ] },
        "api_keys": { "pepper": PEPPER },
    }))
    .expect("config");
    let decoded = STANDARD.decode(base64_secret).expect("base64");
    for secret in [
        HS256_SECRET,
        PEPPER.as_bytes(),
        base64_secret.as_bytes(),
        decoded.as_slice(),
    ] {
        assert_hidden(&config, secret);
        assert_hidden(&config.jwt, secret);
        assert_hidden(&config.api_keys, secret);
        assert_hidden(&config.builder().expect("valid"), secret);
        assert_hidden(&config.build().expect("valid"), secret);
    }
    assert_shown(&config, "k1");
}

#[tokio::test]
async fn identities_show_ids_but_no_credential() {
    let debug = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&debug);
    let inner = tower::service_fn(move |request: Request<String>| {
        let seen = Arc::clone(&seen);
        async move {
            let identity = request.extensions().get::<Identity>().expect("identity");
            assert_hidden(identity, HS256_SECRET);
            let mut seen = seen.lock().expect("lock");
            seen.push(format!("{identity:?}"));
            seen.push(format!("{identity:#?}"));
            Ok::<_, Infallible>(Response::new(String::new()))
        }
    });
    let (key, record) = api_key("read");
    let key_id = record.key_id.clone();
    let layer = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).expect("validator"))
        .api_keys(MemoryKeyStore::from(vec![record]))
        .build()
        .expect("layer");
    let service = tower::Layer::layer(&layer, inner);

    let token = hs256(&claims("user_visible"));
    let with_token = Request::get(Uri::from_static("/"))
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .expect("request");
    let response = service.clone().oneshot(with_token).await.expect("response");
    assert_eq!(response.status(), 200);
    let with_key = Request::get(Uri::from_static("/"))
        .header("x-api-key", key.as_str())
        .header("x-tenant-id", "tn_a")
        .body(String::new())
        .expect("request");
    let response = service.oneshot(with_key).await.expect("response");
    assert_eq!(response.status(), 200);

    let debug = debug.lock().expect("lock");
    assert_eq!(debug.len(), 4, "both requests reached the service");
    let (signature, key_secret) = (token.rsplit('.').next().expect("signature"), &key[21..]);
    for output in debug.iter() {
        for secret in [token.as_str(), signature, key.as_str(), key_secret] {
            assert!(!output.contains(secret), "{secret:?} shows in {output}");
        }
    }
    // Ids are not secrets: they are there to trace a request.
    assert!(debug[0].contains("user_visible"), "{}", debug[0]);
    assert!(debug[2].contains(&*key_id), "{}", debug[2]);
}

#[cfg(feature = "issuer")]
mod issuer {
    use std::sync::Arc;

    use tower_api_auth::api_key::ApiKeyHasher;
    use tower_api_auth::issuer::{
        AccessGrant, MemoryClientStore, MemoryRefreshStore, SigningKey, TokenIssuer, TokenService,
    };
    use tower_api_auth::scope::Scopes;
    use tower_api_auth::store::RefreshTokenHash;
    use tower_api_auth::{Algorithm, MemoryKeyStore};

    use super::{PEPPER, assert_hidden, assert_shown};
    use tower_api_auth_tests::{HS256_SECRET, api_key, now, pem};

    /// A line from the middle of a PEM file: part of the key itself.
    fn pem_body_line(name: &str) -> String {
        let pem = String::from_utf8(pem(name)).expect("pem text");
        let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        lines[lines.len() / 2].to_owned()
    }

    #[test]
    fn signing_keys_and_issuers_hide_the_private_key() {
        let hmac = SigningKey::hmac(Algorithm::HS256, HS256_SECRET)
            .expect("hmac")
            .with_kid("k-visible");
        assert_hidden(&hmac, HS256_SECRET);
        assert_shown(&hmac, "k-visible");
        for (algorithm, name) in [
            (Algorithm::RS256, "rsa_private"),
            (Algorithm::ES256, "ec256_private"),
            (Algorithm::EdDSA, "ed25519_private"),
        ] {
            let key = SigningKey::from_pem(algorithm, &pem(name)).expect("private key");
            assert_hidden(&key, pem_body_line(name));
            let issuer = TokenIssuer::new(key, "https://auth.example.test");
            assert_hidden(&issuer, pem_body_line(name));
        }
        let issuer = TokenIssuer::new(hmac, "https://auth.example.test");
        assert_hidden(&issuer, HS256_SECRET);
        let token = issuer
            .issue(
                &AccessGrant::new("user_1", Scopes::parse("read").expect("scopes")),
                now(),
            )
            .expect("issued");
        assert_hidden(&token, &token.token);
        assert_hidden(&token, token.token.rsplit('.').next().expect("signature"));
        assert_shown(&token, &token.token_id);
    }

    #[tokio::test]
    async fn token_responses_refresh_hashes_and_clients_hide_their_secrets() {
        let (key, record) = api_key("read");
        let clients = Arc::new(MemoryClientStore::new(ApiKeyHasher::with_pepper(
            PEPPER.as_bytes(),
        )));
        let client_secret =
            clients.register("client_1", Scopes::parse("read").expect("scopes"), vec![]);
        assert_hidden(&clients, &client_secret);
        assert_hidden(&clients, PEPPER);
        // A client record as an app's own store builds it: the hash of its secret stays hidden.
        let secret_hash = ApiKeyHasher::default().hash(&client_secret);
        let client_record = tower_api_auth::store::ClientRecord::new(
            "client_2",
            secret_hash,
            Scopes::parse("read").expect("scopes"),
        );
        assert_hidden(&client_record, &client_secret);
        assert_hidden(&client_record, secret_hash.to_hex());
        let signing = SigningKey::hmac(Algorithm::HS256, HS256_SECRET).expect("hmac");
        let service = TokenService::new(
            TokenIssuer::new(signing, "https://auth.example.test"),
            MemoryRefreshStore::new(),
        )
        .api_keys(MemoryKeyStore::from(vec![record]))
        .clients(Arc::clone(&clients));

        let pair = service
            .login(tower_api_auth::issuer::Login::api_key(&key).tenant("tn_a"))
            .await
            .expect("exchanged");
        let refresh = pair.refresh_token.clone().expect("a refresh token");
        assert_hidden(&pair, &pair.access_token);
        assert_hidden(&pair, &refresh);
        assert_hidden(&pair, &key);
        let hash = RefreshTokenHash::of(&refresh).expect("one of ours");
        assert_hidden(&hash, &refresh);
        assert_hidden(&hash, hash.as_bytes());

        let granted = service
            .client_credentials("client_1", &client_secret, None)
            .await
            .expect("client credentials");
        assert_hidden(&granted, &granted.access_token);
        assert_hidden(&granted, &client_secret);
        for secret in [
            HS256_SECRET,
            client_secret.as_bytes(),
            PEPPER.as_bytes(),
            refresh.as_bytes(),
        ] {
            assert_hidden(&service, secret);
        }
    }

    #[cfg(feature = "axum")]
    #[test]
    fn token_endpoints_hide_the_signing_key() {
        let signing = SigningKey::hmac(Algorithm::HS256, HS256_SECRET).expect("hmac");
        let service = Arc::new(TokenService::new(
            TokenIssuer::new(signing, "https://auth.example.test"),
            MemoryRefreshStore::new(),
        ));
        let endpoints = tower_api_auth::endpoints::TokenEndpoints::new(service);
        assert_hidden(&endpoints, HS256_SECRET);
    }
}
