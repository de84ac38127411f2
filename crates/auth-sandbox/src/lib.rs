#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod apinizer;
mod bydesign;
mod p21;
mod personify;
mod stats;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// P21 `POST /api/security/token/v2`.
    P21TokenV2,
    /// P21 `POST /api/security/token` (V1).
    P21TokenV1,
    /// P21 `GET /api/ui/router/v1`.
    P21UiRouter,
    /// P21 `GET /odataservice/odata/table/{table}`.
    P21Api,
    /// Personify `POST /connect/token`.
    PersonifyToken,
    /// Personify `GET /api/...`.
    PersonifyApi,
    /// Apinizer `POST /apiops/auth/token`.
    ApinizerToken,
    /// Apinizer `GET /apiops/test/hello/{name}`.
    ApinizerHello,
    /// Apinizer `GET /apiops/test/healthcheck`.
    ApinizerHealthcheck,
    /// Apinizer `GET /apiops/...` (other resources).
    ApinizerApi,
    /// ByDesign `POST /{Company}/token`.
    ByDesignToken,
    /// ByDesign `GET /{Company}/api/...`.
    ByDesignApi,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 12] = [
        Endpoint::P21TokenV2,
        Endpoint::P21TokenV1,
        Endpoint::P21UiRouter,
        Endpoint::P21Api,
        Endpoint::PersonifyToken,
        Endpoint::PersonifyApi,
        Endpoint::ApinizerToken,
        Endpoint::ApinizerHello,
        Endpoint::ApinizerHealthcheck,
        Endpoint::ApinizerApi,
        Endpoint::ByDesignToken,
        Endpoint::ByDesignApi,
    ];

    /// A short name for flags and logs: `p21-token`, `personify-api`, ...
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::P21TokenV2 => "p21-token",
            Endpoint::P21TokenV1 => "p21-token-v1",
            Endpoint::P21UiRouter => "p21-ui-router",
            Endpoint::P21Api => "p21-api",
            Endpoint::PersonifyToken => "personify-token",
            Endpoint::PersonifyApi => "personify-api",
            Endpoint::ApinizerToken => "apinizer-token",
            Endpoint::ApinizerHello => "apinizer-hello",
            Endpoint::ApinizerHealthcheck => "apinizer-healthcheck",
            Endpoint::ApinizerApi => "apinizer-api",
            Endpoint::ByDesignToken => "bydesign-token",
            Endpoint::ByDesignApi => "bydesign-api",
        }
    }

    /// The endpoint with [`name`](Self::name) `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

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
    p21: p21::State,
    personify: personify::State,
    apinizer: apinizer::State,
    bydesign: bydesign::State,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    latency: HashMap<Endpoint, Duration>,
    log: VecDeque<LoggedRequest>,
    counters: stats::Counters,
    next_id: u64,
}

impl State {
    /// A fresh, obviously fake identifier.
    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("sandbox-{prefix}-{}", self.next_id)
    }
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
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
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
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let state: Shared = Arc::default();
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), addr, req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The P21 API host to give `p21-auth` as its base URL.
    #[must_use]
    pub fn p21_base_url(&self) -> String {
        format!("{}/p21", self.url())
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

    /// The Apinizer Management Console host.
    #[must_use]
    pub fn apinizer_base_url(&self) -> String {
        format!("{}/apinizer", self.url())
    }

    /// The ByDesign WebAPI base URL of `company`.
    #[must_use]
    pub fn bydesign_base_url(&self, company: &str) -> String {
        format!("{}/bydesign/{company}", self.url())
    }

    /// Accounts, consumer keys and switches of the P21 emulation.
    #[must_use]
    pub fn p21(&self) -> P21 {
        P21::new(self.state.clone())
    }

    /// Clients, scopes and tenants of the Personify emulation.
    #[must_use]
    pub fn personify(&self) -> Personify {
        Personify::new(self.state.clone())
    }

    /// Users and personal tokens of the Apinizer emulation.
    #[must_use]
    pub fn apinizer(&self) -> Apinizer {
        Apinizer::new(self.state.clone())
    }

    /// Companies, clients, reps and customers of the ByDesign emulation.
    #[must_use]
    pub fn bydesign(&self) -> ByDesign {
        ByDesign::new(self.state.clone())
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

fn stats_of(state: &Shared) -> Stats {
    let s = lock(state);
    s.counters.snapshot(
        s.p21.live_sessions(),
        s.p21.sessions_replaced(),
        s.bydesign.live_refresh_tokens(),
    )
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

/// Which endpoint a path reaches, and the handler for it.
fn route(method: &str, path: &str) -> Option<Endpoint> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match (method, segments.as_slice()) {
        ("POST", ["p21", "api", "security", "token", "v2"]) => Endpoint::P21TokenV2,
        ("POST", ["p21", "api", "security", "token"]) => Endpoint::P21TokenV1,
        ("GET", ["p21", "api", "ui", "router", "v1", ..]) => Endpoint::P21UiRouter,
        ("GET", ["p21", "odataservice", "odata", "table", _]) => Endpoint::P21Api,
        ("POST", ["personify", "connect", "token"]) => Endpoint::PersonifyToken,
        ("GET", ["personify", "api", ..]) => Endpoint::PersonifyApi,
        ("POST", ["apinizer", "apiops", "auth", "token"]) => Endpoint::ApinizerToken,
        ("GET", ["apinizer", "apiops", "test", "hello", _]) => Endpoint::ApinizerHello,
        ("GET", ["apinizer", "apiops", "test", "healthcheck"]) => Endpoint::ApinizerHealthcheck,
        ("GET", ["apinizer", "apiops", ..]) => Endpoint::ApinizerApi,
        ("POST", ["bydesign", _, "token"]) | ("POST", ["bydesign", _, "Client", "token"]) => {
            Endpoint::ByDesignToken
        }
        ("GET", ["bydesign", _, "api", ..]) => Endpoint::ByDesignApi,
        _ => return None,
    })
}

async fn handle(
    state: Shared,
    addr: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return Ok(respond(Answer::text(
                413,
                "text/plain",
                "request body too large",
            )));
        }
    };
    let req = Req {
        method,
        path,
        query,
        headers,
        body,
        base: format!("http://{addr}"),
    };
    if req.method == "GET" && req.path == STATS_PATH {
        return Ok(respond(Answer::json(200, &stats_of(&state).to_json())));
    }
    let Some(endpoint) = route(&req.method, &req.path) else {
        return Ok(respond(Answer::not_found()));
    };
    let (latency, fault) = {
        let mut s = lock(&state);
        let target = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        s.counters.request(endpoint, &req);
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
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = match fault {
        Some(fault) => fault_answer(&fault),
        None => {
            let mut s = lock(&state);
            match endpoint {
                Endpoint::P21TokenV2
                | Endpoint::P21TokenV1
                | Endpoint::P21UiRouter
                | Endpoint::P21Api => p21::handle(&mut s, endpoint, &req),
                Endpoint::PersonifyToken | Endpoint::PersonifyApi => {
                    personify::handle(&mut s, endpoint, &req)
                }
                Endpoint::ApinizerToken
                | Endpoint::ApinizerHello
                | Endpoint::ApinizerHealthcheck
                | Endpoint::ApinizerApi => apinizer::handle(&mut s, endpoint, &req),
                Endpoint::ByDesignToken | Endpoint::ByDesignApi => {
                    bydesign::handle(&mut s, endpoint, &req)
                }
            }
        }
    };
    lock(&state).counters.answer(endpoint, answer.status);
    Ok(respond(answer))
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

fn respond(answer: Answer) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
