//! [`Credentials`] and [`ClientAuth`]: how a Personify API client authenticates. A leaf: it
//! depends on nothing else in the crate.

use std::fmt;

use auth_core::{Error, Secret};

use auth_core::error::ConfigProblem;

use crate::VENDOR;

/// The API client id and secret issued at onboarding.
///
/// ```
/// use personify_auth::{Credentials, Secret};
///
/// let credentials = Credentials::new("my-client-id", Secret::new("my-client-secret"));
/// assert_eq!(credentials.client_id(), "my-client-id");
/// assert!(!format!("{credentials:?}").contains("my-client-secret"));
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
}

impl Credentials {
    /// The client id and secret.
    pub fn new(client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
        }
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |setting: &str| {
            Err(Error::config(
                VENDOR,
                setting,
                ConfigProblem::Invalid("it is empty".into()),
            ))
        };
        if self.client_id.trim().is_empty() {
            return invalid("client_id");
        }
        if self.client_secret.is_empty() {
            return invalid("client_secret");
        }
        Ok(())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (`client_secret_post`), as Personify
    /// documents. The default.
    #[default]
    Post,
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`).
    Basic,
}
