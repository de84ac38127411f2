//! The Apinizer emulation: client-credentials tokens for users, personal tokens that can be
//! revoked (or expire on a date), the test endpoints, and a protected resource.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::vendors::{Flag, Vendor, split};
use crate::wire::{expired, expires};
use crate::{Answer, Endpoint, Req, Shared, State as Sandbox, lock};

#[derive(Default)]
pub(crate) struct State {
    users: HashMap<String, String>,
    tokens: HashMap<String, Option<Instant>>,
    lifetime: Option<Duration>,
}

/// Configures the Apinizer emulation; see [`Sandbox::apinizer`](crate::Sandbox::apinizer).
#[derive(Clone)]
pub struct Apinizer {
    state: Shared,
}

impl std::fmt::Debug for Apinizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apinizer").finish_non_exhaustive()
    }
}

impl Apinizer {
    pub(crate) fn new(state: Shared) -> Self {
        Self { state }
    }

    /// Adds a user who can obtain tokens with `password`.
    pub fn add_user(&self, name: &str, password: &str) {
        lock(&self.state)
            .vendors
            .of::<State>()
            .users
            .insert(name.to_owned(), password.to_owned());
    }

    /// Creates a personal API access token, living `lifetime` (`None`: never expires), and
    /// returns it.
    #[must_use]
    pub fn create_personal_token(&self, lifetime: Option<Duration>) -> String {
        let mut s = lock(&self.state);
        let token = s.ids.next("apinizer-personal");
        s.vendors
            .of::<State>()
            .tokens
            .insert(token.clone(), expires(lifetime));
        token
    }

    /// Revokes a token (personal or issued): it answers 401 "Invalid token" from now on.
    pub fn revoke(&self, token: &str) {
        lock(&self.state).vendors.of::<State>().tokens.remove(token);
    }

    /// The lifetime of issued tokens from now on (default one hour).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).vendors.of::<State>().lifetime = Some(lifetime);
    }
}

/// The Apinizer emulation, as the sandbox registers it.
pub(crate) const VENDOR: Vendor = Vendor {
    name: "apinizer",
    endpoints: &[
        Endpoint::ApinizerToken,
        Endpoint::ApinizerHello,
        Endpoint::ApinizerHealthcheck,
        Endpoint::ApinizerApi,
    ],
    route,
    handle,
    gauges: |_| Vec::new(),
    set_token_lifetime: |sandbox, lifetime| sandbox.apinizer().set_token_lifetime(lifetime),
    flags: &[
        Flag {
            name: "apinizer-user",
            value: Some("NAME:PASSWORD"),
            help: "an Apinizer user",
            account: true,
            apply: |sandbox, value| {
                let [name, password] = split("apinizer-user", value)?;
                sandbox.apinizer().add_user(&name, &password);
                Ok(None)
            },
        },
        Flag {
            name: "apinizer-personal-token",
            value: None,
            help: "creates an Apinizer personal token and prints it",
            account: false,
            apply: |sandbox, _| {
                let token = sandbox.apinizer().create_personal_token(None);
                Ok(Some(format!("apinizer personal token: {token}")))
            },
        },
    ],
    demo: &[
        ("apinizer-user", "admin:sandbox-password"),
        ("apinizer-personal-token", ""),
    ],
    demo_text: "Apinizer admin / sandbox-password",
    location: |sandbox| ("Apinizer base URL", sandbox.apinizer_base_url()),
    demo_env: |sandbox| {
        vec![
            ("APINIZER_BASE_URL", sandbox.apinizer_base_url()),
            ("APINIZER_USERNAME", "admin".into()),
            ("APINIZER_PASSWORD", "sandbox-password".into()),
        ]
    },
};

#[allow(non_upper_case_globals)]
impl Endpoint {
    /// Apinizer `POST /apiops/auth/token`.
    pub const ApinizerToken: Endpoint = Endpoint::token("apinizer-token");
    /// Apinizer `GET /apiops/test/hello/{name}`.
    pub const ApinizerHello: Endpoint = Endpoint::api("apinizer-hello");
    /// Apinizer `GET /apiops/test/healthcheck`.
    pub const ApinizerHealthcheck: Endpoint = Endpoint::api("apinizer-healthcheck");
    /// Apinizer `GET /apiops/...` (other resources).
    pub const ApinizerApi: Endpoint = Endpoint::api("apinizer-api");
}

impl crate::Sandbox {
    /// Users and personal tokens of the Apinizer emulation.
    #[must_use]
    pub fn apinizer(&self) -> Apinizer {
        Apinizer::new(self.state.clone())
    }

    /// The Apinizer Management Console host.
    #[must_use]
    pub fn apinizer_base_url(&self) -> String {
        format!("{}/apinizer", self.url())
    }
}

/// Which endpoint `method` and the path after `/apinizer` reach.
fn route(method: &str, segments: &[&str]) -> Option<Endpoint> {
    Some(match (method, segments) {
        ("POST", ["apiops", "auth", "token"]) => Endpoint::ApinizerToken,
        ("GET", ["apiops", "test", "hello", _]) => Endpoint::ApinizerHello,
        ("GET", ["apiops", "test", "healthcheck"]) => Endpoint::ApinizerHealthcheck,
        ("GET", ["apiops", ..]) => Endpoint::ApinizerApi,
        _ => return None,
    })
}

pub(crate) fn handle(s: &mut Sandbox, endpoint: Endpoint, req: &Req) -> Answer {
    match endpoint {
        Endpoint::ApinizerToken => token(s, req),
        Endpoint::ApinizerHealthcheck => Answer::text(200, "text/plain", "OK"),
        Endpoint::ApinizerHello => match authorized(s.vendors.of::<State>(), req) {
            Ok(()) => {
                let name = req.path.rsplit('/').next().unwrap_or_default();
                let name = form_urlencoded::parse(format!("n={name}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                Answer::text(200, "text/plain", format!("Hello {name}"))
            }
            Err(answer) => answer,
        },
        // Resource paths need their trailing slash (`/apiops/projects/`).
        _ if !req.path.ends_with('/') => Answer::json(
            404,
            &json!({"timestamp": "2026-01-01T00:00:00.000+00:00", "status": 404, "error": "Not Found", "path": req.path}),
        ),
        _ => match authorized(s.vendors.of::<State>(), req) {
            Ok(()) => Answer::json(200, &json!([{"projectName": "sandbox-project"}])),
            Err(answer) => answer,
        },
    }
}

fn token(s: &mut Sandbox, req: &Req) -> Answer {
    let form = req.form();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Answer::oauth(
            400,
            "unsupported_grant_type",
            Some("GrantType value must be client_credentials!"),
        );
    }
    let user = form.get("client_id").cloned().unwrap_or_default();
    let password = form.get("client_secret").cloned().unwrap_or_default();
    if s.vendors.of::<State>().users.get(&user) != Some(&password) {
        return Answer::oauth(401, "unauthorized_client", Some("Bad credentials"));
    }
    let lifetime = s
        .vendors
        .of::<State>()
        .lifetime
        .unwrap_or(Duration::from_secs(3600));
    let token = s.ids.next("apinizer-issued");
    s.vendors
        .of::<State>()
        .tokens
        .insert(token.clone(), expires(Some(lifetime)));
    Answer::json(
        200,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()}),
    )
}

fn authorized(me: &State, req: &Req) -> Result<(), Answer> {
    match req.bearer().and_then(|t| me.tokens.get(t)) {
        Some(expiry) if !expired(*expiry) => Ok(()),
        _ => Err(Answer::oauth(
            401,
            "unauthorized_client",
            Some("Invalid token"),
        )),
    }
}
