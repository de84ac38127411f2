#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod apinizer;
mod bydesign;
pub mod cli;
mod p21;
mod personify;
pub mod server;
mod stats;
mod vendors;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use server::Server;
use vendors::{Ids, States, Vendor};

pub use apinizer::Apinizer;
pub use bydesign::ByDesign;
pub use p21::{P21, P21User};
pub use personify::Personify;
pub use stats::Stats;

/// The largest request body the sandbox reads.
const MAX_REQUEST_BODY: usize = 64 * 1024;
/// How many requests the log keeps (the oldest go first); counters count them all.
const MAX_LOGGED: usize = 10_000;
/// Where the sandbox serves its own counters.
pub const STATS_PATH: &str = "/_sandbox/stats";

/// An endpoint of one of the emulated services: what faults, counters and logs are keyed by.
/// Each vendor's endpoints are constants named after it (`Endpoint::P21TokenV2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    name: &'static str,
    token: bool,
}

impl Endpoint {
    /// A token endpoint named `name`.
    pub(crate) const fn token(name: &'static str) -> Self {
        Self { name, token: true }
    }

    /// An API endpoint named `name`.
    pub(crate) const fn api(name: &'static str) -> Self {
        Self { name, token: false }
    }

    /// Every endpoint, vendor by vendor.
    #[must_use]
    pub fn all() -> Vec<Endpoint> {
        VENDORS
            .iter()
            .flat_map(|v| v.endpoints.iter().copied())
            .collect()
    }

    /// A short name for flags and logs: `p21-token`, `personify-api`, ...
    #[must_use]
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Whether it issues tokens (its requests are counted by grant).
    #[must_use]
    pub fn is_token_endpoint(self) -> bool {
        self.token
    }

    /// The endpoint with [`name`](Self::name) `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Self::all().into_iter().find(|e| e.name() == name)
    }
}

/// The emulated vendors, each registered once: everything else loops over this list.
pub(crate) const VENDORS: &[&Vendor] = &[
    &p21::VENDOR,
    &personify::VENDOR,
    &apinizer::VENDOR,
    &bydesign::VENDOR,
];

/// A fault to inject into an endpoint's next answers; see [`Sandbox::fail_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and a small HTML error page.
    Status(u16),
    /// Answer 429 with `Retry-After` of this many seconds.
    Throttle(u64),
    /// Answer 200 with a body that is not what the endpoint returns.
    Malformed,
    /// Answer 200 with a body of this many bytes.
    Oversize(usize),
    /// Answer with this status and an RFC 6749 error body carrying this code (as Spring and
    /// IdentityServer do for `server_error` and `temporarily_unavailable`).
    OAuthError(u16, &'static str),
}

impl Fault {
    /// Parses `503`, `429:SECS`, `malformed`, `oversize:BYTES`, `server_error` (500) or
    /// `temporarily_unavailable` (503).
    #[must_use]
    pub fn parse(text: &str) -> Option<Fault> {
        match text.split_once(':') {
            Some(("429", secs)) => secs.parse().ok().map(Fault::Throttle),
            Some(("oversize", bytes)) => bytes.parse().ok().map(Fault::Oversize),
            None if text == "malformed" => Some(Fault::Malformed),
            None if text == "server_error" => Some(Fault::OAuthError(500, "server_error")),
            None if text == "temporarily_unavailable" => {
                Some(Fault::OAuthError(503, "temporarily_unavailable"))
            }
            None => text
                .parse()
                .ok()
                .filter(|s| (100..600).contains(s))
                .map(Fault::Status),
            _ => None,
        }
    }
}

/// A request as the sandbox received it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// Which endpoint it reached.
    pub endpoint: Endpoint,
    /// The method.
    pub method: String,
    /// The path and query.
    pub target: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// Each vendor's own state.
    vendors: States,
    ids: Ids,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    latency: HashMap<Endpoint, Duration>,
    log: VecDeque<LoggedRequest>,
    counters: stats::Counters,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running sandbox: the four vendors' token services on one loopback port, each under its
/// own path prefix (`/p21`, `/personify`, `/apinizer`, `/bydesign/{Company}`).
///
/// It stops when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use auth_sandbox::{Endpoint, Sandbox};
///
/// let sandbox = Sandbox::start().await?;
/// sandbox.p21().add_user("api_user", "password");
/// assert!(sandbox.p21_base_url().starts_with("http://127.0.0.1:"));
/// assert_eq!(sandbox.count(Endpoint::P21TokenV2), 0);
/// # Ok(()) }
/// ```
pub struct Sandbox {
    server: Server,
    state: Shared,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 with an ephemeral port.
    ///
    /// # Errors
    /// No loopback port could be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    /// Starts a sandbox on 127.0.0.1 and `port` (0: ephemeral).
    ///
    /// # Errors
    /// `port` could not be bound on 127.0.0.1.
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let state: Shared = Arc::default();
        let base: Arc<Mutex<String>> = Arc::default();
        let (handler_state, handler_base) = (state.clone(), base.clone());
        let server = Server::start(port, MAX_REQUEST_BODY, move |request| {
            let base = lock_base(&handler_base);
            handle(handler_state.clone(), base, request)
        })
        .await?;
        *base.lock().unwrap_or_else(PoisonError::into_inner) = server.url();
        Ok(Self { server, state })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Sets the lifetime of the tokens every vendor issues from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        for vendor in VENDORS {
            (vendor.set_token_lifetime)(self, lifetime);
        }
    }

    /// The next answers of `endpoint` are these faults, in order (then normal answers again).
    pub fn fail_next(&self, endpoint: Endpoint, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state)
            .faults
            .entry(endpoint)
            .or_default()
            .extend(faults);
    }

    /// Every answer of `endpoint` is delayed by `latency` (zero to remove).
    pub fn set_latency(&self, endpoint: Endpoint, latency: Duration) {
        lock(&self.state).latency.insert(endpoint, latency);
    }

    /// How many requests reached `endpoint`.
    #[must_use]
    pub fn count(&self, endpoint: Endpoint) -> usize {
        lock(&self.state).counters.requests(endpoint)
    }

    /// Every counter: requests by endpoint, token requests by grant, answers by status, live
    /// sessions. The binary serves the same as JSON at [`STATS_PATH`] (`GET /_sandbox/stats`).
    #[must_use]
    pub fn stats(&self) -> Stats {
        stats_of(&self.state)
    }

    /// The last requests (up to 10 000) that reached `endpoint`, in order.
    #[must_use]
    pub fn requests(&self, endpoint: Endpoint) -> Vec<LoggedRequest> {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// Forgets the request log (counters start again from zero).
    pub fn clear_log(&self) {
        let mut s = lock(&self.state);
        s.log.clear();
        s.counters = stats::Counters::default();
    }
}

fn lock_base(base: &Mutex<String>) -> String {
    base.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn stats_of(state: &Shared) -> Stats {
    let mut s = lock(state);
    let gauges = VENDORS
        .iter()
        .map(|v| (v.name, (v.gauges)(&mut s).into_iter().collect()))
        .collect();
    s.counters.snapshot(gauges)
}

/// A request, read whole (within the cap), as the vendor handlers see it.
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) base: String,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    pub(crate) fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub(crate) fn is_form(&self) -> bool {
        self.header("content-type")
            .is_some_and(|ct| ct.contains("application/x-www-form-urlencoded"))
    }
}

/// What a handler answers.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json; charset=utf-8".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub(crate) fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into().into_bytes(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The RFC 6749 error body.
    pub(crate) fn oauth(status: u16, error: &str, description: Option<&str>) -> Self {
        let mut body = serde_json::json!({ "error": error });
        if let Some(d) = description {
            body["error_description"] = d.into();
        }
        Self::json(status, &body)
    }

    pub(crate) fn not_found() -> Self {
        Self::text(
            404,
            "text/html",
            "<html><head><title>404 - File or directory not found.</title></head><body>Server Error</body></html>",
        )
    }
}

/// Which vendor and endpoint a request reaches.
fn route(method: &str, path: &str) -> Option<(&'static Vendor, Endpoint)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (prefix, rest) = segments.split_first()?;
    let vendor = VENDORS.iter().find(|v| v.name == *prefix)?;
    Some((vendor, (vendor.route)(method, rest)?))
}

async fn handle(state: Shared, base: String, request: server::Request) -> server::Response {
    let req = Req {
        method: request.method.clone(),
        path: request.path().to_owned(),
        query: request.query().to_owned(),
        headers: request.headers,
        body: request.body,
        base,
    };
    if req.method == "GET" && req.path == STATS_PATH {
        return respond(Answer::json(200, &stats_of(&state).to_json()));
    }
    let Some((vendor, endpoint)) = route(&req.method, &req.path) else {
        return respond(Answer::not_found());
    };
    let (latency, fault) = {
        let mut s = lock(&state);
        let target = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        s.counters.request(endpoint, &req);
        s.counters.enter(endpoint);
        if s.log.len() == MAX_LOGGED {
            s.log.pop_front();
        }
        s.log.push_back(LoggedRequest {
            endpoint,
            method: req.method.clone(),
            target,
            headers: req.headers.clone(),
            body: req.body.clone(),
        });
        let latency = s.latency.get(&endpoint).copied().unwrap_or_default();
        let fault = s.faults.get_mut(&endpoint).and_then(VecDeque::pop_front);
        (latency, fault)
    };
    let _in_flight = InFlight(&state, endpoint);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = match fault {
        Some(fault) => fault_answer(&fault),
        None => (vendor.handle)(&mut lock(&state), endpoint, &req),
    };
    lock(&state).counters.answer(endpoint, answer.status);
    respond(answer)
}

/// A request being served, counted until it is answered or dropped.
struct InFlight<'a>(&'a Shared, Endpoint);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.0).counters.leave(self.1);
    }
}

fn fault_answer(fault: &Fault) -> Answer {
    match fault {
        Fault::Status(status) => Answer::text(
            *status,
            "text/html",
            format!(
                "<html><head><title>{status} Service Unavailable</title></head><body>sandbox fault</body></html>"
            ),
        ),
        Fault::Throttle(secs) => Answer::text(429, "text/plain", "Too Many Requests")
            .header("retry-after", secs.to_string()),
        Fault::Malformed => Answer::text(200, "application/json", "{\"AccessToken\": <<not json"),
        Fault::OAuthError(status, code) => Answer::oauth(*status, code, None),
        Fault::Oversize(len) => Answer {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: vec![b' '; *len],
        },
    }
}

fn respond(answer: Answer) -> server::Response {
    let headers = answer
        .headers
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    server::Response::new(answer.status, headers, answer.body)
}
