//! Helpers for token responses: the RFC 6749 parser, the access-token check and lifetimes given
//! as absolute dates. Pure functions for vendor crates' `wire` modules.

use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::http::HttpResponse;
use crate::secret::Secret;
use crate::token::MAX_LIFETIME;

/// Parses an RFC 6749 §5.1 token response: a JSON object with `access_token`, `token_type`
/// (default `Bearer`), `expires_in` (a number or numeric string; `default_lifetime` when absent
/// or unusable), and optionally `refresh_token` and `scope`. A failure status is classified with
/// [`HttpResponse::to_error`]; a 200 without a token is a malformed-response error naming the
/// content type. The lifetime is measured from when the request was sent.
///
/// ```
/// use std::time::Duration;
/// use auth_core::SystemClock;
/// use auth_core::http::HttpResponse;
/// use auth_core::oauth::parse_oauth_token;
///
/// let resp = HttpResponse::new(200, Default::default(),
///     r#"{"access_token":"t","token_type":"bearer","expires_in":"60","scope":"a b"}"#, &SystemClock);
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
        .and_then(lifetime_from_json)
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
/// use auth_core::SystemClock;
/// use auth_core::http::HttpResponse;
/// use auth_core::oauth::access_token;
///
/// let resp = HttpResponse::new(200, Default::default(), "", &SystemClock);
/// assert!(access_token("example", &resp, " eyJ.abc.def\n").is_ok());
/// for bad in ["", "   ", "a\r\nSet-Cookie: x", "a\0b", "a b"] {
///     let err = access_token("example", &resp, bad).unwrap_err();
///     assert_eq!(err.vendor(), Some("example"));
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
/// side does not shorten or lengthen the token; otherwise against the wall-clock time the
/// request was sent ([`HttpResponse::sent_at_system`]). An expiry at or before the issue time is
/// a malformed response: the token was dead on arrival.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use auth_core::SystemClock;
/// use auth_core::http::HttpResponse;
/// use auth_core::oauth::lifetime_until;
///
/// let resp = HttpResponse::new(200, Default::default(), "", &SystemClock);
/// let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
/// let expires = issued + Duration::from_secs(1_800);
/// let lifetime = lifetime_until("example", &resp, expires, Some(issued));
/// assert_eq!(lifetime.unwrap(), Duration::from_secs(1_800));
/// assert!(lifetime_until("example", &resp, issued, Some(issued)).is_err());
/// ```
pub fn lifetime_until(
    vendor: &'static str,
    response: &HttpResponse,
    expires: SystemTime,
    issued: Option<SystemTime>,
) -> Result<Duration, Error> {
    let server_now = issued
        .or_else(|| response.date())
        .unwrap_or(response.sent_at_system());
    let lifetime = expires.duration_since(server_now).ok();
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

/// Reads a lifetime in seconds as servers really send it: a JSON number, a numeric string, or a
/// float. Returns `None` for anything that is not a positive, finite number of seconds (missing,
/// `null`, `0`, negative, non-numeric); callers then apply their documented default. Values past
/// [`MAX_LIFETIME`] (including ones too large for 64 bits) are clamped, never overflowed.
///
/// ```
/// use std::time::Duration;
/// use auth_core::oauth::lifetime_from_json;
/// use serde_json::json;
///
/// assert_eq!(lifetime_from_json(&json!(3600)), Some(Duration::from_secs(3600)));
/// assert_eq!(lifetime_from_json(&json!("86400")), Some(Duration::from_secs(86400)));
/// assert_eq!(lifetime_from_json(&json!(-5)), None);
/// assert_eq!(lifetime_from_json(&json!(1e20)), Some(auth_core::token::MAX_LIFETIME));
/// ```
#[must_use]
pub fn lifetime_from_json(value: &serde_json::Value) -> Option<Duration> {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(secs) = n.as_u64() {
                positive_secs(secs)
            } else if n.as_i64().is_some() {
                None // a negative integer
            } else {
                n.as_f64().and_then(lifetime_from_f64)
            }
        }
        serde_json::Value::String(s) => lifetime_from_str(s),
        _ => None,
    }
}

/// Like [`lifetime_from_json`], for a lifetime that arrived as text (an XML element, a header).
#[must_use]
pub fn lifetime_from_str(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return positive_secs(secs);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return Some(MAX_LIFETIME); // digits only, too large for u64
    }
    text.parse::<f64>().ok().and_then(lifetime_from_f64)
}

fn positive_secs(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs).min(MAX_LIFETIME))
}

fn lifetime_from_f64(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 1.0 {
        return None;
    }
    if secs >= MAX_LIFETIME.as_secs_f64() {
        return Some(MAX_LIFETIME);
    }
    Duration::try_from_secs_f64(secs.trunc()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifetime_parsing_never_panics_and_clamps() {
        let cases = [
            (json!(3600), Some(3600)),
            (json!("3600"), Some(3600)),
            (json!(" 86400 "), Some(86400)),
            (json!(3600.9), Some(3600)),
            (json!("3600.0"), Some(3600)),
            (json!(0), None),
            (json!("0"), None),
            (json!(-1), None),
            (json!("-1"), None),
            (json!(i64::MIN), None),
            (json!(0.5), None),
            (json!("soon"), None),
            (json!(""), None),
            (json!(null), None),
            (json!(true), None),
            (json!({"a": 1}), None),
            (json!("NaN"), None),
            (json!("inf"), None),
            (json!(630_720_000), Some(630_720_000)),
            (json!(2_147_483_647u64), Some(2_147_483_647)),
            (json!(u64::MAX), Some(MAX_LIFETIME.as_secs())),
            (json!(1e20), Some(MAX_LIFETIME.as_secs())),
            (json!("100000000000000000000"), Some(MAX_LIFETIME.as_secs())),
            (json!("1e300"), Some(MAX_LIFETIME.as_secs())),
        ];
        for (input, expected) in cases {
            assert_eq!(
                lifetime_from_json(&input).map(|d| d.as_secs()),
                expected,
                "input {input}"
            );
        }
    }
}
