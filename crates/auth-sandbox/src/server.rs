//! [`Server`]: a loopback HTTP/1.1 server around one handler. The sandbox serves on it, and so
//! does the workspace's scripted test server, so that the workspace has one HTTP server for tests.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request as the handler sees it: read whole, within the server's body cap.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The method (`GET`, `POST`, ...).
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// Header names (lower case) and values, in the order they came.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The path, without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The query (empty without one).
    #[must_use]
    pub fn query(&self) -> &str {
        self.target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
    }

    /// The first value of header `name` (any case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// A response body: bytes, or a long run of spaces streamed in chunks (for tests of response
/// caps), with or without a `Content-Length`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// These bytes, with their length.
    Bytes(Vec<u8>),
    /// `len` spaces in 64 KiB chunks; `Content-Length` is sent only if `declare_length`
    /// (otherwise the body is chunked).
    Spaces {
        /// How many bytes.
        len: u64,
        /// Whether the length is declared up front.
        declare_length: bool,
    },
}

impl Response {
    /// A response with `status`, `headers` and `body` bytes.
    #[must_use]
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self {
            status,
            headers,
            body: Body::Bytes(body),
        }
    }

    /// The same response with `body` instead.
    #[must_use]
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

type Handler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// A running server on 127.0.0.1. It stops accepting when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use auth_sandbox::server::{Response, Server};
///
/// let server = Server::start(0, 1024, |request| async move {
///     Response::new(200, vec![], request.path().as_bytes().to_vec())
/// })
/// .await?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// # Ok(()) }
/// ```
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `handle` on 127.0.0.1 and `port` (0: ephemeral). A request body over
    /// `max_body` bytes is answered 413 without reaching the handler.
    ///
    /// # Errors
    /// `port` could not be bound on 127.0.0.1.
    pub async fn start<H, F>(port: u16, max_body: usize, handle: H) -> std::io::Result<Self>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let handler: Handler = Arc::new(move |request| Box::pin(handle(request)));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(serve(&handler, max_body, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
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
}

async fn serve(
    handler: &Handler,
    max_body: usize,
    request: hyper::Request<Incoming>,
) -> hyper::Response<ServerBody> {
    let method = request.method().as_str().to_owned();
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let response = match Limited::new(request.into_body(), max_body).collect().await {
        Ok(body) => {
            handler(Request {
                method,
                target,
                headers,
                body: body.to_bytes().to_vec(),
            })
            .await
        }
        Err(_) => Response::new(
            413,
            vec![("content-type".into(), "text/plain".into())],
            b"request body too large".to_vec(),
        ),
    };
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match response.body {
        Body::Bytes(bytes) => ServerBody::Full(Some(Bytes::from(bytes))),
        Body::Spaces {
            len,
            declare_length,
        } => ServerBody::Spaces {
            chunk: Bytes::from(vec![b' '; 64 * 1024]),
            left: len,
            declared: declare_length.then_some(len),
        },
    };
    builder
        .body(body)
        .unwrap_or_else(|_| hyper::Response::new(ServerBody::Full(None)))
}

/// The body hyper sends: whole, or streamed in chunks.
enum ServerBody {
    Full(Option<Bytes>),
    Spaces {
        chunk: Bytes,
        left: u64,
        declared: Option<u64>,
    },
}

impl HttpBody for ServerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            ServerBody::Full(bytes) => bytes.take(),
            ServerBody::Spaces { chunk, left, .. } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                *left -= n as u64;
                (n > 0).then(|| chunk.slice(..n))
            }
        };
        Poll::Ready(frame.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ServerBody::Full(bytes) => bytes.is_none(),
            ServerBody::Spaces { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ServerBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ServerBody::Spaces {
                declared: Some(len),
                ..
            } => SizeHint::with_exact(*len),
            ServerBody::Spaces { .. } => SizeHint::default(),
        }
    }
}
