//! Round trips through the sandbox beside a hand-written reqwest call to the same loopback
//! server, measured in the same run (`cargo xtask bench` prints the ratios).
//!
//! - `loopback/reqwest_token_request`: a form POST to the Personify token endpoint with
//!   reqwest, the body read and its `access_token` taken out of the JSON.
//! - `loopback/cache_token_fetch`: the same token fetched through a `personify_auth::Client`'s
//!   cache (invalidated each time: request built as a value, sent, parsed, cached, handed out).
//! - `loopback/reqwest_send_fixed_header`: an API GET with a fixed `Authorization` header.
//! - `loopback/cache_send`: the same GET through `Client::send` (cached token attached).
//!
//! After criterion's figures, each pair is measured once more paired: batches of ours and of
//! the baseline alternate, the ratio is taken per round and its median reported, beside an A/A
//! control (the baseline against itself). Criterion measures one function after the other, so
//! a machine whose load changes within the run moves its ratios; the paired ratio does not
//! drift with it. With `ROUND_TRIP_PAIRED_OUT` set, the paired ratios are also written to that
//! file, one `name ratio` line each.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use auth_sandbox::Sandbox;
use criterion::Criterion;
use personify_auth::{CacheOptions, Client, Credentials, Secret};

/// The sandbox, a Personify client and the baseline's reqwest client, on one thread.
struct Fixture {
    rt: tokio::runtime::Runtime,
    _sandbox: Sandbox,
    personify: Client,
    http: reqwest::Client,
    token_url: String,
    api_url: String,
    bearer: String,
}

impl Fixture {
    fn new() -> Self {
        // One thread: the server, both clients and the cache's fetch share it, so that no
        // figure includes a hand-off between threads that the other does not.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sandbox = rt.block_on(Sandbox::start()).expect("sandbox");
        sandbox
            .personify()
            .add_client("bench", "bench-secret", &["idp_api"], &["t1"]);
        let personify = Client::builder()
            .credentials(Credentials::new("bench", Secret::new("bench-secret")))
            .token_url(sandbox.personify_token_url())
            .tenant_id("t1")
            .cache(CacheOptions::default().min_forced_refresh_interval(Duration::ZERO))
            .build()
            .expect("client");
        // The baseline uses the same reqwest client (same pool, same settings).
        let http = personify.reqwest_client().clone();
        let token = rt.block_on(personify.token()).expect("token");
        Self {
            token_url: sandbox.personify_token_url(),
            api_url: sandbox.personify_api_url("members"),
            bearer: format!("Bearer {}", token.access_token().expose_secret()),
            rt,
            _sandbox: sandbox,
            personify,
            http,
        }
    }

    fn reqwest_token_request(&self) {
        self.rt.block_on(async {
            let response = self
                .http
                .post(&self.token_url)
                .header("accept", "application/json")
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "bench"),
                    ("client_secret", "bench-secret"),
                    ("scope", "idp_api"),
                ])
                .send()
                .await
                .expect("sent");
            let body = response.bytes().await.expect("body");
            let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
            black_box(json["access_token"].as_str().map(str::to_owned));
        });
    }

    fn cache_token_fetch(&self) {
        self.rt.block_on(async {
            let token = self.personify.token().await.expect("token");
            self.personify.invalidate(&token);
            black_box(token);
        });
    }

    fn reqwest_send_fixed_header(&self) {
        self.rt.block_on(async {
            let response = self
                .http
                .get(&self.api_url)
                .header("authorization", &self.bearer)
                .header("x-tenant-id", "t1")
                .send()
                .await
                .expect("sent");
            black_box(response.bytes().await.expect("body"));
        });
    }

    fn cache_send(&self) {
        self.rt.block_on(async {
            let response = self
                .personify
                .send(self.http.get(&self.api_url))
                .await
                .expect("sent");
            black_box(response.bytes().await.expect("body"));
        });
    }
}

/// The pairs measured: `(ours, baseline)`, by their criterion names.
type Pair = (&'static str, fn(&Fixture), &'static str, fn(&Fixture));

const PAIRS: [Pair; 3] = [
    (
        "cache_token_fetch",
        Fixture::cache_token_fetch,
        "reqwest_token_request",
        Fixture::reqwest_token_request,
    ),
    (
        "cache_send",
        Fixture::cache_send,
        "reqwest_send_fixed_header",
        Fixture::reqwest_send_fixed_header,
    ),
    (
        "reqwest_token_request_aa",
        Fixture::reqwest_token_request,
        "reqwest_token_request",
        Fixture::reqwest_token_request,
    ),
];

fn round_trip(c: &mut Criterion, fixture: &Fixture) {
    let mut g = c.benchmark_group("loopback");
    for (ours, ours_fn, baseline, baseline_fn) in &PAIRS[..2] {
        g.bench_function(*baseline, |b| b.iter(|| baseline_fn(fixture)));
        g.bench_function(*ours, |b| b.iter(|| ours_fn(fixture)));
    }
    g.finish();
}

/// The median over `rounds` of (time of `batch` calls of ours) / (time of `batch` calls of the
/// baseline), each round running baseline, ours, ours, baseline.
fn paired_ratio(fixture: &Fixture, pair: &Pair, rounds: usize, batch: usize) -> f64 {
    let (_, ours, _, baseline) = pair;
    let time = |f: fn(&Fixture)| {
        let start = Instant::now();
        for _ in 0..batch {
            f(fixture);
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|_| {
            let base = time(*baseline);
            let ours = time(*ours) + time(*ours);
            ours / (base + time(*baseline))
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn paired(fixture: &Fixture, test_mode: bool) {
    let (rounds, batch) = if test_mode { (1, 1) } else { (101, 100) };
    for pair in &PAIRS {
        paired_ratio(fixture, pair, 2, 10); // warm-up
    }
    let mut report = String::new();
    for pair in &PAIRS {
        let ratio = paired_ratio(fixture, pair, rounds, batch);
        println!(
            "loopback/{} over {}: paired median ratio {ratio:.3}x ({rounds} rounds of {batch})",
            pair.0, pair.2
        );
        let _ = writeln!(report, "{} {ratio:.4}", pair.0);
    }
    if let Some(path) = std::env::var_os("ROUND_TRIP_PAIRED_OUT") {
        std::fs::write(&path, report).expect("paired ratios written");
    }
}

fn main() {
    let fixture = Fixture::new();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    round_trip(&mut c, &fixture);
    c.final_summary();
    // `cargo test --benches` and `cargo bench -- --test` pass `--test`: one quick round.
    paired(&fixture, std::env::args().any(|a| a == "--test"));
}
