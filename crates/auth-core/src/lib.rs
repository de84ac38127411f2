#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The kernel: what every other crate of the workspace builds on, and what changes least. What
// users hold is re-exported at the root (at most twelve names); the rest stays in its module.
// Modules depend downward only: secret, clock, error < key, token < source < store < cache;
// metrics names are leaves.

pub mod cache;
pub mod clock;
pub mod error;
mod key;
pub mod metrics;
pub mod secret;
pub mod source;
pub mod store;
pub mod token;

pub use async_trait::async_trait;
pub use cache::{CacheOptions, CacheStats, TokenCache};
pub use clock::{Clock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use secret::Secret;
pub use source::TokenSource;
pub use token::Token;
