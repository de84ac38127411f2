//! Property tests: the scrubber against secrets in every echo encoding (whole or mixed per
//! character), the error-body reader against any bytes, and the cache across its whole
//! configuration space with random lifetimes, failures, invalidations and clock moves.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{CacheOptions, Clock, Error, Secret, TokenCache};
use auth_http::ErrorBody;
use auth_http::scrub::scrub_bytes;
use auth_testkit::{ManualClock, ScriptedSource};
use proptest::prelude::*;

/// One character encoded the ways servers echo it.
fn encode_char(c: char, how: u8) -> Vec<u8> {
    let mut utf8 = [0u8; 4];
    let bytes = c.encode_utf8(&mut utf8).as_bytes().to_vec();
    match how % 9 {
        0 => bytes,
        1 => form_urlencoded::byte_serialize(&bytes)
            .collect::<String>()
            .into_bytes(),
        2 => bytes
            .iter()
            .map(|b| format!("%{b:02x}"))
            .collect::<String>()
            .into_bytes(),
        3 => {
            let quoted = serde_json::to_string(&c.to_string()).unwrap_or_default();
            quoted.as_bytes()[1..quoted.len() - 1].to_vec()
        }
        4 => c
            .encode_utf16(&mut [0u16; 2])
            .iter()
            .map(|u| format!("\\u{u:04X}"))
            .collect::<String>()
            .into_bytes(),
        5 => c
            .encode_utf16(&mut [0u16; 2])
            .iter()
            .map(|u| format!("\\u{u:04x}"))
            .collect::<String>()
            .into_bytes(),
        6 => format!("&#{};", u32::from(c)).into_bytes(),
        7 => format!("&#x{:x};", u32::from(c)).into_bytes(),
        _ => match u8::try_from(u32::from(c)) {
            Ok(latin1) => vec![latin1],
            Err(_) => bytes,
        },
    }
}

fn secret_chars() -> impl Strategy<Value = String> {
    // A leading Q that "[redacted]" cannot supply, then characters every encoding changes.
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range('a', 'z'),
            proptest::sample::select(vec![
                ' ', '+', '&', '%', '<', '>', '\'', '"', '\\', '/', '=', '#', ';', 'é', 'ü', 'ß',
                '€', '😀', '\u{7}', '\n',
            ]),
        ],
        4..20,
    )
    .prop_map(|cs| format!("Q{}", cs.into_iter().collect::<String>()))
}

fn filler() -> impl Strategy<Value = String> {
    "[a-pR-Z0-9 ,.:{}\"=&%+\\\\<>-]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_secret_in_any_encoding_never_survives(
        secret in secret_chars(),
        how in proptest::collection::vec(any::<u8>(), 24),
        whole in any::<bool>(),
        before in filler(),
        after in filler(),
    ) {
        let mut body = before.clone().into_bytes();
        let mut encoded = Vec::new();
        for (i, c) in secret.chars().enumerate() {
            encoded.extend(encode_char(c, if whole { how[0] } else { how[i % how.len()] }));
        }
        body.extend(&encoded);
        body.extend(after.as_bytes());
        let out = scrub_bytes(&body, &[Secret::new(secret.clone())]);
        prop_assert!(!out.contains(&secret), "{out}");
        let encoded = String::from_utf8_lossy(&encoded).into_owned();
        prop_assert!(!out.contains(&encoded), "{out}");
        prop_assert!(out.contains("[redacted]"));

        let parsed = ErrorBody::parse(Some("application/json"), &body, &[Secret::new(secret.clone())]);
        let shown = format!("{parsed:?}");
        prop_assert!(!shown.contains(&secret));
    }

    #[test]
    fn error_bodies_of_any_bytes_never_panic_and_stay_short(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        content_type in proptest::option::of("[a-z/+;= -]{0,30}"),
        status in 100u16..600,
    ) {
        let parsed = ErrorBody::parse(content_type.as_deref(), &body, &[Secret::new("QQ")]);
        prop_assert!(parsed.excerpt.chars().count() <= 201);
        let resp = auth_http::HttpResponse::new(status, Default::default(), body, &auth_core::SystemClock);
        let err = resp.to_error("v");
        prop_assert!(err.to_string().chars().count() < 2_000);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Token,
    Advance(u64),
    Fail(u8),
    Invalidate,
    Lifetime(Option<u64>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Token),
        3 => prop_oneof![0u64..2_000, 0u64..100_000_000, Just(u64::MAX / 4)].prop_map(Op::Advance),
        2 => any::<u8>().prop_map(Op::Fail),
        1 => Just(Op::Invalidate),
        1 => proptest::option::of(prop_oneof![0u64..20_000, Just(u64::MAX / 2)]).prop_map(Op::Lifetime),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..100_000_000).prop_map(Duration::from_millis),
    ]
}

fn failure(n: u8) -> Error {
    match n % 6 {
        0 => Error::transport("test"),
        1 => Error::rejected("test", Some(401), None, None),
        2 => Error::throttled("test", Some(Duration::from_secs(u64::from(n)))),
        3 => Error::throttled("test", Some(Duration::MAX)),
        4 => Error::malformed("test", "x", None),
        _ => Error::unexpected_status("test", 500, None, None, ""),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_cache_never_panics_nor_hands_out_an_expired_token(
        settings in proptest::collection::vec(duration(), 9),
        lifetime in proptest::option::of(0u64..100_000),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let clock = ManualClock::new();
            let source = ScriptedSource::new(
                Arc::new(clock.clone()),
                lifetime.map(Duration::from_millis),
            );
            let cache = TokenCache::builder(source.clone())
                .clock(Arc::new(clock.clone()))
                .options(
                    CacheOptions::default()
                        .soft_window(settings[0])
                        .hard_window(settings[1])
                        .half_life_threshold(settings[2])
                        .rejection_ttl(settings[3])
                        .min_forced_refresh_interval(settings[4])
                        .refresh_retry_backoff(settings[5])
                        .failure_backoff(settings[6])
                        .max_failure_backoff(settings[7])
                        .fetch_deadline(settings[8].max(Duration::from_secs(1)))
                )
                .build();
            let mut last = None;
            for op in ops {
                match op {
                    Op::Token => {
                        if let Ok(token) = cache.token().await {
                            assert!(!token.is_expired_at(clock.now()), "expired token handed out");
                            last = Some(token);
                        }
                    }
                    Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                    Op::Fail(n) => source.fail_next([failure(n)]),
                    Op::Invalidate => {
                        if let Some(token) = &last {
                            let _ = cache.invalidate(token);
                        }
                    }
                    Op::Lifetime(ms) => source.set_lifetime(ms.map(Duration::from_millis)),
                }
                if let Some(token) = cache.fresh() {
                    assert!(!token.is_expired_at(clock.now()), "expired token on the fast path");
                }
            }
        });
    }
}
