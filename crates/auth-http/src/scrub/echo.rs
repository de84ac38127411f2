//! The echo rule: server text reaches an error, a `Debug` print or a log line only if it shows no
//! run of [`ECHO_RUN`] characters of any secret (the whole secret if shorter) in any form we can
//! read it in. Scrubbing (the parent module) removes the echoes it recognises; this rule is the
//! net under it, structural rather than a list: the text is read as it is and as every reversible
//! form it may hold decodes (percent, `\xHH`, quoted-printable, HTML and JSON escapes, base64 and
//! hex at every alignment, CDATA sections rejoined; twice, for double encodings), each reading
//! with case folded and invisible characters (zero-width, soft hyphens, direction marks,
//! controls such as the NULs of UTF-16) left out; a secret in any of them withholds the text.

use std::collections::HashSet;

use auth_core::secret::Secret;

/// How many consecutive characters of a secret make an echo.
pub const ECHO_RUN: usize = 6;

/// What an error shows in place of server text that echoed a secret.
pub const WITHHELD: &str = "[withheld: the server's text echoed part of a credential]";

/// Readings of one text at most (decoding twice over multiplies them).
const MAX_READINGS: usize = 512;

/// Whether `text` shows a run of [`ECHO_RUN`] characters of one of `secrets` (the whole secret
/// if shorter), read as it is or decoded as described in the module docs.
///
/// ```
/// use auth_core::Secret;
/// use auth_http::scrub::echoes;
///
/// let secrets = [Secret::new("Tr0ub4dor&3x")];
/// assert!(echoes("bad password VHIwdWI0ZG9yJjN4", &secrets)); // base64
/// assert!(echoes("user tr\u{200b}0ub4dor was refused", &secrets)); // a part, case and a zero-width space
/// assert!(!echoes("invalid_grant: the password is wrong", &secrets));
/// ```
#[must_use]
pub fn echoes(text: &str, secrets: &[Secret]) -> bool {
    let mut runs: HashSet<Vec<char>> = HashSet::new();
    for secret in secrets {
        let folded = fold(secret.expose_secret());
        if folded.is_empty() {
            continue;
        }
        let n = folded.len().min(ECHO_RUN);
        runs.extend(folded.windows(n).map(<[char]>::to_vec));
    }
    if runs.is_empty() {
        return false;
    }
    let lengths: HashSet<usize> = runs.iter().map(Vec::len).collect();
    readings(text).iter().any(|reading| {
        let folded = fold(reading);
        lengths
            .iter()
            .any(|&n| folded.len() >= n && folded.windows(n).any(|w| runs.contains(w)))
    })
}

/// `text`, or [`WITHHELD`] if it [`echoes`] one of `secrets`.
#[must_use]
pub fn unless_echoing(text: String, secrets: &[Secret]) -> String {
    if echoes(&text, secrets) {
        WITHHELD.to_owned()
    } else {
        text
    }
}

/// `text` with case folded (upper then lower case, so that `ß` and `SS` meet) and invisible
/// characters left out.
fn fold(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| !invisible(c))
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Characters that show nothing (or only move others): controls, format characters, joiners,
/// variation selectors, soft hyphens, fillers.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            u32::from(c),
            0xAD | 0x34F
                | 0x61C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF9..=0xFFFB
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

/// The text as it is and as each decoder reads it, then each of those decoded once more.
fn readings(text: &str) -> Vec<String> {
    let mut all = vec![text.to_owned()];
    let mut seen: HashSet<String> = all.iter().cloned().collect();
    let mut frontier = all.clone();
    for _ in 0..2 {
        let mut next = Vec::new();
        for reading in &frontier {
            for decoded in decodings(reading) {
                if all.len() >= MAX_READINGS {
                    return all;
                }
                if seen.insert(decoded.clone()) {
                    all.push(decoded.clone());
                    next.push(decoded);
                }
            }
        }
        frontier = next;
    }
    all
}

/// Each single decoding of `text` that changes it.
fn decodings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let visible: String = text.chars().filter(|&c| !invisible(c)).collect();
    out.push(visible.split_whitespace().collect());
    out.push(text.replace("]]><![CDATA[", "").replace("<![CDATA[", ""));
    let unescaped = unescape(&visible);
    out.extend(charsets(&unescaped));
    for offset in 0..4 {
        out.extend(charsets(&runs_decoded(&visible, offset, &BASE64)));
    }
    for offset in 0..2 {
        out.extend(charsets(&runs_decoded(&visible, offset, &HEX)));
    }
    out.retain(|d| d != text && !d.is_empty());
    out
}

/// Bytes read as UTF-8 (invalid sequences replaced) and, if that lost any, as Latin-1.
fn charsets(bytes: &[u8]) -> Vec<String> {
    let utf8 = String::from_utf8_lossy(bytes).into_owned();
    if utf8.contains('\u{FFFD}') {
        vec![utf8, bytes.iter().map(|&b| char::from(b)).collect()]
    } else {
        vec![utf8]
    }
}

/// `text` as bytes, every escape it holds decoded: `%HH`, `\xHH`, `=HH` and soft line breaks,
/// `&#NN` and `&#xHH` (with or without `;`), named entities, `\uHHHH` and the one-letter
/// backslash escapes.
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex_at = |i: usize| -> Option<u8> {
        let h = |b: u8| char::from(b).to_digit(16);
        let (a, b) = (h(*bytes.get(i)?)?, h(*bytes.get(i + 1)?)?);
        u8::try_from(a * 16 + b).ok()
    };
    let push_char = |out: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        match rest[0] {
            b'%' | b'=' if hex_at(i + 1).is_some() => {
                out.extend(hex_at(i + 1));
                i += 3;
            }
            b'=' if rest.starts_with(b"=\r\n") => i += 3,
            b'=' if rest.starts_with(b"=\n") => i += 2,
            b'\\' if matches!(rest.get(1), Some(b'x' | b'X')) && hex_at(i + 2).is_some() => {
                out.extend(hex_at(i + 2));
                i += 4;
            }
            b'\\' if rest.get(1) == Some(&b'u') => {
                let code = std::str::from_utf8(rest.get(2..6).unwrap_or_default())
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                match code.and_then(char::from_u32) {
                    Some(c) => {
                        push_char(&mut out, c);
                        i += 6;
                    }
                    None => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
            b'\\' if rest.len() > 1 => {
                out.push(match rest[1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'0' => 0,
                    other => other,
                });
                i += 2;
            }
            b'&' => {
                let (c, len) = entity(rest).unwrap_or(('&', 1));
                push_char(&mut out, c);
                i += len;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// `&#NN`, `&#xHH` (the `;` optional, as lenient parsers read them) and the named entities.
fn entity(rest: &[u8]) -> Option<(char, usize)> {
    if rest.get(1) == Some(&b'#') {
        let hex = matches!(rest.get(2), Some(b'x' | b'X'));
        let start = if hex { 3 } else { 2 };
        let digits = rest[start..]
            .iter()
            .take(8)
            .take_while(|b| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        let text = std::str::from_utf8(&rest[start..start + digits]).ok()?;
        let code = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
        let end = start + digits + usize::from(rest.get(start + digits) == Some(&b';'));
        return char::from_u32(code).map(|c| (c, end));
    }
    let semi = rest.iter().take(12).position(|&b| b == b';')?;
    let name = std::str::from_utf8(&rest[1..semi]).ok()?;
    super::named_entity(name).map(|b| (char::from(b), semi + 1))
}

/// A form that encodes bytes as a run of characters: which bytes make a run, and how a run
/// (from some offset into it) decodes.
struct RunForm {
    in_run: fn(u8) -> bool,
    decode: fn(&[u8]) -> Option<Vec<u8>>,
}

const BASE64: RunForm = RunForm {
    in_run: |b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='),
    decode: base64_decode,
};

const HEX: RunForm = RunForm {
    in_run: |b| b.is_ascii_hexdigit(),
    decode: hex_decode,
};

/// `text` with each maximal run of `form` (of at least 8 characters past `offset`) replaced by
/// its first `offset` characters and what the rest decodes to.
fn runs_decoded(text: &str, offset: usize, form: &RunForm) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let len = bytes[i..].iter().take_while(|&&b| (form.in_run)(b)).count();
        if len == 0 {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let run = &bytes[i..i + len];
        match (len >= offset + 8)
            .then(|| (form.decode)(&run[offset..]))
            .flatten()
        {
            Some(decoded) => {
                out.extend_from_slice(&run[..offset]);
                out.extend(decoded);
            }
            None => out.extend_from_slice(run),
        }
        i += len;
    }
    out
}

/// Base64 in either alphabet, padded or not, in whole groups of four.
fn base64_decode(run: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: Vec<u8> = run
        .iter()
        .filter(|&&b| b != b'=')
        .map(|&b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    let whole = body.len() / 4 * 4;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&body[..whole])
        .ok()
}

/// Hex digits, in whole pairs.
fn hex_decode(run: &[u8]) -> Option<Vec<u8>> {
    let digit = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    run.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}
