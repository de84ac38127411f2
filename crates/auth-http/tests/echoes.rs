//! The echo rule as a property: a secret echoed by a server in any of many forms — more than the
//! scrubber decodes by name, and compositions of them — never reaches what an error shows
//! (`ErrorBody`'s fields, its `Debug`). Either the scrubber removes the echo or the rule withholds
//! the text. And text that shows no part of a secret is kept.

use auth_core::Secret;
use auth_http::ErrorBody;
use auth_http::scrub::{ECHO_RUN, WITHHELD, echoes};
use base64::Engine as _;
use proptest::prelude::*;

const ENCODERS: usize = 34;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fn between(secret: &str, sep: &str) -> String {
    let chars: Vec<String> = secret.chars().map(String::from).collect();
    chars.join(sep)
}

/// The secret as server `n` echoes it: raw bytes, since some forms are not UTF-8.
fn encode(secret: &str, n: usize, at: usize) -> Vec<u8> {
    let bytes = secret.as_bytes();
    let cut = at % secret.chars().count().max(1);
    let split = secret
        .char_indices()
        .nth(cut)
        .map_or(secret.len(), |(i, _)| i);
    let text = match n % ENCODERS {
        0 => secret.to_owned(),
        1 => secret.to_uppercase(),
        2 => secret.to_lowercase(),
        3 => secret
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        4 => b64(bytes),
        5 => b64url(bytes),
        6 => b64(format!("client-7:{secret}").as_bytes()),
        7 => b64(format!("{}{secret}", "x".repeat(at % 3)).as_bytes()),
        8 => hex(bytes),
        9 => hex(bytes).to_uppercase(),
        10 => bytes.iter().map(|b| format!("\\x{b:02x}")).collect(),
        11 => format!(
            "b'{}'",
            bytes
                .iter()
                .map(|&b| match b {
                    b'\'' => "\\'".to_owned(),
                    b'\\' => "\\\\".to_owned(),
                    0x20..=0x7e => char::from(b).to_string(),
                    _ => format!("\\x{b:02x}"),
                })
                .collect::<String>()
        ),
        12 => percent(bytes),
        13 => percent(percent(bytes).as_bytes()),
        14 => secret
            .chars()
            .map(|c| format!("&#{}", u32::from(c)))
            .collect(),
        15 => secret
            .chars()
            .map(|c| format!("&#{};", u32::from(c)))
            .collect(),
        16 => secret
            .chars()
            .map(|c| format!("&#x{:X}", u32::from(c)))
            .collect(),
        17 => {
            // Quoted-printable: everything but letters and digits as =HH, soft breaks every 8.
            let mut out = String::new();
            for (i, &b) in bytes.iter().enumerate() {
                if i > 0 && i % 8 == 0 {
                    out.push_str("=\r\n");
                }
                if b.is_ascii_alphanumeric() {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("={b:02X}"));
                }
            }
            out
        }
        18 => format!(
            "<![CDATA[{}]]><![CDATA[{}]]>",
            &secret[..split],
            &secret[split..]
        ),
        19 => between(secret, "\u{200b}"),
        20 => between(secret, "\u{ad}"),
        21 => between(secret, "\u{200d}"),
        22 => between(secret, "\u{feff}"),
        23 => secret
            .chars()
            .take(secret.chars().count().saturating_sub(4))
            .collect(),
        24 => secret.chars().skip(3).collect(),
        25 => return secret.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        26 => return secret.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        27 => secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04x}"))
            .collect(),
        28 => b64(percent(bytes).as_bytes()),
        29 => hex(b64(bytes).as_bytes()),
        30 => percent(b64(bytes).as_bytes()),
        31 => between(&secret.to_uppercase(), "\u{200b}"),
        32 => between(secret, " "),
        _ => b64(secret.to_uppercase().as_bytes()),
    };
    text.into_bytes()
}

fn secret() -> impl Strategy<Value = String> {
    // Letters, digits and punctuation that escapes change; long enough to hold a run.
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            2 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
            2 => proptest::sample::select(vec!['!', '@', '#', '$', '%', '^', '&', '*', '-', '_', '=', '+', '.', ':', '~', '<', '>', '\'', '"', '/', 'é', 'ß']),
        ],
        10..28,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn filler() -> impl Strategy<Value = String> {
    "[a-z ,.:]{0,30}"
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    proptest::sample::select(vec![
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("text/html"),
        Some("application/xml"),
    ])
}

/// What the test calls an echo, independently of the rule: a run of the secret's characters,
/// case aside, in plain sight.
fn shows_a_run(shown: &str, secret: &str) -> bool {
    let shown = shown.to_lowercase();
    let chars: Vec<char> = secret.to_lowercase().chars().collect();
    let n = chars.len().min(ECHO_RUN);
    chars
        .windows(n)
        .any(|w| shown.contains(&w.iter().collect::<String>()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn an_echo_in_any_form_never_reaches_an_error(
        secret in secret(),
        encoder in 0..ENCODERS,
        at in 0usize..64,
        before in filler(),
        after in filler(),
        ct in content_type(),
        shape in 0u8..3,
    ) {
        let echoed = encode(&secret, encoder, at);
        let mut inner = before.clone().into_bytes();
        inner.extend(&echoed);
        inner.extend(after.as_bytes());
        let body = match shape {
            0 => inner,
            1 => {
                let mut json = br#"{"error":"invalid_grant","error_description":"#.to_vec();
                json.extend(serde_json::to_string(&String::from_utf8_lossy(&inner)).unwrap_or_default().into_bytes());
                json.push(b'}');
                json
            }
            _ => {
                let mut html = b"<html><body><p>".to_vec();
                html.extend(&inner);
                html.extend(b"</p></body></html>");
                html
            }
        };
        let secrets = [Secret::new(secret.clone())];
        let parsed = ErrorBody::parse(ct, &body, &secrets);
        let shown = format!("{parsed:?}");
        prop_assert!(!shows_a_run(&shown, &secret), "encoder {encoder}: {shown}");
        let echoed = String::from_utf8_lossy(&echoed).into_owned();
        if echoed.chars().count() >= ECHO_RUN {
            prop_assert!(!shown.contains(&echoed), "encoder {encoder}: {shown}");
        }
        for field in [parsed.code.as_deref(), parsed.description.as_deref(), Some(parsed.excerpt.as_str())].into_iter().flatten() {
            prop_assert!(!echoes(field, &secrets), "encoder {encoder}: {field}");
        }
    }

    #[test]
    fn text_without_the_secret_is_kept(
        text in "[a-z ,.:]{1,60}",
    ) {
        // Digits only: no run of this secret can appear in letters and punctuation.
        let secrets = [Secret::new("8675309241")];
        let parsed = ErrorBody::parse(Some("text/plain"), text.as_bytes(), &secrets);
        prop_assert_ne!(parsed.excerpt.as_str(), WITHHELD);
        prop_assert!(!echoes(&text, &secrets));
    }
}

#[test]
fn every_encoder_is_caught_by_the_rule_itself() {
    let secret = "Tr0ub4dor&3x-é";
    let secrets = [Secret::new(secret)];
    for n in 0..ENCODERS {
        let echoed = String::from_utf8_lossy(&encode(secret, n, 5)).into_owned();
        assert!(
            echoes(&format!("refused: {echoed} (see logs)"), &secrets),
            "encoder {n}: {echoed}"
        );
    }
}

#[test]
fn a_withheld_field_says_so_and_keeps_no_trace() {
    let secrets = [Secret::new("Tr0ub4dor&3x")];
    let body = br#"{"error":"invalid_grant","error_description":"bad password VHIwdWI0ZG9yJjN4"}"#;
    let parsed = ErrorBody::parse(Some("application/json"), body, &secrets);
    assert_eq!(parsed.code.as_deref(), Some("invalid_grant"));
    assert_eq!(parsed.description.as_deref(), Some(WITHHELD));
}
