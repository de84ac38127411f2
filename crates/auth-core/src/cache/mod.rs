//! [`TokenCache`]: the one value users hold. It caches a token, refreshes it ahead of expiry,
//! runs at most one fetch at a time, keeps serving a valid token through outages, remembers
//! failures and rejections briefly, and re-authenticates once after a 401.
//!
//! The tuning and the pure arithmetic of the policy are in `policy`, the counters in `stats`, the
//! shared store's protocol in `fleet`. Authorized calls (`send`, the 401 retry) are the
//! toolkit's (`auth-http`), built on [`TokenCache::token`] and [`TokenCache::invalidate`]. See
//! `docs/architecture.md` for the lifecycle and the reasons behind each default.

mod fleet;
mod flight;
mod policy;
mod stats;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::source::TokenSource;
use crate::token::Token;

pub use policy::{
    CacheOptions, DEFAULT_FAILURE_BACKOFF, DEFAULT_FETCH_DEADLINE, DEFAULT_HALF_LIFE_THRESHOLD,
    DEFAULT_HARD_WINDOW, DEFAULT_MAX_FAILURE_BACKOFF, DEFAULT_MIN_FORCED_REFRESH_INTERVAL,
    DEFAULT_REFRESH_RETRY_BACKOFF, DEFAULT_REJECTION_TTL, DEFAULT_SOFT_WINDOW, MIN_TOKEN_LIFETIME,
};
pub use stats::CacheStats;

use flight::{Flight, Lead, Outcome};
use stats::{Counters, bump, report};

/// A caching, single-flight, self-refreshing holder of one credential's token.
///
/// Cheap to clone (two [`Arc`]s); `Send + Sync`; share it between any number of tasks.
/// Constructing one needs no runtime. A fetch runs in the caller that started it (handed to a
/// task of its own if that caller gives up) and a background refresh in a spawned task; none
/// outlives the last clone of the cache.
///
/// - **Fresh**: [`token`](Self::token) returns the cached token without waiting, locking out
///   nothing, allocating nothing but an `Arc` clone.
/// - **Soft window** (default: the last 5 minutes, at most half the lifetime; tokens living 2 h
///   or more from half their lifetime on): one background refresh starts; callers keep getting
///   the cached token.
/// - **Hard window** (default: the last 60 s, at most a quarter of the lifetime) or no token:
///   callers wait for the one shared fetch.
/// - **Grace**: a failed refresh while the cached token is valid is reported (log, counter,
///   [`last_error`](Self::last_error)) and retried with backoff (30 s doubling, never past the
///   hard window); callers keep the cached token until it really expires.
/// - **Rejections** of the credentials are remembered for 30 s, throttling for its
///   `Retry-After`, so a misconfigured service does not lock its account.
///
/// ```
/// use auth_core::source::StaticToken;
/// use auth_core::{Secret, TokenCache};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::Error> {
/// let cache = TokenCache::builder(StaticToken::new("example", Secret::new("t"), None)).build();
/// let token = cache.token().await?;
/// assert_eq!(token.access_token().expose_secret(), "t");
/// assert_eq!(cache.stats().fetches, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenCache {
    shared: Arc<Shared>,
    /// Dropped with the last user-held clone; spawned tasks hold only `shared`.
    _handles: Arc<HandleGuard>,
}

struct Shared {
    source: Arc<dyn TokenSource>,
    vendor: &'static str,
    clock: Arc<dyn Clock>,
    options: CacheOptions,
    /// The fast path reads this without contending with other readers (arc-swap keeps reader
    /// bookkeeping per thread); writers swap entries in and out under `state`.
    current: ArcSwapOption<Entry>,
    state: Mutex<State>,
    stats: Counters,
    /// The shared store and this source's key in it, when both are configured.
    fleet: Option<fleet::Fleet>,
}

#[derive(Clone)]
struct Entry {
    token: Token,
    /// `None`: the token does not expire.
    soft_at: Option<Instant>,
    hard_at: Option<Instant>,
}

impl Entry {
    fn is_valid_at(&self, now: Instant) -> bool {
        !self.token.is_expired_at(now)
    }
}

/// A rejected token, its store fence, and from which look at the store the flight may fetch (at
/// once if the fleet has not replaced the token lately; never if too soon): the next flight takes
/// a newer stored token (free), else fetches under the lease if it may by then, else keeps it.
type Kept = (Token, Option<u64>, Option<u32>);

/// The looks at the store (one per `store_poll`) after an invalidation too soon for a fetch: the
/// last one may fetch for a young token adopted from the store if its fetcher did not replace it.
const ADOPTED_WAIT: u32 = 9;

#[derive(Default)]
struct State {
    flight: Option<Flight>,
    next_flight_id: u64,
    /// After a failed refresh with a valid token: no new attempt before this.
    next_attempt_at: Option<Instant>,
    failures_in_a_row: u32,
    /// The last failure, and until when it is returned without a new fetch.
    negative: Option<(Error, Instant)>,
    /// The newest token ever fetched, for sources that spend refresh tokens.
    last_token: Option<Token>,
    last_forced_refresh: Option<Instant>,
    /// The source's count of refused refresh tokens at the last fetch; whether it grew then.
    refused_refreshes: u64,
    refusing: bool,
    /// Young tokens rejected in a row, the age below which one is young, the last one counted.
    young_rejections: u32,
    young_counted: Option<Instant>,
    damped_age: Duration,
    last_error: Option<Error>,
    /// The store fence of the current token (the publication it was adopted from or published
    /// as); a stored record is adopted only if newer.
    stored_fence: Option<u64>,
    /// The fence of a stored token that was invalidated, to compare-and-delete at the next fetch.
    rejected_fence: Option<u64>,
    /// A token invalidated sooner than this cache may force a refresh (see `Kept`).
    adopt_only: Option<Kept>,
    /// The last token adopted from the store.
    adopted: Option<Token>,
}

struct HandleGuard {
    shared: Arc<Shared>,
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        // The last user handle is gone: end any fetch still running.
        let flight = self.shared.lock_state().flight.take();
        if let Some(abort) = flight.and_then(|f| f.abort) {
            abort.abort();
        }
    }
}

/// Builds a [`TokenCache`]; see [`TokenCache::builder`].
#[must_use]
pub struct TokenCacheBuilder {
    source: Arc<dyn TokenSource>,
    clock: Arc<dyn Clock>,
    options: CacheOptions,
}

impl fmt::Debug for TokenCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCacheBuilder")
            .field("source", &self.source)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl TokenCacheBuilder {
    /// The cache's tuning (default [`CacheOptions::default`]).
    pub fn options(mut self, options: CacheOptions) -> Self {
        self.options = options;
        self
    }

    /// Shares tokens through `store`; see [`CacheOptions::store`].
    pub fn store(mut self, store: impl crate::store::TokenStore) -> Self {
        self.options = self.options.store(store);
        self
    }

    /// The clock (default: the real one). Tests pass a manual clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the cache. No runtime is needed yet; nothing is fetched until the first call.
    pub fn build(self) -> TokenCache {
        let vendor = self.source.vendor();
        let fleet = self
            .options
            .store
            .clone()
            .zip(self.source.store_key())
            .map(|(store, key)| fleet::Fleet::new(store, key));
        let shared = Arc::new(Shared {
            fleet,
            source: self.source,
            vendor,
            clock: self.clock,
            options: self.options,
            current: ArcSwapOption::empty(),
            state: Mutex::new(State::default()),
            stats: Counters::default(),
        });
        TokenCache {
            _handles: Arc::new(HandleGuard {
                shared: shared.clone(),
            }),
            shared,
        }
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("vendor", &self.shared.vendor)
            .field("options", &self.shared.options)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache with the default windows around `source`.
    pub fn new(source: impl TokenSource) -> Self {
        Self::builder(source).build()
    }

    /// Starts configuring a cache around `source`.
    pub fn builder(source: impl TokenSource) -> TokenCacheBuilder {
        Self::builder_arc(Arc::new(source))
    }

    /// Like [`builder`](Self::builder), for a source that is already shared.
    pub fn builder_arc(source: Arc<dyn TokenSource>) -> TokenCacheBuilder {
        TokenCacheBuilder {
            source,
            clock: Arc::new(SystemClock),
            options: CacheOptions::default(),
        }
    }

    /// The vendor of the source.
    #[must_use]
    pub fn vendor(&self) -> &'static str {
        self.shared.vendor
    }

    /// A valid token: the cached one when it is fresh (no waiting), otherwise the result of the
    /// one shared fetch. Dropping the returned future never cancels that fetch for others.
    ///
    /// # Errors
    /// The source's error (`Rejected`, `Transport`, `Timeout`, `Throttled`,
    /// `MalformedResponse`...), a remembered failure while its wait lasts, `Timeout` past the
    /// fetch deadline, or `Configuration` when called outside a Tokio runtime.
    pub async fn token(&self) -> Result<Token, Error> {
        let now = self.shared.clock.now();
        match self.fresh_at(now) {
            Some(token) => Ok(token),
            None => self.slow_path(now).await,
        }
    }

    /// The cached token if it is fresh (before the soft window), without waiting and without
    /// starting anything: the synchronous half of [`token`](Self::token).
    #[must_use]
    pub fn fresh(&self) -> Option<Token> {
        self.fresh_at(self.shared.clock.now())
    }

    #[inline]
    fn fresh_at(&self, now: Instant) -> Option<Token> {
        let current = self.shared.current.load();
        let entry = current.as_deref()?;
        if entry.soft_at.is_none_or(|soft| now < soft) {
            self.shared.stats.hits.incr();
            Some(entry.token.clone())
        } else {
            None
        }
    }

    /// Drops the cached token if it is still `rejected` (typically after a 401), so that the
    /// next call fetches a new one. Concurrent calls with the same rejected token cause one
    /// re-authentication; forced refreshes closer together than
    /// [`min_forced_refresh_interval`](CacheOptions::min_forced_refresh_interval) are
    /// refused. Returns whether the token was dropped.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.shared.invalidate(rejected)
    }

    /// The key this cache shares its tokens under, when it has a store and its source has a
    /// key (see [`TokenSource::store_key`]); `None` when its tokens are its own.
    #[must_use]
    pub fn store_key(&self) -> Option<&crate::store::StoreKey> {
        self.shared.fleet.as_ref().map(|f| &f.key)
    }

    /// What the cache has done so far.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.shared.stats.snapshot()
    }

    /// The most recent fetch failure, if the latest fetch failed (cleared by a success).
    #[must_use]
    pub fn last_error(&self) -> Option<Error> {
        self.shared.lock_state().last_error.clone()
    }

    /// Whether another fetch can yield a different token (see [`TokenSource::can_renew`]): a
    /// caller that got a 401 with a token that cannot be renewed knows it was revoked.
    #[must_use]
    pub fn can_renew(&self) -> bool {
        self.shared.source.can_renew()
    }

    /// The clock the cache judges expiry on (what an authorized call times itself with).
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        &*self.shared.clock
    }

    async fn slow_path(&self, mut now: Instant) -> Result<Token, Error> {
        // A token that expired while its caller waited is not handed out: decide once more (a
        // caller then joins or starts the next fetch, within the same limits as anyone).
        for attempt in 0..2 {
            if attempt > 0 {
                now = self.clock().now();
            }
            match self.once(now).await {
                Ok(token) if token.is_expired_at(self.clock().now()) => continue,
                other => return other,
            }
        }
        Err(
            Error::timeout(self.shared.vendor).with_source(std::io::Error::other(
                "the fetched token expired before it could be handed out",
            )),
        )
    }

    async fn once(&self, now: Instant) -> Result<Token, Error> {
        let shared = &self.shared;
        let next = {
            let mut state = shared.lock_state();
            shared.decide(&mut state, now, &self._handles)
        };
        let outcome = match next {
            Next::Serve(token) => return Ok(token),
            Next::Fail(err) => return Err(err),
            Next::Lead(lead) => {
                bump(&shared.stats.waits);
                lead.run().await
            }
            Next::Wait(mut rx) => {
                bump(&shared.stats.waits);
                match rx.wait_for(Option::is_some).await {
                    Ok(value) => value.clone(),
                    Err(_) => None,
                }
            }
        };
        match outcome.unwrap_or_else(|| Err(shared.lost_fetch())) {
            Ok(token) => Ok(token),
            Err(err) => {
                // Grace: a failed refresh does not take away a token that is still valid.
                match shared.current() {
                    Some(entry) if entry.is_valid_at(shared.clock.now()) => {
                        bump(&shared.stats.grace_served);
                        report(crate::metrics::GRACE_SERVED, shared.vendor);
                        Ok(entry.token.clone())
                    }
                    _ => Err(err),
                }
            }
        }
    }
}

enum Next {
    Serve(Token),
    /// Drive the fetch this caller started.
    Lead(Lead),
    /// Wait for the fetch another caller (or a background task) drives.
    Wait(Outcome),
    Fail(Error),
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> Option<Arc<Entry>> {
        self.current.load_full()
    }

    fn lost_fetch(&self) -> Error {
        let lost = std::io::Error::other("the token fetch ended without a result");
        Error::transport(self.vendor).with_source(lost)
    }

    /// Under the state lock: serve the cached token, start a fetch, join one, or fail.
    fn decide(
        self: &Arc<Self>,
        state: &mut State,
        now: Instant,
        handles: &Arc<HandleGuard>,
    ) -> Next {
        let negative = state
            .negative
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(err, _)| err.clone());
        let backing_off = state.next_attempt_at.is_some_and(|at| now < at);
        if let Some(entry) = self.current() {
            let in_soft = entry.soft_at.is_none_or(|soft| now < soft);
            let in_hard = entry.hard_at.is_none_or(|hard| now < hard);
            if in_soft {
                self.stats.hits.incr();
                return Next::Serve(entry.token.clone());
            }
            // It lived into its soft window: a forced refresh before it no longer makes the next
            // one too soon (else a rotation's 401 could block the refresh of its successor).
            state.last_forced_refresh = None;
            if in_hard {
                // Soft window: one background refresh, the cached token meanwhile.
                // A session-exclusive vendor is not refreshed early while the store is down or
                // partial or young tokens are being rejected: nobody takes turns ending others'
                // sessions.
                let hold_back = self.source.session_exclusive()
                    && (self.fleet.as_ref().is_some_and(fleet::Fleet::is_partial)
                        || state.young_rejections > 0);
                if state.flight.is_none() && !backing_off && negative.is_none() && !hold_back {
                    tracing::debug!(vendor = self.vendor, "soft window: background refresh");
                    if let Ok(lead) = self.start_flight(state, handles) {
                        lead.detach(state);
                    }
                }
                self.stats.hits.incr();
                return Next::Serve(entry.token.clone());
            }
            if entry.is_valid_at(now) && (backing_off || negative.is_some()) {
                // Hard window after a failure: serve the valid token until the next attempt.
                bump(&self.stats.grace_served);
                report(crate::metrics::GRACE_SERVED, self.vendor);
                return Next::Serve(entry.token.clone());
            }
        }
        if let Some(flight) = &mut state.flight {
            let waiters = flight
                .waiters
                .get_or_insert_with(|| tokio::sync::watch::channel(None).0);
            return Next::Wait(waiters.subscribe());
        }
        if let Some(err) = negative {
            bump(&self.stats.rejections_served);
            report(crate::metrics::REJECTIONS_SERVED, self.vendor);
            return Next::Fail(err);
        }
        match self.start_flight(state, handles) {
            Ok(lead) => Next::Lead(lead),
            Err(err) => Next::Fail(err),
        }
    }
}
