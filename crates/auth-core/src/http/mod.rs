//! HTTP plumbing for vendor crates: requests as values, responses and their classification,
//! error bodies, the retry policy, the client that sends with timeouts, a deadline, same-origin
//! redirects and capped bodies, and the URL rules.
//!
//! A vendor crate describes a request as a pure [`HttpRequest`] value, sends it through
//! [`HttpClient::send`], and parses the [`HttpResponse`] with a pure function. Users meet only
//! [`HttpClient`] and [`RetryPolicy`], which the crate root re-exports.

mod client;
mod error_body;
mod request;
mod response;
mod retry;
mod tls;
mod url;

pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    HttpClient, HttpClientBuilder, install_crypto_provider,
};
pub use error_body::{EXCERPT_CHARS, ErrorBody};
pub use request::HttpRequest;
pub use response::HttpResponse;
pub use retry::RetryPolicy;
pub use url::{check_url, endpoint, is_loopback, parse_base_url, required_base_url};

pub(crate) use client::{read_capped, read_prefix, transport_error};
pub(crate) use retry::random_fraction;
