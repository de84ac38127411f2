//! [`ErrorBody`]: an error body read in every shape the vendors use, scrubbed of secrets.

use crate::scrub::{echoes, scrub, scrub_bytes, unless_echoing};
use auth_core::secret::Secret;

/// How many characters of an unexpected body an error keeps.
pub const EXCERPT_CHARS: usize = 200;

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
    /// Reads an error body. `secrets` are replaced by `[redacted]` wherever they appear, and a
    /// field that still shows part of one in some form is withheld (see
    /// [`echoes`](crate::scrub::echoes)): a code is dropped, a description or excerpt replaced
    /// by [`WITHHELD`](crate::scrub::WITHHELD).
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
        // What still shows a part of a secret in some form is withheld whole.
        out.code = out.code.filter(|code| !echoes(code, secrets));
        out.description = out.description.map(|d| unless_echoing(d, secrets));
        out.excerpt = unless_echoing(out.excerpt, secrets);
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::secret::REDACTED;

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
}
