//! A pool's metrics stay bounded: a gauge of live tenants and a counter of evictions per pool,
//! no label per tenant unless the caller opts in; with the opt-in, each tenant's cache counters.
//! The recorder is global, so this file is its own test binary with one test.

use std::sync::Arc;
use std::time::Duration;

use auth_core::source::StaticToken;
use auth_core::{Secret, TokenCache};
use auth_http::HttpClient;
use auth_http::pool::{POOL_EVICTIONS, POOL_TENANTS, Pool, TENANT_CACHE};
use auth_testkit::ManualClock;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

fn pool(
    name: &'static str,
    clock: &ManualClock,
) -> auth_http::pool::PoolBuilder<String, TokenCache> {
    let http = HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("http");
    Pool::builder(|tenant: &String, shared| {
        let source = StaticToken::new("example", Secret::new(format!("t-{tenant}")), None);
        Ok(TokenCache::builder(source)
            .options(shared.cache_options())
            .build())
    })
    .http_client(http)
    .name(name)
    .idle_timeout(None)
}

#[tokio::test]
async fn pool_metrics_are_per_pool_and_per_tenant_only_on_request() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");
    let clock = ManualClock::new();

    let plain = pool("plain", &clock).max_tenants(2).build().expect("pool");
    for tenant in ["a", "b", "c"] {
        plain.token(&tenant.to_owned()).await.expect("token");
    }
    let labelled = pool("labelled", &clock)
        .tenant_metrics(|tenant: &String| format!("tenant-{tenant}"))
        .build()
        .expect("pool");
    for tenant in ["x", "y"] {
        labelled.token(&tenant.to_owned()).await.expect("token");
    }
    // The opted-in pool's sweep sets the tenants' gauges.
    clock.advance(Duration::from_secs(16));
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }

    let snapshot = snapshotter.snapshot().into_vec();
    let label = |key: &metrics::Key, name: &str| {
        key.labels()
            .find(|l| l.key() == name)
            .map(|l| l.value().to_owned())
    };
    let value = |name: &str, labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                let key = key.key();
                key.name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| label(key, k).as_deref() == Some(*v))
            })
            .map(|(.., value)| value)
    };
    assert_eq!(
        value(POOL_TENANTS, &[("pool", "plain")]),
        Some(&DebugValue::Gauge(2.0.into()))
    );
    assert!(
        matches!(
            value(POOL_EVICTIONS, &[("pool", "plain"), ("reason", "capacity")]),
            Some(DebugValue::Counter(n)) if *n >= 1
        ),
        "{snapshot:?}"
    );
    // Only the opted-in pool's tenant gauges carry a tenant, and only those.
    for (key, ..) in &snapshot {
        if label(key.key(), "tenant").is_some() {
            assert_eq!(key.key().name(), TENANT_CACHE, "{key:?}");
            assert_eq!(label(key.key(), "pool").as_deref(), Some("labelled"));
        }
    }
    for tenant in ["tenant-x", "tenant-y"] {
        assert_eq!(
            value(
                TENANT_CACHE,
                &[
                    ("pool", "labelled"),
                    ("tenant", tenant),
                    ("counter", "fetches")
                ]
            ),
            Some(&DebugValue::Gauge(1.0.into())),
            "{snapshot:?}"
        );
    }
}
