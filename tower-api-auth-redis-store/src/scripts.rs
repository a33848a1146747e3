//! The Lua scripts: each one touches the keys of one cluster slot and runs atomically.
//!
//! The latest expiry any key is given: Redis refuses times whose milliseconds overflow, and a
//! session's end saturates at `u64::MAX`. Year 9999 is late enough.

use std::sync::LazyLock;

use ::redis::Script;

/// The latest time (unix seconds) a key's expiry is set to.
pub(crate) const LATEST_EXPIRY: u64 = 253_402_300_799;

/// Writes a new session. KEYS: the session. ARGV: generation, current hash, last used, the
/// session's JSON, its absolute end, its idle timeout (empty: none), the key's expiry.
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'cur', ARGV[2], 'used', ARGV[3],
  'ses', ARGV[4], 'exp', ARGV[5], 'idle', ARGV[6])
redis.call('EXPIREAT', KEYS[1], ARGV[7])
return 1
",
    )
});

/// Points a slot at a new session and returns the session it pointed at before (nil if none or
/// the same). KEYS: the slot. ARGV: the new session id, the key's expiry.
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static SWAP_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
if previous == ARGV[1] then return false end
return previous
",
    )
});

/// Clears a slot if it still points at the session. KEYS: the slot. ARGV: the session id.
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static RELEASE_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
",
    )
});

/// The compare-and-swap of a rotation: applies it only if the session still has the generation
/// and current hash it was decided on, then moves the key's expiry to the earlier of the
/// session's absolute end and the new idle deadline. Returns 1 if applied, 0 if not.
/// KEYS: the session. ARGV: the expected generation, the presented hash, the next generation,
/// the next hash, the time, the sealed successor (empty: no grace), the grace's end.
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local state = redis.call('HMGET', KEYS[1], 'gen', 'cur', 'exp', 'idle')
if not state[1] or state[1] ~= ARGV[1] or state[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'gen', ARGV[3], 'cur', ARGV[4], 'used', ARGV[5])
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[1], 'gs', 'gu')
else
  redis.call('HSET', KEYS[1], 'gs', ARGV[6], 'gu', ARGV[7])
end
local deadline = tonumber(state[3]) or 0
local idle = tonumber(state[4])
if idle then
  local idle_end = tonumber(ARGV[5]) + idle
  if idle_end < deadline then deadline = idle_end end
end
if deadline > {LATEST_EXPIRY} then deadline = {LATEST_EXPIRY} end
redis.call('EXPIREAT', KEYS[1], string.format('%d', deadline))
return 1
"
    ))
});

/// Adds a session to its subject's index and keeps the index alive until the latest end of its
/// sessions; returns every member but the new one, oldest first, when the subject is over its
/// bound (else nothing). KEYS: the subject's index. ARGV: the session id, when it started, the
/// bound, its end (the key's expiry).
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
-- The index's expiry as of the server's clock, which sets it: pushed later, never earlier.
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 or tonumber(redis.call('TIME')[1]) + ttl < tonumber(ARGV[4]) then
  redis.call('EXPIREAT', KEYS[1], ARGV[4])
end
if redis.call('ZCARD', KEYS[1]) <= tonumber(ARGV[3]) then return {} end
local others = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[1] then others[#others + 1] = id end
end
return others
",
    )
});

/// Keeps a subject within its bound: drops the given ids that are gone from its index, then
/// pops its oldest members but the new session until the bound holds, and returns those.
/// KEYS: the subject's index. ARGV: the bound, the new session id, then the ids that are gone.
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static EVICT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i = 3, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
local max = tonumber(ARGV[1])
local evicted = {}
while redis.call('ZCARD', KEYS[1]) > max do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 1)
  local id = oldest[1]
  if id == ARGV[2] then id = oldest[2] end
  if not id then break end
  redis.call('ZREM', KEYS[1], id)
  evicted[#evicted + 1] = id
end
return evicted
",
    )
});

/// Removes a session and returns its JSON (nil if it was not stored). KEYS: the session.
#[cfg_attr(not(feature = "issuer"), allow(dead_code))]
pub(crate) static END: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local session = redis.call('HGET', KEYS[1], 'ses')
if session then redis.call('DEL', KEYS[1]) end
return session
",
    )
});

/// Writes a new authorization code, unless its key exists (a spent code is never reset to
/// unspent), with its expiry. KEYS: the code. ARGV: the code's JSON, the key's expiry. Returns 1
/// if written, 0 if the key was taken.
#[cfg(feature = "issuer")]
pub(crate) static SAVE_CODE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'code', ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return 1
",
    )
});

/// Spends an authorization code: the first call records its session in `by`; every call returns
/// `{code JSON, first session, 1 if this call spent it else 0}`, or nil if there is no such code.
/// KEYS: the code. ARGV: the session the redemption starts.
#[cfg(feature = "issuer")]
pub(crate) static REDEEM_CODE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local state = redis.call('HMGET', KEYS[1], 'code', 'by')
if not state[1] then return false end
if state[2] then return {state[1], state[2], 0} end
redis.call('HSET', KEYS[1], 'by', ARGV[1])
return {state[1], ARGV[1], 1}
",
    )
});

/// Stores a revocation, keeping the later `until` of two, then announces it. KEYS: the sorted
/// set. ARGV: until, the id, the channel, the payload.
pub(crate) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
return redis.call('PUBLISH', ARGV[3], ARGV[4])
",
    )
});

/// One rate-limit check: GCRA on the server's clock (`TIME`, in microseconds: Lua's numbers are
/// doubles, exact to 2^53, and microseconds since 1970 stay far below that where nanoseconds do
/// not). The key holds the bucket's theoretical arrival time (TAT); a request of `cost` passes
/// when the TAT it would push to stays within `tau` of now, and is then written with an expiry
/// at that TAT, when the bucket is whole again, so idle keys cost Redis nothing. A refusal
/// writes nothing. The same math as the core's local limiter.
///
/// KEYS: the bucket. ARGV: the emission interval T (µs, at least 1), tau (T × burst, µs), the
/// cost. Returns `{passed, drawn}`: 1 or 0, and how far the bucket was drawn before the request
/// (TAT − now, µs), from which the store answers with the core's `Decision::gcra`.
#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = tat + tonumber(ARGV[3]) * interval
local ahead = new_tat - now
if ahead > tau then
  return {0, tat - now}
end
-- %.0f: tostring would round a 16-digit number to 14 significant digits.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000))
return {1, tat - now}
",
    )
});

#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
/// Gives back what an acquire spent (a later quota refused the request). KEYS: the bucket. ARGV:
/// the weight in microseconds (cost × interval). A bucket that would be whole again is deleted.
pub(crate) static REFUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(stored) - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
end
return 1
",
    )
});

/// Announces an event that stores nothing (a key's change, a ping). KEYS: the revocations'
/// sorted set, not read: it sends the call to the node that holds the revocations, so that on a
/// cluster every announcement of the feed leaves from one node and every subscriber, at
/// whichever node, hears them in the order they were published (a plain `PUBLISH` would go to
/// any node, and two nodes' broadcasts are not ordered). ARGV: the channel, the payload.
pub(crate) static ANNOUNCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
return redis.call('PUBLISH', ARGV[1], ARGV[2])
",
    )
});

/// [`ANNOUNCE`] for a key event: bumps the key epoch first, so that an instance that loses the
/// announcement sees the count move at its next resync. KEYS: the key epoch (in the revocations'
/// slot). ARGV: the channel, the payload.
pub(crate) static ANNOUNCE_KEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('INCR', KEYS[1])
return redis.call('PUBLISH', ARGV[1], ARGV[2])
",
    )
});
