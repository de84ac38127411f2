//! The cached-token hot path beside its baseline, measured in the same run.
//!
//! `cargo bench -p auth-core --bench hot_path`
//!
//! - `baseline/arc_clone_and_clock`: an `Arc` clone plus a monotonic clock read, the least a
//!   cache that checks expiry can do.
//! - `baseline/rwlock_arc`: the same behind a plain `RwLock<Arc<..>>`.
//! - `token_cache/fresh`: `TokenCache::fresh()`, the synchronous fast path.
//! - `token_cache/token_polled`: `TokenCache::token()` polled once with a no-op waker (no
//!   executor in the figure).
//! - `token_cache/token_polled_scripted` and `token_polled_with_store`: the same for caches
//!   around one kind of scripted source, without and with a shared store (the store is
//!   consulted only where the cache would fetch, so the two should not differ).
//! - `two_threads/*`: the same with a second thread calling at once; the figure is the
//!   measuring thread's time per call.

use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Barrier, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use auth_core::{Secret, Token, TokenCache};

use auth_core::source::StaticToken;
use criterion::{Criterion, criterion_group, criterion_main};

fn cache() -> TokenCache {
    let token = Token::builder(Secret::new("bench-token"))
        .lifetime(Instant::now(), Some(Duration::from_secs(24 * 3600)))
        .build();
    let cache = TokenCache::new(StaticToken::from_token("bench", token));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(cache.token()).expect("first fetch");
    cache
}

/// A source whose tokens live a day and are shared under one key: the two caches built on it
/// differ only by the store.
#[derive(Debug)]
struct Shared;

#[auth_core::async_trait]
impl auth_core::TokenSource for Shared {
    fn vendor(&self) -> &'static str {
        "bench"
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, auth_core::Error> {
        Ok(Token::builder(Secret::new("bench-token"))
            .lifetime(Instant::now(), Some(Duration::from_secs(24 * 3600)))
            .build())
    }

    fn store_key(&self) -> Option<auth_core::store::StoreKey> {
        Some(auth_core::store::StoreKey::new(
            "bench",
            "https://auth.example.com",
            "client=bench",
        ))
    }
}

/// A cache around [`Shared`], sharing through a store or not, its token already fetched.
fn scripted_cache(with_store: bool) -> TokenCache {
    let mut options = auth_core::CacheOptions::default();
    if with_store {
        options = options.store(auth_core::store::MemoryStore::new());
    }
    let cache = TokenCache::builder(Shared).options(options).build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(cache.token()).expect("first fetch");
    cache
}

fn poll_token(cache: &TokenCache) -> Token {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = std::pin::pin!(cache.token());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(token)) => token,
        _ => unreachable!("a fresh token is ready at the first poll"),
    }
}

/// Runs `op` `iters` times on this thread while a second thread runs it as often, and returns
/// this thread's elapsed time.
fn contended<T: Sync>(shared: &T, iters: u64, op: fn(&T)) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            for _ in 0..iters {
                op(shared);
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            op(shared);
        }
        start.elapsed()
    })
}

fn baseline_op(arc: &Arc<String>) {
    black_box(Instant::now());
    black_box(Arc::clone(arc));
}

fn rwlock_op(lock: &RwLock<Arc<String>>) {
    black_box(Instant::now());
    let guard = lock
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    black_box(Arc::clone(&guard));
}

fn fresh_op(cache: &TokenCache) {
    black_box(cache.fresh());
}

fn token_op(cache: &TokenCache) {
    black_box(poll_token(cache));
}

fn hot_path(c: &mut Criterion) {
    let arc = Arc::new(String::from("bench-token"));
    let lock = RwLock::new(arc.clone());
    let cache = cache();
    let scripted = scripted_cache(false);
    let stored = scripted_cache(true);

    let mut g = c.benchmark_group("one_thread");
    g.bench_function("baseline_arc_clone_and_clock", |b| {
        b.iter(|| baseline_op(&arc))
    });
    g.bench_function("baseline_rwlock_arc", |b| b.iter(|| rwlock_op(&lock)));
    g.bench_function("token_cache_fresh", |b| b.iter(|| fresh_op(&cache)));
    g.bench_function("token_cache_token_polled", |b| b.iter(|| token_op(&cache)));
    g.bench_function("token_cache_token_polled_scripted", |b| {
        b.iter(|| token_op(&scripted))
    });
    g.bench_function("token_cache_token_polled_with_store", |b| {
        b.iter(|| token_op(&stored))
    });
    g.finish();

    let mut g = c.benchmark_group("two_threads");
    g.bench_function("baseline_arc_clone_and_clock", |b| {
        b.iter_custom(|iters| contended(&arc, iters, baseline_op))
    });
    g.bench_function("baseline_rwlock_arc", |b| {
        b.iter_custom(|iters| contended(&lock, iters, rwlock_op))
    });
    g.bench_function("token_cache_fresh", |b| {
        b.iter_custom(|iters| contended(&cache, iters, fresh_op))
    });
    g.bench_function("token_cache_token_polled", |b| {
        b.iter_custom(|iters| contended(&cache, iters, token_op))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = hot_path
}
criterion_main!(benches);
