//! [`Client`]: the value users hold; it owns the token cache for one rep or customer.

use std::sync::Arc;

use auth_core::{
    CacheConfig, EnvLookup, Error, HttpClient, Token, TokenCache, TokenSource, async_trait,
};
use reqwest::Url;

use crate::VENDOR;
use crate::config::{ClientBuilder, Credentials};
use crate::wire;

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
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cache: TokenCache,
    http: HttpClient,
}

#[derive(Debug)]
struct Source {
    http: HttpClient,
    token_url: Url,
    client_id: String,
    credentials: Credentials,
}

impl Source {
    async fn password_grant(&self) -> Result<Token, Error> {
        let request = wire::password_request(&self.token_url, &self.credentials, &self.client_id);
        let response = self.http.send(VENDOR, &request).await?;
        wire::parse_token_response(&response, &self.credentials, &**self.http.clock())
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
        if let Some(refresh) = previous.and_then(Token::refresh_token) {
            let request = wire::refresh_request(&self.token_url, refresh, &self.client_id);
            let response = self.http.send(VENDOR, &request).await?;
            match wire::parse_token_response(&response, &self.credentials, &**self.http.clock()) {
                Ok(token) => return Ok(token),
                Err(e) if e.is_rejected() => {
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
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured from the environment:
    ///
    /// | variable | |
    /// |---|---|
    /// | `BYDESIGN_BASE_URL` | required, with the company segment |
    /// | `BYDESIGN_CLIENT_ID` | required |
    /// | `BYDESIGN_PASSWORD` | required |
    /// | `BYDESIGN_REP_ID` or `BYDESIGN_CUSTOMER_ID` | exactly one |
    /// | `BYDESIGN_TOKEN_PATH` | optional (default `/token`) |
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&auth_core::process_env())
    }

    /// Like [`from_env`](Self::from_env), reading variables from `vars`.
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        ClientBuilder::from_vars(vars)?.build()
    }

    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        credentials: Credentials,
        http: HttpClient,
        configure: Option<CacheConfig>,
    ) -> Self {
        let source = Source {
            http: http.clone(),
            token_url,
            client_id,
            credentials,
        };
        Self {
            inner: Arc::new(Inner {
                cache: TokenCache::for_http(source, &http, configure),
                http,
            }),
        }
    }

    /// A valid access token: cached, renewed ahead of expiry, one request for any number of
    /// concurrent callers. Its [`Session`](crate::Session) says who it belongs to.
    pub async fn token(&self) -> Result<Token, Error> {
        self.inner.cache.token().await
    }

    /// Drops `rejected` if it is still the cached token (after a 401). Returns whether it was.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.inner.cache.invalidate(rejected)
    }

    /// Sends `request` with the bearer token. A 401 (after a password change, ByDesign expires
    /// earlier tokens) invalidates the token and retries once with a new one.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.inner.cache.send(request).await
    }

    /// The `reqwest::Client` tokens are fetched with (share its connection pool).
    #[must_use]
    pub fn reqwest_client(&self) -> &reqwest::Client {
        self.inner.http.reqwest_client()
    }

    /// The token cache (for its [`stats`](TokenCache::stats) and
    /// [`last_error`](TokenCache::last_error)).
    #[must_use]
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }
}
