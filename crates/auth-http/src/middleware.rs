//! [`AuthMiddleware`]: the token on every request of a `reqwest-middleware` client, with the
//! same rules as `send()`: plain http only to loopback, nothing sent without a token, and one
//! retry with a new token after a 401 (a refusal the vendor crate reads, such as P21's missing
//! permissions, is an error instead).
//!
//! ```no_run
//! # async fn run(p21: auth_core::TokenCache) -> Result<(), Box<dyn std::error::Error>> {
//! use auth_http::middleware::AuthMiddleware;
//! use auth_http::reqwest_middleware::ClientBuilder;
//!
//! let client = ClientBuilder::new(auth_http::reqwest::Client::new())
//!     .with(AuthMiddleware::new(p21))
//!     .build();
//! let response = client.get("https://erp.example.com/odataservice/odata/table/supplier").send().await?;
//! # Ok(()) }
//! ```
//!
//! An error of this crate reaches the caller as `reqwest_middleware::Error::Middleware`; its
//! [`Error`] is had with `err.downcast_ref::<auth_core::Error>()` on the inner `anyhow::Error`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest_middleware::{Middleware, Next};

use std::sync::Arc;

use auth_core::TokenCache;
use auth_core::error::{ConfigProblem, Error};

use crate::authorized::{Calls, Next as Then, Refusals};

/// A `reqwest_middleware::Middleware` that authorizes each request with a [`TokenCache`]'s token
/// (and any headers the vendor needs on every call).
#[derive(Debug, Clone)]
pub struct AuthMiddleware {
    cache: TokenCache,
    refusals: Option<Arc<dyn Refusals>>,
    allow_plain_http: bool,
    headers: HeaderMap,
    timeout: Option<Duration>,
    refusal: Option<Error>,
}

impl AuthMiddleware {
    /// Authorizes requests with `cache`'s tokens.
    #[must_use]
    pub fn new(cache: TokenCache) -> Self {
        Self {
            cache,
            refusals: None,
            allow_plain_http: false,
            headers: HeaderMap::new(),
            timeout: None,
            refusal: None,
        }
    }

    /// Adds `name: value` to every request (Personify's `X-Tenant-Id`). A value that cannot be
    /// a header makes every request fail, unsent.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                self.headers.insert(HeaderName::from_static(name), value);
            }
            Err(_) => {
                self.refusal = Some(Error::config(
                    self.cache.vendor(),
                    name,
                    ConfigProblem::Invalid("it cannot be sent as a header".into()),
                ));
            }
        }
        self
    }

    /// A vendor client's rules: its refusals, and whether its HTTP client allows plain http to
    /// any host.
    pub(crate) fn with_rules(
        mut self,
        refusals: Option<Arc<dyn Refusals>>,
        allow_plain_http: bool,
    ) -> Self {
        self.refusals = refusals;
        self.allow_plain_http = allow_plain_http;
        self
    }

    /// Bounds each request (and its retry) to `timeout` unless it sets its own.
    #[must_use]
    pub fn api_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Makes every request fail with `error`, unsent: for a setting the vendor needs on every
    /// call that is missing (fail closed).
    #[must_use]
    pub fn refuse(mut self, error: Error) -> Self {
        self.refusal = Some(error);
        self
    }
}

#[auth_core::async_trait]
impl Middleware for AuthMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        if let Some(refusal) = &self.refusal {
            return Err(reqwest_middleware::Error::middleware(refusal.clone()));
        }
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let calls = Calls::new(&self.cache)
            .refusals(self.refusals.as_deref())
            .allow_plain_http(self.allow_plain_http)
            .timeout(self.timeout);
        let (mut request, mut call) = calls
            .begin(request)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        loop {
            let response = next.clone().run(request, extensions).await?;
            match calls
                .finish(&mut call, response)
                .await
                .map_err(reqwest_middleware::Error::middleware)?
            {
                Then::Done(response) => return Ok(response),
                Then::Retry(again) => request = again,
            }
        }
    }
}
