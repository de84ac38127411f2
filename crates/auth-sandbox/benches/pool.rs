//! Many P21 tenants in one process through `p21_auth::Pool`, against the sandbox: what
//! docs/performance.md quotes under "Many tenants in one process".
//!
//! `cargo bench -p auth-sandbox --bench pool` (or `cargo xtask bench-pool`) starts the sandbox
//! with 10 000 P21 users and runs each measurement in a child process of its own, so that each
//! resident-set figure is that process's alone:
//!
//! - `documented`: 2 000 clients built the way a single-tenant user builds one (each with its
//!   own HTTP client), each holding a token: the baseline;
//! - `pool`: 10 000 tenants of one pool, a cold start (every tenant's first token at once,
//!   the pool's cap of 32 token requests in flight), then the resident set per tenant, the cached
//!   read through the pool against a direct client's (paired batches, median ratio), and the
//!   cost of evicting and re-creating a tenant.
//!
//! With `--test` (as `cargo test --benches` runs it) every figure is taken on a few tenants only.

use std::hint::black_box;
use std::process::Command;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use auth_sandbox::{Endpoint, Sandbox};
use p21_auth::{Client, Credentials, HttpClient, Pool, Secret};

const ROLE: &str = "POOL_BENCH_ROLE";
const URL: &str = "POOL_BENCH_URL";
const COUNT: &str = "POOL_BENCH_COUNT";

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    if let Ok(role) = std::env::var(ROLE) {
        let url = std::env::var(URL).expect("url");
        let count: usize = std::env::var(COUNT).expect("count").parse().expect("count");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        match role.as_str() {
            "documented" => rt.block_on(documented(&url, count)),
            "memory" => rt.block_on(memory(&url, count)),
            "cold" => rt.block_on(cold_start(&url, count)),
            _ => rt.block_on(reads_and_evictions(&url, count, test_mode)),
        }
        return;
    }
    let (tenants, documented) = if test_mode { (50, 10) } else { (10_000, 2_000) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = rt.block_on(Sandbox::start()).expect("sandbox");
    for i in 0..tenants {
        sandbox.p21().add_user(&user(i), &password(i));
    }
    let child = |role: &str, count: usize| {
        let mut cmd = Command::new(std::env::current_exe().expect("bench binary"));
        if test_mode {
            cmd.arg("--test");
        }
        let status = cmd
            .env(ROLE, role)
            .env(URL, sandbox.p21_base_url())
            .env(COUNT, count.to_string())
            .status()
            .expect("child");
        assert!(status.success(), "{role} failed");
    };
    child("documented", documented);
    child("memory", tenants);
    // The cold start against a token service that takes 5 ms per request, as seen by the
    // sandbox: how many requests in all, and how many at once.
    sandbox.set_latency(Endpoint::P21TokenV2, Duration::from_millis(5));
    sandbox.clear_log();
    child("cold", tenants);
    let stats = sandbox.stats();
    println!(
        "  seen by the sandbox: {} token requests (one per tenant, after the warm-up's one), at most {} in flight at once",
        stats.requests(Endpoint::P21TokenV2).saturating_sub(1),
        stats.peak_in_flight(Endpoint::P21TokenV2),
    );
    sandbox.set_latency(Endpoint::P21TokenV2, Duration::ZERO);
    child("reads", tenants);
}

fn user(i: usize) -> String {
    format!("distributor-{i:05}")
}

fn password(i: usize) -> String {
    format!("password-of-{i:05}")
}

/// The resident set of this process, in bytes (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn client(base: &str, i: usize, http: Option<HttpClient>) -> Client {
    let builder = Client::builder()
        .base_url(base)
        .credentials(Credentials::user(user(i), Secret::new(password(i))));
    match http {
        Some(http) => builder.http_client(http),
        None => builder,
    }
    .build()
    .expect("client")
}

/// The baseline: `count` clients built as the single-tenant documentation shows, one token each.
async fn documented(base: &str, count: usize) {
    warm_up(base).await;
    let before = rss();
    let clients: Vec<Client> = (0..count).map(|i| client(base, i, None)).collect();
    let built = rss();
    for client in &clients {
        client.token().await.expect("token");
    }
    let after = rss();
    println!(
        "documented clients ({count}): {:.1} KiB each before the first token, {:.1} KiB with one",
        kib(built - before, count),
        kib(after - before, count)
    );
}

/// One client and one token first, so that the runtime, TLS and the allocator's arenas are
/// not counted as the first tenant's.
async fn warm_up(base: &str) {
    let http = HttpClient::new().expect("http");
    let c = client(base, 0, Some(http));
    c.token().await.expect("token");
}

fn kib(bytes: u64, count: usize) -> f64 {
    bytes as f64 / 1024.0 / count as f64
}

/// A pool of `count` P21 tenants on `base`, sharing its HTTP client, with room for `max`.
fn pool_of(base: &str, max: usize) -> Pool<usize, Client> {
    let base = base.to_owned();
    Pool::builder(move |key: &usize, shared| {
        Client::builder()
            .base_url(&base)
            .credentials(Credentials::user(user(*key), Secret::new(password(*key))))
            .http_client(shared.http_client())
            .cache(shared.cache_options())
            .build()
    })
    .max_tenants(max)
    .build()
    .expect("pool")
}

/// Each of `count` tenants asked for its token by 64 workers, as a service's callers would:
/// the resident set per idle tenant holding a token, after them.
async fn memory(base: &str, count: usize) {
    warm_up(base).await;
    let pool = pool_of(base, count);
    pool.token(&0).await.expect("token");
    let before = rss();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (pool, next) = (pool.clone(), next.clone());
            tokio::spawn(async move {
                let mut bytes = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return bytes;
                    }
                    let token = pool.token(&i).await.expect("token");
                    bytes += token.access_token().expose_secret().len();
                }
            })
        })
        .collect();
    let mut token_bytes = 0;
    for worker in workers {
        token_bytes += worker.await.expect("worker");
    }
    let after = rss();
    let tenants = count - 1;
    let per_tenant = after.saturating_sub(before) as f64 / tenants as f64;
    let strings = token_bytes as f64 / tenants as f64;
    println!(
        "pool memory: {:.2} KiB per idle tenant holding a cached token (resident set over {tenants}), {:.2} KiB beyond its {strings:.0}-byte access token",
        per_tenant / 1024.0,
        (per_tenant - strings) / 1024.0,
    );
}

/// Every tenant's first token asked at once.
async fn cold_start(base: &str, count: usize) {
    warm_up(base).await;
    let pool = pool_of(base, count);
    let started = Instant::now();
    let calls: Vec<_> = (0..count)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.token(&i).await })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("token");
    }
    let cold = started.elapsed();
    let stats = pool.stats();
    println!(
        "pool cold start ({count} tenants at once, 5 ms per token request): {:.2} s wall, {:.0} tenants/s; at most {} token requests in flight (cap {}), {} tenants built",
        cold.as_secs_f64(),
        count as f64 / cold.as_secs_f64(),
        stats.requests.peak_in_flight,
        pool.http_client().max_requests_in_flight().unwrap_or(0),
        stats.built,
    );
}

/// The cached read through a pool of `count` tenants against a direct client's, and the cost
/// of evicting and re-creating a tenant.
async fn reads_and_evictions(base: &str, count: usize, test_mode: bool) {
    warm_up(base).await;
    let pool = pool_of(base, count);
    for i in 0..count {
        pool.token(&i).await.expect("token");
    }
    let direct = client(base, 0, None);
    direct.token().await.expect("token");
    let key = count / 2;
    let (rounds, batch) = if test_mode { (3, 10) } else { (101, 2_000) };
    let direct_read = || {
        for _ in 0..batch {
            let _ = black_box(poll_once(direct.token()));
        }
    };
    let pool_read = || {
        for _ in 0..batch {
            let _ = black_box(poll_once(pool.token(black_box(&key))));
        }
    };
    let (direct_ns, pool_ns, ratio) = paired(rounds, batch, direct_read, pool_read);
    println!(
        "cached read: direct client {direct_ns:.1} ns, through the pool ({count} tenants) {pool_ns:.1} ns: paired median ratio {ratio:.2}x ({rounds} rounds of {batch})"
    );

    // A full pool, asked for tenants it does not hold.
    let small = pool_of(base, count / 10);
    let cycle = if test_mode { count } else { count.min(4_000) };
    let started = Instant::now();
    for i in 0..cycle {
        drop(small.get(&i).await.expect("tenant"));
    }
    let build = started.elapsed() / cycle as u32;
    let started = Instant::now();
    for i in 0..cycle {
        small
            .token(&((i + cycle / 2) % count))
            .await
            .expect("token");
    }
    let with_token = started.elapsed() / cycle as u32;
    println!(
        "evict and re-create (pool of {}, {} evicted): {:.1} µs per tenant built, {:.1} µs with its token fetched again",
        count / 10,
        small.stats().evicted,
        micros(build),
        micros(with_token),
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Polls `future` once with a no-op waker (a fresh cached token is ready at once), so that no
/// executor's overhead drowns the figure.
fn poll_once<F: std::future::Future>(future: F) -> Poll<F::Output> {
    let mut future = std::pin::pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

/// Median ns per call of `base` and `ours`, and the median of the per-round ratios; batches
/// alternate (base, ours, ours, base) so that a drifting machine load cancels out.
fn paired(rounds: usize, batch: usize, base: impl Fn(), ours: impl Fn()) -> (f64, f64, f64) {
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64() * 1e9 / batch as f64
    };
    let (mut b, mut o, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let b1 = time(&base);
        let o1 = time(&ours);
        let o2 = time(&ours);
        let b2 = time(&base);
        b.push((b1 + b2) / 2.0);
        o.push((o1 + o2) / 2.0);
        r.push((o1 + o2) / (b1 + b2));
    }
    (median(b), median(o), median(r))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
