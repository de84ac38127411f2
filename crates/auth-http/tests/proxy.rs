//! Proxies from the environment, through a real local proxy (`auth_testkit::TestProxy`) to an
//! https server whose name only the proxy resolves: the request travels inside `CONNECT`, the
//! proxy's credentials go to the proxy only, the request's secrets only to their origin, and no
//! proxy password shows in an error, a `Debug` print or a route.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::Secret;
use auth_http::{HttpClient, HttpRequest, ProxySettings, RetryPolicy};
use auth_testkit::TestProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const HOST: &str = "vendor.test";
const PROXY_PASSWORD: &str = "proxy-pa55word";
const SIGN_IN_PASSWORD: &str = "sign-in-hunter2";

/// An https server for `vendor.test` on a loopback port: its URL, its certificate (PEM) and
/// what it received, decrypted.
async fn vendor_server() -> (String, String, Arc<Mutex<Vec<u8>>>) {
    auth_http::install_crypto_provider();
    let made = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).expect("certificate");
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![made.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der())),
        )
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                seen.lock().expect("lock").extend_from_slice(&buf[..n]);
                let body = r#"{"access_token":"t","expires_in":60}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (
        format!("https://{HOST}:{port}/token"),
        made.cert.pem(),
        received,
    )
}

fn vars(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn client(pem: &str, settings: ProxySettings) -> HttpClient {
    HttpClient::builder()
        .add_root_certificates_pem(pem)
        .platform_verifier(false)
        .http1_only(true)
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .proxy_settings(settings)
        .build()
        .expect("client")
}

fn sign_in(url: &str) -> HttpRequest {
    HttpRequest::post(url.parse().expect("url"))
        .form(&[("username", "api_user")])
        .form_secret("password", &Secret::new(SIGN_IN_PASSWORD))
}

/// The error's text, Debug and every source, for leak checks.
fn all_text(err: &auth_core::Error) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause} {cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn https_travels_inside_connect_and_each_credential_reaches_only_its_own_party() {
    let (url, pem, received) = vendor_server().await;
    let proxy = TestProxy::start().await;
    proxy.require_basic_auth("proxy-user", PROXY_PASSWORD);
    let settings = ProxySettings::from_vars(&vars(vec![(
        "HTTPS_PROXY",
        proxy.url(Some(("proxy-user", PROXY_PASSWORD))),
    )]))
    .expect("settings");
    let http = client(&pem, settings);
    let route = http
        .proxy_route(&url.parse().expect("url"))
        .expect("proxied");
    assert_eq!(route.variable, "HTTPS_PROXY");
    assert!(route.with_credentials);
    assert!(!format!("{route} {route:?} {http:?}").contains(PROXY_PASSWORD));

    let response = http
        .send("v", &sign_in(&url))
        .await
        .expect("through the proxy");
    assert_eq!(response.status(), 200);

    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "CONNECT");
    assert_eq!(requests[0].target, url[8..url.len() - "/token".len()]);
    assert!(
        requests[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
    // The proxy saw only ciphertext; the vendor saw the sign-in, and no proxy credentials.
    let tunneled = String::from_utf8_lossy(&proxy.tunneled()).into_owned();
    assert!(!tunneled.contains(SIGN_IN_PASSWORD));
    assert!(!tunneled.contains("api_user"));
    let at_vendor = String::from_utf8_lossy(&received.lock().expect("lock")).into_owned();
    assert!(at_vendor.contains(SIGN_IN_PASSWORD), "{at_vendor}");
    assert!(
        !at_vendor
            .to_ascii_lowercase()
            .contains("proxy-authorization"),
        "{at_vendor}"
    );
}

#[tokio::test]
async fn a_refused_or_absent_proxy_fails_without_showing_its_password() {
    let (url, pem, received) = vendor_server().await;
    let proxy = TestProxy::start().await;
    proxy.require_basic_auth("proxy-user", "the-right-one");
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    for proxy_url in [
        proxy.url(Some(("proxy-user", PROXY_PASSWORD))),
        format!("http://proxy-user:{PROXY_PASSWORD}@127.0.0.1:{dead_port}"),
    ] {
        let settings =
            ProxySettings::from_vars(&vars(vec![("https_proxy", proxy_url)])).expect("settings");
        let http = client(&pem, settings);
        let err = http.send("v", &sign_in(&url)).await.expect_err("refused");
        let text = all_text(&err);
        assert!(!text.contains(PROXY_PASSWORD), "{text}");
        assert!(!text.contains(SIGN_IN_PASSWORD), "{text}");
    }
    assert!(
        received.lock().expect("lock").is_empty(),
        "nothing reached the vendor"
    );
}

#[tokio::test]
async fn no_proxy_loopback_and_the_opt_out_go_direct() {
    let proxy = TestProxy::start().await;
    let env = vars(vec![
        ("HTTPS_PROXY", proxy.url(None)),
        ("HTTP_PROXY", proxy.url(None)),
        ("NO_PROXY", format!("{HOST},.internal.example")),
    ]);
    let settings = ProxySettings::from_vars(&env).expect("settings");
    let routed = |url: &str| settings.route(&url.parse().expect("url")).is_some();
    assert!(!routed("https://vendor.test:8443/token"));
    assert!(!routed("https://erp.internal.example/"));
    assert!(routed("https://other.test/"));
    assert!(routed("http://other.test/"));

    // A loopback server is reached directly, even with a proxy for everything else.
    let local = auth_testkit::TestServer::start().await;
    local.route("GET", "/ok", auth_testkit::Reply::json(200, "{}"));
    let http = HttpClient::builder()
        .proxy_settings(settings)
        .build()
        .expect("client");
    let response = http
        .send(
            "v",
            &HttpRequest::get(local.url("/ok").parse().expect("url")),
        )
        .await
        .expect("direct");
    assert_eq!(response.status(), 200);
    assert!(proxy.requests().is_empty());

    // Opted out: the environment's proxy is not used even for a host it would cover.
    let off = HttpClient::builder()
        .proxy_from_env(false)
        .build()
        .expect("client");
    assert!(
        off.proxy_route(&"https://other.test/".parse().expect("url"))
            .is_none()
    );
    assert!(!off.has_proxy_in_code());
}
