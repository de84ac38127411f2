//! [`HttpRequest`]: a request described as a value, with the secrets it carries remembered.

use std::fmt;
use std::sync::Arc;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use auth_core::error::{ConfigProblem, Error};
use auth_core::secret::Secret;

/// A request described as a value, built by a pure function in a vendor crate.
///
/// The secrets that went into it (passwords in a form, a consumer key in JSON, credentials in
/// headers) are remembered so that they can be scrubbed from any error excerpt, even if a server
/// echoes the request back. `Debug` shows neither the body nor sensitive headers.
///
/// ```
/// use auth_core::Secret;
/// use auth_http::HttpRequest;
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
    /// Whether the body is a form (and `Content-Type` says so).
    is_form: bool,
    /// Shared with the responses to this request (which scrub them from error excerpts).
    secrets: Arc<Vec<Secret>>,
    /// Why the request cannot be sent as described (a header that could not be set): reported by
    /// [`HttpClient::send`](crate::HttpClient::send) instead of sending a request with a part silently missing.
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
            is_form: false,
            secrets: Arc::default(),
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
    /// request: [`HttpClient::send`](crate::HttpClient::send) then fails with a configuration error naming the header.
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
    pub fn bearer(mut self, token: &auth_core::Token) -> Self {
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
        if !self.is_form {
            self.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            self.is_form = true;
        }
        if self.body.is_empty() {
            self.body.reserve(256); // a token request's whole form, without regrowing
        } else {
            self.body.push(b'&');
        }
        push_form_encoded(&mut self.body, name);
        self.body.push(b'=');
        push_form_encoded(&mut self.body, value);
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
    /// use auth_core::Secret;
    /// use auth_http::HttpRequest;
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
        self.is_form = false;
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
            Arc::make_mut(&mut self.secrets).push(secret.clone());
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

    /// The secrets the request carries.
    pub(crate) fn secrets(&self) -> &Arc<Vec<Secret>> {
        &self.secrets
    }

    /// Fails if the request cannot be sent as described (a header that could not be set).
    pub(crate) fn check(&self, vendor: &'static str) -> Result<(), Error> {
        match &self.problem {
            Some(problem) => Err(problem.to_error(vendor)),
            None => Ok(()),
        }
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

/// Appends `text` form-encoded: as is when nothing in it needs encoding (the usual field name
/// or value), otherwise through `form_urlencoded`.
fn push_form_encoded(out: &mut Vec<u8>, text: &str) {
    /// The bytes `application/x-www-form-urlencoded` leaves as they are.
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_');
            b += 1;
        }
        table
    };
    if text.bytes().all(|b| PLAIN[usize::from(b)]) {
        out.extend_from_slice(text.as_bytes());
    } else {
        for piece in form_urlencoded::byte_serialize(text.as_bytes()) {
            out.extend_from_slice(piece.as_bytes());
        }
    }
}

fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        s.parse().expect("test URL")
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

    proptest::proptest! {
        #[test]
        fn form_fields_encode_exactly_as_form_urlencoded(name in "[a-zA-Z0-9*._-]{0,12}", value in "\\PC{0,40}") {
            let req = HttpRequest::post(url("https://a.example/t")).form(&[(&name, &value)]);
            let expected = form_urlencoded::Serializer::new(String::new())
                .append_pair(&name, &value)
                .finish();
            proptest::prop_assert_eq!(String::from_utf8_lossy(req.body()), expected);
        }
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
}
