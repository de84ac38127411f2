//! The ByDesign emulation (an OWIN authorization server): the password grant for reps and
//! customers under a company path, single-use rotating refresh tokens, every token error a 400,
//! a body always read as a form (so a JSON body is `unsupported_grant_type`), a password change
//! that expires earlier tokens, and a protected API.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::vendors::{Flag, Vendor, split};
use crate::wire::{expired, expires};
use crate::{Answer, Endpoint, Req, Shared, State as Sandbox, lock};

#[derive(Default)]
pub(crate) struct State {
    companies: HashMap<String, Company>,
    lifetime: Option<Duration>,
    /// One live refresh token per user and client: issuing one revokes the others.
    one_refresh_token: bool,
}

impl State {
    pub(crate) fn live_refresh_tokens(&self) -> usize {
        self.companies.values().map(|c| c.refresh.len()).sum()
    }
}

#[derive(Default)]
struct Company {
    clients: HashSet<String>,
    /// By user name with prefix (`-->r_1001`).
    accounts: HashMap<String, Account>,
    tokens: HashMap<String, Issued>,
    refresh: HashMap<String, Refresh>,
}

struct Account {
    password: String,
    display_name: String,
    rank: String,
}

struct Issued {
    user: String,
    expires: Option<Instant>,
}

struct Refresh {
    user: String,
    client: String,
}

/// Configures the ByDesign emulation; see [`Sandbox::bydesign`](crate::Sandbox::bydesign).
#[derive(Clone)]
pub struct ByDesign {
    state: Shared,
}

impl std::fmt::Debug for ByDesign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByDesign").finish_non_exhaustive()
    }
}

impl ByDesign {
    pub(crate) fn new(state: Shared) -> Self {
        Self { state }
    }

    /// Adds a company (its base URL is [`Sandbox::bydesign_base_url`](crate::Sandbox::bydesign_base_url))
    /// with the OAuth client ids registered for it.
    pub fn add_company(&self, company: &str, client_ids: &[&str]) {
        let mut s = lock(&self.state);
        let entry = s
            .vendors
            .of::<State>()
            .companies
            .entry(company.to_owned())
            .or_default();
        entry
            .clients
            .extend(client_ids.iter().map(|c| (*c).to_owned()));
    }

    /// Adds a rep of `company` (created if needed) who signs in with `password`.
    pub fn add_rep(&self, company: &str, id: &str, password: &str) {
        self.add(
            company,
            &format!("-->r_{id}"),
            password,
            &format!("Rep {id}"),
            "10",
        );
    }

    /// Adds a customer of `company` (created if needed) who signs in with `password`.
    pub fn add_customer(&self, company: &str, id: &str, password: &str) {
        self.add(
            company,
            &format!("-->c_{id}"),
            password,
            &format!("Customer {id}"),
            "",
        );
    }

    fn add(&self, company: &str, user: &str, password: &str, display_name: &str, rank: &str) {
        let mut s = lock(&self.state);
        s.vendors
            .of::<State>()
            .companies
            .entry(company.to_owned())
            .or_default()
            .accounts
            .insert(
                user.to_owned(),
                Account {
                    password: password.to_owned(),
                    display_name: display_name.to_owned(),
                    rank: rank.to_owned(),
                },
            );
    }

    /// Changes a rep's password: every earlier access and refresh token of the rep expires.
    pub fn change_rep_password(&self, company: &str, id: &str, password: &str) {
        self.change_password(company, &format!("-->r_{id}"), password);
    }

    /// Changes a customer's password: every earlier token of the customer expires.
    pub fn change_customer_password(&self, company: &str, id: &str, password: &str) {
        self.change_password(company, &format!("-->c_{id}"), password);
    }

    fn change_password(&self, company: &str, user: &str, password: &str) {
        let mut s = lock(&self.state);
        if let Some(co) = s.vendors.of::<State>().companies.get_mut(company) {
            if let Some(account) = co.accounts.get_mut(user) {
                account.password = password.to_owned();
            }
            co.tokens.retain(|_, t| t.user != user);
            co.refresh.retain(|_, r| r.user != user);
        }
    }

    /// Keeps one live refresh token per user and OAuth client, as the common OWIN template's
    /// refresh-token store does: issuing a new one (by either grant) revokes the others, so a
    /// second refresh chain for the same user is refused with `invalid_grant`. Off by default.
    pub fn one_refresh_token_per_client(&self, on: bool) {
        lock(&self.state).vendors.of::<State>().one_refresh_token = on;
    }

    /// The lifetime of tokens issued from now on (default 48 h).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).vendors.of::<State>().lifetime = Some(lifetime);
    }
}

/// The ByDesign emulation, as the sandbox registers it.
pub(crate) const VENDOR: Vendor = Vendor {
    name: "bydesign",
    endpoints: &[Endpoint::ByDesignToken, Endpoint::ByDesignApi],
    route,
    handle,
    gauges: |s| {
        let live = s.vendors.of::<State>().live_refresh_tokens();
        vec![("live_refresh_tokens", live as u64)]
    },
    set_token_lifetime: |sandbox, lifetime| sandbox.bydesign().set_token_lifetime(lifetime),
    flags: &[
        Flag {
            name: "bydesign-client",
            value: Some("COMPANY:CLIENT_ID"),
            help: "a ByDesign company and its client id",
            account: true,
            apply: |sandbox, value| {
                let [company, client] = split("bydesign-client", value)?;
                sandbox.bydesign().add_company(&company, &[&client]);
                Ok(None)
            },
        },
        Flag {
            name: "bydesign-rep",
            value: Some("COMPANY:ID:PASSWORD"),
            help: "a ByDesign rep",
            account: true,
            apply: |sandbox, value| {
                let [company, id, password] = split("bydesign-rep", value)?;
                sandbox.bydesign().add_rep(&company, &id, &password);
                Ok(None)
            },
        },
        Flag {
            name: "bydesign-customer",
            value: Some("COMPANY:ID:PASSWORD"),
            help: "a ByDesign customer",
            account: true,
            apply: |sandbox, value| {
                let [company, id, password] = split("bydesign-customer", value)?;
                sandbox.bydesign().add_customer(&company, &id, &password);
                Ok(None)
            },
        },
        Flag {
            name: "bydesign-one-refresh-token",
            value: None,
            help: "one live ByDesign refresh token per user and client (issuing one revokes the others)",
            account: false,
            apply: |sandbox, _| {
                sandbox.bydesign().one_refresh_token_per_client(true);
                Ok(None)
            },
        },
    ],
    demo: &[
        ("bydesign-client", "SandboxCo:SandboxCart"),
        ("bydesign-rep", "SandboxCo:1001:sandbox-password"),
        ("bydesign-customer", "SandboxCo:1146820:sandbox-password"),
    ],
    demo_text: "ByDesign company SandboxCo, client SandboxCart, rep 1001 and customer 1146820 / sandbox-password",
    location: |sandbox| ("ByDesign base URL", sandbox.bydesign_base_url("<Company>")),
    demo_env: |sandbox| {
        vec![
            ("BYDESIGN_BASE_URL", sandbox.bydesign_base_url("SandboxCo")),
            ("BYDESIGN_CLIENT_ID", "SandboxCart".into()),
            ("BYDESIGN_REP_ID", "1001".into()),
            ("BYDESIGN_PASSWORD", "sandbox-password".into()),
        ]
    },
};

#[allow(non_upper_case_globals)]
impl Endpoint {
    /// ByDesign `POST /{Company}/token`.
    pub const ByDesignToken: Endpoint = Endpoint::token("bydesign-token");
    /// ByDesign `GET /{Company}/api/...`.
    pub const ByDesignApi: Endpoint = Endpoint::api("bydesign-api");
}

impl crate::Sandbox {
    /// Companies, clients, reps and customers of the ByDesign emulation.
    #[must_use]
    pub fn bydesign(&self) -> ByDesign {
        ByDesign::new(self.state.clone())
    }

    /// The ByDesign WebAPI base URL of `company`.
    #[must_use]
    pub fn bydesign_base_url(&self, company: &str) -> String {
        format!("{}/bydesign/{company}", self.url())
    }
}

/// Which endpoint `method` and the path after `/bydesign` reach.
fn route(method: &str, segments: &[&str]) -> Option<Endpoint> {
    Some(match (method, segments) {
        ("POST", [_, "token"]) | ("POST", [_, "Client", "token"]) => Endpoint::ByDesignToken,
        ("GET", [_, "api", ..]) => Endpoint::ByDesignApi,
        _ => return None,
    })
}

pub(crate) fn handle(s: &mut Sandbox, endpoint: Endpoint, req: &Req) -> Answer {
    let company = req.path.split('/').nth(2).unwrap_or_default().to_owned();
    if !s.vendors.of::<State>().companies.contains_key(&company) {
        return Answer::not_found();
    }
    match endpoint {
        Endpoint::ByDesignToken => token(s, &company, req),
        _ => api(s, &company, req),
    }
}

fn invalid_grant() -> Answer {
    Answer::oauth(
        400,
        "invalid_grant",
        Some("The user name or password is incorrect."),
    )
}

fn token(s: &mut Sandbox, company: &str, req: &Req) -> Answer {
    if req.header("authorization").is_some() {
        // OWIN takes a Basic header as the OAuth client.
        return Answer::oauth(400, "invalid_client", Some("Client authentication failed."));
    }
    // The OWIN handler reads the body as a form whatever the Content-Type.
    let form = req.form();
    let client = form.get("client_id").cloned();
    let lifetime = s
        .vendors
        .of::<State>()
        .lifetime
        .unwrap_or(Duration::from_secs(48 * 3600));
    let one_refresh_token = s.vendors.of::<State>().one_refresh_token;
    let n = s.ids.bump();
    let Some(co) = s.vendors.of::<State>().companies.get_mut(company) else {
        return Answer::not_found();
    };
    let unknown_client = client.as_ref().filter(|c| !co.clients.contains(*c));
    if let Some(client) = unknown_client {
        return Answer::oauth(
            400,
            "invalid_clientId",
            Some(&format!(
                "Client '{client}' is not registered in the system."
            )),
        );
    }
    let user = match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            let user = form.get("username").cloned().unwrap_or_default();
            let password = form.get("password").cloned().unwrap_or_default();
            let known = (user.starts_with("-->r_") || user.starts_with("-->c_"))
                && co
                    .accounts
                    .get(&user)
                    .is_some_and(|a| a.password == password);
            if !known {
                return invalid_grant();
            }
            user
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            match co.refresh.remove(&presented) {
                Some(r) if Some(&r.client) == client.as_ref() => r.user,
                _ => return Answer::oauth(400, "invalid_grant", None),
            }
        }
        _ => return Answer::oauth(400, "unsupported_grant_type", None),
    };
    let access = format!(
        "sandbox-bydesign-access-{n}-{}",
        user.trim_start_matches("-->")
    );
    co.tokens.insert(
        access.clone(),
        Issued {
            user: user.clone(),
            expires: expires(Some(lifetime)),
        },
    );
    let Some(account) = co.accounts.get(&user) else {
        return invalid_grant();
    };
    let is_rep = user.starts_with("-->r_");
    let now = SystemTime::now();
    let mut body = json!({
        "access_token": access,
        "token_type": "bearer",
        "userName": user,
        "userType": if is_rep { "rep" } else { "customer" },
        "userTypeID": if is_rep { "1" } else { "2" },
        "displayName": account.display_name,
        "hasReciprocalID": "False",
        "canEnrollAsRep": if is_rep { "False" } else { "True" },
        "rankTypeID": account.rank,
        ".issued": httpdate::fmt_http_date(now),
        ".expires": httpdate::fmt_http_date(now + lifetime),
    });
    // OWIN sends expires_in one second short, and only when positive.
    let secs = lifetime.as_secs().saturating_sub(1);
    if secs > 0 {
        body["expires_in"] = secs.into();
    }
    // A refresh token only when the client said who it is.
    if let Some(client) = client {
        if one_refresh_token {
            co.refresh
                .retain(|_, r| !(r.user == user && r.client == client));
        }
        let refresh = format!("sandbox-bydesign-refresh-{n}");
        co.refresh.insert(
            refresh.clone(),
            Refresh {
                user,
                client: client.clone(),
            },
        );
        body["refresh_token"] = refresh.into();
        body["as:client_id"] = client.into();
    }
    Answer::json(200, &body)
}

fn api(s: &mut Sandbox, company: &str, req: &Req) -> Answer {
    let live = s
        .vendors
        .of::<State>()
        .companies
        .get(company)
        .and_then(|co| {
            let issued = co.tokens.get(req.bearer()?)?;
            (!expired(issued.expires)).then(|| issued.user.clone())
        });
    match live {
        Some(user) => Answer::json(200, &json!({"user": user, "orders": []})),
        None => Answer::json(
            401,
            &json!({"Message": "Authorization has been denied for this request."}),
        ),
    }
}
