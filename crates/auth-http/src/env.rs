//! Reading settings from the environment (or any lookup), with errors that name the variable.

use auth_core::error::{ConfigProblem, Error};

/// Where `from_env`-style constructors read settings: a function from a variable name to its
/// value. [`std::env::var`] in production; a map in tests.
pub trait EnvLookup {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> EnvLookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of `name`, trimmed; `None` when unset or blank.
///
/// ```
/// use auth_http::env::optional_var;
/// let vars = |name: &str| (name == "A").then(|| " x ".to_owned());
/// assert_eq!(optional_var(&vars, "A"), Some("x".to_owned()));
/// assert_eq!(optional_var(&vars, "B"), None);
/// ```
#[must_use]
pub fn optional_var(vars: &dyn EnvLookup, name: &str) -> Option<String> {
    vars.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The value of `name`, or a configuration error of `vendor` naming the variable.
///
/// # Errors
/// A configuration error naming `name` when it is unset or blank.
pub fn required_var(
    vars: &dyn EnvLookup,
    vendor: &'static str,
    name: &str,
) -> Result<String, Error> {
    optional_var(vars, name).ok_or_else(|| Error::config(vendor, name, ConfigProblem::Missing))
}

/// Reads from the process environment; what vendor `from_env()` constructors pass.
#[must_use]
pub fn process() -> impl EnvLookup {
    process_env
}
