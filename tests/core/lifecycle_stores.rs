//! An app's own stores, written outside the crate with its public API only — a refresh store and
//! an OAuth client registry shaped like database tables — drive the token endpoints over real
//! HTTP: login, refresh, the reuse interval, reuse detection, logout, purge, client credentials.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde_json::json;
use tower_api_auth::api_key::{ApiKeyHasher, KeyHash};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::TokenEndpoints;
use tower_api_auth::issuer::TokenService;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{
    ClientRecord, ClientStore, Grace, RefreshStore, RefreshTokenHash, Rotation, SealedToken,
    Session, StoredSession,
};
use tower_api_auth::{AuthLayer, Tenant};

use common::lifecycle::*;
use common::serve;

/// One row of a `sessions` table: plain columns, the session itself as JSON.
#[derive(Clone)]
struct SessionRow {
    session_json: String,
    slot: Option<String>,
    generation: u64,
    current_hash: [u8; 32],
    last_used: u64,
    grace_sealed: Option<Vec<u8>>,
    grace_until: Option<u64>,
}

impl SessionRow {
    fn to_record(&self) -> Result<StoredSession, StoreError> {
        let session: Session = serde_json::from_str(&self.session_json).map_err(StoreError::new)?;
        let grace = match (&self.grace_sealed, self.grace_until) {
            (Some(sealed), Some(until)) => {
                let sealed = SealedToken::from_bytes(sealed)
                    .ok_or_else(|| StoreError::new("a sealed token of the wrong size"))?;
                Some(Grace::new(sealed, until))
            }
            _ => None,
        };
        Ok(
            StoredSession::new(session, RefreshTokenHash::from_bytes(self.current_hash))
                .with_generation(self.generation)
                .with_last_used(self.last_used)
                .with_grace(grace),
        )
    }
}

/// A `sessions` table keyed by session id, as a SQL store would keep it.
#[derive(Clone, Default)]
struct TableStore {
    rows: Arc<Mutex<HashMap<String, SessionRow>>>,
    calls: Arc<AtomicUsize>,
}

impl TableStore {
    fn rows(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
}

impl RefreshStore for TableStore {
    async fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut rows = self.rows.lock().unwrap();
        let mut ended = Vec::new();
        // DELETE FROM sessions WHERE slot = $1 RETURNING session
        let slot = session.slot.as_deref().map(str::to_owned);
        if let Some(slot) = &slot {
            let id = rows
                .iter()
                .find(|(_, row)| row.slot.as_ref() == Some(slot))
                .map(|(id, _)| id.clone());
            if let Some(row) = id.and_then(|id| rows.remove(&id)) {
                ended.push(row.to_record()?.session);
            }
        }
        // DELETE FROM sessions WHERE subject = $1 AND <alive> AND id NOT IN (the newest max - 1)
        let now = session.created_at;
        let mut live = Vec::new();
        for row in rows.values() {
            let record = row.to_record()?;
            if record.session.subject == session.subject && record.alive(now) {
                live.push(record.session);
            }
        }
        live.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        for old in live.into_iter().skip(max_per_subject.max(1) - 1) {
            rows.remove(&*old.id);
            ended.push(old);
        }
        let row = SessionRow {
            session_json: serde_json::to_string(&session).map_err(StoreError::new)?,
            slot,
            generation: 0,
            current_hash: *first.as_bytes(),
            last_used: session.created_at,
            grace_sealed: None,
            grace_until: None,
        };
        rows.insert(session.id.to_string(), row);
        Ok(ended)
    }

    async fn load(&self, session_id: &str) -> Result<Option<StoredSession>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let rows = self.rows.lock().unwrap();
        rows.get(session_id).map(SessionRow::to_record).transpose()
    }

    async fn rotate(&self, session_id: &str, rotation: Rotation) -> Result<bool, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // UPDATE sessions SET … WHERE id = $1 AND generation = $2 AND current_hash = $3
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.get_mut(session_id) else {
            return Ok(false);
        };
        if row.generation != rotation.from_generation
            || row.current_hash != *rotation.presented.as_bytes()
        {
            return Ok(false);
        }
        row.generation = rotation.from_generation + 1;
        row.current_hash = *rotation.next.as_bytes();
        row.last_used = rotation.at;
        row.grace_sealed = rotation.grace.map(|g| g.sealed.as_bytes().to_vec());
        row.grace_until = rotation.grace.map(|g| g.until);
        Ok(true)
    }

    async fn end(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let row = self.rows.lock().unwrap().remove(session_id);
        Ok(match row {
            Some(row) => Some(row.to_record()?.session),
            None => None,
        })
    }

    async fn purge(&self, now: u64) -> Result<usize, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let before = rows.len();
        rows.retain(|_, row| row.to_record().is_ok_and(|record| record.alive(now)));
        Ok(before - rows.len())
    }
}

/// A `clients` table: id, hex secret hash, scopes, tenants; secrets hashed with the app's pepper.
struct ClientTable {
    rows: HashMap<String, (String, String, Vec<String>)>,
}

fn pepper() -> ApiKeyHasher {
    ApiKeyHasher::with_pepper(b"the app's client pepper")
}

impl ClientStore for ClientTable {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let Some((hash, scopes, tenants)) = self.rows.get(client_id) else {
            return Ok(None);
        };
        let hash = KeyHash::from_hex(hash).ok_or_else(|| StoreError::new("a bad hash"))?;
        let scopes = Scopes::parse(scopes).map_err(StoreError::new)?;
        let tenants = tenants
            .iter()
            .map(|t| Tenant::new(t).map_err(StoreError::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(
            ClientRecord::new(client_id, hash, scopes).with_tenants(tenants),
        ))
    }

    fn secret_hasher(&self) -> ApiKeyHasher {
        pepper()
    }
}

#[tokio::test]
async fn an_apps_own_stores_drive_the_token_endpoints() {
    let clock = ManualClock::at(1_800_000_000);
    let store = TableStore::default();
    let client_secret = "a-client-secret-the-app-generated-itself";
    let clients = ClientTable {
        rows: HashMap::from([(
            "client_reports".to_owned(),
            (
                pepper().hash(client_secret).to_hex(),
                "reports:read".to_owned(),
                vec!["tn_reports".to_owned()],
            ),
        )]),
    };
    let tokens = Arc::new(
        TokenService::new(hs256_issuer(), store.clone())
            .passwords(Users::new())
            .clients(clients)
            .reuse_interval(Duration::from_secs(10))
            .session_ttl(Duration::from_secs(3_600))
            .clock(clock.clone()),
    );
    let auth = || {
        AuthLayer::builder()
            .jwt(tokens.validator())
            .revocation(tokens.revocations())
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let app = Router::new().nest("/v1", TokenEndpoints::new(tokens.clone()).router(auth()));
    let server = serve(app).await;
    let verify = |token: String| {
        let server = server.clone();
        async move { server.get("/v1/auth/verify").bearer(&token).send().await }
    };
    let refresh = |token: String| {
        let server = server.clone();
        async move {
            server
                .post_json("/v1/auth/refresh", &json!({ "refresh_token": token }))
                .await
        }
    };

    // Login and refresh, through the table.
    let login = server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD, "session_id": "laptop" }),
        )
        .await
        .assert_granted();
    assert_eq!(store.rows(), 1);
    let next = refresh(login.refresh().to_owned()).await.assert_granted();
    assert_eq!(next.session_id, login.session_id);
    assert_eq!(verify(next.access_token.clone()).await.status, 200);
    // The retry grace went through the table's columns and back.
    let retry = refresh(login.refresh().to_owned()).await.assert_granted();
    assert_eq!(retry.refresh(), next.refresh());
    // Past the interval: reuse, and the session ends everywhere.
    clock.advance(Duration::from_secs(10));
    refresh(login.refresh().to_owned())
        .await
        .assert_grant_error(400, "invalid_grant");
    refresh(next.refresh().to_owned())
        .await
        .assert_grant_error(400, "invalid_grant");
    verify(next.access_token.clone()).await.assert_revoked();
    assert_eq!(store.rows(), 0);

    // A new login in the same slot replaces the previous session, through the table.
    let first = server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD, "session_id": "phone" }),
        )
        .await
        .assert_granted();
    let second = server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD, "session_id": "phone" }),
        )
        .await
        .assert_granted();
    assert_eq!(store.rows(), 1);
    verify(first.access_token.clone()).await.assert_revoked();

    // Logout.
    let logout = server
        .post("/v1/auth/logout")
        .bearer(&second.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    refresh(second.refresh().to_owned())
        .await
        .assert_grant_error(400, "invalid_grant");
    assert_eq!(store.rows(), 0);

    // Past the session's end, the service purges the table.
    server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": BOB, "password": BOB_PASSWORD }),
        )
        .await
        .assert_granted();
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(tokens.purge_sessions().await.unwrap(), 1);
    assert_eq!(store.rows(), 0);
    assert!(store.calls.load(Ordering::SeqCst) > 10);

    // Client credentials from the app's table, its secret hashed with the app's pepper.
    let granted = server
        .post("/v1/auth/token")
        .basic("client_reports", client_secret)
        .form("grant_type=client_credentials")
        .send()
        .await
        .assert_granted();
    let claims = payload(&granted.access_token);
    assert_eq!(claims["client_id"], "client_reports");
    assert_eq!(claims["tenant_id"], "tn_reports");
    assert_eq!(granted.scope, "reports:read");
    let wrong = server
        .post("/v1/auth/token")
        .basic("client_reports", "not-the-secret")
        .form("grant_type=client_credentials")
        .send()
        .await;
    wrong.assert_grant_error(401, "invalid_client");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some(r#"Basic realm="token""#)
    );
}
