//! The fleet with real processes (see `fleet/mod.rs`): 8 processes on one credential rotate like
//! one, share a day-long token, keep one refresh chain, take over a killed lease holder, and
//! ride out a Redis restart.

mod fleet;

use std::time::{Duration, Instant};

use auth_sandbox::{Endpoint, Sandbox};
use fleet::*;

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

/// The lease holder is killed in the middle of its fetch: with the default (short, renewed)
/// lease, another process publishes a token within the lease (3 s) plus one fetch (the file
/// store's OS lock goes with the process at once; Redis's lease lapses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lease_holder_is_taken_over_within_the_lease_and_one_fetch() {
    async fn run(store: Shared) -> (Duration, u64) {
        let fetch = Duration::from_secs(2);
        let sandbox = p21_sandbox(Duration::from_secs(3600)).await;
        sandbox.set_latency(Endpoint::P21TokenV2, fetch);
        let settings = settings(sandbox.p21_base_url(), &store, 0);
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
