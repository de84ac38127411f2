//! Wire snapshots: the token request and an authorized API request as a loopback server
//! received them, and every response variant with its parsed result or error.

use apinizer_auth::{Client, Credentials, Secret, wire};
use auth_core::test_util::{Reply, TestServer};
use auth_core::{HttpClient, http::HttpResponse};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

const TOKEN_OK: &str =
    r#"{"access_token":"fake-issued-token","token_type":"Bearer","expires_in":3600}"#;

fn http() -> HttpClient {
    HttpClient::builder()
        .user_agent("apinizer-auth/0.0.0")
        .build()
        .expect("client")
}

#[tokio::test]
async fn request_issued_token() {
    let server = TestServer::start().await;
    server.route("POST", "/apiops/auth/token", Reply::json(200, TOKEN_OK));
    let client = Client::builder()
        .base_url(server.url("/"))
        .credentials(Credentials::issued(
            "fake user",
            Secret::new("p@ss&word=+1"),
        ))
        .http_client(http())
        .build()
        .expect("client");
    client.token().await.expect("token");
    let rendered = server.requests()[0].render();
    assert!(
        rendered.contains(r#"client_secret = "p@ss&word=+1""#),
        "{rendered}"
    );
    insta::assert_snapshot!(rendered);
}

#[tokio::test]
async fn request_api_call_with_personal_token() {
    let server = TestServer::start().await;
    server.route("GET", "/apiops/projects/", Reply::json(200, "[]"));
    let client = Client::builder()
        .base_url(server.url(""))
        .credentials(Credentials::personal(Secret::new("fake-personal-token")))
        .http_client(http())
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
    insta::assert_snapshot!(server.requests()[0].render());
}

#[tokio::test]
async fn request_verify() {
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/apiops/test/hello/apinizer-auth",
        Reply::text(200, "text/plain", "Hello apinizer-auth"),
    );
    let client = Client::builder()
        .base_url(server.url(""))
        .credentials(Credentials::personal(Secret::new("fake-personal-token")))
        .http_client(http())
        .build()
        .expect("client");
    client.verify().await.expect("verified");
    insta::assert_snapshot!(server.requests()[0].render());
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
