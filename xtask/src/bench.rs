//! `cargo xtask bench`: runs the hot-path, round-trip, store and pool benchmarks and prints the
//! medians beside the baselines measured in the same run, with the ratios that
//! `docs/performance.md` quotes.

use crate::{cargo, exec, target_dir};

const BENCHES: &[(&str, &str)] = &[
    ("one_thread", "baseline_arc_clone_and_clock"),
    ("one_thread", "baseline_rwlock_arc"),
    ("one_thread", "token_cache_fresh"),
    ("one_thread", "token_cache_token_polled"),
    ("one_thread", "token_cache_token_polled_scripted"),
    ("one_thread", "token_cache_token_polled_with_store"),
    ("two_threads", "baseline_arc_clone_and_clock"),
    ("two_threads", "baseline_rwlock_arc"),
    ("two_threads", "token_cache_fresh"),
    ("two_threads", "token_cache_token_polled"),
];

/// Round trips to the loopback sandbox, each beside its hand-written reqwest baseline.
const ROUND_TRIPS: &[(&str, &str)] = &[
    ("cache_token_fetch", "reqwest_token_request"),
    ("cache_send", "reqwest_send_fixed_header"),
];

/// The build profiles the round trips are measured under (see the workspace manifest).
const ROUND_TRIP_PROFILES: &[(&str, &str)] = &[
    ("bench", "release defaults"),
    ("bench-lto", "fat LTO, one codegen unit"),
];

/// One round-trip run: criterion's `(ours, baseline)` medians in ns, in [`ROUND_TRIPS`] order,
/// and the paired ratios the benchmark wrote (`name ratio` lines, the A/A control included).
struct RoundTrips {
    medians: Vec<(f64, f64)>,
    paired: String,
}

impl RoundTrips {
    fn paired(&self, name: &str) -> f64 {
        self.paired
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Runs every benchmark; returns the round-trip medians of each profile of
/// [`ROUND_TRIP_PROFILES`], read as each run ends (they share criterion's directory).
fn run_bench() -> Result<Vec<RoundTrips>, String> {
    exec(
        cargo().args(["bench", "-p", "auth-core", "--bench", "hot_path"]),
        "cargo bench",
    )?;
    let mut round_trips = Vec::new();
    let paired_out = target_dir().join("criterion/loopback-paired.txt");
    for (profile, _) in ROUND_TRIP_PROFILES {
        exec(
            cargo().env("ROUND_TRIP_PAIRED_OUT", &paired_out).args([
                "bench",
                "--profile",
                profile,
                "-p",
                "auth-sandbox",
                "--bench",
                "round_trip",
            ]),
            "cargo bench",
        )?;
        let medians = ROUND_TRIPS
            .iter()
            .map(|(ours, baseline)| Ok((median("loopback", ours)?, median("loopback", baseline)?)))
            .collect::<Result<_, String>>()?;
        let paired = std::fs::read_to_string(&paired_out)
            .map_err(|e| format!("{}: {e}", paired_out.display()))?;
        round_trips.push(RoundTrips { medians, paired });
    }
    exec(
        cargo().args(["bench", "-p", "auth-store-redis", "--bench", "adopt"]),
        "cargo bench",
    )?;
    // Many tenants in one process: memory, cold start, reads through the pool, evictions.
    exec(
        cargo().args(["bench", "-p", "auth-sandbox", "--bench", "pool"]),
        "cargo bench",
    )?;
    Ok(round_trips)
}

/// The median (ns) criterion recorded for `group/name`.
fn median(group: &str, name: &str) -> Result<f64, String> {
    let path = target_dir()
        .join("criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let after = text
        .split("\"median\"")
        .nth(1)
        .and_then(|s| s.split("\"point_estimate\":").nth(1))
        .ok_or_else(|| format!("{}: no median", path.display()))?;
    let number: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    number
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn run() -> Result<(), String> {
    let round_trips = run_bench()?;
    let mut medians = Vec::new();
    for (group, name) in BENCHES {
        medians.push(((*group, *name), median(group, name)?));
    }
    let get = |g: &str, n: &str| {
        medians
            .iter()
            .find(|((mg, mn), _)| *mg == g && *mn == n)
            .map_or(f64::NAN, |(_, v)| *v)
    };
    println!("\n| group | benchmark | median (ns) | vs. baseline (Arc clone + clock) |");
    println!("|---|---|---:|---:|");
    for ((group, name), v) in &medians {
        let base = get(group, "baseline_arc_clone_and_clock");
        println!("| {group} | {name} | {v:.1} | {:.2}x |", v / base);
    }
    let with_store = get("one_thread", "token_cache_token_polled_with_store");
    let without = get("one_thread", "token_cache_token_polled_scripted");
    println!(
        "\ntoken() with a store configured: {with_store:.1} ns = {:.2}x the same cache without one ({without:.1} ns)",
        with_store / without
    );
    let one = get("one_thread", "token_cache_token_polled");
    let two = get("two_threads", "token_cache_token_polled");
    println!(
        "\ntoken() with two threads calling at once: {two:.1} ns = {:.2}x its one-thread figure ({one:.1} ns)",
        two / one
    );
    println!(
        "\n| round trip (loopback sandbox) | build | median (µs) | baseline | baseline median (µs) | ratio | paired ratio |"
    );
    println!("|---|---|---:|---|---:|---:|---:|");
    for ((_, build), run) in ROUND_TRIP_PROFILES.iter().zip(&round_trips) {
        for ((ours, baseline), (a, b)) in ROUND_TRIPS.iter().zip(&run.medians) {
            println!(
                "| {ours} | {build} | {:.1} | {baseline} | {:.1} | {:.2}x | {:.3}x |",
                a / 1000.0,
                b / 1000.0,
                a / b,
                run.paired(ours)
            );
        }
        println!(
            "| (A/A control) | {build} | | reqwest_token_request | | | {:.3}x |",
            run.paired("reqwest_token_request_aa")
        );
    }
    println!(
        "\n| cache miss (a new cache, one token() call) | median (µs) | extra over no store (µs) |"
    );
    println!("|---|---:|---:|");
    let miss = median("adopt", "miss_fetch_no_store")?;
    println!("| miss_fetch_no_store | {:.1} | |", miss / 1000.0);
    for name in ["miss_adopt_file", "miss_adopt_redis"] {
        let v = median("adopt", name)?;
        println!(
            "| {name} | {:.1} | {:.1} |",
            v / 1000.0,
            (v - miss) / 1000.0
        );
    }
    Ok(())
}
