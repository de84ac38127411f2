//! The error type: its size and traits, its source chain, its messages and its
//! classification.

use std::error::Error as _;
use std::time::Duration;

use auth_core::error::ConfigProblem;
use auth_core::{Error, Token};

#[test]
fn error_is_small_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Error>();
    assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    assert!(std::mem::size_of::<auth_core::Result<Token>>() <= 2 * std::mem::size_of::<usize>());
}

#[test]
fn source_chain_is_kept() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let err = Error::transport("x").with_source(io);
    assert_eq!(err.to_string(), "could not reach x");
    let source = err.source().expect("source kept");
    assert_eq!(source.to_string(), "refused");
    let cloned = err.clone();
    assert!(cloned.source().is_some());
}

#[test]
fn display_is_lower_case_and_one_layer() {
    let cases = [
        (Error::timeout("v"), "request to v timed out"),
        (
            Error::throttled("v", Some(Duration::from_secs(7))),
            "v is throttling requests (retry after 7 s)",
        ),
        (
            Error::config("v", "V_URL", ConfigProblem::Missing),
            "invalid v configuration: V_URL is not set",
        ),
        (
            Error::malformed("v", "no access token", Some("text/html")),
            "malformed response from v: no access token (content type \"text/html\")",
        ),
    ];
    for (error, text) in cases {
        let shown = error.to_string();
        assert_eq!(shown, text);
        assert!(shown.starts_with(|c: char| c.is_lowercase()));
    }
}

#[test]
fn retryable_classification() {
    let status = |s: u16, code: Option<&str>| {
        Error::unexpected_status("v", s, code.map(str::to_owned), None, String::new())
    };
    for s in [408, 429, 500, 502, 503, 504] {
        assert!(status(s, None).is_retryable(), "{s}");
    }
    for s in [400, 401, 403, 404, 501] {
        assert!(!status(s, None).is_retryable(), "{s}");
    }
    assert!(status(400, Some("temporarily_unavailable")).is_retryable());
    assert!(status(400, Some("SERVER_ERROR")).is_retryable());
    let rejected = Error::rejected("v", Some(400), None, None);
    assert!(!rejected.is_retryable());
    assert!(rejected.is_rejected());
    assert!(Error::transport("v").is_retryable());
}

#[test]
fn hint_and_vendor_rewrite() {
    let err = Error::timeout("core")
        .with_hint("check the base URL")
        .for_vendor("acme");
    assert_eq!(err.vendor(), Some("acme"));
    assert_eq!(err.hint(), Some("check the base URL"));
    assert_eq!(
        err.to_string(),
        "request to acme timed out; hint: check the base URL"
    );
}
