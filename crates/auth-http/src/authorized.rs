//! Authorized calls: the bearer token on a request, and after a 401 one retry with a new token
//! (one more if that token was older than the 401: see [`AuthorizedCalls::send`]).
//! [`AuthorizedCalls`] gives any [`TokenCache`] `send`, `execute` and `error_for_status`; a vendor
//! client adds its [`Refusals`] (a vendor that reads 401 and 403 bodies before deciding what they
//! mean) and its API timeout. The middleware shares the same two halves, `begin` and `finish`.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use auth_core::error::ConfigProblem;
use auth_core::{Error, Token, TokenCache};
use reqwest::header::AUTHORIZATION;

use crate::{
    ErrorBody, HttpClient, HttpRequest, HttpResponse, check_url, read_capped, read_prefix,
    transport_error,
};

/// What a refusal of an API call (a 401 or 403, its body read) really means, for a vendor that
/// knows better than the status: `Some(error)` is returned to the caller as it is, with no new
/// token fetched (a missing permission that a new session would not cure); `None` lets a 401
/// invalidate the token and retry once.
///
/// ```
/// use auth_http::{HttpResponse, authorized::Refusals};
///
/// #[derive(Debug)]
/// struct NoPermission;
///
/// impl Refusals for NoPermission {
///     fn refusal(&self, response: &HttpResponse) -> Option<auth_core::Error> {
///         (response.status() == 401 && response.text().contains("permission"))
///             .then(|| auth_core::Error::forbidden("example", 401, None, None))
///     }
/// }
/// ```
pub trait Refusals: Send + Sync + fmt::Debug + 'static {
    /// The error a refusal means, or `None` to treat it by its status.
    fn refusal(&self, response: &HttpResponse) -> Option<Error>;
}

/// `send`, `execute` and `error_for_status` for a [`TokenCache`]: the token on each request,
/// nothing sent without one, plain http only to loopback, and one retry with a new token after
/// a 401. A vendor client's own methods of the same names add the vendor's refusals and its API
/// timeout.
///
/// ```no_run
/// use auth_core::source::StaticToken;
/// use auth_core::{Secret, TokenCache};
/// use auth_http::AuthorizedCalls;
///
/// # async fn run() -> Result<(), auth_core::Error> {
/// let cache = TokenCache::new(StaticToken::new("example", Secret::new("t"), None));
/// auth_http::install_crypto_provider();
/// let api = reqwest::Client::new();
/// let response = cache.send(api.get("https://api.example.com/v1/things")).await?;
/// let response = cache.error_for_status(response).await?;
/// # Ok(()) }
/// ```
pub trait AuthorizedCalls {
    /// Sends `request` with `Authorization: Bearer <token>`. On a 401 it invalidates the token
    /// and retries once with a new one (if the request can be cloned and a new token is had).
    /// If the retry gets a 401 too and its token was obtained before the first 401 came back
    /// (adopted from another process, say: the vendor closing every session ends it as well),
    /// it is invalidated and the request sent once more; a token obtained after the first 401
    /// is not replaced again. If no token can be had, the request is not sent (fail closed). A
    /// plain-http request to a host that is not loopback is refused before the token is
    /// attached.
    ///
    /// For a source that cannot renew (a static token), a 401 is returned as
    /// [`ErrorKind::TokenRevoked`](auth_core::ErrorKind::TokenRevoked).
    ///
    /// # Errors
    /// No token could be had (nothing is sent), the request could not be built or is plain http
    /// to a host that is not loopback (`Configuration`), or it could not be sent (`Transport`,
    /// `Timeout`); for a source that cannot renew, a 401 is `TokenRevoked`.
    fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> impl Future<Output = Result<reqwest::Response, Error>> + Send;

    /// Sends the request `build` makes for a token through `http`, with the same 401 handling
    /// as [`send`](Self::send): on a 401 the token is invalidated and the request rebuilt and
    /// sent once more with a new token (and once again, as `send` does, if that token was
    /// obtained before the first 401). For vendor calls described as [`HttpRequest`] values.
    ///
    /// # Errors
    /// No token could be had, or the request could not be sent (`Transport`, `Timeout`).
    fn execute(
        &self,
        http: &HttpClient,
        build: impl Fn(&Token) -> HttpRequest + Send + Sync,
    ) -> impl Future<Output = Result<HttpResponse, Error>> + Send;

    /// `response` itself when its status is a success (2xx or 3xx; its body untouched, to read
    /// or stream), else the error it means: the first 16 KiB of the body are read (the rest is
    /// dropped) and classified with [`HttpResponse::to_api_error`], the current token scrubbed
    /// from it.
    ///
    /// # Errors
    /// The classified error of a failed call (`Rejected`, `Forbidden`, `Throttled`,
    /// `UnexpectedStatus`), or `Transport` if the error body could not be read.
    fn error_for_status(
        &self,
        response: reqwest::Response,
    ) -> impl Future<Output = Result<reqwest::Response, Error>> + Send;
}

impl AuthorizedCalls for TokenCache {
    fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> impl Future<Output = Result<reqwest::Response, Error>> + Send {
        Calls::new(self).send(request)
    }

    fn execute(
        &self,
        http: &HttpClient,
        build: impl Fn(&Token) -> HttpRequest + Send + Sync,
    ) -> impl Future<Output = Result<HttpResponse, Error>> + Send {
        Calls::new(self).execute(http, build)
    }

    fn error_for_status(
        &self,
        response: reqwest::Response,
    ) -> impl Future<Output = Result<reqwest::Response, Error>> + Send {
        Calls::new(self).error_for_status(response)
    }
}

/// One cache's authorized calls with a vendor's rules: its refusals, whether plain http may go
/// to any host, and the API timeout.
#[derive(Clone, Copy)]
pub(crate) struct Calls<'a> {
    cache: &'a TokenCache,
    refusals: Option<&'a dyn Refusals>,
    allow_plain_http: bool,
    timeout: Option<Duration>,
}

impl<'a> Calls<'a> {
    /// The calls of `cache` with no refusals read, plain http to loopback only, no timeout.
    pub(crate) fn new(cache: &'a TokenCache) -> Self {
        Self {
            cache,
            refusals: None,
            allow_plain_http: false,
            timeout: None,
        }
    }

    /// `refusals` read before a 401 or 403 is judged by its status.
    pub(crate) fn refusals(mut self, refusals: Option<&'a dyn Refusals>) -> Self {
        self.refusals = refusals;
        self
    }

    /// Plain http allowed to any host (the HTTP client's dangerous setting).
    pub(crate) fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Each attempt bounded by `timeout` unless the request has its own.
    pub(crate) fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    fn vendor(&self) -> &'static str {
        self.cache.vendor()
    }

    /// See [`AuthorizedCalls::send`].
    pub(crate) async fn send(
        self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        let vendor = self.vendor();
        let (client, request) = request.build_split();
        let request = request.map_err(|e| {
            Error::config(
                vendor,
                "request",
                ConfigProblem::Invalid("could not build the request".into()),
            )
            .with_source(e.without_url())
        })?;
        let (mut request, mut call) = self.begin(request).await?;
        loop {
            let response = client
                .execute(request)
                .await
                .map_err(|e| transport_error(vendor, e))?;
            match self.finish(&mut call, response).await? {
                Next::Done(response) => return Ok(response),
                Next::Retry(again) => request = again,
            }
        }
    }

    /// Prepares an authorized call of `request`: refuses plain http to a host that is not
    /// loopback, bounds it by the timeout unless it has its own, keeps a copy for a retry,
    /// and attaches the token (none: nothing is sent). Returns the request to send first.
    pub(crate) async fn begin(
        &self,
        mut request: reqwest::Request,
    ) -> Result<(reqwest::Request, Call), Error> {
        let vendor = self.vendor();
        check_url(vendor, "request URL", request.url(), self.allow_plain_http)?;
        if let (Some(timeout), None) = (self.timeout, request.timeout()) {
            *request.timeout_mut() = Some(timeout);
        }
        let retry = request.try_clone();
        let token = self.cache.token().await?;
        authorize(&mut request, &token, vendor)?;
        let clock = self.cache.clock();
        let call = Call {
            retry,
            token,
            sent: (clock.now(), clock.system_now()),
            first_401: None,
        };
        Ok((request, call))
    }

    /// Judges the response to an attempt of a call: done, or the request to send once more
    /// with a new token after a 401 (see [`AuthorizedCalls::send`]).
    pub(crate) async fn finish(
        &self,
        call: &mut Call,
        response: reqwest::Response,
    ) -> Result<Next, Error> {
        let vendor = self.vendor();
        let status = response.status().as_u16();
        if status != 401 && status != 403 {
            return Ok(Next::Done(response));
        }
        let token = call.token.clone();
        let response = match self.refusals {
            Some(refusals) => {
                let headers = response.headers().clone();
                let body = read_prefix(vendor, response, REFUSAL_BYTES).await?;
                let seen = HttpResponse::received(
                    status,
                    headers.clone(),
                    body.clone(),
                    call.sent,
                    std::sync::Arc::new(vec![token.access_token().clone()]),
                );
                if let Some(err) = refusals.refusal(&seen) {
                    return Err(err);
                }
                rebuilt(status, headers, body)
            }
            None => response,
        };
        if status == 403 {
            return Ok(Next::Done(response));
        }
        if !self.cache.can_renew() {
            let (_, body) = read_capped(vendor, response, 16 * 1024)
                .await
                .unwrap_or_default();
            let secrets = [token.access_token().clone()];
            let description = ErrorBody::parse(None, &body, &secrets).description;
            return Err(self.revoked(description));
        }
        let again = self.may_retry(&token, &mut call.first_401);
        let Some(mut retry) = call.retry.take().filter(|_| again) else {
            self.cache.invalidate(&token);
            return Ok(Next::Done(response));
        };
        match self.token_after_401(&token).await? {
            Some(fresh) => {
                call.retry = retry.try_clone();
                authorize(&mut retry, &fresh, vendor)?;
                let clock = self.cache.clock();
                call.sent = (clock.now(), clock.system_now());
                call.token = fresh;
                Ok(Next::Retry(retry))
            }
            None => Ok(Next::Done(response)),
        }
    }

    /// Whether a 401 for `token` is answered with a retry: the first 401 of a call always (its
    /// time kept in `first_401`); a later one once, if `token` was obtained before the first
    /// 401 came back (the event that ended the first token may have ended this one too).
    fn may_retry(&self, token: &Token, first_401: &mut Option<(Instant, bool)>) -> bool {
        match first_401 {
            None => {
                *first_401 = Some((self.cache.clock().now(), false));
                true
            }
            Some((at, retried_again)) => {
                let again = !*retried_again && token.obtained_at() < *at;
                *retried_again = true;
                again
            }
        }
    }

    /// See [`AuthorizedCalls::execute`].
    pub(crate) async fn execute(
        self,
        http: &HttpClient,
        build: impl Fn(&Token) -> HttpRequest,
    ) -> Result<HttpResponse, Error> {
        let vendor = self.vendor();
        let mut token = self.cache.token().await?;
        let mut first_401 = None;
        loop {
            let response = http.send(vendor, &build(&token)).await?;
            if let (401 | 403, Some(refusals)) = (response.status(), self.refusals) {
                if let Some(err) = refusals.refusal(&response) {
                    return Err(err);
                }
            }
            if response.status() != 401 {
                return Ok(response);
            }
            if !self.cache.can_renew() {
                return Err(self.revoked(response.error_body().description));
            }
            if !self.may_retry(&token, &mut first_401) {
                self.cache.invalidate(&token);
                return Ok(response);
            }
            match self.token_after_401(&token).await? {
                Some(fresh) => token = fresh,
                None => return Ok(response),
            }
        }
    }

    /// See [`AuthorizedCalls::error_for_status`]; the vendor's refusals are read first.
    pub(crate) async fn error_for_status(
        self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, Error> {
        let status = response.status().as_u16();
        if status < 400 {
            return Ok(response);
        }
        let vendor = self.vendor();
        let headers = response.headers().clone();
        let body = read_prefix(vendor, response, REFUSAL_BYTES).await?;
        let secrets = self
            .cache
            .fresh()
            .map(|t| vec![t.access_token().clone()])
            .unwrap_or_default();
        let clock = self.cache.clock();
        let seen = HttpResponse::received(
            status,
            headers,
            body,
            (clock.now(), clock.system_now()),
            std::sync::Arc::new(secrets),
        );
        if let (401 | 403, Some(refusals)) = (status, self.refusals) {
            if let Some(err) = refusals.refusal(&seen) {
                return Err(err);
            }
        }
        Err(seen.to_api_error(vendor))
    }

    /// After a 401 with `rejected`: invalidates it and returns the token to retry with, or
    /// `None` when the forced refresh was refused and retrying would only repeat the 401.
    async fn token_after_401(&self, rejected: &Token) -> Result<Option<Token>, Error> {
        tracing::debug!(
            vendor = self.vendor(),
            "401 from the API: invalidating the token"
        );
        self.cache.invalidate(rejected);
        let fresh = self.cache.token().await?;
        Ok((!fresh.same_as(rejected)).then_some(fresh))
    }

    fn revoked(&self, description: Option<String>) -> Error {
        Error::token_revoked(self.vendor(), description)
    }
}

/// How much of a refused API call's body is read when the source wants to see refusals.
const REFUSAL_BYTES: usize = 16 * 1024;

/// A response rebuilt from a status, headers and a body that was read already.
fn rebuilt(
    status: u16,
    mut headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> reqwest::Response {
    headers.remove(reqwest::header::CONTENT_LENGTH);
    headers.remove(reqwest::header::TRANSFER_ENCODING);
    let mut response = http::Response::new(body);
    *response.status_mut() =
        reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::UNAUTHORIZED);
    *response.headers_mut() = headers;
    reqwest::Response::from(response)
}

/// An authorized call in progress: a copy of its request for a retry, the token its last attempt
/// carries, when that was sent, and when its first 401 came back (and whether a second retry
/// was judged since).
#[derive(Debug)]
pub(crate) struct Call {
    retry: Option<reqwest::Request>,
    token: Token,
    sent: (Instant, std::time::SystemTime),
    first_401: Option<(Instant, bool)>,
}

/// What follows the first attempt of a call.
#[derive(Debug)]
pub(crate) enum Next {
    /// The response to hand back.
    Done(reqwest::Response),
    /// Send this once more (a new token after a 401).
    Retry(reqwest::Request),
}

/// Sets `Authorization: Bearer <token>` (marked sensitive).
fn authorize(
    request: &mut reqwest::Request,
    token: &Token,
    vendor: &'static str,
) -> Result<(), Error> {
    request.headers_mut().insert(
        AUTHORIZATION,
        token
            .authorization_value()
            .map_err(|e| e.for_vendor(vendor))?,
    );
    Ok(())
}
