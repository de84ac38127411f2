//! The hardening guarantees of auth-core, each tried as an attacker or a careless user would:
//! credentials only to their origin, requests that never lose a part silently, bounded time,
//! no storm of token requests whatever fails, no expired or unusable token handed out, and no
//! panic for any builder value.

use std::sync::Arc;
use std::time::Duration;

use auth_core::error::{ConfigProblem, MAX_TEXT_CHARS};
use auth_core::source::StaticToken;
use auth_core::{
    CacheOptions, Clock, Error, ErrorKind, Secret, Token, TokenCache, TokenSource, async_trait,
};
use auth_http::{HttpClient, HttpRequest, RetryPolicy};
use auth_testkit::{ManualClock, Reply, ScriptedSource, TestServer};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn post(url: String) -> HttpRequest {
    HttpRequest::post(url.parse().expect("url"))
        .json_field("username", "u")
        .json_secret("password", &Secret::new("SENTINEL-pw"))
}

// ---------------------------------------------------------------------------------------------
// Origins
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_redirect_to_another_origin_or_scheme_is_never_followed() {
    let elsewhere = TestServer::start().await;
    elsewhere.route(
        "POST",
        "/steal",
        Reply::json(200, r#"{"access_token":"x"}"#),
    );
    let server = TestServer::start().await;
    let port = server.addr().port();
    let targets = [
        elsewhere.url("/steal"),                                  // another port
        format!("http://localhost:{port}/steal"),                 // another host name
        format!("https://127.0.0.1:{port}/steal"),                // another scheme
        format!("//127.0.0.1:{}/steal", elsewhere.addr().port()), // scheme-relative
    ];
    for (status, target) in [307, 308, 302, 301, 303]
        .into_iter()
        .flat_map(|s| targets.iter().map(move |t| (s, t.clone())))
    {
        server.route(
            "POST",
            "/token",
            Reply::status(status).header("location", &target),
        );
        let http = HttpClient::builder()
            .proxy(reqwest::Proxy::custom(|_| None::<reqwest::Url>))
            .build()
            .expect("client");
        let resp = http
            .send("v", &post(server.url("/token")))
            .await
            .expect("the redirect itself is the answer");
        assert_eq!(resp.status(), status, "{status} to {target}");
    }
    assert!(
        elsewhere.requests().is_empty(),
        "nothing may reach another origin"
    );
}

#[tokio::test]
async fn a_same_origin_redirect_keeps_the_request() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/old",
        Reply::status(307).header("location", "/new"),
    );
    server.route("POST", "/new", Reply::json(200, "{}"));
    let http = HttpClient::new().expect("client");
    let resp = http
        .send("v", &post(server.url("/old")))
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let new = server
        .requests()
        .into_iter()
        .find(|r| r.target == "/new")
        .expect("followed");
    assert!(String::from_utf8_lossy(&new.body).contains("SENTINEL-pw"));
}

#[test]
fn tls_settings_are_checked_when_built() {
    let err = HttpClient::builder()
        .add_root_certificates_pem(b"not a certificate")
        .build()
        .expect_err("bad PEM");
    assert!(
        matches!(err.kind(), ErrorKind::Configuration { .. }),
        "{err}"
    );
    let key = "-----BEGIN PRIVATE KEY-----\nSENTINEL-KEY\n-----END PRIVATE KEY-----\n";
    let err = HttpClient::builder()
        .identity_pem(Secret::new(key))
        .build()
        .expect_err("bad identity");
    assert!(!format!("{err} {err:?}").contains("SENTINEL"), "{err:?}");
    let builder = HttpClient::builder().identity_pem(Secret::new(key));
    assert!(!format!("{builder:?}").contains("SENTINEL"));
    // The platform verifier can be turned off in favour of the given roots only.
    HttpClient::builder()
        .platform_verifier(false)
        .proxy(reqwest::Proxy::all("http://127.0.0.1:9").expect("proxy"))
        .build()
        .expect("no roots is a valid (if useless) choice");
}

// ---------------------------------------------------------------------------------------------
// Requests never lose a part
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_header_names_and_values_fail_the_send_and_never_panic() {
    let server = TestServer::start().await;
    server.route("POST", "/t", Reply::json(200, "{}"));
    let http = HttpClient::new().expect("client");
    let url = || server.url("/t").parse().expect("url");
    let cases = [
        HttpRequest::post(url()).header("Bad Name", "v"),
        HttpRequest::post(url()).header("", "v"),
        HttpRequest::post(url()).header("x-a\n", "v"),
        HttpRequest::post(url()).header("x-ok", "line\r\nX-Injected: 1"),
        HttpRequest::post(url()).secret_header("x-key", &Secret::new("SENTINEL\nx")),
        HttpRequest::post(url()).secret_header("Bad Name", &Secret::new("SENTINEL")),
    ];
    for request in cases {
        let err = http.send("v", &request).await.expect_err("not sent");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Configuration {
                    problem: ConfigProblem::Invalid(_),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("request header"), "{err}");
        assert!(!format!("{err} {err:?}").contains("SENTINEL"));
    }
    // Upper case names are fine: HTTP names are case-insensitive.
    let ok = HttpRequest::post(url()).header("X-Upper", "v");
    assert_eq!(http.send("v", &ok).await.expect("sent").status(), 200);
    assert_eq!(
        server.count("POST", "/t"),
        1,
        "only the valid request went out"
    );
}

#[tokio::test]
async fn a_token_that_cannot_travel_in_a_header_is_never_sent_nor_cached() {
    let server = TestServer::start().await;
    server.route("GET", "/api", Reply::json(200, "{}"));
    let http = HttpClient::new().expect("client");
    for bad in ["a\r\nb", "a\0b", "", "  ", "a\u{7f}"] {
        let token = Token::builder(Secret::new(bad)).build();
        let request = HttpRequest::get(server.url("/api").parse().expect("url")).bearer(&token);
        let err = http.send("v", &request).await.expect_err("not sent");
        assert!(
            matches!(err.kind(), ErrorKind::MalformedResponse { .. }),
            "{err:?}"
        );

        let cache = TokenCache::new(BadSource(bad));
        let err = cache.token().await.expect_err("refused");
        assert!(
            matches!(err.kind(), ErrorKind::MalformedResponse { .. }),
            "{err:?}"
        );
        assert_eq!(err.vendor(), Some("bad"));
        assert_eq!(cache.stats().tokens_fetched, 0);
        assert!(cache.fresh().is_none());
    }
    assert!(server.requests().is_empty());
}

#[derive(Debug)]
struct BadSource(&'static str);

#[async_trait]
impl TokenSource for BadSource {
    fn vendor(&self) -> &'static str {
        "bad"
    }
    async fn fetch(&self, _: Option<&Token>) -> Result<Token, Error> {
        Ok(Token::builder(Secret::new(self.0)).build())
    }
}

#[test]
fn every_server_text_in_an_error_is_bounded() {
    let long = "x".repeat(100_000);
    let errors = [
        Error::rejected("v", Some(400), Some(long.clone()), Some(long.clone())),
        Error::forbidden("v", 403, Some(long.clone()), Some(long.clone())),
        Error::unexpected_status(
            "v",
            500,
            Some(long.clone()),
            Some(long.clone()),
            long.clone(),
        ),
        Error::malformed("v", long.clone(), Some(&long)),
        Error::identity_mismatch("v", long.clone(), long.clone()),
        Error::token_revoked("v", Some(long.clone())),
    ];
    for err in errors {
        let shown = err.to_string();
        assert!(
            shown.chars().count() < 3 * MAX_TEXT_CHARS + 200,
            "{}",
            shown.len()
        );
        assert!(format!("{err:?}").chars().count() < 4 * MAX_TEXT_CHARS + 300);
    }
    let injected = Error::token_revoked("v", Some("gone\nINFO forged log line\r\n".into()));
    assert!(!injected.to_string().contains(['\n', '\r']));
}

// ---------------------------------------------------------------------------------------------
// Bounded time
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_silent_server_costs_one_deadline_not_three_timeouts() {
    let server = TestServer::start().await;
    server.route("POST", "/t", Reply::json(200, "{}").delay(secs(3600)));
    let http = HttpClient::new().expect("client");
    let start = tokio::time::Instant::now();
    let err = http
        .send("v", &post(server.url("/t")))
        .await
        .expect_err("silent");
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }));
    let took = start.elapsed();
    assert!(took <= auth_http::DEFAULT_DEADLINE + secs(1), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_never_outlasts_the_deadline() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/t",
        Reply::json(503, r#"{"error":"temporarily_unavailable"}"#).header("retry-after", "30"),
    );
    let http = HttpClient::new().expect("client");
    let start = tokio::time::Instant::now();
    let resp = http
        .send("v", &post(server.url("/t")))
        .await
        .expect("answer");
    assert_eq!(resp.status(), 503);
    assert!(
        start.elapsed() < secs(1),
        "a wait past the deadline is not started"
    );
    assert_eq!(server.count("POST", "/t"), 1);

    server.route(
        "POST",
        "/t2",
        Reply::json(503, "{}").header("retry-after", "20"),
    );
    let start = tokio::time::Instant::now();
    http.send("v", &post(server.url("/t2")))
        .await
        .expect("answer");
    assert!(
        start.elapsed() <= auth_http::DEFAULT_DEADLINE,
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        server.count("POST", "/t2"),
        2,
        "one wait of 20 s fits, a second does not"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_token_source_is_cut_at_the_fetch_deadline() {
    #[derive(Debug)]
    struct Hung;
    #[async_trait]
    impl TokenSource for Hung {
        fn vendor(&self) -> &'static str {
            "hung"
        }
        async fn fetch(&self, _: Option<&Token>) -> Result<Token, Error> {
            std::future::pending().await
        }
    }
    let cache = TokenCache::builder(Hung)
        .options(CacheOptions::default().fetch_deadline(secs(7)))
        .build();
    let start = tokio::time::Instant::now();
    let err = cache.token().await.expect_err("cut");
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }));
    assert_eq!(start.elapsed(), secs(7));
}

// ---------------------------------------------------------------------------------------------
// No storm, whatever fails
// ---------------------------------------------------------------------------------------------

fn failure(kind: &str) -> Error {
    let status = |status: u16| Error::unexpected_status("test", status, None, None, "");
    match kind {
        "transport" => Error::transport("test"),
        "timeout" => Error::timeout("test"),
        "404" => status(404),
        "400 without a code" => status(400),
        "5xx after retries" => status(503),
        "403" => Error::forbidden("test", 403, None, None),
        "rejected" => Error::rejected("test", Some(401), Some("invalid_grant".into()), None),
        "429 retry-after 0" => Error::throttled("test", Some(Duration::ZERO)),
        "429" => Error::throttled("test", None),
        "malformed" => Error::malformed("test", "no token", None),
        "identity mismatch" => Error::identity_mismatch("test", "a", "b"),
        other => panic!("unknown failure {other}"),
    }
}

const FAILURES: &[&str] = &[
    "transport",
    "timeout",
    "404",
    "400 without a code",
    "5xx after retries",
    "403",
    "rejected",
    "429 retry-after 0",
    "429",
    "malformed",
    "identity mismatch",
];

/// `callers` tasks call `token()` every 100 ms of `clock` for `minutes`; returns the fetches.
async fn hammer(clock: &ManualClock, cache: &TokenCache, callers: usize, minutes: u64) -> usize {
    let source_calls = cache.stats();
    let steps = minutes * 600;
    for _ in 0..steps {
        let calls: Vec<_> = (0..callers)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    let got = cache.token().await;
                    (got, cache)
                })
            })
            .collect();
        for call in calls {
            let (got, cache) = call.await.expect("task");
            if let Ok(token) = got {
                let _ = cache;
                assert!(
                    !token.is_expired_at(clock.now()),
                    "an expired token was returned"
                );
            }
        }
        clock.advance(Duration::from_millis(100));
    }
    usize::try_from(cache.stats().fetches - source_calls.fetches).unwrap_or(usize::MAX)
}

#[tokio::test]
async fn no_failure_class_causes_a_storm_of_token_requests() {
    for kind in FAILURES {
        let clock = ManualClock::new();
        let source = ScriptedSource::new(Arc::new(clock.clone()), Some(secs(3600)));
        source.fail_next((0..1000).map(|_| failure(kind)));
        let cache = TokenCache::builder(source.clone())
            .clock(Arc::new(clock.clone()))
            .build();
        let fetches = hammer(&clock, &cache, 20, 2).await;
        // 1 s doubling to 60 s: about 8 in the first minute, then one a minute.
        assert!(
            (2..=12).contains(&fetches),
            "{kind}: {fetches} token requests in two minutes"
        );
        assert_eq!(source.calls(), fetches);
        let err = cache.token().await.expect_err("still failing");
        assert_eq!(
            err.kind(),
            failure(kind).kind(),
            "{kind}: the remembered error"
        );
    }
}

#[tokio::test]
async fn a_success_resets_the_failure_backoff() {
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(secs(3600)));
    source.fail_next((0..5).map(|_| failure("transport")));
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    for _ in 0..5 {
        cache.token().await.expect_err("failing");
        clock.advance(secs(61));
    }
    cache.token().await.expect("recovered");
    let calls = source.calls();
    assert!(cache.invalidate(&cache.token().await.expect("token")));
    source.fail_next([failure("transport")]);
    cache.token().await.expect_err("fails once more");
    clock.advance(secs(1));
    cache
        .token()
        .await
        .expect("retried after one second, not a minute");
    assert_eq!(source.calls(), calls + 2);
}

#[tokio::test]
async fn short_lifetimes_never_loop_and_never_hand_out_an_expired_token() {
    for lifetime in [
        Duration::ZERO,
        Duration::from_millis(1),
        secs(1),
        secs(4),
        secs(5),
        secs(10),
    ] {
        let clock = ManualClock::new();
        let source = ScriptedSource::new(Arc::new(clock.clone()), Some(lifetime));
        let cache = TokenCache::builder(source.clone())
            .clock(Arc::new(clock.clone()))
            .build();
        let fetches = hammer(&clock, &cache, 10, 1).await;
        let bound = if lifetime < auth_core::cache::MIN_TOKEN_LIFETIME {
            10 // refused: the failure backoff paces the fetches
        } else {
            // Refreshed from half the lifetime on: at most about two fetches a lifetime.
            usize::try_from(2 * 60 / lifetime.as_secs()).unwrap_or(0) + 4
        };
        assert!(
            fetches <= bound,
            "lifetime {lifetime:?}: {fetches} fetches in a minute"
        );
        if lifetime < auth_core::cache::MIN_TOKEN_LIFETIME {
            let err = cache.token().await.expect_err("unusable");
            assert!(
                matches!(err.kind(), ErrorKind::MalformedResponse { .. }),
                "{err:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_static_token_is_not_refetched_in_the_second_half_of_its_life() {
    let clock = ManualClock::new();
    let expires = clock.now() + secs(4 * 3600);
    let source = StaticToken::new("v", Secret::new("personal"), Some(expires))
        .with_clock(Arc::new(clock.clone()));
    let cache = TokenCache::builder(source)
        .clock(Arc::new(clock.clone()))
        .build();
    cache.token().await.expect("token");
    clock.advance(secs(3 * 3600));
    for _ in 0..1000 {
        cache.token().await.expect("still valid");
    }
    assert_eq!(cache.stats().fetches, 1);
    clock.advance(secs(3600));
    let err = cache.token().await.expect_err("expired");
    assert!(matches!(err.kind(), ErrorKind::TokenRevoked { .. }));
}

// ---------------------------------------------------------------------------------------------
// No builder value panics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_duration_setting_accepts_zero_and_max() {
    for d in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        for kind in ["transport", "rejected", "429", "429 retry-after 0"] {
            let clock = ManualClock::new();
            let source = ScriptedSource::new(Arc::new(clock.clone()), Some(secs(3600)));
            source.fail_next([failure(kind)]);
            let cache = TokenCache::builder(source.clone())
                .clock(Arc::new(clock.clone()))
                .options(
                    CacheOptions::default()
                        .soft_window(d)
                        .hard_window(d)
                        .half_life_threshold(d)
                        .rejection_ttl(d)
                        .min_forced_refresh_interval(d)
                        .refresh_retry_backoff(d)
                        .failure_backoff(d)
                        .max_failure_backoff(d)
                        .fetch_deadline(d.max(Duration::from_millis(1))),
                )
                .build();
            let _ = cache.token().await;
            for _ in 0..50 {
                let _ = cache.token().await;
                clock.advance(Duration::from_millis(500));
            }
            if let Ok(token) = cache.token().await {
                assert!(!token.is_expired_at(clock.now()));
                let _ = cache.invalidate(&token);
                let _ = cache.token().await;
            }
            if d == Duration::MAX {
                assert_eq!(
                    source.calls(),
                    1,
                    "{kind}: remembered for ever, not retried"
                );
            }
        }

        let server = TestServer::start().await;
        server.route(
            "POST",
            "/t",
            Reply::json(503, "{}").header("retry-after", "1"),
        );
        let http = HttpClient::builder()
            .clock(Arc::new(ManualClock::auto_advance()))
            .connect_timeout(d)
            .timeout(d.max(secs(5)))
            .deadline(d)
            .retry(
                RetryPolicy::default()
                    .max_attempts(5)
                    .initial_backoff(d)
                    .max_backoff(d)
                    .max_retry_after(d),
            )
            .build()
            .expect("client");
        let _ = http.send("v", &post(server.url("/t"))).await;
        let policy = RetryPolicy::default().initial_backoff(d).max_backoff(d);
        for retry in [0, 1, 2, 64, u32::MAX] {
            let _ = policy.backoff(retry);
        }
    }
}

#[tokio::test]
async fn retry_after_of_any_size_never_panics() {
    let server = TestServer::start().await;
    for value in [
        "18446744073709551615",
        "99999999999999999999",
        "-1",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        server.route(
            "POST",
            "/t",
            Reply::status(429).header("retry-after", value),
        );
        let http = HttpClient::builder()
            .clock(Arc::new(ManualClock::auto_advance()))
            .retry(RetryPolicy::default().max_retry_after(Duration::MAX))
            .build()
            .expect("client");
        let resp = http
            .send("v", &post(server.url("/t")))
            .await
            .expect("answer");
        let _ = resp.to_error("v");
    }
}
