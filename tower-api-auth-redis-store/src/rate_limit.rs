//! [`RateLimitBackend`] on Redis: one GCRA script per check, on the server's clock, so that a
//! fleet's instances spend one quota.

use std::time::Duration;

use crate::RedisStore;
use crate::error::{call, invalid};
use crate::scripts::{ACQUIRE, REFUND};
use tower_api_auth::rate_limit::{Decision, LimitKey, Quota, RateLimitBackend};
use tower_api_auth::store::{Lookup, StoreError};

/// The largest time the script is given, in microseconds (2^53, about 285 years): Lua's numbers
/// are doubles, exact up to there, so the script's sums stay exact.
const MAX_MICROS: u64 = 1 << 53;

/// The emission interval `T` of `quota` in whole microseconds, rounded to the nearest and at
/// least one: the script counts in microseconds. The rounding moves a quota by at most half a
/// microsecond per request (0.05 % of `1000/second`, nothing at human rates).
fn interval_micros(quota: &Quota) -> u64 {
    let rounded = (quota.interval().as_nanos() + 500) / 1000;
    u64::try_from(rounded)
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

fn micros(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

/// Each check is one script run (`EVALSHA`, one round trip): Redis reads its own clock, and the
/// check and its write are atomic, so two instances asking at once never both get the last
/// request, and the instances' clocks do not matter. A bucket is the key
/// `<prefix>:{rl:<LimitKey>}` (one cluster slot of its own), written only when a request
/// passes and expiring when the bucket is whole again.
///
/// A Redis that is down fails the check within the store's budget (about 4 seconds; at once
/// when the connection is refused), as every call of the store does, and the next check after
/// it is back succeeds. Put [`OverLimitCache`](tower_api_auth::rate_limit::OverLimitCache) in
/// front for a client far over its quota to cost no round trip.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_api_auth::store::StoreError> {
/// use tower_api_auth::rate_limit::{LimitKey, OverLimitCache, Quota, RateLimitBackend};
/// use tower_api_auth_redis_store::RedisStore;
///
/// let redis = RedisStore::connect("redis://127.0.0.1:6379").await?.prefix("myapp");
/// let fleet = OverLimitCache::new(redis);
/// let decision = fleet.acquire(&LimitKey::new("hourly", []), &Quota::per_hour(1000), 1).resolve().await?;
/// assert!(decision.is_allowed());
/// # Ok(()) }
/// ```
impl RateLimitBackend for RedisStore {
    fn acquire(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<Decision, StoreError> {
        let cost = cost.max(1);
        if cost > quota.burst() {
            // More than the bucket holds never passes: refused without a round trip, with the
            // answer the core's local limiter gives, so that the fleet and its fallback agree.
            return Lookup::Ready(Ok(Decision::gcra(quota, Duration::ZERO, cost)));
        }
        let bucket = self.keys.rate_limit(key);
        let interval = interval_micros(quota);
        let tau = interval
            .saturating_mul(u64::from(quota.burst()))
            .min(MAX_MICROS);
        let mut connection = self.connection();
        let quota = *quota;
        Lookup::pending(async move {
            let (passed, drawn): (i64, i64) = call(
                "acquire",
                ACQUIRE
                    .key(bucket)
                    .arg(interval)
                    .arg(tau)
                    .arg(cost)
                    .invoke_async(&mut connection),
            )
            .await?;
            // The script decided, atomically; the answer's numbers are the core's arithmetic on
            // the bucket as the script found it, so that they match the local limiter's.
            let decision = Decision::gcra(&quota, micros(drawn), cost);
            match (passed, decision.is_allowed()) {
                (1, true) | (0, false) => Ok(decision),
                // The script counts whole microseconds; at the edge of a bucket the two can
                // differ by that rounding: the script's verdict stands.
                (1, false) => Ok(Decision::allowed(0, quota.interval())),
                (0, true) => Ok(Decision::denied(quota.interval(), quota.interval())),
                _ => Err(invalid("acquire", "the script answered something else")),
            }
        })
    }

    fn refund(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<(), StoreError> {
        let bucket = self.keys.rate_limit(key);
        let weight = interval_micros(quota)
            .saturating_mul(u64::from(cost.max(1)))
            .min(MAX_MICROS);
        let mut connection = self.connection();
        Lookup::pending(async move {
            let _: i64 = call(
                "refund",
                REFUND.key(bucket).arg(weight).invoke_async(&mut connection),
            )
            .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_rounded_to_whole_microseconds_and_never_zero() {
        assert_eq!(interval_micros(&Quota::per_hour(1000)), 3_600_000);
        assert_eq!(interval_micros(&Quota::per_second(3)), 333_333);
        assert_eq!(interval_micros(&Quota::per_second(1_500_000)), 1); // 666.7 ns
        assert_eq!(interval_micros(&Quota::per_second(4_000_000)), 1); // 250 ns
        assert_eq!(interval_micros(&Quota::per_second(1_333_334)), 1); // 749.99 ns
        assert_eq!(interval_micros(&"2/3s".parse().unwrap()), 1_500_000);
        assert_eq!(interval_micros(&Quota::per_second(400_000)), 3); // 2.5 µs rounds up
    }
}
