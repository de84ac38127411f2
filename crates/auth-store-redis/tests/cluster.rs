//! The Redis store on a cluster (three primaries, each with a replica; real servers on loopback
//! ports, stopped by their pids): the lease contract, a credential's keys in one slot, and the
//! primary of that slot killed with SIGKILL: the store uses its replica once the cluster has
//! promoted it, and fences keep growing. Then 8 real processes on one P21 credential ride the
//! failover under load without a failed call.

mod fleet;

use std::time::Instant;

use auth_core::store::{StoreKey, TokenStore};
use auth_store_redis::{ClusterSet, RedisStore, SealingKey};
use auth_testkit::check_lease_contract;
use fleet::*;

fn key() -> StoreKey {
    StoreKey::of("test", "https://auth.example.com/token").part("user", "alice")
}

/// The Redis key of the record: the slot every key of this credential is in.
fn record_key(key: &StoreKey) -> String {
    format!("vendor-auth:{{{}}}:rec", auth_store::digest(key))
}

fn cluster() -> ClusterSet {
    ClusterSet::start()
        .expect("this test needs redis-server and redis-cli (cargo xtask provision installs them)")
}

fn store(cluster: &ClusterSet) -> RedisStore {
    RedisStore::cluster(cluster.urls())
        .sealing_key(SealingKey::from_hex(SEALING_KEY).expect("key"))
        .build()
        .expect("store")
}

/// One scenario at a time: each starts a cluster, and the fleet one 8 processes.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_its_slot_to_the_promoted_replica() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = cluster();
    let (a, b) = (store(&cluster), store(&cluster));
    let (_, second) = check_lease_contract(&a, &b, &key()).await;
    assert!(
        b.publish(&second, b"before the failover")
            .await
            .expect("publish")
    );
    b.release(&second).await.expect("release");
    let killed_port = cluster.kill_primary_of(&record_key(&key())).expect("kill");
    let killed = Instant::now();
    let lease = lease_after_failover(&a, &key(), killed).await;
    until_not_named(Some(killed_port), || {
        cluster.current_primary_of(&record_key(&key()))
    })
    .await;
    assert!(
        lease.fence > second.fence,
        "fences keep growing across the failover"
    );
    if let Some(record) = a.load(&key()).await.expect("load") {
        assert_eq!(record.value, b"before the failover");
    }
    assert!(
        a.publish(&lease, b"after the failover")
            .await
            .expect("publish")
    );
}

/// 8 processes on one P21 user, 10-second tokens, Redis Cluster with each host's file store
/// under it, the primary of the credential's slot killed mid-run: no call fails, and at most 2
/// token requests more than without the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_ride_a_cluster_failover_under_load() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (calm_cluster, mut cluster) = (cluster(), cluster());
    let spec = |cluster: &ClusterSet| format!("cluster:{}", cluster.urls().join(","));
    let (calm_spec, kill_spec) = (spec(&calm_cluster), spec(&cluster));
    let kill = |sandbox: &auth_sandbox::Sandbox| {
        // The workers' key, as a client of theirs names it: its slot's primary is killed.
        let probe = p21_auth::Client::builder()
            .base_url(sandbox.p21_base_url())
            .credentials(p21_auth::Credentials::user(
                P21_USER.0,
                p21_auth::Secret::new(P21_USER.1),
            ))
            .cache(auth_core::CacheOptions::default().store(auth_core::store::MemoryStore::new()))
            .build()
            .expect("client");
        let key = probe.cache().store_key().expect("a shared key").clone();
        cluster.kill_primary_of(&record_key(&key)).expect("kill");
    };
    let (calm, failover) = tokio::join!(
        failover_run("cluster-calm", &calm_spec, |_| {}),
        failover_run("cluster-kill", &kill_spec, kill),
    );
    eprintln!(
        "8 processes, 30 s, 10-s tokens, cluster: no failover {calm:?}; slot's primary killed at 10 s {failover:?}"
    );
    assert_failover_costs_nothing(&calm, &failover, Some(2));
}
