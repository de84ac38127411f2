//! The fleet with real processes: this test binary starts copies of itself as workers (each
//! its own process with its own cache), all on one vendor credential, against a sandbox in this
//! process, sharing a file store or a private `redis-server`. The sandbox's counters say how
//! many token requests the fleet made and how many API calls failed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use auth_core::store::TokenStore;

use auth_sandbox::{Endpoint, Sandbox};
use auth_store::FileStore;
use auth_store_redis::{RedisServer, RedisStore, SealingKey};

const SEALING_KEY: &str = "5f1c3a9e0b7d42c6a8e3f1d0c9b7a6e5d4c3b2a1908f7e6d5c4b3a2918f7e6d5";
const P21_USER: (&str, &str) = ("fleet_user", "fleet-password");
const BYDESIGN_REP: (&str, &str) = ("1001", "rep-password");

// ---------------------------------------------------------------------------------------------
// The worker: one process of the fleet.

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn store_from(spec: &str) -> Option<Arc<dyn TokenStore>> {
    if let Some(dir) = spec.strip_prefix("file:") {
        Some(Arc::new(FileStore::open(dir).expect("file store")))
    } else if spec.starts_with("redis://") {
        let store = RedisStore::builder(spec)
            .sealing_key(SealingKey::from_hex(SEALING_KEY).expect("key"))
            .build()
            .expect("redis store");
        Some(Arc::new(store))
    } else {
        None
    }
}

fn cache_options(store: Option<Arc<dyn TokenStore>>) -> auth_core::CacheOptions {
    let lease = var("FLEET_LEASE_MS").parse().unwrap_or(10_000);
    let options = auth_core::CacheOptions::default().lease_ttl(Duration::from_millis(lease));
    match store {
        Some(store) => options.store_arc(store),
        None => options,
    }
}

/// What a worker does with its client: get a token, or call the API.
enum Vendor {
    P21(p21_auth::Client),
    ByDesign(bydesign_auth::Client),
}

impl Vendor {
    fn stats(&self) -> auth_core::CacheStats {
        match self {
            Vendor::P21(c) => c.cache().stats(),
            Vendor::ByDesign(c) => c.cache().stats(),
        }
    }

    async fn token(&self) -> Result<(), String> {
        match self {
            Vendor::P21(c) => c.token().await.map(drop).map_err(|e| e.to_string()),
            Vendor::ByDesign(c) => c.token().await.map(drop).map_err(|e| e.to_string()),
        }
    }

    async fn call(&self) -> Result<(), String> {
        let response = match self {
            Vendor::P21(c) => {
                let url = c
                    .url("odataservice/odata/table/supplier")
                    .map_err(|e| e.to_string())?;
                c.send(c.reqwest_client().get(url)).await
            }
            Vendor::ByDesign(c) => {
                let url = c.url("api/Rep/1001").map_err(|e| e.to_string())?;
                c.send(c.reqwest_client().get(url)).await
            }
        }
        .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status()))
        }
    }
}

/// Not a test on its own: a worker process, started by the tests below with its settings in
/// `FLEET_*` variables. Prints `TOKEN <ms>` once it has a token, then `RESULT ok=N failed=M`.
#[tokio::test]
#[ignore = "a worker process of the fleet tests"]
async fn fleet_worker() {
    let base = var("FLEET_BASE");
    assert!(!base.is_empty(), "run by the fleet tests");
    let options = cache_options(store_from(&var("FLEET_STORE")));
    let vendor = match var("FLEET_VENDOR").as_str() {
        "bydesign" => Vendor::ByDesign(
            bydesign_auth::Client::builder()
                .base_url(base)
                .client_id("Cart")
                .credentials(bydesign_auth::Credentials::rep(
                    BYDESIGN_REP.0,
                    bydesign_auth::Secret::new(BYDESIGN_REP.1),
                ))
                .cache(options)
                .build()
                .expect("client"),
        ),
        _ => Vendor::P21(
            p21_auth::Client::builder()
                .base_url(base)
                .credentials(p21_auth::Credentials::user(
                    P21_USER.0,
                    p21_auth::Secret::new(P21_USER.1),
                ))
                .cache(options)
                .build()
                .expect("client"),
        ),
    };
    let started = Instant::now();
    let first = vendor.token().await;
    println!("TOKEN {} {:?}", started.elapsed().as_millis(), first.err());
    let seconds: f64 = var("FLEET_SECONDS").parse().unwrap_or(0.0);
    let pace = Duration::from_millis(var("FLEET_PACE_MS").parse().unwrap_or(50));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None);
    while Instant::now() < until {
        match vendor.call().await {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        tokio::time::sleep(pace).await;
    }
    let stats = vendor.stats();
    println!(
        "RESULT ok={ok} failed={failed} fetches={} adopted={} published={} store_errors={} first_error={first_error:?}",
        stats.fetches, stats.store_adopted, stats.store_published, stats.store_errors
    );
}

// ---------------------------------------------------------------------------------------------
// The tests' side.

/// A running worker and the lines it prints.
struct Worker {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn start(settings: &[(&str, String)]) -> Worker {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                "--ignored",
                "--exact",
                "fleet_worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start a worker");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Worker { child, lines }
    }

    /// The first line with `prefix`, from it on (libtest may print `test fleet_worker ... `
    /// before it), waiting up to `within`.
    fn line(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find(prefix) {
                        return line[at..].to_owned();
                    }
                }
                Err(_) => panic!("the worker printed no {prefix} line within {within:?}"),
            }
        }
    }

    /// `(ok, failed)` API calls, once the worker is done.
    fn result(&self, within: Duration) -> (u64, u64, String) {
        let line = self.line("RESULT ", within);
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line}"))
        };
        (field("ok"), field("failed"), line.clone())
    }
}

/// A store for a scenario: a fresh directory, or a private Redis server.
enum Shared {
    File(PathBuf),
    Redis(RedisServer),
    Nothing,
}

impl Shared {
    fn file(name: &str) -> Shared {
        let dir = std::env::temp_dir().join(format!("fleet-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Shared::File(dir)
    }

    fn redis() -> Shared {
        Shared::Redis(
            RedisServer::start()
                .expect("the fleet tests need redis-server (cargo xtask provision installs it)"),
        )
    }

    fn spec(&self) -> String {
        match self {
            Shared::File(dir) => format!("file:{}", dir.display()),
            Shared::Redis(server) => server.url(),
            Shared::Nothing => "none".into(),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Shared::File(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn p21_sandbox(lifetime: Duration) -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.p21().add_user(P21_USER.0, P21_USER.1);
    sandbox.p21().set_token_lifetime(lifetime);
    sandbox
}

fn settings(sandbox_base: String, store: &Shared, seconds: u64) -> Vec<(&'static str, String)> {
    vec![
        ("FLEET_BASE", sandbox_base),
        ("FLEET_STORE", store.spec()),
        ("FLEET_SECONDS", seconds.to_string()),
    ]
}

/// What one run of `processes` P21 workers for `seconds` cost: token requests, sessions
/// replaced, and the API calls that failed (as the workers saw them).
struct Run {
    token_requests: u64,
    sessions_replaced: u64,
    calls_ok: u64,
    calls_failed: u64,
    first_failure: String,
}

async fn p21_run(store: Shared, processes: usize, lifetime: Duration, seconds: u64) -> Run {
    let sandbox = p21_sandbox(lifetime).await;
    let workers: Vec<Worker> = (0..processes)
        .map(|_| Worker::start(&settings(sandbox.p21_base_url(), &store, seconds)))
        .collect();
    let results = tokio::task::spawn_blocking(move || {
        workers
            .iter()
            .map(|w| w.result(Duration::from_secs(seconds + 60)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("workers");
    let stats = sandbox.stats();
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.1 > 0 || !r.2.contains("store_errors=0 "))
        .map(|r| r.2.clone())
        .collect();
    drop(store);
    Run {
        token_requests: stats.requests(Endpoint::P21TokenV2),
        sessions_replaced: stats.gauge("p21", "sessions_replaced"),
        calls_ok: results.iter().map(|r| r.0).sum(),
        calls_failed: results.iter().map(|r| r.1).sum(),
        first_failure: failed.join("\n"),
    }
}

/// 8 processes, one P21 user, 10-second tokens, 30 s of API calls: the fleet makes as many
/// token requests as one process alone would (±1), and no API call fails, with either store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p21_eight_processes_rotate_like_one_with_either_store() {
    let lifetime = Duration::from_secs(10);
    let (solo, file, redis) = tokio::join!(
        p21_run(Shared::Nothing, 1, lifetime, 30),
        p21_run(Shared::file("p21-10s"), 8, lifetime, 30),
        p21_run(Shared::redis(), 8, lifetime, 30),
    );
    eprintln!(
        "10-s tokens, 30 s: token requests: one process {}, 8 on files {}, 8 on Redis {}; calls ok {} and {}, failed {} and {}",
        solo.token_requests,
        file.token_requests,
        redis.token_requests,
        file.calls_ok,
        redis.calls_ok,
        file.calls_failed,
        redis.calls_failed
    );
    assert_eq!(
        solo.calls_failed, 0,
        "one process alone: {}",
        solo.first_failure
    );
    for (name, fleet) in [("file", &file), ("redis", &redis)] {
        assert!(
            fleet.token_requests.abs_diff(solo.token_requests) <= 1,
            "{name}: the fleet made {} token requests, one process {}; {}",
            fleet.token_requests,
            solo.token_requests,
            fleet.first_failure
        );
        assert_eq!(
            fleet.calls_failed,
            0,
            "{name}: {} of {} calls failed: {}",
            fleet.calls_failed,
            fleet.calls_ok + fleet.calls_failed,
            fleet.first_failure
        );
        assert!(
            fleet.calls_ok > 8 * 100,
            "{name}: the workers called the API"
        );
        assert_eq!(
            fleet.sessions_replaced + 1,
            fleet.token_requests,
            "{name}: only rotations"
        );
    }
}

/// The same with 24-hour tokens: one token request for the whole fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p21_eight_processes_share_one_day_long_token_with_either_store() {
    let lifetime = Duration::from_secs(24 * 3600);
    let (file, redis) = tokio::join!(
        p21_run(Shared::file("p21-24h"), 8, lifetime, 30),
        p21_run(Shared::redis(), 8, lifetime, 30),
    );
    for (name, fleet) in [("file", &file), ("redis", &redis)] {
        assert_eq!(fleet.token_requests, 1, "{name}");
        assert_eq!(fleet.calls_failed, 0, "{name}: {}", fleet.first_failure);
        assert!(
            fleet.calls_ok > 8 * 100,
            "{name}: the workers called the API"
        );
    }
}

/// ByDesign with the one-live-refresh-token rule on: 8 processes make one password sign-in and
/// one refresh chain; no `invalid_grant`, no password fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bydesign_eight_processes_keep_one_refresh_chain_with_either_store() {
    async fn run(store: Shared) -> (u64, u64, u64, u64) {
        let sandbox = Sandbox::start().await.expect("sandbox");
        sandbox.bydesign().add_company("Co", &["Cart"]);
        sandbox
            .bydesign()
            .add_rep("Co", BYDESIGN_REP.0, BYDESIGN_REP.1);
        sandbox.bydesign().one_refresh_token_per_client(true);
        sandbox
            .bydesign()
            .set_token_lifetime(Duration::from_secs(10));
        let mut settings = settings(sandbox.bydesign_base_url("Co"), &store, 25);
        settings.push(("FLEET_VENDOR", "bydesign".into()));
        let workers: Vec<Worker> = (0..8).map(|_| Worker::start(&settings)).collect();
        let failed = tokio::task::spawn_blocking(move || {
            workers
                .iter()
                .map(|w| w.result(Duration::from_secs(90)).1)
                .sum::<u64>()
        })
        .await
        .expect("workers");
        let stats = sandbox.stats();
        drop(store);
        (
            stats.grants(Endpoint::ByDesignToken, "password"),
            stats.grants(Endpoint::ByDesignToken, "refresh_token"),
            stats.failures(Endpoint::ByDesignToken),
            failed,
        )
    }
    let (file, redis) = tokio::join!(run(Shared::file("bydesign")), run(Shared::redis()));
    for (name, (passwords, refreshes, refused, failed)) in [("file", file), ("redis", redis)] {
        assert_eq!(passwords, 1, "{name}: one sign-in with the password");
        assert!(
            (3..=6).contains(&refreshes),
            "{name}: one chain of refreshes, about one per 5 s: {refreshes}"
        );
        assert_eq!(refused, 0, "{name}: no invalid_grant");
        assert_eq!(failed, 0, "{name}: no API call failed");
    }
}

/// The lease holder is killed in the middle of its fetch: another process publishes a token
/// within the lease plus one fetch (the file store's OS lock goes with the process at once;
/// Redis's lease lapses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lease_holder_is_taken_over_within_the_lease_and_one_fetch() {
    async fn run(store: Shared) -> (Duration, u64) {
        let fetch = Duration::from_secs(2);
        let lease = Duration::from_secs(3);
        let sandbox = p21_sandbox(Duration::from_secs(3600)).await;
        sandbox.set_latency(Endpoint::P21TokenV2, fetch);
        let mut settings = settings(sandbox.p21_base_url(), &store, 0);
        settings.push(("FLEET_LEASE_MS", lease.as_millis().to_string()));
        let holder = Worker::start(&settings);
        // Mid-fetch: its token request has reached the sandbox, whose answer is 2 s away.
        let deadline = Instant::now() + Duration::from_secs(20);
        while sandbox.count(Endpoint::P21TokenV2) == 0 {
            assert!(
                Instant::now() < deadline,
                "the holder never asked for a token"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let waiter = Worker::start(&settings);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(holder); // killed
        let killed = Instant::now();
        let took = tokio::task::spawn_blocking(move || {
            let line = waiter.line("TOKEN ", Duration::from_secs(30));
            assert!(line.ends_with("None"), "the waiter got a token: {line}");
            killed.elapsed()
        })
        .await
        .expect("waiter");
        let requests = sandbox.stats().requests(Endpoint::P21TokenV2);
        drop(store);
        (took, requests)
    }
    let (file, redis) = tokio::join!(run(Shared::file("killed")), run(Shared::redis()));
    let bound = Duration::from_secs(3 + 2 + 1);
    eprintln!(
        "takeover after a kill: files {:?}, Redis {:?}",
        file.0, redis.0
    );
    for (name, (took, requests)) in [("file", file), ("redis", redis)] {
        assert!(took <= bound, "{name}: took {took:?} after the kill");
        assert_eq!(requests, 2, "{name}: the killed fetch and the takeover");
    }
}

/// A process restarted within a token's lifetime makes no token request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_makes_no_token_request() {
    async fn run(store: Shared) -> u64 {
        let sandbox = p21_sandbox(Duration::from_secs(3600)).await;
        let settings = settings(sandbox.p21_base_url(), &store, 0);
        for _ in 0..3 {
            let worker = Worker::start(&settings);
            tokio::task::spawn_blocking(move || worker.result(Duration::from_secs(30)))
                .await
                .expect("worker");
        }
        let requests = sandbox.stats().requests(Endpoint::P21TokenV2);
        drop(store);
        requests
    }
    let (file, redis) = tokio::join!(run(Shared::file("restart")), run(Shared::redis()));
    assert_eq!((file, redis), (1, 1));
}

/// Redis stopped for 15 s and started again (empty): with long-lived tokens no call fails, and
/// afterwards a rotation (every session closed by the vendor) costs the fleet one token request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_no_call_and_the_fleet_recovers() {
    let sandbox = p21_sandbox(Duration::from_secs(24 * 3600)).await;
    let mut store = Shared::redis();
    let workers: Vec<Worker> = (0..8)
        .map(|_| Worker::start(&settings(sandbox.p21_base_url(), &store, 40)))
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sandbox.stats().requests(Endpoint::P21TokenV2), 1);
    if let Shared::Redis(server) = &mut store {
        server.stop();
        tokio::time::sleep(Duration::from_secs(15)).await;
        server.restart().expect("restart redis");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The vendor closes every session: each process sees a 401, and the fleet re-authenticates
    // once through the store.
    let before = sandbox.stats().requests(Endpoint::P21TokenV2);
    sandbox.p21().close_sessions();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let rotation = sandbox.stats().requests(Endpoint::P21TokenV2) - before;
    let results = tokio::task::spawn_blocking(move || {
        workers
            .iter()
            .map(|w| w.result(Duration::from_secs(60)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("workers");
    let failed: u64 = results.iter().map(|r| r.1).sum();
    let first = results.iter().find(|r| r.1 > 0).map(|r| r.2.clone());
    eprintln!(
        "after the Redis outage: {failed} calls failed; the rotation cost {rotation} token requests"
    );
    assert_eq!(failed, 0, "{first:?}");
    assert!(
        rotation <= 2,
        "the rotation after the outage cost {rotation} token requests"
    );
    drop(store);
}
