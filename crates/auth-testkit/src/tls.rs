//! [`TlsServer`]: an https server on a loopback port, with a certificate made for the test (no
//! key material is kept in the repository), that answers every request with one fixed reply and
//! keeps what it received, decrypted.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::lock;

/// An https server on 127.0.0.1, stopped when dropped.
pub struct TlsServer {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `HTTP/1.1 <status>` with a JSON body (or none), closing the connection: a reply for
/// [`TlsServer::start`].
#[must_use]
pub fn http_reply(status: &str, json: Option<&str>) -> String {
    let body = json.unwrap_or_default();
    let kind = json.map_or("", |_| "content-type: application/json\r\n");
    format!(
        "HTTP/1.1 {status}\r\n{kind}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl TlsServer {
    /// A server with a new self-signed certificate for `names`, answering `reply` (a whole
    /// HTTP response, see [`http_reply`]); also the certificate's PEM, to trust it.
    ///
    /// # Panics
    /// If the certificate cannot be made or no loopback port bound.
    pub async fn self_signed(names: &[&str], reply: String) -> (Self, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let made = rcgen::generate_simple_self_signed(names).expect("certificate");
        let server = Self::start(
            made.cert.der().clone(),
            made.signing_key.serialize_der(),
            reply,
        )
        .await;
        (server, made.cert.pem())
    }

    /// A server presenting `cert` with its PKCS #8 `key`, answering `reply` to every request.
    ///
    /// # Panics
    /// If the certificate and key do not match or no loopback port can be bound.
    pub async fn start(cert: CertificateDer<'static>, key: Vec<u8>, reply: String) -> Self {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, seen, reply) = (acceptor.clone(), seen.clone(), reply.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let n = tls.read(&mut buf).await.unwrap_or(0);
                    lock(&seen).extend_from_slice(&buf[..n]);
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            port,
            received,
            task,
        }
    }

    /// Its port on 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What clients sent it, decrypted, in arrival order.
    #[must_use]
    pub fn received(&self) -> Vec<u8> {
        lock(&self.received).clone()
    }
}
