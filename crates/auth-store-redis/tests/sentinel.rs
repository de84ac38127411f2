//! The Redis store on a Sentinel set (a primary, its replica, three sentinels; real servers on
//! loopback ports, stopped by their pids): the lease contract through the sentinels, and a
//! failover followed: the primary killed with SIGKILL, the store uses the new primary within
//! the sentinels' failover time, and fences keep growing. Then 8 real processes on one P21
//! credential ride a failover under load without a failed call.

mod fleet;

use std::time::Instant;

use auth_core::store::{StoreKey, TokenStore};
use auth_store_redis::{RedisStore, SealingKey, SentinelSet};
use auth_testkit::check_lease_contract;
use fleet::*;

fn key() -> StoreKey {
    StoreKey::of("test", "https://auth.example.com/token").part("user", "alice")
}

fn set() -> SentinelSet {
    SentinelSet::start().expect(
        "this test needs redis-server and redis-sentinel (cargo xtask provision installs them)",
    )
}

fn store(set: &SentinelSet) -> RedisStore {
    RedisStore::sentinel(set.sentinel_urls(), SentinelSet::MASTER)
        .sealing_key(SealingKey::from_hex(SEALING_KEY).expect("key"))
        .build()
        .expect("store")
}

/// One scenario at a time: each starts a Sentinel set, and the fleet one 8 processes.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_the_primary_through_a_failover() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut set = set();
    let (a, b) = (store(&set), store(&set));
    let (_, second) = check_lease_contract(&a, &b, &key()).await;
    assert!(
        b.publish(&second, b"before the failover")
            .await
            .expect("publish")
    );
    b.release(&second).await.expect("release");
    let first_primary = set.first_primary().port();
    set.kill_primary();
    let killed = Instant::now();
    // Until the sentinels promote the replica, calls fail fast; then the new primary answers.
    let lease = lease_after_failover(&a, &key(), killed).await;
    until_not_named(Some(first_primary), || set.current_primary_port()).await;
    assert!(
        lease.fence > second.fence,
        "fences keep growing across the failover"
    );
    // An asynchronous replica may have missed the last record: then it is simply absent.
    if let Some(record) = a.load(&key()).await.expect("load") {
        assert_eq!(record.value, b"before the failover");
    }
    assert!(
        a.publish(&lease, b"after the failover")
            .await
            .expect("publish")
    );
}

/// 8 processes on one P21 user, 10-second tokens, Redis on a Sentinel set with each host's file
/// store under it, the primary killed mid-run: no call fails, and at most 2 token requests more
/// than the same run without the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_ride_a_failover_under_load() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (calm_set, mut set) = (set(), set());
    let spec = |set: &SentinelSet| {
        format!(
            "sentinel:{}|{}",
            SentinelSet::MASTER,
            set.sentinel_urls().join(",")
        )
    };
    let (calm_spec, kill_spec) = (spec(&calm_set), spec(&set));
    let (calm, failover) = tokio::join!(
        failover_run("sentinel-calm", &calm_spec, |_| {}),
        failover_run("sentinel-kill", &kill_spec, |_| set.kill_primary()),
    );
    eprintln!(
        "8 processes, 30 s, 10-s tokens: no failover {calm:?}; primary killed at 10 s {failover:?}"
    );
    assert_failover_costs_nothing(&calm, &failover, Some(2));
}
