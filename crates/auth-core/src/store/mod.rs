//! [`TokenStore`]: where the processes of a fleet share one credential's token, and the lease
//! that lets only one of them fetch at a time. [`MemoryStore`] shares within one process (and
//! serves tests); `auth-store`'s `FileStore` shares between the processes of one host;
//! `auth-store-redis` between hosts.
//!
//! A store keeps opaque records: the cache encodes a token (see `codec`) and a store only keeps
//! bytes, a lease and a fence. Every record is written under a lease and carries the fence of
//! that lease, so a record's fence says which publication it is: a compare-and-delete after a 401
//! removes exactly the publication that was rejected, and a publication by an owner whose lease
//! has passed to another is refused.

pub(crate) mod codec;
mod memory;

use std::fmt;
use std::time::Duration;

pub use crate::key::StoreKey;
use crate::secret::Secret;
pub use memory::MemoryStore;

/// A stored record: the bytes the cache wrote and the fence of the lease it was written under.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The fence of the lease the record was published under.
    pub fence: u64,
    /// The encoded record (it holds secrets: never log it).
    pub value: Vec<u8>,
}

impl Record {
    /// A record of `value` published under `fence`.
    #[must_use]
    pub fn new(fence: u64, value: Vec<u8>) -> Self {
        Self { fence, value }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("fence", &self.fence)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

/// A held lease on a key: only its owner may publish, until it expires or is released.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The key the lease is on.
    pub key: StoreKey,
    /// Who holds it (random per cache).
    pub owner: String,
    /// Grows with every lease taken on the key; publications carry it.
    pub fence: u64,
}

impl Lease {
    /// The lease `owner` holds on `key` with `fence`.
    #[must_use]
    pub fn new(key: StoreKey, owner: impl Into<String>, fence: u64) -> Self {
        Self {
            key,
            owner: owner.into(),
            fence,
        }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("owner", &self.owner)
            .field("fence", &self.fence)
            .finish()
    }
}

/// A store that could not answer (down, slow, refused). The cache then falls back to fetching
/// on its own (degraded mode) and tries the store again on the next fetch.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error saying `message` (which must not quote a secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error (which must not quote a secret either).
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Where the caches of a fleet share tokens, with a lease so that one of them fetches at a time.
///
/// The cache calls a store only where it would fetch: never on the path that hands out a cached
/// token. Each call is bounded by the cache's `store_timeout`; an error or a timeout puts the
/// cache in degraded mode (it fetches on its own) until the store answers again.
///
/// Implementations must make [`try_lease`](Self::try_lease), [`publish`](Self::publish) and
/// [`remove_if`](Self::remove_if) atomic with respect to each other across every process that
/// shares the store.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The record under `key`, if any.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError>;

    /// Takes the lease on `key` for `ttl` if nobody holds it (or its holder's lease expired),
    /// with a fence greater than any before on that key. `None`: another owner holds it.
    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Extends `lease` to `ttl` from now. `false`: it was lost (expired and taken, or released).
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError>;

    /// Writes `value` under the lease's key with the lease's fence, only while `lease` is still
    /// held. `false`: it was lost, and nothing was written.
    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError>;

    /// Gives `lease` up (nothing happens if it was lost).
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Deletes the record under `key` if it is still the publication with `fence`
    /// (compare-and-delete). Returns whether it was deleted.
    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError>;

    /// The verifier of `secret` for records under `key`: equal for equal secrets in every
    /// process of the store, and no cheaper to guess a secret from than asking the vendor (keyed
    /// with a secret the store's readers do not hold, or a slow KDF). A record is adopted, and
    /// a stored rejection obeyed, only by a cache whose secret has the record's verifier. The
    /// cache asks once, bounded by its fetch deadline.
    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError>;

    /// Whether the store reaches only part of the fleet right now (a host-local fallback serving
    /// while the shared store is out of reach). A session-exclusive source is then not refreshed
    /// early: each early sign-in would close the sessions of the hosts it cannot reach.
    fn partial(&self) -> bool {
        false
    }
}
