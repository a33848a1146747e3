//! [`RefreshStore`] on Redis: one hash per session, rotated by one Lua script.

use crate::RedisStore;
use crate::error::{call, invalid};
use crate::scripts::{END, LATEST_EXPIRY, RELEASE_SLOT, ROTATE, START, SWAP_SLOT};
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{
    Grace, RefreshStore, RefreshTokenHash, Rotation, SealedToken, Session, StoredSession,
};

/// The fields `load` reads: generation, current hash, last used, session, sealed grace, its end.
type Fields = (
    Option<u64>,
    Option<Vec<u8>>,
    Option<u64>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<u64>,
);

/// When the key of a session last used at `last_used` expires: its absolute end, or earlier its
/// idle deadline.
fn key_expiry(session: &Session, last_used: u64) -> u64 {
    let idle_end = session
        .idle_timeout
        .map_or(u64::MAX, |idle| last_used.saturating_add(idle));
    session.expires_at.min(idle_end).min(LATEST_EXPIRY)
}

fn decode_session(op: &'static str, json: &[u8]) -> Result<Session, StoreError> {
    serde_json::from_slice(json).map_err(|_| invalid(op, "a stored session is malformed"))
}

/// `start` and `end` each take two steps, each one atomic: the session's key and the slot's key
/// are in different cluster slots, so no one script may touch both. The order keeps a crash
/// between them harmless: the new session is written before the slot points at it, and the
/// previous one is ended after, so at worst the previous session lives on until its own end.
impl RefreshStore for RedisStore {
    async fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
    ) -> Result<Option<Session>, StoreError> {
        let json = serde_json::to_vec(&session)
            .map_err(|_| invalid("start", "the session does not serialize"))?;
        let key = self.keys.session(&session.id);
        let mut connection = self.connection();
        let idle = session
            .idle_timeout
            .map(|idle| idle.to_string())
            .unwrap_or_default();
        call(
            "start",
            START
                .key(&key)
                .arg(0u64)
                .arg(first.as_bytes().as_slice())
                .arg(session.created_at)
                .arg(json)
                .arg(session.expires_at)
                .arg(idle)
                .arg(key_expiry(&session, session.created_at))
                .invoke_async::<i64>(&mut connection),
        )
        .await?;
        let Some(slot) = &session.slot else {
            return Ok(None);
        };
        let previous: Option<String> = call(
            "start",
            SWAP_SLOT
                .key(self.keys.slot(slot))
                .arg(&*session.id)
                .arg(session.expires_at.min(LATEST_EXPIRY))
                .invoke_async(&mut connection),
        )
        .await?;
        match previous {
            Some(previous) => self.remove(&previous).await,
            None => Ok(None),
        }
    }

    async fn load(&self, session_id: &str) -> Result<Option<StoredSession>, StoreError> {
        let mut connection = self.connection();
        let (generation, current, last_used, json, sealed, until): Fields = call(
            "load",
            ::redis::cmd("HMGET")
                .arg(self.keys.session(session_id))
                .arg(&["gen", "cur", "used", "ses", "gs", "gu"])
                .query_async(&mut connection),
        )
        .await?;
        let Some(json) = json else { return Ok(None) };
        let session = decode_session("load", &json)?;
        let malformed = || invalid("load", "a stored session is malformed");
        let current: [u8; 32] = current
            .as_deref()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(malformed)?;
        let grace = match (sealed, until) {
            (Some(sealed), Some(until)) => Some(Grace::new(
                SealedToken::from_bytes(&sealed).ok_or_else(malformed)?,
                until,
            )),
            _ => None,
        };
        Ok(Some(
            StoredSession::new(session, RefreshTokenHash::from_bytes(current))
                .with_generation(generation.ok_or_else(malformed)?)
                .with_last_used(last_used.ok_or_else(malformed)?)
                .with_grace(grace),
        ))
    }

    async fn rotate(&self, session_id: &str, rotation: Rotation) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let (sealed, until) = match &rotation.grace {
            Some(grace) => (grace.sealed.as_bytes().to_vec(), grace.until),
            None => (Vec::new(), 0),
        };
        let applied: i64 = call(
            "rotate",
            ROTATE
                .key(self.keys.session(session_id))
                .arg(rotation.from_generation)
                .arg(rotation.presented.as_bytes().as_slice())
                .arg(rotation.from_generation.saturating_add(1))
                .arg(rotation.next.as_bytes().as_slice())
                .arg(rotation.at)
                .arg(sealed)
                .arg(until)
                .invoke_async(&mut connection),
        )
        .await?;
        Ok(applied == 1)
    }

    async fn end(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let ended = self.remove(session_id).await?;
        if let Some(slot) = ended.as_ref().and_then(|session| session.slot.as_ref()) {
            let mut connection = self.connection();
            call(
                "end",
                RELEASE_SLOT
                    .key(self.keys.slot(slot))
                    .arg(session_id)
                    .invoke_async::<i64>(&mut connection),
            )
            .await?;
        }
        Ok(ended)
    }

    /// Does nothing: every session's key expires by itself at the session's end (or idle
    /// deadline), and a stale retry grace is ignored by the service and replaced by the next
    /// rotation.
    async fn purge(&self, _now: u64) -> Result<usize, StoreError> {
        Ok(0)
    }
}

impl RedisStore {
    /// Removes a session's key and returns the session it held.
    async fn remove(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let mut connection = self.connection();
        let json: Option<Vec<u8>> = call(
            "end",
            END.key(self.keys.session(session_id))
                .invoke_async(&mut connection),
        )
        .await?;
        json.map(|json| decode_session("end", &json)).transpose()
    }
}
