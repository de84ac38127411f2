//! The hardening guarantees through every vendor crate: a leak matrix (every flow × every error
//! shape × every echo encoding, checked in `Display`, `Debug` and log lines at TRACE), token
//! requests that never follow a redirect to another origin, bounded token requests under
//! failure, and what zero, short and past lifetimes mean for each vendor.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auth_core::{Error, ErrorKind, Secret, Token};
use auth_http::HttpClient;
use auth_testkit::{LogRecorder, ManualClock, Received, Reply, TestServer};

/// Every secret starts with this; none may ever appear in any output, even in part.
const MARK: &str = "SENTINEL";
/// A secret with every character some encoding changes.
const SECRET: &str = "SENTINEL-p@ss w+rd&<é>'/\"\\%ü";

#[derive(Clone, Copy, Debug)]
enum Flow {
    P21User,
    P21ConsumerKey,
    P21V1,
    PersonifyPost,
    PersonifyBasic,
    ApinizerIssued,
    ByDesignRep,
}

const FLOWS: &[Flow] = &[
    Flow::P21User,
    Flow::P21ConsumerKey,
    Flow::P21V1,
    Flow::PersonifyPost,
    Flow::PersonifyBasic,
    Flow::ApinizerIssued,
    Flow::ByDesignRep,
];

type TokenFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Token, Error>> + Send>>;

/// One client of any vendor, reduced to what the tests need.
struct Any {
    token: Box<dyn Fn() -> TokenFuture + Send + Sync>,
    path: &'static str,
}

fn client(flow: Flow, server: &TestServer, clock: &ManualClock) -> Any {
    let http = HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("http client");
    let secret = || Secret::new(SECRET);
    macro_rules! any {
        ($client:expr, $path:expr) => {{
            let client = $client.expect("client");
            Any {
                token: Box::new(move || {
                    let client = client.clone();
                    Box::pin(async move { client.token().await })
                }),
                path: $path,
            }
        }};
    }
    match flow {
        Flow::P21User | Flow::P21ConsumerKey | Flow::P21V1 => {
            #[allow(deprecated)]
            let credentials = match flow {
                Flow::P21User => p21_auth::Credentials::user("api_user", secret()),
                Flow::P21ConsumerKey => {
                    p21_auth::Credentials::consumer_key(secret()).with_username("api_user")
                }
                _ => p21_auth::Credentials::user_v1_headers(
                    "api_user",
                    Secret::new("SENTINEL-v1.pw"),
                ),
            };
            let path = if matches!(flow, Flow::P21V1) {
                "/api/security/token"
            } else {
                "/api/security/token/v2"
            };
            any!(
                p21_auth::Client::builder()
                    .base_url(server.url(""))
                    .credentials(credentials)
                    .http_client(http)
                    .build(),
                path
            )
        }
        Flow::PersonifyPost | Flow::PersonifyBasic => any!(
            personify_auth::Client::builder()
                .token_url(server.url("/connect/token"))
                .credentials(personify_auth::Credentials::new("client-1", secret()))
                .client_auth(if matches!(flow, Flow::PersonifyBasic) {
                    personify_auth::ClientAuth::Basic
                } else {
                    personify_auth::ClientAuth::Post
                })
                .http_client(http)
                .build(),
            "/connect/token"
        ),
        Flow::ApinizerIssued => any!(
            apinizer_auth::Client::builder()
                .base_url(server.url(""))
                .credentials(apinizer_auth::Credentials::issued("admin", secret()))
                .http_client(http)
                .build(),
            "/apiops/auth/token"
        ),
        Flow::ByDesignRep => any!(
            bydesign_auth::Client::builder()
                .base_url(server.url("/Company"))
                .client_id("Cart")
                .credentials(bydesign_auth::Credentials::rep("1001", secret()))
                .http_client(http)
                .build(),
            "/Company/token"
        ),
    }
}

/// What the server understood of the request: every form field, JSON string and header value,
/// decoded, as a server that echoes its input would have them.
fn understood(req: &Received) -> Vec<String> {
    let mut values: Vec<String> = req.headers.iter().map(|(_, v)| v.clone()).collect();
    match serde_json::from_slice::<serde_json::Value>(&req.body) {
        Ok(serde_json::Value::Object(map)) => {
            values.extend(map.values().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        _ => values.extend(req.form().into_iter().map(|(_, v)| v)),
    }
    values
}

type Encode = fn(&str) -> Vec<u8>;

/// Every character but letters and digits as an HTML numeric entity, decimal or hex.
fn numeric_entities(s: &str, hex: bool) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => c.to_string(),
            c if hex => format!("&#x{:X};", u32::from(c)),
            c => format!("&#{};", u32::from(c)),
        })
        .collect::<String>()
        .into_bytes()
}

fn encodings() -> Vec<(&'static str, Encode)> {
    fn text(s: String) -> Vec<u8> {
        s.into_bytes()
    }
    vec![
        ("raw", |s| text(s.to_owned())),
        ("form", |s| {
            text(form_urlencoded::byte_serialize(s.as_bytes()).collect())
        }),
        ("form, lower case", |s| {
            text(
                form_urlencoded::byte_serialize(s.as_bytes())
                    .collect::<String>()
                    .to_lowercase(),
            )
        }),
        ("percent, %20", |s| {
            text(
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02x}")
                        }
                    })
                    .collect(),
            )
        }),
        ("serde json", |s| {
            text(serde_json::to_string(s).unwrap_or_default())
        }),
        ("System.Text.Json", |s| {
            text(
                s.encode_utf16()
                    .map(|u| match u {
                        0x20..=0x7E if !b"+&<>'\"\\`".contains(&(u as u8)) => {
                            char::from(u as u8).to_string()
                        }
                        _ => format!("\\u{u:04X}"),
                    })
                    .collect(),
            )
        }),
        ("\\u lower case and \\/", |s| {
            text(
                s.encode_utf16()
                    .map(|u| match u {
                        0x2F => "\\/".to_owned(),
                        0x20..=0x7E if !b"+&<>'\"\\".contains(&(u as u8)) => {
                            char::from(u as u8).to_string()
                        }
                        _ => format!("\\u{u:04x}"),
                    })
                    .collect(),
            )
        }),
        ("html named", |s| {
            text(
                s.chars()
                    .map(|c| match c {
                        '&' => "&amp;".into(),
                        '<' => "&lt;".into(),
                        '>' => "&gt;".into(),
                        '"' => "&quot;".into(),
                        '\'' => "&apos;".into(),
                        'é' => "&eacute;".into(),
                        'ü' => "&uuml;".into(),
                        c => c.to_string(),
                    })
                    .collect(),
            )
        }),
        ("html decimal", |s| numeric_entities(s, false)),
        ("html hex", |s| numeric_entities(s, true)),
        ("latin-1 bytes", |s| {
            s.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect()
        }),
    ]
}

type Shape = (&'static str, fn(Vec<u8>) -> Reply);

fn shapes() -> Vec<Shape> {
    fn wrap(before: &str, echo: Vec<u8>, after: &str) -> Vec<u8> {
        let mut body = before.as_bytes().to_vec();
        body.extend(echo);
        body.extend_from_slice(after.as_bytes());
        body
    }
    vec![
        ("401 oauth", |e| {
            Reply::status(401)
                .header("content-type", "application/json")
                .body(wrap(
                    r#"{"error":"invalid_grant","error_description":"bad "#,
                    e,
                    r#""}"#,
                ))
        }),
        ("400 pascal", |e| {
            Reply::status(400)
                .header("content-type", "application/json")
                .body(wrap(
                    r#"{"Error":"invalid_request","Description":""#,
                    e,
                    r#""}"#,
                ))
        }),
        ("403 message", |e| {
            Reply::status(403)
                .header("content-type", "application/json")
                .body(wrap(r#"{"Message":""#, e, r#""}"#))
        }),
        ("404 text", |e| {
            Reply::status(404)
                .header("content-type", "text/plain")
                .body(wrap("no route for ", e, ""))
        }),
        ("500 html", |e| {
            Reply::status(500)
                .header("content-type", "text/html")
                .body(wrap(
                    "<html><body><h1>Server Error</h1><pre>",
                    e,
                    "</pre></body></html>",
                ))
        }),
        ("502 unknown json", |e| {
            Reply::status(502)
                .header("content-type", "application/json")
                .body(wrap(r#"{"whatever":""#, e, r#""}"#))
        }),
        ("429 text", |e| {
            Reply::status(429)
                .header("content-type", "text/plain")
                .header("retry-after", "0")
                .body(wrap("slow down ", e, ""))
        }),
        ("400 error code in text/plain", |e| {
            Reply::status(400)
                .header("content-type", "text/plain")
                .body(wrap("error=invalid_client&error_description=", e, ""))
        }),
    ]
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARK), "{what} leaks a secret: {text}");
    assert!(
        !text.contains("p@ss"),
        "{what} leaks part of a secret: {text}"
    );
}

fn assert_error_clean(what: &str, err: &Error) {
    assert_clean(what, &err.to_string());
    assert_clean(what, &format!("{err:?}"));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        assert_clean(what, &format!("{cause} {cause:?}"));
        source = cause.source();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn leak_matrix_every_flow_every_error_shape_every_echo_encoding() {
    let recorder = LogRecorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let mut cases = 0;
    for &flow in FLOWS {
        let server = TestServer::start().await;
        let clock = ManualClock::auto_advance();
        let client = client(flow, &server, &clock);
        for (shape, reply) in shapes() {
            for (encoding, encode) in encodings() {
                server.route_fn("POST", client.path, move |req| {
                    let mut echo = Vec::new();
                    for value in understood(req) {
                        echo.extend(encode(&value));
                        echo.push(b' ');
                    }
                    reply(echo)
                });
                // Past any remembered failure: each case makes a request of its own.
                clock.advance(Duration::from_secs(3600));
                let before = server.requests().len();
                let err = (client.token)()
                    .await
                    .expect_err("every shape is a failure");
                let echoed = server.requests().len() > before;
                assert!(echoed, "{flow:?} {shape} {encoding}: no request made");
                assert_error_clean(&format!("{flow:?} {shape} {encoding}"), &err);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, FLOWS.len() * shapes().len() * encodings().len());
    let lines = recorder.lines();
    assert!(
        lines.iter().any(|l| l.contains("token fetch failed")),
        "logged"
    );
    for line in &lines {
        assert_clean("log line", line);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_successful_response_is_never_quoted_whatever_the_parse_error() {
    let recorder = LogRecorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let p21_bodies = [
        (
            "application/xml",
            "<TokenResponse><AccessToken>SENTINEL-access</AccessToken><RefreshToken>SENTINEL-refresh</Wrong></TokenResponse>",
        ),
        (
            "application/xml",
            "<TokenResponse><AccessToken>SENTINEL-access&SENTINEL-entity;</AccessToken></TokenResponse>",
        ),
        (
            "application/xml",
            "<TokenResponse><SENTINEL-name>x</SENTINEL-name><AccessToken>SENTINEL-a",
        ),
        (
            "application/json",
            r#"{"AccessToken":"SENTINEL-access","RefreshToken":"SENTINEL-refresh",}"#,
        ),
        (
            "application/json",
            r#"{"AccessToken":"SENTINEL-access\r\nX: y"}"#,
        ),
        ("text/plain", r#"{"Other":"SENTINEL-access"}"#),
    ];
    for (content_type, body) in p21_bodies {
        let server = TestServer::start().await;
        server.route(
            "POST",
            "/api/security/token/v2",
            Reply::text(200, content_type, body),
        );
        let clock = ManualClock::auto_advance();
        let client = client(Flow::P21User, &server, &clock);
        let err = (client.token)().await.expect_err("malformed");
        assert!(
            matches!(err.kind(), ErrorKind::MalformedResponse { .. }),
            "{err:?}"
        );
        assert_error_clean(body, &err);
    }
    // A hostile content type is cut short in the error.
    let server = TestServer::start().await;
    let content_type = format!("text/{}", "x".repeat(50_000));
    server.route(
        "POST",
        "/api/security/token/v2",
        Reply::text(200, &content_type, "{}"),
    );
    let clock = ManualClock::auto_advance();
    let err = (client(Flow::P21User, &server, &clock).token)()
        .await
        .expect_err("malformed");
    assert!(err.to_string().len() < 1_000, "{}", err.to_string().len());

    // ByDesign: an identity mismatch names the identity, cut short, never the token.
    let server = TestServer::start().await;
    let long_name = format!("-->r_{}", "9".repeat(10_000));
    server.route(
        "POST",
        "/Company/token",
        Reply::json(
            200,
            serde_json::json!({"access_token": "SENTINEL-access", "refresh_token": "SENTINEL-refresh", "userName": long_name, "userType": "rep"}).to_string(),
        ),
    );
    let clock = ManualClock::auto_advance();
    let err = (client(Flow::ByDesignRep, &server, &clock).token)()
        .await
        .expect_err("mismatch");
    assert!(matches!(err.kind(), ErrorKind::IdentityMismatch { .. }));
    assert!(err.to_string().len() < 1_000, "{}", err.to_string().len());
    assert_error_clean("identity mismatch", &err);
    for line in recorder.lines() {
        assert_clean("log line", &line);
    }
}

#[tokio::test]
async fn no_token_request_follows_a_redirect_to_another_origin() {
    for &flow in FLOWS {
        let elsewhere = TestServer::start().await;
        let server = TestServer::start().await;
        let clock = ManualClock::auto_advance();
        let client = client(flow, &server, &clock);
        for status in [307, 308] {
            server.route(
                "POST",
                client.path,
                Reply::status(status).header("location", &elsewhere.url(client.path)),
            );
            clock.advance(Duration::from_secs(3600));
            let err = (client.token)().await.expect_err("not followed");
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::UnexpectedStatus {
                        status: 307 | 308,
                        ..
                    }
                ),
                "{flow:?}: {err:?}"
            );
        }
        assert!(
            elsewhere.requests().is_empty(),
            "{flow:?}: a credential left for another origin"
        );
    }
}

#[tokio::test]
async fn many_callers_and_a_failing_token_endpoint_make_few_requests() {
    let failures: Vec<(&str, Reply)> = vec![
        ("404", Reply::text(404, "text/html", "<h1>Not Found</h1>")),
        ("500", Reply::json(500, r#"{"error":"server_error"}"#)),
        (
            "400 without a code",
            Reply::text(400, "text/plain", "Bad Request"),
        ),
        (
            "200 without a token",
            Reply::json(200, r#"{"hello":"world"}"#),
        ),
        (
            "200 malformed",
            Reply::text(200, "application/json", "{not json"),
        ),
        (
            "429 retry-after 0",
            Reply::status(429).header("retry-after", "0"),
        ),
        ("401", Reply::json(401, r#"{"error":"invalid_client"}"#)),
    ];
    for &flow in FLOWS {
        for (name, reply) in &failures {
            let server = TestServer::start().await;
            let clock = ManualClock::auto_advance();
            let client = client(flow, &server, &clock);
            server.route("POST", client.path, reply.clone());
            // 50 callers every 100 ms for two minutes of the clock.
            for _ in 0..1_200 {
                for _ in 0..50 {
                    let _ = (client.token)().await;
                }
                clock.advance(Duration::from_millis(100));
            }
            let requests = server.count("POST", client.path);
            // Failure backoff 1 s doubling to 60 s: about eight fetches, each at most three
            // attempts when the failure is transient.
            assert!(
                requests <= 36,
                "{flow:?} {name}: {requests} token requests in two minutes"
            );
        }
    }
}

fn jwt(exp: u64) -> String {
    let b64 = |s: &str| {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = s.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    };
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"none"}"#),
        b64(&format!(r#"{{"exp":{exp}}}"#))
    )
}

#[tokio::test]
async fn zero_short_and_past_lifetimes_per_vendor() {
    let clock =
        ManualClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    let now = 2_000_000_000u64;
    let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(now));
    let p21 = |body: String| Reply::json(200, body).header("date", &date);
    let cases: Vec<(Flow, Reply, Option<u64>)> = vec![
        // expires_in of 0 or below means "not stated": the vendor's default, one hour.
        (Flow::PersonifyPost, Reply::json(200, r#"{"access_token":"t","expires_in":0}"#), Some(3600)),
        (Flow::ApinizerIssued, Reply::json(200, r#"{"access_token":"t","expires_in":-5}"#), Some(3600)),
        (Flow::P21User, p21(r#"{"AccessToken":"t","ExpiresInSeconds":"0"}"#.into()), Some(3600)),
        // A JWT exp judged on the server's Date: past, now, a moment away, an hour away.
        (Flow::P21User, p21(format!(r#"{{"AccessToken":"{}"}}"#, jwt(now - 60))), None),
        (Flow::P21User, p21(format!(r#"{{"AccessToken":"{}"}}"#, jwt(now))), None),
        (Flow::P21User, p21(format!(r#"{{"AccessToken":"{}"}}"#, jwt(now + 1))), None),
        (Flow::P21User, p21(format!(r#"{{"AccessToken":"{}"}}"#, jwt(now + 3600))), Some(3600)),
        // The server's clock an hour ahead of ours does not shorten the token.
        (
            Flow::P21User,
            Reply::json(200, format!(r#"{{"AccessToken":"{}"}}"#, jwt(now + 7200)))
                .header("date", &httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(now + 3600))),
            Some(3600),
        ),
        // ByDesign's .expires judged against its .issued.
        (Flow::ByDesignRep, Reply::json(200, serde_json::json!({"access_token":"t","userName":"-->r_1001","userType":"rep",".issued":"Mon, 01 Jan 2024 00:00:00 GMT",".expires":"Mon, 01 Jan 2024 00:00:00 GMT"}).to_string()), None),
        (Flow::ByDesignRep, Reply::json(200, serde_json::json!({"access_token":"t","userName":"-->r_1001","userType":"rep",".issued":"Mon, 01 Jan 2024 00:00:00 GMT",".expires":"Mon, 01 Jan 2024 00:00:02 GMT"}).to_string()), None),
        (Flow::ByDesignRep, Reply::json(200, serde_json::json!({"access_token":"t","userName":"-->r_1001","userType":"rep",".issued":"Mon, 01 Jan 2024 00:00:00 GMT",".expires":"Mon, 01 Jan 2024 00:20:00 GMT"}).to_string()), Some(1200)),
    ];
    for (i, (flow, reply, expected)) in cases.into_iter().enumerate() {
        let server = TestServer::start().await;
        let client = client(flow, &server, &clock);
        server.route("POST", client.path, reply);
        let got = (client.token)().await;
        match expected {
            Some(secs) => {
                let token = got.unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert_eq!(
                    token.lifetime(),
                    Some(Duration::from_secs(secs)),
                    "case {i}"
                );
            }
            None => {
                let err = got.expect_err(&format!("case {i}: refused"));
                assert!(
                    matches!(err.kind(), ErrorKind::MalformedResponse { .. }),
                    "case {i}: {err:?}"
                );
                // And refused again only after the failure backoff: no loop.
                let _ = (client.token)().await;
                assert_eq!(server.count("POST", client.path), 1, "case {i}");
            }
        }
    }
}
