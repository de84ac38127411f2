//! The Personify wire format as pure functions (OAuth 2.0 client credentials on an
//! IdentityServer-style `/connect/token` endpoint).

use std::time::Duration;

use auth_core::{Error, HttpRequest, HttpResponse, Token};

use crate::VENDOR;
use crate::config::{ClientAuth, Settings};

/// The lifetime assumed when `expires_in` is absent: Personify's documented default.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The name of the tenant header on API calls.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// The token request: a form POST with `grant_type=client_credentials`, the client's id and
/// secret (in the body, or as HTTP Basic), and the scope.
pub(crate) fn token_request(settings: &Settings) -> HttpRequest {
    let request = HttpRequest::post(settings.token_url.clone())
        .header("accept", "application/json")
        .form(&[("grant_type", "client_credentials")]);
    let request = match settings.auth {
        ClientAuth::Post => request
            .form(&[("client_id", &settings.client_id)])
            .form_secret("client_secret", &settings.client_secret),
        ClientAuth::Basic => request.basic_auth(&settings.client_id, &settings.client_secret),
    };
    match &settings.scope {
        Some(scope) => request.form(&[("scope", scope)]),
        None => request,
    }
}

/// Parses a token response (RFC 6749 §5.1; `expires_in` defaults to one hour). IdentityServer
/// answers 400 for every token error, `invalid_client` included, often without a description:
/// errors are classified by their code, not the status (see [`error_for`]).
pub fn parse_token_response(response: &HttpResponse) -> Result<Token, Error> {
    auth_core::parse_oauth_token(VENDOR, response, DEFAULT_LIFETIME)
}

/// The error a failed token response means. IdentityServer answers 400 for every token error
/// (often without a description): an RFC 6749 code is a rejection whatever the status, 429 is
/// throttling, anything else an unexpected status. All of that is `auth_core`'s classification.
#[must_use]
pub fn error_for(response: &HttpResponse) -> Error {
    response.to_error(VENDOR)
}
