//! [`Pool`]: many credentials in one process, one client per tenant, built on first use from
//! the caller's closure, sharing one HTTP client (connections, TLS) and one cap on token
//! requests in flight; bounded in number (least recently used out first, and idle ones after
//! a while), and never dropping a tenant while a call on it is in flight.
//!
//! Each tenant keeps its own cache: its own single flight, failure memory and rejection memory,
//! so that one tenant's wrong password or outage never slows or fails another. With a shared
//! store in the pool's [`CacheOptions`], each tenant's token is shared across processes under
//! its own key, and a tenant evicted here is adopted back from the store without a request.
//!
//! ```
//! use auth_core::source::StaticToken;
//! use auth_core::{Secret, TokenCache};
//! use auth_http::pool::Pool;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::Error> {
//! let pool = Pool::builder(|tenant: &String, shared| {
//!     let source = StaticToken::new("example", Secret::new(format!("token-of-{tenant}")), None);
//!     Ok(TokenCache::builder(source).options(shared.cache_options()).build())
//! })
//! .max_tenants(1_000)
//! .build()?;
//! let token = pool.token(&"acme".to_owned()).await?;
//! assert_eq!(token.access_token().expose_secret(), "token-of-acme");
//! assert_eq!(pool.stats().tenants, 1);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use auth_core::Token;
use auth_core::cache::{CacheOptions, CacheStats, TokenCache};
use auth_core::error::Error;

use crate::catalog::Vendor;
use crate::vendor::VendorClient;
use crate::{HttpClient, RequestLoad};

/// Default cap on live tenants.
pub const DEFAULT_MAX_TENANTS: usize = 10_000;
/// Default time after which a tenant no call used is dropped.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default cap on token requests in flight across the pool's tenants.
pub const DEFAULT_MAX_TOKEN_REQUESTS: usize = 32;

/// Gauge (feature `metrics`): live tenants, labelled `pool` (the pool's [name](PoolBuilder::name)).
pub const POOL_TENANTS: &str = "vendor_auth_pool_tenants";
/// Counter (feature `metrics`): tenants dropped, labelled `pool` and `reason` (`capacity` or
/// `idle`).
pub const POOL_EVICTIONS: &str = "vendor_auth_pool_evictions_total";
/// Gauge (feature `metrics`, only with [`tenant_metrics`](PoolBuilder::tenant_metrics)): a
/// tenant's cache counters, labelled `pool`, `tenant` and `counter` (`fetches`,
/// `refresh_failures`, `rejections_served`, `store_adopted`), set at each sweep.
pub const TENANT_CACHE: &str = "vendor_auth_pool_tenant_cache";

/// What a [`Pool`] holds per tenant: anything with a token cache. Every vendor `Client`, a
/// [`VendorClient`] and a [`TokenCache`] are.
pub trait Pooled: Clone + Send + Sync + 'static {
    /// The tenant's token cache.
    fn token_cache(&self) -> &TokenCache;
}

impl Pooled for TokenCache {
    fn token_cache(&self) -> &TokenCache {
        self
    }
}

impl Pooled for VendorClient {
    fn token_cache(&self) -> &TokenCache {
        self.cache()
    }
}

impl<V: Vendor> Pooled for V {
    fn token_cache(&self) -> &TokenCache {
        self.core().cache()
    }
}

/// What every tenant of a pool shares, handed to the closure that builds a tenant: pass
/// [`http_client`](Self::http_client) and [`cache_options`](Self::cache_options) to the
/// vendor `ClientBuilder`.
#[derive(Clone, Debug)]
pub struct PoolShared {
    http: HttpClient,
    cache: CacheOptions,
}

impl PoolShared {
    /// The pool's HTTP client: one connection pool and TLS configuration for every tenant, and
    /// the pool's cap on token requests in flight.
    #[must_use]
    pub fn http_client(&self) -> HttpClient {
        self.http.clone()
    }

    /// The cache options every tenant starts from (the shared store, the windows).
    pub fn cache_options(&self) -> CacheOptions {
        self.cache.clone()
    }
}

type Build<K, C> =
    dyn Fn(K, PoolShared) -> Pin<Box<dyn Future<Output = Result<C, Error>> + Send>> + Send + Sync;

/// Many tenants' clients, keyed by a tenant key the caller chooses; see the
/// [module documentation](self). Cheap to clone.
pub struct Pool<K, C> {
    inner: Arc<Inner<K, C>>,
}

impl<K, C> Clone for Pool<K, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, C> {
    tenants: RwLock<HashMap<K, Arc<Slot<C>>>>,
    build: Box<Build<K, C>>,
    shared: PoolShared,
    max_tenants: usize,
    idle_timeout: Option<Duration>,
    /// Advanced at every sweep and every new tenant: a tenant's `last_used` is the epoch of its
    /// last call, so that a call stores a word it mostly already holds instead of reading a clock.
    epoch: AtomicU64,
    /// When each sweep's epoch began, oldest first.
    marks: Mutex<VecDeque<(Instant, u64)>>,
    sweeping: AtomicBool,
    built: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
    name: &'static str,
    tenant_label: Option<TenantLabel<K>>,
}

type TenantLabel<K> = Box<dyn Fn(&K) -> String + Send + Sync>;

struct Slot<C> {
    client: tokio::sync::OnceCell<C>,
    last_used: AtomicU64,
}

impl<C> Slot<C> {
    fn touch(&self, epoch: &AtomicU64) {
        let now = epoch.load(Ordering::Relaxed);
        if self.last_used.load(Ordering::Relaxed) != now {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }
}

impl<K, C> fmt::Debug for Pool<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .field("max_tenants", &self.inner.max_tenants)
            .field("idle_timeout", &self.inner.idle_timeout)
            .field("http", &self.inner.shared.http)
            .finish_non_exhaustive()
    }
}

/// What a [`Pool`] holds and did; see [`Pool::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Tenants live now.
    pub tenants: usize,
    /// Tenants built (a tenant evicted and used again is built again).
    pub built: u64,
    /// Tenants dropped to stay within [`max_tenants`](PoolBuilder::max_tenants).
    pub evicted: u64,
    /// Tenants dropped after [`idle_timeout`](PoolBuilder::idle_timeout) without a call.
    pub expired: u64,
    /// Token requests in flight now, waiting for a place under the cap, and the most ever in
    /// flight at once.
    pub requests: RequestLoad,
}

/// One tenant's client, held for the length of a call: the pool does not drop a tenant while a
/// `Tenant` of it is alive. Dereferences to the client.
pub struct Tenant<C> {
    client: C,
    _slot: Arc<Slot<C>>,
}

impl<C> Deref for Tenant<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.client
    }
}

impl<C: fmt::Debug> fmt::Debug for Tenant<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tenant").field(&self.client).finish()
    }
}

impl<K, C> Pool<K, C> {
    /// The pool's own counters.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            tenants: read(&self.inner.tenants).len(),
            built: self.inner.built.load(Ordering::Relaxed),
            evicted: self.inner.evicted.load(Ordering::Relaxed),
            expired: self.inner.expired.load(Ordering::Relaxed),
            requests: self.inner.shared.http.request_load(),
        }
    }

    /// The HTTP client every tenant shares (send API requests through its `reqwest_client()`).
    #[must_use]
    pub fn http_client(&self) -> &HttpClient {
        &self.inner.shared.http
    }
}

impl<K, C> Pool<K, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Pooled,
{
    /// Starts a pool whose tenants `build` makes, from the tenant key and what the pool shares.
    /// `build` runs once per tenant (again only after the tenant was dropped), and a failure is
    /// returned to the call that needed the tenant, and tried again by the next.
    pub fn builder(
        build: impl Fn(&K, &PoolShared) -> Result<C, Error> + Send + Sync + 'static,
    ) -> PoolBuilder<K, C> {
        Self::builder_async(move |key, shared| std::future::ready(build(&key, &shared)))
    }

    /// Like [`builder`](Self::builder), for a `build` that awaits (reads the tenant's
    /// credentials from a database or a vault).
    pub fn builder_async<F>(
        build: impl Fn(K, PoolShared) -> F + Send + Sync + 'static,
    ) -> PoolBuilder<K, C>
    where
        F: Future<Output = Result<C, Error>> + Send + 'static,
    {
        PoolBuilder {
            build: Box::new(move |key, shared| Box::pin(build(key, shared))),
            http: None,
            cache: CacheOptions::default(),
            max_tenants: DEFAULT_MAX_TENANTS,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_token_requests: DEFAULT_MAX_TOKEN_REQUESTS,
            name: "default",
            tenant_label: None,
        }
    }

    /// `tenant`'s token: the cached one without waiting when it is fresh, else as its client's
    /// `token()` (one request for any number of callers, within the pool's cap).
    ///
    /// # Errors
    /// The tenant could not be built (the closure's error), or its cache's error.
    pub async fn token(&self, tenant: &K) -> Result<Token, Error> {
        if let Some(token) = self.fresh(tenant) {
            return Ok(token);
        }
        self.get(tenant).await?.token_cache().token().await
    }

    /// `tenant`'s cached token if it is fresh, without waiting or starting anything.
    #[must_use]
    pub fn fresh(&self, tenant: &K) -> Option<Token> {
        let tenants = read(&self.inner.tenants);
        let slot = tenants.get(tenant)?;
        slot.touch(&self.inner.epoch);
        slot.client.get()?.token_cache().fresh()
    }

    /// `tenant`'s client, built on first use; held, it keeps the tenant in the pool.
    ///
    /// # Errors
    /// The tenant could not be built (the closure's error).
    pub async fn get(&self, tenant: &K) -> Result<Tenant<C>, Error> {
        self.start_sweeping();
        let slot = read(&self.inner.tenants).get(tenant).cloned();
        let slot = match slot {
            Some(slot) => slot,
            None => self.insert(tenant),
        };
        slot.touch(&self.inner.epoch);
        let client = slot
            .client
            .get_or_try_init(|| async {
                let client = (self.inner.build)(tenant.clone(), self.inner.shared.clone()).await;
                if client.is_ok() {
                    self.inner.built.fetch_add(1, Ordering::Relaxed);
                }
                client
            })
            .await?
            .clone();
        Ok(Tenant {
            client,
            _slot: slot,
        })
    }

    /// `tenant`'s cache counters, if it is live.
    #[must_use]
    pub fn tenant_stats(&self, tenant: &K) -> Option<CacheStats> {
        let tenants = read(&self.inner.tenants);
        Some(tenants.get(tenant)?.client.get()?.token_cache().stats())
    }

    /// Every live tenant's cache counters.
    #[must_use]
    pub fn all_tenant_stats(&self) -> Vec<(K, CacheStats)> {
        read(&self.inner.tenants)
            .iter()
            .filter_map(|(key, slot)| Some((key.clone(), slot.client.get()?.token_cache().stats())))
            .collect()
    }

    /// Drops `tenant` (after its credentials changed), unless a call on it is in flight.
    /// Returns whether it was dropped.
    pub fn remove(&self, tenant: &K) -> bool {
        let mut tenants = write(&self.inner.tenants);
        let idle = tenants
            .get(tenant)
            .is_some_and(|slot| Arc::strong_count(slot) == 1);
        idle && tenants.remove(tenant).is_some()
    }

    /// The tenant's slot, new: the least recently used idle tenants make room first.
    fn insert(&self, tenant: &K) -> Arc<Slot<C>> {
        let inner = &self.inner;
        let mut tenants = write(&inner.tenants);
        if let Some(slot) = tenants.get(tenant) {
            return slot.clone();
        }
        if tenants.len() >= inner.max_tenants {
            // Make room for a sixteenth more at once, so that the scan is paid once per many
            // new tenants.
            let keep = inner.max_tenants - 1 - (inner.max_tenants / 16);
            let evicted = evict(&mut tenants, keep, None);
            inner.evicted.fetch_add(evicted, Ordering::Relaxed);
            record_evictions(inner.name, "capacity", evicted);
        }
        let epoch = inner.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Arc::new(Slot {
            client: tokio::sync::OnceCell::new(),
            last_used: AtomicU64::new(epoch),
        });
        tenants.insert(tenant.clone(), slot.clone());
        record_tenants(inner.name, tenants.len());
        slot
    }

    fn start_sweeping(&self) {
        let every = match (self.inner.idle_timeout, &self.inner.tenant_label) {
            (Some(idle), _) => (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(60)),
            (None, Some(_)) => Duration::from_secs(15),
            (None, None) => return,
        };
        if self.inner.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let clock = self.inner.shared.http.clock().clone();
        let pool = Arc::downgrade(&self.inner);
        tokio::spawn(sweep_forever(pool, clock, every, self.inner.idle_timeout));
    }
}

async fn sweep_forever<K: Hash + Eq + Clone, C: Pooled>(
    pool: Weak<Inner<K, C>>,
    clock: Arc<dyn auth_core::Clock>,
    every: Duration,
    idle: Option<Duration>,
) {
    loop {
        let Some(inner) = pool.upgrade() else {
            return;
        };
        let now = clock.now();
        let epoch = inner.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let cutoff = idle.and_then(|idle| {
            let mut marks = inner.marks.lock().unwrap_or_else(PoisonError::into_inner);
            marks.push_back((now, epoch));
            // The newest sweep at least `idle` ago: a tenant not used since it began is idle.
            let mut cutoff = None;
            while let Some(&(at, epoch)) = marks.front() {
                if now.saturating_duration_since(at) < idle {
                    break;
                }
                cutoff = Some(epoch);
                marks.pop_front();
            }
            cutoff
        });
        if let Some(cutoff) = cutoff {
            let mut tenants = write(&inner.tenants);
            let expired = evict(&mut tenants, 0, Some(cutoff));
            inner.expired.fetch_add(expired, Ordering::Relaxed);
            record_evictions(inner.name, "idle", expired);
            record_tenants(inner.name, tenants.len());
        }
        record_tenant_caches(&inner);
        drop(inner);
        clock.sleep(every).await;
    }
}

/// Drops the least recently used tenants no call holds until `keep` are left (with `before`,
/// only those last used before that epoch). Returns how many were dropped.
fn evict<K: Hash + Eq + Clone, C>(
    tenants: &mut HashMap<K, Arc<Slot<C>>>,
    keep: usize,
    before: Option<u64>,
) -> u64 {
    let mut idle: Vec<(u64, K)> = tenants
        .iter()
        .filter(|(_, slot)| Arc::strong_count(slot) == 1)
        .map(|(key, slot)| (slot.last_used.load(Ordering::Relaxed), key))
        .filter(|(used, _)| before.is_none_or(|before| *used < before))
        .map(|(used, key)| (used, key.clone()))
        .collect();
    let excess = match before {
        Some(_) => idle.len(),
        None => tenants.len().saturating_sub(keep).min(idle.len()),
    };
    if excess == 0 {
        return 0;
    }
    if excess < idle.len() {
        idle.select_nth_unstable_by_key(excess - 1, |(used, _)| *used);
    }
    for (_, key) in idle.drain(..excess) {
        tenants.remove(&key);
    }
    excess as u64
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(feature = "metrics")]
fn record_tenants(pool: &'static str, live: usize) {
    metrics::gauge!(POOL_TENANTS, "pool" => pool).set(live as f64);
}

#[cfg(feature = "metrics")]
fn record_evictions(pool: &'static str, reason: &'static str, dropped: u64) {
    if dropped > 0 {
        metrics::counter!(POOL_EVICTIONS, "pool" => pool, "reason" => reason).increment(dropped);
    }
}

#[cfg(feature = "metrics")]
fn record_tenant_caches<K, C: Pooled>(inner: &Inner<K, C>) {
    let Some(label) = &inner.tenant_label else {
        return;
    };
    for (key, slot) in read(&inner.tenants).iter() {
        let Some(client) = slot.client.get() else {
            continue;
        };
        let stats = client.token_cache().stats();
        let tenant = label(key);
        for (counter, value) in [
            ("fetches", stats.fetches),
            ("refresh_failures", stats.refresh_failures),
            ("rejections_served", stats.rejections_served),
            ("store_adopted", stats.store_adopted),
        ] {
            let labels = [
                ("pool", inner.name.to_owned()),
                ("tenant", tenant.clone()),
                ("counter", counter.to_owned()),
            ];
            metrics::gauge!(TENANT_CACHE, &labels).set(value as f64);
        }
    }
}

#[cfg(not(feature = "metrics"))]
fn record_tenants(_: &'static str, _: usize) {}

#[cfg(not(feature = "metrics"))]
fn record_evictions(_: &'static str, _: &'static str, _: u64) {}

#[cfg(not(feature = "metrics"))]
fn record_tenant_caches<K, C>(_: &Inner<K, C>) {}

/// Configures a [`Pool`]; see [`Pool::builder`].
#[must_use]
pub struct PoolBuilder<K, C> {
    build: Box<Build<K, C>>,
    http: Option<HttpClient>,
    cache: CacheOptions,
    max_tenants: usize,
    idle_timeout: Option<Duration>,
    max_token_requests: usize,
    name: &'static str,
    tenant_label: Option<TenantLabel<K>>,
}

impl<K, C> fmt::Debug for PoolBuilder<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("http", &self.http)
            .field("cache", &self.cache)
            .field("max_tenants", &self.max_tenants)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_token_requests", &self.max_token_requests)
            .field("name", &self.name)
            .field("tenant_metrics", &self.tenant_label.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, C> PoolBuilder<K, C> {
    /// The HTTP client every tenant shares (default: `HttpClient::new()`); the pool gives it
    /// its own cap of [`max_token_requests`](Self::max_token_requests).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// The cache options every tenant starts from: a shared store, so that each tenant's token
    /// is shared across processes under its own key, or the windows.
    pub fn cache(mut self, options: CacheOptions) -> Self {
        self.cache = options;
        self
    }

    /// At most `max` live tenants (default 10 000; at least 1): past it, the least recently
    /// used tenants that no call holds are dropped, a sixteenth of `max` at a time. Tenants
    /// held by calls in flight are never dropped, so the pool can exceed `max` by those.
    pub fn max_tenants(mut self, max: usize) -> Self {
        self.max_tenants = max.max(1);
        self
    }

    /// Drops a tenant no call used for `idle` (default 30 minutes), checked every quarter of
    /// it; `None` keeps tenants until they are evicted.
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// At most `max` token requests in flight across all tenants (default 32; at least 1);
    /// the others wait their turn, first come first served. Each tenant has at most one
    /// (its single flight), so a cold start of many tenants is served in arrival order.
    pub fn max_token_requests(mut self, max: usize) -> Self {
        self.max_token_requests = max.max(1);
        self
    }

    /// The pool's name in its metrics' `pool` label (default `default`), for a service with more
    /// than one pool.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Opts in to metrics per tenant (feature `metrics`): each live tenant's cache counters as
    /// [`TENANT_CACHE`] gauges labelled with `label(key)`, set at each sweep (every quarter of
    /// the idle timeout, or every 15 s). Off by default: a label per tenant makes a series per
    /// tenant in the metrics backend, and the series of a dropped tenant stay there. The
    /// caches' own metrics (`auth_core::metrics`) are labelled with the vendor only, whatever
    /// this says. Without the feature, this does nothing.
    pub fn tenant_metrics(mut self, label: impl Fn(&K) -> String + Send + Sync + 'static) -> Self {
        self.tenant_label = Some(Box::new(label));
        self
    }

    /// Builds the pool. Nothing is built or sent until the first call.
    ///
    /// # Errors
    /// A configuration error if no HTTP client was given and the default one cannot be built.
    pub fn build(self) -> Result<Pool<K, C>, Error> {
        let http = match self.http {
            Some(http) => http,
            None => HttpClient::new()?,
        };
        Ok(Pool {
            inner: Arc::new(Inner {
                tenants: RwLock::new(HashMap::new()),
                build: self.build,
                shared: PoolShared {
                    http: http.with_max_requests_in_flight(self.max_token_requests),
                    cache: self.cache,
                },
                max_tenants: self.max_tenants,
                idle_timeout: self.idle_timeout,
                epoch: AtomicU64::new(0),
                marks: Mutex::new(VecDeque::new()),
                sweeping: AtomicBool::new(false),
                built: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
                expired: AtomicU64::new(0),
                name: self.name,
                tenant_label: self.tenant_label,
            }),
        })
    }
}
