//! Reading settings from the environment (or any lookup), with errors that name the variable.

use std::path::PathBuf;

use crate::error::{ConfigProblem, Error};

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
/// use auth_core::env::optional_var;
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

/// A per-user directory, as each platform places it; see [`user_dir`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserDir {
    /// Data that may be deleted and made again (the token store's files).
    Cache,
    /// Settings the user writes (profiles).
    Config,
}

/// The user's cache or config directory: `$XDG_CACHE_HOME` or `~/.cache` (`$XDG_CONFIG_HOME` or
/// `~/.config`) on Linux and other Unixes, `~/Library/Caches` (`~/Library/Application Support`)
/// on macOS, `%LOCALAPPDATA%` (`%APPDATA%`) on Windows. `None` when the variables it is built
/// from are unset or not absolute paths.
///
/// ```
/// use auth_core::env::{UserDir, user_dir};
///
/// if let Some(dir) = user_dir(UserDir::Cache) {
///     assert!(dir.is_absolute());
/// }
/// ```
#[must_use]
pub fn user_dir(which: UserDir) -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let home = || var("HOME");
    if cfg!(windows) {
        var(match which {
            UserDir::Cache => "LOCALAPPDATA",
            UserDir::Config => "APPDATA",
        })
    } else if cfg!(target_os = "macos") {
        home().map(|h| match which {
            UserDir::Cache => h.join("Library").join("Caches"),
            UserDir::Config => h.join("Library").join("Application Support"),
        })
    } else {
        let (xdg, default) = match which {
            UserDir::Cache => ("XDG_CACHE_HOME", ".cache"),
            UserDir::Config => ("XDG_CONFIG_HOME", ".config"),
        };
        var(xdg).or_else(|| home().map(|h| h.join(default)))
    }
}
