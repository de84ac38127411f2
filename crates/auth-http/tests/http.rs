//! The HTTP plumbing against a loopback server: body caps, retries, `Retry-After`, timeouts and
//! the https rule. Backoff sleeps go through an auto-advancing manual clock: no real waiting.

use std::sync::Arc;
use std::time::Duration;

use auth_core::error::ConfigProblem;
use auth_core::{Error, ErrorKind, Secret};
use auth_http::{HttpClient, HttpRequest, RetryPolicy};
use auth_testkit::{ManualClock, Reply, TestServer};

fn client(clock: &ManualClock) -> HttpClient {
    HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("client builds")
}

fn post(server: &TestServer, path: &str) -> HttpRequest {
    HttpRequest::post(server.url(path).parse().expect("url")).form(&[("grant_type", "x")])
}

#[tokio::test]
async fn declared_oversize_body_fails_fast() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/t",
        Reply::huge(200, 10 * 1024 * 1024 * 1024, true),
    );
    let clock = ManualClock::auto_advance();
    let err = client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect_err("10 GiB body refused");
    assert!(
        matches!(err.kind(), ErrorKind::MalformedResponse { what, .. } if what.contains("65536-byte limit")),
        "{err}"
    );
    assert_eq!(server.count("POST", "/t"), 1, "not retried");
}

#[tokio::test]
async fn streamed_oversize_body_stops_at_the_cap() {
    let server = TestServer::start().await;
    // 64 MiB without Content-Length: must stop reading just past 1 KiB.
    server.route("POST", "/t", Reply::huge(200, 64 * 1024 * 1024, false));
    let clock = ManualClock::auto_advance();
    let http = HttpClient::builder()
        .clock(Arc::new(clock))
        .max_response_bytes(1024)
        .build()
        .expect("client");
    let err = http
        .send("v", &post(&server, "/t"))
        .await
        .expect_err("capped");
    assert!(err.to_string().contains("1024-byte limit"), "{err}");
}

#[tokio::test]
async fn body_at_the_cap_is_accepted() {
    let server = TestServer::start().await;
    server.route("POST", "/t", Reply::huge(200, 1024, false));
    let http = HttpClient::builder()
        .max_response_bytes(1024)
        .build()
        .expect("client");
    let resp = http.send("v", &post(&server, "/t")).await.expect("fits");
    assert_eq!(resp.body().len(), 1024);
}

#[tokio::test]
async fn transient_statuses_are_retried_with_growing_backoff() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/t",
        vec![Reply::status(503), Reply::status(502)],
        Reply::json(200, "{}"),
    );
    let clock = ManualClock::auto_advance();
    let http = HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .retry(RetryPolicy::default().initial_backoff(Duration::from_secs(1)))
        .build()
        .expect("client");
    let resp = http
        .send("v", &post(&server, "/t"))
        .await
        .expect("third try");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.count("POST", "/t"), 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_millis(500) && sleeps[0] <= Duration::from_secs(1));
    assert!(sleeps[1] >= Duration::from_secs(1) && sleeps[1] <= Duration::from_secs(2));
}

#[tokio::test]
async fn attempts_are_bounded() {
    let server = TestServer::start().await;
    server.route("POST", "/t", Reply::text(500, "text/html", "<h1>down</h1>"));
    let clock = ManualClock::auto_advance();
    let resp = client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect("last response returned");
    assert_eq!(resp.status(), 500);
    assert_eq!(server.count("POST", "/t"), 3, "default: three attempts");
    let err = resp.to_error("v");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("down"), "{err}");
}

#[tokio::test]
async fn oauth_transient_codes_are_retried_even_on_400() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/t",
        vec![Reply::json(400, r#"{"error":"temporarily_unavailable"}"#)],
        Reply::json(200, "{}"),
    );
    let clock = ManualClock::auto_advance();
    let resp = client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect("ok");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.count("POST", "/t"), 2);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    for status in [400, 401, 403, 404] {
        let server = TestServer::start().await;
        server.route(
            "POST",
            "/t",
            Reply::json(status, r#"{"error":"invalid_client"}"#),
        );
        let clock = ManualClock::auto_advance();
        let resp = client(&clock)
            .send("v", &post(&server, "/t"))
            .await
            .expect("response");
        assert_eq!(resp.status(), status);
        assert_eq!(server.count("POST", "/t"), 1, "status {status} not retried");
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/t",
        vec![Reply::status(429).header("retry-after", "7")],
        Reply::json(200, "{}"),
    );
    let clock = ManualClock::auto_advance();
    let resp = client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect("ok");
    assert_eq!(resp.status(), 200);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let server = TestServer::start().await;
    let clock = ManualClock::auto_advance();
    let at =
        httpdate::fmt_http_date(auth_core::Clock::system_now(&clock) + Duration::from_secs(12));
    server.route_sequence(
        "POST",
        "/t",
        vec![Reply::status(503).header("retry-after", &at)],
        Reply::json(200, "{}"),
    );
    client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect("ok");
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    // HTTP dates have one-second resolution.
    assert!(
        sleeps[0] >= Duration::from_secs(11) && sleeps[0] <= Duration::from_secs(12),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_ends_retries_with_throttled() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/t",
        Reply::status(429).header("retry-after", "3600"),
    );
    let clock = ManualClock::auto_advance();
    let resp = client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect("response");
    assert_eq!(server.count("POST", "/t"), 1);
    assert!(clock.sleeps().is_empty());
    let err = resp.to_error("v");
    assert_eq!(
        err.kind(),
        Error::throttled("v", Some(Duration::from_secs(3600))).kind()
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn connect_failures_are_retried_then_reported() {
    // Bind and drop a listener to get a port nobody listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let clock = ManualClock::auto_advance();
    let req = HttpRequest::post(format!("http://{addr}/t").parse().expect("url"));
    let err = client(&clock).send("v", &req).await.expect_err("refused");
    assert!(matches!(err.kind(), ErrorKind::Transport { .. }));
    assert_eq!(err.to_string(), "could not reach v");
    assert!(std::error::Error::source(&err).is_some(), "cause kept");
    assert_eq!(clock.sleeps().len(), 2, "three attempts");
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/t",
        Reply::json(200, "{}").delay(Duration::from_secs(3600)),
    );
    let http = HttpClient::builder()
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::none())
        .build()
        .expect("client");
    let err = http
        .send("v", &post(&server, "/t"))
        .await
        .expect_err("timeout");
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_sending() {
    let clock = ManualClock::auto_advance();
    let req = HttpRequest::post("http://auth.example.com/token".parse().expect("url"))
        .form_secret("password", &Secret::new("x"));
    let err = client(&clock).send("v", &req).await.expect_err("refused");
    assert!(matches!(
        err.kind(),
        ErrorKind::Configuration {
            problem: ConfigProblem::InsecureUrl,
            ..
        }
    ));
}

#[tokio::test]
async fn same_origin_redirects_keep_the_authorization_header() {
    let server = TestServer::start().await;
    server.route("GET", "/a", Reply::status(307).header("location", "/b"));
    server.route("GET", "/b", Reply::json(200, r#"{"ok":true}"#));
    let token = auth_core::Token::builder(Secret::new("tok")).build();
    let req = HttpRequest::get(server.url("/a").parse().expect("url")).bearer(&token);
    let resp = HttpClient::new()
        .expect("client")
        .send("v", &req)
        .await
        .expect("followed");
    assert_eq!(resp.status(), 200);
    let second = &server.requests()[1];
    assert_eq!(second.target, "/b");
    assert_eq!(second.header("authorization"), Some("Bearer tok"));
}

#[tokio::test]
async fn cross_origin_redirects_are_not_followed() {
    let server = TestServer::start().await;
    let other = TestServer::start().await;
    server.route(
        "GET",
        "/a",
        Reply::status(302).header("location", &other.url("/steal")),
    );
    let resp = HttpClient::new()
        .expect("client")
        .send(
            "v",
            &HttpRequest::get(server.url("/a").parse().expect("url")),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), 302);
    assert_eq!(other.requests().len(), 0);
}

#[tokio::test]
async fn lifetimes_start_when_the_request_is_sent() {
    let server = TestServer::start().await;
    server.route("POST", "/t", Reply::json(200, "{}"));
    let clock = ManualClock::new();
    let before = auth_core::Clock::now(&clock);
    let resp = client(&clock)
        .send("v", &post(&server, "/t"))
        .await
        .expect("ok");
    assert_eq!(resp.sent_at(), before);
}
