//! [`CodeStore`] on Redis: one hash per code, spent by one Lua script, expiring by itself.

use std::sync::Arc;
use std::time::Duration;

use crate::RedisStore;
use crate::error::{call, invalid};
use crate::scripts::{LATEST_EXPIRY, REDEEM_CODE, SAVE_CODE};
use tower_api_auth::store::{AuthorizationCode, CodeHash, CodeStore, Redemption, StoreError};

impl RedisStore {
    /// How long a code's key outlives the code's expiry. Redis deletes the key by itself then,
    /// spent or not, so the store's [`purge`](CodeStore::purge) does nothing: this margin is the
    /// store's `keep_spent_for`, fixed when the code is saved (the store does not know the
    /// service's). Within it, a replayed code still finds the session its first redemption
    /// started, for the service to revoke; after it, a replay is an unknown code. Ten minutes:
    /// far longer than any client retries a token request.
    pub const SPENT_CODES_KEPT_FOR: Duration = Duration::from_secs(600);
}

/// When the key of a code that expires at `expires_at` expires.
fn key_expiry(expires_at: u64) -> u64 {
    expires_at
        .saturating_add(RedisStore::SPENT_CODES_KEPT_FOR.as_secs())
        .min(LATEST_EXPIRY)
}

fn decode_code(op: &'static str, json: &[u8]) -> Result<AuthorizationCode, StoreError> {
    serde_json::from_slice(json)
        .map_err(|_| invalid(op, "a stored authorization code is malformed"))
}

/// Each call is one script on one key, so it runs on a cluster and is atomic: of concurrent
/// redemptions, Redis runs one script at a time, and exactly one finds the code unspent.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::scope::Scopes;
/// use tower_api_auth::store::{AuthorizationCode, CodeHash, CodeStore, Redemption};
/// use tower_api_auth_redis_store::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?.prefix("myapp-auth");
/// let hash = CodeHash::from_bytes([1; 32]); // the issuer hashes the code it hands out
/// let code = AuthorizationCode::new("spa", "user_1", Scopes::parse("read")?, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", 1_800_000_000, 1_800_000_060);
/// store.save(hash, code.clone()).await?; // the key expires at 1_800_000_060 + 600
/// assert_eq!(store.redeem(&hash, "ses_1").await?, Redemption::First(code));
/// # Ok(()) }
/// ```
impl CodeStore for RedisStore {
    /// Writes the code's key, which expires [`SPENT_CODES_KEPT_FOR`](Self::SPENT_CODES_KEPT_FOR)
    /// after the code (by the server's clock). A hash already stored is an error, never an
    /// overwrite: overwriting a spent code would make it redeemable again.
    async fn save(&self, hash: CodeHash, code: AuthorizationCode) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&code)
            .map_err(|_| invalid("save code", "the code does not serialize"))?;
        let mut connection = self.connection();
        let written: i64 = call(
            "save code",
            SAVE_CODE
                .key(self.keys.code(&hash))
                .arg(json)
                .arg(key_expiry(code.expires_at))
                .invoke_async(&mut connection),
        )
        .await?;
        if written == 1 {
            Ok(())
        } else {
            Err(invalid(
                "save code",
                "an authorization code with this hash already exists",
            ))
        }
    }

    async fn redeem(&self, hash: &CodeHash, session_id: &str) -> Result<Redemption, StoreError> {
        let mut connection = self.connection();
        let found: Option<(Vec<u8>, String, i64)> = call(
            "redeem code",
            REDEEM_CODE
                .key(self.keys.code(hash))
                .arg(session_id)
                .invoke_async(&mut connection),
        )
        .await?;
        let Some((json, first, spent_now)) = found else {
            return Ok(Redemption::Unknown);
        };
        let code = decode_code("redeem code", &json)?;
        Ok(if spent_now == 1 {
            Redemption::First(code)
        } else {
            Redemption::Replayed {
                code,
                session_id: Arc::from(first),
            }
        })
    }

    /// Does nothing: every code's key expires by itself,
    /// [`SPENT_CODES_KEPT_FOR`](Self::SPENT_CODES_KEPT_FOR) after the code, whatever
    /// `keep_spent_for` the service asks for.
    async fn purge(&self, _now: u64, _keep_spent_for: u64) -> Result<usize, StoreError> {
        Ok(0)
    }
}
