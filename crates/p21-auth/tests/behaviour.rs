//! The P21 client end to end against a loopback server.

use std::collections::HashMap;

use auth_core::ErrorKind;
use auth_core::error::ConfigProblem;
use auth_testkit::{Reply, TestServer};
use p21_auth::{Client, ClientBuilder, Credentials, Secret, Session};

#[allow(dead_code)]
#[path = "../examples/p21_token.rs"]
mod example;

const TOKEN_OK: &str = r#"{"AccessToken":"fake-token-1","ExpiresInSeconds":86400,"TokenType":"Bearer","SessionId":"s-1"}"#;

fn client(base: &str) -> Client {
    Client::builder()
        .base_url(base)
        .credentials(Credentials::user("api_user", Secret::new("fake-password")))
        .build()
        .expect("client")
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[tokio::test]
async fn one_token_request_serves_many_calls() {
    let server = TestServer::start().await;
    server.route("POST", "/api/security/token/v2", Reply::json(200, TOKEN_OK));
    let p21 = client(&server.url(""));
    for _ in 0..10 {
        let token = p21.token().await.expect("token");
        assert_eq!(token.access_token().expose_secret(), "fake-token-1");
        assert_eq!(
            Session::of(&token).and_then(|s| s.session_id.as_deref()),
            Some("s-1")
        );
    }
    assert_eq!(server.count("POST", "/api/security/token/v2"), 1);
    assert_eq!(p21.cache().stats().tokens_fetched, 1);
}

#[tokio::test]
async fn base_urls_with_slashes_and_prefixes_make_clean_paths() {
    for (suffix, expected) in [
        ("", "/api/security/token/v2"),
        ("/", "/api/security/token/v2"),
        ("/p21", "/p21/api/security/token/v2"),
        ("/p21/", "/p21/api/security/token/v2"),
    ] {
        let server = TestServer::start().await;
        server.route("POST", expected, Reply::json(200, TOKEN_OK));
        let p21 = client(&format!("{}{suffix}", server.url("")));
        p21.token().await.expect("token");
        assert_eq!(
            server.requests()[0].target,
            expected,
            "base suffix {suffix:?}"
        );
        assert_eq!(
            p21.url("/odataservice/odata/table/supplier")
                .expect("url")
                .path(),
            format!(
                "{}odataservice/odata/table/supplier",
                expected.trim_end_matches("api/security/token/v2")
            )
        );
    }
}

#[tokio::test]
async fn ui_server_url_follows_a_same_origin_redirect_with_the_token() {
    let server = TestServer::start().await;
    server.route("POST", "/api/security/token/v2", Reply::json(200, TOKEN_OK));
    server.route(
        "GET",
        "/api/ui/router/v1",
        Reply::status(307).header("location", "/api/ui/router/v1/?urlType=external"),
    );
    server.route(
        "GET",
        "/api/ui/router/v1/",
        Reply::json(200, r#"{"Url":"https://play.p21server.com/uiserver0/"}"#),
    );
    let url = client(&server.url("")).ui_server_url().await.expect("url");
    assert_eq!(url.as_str(), "https://play.p21server.com/uiserver0");
    let redirected = server
        .requests()
        .into_iter()
        .find(|r| r.target == "/api/ui/router/v1/?urlType=external")
        .expect("redirect followed");
    assert_eq!(
        redirected.header("authorization"),
        Some("Bearer fake-token-1")
    );
}

#[tokio::test]
async fn a_401_on_the_ui_router_reauthenticates_once() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/api/security/token/v2",
        vec![Reply::json(200, TOKEN_OK)],
        Reply::json(
            200,
            r#"{"AccessToken":"fake-token-2","ExpiresInSeconds":86400}"#,
        ),
    );
    server.route_fn("GET", "/api/ui/router/v1", |req| {
        if req.header("authorization") == Some("Bearer fake-token-2") {
            Reply::json(200, r#"{"Url":"https://x/uiserver0"}"#)
        } else {
            Reply::json(401, r#"{"error":"invalid_token"}"#)
        }
    });
    let url = client(&server.url("")).ui_server_url().await.expect("url");
    assert_eq!(url.as_str(), "https://x/uiserver0");
    assert_eq!(server.count("POST", "/api/security/token/v2"), 2);
}

#[tokio::test]
async fn wrong_credentials_are_rejected_and_remembered() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/api/security/token/v2",
        Reply::json(401, r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#),
    );
    let p21 = client(&server.url(""));
    for _ in 0..5 {
        let err = p21.token().await.expect_err("rejected");
        assert!(err.is_rejected());
        assert_eq!(err.vendor(), Some("p21"));
        assert_eq!(err.code(), Some("invalid_grant"));
    }
    assert_eq!(
        server.count("POST", "/api/security/token/v2"),
        1,
        "the account is not hammered"
    );
}

#[tokio::test]
async fn api_calls_carry_the_token_and_retry_once_after_a_401() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/api/security/token/v2",
        vec![Reply::json(200, TOKEN_OK)],
        Reply::json(
            200,
            r#"{"AccessToken":"fake-token-2","ExpiresInSeconds":86400}"#,
        ),
    );
    server.route_sequence(
        "GET",
        "/odataservice/odata/table/supplier",
        vec![Reply::json(401, r#"{"Message":"expired"}"#)],
        Reply::json(200, r#"{"value":[]}"#),
    );
    let p21 = client(&server.url(""));
    let resp = p21
        .send(
            p21.reqwest_client()
                .get(p21.url("odataservice/odata/table/supplier").expect("url")),
        )
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let auth: Vec<_> = server
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/odataservice"))
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer fake-token-1", "Bearer fake-token-2"]);
}

#[test]
fn from_vars_names_what_is_missing() {
    let missing = |pairs: &[(&str, &str)]| match ClientBuilder::from_vars(&vars(pairs))
        .and_then(|b| b.build())
    {
        Err(e) => match e.kind() {
            ErrorKind::Configuration {
                setting,
                problem: ConfigProblem::Missing,
                ..
            } => setting.clone(),
            other => panic!("unexpected {other:?}"),
        },
        Ok(_) => panic!("should fail"),
    };
    assert_eq!(missing(&[]), "P21_BASE_URL");
    assert_eq!(
        missing(&[("P21_BASE_URL", "https://p21.example.com")]),
        "P21_USERNAME"
    );
    assert_eq!(
        missing(&[
            ("P21_BASE_URL", "https://p21.example.com"),
            ("P21_USERNAME", "u")
        ]),
        "P21_PASSWORD"
    );
    // A consumer key needs no user name.
    ClientBuilder::from_vars(&vars(&[
        ("P21_BASE_URL", "https://p21.example.com"),
        ("P21_CONSUMER_KEY", "k"),
    ]))
    .and_then(|b| b.build())
    .expect("consumer key alone is enough");
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let build = |base: &str, creds: Credentials| {
        Client::builder().base_url(base).credentials(creds).build()
    };
    let user = || Credentials::user("u", Secret::new("p"));
    let err = build("http://p21.example.com", user()).expect_err("plain http");
    assert!(matches!(
        err.kind(),
        ErrorKind::Configuration {
            problem: ConfigProblem::InsecureUrl,
            ..
        }
    ));
    let err = build("not a url", user()).expect_err("bad url");
    assert!(err.to_string().contains("base_url is invalid"), "{err}");
    let err = build("https://p21.example.com?x=1", user()).expect_err("query");
    assert!(err.to_string().contains("no query"), "{err}");
    let err = build(
        "https://p21.example.com",
        Credentials::user(" ", Secret::new("p")),
    )
    .expect_err("empty user");
    assert!(err.to_string().contains("username"), "{err}");
    let err = build(
        "https://p21.example.com",
        Credentials::consumer_key(Secret::new("")),
    )
    .expect_err("empty key");
    assert!(err.to_string().contains("consumer key"), "{err}");
    #[allow(deprecated)]
    let v1 = Credentials::user_v1_headers("u\nx", Secret::new("p"));
    let err = build("https://p21.example.com", v1).expect_err("header-unsafe user");
    assert!(err.to_string().contains("V1"), "{err}");
    let err = Client::builder()
        .credentials(user())
        .build()
        .expect_err("no base url");
    assert!(err.to_string().contains("base_url is not set"), "{err}");
}

#[test]
fn debug_output_never_shows_credentials() {
    let creds = Credentials::consumer_key(Secret::new("SENTINEL-KEY")).with_username("api_user");
    let builder = Client::builder()
        .base_url("https://p21.example.com")
        .credentials(Credentials::user("api_user", Secret::new("SENTINEL-PW")));
    let shown = format!("{creds:?} {builder:?}");
    assert!(!shown.contains("SENTINEL"), "{shown}");
    let client = builder.build().expect("client");
    assert!(!format!("{client:?}").contains("SENTINEL"));
}

#[tokio::test]
async fn the_example_prints_the_token_alone() {
    let server = TestServer::start().await;
    server.route("POST", "/api/security/token/v2", Reply::json(200, TOKEN_OK));
    let env = vars(&[
        ("P21_BASE_URL", &server.url("")),
        ("P21_USERNAME", "api_user"),
        ("P21_PASSWORD", "fake-password"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = example::run(&env, &mut out, &mut err).await;
    assert_eq!(code, 0);
    assert_eq!(String::from_utf8_lossy(&out), "fake-token-1\n");
    assert!(err.is_empty());

    let env = vars(&[("P21_BASE_URL", &server.url(""))]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = example::run(&env, &mut out, &mut err).await;
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(String::from_utf8_lossy(&err).contains("P21_USERNAME is not set"));
}

/// One credential, one store key: a base URL and a user name cannot shift a delimiter between
/// them and land on another credential's key.
#[test]
fn credentials_that_differ_never_share_a_store_key() {
    let key = |base: &str, user: &str| {
        Client::builder()
            .base_url(base)
            .credentials(Credentials::user(user, Secret::new("pw")))
            .cache(p21_auth::CacheOptions::default().store(auth_core::store::MemoryStore::new()))
            .build()
            .expect("client")
            .cache()
            .store_key()
            .cloned()
            .expect("a key with a store")
    };
    assert_ne!(
        key("https://h.example.com/", "z/|user=alice"),
        key("https://h.example.com/|user=z/", "alice")
    );
    assert_eq!(
        key("https://h.example.com/", "alice"),
        key("https://h.example.com/", "alice")
    );
}
