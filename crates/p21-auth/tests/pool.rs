//! Many P21 distributors in one process through a `Pool`, against the sandbox: the cap on token
//! requests in flight (seen from the server), one request per tenant, the bound on live tenants,
//! no eviction under a call, idle expiry on an injected clock, isolation of a tenant's failures,
//! and tokens shared by real processes through a file store under each tenant's own key.

use std::sync::Arc;
use std::time::Duration;

use auth_sandbox::{Endpoint, Sandbox};
use auth_testkit::{ManualClock, Reply, TestServer};
use p21_auth::{CacheOptions, Client, Credentials, ErrorKind, FileStore, HttpClient, Pool, Secret};

const TOKEN: Endpoint = Endpoint::P21TokenV2;

fn password(user: &str) -> String {
    format!("pw-{user}")
}

/// A sandbox with users `u0`..`u{n}`, each with its own password.
async fn sandbox_with(users: usize) -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    for i in 0..users {
        let user = format!("u{i}");
        sandbox.p21().add_user(&user, &password(&user));
    }
    sandbox
}

/// A pool of P21 clients on `base`, one per user name.
fn pool_on(base: String) -> p21_auth::pool::PoolBuilder<String, Client> {
    Pool::builder(move |user: &String, shared| {
        Client::builder()
            .base_url(&base)
            .credentials(Credentials::user(user, Secret::new(password(user))))
            .http_client(shared.http_client())
            .cache(shared.cache_options())
            .build()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_keeps_to_the_cap_and_asks_once_per_tenant() {
    const TENANTS: usize = 300;
    const CAP: usize = 8;
    let sandbox = sandbox_with(TENANTS).await;
    sandbox.set_latency(TOKEN, Duration::from_millis(10));
    let pool = pool_on(sandbox.p21_base_url())
        .max_token_requests(CAP)
        .build()
        .expect("pool");
    // Three callers per tenant, all at once.
    let calls: Vec<_> = (0..3 * TENANTS)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.token(&format!("u{}", i % TENANTS)).await })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("token");
    }
    let stats = sandbox.stats();
    assert_eq!(
        stats.requests(TOKEN),
        TENANTS as u64,
        "one request per tenant"
    );
    let peak = stats.peak_in_flight(TOKEN);
    assert!(
        peak <= CAP as u64,
        "{peak} token requests in flight at once (cap {CAP})"
    );
    assert!(peak >= 2, "the cap, not a queue of one: {peak}");
    let load = pool.stats().requests;
    assert!(load.peak_in_flight <= CAP && load.in_flight == 0 && load.waiting == 0);
    assert_eq!(pool.stats().tenants, TENANTS);
    assert_eq!(pool.stats().built, TENANTS as u64);
}

#[tokio::test]
async fn live_tenants_are_bounded_least_recently_used_first_never_under_a_call() {
    let sandbox = sandbox_with(200).await;
    let pool = pool_on(sandbox.p21_base_url())
        .max_tenants(32)
        .build()
        .expect("pool");
    let held = pool.get(&"u0".to_owned()).await.expect("tenant");
    held.token().await.expect("token");
    for i in 1..200 {
        pool.token(&format!("u{i}")).await.expect("token");
        // u1 is used all along: it is never the least recently used.
        pool.token(&"u1".to_owned()).await.expect("token");
        assert!(pool.stats().tenants <= 33, "{:?}", pool.stats());
    }
    let stats = pool.stats();
    assert!(stats.evicted >= 160, "{stats:?}");
    assert!(
        pool.tenant_stats(&"u0".to_owned()).is_some(),
        "held, so kept"
    );
    assert!(
        pool.tenant_stats(&"u1".to_owned()).is_some(),
        "recently used, so kept"
    );
    assert!(
        pool.tenant_stats(&"u5".to_owned()).is_none(),
        "least recently used, so dropped"
    );
    // The held tenant kept its cache: no second token request for it.
    let before = sandbox.stats().requests(TOKEN);
    pool.token(&"u0".to_owned()).await.expect("token");
    assert_eq!(sandbox.stats().requests(TOKEN), before);
    assert!(!pool.remove(&"u0".to_owned()), "not while held");
    drop(held);
    assert!(pool.remove(&"u0".to_owned()));
}

#[tokio::test]
async fn a_tenant_whose_token_request_is_in_flight_is_not_evicted() {
    let sandbox = sandbox_with(100).await;
    sandbox.set_latency(TOKEN, Duration::from_millis(300));
    let pool = pool_on(sandbox.p21_base_url())
        .max_tenants(4)
        .max_token_requests(64)
        .build()
        .expect("pool");
    let slow = tokio::spawn({
        let pool = pool.clone();
        async move { pool.token(&"u0".to_owned()).await }
    });
    until(|| sandbox.stats().requests(TOKEN) == 1).await;
    // Many more tenants come and go (built, no token) while u0's request is out.
    for i in 1..100 {
        drop(pool.get(&format!("u{i}")).await.expect("tenant"));
    }
    assert!(pool.stats().evicted > 0);
    slow.await.expect("task").expect("token");
    // Still the same client: its token is cached, no second request (which would close the
    // first P21 session).
    pool.token(&"u0".to_owned()).await.expect("token");
    assert_eq!(sandbox.stats().requests(TOKEN), 1);
    assert_eq!(
        pool.tenant_stats(&"u0".to_owned()).expect("live").fetches,
        1
    );
}

#[tokio::test]
async fn idle_tenants_expire_on_the_pools_clock() {
    let sandbox = sandbox_with(2).await;
    let clock = ManualClock::new();
    let http = HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("http");
    let pool = pool_on(sandbox.p21_base_url())
        .http_client(http)
        .idle_timeout(Some(Duration::from_secs(60)))
        .build()
        .expect("pool");
    let (busy, idle) = ("u0".to_owned(), "u1".to_owned());
    pool.token(&busy).await.expect("token");
    pool.token(&idle).await.expect("token");
    for _ in 0..20 {
        clock.advance(Duration::from_secs(5));
        settle().await;
        pool.token(&busy).await.expect("token");
    }
    let stats = pool.stats();
    assert_eq!(stats.expired, 1, "{stats:?}");
    assert!(pool.tenant_stats(&idle).is_none(), "100 s without a call");
    assert!(pool.tenant_stats(&busy).is_some());
    // Not before its time: 40 s idle is kept.
    let pool2 = pool.clone();
    pool2.token(&idle).await.expect("token");
    for _ in 0..8 {
        clock.advance(Duration::from_secs(5));
        settle().await;
    }
    assert!(pool.tenant_stats(&idle).is_some(), "{:?}", pool.stats());
}

/// Waits for `seen` (what the server saw), for 10 s at most.
async fn until(seen: impl Fn() -> bool) {
    let wait = async {
        while !seen() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the server saw the request");
}

/// Lets spawned tasks (the sweeper) run.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn one_tenants_wrong_password_or_outage_never_fails_or_slows_another() {
    let sandbox = sandbox_with(3).await;
    // A distributor whose middleware never answers.
    let hung = TestServer::start().await;
    hung.route(
        "POST",
        "/api/security/token/v2",
        Reply::status(200).delay(Duration::from_secs(3_600)),
    );
    let base = sandbox.p21_base_url();
    let hung_base = hung.url("");
    let pool: Pool<String, Client> = Pool::builder(move |user: &String, shared| {
        let (base, secret) = match user.as_str() {
            "hung" => (hung_base.clone(), password("u0")),
            "wrong" => (base.clone(), "not-the-password".to_owned()),
            user => (base.clone(), password(user)),
        };
        let user = if user == "wrong" || user == "hung" {
            "u0"
        } else {
            user
        };
        Client::builder()
            .base_url(base)
            .credentials(Credentials::user(user, Secret::new(secret)))
            .http_client(shared.http_client())
            .cache(shared.cache_options())
            .build()
    })
    .max_token_requests(2)
    .build()
    .expect("pool");
    let hanging = tokio::spawn({
        let pool = pool.clone();
        async move { pool.token(&"hung".to_owned()).await }
    });
    until(|| hung.count("POST", "/api/security/token/v2") == 1).await;
    for _ in 0..2 {
        let err = pool
            .token(&"wrong".to_owned())
            .await
            .expect_err("wrong password");
        assert!(matches!(err.kind(), ErrorKind::Rejected { .. }), "{err:?}");
    }
    // The good tenants are served at once, beside the hung one's request.
    let good = async {
        for user in ["u1", "u2"] {
            pool.token(&user.to_owned()).await.expect("token");
        }
    };
    tokio::time::timeout(Duration::from_secs(10), good)
        .await
        .expect("not slowed by the hung tenant");
    assert_eq!(
        sandbox.stats().requests(TOKEN),
        3,
        "the wrong password asked once, its rejection remembered; one each for u1 and u2"
    );
    assert_eq!(
        pool.tenant_stats(&"u1".to_owned())
            .expect("live")
            .refresh_failures,
        0
    );
    assert!(!hanging.is_finished());
    hanging.abort();
}

#[tokio::test]
async fn a_tenant_backing_off_gives_its_place_to_the_next() {
    let sandbox = sandbox_with(2).await;
    // A distributor whose middleware answers 503: its request is retried after a backoff on the
    // pool's clock, which stands still here.
    let flaky = TestServer::start().await;
    let path = "/api/security/token/v2";
    flaky.route("POST", path, Reply::status(503));
    let clock = ManualClock::new();
    let http = HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("http");
    let (base, flaky_base) = (sandbox.p21_base_url(), flaky.url(""));
    let pool: Pool<String, Client> = Pool::builder(move |tenant: &String, shared| {
        let (base, user) = match tenant.as_str() {
            "flaky" => (flaky_base.clone(), "u0"),
            user => (base.clone(), user),
        };
        Client::builder()
            .base_url(base)
            .credentials(Credentials::user(user, Secret::new(password(user))))
            .http_client(shared.http_client())
            .cache(shared.cache_options())
            .build()
    })
    .http_client(http)
    .max_token_requests(1)
    .build()
    .expect("pool");
    let backing_off = tokio::spawn({
        let pool = pool.clone();
        async move { pool.token(&"flaky".to_owned()).await }
    });
    until(|| flaky.count("POST", path) == 1).await;
    // One place in all, and the flaky tenant waits for its retry: the next tenant has it.
    tokio::time::timeout(Duration::from_secs(10), pool.token(&"u1".to_owned()))
        .await
        .expect("served while the other backs off")
        .expect("token");
    assert!(!backing_off.is_finished());
    assert_eq!(flaky.count("POST", path), 1);
    backing_off.abort();
}

/// Two real processes, each with its own pool of the same 20 tenants over one file store
/// directory: each tenant's token is requested once in all, under its own key.
#[test]
fn processes_share_each_tenants_token_through_the_store() {
    const TENANTS: usize = 20;
    if let Ok(base) = std::env::var("POOL_CHILD_BASE") {
        return child(
            &base,
            &std::env::var("POOL_CHILD_DIR").expect("dir"),
            TENANTS,
        );
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sandbox = rt.block_on(sandbox_with(TENANTS));
    let dir = tempdir();
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "processes_share_each_tenants_token_through_the_store",
                ])
                .args(["--nocapture", "--test-threads=1"])
                .env("POOL_CHILD_BASE", sandbox.p21_base_url())
                .env("POOL_CHILD_DIR", &dir)
                .spawn()
                .expect("child")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("child").success());
    }
    assert_eq!(
        rt.block_on(async { sandbox.stats() }).requests(TOKEN),
        TENANTS as u64
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn child(base: &str, dir: &str, tenants: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = FileStore::open(dir).expect("store");
        let pool = pool_on(base.to_owned())
            .cache(CacheOptions::default().store(store))
            .build()
            .expect("pool");
        for i in 0..tenants {
            pool.token(&format!("u{i}")).await.expect("token");
        }
    });
}

fn tempdir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("p21-pool-{}-{nanos}", std::process::id()))
}
