//! Scope rules over real HTTP: `RequireScopesLayer::all` / `::any` in `route_layer`, the `Scoped<R>`
//! extractor with `scopes!`, and authentication failures winning over authorization ones.
#![cfg(feature = "axum")]

use tower_api_auth_tests as common;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_api_auth::{
    AuthLayer, Identity, MemoryKeyStore, RequireScopesLayer, Scoped, scope::ScopeRequirement,
    scope::Scopes, scopes,
};

use common::{PAST, Reply, Server, api_key, serve};

scopes!(ConversationsWrite = all["conversations:write", "conversations:read"]);
scopes!(ReadAnything = any["conversations:read", "admin"]);
// Not a valid scope token (a space): no credential can hold it, and asking must not panic.
scopes!(Malformed = all["two words"]);

async fn me(identity: Identity) -> Json<identity_json::Me> {
    Json(identity_json::Me::from(identity))
}

mod identity_json {
    use serde::Serialize;
    use tower_api_auth::Identity;

    #[derive(Serialize)]
    pub(crate) struct Me {
        principal: String,
        scopes: Vec<String>,
    }

    impl From<Identity> for Me {
        fn from(identity: Identity) -> Self {
            Self {
                principal: identity.principal().to_owned(),
                scopes: identity.scopes().iter().map(str::to_owned).collect(),
            }
        }
    }
}

async fn write(Scoped(identity, ..): Scoped<ConversationsWrite>) -> String {
    format!("write:{}", identity.principal())
}

async fn read(Scoped(identity, ..): Scoped<ReadAnything>) -> String {
    format!("read:{}", identity.principal())
}

async fn malformed(Scoped(identity, ..): Scoped<Malformed>) -> String {
    identity.principal().to_owned()
}

async fn server(records: Vec<tower_api_auth::api_key::KeyRecord>) -> Server {
    let auth = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(records))
        .build()
        .unwrap();
    let protected = Router::new()
        .route(
            "/all",
            get(me).route_layer(RequireScopesLayer::all([
                "conversations:read",
                "messages:read",
            ])),
        )
        .route(
            "/any",
            get(me).route_layer(RequireScopesLayer::any(["conversations:read", "admin"])),
        )
        .route("/write", get(write))
        .route("/read", get(read))
        .route("/malformed", get(malformed))
        .route_layer(auth);
    serve(Router::new().merge(protected)).await
}

fn assert_insufficient(reply: &Reply, message: &str, scope: &str) {
    let error = reply.assert_error(403, "insufficient_scope");
    assert_eq!(error["message"], message);
    assert_eq!(error["details"]["required_scopes"], scope);
    reply.assert_challenge(Some(&format!(
        r#"Bearer error="insufficient_scope", error_description="{message}", scope="{scope}""#
    )));
}

#[tokio::test]
async fn require_scopes_all_needs_every_scope() {
    let (both, both_record) = api_key("conversations:read messages:read extra");
    let (one, one_record) = api_key("conversations:read");
    let server = server(vec![both_record, one_record]).await;
    let reply = server.get("/all").api_key(&both, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json()["scopes"],
        json!(["conversations:read", "messages:read", "extra"])
    );
    let reply = server.get("/all").api_key(&one, "tn_a").send().await;
    assert_insufficient(
        &reply,
        "The credential lacks a required scope",
        "conversations:read messages:read",
    );
}

#[tokio::test]
async fn require_scopes_any_needs_one_scope() {
    let (reader, reader_record) = api_key("conversations:read");
    let (admin, admin_record) = api_key("admin");
    let (other, other_record) = api_key("messages:read");
    let (none, none_record) = api_key("");
    let server = server(vec![reader_record, admin_record, other_record, none_record]).await;
    for key in [&reader, &admin] {
        assert_eq!(
            server.get("/any").api_key(key, "tn_a").send().await.status,
            200
        );
    }
    for key in [&other, &none] {
        let reply = server.get("/any").api_key(key, "tn_a").send().await;
        assert_insufficient(
            &reply,
            "The credential has none of the accepted scopes",
            "conversations:read admin",
        );
    }
}

#[tokio::test]
async fn scope_matching_is_exact() {
    let (key, record) = api_key("Conversations:Read conversations:read:all conversations");
    let server = server(vec![record]).await;
    let reply = server.get("/any").api_key(&key, "tn_a").send().await;
    reply.assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn the_scoped_extractor() {
    let (writer, writer_record) = api_key("conversations:read conversations:write");
    let (reader, reader_record) = api_key("conversations:read");
    let writer_id = writer_record.key_id.to_string();
    let reader_id = reader_record.key_id.to_string();
    let server = server(vec![writer_record, reader_record]).await;

    let reply = server.get("/write").api_key(&writer, "tn_a").send().await;
    assert_eq!(
        (reply.status, reply.text.clone()),
        (200, format!("write:{writer_id}"))
    );
    let reply = server.get("/read").api_key(&reader, "tn_a").send().await;
    assert_eq!(
        (reply.status, reply.text.clone()),
        (200, format!("read:{reader_id}"))
    );

    let reply = server.get("/write").api_key(&reader, "tn_a").send().await;
    assert_insufficient(
        &reply,
        "The credential lacks a required scope",
        "conversations:write conversations:read",
    );
}

#[tokio::test]
async fn authentication_fails_before_authorization() {
    // An expired or revoked key on a scoped route is 401, not 403, even without the scope.
    let (expired, expired_record) = api_key("");
    let (revoked, revoked_record) = api_key("");
    let server = server(vec![
        expired_record.with_expires_at(PAST),
        revoked_record.revoked(),
    ])
    .await;
    for path in ["/all", "/any", "/write", "/read"] {
        let reply = server.get(path).api_key(&expired, "tn_a").send().await;
        reply.assert_error(401, "api_key_expired");
        reply.assert_bearer_error("invalid_token");
        let reply = server.get(path).api_key(&revoked, "tn_a").send().await;
        reply.assert_error(401, "api_key_revoked");
        let reply = server.get(path).send().await;
        reply.assert_error(401, "missing_credentials");
        reply.assert_challenge(Some("Bearer"));
    }
}

#[tokio::test]
async fn with_route_layer_an_unknown_path_is_still_404() {
    let server = server(vec![]).await;
    let reply = server.get("/does-not-exist").send().await;
    assert_eq!(reply.status, 404);
    assert!(reply.challenge().is_none());
}

#[test]
fn scope_requirements() {
    let granted = Scopes::parse("a  b a").unwrap();
    assert_eq!(granted.as_str(), "a b");
    assert!(ScopeRequirement::all(["a", "b"]).is_met_by(&granted));
    assert!(!ScopeRequirement::all(["a", "c"]).is_met_by(&granted));
    assert!(ScopeRequirement::any(["c", "b"]).is_met_by(&granted));
    assert!(!ScopeRequirement::any(["c"]).is_met_by(&granted));
    assert!(Scopes::parse("bad\"scope").is_err());
}

#[test]
#[should_panic(expected = "invalid scope token")]
fn an_invalid_required_scope_panics_at_startup() {
    let _ = RequireScopesLayer::all(["has space"]);
}

#[tokio::test]
async fn a_malformed_compile_time_scope_is_refused_not_a_panic() {
    let (key, record) = api_key("two words");
    let server = server(vec![record]).await;
    let reply = server.get("/malformed").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(reply.json()["error"]["code"], "insufficient_scope");
}
