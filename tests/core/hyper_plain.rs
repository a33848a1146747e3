//! The core layer on a plain hyper 1 server with a `tower::service_fn`: no axum anywhere, so the
//! layer works for any tower HTTP service (proxies, tonic, hand-written services).

use tower_api_auth_tests as common;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tower::{Layer as _, ServiceExt as _};
use tower_api_auth::{AuthLayer, Identity, MemoryKeyStore, RequireScopesLayer, error::ErrorFormat};

use common::{PAST, PAST_RFC3339, Server, api_key, assert_no_leak};

/// The inner service: echoes the identity, whether the credentials were marked sensitive, and the
/// request body (to show the body is streamed through untouched).
async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let sensitive = |name: &str| request.headers().get(name).map(|v| v.is_sensitive());
    let authorization = sensitive("authorization");
    let api_key = sensitive("x-api-key");
    let identity = request.extensions().get::<Identity>().cloned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let json = json!({
        "identity": identity,
        "authorization_sensitive": authorization,
        "api_key_sensitive": api_key,
        "body": body,
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json.to_string())))
        .expect("response"))
}

/// Serves `layer` around `echo` (and `RequireScopesLayer` when `scopes` is set) with hyper alone.
async fn serve_plain(layer: AuthLayer, scopes: Option<RequireScopesLayer>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let layer = Arc::new(layer);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let layer = Arc::clone(&layer);
            let scopes = scopes.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let inner = tower::service_fn(echo);
                    let layer = Arc::clone(&layer);
                    let scopes = scopes.clone();
                    async move {
                        let response = match scopes {
                            Some(scopes) => {
                                let service = layer.layer(scopes.layer(inner));
                                service
                                    .oneshot(request)
                                    .await?
                                    .map(|body| body.boxed_unsync())
                            }
                            None => layer
                                .layer(inner)
                                .oneshot(request)
                                .await?
                                .map(|body| body.boxed_unsync()),
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server::at(format!("http://{addr}"))
}

fn layer_with(
    records: Vec<tower_api_auth::api_key::KeyRecord>,
) -> tower_api_auth::layer::AuthLayerBuilder {
    AuthLayer::builder().api_keys(MemoryKeyStore::from(records))
}

#[tokio::test]
async fn an_api_key_reaches_a_plain_hyper_service() {
    let (key, record) = api_key("reports:read");
    let key_id = record.key_id.to_string();
    let server = serve_plain(layer_with(vec![record]).build().unwrap(), None).await;
    let reply = server.get("/").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        body["identity"],
        json!({
            "principal": key_id,
            "method": "api_key",
            "tenant": "tn_a",
            "scopes": ["reports:read"],
            "expires_at": null,
        })
    );
    assert_eq!(body["api_key_sensitive"], true);
    assert_eq!(body["authorization_sensitive"], json!(null));

    let reply = server
        .get("/")
        .bearer(&key)
        .header("x-tenant-id", "tn_b")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["identity"]["tenant"], "tn_b");
    assert_eq!(reply.json()["authorization_sensitive"], true);
}

#[tokio::test]
async fn the_request_body_streams_through() {
    let (key, record) = api_key("");
    let server = serve_plain(layer_with(vec![record]).build().unwrap(), None).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/upload", server.base()))
        .header("x-api-key", &key)
        .header("x-tenant-id", "tn_a")
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["body"].as_str().map(str::len), Some(100_000));
}

#[tokio::test]
async fn rejections_on_a_plain_hyper_service() {
    let (key, record) = api_key("");
    let (expired, expired_record) = api_key("");
    let server = serve_plain(
        layer_with(vec![record, expired_record.with_expires_at(PAST)])
            .realm("plain")
            .build()
            .unwrap(),
        None,
    )
    .await;

    let reply = server.get("/").send().await;
    reply.assert_error(401, "missing_credentials");
    reply.assert_challenge(Some(r#"Bearer realm="plain""#));

    let reply = server.get("/").api_key(&expired, "tn_a").send().await;
    let error = reply.assert_error(401, "api_key_expired");
    assert_eq!(error["details"]["expired_at"], PAST_RFC3339);
    reply.assert_challenge(Some(
        r#"Bearer realm="plain", error="invalid_token", error_description="The API key has expired""#,
    ));
    assert_no_leak(&reply, &expired);

    let reply = server.get("/").header("x-api-key", &key).send().await;
    reply.assert_error(400, "tenant_required");
    reply.assert_challenge(Some(
        r#"Bearer realm="plain", error="invalid_request", error_description="The X-Tenant-ID header is required with this credential""#,
    ));

    let reply = server.get("/").api_key(&key, "tn_zzz").send().await;
    reply.assert_error(403, "tenant_forbidden");

    let reply = server
        .get("/")
        .bearer(&key)
        .api_key(&key, "tn_a")
        .send()
        .await;
    reply.assert_error(400, "invalid_request");
    assert_no_leak(&reply, &key);

    // Not a key, and this service takes no JWTs.
    let reply = server.get("/").bearer("a.b.c").send().await;
    reply.assert_error(401, "invalid_token");
}

#[tokio::test]
async fn require_scopes_on_a_plain_hyper_service() {
    let (reader, reader_record) = api_key("reports:read");
    let (other, other_record) = api_key("reports:list");
    let server = serve_plain(
        layer_with(vec![reader_record, other_record])
            .error_format(ErrorFormat::Problem)
            .build()
            .unwrap(),
        Some(RequireScopesLayer::all(["reports:read"])),
    )
    .await;
    assert_eq!(
        server.get("/").api_key(&reader, "tn_a").send().await.status,
        200
    );
    let reply = server.get("/").api_key(&other, "tn_a").send().await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(reply.json()["code"], "insufficient_scope");
    assert_eq!(reply.json()["status"], 403);
    assert_eq!(reply.json()["required_scopes"], "reports:read");
    reply.assert_challenge(Some(
        r#"Bearer error="insufficient_scope", error_description="The credential lacks a required scope", scope="reports:read""#,
    ));
}

#[tokio::test]
async fn a_rejection_body_has_an_exact_size_hint() {
    use http_body::Body as _;

    let layer = layer_with(Vec::new()).build().unwrap();
    let service = layer.layer(tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
    }));
    let response = service
        .oneshot(Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let hint = response.body().size_hint().exact().expect("exact size");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(hint, body.len() as u64);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "missing_credentials");
}
