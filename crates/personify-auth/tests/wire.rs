//! Wire snapshots: the token request as the transport sends it (rendered from the request
//! value), the API request and the check of that rendering as a loopback server received them,
//! and every response variant with its parsed result or error.

use auth_core::{Error, Token};
use auth_http::{HttpClient, HttpResponse};
use auth_testkit::{Reply, TestServer};
use personify_auth::{Client, ClientAuth, Credentials, Secret, wire};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

const TOKEN_OK: &str =
    r#"{"access_token":"fake-jwt","expires_in":3600,"token_type":"Bearer","scope":"idp_api"}"#;
const USER_AGENT: &str = "personify-auth/0.0.0";

fn http() -> HttpClient {
    HttpClient::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("client")
}

fn fake_credentials() -> Credentials {
    Credentials::new("fake-client", Secret::new("fake-secret"))
}

/// The token request to a loopback URL (rendered as `127.0.0.1:[port]`); nothing is sent.
fn token_request(credentials: &Credentials, scope: Option<&str>, auth: ClientAuth) -> String {
    let url = "http://127.0.0.1:1/connect/token".parse().expect("url");
    auth_testkit::render(
        &wire::token_request(&url, credentials, scope, auth),
        USER_AGENT,
    )
}

/// The one trip through a socket: a client built with several scopes sends what `render`
/// shows for them, then an API call with the bearer token and the tenant.
#[tokio::test]
async fn request_api_call_with_bearer_and_tenant() {
    let server = TestServer::start().await;
    server.route("POST", "/connect/token", Reply::json(200, TOKEN_OK));
    server.route("GET", "/v1/members", Reply::json(200, "[]"));
    let client = Client::builder()
        .credentials(fake_credentials())
        .token_url(server.url("/connect/token"))
        .scopes(["idp_api", "members.read"])
        .tenant_id("fake-tenant")
        .http_client(http())
        .build()
        .expect("client");
    client
        .send(
            client
                .reqwest_client()
                .get(server.url("/v1/members?page=1")),
        )
        .await
        .expect("sent");
    let url = server.url("/connect/token").parse().expect("url");
    let expected = wire::token_request(
        &url,
        &fake_credentials(),
        Some("idp_api members.read"),
        ClientAuth::Post,
    );
    assert_eq!(
        server.requests()[0].render(),
        auth_testkit::render(&expected, USER_AGENT)
    );
    insta::assert_snapshot!(server.requests()[1].render());
}

#[test]
fn request_default_client_secret_post() {
    insta::assert_snapshot!(token_request(
        &fake_credentials(),
        Some(wire::DEFAULT_SCOPE),
        ClientAuth::Post
    ));
}

#[test]
fn request_client_secret_basic() {
    insta::assert_snapshot!(token_request(
        &fake_credentials(),
        Some(wire::DEFAULT_SCOPE),
        ClientAuth::Basic
    ));
}

#[test]
fn request_several_scopes() {
    insta::assert_snapshot!(token_request(
        &fake_credentials(),
        Some("idp_api members.read"),
        ClientAuth::Post
    ));
}

#[test]
fn request_without_scope() {
    insta::assert_snapshot!(token_request(&fake_credentials(), None, ClientAuth::Post));
}

#[test]
fn request_secret_with_reserved_characters() {
    let credentials = Credentials::new("id with space", Secret::new("a&b=c+d e/ü%"));
    let rendered = token_request(&credentials, Some(wire::DEFAULT_SCOPE), ClientAuth::Post);
    assert!(
        rendered.contains(r#"client_secret = "a&b=c+d e/ü%""#),
        "{rendered}"
    );
    insta::assert_snapshot!(rendered);
}

fn response(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("header"));
    }
    HttpResponse::new(status, headers, body, &auth_core::SystemClock)
}

fn render(result: Result<Token, Error>) -> String {
    match result {
        Ok(t) => format!(
            "Ok\naccess_token: {}\ntoken_type: {}\nlifetime: {:?}\nscope: {:?}\n",
            t.access_token().expose_secret(),
            t.token_type(),
            t.lifetime(),
            t.scope()
        ),
        Err(e) => format!(
            "Err\ndisplay: {e}\nkind: {:#?}\nretryable: {}\n",
            e.kind(),
            e.is_retryable()
        ),
    }
}

#[test]
fn responses() {
    const JSON: Option<&str> = Some("application/json; charset=UTF-8");
    let cases: Vec<(&str, u16, Option<&str>, &str)> = vec![
        ("success", 200, JSON, TOKEN_OK),
        (
            "success_several_scopes",
            200,
            JSON,
            r#"{"access_token":"fake-jwt","expires_in":1800,"token_type":"Bearer","scope":"idp_api members.read"}"#,
        ),
        (
            "success_without_scope",
            200,
            JSON,
            r#"{"access_token":"fake-jwt","expires_in":3600,"token_type":"Bearer"}"#,
        ),
        (
            "success_without_expires_in",
            200,
            JSON,
            r#"{"access_token":"fake-jwt","token_type":"Bearer","scope":"idp_api"}"#,
        ),
        (
            "success_expires_in_string",
            200,
            JSON,
            r#"{"access_token":"fake-jwt","expires_in":"7200","token_type":"bearer"}"#,
        ),
        (
            "success_without_access_token",
            200,
            JSON,
            r#"{"token_type":"Bearer","expires_in":3600}"#,
        ),
        (
            "success_html",
            200,
            Some("text/html"),
            "<html><body>Sign in</body></html>",
        ),
        (
            "error_invalid_client_no_description",
            400,
            JSON,
            r#"{"error":"invalid_client"}"#,
        ),
        (
            "error_invalid_client_documented",
            400,
            JSON,
            r#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#,
        ),
        (
            "error_invalid_scope",
            400,
            JSON,
            r#"{"error":"invalid_scope"}"#,
        ),
        (
            "error_unsupported_grant_type",
            400,
            JSON,
            r#"{"error":"unsupported_grant_type"}"#,
        ),
        (
            "error_unauthorized_client",
            400,
            JSON,
            r#"{"error":"unauthorized_client"}"#,
        ),
        (
            "error_invalid_request",
            400,
            JSON,
            r#"{"error":"invalid_request","error_description":"Invalid content type"}"#,
        ),
        (
            "error_401_invalid_client",
            401,
            JSON,
            r#"{"error":"invalid_client"}"#,
        ),
        ("error_404_with_code", 404, JSON, r#"{"error":"not_found"}"#),
        (
            "error_non_json_page",
            502,
            Some("text/html"),
            "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
        ),
        ("error_empty_500", 500, None, ""),
    ];
    for (name, status, ct, body) in cases {
        let parsed = wire::parse_token_response(&response(status, ct, body));
        insta::assert_snapshot!(
            format!("response_{name}"),
            format!(
                "status: {status}\ncontent-type: {ct:?}\nbody: {body}\n---\n{}",
                render(parsed)
            )
        );
    }
}
