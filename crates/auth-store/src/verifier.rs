//! [`Verifier`]: how a store turns a cache's secret into the verifier its records carry, so that
//! a token is adopted, and a rejection obeyed, only by caches holding the secret that led to it.
//!
//! A verifier must not make an offline guess of the secret cheaper than asking the vendor, since
//! whoever reads the store reads the verifiers: it is an HMAC-SHA256 under a key the store's
//! readers do not hold (the sealing key, or for a [`FileStore`](crate::FileStore) a random key
//! in its owner-only directory), or, where no such key exists (an unsealed shared store),
//! PBKDF2-HMAC-SHA256 with [`SLOW_ITERATIONS`] rounds, computed once per cache.

use std::fmt;
use std::num::NonZeroU32;

use auth_core::Secret;
use auth_core::store::{StoreError, StoreKey};
use ring::{hmac, pbkdf2};

/// PBKDF2 rounds of a verifier made without a key (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const SLOW_ITERATIONS: u32 = 600_000;

/// The bytes of a verifier (shown as hex).
const LEN: usize = 16;

/// Turns a secret into the verifier stored beside a record; see the module docs.
///
/// ```
/// use auth_core::Secret;
/// use auth_core::store::StoreKey;
/// use auth_store::Verifier;
///
/// let key = StoreKey::of("acme", "https://erp.example.com").part("user", "alice");
/// let verifier = Verifier::keyed(&[7; 32]);
/// let a = verifier.of(&key, &Secret::new("hunter2"));
/// assert_eq!(a, verifier.of(&key, &Secret::new("hunter2")));
/// assert_ne!(a, verifier.of(&key, &Secret::new("hunter3")));
/// // Another key, another verifier: a reader of the store cannot tell who shares a password.
/// assert_ne!(a, Verifier::keyed(&[8; 32]).of(&key, &Secret::new("hunter2")));
/// ```
#[derive(Clone)]
pub struct Verifier(Kind);

#[derive(Clone)]
enum Kind {
    Keyed(hmac::Key),
    Slow,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Keyed(_) => "Verifier(keyed)",
            Kind::Slow => "Verifier(pbkdf2)",
        })
    }
}

impl Verifier {
    /// HMAC-SHA256 under a key derived from `key_material` (a sealing key, a random store key).
    #[must_use]
    pub fn keyed(key_material: &[u8]) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, key_material);
        let derived = hmac::sign(&derive, b"vendor-auth/verifier-key/1");
        Self(Kind::Keyed(hmac::Key::new(
            hmac::HMAC_SHA256,
            derived.as_ref(),
        )))
    }

    /// PBKDF2-HMAC-SHA256 with [`SLOW_ITERATIONS`] rounds, salted with the record's key: for a
    /// store whose readers could hold any key it would use.
    #[must_use]
    pub fn slow() -> Self {
        Self(Kind::Slow)
    }

    /// The verifier of `secret` for records under `key` (runs the slow KDF, if that is the kind:
    /// call it off the async threads, as [`of_blocking`](Self::of_blocking) does).
    #[must_use]
    pub fn of(&self, key: &StoreKey, secret: &Secret) -> String {
        let mut out = [0u8; LEN];
        match &self.0 {
            Kind::Keyed(mac) => {
                let mut context = hmac::Context::with_key(mac);
                context.update(key.as_str().as_bytes());
                context.update(b"\0");
                context.update(secret.expose_secret().as_bytes());
                out.copy_from_slice(&context.sign().as_ref()[..LEN]);
            }
            Kind::Slow => {
                let salt = format!("vendor-auth/verifier/1\0{}", key.as_str());
                let rounds = NonZeroU32::new(SLOW_ITERATIONS).unwrap_or(NonZeroU32::MIN);
                pbkdf2::derive(
                    pbkdf2::PBKDF2_HMAC_SHA256,
                    rounds,
                    salt.as_bytes(),
                    secret.expose_secret().as_bytes(),
                    &mut out,
                );
            }
        }
        out.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// [`of`](Self::of) on a thread of tokio's blocking pool.
    ///
    /// # Errors
    /// The blocking task did not finish (the runtime is shutting down).
    pub async fn of_blocking(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        if let Kind::Keyed(_) = self.0 {
            return Ok(self.of(key, secret));
        }
        let (this, key, secret) = (self.clone(), key.clone(), secret.clone());
        tokio::task::spawn_blocking(move || this.of(&key, &secret))
            .await
            .map_err(|e| StoreError::new("the verifier was not computed").with_source(e))
    }
}
