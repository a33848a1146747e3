//! Time, injectable: every expiry, cache lifetime, session and revocation reads a [`Clock`].
//!
//! Production code uses [`SystemClock`] (the default everywhere). Tests hand a [`ManualClock`] to
//! the layer, the token service and the caches, and move it forward instead of sleeping:
//!
//! ```
//! use std::time::Duration;
//! use tower_api_auth::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::at(1_800_000_000);
//! let seen_by_the_layer = clock.clone(); // clones share one time
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(seen_by_the_layer.now(), 1_800_000_090);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch (JWT `NumericDate`s, key
/// expiries and session lifetimes all count in seconds).
///
/// ```
/// use tower_api_auth::clock::Clock;
///
/// /// A clock that reads the time from the app's own time service.
/// #[derive(Debug)]
/// struct Fixed(u64);
///
/// impl Clock for Fixed {
///     fn now(&self) -> u64 {
///         self.0
///     }
/// }
/// assert_eq!(Fixed(7).now(), 7);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, in unix seconds.
    fn now(&self) -> u64;

    /// Now, in unix nanoseconds: what the rate limiter counts in (a quota of 10 a second needs
    /// finer steps than seconds). The default is [`now`](Self::now) in whole seconds; a clock
    /// that knows better overrides it, as [`SystemClock`] and [`ManualClock`] do.
    fn now_nanos(&self) -> u64 {
        self.now().saturating_mul(NANOS_PER_SECOND)
    }
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock before 1970 is a broken host; 0 makes every credential look expired or not yet
        // valid, which fails closed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }

    /// Monotonic: the wall clock read once, then moved on by [`Instant`](std::time::Instant), so
    /// that a host clock stepped back (NTP) does not freeze every rate-limit bucket until it
    /// catches up, nor one stepped forward refill them all. It drifts from [`now`](Clock::now)
    /// only by what the host's clock is corrected by.
    fn now_nanos(&self) -> u64 {
        static START: std::sync::OnceLock<(u64, std::time::Instant)> = std::sync::OnceLock::new();
        let (wall, instant) = START.get_or_init(|| {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, nanos);
            (wall, std::time::Instant::now())
        });
        wall.saturating_add(nanos(instant.elapsed()))
    }
}

/// A clock that stands still until told to move: for tests, and for simulations. Clones share one
/// time, so the clock given to a layer can be advanced from the test that built it. It keeps
/// nanoseconds: [`advance`](Self::advance) by 100 ms ten times moves [`now`](Clock::now) by one
/// second.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::at(1_800_000_000);
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(clock.now(), 1_800_000_061);
/// // AuthLayer::builder().clock(clock.clone()) … then advance it to expire tokens.
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `unix` seconds.
    pub fn at(unix: u64) -> Self {
        Self(Arc::new(AtomicU64::new(
            unix.saturating_mul(NANOS_PER_SECOND),
        )))
    }

    /// A clock showing the system time now, standing still from then on.
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now())
    }

    /// Sets the time, in unix seconds.
    pub fn set(&self, unix: u64) {
        self.0
            .store(unix.saturating_mul(NANOS_PER_SECOND), Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (to the nanosecond).
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(nanos(by), Ordering::SeqCst);
    }

    /// Moves the time back by `by`, as a host clock stepped back by NTP would.
    pub fn rewind(&self, by: Duration) {
        let by = nanos(by);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_sub(by))
            });
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now_nanos() / NANOS_PER_SECOND
    }

    fn now_nanos(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }

    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

/// The clock as the crate's components hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The default clock: the system's.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// Formats a unix time (seconds) as RFC 3339 in UTC, as the crate writes times in error details,
/// `expires_at` fields and the verify answer.
///
/// ```
/// assert_eq!(tower_api_auth::clock::rfc3339(1_795_336_200), "2026-11-22T08:30:00Z");
/// ```
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::at(100);
        let shared: SharedClock = Arc::new(clock.clone());
        clock.advance(Duration::from_millis(2_900));
        assert_eq!(shared.now(), 102);
        clock.rewind(Duration::from_secs(500));
        assert_eq!(shared.now(), 0);
        clock.set(7);
        assert_eq!(shared.now(), 7);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now() > 1_577_836_800);
    }
}
