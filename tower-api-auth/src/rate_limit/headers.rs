//! The IETF rate-limit fields, as of draft-ietf-httpapi-ratelimit-headers-10: `RateLimit-Policy`
//! (each quota: `"<name>";q=<count>;w=<window seconds>`) and `RateLimit` (its state:
//! `"<name>";r=<remaining>;t=<seconds until whole>`), both Structured Field lists (RFC 9651)
//! whose items are the quoted policy names; and `Retry-After` (RFC 9110 §10.2.3, seconds) on a
//! refusal.

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

/// `Retry-After` and the fields of the limit that refused a request.
pub(super) fn refusal_fields(headers: &mut HeaderMap, limit: &Limit, decision: Decision) {
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from(ceil_seconds(decision.retry_after()).max(1)),
    );
    let mut policy = String::new();
    policy_item(&mut policy, limit);
    let mut state = String::new();
    state_item(&mut state, limit, &decision);
    insert(headers, RATELIMIT_POLICY, policy);
    insert(headers, RATELIMIT, state);
}

fn policy_item(out: &mut String, limit: &Limit) {
    let quota = limit.quota();
    // Names are checked to be [A-Za-z0-9_./-] when the layer is built: nothing to escape.
    let _ = write!(
        out,
        "\"{}\";q={};w={}",
        limit.key_name,
        quota.count(),
        quota.window_seconds()
    );
}

fn state_item(out: &mut String, limit: &Limit, decision: &Decision) {
    let _ = write!(
        out,
        "\"{}\";r={};t={}",
        limit.key_name,
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
