//! TLS through the default provider (rustls with ring), against a loopback server with a
//! self-signed certificate (made for the test: no key material is kept in the repository): refused
//! by default, accepted only through the loudly named opt-in.

use auth_core::ErrorKind;

use auth_http::{HttpClient, HttpRequest, RetryPolicy};
use auth_testkit::{TlsServer, http_reply};

/// An https server for localhost answering every request with a small JSON body, and its URL.
async fn https_server() -> (TlsServer, String) {
    let reply = http_reply("200 OK", Some(r#"{"ok":true}"#));
    let (server, _) = TlsServer::self_signed(&["localhost"], reply).await;
    let url = format!("https://localhost:{}/token", server.port());
    (server, url)
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_by_default() {
    let (_server, url) = https_server().await;
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
    let (_server, url) = https_server().await;
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
