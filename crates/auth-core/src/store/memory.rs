//! [`MemoryStore`]: a [`TokenStore`] in this process's memory, for caches of one process that
//! share a credential, and for tests (it can be switched off to test degraded mode).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Lease, Record, Secret, StoreError, StoreKey, TokenStore};
use crate::clock::{Clock, SystemClock, later};

/// A [`TokenStore`] in memory. Clones share the same records.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use auth_core::store::{MemoryStore, StoreKey, TokenStore};
///
/// let store = MemoryStore::new();
/// let key = StoreKey::new("example", "https://auth.example.com", "client=a");
/// let lease = store.try_lease(&key, "me", Duration::from_secs(10)).await?.unwrap();
/// assert!(store.try_lease(&key, "other", Duration::from_secs(10)).await?.is_none());
/// assert!(store.publish(&lease, b"record").await?);
/// store.release(&lease).await?;
/// assert_eq!(store.load(&key).await?.unwrap().fence, lease.fence);
/// # Ok::<(), auth_core::store::StoreError>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    /// Random per store: verifiers are keyed SipHash, meaningless outside this store.
    verifier_key: std::hash::RandomState,
    keys: Mutex<HashMap<String, Slot>>,
    down: AtomicBool,
}

#[derive(Default)]
struct Slot {
    record: Option<Record>,
    lease: Option<(String, u64, Instant)>,
    last_fence: u64,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.lock().len())
            .field("down", &self.inner.down.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store timing leases on the real clock.
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store timing leases on `clock`.
    #[must_use]
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                verifier_key: std::hash::RandomState::new(),
                keys: Mutex::new(HashMap::new()),
                down: AtomicBool::new(false),
            }),
        }
    }

    /// While `down`, every call fails as an unreachable store would (for tests of degraded mode).
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.inner
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.inner.down.load(Ordering::Relaxed) {
            Err(StoreError::new("the memory store is switched off"))
        } else {
            Ok(())
        }
    }

    /// Runs `f` on the slot of `key` with its expired lease dropped.
    fn with_slot<T>(
        &self,
        key: &StoreKey,
        f: impl FnOnce(&mut Slot) -> T,
    ) -> Result<T, StoreError> {
        self.check_up()?;
        let now = self.inner.clock.now();
        let mut keys = self.lock();
        let slot = keys.entry(key.as_str().to_owned()).or_default();
        if slot
            .lease
            .as_ref()
            .is_some_and(|(_, _, until)| *until <= now)
        {
            slot.lease = None;
        }
        Ok(f(slot))
    }

    fn holds(slot: &Slot, lease: &Lease) -> bool {
        slot.lease
            .as_ref()
            .is_some_and(|(owner, fence, _)| *owner == lease.owner && *fence == lease.fence)
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.with_slot(key, |slot| slot.record.clone())
    }

    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let until = later(self.inner.clock.now(), ttl);
        self.with_slot(key, |slot| {
            if slot.lease.is_some() {
                return None;
            }
            slot.last_fence += 1;
            slot.lease = Some((owner.to_owned(), slot.last_fence, until));
            Some(Lease::new(key.clone(), owner, slot.last_fence))
        })
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let until = later(self.inner.clock.now(), ttl);
        self.with_slot(&lease.key, |slot| {
            let held = Self::holds(slot, lease);
            if held {
                slot.lease = Some((lease.owner.clone(), lease.fence, until));
            }
            held
        })
    }

    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        self.with_slot(&lease.key, |slot| {
            let held = Self::holds(slot, lease);
            if held {
                slot.record = Some(Record::new(lease.fence, value.to_vec()));
            }
            held
        })
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.with_slot(&lease.key, |slot| {
            if Self::holds(slot, lease) {
                slot.lease = None;
            }
        })
    }

    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        self.with_slot(key, |slot| {
            let same = slot.record.as_ref().is_some_and(|r| r.fence == fence);
            if same {
                slot.record = None;
            }
            same
        })
    }
    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        use std::hash::BuildHasher as _;
        let hash = self
            .inner
            .verifier_key
            .hash_one((key.as_str(), secret.expose_secret()));
        Ok(format!("{hash:016x}"))
    }
}
