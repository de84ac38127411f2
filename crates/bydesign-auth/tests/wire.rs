//! Wire snapshots: rep, customer and refresh requests as the transport sends them (rendered
//! from the request values; one loopback test checks that rendering against a real socket), and
//! every response variant with its parsed result or error.

use std::time::{Duration, UNIX_EPOCH};

use auth_core::{Secret, Token};
use auth_http::{HttpClient, HttpResponse};
use auth_testkit::{ManualClock, Reply, TestServer};
use bydesign_auth::{Client, Credentials, Session, wire};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

const USER_AGENT: &str = "bydesign-auth/0.0.0";

fn rep_ok(refresh: &str) -> String {
    format!(
        r#"{{"access_token":"fake-rep-token","token_type":"bearer","expires_in":172799,"refresh_token":"{refresh}","as:client_id":"FakeCart","userName":"-->r_1001","userType":"rep","userTypeID":"1","displayName":"Example Rep","hasReciprocalID":"False","canEnrollAsRep":"True","rankTypeID":"10",".issued":"Fri, 15 Apr 2022 13:37:44 GMT",".expires":"Sun, 17 Apr 2022 13:37:44 GMT"}}"#
    )
}

/// The token URL on a loopback port (rendered as `127.0.0.1:[port]`); nothing is sent to it.
fn token_url() -> reqwest::Url {
    "http://127.0.0.1:1/FakeCompany/token".parse().expect("url")
}

/// The one trip through a socket: a client's password grant and then its refresh grant arrive
/// as `render` shows them.
#[tokio::test]
async fn the_transport_sends_what_the_snapshots_show() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/FakeCompany/token",
        vec![Reply::json(200, rep_ok("fake-refresh-1"))],
        Reply::json(200, rep_ok("fake-refresh-2")),
    );
    let credentials = Credentials::rep("1001", Secret::new("fake-password"));
    let bydesign = Client::builder()
        .base_url(server.url("/FakeCompany"))
        .client_id("FakeCart")
        .credentials(credentials.clone())
        .http_client(
            HttpClient::builder()
                .user_agent(USER_AGENT)
                .build()
                .expect("http"),
        )
        .build()
        .expect("client");
    let first = bydesign.token().await.expect("token");
    bydesign.invalidate(&first);
    bydesign.token().await.expect("refreshed");
    let url = server.url("/FakeCompany/token").parse().expect("url");
    let password = wire::password_request(&url, &credentials, "FakeCart");
    let refresh = wire::refresh_request(&url, &Secret::new("fake-refresh-1"), "FakeCart");
    let received = server.requests();
    assert_eq!(
        received[0].render(),
        auth_testkit::render(&password, USER_AGENT)
    );
    assert_eq!(
        received[1].render(),
        auth_testkit::render(&refresh, USER_AGENT)
    );
}

#[test]
fn request_rep_password_grant() {
    let credentials = Credentials::rep("1001", Secret::new("fake pass&word+1"));
    let request = wire::password_request(&token_url(), &credentials, "FakeCart");
    let rendered = auth_testkit::render(&request, USER_AGENT);
    assert!(
        !rendered.contains("authorization:"),
        "no Authorization header"
    );
    insta::assert_snapshot!(rendered);
}

#[test]
fn request_customer_password_grant() {
    let credentials = Credentials::customer("1146820", Secret::new("fake-password"));
    let request = wire::password_request(&token_url(), &credentials, "FakeCart");
    insta::assert_snapshot!(auth_testkit::render(&request, USER_AGENT));
}

#[test]
fn request_refresh_grant() {
    let request = wire::refresh_request(&token_url(), &Secret::new("fake-refresh-1"), "FakeCart");
    insta::assert_snapshot!(auth_testkit::render(&request, USER_AGENT));
}

fn response(status: u16, body: &str, clock: &ManualClock) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    HttpResponse::new(status, headers, body, clock)
}

fn render(result: Result<Token, auth_core::Error>) -> String {
    match result {
        Ok(t) => format!(
            "Ok\naccess_token: {}\ntoken_type: {}\nlifetime: {:?}\nrefresh_token: {:?}\nsession: {:#?}\n",
            t.access_token().expose_secret(),
            t.token_type(),
            t.lifetime(),
            t.refresh_token().map(|r| r.expose_secret().to_owned()),
            Session::of(&t)
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
    let rep = Credentials::rep("1001", Secret::new("x"));
    let customer = Credentials::customer("1146820", Secret::new("x"));
    let cases: Vec<(&str, &Credentials, u16, String)> = vec![
        ("rep", &rep, 200, rep_ok("fake-refresh-1")),
        ("customer", &customer, 200, r#"{"access_token":"fake-customer-token","token_type":"bearer","expires_in":172799,"refresh_token":"fake-refresh","as:client_id":"FakeCart","userName":"-->c_1146820","userType":"customer","userTypeID":"2","displayName":"example customer","hasReciprocalID":"False","canEnrollAsRep":"True","rankTypeID":"",".issued":"Fri, 15 Apr 2022 14:12:24 GMT",".expires":"Sun, 17 Apr 2022 14:12:24 GMT"}"#.into()),
        ("mismatch_user_name", &rep, 200, rep_ok("r").replace("-->r_1001", "-->r_1002")),
        ("mismatch_customer_answered_for_rep", &rep, 200, rep_ok("r").replace("-->r_1001", "-->c_1001")),
        ("mismatch_user_type", &rep, 200, rep_ok("r").replace(r#""userType":"rep""#, r#""userType":"customer""#)),
        ("missing_user_name", &customer, 200, r#"{"access_token":"fake","userType":"customer"}"#.into()),
        ("missing_optional_fields_expiry_from_dot_expires", &rep, 200, r#"{"access_token":"fake-rep-token","token_type":"bearer","userName":"-->r_1001","userType":"rep",".expires":"Wed, 02 Jan 2030 00:00:00 GMT"}"#.into()),
        ("missing_everything_optional", &rep, 200, r#"{"access_token":"fake-rep-token","userName":"-->r_1001","userType":"rep"}"#.into()),
        ("no_access_token", &rep, 200, r#"{"userName":"-->r_1001","userType":"rep"}"#.into()),
        ("error_invalid_grant", &rep, 400, r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#.into()),
        ("error_unsupported_grant_type", &rep, 400, r#"{"error":"unsupported_grant_type"}"#.into()),
        ("error_invalid_client", &rep, 400, r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#.into()),
        ("error_invalid_client_id", &rep, 400, r#"{"error":"invalid_clientId","error_description":"Client 'X' is not registered in the system."}"#.into()),
        ("error_401_message", &rep, 401, r#"{"Message":"Authorization has been denied for this request."}"#.into()),
    ];
    for (name, expected, status, body) in cases {
        // The fixed "now" of these snapshots: 2030-01-01T00:00:00Z.
        let clock = ManualClock::starting_at(UNIX_EPOCH + Duration::from_secs(1_893_456_000));
        let parsed = wire::parse_token_response(&response(status, &body, &clock), expected);
        insta::assert_snapshot!(
            format!("response_{name}"),
            format!(
                "expected: {expected:?}\nstatus: {status}\nbody: {body}\n---\n{}",
                render(parsed)
            )
        );
    }
}
