//! Helpers for token responses: the RFC 6749 parser, the access-token check and lifetimes given
//! as absolute dates. Pure functions for vendor crates' `wire` modules.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::HttpResponse;
use auth_core::clock::MAX_LIFETIME;
use auth_core::error::Error;
use auth_core::secret::Secret;

/// Parses an RFC 6749 §5.1 token response: a JSON object with `access_token`, `token_type`
/// (default `Bearer`), `expires_in` (a number or numeric string; `default_lifetime` when absent
/// or unusable), and optionally `refresh_token` and `scope`. A failure status is classified with
/// [`HttpResponse::to_error`]; a 200 without a token is a malformed-response error naming the
/// content type. The lifetime is measured from when the request was sent.
///
/// ```
/// use std::time::Duration;
/// use auth_core::SystemClock;
/// use auth_http::HttpResponse;
/// use auth_http::oauth::parse_oauth_token;
///
/// let resp = HttpResponse::new(200, Default::default(),
///     r#"{"access_token":"t","token_type":"bearer","expires_in":"60","scope":"a b"}"#, &SystemClock);
/// let token = parse_oauth_token("example", &resp, Duration::from_secs(3600)).unwrap();
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(60)));
/// assert_eq!(token.scope(), Some("a b"));
/// ```
///
/// # Errors
/// A failure status classified with [`HttpResponse::to_error`], or `MalformedResponse` when a
/// success carries no usable token.
pub fn parse_oauth_token(
    vendor: &'static str,
    response: &HttpResponse,
    default_lifetime: Duration,
) -> Result<auth_core::Token, Error> {
    if !response.is_success() {
        return Err(response.to_error(vendor));
    }
    let body = response.text();
    let fields: TokenFields<'_> = serde_json::from_str(body.trim())
        .map_err(|_| response.malformed(vendor, "the response is not a JSON object"))?;
    let text = |field: &Option<Cow<'_, str>>| {
        field
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let access = fields
        .access_token
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| response.malformed(vendor, "the response has no access_token"))?;
    let access = access_token(vendor, response, access)?;
    let lifetime = fields
        .expires_in
        .as_ref()
        .and_then(lifetime_from_json)
        .unwrap_or(default_lifetime);
    let mut token = auth_core::Token::builder(access)
        .lifetime(response.sent_at(), Some(lifetime))
        .refresh_token(text(&fields.refresh_token).map(Secret::new));
    match fields.token_type.as_deref() {
        None | Some("" | "Bearer") => {} // the builder's default
        Some(other) => token = token.token_type(other),
    }
    if let Some(scope) = text(&fields.scope) {
        token = token.scope(scope);
    }
    Ok(token.build())
}

/// The members of a token response that [`parse_oauth_token`] reads, borrowed from the body
/// where no escape forces a copy. As with a JSON map, a repeated member counts once, with its
/// last value; a member of the wrong type counts as absent; other members are skipped unread.
#[derive(Default)]
struct TokenFields<'a> {
    access_token: Option<Cow<'a, str>>,
    token_type: Option<Cow<'a, str>>,
    refresh_token: Option<Cow<'a, str>>,
    scope: Option<Cow<'a, str>>,
    expires_in: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for TokenFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TokenFieldsVisitor)
    }
}

struct TokenFieldsVisitor;

impl<'de> Visitor<'de> for TokenFieldsVisitor {
    type Value = TokenFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = TokenFields::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match &*key {
                "access_token" => &mut fields.access_token,
                "token_type" => &mut fields.token_type,
                "refresh_token" => &mut fields.refresh_token,
                "scope" => &mut fields.scope,
                "expires_in" => {
                    fields.expires_in = Some(map.next_value()?);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<Text<'de>>()?.0;
        }
        Ok(fields)
    }
}

/// A member's value if it is a string; any other JSON value reads as `None`.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

/// The access token of a token response, checked to be usable as `Authorization: Bearer`:
/// surrounding white space is trimmed, and a token that is empty, or has white space or control
/// characters inside (CR, LF, NUL...), is a malformed response of `vendor`. Such a token could
/// not be sent, so it is refused before anything caches it.
///
/// ```
/// use auth_core::SystemClock;
/// use auth_http::HttpResponse;
/// use auth_http::oauth::access_token;
///
/// let resp = HttpResponse::new(200, Default::default(), "", &SystemClock);
/// assert!(access_token("example", &resp, " eyJ.abc.def\n").is_ok());
/// for bad in ["", "   ", "a\r\nSet-Cookie: x", "a\0b", "a b"] {
///     let err = access_token("example", &resp, bad).unwrap_err();
///     assert_eq!(err.vendor(), Some("example"));
/// }
/// ```
///
/// # Errors
/// `MalformedResponse` when the token is missing, empty, or cannot travel in a header.
pub fn access_token(
    vendor: &'static str,
    response: &HttpResponse,
    raw: &str,
) -> Result<Secret, Error> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(response.malformed(vendor, "the access token is empty"));
    }
    if !auth_core::token::is_sendable(token) {
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
/// use auth_http::HttpResponse;
/// use auth_http::oauth::lifetime_until;
///
/// let resp = HttpResponse::new(200, Default::default(), "", &SystemClock);
/// let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
/// let expires = issued + Duration::from_secs(1_800);
/// let lifetime = lifetime_until("example", &resp, expires, Some(issued));
/// assert_eq!(lifetime.unwrap(), Duration::from_secs(1_800));
/// assert!(lifetime_until("example", &resp, issued, Some(issued)).is_err());
/// ```
///
/// # Errors
/// `MalformedResponse` when the date is unreadable.
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
/// use auth_http::oauth::lifetime_from_json;
/// use serde_json::json;
///
/// assert_eq!(lifetime_from_json(&json!(3600)), Some(Duration::from_secs(3600)));
/// assert_eq!(lifetime_from_json(&json!("86400")), Some(Duration::from_secs(86400)));
/// assert_eq!(lifetime_from_json(&json!(-5)), None);
/// assert_eq!(lifetime_from_json(&json!(1e20)), Some(auth_core::clock::MAX_LIFETIME));
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

pub use auth_core::token::jwt_claims_unverified;

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::strategy::Strategy;
    use serde_json::json;

    /// Access token, token type, refresh token, scope and lifetime in seconds.
    type Read = Option<(String, String, Option<String>, Option<String>, u64)>;

    /// What `parse_oauth_token` reads, written the plain way: the body as a JSON map.
    fn read_as_map(body: &str) -> Read {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body).ok()?;
        let text = |key: &str| {
            map.get(key)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let access = text("access_token")?.trim();
        if access.is_empty() || !auth_core::token::is_sendable(access) {
            return None;
        }
        let lifetime = map.get("expires_in").and_then(lifetime_from_json);
        Some((
            access.to_owned(),
            text("token_type").unwrap_or("Bearer").to_owned(),
            text("refresh_token").map(str::to_owned),
            text("scope").map(str::to_owned),
            lifetime.unwrap_or(Duration::from_secs(3600)).as_secs(),
        ))
    }

    fn read_with_parser(body: &str) -> Read {
        let resp = HttpResponse::new(200, Default::default(), body, &auth_core::SystemClock);
        let token = parse_oauth_token("example", &resp, Duration::from_secs(3600)).ok()?;
        Some((
            token.access_token().expose_secret().to_owned(),
            token.token_type().to_owned(),
            token.refresh_token().map(|s| s.expose_secret().to_owned()),
            token.scope().map(str::to_owned),
            token.lifetime().map_or(0, |l| l.as_secs()),
        ))
    }

    #[test]
    fn token_members_read_like_a_json_map() {
        let cases = [
            r#"{"access_token":"a","access_token":"b"}"#,
            r#"{"access_token":"a","access_token":7}"#,
            r#"{"access_token":7}"#,
            r#"{"access_token":"t\u0041\n"}"#,
            r#"{"access_token":"t\u0041","scope":"a\tb","token_type":"bearer"}"#,
            r#"{"access_token":"t","token_type":"","scope":"","refresh_token":""}"#,
            r#"{"access_token":"t","token_type":null,"scope":[1,{"a":"b"}],"refresh_token":{"x":1}}"#,
            r#"{"acc\u0065ss_token":"t","expires_in":"60","extra":{"deep":[[[]]]}}"#,
            r#"{"access_token":"t","expires_in":60,"expires_in":"x"}"#,
            r#"["access_token","t"]"#,
            r#""access_token""#,
            r#"{"access_token":"t""#,
        ];
        for body in cases {
            assert_eq!(read_with_parser(body), read_as_map(body), "body {body}");
        }
        assert_eq!(
            read_with_parser(r#"{"access_token":"a","access_token":"b"}"#).map(|r| r.0),
            Some("b".to_owned())
        );
    }

    proptest::proptest! {
        #[test]
        fn any_token_object_reads_like_a_json_map(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "access_token", "token_type", "refresh_token", "scope", "expires_in", "other",
                    ]),
                    proptest::prop_oneof![
                        "[ -~]{0,8}".prop_map(serde_json::Value::from),
                        proptest::num::i64::ANY.prop_map(serde_json::Value::from),
                        proptest::num::f64::NORMAL.prop_map(serde_json::Value::from),
                        proptest::bool::ANY.prop_map(serde_json::Value::from),
                        proptest::strategy::Just(serde_json::Value::Null),
                        proptest::strategy::Just(serde_json::json!([1, "a", {"b": null}])),
                    ],
                ),
                0..8,
            )
        ) {
            // Written member by member, so repeated members stay in the body.
            let body = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(*k)))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            proptest::prop_assert_eq!(read_with_parser(&body), read_as_map(&body), "body {}", body);
        }
    }

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
            (json!(2_147_483_647u64), Some(MAX_LIFETIME.as_secs())),
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
