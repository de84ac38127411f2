//! [`Credentials`] and [`UserType`]: who signs in to ByDesign. A leaf: it depends on nothing
//! else in the crate.

use std::fmt;

use auth_core::{Error, Secret};

use auth_core::error::ConfigProblem;

use crate::VENDOR;

/// Who is signing in: a rep or a customer, by id, with their password.
///
/// ByDesign tells reps and customers apart only by a prefix on the user name (`-->r_` and
/// `-->c_`); the crate adds it, and checks that the response names the same identity.
///
/// ```
/// use bydesign_auth::{Credentials, Secret};
///
/// let rep = Credentials::rep("1001", Secret::new("password"));
/// assert_eq!(rep.username(), "-->r_1001");
/// let customer = Credentials::customer("1146820", Secret::new("password"));
/// assert_eq!(customer.username(), "-->c_1146820");
/// assert!(!format!("{rep:?}").contains("password\""));
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) user_type: UserType,
    pub(crate) id: String,
    pub(crate) password: Secret,
    pub(crate) refresh_token: Option<Secret>,
}

/// Whether the credentials are a rep's or a customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserType {
    /// A rep (user-name prefix `-->r_`, `userType` `rep`).
    Rep,
    /// A customer (user-name prefix `-->c_`, `userType` `customer`).
    Customer,
}

impl UserType {
    /// The user-name prefix ByDesign expects.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            UserType::Rep => "-->r_",
            UserType::Customer => "-->c_",
        }
    }

    /// The `userType` value a response must carry.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Rep => "rep",
            UserType::Customer => "customer",
        }
    }
}

impl Credentials {
    /// A rep, by rep id, with the rep's password.
    pub fn rep(id: impl Into<String>, password: Secret) -> Self {
        Self {
            user_type: UserType::Rep,
            id: id.into(),
            password,
            refresh_token: None,
        }
    }

    /// A customer, by customer id, with the customer's password.
    pub fn customer(id: impl Into<String>, password: Secret) -> Self {
        Self {
            user_type: UserType::Customer,
            id: id.into(),
            password,
            refresh_token: None,
        }
    }

    /// Starts from a refresh token saved by an earlier run (from the `on_token` hook, or
    /// [`Token::refresh_token`](crate::Token::refresh_token)), so that a restart does not sign
    /// in with the password again. The first token is asked for with it; if ByDesign refuses it
    /// (already used, expired, or the password changed), the password is the fallback. Refresh
    /// tokens are single-use: save the newest one each time `on_token` runs.
    ///
    /// ```
    /// use bydesign_auth::{Credentials, Secret};
    ///
    /// let saved = Secret::new("refresh-token-from-last-run");
    /// let rep = Credentials::rep("1001", Secret::new("password")).with_refresh_token(saved);
    /// assert!(rep.has_refresh_token());
    /// assert!(!format!("{rep:?}").contains("refresh-token-from-last-run"));
    /// ```
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: Secret) -> Self {
        self.refresh_token = Some(refresh_token).filter(|t| !t.is_empty());
        self
    }

    /// Whether a saved refresh token is given (see [`with_refresh_token`](Self::with_refresh_token)).
    #[must_use]
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some()
    }

    /// The user name sent: the prefix and the id (`-->r_1001`).
    #[must_use]
    pub fn username(&self) -> String {
        format!("{}{}", self.user_type.prefix(), self.id.trim())
    }

    /// Rep or customer.
    #[must_use]
    pub fn user_type(&self) -> UserType {
        self.user_type
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |setting: &str, why: &str| {
            Err(Error::config(
                VENDOR,
                setting,
                ConfigProblem::Invalid(why.into()),
            ))
        };
        let id = self.id.trim();
        if id.is_empty() {
            return invalid("id", "it is empty");
        }
        if id.chars().any(char::is_whitespace) || id.starts_with("-->") {
            return invalid(
                "id",
                "give the bare rep or customer id; the crate adds the prefix",
            );
        }
        if self.password.is_empty() {
            return invalid("password", "it is empty");
        }
        Ok(())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credentials");
        d.field("user_type", &self.user_type)
            .field("username", &self.username());
        if self.refresh_token.is_some() {
            d.field("refresh_token", &"[redacted]");
        }
        d.finish_non_exhaustive()
    }
}
