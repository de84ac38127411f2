//! Single flight across processes: where the cache would fetch, it first adopts a newer token
//! from the shared store; otherwise it takes the store's lease, looks again, fetches, publishes
//! while still the owner (renewing the lease meanwhile) and releases. A process that finds the
//! lease taken waits for the publication, and takes over when the lease expires. When the store
//! fails or is slow, the cache fetches on its own (degraded mode) and says so once.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use super::Shared;
use super::stats::{bump, report};
use crate::error::{Error, ErrorKind};
use crate::store::codec::{self, Stored};
use crate::store::{Lease, StoreError, StoreKey, TokenStore};
use crate::token::Token;

/// The cache's link to its shared store.
pub(super) struct Fleet {
    store: Arc<dyn TokenStore>,
    pub(super) key: StoreKey,
    /// This cache's lease owner id, random per cache.
    owner: String,
    degraded: AtomicBool,
    /// The store's verifier of the source's secret, asked once (`None`: the source has none).
    verifier: tokio::sync::OnceCell<Option<String>>,
}

impl Fleet {
    pub(super) fn new(store: Arc<dyn TokenStore>, key: StoreKey) -> Self {
        Self {
            store,
            key,
            owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            degraded: AtomicBool::new(false),
            verifier: tokio::sync::OnceCell::new(),
        }
    }

    /// The verifier records of this cache carry (asked by `acquire` before any look).
    fn verifier(&self) -> Option<&str> {
        self.verifier.get().and_then(Option::as_deref)
    }

    pub(super) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Degraded, or the store reaches only part of the fleet.
    pub(super) fn is_partial(&self) -> bool {
        self.is_degraded() || self.store.partial()
    }
}

/// Where waiting on the store ended: an outcome to take, or the lease (nobody else fetches)
/// with what the store held once it was taken (the stored token, if newer than the caller's).
enum Turn {
    Outcome(Result<Token, Error>),
    Leased(Lease, Option<Token>),
}

/// What a look at the store found.
enum Found {
    /// A newer usable token, or a live rejection: the fetch's outcome.
    Outcome(Result<Token, Error>),
    /// Nothing to adopt; the stored token (any state), if it is newer than the caller's.
    Nothing(Option<Token>),
}

impl Shared {
    /// A new token for the flight: through the store when the cache has one, else from the
    /// source. `previous` is the newest token this cache held.
    pub(super) async fn acquire(&self, previous: Option<Token>) -> Result<Token, Error> {
        let Some(fleet) = &self.fleet else {
            return self.fetch_alone(previous.as_ref()).await;
        };
        let adopt_only = self.lock_state().adopt_only.take();
        if let Some(kept) = adopt_only {
            return match self.verify(fleet).await {
                Ok(()) => self.adopt_or_keep(fleet, kept).await,
                Err(err) => {
                    self.degrade(fleet, &err);
                    Ok(kept.0)
                }
            };
        }
        let attempt = || async {
            self.verify(fleet).await?;
            self.acquire_shared(fleet, previous.clone()).await
        };
        let mut outcome = attempt().await;
        if outcome.is_err() && self.source.session_exclusive() && !fleet.is_degraded() {
            // Fetching alone would close the fleet's session: a first failure may be a hiccup.
            self.clock.sleep(self.options.store_poll).await;
            outcome = attempt().await;
        }
        match outcome {
            Ok(outcome) => outcome,
            Err(err) => {
                self.degrade(fleet, &err);
                self.fetch_alone(previous.as_ref()).await
            }
        }
    }

    /// A token from the source, without the store.
    async fn fetch_alone(&self, previous: Option<&Token>) -> Result<Token, Error> {
        self.source
            .fetch(previous)
            .await
            .and_then(|t| self.usable(t))
    }

    /// After an invalidation too soon for this cache's forced refresh: a newer stored token, or
    /// the one another process is fetching now (its publication waited for); else, if it may,
    /// one fetched under the lease; else the rejected token back.
    async fn adopt_or_keep(&self, fleet: &Fleet, kept: super::Kept) -> Result<Token, Error> {
        let (rejected, fence, fetch_from) = kept;
        if let Some(fence) = fence {
            // It was rejected: no process adopts it from now on.
            let remove = fleet.store.remove_if(&fleet.key, fence);
            let _ = self.call(fleet, remove).await;
        }
        // Nobody fetching yet: another process may be about to (its 401 came a moment later).
        for poll in 0..=super::ADOPTED_WAIT {
            match self.look_or_lease(fleet, fence).await {
                Ok(Turn::Outcome(Ok(token))) => return Ok(token),
                Ok(Turn::Leased(lease, stored)) if fetch_from.is_some_and(|f| poll >= f) => {
                    let previous = stored.or(Some(rejected));
                    return self.fetch_under(fleet, &lease, previous).await;
                }
                Ok(Turn::Leased(lease, _)) => self.release(fleet, &lease).await,
                Ok(Turn::Outcome(Err(_))) => break,
                Err(err) => {
                    self.degrade(fleet, &err);
                    break;
                }
            }
            self.clock.sleep(self.options.store_poll).await;
        }
        tracing::warn!(vendor = self.vendor, "forced refresh refused: too soon");
        self.lock_state().stored_fence = fence;
        Ok(rejected)
    }

    /// Asks the store, once, for the verifier of the source's secret (not bounded by the store
    /// timeout: a slow KDF takes a while; the fetch deadline bounds it).
    async fn verify(&self, fleet: &Fleet) -> Result<(), StoreError> {
        let ask = async {
            match self.source.store_secret() {
                Some(secret) => fleet.store.verifier(&fleet.key, &secret).await.map(Some),
                None => Ok(None),
            }
        };
        fleet.verifier.get_or_try_init(|| ask).await.map(drop)
    }

    /// One store call, bounded by the store timeout; the transitions of degraded mode logged.
    async fn call<T>(
        &self,
        fleet: &Fleet,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.options.store_timeout;
        let result = super::flight::within(timeout, op)
            .await
            .unwrap_or_else(|()| {
                Err(StoreError::new(format!(
                    "the token store did not answer within {} ms",
                    timeout.as_millis()
                )))
            });
        if result.is_ok() && fleet.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(vendor = self.vendor, "token store reachable again");
        }
        result
    }

    fn degrade(&self, fleet: &Fleet, err: &StoreError) {
        bump(&self.stats.store_errors);
        report(crate::metrics::STORE_ERRORS, self.vendor);
        if !fleet.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                vendor = self.vendor,
                error = %err,
                "token store unavailable; fetching without it until it answers"
            );
        }
    }

    async fn acquire_shared(
        &self,
        fleet: &Fleet,
        previous: Option<Token>,
    ) -> Result<Result<Token, Error>, StoreError> {
        let (rejected, known) = {
            let mut state = self.lock_state();
            (state.rejected_fence.take(), state.stored_fence)
        };
        if let Some(fence) = rejected {
            // After a 401: drop the stored token only if it is still the one rejected.
            self.call(fleet, fleet.store.remove_if(&fleet.key, fence))
                .await?;
        }
        let known = known.max(rejected);
        Ok(match self.look_or_lease(fleet, known).await? {
            Turn::Outcome(outcome) => outcome,
            Turn::Leased(lease, stored) => {
                self.fetch_under(fleet, &lease, stored.or(previous)).await
            }
        })
    }

    /// Looks in the store until it holds an outcome newer than `known`, or the lease is free
    /// (then taken). While another process holds the lease it fetches: its publication is
    /// waited for, polling (the fetch deadline bounds the wait), or its lease to lapse.
    async fn look_or_lease(&self, fleet: &Fleet, known: Option<u64>) -> Result<Turn, StoreError> {
        loop {
            if let Found::Outcome(outcome) = self.look(fleet, known).await? {
                return Ok(Turn::Outcome(outcome));
            }
            let ttl = self.options.lease_ttl;
            let lease = fleet.store.try_lease(&fleet.key, &fleet.owner, ttl);
            let Some(lease) = self.call(fleet, lease).await? else {
                self.clock.sleep(self.options.store_poll).await;
                continue;
            };
            // Looked at once more under the lease: the holder before may have published and
            // released between the look above and the lease.
            return Ok(match self.look(fleet, known).await {
                Ok(Found::Outcome(outcome)) => {
                    self.release(fleet, &lease).await;
                    Turn::Outcome(outcome)
                }
                Ok(Found::Nothing(stored)) => Turn::Leased(lease, stored),
                Err(err) => {
                    self.degrade(fleet, &err);
                    Turn::Leased(lease, None)
                }
            });
        }
    }

    /// Reads the store: a newer token to adopt (not yet in its hard window), a live rejection,
    /// or nothing.
    async fn look(&self, fleet: &Fleet, known: Option<u64>) -> Result<Found, StoreError> {
        let Some(record) = self.call(fleet, fleet.store.load(&fleet.key)).await? else {
            return Ok(Found::Nothing(None));
        };
        if known.is_some_and(|k| record.fence <= k) {
            return Ok(Found::Nothing(None));
        }
        let now = self.clock.now();
        let (source, clock) = (&*self.source, &*self.clock);
        let ttl = self.options.rejection_ttl;
        match codec::decode(
            &fleet.key,
            fleet.verifier(),
            &record.value,
            source,
            clock,
            ttl,
        ) {
            Some(Stored::Token(token)) => {
                let fresh = self
                    .entry_for(token.clone())
                    .hard_at
                    .is_none_or(|h| now < h);
                if fresh && self.usable(token.clone()).is_ok() {
                    let mut state = self.lock_state();
                    (state.stored_fence, state.adopted) = (Some(record.fence), Some(token.clone()));
                    drop(state);
                    bump(&self.stats.store_adopted);
                    report(crate::metrics::STORE_ADOPTED, self.vendor);
                    tracing::debug!(vendor = self.vendor, "token adopted from the store");
                    return Ok(Found::Outcome(Ok(token)));
                }
                Ok(Found::Nothing(Some(token)))
            }
            Some(Stored::Rejected { error, until }) if now < until => {
                bump(&self.stats.rejections_served);
                report(crate::metrics::REJECTIONS_SERVED, self.vendor);
                Ok(Found::Outcome(Err(error)))
            }
            _ => Ok(Found::Nothing(None)),
        }
    }

    /// Under the lease: fetches (spending `previous`, the newest refresh token, stored or held),
    /// publishes while still the owner, releases. Store failures after the fetch only degrade:
    /// the fetched outcome is returned either way.
    async fn fetch_under(
        &self,
        fleet: &Fleet,
        lease: &Lease,
        previous: Option<Token>,
    ) -> Result<Token, Error> {
        let result = self
            .renewing(fleet, lease, self.source.fetch(previous.as_ref()))
            .await
            .and_then(|token| self.usable(token));
        let record = match &result {
            Ok(token) => Some(codec::encode_token(
                &fleet.key,
                fleet.verifier(),
                token,
                &*self.source,
                &*self.clock,
            )),
            Err(err) if matches!(err.kind(), ErrorKind::Rejected { .. }) => {
                let until = crate::clock::later(self.clock.now(), self.options.rejection_ttl);
                codec::encode_rejection(&fleet.key, fleet.verifier(), err, until, &*self.clock)
            }
            Err(_) => None,
        };
        if let Some(record) = record {
            match self.call(fleet, fleet.store.publish(lease, &record)).await {
                Ok(true) if result.is_ok() => {
                    self.lock_state().stored_fence = Some(lease.fence);
                    bump(&self.stats.store_published);
                    report(crate::metrics::STORE_PUBLISHED, self.vendor);
                }
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    vendor = self.vendor,
                    "the store lease was lost during the fetch; the token was not published"
                ),
                Err(err) => self.degrade(fleet, &err),
            }
        }
        self.release(fleet, lease).await;
        result
    }

    async fn release(&self, fleet: &Fleet, lease: &Lease) {
        if let Err(err) = self.call(fleet, fleet.store.release(lease)).await {
            self.degrade(fleet, &err);
        }
    }

    /// Drives `fetch`, renewing `lease` every third of its lifetime until the fetch ends.
    async fn renewing<T>(&self, fleet: &Fleet, lease: &Lease, fetch: impl Future<Output = T>) -> T {
        let ttl = self.options.lease_ttl;
        let renew = async {
            loop {
                self.clock.sleep(ttl / 3).await;
                match self.call(fleet, fleet.store.renew(lease, ttl)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(vendor = self.vendor, "the store lease was lost");
                        std::future::pending::<()>().await;
                    }
                    Err(err) => self.degrade(fleet, &err),
                }
            }
        };
        let mut fetch = pin!(fetch);
        let mut renew = pin!(renew);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = fetch.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            let _ = renew.as_mut().poll(cx);
            Poll::Pending
        })
        .await
    }
}
