//! [`Token`]: an access token with its type, absolute expiry, refresh token and vendor details,
//! and its [`TokenBuilder`].

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;

use crate::secret::Secret;

pub use crate::clock::MAX_LIFETIME;

/// An access token as obtained from a token endpoint.
///
/// Cloning is an [`Arc`] clone: the cache hands out clones on every call without copying the
/// secret. `Debug` never shows the access or refresh token.
///
/// ```
/// use std::time::{Duration, Instant};
/// use auth_core::{Secret, Token};
///
/// let sent_at = Instant::now();
/// let token = Token::builder(Secret::new("abc"))
///     .token_type("bearer")
///     .lifetime(sent_at, Some(Duration::from_secs(3600)))
///     .scope("read write")
///     .build();
/// assert_eq!(token.token_type(), "bearer");
/// assert_eq!(token.expires_at(), Some(sent_at + Duration::from_secs(3600)));
/// assert_eq!(token.authorization_value().unwrap().to_str().unwrap(), "Bearer abc");
/// assert!(!format!("{token:?}").contains("abc"));
/// ```
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

struct Inner {
    access_token: Secret,
    token_type: Cow<'static, str>,
    obtained_at: Instant,
    expires_at: Option<Instant>,
    expires_at_system: Option<SystemTime>,
    refresh_token: Option<Secret>,
    scope: Option<String>,
    details: Option<Details>,
}

struct Details {
    type_name: &'static str,
    value: Box<dyn Any + Send + Sync>,
}

impl Token {
    /// Starts building a token around its access token value.
    pub fn builder(access_token: Secret) -> TokenBuilder {
        TokenBuilder {
            access_token,
            token_type: Cow::Borrowed("Bearer"),
            obtained_at: None,
            expires_at: None,
            expires_at_system: None,
            refresh_token: None,
            scope: None,
            details: None,
        }
    }

    /// The access token. See [`Secret::expose_secret`] before reading it.
    #[must_use]
    pub fn access_token(&self) -> &Secret {
        &self.inner.access_token
    }

    /// The token type as the server sent it (`Bearer`, `bearer`, ...).
    #[must_use]
    pub fn token_type(&self) -> &str {
        &self.inner.token_type
    }

    /// When the request that produced this token was sent; lifetimes are measured from here.
    #[must_use]
    pub fn obtained_at(&self) -> Instant {
        self.inner.obtained_at
    }

    /// When the token stops being valid, or `None` if it does not expire.
    #[must_use]
    pub fn expires_at(&self) -> Option<Instant> {
        self.inner.expires_at
    }

    /// When the token stops being valid on the wall clock (what a shared store records), or
    /// `None` if it does not expire.
    #[must_use]
    pub fn expires_at_system(&self) -> Option<SystemTime> {
        self.inner.expires_at_system
    }

    /// The lifetime the token was issued with (`None` if it does not expire).
    #[must_use]
    pub fn lifetime(&self) -> Option<Duration> {
        self.inner
            .expires_at
            .map(|at| at.saturating_duration_since(self.inner.obtained_at))
    }

    /// Whether the token has expired at `now`.
    #[must_use]
    pub fn is_expired_at(&self, now: Instant) -> bool {
        self.inner.expires_at.is_some_and(|at| now >= at)
    }

    /// The refresh token, if the server issued one (and it was not empty).
    #[must_use]
    pub fn refresh_token(&self) -> Option<&Secret> {
        self.inner.refresh_token.as_ref()
    }

    /// The scope the server granted, if it said.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.inner.scope.as_deref()
    }

    /// The vendor's typed details (session id, user name, ...), if they are of type `T`.
    #[must_use]
    pub fn details<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.inner.details.as_ref()?.value.downcast_ref()
    }

    /// The `Authorization` header value, `Bearer <token>`, marked sensitive so that HTTP
    /// libraries do not print it. Whatever case the server used for the type, `Bearer` is sent.
    ///
    /// Fails if the token is empty or has white space or control characters: it could not be
    /// sent, or would be sent mangled. Token sources refuse such tokens when they parse them
    /// (the toolkit's `oauth::access_token` among them), so a cached token never fails here.
    ///
    /// # Errors
    /// The token holds characters that cannot travel in a header.
    pub fn authorization_value(&self) -> Result<HeaderValue, crate::error::Error> {
        let token = self.inner.access_token.expose_secret();
        let unsendable = || {
            crate::error::Error::unattributed(crate::error::ErrorKind::MalformedResponse {
                what: "the access token cannot be sent in an HTTP header".into(),
                content_type: None,
            })
        };
        if !is_sendable(token) {
            return Err(unsendable());
        }
        let mut value =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| unsendable())?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Whether [`authorization_value`](Self::authorization_value) succeeds, without building it.
    pub(crate) fn is_sendable(&self) -> bool {
        is_sendable(self.inner.access_token.expose_secret())
    }

    /// Whether `self` and `other` are the same token (the same issuance, not merely equal text).
    #[must_use]
    pub fn same_as(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || self.inner.access_token.ct_eq(&other.inner.access_token)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Token");
        d.field("access_token", &self.inner.access_token)
            .field("token_type", &self.inner.token_type)
            .field("lifetime", &self.lifetime())
            .field(
                "refresh_token",
                &self
                    .inner
                    .refresh_token
                    .as_ref()
                    .map(|_| crate::secret::REDACTED),
            )
            .field("scope", &self.inner.scope);
        if let Some(details) = &self.inner.details {
            d.field("details", &details.type_name);
        }
        d.finish_non_exhaustive()
    }
}

/// Builds a [`Token`]; see [`Token::builder`].
#[must_use]
pub struct TokenBuilder {
    access_token: Secret,
    token_type: Cow<'static, str>,
    obtained_at: Option<Instant>,
    expires_at: Option<Instant>,
    expires_at_system: Option<SystemTime>,
    refresh_token: Option<Secret>,
    scope: Option<String>,
    details: Option<Details>,
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

impl TokenBuilder {
    /// The token type as sent (default `Bearer`).
    pub fn token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Cow::Owned(token_type.into());
        self
    }

    /// Sets when the token request was sent and how long the token lives from then
    /// (`None`: it does not expire). A lifetime past [`MAX_LIFETIME`] is clamped.
    pub fn lifetime(mut self, sent_at: Instant, lifetime: Option<Duration>) -> Self {
        self.obtained_at = Some(sent_at);
        self.expires_at = lifetime.and_then(|l| sent_at.checked_add(l.min(MAX_LIFETIME)));
        self
    }

    /// Sets an absolute expiry (for servers that send a date instead of a lifetime).
    pub fn expires_at(mut self, sent_at: Instant, expires_at: Option<Instant>) -> Self {
        self.obtained_at = Some(sent_at);
        self.expires_at = expires_at;
        self
    }

    /// The wall-clock expiry, for a token whose expiry must make sense outside this process (a
    /// shared store). Without it, [`build`](Self::build) derives it from the monotonic expiry
    /// and the system clock.
    pub fn expires_at_system(mut self, expires_at: Option<SystemTime>) -> Self {
        self.expires_at_system = expires_at;
        self
    }

    /// The refresh token. An empty value (some servers send `""`) is treated as none.
    pub fn refresh_token(mut self, refresh_token: Option<Secret>) -> Self {
        self.refresh_token = refresh_token.filter(|s| !s.is_empty());
        self
    }

    /// The granted scope. An empty value is treated as none.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// Attaches the vendor's typed details, read back with [`Token::details`].
    pub fn details<T: Any + Send + Sync>(mut self, details: T) -> Self {
        self.details = Some(Details {
            type_name: std::any::type_name::<T>(),
            value: Box::new(details),
        });
        self
    }

    /// Finishes the token. Without [`lifetime`](Self::lifetime) it is obtained now and does not
    /// expire.
    pub fn build(self) -> Token {
        let expires_at_system = match (self.expires_at_system, self.expires_at) {
            (Some(at), _) => Some(at),
            (None, None) => None,
            (None, Some(at)) => {
                crate::clock::system_time_from_instant(&crate::clock::SystemClock, at)
            }
        };
        Token {
            inner: Arc::new(Inner {
                access_token: self.access_token,
                token_type: self.token_type,
                obtained_at: self.obtained_at.unwrap_or_else(Instant::now),
                expires_at: self.expires_at,
                expires_at_system,
                refresh_token: self.refresh_token,
                scope: self.scope,
                details: self.details,
            }),
        }
    }
}

/// Whether `token` can travel as `Authorization: Bearer <token>` unchanged: not empty, and no
/// white space or control characters (CR, LF, NUL, DEL...) anywhere.
#[must_use]
pub fn is_sendable(token: &str) -> bool {
    // Printable ASCII (the usual token) is decided byte by byte; anything else by character.
    !token.is_empty()
        && (token.bytes().all(|b| b.is_ascii_graphic())
            || !token.chars().any(|c| c.is_control() || c.is_whitespace()))
}

/// The payload of a JWT as a JSON object, **without verifying** its signature: for showing what
/// a token says (its user, expiry, scope), never for trusting it. `Err` says, without quoting the
/// token, why it is not a JWT.
///
/// ```
/// use auth_core::token::jwt_claims_unverified;
///
/// // {"alg":"none"} . {"sub":"alice","exp":2000000000} . (no signature checked)
/// let claims = jwt_claims_unverified("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMH0.c2ln")?;
/// assert_eq!(claims["sub"], "alice");
/// assert!(jwt_claims_unverified("opaque-token").is_err());
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
/// Why `jwt` is not a JWT with a JSON payload (never quoting it).
pub fn jwt_claims_unverified(
    jwt: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut parts = jwt.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the access token is not a JWT (expected three dot-separated parts)".into());
    };
    let bytes = base64url_decode(payload).ok_or("the JWT payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|_| "the JWT payload is not a JSON object".into())
}

/// Decodes base64url (or, from servers that use it, standard base64), padded or not.
fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&URL_SAFE, config)
        .decode(input)
        .or_else(|_| GeneralPurpose::new(&STANDARD, config).decode(input))
        .ok()
}
