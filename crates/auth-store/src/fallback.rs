//! [`Fallback`]: a shared store (Redis) with a host-local one (a [`FileStore`](crate::FileStore))
//! under it, so that while the shared store is out of reach the processes of each host still
//! fetch as one, instead of each on its own.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use auth_core::{Clock, Secret, SystemClock};

use auth_core::store::{Lease, Record, StoreError, StoreKey, TokenStore};

/// After the shared store failed, how long it is left alone before it is tried again.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long the shared store must keep answering before it is used again (so that a store
/// going up and down does not split a host's processes between the two).
const STABLE: Duration = Duration::from_millis(600);
/// How often it is probed meanwhile.
const PROBE_STABLE: Duration = Duration::from_millis(100);
/// A primary whose last failure seen is older than this is used again at its first answer: a
/// process that made no call for a while has no sign of a primary going up and down.
const QUIET: Duration = Duration::from_secs(2);
/// The lease a [`SharedStore::hand_over`] of its own takes on the shared store.
const HAND_OVER_LEASE: Duration = Duration::from_secs(3);
/// How long one operation waits on the shared store, all its calls together, before the local
/// store serves it: well within the cache's store timeout (500 ms by default), so that a shared
/// store that hangs (a failover, a dead node) never puts the cache in degraded mode, where it
/// would fetch on its own.
pub const DEFAULT_PRIMARY_BUDGET: Duration = Duration::from_millis(250);

/// A store that can be the shared one under a [`Fallback`]: it takes the record a host kept
/// during an outage.
#[auth_core::async_trait]
pub trait SharedStore: TokenStore {
    /// Writes `value` as the record of `key` if `fence` (the local store's, which like every
    /// store's fence grows past the wall clock in ms) is newer than the record and the last
    /// publication this store holds; returns the fence it was written with, `None` if it was not.
    ///
    /// The default takes a lease and publishes under it (a new fence): the first host to hand
    /// over wins. A store that can write a record under a given fence (Redis) keeps `fence`, so
    /// that the newest record wins whichever host hands over first: with a vendor that closes a
    /// credential's earlier sessions, the one token still live.
    async fn hand_over(
        &self,
        key: &StoreKey,
        fence: u64,
        value: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let owner = format!("fallback-{}-{:x}", std::process::id(), fastrand::u64(..));
        let Some(lease) = self.try_lease(key, &owner, HAND_OVER_LEASE).await? else {
            // Another process is fetching or handing over.
            return Ok(None);
        };
        // Looked at under the lease, so that no publication comes between the look and this one.
        let written = match self.load(key).await {
            Ok(Some(record)) if record.fence >= fence => Ok(None),
            Ok(_) => (self.publish(&lease, value).await).map(|p| p.then_some(lease.fence)),
            Err(err) => Err(err),
        };
        let _ = self.release(&lease).await;
        written
    }
}

impl SharedStore for auth_core::store::MemoryStore {}
impl SharedStore for crate::FileStore {}
#[cfg(feature = "sealing")]
impl<S: TokenStore> SharedStore for crate::SealedStore<S> {}

/// A [`TokenStore`] that uses `primary` (shared by the fleet) while it answers and `local`
/// (shared by this host's processes) while it does not.
///
/// - A lease is the host's (the local store's) first, then the fleet's (the primary's): one
///   process per host fetches, whichever store the others see. A publication goes to both.
/// - Every other operation goes to the primary; when it fails, or has not answered within the
///   [budget](Self::primary_budget) (250 ms by default, all of the operation's calls on the
///   primary together), the same operation goes to the local store, and so does every
///   operation after it until the primary has answered probes (a read, every 250 ms, then
///   every 100 ms) for 600 ms, or answers after 2 s without a failure seen: a primary going
///   up and down does not split a host's processes between the two.
/// - A record published on this host while the primary was not used is handed to the primary
///   as soon as it is used again ([`SharedStore::hand_over`]: a task probes it meanwhile), and
///   by the first load of a key: every host adopts the newest token, the one still live,
///   instead of signing in again.
/// - Verifiers are the primary's (a Redis store computes them without Redis), so records of
///   both stores carry the same ones.
/// - One warning when the primary becomes unreachable, one notice when it is back.
///
/// With a vendor that keeps one live session per credential (P21), the processes of one host
/// then make the token requests of one process through an outage. Hosts cannot coordinate while
/// the shared store is down; the cache's damped forced refresh keeps them from taking turns
/// closing each other's session.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use auth_core::store::{MemoryStore, StoreKey, TokenStore};
/// use auth_store::{Fallback, FileStore};
///
/// let shared = MemoryStore::new(); // RedisStore in a fleet
/// let dir = std::env::temp_dir().join(format!("fallback-doc-{}", std::process::id()));
/// let store = Fallback::new(shared.clone(), FileStore::open(&dir)?);
/// let key = StoreKey::of("example", "https://auth.example.com").part("user", "alice");
///
/// shared.set_down(true); // the shared store is out of reach
/// let lease = store.try_lease(&key, "me", Duration::from_secs(3)).await?.expect("free");
/// assert!(store.publish(&lease, b"record").await?);
/// store.release(&lease).await?;
///
/// shared.set_down(false); // back, and answering for a while: the local record is handed to it
/// tokio::time::pause();
/// tokio::time::sleep(Duration::from_secs(2)).await;
/// assert_eq!(shared.load(&key).await?.expect("handed over").value, b"record");
/// assert_eq!(store.load(&key).await?.expect("record").value, b"record");
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), auth_core::store::StoreError>(()) }).unwrap();
/// ```
pub struct Fallback<P, L> {
    inner: Arc<Inner<P, L>>,
}

struct Inner<P, L> {
    primary: P,
    local: L,
    state: Mutex<State>,
}

struct State {
    /// While the primary is not used: since when, when to probe it next, and since when it has
    /// answered every probe.
    down: Option<Down>,
    /// The leases held, by `(owner, fence)` of the lease handed out: the local one always, the
    /// primary's when it granted one (then its fence is the one handed out).
    held: HashMap<(String, u64), Held>,
    /// How long one operation waits on the primary.
    budget: Duration,
    /// Keys published on this host alone (the primary not used), to hand over once it is.
    kept: HashMap<String, StoreKey>,
    /// Whether a task is probing the primary to hand them over.
    watching: bool,
}

struct Held {
    local: Lease,
    primary: Option<Lease>,
}

struct Down {
    since: Instant,
    probe_at: Instant,
    answering_since: Option<Instant>,
    failed_at: Instant,
}

impl<P: fmt::Debug, L: fmt::Debug> fmt::Debug for Fallback<P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("Fallback")
            .field("primary", &self.inner.primary)
            .field("local", &self.inner.local)
            .field("primary_budget", &state.budget)
            .field("primary_down", &state.down.is_some())
            .finish()
    }
}

impl<P: SharedStore + 'static, L: TokenStore + 'static> Fallback<P, L> {
    /// `primary`, with `local` while it does not answer.
    pub fn new(primary: P, local: L) -> Self {
        let state = State {
            down: None,
            held: HashMap::new(),
            budget: DEFAULT_PRIMARY_BUDGET,
            kept: HashMap::new(),
            watching: false,
        };
        Self {
            inner: Arc::new(Inner {
                primary,
                local,
                state: Mutex::new(state),
            }),
        }
    }

    /// How long one operation waits on the primary, all its calls together, before the local
    /// store serves it ([`DEFAULT_PRIMARY_BUDGET`] by default). Keep it well under the cache's
    /// `store_timeout`, with room for the local store's own answer.
    #[must_use]
    pub fn primary_budget(self, budget: Duration) -> Self {
        self.inner.lock().budget = budget;
        self
    }

    /// The shared store.
    pub fn primary(&self) -> &P {
        &self.inner.primary
    }

    /// The host-local store.
    pub fn local(&self) -> &L {
        &self.inner.local
    }

    /// Notes that `key` was published on this host alone, and starts the task that hands it
    /// over once the primary is used again (when there is a runtime to run it).
    fn keep(&self, key: &StoreKey) {
        let mut state = self.inner.lock();
        state.kept.insert(key.as_str().to_owned(), key.clone());
        if !state.watching && tokio::runtime::Handle::try_current().is_ok() {
            state.watching = true;
            tokio::spawn(watch(Arc::downgrade(&self.inner)));
        }
    }
}

/// Probes the primary until it is used again, then hands it what this host kept; ends with the
/// store, or once nothing is kept.
async fn watch<P: SharedStore, L: TokenStore>(inner: Weak<Inner<P, L>>) {
    loop {
        tokio::time::sleep(PROBE_STABLE).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Some(key) = inner.lock().kept.values().next().cloned() else {
            inner.lock().watching = false;
            return;
        };
        if !inner.use_primary(&key, inner.deadline()).await {
            continue;
        }
        let kept: Vec<StoreKey> = std::mem::take(&mut inner.lock().kept)
            .into_values()
            .collect();
        for key in kept {
            let _ = inner.load(&key).await;
        }
        let mut state = inner.lock();
        if state.kept.is_empty() {
            state.watching = false;
            return;
        }
    }
}

impl<P, L> Inner<P, L> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<P: SharedStore, L: TokenStore> Inner<P, L> {
    /// Whether this operation on `key` goes to the primary: it answers, or it has answered the
    /// probes (made here when due) for [`STABLE`].
    async fn use_primary(&self, key: &StoreKey, deadline: tokio::time::Instant) -> bool {
        match &self.lock().down {
            None => return true,
            Some(down) if SystemClock.now() < down.probe_at => return false,
            Some(_) => {}
        }
        let answers = within(deadline, self.primary.load(key)).await.is_ok();
        let now = SystemClock.now();
        let mut state = self.lock();
        let Some(down) = state.down.as_mut() else {
            return true;
        };
        if !answers {
            down.answering_since = None;
            down.probe_at = now + PROBE_EVERY;
            down.failed_at = now;
            return false;
        }
        let answering = *down.answering_since.get_or_insert(now);
        if now.duration_since(answering) < STABLE && now.duration_since(down.failed_at) < QUIET {
            down.probe_at = now + PROBE_STABLE;
            return false;
        }
        tracing::info!(
            after_ms = now.duration_since(down.since).as_millis() as u64,
            "the shared token store answers again"
        );
        state.down = None;
        true
    }

    /// Notes a failure of the primary (from now on the local store serves); hands `result` back.
    fn noted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(err) = &result {
            let now = SystemClock.now();
            let mut state = self.lock();
            if state.down.is_none() {
                tracing::warn!(
                    error = %err,
                    "the shared token store is unreachable; this host's processes share tokens through the local store until it answers"
                );
            }
            let since = state.down.as_ref().map_or(now, |d| d.since);
            state.down = Some(Down {
                since,
                probe_at: now + PROBE_EVERY,
                answering_since: None,
                failed_at: now,
            });
        }
        result
    }

    /// `op` on the primary, given up at `deadline`; a failure noted.
    async fn on_primary<T>(
        &self,
        deadline: tokio::time::Instant,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.noted(within(deadline, op).await)
    }

    /// The end of the primary's budget for an operation starting now.
    fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.lock().budget
    }

    /// The leases behind the lease handed out as `lease`.
    fn held(&self, lease: &Lease) -> Option<(Lease, Option<Lease>)> {
        let state = self.lock();
        let held = state.held.get(&(lease.owner.clone(), lease.fence))?;
        Some((held.local.clone(), held.primary.clone()))
    }

    /// Hands the primary the local record of `key` if it is newer than `primary`'s (published
    /// while the primary was out of reach); returns the record to use. The primary failing
    /// meanwhile leaves the local record in use.
    async fn reconcile(
        &self,
        key: &StoreKey,
        primary: Option<Record>,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Record>, StoreError> {
        let Ok(Some(local)) = self.local.load(key).await else {
            return Ok(primary);
        };
        // The same publication (written to both), or an older one: nothing to hand over.
        if primary
            .as_ref()
            .is_some_and(|p| p.fence >= local.fence || p.value == local.value)
        {
            return Ok(primary);
        }
        let hand_over = self.primary.hand_over(key, local.fence, &local.value);
        match self.on_primary(deadline, hand_over).await {
            Ok(Some(fence)) => {
                // The local copy stays: this host's processes still on the local store (not yet
                // sure of the primary) adopt it rather than fetch; its fence keeps it from being
                // handed over again.
                tracing::info!(
                    "the token kept on this host during the outage was handed to the shared store"
                );
                Ok(Some(Record::new(fence, local.value)))
            }
            // A newer record came first: the primary's, read again.
            Ok(None) => match self.on_primary(deadline, self.primary.load(key)).await {
                Ok(record) => Ok(record),
                Err(_) => Ok(Some(local)),
            },
            Err(_) => Ok(Some(local)),
        }
    }

    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let deadline = self.deadline();
        if self.use_primary(key, deadline).await {
            if let Ok(record) = self.on_primary(deadline, self.primary.load(key)).await {
                return self.reconcile(key, record, deadline).await;
            }
        }
        self.local.load(key).await
    }
}

/// `op`, or a store error once `deadline` has passed.
async fn within<T>(
    deadline: tokio::time::Instant,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout_at(deadline, op)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::new(
                "the shared token store did not answer in time",
            ))
        })
}

#[auth_core::async_trait]
impl<P: SharedStore + 'static, L: TokenStore + 'static> TokenStore for Fallback<P, L> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.inner.load(key).await
    }

    /// The host's lease first (one fetch per host, whichever store its processes see), then the
    /// fleet's while the primary is used.
    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let inner = &self.inner;
        let Some(local) = inner.local.try_lease(key, owner, ttl).await? else {
            return Ok(None);
        };
        let deadline = inner.deadline();
        let mut primary = None;
        if inner.use_primary(key, deadline).await {
            let lease = inner.primary.try_lease(key, owner, ttl);
            match inner.on_primary(deadline, lease).await {
                Ok(Some(lease)) => primary = Some(lease),
                Ok(None) => {
                    inner.local.release(&local).await?;
                    return Ok(None);
                }
                Err(_) => {}
            }
        }
        let handed = primary.clone().unwrap_or_else(|| local.clone());
        let id = (handed.owner.clone(), handed.fence);
        inner.lock().held.insert(id, Held { local, primary });
        Ok(Some(handed))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let Some((local, primary)) = inner.held(lease) else {
            return Ok(false);
        };
        let mut held = inner.local.renew(&local, ttl).await?;
        if let Some(primary) = primary {
            // A primary gone quiet does not end the fetch: the host's lease still holds.
            let renewed = inner.primary.renew(&primary, ttl);
            if let Ok(renewed) = inner.on_primary(inner.deadline(), renewed).await {
                held &= renewed;
            }
        }
        Ok(held)
    }

    /// To the primary (while its lease holds) and to the local store, so that the host has the
    /// token whichever store its processes see next; kept to hand over if the primary did not
    /// take it.
    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let Some((local, primary)) = inner.held(lease) else {
            return Ok(false);
        };
        let mut published = false;
        if let Some(primary) = primary {
            let publish = inner.primary.publish(&primary, value);
            match inner.on_primary(inner.deadline(), publish).await {
                Ok(false) => return Ok(false),
                Ok(true) => published = true,
                Err(_) => {}
            }
        }
        let local = inner.local.publish(&local, value).await?;
        if local && !published {
            self.keep(&lease.key);
        }
        Ok(published || local)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let inner = &self.inner;
        let held = inner
            .lock()
            .held
            .remove(&(lease.owner.clone(), lease.fence));
        let Some(held) = held else {
            return Ok(());
        };
        if let Some(primary) = &held.primary {
            let release = inner.primary.release(primary);
            let _ = inner.on_primary(inner.deadline(), release).await;
        }
        inner.local.release(&held.local).await
    }

    /// Drops the publication `fence` and its copy: a record of the same token in the other store
    /// goes too (its fence differs). The primary failing leaves the local copy to drop.
    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let deadline = inner.deadline();
        let mut rejected: Option<Vec<u8>> = None;
        let mut removed = false;
        if inner.use_primary(key, deadline).await {
            if let Ok(Some(record)) = inner.on_primary(deadline, inner.primary.load(key)).await {
                if record.fence == fence {
                    let remove = inner.primary.remove_if(key, fence);
                    removed |= inner.on_primary(deadline, remove).await.unwrap_or(false);
                    rejected = Some(record.value);
                }
            }
        }
        if let Ok(Some(record)) = inner.local.load(key).await {
            if record.fence == fence || rejected.as_ref() == Some(&record.value) {
                removed |= inner.local.remove_if(key, record.fence).await?;
            }
        }
        Ok(removed)
    }

    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        self.inner.primary.verifier(key, secret).await
    }

    /// While the local store serves (the primary not used): it reaches this host only.
    fn partial(&self) -> bool {
        self.inner.lock().down.is_some()
    }
}
