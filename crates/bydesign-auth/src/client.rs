//! [`Client`]: the value users hold for one rep or customer, and the [`ClientBuilder`] that
//! configures it. The shared skeleton is `auth_http::vendor`; what is here is what ByDesign adds
//! (single-use refresh tokens, with the password as the fallback).

use auth_core::error::ConfigProblem;
use auth_core::store::StoreKey;
use auth_core::token::TokenBuilder;
use auth_core::{CacheOptions, Error, Secret, Token, TokenCache, TokenSource, async_trait};
use auth_http::HttpClient;
use auth_http::catalog::{Check, Map, Setting, Trouble, Value, Vendor, is_set};
use auth_http::env::{EnvLookup, optional_var, required_var};
use auth_http::vendor::{ClientOptions, VendorClient};
use auth_http::{endpoint, required_base_url};
use reqwest::Url;

use crate::VENDOR;
use crate::credentials::Credentials;
use crate::wire::{self, DEFAULT_TOKEN_PATH};

/// A ByDesign WebAPI client for one rep or customer: a cached token, renewed with the newest
/// single-use refresh token (falling back to the password when a refresh is refused), and
/// requests sent with it.
///
/// ```no_run
/// use bydesign_auth::{Client, Credentials, Secret};
///
/// # async fn run() -> Result<(), bydesign_auth::Error> {
/// let bydesign = Client::builder()
///     .base_url("https://webapi.securefreedom.com/MyCompany")
///     .client_id("MyShoppingCart")
///     .credentials(Credentials::rep("1001", Secret::new("password")))
///     .build()?;
/// let token = bydesign.token().await?;
/// let rep = bydesign
///     .send(bydesign.reqwest_client().get(bydesign.url("api/Rep/1001")?))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    core: VendorClient,
}

#[derive(Debug)]
struct Source {
    http: HttpClient,
    token_url: Url,
    client_id: String,
    credentials: Credentials,
    /// The saved refresh token the credentials started from, until it is spent.
    saved: std::sync::Mutex<Option<Secret>>,
    /// Refresh tokens ByDesign refused (each followed by a password sign-in).
    refused: std::sync::atomic::AtomicU64,
}

impl Source {
    async fn password_grant(&self) -> Result<Token, Error> {
        let request = wire::password_request(&self.token_url, &self.credentials, &self.client_id);
        let response = self.http.send(VENDOR, &request).await?;
        wire::parse_token_response(&response, &self.credentials)
    }
}

#[async_trait]
impl TokenSource for Source {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    /// Spends the newest refresh token if there is one (the cache never runs two fetches at
    /// once, so a single-use token is never spent twice); if that is refused (used, expired, or
    /// a password change), signs in with the password once.
    async fn fetch(&self, previous: Option<&Token>) -> Result<Token, Error> {
        // A saved refresh token is spent once, on the first fetch that has no newer one (and
        // kept for the next fetch if this one never reached ByDesign's answer).
        let mut saved = self
            .saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let newer = previous.and_then(Token::refresh_token);
        if let Some(refresh) = newer.or(saved.as_ref()) {
            let request = wire::refresh_request(&self.token_url, refresh, &self.client_id);
            let outcome = match self.http.send(VENDOR, &request).await {
                Ok(response) => wire::parse_token_response(&response, &self.credentials),
                Err(e) => {
                    if newer.is_none() {
                        *self
                            .saved
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = saved.take();
                    }
                    return Err(e);
                }
            };
            match outcome {
                Ok(token) => return Ok(token),
                Err(e) if e.is_rejected() => {
                    self.refused
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(
                        vendor = VENDOR,
                        code = e.code(),
                        "refresh refused; signing in with the password"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        self.password_grant().await
    }

    /// The token URL, the OAuth client and the rep or customer.
    fn store_key(&self) -> Option<StoreKey> {
        Some(
            StoreKey::of(VENDOR, self.token_url.as_str())
                .part("client", &self.client_id)
                .part("user", &self.credentials.username()),
        )
    }

    fn refused_refreshes(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The password: only processes holding it adopt this one's tokens (and refresh tokens).
    fn store_secret(&self) -> Option<Secret> {
        Some(self.credentials.password.clone())
    }

    fn encode_details(&self, token: &Token) -> Option<serde_json::Value> {
        wire::Session::of(token).map(wire::Session::to_stored)
    }

    /// A stored token of another identity than this client's is not adopted.
    fn decode_details(
        &self,
        token: TokenBuilder,
        details: Option<&serde_json::Value>,
    ) -> Option<TokenBuilder> {
        let session = wire::Session::from_stored(details?, &self.credentials)?;
        Some(token.details(session))
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A valid access token: cached, renewed ahead of expiry, one request for any number of
    /// concurrent callers. Its [`Session`](crate::Session) says who it belongs to.
    ///
    /// ```no_run
    /// # async fn run(client: bydesign_auth::Client) -> Result<(), bydesign_auth::Error> {
    /// let token = client.token().await?; // cached: one request for any number of callers
    /// let bearer = format!("Bearer {}", token.access_token().expose_secret());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The crate's [`Error`](crate::Error): the vendor refused the credentials (`Rejected`,
    /// remembered for a while so that retries cannot lock the account), could not be reached or
    /// was too slow (`Transport`, `Timeout`), asked to slow down (`Throttled`), or answered
    /// something unreadable (`MalformedResponse`).
    pub async fn token(&self) -> Result<Token, Error> {
        self.core.token().await
    }

    /// Drops `rejected` if it is still the cached token (after a 401). Returns whether it was.
    ///
    /// ```no_run
    /// # async fn run(client: bydesign_auth::Client) -> Result<(), bydesign_auth::Error> {
    /// let token = client.token().await?;
    /// let request = client.reqwest_client().get(client.url("api/Rep/1001")?);
    /// let response = request.bearer_auth(token.access_token().expose_secret()).send().await;
    /// if response.is_ok_and(|r| r.status() == 401) {
    ///     client.invalidate(&token); // the next token() asks the vendor again
    /// }
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.core.invalidate(rejected)
    }

    /// Sends `request` with the bearer token. A 401 (after a password change, ByDesign expires
    /// earlier tokens) invalidates the token and retries once with a new one (once more if that
    /// token was obtained before the 401 and is refused too).
    ///
    /// ```no_run
    /// # async fn run(client: bydesign_auth::Client) -> Result<(), bydesign_auth::Error> {
    /// let request = client.reqwest_client().get(client.url("api/Rep/1001")?);
    /// let response = client.error_for_status(client.send(request).await?).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// No token could be had (as [`token`](Self::token)), in which case nothing is sent; the
    /// request could not be built or sent (`Configuration`, `Transport`, `Timeout`); or a refusal
    /// the vendor crate recognizes. Other statuses are returned as responses: see
    /// [`error_for_status`](Self::error_for_status).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.core.send(request).await
    }

    /// A `reqwest-middleware` middleware that puts this client's token on every
    /// request, with [`send`](Self::send)'s rules: plain http only to loopback, nothing sent
    /// without a token, one retry with a new token after a 401.
    ///
    /// ```no_run
    /// # fn run(client: bydesign_auth::Client) {
    /// use bydesign_auth::reqwest_middleware::ClientBuilder;
    ///
    /// let api = ClientBuilder::new(client.reqwest_client().clone())
    ///     .with(client.middleware())
    ///     .build();
    /// # }
    /// ```
    #[cfg(feature = "middleware")]
    #[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
    #[must_use]
    pub fn middleware(&self) -> crate::AuthMiddleware {
        self.core.middleware()
    }

    /// `response` when its status is a success (its body left to read or stream), else the
    /// crate's error for it, with the vendor's error body read (16 KiB at most) and scrubbed:
    ///
    /// ```no_run
    /// # async fn run(client: &bydesign_auth::Client, request: bydesign_auth::reqwest::RequestBuilder) -> Result<(), bydesign_auth::Error> {
    /// let response = client.error_for_status(client.send(request).await?).await?;
    /// let body = response.bytes().await; // or stream it with `chunk()`
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Rejected`](crate::ErrorKind::Rejected) (401), [`Forbidden`](crate::ErrorKind::Forbidden)
    /// (403), [`Throttled`](crate::ErrorKind::Throttled) (429, with `Retry-After`) or
    /// [`UnexpectedStatus`](crate::ErrorKind::UnexpectedStatus) (404 and the rest).
    pub async fn error_for_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, Error> {
        self.core.error_for_status(response).await
    }

    /// Adds `Authorization: Bearer …` to `request` without sending it, for callers who send
    /// requests themselves (then handle a 401 with [`invalidate`](Self::invalidate)).
    ///
    /// # Errors
    /// No token could be had (as [`token`](Self::token)), or the token cannot travel in a header.
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        self.core.authorize(request).await
    }

    /// `path` under the company's base URL (e.g. `api/Rep/1001`).
    ///
    /// # Errors
    /// A configuration error naming the base URL setting when the client has none.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        self.core.url(path)
    }

    /// The `reqwest::Client` tokens are fetched with (share its connection pool).
    #[must_use]
    pub fn reqwest_client(&self) -> &reqwest::Client {
        self.core.reqwest_client()
    }

    /// The token cache (for its [`stats`](TokenCache::stats) and
    /// [`last_error`](TokenCache::last_error)).
    #[must_use]
    pub fn cache(&self) -> &TokenCache {
        self.core.cache()
    }
}

/// What the tools that serve every vendor (the `vendor-auth` command line) know of ByDesign.
impl Vendor for Client {
    const NAME: &'static str = VENDOR;
    const TITLE: &'static str = "ByDesign";
    const ENV_PREFIX: &'static str = "BYDESIGN";
    const SETTINGS: &'static [Setting] = &[
        Setting::plain("base_url"),
        Setting::plain("client_id"),
        Setting::plain("rep_id"),
        Setting::plain("customer_id"),
        Setting::secret("password"),
        Setting::secret("refresh_token"),
        Setting::plain("token_path"),
    ];
    const PASSWORD_KEY: &'static str = "password";
    const URL_KEY: &'static str = "base_url";

    fn from_settings(
        vars: &dyn EnvLookup,
        http: HttpClient,
        cache: CacheOptions,
    ) -> Result<Self, Error> {
        ClientBuilder::from_vars(vars)?
            .http_client(http)
            .cache(cache)
            .build()
    }

    fn core(&self) -> &VendorClient {
        &self.core
    }

    fn details(&self, token: &Token) -> Map<String, Value> {
        let mut details = Map::new();
        if let Some(s) = wire::Session::of(token) {
            details.insert("user_name".into(), Value::from(s.user_name.clone()));
            details.insert("user_type".into(), Value::from(s.user_type.as_str()));
            details.insert("user_type_id".into(), Value::from(s.user_type_id.clone()));
            details.insert("display_name".into(), Value::from(s.display_name.clone()));
            details.insert("rank_type_id".into(), Value::from(s.rank_type_id.clone()));
            details.insert("client_id".into(), Value::from(s.client_id.clone()));
            details.insert("has_reciprocal_id".into(), Value::from(s.has_reciprocal_id));
            details.insert("can_enroll_as_rep".into(), Value::from(s.can_enroll_as_rep));
        }
        details
    }

    fn token_url(vars: &dyn EnvLookup, base: &Url) -> Url {
        let path = vars
            .get("BYDESIGN_TOKEN_PATH")
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_owned());
        endpoint(base, path.trim().trim_start_matches('/'))
    }

    fn hint(trouble: Trouble, vars: &dyn EnvLookup) -> Option<&'static str> {
        match trouble {
            Trouble::NoTokenEndpoint => Some(
                "the base URL should end with the company segment (https://webapi.securefreedom.com/COMPANY); the token path (BYDESIGN_TOKEN_PATH, default /token) comes after it",
            ),
            Trouble::CredentialsRefused if is_set(vars, "BYDESIGN_CUSTOMER_ID") => Some(
                "customers sign in with their customer id (BYDESIGN_CUSTOMER_ID, sent as -->c_ID) and web password; a rep id goes in BYDESIGN_REP_ID instead",
            ),
            Trouble::CredentialsRefused => Some(
                "reps sign in with their rep id (BYDESIGN_REP_ID, sent as -->r_ID) and web password; a customer id goes in BYDESIGN_CUSTOMER_ID instead",
            ),
            _ => None,
        }
    }

    /// Who the token signed in.
    async fn checks(&self, token: &Token, _vars: &(dyn EnvLookup + Sync)) -> Vec<Check> {
        vec![match wire::Session::of(token) {
            Some(session) => Check::pass(
                "user",
                format!(
                    "signed in as {} {}{}",
                    session.user_type.as_str(),
                    session.user_name,
                    session
                        .display_name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ),
            ),
            None => Check::skip("user", "the token response named no user"),
        }]
    }
}

/// Configures a [`Client`]; see [`Client::builder`] and [`ClientBuilder::from_env`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    token_path: String,
    client_id: Option<String>,
    credentials: Option<Credentials>,
    options: ClientOptions,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            token_path: DEFAULT_TOKEN_PATH.to_owned(),
            client_id: None,
            credentials: None,
            options: ClientOptions::default(),
        }
    }
}

impl ClientBuilder {
    /// A builder with the settings found in the environment, to combine with settings in code
    /// (`ClientBuilder::from_env()?.http_client(http).build()`):
    ///
    /// | variable | |
    /// |---|---|
    /// | `BYDESIGN_BASE_URL` | required, with the company segment |
    /// | `BYDESIGN_CLIENT_ID` | required |
    /// | `BYDESIGN_PASSWORD` | required |
    /// | `BYDESIGN_REP_ID` or `BYDESIGN_CUSTOMER_ID` | exactly one |
    /// | `BYDESIGN_TOKEN_PATH` | optional (default `/token`) |
    /// | `BYDESIGN_REFRESH_TOKEN` | optional: a saved refresh token to start from ([`Credentials::with_refresh_token`]) |
    ///
    /// A missing or contradictory variable is a configuration error naming it, and so is a
    /// value that [`build`](Self::build) finds invalid.
    ///
    /// # Errors
    /// A configuration error naming the variable that is missing or contradicts another.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&auth_http::env::process())
    }

    /// Like [`from_env`](Self::from_env), reading variables from `vars`.
    ///
    /// # Errors
    /// A configuration error naming the variable that is missing or contradicts another.
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let base_url = required_var(vars, VENDOR, "BYDESIGN_BASE_URL")?;
        let client_id = required_var(vars, VENDOR, "BYDESIGN_CLIENT_ID")?;
        let rep = optional_var(vars, "BYDESIGN_REP_ID");
        let customer = optional_var(vars, "BYDESIGN_CUSTOMER_ID");
        let password = || required_var(vars, VENDOR, "BYDESIGN_PASSWORD").map(Secret::new);
        let (credentials, id_variable) = match (rep, customer) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    VENDOR,
                    "BYDESIGN_REP_ID",
                    ConfigProblem::Conflict(
                        "set exactly one of BYDESIGN_REP_ID and BYDESIGN_CUSTOMER_ID".into(),
                    ),
                ));
            }
            (Some(id), None) => (Credentials::rep(id, password()?), "BYDESIGN_REP_ID"),
            (None, Some(id)) => (
                Credentials::customer(id, password()?),
                "BYDESIGN_CUSTOMER_ID",
            ),
            (None, None) => {
                return Err(Error::config(
                    VENDOR,
                    "BYDESIGN_REP_ID or BYDESIGN_CUSTOMER_ID",
                    ConfigProblem::Missing,
                ));
            }
        };
        let credentials = match optional_var(vars, "BYDESIGN_REFRESH_TOKEN") {
            Some(saved) => credentials.with_refresh_token(Secret::new(saved)),
            None => credentials,
        };
        let mut builder = Self::default()
            .base_url(base_url)
            .client_id(client_id)
            .credentials(credentials);
        let mut options = std::mem::take(&mut builder.options)
            .read_from("base_url", "BYDESIGN_BASE_URL")
            .read_from("client_id", "BYDESIGN_CLIENT_ID")
            .read_from("id", id_variable)
            .read_from("password", "BYDESIGN_PASSWORD");
        if let Some(path) = optional_var(vars, "BYDESIGN_TOKEN_PATH") {
            builder = builder.token_path(path);
            options = options.read_from("token_path", "BYDESIGN_TOKEN_PATH");
        }
        builder.options = options;
        Ok(builder)
    }

    /// The company's WebAPI base URL, e.g. `https://webapi.securefreedom.com/MyCompany`. Its
    /// path is kept: the token endpoint is `{base}/token`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self.options = self.options.set_in_code("base_url");
        self
    }

    /// The token path under the base URL (default `/token`; some installations use
    /// `/Client/token`).
    pub fn token_path(mut self, path: impl Into<String>) -> Self {
        self.token_path = path.into();
        self.options = self.options.set_in_code("token_path");
        self
    }

    /// The OAuth client id registered with ByDesign (e.g. `ByDesignAngularJSShoppingCart`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self.options = self.options.set_in_code("client_id");
        self
    }

    /// The rep or customer signing in.
    ///
    /// ```
    /// use bydesign_auth::{Client, Credentials, Secret};
    ///
    /// let client = Client::builder()
    ///     .base_url("https://webapi.securefreedom.com/MyCompany").client_id("MyShoppingCart")
    ///     .credentials(Credentials::rep("1001", Secret::new("password")))
    ///     .build()?;
    /// # Ok::<(), bydesign_auth::Error>(())
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.options = self.options.set_in_code("id").set_in_code("password");
        self
    }

    /// Sends through this [`HttpClient`] (your timeouts, retry policy, proxy, roots, clock).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.options = self.options.http_client(http);
        self
    }

    /// Bounds each API call sent with [`Client::send`] to `timeout` (connecting, the response
    /// and its body), unless the request sets its own. None by default: API calls never inherit
    /// the token requests' timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bydesign_auth::Client;
    ///
    /// let builder = Client::builder().api_timeout(Duration::from_secs(120));
    /// ```
    pub fn api_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.options = self.options.api_timeout(timeout);
        self
    }

    /// Speaks only HTTP/1.1, in the HTTP client this crate builds.
    pub fn http1_only(mut self, only: bool) -> Self {
        self.options = self.options.http1_only(only);
        self
    }

    /// Whether the HTTP client this crate builds uses the proxies of the environment:
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, lower-case forms first (default
    /// `true`; loopback hosts are always reached directly). Through a proxy, https requests
    /// travel inside `CONNECT`, and a proxy's password is never shown.
    ///
    /// ```
    /// let builder = bydesign_auth::Client::builder().proxy_from_env(false); // always direct
    /// ```
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.options = self.options.proxy_from_env(enabled);
        self
    }

    /// **Dangerous**: accepts any TLS certificate, in the HTTP client this crate builds. Anyone
    /// on the network path can then read the password. Prefer
    /// `HttpClientBuilder::add_root_certificates_pem`.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.options = self.options.danger_accept_invalid_certs(accept);
        self
    }

    /// Tunes the token cache (windows, failure memory, deadline, and the `on_token` hook: use
    /// it to persist the rotated refresh token).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bydesign_auth::{CacheOptions, Client};
    ///
    /// let builder = Client::builder().cache(
    ///     CacheOptions::default()
    ///         .soft_window(Duration::from_secs(300)) // refresh five minutes ahead
    ///         .on_token(|token| println!("new token, expires {:?}", token.expires_at_system())),
    /// );
    /// ```
    pub fn cache(mut self, options: CacheOptions) -> Self {
        self.options = self.options.cache(options);
        self
    }

    /// Validates the configuration and builds the client. Nothing is sent yet.
    ///
    /// # Errors
    /// A configuration error naming the setting (or the environment variable it came from) that is
    /// missing or invalid: no credentials, a base URL that does not parse or is plain http to a
    /// host that is not loopback, an HTTP client that cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        let Self {
            base_url,
            token_path,
            client_id,
            credentials,
            options,
        } = self;
        let build = || {
            let base_url = required_base_url(VENDOR, "base_url", base_url.as_deref())?;
            let client_id = client_id
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| Error::config(VENDOR, "client_id", ConfigProblem::Missing))?;
            let credentials = credentials
                .ok_or_else(|| Error::config(VENDOR, "credentials", ConfigProblem::Missing))?;
            credentials.validate()?;
            if token_path.contains(['?', '#']) || token_path.trim().is_empty() {
                return Err(Error::config(
                    VENDOR,
                    "token_path",
                    ConfigProblem::Invalid("a path such as /token".into()),
                ));
            }
            let token_url = endpoint(&base_url, &token_path);
            let http = options
                .http_client_for(VENDOR, concat!("bydesign-auth/", env!("CARGO_PKG_VERSION")))?;
            http.check_url(VENDOR, "base_url", &base_url)?;
            let source = Source {
                http: http.clone(),
                token_url,
                client_id,
                saved: std::sync::Mutex::new(credentials.refresh_token.clone()),
                refused: std::sync::atomic::AtomicU64::new(0),
                credentials,
            };
            let core = VendorClient::new(source, http, &options)
                .with_api_base_setting("base_url")
                .with_api_base(base_url);
            Ok(Client { core })
        };
        build().map_err(|e| options.name_variable(e))
    }
}
