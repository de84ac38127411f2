//! The value types of the kernel, through their public API: the token and its builder, secrets,
//! the clock's saturating arithmetic.

use std::time::{Duration, Instant};

use auth_core::clock::later;
use auth_core::token::{MAX_LIFETIME, jwt_claims_unverified};
use auth_core::{Secret, Token};

#[test]
fn jwt_payloads_are_read_in_either_base64_alphabet_padded_or_not() {
    // {"a":"~~~"} in base64url without padding, in standard base64 with it.
    for payload in ["eyJhIjoifn5-In0", "eyJhIjoifn5+In0="] {
        let claims = jwt_claims_unverified(&format!("h.{payload}.s")).expect("claims");
        assert_eq!(claims["a"], "~~~");
    }
    assert!(jwt_claims_unverified("h.a b.s").is_err());
    assert!(jwt_claims_unverified("h.eyJ9.s").is_err(), "not JSON");
}

#[test]
fn expiry_is_measured_from_the_send_time_and_never_overflows() {
    let sent = Instant::now();
    let t = Token::builder(Secret::new("x"))
        .lifetime(sent, Some(Duration::from_secs(60)))
        .build();
    assert_eq!(t.expires_at(), Some(sent + Duration::from_secs(60)));
    assert_eq!(t.lifetime(), Some(Duration::from_secs(60)));
    assert!(!t.is_expired_at(sent + Duration::from_secs(59)));
    assert!(t.is_expired_at(sent + Duration::from_secs(60)));

    let huge = Token::builder(Secret::new("x"))
        .lifetime(sent, Some(Duration::MAX))
        .build();
    assert_eq!(huge.lifetime(), Some(MAX_LIFETIME));

    let never = Token::builder(Secret::new("x"))
        .lifetime(sent, None)
        .build();
    assert_eq!(never.expires_at(), None);
    assert!(!never.is_expired_at(sent + MAX_LIFETIME));
}

#[test]
fn empty_refresh_token_and_scope_are_none() {
    let t = Token::builder(Secret::new("x"))
        .refresh_token(Some(Secret::new("")))
        .scope("")
        .build();
    assert!(t.refresh_token().is_none());
    assert!(t.scope().is_none());
}

#[test]
fn details_are_typed() {
    #[derive(Debug, PartialEq)]
    struct Session(&'static str);
    let t = Token::builder(Secret::new("x"))
        .details(Session("s-1"))
        .build();
    assert_eq!(t.details::<Session>(), Some(&Session("s-1")));
    assert_eq!(t.details::<String>(), None);
    assert!(format!("{t:?}").contains("Session"));
}

#[test]
fn bearer_header_is_sensitive_and_normalised() {
    let t = Token::builder(Secret::new("tok"))
        .token_type("bearer")
        .build();
    let v = t.authorization_value().expect("valid header");
    assert!(v.is_sensitive());
    assert_eq!(v.to_str().ok(), Some("Bearer tok"));
    let bad = Token::builder(Secret::new("a\nb")).build();
    assert!(bad.authorization_value().is_err());
}

#[test]
fn same_as_compares_issuance() {
    let a = Token::builder(Secret::new("one")).build();
    let b = a.clone();
    let c = Token::builder(Secret::new("two")).build();
    assert!(a.same_as(&b));
    assert!(!a.same_as(&c));
}

#[test]
fn debug_and_display_are_redacted() {
    let s = Secret::new("sentinel-value-42");
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(format!("{s:#?}"), "[redacted]");
    assert_eq!(format!("{s}"), "[redacted]");
    assert_eq!(s.expose_secret(), "sentinel-value-42");
}

#[test]
fn constant_time_comparison() {
    assert!(Secret::new("abc").ct_eq(&Secret::new("abc")));
    assert!(!Secret::new("abc").ct_eq(&Secret::new("abd")));
    assert!(!Secret::new("abc").ct_eq(&Secret::new("abcd")));
    assert!(Secret::default().is_empty());
}

#[test]
fn clones_are_independent() {
    let a = Secret::from(String::from("one"));
    let b = a.clone();
    drop(a);
    assert_eq!(b.expose_secret(), "one");
}

#[test]
fn later_saturates() {
    let now = Instant::now();
    assert_eq!(later(now, Duration::ZERO), now);
    assert_eq!(
        later(now, Duration::from_secs(5)),
        now + Duration::from_secs(5)
    );
    assert!(later(now, Duration::MAX) >= now + Duration::from_secs(365 * 24 * 3600));
}
