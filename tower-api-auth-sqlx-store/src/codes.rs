//! Authorization codes: [`CodeStore`](tower_api_auth::store::CodeStore) on `auth_codes`, one row per
//! code under its hash, spent by setting `spent_by` in one conditional `UPDATE`.

use crate::row::Columns;
use crate::value::from_json;
use tower_api_auth::store::{AuthorizationCode, StoreError};

/// How many times `redeem` tries again when the row it did not spend turns out to be unspent
/// after all: that happens only when the code was saved between its two statements, so the
/// second try settles it; the bound only keeps a corrupt table from looping.
pub(crate) const REDEEM_TRIES: usize = 3;

/// The code of a row's `code` column.
pub(crate) fn code(row: &impl Columns) -> Result<AuthorizationCode, StoreError> {
    from_json("code", &row.text("code")?)
}

/// The `expires_at` cutoff of `purge(now, keep_spent_for)`: a code goes when `expires_at +
/// keep_spent_for <= now`, that is `expires_at <= now - keep_spent_for`; `None` when nothing can
/// be that old. The stored "never" (`i64::MAX`) is above every cutoff, so it is never purged.
pub(crate) fn purge_cutoff(now: u64, keep_spent_for: u64) -> Option<i64> {
    let cutoff = now.checked_sub(keep_spent_for)?;
    Some(i64::try_from(cutoff).unwrap_or(i64::MAX).min(i64::MAX - 1))
}

/// The error of a save whose hash is taken: a code is never reset to unspent.
pub(crate) fn duplicate_code() -> StoreError {
    StoreError::new("an authorization code with this hash already exists")
}

/// Implements `CodeStore` for `$store`, a store with a `pool`.
macro_rules! impl_code_store {
    ($store:ty) => {
        impl ::tower_api_auth::store::CodeStore for $store {
            /// Inserts the code's row. A hash already stored is an error, never an overwrite:
            /// overwriting a spent code would make it redeemable again.
            async fn save(
                &self,
                hash: ::tower_api_auth::store::CodeHash,
                code: ::tower_api_auth::store::AuthorizationCode,
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                use $crate::error::{db_error, is_duplicate};
                ::sqlx::query(
                    "INSERT INTO auth_codes (hash, client_id, code, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&hash.as_bytes()[..])
                .bind(&*code.client_id)
                .bind($crate::value::json(&code))
                .bind($crate::value::int(code.expires_at))
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(|error| {
                    if is_duplicate(&error) {
                        $crate::codes::duplicate_code()
                    } else {
                        db_error(error)
                    }
                })
            }

            /// One conditional `UPDATE` spends the code: the database lets exactly one of
            /// concurrent redemptions match `spent_by IS NULL` (PostgreSQL re-checks the
            /// condition after waiting for the row's lock; SQLite runs writers one at a time).
            /// The others read the row after: `spent_by` is never cleared, so a row they
            /// failed to spend holds the winner's session — or is gone (purged), which is
            /// `Unknown`. A row read unspent was saved after the `UPDATE`: it is tried again.
            async fn redeem(
                &self,
                hash: &::tower_api_auth::store::CodeHash,
                session_id: &str,
            ) -> Result<::tower_api_auth::store::Redemption, ::tower_api_auth::store::StoreError>
            {
                use ::tower_api_auth::store::Redemption;
                use $crate::error::db_error;
                use $crate::row::Columns as _;
                for _ in 0..$crate::codes::REDEEM_TRIES {
                    let spent = ::sqlx::query(
                        "UPDATE auth_codes SET spent_by = $1 \
                         WHERE hash = $2 AND spent_by IS NULL RETURNING code",
                    )
                    .bind(session_id)
                    .bind(&hash.as_bytes()[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    if let Some(row) = spent {
                        return Ok(Redemption::First($crate::codes::code(&row)?));
                    }
                    let found =
                        ::sqlx::query("SELECT code, spent_by FROM auth_codes WHERE hash = $1")
                            .bind(&hash.as_bytes()[..])
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_error)?;
                    let Some(row) = found else {
                        return Ok(Redemption::Unknown);
                    };
                    if let Some(first) = row.opt_shared("spent_by")? {
                        return Ok(Redemption::Replayed {
                            code: $crate::codes::code(&row)?,
                            session_id: first,
                        });
                    }
                }
                Err(::tower_api_auth::store::StoreError::new(
                    "an authorization code could not be redeemed: it stayed unspent",
                ))
            }

            async fn purge(
                &self,
                now: u64,
                keep_spent_for: u64,
            ) -> Result<usize, ::tower_api_auth::store::StoreError> {
                let Some(cutoff) = $crate::codes::purge_cutoff(now, keep_spent_for) else {
                    return Ok(0);
                };
                let done = ::sqlx::query("DELETE FROM auth_codes WHERE expires_at <= $1")
                    .bind(cutoff)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::db_error)?;
                Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
            }
        }
    };
}
pub(crate) use impl_code_store;

#[cfg(test)]
mod tests {
    use super::purge_cutoff;

    #[test]
    fn the_purge_cutoff_never_reaches_the_stored_never() {
        assert_eq!(purge_cutoff(1_360, 300), Some(1_060));
        assert_eq!(purge_cutoff(299, 300), None);
        assert_eq!(purge_cutoff(u64::MAX, 0), Some(i64::MAX - 1));
        assert_eq!(purge_cutoff(i64::MAX as u64, 0), Some(i64::MAX - 1));
    }
}
