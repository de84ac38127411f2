//! [`CacheOptions`]: the cache's tuning as a plain value, and the pure arithmetic of its policy
//! (when windows open, how long a failure is remembered, when a failed refresh is retried).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::later;
use crate::error::ErrorKind;
use crate::store::TokenStore;
use crate::token::{MAX_LIFETIME, Token};

/// Default soft window: a background refresh starts this long before expiry.
pub const DEFAULT_SOFT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Default hard window: callers wait for a fresh token this long before expiry.
pub const DEFAULT_HARD_WINDOW: Duration = Duration::from_secs(60);
/// Tokens living at least this long are refreshed from half their lifetime on.
pub const DEFAULT_HALF_LIFE_THRESHOLD: Duration = Duration::from_secs(2 * 60 * 60);
/// How long a rejection of the credentials is remembered.
pub const DEFAULT_REJECTION_TTL: Duration = Duration::from_secs(30);
/// The least time between two forced refreshes (invalidations).
pub const DEFAULT_MIN_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// First wait before retrying a failed refresh while the cached token is still valid.
pub const DEFAULT_REFRESH_RETRY_BACKOFF: Duration = Duration::from_secs(30);
/// First wait after a failed fetch before another may start; it doubles with each failure in a
/// row, up to [`DEFAULT_MAX_FAILURE_BACKOFF`], and a success resets it.
pub const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait after failed fetches.
pub const DEFAULT_MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(60);
/// The longest one fetch (one token acquisition, retries and all) may take.
pub const DEFAULT_FETCH_DEADLINE: Duration = Duration::from_secs(30);
/// A fetched token with less life left than this on arrival is not usable: it is refused as a
/// malformed response, never cached, and the failure backoff applies.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(5);
/// How long a lease on a shared token lasts unless renewed (renewed every third of it while a
/// fetch runs, so a fetch may take longer; a dead holder's lease passes to another process
/// after it).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);
/// The longest one call to a token store may take before the cache fetches without it.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a process waiting for another's fetch looks at the store.
pub const DEFAULT_STORE_POLL: Duration = Duration::from_millis(100);
/// The fraction of the soft window used as jitter.
const SOFT_JITTER: f64 = 0.1;
/// The longest time a `Retry-After` is remembered.
const MAX_THROTTLE: Duration = Duration::from_secs(15 * 60);

/// Called with every new token; see [`CacheOptions::on_token`].
pub(crate) type OnToken = Arc<dyn Fn(&Token) + Send + Sync>;

/// How a [`TokenCache`](crate::cache::TokenCache) behaves: its refresh windows, how long failures are
/// remembered, its deadlines, and a hook called with every new token. A plain value: build it
/// once, clone it, print it, hand it to [`TokenCacheBuilder::options`](crate::cache::TokenCacheBuilder::options)
/// or to a vendor client builder's `cache` option. Every setter accepts any [`Duration`], zero
/// and [`Duration::MAX`] included.
///
/// ```
/// use std::time::Duration;
/// use auth_core::CacheOptions;
///
/// let options = CacheOptions::default()
///     .soft_window(Duration::from_secs(120))
///     .rejection_ttl(Duration::from_secs(60));
/// let copy = options.clone();
/// assert!(format!("{copy:?}").contains("soft_window: 120s"));
/// ```
#[derive(Clone)]
#[must_use]
#[non_exhaustive]
pub struct CacheOptions {
    pub(crate) soft_window: Duration,
    pub(crate) hard_window: Duration,
    pub(crate) half_life_threshold: Duration,
    pub(crate) rejection_ttl: Duration,
    pub(crate) min_forced_refresh_interval: Duration,
    pub(crate) refresh_retry_backoff: Duration,
    pub(crate) failure_backoff: Duration,
    pub(crate) max_failure_backoff: Duration,
    pub(crate) fetch_deadline: Duration,
    pub(crate) on_token: Option<OnToken>,
    pub(crate) store: Option<Arc<dyn TokenStore>>,
    pub(crate) lease_ttl: Duration,
    pub(crate) store_timeout: Duration,
    pub(crate) store_poll: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            soft_window: DEFAULT_SOFT_WINDOW,
            hard_window: DEFAULT_HARD_WINDOW,
            half_life_threshold: DEFAULT_HALF_LIFE_THRESHOLD,
            rejection_ttl: DEFAULT_REJECTION_TTL,
            min_forced_refresh_interval: DEFAULT_MIN_FORCED_REFRESH_INTERVAL,
            refresh_retry_backoff: DEFAULT_REFRESH_RETRY_BACKOFF,
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            max_failure_backoff: DEFAULT_MAX_FAILURE_BACKOFF,
            fetch_deadline: DEFAULT_FETCH_DEADLINE,
            on_token: None,
            store: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            store_poll: DEFAULT_STORE_POLL,
        }
    }
}

impl fmt::Debug for CacheOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheOptions")
            .field("soft_window", &self.soft_window)
            .field("hard_window", &self.hard_window)
            .field("half_life_threshold", &self.half_life_threshold)
            .field("rejection_ttl", &self.rejection_ttl)
            .field(
                "min_forced_refresh_interval",
                &self.min_forced_refresh_interval,
            )
            .field("refresh_retry_backoff", &self.refresh_retry_backoff)
            .field("failure_backoff", &self.failure_backoff)
            .field("max_failure_backoff", &self.max_failure_backoff)
            .field("fetch_deadline", &self.fetch_deadline)
            .field("on_token", &self.on_token.as_ref().map(|_| "<hook>"))
            .field("store", &self.store)
            .field("lease_ttl", &self.lease_ttl)
            .field("store_timeout", &self.store_timeout)
            .field("store_poll", &self.store_poll)
            .finish()
    }
}

impl CacheOptions {
    /// How long before expiry one background refresh starts while callers keep the cached token
    /// (default 5 minutes; never more than half the token's lifetime).
    pub fn soft_window(mut self, window: Duration) -> Self {
        self.soft_window = window;
        self
    }

    /// How long before expiry callers stop getting the cached token and wait for a fresh one
    /// (default 60 s; never more than a quarter of the lifetime, nor more than the soft window).
    pub fn hard_window(mut self, window: Duration) -> Self {
        self.hard_window = window;
        self
    }

    /// Tokens living at least this long start refreshing at half their lifetime (default 2 h).
    pub fn half_life_threshold(mut self, threshold: Duration) -> Self {
        self.half_life_threshold = threshold;
        self
    }

    /// How long a rejection of the credentials is remembered and returned without asking the
    /// vendor again (default 30 s). Protects accounts that lock after repeated failures.
    pub fn rejection_ttl(mut self, ttl: Duration) -> Self {
        self.rejection_ttl = ttl;
        self
    }

    /// The least time between two forced refreshes by
    /// [`TokenCache::invalidate`](crate::cache::TokenCache::invalidate) (default 5 s).
    pub fn min_forced_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_forced_refresh_interval = interval;
        self
    }

    /// The first wait before a failed refresh is retried while the cached token is still valid;
    /// it doubles on each failure (default 30 s).
    pub fn refresh_retry_backoff(mut self, backoff: Duration) -> Self {
        self.refresh_retry_backoff = backoff;
        self
    }

    /// After a failed fetch, how long the failure is returned to callers at once before another
    /// fetch may start (default 1 s); it doubles with each failure in a row, with jitter, up to
    /// [`max_failure_backoff`](Self::max_failure_backoff), and a success resets it. A rejection
    /// waits at least the [`rejection_ttl`](Self::rejection_ttl), throttling at least its
    /// `Retry-After`.
    pub fn failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// The longest wait after failed fetches (default 60 s).
    pub fn max_failure_backoff(mut self, backoff: Duration) -> Self {
        self.max_failure_backoff = backoff;
        self
    }

    /// The longest one fetch may take, every request and wait of it included (default 30 s);
    /// past it the fetch ends with a [`Timeout`](ErrorKind::Timeout) for every waiting caller.
    pub fn fetch_deadline(mut self, deadline: Duration) -> Self {
        self.fetch_deadline = deadline;
        self
    }

    /// Called with every new token, outside any lock (e.g. to persist a rotated refresh token).
    pub fn on_token(mut self, hook: impl Fn(&Token) + Send + Sync + 'static) -> Self {
        self.on_token = Some(Arc::new(hook));
        self
    }

    /// Shares tokens through `store` with every cache, in this process or another, whose source
    /// has the same [`store_key`](crate::source::TokenSource::store_key): one of them fetches, the others
    /// adopt what it publishes. The cached-token path never touches the store. Sources without
    /// a store key are not shared.
    pub fn store(self, store: impl TokenStore) -> Self {
        self.store_arc(Arc::new(store))
    }

    /// Like [`store`](Self::store), for a store that is already shared.
    pub fn store_arc(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// How long the lease of a process fetching a shared token lasts unless renewed (default
    /// 10 s; renewed every third of it while the fetch runs).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The longest one store call may take (default 500 ms). Past it, or on a store error, the
    /// cache fetches on its own (degraded mode) until the store answers again.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// How often a cache waiting for another process's fetch looks at the store (default
    /// 100 ms).
    pub fn store_poll(mut self, interval: Duration) -> Self {
        self.store_poll = interval;
        self
    }
}

/// How long a failure is remembered (no fetch, the error returned at once): the failure
/// backoff doubling with each failure in a row (`failures` ≥ 1), up to its maximum, shortened by
/// up to a fifth with `jitter` in `[0, 1)` so that a fleet spreads out; at least the rejection
/// memory for a rejection, and at least the server's `Retry-After` (at most 15 minutes) for
/// throttling.
pub(crate) fn failure_wait(
    config: &CacheOptions,
    kind: &ErrorKind,
    failures: u32,
    jitter: f64,
) -> Duration {
    let doubled = config
        .failure_backoff
        .saturating_mul(1u32 << failures.saturating_sub(1).min(31))
        .min(config.max_failure_backoff)
        .min(MAX_LIFETIME);
    let backoff = doubled.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0));
    let floor = match kind {
        ErrorKind::Rejected { .. } => config.rejection_ttl,
        ErrorKind::Throttled { retry_after } => retry_after
            .unwrap_or(config.rejection_ttl)
            .min(MAX_THROTTLE),
        _ => Duration::ZERO,
    };
    backoff.max(floor)
}

/// A number in `[0, 1)` drawn from `token`'s access token, the same in every process holding it:
/// processes sharing a token (through a store) open its soft window together and rotate it as
/// one process would (each drawing its own, the earliest of eight draws came about 9 % sooner);
/// processes with tokens of their own still spread out.
pub(crate) fn token_jitter(token: &Token) -> f64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hash = BuildHasherDefault::<DefaultHasher>::default()
        .hash_one(token.access_token().expose_secret());
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// How far before expiry the soft and hard windows open, for a token living `lifetime`.
/// `jitter` in `[0, 1)` moves the soft window up to 10 % later, so that a fleet spreads out.
pub(crate) fn windows(
    config: &CacheOptions,
    lifetime: Duration,
    jitter: f64,
) -> (Duration, Duration) {
    let half = lifetime / 2;
    let soft = if lifetime >= config.half_life_threshold {
        half
    } else {
        config.soft_window.min(half)
    };
    let soft = soft.mul_f64(1.0 - SOFT_JITTER * jitter.clamp(0.0, 1.0));
    let hard = config.hard_window.min(lifetime / 4).min(soft);
    (soft, hard)
}

/// When a failed refresh is tried again while the cached token, which expires at `expires` and
/// whose hard window opens at `hard`, is still valid: the refresh backoff doubling with each
/// failure in a row (`failures` ≥ 1), never later than the hard window (or, inside it, the
/// expiry).
pub(crate) fn grace_retry_at(
    config: &CacheOptions,
    now: Instant,
    failures: u32,
    hard: Option<Instant>,
    expires: Option<Instant>,
) -> Instant {
    let exp = config
        .refresh_retry_backoff
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let at = later(now, exp);
    let limit = match hard {
        Some(hard) if now < hard => Some(hard),
        _ => expires,
    };
    match limit {
        Some(limit) => at.min(limit),
        None => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const ZERO: Duration = Duration::ZERO;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn default_windows() {
        let c = CacheOptions::default();
        // One hour: 5 minutes soft (jitter moves it at most 10 % later), 60 s hard.
        assert_eq!(windows(&c, 60 * MIN, 0.0), (5 * MIN, MIN));
        assert_eq!(windows(&c, 60 * MIN, 0.999).0.as_secs(), 270);
        // Ten minutes: soft capped at half, hard 60 s.
        assert_eq!(windows(&c, 10 * MIN, 0.0), (5 * MIN, MIN));
        // Two minutes: soft 60 s (half), hard 30 s (a quarter).
        assert_eq!(windows(&c, 2 * MIN, 0.0), (MIN, S(30)));
        // Two hours or more: half the lifetime.
        assert_eq!(windows(&c, 24 * 60 * MIN, 0.0).0, 12 * 60 * MIN);
        assert_eq!(windows(&c, 120 * MIN, 0.0).0, 60 * MIN);
        // Tiny lifetimes do not panic.
        assert_eq!(windows(&c, ZERO, 0.5), (ZERO, ZERO));
        assert_eq!(windows(&c, Duration::from_nanos(3), 0.5).1, ZERO);
    }

    #[test]
    fn hard_window_never_exceeds_soft() {
        let c = CacheOptions {
            soft_window: S(10),
            hard_window: S(120),
            ..CacheOptions::default()
        };
        assert_eq!(windows(&c, 60 * MIN, 0.0), (S(10), S(10)));
    }

    #[test]
    fn failure_memory_doubles_and_has_floors() {
        let c = CacheOptions::default();
        let transport = ErrorKind::Transport;
        assert_eq!(failure_wait(&c, &transport, 1, 0.0), S(1));
        assert_eq!(failure_wait(&c, &transport, 3, 0.0), S(4));
        assert_eq!(failure_wait(&c, &transport, 40, 0.0), S(60));
        assert_eq!(failure_wait(&c, &transport, 1, 0.999).as_millis(), 800);
        let (status, code, description) = (Some(401), None, None);
        let rejected = ErrorKind::Rejected {
            status,
            code,
            description,
        };
        assert_eq!(failure_wait(&c, &rejected, 1, 0.0), S(30));
        let throttled = ErrorKind::Throttled {
            retry_after: Some(S(24 * 3600)),
        };
        assert_eq!(failure_wait(&c, &throttled, 1, 0.0), MAX_THROTTLE);
    }

    #[test]
    fn grace_retry_never_passes_the_hard_window() {
        let c = CacheOptions::default();
        let now = Instant::now();
        let (hard, expires) = (Some(now + S(45)), Some(now + S(100)));
        assert_eq!(grace_retry_at(&c, now, 1, hard, expires), now + S(30));
        assert_eq!(grace_retry_at(&c, now, 2, hard, expires), now + S(45));
        // Inside the hard window: never past the expiry.
        let passed = Some(now - S(1));
        assert_eq!(grace_retry_at(&c, now, 9, passed, expires), now + S(100));
        // The doubling stops at 2^16, and never overflows.
        let longest = later(now, S(30 * 65_536));
        assert_eq!(grace_retry_at(&c, now, u32::MAX, None, None), longest);
    }
}
