//! [`Credentials`]: how to authenticate to the Apinizer Management API. A leaf: it depends on
//! nothing else in the crate.

use std::fmt;
use std::time::SystemTime;

use auth_core::{Error, Secret};

use auth_core::error::ConfigProblem;

use crate::VENDOR;

/// How to authenticate to the Apinizer Management API.
///
/// ```
/// use apinizer_auth::{Credentials, Secret};
///
/// // A token issued by POST /apiops/auth/token for an Apinizer user, cached and renewed:
/// let issued = Credentials::issued("admin", Secret::new("password"));
/// // A personal API access token created in the Management Console, used as it is:
/// let personal = Credentials::personal(Secret::new("personal-token"));
/// assert!(!format!("{issued:?} {personal:?}").contains("token\""));
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) kind: Kind,
}

#[derive(Clone)]
pub(crate) enum Kind {
    Issued {
        username: String,
        password: Secret,
    },
    Personal {
        token: Secret,
        expires: Option<SystemTime>,
    },
}

impl Credentials {
    /// An Apinizer user name and password, exchanged for a token at `/apiops/auth/token`
    /// (client credentials); the token is cached and renewed before it expires.
    pub fn issued(username: impl Into<String>, password: Secret) -> Self {
        Self {
            kind: Kind::Issued {
                username: username.into(),
                password,
            },
        }
    }

    /// A personal API access token (Management Console → My Profile → Personal API Access
    /// Tokens). Never fetched, never renewed: a 401 with it means it expired or was revoked.
    pub fn personal(token: Secret) -> Self {
        Self {
            kind: Kind::Personal {
                token,
                expires: None,
            },
        }
    }

    /// The expiry date chosen when the personal token was created; after it, the client
    /// reports the token as expired without sending it. No effect on issued tokens.
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        if let Kind::Personal { expires, .. } = &mut self.kind {
            *expires = Some(at);
        }
        self
    }

    /// `"issued"` or `"personal"`.
    #[must_use]
    pub fn flow(&self) -> &'static str {
        match self.kind {
            Kind::Issued { .. } => "issued",
            Kind::Personal { .. } => "personal",
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |setting: &str| {
            Err(Error::config(
                VENDOR,
                setting,
                ConfigProblem::Invalid("it is empty".into()),
            ))
        };
        match &self.kind {
            Kind::Issued { username, password } => {
                if username.trim().is_empty() {
                    return invalid("username");
                }
                if password.is_empty() {
                    return invalid("password");
                }
            }
            Kind::Personal { token, .. } => {
                if token.is_empty() {
                    return invalid("token");
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credentials");
        d.field("flow", &self.flow());
        match &self.kind {
            Kind::Issued { username, .. } => d.field("username", username),
            Kind::Personal { expires, .. } => d.field("expires", expires),
        };
        d.finish_non_exhaustive()
    }
}
