//! [`Fallback`]: a shared store (Redis) with a host-local one (a [`FileStore`](crate::FileStore))
//! under it, so that while the shared store is out of reach the processes of each host still
//! fetch as one, instead of each on its own.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
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
/// The lease taken on the shared store to hand it what the local store held meanwhile.
const RECONCILE_LEASE: Duration = Duration::from_secs(3);
/// How long one operation waits on the shared store, all its calls together, before the local
/// store serves it: well within the cache's store timeout (500 ms by default), so that a shared
/// store that hangs (a failover, a dead node) never puts the cache in degraded mode, where it
/// would fetch on its own.
pub const DEFAULT_PRIMARY_BUDGET: Duration = Duration::from_millis(250);

/// A [`TokenStore`] that uses `primary` (shared by the fleet) while it answers and `local`
/// (shared by this host's processes) while it does not.
///
/// - A lease is the host's (the local store's) first, then the fleet's (the primary's): one
///   process per host fetches, whichever store the others see. A publication goes to both.
/// - Every other operation goes to the primary; when it fails, or has not answered within the
///   [budget](Self::primary_budget) (250 ms by default, all of the operation's calls on the
///   primary together), the same operation goes to the local store, and so does every operation after it until the primary has answered probes
///   (a read, every 250 ms, then every 100 ms) for 600 ms: a primary going up and down does
///   not split a host's processes between the two.
/// - When the primary answers again, the first load of a key hands it the local record if that
///   is newer (published during the outage), so that every host adopts the token one of them
///   holds instead of signing in again.
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
/// shared.set_down(false); // back, and answering for a second: the local record is handed to it
/// tokio::time::pause();
/// for _ in 0..8 {
///     tokio::time::advance(Duration::from_millis(250)).await;
///     store.load(&key).await?;
/// }
/// let record = store.load(&key).await?.expect("record");
/// assert_eq!(record.value, b"record");
/// assert_eq!(shared.load(&key).await?.expect("handed over").value, b"record");
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), auth_core::store::StoreError>(()) }).unwrap();
/// ```
pub struct Fallback<P, L> {
    primary: P,
    local: L,
    budget: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// While the primary is not used: since when, when to probe it next, and since when it has
    /// answered every probe.
    down: Option<Down>,
    /// The leases held, by `(owner, fence)` of the lease handed out: the local one always, the
    /// primary's when it granted one (then its fence is the one handed out).
    held: HashMap<(String, u64), Held>,
}

struct Held {
    local: Lease,
    primary: Option<Lease>,
}

struct Down {
    since: Instant,
    probe_at: Instant,
    answering_since: Option<Instant>,
}

impl<P: fmt::Debug, L: fmt::Debug> fmt::Debug for Fallback<P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("primary", &self.primary)
            .field("local", &self.local)
            .field("primary_budget", &self.budget)
            .field(
                "primary_down",
                &self
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .down
                    .is_some(),
            )
            .finish()
    }
}

impl<P: TokenStore, L: TokenStore> Fallback<P, L> {
    /// `primary`, with `local` while it does not answer.
    pub fn new(primary: P, local: L) -> Self {
        Self {
            primary,
            local,
            budget: DEFAULT_PRIMARY_BUDGET,
            state: Mutex::new(State::default()),
        }
    }

    /// How long one operation waits on the primary, all its calls together, before the local
    /// store serves it ([`DEFAULT_PRIMARY_BUDGET`] by default). Keep it well under the cache's
    /// `store_timeout`, with room for the local store's own answer.
    #[must_use]
    pub fn primary_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The shared store.
    pub fn primary(&self) -> &P {
        &self.primary
    }

    /// The host-local store.
    pub fn local(&self) -> &L {
        &self.local
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

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
            return false;
        }
        let answering = *down.answering_since.get_or_insert(now);
        if now.duration_since(answering) < STABLE {
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
        tokio::time::Instant::now() + self.budget
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
        let owner = format!("fallback-{}-{:x}", std::process::id(), fastrand::u64(..));
        let lease = self.primary.try_lease(key, &owner, RECONCILE_LEASE);
        let Ok(Some(lease)) = self.on_primary(deadline, lease).await else {
            // Another process is fetching or handing over (or the primary failed again): the
            // local record serves meanwhile.
            return Ok(Some(local));
        };
        let published = self
            .on_primary(deadline, self.primary.publish(&lease, &local.value))
            .await;
        let _ = self
            .on_primary(deadline, self.primary.release(&lease))
            .await;
        if published.unwrap_or(false) {
            let _ = self.local.remove_if(key, local.fence).await;
            tracing::info!(
                "the token kept on this host during the outage was handed to the shared store"
            );
            return Ok(Some(Record::new(lease.fence, local.value)));
        }
        Ok(Some(local))
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
impl<P: TokenStore, L: TokenStore> TokenStore for Fallback<P, L> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let deadline = self.deadline();
        if self.use_primary(key, deadline).await {
            if let Ok(record) = self.on_primary(deadline, self.primary.load(key)).await {
                return self.reconcile(key, record, deadline).await;
            }
        }
        self.local.load(key).await
    }

    /// The host's lease first (one fetch per host, whichever store its processes see), then the
    /// fleet's while the primary is used.
    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let Some(local) = self.local.try_lease(key, owner, ttl).await? else {
            return Ok(None);
        };
        let deadline = self.deadline();
        let mut primary = None;
        if self.use_primary(key, deadline).await {
            let lease = self.primary.try_lease(key, owner, ttl);
            match self.on_primary(deadline, lease).await {
                Ok(Some(lease)) => primary = Some(lease),
                Ok(None) => {
                    self.local.release(&local).await?;
                    return Ok(None);
                }
                Err(_) => {}
            }
        }
        let handed = primary.clone().unwrap_or_else(|| local.clone());
        let id = (handed.owner.clone(), handed.fence);
        self.lock().held.insert(id, Held { local, primary });
        Ok(Some(handed))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let Some((local, primary)) = self.held(lease) else {
            return Ok(false);
        };
        let mut held = self.local.renew(&local, ttl).await?;
        if let Some(primary) = primary {
            // A primary gone quiet does not end the fetch: the host's lease still holds.
            let renewed = self.primary.renew(&primary, ttl);
            if let Ok(renewed) = self.on_primary(self.deadline(), renewed).await {
                held &= renewed;
            }
        }
        Ok(held)
    }

    /// To the primary (while its lease holds) and to the local store, so that the host has the
    /// token whichever store its processes see next.
    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        let Some((local, primary)) = self.held(lease) else {
            return Ok(false);
        };
        let mut published = false;
        if let Some(primary) = primary {
            let publish = self.primary.publish(&primary, value);
            match self.on_primary(self.deadline(), publish).await {
                Ok(false) => return Ok(false),
                Ok(true) => published = true,
                Err(_) => {}
            }
        }
        let local = self.local.publish(&local, value).await;
        Ok(published || local?)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let held = self.lock().held.remove(&(lease.owner.clone(), lease.fence));
        let Some(held) = held else {
            return Ok(());
        };
        if let Some(primary) = &held.primary {
            let release = self.primary.release(primary);
            let _ = self.on_primary(self.deadline(), release).await;
        }
        self.local.release(&held.local).await
    }

    /// Drops the publication `fence` and its copy: a record of the same token in the other store
    /// goes too (its fence differs). The primary failing leaves the local copy to drop.
    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        let deadline = self.deadline();
        let mut rejected: Option<Vec<u8>> = None;
        let mut removed = false;
        if self.use_primary(key, deadline).await {
            if let Ok(Some(record)) = self.on_primary(deadline, self.primary.load(key)).await {
                if record.fence == fence {
                    let remove = self.primary.remove_if(key, fence);
                    removed |= self.on_primary(deadline, remove).await.unwrap_or(false);
                    rejected = Some(record.value);
                }
            }
        }
        if let Ok(Some(record)) = self.local.load(key).await {
            if record.fence == fence || rejected.as_ref() == Some(&record.value) {
                removed |= self.local.remove_if(key, record.fence).await?;
            }
        }
        Ok(removed)
    }

    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        self.primary.verifier(key, secret).await
    }
}
