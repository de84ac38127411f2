//! [`Vendor`]: what a vendor crate tells the tools that serve every vendor alike (the
//! `vendor-auth` command line): the settings its `from_env()` reads, its client built from
//! them, what a token says beyond itself, and how to check a setup step by step. Such a tool
//! holds one list of `Vendor` implementations and no knowledge of any vendor.
//!
//! ```
//! use auth_http::catalog::{Check, Outcome, Setting};
//!
//! const SETTINGS: &[Setting] = &[Setting::plain("base_url"), Setting::secret("password")];
//! assert!(SETTINGS[1].is_secret());
//! let check = Check::pass("api", "an API call succeeded (200)");
//! assert!(matches!(check.outcome, Outcome::Passed(_)));
//! ```

use std::future::Future;

use auth_core::{CacheOptions, Error, Token};
use reqwest::Url;
pub use serde_json::{Map, Value};

use crate::HttpClient;
use crate::env::EnvLookup;
use crate::vendor::VendorClient;

/// A setting a vendor crate's `from_env()` reads: its key (the variable is the crate's prefix and
/// the key in capitals, `P21_BASE_URL`) and whether it holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    key: &'static str,
    secret: bool,
}

impl Setting {
    /// A setting that is not a secret (a URL, a user name).
    #[must_use]
    pub const fn plain(key: &'static str) -> Self {
        Self { key, secret: false }
    }

    /// A setting that holds a secret (a password, a key, a token).
    #[must_use]
    pub const fn secret(key: &'static str) -> Self {
        Self { key, secret: true }
    }

    /// Its key (`base_url`).
    #[must_use]
    pub const fn key(&self) -> &'static str {
        self.key
    }

    /// Whether it holds a secret.
    #[must_use]
    pub const fn is_secret(&self) -> bool {
        self.secret
    }
}

/// Where a setup went wrong, for the vendor's own advice ([`Vendor::hint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trouble {
    /// Nothing listens on the host and port of the URL.
    PortRefused,
    /// The URL answers, but there is no token endpoint where the crate sends token requests.
    NoTokenEndpoint,
    /// The token endpoint refused the credentials.
    CredentialsRefused,
}

/// What one step of a setup check found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It works; what was seen.
    Passed(String),
    /// It does not; what was seen, what to do, and whether the setting is at fault (rather
    /// than the vendor or the network).
    Failed {
        /// What was seen.
        what: String,
        /// What to do about it.
        hint: Option<String>,
        /// A missing or wrong setting, rather than a refusal.
        config: bool,
    },
    /// Not tried, and why.
    Skipped(String),
}

/// One step of a vendor's setup check ([`Vendor::checks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// The step's short name (`odata`, `tenant`).
    pub step: &'static str,
    /// What it found.
    pub outcome: Outcome,
}

impl Check {
    /// `step` passed: `what` was seen.
    #[must_use]
    pub fn pass(step: &'static str, what: impl Into<String>) -> Self {
        Self {
            step,
            outcome: Outcome::Passed(what.into()),
        }
    }

    /// `step` failed: the vendor or the network said `what`; `hint` says what to do.
    #[must_use]
    pub fn fail(step: &'static str, what: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            step,
            outcome: Outcome::Failed {
                what: what.into(),
                hint: hint.map(str::to_owned),
                config: false,
            },
        }
    }

    /// `step` failed because a setting is missing or wrong.
    #[must_use]
    pub fn misconfigured(step: &'static str, what: impl Into<String>, hint: &str) -> Self {
        Self {
            step,
            outcome: Outcome::Failed {
                what: what.into(),
                hint: Some(hint.to_owned()),
                config: true,
            },
        }
    }

    /// `step` was not tried, because of `why`.
    #[must_use]
    pub fn skip(step: &'static str, why: impl Into<String>) -> Self {
        Self {
            step,
            outcome: Outcome::Skipped(why.into()),
        }
    }

    /// `step` failed with `error` (its own hint first, else `hint`); a configuration error is the
    /// setting's fault.
    #[must_use]
    pub fn error(step: &'static str, error: &Error, hint: Option<&str>) -> Self {
        Self {
            step,
            outcome: Outcome::Failed {
                what: error.to_string(),
                hint: if error.hint().is_some() {
                    None
                } else {
                    hint.map(str::to_owned)
                },
                config: matches!(error.kind(), auth_core::ErrorKind::Configuration { .. }),
            },
        }
    }

    /// What an API call's `status` says of the token: accepted unless 401 or 403.
    #[must_use]
    pub fn api_status(step: &'static str, status: u16, what: &str) -> Self {
        match status {
            401 => Self::fail(
                step,
                format!("{what} was refused (401): the token was not accepted"),
                Some("the token was issued but the API does not take it: check the API host"),
            ),
            403 => Self::fail(
                step,
                format!("{what} was forbidden (403)"),
                Some("the credentials lack the scope or permission for this API"),
            ),
            200..=299 => Self::pass(step, format!("{what} succeeded ({status})")),
            _ => Self::pass(
                step,
                format!("{what} accepted the token (it answered {status})"),
            ),
        }
    }
}

/// Whether `variable` is set to something other than white space in `vars`.
#[must_use]
pub fn is_set(vars: &dyn EnvLookup, variable: &str) -> bool {
    vars.get(variable).is_some_and(|v| !v.trim().is_empty())
}

/// A vendor crate, as the tools that serve every vendor alike see it. Each vendor crate
/// implements it for its `Client`; a tool lists the implementations once.
pub trait Vendor: Clone + std::fmt::Debug + Send + Sync + Sized + 'static {
    /// The vendor's short lower-case name (`p21`), as in errors and on a command line.
    const NAME: &'static str;
    /// The vendor's full name (`Epicor Prophet 21`).
    const TITLE: &'static str;
    /// The prefix of the crate's environment variables (`P21`).
    const ENV_PREFIX: &'static str;
    /// The settings `from_env()` reads.
    const SETTINGS: &'static [Setting];
    /// The setting a password read from a file or standard input goes to.
    const PASSWORD_KEY: &'static str;
    /// The setting of the URL tokens are requested from (its host is the one a check probes).
    const URL_KEY: &'static str;
    /// That URL when it is not set, if the crate has a default.
    const DEFAULT_URL: Option<&'static str> = None;
    /// The vendor's own commands beyond a token (name, what it prints), run with
    /// [`command`](Self::command).
    const COMMANDS: &'static [(&'static str, &'static str)] = &[];

    /// The client `from_env()` would build from `vars`, sending through `http` with `cache`.
    ///
    /// # Errors
    /// A setting is missing or invalid.
    fn from_settings(
        vars: &dyn EnvLookup,
        http: HttpClient,
        cache: CacheOptions,
    ) -> Result<Self, Error>;

    /// The client skeleton: its cache, its HTTP client, its base URL.
    fn core(&self) -> &VendorClient;

    /// `request` with the headers every API call carries, unsent: `Authorization` (the
    /// default), and any the vendor adds (a tenant).
    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> impl Future<Output = Result<reqwest::RequestBuilder, Error>> + Send {
        self.core().authorize(request)
    }

    /// What `token` says beyond the token (a session id, a user name), and what the client
    /// adds to every call (a tenant), without a secret.
    fn details(&self, _token: &Token) -> Map<String, Value> {
        Map::new()
    }

    /// The URL token requests go to, for these settings and the base URL `base` (the value of
    /// [`URL_KEY`](Self::URL_KEY)).
    fn token_url(vars: &dyn EnvLookup, base: &Url) -> Url;

    /// The vendor's advice for `trouble`, knowing the settings `vars`.
    fn hint(_trouble: Trouble, _vars: &dyn EnvLookup) -> Option<&'static str> {
        None
    }

    /// What the vendor has to say of the HTTP version its server speaks, if anything.
    fn http_note(_version: reqwest::Version) -> Option<String> {
        None
    }

    /// The vendor's own steps after a token was had (an API call, a session's user), knowing
    /// the settings `vars`.
    fn checks(
        &self,
        _token: &Token,
        _vars: &(dyn EnvLookup + Sync),
    ) -> impl Future<Output = Vec<Check>> + Send {
        async { Vec::new() }
    }

    /// Runs the vendor's command `name` (one of [`COMMANDS`](Self::COMMANDS)) and returns what
    /// it prints.
    ///
    /// # Errors
    /// The command failed, or the vendor has no command `name`.
    fn command(&self, name: &str) -> impl Future<Output = Result<String, Error>> + Send {
        let unknown = Error::config(
            Self::NAME,
            name.to_owned(),
            auth_core::error::ConfigProblem::Invalid("not a command of this vendor".into()),
        );
        async move { Err(unknown) }
    }
}
