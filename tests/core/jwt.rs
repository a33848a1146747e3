//! Bearer JWTs over real HTTP: every algorithm, JWK sets, and every way a token can be refused.
#![cfg(feature = "axum")]
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{
    AuthLayer, Claims, Identity, JwtValidator, RequireScopesLayer, Tenant, jwt::JwtKey,
    jwt::JwtKeySet,
};

use common::jwt::{
    claims, encoding_key, hmac_secret, hs256, hs256_raw_parts, sign, sign_with, with,
};
use common::{
    HS256_SECRET, PAST, PAST_RFC3339, Server, forge, now, pem, serve_jwt, with_test_token_cache,
};

#[derive(Debug, Deserialize)]
struct OrgClaims {
    sub: String,
    org: String,
}

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

async fn org(claims: Claims<OrgClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.sub, "org": claims.org }))
}

async fn tenant(tenant: Tenant) -> String {
    tenant.to_string()
}

fn router(auth: AuthLayer) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/org", get(org))
        .route("/tenant", get(tenant))
        .route(
            "/read",
            get(me).route_layer(RequireScopesLayer::all(["conversations:read"])),
        )
        .layer(auth)
}

/// Serves the test routes with `validator`, on the token-cache path the environment picks (see
/// `common::TOKEN_CACHE_VAR`): every test below runs with the cache on and off.
async fn server(validator: JwtValidator) -> Server {
    let validator = with_test_token_cache(validator);
    let auth = AuthLayer::builder().jwt(validator.clone()).build().unwrap();
    serve_jwt(router(auth), Some(validator)).await
}

fn hs256_validator() -> JwtValidator {
    hs256_with(JwtOptions::new())
}

fn hs256_with(options: JwtOptions) -> JwtValidator {
    JwtValidator::hs256(HS256_SECRET, options).expect("hs256 key")
}

async fn hs256_server() -> Server {
    server(hs256_validator()).await
}

/// Sends `token` to `/me` of `server` and expects a 401 `invalid_token`.
async fn assert_invalid_token(server: &Server, token: &str) {
    let reply = server.get("/me").bearer(token).send().await;
    reply.assert_error(401, "invalid_token");
    reply.assert_bearer_error("invalid_token");
    common::assert_no_leak(&reply, token);
}

// ---------------------------------------------------------------------------------------------
// Algorithms and keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_signed_token_with_a_character_no_b64token_has_is_a_malformed_request() {
    let server = hs256_server().await;
    let token = hs256(&claims("syntax_user"));
    let (header_end, signature_start) = (token.find('.').unwrap(), token.rfind('.').unwrap());
    // One bad character in the header, the payload and the signature, and padding mid-token.
    for (i, bad) in [
        (1, '!'),
        (header_end + 3, '%'),
        (signature_start + 2, ','),
        (header_end + 3, '='),
    ] {
        let mut changed = token.clone();
        changed.replace_range(i..=i, &bad.to_string());
        let reply = server.get("/me").bearer(&changed).send().await;
        reply.assert_error(400, "invalid_request");
        reply.assert_bearer_error("invalid_request");
    }
    // Trailing padding is b64token syntax: a well-formed request with an invalid token.
    assert_invalid_token(&server, &format!("{token}==")).await;
    let reply = server.get("/me").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn every_algorithm_accepts_a_good_token() {
    let rsa = pem("rsa_public");
    let cases: Vec<(Algorithm, JwtValidator)> = vec![
        (Algorithm::HS256, hs256_validator()),
        (
            Algorithm::HS384,
            JwtValidator::hs384(hmac_secret(48), JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::HS512,
            JwtValidator::hs512(hmac_secret(64), JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::RS256,
            JwtValidator::public_pem(Algorithm::RS256, &rsa, JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::RS384,
            JwtValidator::public_pem(Algorithm::RS384, &rsa, JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::RS512,
            JwtValidator::public_pem(Algorithm::RS512, &rsa, JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::PS256,
            JwtValidator::public_pem(Algorithm::PS256, &rsa, JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::PS384,
            JwtValidator::public_pem(Algorithm::PS384, &rsa, JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::PS512,
            JwtValidator::public_pem(Algorithm::PS512, &rsa, JwtOptions::new()).unwrap(),
        ),
        (
            Algorithm::ES256,
            JwtValidator::public_pem(Algorithm::ES256, pem("ec256_public"), JwtOptions::new())
                .unwrap(),
        ),
        (
            Algorithm::ES384,
            JwtValidator::public_pem(Algorithm::ES384, pem("ec384_public"), JwtOptions::new())
                .unwrap(),
        ),
        (
            Algorithm::EdDSA,
            JwtValidator::public_pem(Algorithm::EdDSA, pem("ed25519_public"), JwtOptions::new())
                .unwrap(),
        ),
    ];
    for (alg, validator) in cases {
        let server = server(validator).await;
        let sub = format!("user_{alg:?}");
        let token = sign_with(alg, &claims(&sub));
        let reply = server.get("/me").bearer(&token).send().await;
        assert_eq!(reply.status, 200, "{alg:?}: {}", reply.text);
        assert_eq!(reply.json()["principal"], sub.as_str(), "{alg:?}");
        assert_eq!(reply.json()["method"], "jwt", "{alg:?}");
    }
}

#[tokio::test]
async fn hmac_secrets_shorter_than_the_hash_are_refused() {
    assert!(JwtValidator::hs256(hmac_secret(31), JwtOptions::new()).is_err());
    assert!(JwtValidator::hs384(hmac_secret(47), JwtOptions::new()).is_err());
    assert!(JwtValidator::hs512(hmac_secret(63), JwtOptions::new()).is_err());
    assert!(JwtKey::hmac(Algorithm::RS256, &hmac_secret(64)).is_err());
}

fn jwk(alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(alg), alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).expect("jwk json")
}

fn with_kid(alg: Algorithm, kid: &str) -> Header {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header
}

#[tokio::test]
async fn a_jwk_set_selects_the_key_by_kid() {
    let jwks = json!({ "keys": [
        jwk(Algorithm::RS256, "rsa-2026"),
        jwk(Algorithm::ES256, "ec-2026"),
        jwk(Algorithm::EdDSA, "ed-2026"),
        jwk(Algorithm::HS256, "hmac-2026"),
    ]});
    // The JwkSet type of jsonwebtoken reads our document back: it is a real JWK set.
    let parsed: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    assert_eq!(parsed.keys.len(), 4);
    let server =
        server(JwtValidator::jwks(&jwks.to_string(), JwtOptions::new()).expect("jwks")).await;

    for (alg, kid) in [
        (Algorithm::RS256, "rsa-2026"),
        (Algorithm::ES256, "ec-2026"),
        (Algorithm::EdDSA, "ed-2026"),
        (Algorithm::HS256, "hmac-2026"),
    ] {
        let token = sign(&with_kid(alg, kid), &claims("u"), &encoding_key(alg));
        let reply = server.get("/me").bearer(&token).send().await;
        assert_eq!(reply.status, 200, "{kid}: {}", reply.text);
    }

    // A kid that is not in the set.
    let unknown = sign(
        &with_kid(Algorithm::RS256, "rsa-2025"),
        &claims("u"),
        &encoding_key(Algorithm::RS256),
    );
    assert_invalid_token(&server, &unknown).await;
    // The right kid with another key's algorithm: the key is bound to its algorithm.
    let confused = sign(
        &with_kid(Algorithm::ES256, "rsa-2026"),
        &claims("u"),
        &encoding_key(Algorithm::ES256),
    );
    assert_invalid_token(&server, &confused).await;
    // With several keys, a token without kid has no key of its own.
    let anonymous = sign_with(Algorithm::RS256, &claims("u"));
    assert_invalid_token(&server, &anonymous).await;
}

#[tokio::test]
async fn two_hmac_keys_with_different_kids() {
    let a = JwtKey::hmac(Algorithm::HS256, HS256_SECRET)
        .unwrap()
        .with_kid("a");
    let b_secret = hmac_secret(40);
    let b = JwtKey::hmac(Algorithm::HS256, &b_secret)
        .unwrap()
        .with_kid("b");
    let mut keys = JwtKeySet::new();
    keys.insert(a).unwrap();
    keys.insert(b).unwrap();
    assert_eq!(keys.len(), 2);
    // A kid appears once.
    assert!(
        keys.insert(
            JwtKey::hmac(Algorithm::HS256, HS256_SECRET)
                .unwrap()
                .with_kid("a")
        )
        .is_err()
    );
    let server = server(JwtValidator::new(keys, JwtOptions::new())).await;

    let by_a = sign(
        &with_kid(Algorithm::HS256, "a"),
        &claims("alice"),
        &EncodingKey::from_secret(HS256_SECRET),
    );
    let by_b = sign(
        &with_kid(Algorithm::HS256, "b"),
        &claims("bob"),
        &EncodingKey::from_secret(&b_secret),
    );
    let reply = server.get("/me").bearer(&by_a).send().await;
    assert_eq!(
        (reply.status, reply.json()["principal"].clone()),
        (200, json!("alice"))
    );
    let reply = server.get("/me").bearer(&by_b).send().await;
    assert_eq!(
        (reply.status, reply.json()["principal"].clone()),
        (200, json!("bob"))
    );

    // b's token claiming to be signed by a.
    let swapped = sign(
        &with_kid(Algorithm::HS256, "a"),
        &claims("mallory"),
        &EncodingKey::from_secret(&b_secret),
    );
    assert_invalid_token(&server, &swapped).await;
}

#[tokio::test]
async fn jwks_oct_keys_without_alg_are_refused() {
    let jwks = json!({ "keys": [{ "kty": "oct", "kid": "x", "k": common::b64(HS256_SECRET) }] });
    assert!(JwtValidator::jwks(&jwks.to_string(), JwtOptions::new()).is_err());
}

// ---------------------------------------------------------------------------------------------
// invalid_token
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bad_signature_is_invalid_token() {
    let server = hs256_server().await;
    let other = sign(
        &Header::new(Algorithm::HS256),
        &claims("u"),
        &EncodingKey::from_secret(&hmac_secret(32)),
    );
    assert_invalid_token(&server, &other).await;
    // A valid token with its signature cut off and replaced.
    let good = hs256(&claims("u"));
    let (message, _) = good.rsplit_once('.').unwrap();
    assert_invalid_token(&server, &format!("{message}.AAAA")).await;
    assert_invalid_token(&server, &format!("{message}.")).await;
}

#[tokio::test]
async fn alg_none_is_invalid_token() {
    let server = hs256_server().await;
    for alg in ["none", "None", "NONE"] {
        let token = forge(&json!({ "alg": alg, "typ": "JWT" }), &claims("u"), "");
        assert_invalid_token(&server, &token).await;
        let token = forge(&json!({ "alg": alg }), &claims("u"), "c2ln");
        assert_invalid_token(&server, &token).await;
    }
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rsa_public_key_is_refused() {
    // The classic algorithm confusion: the verifier's public key used as an HMAC secret.
    let public = pem("rsa_public");
    let server =
        server(JwtValidator::public_pem(Algorithm::RS256, &public, JwtOptions::new()).unwrap())
            .await;
    let token = sign(
        &Header::new(Algorithm::HS256),
        &claims("attacker"),
        &EncodingKey::from_secret(&public),
    );
    assert_invalid_token(&server, &token).await;
    // And a PS256 token for an RS256 key: same key material, other algorithm.
    let ps = sign_with(Algorithm::PS256, &claims("u"));
    assert_invalid_token(&server, &ps).await;
    // The RS256 token itself passes.
    let rs = sign_with(Algorithm::RS256, &claims("u"));
    assert_eq!(server.get("/me").bearer(&rs).send().await.status, 200);
}

#[tokio::test]
async fn a_crit_header_is_invalid_token() {
    let server = hs256_server().await;
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["exp".to_owned()]);
    let token = sign(&header, &claims("u"), &encoding_key(Algorithm::HS256));
    assert_invalid_token(&server, &token).await;
}

#[tokio::test]
async fn a_correctly_signed_header_that_is_not_utf8_is_invalid_token() {
    // RFC 7515 §4: the header is UTF-8 JSON. The bad byte sits in the string of a field no one
    // reads, which a JSON parser skips without looking at its bytes.
    let server = hs256_server().await;
    let payload = claims("u").to_string();
    let header =
        |note: &[u8]| [&br#"{"alg":"HS256","typ":"JWT","note":""#[..], note, b"\"}"].concat();
    for bad in [&b"\xff"[..], b"\xc3", b"\xed\xa0\x80", b"a\xc0\xafb"] {
        let token = hs256_raw_parts(&header(bad), payload.as_bytes());
        let reply = server.get("/me").bearer(&token).send().await;
        let error = reply.assert_error(401, "invalid_token");
        reply.assert_bearer_error("invalid_token");
        assert_eq!(error["message"], "The token header is not valid UTF-8");
        common::assert_no_leak(&reply, &token);
    }
    // The same header with valid UTF-8 there is accepted.
    let token = hs256_raw_parts(&header("caf\u{e9}".as_bytes()), payload.as_bytes());
    let reply = server.get("/me").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn jwe_like_and_garbage_tokens_are_invalid_token() {
    let server = hs256_server().await;
    for token in [
        "garbage",
        "a.b",
        "a.b.c.d.e",
        "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
        "e30.e30.e30",
        "not-base64!.e30.e30",
    ] {
        // `!` cannot be in a Bearer token: that one is a malformed request instead.
        let reply = server.get("/me").bearer(token).send().await;
        if token.contains('!') {
            reply.assert_error(400, "invalid_request");
            reply.assert_bearer_error("invalid_request");
        } else {
            reply.assert_error(401, "invalid_token");
            reply.assert_bearer_error("invalid_token");
        }
    }
    // A header with `enc` (a JWE header) even when correctly signed.
    let header = json!({ "alg": "HS256", "enc": "A256GCM" });
    let token = forge(&header, &claims("u"), "c2ln");
    assert_invalid_token(&server, &token).await;
}

#[tokio::test]
async fn missing_exp_or_sub_is_invalid_token() {
    let server = hs256_server().await;
    let no_exp = hs256(&with(claims("u"), json!({ "exp": null })));
    assert_invalid_token(&server, &no_exp).await;
    let no_sub = hs256(&with(claims("u"), json!({ "sub": null })));
    assert_invalid_token(&server, &no_sub).await;
    let empty_sub = hs256(&with(claims("u"), json!({ "sub": "" })));
    assert_invalid_token(&server, &empty_sub).await;
    let text_exp = hs256(&with(claims("u"), json!({ "exp": "tomorrow" })));
    assert_invalid_token(&server, &text_exp).await;
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    let server = server(hs256_with(
        JwtOptions::new()
            .issuer("https://auth.example.test")
            .audience("api")
            .audience("admin-api"),
    ))
    .await;
    let good = with(
        claims("u"),
        json!({ "iss": "https://auth.example.test", "aud": ["other", "admin-api"] }),
    );
    let reply = server.get("/me").bearer(&hs256(&good)).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let single = with(good.clone(), json!({ "aud": "api" }));
    assert_eq!(
        server
            .get("/me")
            .bearer(&hs256(&single))
            .send()
            .await
            .status,
        200
    );

    for bad in [
        json!({ "iss": "https://evil.example.test" }),
        json!({ "iss": null }),
        json!({ "aud": "other" }),
        json!({ "aud": ["other", "more"] }),
        json!({ "aud": null }),
    ] {
        let token = hs256(&with(good.clone(), bad.clone()));
        let reply = server.get("/me").bearer(&token).send().await;
        reply.assert_error(401, "invalid_token");
        reply.assert_bearer_error("invalid_token");
    }
}

#[tokio::test]
async fn an_audience_without_a_configured_one_is_invalid_token() {
    let server = hs256_server().await;
    let token = hs256(&with(claims("u"), json!({ "aud": "api" })));
    assert_invalid_token(&server, &token).await;
}

#[tokio::test]
async fn a_required_typ_is_checked() {
    let server = server(hs256_with(JwtOptions::new().require_typ("at+jwt"))).await;
    // jsonwebtoken's default header says typ JWT: refused each time, though the verifier
    // remembers headers it has seen on tokens whose signature verified.
    for sub in ["u", "v"] {
        assert_invalid_token(&server, &hs256(&claims(sub))).await;
    }
    let mut no_typ = Header::new(Algorithm::HS256);
    no_typ.typ = None;
    let token = sign(&no_typ, &claims("u"), &encoding_key(Algorithm::HS256));
    assert_invalid_token(&server, &token).await;
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        // A second token with the same header is accepted too.
        for sub in ["u", "v"] {
            let token = sign(&header, &claims(sub), &encoding_key(Algorithm::HS256));
            let reply = server.get("/me").bearer(&token).send().await;
            assert_eq!(reply.status, 200, "{typ} {sub}: {}", reply.text);
        }
    }
}

/// A header the verifier has seen on a token that verified (and so does not parse again) vouches
/// for nothing else: a token of the same header and a forged signature is refused, and so is one
/// signed with its key once the key is gone, though the header is still remembered.
#[tokio::test]
async fn a_header_seen_on_a_good_token_vouches_for_no_other() {
    let secret = hmac_secret(40);
    let key = || {
        JwtKey::hmac(Algorithm::HS256, &secret)
            .unwrap()
            .with_kid("k1")
    };
    let validator = JwtValidator::new(
        JwtKeySet::from(key()),
        JwtOptions::new().token_cache(tower_api_auth::jwt::TokenCacheConfig::disabled()),
    );
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let signed = |sub: &str| sign(&header, &claims(sub), &EncodingKey::from_secret(&secret));
    let now = now();
    for sub in ["first", "second"] {
        assert_eq!(
            validator.validate(&signed(sub), now).unwrap().principal(),
            sub
        );
    }
    // The remembered header's exact bytes, another payload, a signature of the first.
    let third = signed("third");
    let (head, rest) = third.split_once('.').unwrap();
    let signature = rest.rsplit_once('.').unwrap().1;
    let payload = common::b64(json!({ "sub": "admin", "exp": now + 600 }).to_string());
    let forged = format!("{head}.{payload}.{signature}");
    assert_eq!(
        validator.validate(&forged, now).unwrap_err().code(),
        "invalid_token"
    );
    let other_secret = hmac_secret(48);
    let other = sign(
        &header,
        &claims("other"),
        &EncodingKey::from_secret(&other_secret),
    );
    assert_eq!(
        validator.validate(&other, now).unwrap_err().code(),
        "invalid_token"
    );

    validator.key_handle().replace(JwtKeySet::new());
    assert_eq!(
        validator
            .validate(&signed("fourth"), now)
            .unwrap_err()
            .code(),
        "invalid_token"
    );
    validator.key_handle().replace(JwtKeySet::from(key()));
    assert!(validator.validate(&signed("fifth"), now).is_ok());
}

#[tokio::test]
async fn a_lifetime_over_max_lifetime_is_invalid_token() {
    let server = server(hs256_with(
        JwtOptions::new().max_lifetime(Duration::from_secs(600)),
    ))
    .await;
    let now = now();
    let long = hs256(&json!({ "sub": "u", "iat": now, "exp": now + 3600 }));
    assert_invalid_token(&server, &long).await;
    let no_iat = hs256(&json!({ "sub": "u", "exp": now + 300 }));
    assert_invalid_token(&server, &no_iat).await;
    let short = hs256(&json!({ "sub": "u", "iat": now, "exp": now + 300 }));
    assert_eq!(server.get("/me").bearer(&short).send().await.status, 200);
}

#[tokio::test]
async fn claims_of_the_wrong_shape_are_invalid_token() {
    let server = server(hs256_with(JwtOptions::new().claims::<OrgClaims>())).await;
    // No `org`: does not deserialize into OrgClaims.
    assert_invalid_token(&server, &hs256(&claims("u"))).await;
    let reply = server.get("/me").bearer(&hs256(&claims("u"))).send().await;
    let error = reply.assert_error(401, "invalid_token");
    assert_eq!(
        error["message"],
        "The token's claims do not have the expected shape"
    );
    let good = hs256(&with(claims("u"), json!({ "org": "acme" })));
    assert_eq!(server.get("/me").bearer(&good).send().await.status, 200);
    // The registered claims are judged first, as without typed claims: an expired token of the
    // wrong shape is expired, and a malformed registered claim is malformed.
    let expired = hs256(&with(claims("u"), json!({ "exp": PAST })));
    server
        .get("/me")
        .bearer(&expired)
        .send()
        .await
        .assert_error(401, "token_expired");
    let malformed = hs256(&with(claims("u"), json!({ "org": "acme", "exp": "soon" })));
    let reply = server.get("/me").bearer(&malformed).send().await;
    let error = reply.assert_error(401, "invalid_token");
    assert_eq!(error["message"], "The token's claims are malformed");
}

/// An HS256 token (the default test key) over `payload` exactly as written: duplicate keys,
/// trailing bytes and all.
fn hs256_raw(payload: &[u8]) -> String {
    hs256_raw_parts(br#"{"alg":"HS256","typ":"JWT"}"#, payload)
}

/// A claims type that keeps what it can read and skips the rest, errors included.
struct Lenient;

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Lenient;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Lenient, A::Error> {
                while map.next_key::<String>()?.is_some() {
                    let _ = map.next_value::<Value>();
                }
                Ok(Lenient)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[tokio::test]
async fn signed_claims_that_are_not_one_valid_json_object_are_malformed_whatever_the_claims_type() {
    let plain = hs256_server().await;
    let typed = server(hs256_with(JwtOptions::new().claims::<Lenient>())).await;
    let exp = now() + 3600;
    let payloads = [
        // Two values for one claim, or a claim of the wrong type, even for a type that skips them.
        format!(r#"{{"sub":"u","exp":{exp},"exp":1}}"#).into_bytes(),
        format!(r#"{{"sub":"u","exp":{exp},"nbf":"later"}}"#).into_bytes(),
        format!(r#"{{"sub":"u","exp":{exp},"aud":5}}"#).into_bytes(),
        format!(r#"{{"sub":"u","exp":{exp},"nbf":{exp},"nbf":1}}"#).into_bytes(),
        // RFC 7519 §7.2: the claims set must be a completely valid JSON object, in UTF-8.
        format!(r#"{{"sub":"u","exp":{exp}}} x"#).into_bytes(),
        [
            &br#"{"sub":"u","note":""#[..],
            b"\xff",
            format!(r#"","exp":{exp}}}"#).as_bytes(),
        ]
        .concat(),
    ];
    for payload in payloads {
        let token = hs256_raw(&payload);
        for server in [&plain, &typed] {
            let reply = server.get("/me").bearer(&token).send().await;
            let error = reply.assert_error(401, "invalid_token");
            assert_eq!(
                error["message"],
                "The token's claims are malformed",
                "{}",
                String::from_utf8_lossy(&payload)
            );
        }
    }
    let good = hs256_raw(format!(r#"{{"sub":"u","exp":{exp}}}"#).as_bytes());
    for server in [&plain, &typed] {
        assert_eq!(server.get("/me").bearer(&good).send().await.status, 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_expired_token_is_token_expired_with_expired_at() {
    let server = hs256_server().await;
    let token = hs256(&json!({ "sub": "u", "iat": PAST - 600, "exp": PAST }));
    let reply = server.get("/me").bearer(&token).send().await;
    let error = reply.assert_error(401, "token_expired");
    assert_eq!(error["message"], "The access token has expired");
    assert_eq!(error["details"]["expired_at"], PAST_RFC3339);
    reply.assert_challenge(Some(
        r#"Bearer error="invalid_token", error_description="The access token has expired""#,
    ));
    common::assert_no_leak(&reply, &token);
}

#[tokio::test]
async fn a_forged_expired_token_is_invalid_token_not_token_expired() {
    // An expired token with a bad signature must not reveal anything about its claims.
    let server = hs256_server().await;
    let forged = sign(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "u", "exp": PAST }),
        &EncodingKey::from_secret(&hmac_secret(32)),
    );
    let reply = server.get("/me").bearer(&forged).send().await;
    let error = reply.assert_error(401, "invalid_token");
    assert!(error.get("details").is_none(), "{error}");
}

#[tokio::test]
async fn leeway_is_honoured() {
    let server = hs256_server().await;
    let now = now();
    // Expired 30 s ago: within the default 60 s leeway.
    let recent = hs256(&json!({ "sub": "u", "iat": now - 600, "exp": now - 30 }));
    assert_eq!(server.get("/me").bearer(&recent).send().await.status, 200);
    // Expired 120 s ago: beyond it.
    let old = hs256(&json!({ "sub": "u", "iat": now - 600, "exp": now - 120 }));
    server
        .get("/me")
        .bearer(&old)
        .send()
        .await
        .assert_error(401, "token_expired");
    // nbf 30 s ahead: within leeway.
    let soon = hs256(&json!({ "sub": "u", "nbf": now + 30, "exp": now + 600 }));
    assert_eq!(server.get("/me").bearer(&soon).send().await.status, 200);

    // A validator with no leeway refuses the token that expired 30 s ago.
    let strict = server_with_leeway(0).await;
    strict
        .get("/me")
        .bearer(&recent)
        .send()
        .await
        .assert_error(401, "token_expired");
}

async fn server_with_leeway(secs: u64) -> Server {
    server(hs256_with(
        JwtOptions::new().leeway(Duration::from_secs(secs)),
    ))
    .await
}

#[tokio::test]
async fn a_token_not_yet_valid_is_token_not_yet_valid() {
    let server = hs256_server().await;
    let now = now();
    let nbf = now + 3600;
    let token = hs256(&json!({ "sub": "u", "nbf": nbf, "exp": now + 7200 }));
    let reply = server.get("/me").bearer(&token).send().await;
    let error = reply.assert_error(401, "token_not_yet_valid");
    assert!(
        error["details"]["not_before"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.len() == 20),
        "{error}"
    );
    reply.assert_bearer_error("invalid_token");

    // Issued in the future.
    let token = hs256(&json!({ "sub": "u", "iat": now + 3600, "exp": now + 7200 }));
    let reply = server.get("/me").bearer(&token).send().await;
    reply.assert_error(401, "token_not_yet_valid");
    reply.assert_bearer_error("invalid_token");
}

// ---------------------------------------------------------------------------------------------
// Identity, claims, tenants, scopes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn me_returns_the_identity() {
    let server = hs256_server().await;
    let exp = now() + 3600;
    let token = hs256(&json!({
        "sub": "user_42", "exp": exp, "iat": now(),
        "scope": "conversations:read messages:write",
        "tenant_id": "tn_acme",
        "jti": "t-1", "sid": "s-1",
    }));
    let reply = server.get("/me").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({
            "principal": "user_42",
            "method": "jwt",
            "tenant": "tn_acme",
            "scopes": ["conversations:read", "messages:write"],
            "expires_at": exp,
        })
    );
}

#[tokio::test]
async fn typed_claims_are_extracted() {
    let server = server(hs256_with(JwtOptions::new().claims::<OrgClaims>())).await;
    let token = hs256(&with(claims("user_1"), json!({ "org": "acme" })));
    let reply = server.get("/org").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!({ "sub": "user_1", "org": "acme" }));
}

/// `Claims<C>` on a validator never told of `C`: read from the verified token, on the cached path
/// too (the server runs with the token cache on and off). A verified token whose claims do not
/// fit `C` is the token's fault (401), and only on the routes that ask for `C`.
#[tokio::test]
async fn claims_need_no_registration_with_the_validator() {
    let server = hs256_server().await;
    let token = hs256(&with(claims("user_1"), json!({ "org": "acme" })));
    for _ in 0..2 {
        let reply = server.get("/org").bearer(&token).send().await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json(), json!({ "sub": "user_1", "org": "acme" }));
    }
    let no_org = hs256(&claims("user_1"));
    for _ in 0..2 {
        let reply = server.get("/org").bearer(&no_org).send().await;
        let error = reply.assert_error(401, "invalid_token");
        assert_eq!(
            error["message"],
            "The token's claims do not have the expected shape"
        );
        reply.assert_bearer_error("invalid_token");
        assert_eq!(server.get("/me").bearer(&no_org).send().await.status, 200);
    }
}

/// A validator told of one claims type still reads another for a handler that asks for it.
#[tokio::test]
async fn claims_of_another_type_than_the_validators_are_read_too() {
    #[derive(Deserialize)]
    struct Sub {
        sub: String,
    }
    async fn sub(claims: Claims<Sub>) -> String {
        claims.sub.clone()
    }
    let validator = with_test_token_cache(hs256_with(JwtOptions::new().claims::<OrgClaims>()));
    let auth = AuthLayer::builder().jwt(validator.clone()).build().unwrap();
    let app = router(auth.clone()).merge(Router::new().route("/sub", get(sub)).layer(auth));
    let server = serve_jwt(app, Some(validator)).await;
    let token = hs256(&with(claims("user_1"), json!({ "org": "acme" })));
    let reply = server.get("/sub").bearer(&token).send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "user_1"));
    let reply = server.get("/org").bearer(&token).send().await;
    assert_eq!(reply.json(), json!({ "sub": "user_1", "org": "acme" }));
}

#[tokio::test]
async fn a_tenant_claim_string_is_the_tenant() {
    let server = hs256_server().await;
    let token = hs256(&with(claims("u"), json!({ "tenant_id": "tn_a" })));
    // Without a header, the single tenant is used.
    let reply = server.get("/tenant").bearer(&token).send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_a"));
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_a"));
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_b")
        .send()
        .await;
    reply.assert_error(403, "tenant_forbidden");
    reply.assert_bearer_error("insufficient_scope");
}

#[tokio::test]
async fn a_tenant_claim_array_needs_the_header_to_pick_one() {
    let server = hs256_server().await;
    let token = hs256(&with(claims("u"), json!({ "tenant_id": ["tn_a", "tn_b"] })));
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_b")
        .send()
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_b"));
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_c")
        .send()
        .await;
    reply.assert_error(403, "tenant_forbidden");
    // No header and several tenants: refused by the layer, on every route, as an API key of
    // several tenants is (one rule for both).
    for path in ["/tenant", "/me"] {
        let reply = server.get(path).bearer(&token).send().await;
        reply.assert_error(400, "tenant_required");
        reply.assert_bearer_error("invalid_request");
    }
    // A token with no tenant claim: no tenant, and none may be named.
    let tenantless = hs256(&claims("u"));
    let reply = server.get("/me").bearer(&tenantless).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["tenant"], Value::Null);
    let reply = server
        .get("/me")
        .bearer(&tenantless)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    reply.assert_error(403, "tenant_forbidden");
    let reply = server.get("/tenant").bearer(&tenantless).send().await;
    reply.assert_error(403, "tenant_forbidden");
}

#[tokio::test]
async fn the_always_rule_holds_for_jwts_too() {
    use tower_api_auth::tenant::{TenantHeader, TenantRules};
    let validator = with_test_token_cache(hs256_validator());
    let rules = TenantRules {
        header: TenantHeader::Always,
        ..TenantRules::default()
    };
    let auth = AuthLayer::builder()
        .jwt(validator.clone())
        .tenant_rules(rules)
        .build()
        .unwrap();
    let server = serve_jwt(router(auth), Some(validator)).await;
    let one = hs256(&with(claims("u"), json!({ "tenant_id": "tn_a" })));
    server
        .get("/me")
        .bearer(&one)
        .send()
        .await
        .assert_error(400, "tenant_required");
    let reply = server
        .get("/tenant")
        .bearer(&one)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_a"));
    let reply = server.get("/me").bearer(&hs256(&claims("u"))).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn the_tenant_claim_is_configurable() {
    let server = server(hs256_with(JwtOptions::new().tenant_claim("org_ids"))).await;
    let token = hs256(&with(
        claims("u"),
        json!({ "org_ids": ["tn_x"], "tenant_id": "tn_ignored" }),
    ));
    let reply = server.get("/tenant").bearer(&token).send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_x"));
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_ignored")
        .send()
        .await;
    reply.assert_error(403, "tenant_forbidden");
}

#[tokio::test]
async fn a_malformed_tenant_claim_is_invalid_token() {
    let server = hs256_server().await;
    let token = hs256(&with(claims("u"), json!({ "tenant_id": "tn a/b" })));
    assert_invalid_token(&server, &token).await;
}

#[tokio::test]
async fn scopes_come_from_scope_or_scp() {
    let server = hs256_server().await;
    for extra in [
        json!({ "scope": "conversations:read other" }),
        json!({ "scp": ["other", "conversations:read"] }),
    ] {
        let token = hs256(&with(claims("u"), extra.clone()));
        let reply = server.get("/read").bearer(&token).send().await;
        assert_eq!(reply.status, 200, "{extra}: {}", reply.text);
        assert!(
            reply.json()["scopes"]
                .as_array()
                .unwrap()
                .contains(&json!("conversations:read"))
        );
    }
    let token = hs256(&with(claims("u"), json!({ "scope": "other" })));
    let reply = server.get("/read").bearer(&token).send().await;
    let error = reply.assert_error(403, "insufficient_scope");
    assert_eq!(error["details"]["required_scopes"], "conversations:read");
    reply.assert_challenge(Some(
        r#"Bearer error="insufficient_scope", error_description="The credential lacks a required scope", scope="conversations:read""#,
    ));
}

#[tokio::test]
async fn a_configured_scope_claim_is_read_instead() {
    let server = server(hs256_with(JwtOptions::new().scope_claim("permissions"))).await;
    let token = hs256(&with(
        claims("u"),
        json!({ "permissions": ["conversations:read"], "scope": "ignored" }),
    ));
    let reply = server.get("/read").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["scopes"], json!(["conversations:read"]));
    // `scope` is no longer read.
    let token = hs256(&with(claims("u"), json!({ "scope": "conversations:read" })));
    server
        .get("/read")
        .bearer(&token)
        .send()
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn an_expired_token_on_a_scoped_route_is_401_not_403() {
    let server = hs256_server().await;
    let token = hs256(&json!({ "sub": "u", "exp": PAST, "scope": "other" }));
    let reply = server.get("/read").bearer(&token).send().await;
    reply.assert_error(401, "token_expired");
    reply.assert_bearer_error("invalid_token");
}

#[tokio::test]
async fn a_jwt_on_a_service_without_jwts_is_invalid_token() {
    let (_, record) = common::api_key("");
    let auth = AuthLayer::builder()
        .api_keys(tower_api_auth::MemoryKeyStore::from(vec![record]))
        .build()
        .unwrap();
    let server = serve_jwt(router(auth), None).await;
    assert_invalid_token(&server, &hs256(&claims("u"))).await;
}

#[test]
fn debug_of_a_validator_shows_no_secret() {
    let secret = "a-very-recognisable-secret-0123456789";
    let validator = JwtValidator::hs256(secret, JwtOptions::new().issuer("iss")).unwrap();
    let debug = format!("{validator:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("iss"), "{debug}");
    let key = JwtKey::hmac(Algorithm::HS256, secret.as_bytes()).unwrap();
    assert!(!format!("{key:?}").contains(secret));
}

/// The ids a handler keys per-client and per-key rules on: a JWT's `client_id` (RFC 9068) and
/// `api_key_id` claims reach the identity, on the cached path too; tokens without them have none.
#[tokio::test]
async fn client_and_api_key_ids_reach_the_identity() {
    async fn ids(identity: Identity) -> Json<Value> {
        Json(json!({ "client": identity.client_id(), "key": identity.api_key_id() }))
    }
    let validator = with_test_token_cache(hs256_validator());
    let auth = AuthLayer::builder().jwt(validator).build().unwrap();
    let server = common::serve(Router::new().route("/ids", get(ids)).layer(auth)).await;
    let exchanged = hs256(&with(
        claims("svc_reporting"),
        json!({ "client_id": "client_billing", "api_key_id": "k1ABCDEFGHIJ" }),
    ));
    for _ in 0..2 {
        let reply = server.get("/ids").bearer(&exchanged).send().await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.json(),
            json!({ "client": "client_billing", "key": "k1ABCDEFGHIJ" })
        );
    }
    let plain = hs256(&claims("user_42"));
    let reply = server.get("/ids").bearer(&plain).send().await;
    assert_eq!(reply.json(), json!({ "client": null, "key": null }));
    // Claims that are not strings are malformed, as any registered claim would be.
    let mistyped = hs256(&with(claims("user_42"), json!({ "api_key_id": 7 })));
    server
        .get("/ids")
        .bearer(&mistyped)
        .send()
        .await
        .assert_error(401, "invalid_token");
}
