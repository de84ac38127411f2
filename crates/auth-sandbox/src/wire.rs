//! Small helpers shared by the emulations: unsigned JWTs, lifetimes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An unsigned JWT (`alg: none`, signature `sandbox`) with `claims`.
pub(crate) fn jwt(claims: &serde_json::Value) -> String {
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(claims.to_string().as_bytes());
    format!("{header}.{payload}.sandbox")
}

/// `exp` for a token living `lifetime` (`None`: the "never expire" value 2147483647).
pub(crate) fn exp(lifetime: Option<Duration>) -> u64 {
    match lifetime {
        Some(l) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(l)
            .as_secs(),
        None => 2_147_483_647,
    }
}

/// When a token living `lifetime` expires (`None`: never).
pub(crate) fn expires(lifetime: Option<Duration>) -> Option<Instant> {
    lifetime.and_then(|l| Instant::now().checked_add(l))
}

/// Whether an expiry has passed.
pub(crate) fn expired(expires: Option<Instant>) -> bool {
    expires.is_some_and(|at| Instant::now() >= at)
}

fn base64url(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_without_padding() {
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xff, 0xef]), "_-8");
    }
}
