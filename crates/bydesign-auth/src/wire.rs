//! The ByDesign wire format as pure functions (an ASP.NET OWIN authorization server: form
//! bodies, every token error a 400, string-typed extra properties).

use std::time::{Duration, SystemTime};

use auth_core::{Error, Secret, Token};

use auth_http::{HttpRequest, HttpResponse};

use auth_http::oauth::{access_token, lifetime_from_json, lifetime_until};
use reqwest::Url;
use serde_json::{Map, Value};

use crate::VENDOR;
use crate::credentials::{Credentials, UserType};

/// The token path under the company base URL, unless configured otherwise.
pub const DEFAULT_TOKEN_PATH: &str = "/token";

/// The lifetime assumed when a response states neither `expires_in` nor `.expires`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Who the token belongs to, as the response described them: read it with [`Session::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// `userName`, with its prefix (`-->r_1001`).
    pub user_name: String,
    /// `userType`: rep or customer.
    pub user_type: UserType,
    /// `userTypeID`.
    pub user_type_id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `hasReciprocalID` (`"True"`/`"False"` on the wire).
    pub has_reciprocal_id: Option<bool>,
    /// `canEnrollAsRep` (`"True"`/`"False"` on the wire).
    pub can_enroll_as_rep: Option<bool>,
    /// `rankTypeID`; `None` when empty (customers).
    pub rank_type_id: Option<String>,
    /// `as:client_id`: the OAuth client the token was issued to.
    pub client_id: Option<String>,
    /// `.issued`.
    pub issued: Option<SystemTime>,
    /// `.expires`.
    pub expires: Option<SystemTime>,
}

impl Session {
    /// The ByDesign session details of a token obtained by this crate.
    #[must_use]
    pub fn of(token: &Token) -> Option<&Session> {
        token.details::<Session>()
    }

    /// The session as a shared store keeps it (times as Unix milliseconds).
    pub(crate) fn to_stored(&self) -> Value {
        let ms = |t: Option<SystemTime>| {
            t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        serde_json::json!({
            "user_name": self.user_name,
            "user_type": self.user_type.as_str(),
            "user_type_id": self.user_type_id,
            "display_name": self.display_name,
            "has_reciprocal_id": self.has_reciprocal_id,
            "can_enroll_as_rep": self.can_enroll_as_rep,
            "rank_type_id": self.rank_type_id,
            "client_id": self.client_id,
            "issued_ms": ms(self.issued),
            "expires_ms": ms(self.expires),
        })
    }

    /// A session read back from a shared store, if it is one this crate wrote for the same
    /// identity as `credentials`.
    pub(crate) fn from_stored(value: &Value, credentials: &Credentials) -> Option<Session> {
        let map = value.as_object()?;
        fn field<T>(
            map: &Map<String, Value>,
            key: &str,
            read: impl Fn(&Value) -> Option<T>,
        ) -> Option<Option<T>> {
            match map.get(key) {
                None | Some(Value::Null) => Some(None),
                Some(v) => read(v).map(Some),
            }
        }
        let text = |k: &str| field(map, k, |v| v.as_str().map(str::to_owned));
        let flag = |k: &str| field(map, k, Value::as_bool);
        let time = |k: &str| {
            field(map, k, |v| {
                std::time::UNIX_EPOCH.checked_add(Duration::from_millis(v.as_u64()?))
            })
        };
        let user_name = text("user_name")??;
        let user_type = credentials.user_type();
        if user_name != credentials.username() || text("user_type")?? != user_type.as_str() {
            return None;
        }
        Some(Session {
            user_name,
            user_type,
            user_type_id: text("user_type_id")?,
            display_name: text("display_name")?,
            has_reciprocal_id: flag("has_reciprocal_id")?,
            can_enroll_as_rep: flag("can_enroll_as_rep")?,
            rank_type_id: text("rank_type_id")?,
            client_id: text("client_id")?,
            issued: time("issued_ms")?,
            expires: time("expires_ms")?,
        })
    }
}

/// The password grant for `credentials`: form `grant_type=password`, `username` (with its
/// prefix), `password`, `client_id`. No `Authorization` header: ByDesign would take a Basic
/// header as the OAuth client and reject it.
pub fn password_request(
    token_url: &Url,
    credentials: &Credentials,
    client_id: &str,
) -> HttpRequest {
    HttpRequest::post(token_url.clone())
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "password"),
            ("username", &credentials.username()),
        ])
        .form_secret("password", &credentials.password)
        .form(&[("client_id", client_id)])
}

/// The refresh grant: form `grant_type=refresh_token`, `refresh_token`, `client_id`.
pub fn refresh_request(token_url: &Url, refresh_token: &Secret, client_id: &str) -> HttpRequest {
    HttpRequest::post(token_url.clone())
        .header("accept", "application/json")
        .form(&[("grant_type", "refresh_token")])
        .form_secret("refresh_token", refresh_token)
        .form(&[("client_id", client_id)])
}

/// Parses a token response for `expected`. The `userName` must be the one requested and
/// `userType` must match, otherwise the token is discarded with an identity-mismatch error.
/// The lifetime comes from `expires_in`, else from `.expires`, else [`DEFAULT_LIFETIME`].
///
/// # Errors
/// A failure status classified into the crate's error kinds, or `MalformedResponse` when a success
/// carries no usable token.
pub fn parse_token_response(
    response: &HttpResponse,
    expected: &Credentials,
) -> Result<Token, Error> {
    if !response.is_success() {
        return Err(response.to_error(VENDOR));
    }
    let map: Map<String, Value> = serde_json::from_str(response.text().trim())
        .map_err(|_| response.malformed(VENDOR, "the response is not a JSON object"))?;
    let text = |key: &str| match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    let access = text("access_token")
        .ok_or_else(|| response.malformed(VENDOR, "the response has no access_token"))?;
    let access = access_token(VENDOR, response, &access)?;

    let wanted = expected.username();
    let user_name = text("userName").unwrap_or_default();
    if !user_name.eq_ignore_ascii_case(&wanted) {
        return Err(mismatch(&wanted, &user_name));
    }
    let user_type = text("userType").unwrap_or_default();
    if !user_type.eq_ignore_ascii_case(expected.user_type().as_str()) {
        return Err(mismatch(
            &format!("userType {}", expected.user_type().as_str()),
            &format!("userType {user_type}"),
        ));
    }

    let date = |key: &str| text(key).and_then(|d| httpdate::parse_http_date(&d).ok());
    let (issued, expires) = (date(".issued"), date(".expires"));
    let lifetime = match (map.get("expires_in").and_then(lifetime_from_json), expires) {
        (Some(lifetime), _) => lifetime,
        // `.expires` is judged against `.issued`: both are the server's clock.
        (None, Some(expires)) => lifetime_until(VENDOR, response, expires, issued)?,
        (None, None) => DEFAULT_LIFETIME,
    };
    let session = Session {
        user_name,
        user_type: expected.user_type(),
        user_type_id: text("userTypeID"),
        display_name: text("displayName"),
        has_reciprocal_id: text("hasReciprocalID").and_then(|b| parse_bool(&b)),
        can_enroll_as_rep: text("canEnrollAsRep").and_then(|b| parse_bool(&b)),
        rank_type_id: text("rankTypeID"),
        client_id: text("as:client_id"),
        issued,
        expires,
    };
    Ok(Token::builder(access)
        .token_type(text("token_type").unwrap_or_else(|| "bearer".into()))
        .lifetime(response.sent_at(), Some(lifetime))
        .refresh_token(text("refresh_token").map(Secret::new))
        .details(session)
        .build())
}

fn mismatch(expected: &str, actual: &str) -> Error {
    Error::identity_mismatch(
        VENDOR,
        expected.to_owned(),
        if actual.is_empty() {
            "(none)".to_owned()
        } else {
            actual.to_owned()
        },
    )
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}
