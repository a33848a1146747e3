//! [`Quota`]: how many requests in how long, written the way people say it (`1000/hour`).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A rate: `count` requests per `window`, of which up to `burst` may come at once.
///
/// Enforced as GCRA (a token bucket without a timer): the bucket holds `burst` requests (by
/// default the whole `count`) and refills one every `window / count`. `1000/hour` lets a client
/// spend its thousand at once, then one every 3.6 s; `1000/hour burst 50` lets at most 50 through
/// at once.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::rate_limit::Quota;
///
/// let hourly: Quota = "1000/hour".parse()?;
/// assert_eq!(hourly, Quota::per_hour(1000));
/// assert_eq!(hourly.window(), Duration::from_secs(3600));
///
/// let spiky: Quota = "20/10s burst 5".parse()?;
/// assert_eq!((spiky.count(), spiky.burst()), (20, 5));
/// assert_eq!(spiky.to_string(), "20/10s burst 5");
///
/// assert!("0/hour".parse::<Quota>().is_err());
/// assert!("10/fortnight".parse::<Quota>().is_err());
/// # Ok::<(), tower_api_auth::rate_limit::QuotaError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    count: NonZeroU32,
    window: Duration,
    burst: NonZeroU32,
}

impl Quota {
    /// `count` requests per `window`; `None` when the count is zero or the window is shorter than
    /// a microsecond (its text form counts in microseconds at the finest). Sub-microsecond parts
    /// are dropped.
    pub fn new(count: u32, window: Duration) -> Option<Self> {
        let count = NonZeroU32::new(count)?;
        let window = Duration::from_micros(u64::try_from(window.as_micros()).ok()?);
        (!window.is_zero()).then_some(Self {
            count,
            window,
            burst: count,
        })
    }

    /// `count` requests a second.
    ///
    /// # Panics
    /// If `count` is zero (a route that takes no request is a route to remove).
    pub fn per_second(count: u32) -> Self {
        Self::fixed(count, 1)
    }

    /// `count` requests a minute. Panics if `count` is zero.
    pub fn per_minute(count: u32) -> Self {
        Self::fixed(count, 60)
    }

    /// `count` requests an hour. Panics if `count` is zero.
    pub fn per_hour(count: u32) -> Self {
        Self::fixed(count, 3600)
    }

    /// `count` requests a day. Panics if `count` is zero.
    pub fn per_day(count: u32) -> Self {
        Self::fixed(count, 86_400)
    }

    fn fixed(count: u32, seconds: u64) -> Self {
        Self::new(count, Duration::from_secs(seconds)).expect("a quota of zero requests")
    }

    /// At most `burst` requests at once (default: the whole count).
    ///
    /// # Panics
    /// If `burst` is zero.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = NonZeroU32::new(burst).expect("a burst of zero requests");
        self
    }

    /// The requests allowed per [`window`](Self::window).
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The window the count is per.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The most requests let through at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// How often the bucket gains one request: `window / count`, at least a nanosecond.
    pub fn interval(&self) -> Duration {
        (self.window / self.count.get()).max(Duration::from_nanos(1))
    }

    /// The window in whole seconds, at least one: the `w` of the `RateLimit-Policy` field.
    pub fn window_seconds(&self) -> u64 {
        self.window.as_secs().max(1)
    }
}

/// A quota that could not be read: says what was wrong, for a configuration error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaError(String);

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QuotaError {}

impl FromStr for Quota {
    type Err = QuotaError;

    /// `<count>/<window>` with an optional ` burst <n>`: the window is a unit (`second`, `minute`,
    /// `hour`, `day`, or `us`, `ms`, `s`, `sec`, `m`, `min`, `h`, `hr`, `d`, and plurals), optionally after a
    /// number (`15m`, `10 seconds`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wrong = |why: &str| QuotaError(format!("rate limit {text:?}: {why}"));
        let (rate, burst) = match text.split_once("burst") {
            Some((rate, burst)) => (rate, Some(burst.trim())),
            None => (text, None),
        };
        let (count, window) = rate
            .split_once('/')
            .ok_or_else(|| wrong("expected <count>/<window>, such as 1000/hour"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| wrong("the count is not a whole number"))?;
        let window = parse_window(window.trim()).ok_or_else(|| {
            wrong("the window is not a duration such as second, minute, hour, day or 15m")
        })?;
        let mut quota = Self::new(count, window)
            .ok_or_else(|| wrong("a quota must allow at least one request"))?;
        if let Some(burst) = burst {
            let burst: u32 = burst
                .parse()
                .map_err(|_| wrong("the burst is not a whole number"))?;
            if burst == 0 {
                return Err(wrong("a burst must allow at least one request"));
            }
            quota = quota.with_burst(burst);
        }
        Ok(quota)
    }
}

fn parse_window(text: &str) -> Option<Duration> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = if number.is_empty() {
        1
    } else {
        number.parse().ok()?
    };
    let micros: u64 = match unit.trim() {
        "us" => 1,
        "ms" => 1000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        _ => return None,
    };
    (number > 0).then(|| number.checked_mul(micros).map(Duration::from_micros))?
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.window.as_secs();
        let sub_second = self.window.subsec_nanos() != 0;
        let whole_millis = self.window.subsec_nanos().is_multiple_of(1_000_000);
        match seconds {
            _ if sub_second && whole_millis => {
                write!(f, "{}/{}ms", self.count, self.window.as_millis())?;
            }
            _ if sub_second => write!(f, "{}/{}us", self.count, self.window.as_micros())?,
            1 => write!(f, "{}/second", self.count)?,
            60 => write!(f, "{}/minute", self.count)?,
            3600 => write!(f, "{}/hour", self.count)?,
            86_400 => write!(f, "{}/day", self.count)?,
            _ => write!(f, "{}/{seconds}s", self.count)?,
        }
        if self.burst != self.count {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

impl Serialize for Quota {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ways_people_write_a_rate() {
        let cases = [
            ("1000/hour", Quota::per_hour(1000)),
            ("1000/h", Quota::per_hour(1000)),
            ("1000 / hours", Quota::per_hour(1000)),
            ("10/s", Quota::per_second(10)),
            ("10/sec", Quota::per_second(10)),
            ("100/minute", Quota::per_minute(100)),
            ("5000/day", Quota::per_day(5000)),
            (
                "100/15m",
                Quota::new(100, Duration::from_secs(900)).unwrap(),
            ),
            (
                "3/500ms",
                Quota::new(3, Duration::from_millis(500)).unwrap(),
            ),
            ("20/second burst 5", Quota::per_second(20).with_burst(5)),
        ];
        for (text, quota) in cases {
            assert_eq!(text.parse::<Quota>(), Ok(quota), "{text}");
            let again: Quota = quota.to_string().parse().unwrap();
            assert_eq!(again, quota, "{text} written back as {quota}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_rate_and_says_why() {
        for (text, why) in [
            ("1000", "expected <count>/<window>"),
            ("many/hour", "count is not a whole number"),
            ("-1/hour", "count is not a whole number"),
            ("0/hour", "at least one request"),
            ("10/0s", "the window is not a duration"),
            ("10/fortnight", "the window is not a duration"),
            ("10/hour burst 0", "a burst must allow"),
            ("10/hour burst x", "burst is not a whole number"),
            ("99999999999/hour", "count is not a whole number"),
        ] {
            let error = text.parse::<Quota>().unwrap_err().to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn a_window_is_written_back_as_it_reads() {
        for window in [
            Duration::from_micros(1),
            Duration::from_micros(1500),
            Duration::from_nanos(2_500_999),
        ] {
            let quota = Quota::new(7, window).unwrap();
            assert_eq!(quota.to_string().parse::<Quota>(), Ok(quota), "{quota}");
        }
        assert_eq!(Quota::new(1, Duration::from_nanos(999)), None);
    }

    #[test]
    fn the_interval_is_the_window_over_the_count() {
        assert_eq!(
            Quota::per_hour(1000).interval(),
            Duration::from_millis(3600)
        );
        assert_eq!(
            Quota::per_second(u32::MAX).interval(),
            Duration::from_nanos(1)
        );
        assert_eq!(
            Quota::new(3, Duration::from_millis(500))
                .unwrap()
                .window_seconds(),
            1
        );
    }
}
