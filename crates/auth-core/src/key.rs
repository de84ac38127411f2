//! [`StoreKey`]: the identity a shared token is filed under, never a secret. Re-exported as
//! `store::StoreKey`; it stands apart so that a token source can name its key without depending
//! on the stores.

use std::fmt;

use sha2::{Digest, Sha256};

/// The identity a shared token is filed under: the vendor, the endpoint and the principal (user
/// name, client id, key fingerprint), never a password or a secret.
///
/// ```
/// use auth_core::store::StoreKey;
///
/// let key = StoreKey::new("acme", "https://erp.example.com/api", "user=alice");
/// assert_eq!(key.as_str(), "acme|https://erp.example.com/api|user=alice");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key of `principal`'s tokens from `vendor` at `endpoint`.
    pub fn new(vendor: &str, endpoint: &str, principal: &str) -> Self {
        Self(format!("{vendor}|{endpoint}|{principal}"))
    }

    /// The key as text (what a store files it under, hashed or prefixed as it needs).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short stable digest of the key (the first 128 bits of its SHA-256, as 32 hex digits),
    /// for file names, Redis keys and other places where the key's text should not appear.
    ///
    /// ```
    /// use auth_core::store::StoreKey;
    ///
    /// let key = StoreKey::new("acme", "https://erp.example.com/api", "user=alice");
    /// assert_eq!(key.digest().len(), 32);
    /// assert_ne!(key.digest(), StoreKey::new("acme", "https://erp.example.com/api", "user=bob").digest());
    /// ```
    #[must_use]
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes())[..16])
    }

    /// A fingerprint of a high-entropy secret (an API key, a client secret) for a key's
    /// principal, where the credential has no public identity: the first 128 bits of a
    /// domain-separated SHA-256, as hex. The secret cannot be recovered from it, but a guessable
    /// secret (a password) could be confirmed by guessing, so never fingerprint a password: use
    /// the user name.
    ///
    /// ```
    /// use auth_core::{Secret, store::StoreKey};
    ///
    /// let fp = StoreKey::fingerprint(&Secret::new("7c1d7e3a-consumer-key"));
    /// assert_eq!(fp.len(), 32);
    /// assert!(!fp.contains("consumer"));
    /// ```
    #[must_use]
    pub fn fingerprint(secret: &crate::secret::Secret) -> String {
        let digest = Sha256::new()
            .chain_update(b"vendor-auth store key fingerprint\0")
            .chain_update(secret.expose_secret().as_bytes())
            .finalize();
        hex(&digest[..16])
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreKey").field(&self.0).finish()
    }
}
