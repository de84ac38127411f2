//! [`Client`]: the value users hold; it owns the token cache for one set of credentials.

use std::sync::Arc;

use auth_core::{
    CacheConfig, EnvLookup, Error, HttpClient, HttpResponse, Token, TokenCache, TokenSource,
    async_trait,
};
use reqwest::Url;

use crate::VENDOR;
use crate::config::{ClientBuilder, Credentials};
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
///     .send(p21.reqwest_client().get(p21.url("odataservice/odata/table/supplier")))
///     .await?;
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
    base_url: Url,
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
        wire::parse_token_response(&response, &**self.http.clock())
    }

    fn reads_refusals(&self) -> bool {
        true
    }

    /// "You are not authorized to access API" is a missing permission: a new session (which
    /// would also close the current one) cannot cure it.
    fn refusal(&self, response: &HttpResponse) -> Option<Error> {
        wire::permission_refusal(response)
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
    /// | `P21_BASE_URL` | required: the P21 API host |
    /// | `P21_CONSUMER_KEY` | if set, the consumer-key flow |
    /// | `P21_USERNAME` | required for user credentials; optional with a consumer key |
    /// | `P21_PASSWORD` | required for user credentials |
    ///
    /// A missing variable is a configuration error naming it.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&auth_core::process_env())
    }

    /// Like [`from_env`](Self::from_env), reading variables from `vars` (a map in tests).
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        ClientBuilder::from_vars(vars)?.build()
    }

    pub(crate) fn new(
        base_url: Url,
        credentials: Credentials,
        http: HttpClient,
        configure: Option<CacheConfig>,
    ) -> Self {
        let source = Source {
            http: http.clone(),
            base_url: base_url.clone(),
            credentials,
        };
        Self {
            inner: Arc::new(Inner {
                cache: TokenCache::for_http(source, &http, configure),
                http,
                base_url,
            }),
        }
    }

    /// A valid access token: cached, refreshed ahead of expiry, one request for any number of
    /// concurrent callers.
    pub async fn token(&self) -> Result<Token, Error> {
        self.inner.cache.token().await
    }

    /// Drops `rejected` if it is still the cached token (after a 401), so that the next call
    /// authenticates again. Returns whether it was dropped.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.inner.cache.invalidate(rejected)
    }

    /// Sends `request` with the bearer token; on a 401 re-authenticates and retries once. If no
    /// token can be had, nothing is sent. A refusal saying "You are not authorized to access
    /// API" (401 or 403) is a missing permission, not a bad token: it is returned as
    /// [`ErrorKind::Forbidden`](crate::ErrorKind::Forbidden) with the permissions hint, and no
    /// new P21 session is opened for it.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.inner.cache.send(request).await
    }

    /// The UI server URL for the Interactive and Transaction APIs
    /// (`GET /api/ui/router/v1?urlType=external`), without a trailing slash. Same-origin
    /// redirects are followed with the token kept.
    pub async fn ui_server_url(&self) -> Result<Url, Error> {
        let base = &self.inner.base_url;
        let response = self
            .inner
            .cache
            .execute(&self.inner.http, |token| {
                wire::ui_server_request(base, token)
            })
            .await?;
        wire::parse_ui_server_response(&response, self.inner.http.allows_plain_http())
    }

    /// `path` on the P21 API host (e.g. `odataservice/odata/table/supplier`).
    #[must_use]
    pub fn url(&self, path: &str) -> Url {
        auth_core::endpoint(&self.inner.base_url, path)
    }

    /// The `reqwest::Client` tokens are fetched with; send API requests through it to share the
    /// connection pool.
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
