//! What a cache takes from a shared store: only what its own secret could have led to (the
//! verifier), and no more than a genuine record can claim (expiry, rejection memory). Caches
//! around different `ScriptedSource`s with the same key stand for processes configured with
//! different secrets for one credential. Time is a manual clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::clock::MAX_LIFETIME;
use auth_core::store::{MemoryStore, StoreKey, TokenStore};
use auth_core::{CacheOptions, Clock, Error, ErrorKind, Secret, TokenCache};
use auth_testkit::{ManualClock, ScriptedSource};
use base64::Engine as _;

const HOUR: Duration = Duration::from_secs(3600);

fn key() -> StoreKey {
    StoreKey::of("test", "https://auth.example.com/token").part("user", "alice")
}

struct Host {
    clock: ManualClock,
    store: MemoryStore,
}

impl Host {
    fn new() -> Self {
        let clock = ManualClock::new();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        Self { clock, store }
    }

    /// A source of the shared credential signing in with `secret`.
    fn source(&self, secret: &str) -> ScriptedSource {
        let source = ScriptedSource::new(Arc::new(self.clock.clone()), Some(HOUR));
        source.share_as(key());
        source.set_secret(Some(Secret::new(secret)));
        source
    }

    fn process(&self, source: &ScriptedSource) -> TokenCache {
        TokenCache::builder(source.clone())
            .clock(Arc::new(self.clock.clone()))
            .options(CacheOptions::default().store(self.store.clone()))
            .build()
    }

    /// Publishes `record` (the JSON of a stored record) as if another process had.
    async fn plant(&self, record: serde_json::Value) {
        let lease = self
            .store
            .try_lease(&key(), "forger", Duration::from_secs(10))
            .await
            .expect("lease")
            .expect("free");
        let bytes = serde_json::to_vec(&record).expect("json");
        assert!(self.store.publish(&lease, &bytes).await.expect("publish"));
        self.store.release(&lease).await.expect("release");
    }

    async fn verifier(&self, secret: &str) -> String {
        self.store
            .verifier(&key(), &Secret::new(secret))
            .await
            .expect("verifier")
    }

    fn unix_ms(&self, from_now: Duration) -> u64 {
        let at = self.clock.system_now() + from_now;
        u64::try_from(
            at.duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_millis(),
        )
        .expect("ms")
    }
}

fn rejected() -> Error {
    Error::rejected("test", Some(401), Some("invalid_grant".into()), None)
}

#[tokio::test]
async fn a_rejection_silences_only_processes_holding_the_same_secret() {
    let host = Host::new();
    let wrong = host.source("old-password");
    wrong.fail_next([rejected(), rejected()]);
    let right = host.source("new-password");

    let err = host.process(&wrong).token().await.expect_err("refused");
    assert!(matches!(err.kind(), ErrorKind::Rejected { .. }));
    // A replica with the right password is not refused on the word of the wrong one.
    host.process(&right)
        .token()
        .await
        .expect("the right password works");
    assert_eq!(right.calls(), 1);
    // Another replica with the same wrong password is (no request, within the memory).
    let again = host.process(&wrong);
    // The stored record is now the right replica's token: the wrong one does not adopt it, and
    // asks the vendor itself.
    assert!(again.token().await.is_err());
    assert_eq!(wrong.calls(), 2);
}

#[tokio::test]
async fn the_same_secret_shares_the_rejection_without_a_request() {
    let host = Host::new();
    let wrong = host.source("old-password");
    wrong.fail_next([rejected()]);
    host.process(&wrong).token().await.expect_err("refused");
    let err = host.process(&wrong).token().await.expect_err("remembered");
    assert!(matches!(err.kind(), ErrorKind::Rejected { .. }));
    assert_eq!(wrong.calls(), 1, "the rejection was shared");
}

#[tokio::test]
async fn a_token_is_adopted_only_by_a_process_whose_secret_obtained_it() {
    let host = Host::new();
    let right = host.source("password");
    let other = host.source("not-the-password");
    let token = host.process(&right).token().await.expect("token");
    // Same secret: adopted, no request.
    let twin = host.process(&right).token().await.expect("adopted");
    assert!(twin.same_as(&token));
    assert_eq!(right.calls(), 1);
    // Another secret: not adopted (it would hide a misconfigured replica); it asks itself.
    host.process(&other).token().await.expect("its own token");
    assert_eq!(other.calls(), 1);
}

#[tokio::test]
async fn a_stored_expiry_is_held_to_the_longest_lifetime() {
    let host = Host::new();
    let source = host.source("password");
    let years_90 = Duration::from_secs(90 * 365 * 24 * 3600);
    host.plant(serde_json::json!({
        "format": 1,
        "key": key().as_str(),
        "verifier": host.verifier("password").await,
        "access_token": "planted",
        "obtained_at_ms": host.unix_ms(Duration::ZERO),
        "expires_at_ms": host.unix_ms(years_90),
    }))
    .await;
    let token = host.process(&source).token().await.expect("token");
    let now = host.clock.now();
    assert!(token.expires_at().expect("expires") <= now + MAX_LIFETIME);
    let system = token.expires_at_system().expect("expires");
    assert!(system <= host.clock.system_now() + MAX_LIFETIME);
}

#[tokio::test]
async fn a_stored_expiry_is_held_to_the_tokens_own_exp() {
    let host = Host::new();
    let source = host.source("password");
    let exp = host.unix_ms(HOUR) / 1000;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{{\"sub\":\"alice\",\"exp\":{exp}}}"));
    let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.c2ln");
    host.plant(serde_json::json!({
        "format": 1,
        "key": key().as_str(),
        "verifier": host.verifier("password").await,
        "access_token": jwt,
        "obtained_at_ms": host.unix_ms(Duration::ZERO),
        "expires_at_ms": host.unix_ms(24 * HOUR),
    }))
    .await;
    let token = host.process(&source).token().await.expect("token");
    assert_eq!(source.calls(), 0, "adopted");
    let limit = UNIX_EPOCH + Duration::from_secs(exp);
    assert!(token.expires_at_system().expect("expires") <= limit);
    assert!(token.expires_at().expect("expires") <= host.clock.now() + HOUR);
}

#[tokio::test]
async fn a_stored_rejection_claiming_more_than_the_rejection_memory_is_not_obeyed() {
    let host = Host::new();
    let source = host.source("password");
    let year_2100 = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    let until = year_2100
        .duration_since(UNIX_EPOCH)
        .expect("ms")
        .as_millis();
    host.plant(serde_json::json!({
        "format": 1,
        "key": key().as_str(),
        "verifier": host.verifier("password").await,
        "rejected_until_ms": u64::try_from(until).expect("ms"),
        "status": 401,
        "code": "invalid_grant",
    }))
    .await;
    // A rejection no cache could have written is not obeyed: the vendor is asked.
    host.process(&source).token().await.expect("not obeyed");
    assert_eq!(source.calls(), 1);
}

#[tokio::test]
async fn a_record_without_the_verifier_is_not_adopted() {
    let host = Host::new();
    let source = host.source("password");
    host.plant(serde_json::json!({
        "format": 1,
        "key": key().as_str(),
        "access_token": "planted",
        "obtained_at_ms": host.unix_ms(Duration::ZERO),
        "expires_at_ms": host.unix_ms(HOUR),
    }))
    .await;
    let token = host.process(&source).token().await.expect("token");
    assert_ne!(token.access_token().expose_secret(), "planted");
    assert_eq!(source.calls(), 1);
}
