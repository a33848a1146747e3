//! `forward`: the identity headers a proxy sets for its upstream, the credential, forged and
//! hop-by-hop headers it removes, and the value encoding (over real HTTP in the examples'
//! `proxy` test; here each rule on its own, through the service or `IdentityHeaders::apply`).

use std::convert::Infallible;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use serde_json::json;
use tower::{Layer as _, ServiceExt as _, service_fn};
use tower_api_auth::credential::CredentialSources;
use tower_api_auth::forward::{ForwardIdentityLayer, IdentityHeaders, encode_value};
use tower_api_auth::{AuthMethod, Identity, Tenant, scope::Scopes};

/// An identity with every forwarded value set.
fn full_identity() -> Identity {
    Identity::builder("user_42", AuthMethod::ApiKey)
        .tenant(Tenant::new("tn_a").unwrap())
        .scopes(Scopes::parse("reports:read reports:write").unwrap())
        .key_id("k_123")
        .build()
}

/// `headers` (name, value pairs, appended) after `apply` with `identity`, as name → values.
fn applied(
    config: &IdentityHeaders,
    identity: Option<&Identity>,
    headers: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    config.apply(identity, &mut map);
    let mut out: Vec<(String, String)> = map
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<_> = expected
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

const FORGED: &[(&str, &str)] = &[
    ("x-auth-principal", "admin"),
    ("x-auth-principal", "root"),
    ("x-auth-tenant", "tn_root"),
    ("x-auth-scopes", "admin:all"),
    ("x-auth-method", "jwt"),
    ("x-auth-key-id", "forged"),
];

#[test]
fn the_identity_replaces_every_forged_copy_and_the_credentials_go() {
    let mut incoming = FORGED.to_vec();
    incoming.extend([
        ("authorization", "Bearer eyJ.secret.sig"),
        ("x-api-key", "sk_live_secret"),
        ("x-tenant-id", "tn_a"),
        ("accept", "application/json"),
    ]);
    let identity = full_identity();
    assert_eq!(
        applied(&IdentityHeaders::new(), Some(&identity), &incoming),
        pairs(&[
            ("accept", "application/json"),
            ("x-auth-key-id", "k_123"),
            ("x-auth-method", "api_key"),
            ("x-auth-principal", "user_42"),
            ("x-auth-scopes", "reports:read reports:write"),
            ("x-auth-tenant", "tn_a"),
        ])
    );
}

#[test]
fn a_value_the_identity_lacks_is_absent_not_forged() {
    let identity = Identity::builder("user_7", AuthMethod::Jwt).build();
    assert_eq!(
        applied(&IdentityHeaders::new(), Some(&identity), FORGED),
        pairs(&[("x-auth-method", "jwt"), ("x-auth-principal", "user_7")])
    );
}

#[test]
fn a_request_without_an_identity_gets_no_identity_headers() {
    // What an optional auth layer lets through anonymously.
    assert_eq!(
        applied(&IdentityHeaders::new(), None, FORGED),
        Vec::<(String, String)>::new()
    );
}

#[test]
fn renamed_and_disabled_headers() {
    let config = IdentityHeaders::new()
        .principal(HeaderName::from_static("x-user"))
        .scopes(None)
        .remove(HeaderName::from_static("x-forwarded-user"));
    let identity = full_identity();
    let incoming = [
        ("x-user", "admin"),
        ("x-forwarded-user", "admin"),
        ("x-auth-scopes", "admin:all"),
    ];
    assert_eq!(
        applied(&config, Some(&identity), &incoming),
        pairs(&[
            // Not forwarded any more, and still removed: an upstream once written against the
            // default names must never read a client's value.
            ("x-auth-key-id", "k_123"),
            ("x-auth-method", "api_key"),
            ("x-auth-tenant", "tn_a"),
            ("x-user", "user_42"),
        ])
    );
}

#[test]
fn the_layers_own_credential_headers_and_cookie_go_too() {
    let sources = CredentialSources::new()
        .api_key_header(HeaderName::from_static("x-service-key"))
        .tenant_header(HeaderName::from_static("x-org"))
        .cookie("access_token");
    let config = IdentityHeaders::new().credentials(&sources);
    let incoming = [
        ("x-service-key", "sk_live_secret"),
        ("x-org", "tn_a"),
        ("x-api-key", "sk_live_other"),
        ("authorization", "Bearer eyJ.secret.sig"),
        ("cookie", "theme=dark; access_token=eyJ.secret.sig; lang=en"),
    ];
    assert_eq!(
        applied(&config, None, &incoming),
        pairs(&[("cookie", "theme=dark; lang=en")])
    );
}

#[test]
fn underscore_spellings_of_identity_headers_go_too() {
    // CGI, PHP-FPM, Rack and WSGI read `x_auth_principal` as HTTP_X_AUTH_PRINCIPAL, the same
    // variable as the real header.
    let config = IdentityHeaders::new()
        .principal(HeaderName::from_static("x-user"))
        .remove(HeaderName::from_static("x-forwarded-user"));
    let incoming = [
        ("x_forwarded_user", "admin"),
        ("x_api_key", "sk_live_secret"),
        ("x_auth_principal", "admin"),
        ("x_user", "admin"),
        ("x-auth_tenant", "tn_root"),
        ("x_auth_scopes", "admin:all"),
        ("x_request_id", "kept"),
    ];
    assert_eq!(
        applied(
            &config,
            Some(&Identity::builder("user_7", AuthMethod::Jwt).build()),
            &incoming
        ),
        pairs(&[
            ("x-auth-method", "jwt"),
            ("x-user", "user_7"),
            ("x_request_id", "kept"),
        ])
    );
}

#[test]
fn te_trailers_alone_is_kept_for_grpc() {
    assert_eq!(
        applied(&IdentityHeaders::new(), None, &[("te", "trailers")]),
        pairs(&[("te", "trailers")])
    );
}

#[test]
fn hop_by_hop_request_headers_go() {
    let incoming = [
        ("connection", "keep-alive, x-hop"),
        ("connection", "x-other-hop"),
        ("x-hop", "1"),
        ("x-other-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("te", "gzip, trailers"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("proxy-authorization", "Basic cHJveHk6c2VjcmV0"),
        ("proxy-connection", "keep-alive"),
        ("x-end-to-end", "kept"),
    ];
    assert_eq!(
        applied(&IdentityHeaders::new(), None, &incoming),
        pairs(&[("x-end-to-end", "kept")])
    );
}

#[test]
fn a_connection_header_naming_an_identity_header_cannot_keep_it_out() {
    // `Connection: x-auth-principal` removes the client's copy; the true one is set afterwards.
    let identity = full_identity();
    let headers = applied(
        &IdentityHeaders::new(),
        Some(&identity),
        &[("connection", "x-auth-principal, bad header name")],
    );
    assert!(headers.contains(&("x-auth-principal".into(), "user_42".into())));
}

#[tokio::test]
async fn the_service_rewrites_the_request_and_the_responses_hop_by_hop_headers() {
    let upstream = service_fn(|request: Request<()>| async move {
        let seen: Vec<String> = request
            .headers()
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect();
        let response = Response::builder()
            .header("connection", "x-upstream-hop")
            .header("x-upstream-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("content-type", "application/json")
            .body(seen)
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let service = ForwardIdentityLayer::new(IdentityHeaders::new()).layer(upstream);
    let mut request = Request::get("/")
        .header("x-api-key", "sk_live_secret")
        .header("x-auth-principal", "admin")
        .body(())
        .unwrap();
    request.extensions_mut().insert(full_identity());
    let response = service.oneshot(request).await.unwrap();
    let names: Vec<_> = response.headers().keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["content-type"]);
    let mut seen = response.into_body();
    seen.sort();
    assert_eq!(
        seen,
        [
            "x-auth-key-id: k_123",
            "x-auth-method: api_key",
            "x-auth-principal: user_42",
            "x-auth-scopes: reports:read reports:write",
            "x-auth-tenant: tn_a",
        ]
    );
}

#[test]
fn principals_that_are_no_header_value_are_percent_encoded() {
    let identity = Identity::builder(" Zoë 50%\r\nx-auth-tenant: tn_root ", AuthMethod::Jwt)
        .scopes(Scopes::parse("a%b c").unwrap())
        .build();
    assert_eq!(
        applied(&IdentityHeaders::new(), Some(&identity), &[]),
        pairs(&[
            ("x-auth-method", "jwt"),
            (
                "x-auth-principal",
                "%20Zo%C3%AB%2050%25%0D%0Ax-auth-tenant:%20tn_root%20"
            ),
            ("x-auth-scopes", "a%25b c"),
        ])
    );
}

#[test]
fn the_method_header_is_the_serialized_method() {
    for method in [AuthMethod::Jwt, AuthMethod::ApiKey, AuthMethod::OpaqueToken] {
        assert_eq!(json!(method), json!(method.as_str()));
    }
}

proptest! {
    /// Any string becomes a valid header value of visible ASCII that decodes back to it, and a
    /// string of visible ASCII without `%` is left as it is.
    #[test]
    fn encoding_is_lossless_and_always_a_header_value(text in any::<String>()) {
        let value = encode_value(&text);
        let encoded = value.to_str().expect("visible ASCII");
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        prop_assert_eq!(percent_decode_str(encoded).decode_utf8().unwrap(), text.as_str());
        if text.bytes().all(|b| b.is_ascii_graphic() && b != b'%') {
            prop_assert_eq!(encoded, text.as_str());
        }
    }
}
