//! [`TokenCache`]: the one value users hold. It caches a token, refreshes it ahead of expiry,
//! runs at most one fetch at a time, keeps serving a valid token through outages, remembers
//! failures and rejections briefly, and re-authenticates once after a 401.
//!
//! The tuning and the pure arithmetic of the policy are in `policy`, the counters in `stats`, the
//! shared store's protocol in `fleet`. Authorized calls (`send`, the 401 retry) are the
//! toolkit's (`auth-http`), built on [`TokenCache::token`] and [`TokenCache::invalidate`]. See
//! `docs/architecture.md` for the lifecycle and the reasons behind each default.

mod fleet;
mod policy;
mod stats;

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock, later};
use crate::error::{ConfigProblem, Error};
use crate::source::TokenSource;
use crate::token::Token;

pub use policy::{
    CacheOptions, DEFAULT_FAILURE_BACKOFF, DEFAULT_FETCH_DEADLINE, DEFAULT_HALF_LIFE_THRESHOLD,
    DEFAULT_HARD_WINDOW, DEFAULT_MAX_FAILURE_BACKOFF, DEFAULT_MIN_FORCED_REFRESH_INTERVAL,
    DEFAULT_REFRESH_RETRY_BACKOFF, DEFAULT_REJECTION_TTL, DEFAULT_SOFT_WINDOW, MIN_TOKEN_LIFETIME,
};
pub use stats::CacheStats;

use policy::{failure_wait, grace_retry_at, windows};
use stats::{Counters, FetchTimer, bump, report};

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
    last_error: Option<Error>,
    /// The store fence of the current token (the publication it was adopted from or published
    /// as); a stored record is adopted only if newer.
    stored_fence: Option<u64>,
    /// The fence of a stored token that was invalidated, to compare-and-delete at the next fetch.
    rejected_fence: Option<u64>,
    /// A token invalidated sooner than a forced refresh may run, with its store fence: the next
    /// flight only looks for a newer stored token (free), and gives this one back if there is none.
    adopt_only: Option<(Token, Option<u64>)>,
}

type Outcome = watch::Receiver<Option<Result<Token, Error>>>;
type Waiters = watch::Sender<Option<Result<Token, Error>>>;

/// A fetch in progress: the channel its waiters listen on (made when the first one comes), and,
/// once the fetch runs in a task of its own, the handle that ends it.
struct Flight {
    id: u64,
    waiters: Option<Waiters>,
    /// `None` while the caller that started the fetch drives it (see [`Lead`]).
    abort: Option<tokio::task::AbortHandle>,
}

/// One fetch, as a future that stores its outcome in the cache, publishes it to the callers
/// waiting, and returns it.
type FetchFuture = Pin<Box<dyn Future<Output = Result<Token, Error>> + Send>>;

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
            stats: Counters::new(),
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
        self.shared.fleet.as_ref().map(fleet::Fleet::key)
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
        Error::transport(self.vendor).with_source(std::io::Error::other(
            "the token fetch ended without a result",
        ))
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
            if in_hard {
                // Soft window: one background refresh, the cached token meanwhile.
                // A session-exclusive vendor is not refreshed early while the store is down, so
                // that processes cannot take turns ending each other's sessions.
                let hold_back = self.source.session_exclusive()
                    && self.fleet.as_ref().is_some_and(fleet::Fleet::is_degraded);
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
            let waiters = flight.waiters.get_or_insert_with(|| watch::channel(None).0);
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

    /// Registers a new flight and returns the fetch that completes it, to be driven by the
    /// caller that started it or detached for a background refresh.
    fn start_flight(
        self: &Arc<Self>,
        state: &mut State,
        handles: &Arc<HandleGuard>,
    ) -> Result<Lead, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config(
                self.vendor,
                "runtime",
                ConfigProblem::Invalid("a tokio runtime is needed to fetch tokens".into()),
            )
        })?;
        let id = state.next_flight_id;
        state.next_flight_id += 1;
        let previous = state.last_token.clone();
        bump(&self.stats.fetches);
        report(crate::metrics::TOKEN_FETCHES, self.vendor);
        let shared = Arc::clone(self);
        let fetch = Box::pin(async move {
            let _clear = ClearFlight {
                shared: &shared,
                id,
            };
            let mut fetch = std::pin::pin!(
                shared
                    .acquire(previous)
                    .instrument(tracing::debug_span!("token_fetch", vendor = shared.vendor))
            );
            let deadline = shared.options.fetch_deadline;
            let timer = FetchTimer::start(&*shared.clock);
            let outcome = within(deadline, fetch.as_mut()).await;
            let result = match outcome {
                // Tokens from the source were checked as they arrived (`usable`); a kept or
                // adopted token is not judged again.
                Ok(result) => result,
                Err(_) => Err(
                    Error::timeout(shared.vendor).with_source(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the token fetch took longer than its {} ms deadline",
                            deadline.as_millis()
                        ),
                    )),
                ),
            };
            timer.finish(
                shared.vendor,
                &*shared.clock,
                result.as_ref().err().map(Error::kind),
            );
            // The outcome is stored and the flight retired under one lock, before the result
            // is published to the callers already waiting (often none): a caller arriving
            // after this joins nothing stale.
            if let Some(waiters) = shared.finish_flight(id, &result) {
                let _ = waiters.send(Some(result.clone()));
            }
            result
        });
        state.flight = Some(Flight {
            id,
            waiters: None,
            abort: None,
        });
        Ok(Lead {
            fetch: Some(fetch),
            shared: Arc::clone(self),
            id,
            runtime,
            handles: Arc::downgrade(handles),
        })
    }

    /// Stores the outcome of fetch `id` and retires it, returning the channel of its waiters (if
    /// any); runs before they are woken.
    fn finish_flight(&self, id: u64, result: &Result<Token, Error>) -> Option<Waiters> {
        match result {
            Ok(token) => self.finish_success(id, token),
            Err(err) => self.finish_failure(id, err),
        }
    }

    /// Retires fetch `id` under the state lock, if it is still the current flight, returning the
    /// channel of its waiters.
    fn retire(state: &mut State, id: u64) -> Option<Waiters> {
        if state.flight.as_ref().is_some_and(|f| f.id == id) {
            state.flight.take().and_then(|f| f.waiters)
        } else {
            None
        }
    }

    /// A new token: cached with its windows, every failure memory cleared, the hook called.
    fn finish_success(&self, id: u64, token: &Token) -> Option<Waiters> {
        let entry = self.entry_for(token.clone());
        let waiters = {
            let mut state = self.lock_state();
            let waiters = Self::retire(&mut state, id);
            self.current.store(Some(Arc::new(entry)));
            state.last_token = Some(token.clone());
            state.failures_in_a_row = 0;
            state.next_attempt_at = None;
            state.negative = None;
            state.last_error = None;
            waiters
        };
        bump(&self.stats.tokens_fetched);
        report(crate::metrics::TOKENS_FETCHED, self.vendor);
        tracing::info!(
            vendor = self.vendor,
            lifetime_s = token.lifetime().map(|l| l.as_secs()),
            "token fetched"
        );
        if let Some(hook) = &self.options.on_token {
            hook(token);
        }
        waiters
    }

    /// A failed fetch: remembered, so that until its wait ends callers without a valid token get
    /// it at once and no fetch starts; with a valid token, the next refresh is scheduled.
    fn finish_failure(&self, id: u64, err: &Error) -> Option<Waiters> {
        let now = self.clock.now();
        let (waiters, wait, retry_at) = {
            let mut state = self.lock_state();
            let waiters = Self::retire(&mut state, id);
            state.failures_in_a_row = state.failures_in_a_row.saturating_add(1);
            state.last_error = Some(err.clone());
            let wait = failure_wait(
                &self.options,
                err.kind(),
                state.failures_in_a_row,
                fastrand::f64(),
            );
            state.negative = Some((err.clone(), later(now, wait)));
            let retry_at = self.current().filter(|e| e.is_valid_at(now)).map(|entry| {
                grace_retry_at(
                    &self.options,
                    now,
                    state.failures_in_a_row,
                    entry.hard_at,
                    entry.token.expires_at(),
                )
            });
            if retry_at.is_some() {
                state.next_attempt_at = retry_at;
            }
            (waiters, wait, retry_at)
        };
        // Counted once in effect, as a success is: whoever sees the count sees the flight
        // retired and the next attempt scheduled.
        bump(&self.stats.refresh_failures);
        match retry_at {
            Some(at) => tracing::warn!(
                vendor = self.vendor,
                error = %err,
                retry_in_s = at.saturating_duration_since(now).as_secs(),
                "token refresh failed; serving the cached token until it expires"
            ),
            None => tracing::warn!(
                vendor = self.vendor,
                error = %err,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "token fetch failed"
            ),
        }
        waiters
    }

    /// `token` if it can be cached and handed out: sendable in a header, and with at least
    /// [`MIN_TOKEN_LIFETIME`] left. Otherwise a malformed response of the source's vendor.
    fn usable(&self, token: Token) -> Result<Token, Error> {
        if !token.is_sendable() {
            return Err(Error::malformed(
                self.vendor,
                "the access token cannot be sent in an HTTP header",
                None,
            ));
        }
        let left = token
            .expires_at()
            .map(|at| at.saturating_duration_since(self.clock.now()));
        if left.is_some_and(|left| left < MIN_TOKEN_LIFETIME) && self.source.can_renew() {
            return Err(Error::malformed(
                self.vendor,
                format!(
                    "the token had less than {} s to live when it arrived",
                    MIN_TOKEN_LIFETIME.as_secs()
                ),
                None,
            ));
        }
        Ok(token)
    }

    /// The windows of a new token. A token that cannot be renewed has none: it is served until
    /// it expires, since fetching it again early would only return it again.
    fn entry_for(&self, token: Token) -> Entry {
        let (Some(lifetime), Some(expires)) = (token.lifetime(), token.expires_at()) else {
            return Entry {
                token,
                soft_at: None,
                hard_at: None,
            };
        };
        if !self.source.can_renew() {
            return Entry {
                token,
                soft_at: Some(expires),
                hard_at: Some(expires),
            };
        }
        let (soft, hard) = windows(&self.options, lifetime, fastrand::f64());
        Entry {
            soft_at: Some(expires.checked_sub(soft).unwrap_or(expires)),
            hard_at: Some(expires.checked_sub(hard).unwrap_or(expires)),
            token,
        }
    }

    fn invalidate(&self, rejected: &Token) -> bool {
        let now = self.clock.now();
        let mut state = self.lock_state();
        let is_current = self
            .current
            .load()
            .as_deref()
            .is_some_and(|entry| entry.token.same_as(rejected));
        if !is_current {
            return false;
        }
        let too_soon = state.last_forced_refresh.is_some_and(|last| {
            now.saturating_duration_since(last) < self.options.min_forced_refresh_interval
        });
        if too_soon {
            if self.fleet.as_ref().is_some_and(|f| !f.is_degraded()) {
                // Another process may have fetched since: looking costs the vendor nothing.
                if let Some(entry) = self.current.swap(None) {
                    state.adopt_only = Some((entry.token.clone(), state.stored_fence.take()));
                }
                bump(&self.stats.invalidations);
                report(crate::metrics::INVALIDATIONS, self.vendor);
                return true;
            }
            tracing::warn!(
                vendor = self.vendor,
                "forced refresh refused: the previous one was too recent"
            );
            return false;
        }
        self.current.store(None);
        state.adopt_only = None;
        state.rejected_fence = state.stored_fence.take();
        state.last_forced_refresh = Some(now);
        state.next_attempt_at = None;
        bump(&self.stats.invalidations);
        report(crate::metrics::INVALIDATIONS, self.vendor);
        tracing::info!(vendor = self.vendor, "token invalidated");
        true
    }
}

/// `fut` bounded by `limit`; `Err(())` when the limit passed first. The timer is armed only if
/// `fut` is not ready at its first poll, so that a future that answers at once (a static token,
/// a store in memory) needs no time driver in the runtime.
async fn within<F: Future>(limit: std::time::Duration, fut: F) -> Result<F::Output, ()> {
    let mut fut = std::pin::pin!(fut);
    match std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => tokio::time::timeout(limit, fut).await.map_err(drop),
    }
}

/// A fetch driven by the caller that started it, inside that caller's own future: in the common
/// case (one caller, one token) no task is spawned, no channel made and no other task woken.
///
/// Dropping the caller's future does not cancel the fetch for the others: the rest of it is
/// handed to a task of its own (ended with the cache's last handle, like any fetch task). A
/// fetch that panics is dropped as a task's would be; every caller gets a transport error.
struct Lead {
    fetch: Option<FetchFuture>,
    shared: Arc<Shared>,
    id: u64,
    runtime: tokio::runtime::Handle,
    handles: Weak<HandleGuard>,
}

impl Lead {
    /// Drives the fetch to its end; `None` if it panicked.
    async fn run(mut self) -> Option<Result<Token, Error>> {
        std::future::poll_fn(|cx| {
            let Some(fetch) = self.fetch.as_mut() else {
                return Poll::Ready(None);
            };
            let polled = catch_unwind(AssertUnwindSafe(|| fetch.as_mut().poll(cx)));
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => {
                    self.fetch = None;
                    Poll::Ready(Some(result))
                }
                Err(_) => {
                    // Dropped as a task's would be: the flight is cleared, the waiters told.
                    self.fetch = None;
                    Poll::Ready(None)
                }
            }
        })
        .await
    }

    /// Runs the fetch in a task of its own (a background refresh), under the state lock.
    fn detach(mut self, state: &mut State) {
        if let Some(fetch) = self.fetch.take() {
            let task = self.runtime.spawn(fetch);
            // Registered under this same lock a moment ago: always the current flight.
            let attached = self.attach(state, &task);
            debug_assert!(attached);
        }
    }

    /// Lets the cache's last handle end `task`, if its flight is still the current one.
    /// Returns `false` if the flight is gone (ended, or taken by that last handle): then
    /// nothing waits for the task.
    fn attach(
        &self,
        state: &mut State,
        task: &tokio::task::JoinHandle<Result<Token, Error>>,
    ) -> bool {
        match state.flight.as_mut().filter(|f| f.id == self.id) {
            Some(flight) => {
                flight.abort = Some(task.abort_handle());
                true
            }
            None => false,
        }
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        let Some(fetch) = self.fetch.take() else {
            return;
        };
        if self.handles.strong_count() == 0 {
            return; // the cache is gone: nobody is left to want the token
        }
        // The caller gave up; the others still want the token.
        let task = self.runtime.spawn(fetch);
        let attached = self.attach(&mut self.shared.lock_state(), &task);
        if !attached {
            task.abort();
        }
    }
}

/// Clears the flight if the fetch task ends without finishing it (it panicked or was aborted),
/// so that the next caller starts a new fetch instead of waiting forever.
struct ClearFlight<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for ClearFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock_state();
        if state.flight.as_ref().is_some_and(|f| f.id == self.id) {
            state.flight = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_send_sync_and_needs_no_runtime_to_build() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<TokenCache>();
        let cache = TokenCache::new(crate::source::StaticToken::new(
            "v",
            crate::Secret::new("t"),
            None,
        ));
        assert!(cache.fresh().is_none());
        let clone = cache.clone();
        drop(cache);
        assert_eq!(clone.stats(), CacheStats::default());
    }
}
