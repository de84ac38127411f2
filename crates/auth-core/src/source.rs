//! [`TokenSource`]: what fetches a fresh token (one implementation per vendor flow), and
//! [`StaticToken`], a token that is given rather than fetched.

use std::fmt;
use std::time::Instant;

use crate::secret::Secret;
use crate::token::{Token, TokenBuilder};

/// Something that can fetch a fresh token: one implementation per vendor flow.
///
/// Implementations build their request with a pure function, send it (the `auth-http` toolkit's
/// `HttpClient::send` in this workspace's vendor crates) and parse the response with a pure
/// function. A
/// [`TokenCache`](crate::cache::TokenCache) decides *when* to call [`fetch`](Self::fetch) and makes sure
/// only one call runs at a time.
///
/// ```
/// use auth_core::{async_trait, Error, Secret, Token, TokenSource};
///
/// #[derive(Debug)]
/// struct Fixed;
///
/// #[async_trait]
/// impl TokenSource for Fixed {
///     fn vendor(&self) -> &'static str { "example" }
///     async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, Error> {
///         Ok(Token::builder(Secret::new("t")).build())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug + 'static {
    /// The vendor's short lower-case name (`"acme"`), used in errors and logs.
    fn vendor(&self) -> &'static str;

    /// Fetches a fresh token. `previous` is the last token the cache held, possibly expired or
    /// invalidated, so that a source with refresh tokens can spend the newest one. The cache
    /// never runs two fetches of one source at once, so a single-use refresh token is never
    /// spent twice.
    async fn fetch(&self, previous: Option<&Token>) -> Result<Token, crate::error::Error>;

    /// Whether another fetch can yield a different token. A static token cannot be renewed: a
    /// 401 with it means it expired or was revoked.
    fn can_renew(&self) -> bool {
        true
    }

    /// The key this source's tokens are shared under in a `TokenStore`:
    /// its non-secret identity (vendor, endpoint, principal). `None` (the default): its tokens
    /// are never shared, even when the cache has a store.
    fn store_key(&self) -> Option<crate::key::StoreKey> {
        None
    }

    /// The secret this source signs in with (a password, a client secret; several joined into
    /// one), for a shared store's verifier: a stored token is adopted, and a stored rejection
    /// obeyed, only by sources with the same secret. `None` (the default): only records without
    /// a verifier are shared with it.
    fn store_secret(&self) -> Option<Secret> {
        None
    }

    /// The vendor details of `token` (see [`TokenBuilder::details`]) in a form that can be
    /// stored, for sources whose tokens carry some. `None` (the default): nothing to store.
    fn encode_details(&self, _token: &Token) -> Option<serde_json::Value> {
        None
    }

    /// Attaches details read back from a store to `token`. `None` means they do not make sense
    /// to this source, and the stored token is treated as absent. The default accepts a token
    /// with no details.
    fn decode_details(
        &self,
        token: TokenBuilder,
        details: Option<&serde_json::Value>,
    ) -> Option<TokenBuilder> {
        details.is_none().then_some(token)
    }

    /// How many refresh tokens the vendor refused so far (a token spent elsewhere, expired or
    /// revoked), each followed by a sign-in with the password. The cache counts the new ones
    /// after each fetch (`CacheStats::refresh_fallbacks`) and warns once per run of them.
    fn refused_refreshes(&self) -> u64 {
        0
    }

    /// Whether a new token ends the credential's previous session (one live session per
    /// credential). With a shared store in degraded mode, such a source's tokens are not
    /// refreshed early, so that processes cannot take turns logging each other out.
    fn session_exclusive(&self) -> bool {
        false
    }
}

/// A token that is given, not fetched (a personal access token created in a console).
///
/// It is handed out as it is until its expiry (if it has one); after that, fetching it fails with
/// [`ErrorKind::TokenRevoked`](crate::error::ErrorKind::TokenRevoked): it cannot be renewed.
///
/// ```
/// use auth_core::source::StaticToken;
/// use auth_core::{Secret, TokenSource};
///
/// let source = StaticToken::new("example", Secret::new("personal-token"), None);
/// assert!(!source.can_renew());
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken {
    vendor: &'static str,
    token: Token,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

impl StaticToken {
    /// A static token of `vendor`, expiring at `expires_at` (`None`: it does not expire).
    pub fn new(vendor: &'static str, token: Secret, expires_at: Option<Instant>) -> Self {
        Self::from_token(
            vendor,
            Token::builder(token)
                .expires_at(Instant::now(), expires_at)
                .build(),
        )
    }

    /// A static source handing out exactly `token`.
    pub fn from_token(vendor: &'static str, token: Token) -> Self {
        Self {
            vendor,
            token,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
        }
    }

    /// Judges expiry on `clock` (default: the real one).
    #[must_use]
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait::async_trait]
impl TokenSource for StaticToken {
    fn vendor(&self) -> &'static str {
        self.vendor
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, crate::error::Error> {
        if self.token.is_expired_at(self.clock.now()) {
            return Err(crate::error::Error::token_revoked(
                self.vendor,
                Some("the token passed its expiry date".into()),
            ));
        }
        Ok(self.token.clone())
    }

    fn can_renew(&self) -> bool {
        false
    }
}
