//! [`Client`]: the value users hold; it owns the token cache for one API client.

use std::sync::Arc;

use auth_core::{
    CacheConfig, ConfigProblem, EnvLookup, Error, HttpClient, Token, TokenCache, TokenSource,
    async_trait,
};

use crate::VENDOR;
use crate::config::{ClientBuilder, Settings};
use crate::wire;

/// A Personify REST API client: a cached, refreshed client-credentials token, and requests sent
/// with `Authorization: Bearer …` and `X-Tenant-Id: …`.
///
/// ```no_run
/// use personify_auth::{Client, Secret};
///
/// # async fn run() -> Result<(), personify_auth::Error> {
/// let personify = Client::builder()
///     .credentials("my-client-id", Secret::new("my-client-secret"))
///     .tenant_id("my-tenant")
///     .build()?;
/// let response = personify
///     .send(personify.reqwest_client().get("https://api.example.org/v1/members"))
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
    tenant_id: Option<String>,
}

#[derive(Debug)]
struct Source {
    http: HttpClient,
    settings: Settings,
}

#[async_trait]
impl TokenSource for Source {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, Error> {
        let response = self
            .http
            .send(VENDOR, &wire::token_request(&self.settings))
            .await?;
        wire::parse_token_response(&response)
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
    /// | `PERSONIFY_CLIENT_ID` | required |
    /// | `PERSONIFY_CLIENT_SECRET` | required |
    /// | `PERSONIFY_SCOPE` | optional, space-separated (default `idp_api`) |
    /// | `PERSONIFY_TOKEN_URL` | optional (default the production endpoint) |
    /// | `PERSONIFY_TENANT_ID` | optional for tokens, needed for API calls |
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&auth_core::process_env())
    }

    /// Like [`from_env`](Self::from_env), reading variables from `vars`.
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        ClientBuilder::from_vars(vars)?.build()
    }

    pub(crate) fn new(
        settings: Settings,
        http: HttpClient,
        configure: Option<CacheConfig>,
    ) -> Self {
        let tenant_id = settings.tenant_id.clone();
        let source = Source {
            http: http.clone(),
            settings,
        };
        Self {
            inner: Arc::new(Inner {
                cache: TokenCache::for_http(source, &http, configure),
                http,
                tenant_id,
            }),
        }
    }

    /// A valid access token: cached, refreshed ahead of expiry, one request for any number of
    /// concurrent callers.
    pub async fn token(&self) -> Result<Token, Error> {
        self.inner.cache.token().await
    }

    /// Drops `rejected` if it is still the cached token (after a 401). Returns whether it was.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.inner.cache.invalidate(rejected)
    }

    /// Sends `request` with the bearer token and `X-Tenant-Id`; on a 401 fetches a new token
    /// and retries once. Fails without sending if no tenant is configured or no token can be had.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let request = request.header(wire::TENANT_HEADER, self.tenant()?);
        self.inner.cache.send(request).await
    }

    /// Adds `Authorization: Bearer …` and `X-Tenant-Id` to `request` without sending it, for
    /// callers who send requests themselves (then handle a 401 with [`invalidate`](Self::invalidate)).
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let tenant = self.tenant()?;
        let token = self.token().await?;
        Ok(request
            .header(reqwest::header::AUTHORIZATION, token.authorization_value()?)
            .header(wire::TENANT_HEADER, tenant))
    }

    fn tenant(&self) -> Result<&str, Error> {
        self.inner.tenant_id.as_deref().ok_or_else(|| {
            Error::config(VENDOR, "tenant_id (PERSONIFY_TENANT_ID)", ConfigProblem::Missing)
                .with_hint("every Personify API call carries X-Tenant-Id; set it with ClientBuilder::tenant_id")
        })
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
