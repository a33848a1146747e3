//! [`RefreshStore`] on Redis: one hash per session, rotated by one Lua script.

use crate::RedisStore;
use crate::error::{call, invalid};
use crate::scripts::{ADMIT, END, EVICT, LATEST_EXPIRY, RELEASE_SLOT, ROTATE, START, SWAP_SLOT};
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

/// `start` and `end` take several steps, each one atomic: the session's key, the slot's key and
/// the subject's index are in different cluster slots, so no one script may touch them all. The
/// order keeps a crash between them harmless: the new session is written before the slot and
/// the subject's index name it, and the sessions they displace are ended after, so at worst a
/// displaced session lives on until its own end. Which sessions a login displaces is decided by
/// one script on the subject's index, so concurrent logins of one subject never keep more than
/// the bound.
impl RefreshStore for RedisStore {
    async fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> Result<Vec<Session>, StoreError> {
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
        let mut ended = Vec::new();
        if let Some(slot) = &session.slot {
            let previous: Option<String> = call(
                "start",
                SWAP_SLOT
                    .key(self.keys.slot(slot))
                    .arg(&*session.id)
                    .arg(session.expires_at.min(LATEST_EXPIRY))
                    .invoke_async(&mut connection),
            )
            .await?;
            if let Some(previous) = previous {
                ended.extend(self.end(&previous).await?);
            }
        }
        for evicted in self.make_room(&session, max_per_subject.max(1)).await? {
            ended.extend(self.end(&evicted).await?);
        }
        Ok(ended)
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
        let Some(session) = &ended else {
            return Ok(None);
        };
        let mut connection = self.connection();
        if let Some(slot) = &session.slot {
            call(
                "end",
                RELEASE_SLOT
                    .key(self.keys.slot(slot))
                    .arg(session_id)
                    .invoke_async::<i64>(&mut connection),
            )
            .await?;
        }
        call(
            "end",
            ::redis::cmd("ZREM")
                .arg(self.keys.subject(&session.subject))
                .arg(session_id)
                .query_async::<i64>(&mut connection),
        )
        .await?;
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
    /// Adds `session` to its subject's index and, when that holds more than `max`, takes out the
    /// oldest others until it does not; returns their ids. Ids whose session is gone (ended
    /// elsewhere, or expired by Redis) are dropped first and never count. The work is bounded
    /// by `max`: the index never keeps more than `max` ids past a login.
    async fn make_room(&self, session: &Session, max: usize) -> Result<Vec<String>, StoreError> {
        let index = self.keys.subject(&session.subject);
        let mut connection = self.connection();
        let others: Vec<String> = call(
            "start",
            ADMIT
                .key(&index)
                .arg(&*session.id)
                .arg(session.created_at)
                .arg(max)
                .arg(session.expires_at.min(LATEST_EXPIRY))
                .invoke_async(&mut connection),
        )
        .await?;
        if others.is_empty() {
            return Ok(Vec::new());
        }
        // The sessions' keys are in slots of their own: on a cluster no one command or
        // pipeline may hold them all (it would fail with CROSSSLOT), so each is asked alone.
        // The calls go out together: on one server they share one round trip still, as the
        // multiplexed connection pipelines them; on a cluster, one to each node.
        let alive: Vec<bool> = futures_util::future::try_join_all(others.iter().map(|id| {
            let mut connection = self.connection();
            let key = self.keys.session(id);
            async move {
                call(
                    "start",
                    ::redis::cmd("EXISTS")
                        .arg(key)
                        .query_async::<bool>(&mut connection),
                )
                .await
            }
        }))
        .await?;
        let mut evict = EVICT.key(&index);
        evict.arg(max).arg(&*session.id);
        for (id, alive) in others.iter().zip(alive) {
            if !alive {
                evict.arg(id);
            }
        }
        call("start", evict.invoke_async(&mut connection)).await
    }

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
