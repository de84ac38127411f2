//! [`Client`]: the value users hold, over either kind of Apinizer credential, and the
//! [`ClientBuilder`] that configures it. The shared skeleton is `auth_http::vendor`; what is
//! here is what Apinizer adds (personal tokens, `verify` and `healthcheck`).

use auth_core::clock::instant_from_system_time;
use auth_core::error::ConfigProblem;
use auth_core::source::StaticToken;
use auth_core::store::StoreKey;
use auth_core::{
    CacheOptions, Error, ErrorKind, Secret, Token, TokenCache, TokenSource, async_trait,
};
use auth_http::HttpClient;
use auth_http::catalog::{Check, Setting, Trouble, Vendor};
use auth_http::endpoint;
use auth_http::env::{EnvLookup, optional_var, required_var};
use auth_http::required_base_url;
use auth_http::vendor::{ClientOptions, VendorClient};
use reqwest::Url;

use crate::VENDOR;
use crate::credentials::{Credentials, Kind};
use crate::wire;

/// The name greeted by [`Client::verify`].
const VERIFY_NAME: &str = "apinizer-auth";

/// An Apinizer Management API client. Issued tokens and personal tokens go through the same
/// calls, so switching between them changes only the [`Credentials`].
///
/// ```no_run
/// use apinizer_auth::{Client, Credentials, Secret};
///
/// # async fn run() -> Result<(), apinizer_auth::Error> {
/// let apinizer = Client::builder()
///     .base_url("https://demo.apinizer.com")
///     .credentials(Credentials::personal(Secret::new("personal-token")))
///     .build()?;
/// apinizer.verify().await?;
/// let projects = apinizer
///     .send(apinizer.reqwest_client().get(apinizer.url("apiops/projects/")?))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    core: VendorClient,
}

/// Exchanges an Apinizer user's name and password for a token.
#[derive(Debug)]
struct Issued {
    http: HttpClient,
    base_url: Url,
    username: String,
    password: Secret,
}

#[async_trait]
impl TokenSource for Issued {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, Error> {
        let request = wire::token_request(&self.base_url, &self.username, &self.password);
        let response = self.http.send(VENDOR, &request).await?;
        wire::parse_token_response(&response)
    }

    /// The Apinizer host and the user.
    fn store_key(&self) -> Option<StoreKey> {
        Some(StoreKey::of(VENDOR, self.base_url.as_str()).part("user", &self.username))
    }

    /// The password: only processes holding it adopt this one's tokens.
    fn store_secret(&self) -> Option<Secret> {
        Some(self.password.clone())
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A valid access token. An issued token is cached and renewed ahead of expiry; a personal
    /// token is returned as it is (an error once its known expiry date has passed).
    ///
    /// ```no_run
    /// # async fn run(client: apinizer_auth::Client) -> Result<(), apinizer_auth::Error> {
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
    /// # async fn run(client: apinizer_auth::Client) -> Result<(), apinizer_auth::Error> {
    /// let token = client.token().await?;
    /// let request = client.reqwest_client().get(client.url("apiops/projects/")?);
    /// let response = request.bearer_auth(token.access_token().expose_secret()).send().await;
    /// if response.is_ok_and(|r| r.status() == 401) {
    ///     client.invalidate(&token); // the next token() asks the vendor again
    /// }
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.core.invalidate(rejected)
    }

    /// Sends `request` with the bearer token. With an issued token, a 401 fetches a new one and
    /// retries once (once more if that token was obtained before the 401 and is refused too);
    /// with a personal token, a 401 is [`ErrorKind::TokenRevoked`] ("expired or
    /// revoked"), never retried.
    ///
    /// ```no_run
    /// # async fn run(client: apinizer_auth::Client) -> Result<(), apinizer_auth::Error> {
    /// let request = client.reqwest_client().get(client.url("apiops/projects/")?);
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
    /// # fn run(client: apinizer_auth::Client) {
    /// use apinizer_auth::reqwest_middleware::ClientBuilder;
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
    /// # async fn run(client: &apinizer_auth::Client, request: apinizer_auth::reqwest::RequestBuilder) -> Result<(), apinizer_auth::Error> {
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

    /// Checks the token cheaply with `GET /apiops/test/hello/{name}`. If that fails for a reason
    /// other than the token, `GET /apiops/test/healthcheck` tells a server that is down (the
    /// health check's error, with a hint) from one that is up (the hello error).
    ///
    /// # Errors
    /// The hello check failed: the token was refused (`Rejected`, `TokenRevoked`), or the server
    /// did not answer (then with a hint saying whether the health check failed too).
    pub async fn verify(&self) -> Result<(), Error> {
        let base = self.core.api_base()?;
        let hello = self
            .core
            .execute(|token| wire::hello_request(base, VERIFY_NAME, token))
            .await
            .and_then(|response| wire::parse_hello_response(&response, VERIFY_NAME));
        match hello {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Rejected { .. }
                        | ErrorKind::TokenRevoked { .. }
                        | ErrorKind::Forbidden { .. }
                        | ErrorKind::Configuration { .. }
                ) =>
            {
                Err(e)
            }
            Err(e) => match self.healthcheck().await {
                Ok(()) => Err(e),
                Err(down) => Err(down.with_hint(
                    "the health check failed too: the Apinizer server is down or unreachable; the token was not judged",
                )),
            },
        }
    }

    /// `GET /apiops/test/healthcheck` (no authentication): whether the server answers `OK`.
    ///
    /// # Errors
    /// The server could not be reached, or did not answer `OK`.
    pub async fn healthcheck(&self) -> Result<(), Error> {
        let request = wire::healthcheck_request(self.core.api_base()?);
        let response = self.core.http_client().send(VENDOR, &request).await?;
        wire::parse_healthcheck_response(&response)
    }

    /// `path` on the console host (resource paths end with `/`, e.g. `apiops/projects/`).
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

/// What the tools that serve every vendor (the `vendor-auth` command line) know of Apinizer.
impl Vendor for Client {
    const NAME: &'static str = VENDOR;
    const TITLE: &'static str = "Apinizer (Management API)";
    const ENV_PREFIX: &'static str = "APINIZER";
    const SETTINGS: &'static [Setting] = &[
        Setting::plain("base_url"),
        Setting::plain("username"),
        Setting::secret("password"),
        Setting::secret("token"),
    ];
    const PASSWORD_KEY: &'static str = "password";
    const URL_KEY: &'static str = "base_url";
    const COMMANDS: &'static [(&'static str, &'static str)] =
        &[("verify", "checks the token with the hello endpoint")];

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

    fn token_url(_vars: &dyn EnvLookup, base: &Url) -> Url {
        endpoint(base, wire::TOKEN_PATH)
    }

    fn hint(trouble: Trouble, _vars: &dyn EnvLookup) -> Option<&'static str> {
        match trouble {
            Trouble::NoTokenEndpoint => Some(
                "the base URL should be the Apinizer Management API console, where the token endpoint is /apiops/auth/token",
            ),
            Trouble::CredentialsRefused => Some(
                "use an Apinizer user name and password; a personal token goes in APINIZER_TOKEN instead",
            ),
            _ => None,
        }
    }

    /// The server's health check, then the hello endpoint with the token.
    async fn checks(&self, _token: &Token, _vars: &(dyn EnvLookup + Sync)) -> Vec<Check> {
        vec![
            match self.healthcheck().await {
                Ok(()) => Check::pass("health check", "the server answers OK"),
                Err(e) => Check::error(
                    "health check",
                    &e,
                    Some("the Apinizer server is down, or the base URL is not its console"),
                ),
            },
            match self.verify().await {
                Ok(()) => Check::pass("hello", "the token works (GET /apiops/test/hello)"),
                Err(e) => Check::error("hello", &e, None),
            },
        ]
    }

    async fn command(&self, name: &str) -> Result<String, Error> {
        match name {
            "verify" => {
                self.verify().await?;
                Ok("the Apinizer token works (GET /apiops/test/hello)".into())
            }
            other => Err(Error::config(
                VENDOR,
                other.to_owned(),
                ConfigProblem::Invalid("not a command of this vendor".into()),
            )),
        }
    }
}

/// Configures a [`Client`]; see [`Client::builder`] and [`ClientBuilder::from_env`].
#[derive(Debug, Default)]
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    credentials: Option<Credentials>,
    options: ClientOptions,
}

impl ClientBuilder {
    /// A builder with the settings found in the environment, to combine with settings in code
    /// (`ClientBuilder::from_env()?.http_client(http).build()`): `APINIZER_BASE_URL`, and either
    /// `APINIZER_TOKEN` (a personal token) or `APINIZER_USERNAME` and `APINIZER_PASSWORD`.
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
        let base_url = required_var(vars, VENDOR, "APINIZER_BASE_URL")?;
        let token = optional_var(vars, "APINIZER_TOKEN");
        let username = optional_var(vars, "APINIZER_USERNAME");
        let credentials = match (token, username) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    VENDOR,
                    "APINIZER_TOKEN",
                    ConfigProblem::Conflict(
                        "set either APINIZER_TOKEN or APINIZER_USERNAME and APINIZER_PASSWORD, not both".into(),
                    ),
                ));
            }
            (Some(token), None) => Credentials::personal(Secret::new(token)),
            (None, Some(username)) => Credentials::issued(
                username,
                Secret::new(required_var(vars, VENDOR, "APINIZER_PASSWORD")?),
            ),
            (None, None) => {
                return Err(Error::config(VENDOR, "APINIZER_TOKEN", ConfigProblem::Missing)
                    .with_hint("set APINIZER_TOKEN (a personal API access token), or APINIZER_USERNAME and APINIZER_PASSWORD"));
            }
        };
        let mut builder = Self::default().base_url(base_url).credentials(credentials);
        builder.options = builder
            .options
            .read_from("base_url", "APINIZER_BASE_URL")
            .read_from("username", "APINIZER_USERNAME")
            .read_from("password", "APINIZER_PASSWORD")
            .read_from("token", "APINIZER_TOKEN");
        Ok(builder)
    }

    /// The Management Console host, e.g. `https://demo.apinizer.com` (API paths live under
    /// `/apiops/`). A trailing slash is fine.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self.options = self.options.set_in_code("base_url");
        self
    }

    /// How to authenticate.
    ///
    /// ```
    /// use apinizer_auth::{Client, Credentials, Secret};
    ///
    /// let client = Client::builder()
    ///     .base_url("https://demo.apinizer.com")
    ///     .credentials(Credentials::issued("admin", Secret::new("password")))
    ///     .build()?;
    /// # Ok::<(), apinizer_auth::Error>(())
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.options = ["username", "password", "token"]
            .into_iter()
            .fold(self.options, ClientOptions::set_in_code);
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
    /// use apinizer_auth::Client;
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
    /// let builder = apinizer_auth::Client::builder().proxy_from_env(false); // always direct
    /// ```
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.options = self.options.proxy_from_env(enabled);
        self
    }

    /// **Dangerous**: accepts any TLS certificate, in the HTTP client this crate builds. Anyone
    /// on the network path can then read the password or token. Prefer
    /// `HttpClientBuilder::add_root_certificates_pem`.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.options = self.options.danger_accept_invalid_certs(accept);
        self
    }

    /// Tunes the token cache (windows, failure memory, deadline, `on_token` hook).
    ///
    /// ```
    /// use std::time::Duration;
    /// use apinizer_auth::{CacheOptions, Client};
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
            credentials,
            options,
        } = self;
        let build = || {
            let base_url = required_base_url(VENDOR, "base_url", base_url.as_deref())?;
            let credentials = credentials
                .ok_or_else(|| Error::config(VENDOR, "credentials", ConfigProblem::Missing))?;
            credentials.validate()?;
            let http = options
                .http_client_for(VENDOR, concat!("apinizer-auth/", env!("CARGO_PKG_VERSION")))?;
            http.check_url(VENDOR, "base_url", &base_url)?;
            let core = match credentials.kind {
                Kind::Issued { username, password } => {
                    let source = Issued {
                        http: http.clone(),
                        base_url: base_url.clone(),
                        username,
                        password,
                    };
                    VendorClient::new(source, http, &options)
                }
                Kind::Personal { token, expires } => {
                    let clock = http.clock().clone();
                    let expires = expires.and_then(|at| instant_from_system_time(&*clock, at));
                    let source = StaticToken::new(VENDOR, token, expires).with_clock(clock);
                    VendorClient::new(source, http, &options)
                }
            };
            Ok(Client {
                core: core
                    .with_api_base_setting("base_url")
                    .with_api_base(base_url),
            })
        };
        build().map_err(|e| options.name_variable(e))
    }
}
