//! The token caches' metrics, through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): install any recorder (Prometheus, OpenTelemetry, StatsD...) and every cache of
//! every vendor crate reports to it, labelled with `vendor`. Nothing is recorded on the path that
//! hands out a cached token; `TokenCache::stats` counts those hits.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | [`TOKEN_FETCHES`] | counter | `vendor` | fetches started (token requests, or waits on the shared store) |
//! | [`TOKENS_FETCHED`] | counter | `vendor` | fetches that produced a token |
//! | [`FETCH_FAILURES`] | counter | `vendor`, `kind` | fetches that failed, by `ErrorKind` (`rejected`, `timeout`, ...) |
//! | [`FETCH_SECONDS`] | histogram | `vendor` | how long each fetch took, failed ones included |
//! | [`GRACE_SERVED`] | counter | `vendor` | calls answered with the cached token after a refresh failed |
//! | [`REJECTIONS_SERVED`] | counter | `vendor` | calls answered with a remembered rejection, without a request |
//! | [`INVALIDATIONS`] | counter | `vendor` | tokens dropped after a 401 |
//! | [`STORE_ADOPTED`] | counter | `vendor` | tokens taken from the shared store instead of fetched |
//! | [`STORE_PUBLISHED`] | counter | `vendor` | tokens fetched and published to the shared store |
//! | [`STORE_ERRORS`] | counter | `vendor` | store calls that failed (the cache then fetched on its own) |
//! | [`REFRESH_FALLBACKS`] | counter | `vendor` | refresh tokens refused, each followed by a password sign-in |
//!
//! ```
//! use auth_core::metrics::{FETCH_FAILURES, TOKEN_FETCHES};
//!
//! assert_eq!(TOKEN_FETCHES, "vendor_auth_token_fetches_total");
//! assert_eq!(FETCH_FAILURES, "vendor_auth_token_fetch_failures_total");
//! ```

/// Counter: fetches started.
pub const TOKEN_FETCHES: &str = "vendor_auth_token_fetches_total";
/// Counter: fetches that produced a token.
pub const TOKENS_FETCHED: &str = "vendor_auth_tokens_fetched_total";
/// Counter: fetches that failed, labelled with the error's `kind`.
pub const FETCH_FAILURES: &str = "vendor_auth_token_fetch_failures_total";
/// Histogram: seconds per fetch.
pub const FETCH_SECONDS: &str = "vendor_auth_token_fetch_seconds";
/// Counter: calls served the cached token after a refresh failed.
pub const GRACE_SERVED: &str = "vendor_auth_grace_served_total";
/// Counter: calls served a remembered rejection.
pub const REJECTIONS_SERVED: &str = "vendor_auth_rejections_served_total";
/// Counter: tokens invalidated after a 401.
pub const INVALIDATIONS: &str = "vendor_auth_invalidations_total";
/// Counter: tokens adopted from the shared store.
pub const STORE_ADOPTED: &str = "vendor_auth_store_adopted_total";
/// Counter: tokens published to the shared store.
pub const STORE_PUBLISHED: &str = "vendor_auth_store_published_total";
/// Counter: failed store calls.
pub const STORE_ERRORS: &str = "vendor_auth_store_errors_total";
/// Counter: refused refresh tokens (each followed by a password sign-in).
pub const REFRESH_FALLBACKS: &str = "vendor_auth_refresh_fallbacks_total";
