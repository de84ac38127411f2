//! Scrubbing: every secret of a request removed from whatever a server sends back, in every form
//! servers echo it in.
//!
//! A server may echo a secret raw, form-encoded (`+` for space, `%2B` or `%2b`), percent-encoded
//! in either case, JSON-escaped (`\"`, `\/`, `\u002B` or `\u002b`, surrogate pairs, as serde and
//! System.Text.Json write them), as HTML entities (named, decimal or hex, as ASP.NET error pages
//! write them), or as the Latin-1 bytes of its characters. Rather than listing every encoding of
//! every secret, the scrubber reads the body as a graph: at each byte, each way of reading one
//! character there (the raw UTF-8 character, a Latin-1 byte, `+` as a space, one escape) is an
//! edge. A secret is found wherever some path spells it, so a secret whose characters are each
//! encoded differently is found too.
//!
//! Under the scrubber, a structural rule ([`echoes`]): server text that still shows a run of
//! [`ECHO_RUN`] characters of a secret, read in any reversible form, is withheld whole
//! ([`WITHHELD`]) rather than shown.

mod echo;

use auth_core::secret::{REDACTED, Secret};

pub use echo::{ECHO_RUN, WITHHELD, echoes, unless_echoing};

/// Replaces every occurrence of each secret, in any of the forms above, with `[redacted]`.
///
/// ```
/// use auth_core::Secret;
/// use auth_http::scrub::scrub;
///
/// let secrets = [Secret::new("p@ss w+rd&é")];
/// for echoed in [
///     "p@ss w+rd&é",                    // raw
///     "p%40ss+w%2Brd%26%C3%A9",         // form-encoded
///     "p%40ss%20w%2brd%26%c3%a9",       // percent-encoded, lower case
///     "p@ss w\\u002Brd\\u0026\\u00e9", // System.Text.Json
///     "p&#64;ss w&#x2B;rd&amp;&eacute;", // HTML entities
/// ] {
///     assert_eq!(scrub(&format!("<{echoed}>"), &secrets), "<[redacted]>", "{echoed}");
/// }
/// ```
#[must_use]
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    scrub_bytes(text.as_bytes(), secrets)
}

/// [`scrub`] on raw bytes (a response body in any encoding), returning text with invalid UTF-8
/// replaced. Scrubbing happens before decoding, so a secret echoed in Latin-1 is found.
#[must_use]
pub fn scrub_bytes(body: &[u8], secrets: &[Secret]) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for secret in secrets {
        let wanted: Vec<char> = secret.expose_secret().chars().collect();
        if wanted.is_empty() {
            continue;
        }
        find_all(body, &wanted, &mut spans);
    }
    if spans.is_empty() {
        return String::from_utf8_lossy(body).into_owned();
    }
    spans.sort_unstable();
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        if start >= at {
            out.extend_from_slice(&body[at..start]);
            out.extend_from_slice(REDACTED.as_bytes());
        }
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Every span of `body` that reads as `wanted`, the longest from each start.
fn find_all(body: &[u8], wanted: &[char], spans: &mut Vec<(usize, usize)>) {
    let mut edges = Vec::with_capacity(4);
    let mut current: Vec<usize> = Vec::with_capacity(4);
    let mut next: Vec<usize> = Vec::with_capacity(4);
    for start in 0..body.len() {
        current.clear();
        current.push(start);
        for &c in wanted {
            next.clear();
            for &at in &current {
                edges.clear();
                readings(body, at, &mut edges);
                for &(ch, len) in &edges {
                    if ch == c && !next.contains(&(at + len)) {
                        next.push(at + len);
                    }
                }
            }
            std::mem::swap(&mut current, &mut next);
            if current.is_empty() {
                break;
            }
        }
        if let Some(&end) = current.iter().max() {
            spans.push((start, end));
        }
    }
}

/// Each way to read one character at `at`: the character and how many bytes it takes.
fn readings(body: &[u8], at: usize, out: &mut Vec<(char, usize)>) {
    let rest = &body[at..];
    let Some(&first) = rest.first() else {
        return;
    };
    if let Some(c) = utf8_char(rest) {
        out.push(c);
    }
    match first {
        0x80..=0xFF => out.push((char::from(first), 1)),
        b'+' => out.push((' ', 1)),
        b'%' => percent(rest, out),
        b'\\' => json_escape(rest, out),
        b'&' => html_entity(rest, out),
        _ => {}
    }
}

fn utf8_char(bytes: &[u8]) -> Option<(char, usize)> {
    let len = match bytes.first()? {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let s = std::str::from_utf8(bytes.get(..len)?).ok()?;
    s.chars().next().map(|c| (c, len))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// `%HH` as a byte (an ASCII or Latin-1 character), and up to four `%HH` as one UTF-8 character.
fn percent(rest: &[u8], out: &mut Vec<(char, usize)>) {
    let byte_at = |i: usize| -> Option<u8> {
        let chunk = rest.get(i * 3..i * 3 + 3)?;
        (chunk[0] == b'%').then_some(())?;
        Some(hex(chunk[1])? << 4 | hex(chunk[2])?)
    };
    let Some(first) = byte_at(0) else {
        return;
    };
    out.push((char::from(first), 3));
    if first >= 0x80 {
        let mut bytes = vec![first];
        for i in 1..4 {
            match byte_at(i) {
                Some(b) => bytes.push(b),
                None => break,
            }
            if let Some((c, len)) = utf8_char(&bytes).filter(|&(_, len)| len == bytes.len()) {
                out.push((c, len * 3));
                break;
            }
        }
    }
}

/// `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and `\uXXXX` (surrogate pairs joined).
fn json_escape(rest: &[u8], out: &mut Vec<(char, usize)>) {
    let simple = match rest.get(1) {
        Some(b'"') => Some('"'),
        Some(b'\\') => Some('\\'),
        Some(b'/') => Some('/'),
        Some(b'b') => Some('\u{8}'),
        Some(b'f') => Some('\u{c}'),
        Some(b'n') => Some('\n'),
        Some(b'r') => Some('\r'),
        Some(b't') => Some('\t'),
        _ => None,
    };
    if let Some(c) = simple {
        out.push((c, 2));
        return;
    }
    let unit = |from: usize| -> Option<u32> {
        let chunk = rest.get(from..from + 6)?;
        if &chunk[..2] != b"\\u" {
            return None;
        }
        chunk[2..]
            .iter()
            .try_fold(0u32, |acc, &b| Some(acc << 4 | u32::from(hex(b)?)))
    };
    let Some(high) = unit(0) else {
        return;
    };
    if let Some(c) = char::from_u32(high) {
        out.push((c, 6));
    } else if (0xD800..0xDC00).contains(&high) {
        if let Some(low) = unit(6).filter(|l| (0xDC00..0xE000).contains(l)) {
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            if let Some(c) = char::from_u32(code) {
                out.push((c, 12));
            }
        }
    }
}

/// `&#NNN;`, `&#xHH;` and the named entities for ASCII punctuation and Latin-1.
fn html_entity(rest: &[u8], out: &mut Vec<(char, usize)>) {
    let Some(semi) = rest.iter().take(12).position(|&b| b == b';') else {
        return;
    };
    let Ok(name) = std::str::from_utf8(&rest[1..semi]) else {
        return;
    };
    let code = if let Some(num) = name.strip_prefix('#') {
        match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        }
    } else {
        named_entity(name).map(u32::from)
    };
    if let Some(c) = code.and_then(char::from_u32) {
        out.push((c, semi + 1));
    }
}

fn named_entity(name: &str) -> Option<u8> {
    const ASCII: &[(&str, u8)] = &[
        ("quot", b'"'),
        ("QUOT", b'"'),
        ("amp", b'&'),
        ("AMP", b'&'),
        ("apos", b'\''),
        ("lt", b'<'),
        ("LT", b'<'),
        ("gt", b'>'),
        ("GT", b'>'),
        ("excl", b'!'),
        ("num", b'#'),
        ("dollar", b'$'),
        ("percnt", b'%'),
        ("lpar", b'('),
        ("rpar", b')'),
        ("ast", b'*'),
        ("plus", b'+'),
        ("comma", b','),
        ("period", b'.'),
        ("sol", b'/'),
        ("colon", b':'),
        ("semi", b';'),
        ("equals", b'='),
        ("quest", b'?'),
        ("commat", b'@'),
        ("lsqb", b'['),
        ("bsol", b'\\'),
        ("rsqb", b']'),
        ("Hat", b'^'),
        ("lowbar", b'_'),
        ("grave", b'`'),
        ("lcub", b'{'),
        ("verbar", b'|'),
        ("vert", b'|'),
        ("rcub", b'}'),
        ("tilde", b'~'),
    ];
    /// HTML's names for U+00A0 to U+00FF, in order.
    const LATIN1: [&str; 96] = [
        "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
        "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
        "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
        "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave",
        "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
        "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc",
        "Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring",
        "aelig", "ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc",
        "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash",
        "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
    ];
    ASCII
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| c)
        .or_else(|| {
            LATIN1
                .iter()
                .position(|n| *n == name)
                .and_then(|i| u8::try_from(0xA0 + i).ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(text: &str, secret: &str) -> String {
        scrub(text, &[Secret::new(secret)])
    }

    #[test]
    fn every_echo_encoding_is_found() {
        let secret = "a+b c&d<e>'f\"g/h\\i%j\u{e9}\u{1F600}";
        let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let serde = serde_json::to_string(secret).expect("json");
        let dotnet: String = secret
            .encode_utf16()
            .map(|u| match u {
                0x20..=0x7E if !b"+&<>'\"\\".contains(&(u as u8)) => {
                    char::from(u as u8).to_string()
                }
                _ => format!("\\u{u:04X}"),
            })
            .collect();
        let html: String = secret
            .chars()
            .map(|c| match c {
                '&' => "&amp;".into(),
                '<' => "&lt;".into(),
                '>' => "&gt;".into(),
                '"' => "&quot;".into(),
                '\'' => "&#39;".into(),
                c if !c.is_ascii() => format!("&#x{:x};", u32::from(c)),
                c => c.to_string(),
            })
            .collect();
        for echoed in [
            secret.to_owned(),
            form.clone(),
            form.to_lowercase(),
            form.replace('+', "%20"),
            serde.trim_matches('"').to_owned(),
            serde.trim_matches('"').replace('/', "\\/"),
            dotnet.clone(),
            dotnet.to_lowercase(),
            html,
        ] {
            let out = scrubbed(&format!("x {echoed} y"), secret);
            assert_eq!(out, "x [redacted] y", "{echoed}");
        }
    }

    #[test]
    fn latin1_bytes_are_found() {
        let body = b"pw=p\xe4ss end";
        let out = scrub_bytes(body, &[Secret::new("p\u{e4}ss")]);
        assert_eq!(out, "pw=[redacted] end");
    }

    #[test]
    fn overlapping_and_repeated_occurrences_are_all_removed() {
        let out = scrub("xaaaax aax", &[Secret::new("aa"), Secret::new("aaa")]);
        assert_eq!(out, "x[redacted]x [redacted]x");
        assert_eq!(scrubbed("", "x"), "");
        assert_eq!(scrub("keep", &[Secret::new("")]), "keep");
    }

    #[test]
    fn unrelated_escapes_are_kept() {
        assert_eq!(scrubbed("&amp; %41 \\u0041 +", "zz"), "&amp; %41 \\u0041 +");
        assert_eq!(
            scrubbed("&bogus; &#xZZ; %G1 \\uD800", "zz"),
            "&bogus; &#xZZ; %G1 \\uD800"
        );
    }
}
