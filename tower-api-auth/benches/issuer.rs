//! The token lifecycle's cost on the in-memory store: issuing a pair (login through the API-key
//! exchange, which includes the key check) and a refresh round trip (rotate + sign a new access
//! token), for HS256 and ES256 signing; and `issue` alone with a fixed ES256 key against the
//! rotating ring's current ES256 key (one atomic load more).
//!
//! `cargo bench --bench issuer -- --noplot`

use std::time::Duration;
use tower_api_auth::issuer::Login;

use criterion::{Criterion, criterion_group, criterion_main};
use tower_api_auth::{
    Algorithm, MemoryKeyStore, api_key::ApiKeyFormat, api_key::ApiKeyHasher,
    issuer::MemoryRefreshStore, issuer::SigningKey, issuer::TokenIssuer, issuer::TokenService,
    scope::Scopes,
};

fn service(signing: SigningKey) -> (TokenService, String) {
    let (key, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .into_parts();
    let record =
        record.with_scopes(Scopes::parse("conversations:read conversations:write").unwrap());
    let issuer = TokenIssuer::new(signing, "https://auth.bench.test").audience("api");
    let service = TokenService::new(issuer, MemoryRefreshStore::new())
        .api_keys(MemoryKeyStore::from(vec![record]));
    (service, key)
}

fn bench(c: &mut Criterion) {
    tower_api_auth::crypto::ensure_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let keys = [
        (
            "hs256",
            SigningKey::hmac(
                Algorithm::HS256,
                b"a-bench-secret-of-at-least-thirty-two-bytes",
            )
            .unwrap(),
        ),
        (
            "es256",
            SigningKey::from_pem(
                Algorithm::ES256,
                include_bytes!("../../testdata/keys/ec256_private.pem"),
            )
            .unwrap(),
        ),
    ];
    for (name, signing) in keys {
        let (service, api_key) = service(signing.with_kid("bench"));
        let mut group = c.benchmark_group(format!("issuer_{name}"));
        group.bench_function("issue_pair", |b| {
            b.iter(|| {
                rt.block_on(service.login(Login::api_key(&api_key)))
                    .unwrap()
            });
        });
        let mut refresh_token = rt
            .block_on(service.login(Login::api_key(&api_key)))
            .unwrap()
            .refresh_token
            .unwrap();
        group.bench_function("refresh_round_trip", |b| {
            b.iter(|| {
                let pair = rt.block_on(service.refresh(&refresh_token, None)).unwrap();
                refresh_token = pair.refresh_token.unwrap();
            });
        });
        group.finish();
    }
}

fn bench_issue(c: &mut Criterion) {
    use tower_api_auth::issuer::AccessGrant;
    tower_api_auth::crypto::ensure_provider();
    let grant = AccessGrant::new("user_1", Scopes::parse("conversations:read").unwrap());
    let now = 1_800_000_000;
    let mut group = c.benchmark_group("issue_es256");
    let fixed = TokenIssuer::new(
        SigningKey::from_pem(
            Algorithm::ES256,
            include_bytes!("../../testdata/keys/ec256_private.pem"),
        )
        .unwrap()
        .with_kid("bench"),
        "https://auth.bench.test",
    );
    group.bench_function("fixed_key", |b| {
        b.iter(|| fixed.issue(&grant, now).unwrap())
    });
    #[cfg(feature = "aws-lc-rs")]
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let keys = rt
            .block_on(
                tower_api_auth::issuer::SigningKeys::builder(
                    tower_api_auth::issuer::MemorySigningKeyStore::new(),
                    [7u8; 32],
                )
                .clock(tower_api_auth::clock::ManualClock::at(now))
                .build(),
            )
            .unwrap();
        let rotating = TokenIssuer::rotating(keys, "https://auth.bench.test");
        group.bench_function("rotating_ring", |b| {
            b.iter(|| rotating.issue(&grant, now).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(50);
    targets = bench, bench_issue
}
criterion_main!(benches);
