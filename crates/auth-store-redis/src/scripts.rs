//! The Lua scripts: each step that must check and act at once runs as one script on the
//! primary. Keys of one credential share a hash slot (`{digest}`).

use std::sync::LazyLock;

use redis::Script;

/// `KEYS[1]` record → `[fence, value]` (nil, nil when absent).
pub(crate) static LOAD: LazyLock<Script> =
    LazyLock::new(|| Script::new("return redis.call('HMGET', KEYS[1], 'f', 'v')"));

/// `KEYS` lease, fence counter, record; `ARGV` owner, ttl ms → the new fence, or 0 when
/// another owner holds the lease. The fence grows past the last one, the stored record's, and
/// the server's clock in milliseconds, so that it keeps growing even after Redis lost its data.
/// Taking a lease the owner already holds returns its fence (and extends it), so that a call
/// retried after a dropped connection is harmless.
pub(crate) static TRY_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if held then
  local prefix = ARGV[1] .. ':'
  if string.sub(held, 1, string.len(prefix)) == prefix then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(held, string.len(prefix) + 1))
  end
  return 0
end
local fence = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
local stored = tonumber(redis.call('HGET', KEYS[3], 'f') or '0')
if fence <= stored then fence = stored + 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if fence < now then fence = now end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
redis.call('SET', KEYS[2], fence)
return fence
",
    )
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

/// `KEYS` lease, record; `ARGV` owner:fence, fence, value, record ttl ms → 1 if written.
pub(crate) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'f', ARGV[2], 'v', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
",
    )
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
