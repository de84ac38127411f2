//! [`TokenCache`]: the one value users hold. It caches a token, refreshes it ahead of expiry,
//! runs at most one fetch at a time, keeps serving a valid token through outages, remembers
//! rejections briefly, and re-authenticates once after a 401.
//!
//! See `docs/architecture.md` for the lifecycle diagram and the reasons behind each default.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwapOption;
use std::time::{Duration, Instant};

use reqwest::header::AUTHORIZATION;
use tokio::sync::watch;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock, later};
use crate::error::{ConfigProblem, Error, ErrorKind};
use crate::http::{check_url, transport_error};
use crate::token::{Token, TokenSource};

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
/// The fraction of the soft window used as jitter.
const SOFT_JITTER: f64 = 0.1;
/// The longest time a `Retry-After` is remembered.
const MAX_THROTTLE: Duration = Duration::from_secs(15 * 60);

/// A caching, single-flight, self-refreshing holder of one credential's token.
///
/// Cheap to clone (two [`Arc`]s); `Send + Sync`; share it between any number of tasks.
/// Constructing one needs no runtime. Fetches run in tokio tasks spawned when needed; none
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
/// ```no_run
/// use auth_core::{StaticToken, Secret, TokenCache};
///
/// # async fn run() -> Result<(), auth_core::Error> {
/// let cache = TokenCache::builder(StaticToken::new("example", Secret::new("t"), None)).build();
/// let token = cache.token().await?;
/// // Built after the cache, so the TLS provider is already installed.
/// let api = reqwest::Client::new();
/// let response = cache.send(api.get("https://api.example.com/v1/things")).await?;
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
    config: Config,
    /// The fast path reads this without contending with other readers (arc-swap keeps reader
    /// bookkeeping per thread); writers swap entries in and out under `state`.
    current: ArcSwapOption<Entry>,
    state: Mutex<State>,
    stats: Counters,
    on_token: Option<OnToken>,
}

type OnToken = Arc<dyn Fn(&Token) + Send + Sync>;

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
}

struct Flight {
    id: u64,
    rx: watch::Receiver<Option<Result<Token, Error>>>,
    abort: tokio::task::AbortHandle,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    soft_window: Duration,
    hard_window: Duration,
    half_life_threshold: Duration,
    rejection_ttl: Duration,
    min_forced_refresh_interval: Duration,
    refresh_retry_backoff: Duration,
    failure_backoff: Duration,
    max_failure_backoff: Duration,
    fetch_deadline: Duration,
    allow_plain_http: bool,
}

impl Default for Config {
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
            allow_plain_http: false,
        }
    }
}

struct HandleGuard {
    shared: Arc<Shared>,
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        // The last user handle is gone: end any fetch still running.
        if let Some(flight) = self.shared.lock_state().flight.take() {
            flight.abort.abort();
        }
    }
}

/// Counters of what a [`TokenCache`] did; read with [`TokenCache::stats`].
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
    /// Calls answered with a remembered rejection, without a request.
    pub rejections_served: u64,
    /// Tokens dropped by [`TokenCache::invalidate`].
    pub invalidations: u64,
}

/// A counter striped over cache lines, so that tasks on different cores counting cache hits do
/// not contend on one line.
struct StripedCounter([Padded; STRIPES]);

const STRIPES: usize = 8;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

impl StripedCounter {
    fn new() -> Self {
        Self(Default::default())
    }

    fn incr(&self) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        let stripe = STRIPE.with(|s| *s);
        self.0[stripe].0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

struct Counters {
    hits: StripedCounter,
    fetches: AtomicU64,
    tokens_fetched: AtomicU64,
    waits: AtomicU64,
    refresh_failures: AtomicU64,
    grace_served: AtomicU64,
    rejections_served: AtomicU64,
    invalidations: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A user's tuning of a vendor client's cache (see [`TokenCache::for_http`]).
pub type CacheConfig = Box<dyn FnOnce(TokenCacheBuilder) -> TokenCacheBuilder + Send>;

/// Builds a [`TokenCache`]; see [`TokenCache::builder`].
#[must_use]
pub struct TokenCacheBuilder {
    source: Arc<dyn TokenSource>,
    clock: Arc<dyn Clock>,
    config: Config,
    on_token: Option<OnToken>,
}

impl fmt::Debug for TokenCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCacheBuilder")
            .field("source", &self.source)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TokenCacheBuilder {
    /// How long before expiry one background refresh starts while callers keep the cached token
    /// (default 5 minutes; never more than half the token's lifetime).
    pub fn soft_window(mut self, window: Duration) -> Self {
        self.config.soft_window = window;
        self
    }

    /// How long before expiry callers stop getting the cached token and wait for a fresh one
    /// (default 60 s; never more than a quarter of the lifetime, nor more than the soft window).
    pub fn hard_window(mut self, window: Duration) -> Self {
        self.config.hard_window = window;
        self
    }

    /// Tokens living at least this long start refreshing at half their lifetime (default 2 h).
    pub fn half_life_threshold(mut self, threshold: Duration) -> Self {
        self.config.half_life_threshold = threshold;
        self
    }

    /// How long a rejection of the credentials is remembered and returned without asking the
    /// vendor again (default 30 s). Protects accounts that lock after repeated failures.
    pub fn rejection_ttl(mut self, ttl: Duration) -> Self {
        self.config.rejection_ttl = ttl;
        self
    }

    /// The least time between two forced refreshes by [`TokenCache::invalidate`] (default 5 s).
    pub fn min_forced_refresh_interval(mut self, interval: Duration) -> Self {
        self.config.min_forced_refresh_interval = interval;
        self
    }

    /// The first wait before a failed refresh is retried while the cached token is still valid;
    /// it doubles on each failure (default 30 s).
    pub fn refresh_retry_backoff(mut self, backoff: Duration) -> Self {
        self.config.refresh_retry_backoff = backoff;
        self
    }

    /// After a failed fetch, how long the failure is returned to callers at once before another
    /// fetch may start (default 1 s); it doubles with each failure in a row, with jitter, up to
    /// [`max_failure_backoff`](Self::max_failure_backoff), and a success resets it. A rejection
    /// waits at least the [`rejection_ttl`](Self::rejection_ttl), throttling at least its
    /// `Retry-After`.
    pub fn failure_backoff(mut self, backoff: Duration) -> Self {
        self.config.failure_backoff = backoff;
        self
    }

    /// The longest wait after failed fetches (default 60 s).
    pub fn max_failure_backoff(mut self, backoff: Duration) -> Self {
        self.config.max_failure_backoff = backoff;
        self
    }

    /// The longest one fetch may take, every request and wait of it included (default 30 s);
    /// past it the fetch ends with a [`Timeout`](ErrorKind::Timeout) for every waiting caller.
    pub fn fetch_deadline(mut self, deadline: Duration) -> Self {
        self.config.fetch_deadline = deadline;
        self
    }

    /// The clock (default: the real one). Tests pass a manual clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Called with every new token, outside any lock (e.g. to persist a rotated refresh token).
    pub fn on_token(mut self, hook: impl Fn(&Token) + Send + Sync + 'static) -> Self {
        self.on_token = Some(Arc::new(hook));
        self
    }

    /// **Dangerous**: lets [`TokenCache::send`] put the bearer token on plain `http://` requests
    /// to hosts that are not loopback.
    pub fn danger_allow_plain_http_to_any_host(mut self, allow: bool) -> Self {
        self.config.allow_plain_http = allow;
        self
    }

    /// Builds the cache. No runtime is needed yet; nothing is fetched until the first call.
    pub fn build(self) -> TokenCache {
        crate::http::install_crypto_provider();
        let vendor = self.source.vendor();
        let shared = Arc::new(Shared {
            source: self.source,
            vendor,
            clock: self.clock,
            config: self.config,
            current: ArcSwapOption::empty(),
            state: Mutex::new(State::default()),
            stats: Counters {
                hits: StripedCounter::new(),
                fetches: AtomicU64::new(0),
                tokens_fetched: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                refresh_failures: AtomicU64::new(0),
                grace_served: AtomicU64::new(0),
                rejections_served: AtomicU64::new(0),
                invalidations: AtomicU64::new(0),
            },
            on_token: self.on_token,
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
            .field("config", &self.shared.config)
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

    /// A cache for `source` whose requests go through `http`: it takes `http`'s clock and its
    /// plain-http setting, then lets `configure` (if given) tune the rest. What every vendor
    /// client does.
    pub fn for_http(
        source: impl TokenSource,
        http: &crate::HttpClient,
        configure: Option<CacheConfig>,
    ) -> TokenCache {
        let builder = Self::builder(source)
            .clock(http.clock().clone())
            .danger_allow_plain_http_to_any_host(http.allows_plain_http());
        match configure {
            Some(configure) => configure(builder),
            None => builder,
        }
        .build()
    }

    /// Like [`builder`](Self::builder), for a source that is already shared.
    pub fn builder_arc(source: Arc<dyn TokenSource>) -> TokenCacheBuilder {
        TokenCacheBuilder {
            source,
            clock: Arc::new(SystemClock),
            config: Config::default(),
            on_token: None,
        }
    }

    /// The vendor of the source.
    #[must_use]
    pub fn vendor(&self) -> &'static str {
        self.shared.vendor
    }

    /// A valid token: the cached one when it is fresh (no waiting), otherwise the result of the
    /// one shared fetch. Dropping the returned future never cancels that fetch for others.
    pub async fn token(&self) -> Result<Token, Error> {
        match self.fresh() {
            Some(token) => Ok(token),
            None => self.shared.clone().slow_path().await,
        }
    }

    /// The cached token if it is fresh (before the soft window), without waiting and without
    /// starting anything: the synchronous half of [`token`](Self::token).
    #[must_use]
    pub fn fresh(&self) -> Option<Token> {
        let now = self.shared.clock.now();
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
    /// [`min_forced_refresh_interval`](TokenCacheBuilder::min_forced_refresh_interval) are
    /// refused. Returns whether the token was dropped.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.shared.invalidate(rejected)
    }

    /// Sends `request` with `Authorization: Bearer <token>`. On a 401 it invalidates the token
    /// and retries exactly once with a new one (if the request can be cloned and a new token is
    /// had). If no token can be had, the request is not sent (fail closed). A plain-http request
    /// to a host that is not loopback is refused before the token is attached.
    ///
    /// For a source that cannot renew (a static token), a 401 is returned as
    /// [`ErrorKind::TokenRevoked`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let vendor = self.shared.vendor;
        let (client, request) = request.build_split();
        let request = request.map_err(|e| {
            Error::config(
                vendor,
                "request",
                ConfigProblem::Invalid("could not build the request".into()),
            )
            .with_source(e.without_url())
        })?;
        check_url(
            vendor,
            "request URL",
            request.url(),
            self.shared.config.allow_plain_http,
        )?;
        let retry = request.try_clone();
        let token = self.token().await?;
        let sent_at = self.shared.clock.now();
        let response = execute(&client, request, &token, vendor).await?;
        let status = response.status().as_u16();
        if status != 401 && status != 403 {
            return Ok(response);
        }
        let response = if self.shared.source.reads_refusals() {
            let headers = response.headers().clone();
            let body = crate::http::read_prefix(vendor, response, REFUSAL_BYTES).await?;
            let seen = crate::HttpResponse::new(status, headers.clone(), body.clone(), sent_at)
                .with_secrets(vec![token.access_token().clone()]);
            if let Some(err) = self.shared.source.refusal(&seen) {
                return Err(err);
            }
            rebuilt(status, headers, body)
        } else {
            response
        };
        if status == 403 {
            return Ok(response);
        }
        if !self.shared.source.can_renew() {
            let body = crate::http::read_capped(vendor, response, 16 * 1024)
                .await
                .unwrap_or_default();
            let secrets = [token.access_token().clone()];
            let description = crate::http::ErrorBody::parse(None, &body, &secrets).description;
            return Err(self.revoked(description));
        }
        let Some(retry) = retry else {
            self.invalidate(&token);
            return Ok(response);
        };
        match self.token_after_401(&token).await? {
            Some(fresh) => execute(&client, retry, &fresh, vendor).await,
            None => Ok(response),
        }
    }

    /// Sends the request `build` makes for a token through `http`, with the same 401 handling
    /// as [`send`](Self::send): on a 401 the token is invalidated and the request rebuilt and sent
    /// once more with a new token. For vendor calls described as [`HttpRequest`] values.
    ///
    /// [`HttpRequest`]: crate::HttpRequest
    pub async fn execute(
        &self,
        http: &crate::HttpClient,
        build: impl Fn(&Token) -> crate::HttpRequest,
    ) -> Result<crate::HttpResponse, Error> {
        let vendor = self.shared.vendor;
        let token = self.token().await?;
        let response = http.send(vendor, &build(&token)).await?;
        let source = &self.shared.source;
        if matches!(response.status(), 401 | 403) && source.reads_refusals() {
            if let Some(err) = source.refusal(&response) {
                return Err(err);
            }
        }
        if response.status() != 401 {
            return Ok(response);
        }
        if !self.shared.source.can_renew() {
            return Err(self.revoked(response.error_body().description));
        }
        match self.token_after_401(&token).await? {
            Some(fresh) => http.send(vendor, &build(&fresh)).await,
            None => Ok(response),
        }
    }

    /// After a 401 with `rejected`: invalidates it and returns the token to retry with, or
    /// `None` when the forced refresh was refused and retrying would only repeat the 401.
    async fn token_after_401(&self, rejected: &Token) -> Result<Option<Token>, Error> {
        tracing::debug!(
            vendor = self.shared.vendor,
            "401 from the API: invalidating the token"
        );
        self.invalidate(rejected);
        let fresh = self.token().await?;
        Ok((!fresh.same_as(rejected)).then_some(fresh))
    }

    fn revoked(&self, description: Option<String>) -> Error {
        Error::new(self.shared.vendor, ErrorKind::TokenRevoked { description })
    }

    /// What the cache has done so far.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let s = &self.shared.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            fetches: load(&s.fetches),
            tokens_fetched: load(&s.tokens_fetched),
            cache_hits: s.hits.get(),
            waits: load(&s.waits),
            refresh_failures: load(&s.refresh_failures),
            grace_served: load(&s.grace_served),
            rejections_served: load(&s.rejections_served),
            invalidations: load(&s.invalidations),
        }
    }

    /// The most recent fetch failure, if the latest fetch failed (cleared by a success).
    #[must_use]
    pub fn last_error(&self) -> Option<Error> {
        self.shared.lock_state().last_error.clone()
    }
}

/// How much of a refused API call's body is read when the source wants to see refusals.
const REFUSAL_BYTES: usize = 16 * 1024;

/// A response rebuilt from a status, headers and a body that was read already.
fn rebuilt(
    status: u16,
    mut headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> reqwest::Response {
    headers.remove(reqwest::header::CONTENT_LENGTH);
    headers.remove(reqwest::header::TRANSFER_ENCODING);
    let mut response = http::Response::new(body);
    *response.status_mut() =
        reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::UNAUTHORIZED);
    *response.headers_mut() = headers;
    reqwest::Response::from(response)
}

async fn execute(
    client: &reqwest::Client,
    mut request: reqwest::Request,
    token: &Token,
    vendor: &'static str,
) -> Result<reqwest::Response, Error> {
    request
        .headers_mut()
        .insert(AUTHORIZATION, token.authorization_value()?);
    client
        .execute(request)
        .await
        .map_err(|e| transport_error(vendor, e))
}

enum Next {
    Serve(Token),
    Wait(watch::Receiver<Option<Result<Token, Error>>>),
    Fail(Error),
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> Option<Arc<Entry>> {
        self.current.load_full()
    }

    async fn slow_path(self: Arc<Self>) -> Result<Token, Error> {
        // A token that expired while its caller waited is not handed out: decide once more (a
        // caller then joins or starts the next fetch, within the same limits as anyone).
        for _ in 0..2 {
            match self.clone().once().await {
                Ok(token) if token.is_expired_at(self.clock.now()) => continue,
                other => return other,
            }
        }
        Err(
            Error::new(self.vendor, ErrorKind::Timeout).with_source(std::io::Error::other(
                "the fetched token expired before it could be handed out",
            )),
        )
    }

    async fn once(self: Arc<Self>) -> Result<Token, Error> {
        let now = self.clock.now();
        let next = {
            let mut state = self.lock_state();
            self.decide(&mut state, now)
        };
        let mut rx = match next {
            Next::Serve(token) => return Ok(token),
            Next::Fail(err) => return Err(err),
            Next::Wait(rx) => rx,
        };
        bump(&self.stats.waits);
        let outcome = match rx.wait_for(Option::is_some).await {
            Ok(value) => value.clone().unwrap_or_else(|| Err(self.lost_fetch())),
            Err(_) => Err(self.lost_fetch()),
        };
        match outcome {
            Ok(token) => Ok(token),
            Err(err) => {
                // Grace: a failed refresh does not take away a token that is still valid.
                match self.current() {
                    Some(entry) if entry.is_valid_at(self.clock.now()) => {
                        bump(&self.stats.grace_served);
                        Ok(entry.token.clone())
                    }
                    _ => Err(err),
                }
            }
        }
    }

    fn lost_fetch(&self) -> Error {
        Error::new(self.vendor, ErrorKind::Transport).with_source(std::io::Error::other(
            "the token fetch ended without a result",
        ))
    }

    /// Under the state lock: serve the cached token, start a fetch, join one, or fail.
    fn decide(self: &Arc<Self>, state: &mut State, now: Instant) -> Next {
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
                if state.flight.is_none() && !backing_off && negative.is_none() {
                    tracing::debug!(vendor = self.vendor, "soft window: background refresh");
                    let _ = self.start_flight(state);
                }
                self.stats.hits.incr();
                return Next::Serve(entry.token.clone());
            }
            if entry.is_valid_at(now) && (backing_off || negative.is_some()) {
                // Hard window after a failure: serve the valid token until the next attempt.
                bump(&self.stats.grace_served);
                return Next::Serve(entry.token.clone());
            }
        }
        if let Some(flight) = &state.flight {
            return Next::Wait(flight.rx.clone());
        }
        if let Some(err) = negative {
            bump(&self.stats.rejections_served);
            return Next::Fail(err);
        }
        match self.start_flight(state) {
            Ok(rx) => Next::Wait(rx),
            Err(err) => Next::Fail(err),
        }
    }

    fn start_flight(
        self: &Arc<Self>,
        state: &mut State,
    ) -> Result<watch::Receiver<Option<Result<Token, Error>>>, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config(
                self.vendor,
                "runtime",
                ConfigProblem::Invalid("a tokio runtime is needed to fetch tokens".into()),
            )
        })?;
        let (tx, rx) = watch::channel(None);
        let id = state.next_flight_id;
        state.next_flight_id += 1;
        let previous = state.last_token.clone();
        bump(&self.stats.fetches);
        let shared = Arc::clone(self);
        let task = runtime.spawn(async move {
            let _clear = ClearFlight {
                shared: &shared,
                id,
            };
            let fetch = shared
                .source
                .fetch(previous.as_ref())
                .instrument(tracing::debug_span!("token_fetch", vendor = shared.vendor));
            let deadline = shared.config.fetch_deadline;
            let result = match tokio::time::timeout(deadline, fetch).await {
                Ok(result) => result.and_then(|token| shared.usable(token)),
                Err(_) => Err(Error::new(shared.vendor, ErrorKind::Timeout).with_source(
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the token fetch took longer than its {} ms deadline",
                            deadline.as_millis()
                        ),
                    ),
                )),
            };
            // The outcome is stored and the flight retired under one lock, before the result
            // is published: a caller arriving after this joins nothing stale.
            shared.finish_flight(id, &result);
            let _ = tx.send(Some(result));
        });
        state.flight = Some(Flight {
            id,
            rx: rx.clone(),
            abort: task.abort_handle(),
        });
        Ok(rx)
    }

    /// Stores the outcome of fetch `id` and retires it; runs in the fetch task before waiters
    /// are woken.
    fn finish_flight(&self, id: u64, result: &Result<Token, Error>) {
        let now = self.clock.now();
        let retire = |state: &mut State| {
            if state.flight.as_ref().is_some_and(|f| f.id == id) {
                state.flight = None;
            }
        };
        match result {
            Ok(token) => {
                let entry = self.entry_for(token.clone());
                {
                    let mut state = self.lock_state();
                    retire(&mut state);
                    self.current.store(Some(Arc::new(entry)));
                    state.last_token = Some(token.clone());
                    state.failures_in_a_row = 0;
                    state.next_attempt_at = None;
                    state.negative = None;
                    state.last_error = None;
                }
                bump(&self.stats.tokens_fetched);
                tracing::info!(
                    vendor = self.vendor,
                    lifetime_s = token.lifetime().map(|l| l.as_secs()),
                    "token fetched"
                );
                if let Some(hook) = &self.on_token {
                    hook(token);
                }
            }
            Err(err) => {
                bump(&self.stats.refresh_failures);
                let mut state = self.lock_state();
                retire(&mut state);
                state.failures_in_a_row = state.failures_in_a_row.saturating_add(1);
                state.last_error = Some(err.clone());
                // Every failure is remembered: until the wait ends, callers without a valid
                // token get it at once and no fetch starts.
                let wait = failure_wait(
                    &self.config,
                    err.kind(),
                    state.failures_in_a_row,
                    crate::http::random_fraction(),
                );
                state.negative = Some((err.clone(), later(now, wait)));
                let current = self.current();
                match current.filter(|e| e.is_valid_at(now)) {
                    Some(entry) => {
                        let exp = self
                            .config
                            .refresh_retry_backoff
                            .saturating_mul(1u32 << (state.failures_in_a_row - 1).min(16));
                        let mut at = later(now, exp);
                        // Never later than the hard window (or, inside it, the expiry).
                        let limit = match entry.hard_at {
                            Some(hard) if now < hard => Some(hard),
                            _ => entry.token.expires_at(),
                        };
                        if let Some(limit) = limit {
                            at = at.min(limit);
                        }
                        state.next_attempt_at = Some(at);
                        tracing::warn!(
                            vendor = self.vendor,
                            error = %err,
                            retry_in_s = at.saturating_duration_since(now).as_secs(),
                            "token refresh failed; serving the cached token until it expires"
                        );
                    }
                    None => tracing::warn!(
                        vendor = self.vendor,
                        error = %err,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "token fetch failed"
                    ),
                }
            }
        }
    }

    /// `token` if it can be cached and handed out: sendable in a header, and with at least
    /// [`MIN_TOKEN_LIFETIME`] left. Otherwise a malformed response of the source's vendor.
    fn usable(&self, token: Token) -> Result<Token, Error> {
        if token.authorization_value().is_err() {
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
        let (soft, hard) = windows(&self.config, lifetime, crate::http::random_fraction());
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
            now.saturating_duration_since(last) < self.config.min_forced_refresh_interval
        });
        if too_soon {
            tracing::warn!(
                vendor = self.vendor,
                "forced refresh refused: the previous one was too recent"
            );
            return false;
        }
        self.current.store(None);
        state.last_forced_refresh = Some(now);
        state.next_attempt_at = None;
        bump(&self.stats.invalidations);
        tracing::info!(vendor = self.vendor, "token invalidated");
        true
    }
}

/// How long a failure is remembered (no fetch, the error returned at once): the failure
/// backoff doubling with each failure in a row (`failures` ≥ 1), up to its maximum, shortened by
/// up to a fifth with `jitter` in `[0, 1)` so that a fleet spreads out; at least the rejection
/// memory for a rejection, and at least the server's `Retry-After` (at most 15 minutes) for
/// throttling.
fn failure_wait(config: &Config, kind: &ErrorKind, failures: u32, jitter: f64) -> Duration {
    let doubled = config
        .failure_backoff
        .saturating_mul(1u32 << failures.saturating_sub(1).min(31))
        .min(config.max_failure_backoff)
        .min(crate::MAX_LIFETIME);
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

/// How far before expiry the soft and hard windows open, for a token living `lifetime`.
/// `jitter` in `[0, 1)` moves the soft window up to 10 % later, so that a fleet spreads out.
fn windows(config: &Config, lifetime: Duration, jitter: f64) -> (Duration, Duration) {
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

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn default_windows() {
        let c = Config::default();
        // One hour: 5 minutes soft (jitter moves it at most 10 % later), 60 s hard.
        assert_eq!(windows(&c, 60 * MIN, 0.0), (5 * MIN, MIN));
        assert_eq!(windows(&c, 60 * MIN, 0.999).0.as_secs(), 270);
        // Ten minutes: soft capped at half, hard 60 s.
        assert_eq!(windows(&c, 10 * MIN, 0.0), (5 * MIN, MIN));
        // Two minutes: soft 60 s (half), hard 30 s (a quarter).
        assert_eq!(windows(&c, 2 * MIN, 0.0), (MIN, Duration::from_secs(30)));
        // Two hours or more: half the lifetime.
        assert_eq!(windows(&c, 24 * 60 * MIN, 0.0).0, 12 * 60 * MIN);
        assert_eq!(windows(&c, 120 * MIN, 0.0).0, 60 * MIN);
        // Tiny lifetimes do not panic.
        assert_eq!(
            windows(&c, Duration::ZERO, 0.5),
            (Duration::ZERO, Duration::ZERO)
        );
        assert_eq!(windows(&c, Duration::from_nanos(3), 0.5).1, Duration::ZERO);
    }

    #[test]
    fn hard_window_never_exceeds_soft() {
        let c = Config {
            soft_window: Duration::from_secs(10),
            hard_window: Duration::from_secs(120),
            ..Config::default()
        };
        let (soft, hard) = windows(&c, 60 * MIN, 0.0);
        assert_eq!(soft, Duration::from_secs(10));
        assert_eq!(hard, Duration::from_secs(10));
    }

    #[test]
    fn cache_is_send_sync_and_needs_no_runtime_to_build() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<TokenCache>();
        let cache = TokenCache::new(crate::StaticToken::new("v", crate::Secret::new("t"), None));
        assert!(cache.fresh().is_none());
        let clone = cache.clone();
        drop(cache);
        assert_eq!(clone.stats(), CacheStats::default());
    }
}
