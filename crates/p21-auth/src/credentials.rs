//! [`Credentials`]: how to authenticate to P21. A leaf: it depends on nothing else in the crate.

use std::fmt;

use auth_core::{Error, Secret};

use auth_core::error::ConfigProblem;

use crate::VENDOR;

/// How to authenticate to P21.
///
/// ```
/// use p21_auth::{Credentials, Secret};
///
/// let user = Credentials::user("api_user", Secret::new("password"));
/// let service = Credentials::consumer_key(Secret::new("consumer-key"));
/// let interactive = Credentials::consumer_key(Secret::new("consumer-key")).with_username("api_user");
/// assert!(!format!("{user:?} {service:?} {interactive:?}").contains("password"));
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) kind: Kind,
}

#[derive(Clone)]
pub(crate) enum Kind {
    /// V2: user name and password in a JSON body.
    User { username: String, password: Secret },
    /// V1 (legacy): user name and password as HTTP headers.
    UserV1 { username: String, password: Secret },
    /// A consumer key, with an optional P21 user for the Interactive API.
    ConsumerKey {
        key: Secret,
        username: Option<String>,
    },
}

impl Credentials {
    /// `key` naming this credential: the user, or the consumer key's fingerprint and its user
    /// (the principal of a shared store's key; never a password).
    pub(crate) fn identify(&self, key: auth_core::store::StoreKey) -> auth_core::store::StoreKey {
        match &self.kind {
            Kind::User { username, .. } | Kind::UserV1 { username, .. } => {
                key.part("user", username)
            }
            Kind::ConsumerKey {
                key: secret,
                username,
            } => {
                let key = key.part("key", &auth_http::vendor::fingerprint(secret));
                match username {
                    Some(user) => key.part("user", user),
                    None => key,
                }
            }
        }
    }

    /// The secret a shared store's verifier is made of: the password, or the consumer key.
    pub(crate) fn secret(&self) -> &Secret {
        match &self.kind {
            Kind::User { password, .. } | Kind::UserV1 { password, .. } => password,
            Kind::ConsumerKey { key, .. } => key,
        }
    }

    /// A P21 user name and password, sent in the body of `POST /api/security/token/v2` (the
    /// recommended flow). The user must be a valid P21 user tied to a Windows, AAD or SQL user,
    /// and needs API permissions (see the crate docs).
    pub fn user(username: impl Into<String>, password: Secret) -> Self {
        Self {
            kind: Kind::User {
                username: username.into(),
                password,
            },
        }
    }

    /// A consumer key registered in SOA Admin (`/api/admin`, API Console → Register Consumer
    /// Key). Access is governed by the key's API scope, not by user permissions. Add
    /// [`with_username`](Self::with_username) for the Interactive API.
    pub fn consumer_key(key: Secret) -> Self {
        Self {
            kind: Kind::ConsumerKey {
                key,
                username: None,
            },
        }
    }

    /// Ties a consumer-key token to a P21 user: required for the Interactive API, and what
    /// gives write operations an audit trail. It must be a real P21 user account, not the
    /// consumer's name. Has no effect on user-credential flows.
    #[must_use]
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        if let Kind::ConsumerKey { username: u, .. } = &mut self.kind {
            *u = Some(username.into());
        }
        self
    }

    /// The legacy V1 flow: `POST /api/security/token` with the user name and password as HTTP
    /// **headers** and an empty body.
    ///
    /// # Security
    /// Headers are routinely logged by reverse proxies, load balancers, WAFs and middleware:
    /// the password can end up in access logs, error logs and dashboards. Use
    /// [`Credentials::user`] (V2) for anything new; this exists only for legacy servers.
    #[deprecated(
        note = "V1 sends the password in HTTP headers, which proxies log; use Credentials::user (V2)"
    )]
    pub fn user_v1_headers(username: impl Into<String>, password: Secret) -> Self {
        Self {
            kind: Kind::UserV1 {
                username: username.into(),
                password,
            },
        }
    }

    /// The user name, if these credentials carry one.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        match &self.kind {
            Kind::User { username, .. } | Kind::UserV1 { username, .. } => Some(username),
            Kind::ConsumerKey { username, .. } => username.as_deref(),
        }
    }

    /// A short name of the flow: `"user"`, `"user-v1"` or `"consumer-key"`.
    #[must_use]
    pub fn flow(&self) -> &'static str {
        match &self.kind {
            Kind::User { .. } => "user",
            Kind::UserV1 { .. } => "user-v1",
            Kind::ConsumerKey { .. } => "consumer-key",
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |setting: &str, why: &str| {
            Err(Error::config(
                VENDOR,
                setting,
                ConfigProblem::Invalid(why.into()),
            ))
        };
        match &self.kind {
            Kind::User { username, password } | Kind::UserV1 { username, password } => {
                if username.trim().is_empty() {
                    return invalid("username", "it is empty");
                }
                if password.is_empty() {
                    return invalid("password", "it is empty");
                }
                if matches!(self.kind, Kind::UserV1 { .. })
                    && (reqwest::header::HeaderValue::from_str(username).is_err()
                        || reqwest::header::HeaderValue::from_str(password.expose_secret())
                            .is_err())
                {
                    return invalid(
                        "credentials",
                        "V1 sends them as HTTP headers, which cannot carry these characters; use V2",
                    );
                }
            }
            Kind::ConsumerKey { key, username } => {
                if key.is_empty() {
                    return invalid("consumer key", "it is empty");
                }
                if username.as_deref().is_some_and(|u| u.trim().is_empty()) {
                    return invalid("username", "it is empty");
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
        if let Some(username) = self.username() {
            d.field("username", &username);
        }
        d.finish_non_exhaustive()
    }
}
