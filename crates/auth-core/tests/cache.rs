//! `TokenCache` behaviour: single flight, windows, grace, negative caching, invalidation, the
//! 401 helper and task hygiene. Time is a manual clock: nothing here sleeps for real.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::source::StaticToken;
use auth_core::{
    CacheOptions, Error, ErrorKind, Secret, Token, TokenCache, TokenSource, async_trait,
};
use auth_http::{AuthorizedCalls, reqwest};
use auth_http::{HttpClient, HttpRequest};
use auth_testkit::{Gate, ManualClock, Reply, ScriptedSource, TestServer};

const HOUR: Duration = Duration::from_secs(3600);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn setup(lifetime: Option<Duration>) -> (ManualClock, ScriptedSource, TokenCache) {
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), lifetime);
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    (clock, source, cache)
}

fn gated(lifetime: Option<Duration>) -> (ManualClock, ScriptedSource, TokenCache) {
    let clock = ManualClock::new();
    let source = ScriptedSource::gated(Arc::new(clock.clone()), lifetime);
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    (clock, source, cache)
}

/// Lets spawned tasks run until `cond` holds (bounded, no sleeping).
async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..100_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Waits until `cond` holds when it depends on real loopback I/O (a request reaching a test
/// server), which yielding alone does not wait for on a loaded machine: polled every
/// millisecond, for at most 10 s.
async fn until_io(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never happened within 10 s: {what}");
}

fn secret(t: &Token) -> &str {
    t.access_token().expose_secret()
}

fn transient() -> Error {
    Error::transport("test")
}

fn rejected() -> Error {
    Error::rejected("test", Some(401), Some("invalid_grant".into()), None)
}

#[tokio::test]
async fn fresh_token_is_served_from_cache() {
    let (_clock, source, cache) = setup(Some(HOUR));
    let a = cache.token().await.expect("token");
    let b = cache.token().await.expect("token");
    assert!(a.same_as(&b));
    assert_eq!(source.calls(), 1);
    let stats = cache.stats();
    assert_eq!(stats.fetches, 1);
    assert_eq!(stats.tokens_fetched, 1);
    assert_eq!(stats.cache_hits, 1);
    assert!(cache.fresh().is_some());
}

#[tokio::test]
async fn tokens_that_never_expire_are_never_refetched() {
    let (clock, source, cache) = setup(None);
    cache.token().await.expect("token");
    clock.advance(auth_core::clock::MAX_LIFETIME);
    cache.token().await.expect("token");
    assert_eq!(source.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_share_one_loopback_request() {
    let server = TestServer::start().await;
    let gate = Gate::new();
    server.route(
        "POST",
        "/token",
        Reply::json(200, r#"{"access_token":"shared","expires_in":3600}"#).after(&gate),
    );
    let cache = TokenCache::new(HttpSource::new(&server));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    until_io("the request reached the server", || {
        server.count("POST", "/token") == 1
    })
    .await;
    until_io("every caller is waiting", || cache.stats().waits == 1000).await;
    gate.release(1);
    for task in tasks {
        let token = task.await.expect("task").expect("token");
        assert_eq!(secret(&token), "shared");
    }
    assert_eq!(
        server.count("POST", "/token"),
        1,
        "exactly one token request"
    );
    assert_eq!(cache.stats().fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_waiters_share_the_error_of_the_one_fetch() {
    let server = TestServer::start().await;
    let gate = Gate::new();
    server.route(
        "POST",
        "/token",
        Reply::json(400, r#"{"error":"invalid_client"}"#).after(&gate),
    );
    let cache = TokenCache::new(HttpSource::new(&server));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    until_io("every caller is waiting", || cache.stats().waits == 1000).await;
    gate.release(1);
    for task in tasks {
        let err = task.await.expect("task").expect_err("shared error");
        assert_eq!(err.code(), Some("invalid_client"));
    }
    assert_eq!(server.count("POST", "/token"), 1);
}

#[tokio::test]
async fn a_cancelled_first_caller_does_not_cancel_the_fetch() {
    let (_clock, source, cache) = gated(Some(HOUR));
    let first = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.token().await })
    };
    until("the fetch started", || source.calls() == 1).await;
    first.abort();
    assert!(first.await.expect_err("aborted").is_cancelled());

    let second = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.token().await })
    };
    until("the second caller waits", || cache.stats().waits == 2).await;
    source.release(1);
    let token = second.await.expect("task").expect("token");
    assert_eq!(secret(&token), "token-1");
    assert_eq!(
        source.calls(),
        1,
        "the second caller joined the first fetch"
    );
}

#[tokio::test]
async fn a_caller_that_times_out_leaves_the_fetch_running() {
    let (_clock, source, cache) = gated(Some(HOUR));
    let gave_up = tokio::time::timeout(Duration::ZERO, cache.token()).await;
    assert!(gave_up.is_err(), "the caller gave up");
    until("the fetch started", || source.calls() == 1).await;
    source.release(1);
    until("the fetch finished", || cache.stats().tokens_fetched == 1).await;
    assert_eq!(secret(&cache.token().await.expect("token")), "token-1");
    assert_eq!(source.calls(), 1);
}

#[tokio::test]
async fn soft_window_refreshes_once_in_the_background() {
    let (clock, source, cache) = gated(Some(HOUR));
    source.release(1);
    let first = cache.token().await.expect("token");
    let waits_before = cache.stats().waits;
    // 200 s before expiry: inside the soft window (300 s, jitter at most 30 s later), outside
    // the hard window (60 s).
    clock.advance(HOUR - secs(200));
    for _ in 0..50 {
        let t = cache.token().await.expect("served without waiting");
        assert!(t.same_as(&first), "cached token while refreshing");
    }
    until("one background refresh", || source.calls() == 2).await;
    assert_eq!(source.calls(), 2, "exactly one background refresh");
    assert_eq!(cache.stats().waits, waits_before, "nobody waited");
    source.release(1);
    until("refresh stored", || cache.stats().tokens_fetched == 2).await;
    assert_eq!(secret(&cache.token().await.expect("token")), "token-2");
}

#[tokio::test]
async fn before_the_soft_window_nothing_is_refreshed() {
    let (clock, source, cache) = setup(Some(HOUR));
    cache.token().await.expect("token");
    clock.advance(HOUR - secs(301));
    cache.token().await.expect("token");
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 1);
}

#[tokio::test]
async fn hard_window_callers_wait_for_the_fresh_token() {
    let (clock, source, cache) = gated(Some(HOUR));
    source.release(1);
    cache.token().await.expect("token");
    clock.advance(HOUR - secs(30));
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.token().await })
    };
    until("the refresh started", || source.calls() == 2).await;
    until("the caller waits", || cache.stats().waits == 2).await;
    assert!(!waiter.is_finished());
    source.release(1);
    let token = waiter.await.expect("task").expect("token");
    assert_eq!(secret(&token), "token-2");
}

#[tokio::test]
async fn long_lived_tokens_refresh_from_half_their_lifetime() {
    let (clock, source, cache) = setup(Some(24 * HOUR));
    cache.token().await.expect("token");
    clock.advance(11 * HOUR);
    cache.token().await.expect("token");
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 1, "not yet at 11 h");
    // Jitter moves the soft window up to 10 % of its length later: by 13.2 h at the latest.
    clock.advance(2 * HOUR + secs(13 * 60));
    cache.token().await.expect("token");
    until("background refresh between 12 h and 13.2 h", || {
        source.calls() == 2
    })
    .await;
}

#[tokio::test]
async fn grace_serves_the_valid_token_through_an_outage_and_backs_off() {
    // Timeline, in seconds after the first fetch (the token expires at 3600): the soft window
    // opens between 3300 and 3330 (jitter), the hard window at 3540.
    let (clock, source, cache) = setup(Some(HOUR));
    let first = cache.token().await.expect("token");
    source.fail_next([transient(), transient(), transient(), transient()]);
    clock.advance(secs(3350)); // soft window
    let served = cache.token().await.expect("cached");
    assert!(served.same_as(&first));
    until("refresh failed", || cache.stats().refresh_failures == 1).await;
    assert!(cache.last_error().is_some(), "failure reported");

    // Backoff: no new attempt for 30 s (until 3380).
    clock.advance(secs(29)); // 3379
    assert!(cache.token().await.expect("cached").same_as(&first));
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 2);
    clock.advance(secs(2)); // 3381: second attempt, next one 60 s later (3441)
    assert!(cache.token().await.expect("cached").same_as(&first));
    until("second attempt after 30 s", || {
        cache.stats().refresh_failures == 2
    })
    .await;

    clock.advance(secs(61)); // 3442: third attempt; 120 s later would be 3562, capped at 3540
    assert!(cache.token().await.expect("cached").same_as(&first));
    until("third attempt", || cache.stats().refresh_failures == 3).await;
    clock.advance(secs(97)); // 3539: still backing off
    assert!(cache.token().await.expect("cached").same_as(&first));
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 4, "not past the hard window, not before it");

    clock.advance(secs(41)); // 3580, hard window: the caller waits, the fetch fails, grace
    let in_hard = cache.token().await.expect("grace in the hard window");
    assert!(in_hard.same_as(&first));
    assert_eq!(source.calls(), 5);
    assert_eq!(cache.stats().refresh_failures, 4);
    // The next attempt is capped at the expiry (3600).
    assert!(cache.token().await.expect("grace").same_as(&first));
    assert_eq!(source.calls(), 5);

    clock.advance(secs(21)); // 3601: expired, the next fetch succeeds
    assert_eq!(
        secret(&cache.token().await.expect("token")),
        "token-2",
        "recovered"
    );
    assert!(cache.last_error().is_none(), "cleared by the success");
    assert!(cache.stats().grace_served >= 2);
}

#[tokio::test]
async fn after_real_expiry_the_error_surfaces() {
    let (clock, source, cache) = setup(Some(HOUR));
    cache.token().await.expect("token");
    source.fail_next(std::iter::repeat_with(transient).take(20));
    clock.advance(HOUR + secs(1));
    let err = cache.token().await.expect_err("expired and failing");
    assert!(matches!(err.kind(), ErrorKind::Transport { .. }));
}

#[tokio::test]
async fn rejected_credentials_are_remembered_briefly() {
    let (clock, source, cache) = setup(Some(HOUR));
    source.fail_next([rejected(), rejected()]);
    for _ in 0..100 {
        let err = cache.token().await.expect_err("rejected");
        assert!(err.is_rejected());
    }
    assert_eq!(source.calls(), 1, "one request, not a hundred");
    assert_eq!(cache.stats().rejections_served, 99);
    clock.advance(secs(31));
    assert!(
        cache
            .token()
            .await
            .expect_err("still rejected")
            .is_rejected()
    );
    assert_eq!(source.calls(), 2, "asked again after 30 s");
    clock.advance(secs(31));
    assert!(cache.token().await.is_ok());
}

#[tokio::test]
async fn throttling_is_remembered_for_its_retry_after() {
    let (clock, source, cache) = setup(Some(HOUR));
    source.fail_next([Error::throttled("test", Some(secs(120)))]);
    cache.token().await.expect_err("throttled");
    clock.advance(secs(119));
    let err = cache.token().await.expect_err("still throttled");
    assert!(matches!(err.kind(), ErrorKind::Throttled { .. }));
    assert_eq!(source.calls(), 1);
    clock.advance(secs(2));
    cache.token().await.expect("after retry-after");
    assert_eq!(source.calls(), 2);
}

#[tokio::test]
async fn invalidate_drops_only_the_current_token_and_is_rate_limited() {
    let (clock, source, cache) = setup(Some(HOUR));
    let a = cache.token().await.expect("token");
    assert!(cache.invalidate(&a));
    assert!(cache.fresh().is_none());
    let b = cache.token().await.expect("token");
    assert_eq!(secret(&b), "token-2");
    assert!(!cache.invalidate(&a), "a stale token changes nothing");
    assert!(
        !cache.invalidate(&b),
        "second forced refresh within 5 s refused"
    );
    assert!(cache.token().await.expect("token").same_as(&b));
    clock.advance(secs(6));
    assert!(cache.invalidate(&b));
    assert_eq!(secret(&cache.token().await.expect("token")), "token-3");
    assert_eq!(cache.stats().invalidations, 2);
    assert_eq!(
        source.previous_seen(),
        vec![None, Some("token-1".into()), Some("token-2".into())],
        "each fetch sees the newest token (for refresh-token rotation)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_401s_cause_one_reauthentication() {
    let (_clock, source, cache) = setup(Some(HOUR));
    let server = TestServer::start().await;
    server.route_fn("GET", "/api", |req| {
        if req.header("authorization") == Some("Bearer token-1") {
            Reply::json(401, r#"{"error":"invalid_token"}"#)
        } else {
            Reply::json(200, r#"{"ok":true}"#)
        }
    });
    cache.token().await.expect("token-1 cached");
    let client = api_client();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            let req = client.get(server.url("/api"));
            tokio::spawn(async move { cache.send(req).await })
        })
        .collect();
    for task in tasks {
        let resp = task.await.expect("task").expect("sent");
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(source.calls(), 2, "one re-authentication");
    assert_eq!(cache.stats().invalidations, 1);
}

#[tokio::test]
async fn send_retries_exactly_once_on_401() {
    let (_clock, source, cache) = setup(Some(HOUR));
    let server = TestServer::start().await;
    server.route("GET", "/api", Reply::json(401, r#"{"Message":"denied"}"#));
    let resp = cache
        .send(api_client().get(server.url("/api")))
        .await
        .expect("response");
    assert_eq!(resp.status(), 401);
    let auth: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer token-1", "Bearer token-2"]);
    assert_eq!(source.calls(), 2);

    // A second 401 right away: the forced refresh is rate-limited, the request is not re-sent.
    let resp = cache
        .send(api_client().get(server.url("/api")))
        .await
        .expect("response");
    assert_eq!(resp.status(), 401);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(source.calls(), 2);
}

#[tokio::test]
async fn send_fails_closed_without_a_token() {
    let (_clock, source, cache) = setup(Some(HOUR));
    source.fail_next([rejected()]);
    let server = TestServer::start().await;
    server.route("GET", "/api", Reply::json(200, "{}"));
    let err = cache
        .send(api_client().get(server.url("/api")))
        .await
        .expect_err("no token");
    assert!(err.is_rejected());
    assert!(server.requests().is_empty(), "request not sent");
}

#[tokio::test]
async fn send_refuses_plain_http_to_remote_hosts() {
    let (_clock, source, cache) = setup(Some(HOUR));
    let err = cache
        .send(api_client().get("http://api.example.com/x"))
        .await
        .expect_err("refused");
    assert!(matches!(err.kind(), ErrorKind::Configuration { .. }));
    assert_eq!(source.calls(), 0, "no token fetched for it");
}

#[tokio::test]
async fn send_with_a_static_token_reports_revocation() {
    let cache = TokenCache::new(StaticToken::new("vendor", Secret::new("personal"), None));
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/api",
        Reply::json(
            401,
            r#"{"error":"unauthorized_client","error_description":"Invalid token"}"#,
        ),
    );
    let err = cache
        .send(api_client().get(server.url("/api")))
        .await
        .expect_err("revoked");
    assert_eq!(
        err.kind(),
        Error::token_revoked("v", Some("Invalid token".into())).kind()
    );
    assert_eq!(server.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn on_token_hook_sees_every_new_token() {
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(HOUR));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let cache = TokenCache::builder(source)
        .clock(Arc::new(clock.clone()))
        .options(CacheOptions::default().on_token(move |t| {
            let refresh = t.refresh_token().map(|r| r.expose_secret().to_owned());
            sink.lock().expect("lock").push(refresh);
        }))
        .build();
    let a = cache.token().await.expect("token");
    cache.token().await.expect("cached");
    cache.invalidate(&a);
    cache.token().await.expect("token");
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![Some("refresh-1".to_owned()), Some("refresh-2".to_owned())]
    );
}

#[tokio::test]
async fn dropping_the_last_handle_ends_the_fetch_task() {
    let (_clock, source, cache) = gated(Some(HOUR));
    let caller = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.token().await })
    };
    until("the fetch started", || source.calls() == 1).await;
    caller.abort();
    let _ = caller.await;
    assert!(source.handles() > 1, "the cache holds the source");
    drop(cache);
    until("the task and the cache let go", || source.handles() == 1).await;
}

#[tokio::test]
async fn a_cancelled_caller_holding_the_last_handle_ends_the_fetch() {
    let (_clock, source, cache) = gated(Some(HOUR));
    // The caller's future owns the only handle; cancelling it leaves nobody to want the token.
    let caller = tokio::spawn(async move { cache.token().await });
    until("the fetch started", || source.calls() == 1).await;
    assert!(source.handles() > 1, "the fetch holds the source");
    caller.abort();
    assert!(caller.await.expect_err("aborted").is_cancelled());
    until("the fetch and the cache let go", || source.handles() == 1).await;
    assert_eq!(source.calls(), 1);
}

#[tokio::test]
async fn a_panicking_source_does_not_wedge_the_cache() {
    #[derive(Debug)]
    struct Flaky(AtomicUsize);
    #[async_trait]
    impl TokenSource for Flaky {
        fn vendor(&self) -> &'static str {
            "flaky"
        }
        async fn fetch(&self, _: Option<&Token>) -> Result<Token, Error> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first fetch panics");
            }
            Ok(Token::builder(Secret::new("ok")).build())
        }
    }
    let cache = TokenCache::new(Flaky(AtomicUsize::new(0)));
    let err = cache.token().await.expect_err("panicked fetch");
    assert!(matches!(err.kind(), ErrorKind::Transport { .. }));
    assert_eq!(
        secret(&cache.token().await.expect("next fetch works")),
        "ok"
    );
}

#[test]
fn building_needs_no_runtime_and_fetching_without_one_is_an_error() {
    let cache = TokenCache::new(StaticToken::new("v", Secret::new("t"), None));
    let outcome = futures_lite_block_on(cache.token());
    let err = outcome.expect_err("no runtime");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[test]
fn a_source_that_answers_at_once_needs_no_time_driver() {
    let cache = TokenCache::new(StaticToken::new("v", Secret::new("t"), None));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without timers");
    let token = rt.block_on(cache.token()).expect("token");
    assert_eq!(secret(&token), "t");
}

/// Polls a future to completion on this thread without any runtime.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A token source that really goes over HTTP to the loopback server.
#[derive(Debug)]
struct HttpSource {
    http: HttpClient,
    url: reqwest::Url,
}

impl HttpSource {
    fn new(server: &TestServer) -> Self {
        Self {
            http: HttpClient::new().expect("client"),
            url: server.url("/token").parse().expect("url"),
        }
    }
}

#[async_trait]
impl TokenSource for HttpSource {
    fn vendor(&self) -> &'static str {
        "loopback"
    }
    async fn fetch(&self, _: Option<&Token>) -> Result<Token, Error> {
        let resp = self
            .http
            .send("loopback", &HttpRequest::post(self.url.clone()))
            .await?;
        if !resp.is_success() {
            return Err(resp.to_error("loopback"));
        }
        let body: serde_json::Value = serde_json::from_slice(resp.body())
            .map_err(|e| Error::malformed("loopback", e.to_string(), None))?;
        let access = body["access_token"].as_str().unwrap_or_default();
        Ok(Token::builder(Secret::new(access))
            .lifetime(
                resp.sent_at(),
                auth_http::oauth::lifetime_from_json(&body["expires_in"]),
            )
            .build())
    }
}

#[tokio::test]
async fn a_static_token_past_its_expiry_is_reported_as_revoked() {
    let clock = ManualClock::new();
    let expires = auth_core::Clock::now(&clock) + HOUR;
    let source = StaticToken::new("vendor", Secret::new("personal"), Some(expires))
        .with_clock(Arc::new(clock.clone()));
    let cache = TokenCache::builder(source)
        .clock(Arc::new(clock.clone()))
        .build();
    assert_eq!(secret(&cache.token().await.expect("valid")), "personal");
    clock.advance(HOUR);
    let err = cache.token().await.expect_err("expired");
    assert!(
        matches!(err.kind(), ErrorKind::TokenRevoked { .. }),
        "{err:?}"
    );
}

/// A fetch that has finished must never be joined: after `invalidate`, the next caller gets a
/// new token, not the finished fetch's result (a race between publishing a result and clearing
/// the fetch, on a multi-threaded runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_fetch_is_never_joined_after_invalidation() {
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(HOUR));
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .options(CacheOptions::default().min_forced_refresh_interval(Duration::ZERO))
        .build();
    for round in 0..2000 {
        let before = cache.token().await.expect("token");
        assert!(cache.invalidate(&before), "round {round}");
        let after = cache.token().await.expect("token");
        assert!(
            !after.same_as(&before),
            "round {round}: got the invalidated token back"
        );
    }
}

/// A plain reqwest client for API calls, built after the process's TLS provider is installed.
fn api_client() -> reqwest::Client {
    auth_http::install_crypto_provider();
    reqwest::Client::new()
}

#[test]
fn cache_is_send_sync_and_needs_no_runtime_to_build() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<TokenCache>();
    let cache = TokenCache::new(StaticToken::new("v", Secret::new("t"), None));
    assert!(cache.fresh().is_none());
    let clone = cache.clone();
    drop(cache);
    assert_eq!(clone.stats(), auth_core::CacheStats::default());
}
