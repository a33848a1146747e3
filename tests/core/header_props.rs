//! Property tests of header parsing: whatever bytes arrive in `Authorization`, `X-API-Key`,
//! `X-Tenant-ID` or `Cookie`, the layer answers (never panics) with 400, 401 or 403, and never
//! echoes the credential. Called through `tower::ServiceExt::oneshot`, so each case is fast.

use tower_api_auth_tests as common;

use std::convert::Infallible;

use http::{HeaderName, HeaderValue, Request, Response};
use proptest::prelude::*;
use tower::{Layer as _, ServiceExt as _};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{AuthError, AuthLayer, MemoryKeyStore, api_key::KeyRecord};

use common::{api_key, b64};

fn layer(records: Vec<KeyRecord>) -> AuthLayer {
    let builder = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(records))
        .credentials(
            tower_api_auth::credential::CredentialSources::new()
                .cookie("session")
                .query_param("access_token"),
        );
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    let builder = builder.jwt(
        tower_api_auth::JwtValidator::hs256(
            common::HS256_SECRET,
            JwtOptions::new().audience("api"),
        )
        .expect("hs256"),
    );
    builder.build().unwrap()
}

/// Sends `headers` (and `uri`) through the layer; returns the status and the rendered response.
fn call(
    runtime: &tokio::runtime::Runtime,
    layer: &AuthLayer,
    uri: &str,
    headers: &[(&str, HeaderValue)],
) -> Response<String> {
    let mut request = Request::get(uri).body(String::new()).expect("request");
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.clone(),
        );
    }
    let service = layer.layer(tower::service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("inner".to_owned()))
    }));
    let response = runtime
        .block_on(service.oneshot(request))
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let body = runtime
        .block_on(http_body_util::BodyExt::collect(body))
        .expect("body")
        .to_bytes();
    Response::from_parts(parts, String::from_utf8(body.to_vec()).expect("utf-8 body"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Asserts a well-formed rejection: status 400/401/403, the error in the extensions, a JSON body
/// with the same code, and no echo of `secret`.
fn assert_rejected(response: &Response<String>, secret: &[u8]) -> Result<(), TestCaseError> {
    let status = response.status().as_u16();
    prop_assert!(
        [400, 401, 403].contains(&status),
        "status {status}: {}",
        response.body()
    );
    let error = response.extensions().get::<AuthError>();
    prop_assert!(error.is_some(), "no AuthError in the extensions");
    let body: serde_json::Value = serde_json::from_str(response.body()).expect("JSON body");
    prop_assert_eq!(body["error"]["code"].as_str(), Some(error.unwrap().code()));
    prop_assert_eq!(error.unwrap().status().as_u16(), status);
    // Every rejection of a credential carries a challenge; a 400 names invalid_request.
    let challenge = response.headers().get("www-authenticate");
    prop_assert!(challenge.is_some());
    if status == 400 {
        prop_assert!(
            challenge
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(r#"Bearer error="invalid_request""#)
        );
    }
    // Short secrets can coincide with words of the messages; long ones must never show up.
    if secret.len() >= 12 {
        let secret = String::from_utf8_lossy(secret);
        prop_assert!(
            !response.body().contains(&*secret),
            "echoed: {}",
            response.body()
        );
    }
    Ok(())
}

/// Arbitrary bytes that make a valid header value.
fn header_value() -> impl Strategy<Value = (Vec<u8>, HeaderValue)> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "\\PC{0,200}".prop_map(String::into_bytes),
        "[ -~]{0,200}".prop_map(String::into_bytes),
        "(?i:bearer)[ ]{0,3}[A-Za-z0-9._~+/=,\"-]{0,120}".prop_map(String::into_bytes),
        "sk_live_[A-Za-z0-9_]{0,80}".prop_map(String::into_bytes),
        "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,40}"
            .prop_map(String::into_bytes),
    ]
    .prop_filter_map("not a header value", |bytes| {
        HeaderValue::from_bytes(&bytes)
            .ok()
            .map(|value| (bytes, value))
    })
}

/// A JWT-shaped token with arbitrary JSON header and claims, correctly base64url encoded.
fn jwt_shaped() -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        Just("HS256"),
        Just("none"),
        Just("RS256"),
        Just("ES256"),
        Just("EdDSA"),
        Just("hs256"),
    ];
    let claim = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        prop::collection::vec("[a-z: ]{0,10}", 0..4).prop_map(serde_json::Value::from),
    ];
    (
        alg,
        prop::option::of("\\PC{0,20}"),
        prop::collection::btree_map(
            prop_oneof![
                Just("sub".to_owned()),
                Just("exp".to_owned()),
                Just("nbf".to_owned()),
                Just("iat".to_owned()),
                Just("aud".to_owned()),
                Just("scope".to_owned()),
                Just("scp".to_owned()),
                Just("tenant_id".to_owned()),
                "[a-z]{1,6}",
            ],
            claim,
            0..8,
        ),
        "[A-Za-z0-9_-]{0,90}",
    )
        .prop_map(|(alg, kid, claims, signature)| {
            let mut header = serde_json::json!({ "alg": alg, "typ": "JWT" });
            if let Some(kid) = kid {
                header["kid"] = kid.into();
            }
            format!(
                "{}.{}.{signature}",
                b64(header.to_string()),
                b64(serde_json::to_string(&claims).unwrap())
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_authorization_header_is_rejected_cleanly((raw, value) in header_value()) {
        let runtime = runtime();
        let (_, record) = api_key("");
        let layer = layer(vec![record]);
        let response = call(&runtime, &layer, "/", &[("authorization", value)]);
        assert_rejected(&response, &raw)?;
    }

    #[test]
    fn any_api_key_and_tenant_are_rejected_cleanly(
        (raw_key, key) in header_value(),
        tenant in prop::option::of(header_value()),
    ) {
        let runtime = runtime();
        let (_, record) = api_key("");
        let layer = layer(vec![record]);
        let mut headers = vec![("x-api-key", key)];
        if let Some((_, tenant)) = tenant {
            headers.push(("x-tenant-id", tenant));
        }
        let response = call(&runtime, &layer, "/", &headers);
        assert_rejected(&response, &raw_key)?;
    }

    #[test]
    fn any_cookie_is_rejected_cleanly(
        (raw, value) in header_value(),
        name in prop_oneof![Just("session".to_owned()), "[a-z]{1,8}"],
    ) {
        let runtime = runtime();
        let layer = layer(vec![]);
        let mut cookie = format!("{name}=").into_bytes();
        cookie.extend_from_slice(&raw);
        let cookie = HeaderValue::from_bytes(&cookie).unwrap_or(value);
        let response = call(&runtime, &layer, "/", &[("cookie", cookie)]);
        assert_rejected(&response, &raw)?;
    }

    #[test]
    fn any_query_token_is_rejected_cleanly(token in "[A-Za-z0-9._~+/=%&-]{0,100}") {
        let runtime = runtime();
        let layer = layer(vec![]);
        let uri = format!("/path?access_token={token}");
        prop_assume!(uri.parse::<http::Uri>().is_ok());
        let response = call(&runtime, &layer, &uri, &[]);
        assert_rejected(&response, token.as_bytes())?;
    }

    #[test]
    fn jwt_shaped_tokens_are_rejected_cleanly(token in jwt_shaped(), tenant in prop::option::of("[ -~]{0,20}")) {
        let runtime = runtime();
        let layer = layer(vec![]);
        let mut headers = vec![("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap())];
        if let Some(tenant) = tenant.and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.push(("x-tenant-id", tenant));
        }
        let response = call(&runtime, &layer, "/", &headers);
        assert_rejected(&response, token.as_bytes())?;
    }

    #[test]
    fn a_valid_key_with_any_tenant_is_admitted_only_for_its_tenants((raw, tenant) in header_value()) {
        let runtime = runtime();
        let (key, record) = api_key("");
        let layer = layer(vec![record]);
        let headers = [("x-api-key", HeaderValue::from_str(&key).unwrap()), ("x-tenant-id", tenant)];
        let response = call(&runtime, &layer, "/", &headers);
        if raw == b"tn_a" || raw == b"tn_b" {
            prop_assert_eq!(response.status().as_u16(), 200);
        } else {
            assert_rejected(&response, key.as_bytes())?;
        }
    }
}

#[test]
fn a_valid_key_with_its_tenant_is_admitted() {
    let runtime = runtime();
    let (key, record) = api_key("");
    let layer = layer(vec![record]);
    let headers = [
        ("x-api-key", HeaderValue::from_str(&key).unwrap()),
        ("x-tenant-id", HeaderValue::from_static("tn_a")),
    ];
    let response = call(&runtime, &layer, "/", &headers);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "inner");
}
