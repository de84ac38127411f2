//! The Apinizer Management API wire format as pure functions.

use std::time::Duration;

use auth_core::{Error, Secret, Token};
use auth_http::{HttpRequest, HttpResponse, endpoint};
use reqwest::Url;

use crate::VENDOR;

/// The lifetime assumed when `expires_in` is absent ("if applicable" in the documentation).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The token endpoint, under the console host.
pub const TOKEN_PATH: &str = "apiops/auth/token";
/// The unauthenticated health check.
pub const HEALTHCHECK_PATH: &str = "apiops/test/healthcheck";
/// The authenticated greeting used to verify a token.
pub const HELLO_PATH: &str = "apiops/test/hello";

/// The token request for an Apinizer user: form `grant_type=client_credentials`,
/// `client_id=<username>`, `client_secret=<password>`.
pub fn token_request(base: &Url, username: &str, password: &Secret) -> HttpRequest {
    HttpRequest::post(endpoint(base, TOKEN_PATH))
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", username),
        ])
        .form_secret("client_secret", password)
}

/// `GET /apiops/test/hello/{name}` with `token`.
pub fn hello_request(base: &Url, name: &str, token: &Token) -> HttpRequest {
    let name: String = form_path_segment(name);
    HttpRequest::get(endpoint(base, &format!("{HELLO_PATH}/{name}")))
        .header("accept", "text/plain")
        .bearer(token)
}

/// `GET /apiops/test/healthcheck`, without authentication.
pub fn healthcheck_request(base: &Url) -> HttpRequest {
    HttpRequest::get(endpoint(base, HEALTHCHECK_PATH)).header("accept", "text/plain")
}

fn form_path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses a token response: `access_token`, `token_type`, `expires_in` (default one hour).
/// 401 `unauthorized_client` ("Bad credentials") and 400 `unsupported_grant_type` are
/// rejections; 500 `server_error` is transient (already retried by the HTTP plumbing).
///
/// # Errors
/// A failure status classified into the crate's error kinds, or `MalformedResponse` when a success
/// carries no usable token.
pub fn parse_token_response(response: &HttpResponse) -> Result<Token, Error> {
    auth_http::oauth::parse_oauth_token(VENDOR, response, DEFAULT_LIFETIME)
}

/// Checks a hello response: 200 with text `Hello {name}`.
///
/// # Errors
/// The token was refused (`Rejected`, `TokenRevoked`) or the answer is not `Hello {name}`
/// (`MalformedResponse`).
pub fn parse_hello_response(response: &HttpResponse, name: &str) -> Result<(), Error> {
    if !response.is_success() {
        return Err(response.to_error(VENDOR));
    }
    let text = response.text();
    if text.trim() == format!("Hello {name}") {
        Ok(())
    } else {
        Err(response.malformed(
            VENDOR,
            "the hello endpoint did not answer with its greeting",
        ))
    }
}

/// Checks a health-check response: 200 with text `OK`.
///
/// # Errors
/// The status is not a success, or the body is not `OK`.
pub fn parse_healthcheck_response(response: &HttpResponse) -> Result<(), Error> {
    if !response.is_success() {
        return Err(response.to_error(VENDOR));
    }
    if response.text().trim().eq_ignore_ascii_case("ok") {
        Ok(())
    } else {
        Err(response.malformed(VENDOR, "the health check did not answer OK"))
    }
}
