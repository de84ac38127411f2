#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// What users hold is re-exported at the root; what only vendor crates need lives in the named
// modules (`http`, `oauth`, `env`, `vendor`...).

pub mod cache;
pub mod clock;
pub mod env;
pub mod error;
pub mod http;
pub mod metrics;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub mod middleware;
pub mod oauth;
pub mod scrub;
pub mod secret;
pub mod store;
pub mod token;
pub mod vendor;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;

pub use async_trait::async_trait;
pub use cache::{CacheOptions, CacheStats, TokenCache, TokenCacheBuilder};
pub use clock::{Clock, SystemClock};
pub use error::{ConfigProblem, Error, ErrorKind, Result};
pub use http::{HttpClient, HttpClientBuilder, RetryPolicy, install_crypto_provider};
pub use reqwest;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use reqwest_middleware;
pub use secret::Secret;
pub use token::{StaticToken, Token, TokenBuilder, TokenSource};
