//! [`Failure`]: why a command did not succeed, its exit status, and how it is told on stderr.

use std::fmt;

/// The documented exit statuses.
pub(crate) mod exit {
    /// The vendor or the network said no (a refused credential, an unreachable host, a failed
    /// `doctor` check).
    pub(crate) const REFUSED: u8 = 1;
    /// A usage or configuration error (a missing setting, an unreadable or unsafe file).
    pub(crate) const CONFIG: u8 = 2;
}

/// A command's failure: one plain sentence, an optional hint, the causes for `-v`.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    hint: Option<String>,
    causes: Vec<String>,
    code: u8,
}

impl Failure {
    /// A usage or configuration error saying `message`.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            causes: Vec::new(),
            code: exit::CONFIG,
        }
    }

    /// A refusal by the vendor or the network, saying `message`.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self {
            code: exit::REFUSED,
            ..Self::config(message)
        }
    }

    /// Adds a hint (printed after the sentence).
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds an I/O or other cause, shown with `-v`.
    pub(crate) fn cause(mut self, cause: &dyn std::error::Error) -> Self {
        self.causes.extend(chain(cause));
        self
    }

    /// The hint, if any.
    pub(crate) fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The exit status.
    pub(crate) fn code(&self) -> u8 {
        self.code
    }

    /// The text for stderr: the sentence, the hint, and with `verbose` the causes.
    /// Every part's characters that could reorder or hide text are escaped.
    pub(crate) fn render(&self, verbose: bool) -> String {
        use crate::output::printable;
        let mut out = format!("vendor-auth: {}", printable(&self.message));
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n  hint: {}", printable(hint)));
        }
        if verbose {
            for cause in &self.causes {
                out.push_str(&format!("\n  caused by: {}", printable(cause)));
            }
        }
        out
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `err`'s sources, outermost first.
fn chain(err: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        out.push(cause.to_string());
        source = cause.source();
    }
    out
}

/// The exit status of a crate error: 2 for a configuration error, 1 for the rest.
pub(crate) fn code_of(err: &auth_core::Error) -> u8 {
    if matches!(err.kind(), auth_core::ErrorKind::Configuration { .. }) {
        exit::CONFIG
    } else {
        exit::REFUSED
    }
}

impl From<auth_core::Error> for Failure {
    /// The crate's `Display` (which ends with its hint), and a configuration error exits 2.
    fn from(err: auth_core::Error) -> Self {
        Self {
            message: err.to_string(),
            hint: None,
            causes: chain(&err).into_iter().skip(1).collect(),
            code: code_of(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::Error;
    use auth_core::error::ConfigProblem;

    #[test]
    fn configuration_errors_exit_2_and_refusals_1() {
        let missing = Error::config("p21", "P21_PASSWORD", ConfigProblem::Missing);
        assert_eq!(Failure::from(missing).code(), exit::CONFIG);
        assert_eq!(Failure::from(Error::timeout("p21")).code(), exit::REFUSED);
    }

    #[test]
    fn causes_show_only_when_verbose() {
        let io = std::io::Error::other("disk on fire");
        let failure = Failure::config("cannot read the file").cause(&io);
        assert!(!failure.render(false).contains("disk on fire"));
        assert!(failure.render(true).contains("caused by: disk on fire"));
    }
}
