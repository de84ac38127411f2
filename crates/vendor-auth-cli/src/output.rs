//! What goes to the terminal besides results: every line made printable, RFC 3339 times and the
//! spinner.

use std::borrow::Cow;
use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether `c` can move the cursor, reorder text or hide it on a terminal: control characters
/// (C0, DEL, C1), bidirectional embeddings, overrides, isolates and marks, line and paragraph
/// separators, zero-width and other invisible format characters.
fn hides(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `text` as it can be shown on a terminal: each character that could reorder or hide text is
/// written as `\uXXXX` (which inside a JSON string still means that character), the rest as it
/// is.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hides) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hides(c) {
            out.push_str(&format!("\\u{:04X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `time` as RFC 3339 in UTC, to the second (`2026-11-23T08:00:00Z`).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The calendar date of `days` since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A spinner on stderr while something takes more than a second, only when stderr is a
/// terminal; it is cleared when dropped.
#[derive(Debug)]
pub(crate) struct Spinner(Option<tokio::task::JoinHandle<()>>);

impl Spinner {
    /// Starts waiting to spin with `message`.
    pub(crate) fn start(message: &'static str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        Self(Some(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for frame in ['|', '/', '-', '\\'].into_iter().cycle() {
                let _ = write!(std::io::stderr(), "\r{frame} {message}");
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        })))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            // Clears the line whether or not a frame was drawn.
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_that_reorders_or_hides_text_is_escaped() {
        for c in [
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{061C}', '\u{2028}',
            '\u{2029}', '\u{200B}', '\u{FEFF}', '\u{00AD}', '\u{1B}', '\u{7}', '\r', '\n',
            '\u{85}', '\u{9B}',
        ] {
            let shown = printable(&format!("ok{c}ko")).into_owned();
            assert!(!shown.contains(c), "{c:?} passed: {shown:?}");
            assert!(
                shown.starts_with("ok\\u") && shown.ends_with("ko"),
                "{shown}"
            );
            assert_eq!(shown.len(), "ok".len() + 6 + "ko".len(), "{shown}");
        }
        assert_eq!(printable("Bearer eyJ.é-ü_漢"), "Bearer eyJ.é-ü_漢");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        // Inside JSON, the escape still means the character it stands for.
        let json = serde_json::json!({ "d": "a\u{202E}b\u{7F}" }).to_string();
        let shown = printable(&json);
        let back: serde_json::Value = serde_json::from_str(&shown).expect("still JSON");
        assert_eq!(back["d"], "a\u{202E}b\u{7F}");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_425_296), "2026-11-23T09:14:56Z");
        assert_eq!(at(2_147_483_647), "2038-01-19T03:14:07Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
