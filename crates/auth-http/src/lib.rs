#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The toolkit the vendor crates share, on top of the `auth-core` kernel. Requests and responses
// are values (`request`, `response`, `error_body`), sent by one client (`client`, with `retry`,
// `limit`, `proxy`, `tls` and the URL rules of `url`); `oauth` parses token responses, `scrub`
// keeps secrets out of what servers echo, `env` reads settings, `vendor` is the client skeleton,
// `authorized` and `middleware` carry the token on API calls; `catalog` is what a vendor crate
// tells the tools that serve every vendor alike; `pool` holds many tenants' clients in one
// process.

pub mod authorized;
pub mod catalog;
mod client;
pub mod env;
mod error_body;
mod limit;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub mod middleware;
pub mod oauth;
pub mod pool;
mod proxy;
mod request;
mod response;
mod retry;
pub mod scrub;
mod tls;
mod url;
pub mod vendor;

pub use authorized::AuthorizedCalls;
pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    HttpClient, HttpClientBuilder, RequestLoad, install_crypto_provider,
};
pub use error_body::{EXCERPT_CHARS, ErrorBody};
pub use proxy::{ProxyRoute, ProxySettings};
pub use request::HttpRequest;
pub use reqwest;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use reqwest_middleware;
pub use response::HttpResponse;
pub use retry::RetryPolicy;
pub use url::{check_url, endpoint, is_loopback, parse_base_url, required_base_url};

pub(crate) use client::{read_capped, read_prefix, transport_error};
