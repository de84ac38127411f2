//! Property tests of every vendor's token-response parser: whatever a successful response looks
//! like (valid, truncated, corrupted, any bytes), parsing never panics, never quotes the token
//! in an error, and never yields a token that cannot be sent.

use std::time::Duration;

use auth_core::{Error, Secret, Token};

use auth_http::HttpResponse;
use proptest::prelude::*;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

fn response(body: &[u8], content_type: &str) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, ct);
    }
    HttpResponse::new(200, headers, body.to_vec(), &auth_core::SystemClock)
}

fn templates(token: &str) -> Vec<(String, &'static str)> {
    vec![
        (
            format!(
                r#"{{"AccessToken":"{token}","RefreshToken":"{token}-r","ExpiresInSeconds":86400,"TokenType":"Bearer"}}"#
            ),
            "application/json",
        ),
        (
            format!(
                r#"<?xml version="1.0"?><TokenResponse xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><AccessToken>{token}</AccessToken><RefreshToken>{token}-r</RefreshToken><ExpiresInSeconds>3600</ExpiresInSeconds></TokenResponse>"#
            ),
            "application/xml",
        ),
        (
            format!(
                r#"{{"access_token":"{token}","token_type":"bearer","expires_in":3600,"refresh_token":"{token}-r","userName":"-->r_1001","userType":"rep",".issued":"Mon, 01 Jan 2024 00:00:00 GMT",".expires":"Tue, 02 Jan 2024 00:00:00 GMT"}}"#
            ),
            "application/json",
        ),
    ]
}

fn parse_all(resp: &HttpResponse) -> Vec<Result<Token, Error>> {
    let rep = bydesign_auth::Credentials::rep("1001", Secret::new("pw"));
    vec![
        p21_auth::wire::parse_token_response(resp),
        personify_auth::wire::parse_token_response(resp),
        apinizer_auth::wire::parse_token_response(resp),
        bydesign_auth::wire::parse_token_response(resp, &rep),
    ]
}

fn check(results: Vec<Result<Token, Error>>, token: &str) -> Result<(), TestCaseError> {
    for result in results {
        match result {
            Ok(t) => {
                prop_assert!(
                    t.authorization_value().is_ok(),
                    "an unsendable token was parsed"
                );
                prop_assert!(t.lifetime().is_none_or(|l| l > Duration::ZERO));
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(token), "the token was quoted: {shown}");
                prop_assert!(shown.len() < 4_000);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_success_responses_never_leak_the_token(
        suffix in "[A-Za-z0-9._-]{6,40}",
        which in 0usize..3,
        cut in any::<prop::sample::Index>(),
        insert in any::<prop::sample::Index>(),
        junk in "[<>&;\"{}\\[\\]:,=/\\\\\r\n\u{0}é ]{0,4}",
        truncate in any::<bool>(),
    ) {
        let token = format!("QTOK{suffix}");
        let (body, content_type) = templates(&token).swap_remove(which);
        let mut body = body.into_bytes();
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        let at = insert.index(body.len() + 1);
        body.splice(at..at, junk.bytes());
        check(parse_all(&response(&body, content_type)), &token)?;
    }

    #[test]
    fn any_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        content_type in "[a-z/+;=-]{0,24}",
    ) {
        let _ = parse_all(&response(&body, &content_type));
    }

    #[test]
    fn tokens_with_bytes_a_header_cannot_carry_are_refused(
        prefix in "[A-Za-z0-9]{1,10}",
        bad in "[\r\n\u{0}\u{7f}\t \u{1b}]{1,3}",
        rest in "[A-Za-z0-9]{1,10}",
    ) {
        let token = format!("{prefix}{bad}{rest}");
        let escaped = serde_json::to_string(&token).unwrap_or_default();
        let bodies = [
            format!(r#"{{"AccessToken":{escaped},"access_token":{escaped},"userName":"-->r_1001","userType":"rep"}}"#),
        ];
        for body in bodies {
            for result in parse_all(&response(body.as_bytes(), "application/json")) {
                let err = result.expect_err("refused");
                prop_assert!(matches!(err.kind(), auth_core::ErrorKind::MalformedResponse { .. }), "{err:?}");
                prop_assert!(["p21", "personify", "apinizer", "bydesign"].contains(&err.vendor().unwrap_or_default()));
            }
        }
    }
}
