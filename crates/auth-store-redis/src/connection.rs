//! The store's one connection to Redis, which a hostile or broken server cannot make costly: every
//! reply is bounded ([`MAX_REPLY`] bytes read per command sent, more ends the connection), and a
//! connection whose call failed or timed out is dropped with its reader, so nothing keeps
//! parsing in the background. Made on first use, remade after a failure.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use auth_core::store::StoreError;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::AbortHandle;

/// The most a reply may hold: far more than any record (a sealed token is a few KiB).
pub(crate) const MAX_REPLY: usize = 1 << 20;

/// A live connection and the task that reads its replies.
struct Live {
    connection: MultiplexedConnection,
    reader: AbortHandle,
    generation: u64,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Where the connection goes: one server, or the primary a Sentinel set names (asked again
/// for every new connection, so a failover is followed).
pub(crate) enum Target {
    Direct(ConnectionInfo),
    Sentinel {
        client: tokio::sync::Mutex<redis::sentinel::SentinelClient>,
        master: String,
    },
}

/// The connection slot: empty until first use and after a failure.
pub(crate) struct Link {
    target: Target,
    timeout: Duration,
    live: tokio::sync::Mutex<Option<Live>>,
    generations: std::sync::atomic::AtomicU64,
}

impl Link {
    pub(crate) fn new(target: Target, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            live: tokio::sync::Mutex::new(None),
            generations: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The live connection (made now if there is none) and its generation.
    pub(crate) async fn get(&self) -> Result<(MultiplexedConnection, u64), StoreError> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref().filter(|l| !l.reader.is_finished()) {
            return Ok((l.connection.clone(), l.generation));
        }
        *live = None;
        let info = match &self.target {
            Target::Direct(info) => info.clone(),
            Target::Sentinel { client, .. } => {
                let primary = client.lock().await.async_get_client().await;
                let primary = primary
                    .map_err(|e| crate::store_error("ask the sentinels for the primary", &e))?;
                primary.get_connection_info().clone()
            }
        };
        let stream = connect(info.addr())
            .await
            .map_err(|e| StoreError::new(format!("cannot connect to Redis ({})", e.kind())))?;
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(self.timeout));
        let (connection, reader) = MultiplexedConnection::new_with_config(
            info.redis_settings(),
            Bounded::new(stream),
            config,
        )
        .await
        .map_err(|e| crate::store_error("cannot set up the Redis connection", &e))?;
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reader = tokio::spawn(reader).abort_handle();
        *live = Some(Live {
            connection: connection.clone(),
            reader,
            generation,
        });
        Ok((connection, generation))
    }

    /// Drops the connection of `generation` (if it is still the live one; `None`: whichever is)
    /// and its reader.
    pub(crate) async fn drop_connection(&self, generation: Option<u64>) {
        let mut live = self.live.lock().await;
        if live
            .as_ref()
            .is_some_and(|l| generation.is_none_or(|g| l.generation == g))
        {
            *live = None;
        }
    }

    /// The server's address, for `Debug` (never the password).
    pub(crate) fn addr(&self) -> String {
        match &self.target {
            Target::Direct(info) => info.addr().to_string(),
            Target::Sentinel { master, .. } => format!("sentinel:{master}"),
        }
    }
}

/// A stream to Redis: TCP, TLS over TCP (`rediss://`, with the `tls` feature) or a Unix socket.
pub(crate) type Stream = Pin<Box<dyn AsyncStream>>;

pub(crate) trait AsyncStream: AsyncRead + AsyncWrite + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Send + Sync> AsyncStream for T {}

async fn connect(addr: &ConnectionAddr) -> io::Result<Stream> {
    match addr {
        ConnectionAddr::Tcp(host, port) => {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::pin(tcp))
        }
        #[cfg(feature = "tls")]
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            ..
        } => crate::tls::connect(host, *port).await,
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => Ok(Box::pin(tokio::net::UnixStream::connect(path).await?)),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this kind of Redis address is not supported",
        )),
    }
}

/// A stream that lets at most [`MAX_REPLY`] bytes be read after each write: a reply that does
/// not end (`*2147483647` then an endless stream) or is larger than any record ends the
/// connection instead of the process's memory.
struct Bounded<S> {
    inner: S,
    budget: usize,
}

impl<S> Bounded<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            budget: MAX_REPLY,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.budget == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "Redis sent a reply larger than any record; the connection is dropped",
            )));
        }
        let before = buf.filled().len();
        if buf.remaining() <= self.budget {
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        } else {
            // Less room than the buffer offers: read into a smaller one, then copy.
            let mut local = [0u8; 8192];
            let room = self.budget.min(local.len());
            let mut limited = ReadBuf::new(&mut local[..room]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
            buf.put_slice(limited.filled());
        }
        self.budget -= buf.filled().len() - before;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, data))?;
        if written > 0 {
            // A command went out: its reply may take up to the bound.
            self.budget = MAX_REPLY;
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
