//! [`Error`]: the one error type of every crate in the workspace.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A shorthand for `Result<T, auth_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error while configuring a client, obtaining a token or sending an authorized request.
///
/// It says which vendor it concerns ([`vendor`](Error::vendor)) and what went wrong
/// ([`kind`](Error::kind), an enum to match on). It is cheap to clone (an [`Arc`]), so one failed
/// token fetch can be handed to every task that waited for it. The lower-level cause, if any, is
/// reached through [`source`](std::error::Error::source), not pasted into the message.
///
/// It never contains a secret: response excerpts are short and scrubbed of the credentials that
/// were sent, and a successful token response is never quoted.
///
/// ```
/// use auth_core::{Error, ErrorKind};
///
/// fn explain(err: &Error) -> &'static str {
///     match err.kind() {
///         ErrorKind::Rejected { .. } => "check the credentials",
///         ErrorKind::Throttled { .. } => "slow down",
///         _ if err.is_retryable() => "try again later",
///         _ => "see the message",
///     }
/// }
/// let err = Error::rejected("p21", Some(401), Some("invalid_grant".into()), None);
/// assert_eq!(explain(&err), "check the credentials");
/// assert_eq!(err.to_string(), "p21 rejected the credentials (invalid_grant)");
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` for errors of the shared plumbing that concern no vendor (building an HTTP client).
    vendor: Option<&'static str>,
    kind: ErrorKind,
    hint: Option<Cow<'static, str>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// What went wrong. Match on it through [`Error::kind`]; new kinds, and new fields in a kind,
/// may be added, so match with `..` and build errors with the constructors on [`Error`].
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
    fn bounded(self) -> Self {
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

impl Error {
    /// An error of `kind` concerning `vendor` (a short lower-case name such as `"p21"`).
    ///
    /// Every text in `kind` may come from a server, so each is bounded here, whoever built it:
    /// cut to [`MAX_TEXT_CHARS`] characters (with `…`), control characters (line breaks that
    /// could forge log lines among them) replaced by spaces.
    ///
    /// ```
    /// use auth_core::{Error, ErrorKind};
    /// use auth_core::error::MAX_TEXT_CHARS;
    ///
    /// let err = Error::identity_mismatch("v", "-->r_1", "x\n".repeat(10_000));
    /// let ErrorKind::IdentityMismatch { actual, .. } = err.kind() else { unreachable!() };
    /// assert_eq!(actual.chars().count(), MAX_TEXT_CHARS + 1);
    /// assert!(!err.to_string().contains('\n'));
    /// ```
    #[must_use]
    pub fn new(vendor: &'static str, kind: ErrorKind) -> Self {
        Self::build(Some(vendor), kind)
    }

    /// An error of the shared plumbing that concerns no vendor (an HTTP client that cannot be
    /// built, a token that cannot travel in a header). A vendor crate names itself with
    /// [`for_vendor`](Self::for_vendor) when it passes one on.
    pub(crate) fn core(kind: ErrorKind) -> Self {
        Self::build(None, kind)
    }

    fn build(vendor: Option<&'static str>, kind: ErrorKind) -> Self {
        Self {
            inner: Arc::new(Inner {
                vendor,
                kind: kind.bounded(),
                hint: None,
                source: None,
            }),
        }
    }

    /// `vendor` rejected the credentials or the grant ([`ErrorKind::Rejected`]).
    #[must_use]
    pub fn rejected(
        vendor: &'static str,
        status: Option<u16>,
        code: Option<String>,
        description: Option<String>,
    ) -> Self {
        Self::new(
            vendor,
            ErrorKind::Rejected {
                status,
                code,
                description,
            },
        )
    }

    /// `vendor` authenticated the caller but refused access ([`ErrorKind::Forbidden`]).
    #[must_use]
    pub fn forbidden(
        vendor: &'static str,
        status: u16,
        code: Option<String>,
        description: Option<String>,
    ) -> Self {
        Self::new(
            vendor,
            ErrorKind::Forbidden {
                status,
                code,
                description,
            },
        )
    }

    /// `vendor` asked to slow down ([`ErrorKind::Throttled`]).
    #[must_use]
    pub fn throttled(vendor: &'static str, retry_after: Option<Duration>) -> Self {
        Self::new(vendor, ErrorKind::Throttled { retry_after })
    }

    /// `vendor` answered with a status the request did not expect
    /// ([`ErrorKind::UnexpectedStatus`]); `excerpt` is the start of the body, already scrubbed.
    #[must_use]
    pub fn unexpected_status(
        vendor: &'static str,
        status: u16,
        code: Option<String>,
        description: Option<String>,
        excerpt: impl Into<String>,
    ) -> Self {
        Self::new(
            vendor,
            ErrorKind::UnexpectedStatus {
                status,
                code,
                description,
                excerpt: excerpt.into(),
            },
        )
    }

    /// `vendor` could not be reached ([`ErrorKind::Transport`]); attach the cause with
    /// [`with_source`](Self::with_source).
    #[must_use]
    pub fn transport(vendor: &'static str) -> Self {
        Self::new(vendor, ErrorKind::Transport)
    }

    /// A request to `vendor` took too long ([`ErrorKind::Timeout`]).
    #[must_use]
    pub fn timeout(vendor: &'static str) -> Self {
        Self::new(vendor, ErrorKind::Timeout)
    }

    /// `vendor` answered for another identity than the one requested
    /// ([`ErrorKind::IdentityMismatch`]).
    #[must_use]
    pub fn identity_mismatch(
        vendor: &'static str,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Self::new(
            vendor,
            ErrorKind::IdentityMismatch {
                expected: expected.into(),
                actual: actual.into(),
            },
        )
    }

    /// A token of `vendor` that cannot be renewed was refused ([`ErrorKind::TokenRevoked`]).
    #[must_use]
    pub fn token_revoked(vendor: &'static str, description: Option<String>) -> Self {
        Self::new(vendor, ErrorKind::TokenRevoked { description })
    }

    /// A configuration error of `vendor` naming the `setting` ([`ErrorKind::Configuration`]).
    #[must_use]
    pub fn config(
        vendor: &'static str,
        setting: impl Into<String>,
        problem: ConfigProblem,
    ) -> Self {
        Self::new(
            vendor,
            ErrorKind::Configuration {
                setting: setting.into(),
                problem,
            },
        )
    }

    /// A malformed-response error of `vendor` saying `what` was wrong and which content type
    /// came ([`ErrorKind::MalformedResponse`]). `what` must not quote the body.
    #[must_use]
    pub fn malformed(
        vendor: &'static str,
        what: impl Into<String>,
        content_type: Option<&str>,
    ) -> Self {
        Self::new(
            vendor,
            ErrorKind::MalformedResponse {
                what: what.into(),
                content_type: content_type.map(str::to_owned),
            },
        )
    }

    /// Attaches the lower-level cause, reachable through `source()`.
    #[must_use]
    pub fn with_source(self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.map_inner(|inner| inner.source = Some(Arc::new(source)))
    }

    /// Attaches a troubleshooting hint, shown after the message and readable by [`Error::hint`].
    #[must_use]
    pub fn with_hint(self, hint: impl Into<Cow<'static, str>>) -> Self {
        let hint = hint.into();
        self.map_inner(|inner| inner.hint = Some(hint))
    }

    /// The same error said of `vendor` (used when an error of the shared plumbing crosses into
    /// a vendor crate).
    #[must_use]
    pub fn for_vendor(self, vendor: &'static str) -> Self {
        self.map_inner(|inner| inner.vendor = Some(vendor))
    }

    /// The same configuration error, naming `setting` instead (an environment variable for a
    /// builder setting). Other errors are returned as they are.
    pub(crate) fn with_setting(self, setting: &str) -> Self {
        self.map_inner(|inner| {
            if let ErrorKind::Configuration { setting: s, .. } = &mut inner.kind {
                *s = setting.to_owned();
            }
        })
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                vendor: shared.vendor,
                kind: shared.kind.clone(),
                hint: shared.hint.clone(),
                source: shared.source.clone(),
            },
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Which vendor the error concerns; `None` for an error of the shared plumbing that concerns
    /// no vendor (an HTTP client that could not be built).
    #[must_use]
    pub fn vendor(&self) -> Option<&'static str> {
        self.inner.vendor
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// A troubleshooting hint, if the vendor crate knows one for this failure.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// The HTTP status the failure came with, if any.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match &self.inner.kind {
            ErrorKind::Rejected { status, .. } => *status,
            ErrorKind::Forbidden { status, .. } | ErrorKind::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            ErrorKind::Throttled { .. } => Some(429),
            _ => None,
        }
    }

    /// The vendor's error code (`invalid_grant`, ...), if the failure carried one.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match &self.inner.kind {
            ErrorKind::Rejected { code, .. }
            | ErrorKind::Forbidden { code, .. }
            | ErrorKind::UnexpectedStatus { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether trying the same request again later may succeed: transport failures, timeouts,
    /// throttling, 408 and 5xx statuses, and the OAuth codes `server_error` and
    /// `temporarily_unavailable`. Rejected credentials, forbidden, malformed responses and
    /// configuration errors are not.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match &self.inner.kind {
            ErrorKind::Transport | ErrorKind::Timeout | ErrorKind::Throttled { .. } => true,
            ErrorKind::UnexpectedStatus { status, code, .. } => {
                is_transient_status(*status) || code.as_deref().is_some_and(is_transient_code)
            }
            _ => false,
        }
    }

    /// Whether the vendor refused the credentials or grant.
    #[must_use]
    pub fn is_rejected(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Rejected { .. })
    }
}

/// Whether an HTTP status is worth retrying: 408, 429, 500, 502, 503, 504.
#[must_use]
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether an OAuth error code means "try again": `server_error`, `temporarily_unavailable`.
#[must_use]
pub fn is_transient_code(code: &str) -> bool {
    code.eq_ignore_ascii_case("server_error")
        || code.eq_ignore_ascii_case("temporarily_unavailable")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Without a vendor, the message speaks of "the server" (or of no one).
        let vendor = self.inner.vendor.unwrap_or("the server");
        match &self.inner.kind {
            ErrorKind::Rejected {
                code, description, ..
            } => {
                write!(f, "{vendor} rejected the credentials")?;
                write_code(f, code.as_deref(), description.as_deref())?;
            }
            ErrorKind::Forbidden {
                status,
                code,
                description,
            } => {
                write!(f, "{vendor} refused access (status {status})")?;
                write_code(f, code.as_deref(), description.as_deref())?;
            }
            ErrorKind::Throttled { retry_after } => {
                write!(f, "{vendor} is throttling requests")?;
                if let Some(wait) = retry_after {
                    write!(f, " (retry after {} s)", wait.as_secs())?;
                }
            }
            ErrorKind::UnexpectedStatus {
                status,
                code,
                description,
                excerpt,
            } => {
                write!(f, "{vendor} answered with unexpected status {status}")?;
                if code.is_some() || description.is_some() {
                    write_code(f, code.as_deref(), description.as_deref())?;
                } else if !excerpt.is_empty() {
                    write!(f, ": {excerpt:?}")?;
                }
            }
            ErrorKind::Transport => write!(f, "could not reach {vendor}")?,
            ErrorKind::Timeout => write!(f, "request to {vendor} timed out")?,
            ErrorKind::MalformedResponse { what, content_type } => {
                write!(f, "malformed response from {vendor}: {what}")?;
                match content_type {
                    Some(ct) => write!(f, " (content type {ct:?})")?,
                    None => write!(f, " (no content type)")?,
                }
            }
            ErrorKind::IdentityMismatch { expected, actual } => write!(
                f,
                "{vendor} answered for identity {actual:?} where {expected:?} was requested"
            )?,
            ErrorKind::TokenRevoked { description } => {
                match self.inner.vendor {
                    Some(vendor) => write!(f, "the {vendor} token")?,
                    None => write!(f, "the token")?,
                }
                write!(f, " expired or was revoked and cannot be renewed")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
            }
            ErrorKind::Configuration { setting, problem } => {
                match self.inner.vendor {
                    Some(vendor) => write!(f, "invalid {vendor} configuration: ")?,
                    None => write!(f, "invalid configuration: ")?,
                }
                match problem {
                    ConfigProblem::Missing => write!(f, "{setting} is not set")?,
                    ConfigProblem::Invalid(why) => write!(f, "{setting} is invalid: {why}")?,
                    ConfigProblem::InsecureUrl => write!(
                        f,
                        "{setting} uses plain http to a host that is not loopback; use https"
                    )?,
                    ConfigProblem::Conflict(why) => write!(f, "{setting} conflicts: {why}")?,
                }
            }
        }
        if let Some(hint) = &self.inner.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

fn write_code(
    f: &mut fmt::Formatter<'_>,
    code: Option<&str>,
    description: Option<&str>,
) -> fmt::Result {
    match (code, description) {
        (Some(c), Some(d)) => write!(f, " ({c}: {d})"),
        (Some(c), None) => write!(f, " ({c})"),
        (None, Some(d)) => write!(f, " ({d})"),
        (None, None) => Ok(()),
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        if let Some(vendor) = self.inner.vendor {
            d.field("vendor", &vendor);
        }
        d.field("kind", &self.inner.kind);
        if let Some(hint) = &self.inner.hint {
            d.field("hint", hint);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert!(std::mem::size_of::<Result<crate::Token>>() <= 2 * std::mem::size_of::<usize>());
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
            (ErrorKind::Timeout, "request to v timed out"),
            (
                ErrorKind::Throttled {
                    retry_after: Some(Duration::from_secs(7)),
                },
                "v is throttling requests (retry after 7 s)",
            ),
            (
                ErrorKind::Configuration {
                    setting: "V_URL".into(),
                    problem: ConfigProblem::Missing,
                },
                "invalid v configuration: V_URL is not set",
            ),
            (
                ErrorKind::MalformedResponse {
                    what: "no access token".into(),
                    content_type: Some("text/html".into()),
                },
                "malformed response from v: no access token (content type \"text/html\")",
            ),
        ];
        for (kind, text) in cases {
            let shown = Error::new("v", kind).to_string();
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
            .for_vendor("p21");
        assert_eq!(err.vendor(), Some("p21"));
        assert_eq!(err.hint(), Some("check the base URL"));
        assert_eq!(
            err.to_string(),
            "request to p21 timed out; hint: check the base URL"
        );
    }
}
