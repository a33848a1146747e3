//! Per-request cost of remote keys (feature `remote`), next to the same keys given statically, and
//! with a refresh of the remote set held in flight.
//!
//! For RS256 and ES256, one criterion group each (`remote_rs256`, `remote_es256`), all measured in
//! the same run, every request through `Router::layer(AuthLayer)` to a handler that extracts
//! `Identity`:
//!
//! * `static_cold` / `static_cached`: the key from PEM (`JwtValidator::new`), token cache off / on
//!   (the `layer` bench's `through_layer_cold` / `through_layer_cached`);
//! * `remote_cold` / `remote_cached`: the same key from a JWK set served over HTTP by a server
//!   started here (`RemoteJwks`, `JwtValidator::from_source`);
//! * `remote_cold_refresh_in_flight` / `remote_cached_refresh_in_flight`: the same, while a refresh
//!   of that set is in flight — the key server holds the request unanswered for the whole
//!   measurement (checked before and after).
//!
//! The claims: `remote_* ≈ static_*` (a remote key costs a request nothing more than a static one),
//! and `*_refresh_in_flight ≈ remote_*` (a request with a known `kid` never waits on a refresh).
//!
//! The key server and the refresh task run on a runtime of their own; requests are sent with
//! `oneshot` on the current-thread runtime the other benches use.
//!
//! `cargo bench --bench remote -- --noplot`

mod common;

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::StatusCode;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use tokio::sync::{Notify, Semaphore};
use tower_api_auth::jwt::{JwtOptions, TokenCacheConfig};
use tower_api_auth::remote::RemoteJwks;
use tower_api_auth::{AuthLayer, Identity, JwtValidator};

use common::{AUDIENCE, ISSUER, JwtCase, PATH, jwt_cases, runtime, send};

/// The key server: the JWK set, and a gate that holds requests while it is set.
struct KeyServer {
    jwks: String,
    gate: Mutex<Option<Arc<Semaphore>>>,
    arrived: Notify,
}

async fn jwks(State(server): State<Arc<KeyServer>>) -> String {
    let gate = server.gate.lock().expect("gate").clone();
    if let Some(gate) = gate {
        server.arrived.notify_one();
        let _held = gate.acquire().await;
    }
    server.jwks.clone()
}

async fn identity_handler(identity: Identity) -> &'static str {
    std::hint::black_box(&identity);
    "ok"
}

fn layered(validator: JwtValidator) -> Router {
    common::prepared(
        Router::new()
            .route(PATH, get(identity_handler))
            .layer(AuthLayer::builder().jwt(validator).build().expect("layer")),
    )
}

struct RemoteCase<'a> {
    case: &'a JwtCase,
    keys: RemoteJwks,
    server: Arc<KeyServer>,
    cold: Router,
    cached: Router,
}

fn remote_case<'a>(
    idp: &tokio::runtime::Runtime,
    case: &'a JwtCase,
    private_pem: &[u8],
) -> RemoteCase<'a> {
    let key = match case.algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem),
        _ => EncodingKey::from_ec_pem(private_pem),
    }
    .expect("private key");
    let mut jwk = Jwk::from_encoding_key(&key, case.algorithm).expect("jwk");
    jwk.common.key_id = Some("bench".to_owned());
    let server = Arc::new(KeyServer {
        jwks: serde_json::json!({ "keys": [jwk] }).to_string(),
        gate: Mutex::new(None),
        arrived: Notify::new(),
    });
    let keys = idp.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/jwks", get(jwks))
            .with_state(Arc::clone(&server));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("key server") });
        // A timeout longer than the measurement: the held refresh stays in flight throughout.
        RemoteJwks::builder(url)
            .timeout(Duration::from_secs(3600))
            .load()
            .await
            .expect("the JWK set loads")
    });
    let options = JwtOptions::new().issuer(ISSUER).audience(AUDIENCE);
    let cold = JwtValidator::from_source(
        keys.clone(),
        options.clone().token_cache(TokenCacheConfig::disabled()),
    );
    let cached = JwtValidator::from_source(keys.clone(), options);
    RemoteCase {
        case,
        keys,
        server,
        cold: layered(cold),
        cached: layered(cached),
    }
}

fn remote_groups(c: &mut Criterion) {
    let rt = runtime();
    let idp = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("key server runtime");
    let cases = jwt_cases();
    let private = |name: &str| {
        std::fs::read(format!(
            "{}/../testdata/keys/{name}.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("test key")
    };
    let remote = [
        remote_case(&idp, &cases[1], &private("rsa_private")),
        remote_case(&idp, &cases[2], &private("ec256_private")),
    ];
    for remote in &remote {
        let case = remote.case;
        let headers = &case.headers;
        rt.block_on(async {
            for router in [&case.cold, &case.cached, &remote.cold, &remote.cached] {
                assert_eq!(send(router, headers).await.status(), StatusCode::OK);
            }
        });
        let mut group = c.benchmark_group(format!("remote_{}", case.name));
        group.bench_function("static_cold", |b| {
            b.to_async(&rt).iter(|| send(&case.cold, headers));
        });
        group.bench_function("static_cached", |b| {
            b.to_async(&rt).iter(|| send(&case.cached, headers));
        });
        group.bench_function("remote_cold", |b| {
            b.to_async(&rt).iter(|| send(&remote.cold, headers));
        });
        group.bench_function("remote_cached", |b| {
            b.to_async(&rt).iter(|| send(&remote.cached, headers));
        });

        // Hold the next fetch of the set at the key server, and start one.
        let gate = Arc::new(Semaphore::new(0));
        *remote.server.gate.lock().expect("gate") = Some(Arc::clone(&gate));
        let keys = remote.keys.clone();
        let refresh = idp.spawn(async move { keys.refresh().await });
        idp.block_on(remote.server.arrived.notified());
        assert!(remote.keys.status().in_flight, "the refresh is in flight");
        group.bench_function("remote_cold_refresh_in_flight", |b| {
            b.to_async(&rt).iter(|| send(&remote.cold, headers));
        });
        group.bench_function("remote_cached_refresh_in_flight", |b| {
            b.to_async(&rt).iter(|| send(&remote.cached, headers));
        });
        assert!(
            remote.keys.status().in_flight,
            "the refresh was in flight throughout"
        );
        group.finish();

        // Let the refresh finish.
        *remote.server.gate.lock().expect("gate") = None;
        gate.add_permits(1);
        idp.block_on(refresh)
            .expect("refresh task")
            .expect("refresh");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = remote_groups
}
criterion_main!(benches);
