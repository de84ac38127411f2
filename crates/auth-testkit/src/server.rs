//! [`TestServer`]: a loopback HTTP/1.1 server with scripted replies that records every request,
//! served by the sandbox's one HTTP server (`auth_sandbox::server`).

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_http::HttpRequest;
use auth_sandbox::server::{self, Server};

use super::lock;

/// A scripted reply of a [`TestServer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: ReplyBody,
    delay: Duration,
    gate: Option<Gate>,
}

/// Holds replies back until the test releases them (see [`Reply::after`]).
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::Semaphore>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(0)))
    }

    /// Lets `n` held replies go.
    pub fn release(&self, n: usize) {
        self.0.add_permits(n);
    }

    async fn pass(&self) {
        if let Ok(permit) = self.0.acquire().await {
            permit.forget();
        }
    }
}

#[derive(Debug, Clone)]
enum ReplyBody {
    Bytes(Vec<u8>),
    /// `len` bytes streamed in chunks; `Content-Length` sent only if `declare` (chunked
    /// otherwise).
    Huge {
        len: u64,
        declare: bool,
    },
}

impl Reply {
    /// A reply with `status` and an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(Vec::new()),
            delay: Duration::ZERO,
            gate: None,
        }
    }

    /// A JSON reply.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::status(status)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.into())
    }

    /// A reply with a body of `content_type`.
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self::status(status)
            .header("content-type", content_type)
            .body(body.into())
    }

    /// A body of `len` bytes streamed in 64 KiB chunks, with or without a `Content-Length`.
    pub fn huge(status: u16, len: u64, declare_length: bool) -> Self {
        Self {
            body: ReplyBody::Huge {
                len,
                declare: declare_length,
            },
            ..Self::status(status).header("content-type", "application/json")
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = ReplyBody::Bytes(body.into());
        self
    }

    /// Waits on tokio's timer before answering (for timeout tests under a paused clock).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers only after `gate` lets it go: a request held in flight for as long as a test needs.
    pub fn after(mut self, gate: &Gate) -> Self {
        self.gate = Some(gate.clone());
        self
    }
}

/// A request as the [`TestServer`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The path and query.
    pub target: String,
    /// Header names (lower case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The form fields of an `application/x-www-form-urlencoded` body, decoded.
    #[must_use]
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The request as HTTP/1.1-style text for snapshots: request line, headers sorted with the
    /// port and crate versions normalised, a blank line, then the body (pretty JSON, or the
    /// decoded form fields one per line followed by the raw form).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = format!("{} {} HTTP/1.1\n", self.method, self.target);
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), normalise_header(n, v)))
            .collect();
        headers.sort();
        for (n, v) in &headers {
            out.push_str(&format!("{n}: {v}\n"));
        }
        out.push('\n');
        let ct = self.header("content-type").unwrap_or_default();
        if self.body.is_empty() {
            out.push_str("(empty body)\n");
        } else if ct.contains("json") {
            match serde_json::from_slice::<serde_json::Value>(&self.body) {
                Ok(v) => out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default()),
                Err(_) => out.push_str(&String::from_utf8_lossy(&self.body)),
            }
            out.push('\n');
        } else if ct.contains("x-www-form-urlencoded") {
            for (k, v) in self.form() {
                out.push_str(&format!("{k} = {v:?}\n"));
            }
            out.push_str(&format!("(raw) {}\n", String::from_utf8_lossy(&self.body)));
        } else {
            out.push_str(&String::from_utf8_lossy(&self.body));
            out.push('\n');
        }
        out
    }
}

/// `request` rendered as [`Received::render`] renders it after a trip through
/// [`HttpClient::send`](auth_http::HttpClient::send) with `user_agent`, with no socket: the headers
/// the transport adds (`host`, `user-agent`, `content-length` for a body) are added here the same
/// way. Request snapshots use this; one loopback test per crate keeps the transport honest.
///
/// ```
/// use auth_http::HttpRequest;
/// use auth_testkit::render;
///
/// let url = "http://127.0.0.1:9/token".parse().unwrap();
/// let request = HttpRequest::post(url).form(&[("grant_type", "client_credentials")]);
/// let text = render(&request, "example-auth/1.0");
/// assert!(text.starts_with("POST /token HTTP/1.1\naccept: */*\ncontent-length: 29\n"));
/// assert!(text.contains("host: 127.0.0.1:[port]\nuser-agent: example-auth/[version]\n"));
/// ```
#[must_use]
pub fn render(request: &HttpRequest, user_agent: &str) -> String {
    let url = request.url();
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    };
    headers.push(("host".into(), host));
    headers.push(("user-agent".into(), user_agent.to_owned()));
    if !request.body().is_empty() {
        headers.push(("content-length".into(), request.body().len().to_string()));
    }
    if !headers.iter().any(|(n, _)| n == "accept") {
        headers.push(("accept".into(), "*/*".into()));
    }
    Received {
        method: request.method().as_str().to_owned(),
        target,
        headers,
        body: request.body().to_vec(),
    }
    .render()
}

fn normalise_header(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("host") {
        return match value.rsplit_once(':') {
            Some((host, _port)) => format!("{host}:[port]"),
            None => value.to_owned(),
        };
    }
    if name.eq_ignore_ascii_case("user-agent") {
        return match value.split_once('/') {
            Some((product, _version)) => format!("{product}/[version]"),
            None => value.to_owned(),
        };
    }
    value.to_owned()
}

#[derive(Default)]
struct ServerState {
    routes: Vec<Route>,
    log: Vec<Received>,
}

struct Route {
    method: String,
    path: String,
    queue: VecDeque<Reply>,
    fallback: Responder,
}

type ReplyFn = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

enum Responder {
    Fixed(Reply),
    Computed(ReplyFn),
}

/// A loopback HTTP/1.1 server with scripted replies that records every request.
///
/// One request per connection (it answers with `Connection: close`). Unrouted requests get
/// 404; request bodies are read up to 1 MiB (413 past it). Dropping the server stops it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use auth_testkit::{Reply, TestServer};
///
/// let server = TestServer::start().await;
/// server.route("POST", "/token", Reply::json(200, r#"{"access_token":"t"}"#));
/// auth_http::install_crypto_provider();
/// let resp = reqwest::Client::new().post(server.url("/token")).send().await.unwrap();
/// assert_eq!(resp.status(), 200);
/// assert_eq!(server.count("POST", "/token"), 1);
/// # }
/// ```
pub struct TestServer {
    server: Server,
    state: Arc<Mutex<ServerState>>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ServerState::default()));
        let handler_state = state.clone();
        #[allow(clippy::expect_used)]
        let server = Server::start(0, MAX_REQUEST_BODY, move |request| {
            serve(request, handler_state.clone())
        })
        .await
        .expect("bind a loopback port");
        Self { server, state }
    }

    /// The server's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path)
    }

    /// Answers `method` `path` (query ignored) with `reply`, every time.
    pub fn route(&self, method: &str, path: &str, reply: Reply) {
        self.route_sequence(method, path, Vec::new(), reply);
    }

    /// Answers `method` `path` with `first` in order, then with `then` every time.
    pub fn route_sequence(&self, method: &str, path: &str, first: Vec<Reply>, then: Reply) {
        let mut s = lock(&self.state);
        s.routes.retain(|r| !(r.method == method && r.path == path));
        s.routes.push(Route {
            method: method.to_owned(),
            path: path.to_owned(),
            queue: first.into(),
            fallback: Responder::Fixed(then),
        });
    }

    /// Answers `method` `path` with whatever `respond` makes of each request.
    pub fn route_fn(
        &self,
        method: &str,
        path: &str,
        respond: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) {
        let mut s = lock(&self.state);
        s.routes.retain(|r| !(r.method == method && r.path == path));
        s.routes.push(Route {
            method: method.to_owned(),
            path: path.to_owned(),
            queue: VecDeque::new(),
            fallback: Responder::Computed(Arc::new(respond)),
        });
    }

    /// Every request received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Received> {
        lock(&self.state).log.clone()
    }

    /// How many requests `method` `path` (query ignored) received.
    #[must_use]
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.method == method && r.target.split('?').next() == Some(path))
            .count()
    }
}

/// The largest request body the server reads.
const MAX_REQUEST_BODY: usize = 1024 * 1024;

async fn serve(request: server::Request, state: Arc<Mutex<ServerState>>) -> server::Response {
    let request = Received {
        method: request.method,
        target: request.target,
        headers: request.headers,
        body: request.body,
    };
    let path = request.target.split('?').next().unwrap_or("").to_owned();
    let reply = {
        let mut s = lock(&state);
        s.log.push(request.clone());
        match s
            .routes
            .iter_mut()
            .find(|r| r.method == request.method && r.path == path)
        {
            Some(route) => match route.queue.pop_front() {
                Some(reply) => reply,
                None => match &route.fallback {
                    Responder::Fixed(reply) => reply.clone(),
                    Responder::Computed(respond) => respond(&request),
                },
            },
            None => Reply::text(404, "text/plain", "no route"),
        }
    };
    if let Some(gate) = &reply.gate {
        gate.pass().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut headers = reply.headers;
    headers.push(("connection".into(), "close".into()));
    let response = server::Response::new(reply.status, headers, Vec::new());
    match reply.body {
        ReplyBody::Bytes(bytes) => response.with_body(server::Body::Bytes(bytes)),
        ReplyBody::Huge { len, declare } => response.with_body(server::Body::Spaces {
            len,
            declare_length: declare,
        }),
    }
}
