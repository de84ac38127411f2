//! Refusals a cache must make visible or must not fight: refresh tokens the vendor refused
//! (counted, one warning per run), and a session-exclusive vendor rejecting a young token — the
//! sign of another client signing in with the same credential — which is not answered by signing
//! in again at once. Time is a manual clock.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{CacheOptions, TokenCache};
use auth_testkit::{LogRecorder, ManualClock, ScriptedSource};

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn refused_refreshes_are_counted_and_warned_once_per_run() {
    let recorder = LogRecorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let clock = ManualClock::new();
        let source = ScriptedSource::new(Arc::new(clock.clone()), Some(HOUR));
        let cache = TokenCache::builder(source.clone())
            .clock(Arc::new(clock.clone()))
            .build();
        let mut token = cache.token().await.expect("token");
        for round in 0..5 {
            // Rounds 0 to 2: the refresh is refused; 3: it works; 4: refused again.
            if round != 3 {
                source.refuse_refresh();
            }
            assert!(cache.invalidate(&token));
            clock.advance(Duration::from_secs(10));
            token = cache.token().await.expect("token");
        }
        let stats = cache.stats();
        assert_eq!(stats.refresh_fallbacks, 4);
        assert_eq!(stats.refresh_failures, 0);
    });
    let warnings = recorder
        .lines()
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains("refresh token refused"))
        .count();
    assert_eq!(
        warnings,
        2,
        "one per run of refusals: {:?}",
        recorder.lines()
    );
}

fn session_exclusive(clock: &ManualClock) -> (ScriptedSource, TokenCache) {
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(HOUR));
    source.set_session_exclusive(true);
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .options(CacheOptions::default().min_forced_refresh_interval(Duration::from_secs(5)))
        .build();
    (source, cache)
}

#[tokio::test]
async fn young_tokens_rejected_in_a_row_by_a_session_exclusive_vendor_are_not_replaced_at_once() {
    let clock = ManualClock::new();
    let (source, cache) = session_exclusive(&clock);
    let first = cache.token().await.expect("token");
    // Rejected one second after it was issued: the vendor closed the session (or another
    // client signed in once). The first time, the cache signs in again at once.
    clock.advance(Duration::from_secs(1));
    assert!(cache.invalidate(&first));
    let second = cache.token().await.expect("token");
    assert_eq!(source.calls(), 2);
    // Young again: another client keeps signing in. Signing in now would close its session in
    // turn; the token must first reach twice the young age (20 s, up to a fifth more).
    clock.advance(Duration::from_secs(6));
    assert!(!cache.invalidate(&second));
    clock.advance(Duration::from_secs(10));
    assert!(!cache.invalidate(&second), "still damped at 16 s");
    assert_eq!(source.calls(), 2);
    clock.advance(Duration::from_secs(9));
    assert!(cache.invalidate(&second), "old enough at 25 s");
    let third = cache.token().await.expect("token");
    assert_eq!(source.calls(), 3);
    // Rejected young again right after the damping: the run goes on, and the wait doubles
    // (40 s, up to a fifth more), rather than starting over at once.
    clock.advance(Duration::from_secs(6));
    assert!(!cache.invalidate(&third), "the third young one in the run");
    clock.advance(Duration::from_secs(30));
    assert!(!cache.invalidate(&third), "still damped at 36 s");
    assert_eq!(source.calls(), 3);
    // A token that lived long before its rejection, after a quiet spell, ends the run: the next
    // young one is replaced at once again.
    clock.advance(Duration::from_secs(600));
    assert!(cache.invalidate(&third));
    let fourth = cache.token().await.expect("token");
    clock.advance(Duration::from_secs(6));
    assert!(
        cache.invalidate(&fourth),
        "the first young one in a new run"
    );
    assert_eq!((cache.token().await.is_ok(), source.calls()), (true, 5));
}

#[tokio::test]
async fn other_vendors_replace_a_young_rejected_token_at_once() {
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(HOUR));
    let cache = TokenCache::builder(source.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    let token = cache.token().await.expect("token");
    clock.advance(Duration::from_secs(1));
    assert!(cache.invalidate(&token));
    cache.token().await.expect("token");
    assert_eq!(source.calls(), 2);
}
