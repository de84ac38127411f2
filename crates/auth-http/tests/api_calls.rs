//! API calls are not token requests: no timeout of their own unless one is set (never the
//! token requests'), and a documented way to turn a failed response into the crate's errors
//! while successful bodies stay streamable. Time is tokio's paused clock.

use std::time::{Duration, Instant};

use auth_core::source::StaticToken;
use auth_core::{ErrorKind, Secret};
use auth_http::HttpClient;
use auth_http::vendor::{ClientOptions, VendorClient};
use auth_testkit::{Reply, TestServer};

fn client(options: ClientOptions) -> VendorClient {
    let http = HttpClient::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http");
    VendorClient::new(
        StaticToken::new("example", Secret::new("api-token-Qw9"), None),
        http,
        &options,
    )
}

#[tokio::test(start_paused = true)]
async fn a_slow_export_is_not_cut_at_the_token_timeout() {
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/export",
        Reply::json(200, r#"{"rows":[]}"#).delay(Duration::from_secs(45)),
    );
    let api = client(ClientOptions::default());
    let started = tokio::time::Instant::now();
    let response = api
        .send(api.reqwest_client().get(server.url("/export")))
        .await
        .expect("no timeout by default");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(45));
}

#[tokio::test(start_paused = true)]
async fn the_api_timeout_applies_when_set_and_a_request_may_set_its_own() {
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/export",
        Reply::json(200, "{}").delay(Duration::from_secs(45)),
    );
    let api = client(ClientOptions::default().api_timeout(Duration::from_secs(10)));
    let started = tokio::time::Instant::now();
    let err = api
        .send(api.reqwest_client().get(server.url("/export")))
        .await
        .expect_err("times out");
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    // A request's own timeout wins over the client's.
    let response = api
        .send(
            api.reqwest_client()
                .get(server.url("/export"))
                .timeout(Duration::from_secs(60)),
        )
        .await
        .expect("its own, longer timeout");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn failed_calls_become_the_crates_errors_and_successes_stream() {
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/missing",
        Reply::json(
            404,
            r#"{"Message":"No table named supplierz; token api-token-Qw9"}"#,
        ),
    );
    server.route(
        "GET",
        "/forbidden",
        Reply::json(
            403,
            r#"{"error":"insufficient_scope","error_description":"needs members.write"}"#,
        ),
    );
    server.route(
        "GET",
        "/busy",
        Reply::text(429, "text/plain", "slow down").header("retry-after", "7"),
    );
    server.route(
        "GET",
        "/huge-error",
        Reply::huge(500, 50 * 1024 * 1024, false),
    );
    server.route("GET", "/ok", Reply::huge(200, 3 * 1024 * 1024, true));
    let api = client(ClientOptions::default());
    let call = |path: &str| {
        let api = api.clone();
        let url = server.url(path);
        async move {
            let response = api.send(api.reqwest_client().get(url)).await?;
            api.error_for_status(response).await
        }
    };

    let err = call("/missing").await.expect_err("404");
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedStatus { status: 404, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("No table named supplierz"), "{text}");
    assert!(
        !text.contains("api-token-Qw9"),
        "the token is scrubbed: {text}"
    );

    let err = call("/forbidden").await.expect_err("403");
    let ErrorKind::Forbidden { code, .. } = err.kind() else {
        panic!("{err:?}")
    };
    assert_eq!(code.as_deref(), Some("insufficient_scope"));

    let err = call("/busy").await.expect_err("429");
    assert!(matches!(
        err.kind(),
        ErrorKind::Throttled { retry_after: Some(d), .. } if *d == Duration::from_secs(7)
    ));

    // A 50 MB error page is not buffered: its start is read, the rest dropped.
    let started = Instant::now();
    let err = call("/huge-error").await.expect_err("500");
    assert!(matches!(
        err.kind(),
        ErrorKind::UnexpectedStatus { status: 500, .. }
    ));
    assert!(started.elapsed() < Duration::from_secs(10));

    // A success is handed back untouched, to stream.
    let mut response = call("/ok").await.expect("200");
    let mut streamed = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        streamed += chunk.len();
    }
    assert_eq!(streamed, 3 * 1024 * 1024);
}
