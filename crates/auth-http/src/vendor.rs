//! The skeleton every vendor crate shares, written once: [`VendorClient`] (what a vendor
//! `Client` holds and delegates to) and [`ClientOptions`] (the builder options every vendor
//! `ClientBuilder` offers under the same names).
//!
//! A vendor crate adds only what differs: its credentials, its settings, its
//! [`TokenSource`], and its own documented methods, each a one-line call into these.
//!
//! ```
//! use auth_http::vendor::{ClientOptions, VendorClient};
//! use auth_core::Secret;
//! use auth_core::source::StaticToken;
//!
//! let options = ClientOptions::default().http1_only(true);
//! let http = options.http_client_for("example", "example-auth/1.0")?;
//! let base = "https://api.example.com".parse().unwrap();
//! let client = VendorClient::new(StaticToken::new("example", Secret::new("t"), None), http, &options)
//!     .with_api_base(base);
//! assert_eq!(client.url("v1/things")?.as_str(), "https://api.example.com/v1/things");
//! # Ok::<(), auth_core::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;

use reqwest::Url;

use auth_core::cache::{CacheOptions, TokenCache};
use auth_core::error::{ConfigProblem, Error, ErrorKind};
use auth_core::{Token, TokenSource};

use crate::authorized::{Calls, Refusals};
use crate::{HttpClient, HttpRequest, HttpResponse, endpoint};

/// What a vendor `Client` holds: the token cache for one credential, the HTTP client tokens are
/// fetched with, and the base URL API paths are joined to. Cheap to clone.
#[derive(Clone)]
pub struct VendorClient {
    inner: Arc<Inner>,
}

struct Inner {
    cache: TokenCache,
    refusals: Option<Arc<dyn Refusals>>,
    http: HttpClient,
    api_base: Option<Url>,
    api_base_setting: &'static str,
    api_timeout: Option<std::time::Duration>,
}

impl fmt::Debug for VendorClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorClient")
            .field("cache", &self.inner.cache)
            .field("http", &self.inner.http)
            .field("api_base", &self.inner.api_base.as_ref().map(Url::as_str))
            .finish()
    }
}

impl VendorClient {
    /// A client around `source`, whose tokens are fetched through `http`. The cache takes
    /// `http`'s clock and plain-http rule, and the cache options of `options`.
    pub fn new(source: impl TokenSource, http: HttpClient, options: &ClientOptions) -> Self {
        crate::install_crypto_provider();
        let cache = TokenCache::builder(source)
            .clock(http.clock().clone())
            .options(options.cache.clone())
            .build();
        Self {
            inner: Arc::new(Inner {
                cache,
                refusals: None,
                http,
                api_base: None,
                api_base_setting: "api_base_url",
                api_timeout: options.api_timeout,
            }),
        }
    }

    /// The same client, joining API paths to `base` in [`url`](Self::url).
    #[must_use]
    pub fn with_api_base(self, base: Url) -> Self {
        self.map_inner(|inner| inner.api_base = Some(base))
    }

    /// The same client, reading the bodies of refused API calls (401 and 403) with `refusals`
    /// before judging them by their status (P21's missing permissions).
    #[must_use]
    pub fn with_refusals(self, refusals: impl Refusals) -> Self {
        let refusals: Arc<dyn Refusals> = Arc::new(refusals);
        self.map_inner(|inner| inner.refusals = Some(refusals))
    }

    /// The same client, naming `setting` when [`url`](Self::url) is called without a base URL.
    #[must_use]
    pub fn with_api_base_setting(self, setting: &'static str) -> Self {
        self.map_inner(|inner| inner.api_base_setting = setting)
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                cache: shared.cache.clone(),
                refusals: shared.refusals.clone(),
                http: shared.http.clone(),
                api_base: shared.api_base.clone(),
                api_base_setting: shared.api_base_setting,
                api_timeout: shared.api_timeout,
            },
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A valid access token: cached, refreshed ahead of expiry, one request for any number of
    /// concurrent callers.
    ///
    /// # Errors
    /// The source's error (`Rejected`, `Transport`, `Timeout`, `Throttled`,
    /// `MalformedResponse`...), a remembered failure while its wait lasts, `Timeout` past the
    /// fetch deadline, or `Configuration` when called outside a Tokio runtime.
    pub async fn token(&self) -> Result<Token, Error> {
        self.inner.cache.token().await
    }

    /// Drops `rejected` if it is still the cached token (after a 401). Returns whether it was.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.inner.cache.invalidate(rejected)
    }

    /// The authorized calls of this client: its cache, its refusals, its HTTP client's
    /// plain-http rule and its API timeout.
    fn calls(&self) -> Calls<'_> {
        Calls::new(&self.inner.cache)
            .refusals(self.inner.refusals.as_deref())
            .allow_plain_http(self.inner.http.allows_plain_http())
            .timeout(self.inner.api_timeout)
    }

    /// Sends `request` with the bearer token; see
    /// [`AuthorizedCalls::send`](crate::AuthorizedCalls::send). API calls are not
    /// token requests: they get the [`api_timeout`](ClientOptions::api_timeout) (none unless
    /// set) when the request sets none itself, never the token requests' timeout.
    ///
    /// # Errors
    /// No token could be had (nothing is sent), the request could not be built or is plain http to
    /// a host that is not loopback (`Configuration`), or it could not be sent (`Transport`,
    /// `Timeout`); for a source that cannot renew, a 401 is `TokenRevoked`.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.calls().send(request).await
    }

    /// A `reqwest-middleware` middleware with [`send`](Self::send)'s rules and this client's
    /// token and API timeout; see [`AuthMiddleware`](crate::middleware::AuthMiddleware).
    #[cfg(feature = "middleware")]
    #[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
    #[must_use]
    pub fn middleware(&self) -> crate::middleware::AuthMiddleware {
        let middleware = crate::middleware::AuthMiddleware::new(self.inner.cache.clone())
            .with_rules(
                self.inner.refusals.clone(),
                self.inner.http.allows_plain_http(),
            );
        match self.inner.api_timeout {
            Some(timeout) => middleware.api_timeout(timeout),
            None => middleware,
        }
    }

    /// `response` when its status is a success (its body left to read or stream), else the
    /// crate's error for it; see
    /// [`AuthorizedCalls::error_for_status`](crate::AuthorizedCalls::error_for_status).
    ///
    /// # Errors
    /// `Rejected` (401), `Forbidden` (403), `Throttled` (429, with `Retry-After`) or
    /// `UnexpectedStatus` (404 and the rest), with the vendor's error body read and scrubbed.
    pub async fn error_for_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, Error> {
        self.calls().error_for_status(response).await
    }

    /// Adds `Authorization: Bearer …` (marked sensitive) to `request` without sending it, for
    /// callers who send requests themselves; they handle a 401 with
    /// [`invalidate`](Self::invalidate).
    ///
    /// # Errors
    /// No token could be had, or the token cannot travel in a header.
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let token = self.token().await?;
        Ok(request.header(
            reqwest::header::AUTHORIZATION,
            token
                .authorization_value()
                .map_err(|e| e.for_vendor(self.vendor()))?,
        ))
    }

    /// Sends the request `build` makes for a token through the HTTP client, with the 401
    /// handling of [`AuthorizedCalls::execute`](crate::AuthorizedCalls::execute).
    ///
    /// # Errors
    /// No token could be had, or the request could not be sent (`Transport`, `Timeout`), or the
    /// source recognized a refusal.
    pub async fn execute(
        &self,
        build: impl Fn(&Token) -> HttpRequest,
    ) -> Result<HttpResponse, Error> {
        self.calls().execute(&self.inner.http, build).await
    }

    /// `path` under the API base URL. A configuration error naming the base URL setting if the
    /// client has none.
    ///
    /// # Errors
    /// A configuration error naming the base URL setting when the client has none.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        self.api_base().map(|base| endpoint(base, path))
    }

    /// The API base URL, or a configuration error naming its setting if the client has none.
    ///
    /// # Errors
    /// A configuration error naming the base URL setting when the client has none.
    pub fn api_base(&self) -> Result<&Url, Error> {
        self.inner.api_base.as_ref().ok_or_else(|| {
            Error::config(
                self.vendor(),
                self.inner.api_base_setting,
                ConfigProblem::Missing,
            )
        })
    }

    /// The vendor's name in errors and logs.
    #[must_use]
    pub fn vendor(&self) -> &'static str {
        self.inner.cache.vendor()
    }

    /// The `reqwest::Client` tokens are fetched with; send API requests through it to share the
    /// connection pool.
    #[must_use]
    pub fn reqwest_client(&self) -> &reqwest::Client {
        self.inner.http.reqwest_client()
    }

    /// The HTTP client tokens are fetched with.
    #[must_use]
    pub fn http_client(&self) -> &HttpClient {
        &self.inner.http
    }

    /// The token cache (its [`stats`](TokenCache::stats) and
    /// [`last_error`](TokenCache::last_error)).
    #[must_use]
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }
}

/// The options every vendor `ClientBuilder` offers, under the same names: the HTTP client (or
/// two settings for the one the crate builds), the cache options, and where each setting came
/// from, so that an error about a value read from the environment names its variable.
#[derive(Clone, Default)]
#[must_use]
pub struct ClientOptions {
    http: Option<HttpClient>,
    api_timeout: Option<std::time::Duration>,
    http1_only: bool,
    accept_invalid_certs: bool,
    no_env_proxy: bool,
    cache: CacheOptions,
    variables: Vec<(&'static str, &'static str)>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("http", &self.http)
            .field("http1_only", &self.http1_only)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("no_env_proxy", &self.no_env_proxy)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Sends through `http` (your timeouts, retry policy, proxy, roots, clock).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Bounds each API call sent with `send` (connecting, the response and its body) to
    /// `timeout`, unless the request sets its own. None by default: a slow export is not a slow
    /// token request, whose timeout is the HTTP client's.
    pub fn api_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api_timeout = Some(timeout);
        self
    }

    /// Speaks only HTTP/1.1, in the HTTP client the crate builds.
    pub fn http1_only(mut self, only: bool) -> Self {
        self.http1_only = only;
        self
    }

    /// **Dangerous**: accepts any TLS certificate, in the HTTP client the crate builds.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Whether the HTTP client the crate builds uses the proxies of the environment
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`; default `true`).
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.no_env_proxy = !enabled;
        self
    }

    /// The token cache's options.
    pub fn cache(mut self, options: CacheOptions) -> Self {
        self.cache = options;
        self
    }

    /// Records that `setting` was read from environment variable `variable`.
    pub fn read_from(mut self, setting: &'static str, variable: &'static str) -> Self {
        self.variables.retain(|(s, _)| *s != setting);
        self.variables.push((setting, variable));
        self
    }

    /// Records that `setting` was set in code (it no longer comes from the environment).
    pub fn set_in_code(mut self, setting: &'static str) -> Self {
        self.variables.retain(|(s, _)| *s != setting);
        self
    }

    /// `err` with the setting it names replaced by the environment variable the value came
    /// from, if it came from one.
    #[must_use]
    pub fn name_variable(&self, err: Error) -> Error {
        let ErrorKind::Configuration { setting, .. } = err.kind() else {
            return err;
        };
        match self.variables.iter().find(|(s, _)| s == setting) {
            Some((_, variable)) => err.with_setting(variable),
            None => err,
        }
    }

    /// The HTTP client to fetch tokens with: the one given, or a new one with these options and
    /// `user_agent`. Errors are said of `vendor`; [`http1_only`](Self::http1_only) or
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs) together with a given
    /// client is a conflict (set them on its builder instead), and so is
    /// [`proxy_from_env(false)`](Self::proxy_from_env).
    ///
    /// # Errors
    /// A conflict when a client was given together with `http1_only` or
    /// `danger_accept_invalid_certs`, or the HTTP client cannot be built.
    pub fn http_client_for(
        &self,
        vendor: &'static str,
        user_agent: &str,
    ) -> Result<HttpClient, Error> {
        match &self.http {
            Some(_) if self.http1_only || self.accept_invalid_certs || self.no_env_proxy => Err(Error::config(
                vendor,
                "http_client",
                ConfigProblem::Conflict(
                    "http1_only, danger_accept_invalid_certs and proxy_from_env apply to the HTTP client the crate builds; set them on your HttpClientBuilder".into(),
                ),
            )),
            Some(http) => Ok(http.clone()),
            None => HttpClient::builder()
                .http1_only(self.http1_only)
                .danger_accept_invalid_certs(self.accept_invalid_certs)
                .proxy_from_env(!self.no_env_proxy)
                .user_agent(user_agent)
                .build()
                .map_err(|e| e.for_vendor(vendor)),
        }
    }
}

/// A fingerprint of a high-entropy secret (an API key, a consumer key) for a store key's
/// principal, where the credential has no public identity: the first 128 bits of a
/// domain-separated SHA-256, as hex. The secret cannot be recovered from it, but a guessable
/// secret (a password) could be confirmed by guessing, so never fingerprint a password: use the
/// user name.
///
/// ```
/// use auth_core::Secret;
///
/// let fp = auth_http::vendor::fingerprint(&Secret::new("7c1d7e3a-consumer-key"));
/// assert_eq!(fp.len(), 32);
/// assert!(!fp.contains("consumer"));
/// ```
#[must_use]
pub fn fingerprint(secret: &auth_core::Secret) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"vendor-auth store key fingerprint\0");
    context.update(secret.expose_secret().as_bytes());
    context.finish().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
