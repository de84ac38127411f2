#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// One host's shared store (`file`), sealing records at rest (`seal`), the verifiers of secrets
// records carry (`verifier`) and a shared store with a host-local one under it (`fallback`),
// on top of the kernel's store trait; the Redis store seals and verifies with them too.

mod fallback;
mod file;
#[cfg(feature = "sealing")]
mod seal;
mod verifier;

use auth_core::store::StoreKey;

pub use fallback::{DEFAULT_PRIMARY_BUDGET, Fallback, SharedStore};
pub use file::FileStore;
#[cfg(feature = "sealing")]
#[cfg_attr(docsrs, doc(cfg(feature = "sealing")))]
pub use seal::{KeyError, SealedStore, Sealing, SealingKey};
pub use verifier::{SLOW_ITERATIONS, Verifier};

/// A short stable digest of `key` (the first 128 bits of its SHA-256, as 32 hex digits), for
/// file names, Redis keys and other places where the key's text should not appear.
///
/// ```
/// use auth_core::store::StoreKey;
///
/// let key = StoreKey::new("acme", "https://erp.example.com/api", "user=alice");
/// assert_eq!(auth_store::digest(&key).len(), 32);
/// let bob = StoreKey::new("acme", "https://erp.example.com/api", "user=bob");
/// assert_ne!(auth_store::digest(&key), auth_store::digest(&bob));
/// ```
#[must_use]
pub fn digest(key: &StoreKey) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_str().as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
