//! [`RedisServer`]: a private `redis-server` for tests, on a free loopback port, with no
//! persistence, stopped by its pid.

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
        // A port found free can be taken by another test's server before ours binds it: then
        // another port is tried.
        let mut attempts = 0;
        loop {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let mut server = Self { port, child: None };
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
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run redis-server ({e}); install it (cargo xtask provision does, or: apt-get install redis-server)"
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
