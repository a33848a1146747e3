//! The IETF rate-limit fields, as of draft-ietf-httpapi-ratelimit-headers-10: `RateLimit-Policy`
//! (each quota: `"<name>";q=<units>;w=<window seconds>`) and `RateLimit` (its state:
//! `"<name>";r=<remaining>;t=<seconds until more quota comes back>`), both Structured Field lists
//! (RFC 9651) whose items are the quoted policy names; and `Retry-After` (RFC 9110 §10.2.3,
//! seconds) on a refusal.

use std::fmt::Write;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::Decision;
use super::limits::{Limit, ceil_seconds};

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The fields of a request that passed every limit in `seen`; boxed, so that the response
/// future stays small when success fields are off.
pub(super) fn fields(seen: &[(&Limit, Decision)]) -> Box<HeaderMap> {
    let mut headers = Box::new(HeaderMap::with_capacity(2));
    if seen.is_empty() {
        return headers;
    }
    let mut policy = String::new();
    let mut state = String::new();
    for (i, (limit, decision)) in seen.iter().enumerate() {
        if i > 0 {
            policy.push_str(", ");
            state.push_str(", ");
        }
        policy_item(&mut policy, limit);
        state_item(&mut state, limit, decision);
    }
    insert(&mut headers, RATELIMIT_POLICY, policy);
    insert(&mut headers, RATELIMIT, state);
    headers
}

/// `Retry-After` and the fields of the limit that refused a request. Retry-After is never before
/// `t` (draft-10 §5): the request's whole cost comes back no sooner than its first unit.
pub(super) fn refusal_fields(headers: &mut HeaderMap, limit: &Limit, decision: Decision) {
    let retry_after = ceil_seconds(decision.retry_after().max(decision.reset())).max(1);
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
    let mut policy = String::new();
    policy_item(&mut policy, limit);
    let mut state = String::new();
    state_item(&mut state, limit, &decision);
    insert(headers, RATELIMIT_POLICY, policy);
    insert(headers, RATELIMIT, state);
}

/// The quota as GCRA enforces it: `q` units at once (the burst), coming back over `w` seconds
/// (the burst times the interval). For `1000/hour` that is `q=1000;w=3600`; for
/// `1000/hour burst 50`, `q=50;w=180`. (A client idle for a whole window may send `q` at once and
/// then one per interval: a sliding hour can hold up to `q` + the count.)
fn policy_item(out: &mut String, limit: &Limit) {
    let quota = limit.quota();
    let refill = quota.interval().saturating_mul(quota.burst());
    // Names are checked to be [A-Za-z0-9_.-] (and `/` between policy and plan) when the layer is
    // built: nothing to escape.
    let _ = write!(
        out,
        "\"{}\";q={};w={}",
        limit.shown,
        quota.burst(),
        ceil_seconds(refill).max(1)
    );
}

fn state_item(out: &mut String, limit: &Limit, decision: &Decision) {
    let _ = write!(
        out,
        "\"{}\";r={};t={}",
        limit.shown,
        decision.remaining(),
        ceil_seconds(decision.reset())
    );
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: String) {
    // Only ASCII from names checked at build time and numbers: always a valid value.
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}
