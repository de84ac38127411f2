//! Wire snapshots: every request shape as the transport sends it (rendered from the request
//! value; one loopback test checks that rendering against a real socket), and every response
//! variant with its parsed result or error. Review changes with `cargo xtask snapshots`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{Clock, Error, ErrorKind, Secret, Token};
use auth_http::{HttpClient, HttpResponse};
use auth_testkit::{ManualClock, Reply, TestServer, render};
use p21_auth::{Credentials, Session, decode_claims_unverified, wire};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

/// A fake JWT (unsigned) with the documented consumer-key claims, `exp` 2147483647.
const JWT: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhcGlfdXNlciIsImF1ZCI6Ii9hcGk7L3AyMXNkayIsImlzcyI6IlAyMS5Tb2EiLCJleHAiOjIxNDc0ODM2NDcsIlAyMS5Db25zdW1lclVpZCI6IjgiLCJQMjEuU2Vzc2lvbklkIjoiMTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1In0.fake";
/// A fake JWT whose `exp` is 1 900 000 000 (2030-03-17T17:46:40Z).
const JWT_2030: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIiLCJhdWQiOiIvYXBpIiwiaXNzIjoiUDIxLlNvYSIsImV4cCI6MTkwMDAwMDAwMH0.fake";

/// The fixed "now" of these snapshots: 2030-01-01T00:00:00Z.
fn clock() -> ManualClock {
    ManualClock::starting_at(UNIX_EPOCH + Duration::from_secs(1_893_456_000))
}

const USER_AGENT: &str = "p21-auth/0.0.0";

/// A base URL on a loopback port (rendered as `127.0.0.1:[port]`); nothing is sent to it.
fn base() -> reqwest::Url {
    "http://127.0.0.1:1/".parse().expect("url")
}

fn token_request(credentials: &Credentials) -> String {
    render(&wire::token_request(&base(), credentials), USER_AGENT)
}

/// The one trip through a socket: what the server receives is what `render` shows.
#[tokio::test]
async fn the_transport_sends_what_the_snapshots_show() {
    let server = TestServer::start().await;
    server.route("POST", "/api/security/token/v2", Reply::json(200, "{}"));
    let base = server.url("/").parse().expect("url");
    let request = wire::token_request(&base, &Credentials::user("u", Secret::new("p")));
    let http = HttpClient::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("client");
    http.send("p21", &request).await.expect("sent");
    assert_eq!(server.requests()[0].render(), render(&request, USER_AGENT));
}

#[test]
fn request_user_v2() {
    let creds = Credentials::user("api_user", Secret::new("fake-password"));
    insta::assert_snapshot!(token_request(&creds));
}

#[test]
#[allow(deprecated)]
fn request_user_v1_headers() {
    let creds = Credentials::user_v1_headers("api_user", Secret::new("fake-password"));
    insta::assert_snapshot!(token_request(&creds));
}

#[test]
fn request_consumer_key() {
    let creds = Credentials::consumer_key(Secret::new("11111111-2222-3333-4444-555555555555"));
    insta::assert_snapshot!(token_request(&creds));
}

#[test]
fn request_consumer_key_with_username() {
    let creds = Credentials::consumer_key(Secret::new("11111111-2222-3333-4444-555555555555"))
        .with_username("api_user");
    insta::assert_snapshot!(token_request(&creds));
}

#[test]
fn request_ui_router() {
    let token = Token::builder(Secret::new("fake-access-token")).build();
    insta::assert_snapshot!(render(
        &wire::ui_server_request(&base(), &token),
        USER_AGENT
    ));
}

fn response(
    status: u16,
    content_type: Option<&str>,
    body: &str,
    clock: &ManualClock,
) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("header"));
    }
    if status == 429 {
        headers.insert("retry-after", HeaderValue::from_static("120"));
    }
    HttpResponse::new(status, headers, body, clock)
}

fn render_token(result: Result<Token, Error>) -> String {
    match result {
        Ok(t) => {
            let mut out = format!(
                "Ok\naccess_token: {}\ntoken_type: {}\nlifetime: {:?}\nrefresh_token: {:?}\nscope: {:?}\nsession: {:#?}\n",
                t.access_token().expose_secret(),
                t.token_type(),
                t.lifetime(),
                t.refresh_token().map(|r| r.expose_secret().to_owned()),
                t.scope(),
                Session::of(&t),
            );
            match decode_claims_unverified(&t) {
                Ok(c) => out.push_str(&format!("claims (unverified): {c:#?}\n")),
                Err(e) => out.push_str(&format!("claims: {e}\n")),
            }
            out
        }
        Err(e) => render_error(&e),
    }
}

fn render_error(e: &Error) -> String {
    format!(
        "Err\ndisplay: {e}\nkind: {:#?}\nhint: {:?}\nretryable: {}\n",
        e.kind(),
        e.hint(),
        e.is_retryable()
    )
}

const JSON: Option<&str> = Some("application/json; charset=utf-8");
const XML: Option<&str> = Some("application/xml; charset=utf-8");

fn token_cases() -> Vec<(&'static str, u16, Option<&'static str>, String)> {
    vec![
        ("user_v2_json", 200, JSON, format!(r#"{{"AccessToken":"{JWT}","RefreshToken":"fake-refresh","ExpiresInSeconds":86400,"TokenType":"Bearer"}}"#)),
        ("consumer_key_json", 200, JSON, format!(r#"{{"AccessToken":"{JWT}","TokenType":"Bearer","UserName":"","ExpiresIn":630720000,"RefreshToken":"","Scope":"/api;/p21sdk","SessionId":"11111111-2222-3333-4444-555555555555","ConsumerUid":"8","AppKey":null}}"#)),
        ("consumer_key_json_with_user_and_numbers_as_strings", 200, JSON, format!(r#"{{"AccessToken":"{JWT}","TokenType":"Bearer","UserName":"api_user","ExpiresIn":"630720000","RefreshToken":"","Scope":"/api","SessionId":"x-1","ConsumerUid":8}}"#)),
        ("lowercase_keys_json", 200, JSON, r#"{"accessToken":"fake-opaque","tokenType":"bearer","expiresInSeconds":"3600"}"#.into()),
        ("xml_as_documented", 200, XML, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<TokenResponse>\n  <AccessToken>fake-xml-token</AccessToken>\n  <TokenType>Bearer</TokenType>\n  <ExpiresIn>86400</ExpiresIn>\n  <RefreshToken>fake-refresh</RefreshToken>\n</TokenResponse>".into()),
        ("xml_bom_default_namespace_nil", 200, Some("text/xml"), "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><TokenResponse xmlns=\"http://schemas.datacontract.org/2004/07/P21.Soa.Models\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><AccessToken>fake-xml-token</AccessToken><AppKey i:nil=\"true\"/><ConsumerUid>8</ConsumerUid><ExpiresIn>630720000</ExpiresIn><RefreshToken></RefreshToken><Scope>/api;/p21sdk</Scope><SessionId>s-1</SessionId><TokenType>Bearer</TokenType><UserName i:nil=\"true\"></UserName></TokenResponse>".into()),
        ("xml_prefixed_namespace", 200, XML, "<a:TokenResponse xmlns:a=\"http://schemas.datacontract.org/2004/07/P21\"><a:AccessToken>fake&amp;xml</a:AccessToken><a:ExpiresIn> 7200 </a:ExpiresIn></a:TokenResponse>".into()),
        ("xml_despite_json_content_type", 200, JSON, "<TokenResponse><AccessToken>fake-xml-token</AccessToken><ExpiresIn>60</ExpiresIn></TokenResponse>".into()),
        ("no_lifetime_jwt_exp_used", 200, JSON, format!(r#"{{"AccessToken":"{JWT_2030}","TokenType":"Bearer"}}"#)),
        ("no_lifetime_opaque_default", 200, JSON, r#"{"AccessToken":"fake-opaque","TokenType":"Bearer"}"#.into()),
        ("huge_lifetime_clamped", 200, JSON, r#"{"AccessToken":"fake-opaque","ExpiresIn":100000000000000000000}"#.into()),
        ("negative_lifetime_default", 200, JSON, r#"{"AccessToken":"fake-opaque","ExpiresInSeconds":-5}"#.into()),
        ("non_numeric_lifetime_default", 200, JSON, r#"{"AccessToken":"fake-opaque","ExpiresInSeconds":"soon"}"#.into()),
        ("html_login_page_with_200", 200, Some("text/html"), "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>login</form></body></html>".into()),
        ("empty_200", 200, None, String::new()),
        ("json_without_access_token", 200, JSON, r#"{"TokenType":"Bearer","ExpiresIn":3600}"#.into()),
        ("json_access_token_null", 200, JSON, r#"{"AccessToken":null}"#.into()),
        ("invalid_json", 200, JSON, r#"{"AccessToken":"#.into()),
        ("plain_text_200", 200, Some("text/plain"), "OK".into()),
        ("error_401_invalid_grant", 401, JSON, r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#.into()),
        ("error_401_invalid_client", 401, JSON, r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#.into()),
        ("error_401_pascal_case", 401, JSON, r#"{"Description":"Authorization header was not present or 'Bearer' was missing.","Error":"invalid_request","Uri":""}"#.into()),
        ("error_401_not_authorized_error_message", 401, JSON, r#"{"ErrorMessage":"You are not authorized to access API","ErrorType":"Unauthorized"}"#.into()),
        ("error_403_insufficient_scope", 403, JSON, r#"{"error":"insufficient_scope","error_description":"The request requires higher privileges."}"#.into()),
        ("error_403_not_authorized_text", 403, Some("text/plain"), "You are not authorized to access API".into()),
        ("error_404_html", 404, Some("text/html"), "<html><head><title>404 - File or directory not found.</title></head><body>Server Error</body></html>".into()),
        ("error_500_empty", 500, None, String::new()),
        ("error_429_retry_after", 429, None, String::new()),
    ]
}

#[test]
fn responses() {
    for (name, status, ct, body) in token_cases() {
        let clock = clock();
        let resp = response(status, ct, &body, &clock);
        let parsed = wire::parse_token_response(&resp);
        let rendered = format!(
            "status: {status}\ncontent-type: {ct:?}\nbody: {body}\n---\n{}",
            render_token(parsed)
        );
        insta::assert_snapshot!(format!("response_{name}"), rendered);
    }
}

#[test]
fn ui_router_responses() {
    let cases: Vec<(&str, u16, Option<&str>, &str)> = vec![
        (
            "json",
            200,
            JSON,
            r#"{"Url":"https://play.p21server.com/uiserver0"}"#,
        ),
        (
            "json_trailing_slash",
            200,
            JSON,
            r#"{"Url":"https://play.p21server.com/uiserver0/"}"#,
        ),
        (
            "xml",
            200,
            XML,
            "<UiServer xmlns=\"urn:p21\"><Url>https://play.p21server.com/uiserver0</Url></UiServer>",
        ),
        ("missing_url", 200, JSON, r#"{"Other":1}"#),
        ("not_a_url", 200, JSON, r#"{"Url":"uiserver0"}"#),
        (
            "error_401",
            401,
            JSON,
            r#"{"Description":"Authorization header was not present or 'Bearer' was missing.","Error":"invalid_request","Uri":""}"#,
        ),
    ];
    for (name, status, ct, body) in cases {
        let clock = clock();
        let resp = response(status, ct, body, &clock);
        let rendered = match wire::parse_ui_server_response(&resp, false) {
            Ok(url) => format!("Ok\nurl: {url}\n"),
            Err(e) => render_error(&e),
        };
        insta::assert_snapshot!(
            format!("ui_router_{name}"),
            format!("status: {status}\nbody: {body}\n---\n{rendered}")
        );
    }
}

#[test]
fn lifetimes_are_measured_from_the_send_time() {
    let clock = clock();
    let resp = response(
        200,
        JSON,
        r#"{"AccessToken":"t","ExpiresInSeconds":86400}"#,
        &clock,
    );
    clock.advance(Duration::from_secs(5));
    let token = wire::parse_token_response(&resp).expect("token");
    assert_eq!(
        token.expires_at(),
        Some(resp.sent_at() + Duration::from_secs(86400))
    );
    // The JWT `exp` case: from the send time to `exp`, on the wall clock.
    let resp = response(
        200,
        JSON,
        &format!(r#"{{"AccessToken":"{JWT_2030}"}}"#),
        &clock,
    );
    let token = wire::parse_token_response(&resp).expect("token");
    let exp = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let expected = exp
        .duration_since(clock.system_now())
        .expect("2030 is later");
    assert_eq!(token.lifetime(), Some(expected));
    let _ = SystemTime::now();
}

#[test]
fn claims_of_an_opaque_token_are_an_error_but_the_token_is_usable() {
    let token = Token::builder(Secret::new("opaque")).build();
    let err = decode_claims_unverified(&token).expect_err("not a JWT");
    assert!(err.to_string().contains("not a JWT"), "{err}");
    assert!(token.authorization_value().is_ok());
}

#[test]
fn the_ui_server_url_is_held_to_the_https_rule() {
    let clock = clock();
    let parse = |url: &str, allow_plain_http: bool| {
        let body = serde_json::json!({ "Url": url }).to_string();
        wire::parse_ui_server_response(&response(200, JSON, &body, &clock), allow_plain_http)
    };
    assert!(parse("https://play.p21server.com/uiserver0", false).is_ok());
    assert!(parse("http://127.0.0.1:8080/ui", false).is_ok());
    assert!(parse("http://localhost/ui", false).is_ok());
    for bad in [
        "http://play.p21server.com/uiserver0",
        "https://user:secret@play.p21server.com/ui",
        "https://user@play.p21server.com/ui",
        "ftp://play.p21server.com/ui",
        "javascript:alert(1)",
    ] {
        let err = parse(bad, false).expect_err(bad);
        assert!(
            matches!(err.kind(), ErrorKind::MalformedResponse { .. }),
            "{bad}: {err:?}"
        );
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    assert!(
        parse("http://play.p21server.com/uiserver0", true).is_ok(),
        "the loud opt-in"
    );
    assert!(parse("https://user:secret@play.p21server.com/ui", true).is_err());
}
