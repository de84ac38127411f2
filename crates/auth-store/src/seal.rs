//! Sealing records at rest: AES-256-GCM from `ring`, a random 96-bit nonce per record, and the
//! record's key and fence as associated data, so that a sealed record cannot be moved to another
//! key or replayed under another fence without failing to open. [`SealedStore`] seals the records
//! of any [`TokenStore`]; a store with its own record layout (Redis) uses [`Sealing`] directly.

use std::fmt;
use std::time::Duration;

use auth_core::Secret;
use auth_core::store::{Lease, Record, StoreError, StoreKey, TokenStore};

use crate::Verifier;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The first byte of a sealed record (the format, so that it can change).
const SEALED_V1: u8 = 1;
/// The first byte of a record stored unsealed (after the explicit opt-in).
const PLAIN_V1: u8 = 0;

/// A 256-bit key that seals tokens at rest (AES-256-GCM). Every process that shares the store
/// needs the same key; keep it where you keep the credentials themselves.
///
/// ```
/// use auth_store::SealingKey;
///
/// // 64 hex digits, e.g. from `openssl rand -hex 32`:
/// let key = SealingKey::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")?;
/// assert_eq!(format!("{key:?}"), "SealingKey(<redacted>)");
/// assert!(SealingKey::from_hex("too short").is_err());
/// # Ok::<(), auth_store::KeyError>(())
/// ```
pub struct SealingKey {
    key: LessSafeKey,
    /// Keyed by material derived from the same bytes (see [`Verifier::keyed`]).
    verifier: Verifier,
}

/// A sealing key that is not 32 bytes (64 hex digits).
#[derive(Debug)]
pub struct KeyError(());

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sealing key is 32 bytes, given as 64 hex digits")
    }
}

impl std::error::Error for KeyError {}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// A key from its 32 bytes.
    ///
    /// # Errors
    /// `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError(()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyError(()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            verifier: Verifier::keyed(bytes),
        })
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    ///
    /// # Errors
    /// `hex` is not 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return Err(KeyError(()));
        }
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(KeyError(()));
            *byte =
                u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| KeyError(()))?;
        }
        Self::from_bytes(&bytes[..])
    }
}

/// How a store keeps its records: sealed with a [`SealingKey`] (and opened with it or older
/// keys), or plain after an explicit opt-in.
///
/// ```
/// use auth_store::{Sealing, SealingKey};
///
/// let sealing = Sealing::with_key(SealingKey::from_bytes(&[7; 32])?);
/// let stored = sealing.seal("p21|https://erp.example.com|user=alice", 3, b"token").expect("sealed");
/// assert!(!stored.windows(5).any(|w| w == b"token"));
/// assert_eq!(sealing.open("p21|https://erp.example.com|user=alice", 3, &stored).as_deref(), Some(&b"token"[..]));
/// assert_eq!(sealing.open("p21|https://erp.example.com|user=bob", 3, &stored), None);
/// # Ok::<(), auth_store::KeyError>(())
/// ```
pub struct Sealing {
    keys: Option<Keys>,
}

struct Keys {
    current: Box<SealingKey>,
    older: Vec<SealingKey>,
    random: SystemRandom,
}

impl fmt::Debug for Sealing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealing")
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

impl Sealing {
    /// Seals every record with `key`.
    #[must_use]
    pub fn with_key(key: SealingKey) -> Self {
        Self {
            keys: Some(Keys {
                current: Box::new(key),
                older: Vec::new(),
                random: SystemRandom::new(),
            }),
        }
    }

    /// Keeps records **in plain text** (marked as such, so that plain and sealed records never
    /// mix): for a store only trusted readers can reach.
    #[must_use]
    pub fn danger_plain() -> Self {
        Self { keys: None }
    }

    /// Also opens records sealed with `key` (while a new key rolls out); new records are always
    /// sealed with the key given to [`with_key`](Self::with_key). No effect on plain sealing.
    #[must_use]
    pub fn also_open_with(mut self, key: SealingKey) -> Self {
        if let Some(keys) = &mut self.keys {
            keys.older.push(key);
        }
        self
    }

    /// The verifier of a sealed store: keyed by the current sealing key, which the store's
    /// readers do not hold. `None` for plain sealing.
    #[must_use]
    pub fn verifier(&self) -> Option<&Verifier> {
        self.keys.as_ref().map(|k| &k.current.verifier)
    }

    /// Whether records are sealed (not plain).
    #[must_use]
    pub fn is_sealed(&self) -> bool {
        self.keys.is_some()
    }

    /// The stored bytes of `value` under `context` (the record's key, as the store names it)
    /// and `fence`; `None` only if the system's random source fails.
    #[must_use]
    pub fn seal(&self, context: &str, fence: u64, value: &[u8]) -> Option<Vec<u8>> {
        let Some(keys) = &self.keys else {
            let mut out = Vec::with_capacity(value.len() + 1);
            out.push(PLAIN_V1);
            out.extend_from_slice(value);
            return Some(out);
        };
        let mut nonce = [0u8; NONCE_LEN];
        keys.random.fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + value.len() + 16);
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        let mut body = value.to_vec();
        let sealed = keys.current.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(context, fence)),
            &mut body,
        );
        if sealed.is_err() {
            zeroize::Zeroize::zeroize(&mut body);
            return None;
        }
        out.extend_from_slice(&body);
        Some(out)
    }

    /// The value stored as `stored` under `context` and `fence`; `None` if it does not open
    /// (another key, tampered with, moved, or a plain record where sealed ones are expected).
    #[must_use]
    pub fn open(&self, context: &str, fence: u64, stored: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = stored.split_first()?;
        match (&self.keys, format) {
            (None, PLAIN_V1) => Some(rest.to_vec()),
            (Some(keys), SEALED_V1) => {
                if rest.len() < NONCE_LEN {
                    return None;
                }
                let (nonce, sealed) = rest.split_at(NONCE_LEN);
                std::iter::once(&*keys.current)
                    .chain(&keys.older)
                    .find_map(|k| {
                        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
                        let mut buf = sealed.to_vec();
                        match k
                            .key
                            .open_in_place(nonce, Aad::from(aad(context, fence)), &mut buf)
                        {
                            Ok(plain) => Some(plain.to_vec()),
                            Err(_) => {
                                zeroize::Zeroize::zeroize(&mut buf);
                                None
                            }
                        }
                    })
            }
            _ => None,
        }
    }
}

/// Any [`TokenStore`] with its records sealed: a record is sealed before the inner store sees
/// it, bound to its [`StoreKey`] and fence, and a record that does not open reads as absent.
/// The lease and the fences are the inner store's.
///
/// ```
/// use auth_store::{FileStore, SealedStore, Sealing, SealingKey};
///
/// # fn run(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
/// let key = SealingKey::from_hex(&std::env::var("TOKEN_SEALING_KEY")?)?;
/// let store = SealedStore::new(FileStore::open(dir)?, Sealing::with_key(key));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SealedStore<S> {
    inner: S,
    sealing: Sealing,
}

impl<S: TokenStore> SealedStore<S> {
    /// `inner`, with its records kept as `sealing` says.
    pub fn new(inner: S, sealing: Sealing) -> Self {
        Self { inner, sealing }
    }

    /// The store the sealed records are kept in.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[auth_core::async_trait]
impl<S: TokenStore> TokenStore for SealedStore<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let Some(mut record) = self.inner.load(key).await? else {
            return Ok(None);
        };
        let opened = self.sealing.open(key.as_str(), record.fence, &record.value);
        zeroize::Zeroize::zeroize(&mut record.value);
        if opened.is_none() {
            tracing::debug!(
                key = %crate::digest(key),
                "a stored record does not open with this store's sealing; treated as absent"
            );
        }
        Ok(opened.map(|value| Record::new(record.fence, value)))
    }

    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.inner.try_lease(key, owner, ttl).await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.renew(lease, ttl).await
    }

    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        let mut sealed = self
            .sealing
            .seal(lease.key.as_str(), lease.fence, value)
            .ok_or_else(|| StoreError::new("the record could not be sealed"))?;
        let published = self.inner.publish(lease, &sealed).await;
        zeroize::Zeroize::zeroize(&mut sealed);
        published
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(lease).await
    }

    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        self.inner.remove_if(key, fence).await
    }

    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        match self.sealing.verifier() {
            Some(verifier) => Ok(verifier.of(key, secret)),
            None => self.inner.verifier(key, secret).await,
        }
    }

    fn partial(&self) -> bool {
        self.inner.partial()
    }
}

fn aad(key: &str, fence: u64) -> Vec<u8> {
    format!("vendor-auth/1|{key}|{fence}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(key: u8, older: &[u8]) -> Sealing {
        older.iter().fold(
            Sealing::with_key(SealingKey::from_bytes(&[key; 32]).expect("key")),
            |s, k| s.also_open_with(SealingKey::from_bytes(&[*k; 32]).expect("key")),
        )
    }

    #[test]
    fn sealed_records_open_only_with_the_key_the_context_and_the_fence() {
        let s = sealed(1, &[]);
        let stored = s.seal("k", 7, b"secret token").expect("sealed");
        assert!(
            !stored.windows(6).any(|w| w == b"secret"),
            "not in the clear"
        );
        assert_eq!(
            s.open("k", 7, &stored).as_deref(),
            Some(&b"secret token"[..])
        );
        assert_eq!(s.open("other", 7, &stored), None, "moved to another key");
        assert_eq!(
            s.open("k", 8, &stored),
            None,
            "replayed under another fence"
        );
        assert_eq!(sealed(2, &[]).open("k", 7, &stored), None, "another key");
        assert_eq!(
            sealed(2, &[1]).open("k", 7, &stored).as_deref(),
            Some(&b"secret token"[..]),
            "an older key still opens what it sealed"
        );
        let mut tampered = stored.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(s.open("k", 7, &tampered), None);
        assert_eq!(s.open("k", 7, &stored[..5]), None, "truncated");
        assert_ne!(
            s.seal("k", 7, b"x"),
            s.seal("k", 7, b"x"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn plain_and_sealed_records_do_not_mix() {
        let plain = Sealing::danger_plain()
            .seal("k", 1, b"token")
            .expect("plain");
        assert_eq!(
            Sealing::danger_plain().open("k", 1, &plain).as_deref(),
            Some(&b"token"[..])
        );
        assert_eq!(sealed(1, &[]).open("k", 1, &plain), None);
        let sealed_record = sealed(1, &[]).seal("k", 1, b"token").expect("sealed");
        assert_eq!(Sealing::danger_plain().open("k", 1, &sealed_record), None);
        assert_eq!(Sealing::danger_plain().open("k", 1, &[]), None);
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(SealingKey::from_bytes(&[0; 31]).is_err());
        assert!(SealingKey::from_hex(&"0".repeat(63)).is_err());
        assert!(SealingKey::from_hex(&"g".repeat(64)).is_err());
        assert!(SealingKey::from_hex(&format!(" {} ", "aB".repeat(32))).is_ok());
    }
}
