//! [`Secret`]: the one type for passwords, client secrets, keys and tokens.

use std::fmt;

use zeroize::Zeroize;

/// A secret string: a password, client secret, consumer key, access token or refresh token.
///
/// - `Debug` and `Display` print `[redacted]`, so a secret never reaches a log line or an error
///   message by accident.
/// - The storage is overwritten with zeros when the value is dropped.
/// - There is deliberately no `PartialEq`: comparing secrets with `==` is how timing side
///   channels are written. Use [`Secret::ct_eq`] when a comparison is really needed.
/// - The value is read only through [`Secret::expose_secret`], which makes every use greppable.
///
/// ```
/// use auth_core::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(format!("{password:?}"), "[redacted]");
/// assert_eq!(password.to_string(), "[redacted]");
/// assert_eq!(password.expose_secret(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret(String);

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    /// Wraps a value. A `String` is moved, not copied, so no unzeroized copy is left behind.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value.
    ///
    /// # Security
    /// The returned `&str` is the real secret. Do not log it, format it into an error, put it in
    /// a URL, or copy it into a `String` that outlives the request that needs it (copies are not
    /// zeroized). Pass it straight to the place that must see it: a request body or header.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (the value itself is not revealed).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares two secrets in time that depends only on their lengths, not on where they differ.
    #[must_use]
    pub fn ct_eq(&self, other: &Secret) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}
