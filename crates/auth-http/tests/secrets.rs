//! Sentinel secrets pushed through every error path and every `Debug` of a configuration or
//! token: none may ever appear in a message, a `Debug` print or a cause.

use std::sync::Arc;
use std::time::Duration;

use auth_core::source::StaticToken;
use auth_core::{ErrorKind, Secret, Token, TokenCache};
use auth_http::{AuthorizedCalls, HttpClient, HttpRequest, RetryPolicy};
use auth_testkit::{ManualClock, Reply, TestServer};

const PASSWORD: &str = "SENTINEL-pass&word=1+2";
const CLIENT_SECRET: &str = "SENTINEL-client-secret";
const HEADER_SECRET: &str = "SENTINEL-header-secret";
const ACCESS: &str = "SENTINEL-access-token";
const REFRESH: &str = "SENTINEL-refresh-token";

fn sentinels() -> Vec<String> {
    let form = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut all = Vec::new();
    for s in [PASSWORD, CLIENT_SECRET, HEADER_SECRET, ACCESS, REFRESH] {
        all.push(s.to_owned());
        all.push(form(s));
    }
    all.push("SENTINEL".to_owned());
    all
}

fn assert_clean(what: &str, text: &str) {
    for s in sentinels() {
        assert!(!text.contains(&s), "{what} leaks {s:?}: {text}");
    }
}

fn assert_error_clean(what: &str, err: &auth_core::Error) {
    assert_clean(what, &err.to_string());
    assert_clean(what, &format!("{err:?}"));
    assert_clean(what, &format!("{err:#?}"));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        assert_clean(what, &cause.to_string());
        assert_clean(what, &format!("{cause:?}"));
        source = cause.source();
    }
}

fn request(url: String) -> HttpRequest {
    HttpRequest::post(url.parse().expect("url"))
        .form(&[("grant_type", "password"), ("username", "u")])
        .form_secret("password", &Secret::new(PASSWORD))
        .form_secret("client_secret", &Secret::new(CLIENT_SECRET))
        .secret_header("x-api-key", &Secret::new(HEADER_SECRET))
}

/// Replies that echo everything they received, in the shapes servers really use.
type Echo = Box<dyn Fn(String) -> Reply + Send + Sync>;

fn echo_replies() -> Vec<(&'static str, Echo)> {
    vec![
        (
            "401 oauth",
            Box::new(|b| {
                Reply::json(
                    401,
                    serde_json::json!({"error":"invalid_grant","error_description": b}).to_string(),
                )
            }),
        ),
        (
            "400 pascal",
            Box::new(|b| {
                Reply::json(
                    400,
                    serde_json::json!({"Error":"invalid_request","Description": b}).to_string(),
                )
            }),
        ),
        (
            "403 message",
            Box::new(|b| Reply::json(403, serde_json::json!({"Message": b}).to_string())),
        ),
        ("404 text", Box::new(|b| Reply::text(404, "text/plain", b))),
        (
            "500 html",
            Box::new(|b| {
                Reply::text(
                    500,
                    "text/html",
                    format!("<html><body><pre>{b}</pre></body></html>"),
                )
            }),
        ),
        (
            "502 unknown json",
            Box::new(|b| Reply::json(502, serde_json::json!({"whatever": b}).to_string())),
        ),
        (
            "429",
            Box::new(|b| Reply::text(429, "text/plain", b).header("retry-after", "1")),
        ),
    ]
}

#[tokio::test]
async fn echoed_credentials_never_reach_an_error() {
    for (name, reply) in echo_replies() {
        let server = TestServer::start().await;
        server.route_fn("POST", "/t", move |req| {
            let mut echo = String::from_utf8_lossy(&req.body).into_owned();
            for (n, v) in &req.headers {
                echo.push_str(&format!(" {n}={v}"));
            }
            reply(echo)
        });
        let http = HttpClient::builder()
            .clock(Arc::new(ManualClock::auto_advance()))
            .build()
            .expect("client");
        let resp = http
            .send("v", &request(server.url("/t")))
            .await
            .expect("a response");
        assert!(!resp.is_success());
        let echoed = String::from_utf8_lossy(resp.body()).into_owned();
        assert!(
            echoed.contains("SENTINEL"),
            "{name}: the server really echoed"
        );
        assert_error_clean(name, &resp.to_error("v"));
        let body = resp.error_body();
        assert_clean(name, &format!("{body:?}"));
        assert_clean(name, &format!("{resp:?}"));
    }
}

#[tokio::test]
async fn oversize_timeout_and_transport_errors_are_clean() {
    let server = TestServer::start().await;
    server.route("POST", "/huge", Reply::huge(200, 1 << 20, false));
    let http = HttpClient::builder()
        .clock(Arc::new(ManualClock::auto_advance()))
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let err = http
        .send("v", &request(server.url("/huge")))
        .await
        .expect_err("too large");
    assert_error_clean("oversize", &err);

    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let err = http
        .send(
            "v",
            &request(format!("http://{addr}/t?secret={CLIENT_SECRET}")),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err.kind(), ErrorKind::Transport { .. }));
    assert_error_clean("transport", &err);

    let err = http
        .send(
            "v",
            &request(format!("http://example.com/t?x={CLIENT_SECRET}")),
        )
        .await
        .expect_err("insecure");
    assert_error_clean("insecure url", &err);
}

#[tokio::test(start_paused = true)]
async fn timeout_errors_are_clean() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/slow",
        Reply::json(200, "{}").delay(Duration::from_secs(600)),
    );
    let http = HttpClient::builder()
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let err = http
        .send("v", &request(server.url("/slow")))
        .await
        .expect_err("timeout");
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }));
    assert_error_clean("timeout", &err);
}

#[tokio::test]
async fn debug_of_every_value_holding_a_secret_is_clean() {
    let token = Token::builder(Secret::new(ACCESS))
        .refresh_token(Some(Secret::new(REFRESH)))
        .lifetime(std::time::Instant::now(), Some(Duration::from_secs(60)))
        .scope("api")
        .build();
    assert_clean("token", &format!("{token:?} {token:#?}"));
    assert_clean(
        "secret",
        &format!("{:?} {}", Secret::new(PASSWORD), Secret::new(PASSWORD)),
    );
    let req = request("https://example.com/t".into()).bearer(&token);
    assert_clean("request", &format!("{req:?} {req:#?}"));
    let source = StaticToken::from_token("v", token.clone());
    assert_clean("static source", &format!("{source:?}"));
    let cache = TokenCache::new(source);
    cache.token().await.expect("token");
    assert_clean("cache", &format!("{cache:?} {cache:#?}"));
    let builder = TokenCache::builder(StaticToken::from_token("v", token.clone()));
    assert_clean("cache builder", &format!("{builder:?}"));
    let http = HttpClient::new().expect("client");
    assert_clean("http client", &format!("{http:?}"));
    assert_clean("http builder", &format!("{:?}", HttpClient::builder()));
    // The header itself is marked sensitive, so HTTP libraries do not print it either.
    let value = token.authorization_value().expect("header");
    assert!(value.is_sensitive());
    assert_clean("header", &format!("{value:?}"));
}

#[tokio::test]
async fn a_401_on_an_api_call_with_a_static_token_is_clean() {
    let server = TestServer::start().await;
    server.route_fn("GET", "/api", |req| {
        Reply::json(
            401,
            serde_json::json!({"error": "unauthorized_client", "error_description": format!("bad {}", req.header("authorization").unwrap_or_default())}).to_string(),
        )
    });
    let cache = TokenCache::new(StaticToken::new("v", Secret::new(ACCESS), None));
    let err = cache
        .send(api_client().get(server.url("/api")))
        .await
        .expect_err("revoked");
    assert!(matches!(err.kind(), ErrorKind::TokenRevoked { .. }));
    assert_error_clean("revoked", &err);
}

#[derive(Debug)]
struct EchoSource {
    http: HttpClient,
    url: String,
    minted: std::sync::atomic::AtomicUsize,
}

#[auth_core::async_trait]
impl auth_core::TokenSource for EchoSource {
    fn vendor(&self) -> &'static str {
        "v"
    }
    async fn fetch(&self, _: Option<&Token>) -> Result<Token, auth_core::Error> {
        let resp = self.http.send("v", &request(self.url.clone())).await?;
        if resp.is_success() {
            let n = self
                .minted
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Token::builder(Secret::new(format!("{ACCESS}-{n}")))
                .lifetime(resp.sent_at(), Some(Duration::from_secs(3600)))
                .build())
        } else {
            Err(resp.to_error("v"))
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn log_lines_never_carry_a_secret() {
    let recorder = auth_testkit::LogRecorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());

    let server = TestServer::start().await;
    // The token endpoint fails once with the request echoed back, then succeeds; the API
    // answers 401 once with the bearer token echoed back.
    let echo = |req: &auth_testkit::Received| {
        let mut text = String::from_utf8_lossy(&req.body).into_owned();
        for (n, v) in &req.headers {
            text.push_str(&format!(" {n}={v}"));
        }
        text
    };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    server.route_fn("POST", "/t", move |req| {
        match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Reply::json(503, serde_json::json!({"error": "temporarily_unavailable", "error_description": echo(req)}).to_string()),
            1 => Reply::json(400, serde_json::json!({"error": "invalid_grant", "error_description": echo(req)}).to_string()),
            _ => Reply::json(200, "{}"),
        }
    });
    server.route_sequence(
        "GET",
        "/api",
        vec![Reply::json(
            401,
            format!(r#"{{"error":"invalid_token","error_description":"{ACCESS}"}}"#),
        )],
        Reply::json(200, "{}"),
    );
    let clock = ManualClock::auto_advance();
    let http = HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("client");
    let cache = TokenCache::builder(EchoSource {
        http,
        url: server.url("/t"),
        minted: Default::default(),
    })
    .clock(Arc::new(clock.clone()))
    .build();
    // Retried once (503), then rejected (400): the failure is logged with its error.
    let err = cache.token().await.expect_err("rejected");
    assert!(err.is_rejected());
    clock.advance(Duration::from_secs(31));
    cache.token().await.expect("token");
    let resp = cache
        .send(api_client().get(server.url("/api")))
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);

    let lines = recorder.lines();
    assert!(
        lines.iter().any(|l| l.contains("token fetch failed")),
        "the failure was logged: {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("token invalidated")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("retrying")), "{lines:#?}");
    for line in &lines {
        assert_clean("log line", line);
    }
}

/// A plain reqwest client for API calls, built after the process's TLS provider is installed.
fn api_client() -> reqwest::Client {
    auth_http::install_crypto_provider();
    reqwest::Client::new()
}
