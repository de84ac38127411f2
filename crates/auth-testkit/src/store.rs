//! [`check_lease_contract`]: the lease rules every [`TokenStore`] must keep, run against two
//! handles on one store (two processes, as far as the store can tell).

use std::time::Duration;

use auth_core::Secret;
use auth_core::store::{Lease, StoreKey, TokenStore};

/// Runs the lease contract on `a` and `b`, two handles on the same store, and returns the two
/// leases it took (released, then held by `b`) for a store's own further checks:
///
/// - a lease is exclusive: while `a` holds it, neither `b` nor another owner gets it;
/// - its holder can renew it and publish under it, until it releases it;
/// - the next lease has a greater fence, and the record carries the fence it was published with;
/// - both handles make the same verifier of a secret, another of another secret or another key,
///   and a verifier does not show its secret.
///
/// # Panics
/// When the store breaks a rule (this is a test helper).
pub async fn check_lease_contract(
    a: &dyn TokenStore,
    b: &dyn TokenStore,
    key: &StoreKey,
) -> (Lease, Lease) {
    const TTL: Duration = Duration::from_secs(10);
    let first = a
        .try_lease(key, "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(b.try_lease(key, "b", TTL).await.expect("lease").is_none());
    assert!(a.try_lease(key, "a2", TTL).await.expect("lease").is_none());
    assert!(a.renew(&first, TTL).await.expect("renew"));
    assert!(a.publish(&first, b"one").await.expect("publish"));
    a.release(&first).await.expect("release");
    assert!(!a.renew(&first, TTL).await.expect("renew"), "released");
    assert!(
        !a.publish(&first, b"late").await.expect("publish"),
        "released"
    );
    let second = b
        .try_lease(key, "b", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(second.fence > first.fence);
    let record = a.load(key).await.expect("load").expect("stored");
    assert_eq!(
        (record.fence, record.value.as_slice()),
        (first.fence, &b"one"[..])
    );
    let secret = Secret::new("correct horse battery staple");
    let verifier = a.verifier(key, &secret).await.expect("verifier");
    assert_eq!(verifier, b.verifier(key, &secret).await.expect("verifier"));
    assert!(!verifier.contains("horse") && !verifier.is_empty());
    let other = Secret::new("correct horse battery stapler");
    assert_ne!(verifier, a.verifier(key, &other).await.expect("verifier"));
    let elsewhere = key.clone().part("scope", "other");
    assert_ne!(
        verifier,
        b.verifier(&elsewhere, &secret).await.expect("verifier")
    );
    (first, second)
}
