//! [`HttpResponse`]: a response with its body read, and what its failure status means.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderMap};

use crate::ErrorBody;
use crate::oauth::is_oauth_token_error;
use crate::scrub::scrub_bytes;
#[cfg(doc)]
use auth_core::ErrorKind;
use auth_core::clock::Clock;
use auth_core::error::{Error, is_transient_code};
use auth_core::secret::Secret;

/// A response with its body read (within the size cap), and when its request was sent, read once
/// from the client's clock in both monotonic and wall-clock time. Every time a parser needs
/// (a lifetime's start, "now" for an absolute expiry or a `Retry-After` date) comes from here, so
/// parsers take no clock and one injected clock drives them all.
#[derive(Clone)]
pub struct HttpResponse {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    sent_at: Instant,
    sent_at_system: SystemTime,
    secrets: Arc<Vec<Secret>>,
}

impl HttpResponse {
    /// A response as a value: `status`, headers and body, its request sent now on `clock`.
    /// Parser tests pass a manual clock to fix "now".
    ///
    /// ```
    /// use auth_core::SystemClock;
    /// use auth_http::HttpResponse;
    ///
    /// let resp = HttpResponse::new(429, Default::default(), "", &SystemClock);
    /// assert!(resp.to_error("example").is_retryable());
    /// ```
    #[must_use]
    pub fn new(
        status: u16,
        headers: HeaderMap,
        body: impl Into<Vec<u8>>,
        clock: &dyn Clock,
    ) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
            sent_at: clock.now(),
            sent_at_system: clock.system_now(),
            secrets: Arc::default(),
        }
    }

    /// A response as [`HttpClient::send`](crate::HttpClient::send) received it.
    pub(crate) fn received(
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
        sent: (Instant, SystemTime),
        secrets: Arc<Vec<Secret>>,
    ) -> Self {
        Self {
            status,
            headers,
            body,
            sent_at: sent.0,
            sent_at_system: sent.1,
            secrets,
        }
    }

    /// The same response, knowing the secrets its request carried (scrubbed from its errors).
    #[must_use]
    pub fn with_secrets(mut self, secrets: Vec<Secret>) -> Self {
        self.secrets = Arc::new(secrets);
        self
    }

    /// The HTTP status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body bytes.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// When the request that got this response was sent (token lifetimes start here).
    #[must_use]
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// The same moment as [`sent_at`](Self::sent_at) in wall-clock time, on the same clock:
    /// "now" for judging absolute dates when the server does not say what time it is.
    #[must_use]
    pub fn sent_at_system(&self) -> SystemTime {
        self.sent_at_system
    }

    /// The `Content-Type` header, if present and text.
    #[must_use]
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// A malformed-response error saying `what` was wrong, with this response's content type
    /// (scrubbed of the request's secrets and cut short). `what` must not quote the body.
    #[must_use]
    pub fn malformed(&self, vendor: &'static str, what: impl Into<String>) -> Error {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| scrub_bytes(v.as_bytes(), &self.secrets))
            .map(|v| crate::scrub::unless_echoing(v, &self.secrets));
        Error::malformed(vendor, what, content_type.as_deref())
    }

    /// The server's `Date` header, if it has a valid one: the server's own clock, against
    /// which its absolute expiry dates are judged.
    #[must_use]
    pub fn date(&self) -> Option<SystemTime> {
        let value = self.headers.get(header::DATE)?.to_str().ok()?;
        httpdate::parse_http_date(value.trim()).ok()
    }

    /// The body without a UTF-8 byte-order mark, as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        let body = self
            .body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.body);
        match std::str::from_utf8(body) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(body),
        }
    }

    /// The error body, read in every shape the vendors use, scrubbed of the request's secrets.
    #[must_use]
    pub fn error_body(&self) -> ErrorBody {
        ErrorBody::parse(self.content_type(), &self.body, &self.secrets)
    }

    /// `Retry-After` as a duration: seconds as given, or an HTTP date judged against the
    /// server's own `Date` header (else the wall-clock time the request was sent).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        let now = self.date().unwrap_or(self.sent_at_system);
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// The error this response means when it is not a success, classified by status and body
    /// together (an OAuth server may answer 400 for every error): 401, any 4xx carrying an
    /// RFC 6749 token error code, and a 400 carrying any other error code are
    /// [`Rejected`](ErrorKind::Rejected), 403 is
    /// [`Forbidden`](ErrorKind::Forbidden), 429 is [`Throttled`](ErrorKind::Throttled), anything
    /// else [`UnexpectedStatus`](ErrorKind::UnexpectedStatus) with a short excerpt. Vendor
    /// crates refine this (hints, vendor-specific codes).
    #[must_use]
    pub fn to_error(&self, vendor: &'static str) -> Error {
        self.classify(vendor, true)
    }

    /// The error an **API** response (not a token response) means when it is not a success:
    /// 401 is [`Rejected`](ErrorKind::Rejected) (the token was refused), 403
    /// [`Forbidden`](ErrorKind::Forbidden), 429 [`Throttled`](ErrorKind::Throttled) with its
    /// `Retry-After`, anything else (404 among them)
    /// [`UnexpectedStatus`](ErrorKind::UnexpectedStatus) with the body's code, description and
    /// a short excerpt, scrubbed. Unlike [`to_error`](Self::to_error), an OAuth-looking code in a
    /// 400 is not taken for a refused credential.
    ///
    /// ```
    /// use auth_core::{ErrorKind, SystemClock};
    /// use auth_http::HttpResponse;
    ///
    /// let resp = HttpResponse::new(404, Default::default(), r#"{"Message":"No table named supplierz"}"#, &SystemClock);
    /// let err = resp.to_api_error("example");
    /// assert!(matches!(err.kind(), ErrorKind::UnexpectedStatus { status: 404, .. }));
    /// assert!(err.to_string().contains("No table named supplierz"));
    /// ```
    #[must_use]
    pub fn to_api_error(&self, vendor: &'static str) -> Error {
        self.classify(vendor, false)
    }

    /// The error of a failed response; `token_endpoint`: an error code in a 4xx may mean a
    /// refused credential (OAuth servers answer 400 for them).
    fn classify(&self, vendor: &'static str, token_endpoint: bool) -> Error {
        let body = self.error_body();
        let status = self.status;
        let code = body.code.as_deref();
        let refused = token_endpoint
            && ((400..=499).contains(&status) && code.is_some_and(is_oauth_token_error)
                || status == 400 && code.is_some_and(|c| !is_transient_code(c)));
        match status {
            429 => Error::throttled(vendor, self.retry_after()),
            401 => Error::rejected(vendor, Some(status), body.code, body.description),
            _ if refused => Error::rejected(vendor, Some(status), body.code, body.description),
            403 => Error::forbidden(vendor, status, body.code, body.description),
            _ => {
                Error::unexpected_status(vendor, status, body.code, body.description, body.excerpt)
            }
        }
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may hold a token: only its length is shown.
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::ErrorKind;
    use auth_core::clock::SystemClock;

    #[test]
    fn status_classification() {
        let resp = |status: u16, body: &str| {
            HttpResponse::new(status, HeaderMap::new(), body, &SystemClock)
        };
        assert!(resp(401, "").to_error("v").is_rejected());
        assert!(
            resp(400, r#"{"error":"invalid_client"}"#)
                .to_error("v")
                .is_rejected()
        );
        assert!(
            !resp(400, r#"{"error":"server_error"}"#)
                .to_error("v")
                .is_rejected()
        );
        assert!(!resp(400, "bad").to_error("v").is_rejected());
        assert!(
            resp(403, r#"{"error":"invalid_client"}"#)
                .to_error("v")
                .is_rejected()
        );
        assert!(
            !resp(404, r#"{"error":"not_found"}"#)
                .to_error("v")
                .is_rejected()
        );
        assert!(matches!(
            resp(403, "").to_error("v").kind(),
            ErrorKind::Forbidden { .. }
        ));
        assert!(matches!(
            resp(429, "").to_error("v").kind(),
            ErrorKind::Throttled {
                retry_after: None,
                ..
            }
        ));
        let e = resp(500, "<h1>oops</h1>").to_error("v");
        assert!(e.is_retryable());
        assert!(e.to_string().contains("oops"));
    }
}
