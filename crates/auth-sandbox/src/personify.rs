//! The Personify emulation: IdentityServer-style client credentials (every token error a 400,
//! a non-form body rejected as `invalid_request`, scopes checked), and a protected API that also
//! requires `X-Tenant-Id`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::vendors::{Flag, Vendor, split};
use crate::wire::{expired, expires};
use crate::{Answer, Endpoint, Req, Shared, State as Sandbox, lock};

#[derive(Default)]
pub(crate) struct State {
    clients: HashMap<String, ApiClient>,
    tokens: HashMap<String, Issued>,
    lifetime: Option<Duration>,
}

struct ApiClient {
    secret: String,
    scopes: Vec<String>,
    tenants: Vec<String>,
}

struct Issued {
    client: String,
    expires: Option<Instant>,
}

/// Configures the Personify emulation; see [`Sandbox::personify`](crate::Sandbox::personify).
#[derive(Clone)]
pub struct Personify {
    state: Shared,
}

impl std::fmt::Debug for Personify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personify").finish_non_exhaustive()
    }
}

impl Personify {
    pub(crate) fn new(state: Shared) -> Self {
        Self { state }
    }

    /// Adds an API client allowed `scopes`, for `tenants`.
    pub fn add_client(&self, id: &str, secret: &str, scopes: &[&str], tenants: &[&str]) {
        lock(&self.state).vendors.of::<State>().clients.insert(
            id.to_owned(),
            ApiClient {
                secret: secret.to_owned(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                tenants: tenants.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
    }

    /// The lifetime of tokens issued from now on (default one hour).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).vendors.of::<State>().lifetime = Some(lifetime);
    }

    /// Revokes every token issued so far (as if the signing key rotated).
    pub fn revoke_all(&self) {
        lock(&self.state).vendors.of::<State>().tokens.clear();
    }
}

/// The Personify emulation, as the sandbox registers it.
pub(crate) const VENDOR: Vendor = Vendor {
    name: "personify",
    endpoints: &[Endpoint::PersonifyToken, Endpoint::PersonifyApi],
    route,
    handle,
    gauges: |_| Vec::new(),
    set_token_lifetime: |sandbox, lifetime| sandbox.personify().set_token_lifetime(lifetime),
    flags: &[Flag {
        name: "personify-client",
        value: Some("ID:SECRET:SCOPES:TENANT"),
        help: "a Personify API client (SCOPES separated by commas)",
        account: true,
        apply: |sandbox, value| {
            let [id, secret, scopes, tenant] = split("personify-client", value)?;
            let scopes: Vec<&str> = scopes.split(',').collect();
            sandbox
                .personify()
                .add_client(&id, &secret, &scopes, &[&tenant]);
            Ok(None)
        },
    }],
    demo: &[(
        "personify-client",
        "sandbox-client:sandbox-secret:idp_api:sandbox-tenant",
    )],
    demo_text: "Personify sandbox-client / sandbox-secret (tenant sandbox-tenant)",
    location: |sandbox| ("Personify token URL", sandbox.personify_token_url()),
    demo_env: |sandbox| {
        vec![
            ("PERSONIFY_TOKEN_URL", sandbox.personify_token_url()),
            ("PERSONIFY_CLIENT_ID", "sandbox-client".into()),
            ("PERSONIFY_CLIENT_SECRET", "sandbox-secret".into()),
            ("PERSONIFY_TENANT_ID", "sandbox-tenant".into()),
            ("PERSONIFY_API_BASE_URL", sandbox.personify_api_url("")),
        ]
    },
};

#[allow(non_upper_case_globals)]
impl Endpoint {
    /// Personify `POST /connect/token`.
    pub const PersonifyToken: Endpoint = Endpoint::token("personify-token");
    /// Personify `GET /api/...`.
    pub const PersonifyApi: Endpoint = Endpoint::api("personify-api");
}

impl crate::Sandbox {
    /// Clients, scopes and tenants of the Personify emulation.
    #[must_use]
    pub fn personify(&self) -> Personify {
        Personify::new(self.state.clone())
    }

    /// The Personify token endpoint.
    #[must_use]
    pub fn personify_token_url(&self) -> String {
        format!("{}/personify/connect/token", self.url())
    }

    /// A protected Personify API URL (`/personify/api/{path}`).
    #[must_use]
    pub fn personify_api_url(&self, path: &str) -> String {
        format!(
            "{}/personify/api/{}",
            self.url(),
            path.trim_start_matches('/')
        )
    }
}

/// Which endpoint `method` and the path after `/personify` reach.
fn route(method: &str, segments: &[&str]) -> Option<Endpoint> {
    Some(match (method, segments) {
        ("POST", ["connect", "token"]) => Endpoint::PersonifyToken,
        ("GET", ["api", ..]) => Endpoint::PersonifyApi,
        _ => return None,
    })
}

pub(crate) fn handle(s: &mut Sandbox, endpoint: Endpoint, req: &Req) -> Answer {
    match endpoint {
        Endpoint::PersonifyToken => token(s, req),
        _ => api(s, req),
    }
}

fn token(s: &mut Sandbox, req: &Req) -> Answer {
    if !req.is_form() {
        return Answer::oauth(400, "invalid_request", None);
    }
    let form = req.form();
    let (id, secret) = match basic_credentials(req) {
        Some(pair) => pair,
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    let Some(client) = s
        .vendors
        .of::<State>()
        .clients
        .get(&id)
        .filter(|c| c.secret == secret)
    else {
        return Answer::oauth(400, "invalid_client", None);
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => return Answer::oauth(400, "unsupported_grant_type", None),
        None => return Answer::oauth(400, "invalid_request", None),
    }
    let granted: Vec<String> = match form.get("scope") {
        Some(requested) => {
            let requested: Vec<String> = requested.split_whitespace().map(str::to_owned).collect();
            if requested.iter().any(|r| !client.scopes.contains(r)) {
                return Answer::oauth(400, "invalid_scope", None);
            }
            requested
        }
        None => client.scopes.clone(),
    };
    let lifetime = s
        .vendors
        .of::<State>()
        .lifetime
        .unwrap_or(Duration::from_secs(3600));
    let token = s.ids.next("personify-token");
    s.vendors.of::<State>().tokens.insert(
        token.clone(),
        Issued {
            client: id,
            expires: expires(Some(lifetime)),
        },
    );
    Answer::json(
        200,
        &json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_type": "Bearer",
            "scope": granted.join(" "),
        }),
    )
}

/// `client_secret_basic`: both parts form-decoded after base64 (RFC 6749 §2.3.1).
fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let value = req.header("authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// Standard base64, padded or not, as servers accept it.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(input)
        .ok()
}

fn api(s: &mut Sandbox, req: &Req) -> Answer {
    let invalid = || {
        Answer::text(401, "text/plain", "")
            .header("www-authenticate", r#"Bearer error="invalid_token""#)
    };
    let me = s.vendors.of::<State>();
    let Some(issued) = req.bearer().and_then(|t| me.tokens.get(t)) else {
        return invalid();
    };
    if expired(issued.expires) {
        return invalid();
    }
    let Some(tenant) = req.header("x-tenant-id") else {
        return Answer::json(
            400,
            &json!({"Message": "The X-Tenant-Id header is required."}),
        );
    };
    let allowed = me
        .clients
        .get(&issued.client)
        .is_some_and(|c| c.tenants.iter().any(|t| t == tenant));
    if !allowed {
        return Answer::json(
            403,
            &json!({"Message": "The client has no access to this tenant."}),
        );
    }
    Answer::json(
        200,
        &json!({"tenant": tenant, "members": [{"id": 1, "name": "Sandbox Member"}]}),
    )
}
