//! The `metrics` feature: fetches, failures by kind, fetch latency, grace and remembered
//! rejections reach an installed recorder, labelled with the vendor. The recorder is global,
//! so this file is its own test binary with one test.

use std::sync::Arc;
use std::time::Duration;

use auth_core::metrics::{
    FETCH_FAILURES, FETCH_SECONDS, REJECTIONS_SERVED, TOKEN_FETCHES, TOKENS_FETCHED,
};
use auth_core::{Error, TokenCache};
use auth_testkit::{ManualClock, ScriptedSource};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test]
async fn cache_events_reach_the_installed_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(Duration::from_secs(3600)));
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    cache.token().await.expect("a token");
    for _ in 0..10 {
        cache.token().await.expect("cached: not a metric event");
    }
    source.fail_next([Error::rejected(
        "test",
        Some(401),
        Some("invalid_grant".into()),
        None,
    )]);
    clock.advance(Duration::from_secs(3601));
    cache.token().await.expect_err("rejected");
    cache.token().await.expect_err("remembered");

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        snapshot
            .iter()
            .filter(|(key, ..)| {
                let key = key.key();
                key.name() == name
                    && key
                        .labels()
                        .any(|l| l.key() == "vendor" && !l.value().is_empty())
                    && label
                        .is_none_or(|(k, v)| key.labels().any(|l| l.key() == k && l.value() == v))
            })
            .map(|(_, _, _, value)| value)
            .collect::<Vec<_>>()
    };
    let counter = |name: &str, label| match find(name, label).as_slice() {
        [DebugValue::Counter(n)] => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter(TOKEN_FETCHES, None), 2);
    assert_eq!(counter(TOKENS_FETCHED, None), 1);
    assert_eq!(counter(FETCH_FAILURES, Some(("kind", "rejected"))), 1);
    assert_eq!(counter(REJECTIONS_SERVED, None), 1);
    match find(FETCH_SECONDS, None).as_slice() {
        [DebugValue::Histogram(samples)] => assert_eq!(samples.len(), 2),
        other => panic!("{FETCH_SECONDS}: {other:?}"),
    }
}
