//! The P21 wire formats as pure functions: requests are built, responses parsed, errors mapped,
//! with no I/O. The client sends the requests through `auth_core`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{Error, Secret, Token};

use auth_http::{HttpRequest, HttpResponse, check_url, endpoint};

use auth_http::oauth::{access_token, lifetime_from_json, lifetime_from_str, lifetime_until};
use quick_xml::events::Event;
use reqwest::Url;
use serde_json::{Map, Value};

use crate::VENDOR;
use crate::credentials::{Credentials, Kind};

/// The lifetime assumed when a response states none (and the access token carries no `exp`):
/// one hour, as public P21 clients assume.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The path of the V2 token endpoint (user credentials and consumer keys).
pub const TOKEN_PATH_V2: &str = "api/security/token/v2";
/// The path of the legacy V1 token endpoint.
pub const TOKEN_PATH_V1: &str = "api/security/token";
/// The path and query of the UI server router.
pub const UI_ROUTER_PATH: &str = "api/ui/router/v1?urlType=external";

/// What a user with valid credentials but missing permissions must check.
pub const PERMISSIONS_HINT: &str = "the token is valid but the P21 user lacks API permissions: in the P21 Desktop Client set User Maintenance → Application Security → \"Allow OData API Service\" to Yes, and in Role Maintenance → Dataservice Permission allow the tables and views used (for a consumer key, check its API scope in SOA Admin)";

const NOT_FOUND_HINT: &str = "wrong endpoint or base URL: P21 serves tokens at <base URL>/api/security/token/v2 (V1: /api/security/token); check that the base URL is the P21 API host, e.g. https://tenant-api.epicordistribution.com";

/// The text P21 answers when a user lacks API permissions, with 401 or 403.
const NOT_AUTHORIZED_TEXT: &str = "you are not authorized to access api";

/// What the token response said beyond the token: read it with [`Session::of`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The granted scope (for consumer keys, from the key's configuration, e.g. `/api;/p21sdk`).
    pub scope: Option<String>,
    /// The middleware session this token opened.
    pub session_id: Option<String>,
    /// The consumer key's identifier.
    pub consumer_uid: Option<String>,
    /// The P21 user the token acts for (empty for consumer keys without a user).
    pub user_name: Option<String>,
}

impl Session {
    /// The P21 session details of a token obtained by this crate.
    #[must_use]
    pub fn of(token: &Token) -> Option<&Session> {
        token.details::<Session>()
    }

    /// The session as a shared store keeps it.
    pub(crate) fn to_stored(&self) -> Value {
        serde_json::json!({
            "scope": self.scope,
            "session_id": self.session_id,
            "consumer_uid": self.consumer_uid,
            "user_name": self.user_name,
        })
    }

    /// A session read back from a shared store; `None` if it is not one this crate wrote.
    pub(crate) fn from_stored(value: &Value) -> Option<Session> {
        let map = value.as_object()?;
        let text = |k: &str| match map.get(k) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => None,
        };
        Some(Session {
            scope: text("scope")?,
            session_id: text("session_id")?,
            consumer_uid: text("consumer_uid")?,
            user_name: text("user_name")?,
        })
    }
}

/// The token request for `credentials`, against the P21 API host `base`.
///
/// ```
/// use p21_auth::{Credentials, Secret, wire};
///
/// let base = "https://p21.example.com/".parse().unwrap();
/// let req = wire::token_request(&base, &Credentials::user("api_user", Secret::new("pw")));
/// assert_eq!(req.url().as_str(), "https://p21.example.com/api/security/token/v2");
/// assert_eq!(std::str::from_utf8(req.body()).unwrap(), r#"{"password":"pw","username":"api_user"}"#);
/// ```
pub fn token_request(base: &Url, credentials: &Credentials) -> HttpRequest {
    match &credentials.kind {
        Kind::User { username, password } => HttpRequest::post(endpoint(base, TOKEN_PATH_V2))
            .header("accept", "application/json")
            .json_field("username", username.as_str())
            .json_secret("password", password),
        Kind::ConsumerKey { key, username } => {
            let request = HttpRequest::post(endpoint(base, TOKEN_PATH_V2))
                .header("accept", "application/json")
                .json_secret("ClientSecret", key)
                .json_field("GrantType", "client_credentials");
            match username {
                Some(user) => request.json_field("username", user.as_str()),
                None => request,
            }
        }
        Kind::UserV1 { username, password } => HttpRequest::post(endpoint(base, TOKEN_PATH_V1))
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .header("username", username)
            .secret_header("password", password),
    }
}

/// The UI server router request (`GET /api/ui/router/v1?urlType=external`) with `token`.
pub fn ui_server_request(base: &Url, token: &Token) -> HttpRequest {
    HttpRequest::get(endpoint(base, UI_ROUTER_PATH))
        .header("accept", "application/json")
        .bearer(token)
}

/// Parses a token response, JSON or XML whatever the `Content-Type` says.
///
/// The lifetime comes from `ExpiresInSeconds` or `ExpiresIn` (a number or a numeric string),
/// else from the access token's JWT `exp`, else [`DEFAULT_LIFETIME`]; it is measured from when
/// the request was sent.
///
/// # Errors
/// A failure status classified into the crate's error kinds, or `MalformedResponse` when a success
/// carries no usable token.
pub fn parse_token_response(response: &HttpResponse) -> Result<Token, Error> {
    if !response.is_success() {
        return Err(error_for(response));
    }
    let fields = read_fields(response)?;
    let access = fields
        .get("accesstoken")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| response.malformed(VENDOR, "the response has no AccessToken"))?;
    let access = access_token(VENDOR, response, access)?;
    let stated = ["expiresinseconds", "expiresin"]
        .iter()
        .find_map(|k| fields.get(*k).and_then(|v| lifetime_from_str(v)));
    let lifetime = match stated {
        Some(lifetime) => lifetime,
        None => match jwt_expiry(access.expose_secret()) {
            Some(exp) => lifetime_until(VENDOR, response, exp, None)?,
            None => DEFAULT_LIFETIME,
        },
    };
    let text = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let session = Session {
        scope: text("scope"),
        session_id: text("sessionid"),
        consumer_uid: text("consumeruid"),
        user_name: text("username"),
    };
    let mut token = Token::builder(access)
        .token_type(text("tokentype").unwrap_or_else(|| "Bearer".into()))
        .lifetime(response.sent_at(), Some(lifetime))
        .refresh_token(text("refreshtoken").map(Secret::new))
        .details(session.clone());
    if let Some(scope) = session.scope {
        token = token.scope(scope);
    }
    Ok(token.build())
}

/// The access token's `exp`, if it is a JWT with one.
fn jwt_expiry(access: &str) -> Option<SystemTime> {
    let exp = auth_http::oauth::jwt_claims_unverified(access)
        .ok()?
        .get("exp")
        .and_then(Value::as_u64)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(exp))
}

/// Parses the UI server router response (`{"Url": ...}` or XML `<Url>`), without a trailing `/`.
///
/// The URL is where the token will be sent next, so it is held to the same rule as the base URL:
/// https, or plain http only to a loopback host (or anywhere with `allow_plain_http`), and no
/// user name or password in it.
///
/// # Errors
/// A failure status, or an answer without a usable https URL (`MalformedResponse`).
pub fn parse_ui_server_response(
    response: &HttpResponse,
    allow_plain_http: bool,
) -> Result<Url, Error> {
    if !response.is_success() {
        return Err(error_for(response));
    }
    let fields = read_fields(response)?;
    let url = fields
        .get("url")
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| response.malformed(VENDOR, "the response has no Url"))?;
    let url = Url::parse(url)
        .map_err(|e| response.malformed(VENDOR, format!("the Url is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(response.malformed(VENDOR, "the Url carries a user name or password"));
    }
    check_url(VENDOR, "UI server URL", &url, allow_plain_http).map_err(|_| {
        response.malformed(
            VENDOR,
            "the Url is not https (plain http is allowed only to loopback)",
        )
    })?;
    Ok(url)
}

/// The error a failed P21 response means: 401 rejected credentials, 403 forbidden with the
/// permissions hint, 404 a wrong endpoint or base URL; "You are not authorized to access API"
/// is recognised whatever the status.
#[must_use]
pub fn error_for(response: &HttpResponse) -> Error {
    let base = response.to_error(VENDOR);
    let body = response.error_body();
    let says_not_authorized = response.text().to_lowercase().contains(NOT_AUTHORIZED_TEXT);
    if says_not_authorized || response.status() == 403 {
        return Error::forbidden(VENDOR, response.status(), body.code, body.description)
            .with_hint(PERMISSIONS_HINT);
    }
    match response.status() {
        404 => base.with_hint(NOT_FOUND_HINT),
        _ => base,
    }
}

/// The error an API call's refusal (401 or 403) means when P21 says "You are not authorized to
/// access API": a permission problem that a new session would not cure, returned as
/// [`Forbidden`](crate::ErrorKind::Forbidden) with the permissions hint. `None` for any other refusal.
#[must_use]
pub fn permission_refusal(response: &HttpResponse) -> Option<Error> {
    let says_not_authorized = response.text().to_lowercase().contains(NOT_AUTHORIZED_TEXT);
    (matches!(response.status(), 401 | 403) && says_not_authorized).then(|| error_for(response))
}

/// Reads a JSON object or an XML element tree into lower-cased field names and text values.
fn read_fields(response: &HttpResponse) -> Result<HashMap<String, String>, Error> {
    let text = response.text();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let map: Map<String, Value> = serde_json::from_str(trimmed).map_err(|e| {
            response.malformed(
                VENDOR,
                format!("invalid JSON at line {} column {}", e.line(), e.column()),
            )
        })?;
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.to_ascii_lowercase(), v))
            })
            .collect())
    } else if trimmed.starts_with('<') {
        read_xml(trimmed).map_err(|what| response.malformed(VENDOR, what))
    } else if trimmed.is_empty() {
        Err(response.malformed(VENDOR, "the response body is empty"))
    } else {
        Err(response.malformed(VENDOR, "the response is neither JSON nor XML"))
    }
}

/// The text of every leaf element, by lower-cased local name (namespaces and prefixes ignored;
/// `i:nil="true"` elements left out).
///
/// Errors say where and what kind of problem, never what the document says there: a successful
/// response holds the new tokens, and the parser's own messages quote names and entities.
fn read_xml(xml: &str) -> Result<HashMap<String, String>, &'static str> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut fields = HashMap::new();
    let mut current: Option<(String, bool)> = None;
    let mut text = String::new();
    let mut elements = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                elements += 1;
                let name = e.local_name().as_ref().to_ascii_lowercase();
                let nil = e.attributes().flatten().any(|a| {
                    a.key.local_name().as_ref().eq_ignore_ascii_case("nil")
                        && a.value.trim().eq_ignore_ascii_case("true")
                });
                current = Some((name, nil));
                text.clear();
            }
            Ok(Event::Text(t)) => {
                if current.is_some() {
                    text.push_str(&t.xml10_content());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if current.is_some() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => {
                            let entity = format!("&{};", &*r);
                            let resolved = quick_xml::escape::unescape(&entity)
                                .map_err(|_| "the XML uses an unknown entity")?;
                            text.push_str(&resolved);
                        }
                    }
                }
            }
            Ok(Event::CData(t)) => {
                if current.is_some() {
                    text.push_str(&t);
                }
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::End(_)) => {
                if let Some((name, false)) = current.take() {
                    fields.insert(name, text.trim().to_owned());
                }
                text.clear();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return Err("the response is not well-formed XML"),
        }
        if elements > 10_000 {
            return Err("the XML has too many elements");
        }
    }
    if elements == 0 {
        return Err("the XML has no elements");
    }
    Ok(fields)
}

/// The claims of a P21 access token, decoded **without verifying the signature**.
///
/// Good for display and diagnostics (which user, which scope, which session, when it expires);
/// never for an access decision: anyone can forge an unverified token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnverifiedClaims {
    /// `sub`: the P21 user name, or empty for a consumer key without a user.
    pub sub: Option<String>,
    /// `aud`: the scope from the consumer key's configuration (e.g. `/api;/p21sdk`).
    pub aud: Option<String>,
    /// `iss`: the issuer, `P21.Soa`.
    pub iss: Option<String>,
    /// `exp`: expiry in seconds since the Unix epoch (2147483647 for "Never Expire").
    pub exp: Option<u64>,
    /// `P21.ConsumerUid`.
    pub consumer_uid: Option<String>,
    /// `P21.SessionId`.
    pub session_id: Option<String>,
}

/// Decodes the claims of `token` **without verification** (see [`UnverifiedClaims`]).
///
/// A token that is not a JWT is fine for calling P21; it only has no claims to show, and this
/// returns a malformed-response error saying so.
///
/// # Errors
/// `MalformedResponse` when the token is not a JWT (fine for calling P21: it only has no claims to
/// show).
pub fn decode_claims_unverified(token: &Token) -> Result<UnverifiedClaims, Error> {
    let payload = auth_http::oauth::jwt_claims_unverified(token.access_token().expose_secret())
        .map_err(|what| Error::malformed(VENDOR, what, None))?;
    let text = |k: &str| match payload.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(";"),
        ),
        _ => None,
    };
    Ok(UnverifiedClaims {
        sub: text("sub"),
        aud: text("aud"),
        iss: text("iss"),
        exp: payload.get("exp").and_then(|v| {
            v.as_u64()
                .or_else(|| lifetime_from_json(v).map(|d| d.as_secs()))
        }),
        consumer_uid: text("P21.ConsumerUid"),
        session_id: text("P21.SessionId"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_by_local_name() {
        let xml = "<?xml version=\"1.0\"?><a:TokenResponse xmlns:a=\"urn:x\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><a:AccessToken>t&amp;1</a:AccessToken><a:AppKey i:nil=\"true\"/><a:UserName i:nil=\"true\"></a:UserName></a:TokenResponse>";
        let f = read_xml(xml).expect("parses");
        assert_eq!(f.get("accesstoken").map(String::as_str), Some("t&1"));
        assert!(!f.contains_key("username"));
        assert!(read_xml("<a><b>").is_err() || read_xml("<a><b>").is_ok_and(|f| f.is_empty()));
        assert!(read_xml("<<<").is_err());
    }
}
