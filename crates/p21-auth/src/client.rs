//! [`Client`]: the value users hold, and the [`ClientBuilder`] that configures it. The shared
//! skeleton is `auth_http::vendor`; what is here is what P21 adds.

use auth_core::error::ConfigProblem;
use auth_core::store::StoreKey;
use auth_core::token::TokenBuilder;
use auth_core::{
    CacheOptions, Error, ErrorKind, Secret, Token, TokenCache, TokenSource, async_trait,
};
use auth_http::HttpClient;
use auth_http::authorized::Refusals;
use auth_http::catalog::{Check, Map, Setting, Trouble, Value, Vendor, is_set};
use auth_http::env::{EnvLookup, optional_var, required_var};
use auth_http::vendor::{ClientOptions, VendorClient};
use auth_http::{HttpResponse, endpoint, required_base_url};
use reqwest::Url;

use crate::VENDOR;
use crate::credentials::Credentials;
use crate::wire;

/// A P21 client: hands out a cached, refreshed token and sends authorized requests.
///
/// Each token request opens a new P21 middleware session and may invalidate older tokens, so
/// build **one `Client` per credential** and share it (it is cheap to clone); never request a
/// token per API call. Everything else (caching, refreshing ahead of expiry, single flight,
/// retries) is handled for you.
///
/// ```no_run
/// use p21_auth::{Client, Credentials, Secret};
///
/// # async fn run() -> Result<(), p21_auth::Error> {
/// let p21 = Client::builder()
///     .base_url("https://mytenant-api.epicordistribution.com")
///     .credentials(Credentials::user("api_user", Secret::new("password")))
///     .build()?;
/// let response = p21
///     .send(p21.reqwest_client().get(p21.url("odataservice/odata/table/supplier")?))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    core: VendorClient,
}

/// Fetches P21 tokens for one set of credentials.
#[derive(Debug)]
struct Source {
    http: HttpClient,
    base_url: Url,
    credentials: Credentials,
}

#[async_trait]
impl TokenSource for Source {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, Error> {
        // P21 has no refresh grant: a new token means authenticating again.
        let request = wire::token_request(&self.base_url, &self.credentials);
        let response = self.http.send(VENDOR, &request).await?;
        wire::parse_token_response(&response)
    }

    /// The API host and the user (or the consumer key's fingerprint, and its user).
    fn store_key(&self) -> Option<StoreKey> {
        Some(
            self.credentials
                .identify(StoreKey::of(VENDOR, self.base_url.as_str())),
        )
    }

    /// The password (or consumer key): only processes holding it adopt this one's tokens.
    fn store_secret(&self) -> Option<Secret> {
        Some(self.credentials.secret().clone())
    }

    fn encode_details(&self, token: &Token) -> Option<serde_json::Value> {
        wire::Session::of(token).map(wire::Session::to_stored)
    }

    fn decode_details(
        &self,
        token: TokenBuilder,
        details: Option<&serde_json::Value>,
    ) -> Option<TokenBuilder> {
        let session = details.map_or(Some(wire::Session::default()), wire::Session::from_stored)?;
        Some(token.details(session))
    }

    /// Every token request closes the credential's previous P21 session.
    fn session_exclusive(&self) -> bool {
        true
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A valid access token: cached, refreshed ahead of expiry, one request for any number of
    /// concurrent callers.
    ///
    /// ```no_run
    /// # async fn run(client: p21_auth::Client) -> Result<(), p21_auth::Error> {
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

    /// Drops `rejected` if it is still the cached token (after a 401), so that the next call
    /// authenticates again. Returns whether it was dropped.
    ///
    /// ```no_run
    /// # async fn run(client: p21_auth::Client) -> Result<(), p21_auth::Error> {
    /// let token = client.token().await?;
    /// let request = client.reqwest_client().get(client.url("odataservice/odata/table/supplier")?);
    /// let response = request.bearer_auth(token.access_token().expose_secret()).send().await;
    /// if response.is_ok_and(|r| r.status() == 401) {
    ///     client.invalidate(&token); // the next token() asks the vendor again
    /// }
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.core.invalidate(rejected)
    }

    /// Sends `request` with the bearer token; on a 401 re-authenticates and retries once (once
    /// more if the retry's token, adopted from another process, was obtained before the 401 and
    /// is refused too: P21 closing every session ends it as well). If no token can be had,
    /// nothing is sent. A refusal saying "You are not authorized to access
    /// API" (401 or 403) is a missing permission, not a bad token: it is returned as
    /// [`ErrorKind::Forbidden`](crate::ErrorKind::Forbidden) with the permissions hint, and no
    /// new P21 session is opened for it.
    ///
    /// ```no_run
    /// # async fn run(client: p21_auth::Client) -> Result<(), p21_auth::Error> {
    /// let request = client.reqwest_client().get(client.url("odataservice/odata/table/supplier")?);
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
    /// # fn run(client: p21_auth::Client) {
    /// use p21_auth::reqwest_middleware::ClientBuilder;
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
    /// # async fn run(client: &p21_auth::Client, request: p21_auth::reqwest::RequestBuilder) -> Result<(), p21_auth::Error> {
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

    /// The UI server URL for the Interactive and Transaction APIs
    /// (`GET /api/ui/router/v1?urlType=external`), without a trailing slash. Same-origin
    /// redirects are followed with the token kept.
    ///
    /// # Errors
    /// No token could be had, the router could not be reached, or its answer holds no usable URL
    /// (`MalformedResponse`).
    pub async fn ui_server_url(&self) -> Result<Url, Error> {
        let base = self.core.api_base()?;
        let response = self
            .core
            .execute(|token| wire::ui_server_request(base, token))
            .await?;
        wire::parse_ui_server_response(&response, self.core.http_client().allows_plain_http())
    }

    /// `path` on the P21 API host (e.g. `odataservice/odata/table/supplier`).
    ///
    /// # Errors
    /// A configuration error naming the base URL setting when the client has none.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        self.core.url(path)
    }

    /// The `reqwest::Client` tokens are fetched with; send API requests through it to share the
    /// connection pool.
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
    /// (`ClientBuilder::from_env()?.http_client(http).build()`):
    ///
    /// | variable | |
    /// |---|---|
    /// | `P21_BASE_URL` | required: the P21 API host |
    /// | `P21_CONSUMER_KEY` | if set, the consumer-key flow |
    /// | `P21_USERNAME` | required for user credentials; optional with a consumer key |
    /// | `P21_PASSWORD` | required for user credentials; a conflict with a consumer key |
    ///
    /// A missing or contradictory variable is a configuration error naming it, and so is a
    /// value that [`build`](Self::build) finds invalid.
    ///
    /// # Errors
    /// A configuration error naming the variable that is missing or contradicts another.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&auth_http::env::process())
    }

    /// Like [`from_env`](Self::from_env), reading variables from `vars` (a map in tests).
    ///
    /// # Errors
    /// A configuration error naming the variable that is missing or contradicts another.
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let base_url = required_var(vars, VENDOR, "P21_BASE_URL")?;
        let username = optional_var(vars, "P21_USERNAME");
        let credentials = match optional_var(vars, "P21_CONSUMER_KEY") {
            Some(_) if optional_var(vars, "P21_PASSWORD").is_some() => {
                return Err(Error::config(
                    VENDOR,
                    "P21_PASSWORD",
                    ConfigProblem::Conflict(
                        "set either P21_CONSUMER_KEY or P21_USERNAME and P21_PASSWORD, not both"
                            .into(),
                    ),
                ));
            }
            Some(key) => {
                let creds = Credentials::consumer_key(Secret::new(key));
                match username {
                    Some(user) => creds.with_username(user),
                    None => creds,
                }
            }
            None => Credentials::user(
                username
                    .ok_or_else(|| Error::config(VENDOR, "P21_USERNAME", ConfigProblem::Missing))?,
                Secret::new(required_var(vars, VENDOR, "P21_PASSWORD")?),
            ),
        };
        let mut builder = Self::default().base_url(base_url).credentials(credentials);
        builder.options = builder
            .options
            .read_from("base_url", "P21_BASE_URL")
            .read_from("username", "P21_USERNAME")
            .read_from("password", "P21_PASSWORD")
            .read_from("consumer key", "P21_CONSUMER_KEY");
        Ok(builder)
    }

    /// The P21 API host, e.g. `https://mytenant-api.epicordistribution.com` or
    /// `https://p21.example.com:3443`. A trailing slash or a path prefix is fine.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self.options = self.options.set_in_code("base_url");
        self
    }

    /// How to authenticate.
    ///
    /// ```
    /// use p21_auth::{Client, Credentials, Secret};
    ///
    /// let client = Client::builder()
    ///     .base_url("https://mytenant-api.epicordistribution.com")
    ///     .credentials(Credentials::user("api_user", Secret::new("password")))
    ///     .build()?;
    /// # Ok::<(), p21_auth::Error>(())
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.options = ["username", "password", "consumer key"]
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
    /// use p21_auth::Client;
    ///
    /// let builder = Client::builder().api_timeout(Duration::from_secs(120));
    /// ```
    pub fn api_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.options = self.options.api_timeout(timeout);
        self
    }

    /// Speaks only HTTP/1.1 (some P21 middleware mishandles HTTP/2), in the HTTP client this
    /// crate builds.
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
    /// let builder = p21_auth::Client::builder().proxy_from_env(false); // always direct
    /// ```
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.options = self.options.proxy_from_env(enabled);
        self
    }

    /// **Dangerous**: accepts any TLS certificate, including self-signed ones as on many play
    /// and test tenants. Anyone on the network path can then read the password or key. Never
    /// use it against production; prefer `HttpClientBuilder::add_root_certificates_pem` with the
    /// tenant's certificate.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.options = self.options.danger_accept_invalid_certs(accept);
        self
    }

    /// Tunes the token cache (windows, failure memory, deadline, `on_token` hook).
    ///
    /// ```
    /// use std::time::Duration;
    /// use p21_auth::{CacheOptions, Client};
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
            let http =
                options.http_client_for(VENDOR, concat!("p21-auth/", env!("CARGO_PKG_VERSION")))?;
            http.check_url(VENDOR, "base_url", &base_url)?;
            let source = Source {
                http: http.clone(),
                base_url: base_url.clone(),
                credentials,
            };
            let core = VendorClient::new(source, http, &options)
                .with_refusals(PermissionRefusals)
                .with_api_base_setting("base_url")
                .with_api_base(base_url);
            Ok(Client { core })
        };
        build().map_err(|e| options.name_variable(e))
    }
}

/// What the tools that serve every vendor (the `vendor-auth` command line) know of P21.
impl Vendor for Client {
    const NAME: &'static str = VENDOR;
    const TITLE: &'static str = "Epicor Prophet 21";
    const ENV_PREFIX: &'static str = "P21";
    const SETTINGS: &'static [Setting] = &[
        Setting::plain("base_url"),
        Setting::plain("username"),
        Setting::secret("password"),
        Setting::secret("consumer_key"),
    ];
    const PASSWORD_KEY: &'static str = "password";
    const URL_KEY: &'static str = "base_url";
    const COMMANDS: &'static [(&'static str, &'static str)] = &[(
        "ui-url",
        "the UI server URL (for the Interactive and Transaction APIs)",
    )];

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
            details.insert("session_id".into(), Value::from(s.session_id.clone()));
            details.insert("consumer_uid".into(), Value::from(s.consumer_uid.clone()));
            details.insert("user_name".into(), Value::from(s.user_name.clone()));
        }
        details
    }

    fn token_url(_vars: &dyn EnvLookup, base: &Url) -> Url {
        endpoint(base, wire::TOKEN_PATH_V2)
    }

    fn hint(trouble: Trouble, vars: &dyn EnvLookup) -> Option<&'static str> {
        Some(match trouble {
            Trouble::PortRefused => {
                "check the port: P21 cloud tenants answer on 443, on-premises middleware usually on 3443 to 3448"
            }
            Trouble::NoTokenEndpoint => {
                "the base URL should be the API host, not the UI host (https://TENANT-api.epicordistribution.com, not https://TENANT.epicordistribution.com), with no path"
            }
            Trouble::CredentialsRefused if is_set(vars, "P21_CONSUMER_KEY") => {
                "check the consumer key in SOA Admin (/api/admin, API Console); it must not be revoked"
            }
            Trouble::CredentialsRefused => {
                "use a P21 user name and password (a P21 user tied to a Windows, AAD or SQL user), not a consumer key"
            }
            _ => return None,
        })
    }

    fn http_note(version: reqwest::Version) -> Option<String> {
        Some(if version == reqwest::Version::HTTP_2 {
            "; if P21 calls fail oddly, try HTTP/1.1 only (some P21 middleware mishandles HTTP/2)"
                .into()
        } else {
            ", which P21's middleware handles".into()
        })
    }

    /// An OData call (table `supplier`, one row): the token works and the user has API rights.
    async fn checks(&self, _token: &Token, vars: &(dyn EnvLookup + Sync)) -> Vec<Check> {
        let consumer_key = is_set(vars, "P21_CONSUMER_KEY");
        let request = match self.url("odataservice/odata/table/supplier") {
            Ok(mut url) => {
                url.set_query(Some("$top=1"));
                self.reqwest_client().get(url)
            }
            Err(e) => return vec![Check::error("odata", &e, None)],
        };
        vec![match self.send(request).await {
            Ok(response) => Check::api_status(
                "odata",
                response.status().as_u16(),
                "an OData call (table supplier)",
            ),
            Err(e) if matches!(e.kind(), ErrorKind::Forbidden { .. }) => Check::fail(
                "odata",
                "P21 answered \"You are not authorized to access API\"",
                Some(if consumer_key {
                    "the consumer key's API scope does not cover OData: in SOA Admin (/api/admin), API Console, give the key the OData scope (or /api)"
                } else {
                    "the P21 user lacks API permissions: in the P21 Desktop Client, User Maintenance → Application Security → \"Allow OData API Service\" = Yes, and Role Maintenance → Dataservice Permission allows the tables and views used; then sign in again"
                }),
            ),
            Err(e) => Check::error("odata", &e, None),
        }]
    }

    async fn command(&self, name: &str) -> Result<String, Error> {
        match name {
            "ui-url" => Ok(self.ui_server_url().await?.to_string()),
            other => Err(Error::config(
                VENDOR,
                other.to_owned(),
                ConfigProblem::Invalid("not a command of this vendor".into()),
            )),
        }
    }
}

/// How P21's API refusals are read: "You are not authorized to access API" is a missing
/// permission, which a new session (that would also close the current one) cannot cure.
#[derive(Debug)]
struct PermissionRefusals;

impl Refusals for PermissionRefusals {
    fn refusal(&self, response: &HttpResponse) -> Option<Error> {
        wire::permission_refusal(response)
    }
}
