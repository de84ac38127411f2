//! The fleet with real processes, shared by the tests that start them: each test binary starts
//! copies of itself as workers (each its own process with its own cache), all on one vendor
//! credential, against a sandbox in the test's process, sharing a file store, a private
//! `redis-server`, or both (a Redis store with a host-local fallback). The sandbox's counters say
//! how many token requests the fleet made; the workers say how many API calls failed.

#![allow(dead_code, unreachable_pub)]

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

pub const SEALING_KEY: &str = "5f1c3a9e0b7d42c6a8e3f1d0c9b7a6e5d4c3b2a1908f7e6d5c4b3a2918f7e6d5";
pub const P21_USER: (&str, &str) = ("fleet_user", "fleet-password");
pub const BYDESIGN_REP: (&str, &str) = ("1001", "rep-password");

// ---------------------------------------------------------------------------------------------
// The worker: one process of the fleet.

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

pub fn redis_store(url: &str) -> RedisStore {
    let builder = match url
        .strip_prefix("sentinel:")
        .and_then(|s| s.split_once('|'))
    {
        Some((master, sentinels)) => RedisStore::sentinel(sentinels.split(','), master),
        None => match url.strip_prefix("cluster:") {
            Some(nodes) => RedisStore::cluster(nodes.split(',')),
            None => RedisStore::builder(url),
        },
    };
    builder
        .sealing_key(SealingKey::from_hex(SEALING_KEY).expect("key"))
        .build()
        .expect("redis store")
}

pub fn store_from(spec: &str) -> Option<Arc<dyn TokenStore>> {
    if let Some((dir, url)) = spec
        .strip_prefix("fallback:")
        .and_then(|s| s.split_once('|'))
    {
        let local = FileStore::open(dir).expect("file store");
        Some(Arc::new(auth_store::Fallback::new(redis_store(url), local)))
    } else if let Some(dir) = spec.strip_prefix("file:") {
        Some(Arc::new(FileStore::open(dir).expect("file store")))
    } else if ["redis://", "sentinel:", "cluster:"]
        .iter()
        .any(|p| spec.starts_with(p))
    {
        Some(Arc::new(redis_store(spec)))
    } else {
        None
    }
}

pub fn cache_options(store: Option<Arc<dyn TokenStore>>) -> auth_core::CacheOptions {
    let options = auth_core::CacheOptions::default();
    match store {
        Some(store) => options.store_arc(store),
        None => options,
    }
}

/// What a worker does with its client: get a token, or call the API.
pub enum Vendor {
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

pub fn unix_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("ms")
}

/// Not a test on its own: a worker process, started by the tests below with its settings in
/// `FLEET_*` variables. Prints `TOKEN <ms>` once it has a token, then `RESULT ok=N failed=M`.
#[tokio::test]
#[ignore = "a worker process of the fleet tests"]
pub async fn fleet_worker() {
    let base = var("FLEET_BASE");
    if base.is_empty() {
        // Run by hand (`--ignored`) rather than by a fleet test: nothing to do.
        return;
    }
    if !var("FLEET_LOG").is_empty() {
        // The cache's own account of the run, on stderr (kept by `Worker::start`).
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
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
    let mut report = Instant::now();
    while Instant::now() < until {
        match vendor.call().await {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        if report.elapsed() >= Duration::from_millis(200) {
            // Where the worker stands, for the tests that look at a window of the run.
            let stats = vendor.stats();
            println!(
                "STATS at={} ok={ok} failed={failed} published={}",
                unix_ms(),
                stats.store_published
            );
            report = Instant::now();
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
pub struct Worker {
    child: Child,
    lines: Receiver<String>,
    /// Every `STATS` line so far.
    stats: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    pub fn start(settings: &[(&str, String)]) -> Worker {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                "--ignored",
                "--exact",
                "fleet::fleet_worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Ok(dir) = std::env::var("FLEET_LOG") {
            // Each worker's log in a file of its own under that directory.
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path =
                std::path::Path::new(&dir).join(format!("worker-{}-{n}.log", std::process::id()));
            if let Ok(file) = std::fs::File::create(path) {
                command.stderr(file);
            }
        }
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start a worker");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = channel();
        let stats = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = Arc::clone(&stats);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("STATS ") {
                    kept.lock().expect("lines").push(line[at..].to_owned());
                    continue;
                }
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            lines,
            stats,
        }
    }

    /// The first line with `prefix`, from it on (libtest may print `test fleet_worker ... `
    /// before it), waiting up to `within`.
    pub fn line(&self, prefix: &str, within: Duration) -> String {
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
    pub fn result(&self, within: Duration) -> (u64, u64, String) {
        let line = self.line("RESULT ", within);
        (field(&line, "ok"), field(&line, "failed"), line.clone())
    }
}

/// A field of a `STATS` or `RESULT` line.
pub fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

impl Worker {
    /// When (Unix ms, to the report's 200 ms) its count of failed calls grew.
    pub fn failures_at(&self) -> Vec<u64> {
        let lines = self.stats.lock().expect("lines");
        let mut last = 0;
        let mut at = Vec::new();
        for line in lines.iter() {
            let failed = field(line, "failed");
            if failed > last {
                at.push(field(line, "at"));
                last = failed;
            }
        }
        at
    }

    /// The worker's `name` counter as of `at` (Unix ms): from its last `STATS` line before.
    pub fn at(&self, at: u64, name: &str) -> u64 {
        let lines = self.stats.lock().expect("lines");
        lines
            .iter()
            .take_while(|l| field(l, "at") <= at)
            .last()
            .map_or(0, |l| field(l, name))
    }
}

/// A store for a scenario: a fresh directory, or a private Redis server.
pub enum Shared {
    File(PathBuf),
    Redis(RedisServer),
    Nothing,
}

impl Shared {
    pub fn file(name: &str) -> Shared {
        let dir = std::env::temp_dir().join(format!("fleet-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Shared::File(dir)
    }

    pub fn redis() -> Shared {
        Shared::Redis(
            RedisServer::start()
                .expect("the fleet tests need redis-server (cargo xtask provision installs it)"),
        )
    }

    pub fn spec(&self) -> String {
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

pub async fn p21_sandbox(lifetime: Duration) -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.p21().add_user(P21_USER.0, P21_USER.1);
    sandbox.p21().set_token_lifetime(lifetime);
    sandbox
}

pub fn settings(sandbox_base: String, store: &Shared, seconds: u64) -> Vec<(&'static str, String)> {
    vec![
        ("FLEET_BASE", sandbox_base),
        ("FLEET_STORE", store.spec()),
        ("FLEET_SECONDS", seconds.to_string()),
    ]
}

/// What one run of `processes` P21 workers for `seconds` cost: token requests, sessions
/// replaced, and the API calls that failed (as the workers saw them).
pub struct Run {
    pub token_requests: u64,
    pub sessions_replaced: u64,
    pub calls_ok: u64,
    pub calls_failed: u64,
    pub first_failure: String,
}

pub async fn p21_run(store: Shared, processes: usize, lifetime: Duration, seconds: u64) -> Run {
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

/// What a failover run cost: token requests, API calls ok and failed, the failures' reports.
pub type Failover = (u64, u64, u64, String);

/// 8 P21 workers, 10-second tokens, 30 s of API calls, on `store` (a store spec) with a host
/// fallback in a fresh directory; at 10 s, `kill` (given the sandbox) kills a Redis primary.
pub async fn failover_run(name: &str, store: &str, kill: impl FnOnce(&Sandbox)) -> Failover {
    let sandbox = p21_sandbox(Duration::from_secs(10)).await;
    let dir = std::env::temp_dir().join(format!("failover-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = vec![
        ("FLEET_BASE", sandbox.p21_base_url()),
        ("FLEET_STORE", format!("fallback:{}|{store}", dir.display())),
        ("FLEET_SECONDS", "30".to_owned()),
    ];
    let workers: Vec<Worker> = (0..8).map(|_| Worker::start(&settings)).collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    kill(&sandbox);
    let results = tokio::task::spawn_blocking(move || {
        workers
            .iter()
            .map(|w| w.result(Duration::from_secs(90)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("workers");
    let _ = std::fs::remove_dir_all(&dir);
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.1 > 0)
        .map(|r| r.2.clone())
        .collect();
    (
        sandbox.stats().requests(Endpoint::P21TokenV2),
        results.iter().map(|r| r.0).sum(),
        results.iter().map(|r| r.1).sum(),
        failed.join("\n"),
    )
}

/// The failover targets: no call fails, and (where `extra` is given) at most `extra` token
/// requests more than without it.
pub fn assert_failover_costs_nothing(calm: &Failover, failover: &Failover, extra: Option<u64>) {
    assert_eq!(calm.2, 0, "{}", calm.3);
    assert_eq!(failover.2, 0, "{}", failover.3);
    assert!(failover.1 > 8 * 200, "the workers called the API");
    if let Some(extra) = extra {
        assert!(
            failover.0 <= calm.0 + extra,
            "{} token requests, {} without the failover",
            failover.0,
            calm.0
        );
    }
}

/// The first lease `store` grants after a primary was killed (`killed`), retrying for up to
/// 30 s while the failover runs; says how long it took.
pub async fn lease_after_failover(
    store: &RedisStore,
    key: &auth_core::store::StoreKey,
    killed: Instant,
) -> auth_core::store::Lease {
    loop {
        match store.try_lease(key, "after", Duration::from_secs(3)).await {
            Ok(Some(lease)) => {
                eprintln!(
                    "the store used the new primary {:?} after the kill",
                    killed.elapsed()
                );
                return lease;
            }
            other => {
                assert!(
                    killed.elapsed() < Duration::from_secs(30),
                    "no new primary within 30 s: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits (up to 10 s) until `named` no longer answers `killed`: every node or sentinel learns of
/// a failover, some a moment after the store did.
pub async fn until_not_named<T: PartialEq>(killed: T, named: impl Fn() -> T) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while named() == killed {
        assert!(
            Instant::now() < deadline,
            "the killed primary is still named"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
