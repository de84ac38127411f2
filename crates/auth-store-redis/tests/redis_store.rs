//! The Redis store against a real `redis-server` (started per test on a free loopback port,
//! stopped by its pid): the lease and its fence, fenced publication and compare-and-delete,
//! sealing at rest, bounded calls while Redis is down, and recovery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::store::{StoreKey, TokenStore};
use auth_core::{CacheOptions, TokenCache};
use auth_store::SharedStore;
use auth_store_redis::{RedisServer, RedisStore, SealingKey};
use auth_testkit::{ManualClock, ScriptedSource, check_lease_contract};

const TTL: Duration = Duration::from_secs(10);
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn server() -> RedisServer {
    RedisServer::start().expect("this test needs redis-server (cargo xtask provision installs it)")
}

fn key() -> StoreKey {
    StoreKey::new("test", "https://auth.example.com/token", "client=a")
}

fn store(server: &RedisServer) -> RedisStore {
    RedisStore::builder(server.url())
        .sealing_key(SealingKey::from_hex(KEY_HEX).expect("key"))
        .build()
        .expect("store")
}

/// A raw connection, to look at what Redis holds and to play a lease's expiry.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

#[tokio::test]
async fn the_lease_is_exclusive_fenced_and_checked_at_every_step() {
    let server = server();
    let (a, b) = (store(&server), store(&server));
    let (first, second) = check_lease_contract(&a, &b, &key()).await;

    // The lease lapses (played by deleting it, as its expiry would) and another takes it: the
    // first owner can neither renew nor publish any more, and its release frees nothing.
    let mut redis = raw(&server).await;
    let lease_key = format!("vendor-auth:{{{}}}:lease", auth_store::digest(&key()));
    let _: () = redis::cmd("DEL")
        .arg(&lease_key)
        .query_async(&mut redis)
        .await
        .expect("del");
    let third = a
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("lapsed");
    assert!(third.fence > second.fence);
    assert!(!b.renew(&second, TTL).await.expect("renew"));
    assert!(!b.publish(&second, b"stale").await.expect("publish"));
    b.release(&second).await.expect("release");
    assert!(
        b.try_lease(&key(), "b", TTL)
            .await
            .expect("lease")
            .is_none(),
        "still a's"
    );
    assert!(a.publish(&third, b"three").await.expect("publish"));

    // Compare-and-delete removes only the publication named.
    assert!(!a.remove_if(&key(), first.fence).await.expect("cad"));
    assert!(a.remove_if(&key(), third.fence).await.expect("cad"));
    assert!(a.load(&key()).await.expect("load").is_none());
    // The lease has its TTL in Redis.
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&lease_key)
        .query_async(&mut redis)
        .await
        .expect("pttl");
    assert!(pttl > 0 && pttl <= 10_000, "{pttl}");
}

#[tokio::test]
async fn records_are_sealed_bound_to_their_key_and_never_name_the_credential() {
    let server = server();
    let sealed = store(&server);
    let lease = sealed
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(
        sealed
            .publish(&lease, b"{\"access_token\":\"tok-secret\"}")
            .await
            .expect("publish")
    );
    sealed.release(&lease).await.expect("release");

    let mut redis = raw(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.starts_with("vendor-auth:{"), "{k}");
        assert!(!k.contains("client=a") && !k.contains("example.com"), "{k}");
    }
    let rec_key = format!("vendor-auth:{{{}}}:rec", auth_store::digest(&key()));
    let raw_value: Vec<u8> = redis::cmd("HGET")
        .arg(&rec_key)
        .arg("v")
        .query_async(&mut redis)
        .await
        .expect("hget");
    assert!(
        !raw_value.windows(10).any(|w| w == b"tok-secret"),
        "sealed at rest"
    );

    // Another key, or no key, cannot read it: the record is absent to them.
    let other = RedisStore::builder(server.url())
        .sealing_key(SealingKey::from_bytes(&[9; 32]).expect("key"))
        .build()
        .expect("store");
    assert!(other.load(&key()).await.expect("load").is_none());
    let plain = RedisStore::builder(server.url())
        .danger_store_unsealed()
        .build()
        .expect("store");
    assert!(plain.load(&key()).await.expect("load").is_none());
    // The old key still opens it during a rollover.
    let rolled = RedisStore::builder(server.url())
        .sealing_key(SealingKey::from_bytes(&[9; 32]).expect("key"))
        .also_open_with(SealingKey::from_hex(KEY_HEX).expect("key"))
        .build()
        .expect("store");
    assert!(rolled.load(&key()).await.expect("load").is_some());

    // A record moved to another credential's key does not open there.
    let other_key = StoreKey::new("test", "https://auth.example.com/token", "client=b");
    let moved = format!("vendor-auth:{{{}}}:rec", auth_store::digest(&other_key));
    let _: () = redis::cmd("COPY")
        .arg(&rec_key)
        .arg(&moved)
        .query_async(&mut redis)
        .await
        .expect("copy");
    assert!(sealed.load(&other_key).await.expect("load").is_none());

    // Unsealed storage is an explicit choice.
    assert!(
        plain
            .try_lease(&other_key, "p", TTL)
            .await
            .expect("lease")
            .is_some()
    );
}

#[test]
fn configuration_errors_are_clear_and_never_quote_the_url() {
    let err = RedisStore::builder("redis://:hunter2@127.0.0.1:1/0")
        .build()
        .expect_err("no sealing chosen");
    assert!(err.to_string().contains("sealing_key"), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    let err = RedisStore::builder("http://:hunter2@nowhere")
        .danger_store_unsealed()
        .build()
        .expect_err("not a redis URL");
    assert!(
        err.to_string().contains("not valid") && !err.to_string().contains("hunter2"),
        "{err}"
    );
    let store = RedisStore::builder("redis://:hunter2@127.0.0.1:1/0")
        .sealing_key(SealingKey::from_hex(KEY_HEX).expect("key"))
        .build()
        .expect("store");
    let debug = format!("{store:?}");
    assert!(
        !debug.contains("hunter2") && debug.contains("127.0.0.1"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_down_redis_fails_fast_and_a_restarted_one_serves_again_with_growing_fences() {
    let mut server = server();
    let store = RedisStore::builder(server.url())
        .sealing_key(SealingKey::from_hex(KEY_HEX).expect("key"))
        .call_timeout(Duration::from_millis(200))
        .build()
        .expect("store");
    let before = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    store.release(&before).await.expect("release");

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load(&key()).await.expect_err("down");
        assert!(started.elapsed() < Duration::from_secs(2), "bounded: {err}");
        assert!(!err.to_string().is_empty());
    }

    // Back (empty: no persistence): the same store reconnects, and fences keep growing.
    server.restart().expect("restart");
    let mut after = None;
    for _ in 0..50 {
        match store.try_lease(&key(), "a", TTL).await {
            Ok(lease) => {
                after = lease;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let after = after.expect("the store answers again after the restart");
    assert!(
        after.fence > before.fence,
        "{} > {}",
        after.fence,
        before.fence
    );
}

#[tokio::test]
async fn caches_on_one_redis_fetch_once() {
    let server = server();
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(Duration::from_secs(3600)));
    source.share_as(key());
    let process = || {
        TokenCache::builder(source.clone())
            .clock(Arc::new(clock.clone()))
            .options(CacheOptions::default().store(store(&server)))
            .build()
    };
    let caches: Vec<TokenCache> = (0..4).map(|_| process()).collect();
    for cache in &caches {
        cache.token().await.expect("token");
    }
    assert_eq!(source.calls(), 1);
    assert_eq!(
        caches.iter().map(|c| c.stats().store_adopted).sum::<u64>(),
        3
    );
}

#[tokio::test]
async fn taking_a_lease_again_as_its_owner_returns_the_same_fence() {
    // What a call retried after a dropped connection does: harmless.
    let server = server();
    let store = store(&server);
    let lease = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    let again = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("own");
    assert_eq!(again.fence, lease.fence);
    assert!(
        store
            .try_lease(&key(), "a-other", TTL)
            .await
            .expect("lease")
            .is_none()
    );
}

fn redis_key(what: &str) -> String {
    format!("vendor-auth:{{{}}}:{what}", auth_store::digest(&key()))
}

async fn set(redis: &mut redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    let _: redis::Value = cmd.query_async(redis).await.expect("command");
}

/// Forged or corrupt fences (not a number, `u64::MAX`, a century away) are neither obeyed nor
/// continued: leases keep working, fences keep growing from the clock, and the record they
/// carried reads as absent until it is replaced.
#[tokio::test]
async fn forged_fences_neither_block_leases_nor_stop_fences_from_growing() {
    let server = server();
    let store = store(&server);
    let mut redis = raw(&server).await;
    let before = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(store.publish(&before, b"genuine").await.expect("publish"));
    store.release(&before).await.expect("release");

    for forged in [
        "not-a-number",
        "18446744073709551615",
        "1e300",
        "-5",
        "99999999999999999",
    ] {
        set(&mut redis, &["SET", &redis_key("fence"), forged]).await;
        set(&mut redis, &["HSET", &redis_key("rec"), "f", forged]).await;
        set(&mut redis, &["SET", &redis_key("pub"), forged]).await;
        assert_eq!(store.load(&key()).await.expect("load"), None, "{forged}");
        let lease = store
            .try_lease(&key(), "a", TTL)
            .await
            .unwrap_or_else(|e| panic!("a lease despite {forged}: {e}"))
            .expect("free");
        // Every value it could continue from was forged: it starts again from the clock.
        assert!(lease.fence >= before.fence, "{forged}: {}", lease.fence);
        assert!(
            lease.fence < before.fence + 60_000,
            "{forged}: not continued"
        );
        assert!(store.publish(&lease, b"replaced").await.expect("publish"));
        store.release(&lease).await.expect("release");
        let record = store.load(&key()).await.expect("load").expect("replaced");
        assert_eq!(record.value, b"replaced");
    }
}

/// A lease planted without expiry (or longer than any cache takes) is taken over, not waited on.
#[tokio::test]
async fn a_planted_lease_that_never_expires_is_taken_over() {
    let server = server();
    let store = store(&server);
    let mut redis = raw(&server).await;
    set(&mut redis, &["SET", &redis_key("lease"), "intruder:5"]).await;
    let lease = store.try_lease(&key(), "a", TTL).await.expect("lease");
    assert!(lease.is_some(), "a lease that never expires is taken over");
    set(
        &mut redis,
        &["SET", &redis_key("lease"), "other:5", "PX", "5000"],
    )
    .await;
    let waits = store.try_lease(&key(), "b", TTL).await.expect("lease");
    assert!(waits.is_none(), "a lease a cache could hold is respected");
}

/// An older sealed record put back after it was replaced (a replay) is not adopted.
#[tokio::test]
async fn a_replayed_record_is_not_adopted() {
    let server = server();
    let store = store(&server);
    let mut redis = raw(&server).await;
    let first = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(store.publish(&first, b"old token").await.expect("publish"));
    store.release(&first).await.expect("release");
    let saved: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
        .arg(redis_key("rec"))
        .query_async(&mut redis)
        .await
        .expect("hgetall");
    let second = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(store.publish(&second, b"new token").await.expect("publish"));
    store.release(&second).await.expect("release");
    // Put the old record back, whole and genuinely sealed.
    let mut hset = redis::cmd("HSET");
    hset.arg(redis_key("rec"));
    for (field, value) in &saved {
        hset.arg(field).arg(value.as_slice());
    }
    let _: redis::Value = hset.query_async(&mut redis).await.expect("hset");
    assert_eq!(store.load(&key()).await.expect("load"), None);
}

/// The Redis commands one rotation costs, from `INFO commandstats`: round trips (one script
/// call each) and the commands the scripts run inside Redis. The fetching cache looks, takes the
/// lease, looks again, publishes and releases; each other cache adopts with one load.
#[tokio::test]
async fn one_rotation_costs_a_handful_of_redis_commands() {
    /// (script calls, all commands) so far.
    async fn calls(redis: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(redis)
            .await
            .expect("info");
        let count =
            |l: &str| -> Option<u64> { l.split("calls=").nth(1)?.split(',').next()?.parse().ok() };
        let lines: Vec<&str> = stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info"))
            .collect();
        let scripts = lines
            .iter()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| count(l))
            .sum();
        (scripts, lines.iter().filter_map(|l| count(l)).sum())
    }
    let server = server();
    let mut redis = raw(&server).await;
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(Duration::from_secs(3600)));
    source.share_as(key());
    let caches: Vec<TokenCache> = (0..2)
        .map(|_| {
            TokenCache::builder(source.clone())
                .clock(Arc::new(clock.clone()))
                .options(CacheOptions::default().store(store(&server)))
                .build()
        })
        .collect();
    // Warm: scripts loaded, connections made.
    for cache in &caches {
        cache.token().await.expect("token");
    }
    clock.advance(Duration::from_secs(3600));
    let start = calls(&mut redis).await;
    caches[0].token().await.expect("the rotation");
    let fetched = calls(&mut redis).await;
    caches[1].token().await.expect("adopted");
    let adopted = calls(&mut redis).await;
    let (trips, commands) = (fetched.0 - start.0, fetched.1 - start.1);
    let (adopt_trips, adopt_commands) = (adopted.0 - fetched.0, adopted.1 - fetched.1);
    eprintln!(
        "one rotation: the fetching cache {trips} round trips ({commands} commands in Redis), \
         each adopting cache {adopt_trips} ({adopt_commands})"
    );
    assert_eq!(source.calls(), 2);
    assert!(trips <= 5, "{trips} round trips");
    assert_eq!(adopt_trips, 1);
}

/// What two hosts kept through an outage is handed over under its own fence: the newest record
/// wins whichever host hands over first (with P21, the token still live), it stays sealed, and
/// the next lease's fence grows past it.
#[tokio::test]
async fn the_newest_kept_record_wins_whichever_host_hands_over_first() {
    let server = server();
    let store = store(&server);
    // Fences ahead of the clock, so that the next lease must grow past them, not just the clock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    let (older, newer) = (now + 30_000, now + 60_000);
    for (name, first, second) in [
        ("older first", (older, "older"), (newer, "newer")),
        ("newer first", (newer, "newer"), (older, "older")),
    ] {
        let key = StoreKey::new("test", "https://auth.example.com/token", name);
        let handed = store
            .hand_over(&key, first.0, first.1.as_bytes())
            .await
            .expect("hand over");
        assert_eq!(handed, Some(first.0), "{name}: the first is written");
        let handed = store
            .hand_over(&key, second.0, second.1.as_bytes())
            .await
            .expect("hand over");
        assert_eq!(handed, (second.0 > first.0).then_some(second.0), "{name}");
        let record = store.load(&key).await.expect("load").expect("record");
        assert_eq!(
            (record.fence, &record.value[..]),
            (newer, &b"newer"[..]),
            "{name}"
        );
        // Once more, the same: nothing newer, nothing written.
        assert_eq!(
            store
                .hand_over(&key, newer, b"again")
                .await
                .expect("hand over"),
            None
        );
        let lease = store
            .try_lease(&key, "a", TTL)
            .await
            .expect("lease")
            .expect("free");
        assert!(lease.fence > newer, "{name}");
    }
    // Sealed at rest like every record.
    let mut redis = raw(&server).await;
    let rec = format!(
        "vendor-auth:{{{}}}:rec",
        auth_store::digest(&StoreKey::new(
            "test",
            "https://auth.example.com/token",
            "older first"
        ))
    );
    let stored: Vec<u8> = redis::cmd("HGET")
        .arg(&rec)
        .arg("v")
        .query_async(&mut redis)
        .await
        .expect("hget");
    assert!(!stored.windows(5).any(|w| w == b"newer"), "sealed");
}
