//! [`Client`]: the value users hold, and the [`ClientBuilder`] that configures it. The shared
//! skeleton is `auth_http::vendor`; what is here is what Personify adds (the tenant header, the
//! scope and the client authentication method).

use std::future::Future;

use auth_core::error::ConfigProblem;
use auth_core::store::StoreKey;
use auth_core::{CacheOptions, Error, Secret, Token, TokenCache, TokenSource, async_trait};
use auth_http::HttpClient;
use auth_http::catalog::{Check, Map, Setting, Trouble, Value, Vendor, is_set};
use auth_http::env::{EnvLookup, optional_var, required_var};
use auth_http::parse_base_url;
use auth_http::vendor::{ClientOptions, VendorClient};
use reqwest::Url;

use crate::VENDOR;
use crate::credentials::{ClientAuth, Credentials};
use crate::wire::{self, DEFAULT_SCOPE, DEFAULT_TOKEN_URL};

/// A Personify REST API client: a cached, refreshed client-credentials token, and requests sent
/// with `Authorization: Bearer …` and `X-Tenant-Id: …`.
///
/// ```no_run
/// use personify_auth::{Client, Credentials, Secret};
///
/// # async fn run() -> Result<(), personify_auth::Error> {
/// let personify = Client::builder()
///     .credentials(Credentials::new("my-client-id", Secret::new("my-client-secret")))
///     .tenant_id("my-tenant")
///     .api_base_url("https://api.example.org")
///     .build()?;
/// let response = personify
///     .send(personify.reqwest_client().get(personify.url("v1/members")?))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    core: VendorClient,
    tenant_id: Option<std::sync::Arc<str>>,
}

#[derive(Debug)]
struct Source {
    http: HttpClient,
    token_url: Url,
    credentials: Credentials,
    scope: Option<String>,
    auth: ClientAuth,
}

#[async_trait]
impl TokenSource for Source {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, Error> {
        let request = wire::token_request(
            &self.token_url,
            &self.credentials,
            self.scope.as_deref(),
            self.auth,
        );
        let response = self.http.send(VENDOR, &request).await?;
        wire::parse_token_response(&response)
    }

    /// The token URL, the OAuth client and the scope asked for.
    fn store_key(&self) -> Option<StoreKey> {
        let key = StoreKey::of(VENDOR, self.token_url.as_str())
            .part("client", &self.credentials.client_id);
        // No scope and an empty scope are different requests, so different keys.
        Some(match self.scope.as_deref() {
            Some(scope) => key.part("scope", scope),
            None => key,
        })
    }

    /// The client secret: only processes holding it adopt this one's tokens.
    fn store_secret(&self) -> Option<Secret> {
        Some(self.credentials.client_secret.clone())
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
    /// # async fn run(client: personify_auth::Client) -> Result<(), personify_auth::Error> {
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
    /// # async fn run(client: personify_auth::Client) -> Result<(), personify_auth::Error> {
    /// let token = client.token().await?;
    /// let request = client.reqwest_client().get(client.url("v1/members")?);
    /// let response = request.bearer_auth(token.access_token().expose_secret()).send().await;
    /// if response.is_ok_and(|r| r.status() == 401) {
    ///     client.invalidate(&token); // the next token() asks the vendor again
    /// }
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.core.invalidate(rejected)
    }

    /// Sends `request` with the bearer token and `X-Tenant-Id`; on a 401 fetches a new token
    /// and retries once (once more if that token was obtained before the 401 and is refused
    /// too). Fails without sending if no tenant is configured or no token can be had.
    ///
    /// ```no_run
    /// # async fn run(client: personify_auth::Client) -> Result<(), personify_auth::Error> {
    /// let request = client.reqwest_client().get(client.url("v1/members")?);
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
        self.core
            .send(request.header(wire::TENANT_HEADER, self.tenant()?))
            .await
    }

    /// A `reqwest-middleware` middleware that puts this client's token and `X-Tenant-Id` (no tenant configured: every request fails, unsent) on every
    /// request, with [`send`](Self::send)'s rules: plain http only to loopback, nothing sent
    /// without a token, one retry with a new token after a 401.
    ///
    /// ```no_run
    /// # fn run(client: personify_auth::Client) {
    /// use personify_auth::reqwest_middleware::ClientBuilder;
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
        let middleware = self.core.middleware();
        match self.tenant() {
            Ok(tenant) => middleware.header(wire::TENANT_HEADER, tenant),
            Err(e) => middleware.refuse(e),
        }
    }

    /// `response` when its status is a success (its body left to read or stream), else the
    /// crate's error for it, with the vendor's error body read (16 KiB at most) and scrubbed:
    ///
    /// ```no_run
    /// # async fn run(client: &personify_auth::Client, request: personify_auth::reqwest::RequestBuilder) -> Result<(), personify_auth::Error> {
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

    /// Adds `Authorization: Bearer …` and `X-Tenant-Id` to `request` without sending it, for
    /// callers who send requests themselves (then handle a 401 with [`invalidate`](Self::invalidate)).
    ///
    /// # Errors
    /// No token could be had (as [`token`](Self::token)), or the token cannot travel in a header.
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let tenant = self.tenant()?;
        self.core
            .authorize(request.header(wire::TENANT_HEADER, tenant))
            .await
    }

    /// `path` under the API base URL set with [`ClientBuilder::api_base_url`] (a configuration
    /// error naming it when it was not set).
    ///
    /// # Errors
    /// A configuration error naming the base URL setting when the client has none.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        self.core.url(path)
    }

    fn tenant(&self) -> Result<&str, Error> {
        self.tenant_id.as_deref().ok_or_else(|| {
            Error::config(VENDOR, "tenant_id (PERSONIFY_TENANT_ID)", ConfigProblem::Missing)
                .with_hint("every Personify API call carries X-Tenant-Id; set it with ClientBuilder::tenant_id")
        })
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

/// What the tools that serve every vendor (the `vendor-auth` command line) know of Personify.
impl Vendor for Client {
    const NAME: &'static str = VENDOR;
    const TITLE: &'static str = "Personify";
    const ENV_PREFIX: &'static str = "PERSONIFY";
    const SETTINGS: &'static [Setting] = &[
        Setting::plain("token_url"),
        Setting::plain("client_id"),
        Setting::secret("client_secret"),
        Setting::plain("scope"),
        Setting::plain("tenant_id"),
        Setting::plain("api_base_url"),
    ];
    const PASSWORD_KEY: &'static str = "client_secret";
    const URL_KEY: &'static str = "token_url";
    const DEFAULT_URL: Option<&'static str> = Some(DEFAULT_TOKEN_URL);

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

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> impl Future<Output = Result<reqwest::RequestBuilder, Error>> + Send {
        Client::authorize(self, request)
    }

    /// The tenant API calls name.
    fn details(&self, _token: &Token) -> Map<String, Value> {
        let mut details = Map::new();
        if let Some(tenant) = &self.tenant_id {
            details.insert("tenant_id".into(), Value::from(tenant.as_ref()));
        }
        details
    }

    fn token_url(_vars: &dyn EnvLookup, base: &Url) -> Url {
        base.clone()
    }

    fn hint(trouble: Trouble, _vars: &dyn EnvLookup) -> Option<&'static str> {
        match trouble {
            Trouble::NoTokenEndpoint => Some(
                "PERSONIFY_TOKEN_URL is the whole URL of the token endpoint, usually ending in /connect/token",
            ),
            Trouble::CredentialsRefused => Some(
                "check the client id and secret with the tenant's identity server administrator",
            ),
            _ => None,
        }
    }

    /// The tenant every API call names, and one API call when an API base URL is set.
    async fn checks(&self, _token: &Token, vars: &(dyn EnvLookup + Sync)) -> Vec<Check> {
        let Some(tenant) = vars
            .get("PERSONIFY_TENANT_ID")
            .filter(|t| !t.trim().is_empty())
        else {
            return vec![Check::misconfigured(
                "tenant",
                "no tenant id: Personify API calls need the X-Tenant-Id header",
                "set PERSONIFY_TENANT_ID (or tenant_id in the profile)",
            )];
        };
        let mut checks = vec![Check::pass(
            "tenant",
            format!("API calls carry X-Tenant-Id: {}", tenant.trim()),
        )];
        if !is_set(vars, "PERSONIFY_API_BASE_URL") {
            checks.push(Check::skip(
                "api",
                "PERSONIFY_API_BASE_URL is not set: no API call tried",
            ));
            return checks;
        }
        checks.push(match self.url("") {
            Ok(url) => match self.send(self.reqwest_client().get(url)).await {
                Ok(response) => Check::api_status(
                    "api",
                    response.status().as_u16(),
                    "the API (with the tenant header)",
                ),
                Err(e) => Check::error("api", &e, None),
            },
            Err(e) => Check::error("api", &e, None),
        });
        checks
    }
}

/// Configures a [`Client`]; see [`Client::builder`] and [`ClientBuilder::from_env`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    token_url: String,
    credentials: Option<Credentials>,
    scope: Option<String>,
    auth: ClientAuth,
    tenant_id: Option<String>,
    api_base_url: Option<String>,
    options: ClientOptions,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            token_url: DEFAULT_TOKEN_URL.to_owned(),
            credentials: None,
            scope: Some(DEFAULT_SCOPE.to_owned()),
            auth: ClientAuth::Post,
            tenant_id: None,
            api_base_url: None,
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
    /// | `PERSONIFY_CLIENT_ID` | required |
    /// | `PERSONIFY_CLIENT_SECRET` | required |
    /// | `PERSONIFY_SCOPE` | optional, space-separated (default `idp_api`) |
    /// | `PERSONIFY_TOKEN_URL` | optional (default the production endpoint) |
    /// | `PERSONIFY_TENANT_ID` | optional for tokens, needed for API calls |
    /// | `PERSONIFY_API_BASE_URL` | optional: the API host [`Client::url`] joins paths to |
    ///
    /// A missing variable is a configuration error naming it, and so is a value that
    /// [`build`](Self::build) finds invalid.
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
        let mut builder = Self::default().credentials(Credentials::new(
            required_var(vars, VENDOR, "PERSONIFY_CLIENT_ID")?,
            Secret::new(required_var(vars, VENDOR, "PERSONIFY_CLIENT_SECRET")?),
        ));
        let mut options = std::mem::take(&mut builder.options)
            .read_from("client_id", "PERSONIFY_CLIENT_ID")
            .read_from("client_secret", "PERSONIFY_CLIENT_SECRET");
        if let Some(scope) = optional_var(vars, "PERSONIFY_SCOPE") {
            builder = builder.scope(scope);
        }
        if let Some(url) = optional_var(vars, "PERSONIFY_TOKEN_URL") {
            builder = builder.token_url(url);
            options = options.read_from("token_url", "PERSONIFY_TOKEN_URL");
        }
        if let Some(tenant) = optional_var(vars, "PERSONIFY_TENANT_ID") {
            builder = builder.tenant_id(tenant);
            options = options.read_from("tenant_id", "PERSONIFY_TENANT_ID");
        }
        if let Some(url) = optional_var(vars, "PERSONIFY_API_BASE_URL") {
            builder = builder.api_base_url(url);
            options = options.read_from("api_base_url", "PERSONIFY_API_BASE_URL");
        }
        builder.options = options;
        Ok(builder)
    }

    /// The API client id and secret issued at onboarding.
    ///
    /// ```
    /// use personify_auth::{Client, Credentials, Secret};
    ///
    /// let client = Client::builder()
    ///     .tenant_id("my-tenant")
    ///     .credentials(Credentials::new("my-client-id", Secret::new("secret")))
    ///     .build()?;
    /// # Ok::<(), personify_auth::Error>(())
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.options = self
            .options
            .set_in_code("client_id")
            .set_in_code("client_secret");
        self
    }

    /// The token endpoint (default `https://prod.personifyauth.com/connect/token`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self.options = self.options.set_in_code("token_url");
        self
    }

    /// The scopes to request, space-separated (default `idp_api`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Several scopes, joined with spaces.
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = scopes
            .into_iter()
            .map(|s| s.as_ref().trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        self.scope(joined)
    }

    /// Sends no `scope`: the server then grants all of the client's scopes.
    pub fn no_scope(mut self) -> Self {
        self.scope = None;
        self
    }

    /// How the client id and secret are sent (default: in the form body).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The tenant id sent as `X-Tenant-Id` on API calls (not needed for the token itself).
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self.options = self.options.set_in_code("tenant_id");
        self
    }

    /// The API host that [`Client::url`] joins paths to, e.g. `https://api.example.org`.
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = Some(url.into());
        self.options = self.options.set_in_code("api_base_url");
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
    /// use personify_auth::Client;
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
    /// let builder = personify_auth::Client::builder().proxy_from_env(false); // always direct
    /// ```
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.options = self.options.proxy_from_env(enabled);
        self
    }

    /// **Dangerous**: accepts any TLS certificate, in the HTTP client this crate builds. Anyone
    /// on the network path can then read the client secret. Prefer
    /// `HttpClientBuilder::add_root_certificates_pem`.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.options = self.options.danger_accept_invalid_certs(accept);
        self
    }

    /// Tunes the token cache (windows, failure memory, deadline, `on_token` hook).
    ///
    /// ```
    /// use std::time::Duration;
    /// use personify_auth::{CacheOptions, Client};
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
            token_url,
            credentials,
            scope,
            auth,
            tenant_id,
            api_base_url,
            options,
        } = self;
        let build = || {
            let credentials = credentials
                .ok_or_else(|| Error::config(VENDOR, "credentials", ConfigProblem::Missing))?;
            credentials.validate()?;
            let tenant_is_header_safe = tenant_id
                .as_deref()
                .is_none_or(|t| reqwest::header::HeaderValue::from_str(t).is_ok());
            if !tenant_is_header_safe {
                return Err(Error::config(
                    VENDOR,
                    "tenant_id",
                    ConfigProblem::Invalid("it cannot be sent as an HTTP header".into()),
                ));
            }
            let token_url = parse_base_url(VENDOR, "token_url", &token_url)?;
            let api_base = api_base_url
                .map(|url| parse_base_url(VENDOR, "api_base_url", &url))
                .transpose()?;
            let http = options.http_client_for(
                VENDOR,
                concat!("personify-auth/", env!("CARGO_PKG_VERSION")),
            )?;
            http.check_url(VENDOR, "token_url", &token_url)?;
            if let Some(base) = &api_base {
                http.check_url(VENDOR, "api_base_url", base)?;
            }
            let source = Source {
                http: http.clone(),
                token_url,
                credentials,
                scope: scope.filter(|s| !s.trim().is_empty()),
                auth,
            };
            let mut core =
                VendorClient::new(source, http, &options).with_api_base_setting("api_base_url");
            if let Some(base) = api_base {
                core = core.with_api_base(base);
            }
            Ok(Client {
                core,
                tenant_id: tenant_id.map(Into::into),
            })
        };
        build().map_err(|e| options.name_variable(e))
    }
}
