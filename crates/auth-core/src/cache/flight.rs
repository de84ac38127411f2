//! One fetch in flight: how it starts (driven by the caller that started it, or detached for a
//! background refresh), how its outcome is stored and published to the callers waiting, and
//! what a token must be to be cached.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;

use tokio::sync::watch;
use tracing::Instrument;

use super::policy::{MIN_TOKEN_LIFETIME, failure_wait, grace_retry_at, token_jitter, windows};
use super::stats::{FetchTimer, bump, report};
use super::{Entry, HandleGuard, Shared, State};
use crate::clock::later;
use crate::error::{ConfigProblem, Error};
use crate::token::Token;

pub(super) type Outcome = watch::Receiver<Option<Result<Token, Error>>>;
pub(super) type Waiters = watch::Sender<Option<Result<Token, Error>>>;

/// A fetch in progress: the channel its waiters listen on (made when the first one comes), and,
/// once the fetch runs in a task of its own, the handle that ends it.
pub(super) struct Flight {
    pub(super) id: u64,
    pub(super) waiters: Option<Waiters>,
    /// `None` while the caller that started the fetch drives it (see [`Lead`]).
    pub(super) abort: Option<tokio::task::AbortHandle>,
}

/// One fetch, as a future that stores its outcome in the cache, publishes it to the callers
/// waiting, and returns it.
type FetchFuture = Pin<Box<dyn Future<Output = Result<Token, Error>> + Send>>;

impl Shared {
    /// Registers a new flight and returns the fetch that completes it, to be driven by the
    /// caller that started it or detached for a background refresh.
    pub(super) fn start_flight(
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
        self.count_refused_refreshes();
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

    pub(super) fn invalidate(&self, rejected: &Token) -> bool {
        let now = self.clock.now();
        let mut state = self.lock_state();
        let is_current = |e: &Entry| e.token.same_as(rejected);
        if !self.current.load().as_deref().is_some_and(is_current) {
            return false;
        }
        let interval = self.options.min_forced_refresh_interval;
        // A session-exclusive vendor rejecting young tokens in a row answers another client's
        // sign-ins (another host, the store out of reach). From the second, only a newer stored
        // token is taken until the token is old enough (doubling, with jitter, per young one).
        let issued = rejected.obtained_at();
        let twice = interval.saturating_mul(2);
        let base = twice.min(rejected.lifetime().map_or(twice, |l| l / 4));
        let since = |at: std::time::Instant| now.saturating_duration_since(at);
        let young = self.source.session_exclusive() && since(issued) < base.max(state.damped_age);
        // A run ends with an old token rejected after a quiet spell (twice the damped age).
        let quiet =
            (state.young_counted).is_none_or(|at| since(at) >= state.damped_age.saturating_mul(2));
        if !young && quiet {
            (state.young_rejections, state.damped_age) = (0, base);
        } else if young && state.young_counted.replace(issued) != Some(issued) {
            state.young_rejections = (state.young_rejections + 1).min(6);
            let doubled = base.saturating_mul(1 << (state.young_rejections - 1));
            state.damped_age = doubled.saturating_add(doubled.mul_f64(0.2 * fastrand::f64()));
        }
        let damped = young && state.young_rejections > 1;
        let limited = (state.last_forced_refresh).is_some_and(|last| since(last) < interval);
        // A young token adopted from the store is replaced by the process that fetched it (its
        // 401 comes a moment later); this one waits for that first, then may fetch itself.
        let adopted = young && state.adopted.as_ref().is_some_and(|t| t.same_as(rejected));
        if damped || limited || adopted {
            if self.fleet.is_some() {
                // Another process may have fetched since: looking costs the vendor nothing (and,
                // degraded, shows whether the store answers again; a failing look keeps this one).
                if let Some(entry) = self.current.swap(None) {
                    // The token's own age says whether the fleet replaced it lately.
                    let old = since(issued) >= interval && !damped;
                    let wait = (adopted && !damped && !limited).then_some(super::ADOPTED_WAIT);
                    if wait.is_some() {
                        state.last_forced_refresh = Some(now);
                    }
                    let fence = state.stored_fence.take();
                    let fetch_from = if old { Some(0) } else { wait };
                    state.adopt_only = Some((entry.token.clone(), fence, fetch_from));
                }
                bump(&self.stats.invalidations);
                report(crate::metrics::INVALIDATIONS, self.vendor);
                return true;
            }
            tracing::warn!(vendor = self.vendor, "forced refresh refused: too soon");
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

    /// Counts the refresh tokens the source refused since the last fetch (one warning per run).
    fn count_refused_refreshes(&self) {
        let mut state = self.lock_state();
        let refused = self.source.refused_refreshes();
        let new = refused > std::mem::replace(&mut state.refused_refreshes, refused);
        if new {
            bump(&self.stats.refresh_fallbacks);
            report(crate::metrics::REFRESH_FALLBACKS, self.vendor);
        }
        if new && !std::mem::replace(&mut state.refusing, true) {
            tracing::warn!(vendor = self.vendor, "refresh token refused");
        }
        state.refusing &= new;
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
    pub(super) fn usable(&self, token: Token) -> Result<Token, Error> {
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
    pub(super) fn entry_for(&self, token: Token) -> Entry {
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
        let (soft, hard) = windows(&self.options, lifetime, token_jitter(&token));
        Entry {
            soft_at: Some(expires.checked_sub(soft).unwrap_or(expires)),
            hard_at: Some(expires.checked_sub(hard).unwrap_or(expires)),
            token,
        }
    }
}

/// `fut` bounded by `limit`; `Err(())` when the limit passed first. The timer is armed only if
/// `fut` is not ready at its first poll, so that a future that answers at once (a static token,
/// a store in memory) needs no time driver in the runtime.
pub(super) async fn within<F: Future>(limit: std::time::Duration, fut: F) -> Result<F::Output, ()> {
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
pub(super) struct Lead {
    fetch: Option<FetchFuture>,
    shared: Arc<Shared>,
    id: u64,
    runtime: tokio::runtime::Handle,
    handles: Weak<HandleGuard>,
}

impl Lead {
    /// Drives the fetch to its end; `None` if it panicked.
    pub(super) async fn run(mut self) -> Option<Result<Token, Error>> {
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
    pub(super) fn detach(mut self, state: &mut State) {
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
