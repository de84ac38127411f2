//! How to reach and authenticate to P21: [`Credentials`] and the [`ClientBuilder`].

use std::fmt;

use crate::VENDOR;
use crate::client::Client;
use auth_core::{
    CacheConfig, ConfigProblem, EnvLookup, Error, HttpClient, Secret, TokenCacheBuilder,
    optional_var, required_base_url, required_var,
};

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

    fn validate(&self) -> Result<(), Error> {
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

/// Configures a [`Client`]; see [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    credentials: Option<Credentials>,
    http: Option<HttpClient>,
    http1_only: bool,
    accept_invalid_certs: bool,
    cache: Option<CacheConfig>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("http1_only", &self.http1_only)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new() -> Self {
        Self {
            base_url: None,
            credentials: None,
            http: None,
            http1_only: false,
            accept_invalid_certs: false,
            cache: None,
        }
    }

    /// The P21 API host, e.g. `https://mytenant-api.epicordistribution.com` or
    /// `https://p21.example.com:3443`. A trailing slash or a path prefix is fine.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// How to authenticate.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sends through this `auth_core::HttpClient` (your own `reqwest::Client`, timeouts, retry
    /// policy). [`http1_only`](Self::http1_only) and
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs) then do not apply.
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Speaks only HTTP/1.1 (some P21 middleware mishandles HTTP/2).
    pub fn http1_only(mut self, only: bool) -> Self {
        self.http1_only = only;
        self
    }

    /// **Dangerous**: accepts any TLS certificate, including self-signed ones as on many play
    /// and test tenants. Anyone on the network path can then read the password or key. Never
    /// use it against production; prefer adding the tenant's certificate to your trust store.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
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
        let http = match self.http {
            Some(http) => http,
            None => HttpClient::builder()
                .http1_only(self.http1_only)
                .danger_accept_invalid_certs(self.accept_invalid_certs)
                .user_agent(concat!("p21-auth/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.for_vendor(VENDOR))?,
        };
        http.check_url(VENDOR, "base_url", &base_url)?;
        Ok(Client::new(base_url, credentials, http, self.cache))
    }

    /// Reads the settings from `vars` (see [`Client::from_env`]).
    pub(crate) fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let base_url = required_var(vars, VENDOR, "P21_BASE_URL")?;
        let credentials = match optional_var(vars, "P21_CONSUMER_KEY") {
            Some(key) => {
                let creds = Credentials::consumer_key(Secret::new(key));
                match optional_var(vars, "P21_USERNAME") {
                    Some(user) => creds.with_username(user),
                    None => creds,
                }
            }
            None => Credentials::user(
                required_var(vars, VENDOR, "P21_USERNAME")?,
                Secret::new(required_var(vars, VENDOR, "P21_PASSWORD")?),
            ),
        };
        Ok(Self::new().base_url(base_url).credentials(credentials))
    }
}
