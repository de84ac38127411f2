//! The P21 emulation: V2, V1 and consumer-key tokens (JSON or XML), one middleware session per
//! token request that invalidates the credential's earlier tokens, the UI router, and a
//! protected OData table that checks sessions, expiry, scope and permissions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::vendors::{Flag, Vendor, split};
use crate::wire::{exp, expired, expires, jwt};
use crate::{Answer, Endpoint, Req, Shared, State as Sandbox, lock};

const USER_LIFETIME: Duration = Duration::from_secs(86_400);
/// "Never Expire" consumer keys.
const CONSUMER_LIFETIME: Duration = Duration::from_secs(630_720_000);

#[derive(Default)]
pub(crate) struct State {
    users: HashMap<String, User>,
    keys: HashMap<String, ConsumerKey>,
    tokens: HashMap<String, Issued>,
    /// The live session of each credential.
    sessions: HashMap<String, String>,
    /// How many token requests closed a credential's live session.
    replaced: u64,
    xml: bool,
    redirect_router: bool,
    lifetime: Option<Duration>,
}

struct User {
    password: String,
    api_permission: bool,
}

struct ConsumerKey {
    scope: String,
    uid: u32,
}

struct Issued {
    credential: String,
    session: String,
    expires: Option<Instant>,
    scope: Option<String>,
    api_permission: bool,
}

/// Settings of a P21 user added with [`P21::add_user`].
pub struct P21User {
    state: Shared,
    name: String,
}

impl std::fmt::Debug for P21User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P21User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl P21User {
    /// Takes away the user's API permissions (User Maintenance → Application Security): their
    /// tokens are issued, but API calls answer "You are not authorized to access API".
    pub fn without_api_permission(self) -> Self {
        if let Some(user) = lock(&self.state)
            .vendors
            .of::<State>()
            .users
            .get_mut(&self.name)
        {
            user.api_permission = false;
        }
        self
    }
}

/// Configures the P21 emulation; see [`Sandbox::p21`](crate::Sandbox::p21).
#[derive(Clone)]
pub struct P21 {
    state: Shared,
}

impl std::fmt::Debug for P21 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P21").finish_non_exhaustive()
    }
}

impl P21 {
    pub(crate) fn new(state: Shared) -> Self {
        Self { state }
    }

    /// Adds a user who can sign in with `password` (with API permissions).
    pub fn add_user(&self, name: &str, password: &str) -> P21User {
        lock(&self.state).vendors.of::<State>().users.insert(
            name.to_owned(),
            User {
                password: password.to_owned(),
                api_permission: true,
            },
        );
        P21User {
            state: self.state.clone(),
            name: name.to_owned(),
        }
    }

    /// Registers a consumer key with its API scope (e.g. `/api;/p21sdk` or
    /// `/odata:supplier,price_page`).
    pub fn add_consumer_key(&self, key: &str, scope: &str) {
        let mut s = lock(&self.state);
        let uid = s.vendors.of::<State>().keys.len() as u32 + 8;
        s.vendors.of::<State>().keys.insert(
            key.to_owned(),
            ConsumerKey {
                scope: scope.to_owned(),
                uid,
            },
        );
    }

    /// Answers token requests in XML (as some middleware does, whatever `Accept` says).
    pub fn answer_in_xml(&self, xml: bool) {
        lock(&self.state).vendors.of::<State>().xml = xml;
    }

    /// Makes the UI router answer 307 towards its `/v1/` form (as some installs do).
    pub fn redirect_ui_router(&self, redirect: bool) {
        lock(&self.state).vendors.of::<State>().redirect_router = redirect;
    }

    /// The lifetime of tokens issued from now on (default: 24 h for users, "never expire"
    /// (20 years) for consumer keys).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).vendors.of::<State>().lifetime = Some(lifetime);
    }

    /// How many middleware sessions are live (one per credential that holds a token).
    #[must_use]
    pub fn live_sessions(&self) -> usize {
        lock(&self.state).vendors.of::<State>().live_sessions()
    }

    /// Closes every live session (as a restart of the P21 middleware does): every token issued
    /// so far is refused from now on.
    pub fn close_sessions(&self) {
        lock(&self.state).vendors.of::<State>().sessions.clear();
    }

    /// How many token requests closed a live session of the same credential (each one logs
    /// out whoever held the earlier token).
    #[must_use]
    pub fn sessions_replaced(&self) -> u64 {
        lock(&self.state).vendors.of::<State>().replaced
    }
}

impl State {
    pub(crate) fn live_sessions(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn sessions_replaced(&self) -> u64 {
        self.replaced
    }
}

/// The P21 emulation, as the sandbox registers it.
pub(crate) const VENDOR: Vendor = Vendor {
    name: "p21",
    endpoints: &[
        Endpoint::P21TokenV2,
        Endpoint::P21TokenV1,
        Endpoint::P21UiRouter,
        Endpoint::P21Api,
    ],
    route,
    handle,
    gauges: |s| {
        let me = s.vendors.of::<State>();
        vec![
            ("live_sessions", me.live_sessions() as u64),
            ("sessions_replaced", me.sessions_replaced()),
        ]
    },
    set_token_lifetime: |sandbox, lifetime| sandbox.p21().set_token_lifetime(lifetime),
    flags: &[
        Flag {
            name: "p21-user",
            value: Some("NAME:PASSWORD"),
            help: "a P21 API user",
            account: true,
            apply: |sandbox, value| {
                let [name, password] = split("p21-user", value)?;
                sandbox.p21().add_user(&name, &password);
                Ok(None)
            },
        },
        Flag {
            name: "p21-consumer-key",
            value: Some("KEY:SCOPE"),
            help: "a P21 consumer key",
            account: true,
            apply: |sandbox, value| {
                let [key, scope] = split("p21-consumer-key", value)?;
                sandbox.p21().add_consumer_key(&key, &scope);
                Ok(None)
            },
        },
        Flag {
            name: "xml",
            value: None,
            help: "P21 answers token requests in XML",
            account: false,
            apply: |sandbox, _| {
                sandbox.p21().answer_in_xml(true);
                Ok(None)
            },
        },
    ],
    demo: &[
        ("p21-user", "api_user:sandbox-password"),
        (
            "p21-consumer-key",
            "11111111-2222-3333-4444-555555555555:/api;/p21sdk",
        ),
    ],
    demo_text: "P21 api_user / sandbox-password, consumer key 11111111-2222-3333-4444-555555555555",
    location: |sandbox| ("P21 base URL", sandbox.p21_base_url()),
    demo_env: |sandbox| {
        vec![
            ("P21_BASE_URL", sandbox.p21_base_url()),
            ("P21_USERNAME", "api_user".into()),
            ("P21_PASSWORD", "sandbox-password".into()),
        ]
    },
};

#[allow(non_upper_case_globals)]
impl Endpoint {
    /// P21 `POST /api/security/token/v2`.
    pub const P21TokenV2: Endpoint = Endpoint::token("p21-token");
    /// P21 `POST /api/security/token` (V1).
    pub const P21TokenV1: Endpoint = Endpoint::token("p21-token-v1");
    /// P21 `GET /api/ui/router/v1`.
    pub const P21UiRouter: Endpoint = Endpoint::api("p21-ui-router");
    /// P21 `GET /odataservice/odata/table/{table}`.
    pub const P21Api: Endpoint = Endpoint::api("p21-api");
}

impl crate::Sandbox {
    /// Accounts, consumer keys and switches of the P21 emulation.
    #[must_use]
    pub fn p21(&self) -> P21 {
        P21::new(self.state.clone())
    }

    /// The P21 API host to give `p21-auth` as its base URL.
    #[must_use]
    pub fn p21_base_url(&self) -> String {
        format!("{}/p21", self.url())
    }
}

/// Which endpoint `method` and the path after `/p21` reach.
fn route(method: &str, segments: &[&str]) -> Option<Endpoint> {
    Some(match (method, segments) {
        ("POST", ["api", "security", "token", "v2"]) => Endpoint::P21TokenV2,
        ("POST", ["api", "security", "token"]) => Endpoint::P21TokenV1,
        ("GET", ["api", "ui", "router", "v1", ..]) => Endpoint::P21UiRouter,
        ("GET", ["odataservice", "odata", "table", _]) => Endpoint::P21Api,
        _ => return None,
    })
}

pub(crate) fn handle(s: &mut Sandbox, endpoint: Endpoint, req: &Req) -> Answer {
    match endpoint {
        Endpoint::P21TokenV2 => token_v2(s, req),
        Endpoint::P21TokenV1 => token_v1(s, req),
        Endpoint::P21UiRouter => ui_router(s, req),
        _ => table(s, req),
    }
}

fn invalid_grant() -> Answer {
    Answer::oauth(
        401,
        "invalid_grant",
        Some("The user name or password is incorrect."),
    )
}

fn token_v2(s: &mut Sandbox, req: &Req) -> Answer {
    if req.header("username").is_some() || req.header("password").is_some() {
        // Credentials sent as headers to V2 make the real server fail.
        return Answer::json(
            500,
            &json!({"ErrorMessage": "Object reference not set to an instance of an object.", "ErrorType": "System.NullReferenceException"}),
        );
    }
    let Ok(serde_json::Value::Object(body)) =
        serde_json::from_slice::<serde_json::Value>(&req.body)
    else {
        return Answer::json(
            400,
            &json!({"Error": "invalid_request", "Description": "The request body is not JSON.", "Uri": ""}),
        );
    };
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(key) = text("ClientSecret") {
        if text("GrantType").as_deref() != Some("client_credentials") {
            return Answer::oauth(400, "unsupported_grant_type", None);
        }
        let Some(consumer) = s.vendors.of::<State>().keys.get(&key) else {
            return Answer::oauth(401, "invalid_client", Some("Client authentication failed."));
        };
        let (scope, uid) = (consumer.scope.clone(), consumer.uid);
        let user = text("username").unwrap_or_default();
        return consumer_token(s, req, &key, &user, scope, uid);
    }
    let (Some(user), Some(password)) = (text("username"), text("password")) else {
        return invalid_grant();
    };
    user_token(s, req, &user, &password)
}

/// A consumer-key token. "Never Expire" keys (the default here) carry `ExpiresIn` 630720000 and
/// the JWT `exp` 2147483647, as P21 sends them.
fn consumer_token(
    s: &mut Sandbox,
    req: &Req,
    key: &str,
    user: &str,
    scope: String,
    uid: u32,
) -> Answer {
    let lifetime = s.vendors.of::<State>().lifetime;
    issue(
        s,
        req,
        Grant {
            credential: format!("key:{key}:{user}"),
            user,
            consumer: Some((scope, uid)),
            lifetime: lifetime.unwrap_or(CONSUMER_LIFETIME),
            never_expire: lifetime.is_none(),
            api_permission: true,
        },
    )
}

fn token_v1(s: &mut Sandbox, req: &Req) -> Answer {
    // Some clients send a consumer key over V1 as an `appkey` header.
    if let Some(key) = req.header("appkey").map(str::to_owned) {
        let Some(consumer) = s.vendors.of::<State>().keys.get(&key) else {
            return Answer::oauth(401, "invalid_client", Some("Client authentication failed."));
        };
        let (scope, uid) = (consumer.scope.clone(), consumer.uid);
        let user = req.header("username").unwrap_or_default().to_owned();
        return consumer_token(s, req, &key, &user, scope, uid);
    }
    let (Some(user), Some(password)) = (req.header("username"), req.header("password")) else {
        return invalid_grant();
    };
    let (user, password) = (user.to_owned(), password.to_owned());
    user_token(s, req, &user, &password)
}

fn user_token(s: &mut Sandbox, req: &Req, user: &str, password: &str) -> Answer {
    let Some(account) = s
        .vendors
        .of::<State>()
        .users
        .get(user)
        .filter(|u| u.password == password)
    else {
        return invalid_grant();
    };
    let permission = account.api_permission;
    let lifetime = s.vendors.of::<State>().lifetime.unwrap_or(USER_LIFETIME);
    issue(
        s,
        req,
        Grant {
            credential: format!("user:{user}"),
            user,
            consumer: None,
            lifetime,
            never_expire: false,
            api_permission: permission,
        },
    )
}

/// What a successful sign-in grants.
struct Grant<'a> {
    /// The credential whose earlier session the new one closes.
    credential: String,
    user: &'a str,
    /// The consumer key's scope and uid, for consumer-key tokens.
    consumer: Option<(String, u32)>,
    lifetime: Duration,
    /// Whether the JWT `exp` is the "never expire" 2147483647.
    never_expire: bool,
    api_permission: bool,
}

/// Opens a new session for the grant's credential (closing its earlier one) and answers with a
/// token.
fn issue(s: &mut Sandbox, req: &Req, grant: Grant<'_>) -> Answer {
    let Grant {
        credential,
        user,
        consumer,
        lifetime,
        never_expire,
        api_permission,
    } = grant;
    let credential = credential.as_str();
    let session = s.ids.next("p21-session");
    if s.vendors
        .of::<State>()
        .sessions
        .insert(credential.to_owned(), session.clone())
        .is_some()
    {
        s.vendors.of::<State>().replaced += 1;
    }
    let scope = consumer.as_ref().map(|(scope, _)| scope.clone());
    let mut claims = json!({
        "sub": user,
        "aud": scope.clone().unwrap_or_else(|| "/api".into()),
        "iss": "P21.Soa",
        "exp": exp((!never_expire).then_some(lifetime)),
        "P21.SessionId": session,
    });
    if let Some((_, uid)) = &consumer {
        claims["P21.ConsumerUid"] = uid.to_string().into();
    }
    let token = jwt(&claims);
    s.vendors.of::<State>().tokens.insert(
        token.clone(),
        Issued {
            credential: credential.to_owned(),
            session: session.clone(),
            expires: expires(Some(lifetime)),
            scope: scope.clone(),
            api_permission,
        },
    );
    let secs = lifetime.as_secs();
    if s.vendors.of::<State>().xml {
        let mut xml = format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><TokenResponse xmlns=\"http://schemas.datacontract.org/2004/07/P21.Soa.Models\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><AccessToken>{token}</AccessToken><ExpiresIn>{secs}</ExpiresIn><SessionId>{session}</SessionId><TokenType>Bearer</TokenType>"
        );
        match &consumer {
            Some((scope, uid)) => xml.push_str(&format!(
                "<Scope>{scope}</Scope><ConsumerUid>{uid}</ConsumerUid><AppKey i:nil=\"true\"/>"
            )),
            None => xml.push_str(&format!("<UserName>{user}</UserName>")),
        }
        xml.push_str("</TokenResponse>");
        return Answer::text(200, "application/xml; charset=utf-8", xml);
    }
    let _ = req;
    match consumer {
        Some((scope, uid)) => Answer::json(
            200,
            &json!({
                "AccessToken": token, "TokenType": "Bearer", "UserName": user, "ExpiresIn": secs,
                "RefreshToken": "", "Scope": scope, "SessionId": session,
                "ConsumerUid": uid.to_string(), "AppKey": null,
            }),
        ),
        None => Answer::json(
            200,
            &json!({
                "AccessToken": token, "RefreshToken": s.ids.next("p21-refresh"),
                "ExpiresInSeconds": secs, "TokenType": "Bearer", "SessionId": session,
            }),
        ),
    }
}

/// The token's record if it is live: issued here, not expired, its session still current.
fn live<'a>(me: &'a State, req: &Req) -> Result<&'a Issued, Answer> {
    let Some(token) = req.bearer() else {
        return Err(Answer::json(
            401,
            &json!({"Description": "Authorization header was not present or 'Bearer' was missing.", "Error": "invalid_request", "Uri": ""}),
        ));
    };
    match me.tokens.get(token) {
        Some(t) if !expired(t.expires) && me.sessions.get(&t.credential) == Some(&t.session) => {
            Ok(t)
        }
        _ => Err(Answer::json(
            401,
            &json!({"Description": "The token is expired or its session was closed.", "Error": "invalid_token", "Uri": ""}),
        )),
    }
}

fn ui_router(s: &mut Sandbox, req: &Req) -> Answer {
    if s.vendors.of::<State>().redirect_router && !req.path.ends_with('/') {
        return Answer::text(307, "text/plain", "")
            .header("location", "/p21/api/ui/router/v1/?urlType=external");
    }
    match live(s.vendors.of::<State>(), req) {
        Ok(_) => Answer::json(200, &json!({"Url": format!("{}/p21/uiserver0/", req.base)})),
        Err(answer) => answer,
    }
}

fn table(s: &mut Sandbox, req: &Req) -> Answer {
    let table = req.path.rsplit('/').next().unwrap_or_default().to_owned();
    let token = match live(s.vendors.of::<State>(), req) {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    if !token.api_permission {
        return Answer::json(
            401,
            &json!({"ErrorMessage": "You are not authorized to access API", "ErrorType": "Unauthorized"}),
        );
    }
    if let Some(scope) = &token.scope {
        let allowed = scope.split(';').any(|part| {
            part == "/api"
                || part
                    .strip_prefix("/odata:")
                    .is_some_and(|tables| tables.split(',').any(|t| t.trim() == table))
        });
        if !allowed {
            return Answer::oauth(
                403,
                "insufficient_scope",
                Some("The consumer key's scope does not cover this resource."),
            );
        }
    }
    Answer::json(
        200,
        &json!({"value": [{"table": table, "id": 1, "name": "Sandbox Supply Co."}]}),
    )
}
