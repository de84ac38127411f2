//! ByDesign client configuration: [`Credentials`] and the [`ClientBuilder`].

use std::fmt;

use auth_core::{
    CacheConfig, ConfigProblem, EnvLookup, Error, HttpClient, Secret, TokenCacheBuilder,
    optional_var, required_base_url, required_var,
};

use crate::VENDOR;
use crate::client::Client;

/// The token path under the company base URL, unless configured otherwise.
pub const DEFAULT_TOKEN_PATH: &str = "/token";

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
        }
    }

    /// A customer, by customer id, with the customer's password.
    pub fn customer(id: impl Into<String>, password: Secret) -> Self {
        Self {
            user_type: UserType::Customer,
            id: id.into(),
            password,
        }
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

    fn validate(&self) -> Result<(), Error> {
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
        f.debug_struct("Credentials")
            .field("user_type", &self.user_type)
            .field("username", &self.username())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; see [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    token_path: String,
    client_id: Option<String>,
    credentials: Option<Credentials>,
    http: Option<HttpClient>,
    cache: Option<CacheConfig>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token_path", &self.token_path)
            .field("client_id", &self.client_id)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new() -> Self {
        Self {
            base_url: None,
            token_path: DEFAULT_TOKEN_PATH.to_owned(),
            client_id: None,
            credentials: None,
            http: None,
            cache: None,
        }
    }

    /// The company's WebAPI base URL, e.g. `https://webapi.securefreedom.com/MyCompany`. Its
    /// path is kept: the token endpoint is `{base}/token`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The token path under the base URL (default `/token`; some installations use
    /// `/Client/token`).
    pub fn token_path(mut self, path: impl Into<String>) -> Self {
        self.token_path = path.into();
        self
    }

    /// The OAuth client id registered with ByDesign (e.g. `ByDesignAngularJSShoppingCart`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The rep or customer signing in.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sends through this `auth_core::HttpClient` (your own `reqwest::Client`, timeouts, retries).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Tunes the token cache (windows, rejection memory, clock, `on_token` hook: use it to
    /// persist the rotated refresh token).
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
        let client_id = self
            .client_id
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::config(VENDOR, "client_id", ConfigProblem::Missing))?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::config(VENDOR, "credentials", ConfigProblem::Missing))?;
        credentials.validate()?;
        if self.token_path.contains(['?', '#']) || self.token_path.trim().is_empty() {
            return Err(Error::config(
                VENDOR,
                "token_path",
                ConfigProblem::Invalid("a path such as /token".into()),
            ));
        }
        let token_url = auth_core::endpoint(&base_url, &self.token_path);
        let http = HttpClient::given_or_default(
            self.http,
            VENDOR,
            concat!("bydesign-auth/", env!("CARGO_PKG_VERSION")),
        )?;
        http.check_url(VENDOR, "base_url", &base_url)?;
        Ok(Client::new(
            token_url,
            client_id,
            credentials,
            http,
            self.cache,
        ))
    }

    /// Reads the settings from `vars` (see [`Client::from_env`]).
    pub(crate) fn from_vars(vars: &dyn EnvLookup) -> Result<Self, Error> {
        let base_url = required_var(vars, VENDOR, "BYDESIGN_BASE_URL")?;
        let client_id = required_var(vars, VENDOR, "BYDESIGN_CLIENT_ID")?;
        let rep = optional_var(vars, "BYDESIGN_REP_ID");
        let customer = optional_var(vars, "BYDESIGN_CUSTOMER_ID");
        let password = || required_var(vars, VENDOR, "BYDESIGN_PASSWORD").map(Secret::new);
        let credentials = match (rep, customer) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    VENDOR,
                    "BYDESIGN_REP_ID",
                    ConfigProblem::Conflict(
                        "set exactly one of BYDESIGN_REP_ID and BYDESIGN_CUSTOMER_ID".into(),
                    ),
                ));
            }
            (Some(id), None) => Credentials::rep(id, password()?),
            (None, Some(id)) => Credentials::customer(id, password()?),
            (None, None) => {
                return Err(Error::config(
                    VENDOR,
                    "BYDESIGN_REP_ID or BYDESIGN_CUSTOMER_ID",
                    ConfigProblem::Missing,
                ));
            }
        };
        let mut builder = Self::new()
            .base_url(base_url)
            .client_id(client_id)
            .credentials(credentials);
        if let Some(path) = optional_var(vars, "BYDESIGN_TOKEN_PATH") {
            builder = builder.token_path(path);
        }
        Ok(builder)
    }
}
