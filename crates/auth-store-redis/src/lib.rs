#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod connection;
mod scripts;
#[cfg(feature = "test-server")]
mod server;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::time::Duration;

use auth_core::Secret;
use auth_core::store::{Lease, Record, StoreError, StoreKey, TokenStore};
use auth_store::{Sealing, SharedStore, Verifier};
use connection::{Link, Target, store_error};

pub use auth_store::{KeyError, SealingKey};
#[cfg(feature = "test-server")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-server")))]
pub use server::{ClusterSet, RedisServer, SentinelSet};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "vendor-auth";
/// The default bound on one Redis call (connecting included).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a record lives in Redis unless published again (default: one day). A record past
/// its token's expiry is ignored anyway; this only bounds what an abandoned credential leaves.
pub const DEFAULT_RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// A [`TokenStore`] in Redis, for the caches of a fleet on many hosts: one token, one lease and
/// one refresh chain per credential.
///
/// - The lease is a `SET NX PX` key holding a random owner and a fence; renewal, publication,
///   release and compare-and-delete are Lua scripts that check the owner (or the fence) and act
///   in one step.
/// - Records are sealed with AES-256-GCM under a [`SealingKey`] every process shares, bound to
///   their Redis key and fence; storing them in plain text takes an explicit
///   [`danger_store_unsealed`](RedisStoreBuilder::danger_store_unsealed).
/// - Every call is bounded by a timeout (300 ms by default); the connection is made on first use
///   and remade after a failure, so a store built while Redis is down starts working when it
///   comes back (the cache meanwhile runs in degraded mode).
/// - One primary, given by URL or named by a Sentinel set ([`RedisStore::sentinel`]), or a
///   cluster ([`RedisStore::cluster`]; a credential's keys in one slot); no Redlock. A failover
///   can lose a lease or a record (replication is asynchronous); the fence makes a stale
///   publication lose, and the worst case is one extra token request.
/// - Every reply is bounded (1 MiB), and a connection whose call failed or timed out is dropped
///   with its reader: a hostile server costs bounded memory. Use `rediss://` between hosts.
///
/// ```no_run
/// use auth_store_redis::{RedisStore, SealingKey};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SealingKey::from_hex(&std::env::var("TOKEN_SEALING_KEY")?)?;
/// let store = RedisStore::builder("redis://redis.internal:6379/0")
///     .sealing_key(key)
///     .prefix("billing-service")
///     .build()?;
/// let p21 = p21_auth::Client::builder()
///     .base_url("https://mytenant-api.epicordistribution.com")
///     .credentials(p21_auth::Credentials::user("api_user", p21_auth::Secret::new("password")))
///     .cache(p21_auth::CacheOptions::default().store(store))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct RedisStore {
    link: Link,
    prefix: String,
    sealing: Sealing,
    verifier: Verifier,
    call_timeout: Duration,
    record_ttl: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.link.addr())
            .field("prefix", &self.prefix)
            .field("sealed", &self.sealing.is_sealed())
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisStore`]; see [`RedisStore::builder`] and [`RedisStore::sentinel`].
pub struct RedisStoreBuilder {
    url: String,
    /// With Sentinel: the sentinels' URLs, the primary's name, and how to sign in to it.
    sentinel: Option<(Vec<String>, String)>,
    /// With Cluster: some of its nodes' URLs.
    cluster: Option<Vec<String>>,
    primary_auth: Option<(Option<String>, auth_core::Secret)>,
    prefix: String,
    sealing: Option<Sealing>,
    older: Vec<SealingKey>,
    call_timeout: Duration,
    record_ttl: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("call_timeout", &self.call_timeout)
            .field("record_ttl", &self.record_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Starts configuring a store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` with the `tls` feature). A password in the URL is used to connect and
    /// never printed.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            sentinel: None,
            cluster: None,
            primary_auth: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            sealing: None,
            older: Vec::new(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            record_ttl: DEFAULT_RECORD_TTL,
        }
    }

    /// Starts configuring a store on the primary that a Redis Sentinel set names `master`:
    /// `sentinels` are their URLs (`redis://[:password@]host:port`, a sentinel password in
    /// them; `rediss://` with the `tls` feature). The sentinels are asked for the primary on
    /// every new connection, and a connection that fails (or finds a replica) is dropped, so a
    /// failover is followed within the sentinels' failover time. Sign in to the primary with
    /// [`primary_auth`](RedisStoreBuilder::primary_auth) if it needs it.
    ///
    /// ```no_run
    /// use auth_store_redis::{RedisStore, SealingKey};
    ///
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::sentinel(
    ///     ["redis://sentinel-1:26379", "redis://sentinel-2:26379", "redis://sentinel-3:26379"],
    ///     "tokens",
    /// )
    /// .sealing_key(SealingKey::from_hex(&std::env::var("TOKEN_SEALING_KEY")?)?)
    /// .build()?;
    /// # Ok(()) }
    /// ```
    pub fn sentinel<I, S>(sentinels: I, master: impl Into<String>) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut builder = Self::builder(String::new());
        builder.sentinel = Some((
            sentinels.into_iter().map(Into::into).collect(),
            master.into(),
        ));
        builder
    }

    /// Starts configuring a store on a Redis Cluster: `nodes` are the URLs of some of its nodes
    /// (`redis://host:port`; `rediss://` with the `tls` feature); the rest are discovered. A
    /// credential's keys share one hash slot (`{digest}`), so each script runs on one node, and
    /// redis-rs follows the slot when a replica takes over a failed primary. ACL user and
    /// password with [`primary_auth`](RedisStoreBuilder::primary_auth) (every node).
    ///
    /// ```no_run
    /// use auth_store_redis::{RedisStore, SealingKey};
    ///
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::cluster(["redis://redis-0:6379", "redis://redis-1:6379"])
    ///     .sealing_key(SealingKey::from_hex(&std::env::var("TOKEN_SEALING_KEY")?)?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn cluster<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut builder = Self::builder(String::new());
        builder.cluster = Some(nodes.into_iter().map(Into::into).collect());
        builder
    }

    /// The Redis key of `what` (`rec`, `lease`, `fence`, `pub`) for `key`: the prefix, then the key's
    /// digest in braces (one hash slot per credential), never the key's text.
    fn redis_key(&self, key: &StoreKey, what: &str) -> String {
        format!("{}:{{{}}}:{what}", self.prefix, auth_store::digest(key))
    }

    /// Runs `script` on the keys and arguments, bounded by the call timeout. A call that fails
    /// on a dropped connection (Redis restarted, say) is sent once more on a new one: every
    /// script is idempotent for its caller. A connection whose call failed or timed out is
    /// dropped, so that nothing keeps reading from it.
    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let attempts = async {
            let (mut connection, generation) = self.link.get().await?;
            match invocation.invoke_async(&mut connection).await {
                Err(e) if e.is_io_error() || e.is_connection_dropped() || on_replica(&e) => {
                    tracing::debug!(error = %store_error(what, &e), "Redis connection dropped; trying once more");
                    self.link.drop_connection(Some(generation)).await;
                    let (mut connection, generation) = self.link.get().await?;
                    let result = invocation.invoke_async(&mut connection).await;
                    if result
                        .as_ref()
                        .is_err_and(|e| e.is_io_error() || e.is_connection_dropped())
                    {
                        self.link.drop_connection(Some(generation)).await;
                    }
                    result.map_err(|e| store_error(what, &e))
                }
                other => other.map_err(|e| store_error(what, &e)),
            }
        };
        match tokio::time::timeout(self.call_timeout, attempts).await {
            Ok(result) => result,
            Err(_) => {
                self.link.drop_connection(None).await;
                Err(StoreError::new(format!(
                    "{what}: Redis did not answer within {} ms",
                    self.call_timeout.as_millis()
                )))
            }
        }
    }

    /// Seals `value` as the record of `key` under `fence` (bound to its Redis key and fence),
    /// runs `script` with what `prepare` gives it (the record's Redis key and the sealed bytes to
    /// hand on), wipes the sealed bytes, and says whether the script wrote (answered 1).
    async fn write_sealed(
        &self,
        what: &'static str,
        script: &redis::Script,
        key: &StoreKey,
        fence: u64,
        value: &[u8],
        prepare: impl FnOnce(&mut redis::ScriptInvocation<'_>, &str, &[u8]),
    ) -> Result<bool, StoreError> {
        let rec = self.redis_key(key, "rec");
        let mut sealed = self
            .sealing
            .seal(&rec, fence, value)
            .ok_or_else(|| StoreError::new("the record could not be sealed"))?;
        let mut invocation = script.prepare_invoke();
        prepare(&mut invocation, &rec, &sealed);
        let written: Result<u8, StoreError> = self.run(what, &invocation).await;
        drop(invocation);
        zeroize::Zeroize::zeroize(&mut sealed);
        Ok(written? == 1)
    }

    fn owner_value(lease: &Lease) -> String {
        format!("{}:{}", lease.owner, lease.fence)
    }
}

/// Whether `e` says the server is a replica (a former primary, after a failover).
fn on_replica(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// A lease lasting longer than this (or forever) was not taken by a cache, and is taken over.
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// `text` as a fence a lease can have handed out: a whole number from 1 to a century past now.
fn fence_of(text: &str) -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis);
    text.parse::<u64>()
        .ok()
        .filter(|&f| f >= 1 && f <= now.saturating_add(3_153_600_000_000))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStoreBuilder {
    /// Seals every record with `key` (AES-256-GCM). Every process of the fleet must use the
    /// same key; a record sealed with another key reads as absent.
    #[must_use]
    pub fn sealing_key(mut self, key: SealingKey) -> Self {
        self.sealing = Some(Sealing::with_key(key));
        self
    }

    /// Also opens records sealed with `key` (while a new key rolls out). New records are always
    /// sealed with the [`sealing_key`](Self::sealing_key).
    #[must_use]
    pub fn also_open_with(mut self, key: SealingKey) -> Self {
        self.older.push(key);
        self
    }

    /// Stores tokens **in plain text**: anyone who can read the Redis server (its memory, its
    /// snapshots, `MONITOR`, a replica) can read and use them. For a private, trusted Redis
    /// only; a warning is logged when the store is built.
    #[must_use]
    pub fn danger_store_unsealed(mut self) -> Self {
        self.sealing = Some(Sealing::danger_plain());
        self
    }

    /// With [`RedisStore::sentinel`] or [`RedisStore::cluster`]: the ACL user (if any) and
    /// password the primary (every node) wants, as managed services require. Never printed.
    #[must_use]
    pub fn primary_auth(mut self, user: Option<String>, password: auth_core::Secret) -> Self {
        self.primary_auth = Some((user, password));
        self
    }

    /// The prefix of every Redis key (default `vendor-auth`); give each environment its own.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bound on each Redis call, connecting included (default 300 ms). Keep it below the
    /// cache's `store_timeout`.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long a record lives unless published again (default one day).
    #[must_use]
    pub fn record_ttl(mut self, ttl: Duration) -> Self {
        self.record_ttl = ttl;
        self
    }

    fn target(&self) -> Result<Target, StoreError> {
        let invalid = |e: redis::RedisError| {
            StoreError::new(format!(
                "the Redis URL is not valid ({:?}); expected redis://host[:port][/db]",
                e.kind()
            ))
        };
        if let Some(nodes) = &self.cluster {
            let mut cluster =
                redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(self.call_timeout)
                    .response_timeout(self.call_timeout)
                    // The store's call bound decides: one retry (a MOVED, a node just gone).
                    .retries(1)
                    .min_retry_wait(10)
                    .max_retry_wait(50);
            if let Some((user, password)) = &self.primary_auth {
                cluster = cluster.password(password.expose_secret());
                if let Some(user) = user {
                    cluster = cluster.username(user);
                }
            }
            return Ok(Target::Cluster(cluster.build().map_err(invalid)?));
        }
        let Some((sentinels, master)) = &self.sentinel else {
            let info = redis::IntoConnectionInfo::into_connection_info(self.url.as_str());
            return Ok(Target::Direct(info.map_err(invalid)?));
        };
        let mut redis = redis::RedisConnectionInfo::default();
        if let Some((user, password)) = &self.primary_auth {
            redis = redis.set_password(password.expose_secret());
            if let Some(user) = user {
                redis = redis.set_username(user);
            }
        }
        let node =
            redis::sentinel::SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
        let client = redis::sentinel::SentinelClient::build(
            sentinels.iter().map(String::as_str).collect(),
            master.clone(),
            Some(node),
            redis::sentinel::SentinelServerType::Master,
        )
        .map_err(invalid)?;
        Ok(Target::Sentinel {
            client: tokio::sync::Mutex::new(client),
            master: master.clone(),
        })
    }

    /// Builds the store. Nothing is connected yet: the first call connects.
    ///
    /// # Errors
    /// The URL does not parse as a Redis URL, or neither a sealing key nor
    /// [`danger_store_unsealed`](Self::danger_store_unsealed) was chosen. The error never
    /// quotes the URL (it may hold a password).
    pub fn build(self) -> Result<RedisStore, StoreError> {
        let target = self.target()?;
        let sealing = self.sealing.ok_or_else(|| {
            StoreError::new(
                "choose how tokens are kept in Redis: sealing_key(...) (recommended), or danger_store_unsealed()",
            )
        })?;
        if !sealing.is_sealed() {
            tracing::warn!(
                prefix = %self.prefix,
                "tokens will be stored in Redis UNSEALED (danger_store_unsealed): anyone who can read the Redis server can use them"
            );
        }
        // Keyed by the sealing key, which Redis's readers do not hold; unsealed, nothing is
        // secret from them, so the verifier is a slow KDF (computed once per cache).
        let verifier = sealing.verifier().cloned().unwrap_or_else(Verifier::slow);
        let sealing = self
            .older
            .into_iter()
            .fold(sealing, Sealing::also_open_with);
        #[cfg(feature = "tls")]
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // The process's provider for `rediss://`, unless the application chose one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        Ok(RedisStore {
            link: Link::new(target, self.call_timeout),
            prefix: self.prefix,
            sealing,
            verifier,
            call_timeout: self.call_timeout,
            record_ttl: self.record_ttl,
        })
    }
}

#[auth_core::async_trait]
impl TokenStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let rec = self.redis_key(key, "rec");
        let mut invocation = scripts::LOAD.prepare_invoke();
        invocation.key(&rec).key(self.redis_key(key, "pub"));
        let (fence, value, published): (Option<String>, Option<Vec<u8>>, Option<String>) =
            self.run("load", &invocation).await?;
        let (Some(fence), Some(mut value)) = (fence.as_deref().and_then(fence_of), value) else {
            // Absent, or a fence no lease handed out (forged): the next publication replaces it.
            return Ok(None);
        };
        if fence < published.as_deref().and_then(fence_of).unwrap_or(0) {
            // Older than the last publication: put back after it was replaced (a replay).
            zeroize::Zeroize::zeroize(&mut value);
            return Ok(None);
        }
        let opened = self.sealing.open(&rec, fence, &value);
        zeroize::Zeroize::zeroize(&mut value);
        if opened.is_none() {
            tracing::debug!(
                key = %rec,
                "a stored record does not open with this store's sealing; treated as absent"
            );
        }
        Ok(opened.map(|v| Record::new(fence, v)))
    }

    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let mut invocation = scripts::TRY_LEASE.prepare_invoke();
        invocation
            .key(self.redis_key(key, "lease"))
            .key(self.redis_key(key, "fence"))
            .key(self.redis_key(key, "rec"))
            .key(self.redis_key(key, "pub"))
            .arg(owner)
            .arg(millis(ttl))
            .arg(millis(MAX_LEASE.max(ttl)));
        let fence: u64 = self.run("take the lease", &invocation).await?;
        Ok((fence > 0).then(|| Lease::new(key.clone(), owner, fence)))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let mut invocation = scripts::RENEW.prepare_invoke();
        invocation
            .key(self.redis_key(&lease.key, "lease"))
            .arg(Self::owner_value(lease))
            .arg(millis(ttl));
        let renewed: u8 = self.run("renew the lease", &invocation).await?;
        Ok(renewed == 1)
    }

    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        let (key, fence) = (&lease.key, lease.fence);
        let (held, published) = (self.redis_key(key, "lease"), self.redis_key(key, "pub"));
        let ttl = millis(self.record_ttl);
        let prepare = |invocation: &mut redis::ScriptInvocation<'_>, rec: &str, sealed: &[u8]| {
            invocation
                .key(held)
                .key(rec)
                .key(published)
                .arg(Self::owner_value(lease))
                .arg(fence)
                .arg(sealed)
                .arg(ttl);
        };
        (self.write_sealed("publish", &scripts::PUBLISH, key, fence, value, prepare)).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut invocation = scripts::RELEASE.prepare_invoke();
        invocation
            .key(self.redis_key(&lease.key, "lease"))
            .arg(Self::owner_value(lease));
        let _: u8 = self.run("release the lease", &invocation).await?;
        Ok(())
    }

    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        let mut invocation = scripts::REMOVE_IF.prepare_invoke();
        invocation.key(self.redis_key(key, "rec")).arg(fence);
        let removed: u8 = self.run("compare and delete", &invocation).await?;
        Ok(removed == 1)
    }

    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        self.verifier.of_blocking(key, secret).await
    }
}

/// The record a host kept while Redis was out of reach is written under its own fence, so that
/// the newest of the hosts' records wins (see [`SharedStore::hand_over`]).
#[auth_core::async_trait]
impl SharedStore for RedisStore {
    async fn hand_over(
        &self,
        key: &StoreKey,
        fence: u64,
        value: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let published = self.redis_key(key, "pub");
        let ttl = millis(self.record_ttl);
        let prepare = |invocation: &mut redis::ScriptInvocation<'_>, rec: &str, sealed: &[u8]| {
            invocation
                .key(rec)
                .key(published)
                .arg(fence)
                .arg(sealed)
                .arg(ttl);
        };
        let written =
            self.write_sealed("hand over", &scripts::HAND_OVER, key, fence, value, prepare);
        Ok(written.await?.then_some(fence))
    }
}
