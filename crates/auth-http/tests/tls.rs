//! TLS through the default provider (rustls with ring), against a loopback server with a
//! self-signed certificate (made for the test: no key material is kept in the repository): refused
//! by default, accepted only through the loudly named opt-in.

use std::sync::Arc;

use auth_core::ErrorKind;

use auth_http::{HttpClient, HttpRequest, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// An https server on 127.0.0.1 answering every request with a small JSON body.
async fn https_server() -> String {
    auth_http::install_crypto_provider();
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![made.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der())),
        )
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"ok":true}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{}/token", addr.port())
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_by_default() {
    let url = https_server().await;
    let http = HttpClient::builder()
        .retry(RetryPolicy::none())
        .build()
        .expect("client");
    let err = http
        .send("v", &HttpRequest::get(url.parse().expect("url")))
        .await
        .expect_err("untrusted certificate");
    assert!(matches!(err.kind(), ErrorKind::Transport { .. }), "{err:?}");
    let mut chain = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!("{cause} / "));
        source = cause.source();
    }
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");
}

#[tokio::test]
async fn the_danger_opt_in_accepts_it() {
    let url = https_server().await;
    let http = HttpClient::builder()
        .danger_accept_invalid_certs(true)
        .http1_only(true)
        .build()
        .expect("client");
    let resp = http
        .send("v", &HttpRequest::get(url.parse().expect("url")))
        .await
        .expect("accepted");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), br#"{"ok":true}"#);
}
