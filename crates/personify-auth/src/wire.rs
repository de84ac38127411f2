//! The Personify wire format as pure functions (OAuth 2.0 client credentials on an
//! IdentityServer-style `/connect/token` endpoint).

use std::time::Duration;

use auth_core::{Error, Token};
use auth_http::{HttpRequest, HttpResponse};
use reqwest::Url;

use crate::VENDOR;
use crate::credentials::{ClientAuth, Credentials};

/// The production token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://prod.personifyauth.com/connect/token";
/// The scope requested unless told otherwise.
pub const DEFAULT_SCOPE: &str = "idp_api";

/// The lifetime assumed when `expires_in` is absent: Personify's documented default.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The name of the tenant header on API calls.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// The token request to `token_url`: a form POST with `grant_type=client_credentials`, the
/// client's id and secret (in the body, or as HTTP Basic with `auth`), and the `scope` if any.
///
/// ```
/// use personify_auth::{ClientAuth, Credentials, Secret, wire};
///
/// let url = "https://auth.example.org/connect/token".parse().unwrap();
/// let credentials = Credentials::new("id", Secret::new("s&cret"));
/// let req = wire::token_request(&url, &credentials, Some("idp_api"), ClientAuth::Post);
/// assert_eq!(
///     std::str::from_utf8(req.body()).unwrap(),
///     "grant_type=client_credentials&client_id=id&client_secret=s%26cret&scope=idp_api"
/// );
/// ```
pub fn token_request(
    token_url: &Url,
    credentials: &Credentials,
    scope: Option<&str>,
    auth: ClientAuth,
) -> HttpRequest {
    let request = HttpRequest::post(token_url.clone())
        .header("accept", "application/json")
        .form(&[("grant_type", "client_credentials")]);
    let request = match auth {
        ClientAuth::Post => request
            .form(&[("client_id", &credentials.client_id)])
            .form_secret("client_secret", &credentials.client_secret),
        ClientAuth::Basic => request.basic_auth(&credentials.client_id, &credentials.client_secret),
    };
    match scope {
        Some(scope) => request.form(&[("scope", scope)]),
        None => request,
    }
}

/// Parses a token response (RFC 6749 §5.1; `expires_in` defaults to one hour). IdentityServer
/// answers 400 for every token error, `invalid_client` included, often without a description:
/// errors are classified by their code, not the status (see [`error_for`]).
///
/// # Errors
/// A failure status classified into the crate's error kinds, or `MalformedResponse` when a success
/// carries no usable token.
pub fn parse_token_response(response: &HttpResponse) -> Result<Token, Error> {
    auth_http::oauth::parse_oauth_token(VENDOR, response, DEFAULT_LIFETIME)
}

/// The error a failed token response means. IdentityServer answers 400 for every token error
/// (often without a description): an RFC 6749 code is a rejection whatever the status, 429 is
/// throttling, anything else an unexpected status. All of that is `auth_core`'s classification.
#[must_use]
pub fn error_for(response: &HttpResponse) -> Error {
    response.to_error(VENDOR)
}
