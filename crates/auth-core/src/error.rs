//! [`Error`]: the one error type of every crate in the workspace.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod kind;

pub use kind::{ConfigProblem, ErrorKind, MAX_TEXT_CHARS};

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
/// let err = Error::rejected("acme", Some(401), Some("invalid_grant".into()), None);
/// assert_eq!(explain(&err), "check the credentials");
/// assert_eq!(err.to_string(), "acme rejected the credentials (invalid_grant)");
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

impl Error {
    /// An error of `kind` concerning `vendor` (a short lower-case name such as `"acme"`).
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
    ///
    /// ```
    /// use auth_core::error::ConfigProblem;
    /// use auth_core::{Error, ErrorKind};
    ///
    /// let err = Error::unattributed(ErrorKind::config("http client", ConfigProblem::Missing));
    /// assert_eq!(err.vendor(), None);
    /// assert_eq!(
    ///     err.for_vendor("example").to_string(),
    ///     "invalid example configuration: http client is not set"
    /// );
    /// ```
    #[must_use]
    pub fn unattributed(kind: ErrorKind) -> Self {
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
    #[must_use]
    pub fn with_setting(self, setting: &str) -> Self {
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
