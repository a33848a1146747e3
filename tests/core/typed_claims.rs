//! Typed claims (`JwtValidator::claims::<C>()`) whose `Deserialize` swallows its own read errors
//! must not change what the validator reads: a signed payload that is not one valid JSON object is
//! `invalid_token` exactly as without a claims type, and keys inside a nested object are never read
//! as the top-level `aud`, `exp` or `sub`. In process, through the layer, with the token cache on
//! (every request sent twice, the second one a hit for a token that passed) and off.
#![cfg(feature = "axum")]
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tower::ServiceExt as _;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::jwt::TokenCacheConfig;
use tower_api_auth::{AuthLayer, Claims, Identity, JwtValidator};

use common::jwt::hs256_raw_parts;
use common::{HS256_SECRET, now};

/// Reads `profile` when it can, and turns an error reading it into "no profile".
#[derive(Deserialize)]
struct SwallowsFieldErrors {
    #[serde(default, deserialize_with = "value_or_nothing")]
    #[allow(dead_code)]
    profile: Option<Value>,
}

fn value_or_nothing<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Ok(Value::deserialize(deserializer).ok())
}

/// Visits the claims as a map and skips every value, read errors included.
struct SwallowsValueErrors;

impl<'de> Deserialize<'de> for SwallowsValueErrors {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SwallowsValueErrors;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SwallowsValueErrors, A::Error> {
                while map.next_key::<String>()?.is_some() {
                    let _ = map.next_value::<Option<serde::de::IgnoredAny>>();
                }
                Ok(SwallowsValueErrors)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The status and error code (if any) of `GET /` with `token` to `app`, whose layer has
/// `validator`. With the validator's cache on, the request is sent twice (the second time through
/// the cache, if the token passed) and both answers must agree.
async fn outcome(
    app: Router,
    validator: &JwtValidator,
    token: &str,
) -> (StatusCode, Option<String>) {
    let app = app.layer(
        AuthLayer::builder()
            .jwt(validator.clone())
            .build()
            .expect("layer"),
    );
    let times = if validator.cache_stats().is_some() {
        2
    } else {
        1
    };
    let mut answers = Vec::new();
    for _ in 0..times {
        let request = Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|body| body["error"]["code"].as_str().map(str::to_owned));
        answers.push((status, code));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    answers.pop().expect("one answer")
}

/// A route that needs the typed claims `C`.
fn typed<C: serde::de::DeserializeOwned + Send + Sync + 'static>() -> Router {
    async fn read<C: serde::de::DeserializeOwned + Send + Sync + 'static>(
        _claims: Claims<C>,
    ) -> &'static str {
        "ok"
    }
    Router::new().route("/", get(read::<C>))
}

/// A route that needs an identity only.
fn plain() -> Router {
    async fn me(identity: Identity) -> String {
        identity.principal().to_owned()
    }
    Router::new().route("/", get(me))
}

/// HS256, audience `api`: with the token cache on and off.
fn options() -> [JwtOptions; 2] {
    let options = JwtOptions::new().audience("api");
    [
        options.clone(),
        options.token_cache(TokenCacheConfig::disabled()),
    ]
}

fn validator(options: JwtOptions) -> JwtValidator {
    JwtValidator::hs256(HS256_SECRET, options).expect("hs256")
}

/// Asserts the outcome of an HS256 token over exactly `payload`, for a validator without a claims
/// type and with each error-swallowing one: all must be `expected`.
async fn assert_outcome(payload: &str, expected: (StatusCode, Option<&str>)) {
    let token = hs256_raw_parts(br#"{"alg":"HS256","typ":"JWT"}"#, payload.as_bytes());
    let expected = (expected.0, expected.1.map(str::to_owned));
    for options in options() {
        let without = outcome(plain(), &validator(options.clone()), &token).await;
        assert_eq!(without, expected, "no claims type: {payload}");
        let fields = validator(options.clone().claims::<SwallowsFieldErrors>());
        let with_fields = outcome(typed::<SwallowsFieldErrors>(), &fields, &token).await;
        assert_eq!(with_fields, expected, "SwallowsFieldErrors: {payload}");
        let values = validator(options.claims::<SwallowsValueErrors>());
        let with_values = outcome(typed::<SwallowsValueErrors>(), &values, &token).await;
        assert_eq!(with_values, expected, "SwallowsValueErrors: {payload}");
    }
}

const INVALID: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("invalid_token"));
const OK: (StatusCode, Option<&str>) = (StatusCode::OK, None);

#[tokio::test]
async fn a_payload_that_is_not_json_is_invalid_token_even_when_the_claims_type_swallows_errors() {
    let exp = now() + 3600;
    // After the unreadable `{"x" ,` a type that swallows the error would go on reading the rest
    // as top-level claims: a good `aud`, `exp` and `sub`, and a closing brace.
    for payload in [
        format!(r#"{{"sub":"u","profile":{{"x" ,"aud":"api","exp":{exp}}}"#),
        format!(r#"{{"profile":{{"x" ,"aud":"api","exp":{exp},"sub":"u"}}"#),
        format!(r#"{{"sub":"u","aud":"api","exp":{exp},"profile":{{"x" ,"y":1}}}}"#),
        format!(r#"{{"sub":"u","aud":"api","exp":{exp},"profile":[1,,2]}}"#),
    ] {
        assert_outcome(&payload, INVALID).await;
    }
}

#[tokio::test]
async fn keys_inside_a_nested_object_are_never_read_as_registered_claims() {
    let exp = now() + 3600;
    let valid = format!(r#"{{"sub":"u","aud":"api","exp":{exp}}}"#);
    assert_outcome(&valid, OK).await;
    // A nested audience and an expired nested `exp`, before or after the real ones: still valid.
    for payload in [
        format!(r#"{{"sub":"u","aud":"api","exp":{exp},"profile":{{"aud":"other","exp":1}}}}"#),
        format!(
            r#"{{"profile":{{"aud":"other","exp":1,"sub":""}},"sub":"u","aud":"api","exp":{exp}}}"#
        ),
    ] {
        assert_outcome(&payload, OK).await;
    }
    // The other way round: claims found only inside the nested object are not there at all.
    for payload in [
        format!(r#"{{"sub":"u","profile":{{"aud":"api","exp":{exp}}}}}"#),
        format!(r#"{{"sub":"u","exp":{exp},"profile":{{"aud":"api"}}}}"#),
        format!(r#"{{"aud":"api","exp":{exp},"profile":{{"sub":"u"}}}}"#),
    ] {
        assert_outcome(&payload, INVALID).await;
    }
    // An expired token stays expired whatever the nested object says.
    let expired = format!(r#"{{"sub":"u","aud":"api","exp":1,"profile":{{"exp":{exp}}}}}"#);
    assert_outcome(&expired, (StatusCode::UNAUTHORIZED, Some("token_expired"))).await;
}

/// `Claims<C>` behind an identity built by hand (a custom authenticator) as a JWT: the claims set
/// with `IdentityBuilder::claims` are handed out; without them the server is at fault (500), the
/// one case left where `Claims<C>` cannot be answered from a verified token.
#[tokio::test]
async fn a_hand_built_identity_answers_only_with_the_claims_it_was_given() {
    use tower_api_auth::AuthMethod;

    #[derive(Deserialize)]
    struct Org {
        org: String,
    }
    async fn org(claims: Claims<Org>) -> String {
        claims.org.clone()
    }
    let app = Router::new().route("/", get(org));
    let send = |identity: Identity| {
        let app = app.clone();
        async move {
            let mut request = Request::get("/").body(Body::empty()).expect("request");
            request.extensions_mut().insert(identity);
            app.oneshot(request).await.expect("infallible")
        }
    };
    let with = Identity::builder("u", AuthMethod::Jwt)
        .claims(Org { org: "acme".into() })
        .build();
    let response = send(with).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"acme");
    let without = Identity::builder("u", AuthMethod::Jwt).build();
    assert_eq!(
        send(without).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
