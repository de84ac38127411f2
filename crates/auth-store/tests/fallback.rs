//! `Fallback`: a shared store with a host-local one under it. Leases stay with the store that
//! granted them, the shared store is tried again after it failed, and the local record of the
//! outage is handed to it once it answers, only if newer. Time is tokio's paused clock.

use std::time::Duration;

use auth_core::store::{MemoryStore, StoreKey, TokenStore};
use auth_store::{Fallback, FileStore, SharedStore};

const TTL: Duration = Duration::from_secs(3);

fn key() -> StoreKey {
    StoreKey::of("test", "https://auth.example.com").part("user", "alice")
}

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lets the shared store answer probes for more than a second, as a recovered one does. (The
/// paused clock moves by sleeping, not `advance`, so that it never jumps past the deadline of a
/// call the store's own task has in flight.)
async fn settle<P: SharedStore + 'static, L: TokenStore + 'static>(store: &Fallback<P, L>) {
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        store
            .load(&StoreKey::of("probe", "x"))
            .await
            .expect("probe");
    }
}

fn stores(name: &str) -> (MemoryStore, Fallback<MemoryStore, FileStore>, Dir) {
    let dir = std::env::temp_dir().join(format!("fallback-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shared = MemoryStore::new();
    let store = Fallback::new(shared.clone(), FileStore::open(&dir).expect("open"));
    (shared, store, Dir(dir))
}

/// Two file stores, the shared one switchable, so that fences come from one clock.
fn switchable_stores(name: &str) -> (Switchable, Fallback<Switchable, FileStore>, Dir) {
    let dir = std::env::temp_dir().join(format!("fallback-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shared = Switchable::new(FileStore::open(dir.join("shared")).expect("open"));
    let local = FileStore::open(dir.join("local")).expect("open");
    (shared.clone(), Fallback::new(shared, local), Dir(dir))
}

/// Publishes `value` under a lease `owner` takes through `store`, then releases it.
async fn publish_once(store: &impl TokenStore, owner: &str, value: &[u8]) {
    let lease = store
        .try_lease(&key(), owner, TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(store.publish(&lease, value).await.expect("publish"));
    store.release(&lease).await.expect("release");
}

#[tokio::test(start_paused = true)]
async fn while_the_shared_store_is_down_the_local_one_serves_and_keeps_its_leases() {
    let (shared, store, _dir) = stores("down");
    shared.set_down(true);
    let lease = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    // Back meanwhile: the local lease is still renewed, published and released locally.
    shared.set_down(false);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(store.renew(&lease, TTL).await.expect("renew"));
    assert!(
        store
            .publish(&lease, b"kept locally")
            .await
            .expect("publish")
    );
    store.release(&lease).await.expect("release");
    assert_eq!(
        shared.load(&key()).await.expect("load"),
        None,
        "nothing written to the shared one"
    );
    assert!(store.local().load(&key()).await.expect("load").is_some());
    assert!(store.partial(), "the local store reaches this host only");
    // Once the shared store has answered for a while, the first load hands the newer local
    // record over.
    settle(&store).await;
    let record = store.load(&key()).await.expect("load").expect("record");
    assert!(!store.partial(), "the shared store is used again");
    assert_eq!(record.value, b"kept locally");
    let handed = shared
        .load(&key())
        .await
        .expect("load")
        .expect("handed over");
    assert_eq!((handed.fence, handed.value), (record.fence, record.value));
    // The local copy stays, for the processes still on the local store; it is not handed over
    // again.
    assert!(store.local().load(&key()).await.expect("load").is_some());
    store.load(&key()).await.expect("load");
    let again = shared.load(&key()).await.expect("load").expect("record");
    assert_eq!(again.fence, handed.fence, "handed over once");
}

#[tokio::test(start_paused = true)]
async fn an_older_local_record_is_not_handed_over() {
    let (shared, store, _dir) = switchable_stores("older");
    shared.set_down(true);
    publish_once(&store, "a", b"this host's").await;
    // Another host published a newer token to the shared store meanwhile.
    shared.set_down(false);
    publish_once(&shared, "b", b"newer").await;
    settle(&store).await;
    let record = store.load(&key()).await.expect("load").expect("record");
    assert_eq!(record.value, b"newer");
    assert_eq!(
        shared
            .load(&key())
            .await
            .expect("load")
            .expect("kept")
            .value,
        b"newer"
    );
}

/// A store that can be switched off, as a Redis server can go down, or made to hang, as one
/// can during a failover.
#[derive(Debug, Clone)]
struct Switchable {
    inner: FileStore,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    hanging: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Switchable {
    fn new(inner: FileStore) -> Self {
        Self {
            inner,
            down: Default::default(),
            hanging: Default::default(),
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn set_hanging(&self, hanging: bool) {
        self.hanging
            .store(hanging, std::sync::atomic::Ordering::SeqCst);
    }

    async fn up(&self) -> Result<(), auth_core::store::StoreError> {
        if self.hanging.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(auth_core::store::StoreError::new("down"))
        } else {
            Ok(())
        }
    }
}

#[auth_core::async_trait]
impl TokenStore for Switchable {
    async fn load(
        &self,
        key: &StoreKey,
    ) -> Result<Option<auth_core::store::Record>, auth_core::store::StoreError> {
        self.up().await?;
        self.inner.load(key).await
    }
    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<auth_core::store::Lease>, auth_core::store::StoreError> {
        self.up().await?;
        self.inner.try_lease(key, owner, ttl).await
    }
    async fn renew(
        &self,
        lease: &auth_core::store::Lease,
        ttl: Duration,
    ) -> Result<bool, auth_core::store::StoreError> {
        self.up().await?;
        self.inner.renew(lease, ttl).await
    }
    async fn publish(
        &self,
        lease: &auth_core::store::Lease,
        value: &[u8],
    ) -> Result<bool, auth_core::store::StoreError> {
        self.up().await?;
        self.inner.publish(lease, value).await
    }
    async fn release(
        &self,
        lease: &auth_core::store::Lease,
    ) -> Result<(), auth_core::store::StoreError> {
        self.up().await?;
        self.inner.release(lease).await
    }
    async fn remove_if(
        &self,
        key: &StoreKey,
        fence: u64,
    ) -> Result<bool, auth_core::store::StoreError> {
        self.up().await?;
        self.inner.remove_if(key, fence).await
    }
    async fn verifier(
        &self,
        key: &StoreKey,
        secret: &auth_core::Secret,
    ) -> Result<String, auth_core::store::StoreError> {
        self.inner.verifier(key, secret).await
    }
}

impl SharedStore for Switchable {}

#[tokio::test(start_paused = true)]
async fn a_failing_shared_store_is_used_again_only_once_it_has_answered_for_a_while() {
    let (shared, store, _dir) = stores("probe");
    shared.set_down(true);
    store.load(&key()).await.expect("served locally");
    shared.set_down(false);
    // Answering again, but not for a second yet: leases still come from the local store.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let lease = store
            .try_lease(&key(), "a", TTL)
            .await
            .expect("lease")
            .expect("free");
        assert!(
            !shared.renew(&lease, TTL).await.expect("renew"),
            "a local lease"
        );
        store.release(&lease).await.expect("release");
    }
    // Down again meanwhile (flapping): the second of answering starts over.
    shared.set_down(true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    store.load(&key()).await.expect("served locally");
    shared.set_down(false);
    settle(&store).await;
    let lease = store
        .try_lease(&key(), "b", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(
        shared.renew(&lease, TTL).await.expect("renew"),
        "from the shared store"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_the_hosts_then_the_fleets_and_a_publication_goes_to_both() {
    let (shared, store, _dir) = stores("both");
    let lease = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    // Another process of this host waits for this one, whatever store it sees.
    assert!(
        store
            .local()
            .try_lease(&key(), "b", TTL)
            .await
            .expect("lease")
            .is_none()
    );
    assert!(
        shared
            .try_lease(&key(), "b", TTL)
            .await
            .expect("lease")
            .is_none()
    );
    assert!(store.publish(&lease, b"token").await.expect("publish"));
    store.release(&lease).await.expect("release");
    let local = store
        .local()
        .load(&key())
        .await
        .expect("load")
        .expect("copy");
    assert_eq!(local.value, b"token");
    assert_eq!(
        shared
            .load(&key())
            .await
            .expect("load")
            .expect("record")
            .fence,
        lease.fence
    );
    // The token rejected: both its publication and the host's copy go.
    assert!(store.remove_if(&key(), lease.fence).await.expect("remove"));
    assert_eq!(shared.load(&key()).await.expect("load"), None);
    assert_eq!(store.local().load(&key()).await.expect("load"), None);
}

/// A shared store that hangs (a failover, a node gone silent) costs each operation at most the
/// budget, well within the cache's store timeout: the local store answers, so the cache never
/// sees a store error and never fetches on its own.
#[tokio::test(start_paused = true)]
async fn a_hanging_shared_store_costs_each_operation_at_most_the_budget() {
    let (shared, store, _dir) = switchable_stores("hang");
    let budget = Duration::from_millis(200);
    let store = store.primary_budget(budget);
    shared.set_hanging(true);
    /// One operation, which must answer within the budget.
    async fn timed<T>(what: &str, budget: Duration, op: impl std::future::Future<Output = T>) -> T {
        let started = tokio::time::Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(5), op)
            .await
            .unwrap_or_else(|_| panic!("{what}: hangs with the shared store"));
        assert!(
            started.elapsed() <= budget,
            "{what}: {:?}",
            started.elapsed()
        );
        out
    }
    let lease = timed("try_lease", budget, store.try_lease(&key(), "a", TTL))
        .await
        .expect("lease")
        .expect("free");
    assert!(
        timed("renew", budget, store.renew(&lease, TTL))
            .await
            .expect("renew")
    );
    let publish = store.publish(&lease, b"kept locally");
    assert!(timed("publish", budget, publish).await.expect("publish"));
    timed("release", budget, store.release(&lease))
        .await
        .expect("release");
    let record = timed("load", budget, store.load(&key()))
        .await
        .expect("load")
        .expect("record");
    assert_eq!(record.value, b"kept locally");
    let key = key();
    let remove = store.remove_if(&key, record.fence);
    assert!(timed("remove_if", budget, remove).await.expect("remove"));
    // Probed again while it still hangs: each probe costs the budget at most too.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let load = timed("load while probing", budget, store.load(&key)).await;
        assert!(load.expect("load").is_none());
    }
}

/// A record published on this host while the shared store was down is handed to it once it has
/// answered for a while, with no call on the store: the processes holding that token need not
/// look at the store for the other hosts to find it.
#[tokio::test(start_paused = true)]
async fn what_this_host_kept_is_handed_over_once_the_shared_store_answers_without_a_call() {
    let (shared, store, _dir) = switchable_stores("kept");
    shared.set_down(true);
    publish_once(&store, "a", b"kept").await;
    shared.set_down(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let record = shared.load(&key()).await.expect("load");
    assert_eq!(record.expect("handed over").value, b"kept");
    // Nothing kept any more: the store's task has ended, and dropping the store is the end.
    drop(store);
}

/// A process that made no call for a while after the shared store failed has seen no sign of
/// it going up and down: the shared store is used at its first answer, not 600 ms later (its
/// processes find the fleet's newest token at once).
#[tokio::test(start_paused = true)]
async fn after_a_quiet_while_the_shared_store_is_used_at_its_first_answer() {
    let (shared, store, _dir) = stores("quiet");
    for (quiet, from_the_fleet) in [(1_000, false), (2_100, true)] {
        shared.set_down(true);
        // Past any probe due, so that the failure is seen.
        tokio::time::sleep(Duration::from_millis(300)).await;
        store.load(&key()).await.expect("served locally");
        shared.set_down(false);
        tokio::time::sleep(Duration::from_millis(quiet)).await;
        // The first probe since the failure answers: enough only after 2 s without one.
        let lease = store
            .try_lease(&key(), "a", TTL)
            .await
            .expect("lease")
            .expect("free");
        let fleets = shared.renew(&lease, TTL).await.expect("renew");
        assert_eq!(fleets, from_the_fleet, "after {quiet} ms");
        store.release(&lease).await.expect("release");
    }
}
