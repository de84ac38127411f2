//! Personify client configuration: [`ClientAuth`] and the [`ClientBuilder`].

use std::fmt;

use auth_core::{
    CacheConfig, ConfigProblem, EnvLookup, Error, HttpClient, Secret, TokenCacheBuilder,
    optional_var, parse_base_url, required_var,
};

use crate::VENDOR;
use crate::client::Client;

/// The production token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://prod.personifyauth.com/connect/token";
/// The scope requested unless told otherwise.
pub const DEFAULT_SCOPE: &str = "idp_api";

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

/// The validated settings of a client.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) token_url: reqwest::Url,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) scope: Option<String>,
    pub(crate) auth: ClientAuth,
    pub(crate) tenant_id: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("auth", &self.auth)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; see [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    token_url: String,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    scope: Option<String>,
    auth: ClientAuth,
    tenant_id: Option<String>,
    http: Option<HttpClient>,
    cache: Option<CacheConfig>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("auth", &self.auth)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new() -> Self {
        Self {
            token_url: DEFAULT_TOKEN_URL.to_owned(),
            client_id: None,
            client_secret: None,
            scope: Some(DEFAULT_SCOPE.to_owned()),
            auth: ClientAuth::Post,
            tenant_id: None,
            http: None,
            cache: None,
        }
    }

    /// The API client id and secret issued at onboarding.
    pub fn credentials(mut self, client_id: impl Into<String>, client_secret: Secret) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret);
        self
    }

    /// The token endpoint (default `https://prod.personifyauth.com/connect/token`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// The scopes to request, space-separated (default `idp_api`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Several scopes, joined with spaces.
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = scopes
            .into_iter()
            .map(|s| s.as_ref().trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        self.scope(joined)
    }

    /// Sends no `scope`: the server then grants all of the client's scopes.
    pub fn no_scope(mut self) -> Self {
        self.scope = None;
        self
    }

    /// How the client id and secret are sent (default: in the form body).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The tenant id sent as `X-Tenant-Id` on API calls (not needed for the token itself).
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
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
        let invalid = |setting: &str, why: &str| {
            Error::config(VENDOR, setting, ConfigProblem::Invalid(why.into()))
        };
        let client_id = self
            .client_id
            .ok_or_else(|| Error::config(VENDOR, "client_id", ConfigProblem::Missing))?;
        if client_id.trim().is_empty() {
            return Err(invalid("client_id", "it is empty"));
        }
        let client_secret = self
            .client_secret
            .ok_or_else(|| Error::config(VENDOR, "client_secret", ConfigProblem::Missing))?;
        if client_secret.is_empty() {
            return Err(invalid("client_secret", "it is empty"));
        }
        let tenant_is_header_safe = self
            .tenant_id
            .as_deref()
            .is_none_or(|t| reqwest::header::HeaderValue::from_str(t).is_ok());
        if !tenant_is_header_safe {
            return Err(invalid("tenant_id", "it cannot be sent as an HTTP header"));
        }
        let scope = self.scope.filter(|s| !s.trim().is_empty());
        let token_url = parse_base_url(VENDOR, "token_url", &self.token_url)?;
        let http = HttpClient::given_or_default(
            self.http,
            VENDOR,
            concat!("personify-auth/", env!("CARGO_PKG_VERSION")),
        )?;
        http.check_url(VENDOR, "token_url", &token_url)?;
        let settings = Settings {
            token_url,
            client_id,
            client_secret,
            scope,
            auth: self.auth,
            tenant_id: self.tenant_id,
        };
        Ok(Client::new(settings, http, self.cache))
    }

    /// Reads the settings from `vars` (see [`Client::from_env`]).
    pub(crate) fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let mut builder = Self::new().credentials(
            required_var(vars, VENDOR, "PERSONIFY_CLIENT_ID")?,
            Secret::new(required_var(vars, VENDOR, "PERSONIFY_CLIENT_SECRET")?),
        );
        if let Some(scope) = optional_var(vars, "PERSONIFY_SCOPE") {
            builder = builder.scope(scope);
        }
        if let Some(url) = optional_var(vars, "PERSONIFY_TOKEN_URL") {
            builder = builder.token_url(url);
        }
        if let Some(tenant) = optional_var(vars, "PERSONIFY_TENANT_ID") {
            builder = builder.tenant_id(tenant);
        }
        Ok(builder)
    }
}
