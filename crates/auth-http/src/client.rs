//! [`HttpClient`]: the transport every vendor crate sends through, with its retry loop, deadline,
//! same-origin redirects and capped body reads.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Url, header};

use crate::limit::RequestLimit;
use crate::proxy::{ProxyRoute, ProxySettings};
use crate::{HttpRequest, HttpResponse, RetryPolicy, check_url, tls};
use auth_core::clock::{Clock, SystemClock};
use auth_core::error::{ConfigProblem, Error, ErrorKind, is_transient_code, is_transient_status};
use auth_core::secret::{REDACTED, Secret};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout for one attempt of a request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline of one [`HttpClient::send`], across its attempts and waits.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// Default cap on a response body: 64 KiB. Token responses are a few hundred bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The HTTP client every vendor crate sends through.
///
/// Cheap to clone. Built with [`HttpClient::builder`]; the defaults are safe: https only (plain
/// http to loopback hosts only), 10 s connect and 30 s request timeouts, bodies capped at
/// 64 KiB, three attempts for transient failures, redirects followed only within the same origin.
///
/// ```
/// use std::time::Duration;
/// use auth_http::HttpClient;
///
/// let http = HttpClient::builder()
///     .timeout(Duration::from_secs(10))
///     .max_response_bytes(16 * 1024)
///     .build()?;
/// http.check_url("example", "TOKEN_URL", &"https://auth.example.com/token".parse().unwrap())?;
/// assert!(http.check_url("example", "TOKEN_URL", &"http://auth.example.com/token".parse().unwrap()).is_err());
/// # Ok::<(), auth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<HttpInner>,
}

#[derive(Clone)]
struct HttpInner {
    client: reqwest::Client,
    timeout: Duration,
    deadline: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    allow_plain_http: bool,
    clock: Arc<dyn Clock>,
    limit: Option<Arc<RequestLimit>>,
    proxies: ProxySettings,
    proxy_in_code: bool,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.inner.timeout)
            .field("deadline", &self.inner.deadline)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .field("retry", &self.inner.retry)
            .field("allow_plain_http", &self.inner.allow_plain_http)
            .field("max_requests_in_flight", &self.max_requests_in_flight())
            .field("proxies", &self.inner.proxies)
            .finish_non_exhaustive()
    }
}

/// The requests an [`HttpClient`] with a cap has in flight; see [`HttpClient::request_load`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLoad {
    /// Requests being sent now.
    pub in_flight: usize,
    /// Requests waiting for a place under the cap.
    pub waiting: usize,
    /// The most requests ever in flight at once.
    pub peak_in_flight: usize,
}

/// Builds an [`HttpClient`]; see [`HttpClient::builder`].
///
/// There is deliberately no way to hand in a `reqwest::Client` built elsewhere: its redirect
/// policy would decide where a token request body goes, and a `307` to another origin would
/// carry the password there. What such a client is usually built for is here instead: a
/// [`proxy`](Self::proxy), extra [root certificates](Self::add_root_certificates_pem), a client
/// [identity](Self::identity_pem) for mutual TLS, and the choice of the
/// [platform verifier](Self::platform_verifier).
#[must_use]
pub struct HttpClientBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    deadline: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    allow_plain_http: bool,
    accept_invalid_certs: bool,
    http1_only: bool,
    user_agent: Option<String>,
    proxies: Vec<reqwest::Proxy>,
    root_certificates: Vec<Vec<u8>>,
    platform_verifier: bool,
    identity: Option<Secret>,
    clock: Arc<dyn Clock>,
    max_requests_in_flight: Option<usize>,
    proxy_from_env: bool,
    proxy_settings: Option<ProxySettings>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("http1_only", &self.http1_only)
            .field("proxies", &self.proxies.len())
            .field("proxy_from_env", &self.proxy_from_env)
            .field("proxy_settings", &self.proxy_settings)
            .field("root_certificates", &self.root_certificates.len())
            .field("platform_verifier", &self.platform_verifier)
            .field("identity", &self.identity.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            allow_plain_http: false,
            accept_invalid_certs: false,
            http1_only: false,
            user_agent: None,
            proxies: Vec::new(),
            root_certificates: Vec::new(),
            platform_verifier: true,
            identity: None,
            clock: Arc::new(SystemClock),
            max_requests_in_flight: None,
            proxy_from_env: true,
            proxy_settings: None,
        }
    }
}

impl HttpClientBuilder {
    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for one attempt, response body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest one [`send`](HttpClient::send) takes, across its attempts, backoff and
    /// `Retry-After` waits (default 30 s). An attempt is cut short to fit, and a wait that would
    /// end past it is not started: the last outcome is returned instead.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Cap on a response body (default 64 KiB); a larger body fails without being buffered.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// How transient failures are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends through a proxy (`reqwest::Proxy::https("http://proxy:3128")`, with
    /// `basic_auth` if it needs it). Call it again for more proxies; the first that matches a
    /// request's URL is used, before those of the environment.
    pub fn proxy(mut self, proxy: reqwest::Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Whether the proxies of the environment are used: `HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY`, and their lower-case forms (default `true`; see
    /// [`ProxySettings`] for how they are read). `false` sends every request directly, unless a
    /// [`proxy`](Self::proxy) is set in code.
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy_from_env = enabled;
        self
    }

    /// Uses `settings` instead of reading the process environment at [`build`](Self::build)
    /// (`ProxySettings::from_vars` in tests, or settings read once for many clients).
    pub fn proxy_settings(mut self, settings: ProxySettings) -> Self {
        self.proxy_settings = Some(settings);
        self
    }

    /// Trusts the certificates in `pem` (one or more `-----BEGIN CERTIFICATE-----` blocks) as
    /// roots, for a private CA or a test tenant's self-signed certificate, in addition to the
    /// platform's roots (or instead of them, with [`platform_verifier(false)`](Self::platform_verifier)).
    /// A PEM that does not parse fails [`build`](Self::build).
    ///
    /// Prefer this to [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs): it
    /// trusts one certificate, not every certificate.
    pub fn add_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Verifies server certificates with the platform's verifier and trust store (the default:
    /// the operating system's certificate store and revocation checks, through
    /// `rustls-platform-verifier` or the native TLS library). With `false`, only the roots added
    /// with [`add_root_certificates_pem`](Self::add_root_certificates_pem) are trusted.
    pub fn platform_verifier(mut self, enabled: bool) -> Self {
        self.platform_verifier = enabled;
        self
    }

    /// Presents a client certificate (mutual TLS): `pem` holds the certificate chain and its
    /// PKCS #8 private key as PEM blocks. It is kept as a [`Secret`]; a PEM that does not parse
    /// fails [`build`](Self::build) without quoting it.
    pub fn identity_pem(mut self, pem: Secret) -> Self {
        self.identity = Some(pem);
        self
    }

    /// **Dangerous**: allows plain `http://` to any host, not only loopback. Credentials and
    /// tokens then cross the network unencrypted. For lab networks that terminate TLS elsewhere.
    pub fn danger_allow_plain_http_to_any_host(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// **Dangerous**: accepts any server certificate, self-signed or forged. For test servers
    /// only; an attacker on the path can then read every credential sent.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Speaks only HTTP/1.1 (for servers whose HTTP/2 support is broken).
    pub fn http1_only(mut self, only: bool) -> Self {
        self.http1_only = only;
        self
    }

    /// The `User-Agent` sent (default `auth-core/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// The clock used for backoff sleeps, the deadline and `Retry-After` dates (default: the
    /// real one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// At most `max` requests of this client in flight at once (at least 1; no cap by default).
    /// Each attempt holds its place while it runs, not while it backs off; requests beyond the
    /// cap wait their turn, first come first served, within their deadline. A
    /// [`Pool`](crate::pool::Pool) caps its tenants' token requests this way.
    pub fn max_requests_in_flight(mut self, max: usize) -> Self {
        self.max_requests_in_flight = Some(max);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// A configuration error if a root certificate or the identity does not parse, if TLS
    /// settings were given to a build without a TLS feature, if the TLS backend cannot be
    /// set up, or if a proxy variable of the environment is not a proxy URL (named, not quoted).
    pub fn build(self) -> Result<HttpClient, Error> {
        install_crypto_provider();
        let agent = self
            .user_agent
            .unwrap_or_else(|| concat!("auth-http/", env!("CARGO_PKG_VERSION")).to_owned());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(agent)
            .redirect(same_origin_redirects())
            .no_proxy();
        let proxy_in_code = !self.proxies.is_empty();
        for proxy in self.proxies {
            builder = builder.proxy(proxy);
        }
        let proxies = match (self.proxy_from_env, self.proxy_settings) {
            (false, _) => ProxySettings::none(),
            (true, Some(settings)) => settings,
            (true, None) => ProxySettings::from_env()?,
        };
        if let Some(proxy) = proxies.to_reqwest() {
            builder = builder.proxy(proxy);
        }
        builder = tls::configure(
            builder,
            &self.root_certificates,
            self.platform_verifier,
            self.identity.as_ref(),
            self.accept_invalid_certs,
        )?;
        if self.http1_only {
            builder = builder.http1_only();
        }
        let client = builder.build().map_err(|e| {
            Error::unattributed(ErrorKind::config(
                "http client",
                ConfigProblem::Invalid("the HTTP client could not be built".into()),
            ))
            .with_source(e.without_url())
        })?;
        Ok(HttpClient {
            inner: Arc::new(HttpInner {
                client,
                timeout: self.timeout,
                deadline: self.deadline,
                max_response_bytes: self.max_response_bytes,
                retry: self.retry,
                allow_plain_http: self.allow_plain_http,
                clock: self.clock,
                limit: self
                    .max_requests_in_flight
                    .map(|max| Arc::new(RequestLimit::new(max))),
                proxies,
                proxy_in_code,
            }),
        })
    }
}

/// Installs ring as the process's rustls crypto provider, unless one is installed already (a
/// provider the application installed first is left in place). Idempotent and cheap.
///
/// With the default `rustls-ring` feature, reqwest is built without a provider of its own, and
/// `reqwest::Client::new()` panics until one is installed. Every builder in this workspace calls
/// this, so clients built after any of ours just work. If you build your own `reqwest::Client`
/// first, call this before. Without the `rustls-ring` feature it does nothing.
///
/// ```
/// auth_http::install_crypto_provider();
/// let client = reqwest::Client::new();
/// # drop(client);
/// ```
pub fn install_crypto_provider() {
    #[cfg(feature = "rustls-ring")]
    {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    }
}

/// Follows at most five redirects, and only within the origin (scheme, host, port) of the first
/// request, so that neither a bearer token nor a token request body goes anywhere unexpected.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

impl HttpClient {
    /// Starts a builder with the safe defaults.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// A client with the defaults.
    ///
    /// # Errors
    /// A configuration error if the HTTP client cannot be built (the TLS backend cannot be set
    /// up).
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// The underlying `reqwest::Client` (for sending API requests through the same pool).
    #[must_use]
    pub fn reqwest_client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// Whether plain http to any host was allowed with
    /// [`danger_allow_plain_http_to_any_host`](HttpClientBuilder::danger_allow_plain_http_to_any_host).
    #[must_use]
    pub fn allows_plain_http(&self) -> bool {
        self.inner.allow_plain_http
    }

    /// The same client (the same connections, TLS and settings) with its own cap of `max`
    /// requests in flight; see [`max_requests_in_flight`](HttpClientBuilder::max_requests_in_flight).
    ///
    /// ```
    /// let http = auth_http::HttpClient::new()?;
    /// let capped = http.with_max_requests_in_flight(8);
    /// assert_eq!(capped.max_requests_in_flight(), Some(8));
    /// assert_eq!(http.max_requests_in_flight(), None);
    /// # Ok::<(), auth_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_max_requests_in_flight(&self, max: usize) -> Self {
        Self {
            inner: Arc::new(HttpInner {
                limit: Some(Arc::new(RequestLimit::new(max))),
                ..HttpInner::clone(&self.inner)
            }),
        }
    }

    /// The proxy of the environment a request to `url` goes through, without its credentials
    /// (`None`: directly, or through a proxy set in code, see
    /// [`has_proxy_in_code`](Self::has_proxy_in_code)).
    #[must_use]
    pub fn proxy_route(&self, url: &Url) -> Option<ProxyRoute> {
        self.inner.proxies.route(url)
    }

    /// Whether a [`proxy`](HttpClientBuilder::proxy) was set in code (it comes before those of
    /// the environment).
    #[must_use]
    pub fn has_proxy_in_code(&self) -> bool {
        self.inner.proxy_in_code
    }

    /// The cap on requests in flight, if one was set.
    #[must_use]
    pub fn max_requests_in_flight(&self) -> Option<usize> {
        self.inner.limit.as_ref().map(|limit| limit.max())
    }

    /// The requests in flight now, those waiting for a place under the cap, and the most ever
    /// in flight at once (all 0 without a cap).
    #[must_use]
    pub fn request_load(&self) -> RequestLoad {
        self.inner
            .limit
            .as_ref()
            .map_or_else(RequestLoad::default, |limit| RequestLoad {
                in_flight: limit.in_flight(),
                waiting: limit.waiting(),
                peak_in_flight: limit.peak(),
            })
    }

    /// The clock this client uses.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Checks that `url` may carry credentials: `https`, or `http` to a loopback host (or to any
    /// host when [`danger_allow_plain_http_to_any_host`](HttpClientBuilder::danger_allow_plain_http_to_any_host)
    /// is set). `setting` names where the URL came from, for the error.
    ///
    /// # Errors
    /// A configuration error naming `setting` for a URL that is not http(s), or plain http to a
    /// host that is not loopback (unless allowed).
    pub fn check_url(&self, vendor: &'static str, setting: &str, url: &Url) -> Result<(), Error> {
        check_url(vendor, setting, url, self.inner.allow_plain_http)
    }

    /// Sends `request`, retrying transient failures per the [`RetryPolicy`], and reads the body
    /// within the size cap. Any final response is returned, success or not; the vendor crate maps
    /// a failure status with [`HttpResponse::to_error`] and its own rules.
    ///
    /// # Errors
    /// `Transport` or `Timeout` after the retry policy gave up or the deadline passed,
    /// `MalformedResponse` for a body over the size cap, `Configuration` for a URL the client
    /// refuses. A failure status is not an error here: it is in the response.
    pub async fn send(
        &self,
        vendor: &'static str,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Error> {
        self.check_url(vendor, "request URL", request.url())?;
        request.check(vendor)?;
        let clock = &self.inner.clock;
        let mut now = clock.now();
        let deadline = auth_core::clock::later(now, self.inner.deadline);
        let retry = &self.inner.retry;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(now);
            if remaining.is_zero() {
                return Err(deadline_passed(vendor, self.inner.deadline));
            }
            let permit = match &self.inner.limit {
                Some(limit) => match limit.acquire(remaining).await {
                    Some(permit) => Some(permit),
                    None => return Err(deadline_passed(vendor, self.inner.deadline)),
                },
                None => None,
            };
            let remaining = deadline.saturating_duration_since(clock.now());
            let outcome = self
                .send_once(vendor, request, now, self.inner.timeout.min(remaining))
                .await;
            drop(permit);
            let wait = match &outcome {
                _ if attempt >= retry.attempts() => None,
                Ok(resp) => self.retry_wait(resp, attempt),
                Err(err) if err.is_retryable() => Some(retry.backoff(attempt)),
                Err(_) => None,
            };
            let Some(wait) = wait else {
                return outcome;
            };
            if wait >= deadline.saturating_duration_since(clock.now()) {
                tracing::debug!(
                    vendor,
                    attempt,
                    "transient failure; no time left before the deadline to retry"
                );
                return outcome;
            }
            tracing::debug!(
                vendor,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "transient failure, retrying"
            );
            clock.sleep(wait).await;
            attempt += 1;
            now = clock.now();
        }
    }

    /// How long to wait before retrying after `resp`, or `None` if it is final.
    fn retry_wait(&self, resp: &HttpResponse, attempt: u32) -> Option<Duration> {
        let transient = is_transient_status(resp.status())
            || (resp.status() == 400
                && resp
                    .error_body()
                    .code
                    .as_deref()
                    .is_some_and(is_transient_code));
        if !transient {
            return None;
        }
        let retry = &self.inner.retry;
        match resp.retry_after() {
            Some(wait) if wait > retry.retry_after_limit() => None,
            Some(wait) => Some(wait),
            None => Some(retry.backoff(attempt)),
        }
    }

    async fn send_once(
        &self,
        vendor: &'static str,
        request: &HttpRequest,
        now: Instant,
        timeout: Duration,
    ) -> Result<HttpResponse, Error> {
        let sent = (now, self.inner.clock.system_now());
        // One timer for the whole attempt, body included.
        let attempt = async {
            let response = self
                .inner
                .client
                .request(request.method().clone(), request.url().clone())
                .headers(request.headers().clone())
                .body(request.body().to_vec())
                .send()
                .await
                .map_err(|e| transport_error(vendor, e))?;
            let status = response.status().as_u16();
            let (headers, body) =
                read_capped(vendor, response, self.inner.max_response_bytes).await?;
            Ok(HttpResponse::received(
                status,
                headers,
                body,
                sent,
                request.secrets().clone(),
            ))
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(attempt_timed_out(vendor, timeout)))
    }
}

fn attempt_timed_out(vendor: &'static str, timeout: Duration) -> Error {
    Error::timeout(vendor).with_source(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "no complete response within the {} ms timeout",
            timeout.as_millis()
        ),
    ))
}

fn deadline_passed(vendor: &'static str, deadline: Duration) -> Error {
    Error::timeout(vendor).with_source(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the {} ms deadline passed", deadline.as_millis()),
    ))
}

/// Maps a reqwest error to a transport or timeout error, without the URL.
pub(crate) fn transport_error(vendor: &'static str, e: reqwest::Error) -> Error {
    let err = if e.is_timeout() {
        Error::timeout(vendor)
    } else {
        Error::transport(vendor)
    };
    err.with_source(e.without_url())
}

/// Takes a response's headers and reads its body chunk by chunk, failing as soon as it passes
/// `max` bytes (or at once when `Content-Length` already says so). Nothing past the cap is
/// buffered.
pub(crate) async fn read_capped(
    vendor: &'static str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<(header::HeaderMap, Vec<u8>), Error> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let too_large = || {
        Error::malformed(
            vendor,
            format!("response body larger than the {max}-byte limit"),
            content_type.as_deref(),
        )
    };
    let expected = response.content_length();
    if expected.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(vendor, e))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        if body.is_empty() {
            body = chunk.into(); // often the whole body: taken over, not copied
        } else {
            body.extend_from_slice(&chunk);
        }
    }
    Ok((headers, body))
}

/// Reads at most `max` bytes of a response body and drops the rest (for refusals, whose start
/// is all that is needed).
pub(crate) async fn read_prefix(
    vendor: &'static str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(vendor, e))?
    {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == max {
            break;
        }
    }
    Ok(body)
}
