//! Round trips through the sandbox beside a hand-written reqwest call to the same loopback
//! server, measured in the same run (`cargo xtask bench` prints the ratios).
//!
//! - `loopback/reqwest_token_request`: a form POST to the Personify token endpoint with
//!   reqwest, the body read and its `access_token` taken out of the JSON.
//! - `loopback/cache_token_fetch`: the same token fetched through a `personify_auth::Client`'s
//!   cache (invalidated each time: request built as a value, sent, parsed, cached, handed out).
//! - `loopback/reqwest_send_fixed_header`: an API GET with a fixed `Authorization` header.
//! - `loopback/cache_send`: the same GET through `Client::send` (cached token attached).

use std::hint::black_box;
use std::time::Duration;

use auth_sandbox::Sandbox;
use criterion::{Criterion, criterion_group, criterion_main};
use personify_auth::{CacheOptions, Client, Credentials, Secret};

fn round_trip(c: &mut Criterion) {
    // One thread: the server, both clients and the cache's fetch task share it, so that no
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
    let token_url = sandbox.personify_token_url();
    let api_url = sandbox.personify_api_url("members");
    let token = rt.block_on(personify.token()).expect("token");
    let bearer = format!("Bearer {}", token.access_token().expose_secret());

    let mut g = c.benchmark_group("loopback");
    g.bench_function("reqwest_token_request", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = http
                    .post(&token_url)
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
                black_box(json["access_token"].as_str().map(str::to_owned))
            })
        })
    });
    g.bench_function("cache_token_fetch", |b| {
        b.iter(|| {
            rt.block_on(async {
                let token = personify.token().await.expect("token");
                personify.invalidate(&token);
                black_box(token)
            })
        })
    });
    g.bench_function("reqwest_send_fixed_header", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = http
                    .get(&api_url)
                    .header("authorization", &bearer)
                    .header("x-tenant-id", "t1")
                    .send()
                    .await
                    .expect("sent");
                black_box(response.bytes().await.expect("body"))
            })
        })
    });
    g.bench_function("cache_send", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = personify.send(http.get(&api_url)).await.expect("sent");
                black_box(response.bytes().await.expect("body"))
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = round_trip
}
criterion_main!(benches);
