//! API keys over real HTTP: headers, Bearer keys, prefixes, tenants, revocation, expiry and key
//! stores that fail or answer asynchronously.
#![cfg(feature = "axum")]

use tower_api_auth_tests as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use http::HeaderName;
use serde_json::{Value, json};
use tower_api_auth::credential::CredentialSources;
use tower_api_auth::{
    AuthLayer, Claims, Identity, KeyProvider, MemoryKeyStore, Tenant, api_key::ApiKeyFormat,
    api_key::ApiKeyHasher, api_key::ApiKeys, api_key::CachedKeyProvider, api_key::KeyRecord,
    scope::Scopes, store::Lookup, store::StoreError,
};

use common::{PAST, PAST_RFC3339, Server, api_key, api_key_with, assert_no_leak, now, serve};

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

async fn tenant(tenant: Tenant) -> String {
    tenant.to_string()
}

async fn claims(claims: Claims<Value>) -> Json<Value> {
    Json((*claims).clone())
}

fn router(auth: AuthLayer) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/tenant", get(tenant))
        .route("/claims", get(claims))
        .layer(auth)
}

async fn server_with(records: Vec<KeyRecord>) -> Server {
    serve(router(
        AuthLayer::builder()
            .api_keys(MemoryKeyStore::from(records))
            .build()
            .unwrap(),
    ))
    .await
}

/// Asserts a 401 with `code` and the RFC 6750 `invalid_token` challenge.
fn assert_401(reply: &common::Reply, code: &str) -> Value {
    let error = reply.assert_error(401, code);
    reply.assert_bearer_error("invalid_token");
    error
}

#[tokio::test]
async fn an_api_key_with_its_tenant_is_accepted() {
    let (key, record) = api_key("conversations:read");
    let key_id = record.key_id.to_string();
    let server = server_with(vec![record]).await;
    let reply = server.get("/me").api_key(&key, "tn_b").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({
            "principal": key_id,
            "method": "api_key",
            "tenant": "tn_b",
            "scopes": ["conversations:read"],
            "expires_at": null,
        })
    );
    let reply = server.get("/tenant").api_key(&key, "tn_a").send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_a"));
}

#[tokio::test]
async fn the_owner_and_expiry_show_in_the_identity() {
    let expires = now() + 3600;
    let (key, record) = api_key("");
    let server = server_with(vec![record.with_owner("svc_ci").with_expires_at(expires)]).await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["principal"], "svc_ci");
    assert_eq!(reply.json()["expires_at"], expires);
    assert_eq!(reply.json()["scopes"], json!([]));
}

#[tokio::test]
async fn an_api_key_as_a_bearer_token_is_recognised_by_its_prefix() {
    let (key, record) = api_key("a");
    let server = server_with(vec![record]).await;
    let reply = server
        .get("/me")
        .bearer(&key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["method"], "api_key");
    // The tenant rules are the API key's: the header is required.
    let reply = server.get("/me").bearer(&key).send().await;
    reply.assert_error(400, "tenant_required");
    reply.assert_bearer_error("invalid_request");
}

#[tokio::test]
async fn an_unknown_key_is_invalid_api_key() {
    let (stored_key, stored) = api_key("");
    let (unknown_key, _) = api_key("");
    let server = server_with(vec![stored]).await;
    assert_eq!(
        server
            .get("/me")
            .api_key(&stored_key, "tn_a")
            .send()
            .await
            .status,
        200
    );
    let reply = server.get("/me").api_key(&unknown_key, "tn_a").send().await;
    let error = assert_401(&reply, "invalid_api_key");
    assert_eq!(error["message"], "The API key is invalid");
    assert_no_leak(&reply, &unknown_key);
}

#[tokio::test]
async fn a_wrong_secret_for_a_known_id_is_invalid_api_key() {
    let (key, record) = api_key("");
    // Same prefix and public id, another secret, a valid checksum: only the hash can tell.
    let impostor = common::key_with_secret("sk_live", &record.key_id, &"Z".repeat(32));
    assert!(ApiKeyFormat::default().parse(&impostor).is_ok());
    let server = server_with(vec![record]).await;
    let reply = server.get("/me").api_key(&impostor, "tn_a").send().await;
    assert_401(&reply, "invalid_api_key");
    assert_no_leak(&reply, &impostor);
    assert_eq!(
        server.get("/me").api_key(&key, "tn_a").send().await.status,
        200
    );
}

#[tokio::test]
async fn a_wrong_secret_for_a_revoked_key_is_invalid_api_key() {
    // A key's state (revoked, expired) is told only to its holder.
    let (_, record) = api_key("");
    let impostor = common::key_with_secret("sk_live", &record.key_id, &"Z".repeat(32));
    let server = server_with(vec![record.revoked().with_expires_at(PAST)]).await;
    let reply = server.get("/me").api_key(&impostor, "tn_a").send().await;
    let error = assert_401(&reply, "invalid_api_key");
    assert!(error.get("details").is_none(), "{error}");
}

#[tokio::test]
async fn a_key_with_a_broken_checksum_is_invalid_api_key() {
    let (key, record) = api_key("");
    let server = server_with(vec![record]).await;
    let mut broken = key.clone().into_bytes();
    let last = broken.len() - 1;
    broken[last] = if broken[last] == b'a' { b'b' } else { b'a' };
    let broken = String::from_utf8(broken).unwrap();
    for bad in [
        broken.as_str(),
        &key[..key.len() - 1],
        "sk_live_short",
        "sk_live_",
    ] {
        let reply = server.get("/me").api_key(bad, "tn_a").send().await;
        assert_401(&reply, "invalid_api_key");
        assert_no_leak(&reply, bad);
    }
}

#[tokio::test]
async fn an_expired_key_is_api_key_expired() {
    let (key, record) = api_key("");
    let server = server_with(vec![record.with_expires_at(PAST)]).await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    let error = assert_401(&reply, "api_key_expired");
    assert_eq!(error["details"]["expired_at"], PAST_RFC3339);
    assert_eq!(error["message"], "The API key has expired");
}

#[tokio::test]
async fn revoked_and_disabled_keys_are_api_key_revoked() {
    let (revoked_key, revoked) = api_key("");
    let (disabled_key, mut disabled) = api_key("");
    disabled.disabled = true;
    let server = server_with(vec![revoked.revoked(), disabled]).await;
    for key in [&revoked_key, &disabled_key] {
        let reply = server.get("/me").api_key(key, "tn_a").send().await;
        let error = assert_401(&reply, "api_key_revoked");
        assert_eq!(error["message"], "The API key has been revoked");
    }
}

#[tokio::test]
async fn revoking_at_runtime_takes_effect_on_the_next_request() {
    let (key, record) = api_key("");
    let key_id = record.key_id.to_string();
    let store = Arc::new(MemoryKeyStore::from(vec![record]));
    let server = serve(router(
        AuthLayer::builder()
            .api_keys(Arc::clone(&store))
            .build()
            .unwrap(),
    ))
    .await;
    assert_eq!(
        server.get("/me").api_key(&key, "tn_a").send().await.status,
        200
    );
    assert!(store.revoke(&key_id));
    assert!(!store.revoke("unknown_id"));
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_401(&reply, "api_key_revoked");
    // Removed: unknown.
    assert!(store.remove(&key_id));
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_401(&reply, "invalid_api_key");
    // Inserted anew: accepted again.
    let (fresh, fresh_record) = api_key("");
    store.insert(fresh_record);
    assert_eq!(
        server
            .get("/me")
            .api_key(&fresh, "tn_a")
            .send()
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_key_needs_its_tenant_header() {
    let (key, record) = api_key("");
    let server = server_with(vec![record]).await;
    let reply = server.get("/me").header("x-api-key", &key).send().await;
    let error = reply.assert_error(400, "tenant_required");
    assert_eq!(
        error["message"],
        "The X-Tenant-ID header is required with this credential"
    );
    reply.assert_bearer_error("invalid_request");
}

/// A key generated as the README does (no tenants set) is bound to no tenant: it needs no tenant
/// header, and naming a tenant with it is refused (it may act for none).
#[tokio::test]
async fn a_key_bound_to_no_tenant_needs_no_tenant_header() {
    let (key, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .into_parts();
    let server = server_with(vec![record]).await;
    for reply in [
        server.get("/me").header("x-api-key", &key).send().await,
        server.get("/me").bearer(&key).send().await,
    ] {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json()["tenant"], Value::Null);
    }
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    let error = reply.assert_error(403, "tenant_forbidden");
    assert_eq!(error["message"], "The credential is bound to no tenant");
    reply.assert_bearer_error("insufficient_scope");
    // A route that needs a tenant: no header could help, so 403 rather than 400.
    let reply = server.get("/tenant").header("x-api-key", &key).send().await;
    let error = reply.assert_error(403, "tenant_forbidden");
    assert_eq!(error["message"], "The credential is bound to no tenant");
}

#[tokio::test]
async fn a_key_bound_to_one_tenant_acts_for_it_without_the_header() {
    let (key, record) = api_key_with(&ApiKeyFormat::default(), &["tn_only"], "");
    let server = server_with(vec![record]).await;
    let reply = server.get("/tenant").header("x-api-key", &key).send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_only"));
    let reply = server.get("/tenant").api_key(&key, "tn_only").send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_only"));
    server
        .get("/tenant")
        .api_key(&key, "tn_other")
        .send()
        .await
        .assert_error(403, "tenant_forbidden");
}

/// `TenantHeader::Always`: a tenant-bound key must name its tenant even when it has one; a key
/// bound to none still needs no header.
#[tokio::test]
async fn the_always_rule_requires_the_header_of_every_tenant_bound_key() {
    use tower_api_auth::tenant::{TenantHeader, TenantRules};
    let (one, one_record) = api_key_with(&ApiKeyFormat::default(), &["tn_only"], "");
    let (none, none_record) = api_key_with(&ApiKeyFormat::default(), &[], "");
    let rules = TenantRules {
        header: TenantHeader::Always,
        ..TenantRules::default()
    };
    let auth = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(vec![one_record, none_record]))
        .tenant_rules(rules)
        .build()
        .unwrap();
    let server = serve(router(auth)).await;
    let reply = server.get("/me").header("x-api-key", &one).send().await;
    reply.assert_error(400, "tenant_required");
    reply.assert_bearer_error("invalid_request");
    let reply = server.get("/tenant").api_key(&one, "tn_only").send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_only"));
    let reply = server.get("/me").header("x-api-key", &none).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn a_key_for_another_tenant_is_tenant_forbidden() {
    let (key, record) = api_key("");
    let server = server_with(vec![record]).await;
    let reply = server.get("/me").api_key(&key, "tn_other").send().await;
    let error = reply.assert_error(403, "tenant_forbidden");
    assert_eq!(
        error["message"],
        "The credential does not grant access to this tenant"
    );
    reply.assert_bearer_error("insufficient_scope");
}

#[tokio::test]
async fn a_malformed_tenant_id_is_invalid_request() {
    let (key, record) = api_key("");
    let server = server_with(vec![record]).await;
    let long = "t".repeat(65);
    for bad in ["tn a", "tn/a", "", long.as_str()] {
        let reply = server.get("/me").api_key(&key, bad).send().await;
        reply.assert_error(400, "invalid_request");
        reply.assert_bearer_error("invalid_request");
    }
    // Two tenant headers.
    let reply = server
        .get("/me")
        .api_key(&key, "tn_a")
        .header("x-tenant-id", "tn_b")
        .send()
        .await;
    reply.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_tenant_header_of_non_ascii_bytes_is_invalid_request() {
    let (key, record) = api_key("");
    let server = server_with(vec![record]).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/me", server.base()))
        .header("x-api-key", &key)
        .header(
            "x-tenant-id",
            reqwest::header::HeaderValue::from_bytes(b"tn_\xe9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with(r#"Bearer error="invalid_request""#)
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn custom_header_names() {
    let (key, record) = api_key("");
    let auth = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(vec![record]))
        .credentials(
            CredentialSources::new()
                .api_key_header(HeaderName::from_static("x-custom-key"))
                .tenant_header(HeaderName::from_static("x-org")),
        )
        .build()
        .unwrap();
    let server = serve(router(auth)).await;
    let reply = server
        .get("/me")
        .header("x-custom-key", &key)
        .header("x-org", "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["tenant"], "tn_a");
    // The default names mean nothing now.
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    reply.assert_error(401, "missing_credentials");
    let reply = server
        .get("/me")
        .header("x-custom-key", &key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    reply.assert_error(400, "tenant_required");
}

#[tokio::test]
async fn a_custom_prefix() {
    let format = ApiKeyFormat::new("pk_test").unwrap();
    assert!(ApiKeyFormat::new("PK").is_err());
    let (key, record) = api_key_with(&format, &["tn_a"], "");
    assert!(key.starts_with("pk_test_"), "{key}");
    let provider = MemoryKeyStore::from(vec![record]);
    let auth = AuthLayer::builder()
        .api_keys(ApiKeys::new(provider).format(format))
        .build()
        .unwrap();
    let server = serve(router(auth)).await;
    assert_eq!(
        server.get("/me").api_key(&key, "tn_a").send().await.status,
        200
    );
    let reply = server
        .get("/me")
        .bearer(&key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // An sk_live key is not of this format: in X-API-Key or as a Bearer token, it is an invalid
    // key, told which prefix this service's keys have.
    let (live, _) = api_key("");
    for reply in [
        server.get("/me").api_key(&live, "tn_a").send().await,
        server.get("/me").bearer(&live).send().await,
    ] {
        let error = assert_401(&reply, "invalid_api_key");
        assert_eq!(
            error["message"],
            "The API key is not one of this service's: its keys start with pk_test_"
        );
        assert_no_leak(&reply, &live);
    }
}

/// The issue's case: a `rag_live_…` key on a layer left at `sk_live`, which also takes JWTs. The
/// key is refused as a key of another prefix, not as "not a JWT"; other tokens that are no JWT
/// are told what this service's keys look like; JWTs still verify.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
#[tokio::test]
async fn a_key_of_another_prefix_is_told_the_expected_prefix() {
    let rag = ApiKeyFormat::new("rag_live").unwrap();
    let (rag_key, rag_record) = api_key_with(&rag, &["tn_a"], "");
    let jwt = tower_api_auth::JwtValidator::hs256(
        common::HS256_SECRET,
        tower_api_auth::jwt::JwtOptions::new(),
    )
    .unwrap();
    let auth = AuthLayer::builder()
        .jwt(jwt)
        .api_keys(MemoryKeyStore::from(vec![rag_record]))
        .build()
        .unwrap();
    let server = serve(router(auth)).await;
    for reply in [
        server.get("/me").bearer(&rag_key).send().await,
        server.get("/me").header("x-api-key", &rag_key).send().await,
    ] {
        let error = assert_401(&reply, "invalid_api_key");
        assert_eq!(
            error["message"],
            "The API key is not one of this service's: its keys start with sk_live_"
        );
        assert_no_leak(&reply, &rag_key);
        assert_no_leak(&reply, &rag_key["rag_live_".len()..]);
    }
    // Not a key (no checksum) and not a JWT either (no dot): said so, with the prefix.
    let reply = server.get("/me").bearer("rag_live_typo").send().await;
    let error = assert_401(&reply, "invalid_token");
    assert_eq!(
        error["message"],
        "The token is neither a JWT nor an API key of this service (its keys start with sk_live_)"
    );
    assert_no_leak(&reply, "rag_live_typo");
    // A JWT is still a JWT, and a broken one is still told about its JWT failure.
    let token = common::jwt::hs256(&common::jwt::claims("u"));
    let reply = server.get("/me").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = server.get("/me").bearer("a.b.c").send().await;
    let error = assert_401(&reply, "invalid_token");
    assert_ne!(
        error["message"],
        "The token is neither a JWT nor an API key of this service (its keys start with sk_live_)"
    );
}

/// With an opaque-token validator, tokens that are no JWT go to it, except an API key of another
/// prefix: a secret of this system, never sent to an introspection endpoint.
#[tokio::test]
async fn a_key_of_another_prefix_is_never_handed_to_the_opaque_validator() {
    use tower_api_auth::opaque::{OpaqueToken, OpaqueTokenValidator};
    use tower_api_auth::{AuthError, AuthErrorKind};

    #[derive(Debug, Default, Clone)]
    struct Counting(Arc<AtomicUsize>);
    impl OpaqueTokenValidator for Counting {
        fn validate(&self, token: &str, _now: u64) -> Lookup<OpaqueToken, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Lookup::Ready(match token {
                "opaque-token-of-alice" => Ok(OpaqueToken::new("alice")),
                _ => Err(AuthError::new(AuthErrorKind::InvalidToken)),
            })
        }
    }
    let seen = Counting::default();
    let (rag_key, _) = api_key_with(&ApiKeyFormat::new("rag_live").unwrap(), &[], "");
    for api_keys in [true, false] {
        let mut builder = AuthLayer::builder().opaque_tokens(seen.clone());
        if api_keys {
            builder = builder.api_keys(MemoryKeyStore::new());
        }
        let server = serve(router(builder.build().unwrap())).await;
        let reply = server
            .get("/me")
            .bearer("opaque-token-of-alice")
            .send()
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let before = seen.0.load(Ordering::SeqCst);
        let reply = server.get("/me").bearer(&rag_key).send().await;
        let code = if api_keys {
            "invalid_api_key"
        } else {
            "api_key_not_accepted"
        };
        assert_401(&reply, code);
        assert_eq!(seen.0.load(Ordering::SeqCst), before, "the key was sent");
    }
}

#[tokio::test]
async fn a_peppered_hasher_must_match() {
    let hasher = ApiKeyHasher::with_pepper(b"server-side pepper");
    let (key, record) = hasher
        .generate(&ApiKeyFormat::default())
        .with_record(|r| r.with_tenants([Tenant::new("tn_a").unwrap()]))
        .into_parts();
    let peppered = serve(router(
        AuthLayer::builder()
            .api_keys(ApiKeys::new(MemoryKeyStore::from(vec![record.clone()])).hasher(hasher))
            .build()
            .unwrap(),
    ))
    .await;
    assert_eq!(
        peppered
            .get("/me")
            .api_key(&key, "tn_a")
            .send()
            .await
            .status,
        200
    );
    let plain = server_with(vec![record]).await;
    assert_401(
        &plain.get("/me").api_key(&key, "tn_a").send().await,
        "invalid_api_key",
    );
}

/// A store that answers after some I/O.
pub(crate) struct SlowStore(pub(crate) MemoryKeyStore);

impl KeyProvider for SlowStore {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        let found = self.0.get(key_id);
        Lookup::pending(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(found)
        })
    }
}

#[tokio::test]
async fn an_async_key_provider_is_awaited() {
    let (key, record) = api_key("a b");
    let (revoked_key, revoked) = api_key("");
    let store = SlowStore(MemoryKeyStore::from(vec![record, revoked.revoked()]));
    let server = serve(router(
        AuthLayer::builder().api_keys(store).build().unwrap(),
    ))
    .await;
    let reply = server.get("/me").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["scopes"], json!(["a", "b"]));
    assert_401(
        &server.get("/me").api_key(&revoked_key, "tn_a").send().await,
        "api_key_revoked",
    );
    // Tenant rules apply after the lookup too.
    let reply = server.get("/me").api_key(&key, "tn_z").send().await;
    reply.assert_error(403, "tenant_forbidden");
    let reply = server.get("/me").header("x-api-key", &key).send().await;
    reply.assert_error(400, "tenant_required");
    let (unknown, _) = api_key("");
    assert_401(
        &server.get("/me").api_key(&unknown, "tn_a").send().await,
        "invalid_api_key",
    );
}

/// A store that cannot answer: at once, or after a wait.
struct DownStore {
    pending: bool,
}

impl KeyProvider for DownStore {
    fn lookup(&self, _key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        let error = || StoreError::new("connection refused: db.internal:5432");
        if self.pending {
            Lookup::pending(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err(error())
            })
        } else {
            Lookup::Ready(Err(error()))
        }
    }
}

#[tokio::test]
async fn a_failing_key_provider_is_auth_unavailable() {
    for pending in [false, true] {
        let server = serve(router(
            AuthLayer::builder()
                .api_keys(DownStore { pending })
                .build()
                .unwrap(),
        ))
        .await;
        let (key, _) = api_key("");
        let reply = server.get("/me").api_key(&key, "tn_a").send().await;
        let error = reply.assert_error(503, "auth_unavailable");
        assert_eq!(
            error["message"],
            "Authentication is temporarily unavailable"
        );
        reply.assert_challenge(None);
        assert!(!reply.text.contains("db.internal"), "{}", reply.text);
        assert_no_leak(&reply, &key);
        // A malformed key is refused by its checksum before the store is asked.
        let reply = server
            .get("/me")
            .api_key("sk_live_nope", "tn_a")
            .send()
            .await;
        assert_401(&reply, "invalid_api_key");
    }
}

#[tokio::test]
async fn claims_with_an_api_key_is_credential_not_accepted() {
    let (key, record) = api_key("");
    let server = server_with(vec![record]).await;
    let reply = server.get("/claims").api_key(&key, "tn_a").send().await;
    let error = reply.assert_error(403, "credential_not_accepted");
    assert_eq!(
        error["message"],
        "This endpoint requires a JWT access token"
    );
    reply.assert_bearer_error("insufficient_scope");
}

#[tokio::test]
async fn a_key_on_a_service_without_api_keys_is_api_key_not_accepted() {
    // A layer that accepts no credential at all is refused when built …
    let error = AuthLayer::builder().build().unwrap_err();
    assert!(error.to_string().contains(".api_keys("), "{error}");
    // … and one that accepts only JWTs says so of an API key: not `invalid_api_key`, which
    // would send its client to replace a good key.
    let jwt_only = tower_api_auth::JwtValidator::hs256(
        common::HS256_SECRET,
        tower_api_auth::jwt::JwtOptions::new(),
    )
    .unwrap();
    let server = serve(router(AuthLayer::builder().jwt(jwt_only).build().unwrap())).await;
    let (key, _) = api_key("");
    for reply in [
        server.get("/me").api_key(&key, "tn_a").send().await,
        server.get("/me").bearer(&key).send().await,
    ] {
        let error = assert_401(&reply, "api_key_not_accepted");
        assert_eq!(error["message"], "This service does not accept API keys");
        assert_no_leak(&reply, &key);
    }
}

#[test]
fn debug_output_has_no_secrets() {
    let new_key = ApiKeyHasher::default().generate(&ApiKeyFormat::default());
    let plaintext = new_key.plaintext().to_owned();
    let hash = new_key.record().hash.to_hex();
    let secret_part = &plaintext[plaintext.len() - 38..];
    let record = new_key.record().clone().with_name("ci");
    let hasher = ApiKeyHasher::with_pepper(b"pepper-pepper-pepper");
    let provider = MemoryKeyStore::from(vec![record.clone()]);
    let api_keys = ApiKeys::new(MemoryKeyStore::new());
    let debug = format!("{new_key:?} {record:?} {hasher:?} {provider:?} {api_keys:?}");
    for secret in [plaintext.as_str(), secret_part, hash.as_str(), "pepper"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(
        debug.contains(&*record.key_id),
        "the public id is fine: {debug}"
    );
}

#[test]
fn key_records_round_trip_through_serde_with_the_hash_as_hex() {
    let (_, record) = api_key("a");
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["hash"], record.hash.to_hex());
    let back: KeyRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, record);
}

/// Counts the lookups that reach the store.
struct CountingStore {
    keys: Arc<MemoryKeyStore>,
    calls: Arc<AtomicUsize>,
}

impl KeyProvider for CountingStore {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let found = self.keys.get(key_id);
        Lookup::pending(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(found)
        })
    }
}

#[tokio::test]
async fn a_cached_provider_spares_the_store_and_honours_invalidation() {
    let (key, record) = api_key("a");
    let key_id = record.key_id.clone();
    let keys = Arc::new(MemoryKeyStore::from(vec![record]));
    let calls = Arc::new(AtomicUsize::new(0));
    let cached = Arc::new(CachedKeyProvider::new(CountingStore {
        keys: Arc::clone(&keys),
        calls: Arc::clone(&calls),
    }));
    let layer = AuthLayer::builder()
        .api_keys(ApiKeys::from_shared(cached.clone()))
        .build()
        .unwrap();
    let server = serve(router(layer)).await;

    for _ in 0..5 {
        let reply = server.get("/me").api_key(&key, "tn_a").send().await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one store lookup for five requests"
    );

    // Unknown ids are remembered too, in their own cache.
    let (unknown, _) = api_key("");
    for _ in 0..3 {
        assert_401(
            &server.get("/me").api_key(&unknown, "tn_a").send().await,
            "invalid_api_key",
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Revocation reaches the next request once the cache entry is invalidated.
    keys.revoke(&key_id);
    cached.invalidate(&key_id);
    assert_401(
        &server.get("/me").api_key(&key, "tn_a").send().await,
        "api_key_revoked",
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// An API-key request carries the key's public id as `api_key_id` (what per-key rules read) and
/// as its principal when the key names no owner, the key's scopes, expiry and metadata, and none
/// of a token's fields.
#[tokio::test]
async fn an_api_key_request_names_its_key() {
    async fn ids(identity: Identity) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "key": identity.api_key_id(),
            "kid": identity.key_id(),
            "principal": identity.principal(),
            "method": identity.method(),
            "scopes": identity.scopes(),
            "reads": identity.has_scope("reports:read"),
            "expires_at": identity.expires_at(),
            "plan": identity.key_metadata("plan"),
            "client": identity.client_id(),
            "sid": identity.session_id(),
            "jti": identity.token_id(),
            "iss": identity.issuer(),
            "no_claims": identity.claims::<serde_json::Value>().is_none()
                && identity.decode_claims::<serde_json::Value>().is_none(),
        }))
    }
    let (key, record) = api_key("");
    let key_id = record.key_id.to_string();
    let record = record
        .with_scopes(Scopes::parse("reports:read").unwrap())
        .with_expires_at(now() + 3600)
        .with_metadata("plan", "pro");
    let expires_at = record.expires_at;
    let auth = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(vec![record]))
        .build()
        .unwrap();
    let server = serve(Router::new().route("/ids", get(ids)).layer(auth)).await;
    let reply = server.get("/ids").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "key": key_id, "kid": key_id, "principal": key_id, "method": "api_key",
            "scopes": ["reports:read"], "reads": true, "expires_at": expires_at, "plan": "pro",
            "client": null, "sid": null, "jti": null, "iss": null, "no_claims": true,
        })
    );
}
