//! Refresh sessions: [`RefreshStore`](tower_api_auth::store::RefreshStore) on `auth_sessions`, one row per
//! session holding the hash of its one valid refresh token.

use crate::row::Columns;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{Grace, RefreshTokenHash, SealedToken, Session, StoredSession};

/// The columns of `auth_sessions`, in the order `start` binds them.
macro_rules! session_columns {
    () => {
        "id, slot, subject, scopes, tenants, client_id, api_key_id, claims, created_at, \
         expires_at, idle_timeout, generation, current_hash, last_used, grace_sealed, grace_until"
    };
}
pub(crate) use session_columns;

/// Whether a row is over at `$3` (now): past its absolute end, or idle for its idle timeout
/// (written so that no sum can overflow).
macro_rules! over {
    () => {
        "(expires_at <= $3 OR (idle_timeout IS NOT NULL AND idle_timeout <= $3 - last_used))"
    };
}
pub(crate) use over;

/// The session of an `auth_sessions` row.
pub(crate) fn session(row: &impl Columns) -> Result<Session, StoreError> {
    Ok(Session::new(
        row.text("id")?,
        row.text("subject")?,
        row.scopes("scopes")?,
        row.time("created_at")?,
        row.time("expires_at")?,
    )
    .with_tenants(row.json::<Vec<_>>("tenants")?)
    .with_client(row.opt_shared("client_id")?)
    .with_api_key(row.opt_shared("api_key_id")?)
    .with_slot(row.opt_shared("slot")?)
    .with_idle_timeout(row.opt_time("idle_timeout")?)
    .with_claims(row.json("claims")?))
}

/// A whole `auth_sessions` row.
pub(crate) fn stored_session(row: &impl Columns) -> Result<StoredSession, StoreError> {
    let grace = match (row.opt_bytes("grace_sealed")?, row.opt_time("grace_until")?) {
        (Some(sealed), Some(until)) => {
            let sealed = SealedToken::from_bytes(&sealed).ok_or_else(|| {
                StoreError::new("column grace_sealed does not hold a sealed token")
            })?;
            Some(Grace::new(sealed, until))
        }
        _ => None,
    };
    Ok(StoredSession::new(
        session(row)?,
        RefreshTokenHash::from_bytes(row.hash("current_hash")?),
    )
    .with_generation(row.time("generation")?)
    .with_last_used(row.time("last_used")?)
    .with_grace(grace))
}

/// Implements `RefreshStore` for `$store`, a store with a `pool`. `$subject_lock`, if given, is
/// run first in a login's transaction, bound to the subject, so that two logins of one
/// subject take turns: each then sees the other's session when it counts the subject's.
macro_rules! impl_refresh_store {
    ($store:ty $(, $subject_lock:literal)?) => {
        impl ::tower_api_auth::store::RefreshStore for $store {
            async fn start(
                &self,
                session: ::tower_api_auth::store::Session,
                first: ::tower_api_auth::store::RefreshTokenHash,
                max_per_subject: usize,
            ) -> Result<
                Vec<::tower_api_auth::store::Session>,
                ::tower_api_auth::store::StoreError,
            > {
                use $crate::error::{db_error, is_duplicate};
                use $crate::value::{int, json, opt_int};
                let now = session.created_at;
                // The new session is one of the bound: the others keep `max - 1`.
                let others = int(u64::try_from(max_per_subject.max(1) - 1).unwrap_or(u64::MAX));
                // Two logins racing for one slot: the one that commits second finds the other's
                // row in the unique `slot` index, and tries again, ending that session in turn.
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let mut tx = self.pool.begin().await.map_err(db_error)?;
                    $(
                        ::sqlx::query($subject_lock)
                            .bind(&*session.subject)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    )?
                    let mut ended = Vec::new();
                    if let Some(slot) = &session.slot {
                        let replaced = ::sqlx::query(concat!(
                            "DELETE FROM auth_sessions WHERE slot = $1 RETURNING ",
                            $crate::sessions::session_columns!()
                        ))
                        .bind(&**slot)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        if let Some(row) = replaced {
                            ended.push($crate::sessions::session(&row)?);
                        }
                    }
                    let inserted = ::sqlx::query(concat!(
                        "INSERT INTO auth_sessions (",
                        $crate::sessions::session_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $9, \
                         NULL, NULL)"
                    ))
                    .bind(&*session.id)
                    .bind(session.slot.as_deref())
                    .bind(&*session.subject)
                    .bind(session.scopes.as_str())
                    .bind(json(&session.tenants))
                    .bind(session.client_id.as_deref())
                    .bind(session.api_key_id.as_deref())
                    .bind(json(&session.claims))
                    .bind(int(session.created_at))
                    .bind(int(session.expires_at))
                    .bind(opt_int(session.idle_timeout))
                    .bind(&first.as_bytes()[..])
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        // Dropping the transaction rolls it back.
                        Err(error)
                            if is_duplicate(&error) && session.slot.is_some() && attempt < 3 =>
                        {
                            continue;
                        }
                        Err(error) => return Err(db_error(error)),
                        Ok(_) => {}
                    }
                    // The subject's other sessions that are over, and its live ones beyond the
                    // newest `max - 1`: found through the `(subject, created_at)` index.
                    let evicted = ::sqlx::query(concat!(
                        "DELETE FROM auth_sessions WHERE subject = $1 AND id <> $2 AND (",
                        $crate::sessions::over!(),
                        " OR id NOT IN (SELECT id FROM auth_sessions \
                         WHERE subject = $1 AND id <> $2 AND NOT (",
                        $crate::sessions::over!(),
                        ") ORDER BY created_at DESC, id DESC LIMIT $4)) RETURNING ",
                        $crate::sessions::session_columns!()
                    ))
                    .bind(&*session.subject)
                    .bind(&*session.id)
                    .bind(int(now))
                    .bind(others)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    for row in &evicted {
                        let stored = $crate::sessions::stored_session(row)?;
                        // Those already over were ended by their own clock, not by this login.
                        if stored.alive(now) {
                            ended.push(stored.session);
                        }
                    }
                    tx.commit().await.map_err(db_error)?;
                    return Ok(ended);
                }
            }

            async fn load(
                &self,
                session_id: &str,
            ) -> Result<
                Option<::tower_api_auth::store::StoredSession>,
                ::tower_api_auth::store::StoreError,
            > {
                ::sqlx::query(concat!(
                    "SELECT ",
                    $crate::sessions::session_columns!(),
                    " FROM auth_sessions WHERE id = $1"
                ))
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::db_error)?
                .map(|row| $crate::sessions::stored_session(&row))
                .transpose()
            }

            async fn rotate(
                &self,
                session_id: &str,
                rotation: ::tower_api_auth::store::Rotation,
            ) -> Result<bool, ::tower_api_auth::store::StoreError> {
                use $crate::value::int;
                // The compare-and-swap: only a row still at the generation and hash the rotation
                // was decided on changes.
                let done = ::sqlx::query(
                    "UPDATE auth_sessions SET generation = $2, current_hash = $3, last_used = $4, \
                     grace_sealed = $5, grace_until = $6 \
                     WHERE id = $1 AND generation = $7 AND current_hash = $8",
                )
                .bind(session_id)
                .bind(int(rotation.from_generation.saturating_add(1)))
                .bind(&rotation.next.as_bytes()[..])
                .bind(int(rotation.at))
                .bind(rotation.grace.map(|grace| grace.sealed.as_bytes().to_vec()))
                .bind(rotation.grace.map(|grace| int(grace.until)))
                .bind(int(rotation.from_generation))
                .bind(&rotation.presented.as_bytes()[..])
                .execute(&self.pool)
                .await
                .map_err($crate::error::db_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn end(
                &self,
                session_id: &str,
            ) -> Result<
                Option<::tower_api_auth::store::Session>,
                ::tower_api_auth::store::StoreError,
            > {
                ::sqlx::query(concat!(
                    "DELETE FROM auth_sessions WHERE id = $1 RETURNING ",
                    $crate::sessions::session_columns!()
                ))
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::db_error)?
                .map(|row| $crate::sessions::session(&row))
                .transpose()
            }

            async fn purge(&self, now: u64) -> Result<usize, ::tower_api_auth::store::StoreError> {
                use $crate::error::db_error;
                let now = $crate::value::int(now);
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                // Over: past the absolute end, or idle for the idle timeout (written so that no
                // sum can overflow).
                let removed = ::sqlx::query(
                    "DELETE FROM auth_sessions WHERE expires_at <= $1 \
                     OR (idle_timeout IS NOT NULL AND idle_timeout <= $1 - last_used)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                ::sqlx::query(
                    "UPDATE auth_sessions SET grace_sealed = NULL, grace_until = NULL \
                     WHERE grace_until <= $1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(usize::try_from(removed.rows_affected()).unwrap_or(usize::MAX))
            }
        }
    };
}
pub(crate) use impl_refresh_store;
