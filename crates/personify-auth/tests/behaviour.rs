//! The Personify client end to end against a loopback server.

use std::collections::HashMap;

use auth_core::ErrorKind;
use auth_core::error::ConfigProblem;
use auth_testkit::{Reply, TestServer};
use personify_auth::{Client, ClientBuilder, Secret};

#[allow(dead_code)]
#[path = "../examples/personify_token.rs"]
mod example;

const TOKEN_OK: &str =
    r#"{"access_token":"fake-token-1","expires_in":3600,"token_type":"Bearer","scope":"idp_api"}"#;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn client(server: &TestServer) -> Client {
    Client::builder()
        .credentials(personify_auth::Credentials::new(
            "fake-client",
            Secret::new("fake-secret"),
        ))
        .token_url(server.url("/connect/token"))
        .tenant_id("fake-tenant")
        .build()
        .expect("client")
}

#[tokio::test]
async fn tokens_are_cached_and_the_scope_exposed() {
    let server = TestServer::start().await;
    server.route("POST", "/connect/token", Reply::json(200, TOKEN_OK));
    let personify = client(&server);
    for _ in 0..5 {
        assert_eq!(
            personify.token().await.expect("token").scope(),
            Some("idp_api")
        );
    }
    assert_eq!(server.count("POST", "/connect/token"), 1);
}

#[tokio::test]
async fn a_400_invalid_client_is_rejected_not_retried_and_remembered() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/connect/token",
        Reply::json(400, r#"{"error":"invalid_client"}"#),
    );
    let personify = client(&server);
    for _ in 0..3 {
        let err = personify.token().await.expect_err("rejected");
        assert!(err.is_rejected(), "{err:?}");
        assert_eq!(err.code(), Some("invalid_client"));
    }
    assert_eq!(server.count("POST", "/connect/token"), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/connect/token",
        vec![Reply::json(400, r#"{"error":"temporarily_unavailable"}"#)],
        Reply::json(200, TOKEN_OK),
    );
    let personify = Client::builder()
        .credentials(personify_auth::Credentials::new(
            "fake-client",
            Secret::new("fake-secret"),
        ))
        .token_url(server.url("/connect/token"))
        .http_client(
            auth_http::HttpClient::builder()
                .clock(std::sync::Arc::new(
                    auth_testkit::ManualClock::auto_advance(),
                ))
                .build()
                .expect("http"),
        )
        .build()
        .expect("client");
    personify.token().await.expect("second attempt");
    assert_eq!(server.count("POST", "/connect/token"), 2);
}

#[tokio::test]
async fn api_calls_carry_bearer_and_tenant_and_retry_once_after_401() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/connect/token",
        vec![Reply::json(200, TOKEN_OK)],
        Reply::json(200, r#"{"access_token":"fake-token-2","expires_in":3600}"#),
    );
    server.route_fn("GET", "/v1/members", |req| {
        match (req.header("authorization"), req.header("x-tenant-id")) {
            (Some("Bearer fake-token-2"), Some("fake-tenant")) => Reply::json(200, "[]"),
            _ => Reply::status(401).header("www-authenticate", r#"Bearer error="invalid_token""#),
        }
    });
    let personify = client(&server);
    let resp = personify
        .send(personify.reqwest_client().get(server.url("/v1/members")))
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.count("GET", "/v1/members"), 2);

    let req = personify
        .authorize(personify.reqwest_client().get(server.url("/v1/members")))
        .await
        .expect("headers")
        .build()
        .expect("request");
    assert_eq!(req.headers()["x-tenant-id"], "fake-tenant");
    assert!(req.headers()["authorization"].is_sensitive());
}

#[tokio::test]
async fn api_calls_without_a_tenant_are_refused_before_sending() {
    let server = TestServer::start().await;
    server.route("POST", "/connect/token", Reply::json(200, TOKEN_OK));
    let personify = Client::builder()
        .credentials(personify_auth::Credentials::new(
            "fake-client",
            Secret::new("fake-secret"),
        ))
        .token_url(server.url("/connect/token"))
        .build()
        .expect("client");
    personify.token().await.expect("the token needs no tenant");
    let err = personify
        .send(personify.reqwest_client().get(server.url("/v1/members")))
        .await
        .expect_err("no tenant");
    assert!(err.to_string().contains("PERSONIFY_TENANT_ID"), "{err}");
    assert_eq!(server.count("GET", "/v1/members"), 0);
}

#[test]
fn configuration_errors_name_the_setting() {
    let err = ClientBuilder::from_vars(&vars(&[]))
        .and_then(|b| b.build())
        .expect_err("missing");
    assert!(
        matches!(err.kind(), ErrorKind::Configuration { setting, problem: ConfigProblem::Missing, .. } if setting == "PERSONIFY_CLIENT_ID")
    );
    let err = ClientBuilder::from_vars(&vars(&[("PERSONIFY_CLIENT_ID", "x")]))
        .and_then(|b| b.build())
        .expect_err("missing");
    assert!(err.to_string().contains("PERSONIFY_CLIENT_SECRET"), "{err}");
    let err = ClientBuilder::from_vars(&vars(&[
        ("PERSONIFY_CLIENT_ID", "x"),
        ("PERSONIFY_CLIENT_SECRET", "y"),
        (
            "PERSONIFY_TOKEN_URL",
            "http://auth.example.com/connect/token",
        ),
    ]))
    .and_then(|b| b.build())
    .expect_err("plain http");
    assert!(matches!(
        err.kind(),
        ErrorKind::Configuration {
            problem: ConfigProblem::InsecureUrl,
            ..
        }
    ));
    let ok = ClientBuilder::from_vars(&vars(&[
        ("PERSONIFY_CLIENT_ID", "x"),
        ("PERSONIFY_CLIENT_SECRET", "SENTINEL"),
    ]))
    .and_then(|b| b.build())
    .expect("defaults");
    assert!(!format!("{ok:?}").contains("SENTINEL"));
}

#[tokio::test]
async fn the_example_prints_the_token_alone() {
    let server = TestServer::start().await;
    server.route("POST", "/connect/token", Reply::json(200, TOKEN_OK));
    let url = server.url("/connect/token");
    let env = vars(&[
        ("PERSONIFY_CLIENT_ID", "fake-client"),
        ("PERSONIFY_CLIENT_SECRET", "fake-secret"),
        ("PERSONIFY_TOKEN_URL", &url),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(example::run(&env, &mut out, &mut err).await, 0);
    assert_eq!(String::from_utf8_lossy(&out), "fake-token-1\n");

    server.route(
        "POST",
        "/connect/token",
        Reply::json(400, r#"{"error":"invalid_client"}"#),
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let env = vars(&[
        ("PERSONIFY_CLIENT_ID", "other"),
        ("PERSONIFY_CLIENT_SECRET", "fake-secret"),
        ("PERSONIFY_TOKEN_URL", &url),
    ]);
    assert_eq!(example::run(&env, &mut out, &mut err).await, 1);
    assert!(out.is_empty());
    assert!(String::from_utf8_lossy(&err).contains("invalid_client"));
}

/// One credential, one store key: a client id that holds what a scope would be is not the
/// client with that scope.
#[test]
fn credentials_that_differ_never_share_a_store_key() {
    let key = |client: &str, scope: Option<&str>| {
        let mut builder = Client::builder()
            .credentials(personify_auth::Credentials::new(client, Secret::new("s")))
            .token_url("https://id.example.org/connect/token")
            .cache(
                personify_auth::CacheOptions::default().store(auth_core::store::MemoryStore::new()),
            );
        if let Some(scope) = scope {
            builder = builder.scope(scope);
        }
        builder
            .build()
            .expect("client")
            .cache()
            .store_key()
            .cloned()
            .expect("a key with a store")
    };
    assert_ne!(key("a;scope=x", None), key("a", Some("x;scope=")));
    assert_ne!(key("a", None), key("a", Some("")));
    assert_eq!(key("a", Some("x")), key("a", Some("x")));
}
