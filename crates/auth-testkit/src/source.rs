//! [`ScriptedSource`]: a token source that counts calls and follows a script.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;
use auth_core::Clock;
use auth_core::store::StoreKey;
use auth_core::{Error, Secret, Token, TokenSource};

/// A [`TokenSource`] for cache tests: each fetch is counted, takes the next scripted outcome
/// (success when the script is empty), and mints `token-1`, `token-2`, ... with the configured
/// lifetime measured on the given clock. With [`gated`](Self::gated), every fetch waits until
/// the test calls [`release`](Self::release).
#[derive(Clone)]
pub struct ScriptedSource {
    inner: Arc<SourceInner>,
}

struct SourceInner {
    clock: Arc<dyn Clock>,
    lifetime: Mutex<Option<Duration>>,
    script: Mutex<VecDeque<Error>>,
    calls: AtomicUsize,
    refused: std::sync::atomic::AtomicU64,
    minted: AtomicUsize,
    previous_seen: Mutex<Vec<Option<String>>>,
    gate: Option<tokio::sync::Semaphore>,
    store_key: Mutex<Option<StoreKey>>,
    secret: Mutex<Option<Secret>>,
    session_exclusive: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for ScriptedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedSource")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl ScriptedSource {
    /// Tokens living `lifetime` (`None`: never expiring), timed on `clock`.
    pub fn new(clock: Arc<dyn Clock>, lifetime: Option<Duration>) -> Self {
        Self::build(clock, lifetime, None)
    }

    /// Like [`new`](Self::new), but each fetch waits for [`release`](Self::release).
    pub fn gated(clock: Arc<dyn Clock>, lifetime: Option<Duration>) -> Self {
        Self::build(clock, lifetime, Some(tokio::sync::Semaphore::new(0)))
    }

    fn build(
        clock: Arc<dyn Clock>,
        lifetime: Option<Duration>,
        gate: Option<tokio::sync::Semaphore>,
    ) -> Self {
        Self {
            inner: Arc::new(SourceInner {
                refused: std::sync::atomic::AtomicU64::new(0),
                clock,
                lifetime: Mutex::new(lifetime),
                script: Mutex::new(VecDeque::new()),
                calls: AtomicUsize::new(0),
                minted: AtomicUsize::new(0),
                previous_seen: Mutex::new(Vec::new()),
                gate,
                store_key: Mutex::new(None),
                secret: Mutex::new(None),
                session_exclusive: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The next fetches fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = Error>) {
        lock(&self.inner.script).extend(errors);
    }

    /// Changes the lifetime of tokens minted from now on.
    pub fn set_lifetime(&self, lifetime: Option<Duration>) {
        *lock(&self.inner.lifetime) = lifetime;
    }

    /// Shares this source's tokens under `key` in a cache's store (by default it has no key and
    /// is never shared). Clones share the setting, so two caches around clones of one source
    /// stand for two processes with one credential.
    pub fn share_as(&self, key: StoreKey) {
        *lock(&self.inner.store_key) = Some(key);
    }

    /// Counts one more refresh token refused by the vendor (as a source does before signing in
    /// with the password instead).
    pub fn refuse_refresh(&self) {
        self.inner.refused.fetch_add(1, Ordering::SeqCst);
    }

    /// Makes the source sign in with `secret` (what a store's verifier is made of).
    pub fn set_secret(&self, secret: Option<Secret>) {
        *lock(&self.inner.secret) = secret;
    }

    /// Makes the source say that a new token ends the previous session (as P21 does).
    pub fn set_session_exclusive(&self, exclusive: bool) {
        self.inner
            .session_exclusive
            .store(exclusive, Ordering::SeqCst);
    }

    /// Lets `n` gated fetches proceed.
    pub fn release(&self, n: usize) {
        if let Some(gate) = &self.inner.gate {
            gate.add_permits(n);
        }
    }

    /// How many fetches have started.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// How many handles to this source exist (the test's own included): tells whether a cache
    /// and its tasks have let go of it.
    #[must_use]
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    /// The access token of `previous` passed to each fetch, in order.
    #[must_use]
    pub fn previous_seen(&self) -> Vec<Option<String>> {
        lock(&self.inner.previous_seen).clone()
    }
}

#[auth_core::async_trait]
impl TokenSource for ScriptedSource {
    fn vendor(&self) -> &'static str {
        "test"
    }

    fn store_key(&self) -> Option<StoreKey> {
        lock(&self.inner.store_key).clone()
    }

    fn refused_refreshes(&self) -> u64 {
        self.inner.refused.load(Ordering::SeqCst)
    }

    fn store_secret(&self) -> Option<Secret> {
        lock(&self.inner.secret).clone()
    }

    fn session_exclusive(&self) -> bool {
        self.inner.session_exclusive.load(Ordering::SeqCst)
    }

    async fn fetch(&self, previous: Option<&Token>) -> Result<Token, Error> {
        self.inner.calls.fetch_add(1, Ordering::SeqCst);
        lock(&self.inner.previous_seen)
            .push(previous.map(|t| t.access_token().expose_secret().to_owned()));
        let sent_at = self.inner.clock.now();
        if let Some(gate) = &self.inner.gate {
            gate.acquire()
                .await
                .map_err(|_| Error::transport("test"))?
                .forget();
        }
        if let Some(err) = lock(&self.inner.script).pop_front() {
            return Err(err);
        }
        let n = self.inner.minted.fetch_add(1, Ordering::SeqCst) + 1;
        let lifetime = *lock(&self.inner.lifetime);
        Ok(Token::builder(Secret::new(format!("token-{n}")))
            .lifetime(sent_at, lifetime)
            .refresh_token(Some(Secret::new(format!("refresh-{n}"))))
            .build())
    }
}
