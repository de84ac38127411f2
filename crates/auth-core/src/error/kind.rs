//! [`ErrorKind`]: what went wrong, and [`ConfigProblem`]: what is wrong with a setting; every text
//! either carries is bounded when an error is made.

use std::time::Duration;

/// What went wrong. Match on it through [`Error::kind`](super::Error::kind); new kinds, and new fields in a kind,
/// may be added, so match with `..` and build errors with the constructors on [`Error`](super::Error).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The vendor rejected the credentials or the grant (wrong password, unknown client, bad
    /// consumer key, used refresh token, unsupported grant). Not retried.
    #[non_exhaustive]
    Rejected {
        /// The HTTP status, if the rejection came over HTTP.
        status: Option<u16>,
        /// The vendor's error code (`invalid_grant`, `invalid_client`, ...).
        code: Option<String>,
        /// The vendor's description.
        description: Option<String>,
    },
    /// Authenticated, but not allowed: a missing scope or permission. Not retried.
    #[non_exhaustive]
    Forbidden {
        /// The HTTP status (usually 403).
        status: u16,
        /// The vendor's error code.
        code: Option<String>,
        /// The vendor's description.
        description: Option<String>,
    },
    /// The vendor asked us to slow down (HTTP 429).
    #[non_exhaustive]
    Throttled {
        /// How long the vendor asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// A status the request did not expect, with a short, scrubbed excerpt of the body.
    #[non_exhaustive]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
        /// The error code, if the body had one.
        code: Option<String>,
        /// The error description, if the body had one.
        description: Option<String>,
        /// The start of the body (at most a few hundred characters), credentials removed.
        excerpt: String,
    },
    /// The request could not be sent or the response not received (DNS, connect, TLS, reset).
    #[non_exhaustive]
    Transport,
    /// The request took longer than its timeout.
    #[non_exhaustive]
    Timeout,
    /// A response came but could not be understood.
    #[non_exhaustive]
    MalformedResponse {
        /// What was wrong with it.
        what: String,
        /// The `Content-Type` it came with.
        content_type: Option<String>,
    },
    /// The vendor answered for a different identity than the one requested.
    #[non_exhaustive]
    IdentityMismatch {
        /// The identity that was requested.
        expected: String,
        /// The identity the response names.
        actual: String,
    },
    /// A token that cannot be renewed (a static, personal token) was refused: it expired or was
    /// revoked.
    #[non_exhaustive]
    TokenRevoked {
        /// The vendor's description, if any.
        description: Option<String>,
    },
    /// The client is misconfigured: a missing or invalid setting.
    #[non_exhaustive]
    Configuration {
        /// The setting at fault (an environment variable, a builder method, a URL).
        setting: String,
        /// What is wrong with it.
        problem: ConfigProblem,
    },
}

/// The most characters an error keeps of any text it carries (a description, an excerpt, a
/// header value, an identity); longer texts are cut and end with `…`.
pub const MAX_TEXT_CHARS: usize = 256;

/// `text` cut to [`MAX_TEXT_CHARS`] characters, control characters replaced by spaces.
pub(crate) fn bound(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_TEXT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_TEXT_CHARS).is_some() {
        out.push('…');
    }
    out
}

impl ErrorKind {
    /// A configuration problem with `setting` ([`ErrorKind::Configuration`]), for
    /// [`Error::unattributed`](crate::error::Error::unattributed); a vendor's is made with
    /// [`Error::config`](crate::error::Error::config).
    #[must_use]
    pub fn config(setting: impl Into<String>, problem: ConfigProblem) -> Self {
        ErrorKind::Configuration {
            setting: setting.into(),
            problem,
        }
    }

    pub(super) fn bounded(self) -> Self {
        let b = |s: String| bound(&s);
        let ob = |s: Option<String>| s.map(b);
        match self {
            ErrorKind::Rejected {
                status,
                code,
                description,
            } => ErrorKind::Rejected {
                status,
                code: ob(code),
                description: ob(description),
            },
            ErrorKind::Forbidden {
                status,
                code,
                description,
            } => ErrorKind::Forbidden {
                status,
                code: ob(code),
                description: ob(description),
            },
            ErrorKind::UnexpectedStatus {
                status,
                code,
                description,
                excerpt,
            } => ErrorKind::UnexpectedStatus {
                status,
                code: ob(code),
                description: ob(description),
                excerpt: b(excerpt),
            },
            ErrorKind::MalformedResponse { what, content_type } => ErrorKind::MalformedResponse {
                what: b(what),
                content_type: ob(content_type),
            },
            ErrorKind::IdentityMismatch { expected, actual } => ErrorKind::IdentityMismatch {
                expected: b(expected),
                actual: b(actual),
            },
            ErrorKind::TokenRevoked { description } => ErrorKind::TokenRevoked {
                description: ob(description),
            },
            ErrorKind::Configuration { setting, problem } => ErrorKind::Configuration {
                setting: b(setting),
                problem: match problem {
                    ConfigProblem::Invalid(why) => ConfigProblem::Invalid(b(why)),
                    ConfigProblem::Conflict(why) => ConfigProblem::Conflict(b(why)),
                    other => other,
                },
            },
            other => other,
        }
    }
}

/// What is wrong with a setting; see [`ErrorKind::Configuration`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// It was not given.
    Missing,
    /// It was given but is not valid.
    Invalid(String),
    /// It uses plain `http://` to a host that is not loopback, which would expose credentials.
    InsecureUrl,
    /// It contradicts another setting.
    Conflict(String),
}
