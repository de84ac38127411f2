//! [`CacheStats`]: what a cache did, counted without contention on the hot path.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::available_parallelism;

/// Counters of what a [`TokenCache`](crate::cache::TokenCache) did; read with
/// [`TokenCache::stats`](crate::cache::TokenCache::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Fetches started (requests to the token source).
    pub fetches: u64,
    /// Fetches that produced a token.
    pub tokens_fetched: u64,
    /// Calls answered from the cache without waiting.
    pub cache_hits: u64,
    /// Calls that waited for a fetch.
    pub waits: u64,
    /// Fetches that failed.
    pub refresh_failures: u64,
    /// Calls answered with the cached token after a refresh failed (grace).
    pub grace_served: u64,
    /// Calls answered with a remembered rejection, without a request (remembered by this cache,
    /// or by another through the shared store).
    pub rejections_served: u64,
    /// Tokens dropped by [`TokenCache::invalidate`](crate::cache::TokenCache::invalidate).
    pub invalidations: u64,
    /// Tokens taken from the shared store instead of fetched.
    pub store_adopted: u64,
    /// Tokens this cache fetched and published to the shared store.
    pub store_published: u64,
    /// Store calls that failed or timed out (each one made the cache fetch on its own).
    pub store_errors: u64,
    /// Refresh tokens the vendor refused, each followed by a sign-in with the password.
    pub refresh_fallbacks: u64,
}

/// A counter striped over cache lines, so that tasks on different cores counting cache hits do
/// not contend on one line: a stripe per core, at most 8, so that a pool of thousands of caches
/// on a small machine does not pay for eight lines each.
pub(crate) struct StripedCounter(Box<[Padded]>);

impl Default for StripedCounter {
    fn default() -> Self {
        static STRIPES: OnceLock<usize> = OnceLock::new();
        let n = *STRIPES.get_or_init(|| available_parallelism().map_or(1, |n| n.get().min(8)));
        Self((0..n).map(|_| Padded::default()).collect())
    }
}

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

impl StripedCounter {
    pub(crate) fn incr(&self) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed)
            };
        }
        let stripe = STRIPE.with(|s| *s);
        self.0[stripe % self.0.len()]
            .0
            .fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: StripedCounter,
    pub(crate) fetches: AtomicU64,
    pub(crate) tokens_fetched: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) refresh_failures: AtomicU64,
    pub(crate) grace_served: AtomicU64,
    pub(crate) rejections_served: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) store_adopted: AtomicU64,
    pub(crate) store_published: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) refresh_fallbacks: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reports an event to the `metrics` facade (feature `metrics`; nothing otherwise).
#[cfg(feature = "metrics")]
pub(crate) fn report(name: &'static str, vendor: &'static str) {
    metrics::counter!(name, "vendor" => vendor).increment(1);
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn report(_name: &'static str, _vendor: &'static str) {}

/// Times a fetch for the `metrics` facade: its duration, and its failure's kind. Without the
/// feature it is empty and reads no clock.
pub(crate) struct FetchTimer {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl FetchTimer {
    /// Starts timing a fetch.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn start(clock: &dyn crate::clock::Clock) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: clock.now(),
        }
    }

    /// Reports the finished fetch.
    #[cfg(feature = "metrics")]
    pub(crate) fn finish(
        self,
        vendor: &'static str,
        clock: &dyn crate::clock::Clock,
        failure: Option<&crate::error::ErrorKind>,
    ) {
        let took = clock.now().saturating_duration_since(self.started);
        metrics::histogram!(crate::metrics::FETCH_SECONDS, "vendor" => vendor)
            .record(took.as_secs_f64());
        if let Some(kind) = failure {
            metrics::counter!(
                crate::metrics::FETCH_FAILURES,
                "vendor" => vendor,
                "kind" => kind_label(kind)
            )
            .increment(1);
        }
    }

    /// Reports the finished fetch.
    #[cfg(not(feature = "metrics"))]
    pub(crate) fn finish(
        self,
        _vendor: &'static str,
        _clock: &dyn crate::clock::Clock,
        _failure: Option<&crate::error::ErrorKind>,
    ) {
    }
}

/// The `kind` label of an error.
#[cfg(feature = "metrics")]
fn kind_label(kind: &crate::error::ErrorKind) -> &'static str {
    use crate::error::ErrorKind as K;
    match kind {
        K::Rejected { .. } => "rejected",
        K::Forbidden { .. } => "forbidden",
        K::Throttled { .. } => "throttled",
        K::UnexpectedStatus { .. } => "unexpected_status",
        K::Transport => "transport",
        K::Timeout => "timeout",
        K::MalformedResponse { .. } => "malformed_response",
        K::IdentityMismatch { .. } => "identity_mismatch",
        K::TokenRevoked { .. } => "token_revoked",
        K::Configuration { .. } => "configuration",
    }
}

impl Counters {
    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> CacheStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            fetches: load(&self.fetches),
            tokens_fetched: load(&self.tokens_fetched),
            cache_hits: self.hits.get(),
            waits: load(&self.waits),
            refresh_failures: load(&self.refresh_failures),
            grace_served: load(&self.grace_served),
            rejections_served: load(&self.rejections_served),
            invalidations: load(&self.invalidations),
            store_adopted: load(&self.store_adopted),
            store_published: load(&self.store_published),
            store_errors: load(&self.store_errors),
            refresh_fallbacks: load(&self.refresh_fallbacks),
        }
    }
}
