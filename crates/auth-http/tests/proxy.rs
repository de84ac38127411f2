//! Proxies from the environment, through a real local proxy (`auth_testkit::TestProxy`) to an
//! https server whose name only the proxy resolves: the request travels inside `CONNECT`, the
//! proxy's credentials go to the proxy only, the request's secrets only to their origin, and no
//! proxy password shows in an error, a `Debug` print or a route.

use std::time::Duration;

use auth_core::Secret;
use auth_http::{HttpClient, HttpRequest, ProxySettings, RetryPolicy};
use auth_testkit::{TestProxy, TlsServer, http_reply};
use tokio::net::TcpListener;

const HOST: &str = "vendor.test";
const PROXY_PASSWORD: &str = "proxy-pa55word";
const SIGN_IN_PASSWORD: &str = "sign-in-hunter2";

/// An https server for `vendor.test` on a loopback port, its URL and its certificate (PEM).
async fn vendor_server() -> (TlsServer, String, String) {
    let reply = http_reply("200 OK", Some(r#"{"access_token":"t","expires_in":60}"#));
    let (server, pem) = TlsServer::self_signed(&[HOST], reply).await;
    let url = format!("https://{HOST}:{}/token", server.port());
    (server, url, pem)
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
    let (vendor, url, pem) = vendor_server().await;
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
    let at_vendor = String::from_utf8_lossy(&vendor.received()).into_owned();
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
    let (vendor, url, pem) = vendor_server().await;
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
    assert!(vendor.received().is_empty(), "nothing reached the vendor");
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
