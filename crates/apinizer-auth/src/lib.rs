#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc-rs",
    feature = "native-tls"
)))]
compile_error!(
    "apinizer-auth needs a TLS backend: enable one of its features `rustls-ring` (the default), \
     `rustls-aws-lc-rs` or `native-tls`, for example \
     apinizer-auth = { version = \"0.1\", default-features = false, features = [\"rustls-aws-lc-rs\"] }"
);

mod client;
mod config;
pub mod wire;

pub use auth_core::{CacheStats, Error, ErrorKind, HttpClient, Result, Secret, Token, TokenCache};
pub use client::Client;
pub use config::{ClientBuilder, Credentials};

/// The vendor name in errors and logs.
pub const VENDOR: &str = "apinizer";
