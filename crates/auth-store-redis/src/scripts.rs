//! The Lua scripts: each step that must check and act at once runs as one script on the
//! primary. Keys of one credential share a hash slot (`{digest}`).

use std::sync::LazyLock;

use redis::Script;

/// The server's clock in ms, and `fence_of(v)`: `v` as a fence this store can have handed out
/// (a whole number from 1 to a century past the clock), else nil. Values that fail it were
/// forged or corrupted: they are replaced, never continued or obeyed.
macro_rules! prelude {
    () => {
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fence_of(v)
  local n = tonumber(v)
  if n and n >= 1 and n <= now + 3153600000000 and n == math.floor(n) then return n end
  return nil
end
"
    };
}

/// `KEYS` record, published fence → `[fence, value, published]` (nils when absent).
pub(crate) static LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local r = redis.call('HMGET', KEYS[1], 'f', 'v')
return {r[1], r[2], redis.call('GET', KEYS[2])}",
    )
});

/// `KEYS` lease, fence counter, record, published fence; `ARGV` owner, ttl ms, the longest
/// lease a cache takes (ms) → the new fence, or 0 when another owner holds the lease. The fence
/// grows past the last one, the stored record's, the last publication's and the server's clock
/// in milliseconds, so that it keeps growing even after Redis lost its data. Taking a lease the
/// owner already holds returns its fence (and extends it), so that a call retried after a
/// dropped connection is harmless. A lease that never expires or outlasts any cache's is forged,
/// and taken over.
pub(crate) static TRY_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local held = redis.call('GET', KEYS[1])
if held then
  local prefix = ARGV[1] .. ':'
  local mine = string.sub(held, 1, string.len(prefix)) == prefix
  local fence = mine and fence_of(string.sub(held, string.len(prefix) + 1))
  if fence then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return fence
  end
  local ttl = redis.call('PTTL', KEYS[1])
  if not mine and ttl >= 0 and ttl <= tonumber(ARGV[3]) then return 0 end
end
local fence = math.max(
  fence_of(redis.call('GET', KEYS[2])) or 0,
  fence_of(redis.call('HGET', KEYS[3], 'f')) or 0,
  fence_of(redis.call('GET', KEYS[4])) or 0) + 1
if fence < now then fence = now end
local text = string.format('%d', fence)
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. text, 'PX', ARGV[2])
redis.call('SET', KEYS[2], text)
return fence
"
    ))
});

/// `KEYS[1]` lease; `ARGV` owner:fence, ttl ms → 1 if still held (and extended).
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// `KEYS` lease, record, published fence; `ARGV` owner:fence, fence, value, record ttl ms → 1
/// if written. The published fence outlives a replaced record's, so that the old one put back
/// (a replay) is known.
pub(crate) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'f', ARGV[2], 'v', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
return 1
",
    )
});

/// `KEYS` record, published fence; `ARGV` fence, value, record ttl ms → 1 if written: the record
/// a host kept during an outage, under its own fence, only if that is newer than the record and
/// the last publication (so that the newest wins, whichever host hands over first). The next
/// lease's fence grows past it.
pub(crate) static HAND_OVER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local fence = fence_of(ARGV[1])
if not fence then return 0 end
local newest = math.max(
  fence_of(redis.call('HGET', KEYS[1], 'f')) or 0,
  fence_of(redis.call('GET', KEYS[2])) or 0)
if fence <= newest then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'f', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
"
    ))
});

/// `KEYS[1]` lease; `ARGV[1]` owner:fence → 1 if it was held and is now released.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// `KEYS[1]` record; `ARGV[1]` fence → 1 if the record was that publication and is deleted.
pub(crate) static REMOVE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'f') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});
