#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc-rs",
    feature = "native-tls"
)))]
compile_error!(concat!(
    "apinizer-auth needs a TLS backend: enable one of its features `rustls-ring` (the default), \
     `rustls-aws-lc-rs` or `native-tls`, for example apinizer-auth = { version = \"",
    env!("CARGO_PKG_VERSION_MAJOR"),
    ".",
    env!("CARGO_PKG_VERSION_MINOR"),
    "\", default-features = false, features = [\"rustls-aws-lc-rs\"] }"
));

mod client;
mod credentials;
pub mod wire;

// Every type in this crate's public signatures, and `reqwest` itself, so that a user depends on
// this crate alone.
pub use auth_core::error::ConfigProblem;
pub use auth_core::{
    CacheOptions, CacheStats, Error, ErrorKind, Result, Secret, Token, TokenCache,
};
pub use auth_http::env::EnvLookup;
pub use auth_http::pool::{self, Pool};
pub use auth_http::{HttpClient, HttpClientBuilder, RetryPolicy, install_crypto_provider, reqwest};
pub use auth_http::{HttpRequest, HttpResponse};
pub use auth_http::{ProxyRoute, ProxySettings, RequestLoad};
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use auth_http::{middleware::AuthMiddleware, reqwest_middleware};
#[cfg(feature = "file-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "file-store")))]
pub use auth_store::FileStore;
pub use client::{Client, ClientBuilder};
pub use credentials::Credentials;

/// The vendor name in errors and logs.
pub const VENDOR: &str = "apinizer";
