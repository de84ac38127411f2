//! [`TestProxy`]: a real forward proxy on a loopback port, for tests of the proxy settings. It
//! tunnels `CONNECT host:port` to `127.0.0.1:port` (so that any host name reaches a local test
//! server, resolved by the proxy as a real proxy would), checks `Proxy-Authorization` when asked
//! to, and records what it saw: each request line, its proxy credentials, and every byte the
//! client sent through a tunnel.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::lock;

/// A request the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `CONNECT`, or the method of a request sent to the proxy in absolute form.
    pub method: String,
    /// `host:port` for `CONNECT`, else the absolute URL.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    requests: Vec<ProxyRequest>,
    tunneled: Vec<u8>,
    required: Option<String>,
}

/// A forward proxy on 127.0.0.1, stopped when dropped.
pub struct TestProxy {
    port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TestProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProxy {
    /// Starts the proxy on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Self { port, state, task }
    }

    /// Answers 407 unless `Proxy-Authorization` is `Basic` with this user and password.
    pub fn require_basic_auth(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        lock(&self.state).required = Some(format!("Basic {encoded}"));
    }

    /// Its port on 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, with `user:password@` when given.
    #[must_use]
    pub fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("http://{user}:{password}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every request received, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.state).requests.clone()
    }

    /// Every byte clients sent through tunnels, in arrival order.
    #[must_use]
    pub fn tunneled(&self) -> Vec<u8> {
        lock(&self.state).tunneled.clone()
    }
}

async fn serve(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || !matches!(client.read(&mut byte).await, Ok(1)) {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_owned());
    let required = {
        let mut s = lock(&state);
        s.requests.push(ProxyRequest {
            method: method.clone(),
            target: target.clone(),
            authorization: authorization.clone(),
        });
        s.required.clone()
    };
    if required.is_some() && required != authorization {
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let port = target
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok());
    let (true, Some(port)) = (method == "CONNECT", port) else {
        let _ = client
            .write_all(b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upstream = async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = client_read.read(&mut buf).await {
            lock(&state).tunneled.extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
