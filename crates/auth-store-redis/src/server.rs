//! [`RedisServer`]: a private `redis-server` for tests, on a free loopback port, with no
//! persistence, stopped by its pid; [`SentinelSet`]: a primary, its replica and three sentinels;
//! [`ClusterSet`]: a cluster of three primaries, each with a replica.

use std::fmt;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on 127.0.0.1 and a free port, with no persistence; killed
/// (by its pid) when dropped. It can be stopped and started again on the same port, to test
/// what a fleet does while Redis is down.
///
/// `redis-server` must be on the `PATH` (Debian: `apt-get install redis-server`); if it is not,
/// [`start`](Self::start) says so plainly.
///
/// ```no_run
/// use auth_store_redis::RedisServer;
///
/// let server = RedisServer::start()?;
/// assert!(server.url().starts_with("redis://127.0.0.1:"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// The program and its arguments (without the port).
    program: &'static str,
    args: Vec<String>,
    /// Its working directory (removed with it).
    dir: std::path::PathBuf,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("pid", &self.pid())
            .finish()
    }
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits (up to 10 s) until it accepts
    /// connections.
    ///
    /// # Errors
    /// `redis-server` is not installed, or does not start listening.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with("redis-server", &[], &[])
    }

    /// Starts `program` (`redis-server` or `redis-sentinel`) with `leading` arguments (a
    /// configuration file), the port, the loopback address, no persistence, then `extra`.
    fn start_with(
        program: &'static str,
        leading: &[&str],
        extra: &[&str],
    ) -> std::io::Result<Self> {
        // Each server works in a directory of its own: a replica's full sync writes an RDB
        // file there, which another server started in the same directory would load.
        static SERVERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("redis-server-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut args: Vec<String> = leading.iter().map(|a| (*a).to_owned()).collect();
        args.extend(["--bind", "127.0.0.1", "--daemonize", "no"].map(String::from));
        args.extend(["--dir".to_owned(), dir.to_string_lossy().into_owned()]);
        if program == "redis-server" {
            let no_disk = [
                "--save",
                "",
                "--appendonly",
                "no",
                "--repl-diskless-sync",
                "yes",
            ];
            args.extend(no_disk.map(String::from));
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        // A port found free can be taken by another test's server before ours binds it: then
        // another port is tried.
        let mut attempts = 0;
        loop {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let mut server = Self {
                port,
                child: None,
                program,
                args: args.clone(),
                dir: dir.clone(),
            };
            match server.restart() {
                Ok(()) => return Ok(server),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts < 5 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `redis://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (its data goes with it: there is no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop)).
    ///
    /// # Errors
    /// As for [`start`](Self::start).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        let (leading, rest) = match self.args.first() {
            Some(conf) if self.program == "redis-sentinel" => (vec![conf.clone()], &self.args[1..]),
            _ => (Vec::new(), &self.args[..]),
        };
        let child = Command::new(self.program)
            .args(leading)
            .args(["--port", &self.port.to_string()])
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run {} ({e}); install it (cargo xtask provision does, or: apt-get install redis-server redis-sentinel)",
                        self.program
                    ),
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = self.pid();
        while Instant::now() < deadline {
            // Ours answers with its own pid; another server on the port (ours lost the race to
            // bind it) does not.
            if let Ok(answer) = server_pid(self.port) {
                if Some(answer) == pid {
                    return Ok(());
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "redis-server exited at once ({status}); is port {} taken?",
                        self.port
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(std::io::Error::other(
            "redis-server did not listen within 10 s",
        ))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The pid of the Redis server listening on `port` (from `INFO server`).
fn server_pid(port: u16) -> std::io::Result<u32> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while reply.len() < 64 * 1024 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("process_id:")) {
            if let Ok(pid) = line.trim().parse() {
                return Ok(pid);
            }
        }
    }
    Err(std::io::Error::other("no process_id in INFO server"))
}

/// A Redis Sentinel set for tests: a primary, a replica of it and three sentinels that watch
/// them as [`MASTER`](Self::MASTER) (quorum 2), each a child process on a free loopback port,
/// killed by its pid when dropped. A primary is judged down after 1 s, so a failover takes a
/// few seconds.
///
/// ```no_run
/// use auth_store_redis::{RedisStore, SentinelSet};
///
/// let set = SentinelSet::start()?;
/// let store = RedisStore::sentinel(set.sentinel_urls(), SentinelSet::MASTER)
///     .danger_store_unsealed()
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SentinelSet {
    primary: RedisServer,
    replica: RedisServer,
    sentinels: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl fmt::Debug for SentinelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelSet")
            .field("primary", &self.primary)
            .field("replica", &self.replica)
            .field("sentinels", &self.sentinels)
            .finish()
    }
}

impl SentinelSet {
    /// The name the sentinels know the primary by.
    pub const MASTER: &'static str = "mymaster";

    /// Starts the primary, its replica and three sentinels, and waits (up to 30 s) until every
    /// sentinel knows the primary, the replica and the other two.
    ///
    /// # Errors
    /// `redis-server` or `redis-sentinel` is not installed, or the set does not come up.
    pub fn start() -> std::io::Result<Self> {
        static SETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sentinel-set-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let primary = RedisServer::start()?;
        let port = primary.port().to_string();
        let replica =
            RedisServer::start_with("redis-server", &[], &["--replicaof", "127.0.0.1", &port])?;
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let conf = dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "sentinel monitor {m} 127.0.0.1 {port} 2\n\
                     sentinel down-after-milliseconds {m} 1000\n\
                     sentinel failover-timeout {m} 5000\n\
                     sentinel parallel-syncs {m} 1\n",
                    m = Self::MASTER
                ),
            )?;
            let conf = conf.to_string_lossy().into_owned();
            sentinels.push(RedisServer::start_with("redis-sentinel", &[&conf], &[])?);
        }
        let set = Self {
            primary,
            replica,
            sentinels,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !set.is_ready() {
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(
                    "the sentinel set did not come up within 30 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(set)
    }

    /// Whether every sentinel knows the primary with its replica and the other sentinels.
    fn is_ready(&self) -> bool {
        self.sentinels.iter().all(|s| {
            let master: Option<std::collections::HashMap<String, String>> = node(s.port())
                .and_then(|mut c| {
                    redis::cmd("SENTINEL")
                        .arg("MASTER")
                        .arg(Self::MASTER)
                        .query(&mut c)
                })
                .ok();
            master.is_some_and(|m| {
                m.get("num-slaves").is_some_and(|v| v != "0")
                    && m.get("num-other-sentinels").is_some_and(|v| v == "2")
            })
        })
    }

    /// The sentinels' URLs (`redis://127.0.0.1:<port>`).
    #[must_use]
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// The server that was the primary when the set started.
    #[must_use]
    pub fn first_primary(&self) -> &RedisServer {
        &self.primary
    }

    /// Kills the first primary with SIGKILL (its data goes with it), as a crashed host would.
    pub fn kill_primary(&mut self) {
        self.primary.stop();
    }

    /// The port of the primary the sentinels name now (after a failover, the former replica's).
    #[must_use]
    pub fn current_primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let addr: (String, u16) = node(s.port())
                .and_then(|mut c| {
                    redis::cmd("SENTINEL")
                        .arg("GET-MASTER-ADDR-BY-NAME")
                        .arg(Self::MASTER)
                        .query(&mut c)
                })
                .ok()?;
            Some(addr.1)
        })
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for sentinel in &mut self.sentinels {
            sentinel.stop();
        }
        self.replica.stop();
        self.primary.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster for tests: three primaries, each with a replica, on free loopback ports,
/// killed by their pids when dropped. A node is judged failed after 1 s, so a replica takes over
/// a killed primary within a few seconds.
///
/// ```no_run
/// use auth_store_redis::{ClusterSet, RedisStore};
///
/// let cluster = ClusterSet::start()?;
/// let store = RedisStore::cluster(cluster.urls()).danger_store_unsealed().build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClusterSet {
    nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl fmt::Debug for ClusterSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSet")
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl ClusterSet {
    /// Starts six nodes, joins them as three primaries with a replica each (`redis-cli --cluster
    /// create`), and waits (up to 30 s) until every node sees the cluster whole.
    ///
    /// # Errors
    /// `redis-server` or `redis-cli` is not installed, or the cluster does not come up.
    pub fn start() -> std::io::Result<Self> {
        static SETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cluster-set-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut nodes = Vec::new();
        for i in 0..6 {
            let conf = dir
                .join(format!("nodes-{i}.conf"))
                .to_string_lossy()
                .into_owned();
            nodes.push(RedisServer::start_with(
                "redis-server",
                &[],
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "1000",
                ],
            )?);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot run redis-cli ({e}); install redis-tools (cargo xtask provision does)"),
                )
            })?;
        let set = Self { nodes, dir };
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stdout);
            let last = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            return Err(std::io::Error::other(format!(
                "redis-cli --cluster create failed ({}): {last}",
                output.status
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !set.nodes.iter().all(|n| cluster_ok(n.port())) {
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(
                    "the cluster did not come up within 30 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(set)
    }

    /// The nodes' URLs (`redis://127.0.0.1:<port>`).
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Kills with SIGKILL the primary that holds `key`'s slot now, as a crashed host would;
    /// returns its port.
    ///
    /// # Errors
    /// No live node answers which primary holds the slot.
    pub fn kill_primary_of(&mut self, key: &str) -> std::io::Result<u16> {
        let port = self
            .nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .find_map(|n| primary_of(n.port(), key).ok())
            .ok_or_else(|| std::io::Error::other("no node says which primary holds the slot"))?;
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port() == port) {
            node.stop();
        }
        Ok(port)
    }

    /// The port of the primary that holds `key`'s slot now, as a live node sees it.
    #[must_use]
    pub fn current_primary_of(&self, key: &str) -> Option<u16> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .find_map(|n| primary_of(n.port(), key).ok())
    }
}

impl Drop for ClusterSet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A connection to the server (or sentinel) on `port`, made within a second.
fn node(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))?
        .get_connection_with_timeout(Duration::from_secs(1))
}

/// Whether the node on `port` sees the whole cluster: state ok, every slot served, six nodes.
fn cluster_ok(port: u16) -> bool {
    let info: Option<String> = node(port)
        .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query(&mut c))
        .ok();
    let replication: Option<String> = node(port)
        .and_then(|mut c| redis::cmd("INFO").arg("replication").query(&mut c))
        .ok();
    // A replica that has not synced cannot be promoted: wait until every link is up.
    let synced = replication
        .is_some_and(|r| r.contains("connected_slaves:1") || r.contains("master_link_status:up"));
    synced
        && info.is_some_and(|i| {
            i.contains("cluster_state:ok")
                && i.contains("cluster_slots_ok:16384")
                && i.contains("cluster_known_nodes:6")
        })
}

/// The port of the primary holding `key`'s slot, as the node on `port` sees it.
fn primary_of(port: u16, key: &str) -> redis::RedisResult<u16> {
    let mut c = node(port)?;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut c)?;
    // Each entry: [start, end, [host, port, id], replicas...]; the leading fields are read.
    let raw: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c)?;
    let field =
        |v: Option<&redis::Value>| -> Option<i64> { redis::from_redis_value(v?.clone()).ok() };
    let mut slots = raw.into_iter().filter_map(|entry| {
        let redis::Value::Array(fields) = entry else {
            return None;
        };
        let redis::Value::Array(primary) = fields.get(2)? else {
            return None;
        };
        Some((
            field(fields.first())?,
            field(fields.get(1))?,
            field(primary.get(1))?,
        ))
    });
    slots
        .find(|(start, end, _)| (*start..=*end).contains(&slot))
        .and_then(|(_, _, port)| u16::try_from(port).ok())
        .ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "no primary holds the slot"))
        })
}
