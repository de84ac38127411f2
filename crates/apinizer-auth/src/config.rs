//! Apinizer client configuration: [`Credentials`] and the [`ClientBuilder`].

use std::fmt;
use std::time::SystemTime;

use auth_core::{
    CacheConfig, ConfigProblem, EnvLookup, Error, HttpClient, Secret, TokenCacheBuilder,
    optional_var, required_base_url, required_var,
};

use crate::VENDOR;
use crate::client::Client;

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

    fn validate(&self) -> Result<(), Error> {
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

/// Configures a [`Client`]; see [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    credentials: Option<Credentials>,
    http: Option<HttpClient>,
    cache: Option<CacheConfig>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new() -> Self {
        Self {
            base_url: None,
            credentials: None,
            http: None,
            cache: None,
        }
    }

    /// The Management Console host, e.g. `https://demo.apinizer.com` (API paths live under
    /// `/apiops/`). A trailing slash is fine.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// How to authenticate.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sends through this `auth_core::HttpClient` (your own `reqwest::Client`, timeouts, retries).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Tunes the token cache (windows, rejection memory, clock, `on_token` hook).
    pub fn cache(
        mut self,
        configure: impl FnOnce(TokenCacheBuilder) -> TokenCacheBuilder + Send + 'static,
    ) -> Self {
        self.cache = Some(Box::new(configure));
        self
    }

    /// Validates the configuration and builds the client. Nothing is sent yet.
    pub fn build(self) -> Result<Client, Error> {
        let base_url = required_base_url(VENDOR, "base_url", self.base_url.as_deref())?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::config(VENDOR, "credentials", ConfigProblem::Missing))?;
        credentials.validate()?;
        let http = HttpClient::given_or_default(
            self.http,
            VENDOR,
            concat!("apinizer-auth/", env!("CARGO_PKG_VERSION")),
        )?;
        http.check_url(VENDOR, "base_url", &base_url)?;
        Ok(Client::new(base_url, credentials, http, self.cache))
    }

    /// Reads the settings from `vars` (see [`Client::from_env`]).
    pub(crate) fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let base_url = required_var(vars, VENDOR, "APINIZER_BASE_URL")?;
        let token = optional_var(vars, "APINIZER_TOKEN");
        let username = optional_var(vars, "APINIZER_USERNAME");
        let credentials = match (token, username) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    VENDOR,
                    "APINIZER_TOKEN",
                    ConfigProblem::Conflict(
                        "set either APINIZER_TOKEN or APINIZER_USERNAME and APINIZER_PASSWORD, not both".into(),
                    ),
                ));
            }
            (Some(token), None) => Credentials::personal(Secret::new(token)),
            (None, Some(username)) => Credentials::issued(
                username,
                Secret::new(required_var(vars, VENDOR, "APINIZER_PASSWORD")?),
            ),
            (None, None) => {
                return Err(Error::config(VENDOR, "APINIZER_TOKEN", ConfigProblem::Missing)
                    .with_hint("set APINIZER_TOKEN (a personal API access token), or APINIZER_USERNAME and APINIZER_PASSWORD"));
            }
        };
        Ok(Self::new().base_url(base_url).credentials(credentials))
    }
}
