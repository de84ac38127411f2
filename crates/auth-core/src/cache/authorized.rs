//! Authorized calls: [`TokenCache::send`] and [`TokenCache::execute`] put the bearer token on a
//! request, and on a 401 invalidate it and try once more with a new one. A source that reads
//! refusals sees 401 and 403 bodies first.

use reqwest::header::AUTHORIZATION;

use crate::cache::TokenCache;
use crate::error::{ConfigProblem, Error};
use crate::http::{
    ErrorBody, HttpClient, HttpRequest, HttpResponse, check_url, read_capped, read_prefix,
    transport_error,
};
use crate::token::Token;

impl TokenCache {
    /// Sends `request` with `Authorization: Bearer <token>`. On a 401 it invalidates the token
    /// and retries exactly once with a new one (if the request can be cloned and a new token is
    /// had). If no token can be had, the request is not sent (fail closed). A plain-http request
    /// to a host that is not loopback is refused before the token is attached.
    ///
    /// For a source that cannot renew (a static token), a 401 is returned as
    /// [`ErrorKind::TokenRevoked`](crate::ErrorKind::TokenRevoked).
    ///
    /// # Errors
    /// No token could be had (nothing is sent), the request could not be built or is plain http to
    /// a host that is not loopback (`Configuration`), or it could not be sent (`Transport`,
    /// `Timeout`); for a source that cannot renew, a 401 is `TokenRevoked`.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.send_within(request, None).await
    }

    /// [`send`](Self::send), each attempt bounded by `timeout` unless the request has its own.
    pub(crate) async fn send_within(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Option<std::time::Duration>,
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
        let (first, mut call) = self.begin(request, timeout).await?;
        let response = client
            .execute(first)
            .await
            .map_err(|e| transport_error(vendor, e))?;
        match self.finish(&mut call, response).await? {
            Next::Done(response) => Ok(response),
            Next::Retry(request) => client
                .execute(request)
                .await
                .map_err(|e| transport_error(vendor, e)),
        }
    }

    /// Prepares an authorized call of `request`: refuses plain http to a host that is not
    /// loopback, bounds it by `timeout` unless it has its own, keeps a copy for one retry, and
    /// attaches the token (none: nothing is sent). Returns the request to send first.
    pub(crate) async fn begin(
        &self,
        mut request: reqwest::Request,
        timeout: Option<std::time::Duration>,
    ) -> Result<(reqwest::Request, Call), Error> {
        let vendor = self.vendor();
        check_url(
            vendor,
            "request URL",
            request.url(),
            self.options().allow_plain_http,
        )?;
        if let (Some(timeout), None) = (timeout, request.timeout()) {
            *request.timeout_mut() = Some(timeout);
        }
        let retry = request.try_clone();
        let token = self.token().await?;
        authorize(&mut request, &token, vendor)?;
        let call = Call {
            retry,
            token,
            sent: (self.clock().now(), self.clock().system_now()),
        };
        Ok((request, call))
    }

    /// Judges the response to a call's first attempt: done, or the request to send once more
    /// with a new token after a 401 (see [`send`](Self::send)).
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
        let response = if self.source().reads_refusals() {
            let headers = response.headers().clone();
            let body = read_prefix(vendor, response, REFUSAL_BYTES).await?;
            let seen = HttpResponse::received(
                status,
                headers.clone(),
                body.clone(),
                call.sent,
                std::sync::Arc::new(vec![token.access_token().clone()]),
            );
            if let Some(err) = self.source().refusal(&seen) {
                return Err(err);
            }
            rebuilt(status, headers, body)
        } else {
            response
        };
        if status == 403 {
            return Ok(Next::Done(response));
        }
        if !self.source().can_renew() {
            let (_, body) = read_capped(vendor, response, 16 * 1024)
                .await
                .unwrap_or_default();
            let secrets = [token.access_token().clone()];
            let description = ErrorBody::parse(None, &body, &secrets).description;
            return Err(self.revoked(description));
        }
        let Some(mut retry) = call.retry.take() else {
            self.invalidate(&token);
            return Ok(Next::Done(response));
        };
        match self.token_after_401(&token).await? {
            Some(fresh) => {
                authorize(&mut retry, &fresh, vendor)?;
                Ok(Next::Retry(retry))
            }
            None => Ok(Next::Done(response)),
        }
    }

    /// Sends the request `build` makes for a token through `http`, with the same 401 handling
    /// as [`send`](Self::send): on a 401 the token is invalidated and the request rebuilt and sent
    /// once more with a new token. For vendor calls described as [`HttpRequest`] values.
    ///
    /// [`HttpRequest`]: HttpRequest
    ///
    /// # Errors
    /// No token could be had, or the request could not be sent (`Transport`, `Timeout`), or the
    /// source recognized a refusal.
    pub async fn execute(
        &self,
        http: &HttpClient,
        build: impl Fn(&Token) -> HttpRequest,
    ) -> Result<HttpResponse, Error> {
        let vendor = self.vendor();
        let token = self.token().await?;
        let response = http.send(vendor, &build(&token)).await?;
        let source = &self.source();
        if matches!(response.status(), 401 | 403) && source.reads_refusals() {
            if let Some(err) = source.refusal(&response) {
                return Err(err);
            }
        }
        if response.status() != 401 {
            return Ok(response);
        }
        if !self.source().can_renew() {
            return Err(self.revoked(response.error_body().description));
        }
        match self.token_after_401(&token).await? {
            Some(fresh) => http.send(vendor, &build(&fresh)).await,
            None => Ok(response),
        }
    }

    /// `response` itself when its status is a success (2xx or 3xx; its body untouched, to read
    /// or stream), else the error it means: the first 16 KiB of the body are read (the rest is
    /// dropped) and classified with [`HttpResponse::to_api_error`], the current token scrubbed
    /// from it, after the source's own reading of refusals (P21's missing permissions).
    ///
    /// # Errors
    /// The classified error of a failed call (`Rejected`, `Forbidden`, `Throttled`,
    /// `UnexpectedStatus`), or `Transport` if the error body could not be read.
    pub async fn error_for_status(
        &self,
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
            .fresh()
            .map(|t| vec![t.access_token().clone()])
            .unwrap_or_default();
        let seen = HttpResponse::received(
            status,
            headers,
            body,
            (self.clock().now(), self.clock().system_now()),
            std::sync::Arc::new(secrets),
        );
        if matches!(status, 401 | 403) && self.source().reads_refusals() {
            if let Some(err) = self.source().refusal(&seen) {
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
        self.invalidate(rejected);
        let fresh = self.token().await?;
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

/// An authorized call in progress: a copy of its request for one retry, the token it carries,
/// and when it was sent.
#[derive(Debug)]
pub(crate) struct Call {
    retry: Option<reqwest::Request>,
    token: Token,
    sent: (std::time::Instant, std::time::SystemTime),
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
