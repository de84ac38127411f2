//! Caches sharing one credential through a `TokenStore`: adoption, the lease and its takeover,
//! compare-and-delete after a 401, shared rejections and degraded mode. Two caches around clones
//! of one `ScriptedSource` stand for two processes (the source counts the token requests of
//! both). Time is a manual clock; nothing sleeps for real.

use std::sync::Arc;
use std::time::Duration;

use auth_core::store::{Lease, MemoryStore, Record, StoreError, StoreKey, TokenStore};
use auth_core::{CacheOptions, Error, ErrorKind, Secret, Token, TokenCache};
use auth_testkit::{ManualClock, ScriptedSource};

const HOUR: Duration = Duration::from_secs(3600);

fn key() -> StoreKey {
    StoreKey::new("test", "https://auth.example.com/token", "client=a")
}

struct Fleet {
    clock: ManualClock,
    source: ScriptedSource,
    store: MemoryStore,
}

impl Fleet {
    fn new(lifetime: Option<Duration>) -> Self {
        Self::with_source(|clock| ScriptedSource::new(clock, lifetime))
    }

    fn gated(lifetime: Option<Duration>) -> Self {
        Self::with_source(|clock| ScriptedSource::gated(clock, lifetime))
    }

    fn with_source(make: impl FnOnce(Arc<ManualClock>) -> ScriptedSource) -> Self {
        let clock = ManualClock::new();
        let source = make(Arc::new(clock.clone()));
        source.share_as(key());
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        Self {
            clock,
            source,
            store,
        }
    }

    /// One more "process": its own cache, the shared credential and store.
    fn process(&self) -> TokenCache {
        self.process_refreshing_at_most_every(Duration::ZERO)
    }

    /// A process whose forced refreshes come at most once per `interval`.
    fn process_refreshing_at_most_every(&self, interval: Duration) -> TokenCache {
        TokenCache::builder(self.source.clone())
            .clock(Arc::new(self.clock.clone()))
            .options(
                CacheOptions::default()
                    .store(self.store.clone())
                    .min_forced_refresh_interval(interval),
            )
            .build()
    }
}

fn secret(t: &Token) -> String {
    t.access_token().expose_secret().to_owned()
}

/// Lets spawned tasks run until `cond` holds, advancing the manual clock a little each time so
/// that store polls come round (bounded).
async fn until(clock: &ManualClock, what: &str, cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
        clock.advance(Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_second_process_adopts_the_first_ones_token() {
    let fleet = Fleet::new(Some(HOUR));
    let (a, b) = (fleet.process(), fleet.process());
    let ta = a.token().await.expect("fleet step");
    let tb = b.token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 1);
    assert_eq!(secret(&ta), secret(&tb));
    // Everything a vendor needs survives the store; the expiry within the store's millisecond.
    assert_eq!(
        tb.refresh_token().map(|s| s.expose_secret().to_owned()),
        ta.refresh_token().map(|s| s.expose_secret().to_owned())
    );
    let (ea, eb) = (
        ta.expires_at().expect("fleet step"),
        tb.expires_at().expect("fleet step"),
    );
    assert!(ea.max(eb) - ea.min(eb) <= Duration::from_millis(1));
    assert_eq!(a.stats().store_published, 1);
    assert_eq!(b.stats().store_adopted, 1);
    // A restarted process makes no token request either.
    let restarted = fleet.process();
    assert_eq!(
        secret(&restarted.token().await.expect("fleet step")),
        secret(&ta)
    );
    assert_eq!(fleet.source.calls(), 1);
}

#[tokio::test]
async fn every_rotation_is_one_request_for_the_whole_fleet() {
    let fleet = Fleet::new(Some(Duration::from_secs(600)));
    let processes: Vec<TokenCache> = (0..4).map(|_| fleet.process()).collect();
    for rotation in 1..=3 {
        for p in &processes {
            p.token().await.expect("fleet step");
        }
        assert_eq!(fleet.source.calls(), rotation, "rotation {rotation}");
        // Into every cache's hard window (the last 60 s of ten minutes; soft windows vary).
        fleet.clock.advance(Duration::from_secs(560));
    }
}

#[tokio::test]
async fn a_process_waits_for_the_lease_holder_and_adopts_its_token() {
    let fleet = Fleet::gated(Some(HOUR));
    let (a, b) = (fleet.process(), fleet.process());
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    until(&fleet.clock, "a fetches", || fleet.source.calls() == 1).await;
    let second = tokio::spawn({
        let b = b.clone();
        async move { b.token().await }
    });
    for _ in 0..50 {
        tokio::task::yield_now().await;
        fleet.clock.advance(Duration::from_millis(100));
    }
    assert_eq!(
        fleet.source.calls(),
        1,
        "b must wait for a's lease, not fetch"
    );
    fleet.source.release(1);
    let (ta, tb) = (
        first.await.expect("fleet step").expect("fleet step"),
        second.await.expect("fleet step").expect("fleet step"),
    );
    assert_eq!(secret(&ta), secret(&tb));
    assert_eq!(fleet.source.calls(), 1);
}

#[tokio::test]
async fn a_dead_holders_lease_passes_to_another_process() {
    let fleet = Fleet::new(Some(HOUR));
    // A process took the lease and died before publishing.
    let dead = fleet
        .store
        .try_lease(&key(), "dead", Duration::from_secs(10))
        .await
        .expect("fleet step")
        .expect("fleet step");
    let b = fleet.process();
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.token().await }
    });
    for _ in 0..20 {
        tokio::task::yield_now().await;
        fleet.clock.advance(Duration::from_millis(100));
    }
    assert_eq!(fleet.source.calls(), 0, "the lease is still live");
    until(&fleet.clock, "the lease lapses and b fetches", || {
        fleet.source.calls() == 1
    })
    .await;
    waiting.await.expect("fleet step").expect("fleet step");
    // The dead holder can no longer publish over it.
    assert!(
        !fleet
            .store
            .publish(&dead, b"stale")
            .await
            .expect("fleet step")
    );
    assert!(
        fleet
            .store
            .load(&key())
            .await
            .expect("fleet step")
            .expect("fleet step")
            .fence
            > dead.fence,
        "the record is b's publication"
    );
}

#[tokio::test]
async fn after_a_401_only_the_rejected_token_is_dropped() {
    let fleet = Fleet::new(Some(HOUR));
    let (a, b) = (fleet.process(), fleet.process());
    let t1 = a.token().await.expect("fleet step");
    assert_eq!(secret(&b.token().await.expect("fleet step")), secret(&t1));
    // Both see a 401 with the same token; a re-authenticates first.
    assert!(a.invalidate(&t1));
    let t2 = a.token().await.expect("fleet step");
    assert_ne!(secret(&t2), secret(&t1));
    assert_eq!(fleet.source.calls(), 2);
    // b's compare-and-delete finds a newer publication and leaves it: b adopts it.
    assert!(b.invalidate(&t1));
    assert_eq!(secret(&b.token().await.expect("fleet step")), secret(&t2));
    assert_eq!(fleet.source.calls(), 2);
}

#[tokio::test]
async fn a_rejection_is_remembered_fleet_wide() {
    let fleet = Fleet::new(Some(HOUR));
    fleet.source.fail_next([Error::rejected(
        "test",
        Some(401),
        Some("invalid_client".into()),
        None,
    )]);
    let (a, b) = (fleet.process(), fleet.process());
    let ea = a.token().await.expect_err("should fail");
    let eb = b.token().await.expect_err("should fail");
    assert!(matches!(ea.kind(), ErrorKind::Rejected { .. }));
    assert!(matches!(eb.kind(), ErrorKind::Rejected { .. }));
    assert_eq!(fleet.source.calls(), 1, "b must not ask the vendor again");
    assert_eq!(
        b.stats().rejections_served,
        1,
        "b says it served a remembered one"
    );
    assert_eq!(a.stats().rejections_served, 0);
    // Once the rejection's memory ends, a new attempt is made.
    fleet.clock.advance(Duration::from_secs(31));
    fleet.process().token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 2);
}

#[tokio::test]
async fn a_store_that_is_down_degrades_to_fetching_alone_and_recovers() {
    let fleet = Fleet::new(Some(Duration::from_secs(600)));
    fleet.store.set_down(true);
    let (a, b) = (fleet.process(), fleet.process());
    a.token().await.expect("fleet step");
    b.token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 2, "each process fetches on its own");
    assert!(a.stats().store_errors >= 1);
    // The fast path never touches the store.
    let errors = a.stats().store_errors;
    for _ in 0..10 {
        a.token().await.expect("fleet step");
    }
    assert_eq!(a.stats().store_errors, errors);
    // The store is back: the next rotation is shared again.
    fleet.store.set_down(false);
    fleet.clock.advance(Duration::from_secs(560));
    a.token().await.expect("fleet step");
    b.token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 3);
    assert_eq!(b.stats().store_adopted, 1);
}

#[tokio::test]
async fn a_session_exclusive_source_is_not_refreshed_early_while_degraded() {
    let fleet = Fleet::new(Some(Duration::from_secs(600)));
    fleet.source.set_session_exclusive(true);
    fleet.store.set_down(true);
    let a = fleet.process();
    // Fetching alone would close the fleet's session: the store is tried once more first.
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    until(&fleet.clock, "a token fetched alone", || {
        first.is_finished()
    })
    .await;
    first.await.expect("task").expect("fleet step");
    assert_eq!(
        a.stats().store_errors,
        1,
        "one failure counted, after the second try"
    );
    // Well into the soft window, short of the hard window.
    fleet.clock.advance(Duration::from_secs(500));
    for _ in 0..5 {
        a.token().await.expect("fleet step");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        fleet.source.calls(),
        1,
        "no early refresh while the store is down"
    );
    // The same without the exclusive rule: the soft window starts one background refresh.
    fleet.source.set_session_exclusive(false);
    a.token().await.expect("fleet step");
    until(&fleet.clock, "a background refresh", || {
        fleet.source.calls() == 2
    })
    .await;
}

#[tokio::test]
async fn a_rejected_token_is_never_adopted_by_a_process_starting_meanwhile() {
    let fleet = Fleet::gated(Some(HOUR));
    fleet.source.release(1);
    let a = fleet.process();
    let t1 = a.token().await.expect("fleet step");
    assert!(a.invalidate(&t1));
    let refetch = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    until(&fleet.clock, "a re-authenticates", || {
        fleet.source.calls() == 2
    })
    .await;
    // A process starting now must not pick up the token that was just refused.
    let c = fleet.process();
    let late = tokio::spawn(async move { c.token().await });
    for _ in 0..20 {
        tokio::task::yield_now().await;
        fleet.clock.advance(Duration::from_millis(100));
    }
    assert!(!late.is_finished(), "c waits for a's new token");
    fleet.source.release(1);
    let t2 = refetch.await.expect("fleet step").expect("fleet step");
    assert_eq!(
        secret(&late.await.expect("fleet step").expect("fleet step")),
        secret(&t2)
    );
    assert_ne!(secret(&t2), secret(&t1));
    assert_eq!(fleet.source.calls(), 2);
}

/// A 401 sooner after the last forced refresh than a new one may run: the cache still looks in
/// the store (free), adopts a newer token if another process fetched one, and otherwise keeps
/// the rejected token without asking the vendor.
#[tokio::test]
async fn an_invalidation_too_soon_for_a_refresh_still_adopts_a_newer_stored_token() {
    let fleet = Fleet::new(Some(HOUR));
    let process = || fleet.process_refreshing_at_most_every(Duration::from_secs(5));
    let (a, b, c) = (process(), process(), process());
    // b holds on to the first token all along (no 401 for it).
    let first = a.token().await.expect("fleet step");
    assert_eq!(
        secret(&b.token().await.expect("fleet step")),
        secret(&first)
    );
    assert_eq!(
        secret(&c.token().await.expect("fleet step")),
        secret(&first)
    );
    // a's forced refresh: one vendor request, published.
    assert!(a.invalidate(&first));
    let second = a.token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 2);
    // c's first forced refresh, a second later, for the token a replaced: adopted.
    fleet.clock.advance(Duration::from_secs(1));
    assert!(c.invalidate(&first));
    assert_eq!(
        secret(&c.token().await.expect("fleet step")),
        secret(&second)
    );
    // A process started now adopts the second token; its first forced refresh is a vendor
    // request, published.
    let d = process();
    assert_eq!(
        secret(&d.token().await.expect("fleet step")),
        secret(&second)
    );
    assert!(d.invalidate(&second));
    let third = d.token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 3);
    assert_eq!(
        secret(&b.token().await.expect("fleet step")),
        secret(&first)
    );
    // a, too soon after its own forced refresh: it still adopts what d published.
    fleet.clock.advance(Duration::from_secs(1));
    assert!(a.invalidate(&second));
    assert_eq!(
        secret(&a.token().await.expect("fleet step")),
        secret(&third)
    );
    // And once more: nothing newer in the store, so (after a second's watch for a fetch another
    // process may be about to start) the same token, and no vendor request.
    assert!(a.invalidate(&third));
    let again = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    until(&fleet.clock, "the token back", || again.is_finished()).await;
    let again = again.await.expect("task").expect("fleet step");
    assert_eq!(secret(&again), secret(&third));
    assert_eq!(fleet.source.calls(), 3);
    // Once the interval has passed, a forced refresh asks the vendor again.
    fleet.clock.advance(Duration::from_secs(5));
    assert!(a.invalidate(&third));
    a.token().await.expect("fleet step");
    assert_eq!(fleet.source.calls(), 4);
}

/// The rotation race: a 401 too soon for a forced refresh while another process is fetching
/// the new token (it holds the lease). The cache waits for that token, within the fetch
/// deadline, instead of handing the rejected one back.
#[tokio::test]
async fn an_invalidation_too_soon_waits_for_the_token_another_process_is_fetching() {
    let fleet = Fleet::gated(Some(HOUR));
    let process = || fleet.process_refreshing_at_most_every(Duration::from_secs(5));
    let (a, b) = (process(), process());
    fleet.source.release(2);
    let first = a.token().await.expect("fleet step");
    // a's forced refresh: from now on, another one within 5 s is too soon.
    assert!(a.invalidate(&first));
    let second = a.token().await.expect("a's forced refresh");
    assert_eq!(secret(&b.token().await.expect("adopted")), secret(&second));
    // b's first forced refresh makes b the fetcher; its request is held at the vendor.
    assert!(b.invalidate(&second));
    let fetching = tokio::spawn({
        let b = b.clone();
        async move { b.token().await }
    });
    until(&fleet.clock, "b is fetching", || fleet.source.calls() == 3).await;
    // a gets a 401 for the same token, a moment after its own forced refresh.
    assert!(a.invalidate(&second));
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    for _ in 0..50 {
        tokio::task::yield_now().await;
        fleet.clock.advance(Duration::from_millis(10));
    }
    assert!(!waiting.is_finished(), "a waits for b's fetch");
    fleet.source.release(1);
    let third = fetching.await.expect("task").expect("b's new token");
    let adopted = waiting.await.expect("task").expect("a's token");
    assert_eq!(secret(&adopted), secret(&third));
    assert_eq!(fleet.source.calls(), 3, "no request of a's own");
}

/// A session-exclusive source (P21) whose store fails once, a hiccup: the cache tries the store
/// again after a poll instead of fetching alone (which would close the fleet's session with a
/// token nobody else can adopt).
#[tokio::test]
async fn a_store_hiccup_does_not_make_a_session_exclusive_source_fetch_alone() {
    let fleet = Fleet::new(Some(HOUR));
    fleet.source.set_session_exclusive(true);
    let (a, b) = (fleet.process(), fleet.process());
    fleet.store.set_down(true);
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!first.is_finished(), "a waits for a second try");
    fleet.store.set_down(false);
    until(&fleet.clock, "a's token", || first.is_finished()).await;
    let token = first.await.expect("task").expect("fleet step");
    assert_eq!((a.stats().store_errors, a.stats().store_published), (0, 1));
    assert_eq!(secret(&b.token().await.expect("adopted")), secret(&token));
    assert_eq!(fleet.source.calls(), 1);
}

/// A process in degraded mode (its store failed once) whose token is rejected too soon for a
/// forced refresh still looks at the store: the token another process published since is
/// adopted, instead of the rejected one being handed back until the interval has passed.
#[tokio::test]
async fn a_degraded_process_rejected_too_soon_adopts_what_the_store_holds_again() {
    let fleet = Fleet::new(Some(HOUR));
    let process = || fleet.process_refreshing_at_most_every(Duration::from_secs(5));
    let (a, b) = (process(), process());
    let first = a.token().await.expect("fleet step");
    assert_eq!(secret(&b.token().await.expect("adopted")), secret(&first));
    // The store fails while b refreshes: b fetches alone, degraded.
    fleet.store.set_down(true);
    assert!(b.invalidate(&first));
    let alone = b.token().await.expect("fetched alone");
    assert!(b.stats().store_errors >= 1);
    // The store is back; a's forced refresh is published.
    fleet.store.set_down(false);
    assert!(a.invalidate(&first));
    let published = a.token().await.expect("a's forced refresh");
    assert_eq!(fleet.source.calls(), 3);
    // b's token is rejected a second after its own forced refresh: too soon, but b looks.
    fleet.clock.advance(Duration::from_secs(1));
    assert!(b.invalidate(&alone), "b looks at the store");
    assert_eq!(secret(&b.token().await.expect("b")), secret(&published));
    assert_eq!(fleet.source.calls(), 3, "no request of b's own");
}

/// A store shared with other processes that, once, lets another process fetch and publish a
/// token (then release its lease) just before this process's next lease is granted; and that
/// says, if `partial`, that it reaches only part of the fleet (see `TokenStore::partial`).
#[derive(Debug, Clone)]
struct PublishedJustBeforeTheLease {
    store: MemoryStore,
    other: Arc<std::sync::Mutex<Option<TokenCache>>>,
    partial: bool,
}

#[auth_core::async_trait]
impl TokenStore for PublishedJustBeforeTheLease {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.store.load(key).await
    }

    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let other = self.other.lock().expect("lock").take();
        if let Some(other) = other {
            let held = other.token().await.expect("the other process's token");
            assert!(other.invalidate(&held));
            other.token().await.expect("the other process's new token");
        }
        self.store.try_lease(key, owner, ttl).await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.store.renew(lease, ttl).await
    }

    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        self.store.publish(lease, value).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.store.release(lease).await
    }

    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        self.store.verifier(key, secret).await
    }

    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        self.store.remove_if(key, fence).await
    }

    fn partial(&self) -> bool {
        self.partial
    }
}

#[tokio::test]
async fn an_invalidation_too_soon_adopts_a_token_published_just_before_the_lease() {
    let fleet = Fleet::new(Some(HOUR));
    let racing = PublishedJustBeforeTheLease {
        store: fleet.store.clone(),
        other: Arc::default(),
        partial: false,
    };
    let a = TokenCache::builder(fleet.source.clone())
        .clock(Arc::new(fleet.clock.clone()))
        .options(
            CacheOptions::default()
                .store(racing.clone())
                .min_forced_refresh_interval(Duration::from_secs(5)),
        )
        .build();
    let b = fleet.process();
    let first = a.token().await.expect("first token");
    // a's forced refresh: from now on, another one within 5 s is too soon.
    assert!(a.invalidate(&first));
    let second = a.token().await.expect("a's forced refresh");
    assert_eq!(secret(&b.token().await.expect("adopted")), secret(&second));
    // a gets a 401 for that token a moment later: b has just rotated it. b's new token is
    // published, and b's lease released, between a's look at the store and a's lease.
    *racing.other.lock().expect("lock") = Some(b.clone());
    assert!(a.invalidate(&second));
    let adopted = a.token().await.expect("a's token");
    let third = b.token().await.expect("b's token");
    assert_ne!(secret(&third), secret(&second));
    assert_eq!(
        secret(&adopted),
        secret(&third),
        "b's token, not the rejected one"
    );
    assert_eq!(fleet.source.calls(), 3, "no request of a's own");
}

/// P21 closes every session while the fleet's newest token is young: the process that fetched
/// that token in a routine (soft-window) refresh must be free to force a refresh, even if it
/// last forced one (a rotation's 401, answered by adopting) less than the interval ago. Before,
/// every process was "too soon" and the fleet handed the rejected token back for a second, a
/// failed call each, when the rotation period was shorter than the interval (10-s tokens
/// rotate about every 5 s, the default interval is 5 s; here 8 s make that certain).
#[tokio::test]
async fn a_routine_refresh_lets_its_token_be_replaced_when_the_vendor_rejects_it() {
    let fleet = Fleet::new(Some(Duration::from_secs(10)));
    fleet.source.set_session_exclusive(true);
    let process = || fleet.process_refreshing_at_most_every(Duration::from_secs(8));
    let (a, b) = (process(), process());
    let first = a.token().await.expect("first token");
    assert_eq!(secret(&b.token().await.expect("adopted")), secret(&first));
    // A rotation 3 s in: a's forced refresh fetches, b's (a moment later) adopts.
    fleet.clock.advance(Duration::from_secs(3));
    assert!(a.invalidate(&first));
    let second = a.token().await.expect("a's forced refresh");
    fleet.clock.advance(Duration::from_millis(100));
    assert!(b.invalidate(&first));
    assert_eq!(secret(&b.token().await.expect("adopted")), secret(&second));
    assert_eq!(fleet.source.calls(), 2);
    // 5.6 s later the second token is in b's soft window: b's routine refresh fetches a third.
    fleet.clock.advance(Duration::from_millis(5_500));
    b.token().await.expect("served during the refresh");
    until(&fleet.clock, "b's routine refresh", || {
        fleet.source.calls() == 3
    })
    .await;
    until(&fleet.clock, "b holds the third token", || {
        b.stats().tokens_fetched == 3
    })
    .await;
    let third = b.token().await.expect("third token");
    assert_ne!(secret(&third), secret(&second));
    // The rotation's 401 for a, too soon for a fetch of its own: it adopts b's token.
    assert!(a.invalidate(&second));
    assert_eq!(secret(&a.token().await.expect("adopted")), secret(&third));
    // The vendor closes every session a moment later.
    fleet.clock.advance(Duration::from_millis(100));
    assert!(a.invalidate(&third));
    assert!(b.invalidate(&third));
    let spawn = |c: &TokenCache| {
        let c = c.clone();
        tokio::spawn(async move { c.token().await })
    };
    let (ta, tb) = (spawn(&a), spawn(&b));
    until(&fleet.clock, "a new token", || fleet.source.calls() == 4).await;
    until(&fleet.clock, "both served", || {
        ta.is_finished() && tb.is_finished()
    })
    .await;
    let fourth = tb.await.expect("task").expect("b's forced refresh");
    let ta = ta.await.expect("task");
    assert_ne!(
        secret(&fourth),
        secret(&third),
        "b replaced the rejected token"
    );
    assert_eq!(secret(&ta.expect("a's token")), secret(&fourth));
    assert_eq!(fleet.source.calls(), 4, "one request for the fleet");
}

/// Processes sharing a token open its soft window at the same moment (the jitter comes from the
/// token), so the fleet rotates it when one process would: with a draw of their own, the first
/// of eight came up to 10 % of the window sooner, and the fleet made more token requests than
/// one process.
#[tokio::test]
async fn processes_sharing_a_token_refresh_it_at_the_same_moment() {
    let fleet = Fleet::new(Some(Duration::from_secs(600)));
    let processes: Vec<TokenCache> = (0..8).map(|_| fleet.process()).collect();
    for p in &processes {
        p.token().await.expect("fleet step");
    }
    assert_eq!(fleet.source.calls(), 1);
    // The soft window opens 270-300 s before expiry: look every 100 ms from 260 s in.
    fleet.clock.advance(Duration::from_secs(260));
    let mut started = Vec::new();
    for step in 0..600 {
        for (i, p) in processes.iter().enumerate() {
            p.token().await.expect("fleet step");
            if p.stats().fetches == 2 && !started.iter().any(|&(j, _)| j == i) {
                started.push((i, step));
            }
        }
        if started.len() == processes.len() {
            break;
        }
        tokio::task::yield_now().await;
        fleet.clock.advance(Duration::from_millis(100));
    }
    assert_eq!(started.len(), processes.len(), "every process refreshed");
    let first = started[0].1;
    assert!(
        started.iter().all(|&(_, step)| step == first),
        "the same moment: {started:?}"
    );
    until(&fleet.clock, "the rotation's token", || {
        processes
            .iter()
            .all(|p| p.stats().store_adopted + p.stats().store_published == 2)
    })
    .await;
    assert_eq!(fleet.source.calls(), 2, "one request for the fleet");
}

/// While the store reaches only this host, a session-exclusive source is refreshed at the hard
/// window, not early: each early sign-in would close the sessions of the hosts it cannot reach.
#[tokio::test]
async fn a_session_exclusive_source_is_not_refreshed_early_while_the_store_is_partial() {
    let fleet = Fleet::new(Some(Duration::from_secs(600)));
    fleet.source.set_session_exclusive(true);
    let a = TokenCache::builder(fleet.source.clone())
        .clock(Arc::new(fleet.clock.clone()))
        .options(CacheOptions::default().store(PublishedJustBeforeTheLease {
            store: fleet.store.clone(),
            other: Arc::default(),
            partial: true,
        }))
        .build();
    a.token().await.expect("first token");
    // Well into the soft window, short of the hard window: no refresh.
    fleet.clock.advance(Duration::from_secs(500));
    for _ in 0..5 {
        a.token().await.expect("served");
        tokio::task::yield_now().await;
    }
    assert_eq!(fleet.source.calls(), 1, "no early refresh");
    // In the hard window: refreshed.
    fleet.clock.advance(Duration::from_secs(50));
    a.token().await.expect("refreshed");
    assert_eq!(fleet.source.calls(), 2);
    // A source that may sign in anywhere is refreshed early as before.
    fleet.source.set_session_exclusive(false);
    fleet.clock.advance(Duration::from_secs(500));
    a.token().await.expect("served");
    until(&fleet.clock, "a background refresh", || {
        fleet.source.calls() == 3
    })
    .await;
}

/// P21 closes the sessions while the fleet's token is young: a process that adopted that token
/// leaves its replacement to the process that fetched it (its 401 comes a moment later) and
/// adopts the new one; if none comes within about a second, it fetches itself. Two hosts that
/// cannot coordinate thus spend one young allowance per host's fetcher, not one per process.
#[tokio::test]
async fn a_young_adopted_token_is_replaced_by_its_fetcher_first() {
    let fleet = Fleet::new(Some(Duration::from_secs(600)));
    fleet.source.set_session_exclusive(true);
    let process = || fleet.process_refreshing_at_most_every(Duration::from_secs(5));
    let (a, b, c) = (process(), process(), process());
    let first = a.token().await.expect("a fetches");
    assert_eq!(secret(&b.token().await.expect("b adopts")), secret(&first));
    // b's 401 comes first: it waits for a's.
    assert!(b.invalidate(&first));
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.token().await }
    });
    for _ in 0..5 {
        tokio::task::yield_now().await;
        fleet.clock.advance(Duration::from_millis(100));
    }
    assert!(!waiting.is_finished(), "b waits for the fetcher");
    assert_eq!(fleet.source.calls(), 1);
    assert!(a.invalidate(&first));
    let second = a.token().await.expect("a's forced refresh");
    until(&fleet.clock, "b's token", || waiting.is_finished()).await;
    let adopted = waiting.await.expect("task").expect("b's token");
    assert_eq!(secret(&adopted), secret(&second));
    assert_eq!(fleet.source.calls(), 2, "one request for the two");
    // The fetcher stays silent this time (gone, say): c, which adopted the token too, fetches
    // itself after about a second.
    assert_eq!(secret(&c.token().await.expect("c adopts")), secret(&second));
    fleet.clock.advance(Duration::from_secs(1));
    assert!(c.invalidate(&second));
    let waiting = tokio::spawn({
        let c = c.clone();
        async move { c.token().await }
    });
    until(&fleet.clock, "c's own fetch", || waiting.is_finished()).await;
    let own = waiting.await.expect("task").expect("c's token");
    assert_ne!(secret(&own), secret(&second));
    assert_eq!(fleet.source.calls(), 3);
}
