#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod clock;
mod env;
mod error;
mod http;
mod scrub;
mod secret;
mod token;

#[cfg(feature = "test-util")]
pub mod test_util;

pub use async_trait::async_trait;
pub use cache::{
    CacheConfig, CacheStats, DEFAULT_FAILURE_BACKOFF, DEFAULT_FETCH_DEADLINE,
    DEFAULT_HALF_LIFE_THRESHOLD, DEFAULT_HARD_WINDOW, DEFAULT_MAX_FAILURE_BACKOFF,
    DEFAULT_MIN_FORCED_REFRESH_INTERVAL, DEFAULT_REFRESH_RETRY_BACKOFF, DEFAULT_REJECTION_TTL,
    DEFAULT_SOFT_WINDOW, MIN_TOKEN_LIFETIME, TokenCache, TokenCacheBuilder,
};
pub use clock::{Clock, Sleep, SystemClock, instant_from_system_time};
pub use env::{EnvLookup, optional_var, process as process_env, required_var};
pub use error::{
    ConfigProblem, Error, ErrorKind, MAX_TEXT_CHARS, Result, is_transient_code, is_transient_status,
};
pub use http::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    ErrorBody, HttpClient, HttpClientBuilder, HttpRequest, HttpResponse, RetryPolicy, access_token,
    check_url, endpoint, install_crypto_provider, is_loopback, is_oauth_token_error,
    lifetime_until, parse_base_url, parse_oauth_token, required_base_url,
};
pub use reqwest;
pub use scrub::{scrub, scrub_bytes};
pub use secret::{REDACTED, Secret};
pub use token::{
    MAX_LIFETIME, StaticToken, Token, TokenBuilder, TokenSource, lifetime_from_json,
    lifetime_from_str,
};
