//! HTTP plumbing shared by the vendor crates: the https rule, timeouts, capped body reads,
//! bounded retries with backoff and `Retry-After`, and error bodies read in every shape.
//!
//! Vendor crates describe a request as a pure [`HttpRequest`] value, send it through
//! [`HttpClient::send`], and parse the [`HttpResponse`] with a pure function.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigProblem, Error, ErrorKind, is_transient_code, is_transient_status};
use crate::scrub::{scrub, scrub_bytes};
use crate::secret::{REDACTED, Secret};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout for one attempt of a request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline of one [`HttpClient::send`], across its attempts and waits.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// Default cap on a response body: 64 KiB. Token responses are a few hundred bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How many characters of an unexpected body an error keeps.
pub const EXCERPT_CHARS: usize = 200;

const VENDOR: &str = "auth-core";

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A request described as a value, built by a pure function in a vendor crate.
///
/// The secrets that went into it (passwords in a form, a consumer key in JSON, credentials in
/// headers) are remembered so that they can be scrubbed from any error excerpt, even if a server
/// echoes the request back. `Debug` shows neither the body nor sensitive headers.
///
/// ```
/// use auth_core::{HttpRequest, Secret};
///
/// let url = "https://auth.example.com/connect/token".parse().unwrap();
/// let req = HttpRequest::post(url)
///     .form(&[("grant_type", "client_credentials"), ("client_id", "me")])
///     .form_secret("client_secret", &Secret::new("a&b=c+d"));
/// assert_eq!(
///     std::str::from_utf8(req.body()).unwrap(),
///     "grant_type=client_credentials&client_id=me&client_secret=a%26b%3Dc%2Bd"
/// );
/// assert!(!format!("{req:?}").contains("a&b"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct HttpRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
    json: Option<serde_json::Map<String, serde_json::Value>>,
    secrets: Vec<Secret>,
    /// Why the request cannot be sent as described (a header that could not be set): reported by
    /// [`HttpClient::send`] instead of sending a request with a part silently missing.
    problem: Option<Problem>,
}

#[derive(Clone, Debug)]
enum Problem {
    HeaderName(String),
    HeaderValue(String),
    Token,
}

impl HttpRequest {
    /// A request with `method` to `url`, no headers and an empty body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Vec::new(),
            json: None,
            secrets: Vec::new(),
            problem: None,
        }
    }

    /// A `POST` to `url`.
    pub fn post(url: Url) -> Self {
        Self::new(Method::POST, url)
    }

    /// A `GET` of `url`.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// Adds a header. A name or value that HTTP cannot carry is not sent, and neither is the
    /// request: [`HttpClient::send`] then fails with a configuration error naming the header.
    pub fn header(self, name: &str, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(value) => self.append(name, value),
            Err(_) => self.fail(Problem::HeaderValue(name.to_owned())),
        }
    }

    /// Adds a header carrying a secret: marked sensitive, and the secret remembered for scrubbing.
    /// A secret that HTTP cannot carry in a header fails the request as [`header`](Self::header)
    /// does (the error names the header, never the value).
    pub fn secret_header(self, name: &str, secret: &Secret) -> Self {
        let this = self.remember(secret);
        match HeaderValue::from_str(secret.expose_secret()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                this.append(name, value)
            }
            Err(_) => this.fail(Problem::HeaderValue(name.to_owned())),
        }
    }

    fn append(mut self, name: &str, value: HeaderValue) -> Self {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => {
                self.headers.append(name, value);
                self
            }
            Err(_) => self.fail(Problem::HeaderName(name.to_owned())),
        }
    }

    fn fail(mut self, problem: Problem) -> Self {
        self.problem.get_or_insert(problem);
        self
    }

    /// Adds `Authorization: Bearer <token>`, marked sensitive. A token that cannot travel in a
    /// header fails the request as a malformed token when it is sent; it is never dropped.
    pub fn bearer(mut self, token: &crate::Token) -> Self {
        match token.authorization_value() {
            Ok(value) => {
                self.headers.insert(header::AUTHORIZATION, value);
            }
            Err(_) => self.problem = Some(Problem::Token),
        }
        self.remember(token.access_token())
    }

    /// Adds `Authorization: Basic ...` for an OAuth client (RFC 6749 §2.3.1: both parts are
    /// form-encoded before being joined and base64-encoded), marked sensitive.
    pub fn basic_auth(mut self, client_id: &str, client_secret: &Secret) -> Self {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(client_id), enc(client_secret.expose_secret()));
        let encoded = Secret::new(base64(pair.as_bytes()));
        // Base64 is always a valid header value.
        if let Ok(mut value) = HeaderValue::try_from(format!("Basic {}", encoded.expose_secret())) {
            value.set_sensitive(true);
            self.headers.insert(header::AUTHORIZATION, value);
        }
        // The encoded pair is as secret as the secret: a server echoing the header shows it.
        self.remember(client_secret).remember(&encoded)
    }

    /// Appends form fields (`application/x-www-form-urlencoded`, every reserved character
    /// percent-encoded, `+` as `%2B`).
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        for (name, value) in fields {
            self.append_form(name, value);
        }
        self
    }

    /// Appends one form field carrying a secret.
    pub fn form_secret(mut self, name: &str, secret: &Secret) -> Self {
        self.append_form(name, secret.expose_secret());
        self.remember(secret)
    }

    fn append_form(&mut self, name: &str, value: &str) {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let pair = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        if !self.body.is_empty() {
            self.body.push(b'&');
        }
        self.body.extend_from_slice(pair.as_bytes());
    }

    /// Sets field `name` of a JSON object body (and `Content-Type: application/json`). Fields
    /// are written in name order. Secrets go in with [`json_secret`](Self::json_secret), which
    /// remembers them: a JSON body has no other way in.
    pub fn json_field(self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.set_json(name, value.into())
    }

    /// Sets field `name` of a JSON object body to a secret, remembered for scrubbing.
    ///
    /// ```
    /// use auth_core::{HttpRequest, Secret};
    ///
    /// let url = "https://erp.example.com/api/token".parse().unwrap();
    /// let req = HttpRequest::post(url)
    ///     .json_field("username", "api")
    ///     .json_secret("password", &Secret::new("p\"w"));
    /// assert_eq!(req.body(), br#"{"password":"p\"w","username":"api"}"#);
    /// ```
    pub fn json_secret(self, name: &str, secret: &Secret) -> Self {
        self.remember(secret)
            .set_json(name, secret.expose_secret().into())
    }

    fn set_json(mut self, name: &str, value: serde_json::Value) -> Self {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let map = self.json.get_or_insert_with(serde_json::Map::new);
        map.insert(name.to_owned(), value);
        self.body = serde_json::to_vec(map).unwrap_or_default();
        self
    }

    /// Remembers a secret that the request carries, so that error excerpts never show it.
    pub fn remember(mut self, secret: &Secret) -> Self {
        if !secret.is_empty() {
            self.secrets.push(secret.clone());
        }
        self
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
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
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// A response with its body read (within the size cap), and the time its request was sent.
#[derive(Clone)]
pub struct HttpResponse {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    sent_at: std::time::Instant,
    secrets: Vec<Secret>,
}

impl HttpResponse {
    /// A response as a value, for parser tests: `status`, headers, body, sent at `sent_at`.
    #[must_use]
    pub fn new(
        status: u16,
        headers: HeaderMap,
        body: impl Into<Vec<u8>>,
        sent_at: std::time::Instant,
    ) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
            sent_at,
            secrets: Vec::new(),
        }
    }

    /// The same response, knowing the secrets its request carried (scrubbed from its errors).
    #[must_use]
    pub fn with_secrets(mut self, secrets: Vec<Secret>) -> Self {
        self.secrets = secrets;
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
    pub fn sent_at(&self) -> std::time::Instant {
        self.sent_at
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
            .map(|v| scrub_bytes(v.as_bytes(), &self.secrets));
        Error::malformed(vendor, what, content_type.as_deref())
    }

    /// The server's `Date` header, if it has a valid one: the server's own clock, against
    /// which its absolute expiry dates are judged.
    #[must_use]
    pub fn date(&self) -> Option<std::time::SystemTime> {
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
        String::from_utf8_lossy(body)
    }

    /// The error body, read in every shape the vendors use, scrubbed of the request's secrets.
    #[must_use]
    pub fn error_body(&self) -> ErrorBody {
        ErrorBody::parse(self.content_type(), &self.body, &self.secrets)
    }

    /// `Retry-After` (seconds or an HTTP date) as a duration from now on `clock`.
    #[must_use]
    pub fn retry_after(&self, clock: &dyn Clock) -> Option<Duration> {
        let value = self.headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        Some(
            at.duration_since(clock.system_now())
                .unwrap_or(Duration::ZERO),
        )
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
        self.to_error_with_clock(vendor, &SystemClock)
    }

    /// [`to_error`](Self::to_error) with `Retry-After` dates read against `clock`.
    #[must_use]
    pub fn to_error_with_clock(&self, vendor: &'static str, clock: &dyn Clock) -> Error {
        let body = self.error_body();
        let status = self.status;
        let kind = match status {
            429 => ErrorKind::Throttled {
                retry_after: self.retry_after(clock),
            },
            401 => ErrorKind::Rejected {
                status: Some(status),
                code: body.code,
                description: body.description,
            },
            400..=499 if body.code.as_deref().is_some_and(is_oauth_token_error) => {
                ErrorKind::Rejected {
                    status: Some(status),
                    code: body.code,
                    description: body.description,
                }
            }
            400 if body.code.as_deref().is_some_and(|c| !is_transient_code(c)) => {
                ErrorKind::Rejected {
                    status: Some(status),
                    code: body.code,
                    description: body.description,
                }
            }
            403 => ErrorKind::Forbidden {
                status,
                code: body.code,
                description: body.description,
            },
            _ => ErrorKind::UnexpectedStatus {
                status,
                code: body.code,
                description: body.description,
                excerpt: body.excerpt,
            },
        };
        Error::new(vendor, kind)
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

/// What an error body said, whatever its shape.
///
/// Recognised, with keys compared case-insensitively: OAuth (`error`, `error_description`),
/// PascalCase (`Error`, `Description`), `ErrorMessage`/`ErrorType`, ASP.NET `Message`, Spring
/// (`error`, `message`, `status`), a nested `{"error": {"code", "message"}}`, plain text, HTML
/// (tags stripped) and an empty body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The error code (`invalid_grant`, `unauthorized_client`, ...).
    pub code: Option<String>,
    /// The human-readable description.
    pub description: Option<String>,
    /// A short excerpt of the body (tags and extra white space removed), for unknown shapes.
    pub excerpt: String,
}

impl ErrorBody {
    /// Reads an error body. `secrets` are replaced by `[redacted]` wherever they appear.
    #[must_use]
    pub fn parse(content_type: Option<&str>, body: &[u8], secrets: &[Secret]) -> Self {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        // Scrub the whole body, as bytes, before anything is decoded, parsed or cut, so that no
        // secret survives in part at a cut; the parsed fields are scrubbed again below.
        let text = scrub_bytes(body, secrets);
        let trimmed = text.trim();
        let mut out = ErrorBody::default();
        if trimmed.is_empty() {
            return out;
        }
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(trimmed) {
            let get = |names: &[&str]| {
                map.iter()
                    .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                    .map(|(_, v)| v)
            };
            let string = |v: Option<&serde_json::Value>| {
                v.and_then(|v| v.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            match get(&["error"]) {
                Some(serde_json::Value::Object(nested)) => {
                    let nested_get = |name: &str| {
                        nested
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v)
                    };
                    out.code = string(nested_get("code"));
                    out.description = string(nested_get("message"));
                }
                other => out.code = string(other).or_else(|| string(get(&["errortype", "code"]))),
            }
            if out.description.is_none() {
                out.description = string(get(&[
                    "error_description",
                    "description",
                    "errordescription",
                    "errormessage",
                    "message",
                    "detail",
                ]));
            }
        } else {
            let looks_html =
                content_type.is_some_and(|ct| ct.contains("html")) || trimmed.starts_with('<');
            let plain = if looks_html {
                strip_tags(trimmed)
            } else {
                trimmed.to_owned()
            };
            let plain = collapse_whitespace(&plain);
            if !looks_html && !plain.is_empty() {
                out.description = Some(truncate(&plain, EXCERPT_CHARS));
            }
        }
        out.excerpt = truncate(&collapse_whitespace(trimmed), EXCERPT_CHARS);
        if trimmed.starts_with('<') {
            out.excerpt = truncate(&collapse_whitespace(&strip_tags(trimmed)), EXCERPT_CHARS);
        }
        out.code = out
            .code
            .map(|c| truncate(&scrub(&c, secrets), EXCERPT_CHARS));
        out.description = out
            .description
            .map(|d| truncate(&scrub(&d, secrets), EXCERPT_CHARS));
        out.excerpt = scrub(&out.excerpt, secrets);
        out
    }
}

/// Parses an RFC 6749 §5.1 token response: a JSON object with `access_token`, `token_type`
/// (default `Bearer`), `expires_in` (a number or numeric string; `default_lifetime` when absent
/// or unusable), and optionally `refresh_token` and `scope`. A failure status is classified with
/// [`HttpResponse::to_error`]; a 200 without a token is a malformed-response error naming the
/// content type. The lifetime is measured from when the request was sent.
///
/// ```
/// use std::time::{Duration, Instant};
/// use auth_core::{HttpResponse, parse_oauth_token};
///
/// let resp = HttpResponse::new(200, Default::default(),
///     r#"{"access_token":"t","token_type":"bearer","expires_in":"60","scope":"a b"}"#, Instant::now());
/// let token = parse_oauth_token("example", &resp, Duration::from_secs(3600)).unwrap();
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(60)));
/// assert_eq!(token.scope(), Some("a b"));
/// ```
pub fn parse_oauth_token(
    vendor: &'static str,
    response: &HttpResponse,
    default_lifetime: Duration,
) -> Result<crate::Token, Error> {
    if !response.is_success() {
        return Err(response.to_error(vendor));
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(response.text().trim())
            .map_err(|_| response.malformed(vendor, "the response is not a JSON object"))?;
    let text = |key: &str| {
        map.get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let access = text("access_token")
        .ok_or_else(|| response.malformed(vendor, "the response has no access_token"))?;
    let access = access_token(vendor, response, access)?;
    let lifetime = map
        .get("expires_in")
        .and_then(crate::lifetime_from_json)
        .unwrap_or(default_lifetime);
    let mut token = crate::Token::builder(access)
        .token_type(text("token_type").unwrap_or("Bearer"))
        .lifetime(response.sent_at(), Some(lifetime))
        .refresh_token(text("refresh_token").map(Secret::new));
    if let Some(scope) = text("scope") {
        token = token.scope(scope);
    }
    Ok(token.build())
}

/// The access token of a token response, checked to be usable as `Authorization: Bearer`:
/// surrounding white space is trimmed, and a token that is empty, or has white space or control
/// characters inside (CR, LF, NUL...), is a malformed response of `vendor`. Such a token could
/// not be sent, so it is refused before anything caches it.
///
/// ```
/// use std::time::Instant;
/// use auth_core::{HttpResponse, access_token};
///
/// let resp = HttpResponse::new(200, Default::default(), "", Instant::now());
/// assert!(access_token("example", &resp, " eyJ.abc.def\n").is_ok());
/// for bad in ["", "   ", "a\r\nSet-Cookie: x", "a\0b", "a b"] {
///     let err = access_token("example", &resp, bad).unwrap_err();
///     assert_eq!(err.vendor(), "example");
/// }
/// ```
pub fn access_token(
    vendor: &'static str,
    response: &HttpResponse,
    raw: &str,
) -> Result<Secret, Error> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(response.malformed(vendor, "the access token is empty"));
    }
    if !crate::token::is_sendable(token) {
        return Err(response.malformed(
            vendor,
            "the access token has white space or control characters and cannot be sent in an HTTP header",
        ));
    }
    Ok(Secret::new(token))
}

/// The lifetime of a token whose server gave an absolute expiry date, measured from when the
/// request was sent.
///
/// The date is judged on the server's own clock when the response says what time it was there
/// (`issued`, the server's issue date, else its `Date` header), so that a skewed clock on either
/// side does not shorten or lengthen the token; otherwise on `clock`. An expiry at or before the
/// issue time is a malformed response: the token was dead on arrival.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use auth_core::{HttpResponse, SystemClock, lifetime_until};
///
/// let resp = HttpResponse::new(200, Default::default(), "", Instant::now());
/// let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
/// let expires = issued + Duration::from_secs(1_800);
/// let lifetime = lifetime_until("example", &resp, expires, Some(issued), &SystemClock);
/// assert_eq!(lifetime.unwrap(), Duration::from_secs(1_800));
/// assert!(lifetime_until("example", &resp, issued, Some(issued), &SystemClock).is_err());
/// ```
pub fn lifetime_until(
    vendor: &'static str,
    response: &HttpResponse,
    expires: std::time::SystemTime,
    issued: Option<std::time::SystemTime>,
    clock: &dyn Clock,
) -> Result<Duration, Error> {
    let lifetime = match issued.or_else(|| response.date()) {
        Some(server_now) => expires.duration_since(server_now).ok(),
        None => crate::instant_from_system_time(clock, expires)
            .map(|at| at.saturating_duration_since(response.sent_at())),
    };
    lifetime.filter(|l| !l.is_zero()).ok_or_else(|| {
        response.malformed(
            vendor,
            "the token's expiry date is not after its issue time (compare the server's clock with this host's)",
        )
    })
}

/// Whether `code` is one of the token-endpoint error codes of RFC 6749 §5.2 (compared
/// case-insensitively): `invalid_request`, `invalid_client`, `invalid_grant`,
/// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`.
#[must_use]
pub fn is_oauth_token_error(code: &str) -> bool {
    [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ]
    .iter()
    .any(|c| code.eq_ignore_ascii_case(c))
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(4096));
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// How transient failures are retried: connect errors, timeouts, 408, 429, 500, 502, 503, 504,
/// and OAuth `server_error` / `temporarily_unavailable`. 400, 401 and 403 are never retried.
///
/// ```
/// use std::time::Duration;
/// use auth_core::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(100));
/// assert_eq!(policy.attempts(), 5);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, backoff from 200 ms doubling up to 5 s with jitter, and a server's
    /// `Retry-After` honoured up to 30 s (beyond that the error is returned at once).
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        Self::default().max_attempts(1)
    }

    /// Total attempts, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff; it doubles on each retry.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest backoff between two attempts.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` that is waited out; a longer one ends the retries.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Total attempts, the first included.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before retry number `retry` (1-based): exponential, capped, with "equal jitter"
    /// (between half and all of the exponential value).
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(random_fraction())
    }
}

/// A random number in `[0, 1)` from the standard library's per-process random hasher keys.
pub(crate) fn random_fraction() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The HTTP client every vendor crate sends through.
///
/// Cheap to clone. Built with [`HttpClient::builder`]; the defaults are safe: https only (plain
/// http to loopback hosts only), 10 s connect and 30 s request timeouts, bodies capped at
/// 64 KiB, three attempts for transient failures, redirects followed only within the same origin.
///
/// ```
/// use std::time::Duration;
/// use auth_core::HttpClient;
///
/// let http = HttpClient::builder()
///     .timeout(Duration::from_secs(10))
///     .max_response_bytes(16 * 1024)
///     .build()?;
/// http.check_url("example", "TOKEN_URL", &"https://auth.example.com/token".parse().unwrap())?;
/// assert!(http.check_url("example", "TOKEN_URL", &"http://auth.example.com/token".parse().unwrap()).is_err());
/// # Ok::<(), auth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<HttpInner>,
}

struct HttpInner {
    client: reqwest::Client,
    timeout: Duration,
    deadline: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    allow_plain_http: bool,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.inner.timeout)
            .field("deadline", &self.inner.deadline)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .field("retry", &self.inner.retry)
            .field("allow_plain_http", &self.inner.allow_plain_http)
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpClient`]; see [`HttpClient::builder`].
///
/// There is deliberately no way to hand in a `reqwest::Client` built elsewhere: its redirect
/// policy would decide where a token request body goes, and a `307` to another origin would
/// carry the password there. What such a client is usually built for is here instead: a
/// [`proxy`](Self::proxy), extra [root certificates](Self::add_root_certificates_pem), a client
/// [identity](Self::identity_pem) for mutual TLS, and the choice of the
/// [platform verifier](Self::platform_verifier).
#[must_use]
pub struct HttpClientBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    deadline: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    allow_plain_http: bool,
    accept_invalid_certs: bool,
    http1_only: bool,
    user_agent: Option<String>,
    proxies: Vec<reqwest::Proxy>,
    root_certificates: Vec<Vec<u8>>,
    platform_verifier: bool,
    identity: Option<Secret>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("http1_only", &self.http1_only)
            .field("proxies", &self.proxies.len())
            .field("root_certificates", &self.root_certificates.len())
            .field("platform_verifier", &self.platform_verifier)
            .field("identity", &self.identity.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            allow_plain_http: false,
            accept_invalid_certs: false,
            http1_only: false,
            user_agent: None,
            proxies: Vec::new(),
            root_certificates: Vec::new(),
            platform_verifier: true,
            identity: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl HttpClientBuilder {
    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for one attempt, response body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest one [`send`](HttpClient::send) takes, across its attempts, backoff and
    /// `Retry-After` waits (default 30 s). An attempt is cut short to fit, and a wait that would
    /// end past it is not started: the last outcome is returned instead.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Cap on a response body (default 64 KiB); a larger body fails without being buffered.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// How transient failures are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends through a proxy (`reqwest::Proxy::https("http://proxy:3128")`, with
    /// `basic_auth` if it needs it). Call it again for more proxies; the first that matches a
    /// request's URL is used. Without it, no proxy is used (the environment is not read).
    pub fn proxy(mut self, proxy: reqwest::Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Trusts the certificates in `pem` (one or more `-----BEGIN CERTIFICATE-----` blocks) as
    /// roots, for a private CA or a test tenant's self-signed certificate, in addition to the
    /// platform's roots (or instead of them, with [`platform_verifier(false)`](Self::platform_verifier)).
    /// A PEM that does not parse fails [`build`](Self::build).
    ///
    /// Prefer this to [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs): it
    /// trusts one certificate, not every certificate.
    pub fn add_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Verifies server certificates with the platform's verifier and trust store (the default:
    /// the operating system's certificate store and revocation checks, through
    /// `rustls-platform-verifier` or the native TLS library). With `false`, only the roots added
    /// with [`add_root_certificates_pem`](Self::add_root_certificates_pem) are trusted.
    pub fn platform_verifier(mut self, enabled: bool) -> Self {
        self.platform_verifier = enabled;
        self
    }

    /// Presents a client certificate (mutual TLS): `pem` holds the certificate chain and its
    /// PKCS #8 private key as PEM blocks. It is kept as a [`Secret`]; a PEM that does not parse
    /// fails [`build`](Self::build) without quoting it.
    pub fn identity_pem(mut self, pem: Secret) -> Self {
        self.identity = Some(pem);
        self
    }

    /// **Dangerous**: allows plain `http://` to any host, not only loopback. Credentials and
    /// tokens then cross the network unencrypted. For lab networks that terminate TLS elsewhere.
    pub fn danger_allow_plain_http_to_any_host(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// **Dangerous**: accepts any server certificate, self-signed or forged. For test servers
    /// only; an attacker on the path can then read every credential sent.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Speaks only HTTP/1.1 (for servers whose HTTP/2 support is broken).
    pub fn http1_only(mut self, only: bool) -> Self {
        self.http1_only = only;
        self
    }

    /// The `User-Agent` sent (default `auth-core/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// The clock used for backoff sleeps, the deadline and `Retry-After` dates (default: the
    /// real one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// A configuration error if a root certificate or the identity does not parse, if TLS
    /// settings were given to a build without a TLS feature, or if the TLS backend cannot be
    /// set up.
    pub fn build(self) -> Result<HttpClient, Error> {
        install_crypto_provider();
        let agent = self
            .user_agent
            .unwrap_or_else(|| concat!("auth-core/", env!("CARGO_PKG_VERSION")).to_owned());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(agent)
            .redirect(same_origin_redirects())
            .no_proxy();
        for proxy in self.proxies {
            builder = builder.proxy(proxy);
        }
        builder = tls::configure(
            builder,
            &self.root_certificates,
            self.platform_verifier,
            self.identity.as_ref(),
            self.accept_invalid_certs,
        )?;
        if self.http1_only {
            builder = builder.http1_only();
        }
        let client = builder.build().map_err(|e| {
            Error::config(
                VENDOR,
                "http client",
                ConfigProblem::Invalid("the HTTP client could not be built".into()),
            )
            .with_source(e.without_url())
        })?;
        Ok(HttpClient {
            inner: Arc::new(HttpInner {
                client,
                timeout: self.timeout,
                deadline: self.deadline,
                max_response_bytes: self.max_response_bytes,
                retry: self.retry,
                allow_plain_http: self.allow_plain_http,
                clock: self.clock,
            }),
        })
    }
}

/// The TLS settings, with each backend's way of reading PEM.
mod tls {
    use super::{ConfigProblem, Error, Secret, VENDOR};

    fn invalid(setting: &str, why: &str) -> Error {
        Error::config(VENDOR, setting, ConfigProblem::Invalid(why.into()))
    }

    #[cfg(any(
        feature = "rustls-ring",
        feature = "rustls-aws-lc-rs",
        feature = "native-tls"
    ))]
    pub(super) fn configure(
        mut builder: reqwest::ClientBuilder,
        roots: &[Vec<u8>],
        platform_verifier: bool,
        identity: Option<&Secret>,
        accept_invalid_certs: bool,
    ) -> Result<reqwest::ClientBuilder, Error> {
        let mut certificates = Vec::new();
        for pem in roots {
            let parsed = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    invalid(
                        "root certificates",
                        "not one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
                    )
                })?;
            certificates.extend(parsed);
        }
        builder = if platform_verifier {
            builder.tls_certs_merge(certificates)
        } else {
            builder.tls_certs_only(certificates)
        };
        if let Some(pem) = identity {
            builder = builder.identity(identity_from_pem(pem.expose_secret().as_bytes())?);
        }
        Ok(builder.tls_danger_accept_invalid_certs(accept_invalid_certs))
    }

    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc-rs"))]
    fn identity_from_pem(pem: &[u8]) -> Result<reqwest::Identity, Error> {
        reqwest::Identity::from_pem(pem).map_err(|_| {
            invalid(
                "identity",
                "not a PEM certificate chain with its private key",
            )
        })
    }

    #[cfg(all(
        feature = "native-tls",
        not(any(feature = "rustls-ring", feature = "rustls-aws-lc-rs"))
    ))]
    fn identity_from_pem(pem: &[u8]) -> Result<reqwest::Identity, Error> {
        // The native backend wants the certificates and the key apart.
        let text =
            std::str::from_utf8(pem).map_err(|_| invalid("identity", "the PEM is not text"))?;
        let (mut certs, mut key) = (String::new(), String::new());
        let mut block: Option<&mut String> = None;
        for line in text.lines() {
            if line.starts_with("-----BEGIN ") {
                block = Some(if line.contains("PRIVATE KEY") {
                    &mut key
                } else {
                    &mut certs
                });
            }
            if let Some(into) = block.as_deref_mut() {
                into.push_str(line);
                into.push('\n');
            }
            if line.starts_with("-----END ") {
                block = None;
            }
        }
        let key = Secret::new(key);
        reqwest::Identity::from_pkcs8_pem(certs.as_bytes(), key.expose_secret().as_bytes()).map_err(
            |_| {
                invalid(
                    "identity",
                    "not a PEM certificate chain with its PKCS #8 key",
                )
            },
        )
    }

    #[cfg(not(any(
        feature = "rustls-ring",
        feature = "rustls-aws-lc-rs",
        feature = "native-tls"
    )))]
    pub(super) fn configure(
        builder: reqwest::ClientBuilder,
        roots: &[Vec<u8>],
        _platform_verifier: bool,
        identity: Option<&Secret>,
        accept_invalid_certs: bool,
    ) -> Result<reqwest::ClientBuilder, Error> {
        if roots.is_empty() && identity.is_none() && !accept_invalid_certs {
            return Ok(builder);
        }
        Err(invalid(
            "tls",
            "this build has no TLS feature (rustls-ring, rustls-aws-lc-rs or native-tls)",
        ))
    }
}

/// Installs ring as the process's rustls crypto provider, unless one is installed already (a
/// provider the application installed first is left in place). Idempotent and cheap.
///
/// With the default `rustls-ring` feature, reqwest is built without a provider of its own, and
/// `reqwest::Client::new()` panics until one is installed. Every builder in this workspace calls
/// this, so clients built after any of ours just work. If you build your own `reqwest::Client`
/// first, call this before. Without the `rustls-ring` feature it does nothing.
///
/// ```
/// auth_core::install_crypto_provider();
/// let client = reqwest::Client::new();
/// # drop(client);
/// ```
pub fn install_crypto_provider() {
    #[cfg(feature = "rustls-ring")]
    {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    }
}

/// Follows at most five redirects, and only within the origin (scheme, host, port) of the first
/// request, so that neither a bearer token nor a token request body goes anywhere unexpected.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Whether `url`'s host is loopback: `localhost` (or `*.localhost`), 127.0.0.0/8 or `::1`.
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl HttpClient {
    /// Starts a builder with the safe defaults.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// The caller's client if one was given, else a client with the defaults and
    /// `user_agent`; errors are said of `vendor`. What every vendor builder does.
    pub fn given_or_default(
        given: Option<HttpClient>,
        vendor: &'static str,
        user_agent: &str,
    ) -> Result<Self, Error> {
        match given {
            Some(http) => Ok(http),
            None => Self::builder()
                .user_agent(user_agent)
                .build()
                .map_err(|e| e.for_vendor(vendor)),
        }
    }

    /// A client with the defaults.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// The underlying `reqwest::Client` (for sending API requests through the same pool).
    #[must_use]
    pub fn reqwest_client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// Whether plain http to any host was allowed with
    /// [`danger_allow_plain_http_to_any_host`](HttpClientBuilder::danger_allow_plain_http_to_any_host).
    #[must_use]
    pub fn allows_plain_http(&self) -> bool {
        self.inner.allow_plain_http
    }

    /// The clock this client uses.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Checks that `url` may carry credentials: `https`, or `http` to a loopback host (or to any
    /// host when [`danger_allow_plain_http_to_any_host`](HttpClientBuilder::danger_allow_plain_http_to_any_host)
    /// is set). `setting` names where the URL came from, for the error.
    pub fn check_url(&self, vendor: &'static str, setting: &str, url: &Url) -> Result<(), Error> {
        check_url(vendor, setting, url, self.inner.allow_plain_http)
    }

    /// Sends `request`, retrying transient failures per the [`RetryPolicy`], and reads the body
    /// within the size cap. Any final response is returned, success or not; the vendor crate maps
    /// a failure status with [`HttpResponse::to_error`] and its own rules.
    pub async fn send(
        &self,
        vendor: &'static str,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Error> {
        self.check_url(vendor, "request URL", &request.url)?;
        if let Some(problem) = &request.problem {
            return Err(problem.to_error(vendor));
        }
        let clock = &self.inner.clock;
        let deadline = crate::clock::later(clock.now(), self.inner.deadline);
        let retry = &self.inner.retry;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(clock.now());
            if remaining.is_zero() {
                return Err(deadline_passed(vendor, self.inner.deadline));
            }
            let outcome = self
                .send_once(vendor, request, self.inner.timeout.min(remaining))
                .await;
            let wait = match &outcome {
                _ if attempt >= retry.attempts() => None,
                Ok(resp) => self.retry_wait(resp, attempt),
                Err(err) if err.is_retryable() => Some(retry.backoff(attempt)),
                Err(_) => None,
            };
            let Some(wait) = wait else {
                return outcome;
            };
            if wait >= deadline.saturating_duration_since(clock.now()) {
                tracing::debug!(
                    vendor,
                    attempt,
                    "transient failure; no time left before the deadline to retry"
                );
                return outcome;
            }
            tracing::debug!(
                vendor,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "transient failure, retrying"
            );
            clock.sleep(wait).await;
            attempt += 1;
        }
    }

    /// How long to wait before retrying after `resp`, or `None` if it is final.
    fn retry_wait(&self, resp: &HttpResponse, attempt: u32) -> Option<Duration> {
        let transient = is_transient_status(resp.status)
            || (resp.status == 400
                && resp
                    .error_body()
                    .code
                    .as_deref()
                    .is_some_and(is_transient_code));
        if !transient {
            return None;
        }
        let retry = &self.inner.retry;
        match resp.retry_after(&*self.inner.clock) {
            Some(wait) if wait > retry.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(retry.backoff(attempt)),
        }
    }

    async fn send_once(
        &self,
        vendor: &'static str,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, Error> {
        let sent_at = self.inner.clock.now();
        let response = self
            .inner
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .body(request.body.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(vendor, e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_capped(vendor, response, self.inner.max_response_bytes).await?;
        Ok(HttpResponse {
            status,
            headers,
            body,
            sent_at,
            secrets: request.secrets.clone(),
        })
    }
}

/// Parses a base URL given in a setting, with a configuration error naming `setting` if it is not
/// an absolute http(s) URL. A query or fragment is refused (they would be lost when endpoints are
/// joined). The https rule is checked separately, by [`HttpClient::check_url`].
pub fn parse_base_url(vendor: &'static str, setting: &str, value: &str) -> Result<Url, Error> {
    let url = Url::parse(value.trim()).map_err(|e| {
        Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid(format!("not a URL ({e})")),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid("expected an absolute http(s) URL".into()),
        ));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid("a base URL has no query, fragment or credentials".into()),
        ));
    }
    Ok(url)
}

/// A required base URL: a configuration error naming `setting` if it was not given, else
/// [`parse_base_url`].
pub fn required_base_url(
    vendor: &'static str,
    setting: &str,
    value: Option<&str>,
) -> Result<Url, Error> {
    let value = value.ok_or_else(|| Error::config(vendor, setting, ConfigProblem::Missing))?;
    parse_base_url(vendor, setting, value)
}

/// `base` joined with `path`: any path prefix in `base` is kept, exactly one `/` separates them,
/// and `path`'s own query (after `?`) is kept.
///
/// ```
/// use auth_core::endpoint;
///
/// let base = "https://host/Company/".parse().unwrap();
/// assert_eq!(endpoint(&base, "/token").as_str(), "https://host/Company/token");
/// let base = "https://host".parse().unwrap();
/// assert_eq!(endpoint(&base, "api/ui/router/v1?urlType=external").as_str(),
///            "https://host/api/ui/router/v1?urlType=external");
/// ```
#[must_use]
pub fn endpoint(base: &Url, path: &str) -> Url {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url.set_query(query);
    url.set_fragment(None);
    url
}

/// [`HttpClient::check_url`] as a free function.
pub fn check_url(
    vendor: &'static str,
    setting: &str,
    url: &Url,
    allow_plain_http: bool,
) -> Result<(), Error> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_plain_http || is_loopback(url) => Ok(()),
        "http" => Err(Error::config(vendor, setting, ConfigProblem::InsecureUrl)),
        other => Err(Error::config(
            vendor,
            setting,
            ConfigProblem::Invalid(format!("scheme {other:?} is not http or https")),
        )),
    }
}

impl Problem {
    fn to_error(&self, vendor: &'static str) -> Error {
        match self {
            Problem::HeaderName(name) => Error::config(
                vendor,
                format!("request header {name:?}"),
                ConfigProblem::Invalid("not a valid HTTP header name".into()),
            ),
            Problem::HeaderValue(name) => Error::config(
                vendor,
                format!("request header {name:?}"),
                ConfigProblem::Invalid(
                    "its value cannot be sent in an HTTP header (control characters or line breaks)"
                        .into(),
                ),
            ),
            Problem::Token => Error::malformed(
                vendor,
                "the access token cannot be sent in an HTTP header",
                None,
            ),
        }
    }
}

fn deadline_passed(vendor: &'static str, deadline: Duration) -> Error {
    Error::new(vendor, ErrorKind::Timeout).with_source(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the {} ms deadline passed", deadline.as_millis()),
    ))
}

/// Maps a reqwest error to a transport or timeout error, without the URL.
pub(crate) fn transport_error(vendor: &'static str, e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    Error::new(vendor, kind).with_source(e.without_url())
}

/// Reads a response body chunk by chunk, failing as soon as it passes `max` bytes (or at once
/// when `Content-Length` already says so). Nothing past the cap is buffered.
pub(crate) async fn read_capped(
    vendor: &'static str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Error> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let too_large = || {
        Error::malformed(
            vendor,
            format!("response body larger than the {max}-byte limit"),
            content_type.as_deref(),
        )
    };
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(vendor, e))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads at most `max` bytes of a response body and drops the rest (for refusals, whose start
/// is all that is needed).
pub(crate) async fn read_prefix(
    vendor: &'static str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(vendor, e))?
    {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == max {
            break;
        }
    }
    Ok(body)
}

/// Standard base64 with padding (for `Authorization: Basic`).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        s.parse().expect("test URL")
    }

    #[test]
    fn https_rule() {
        for ok in [
            "https://example.com/t",
            "http://localhost:8080/t",
            "http://LOCALHOST/t",
            "http://api.localhost/t",
            "http://127.0.0.1:1/t",
            "http://127.8.9.10/t",
            "http://[::1]:99/t",
        ] {
            assert!(check_url("v", "URL", &url(ok), false).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/t",
            "http://10.0.0.1/t",
            "http://localhost.example.com/t",
            "http://[::2]/t",
            "http://128.0.0.1/t",
        ] {
            let err = check_url("v", "URL", &url(bad), false).expect_err(bad);
            assert!(matches!(
                err.kind(),
                ErrorKind::Configuration {
                    problem: ConfigProblem::InsecureUrl,
                    ..
                }
            ));
            assert!(
                check_url("v", "URL", &url(bad), true).is_ok(),
                "opt-in {bad}"
            );
        }
        let ftp = check_url("v", "URL", &url("ftp://example.com/"), true).expect_err("ftp");
        assert!(ftp.to_string().contains("ftp"));
    }

    #[test]
    fn form_encoding_keeps_special_characters() {
        let req = HttpRequest::post(url("https://x/t"))
            .form(&[("a", "1 2"), ("b", "ü")])
            .form_secret("s", &Secret::new("p&q=r+s/t%u"));
        assert_eq!(
            std::str::from_utf8(req.body()).ok(),
            Some("a=1+2&b=%C3%BC&s=p%26q%3Dr%2Bs%2Ft%25u")
        );
        assert_eq!(
            req.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn basic_auth_follows_rfc_6749() {
        let req = HttpRequest::post(url("https://x/t")).basic_auth("id:1", &Secret::new("s p"));
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .expect("authorization header");
        assert!(value.is_sensitive());
        // "id%3A1:s+p"
        assert_eq!(value.to_str().ok(), Some("Basic aWQlM0ExOnMrcA=="));
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn debug_hides_body_and_sensitive_headers() {
        let req = HttpRequest::post(url("https://x/t"))
            .secret_header("password", &Secret::new("SENTINEL-H"))
            .form_secret("client_secret", &Secret::new("SENTINEL-B"));
        let shown = format!("{req:?}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
    }

    #[test]
    fn error_bodies_in_every_shape() {
        let parse = |ct: Option<&str>, body: &str| ErrorBody::parse(ct, body.as_bytes(), &[]);
        let oauth = parse(
            Some("application/json"),
            r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#,
        );
        assert_eq!(oauth.code.as_deref(), Some("invalid_grant"));
        assert_eq!(
            oauth.description.as_deref(),
            Some("The user name or password is incorrect.")
        );
        let pascal = parse(
            None,
            r#"{"Description":"Authorization header was not present or 'Bearer' was missing.","Error":"invalid_request","Uri":""}"#,
        );
        assert_eq!(pascal.code.as_deref(), Some("invalid_request"));
        assert!(
            pascal
                .description
                .as_deref()
                .is_some_and(|d| d.starts_with("Authorization header"))
        );
        let p21 = parse(
            None,
            r#"{"ErrorMessage":"You are not authorized to access API","ErrorType":"Unauthorized"}"#,
        );
        assert_eq!(p21.code.as_deref(), Some("Unauthorized"));
        assert_eq!(
            p21.description.as_deref(),
            Some("You are not authorized to access API")
        );
        let aspnet = parse(
            None,
            r#"{"Message":"Authorization has been denied for this request."}"#,
        );
        assert_eq!(aspnet.code, None);
        assert_eq!(
            aspnet.description.as_deref(),
            Some("Authorization has been denied for this request.")
        );
        let spring = parse(
            None,
            r#"{"timestamp":"2024-01-01","status":500,"error":"Internal Server Error","path":"/apiops/auth/token"}"#,
        );
        assert_eq!(spring.code.as_deref(), Some("Internal Server Error"));
        let nested = parse(
            None,
            r#"{"error":{"code":"server_error","message":"down"}}"#,
        );
        assert_eq!(nested.code.as_deref(), Some("server_error"));
        assert_eq!(nested.description.as_deref(), Some("down"));
        let no_desc = parse(None, r#"{"ERROR":"invalid_client"}"#);
        assert_eq!(no_desc.code.as_deref(), Some("invalid_client"));
        assert_eq!(no_desc.description, None);
        let text = parse(Some("text/plain"), "  Bad credentials\n");
        assert_eq!(text.description.as_deref(), Some("Bad credentials"));
        let html = parse(
            Some("text/html"),
            "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad   Gateway</h1></body></html>",
        );
        assert_eq!(html.description, None);
        assert_eq!(html.excerpt, "502 Bad Gateway Bad Gateway");
        let empty = parse(None, "   ");
        assert_eq!(empty, ErrorBody::default());
        let bom = ErrorBody::parse(None, b"\xEF\xBB\xBF{\"error\":\"x\"}", &[]);
        assert_eq!(bom.code.as_deref(), Some("x"));
        let long = parse(None, &"y".repeat(10_000));
        assert!(long.excerpt.chars().count() <= EXCERPT_CHARS + 1);
    }

    #[test]
    fn excerpts_are_scrubbed_of_request_secrets() {
        let secrets = [Secret::new("pa ss&word"), Secret::new("k\"ey")];
        let body = r#"{"error":"invalid_request","error_description":"bad body client_secret=pa+ss%26word key k\"ey raw pa ss&word"}"#;
        let parsed = ErrorBody::parse(None, body.as_bytes(), &secrets);
        let d = parsed.description.expect("description");
        assert!(
            !d.contains("ss&word") && !d.contains("ss%26word") && !d.contains("k\"ey"),
            "{d}"
        );
        assert_eq!(d.matches(REDACTED).count(), 3, "{d}");
        assert!(!parsed.excerpt.contains("ss%26word"));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350));
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(
                b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100),
                "{b1:?}"
            );
            let b2 = p.backoff(2);
            assert!(
                b2 >= Duration::from_millis(100) && b2 <= Duration::from_millis(200),
                "{b2:?}"
            );
            let b9 = p.backoff(60);
            assert!(
                b9 >= Duration::from_millis(175) && b9 <= Duration::from_millis(350),
                "{b9:?}"
            );
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(samples.len() > 1, "jitter varies");
    }

    #[test]
    fn status_classification() {
        let resp = |status: u16, body: &str| {
            HttpResponse::new(status, HeaderMap::new(), body, std::time::Instant::now())
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
            ErrorKind::Throttled { retry_after: None }
        ));
        let e = resp(500, "<h1>oops</h1>").to_error("v");
        assert!(e.is_retryable());
        assert!(e.to_string().contains("oops"));
    }
}
