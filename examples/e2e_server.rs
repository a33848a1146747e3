//! The server of the end-to-end load test (`tower-api-auth/benches/e2e.sh`): one quickstart-like route,
//! `GET /v1/me`, answering a small JSON body, with or without the auth layer.
//!
//! ```text
//! cargo build --release -p tower-api-auth-examples --example e2e_server
//! target/release/examples/e2e_server <variant> <info-file>
//! ```
//!
//! `variant` is one of:
//!
//! * `noauth`: no auth layer; the handler serializes a fixed `Identity` built at start-up, so its
//!   body and serialization cost are those of the other variants;
//! * `noauth+<variant>`: the `noauth` server, with the request headers of `<variant>` for the
//!   client to send: the same request without the layer, so that a comparison measures the layer
//!   and not the cost of receiving a credential header;
//! * `hs256`, `rs256`, `es256`, `eddsa`: a Bearer JWT of that algorithm, checked by a `JwtValidator`
//!   with the default verified-token cache (the same token on every request: hits after the first);
//! * `hs256-cold`, `rs256-cold`, `es256-cold`, `eddsa-cold`: the same with the cache disabled, so
//!   every request is verified in full;
//! * `apikey`: an API key in `X-API-Key` with `X-Tenant-ID`, from a `MemoryKeyStore`;
//! * `hs256-limited`: `hs256` with one per-principal rate-limit policy checked by the auth layer
//!   (`AuthLayer::with_rate_limits`; a quota no run spends, so every request passes);
//! * `control-identity`: no authentication, a `Router::layer` that inserts a ready `Identity` for
//!   the authenticated variants' handler, sent the `hs256` token: the floor of any axum layer
//!   that hands a handler an identity, to read the other ratios against.
//!
//! The server binds 127.0.0.1 on a free port, then writes `info-file` (atomically: a temporary file
//! renamed): the first line is the URL to load, every further line a request header
//! (`Name: value`) to send with it. It serves until it is killed. The tokens and keys are made up at
//! start-up; the JWT keys are the test keys of `testdata/keys/`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::rate_limit::{Policy, Quota, RateLimits};
use tower_api_auth::{
    Algorithm, AuthLayer, AuthMethod, Identity, JwtValidator, MemoryKeyStore, Tenant,
    api_key::ApiKeyHasher, crypto, jwt::TokenCacheConfig, scope::Scopes,
};

#[path = "e2e_support/fleet.rs"]
mod fleet;

const ISSUER: &str = "https://auth.silentchat.test";
const AUDIENCE: &str = "silentchat-api";
const TENANT: &str = "tn_demo";
const SCOPES: &str = "conversations:read messages:read";
const HMAC_SECRET: &[u8] = b"e2e-bench-secret-e2e-bench-secret-e2e!!!";

const RSA_PRIVATE: &[u8] = include_bytes!("../testdata/keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../testdata/keys/rsa_public.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("../testdata/keys/ec256_private.pem");
const EC256_PUBLIC: &[u8] = include_bytes!("../testdata/keys/ec256_public.pem");
const ED25519_PRIVATE: &[u8] = include_bytes!("../testdata/keys/ed25519_private.pem");
const ED25519_PUBLIC: &[u8] = include_bytes!("../testdata/keys/ed25519_public.pem");

/// The authenticated variants' handler, as in the quickstart: the caller's identity as JSON.
async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    scope: &'a str,
    tenant_id: &'a str,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token of `algorithm` and the validator that accepts it, with or without the cache.
fn jwt(
    algorithm: Algorithm,
    cached: bool,
) -> Result<(String, JwtValidator), Box<dyn std::error::Error>> {
    use jsonwebtoken::EncodingKey;
    let mut options = JwtOptions::new().issuer(ISSUER).audience(AUDIENCE);
    if !cached {
        options = options.token_cache(TokenCacheConfig::disabled());
    }
    let (encoding, validator) = match algorithm {
        Algorithm::HS256 => (
            EncodingKey::from_secret(HMAC_SECRET),
            JwtValidator::hs256(HMAC_SECRET, options)?,
        ),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(RSA_PRIVATE)?,
            JwtValidator::public_pem(algorithm, RSA_PUBLIC, options)?,
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(EC256_PRIVATE)?,
            JwtValidator::public_pem(algorithm, EC256_PUBLIC, options)?,
        ),
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(ED25519_PRIVATE)?,
            JwtValidator::public_pem(Algorithm::EdDSA, ED25519_PUBLIC, options)?,
        ),
        other => return Err(format!("no test key for {other:?}").into()),
    };
    let iat = now();
    let claims = Claims {
        sub: "user_42",
        iss: ISSUER,
        aud: AUDIENCE,
        exp: iat + 3600,
        iat,
        scope: SCOPES,
        tenant_id: TENANT,
    };
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), &claims, &encoding)?;
    Ok((token, validator))
}

/// The identity the `hs256` token stands for, built at start-up.
fn fixed_identity() -> Result<Identity, Box<dyn std::error::Error>> {
    Ok(Identity::builder("user_42", AuthMethod::Jwt)
        .scopes(Scopes::parse(SCOPES)?)
        .tenant(Tenant::new(TENANT)?)
        .expires_at(now() + 3600)
        .build())
}

/// The router of `variant` and the headers a client must send.
async fn variant(name: &str) -> Result<(Router, Vec<String>), Box<dyn std::error::Error>> {
    let (algorithm_name, cached) = match name.strip_suffix("-cold") {
        Some(base) => (base, false),
        None => (name, true),
    };
    let algorithm = match algorithm_name {
        "hs256" => Some(Algorithm::HS256),
        "rs256" => Some(Algorithm::RS256),
        "es256" => Some(Algorithm::ES256),
        "eddsa" => Some(Algorithm::EdDSA),
        _ => None,
    };
    if let Some(like) = name.strip_prefix("noauth+") {
        let (_, headers) = Box::pin(variant(like)).await?;
        let (router, _) = Box::pin(variant("noauth")).await?;
        return Ok((router, headers));
    }
    let route = || Router::new().route("/v1/me", get(me));
    if let Some(store) = name.strip_prefix("hs256-feed-") {
        return fleet::jwt_with_feed(store, route()).await;
    }
    if let Some(store) = name.strip_prefix("apikey-cached-") {
        return fleet::api_key_cached(store, route()).await;
    }
    if let Some(algorithm) = algorithm {
        let (token, validator) = jwt(algorithm, cached)?;
        let router = route().layer(AuthLayer::builder().jwt(validator).build().unwrap());
        return Ok((router, vec![format!("Authorization: Bearer {token}")]));
    }
    match name {
        "hs256-limited" => {
            let (token, validator) = jwt(Algorithm::HS256, true)?;
            let limits = RateLimits::new()
                .policy(Policy::new("per_principal", Quota::per_second(u32::MAX)))
                .build()?;
            let auth = AuthLayer::builder().jwt(validator).build()?;
            let router = route().layer(auth.with_rate_limits(&limits));
            Ok((router, vec![format!("Authorization: Bearer {token}")]))
        }
        "control-identity" => {
            let (token, _) = jwt(Algorithm::HS256, true)?;
            let identity = fixed_identity()?;
            let insert = move |mut request: axum::extract::Request| {
                request.extensions_mut().insert(identity.clone());
                request
            };
            let router = route().layer(tower::util::MapRequestLayer::new(insert));
            Ok((router, vec![format!("Authorization: Bearer {token}")]))
        }
        "noauth" => {
            // The same body as the authenticated variants, serialized per request the same way.
            let identity = fixed_identity()?;
            let router = Router::new().route(
                "/v1/me",
                get(move || {
                    let identity = identity.clone();
                    async move { Json(identity) }
                }),
            );
            Ok((router, Vec::new()))
        }
        "apikey" => {
            let (plaintext, record) = ApiKeyHasher::default()
                .generate(&Default::default())
                .with_record(|r| {
                    r.with_tenants([Tenant::new(TENANT).expect("valid tenant")])
                        .with_scopes(Scopes::parse(SCOPES).expect("valid scopes"))
                })
                .into_parts();
            let provider = MemoryKeyStore::from(vec![record]);
            let router = route().layer(AuthLayer::builder().api_keys(provider).build().unwrap());
            Ok((
                router,
                vec![
                    format!("X-API-Key: {plaintext}"),
                    format!("X-Tenant-ID: {TENANT}"),
                ],
            ))
        }
        other => Err(format!(
            "unknown variant {other:?}: noauth, hs256, rs256, es256, eddsa (each also -cold), \
             apikey, hs256-limited, control-identity, hs256-feed-<postgres|redis|memory>, apikey-cached-<postgres|memory>, \
             noauth+<any of them>"
        )
        .into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(info_file)) = (args.next(), args.next()) else {
        return Err("usage: e2e_server <variant> <info-file>".into());
    };
    crypto::ensure_provider();
    let (router, headers) = variant(&name).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let mut info = format!("http://{address}/v1/me\n");
    for header in headers {
        info.push_str(&header);
        info.push('\n');
    }
    let partial = format!("{info_file}.partial");
    std::fs::write(&partial, info)?;
    std::fs::rename(&partial, &info_file)?;
    axum::serve(listener, router).await?;
    Ok(())
}
