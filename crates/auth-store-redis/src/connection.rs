//! The store's connection to Redis (one server, a Sentinel set's primary, or a cluster's nodes),
//! which a hostile or broken server cannot make costly: every reply is bounded ([`MAX_REPLY`]
//! bytes read per command sent, more ends the connection), and a connection whose call failed or
//! timed out is dropped with its readers, so nothing keeps parsing in the background. Made on
//! first use, remade after a failure.

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

/// A connection to one server over a [`Bounded`] stream, and the task that reads its replies
/// (aborted when the last clone goes).
#[derive(Clone)]
pub(crate) struct Node {
    connection: MultiplexedConnection,
    reader: std::sync::Arc<Reader>,
}

struct Reader(AbortHandle);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Node {
    async fn open(
        info: &ConnectionInfo,
        config: AsyncConnectionConfig,
    ) -> redis::RedisResult<Self> {
        let stream = connect(info.addr()).await?;
        let (connection, reader) = MultiplexedConnection::new_with_config(
            info.redis_settings(),
            Bounded::new(stream),
            config,
        )
        .await?;
        let reader = std::sync::Arc::new(Reader(tokio::spawn(reader).abort_handle()));
        Ok(Self { connection, reader })
    }
}

impl redis::aio::ConnectionLike for Node {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.connection.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.connection.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.connection.get_db()
    }
}

/// How redis-rs's cluster client opens its connections to the nodes: bounded, as ours.
impl redis::cluster_async::Connect for Node {
    fn connect_with_config<'a, T>(
        info: T,
        config: AsyncConnectionConfig,
    ) -> redis::RedisFuture<'a, Self>
    where
        T: redis::IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move { Self::open(&info.into_connection_info()?, config).await })
    }
}

/// A connection: to one server, or to a cluster (redis-rs routes each script by the slot of its
/// keys, which the hash tag makes one per credential).
#[derive(Clone)]
pub(crate) enum Conn {
    One(Node),
    Cluster(redis::cluster_async::ClusterConnection<Node>),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::One(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::One(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::One(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The live connection and its generation.
struct Live {
    connection: Conn,
    generation: u64,
}

/// Where the connection goes: one server, the primary a Sentinel set names (asked again for
/// every new connection, so a failover is followed), or a cluster.
pub(crate) enum Target {
    Direct(ConnectionInfo),
    Sentinel {
        client: tokio::sync::Mutex<redis::sentinel::SentinelClient>,
        master: String,
    },
    Cluster(redis::cluster::ClusterClient),
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
    pub(crate) async fn get(&self) -> Result<(Conn, u64), StoreError> {
        let mut live = self.live.lock().await;
        let alive = |l: &&Live| match &l.connection {
            Conn::One(node) => !node.reader.0.is_finished(),
            Conn::Cluster(_) => true,
        };
        if let Some(l) = live.as_ref().filter(alive) {
            return Ok((l.connection.clone(), l.generation));
        }
        *live = None;
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(self.timeout));
        let connection = match &self.target {
            Target::Direct(info) => Conn::One(Node::open(info, config).await.map_err(unreachable)?),
            Target::Sentinel { client, .. } => {
                let primary = client.lock().await.async_get_client().await;
                let primary =
                    primary.map_err(|e| store_error("ask the sentinels for the primary", &e))?;
                let node = Node::open(primary.get_connection_info(), config).await;
                Conn::One(node.map_err(unreachable)?)
            }
            Target::Cluster(client) => Conn::Cluster(
                client
                    .get_async_generic_connection::<Node>()
                    .await
                    .map_err(unreachable)?,
            ),
        };
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *live = Some(Live {
            connection: connection.clone(),
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
            Target::Cluster(_) => "cluster".to_owned(),
        }
    }
}

fn unreachable(e: redis::RedisError) -> StoreError {
    store_error("cannot connect to Redis", &e)
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
        } => Ok(Box::pin(crate::tls::connect(host, *port).await?)),
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

/// A Redis error, without the URL (which may hold a password).
pub(crate) fn store_error(what: &str, e: &redis::RedisError) -> StoreError {
    StoreError::new(format!("{what}: {:?} ({})", e.kind(), e.category()))
}
