//! [`StoreKey`]: the identity a shared token is filed under, never a secret. Re-exported as
//! `store::StoreKey`; it stands apart so that a token source can name its key without depending
//! on the stores.

use std::fmt;

/// The identity a shared token is filed under: the vendor, the endpoint and the principal (user
/// name, client id, key fingerprint, scope), never a password or a secret. A store that must not
/// show the key's text (a file name, a Redis key) files it under a digest of it.
///
/// Every field is written with its length in front (`4:acme|`), so that no two different
/// identities share a key, whatever characters their fields hold: a `|` or `;` in a user name
/// cannot make it another user's key.
///
/// ```
/// use auth_core::store::StoreKey;
///
/// let key = StoreKey::of("acme", "https://erp.example.com/api").part("user", "alice");
/// assert_eq!(key.as_str(), "4:acme|27:https://erp.example.com/api|4:user|5:alice|");
/// // Fields cannot run into each other.
/// assert_ne!(
///     StoreKey::of("acme", "https://h.example.com/").part("user", "z/|user=alice"),
///     StoreKey::of("acme", "https://h.example.com/|user=z/").part("user", "alice"),
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key of tokens from `vendor` at `endpoint`; name the principal with
    /// [`part`](Self::part).
    #[must_use]
    pub fn of(vendor: &str, endpoint: &str) -> Self {
        Self(String::new()).field(vendor).field(endpoint)
    }

    /// The key of `principal`'s tokens from `vendor` at `endpoint`, the principal one field.
    #[must_use]
    pub fn new(vendor: &str, endpoint: &str, principal: &str) -> Self {
        Self::of(vendor, endpoint).field(principal)
    }

    /// The same key, its principal's `name` part (`user`, `client`, `scope`) being `value`.
    #[must_use]
    pub fn part(self, name: &str, value: &str) -> Self {
        self.field(name).field(value)
    }

    fn field(mut self, text: &str) -> Self {
        use fmt::Write as _;
        let _ = write!(self.0, "{}:{text}|", text.len());
        self
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
