//! Wire snapshots: the token and verify requests as the transport sends them (rendered from
//! the request values), an authorized API request and the check of that rendering as a loopback
//! server received them, and every response variant with its parsed result or error.

use apinizer_auth::{Client, Credentials, Secret, Token, wire};
use auth_http::{HttpClient, HttpResponse};
use auth_testkit::{Reply, TestServer};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

const TOKEN_OK: &str =
    r#"{"access_token":"fake-issued-token","token_type":"Bearer","expires_in":3600}"#;
const USER_AGENT: &str = "apinizer-auth/0.0.0";

/// A base URL on a loopback port (rendered as `127.0.0.1:[port]`); nothing is sent to it.
fn base() -> reqwest::Url {
    "http://127.0.0.1:1/".parse().expect("url")
}

/// The one trip through a socket: the token request arrives as `render` shows it, and an API
/// call carries the personal token.
#[tokio::test]
async fn request_api_call_with_personal_token() {
    let server = TestServer::start().await;
    server.route("POST", "/apiops/auth/token", Reply::json(200, TOKEN_OK));
    server.route("GET", "/apiops/projects/", Reply::json(200, "[]"));
    let http = HttpClient::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("client");
    let base = server.url("/").parse().expect("url");
    let request = wire::token_request(&base, "u", &Secret::new("p"));
    http.send("apinizer", &request).await.expect("sent");
    assert_eq!(
        server.requests()[0].render(),
        auth_testkit::render(&request, USER_AGENT)
    );

    let client = Client::builder()
        .base_url(server.url(""))
        .credentials(Credentials::personal(Secret::new("fake-personal-token")))
        .http_client(http)
        .build()
        .expect("client");
    client
        .send(
            client
                .reqwest_client()
                .get(client.url("apiops/projects/").expect("url")),
        )
        .await
        .expect("sent");
    insta::assert_snapshot!(server.requests()[1].render());
}

#[test]
fn request_issued_token() {
    let request = wire::token_request(&base(), "fake user", &Secret::new("p@ss&word=+1"));
    let rendered = auth_testkit::render(&request, USER_AGENT);
    assert!(
        rendered.contains(r#"client_secret = "p@ss&word=+1""#),
        "{rendered}"
    );
    insta::assert_snapshot!(rendered);
}

#[test]
fn request_verify() {
    let token = Token::builder(Secret::new("fake-personal-token")).build();
    let request = wire::hello_request(&base(), "apinizer-auth", &token);
    insta::assert_snapshot!(auth_testkit::render(&request, USER_AGENT));
}

fn response(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("header"));
    }
    HttpResponse::new(status, headers, body, &auth_core::SystemClock)
}

#[test]
fn responses() {
    const JSON: Option<&str> = Some("application/json");
    let cases: Vec<(&str, u16, Option<&str>, &str)> = vec![
        ("success", 200, JSON, TOKEN_OK),
        (
            "success_without_expires_in",
            200,
            JSON,
            r#"{"access_token":"fake-issued-token","token_type":"Bearer"}"#,
        ),
        (
            "success_without_access_token",
            200,
            JSON,
            r#"{"token_type":"Bearer"}"#,
        ),
        (
            "success_not_json",
            200,
            Some("text/html"),
            "<html>login</html>",
        ),
        (
            "error_401_bad_credentials",
            401,
            JSON,
            r#"{"error":"unauthorized_client","error_description":"Bad credentials"}"#,
        ),
        (
            "error_400_unsupported_grant_type",
            400,
            JSON,
            r#"{"error":"unsupported_grant_type","error_description":"GrantType value must be client_credentials!"}"#,
        ),
        (
            "error_500_server_error",
            500,
            JSON,
            r#"{"error":"server_error","error_description":"Unexpected error"}"#,
        ),
        (
            "error_500_spring",
            500,
            JSON,
            r#"{"timestamp":"2025-01-01T00:00:00.000+00:00","status":500,"error":"Internal Server Error","path":"/apiops/auth/token"}"#,
        ),
    ];
    for (name, status, ct, body) in cases {
        let rendered = match wire::parse_token_response(&response(status, ct, body)) {
            Ok(t) => format!(
                "Ok\naccess_token: {}\ntoken_type: {}\nlifetime: {:?}\n",
                t.access_token().expose_secret(),
                t.token_type(),
                t.lifetime()
            ),
            Err(e) => format!(
                "Err\ndisplay: {e}\nkind: {:#?}\nretryable: {}\n",
                e.kind(),
                e.is_retryable()
            ),
        };
        insta::assert_snapshot!(
            format!("response_{name}"),
            format!("status: {status}\nbody: {body}\n---\n{rendered}")
        );
    }
    let checks: Vec<(&str, u16, &str, bool)> = vec![
        ("hello_ok", 200, "Hello apinizer-auth", true),
        ("hello_wrong_text", 200, "Hi", false),
        (
            "hello_invalid_token",
            401,
            r#"{"error":"unauthorized_client","error_description":"Invalid token"}"#,
            false,
        ),
    ];
    for (name, status, body, ok) in checks {
        let result = wire::parse_hello_response(
            &response(status, Some("text/plain"), body),
            "apinizer-auth",
        );
        assert_eq!(result.is_ok(), ok, "{name}");
        insta::assert_snapshot!(
            format!("response_{name}"),
            format!("status: {status}\nbody: {body}\n---\n{result:?}")
        );
    }
    assert!(wire::parse_healthcheck_response(&response(200, Some("text/plain"), "OK\n")).is_ok());
    assert!(wire::parse_healthcheck_response(&response(503, None, "")).is_err());
}
