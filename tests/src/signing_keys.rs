//! The signing-key store scenarios every store crate runs on its real server: the store's own
//! contract (a round trip, insert-if-absent, delete), and two key rings on two connections to
//! one store rotating at the same moment and agreeing on one key.

use std::sync::Arc;
use std::time::Duration;

use tower_api_auth::Algorithm;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::issuer::{AccessGrant, SigningKeys, TokenIssuer};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{PrivateKey, SigningKeyStore, StoredSigningKey};

const SECRET: &[u8] = b"the-fleet-secret-of-thirty-two-bytes!!";
const DAY: u64 = 24 * 3600;
const AHEAD: u64 = 3600;
const RELOAD: u64 = 60;

/// A store with nothing in it: load, insert-if-absent, a round trip of every field, delete.
pub async fn store_contract(store: impl SigningKeyStore) {
    assert!(store.load().await.unwrap().is_empty());
    let sealed = StoredSigningKey::new(
        "ES256-1800000000",
        Algorithm::ES256,
        PrivateKey::Sealed(vec![1, 0, 255, 7, 42]),
        r#"{"kty":"EC","kid":"ES256-1800000000"}"#,
    )
    .with_times(1_799_996_400, 1_800_000_000, 1_802_592_000);
    let plain = StoredSigningKey::new(
        "EdDSA-1802592000",
        Algorithm::EdDSA,
        PrivateKey::Plaintext(vec![0x30, 0x2e, 0]),
        r#"{"kty":"OKP"}"#,
    )
    .with_times(1_802_588_400, 1_802_592_000, 1_805_184_000);
    assert!(store.insert(sealed.clone()).await.unwrap());
    assert!(store.insert(plain.clone()).await.unwrap());
    // The same kid again, other material: refused, the first kept.
    let mut rival = sealed.clone();
    rival.private_key = PrivateKey::Sealed(vec![9, 9, 9]);
    assert!(!store.insert(rival).await.unwrap());
    let mut loaded = store.load().await.unwrap();
    loaded.sort_by_key(|key| key.signs_from);
    assert_eq!(loaded, [sealed.clone(), plain.clone()]);
    assert!(store.delete(&sealed.kid).await.unwrap());
    assert!(!store.delete(&sealed.kid).await.unwrap());
    assert_eq!(store.load().await.unwrap(), [plain]);
}

async fn ring(store: impl SigningKeyStore, clock: &ManualClock) -> SigningKeys {
    SigningKeys::builder(store, SECRET)
        .rotate_every(Duration::from_secs(DAY))
        .publish_ahead(Duration::from_secs(AHEAD))
        .reload_every(Duration::from_secs(RELOAD))
        .clock(clock.clone())
        .build()
        .await
        .unwrap()
}

/// Two rings, each on its own connection (`a`, `b`) to one empty store, start together and
/// rotate together: one first key, one successor, the same JWK set, and each validates the
/// other's tokens across the switch.
pub async fn two_instances_agree(a: impl SigningKeyStore, b: impl SigningKeyStore) {
    let t0 = 1_800_000_000;
    let clock = ManualClock::at(t0);
    let a = Arc::new(a);
    let (ring_a, ring_b) = tokio::join!(ring(a.clone(), &clock), ring(b, &clock));
    assert_eq!(
        ring_a.signing_kid(t0),
        ring_b.signing_kid(t0),
        "one first key"
    );
    let stored = a.load().await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].private_key.is_sealed());
    let end = stored[0].signs_until;

    clock.set(end - AHEAD - 2 * RELOAD);
    let (ra, rb) = tokio::join!(ring_a.refresh(), ring_b.refresh());
    ra.unwrap();
    rb.unwrap();
    assert_eq!(a.load().await.unwrap().len(), 2, "one successor");
    assert_eq!(ring_a.jwks_json(), ring_b.jwks_json());
    assert_eq!(ring_a.published_kids().len(), 2);

    let issuer_a = TokenIssuer::rotating(ring_a.clone(), "https://auth.example.test");
    let issuer_b = TokenIssuer::rotating(ring_b.clone(), "https://auth.example.test");
    let grant = AccessGrant::new("user_1", Scopes::parse("read").unwrap());
    let mut kids = Vec::new();
    for now in [end - 1, end] {
        let token = issuer_a.issue(&grant, now).unwrap();
        kids.push(ring_a.signing_kid(now));
        assert!(issuer_b.validator().validate(&token.token, now).is_ok());
        let token = issuer_b.issue(&grant, now).unwrap();
        assert!(issuer_a.validator().validate(&token.token, now).is_ok());
    }
    assert_ne!(
        kids[0], kids[1],
        "the successor signs from the old key's end"
    );
}
