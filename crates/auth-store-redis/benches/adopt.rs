//! What a cache miss costs when the token is already in a shared store: a new cache (a process
//! that just started, say) calls `token()` once and adopts the stored token, beside a miss with
//! no store whose source answers at once. The difference is the store's price: a read, a
//! decode, and for Redis a loopback round trip.
//!
//! `cargo bench -p auth-store-redis --bench adopt` (starts its own `redis-server`).

use std::sync::Arc;
use std::time::Duration;

use auth_core::store::{StoreKey, TokenStore};

use auth_core::{CacheOptions, TokenCache};
use auth_store::FileStore;
use auth_store_redis::{RedisServer, RedisStore, SealingKey};
use auth_testkit::{ManualClock, ScriptedSource};
use criterion::{Criterion, criterion_group, criterion_main};

fn source(clock: &ManualClock, shared: bool) -> ScriptedSource {
    let source = ScriptedSource::new(
        Arc::new(clock.clone()),
        Some(Duration::from_secs(24 * 3600)),
    );
    if shared {
        source.share_as(StoreKey::new(
            "bench",
            "https://auth.example.com",
            "client=bench",
        ));
    }
    source
}

/// One miss: a new cache around `source`, one `token()`.
fn miss(
    rt: &tokio::runtime::Runtime,
    source: &ScriptedSource,
    clock: &ManualClock,
    store: Option<Arc<dyn TokenStore>>,
) {
    let mut options = CacheOptions::default();
    if let Some(store) = store {
        options = options.store_arc(store);
    }
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .options(options)
        .build();
    std::hint::black_box(rt.block_on(cache.token()).expect("token"));
}

fn adopt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock = ManualClock::new();
    let dir = std::env::temp_dir().join(format!("adopt-bench-{}", std::process::id()));
    let file: Arc<dyn TokenStore> = Arc::new(FileStore::open(&dir).expect("file store"));
    let server = RedisServer::start().expect("the bench needs redis-server");
    let redis: Arc<dyn TokenStore> = Arc::new(
        RedisStore::builder(server.url())
            .sealing_key(SealingKey::from_bytes(&[7; 32]).expect("key"))
            .build()
            .expect("redis store"),
    );
    let plain = source(&clock, false);
    let shared = source(&clock, true);
    // The token every later miss adopts.
    for store in [&file, &redis] {
        miss(&rt, &shared, &clock, Some(store.clone()));
    }

    let mut g = c.benchmark_group("adopt");
    g.bench_function("miss_fetch_no_store", |b| {
        b.iter(|| miss(&rt, &plain, &clock, None))
    });
    g.bench_function("miss_adopt_file", |b| {
        b.iter(|| miss(&rt, &shared, &clock, Some(file.clone())))
    });
    g.bench_function("miss_adopt_redis", |b| {
        b.iter(|| miss(&rt, &shared, &clock, Some(redis.clone())))
    });
    g.finish();
    assert_eq!(
        shared.calls(),
        2,
        "one fetch per store; every later miss adopted"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = adopt
}
criterion_main!(benches);
