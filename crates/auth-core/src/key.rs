//! [`StoreKey`]: the identity a shared token is filed under, never a secret. Re-exported as
//! `store::StoreKey`; it stands apart so that a token source can name its key without depending
//! on the stores.

use std::fmt;

/// The identity a shared token is filed under: the vendor, the endpoint and the principal (user
/// name, client id, key fingerprint), never a password or a secret. A store that must not show
/// the key's text (a file name, a Redis key) files it under a digest of it.
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
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreKey").field(&self.0).finish()
    }
}
