//! [`Client`]: the value users hold, over either kind of Apinizer credential.

use std::sync::Arc;

use auth_core::{
    CacheConfig, EnvLookup, Error, ErrorKind, HttpClient, Secret, StaticToken, Token, TokenCache,
    TokenSource, async_trait, instant_from_system_time,
};
use reqwest::Url;

use crate::VENDOR;
use crate::config::{ClientBuilder, Credentials, Kind};
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
///     .send(apinizer.reqwest_client().get(apinizer.url("apiops/projects/")))
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
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured from the environment: `APINIZER_BASE_URL`, and either
    /// `APINIZER_TOKEN` (a personal token) or `APINIZER_USERNAME` and `APINIZER_PASSWORD`.
    /// A missing or contradictory setting is a configuration error naming it.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&auth_core::process_env())
    }

    /// Like [`from_env`](Self::from_env), reading variables from `vars`.
    pub fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        ClientBuilder::from_vars(vars)?.build()
    }

    pub(crate) fn new(
        base_url: Url,
        credentials: Credentials,
        http: HttpClient,
        configure: Option<CacheConfig>,
    ) -> Self {
        let cache = match credentials.kind {
            Kind::Issued { username, password } => {
                let source = Issued {
                    http: http.clone(),
                    base_url: base_url.clone(),
                    username,
                    password,
                };
                TokenCache::for_http(source, &http, configure)
            }
            Kind::Personal { token, expires } => {
                let clock = http.clock().clone();
                let expires = expires.and_then(|at| instant_from_system_time(&*clock, at));
                let source = StaticToken::new(VENDOR, token, expires).with_clock(clock);
                TokenCache::for_http(source, &http, configure)
            }
        };
        Self {
            inner: Arc::new(Inner {
                cache,
                http,
                base_url,
            }),
        }
    }

    /// A valid access token. An issued token is cached and renewed ahead of expiry; a personal
    /// token is returned as it is (an error once its known expiry date has passed).
    pub async fn token(&self) -> Result<Token, Error> {
        self.inner.cache.token().await
    }

    /// Drops `rejected` if it is still the cached token (after a 401). Returns whether it was.
    pub fn invalidate(&self, rejected: &Token) -> bool {
        self.inner.cache.invalidate(rejected)
    }

    /// Sends `request` with the bearer token. With an issued token, a 401 fetches a new one and
    /// retries once; with a personal token, a 401 is [`ErrorKind::TokenRevoked`] ("expired or
    /// revoked"), never retried.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.inner.cache.send(request).await
    }

    /// Checks the token cheaply with `GET /apiops/test/hello/{name}`. If that fails for a reason
    /// other than the token, `GET /apiops/test/healthcheck` tells a server that is down (the
    /// health check's error, with a hint) from one that is up (the hello error).
    pub async fn verify(&self) -> Result<(), Error> {
        let base = &self.inner.base_url;
        let hello = self
            .inner
            .cache
            .execute(&self.inner.http, |token| {
                wire::hello_request(base, VERIFY_NAME, token)
            })
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
    pub async fn healthcheck(&self) -> Result<(), Error> {
        let request = wire::healthcheck_request(&self.inner.base_url);
        let response = self.inner.http.send(VENDOR, &request).await?;
        wire::parse_healthcheck_response(&response)
    }

    /// `path` on the console host (resource paths end with `/`, e.g. `apiops/projects/`).
    #[must_use]
    pub fn url(&self, path: &str) -> Url {
        auth_core::endpoint(&self.inner.base_url, path)
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
