//! The Apinizer client end to end against a loopback server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use apinizer_auth::{Client, ClientBuilder, Credentials, Secret};
use auth_core::ErrorKind;
use auth_core::error::ConfigProblem;
use auth_http::{HttpClient, RetryPolicy};
use auth_testkit::{ManualClock, Reply, TestServer};

#[allow(dead_code)]
#[path = "../examples/apinizer_token.rs"]
mod example;

const TOKEN_OK: &str =
    r#"{"access_token":"fake-issued-1","token_type":"Bearer","expires_in":3600}"#;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn client(server: &TestServer, credentials: Credentials) -> Client {
    Client::builder()
        .base_url(server.url("/"))
        .credentials(credentials)
        .http_client(
            HttpClient::builder()
                .clock(Arc::new(ManualClock::auto_advance()))
                .retry(RetryPolicy::default())
                .build()
                .expect("http"),
        )
        .build()
        .expect("client")
}

#[tokio::test]
async fn issued_tokens_are_cached_and_server_errors_retried() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/apiops/auth/token",
        vec![Reply::json(500, r#"{"error":"server_error"}"#)],
        Reply::json(200, TOKEN_OK),
    );
    let apinizer = client(&server, Credentials::issued("admin", Secret::new("pw")));
    for _ in 0..3 {
        apinizer.token().await.expect("token");
    }
    assert_eq!(
        server.count("POST", "/apiops/auth/token"),
        2,
        "one retry, then cached"
    );
}

#[tokio::test]
async fn bad_credentials_are_rejected_with_code_and_description() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/apiops/auth/token",
        Reply::json(
            401,
            r#"{"error":"unauthorized_client","error_description":"Bad credentials"}"#,
        ),
    );
    let err = client(&server, Credentials::issued("admin", Secret::new("wrong")))
        .token()
        .await
        .expect_err("rejected");
    assert_eq!(
        err.kind(),
        auth_core::Error::rejected(
            "v",
            Some(401),
            Some("unauthorized_client".into()),
            Some("Bad credentials".into())
        )
        .kind()
    );
    assert_eq!(server.count("POST", "/apiops/auth/token"), 1);
}

#[tokio::test]
async fn a_personal_token_is_never_fetched_and_a_401_means_revoked() {
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/apiops/projects/",
        Reply::json(
            401,
            r#"{"error":"unauthorized_client","error_description":"Invalid token"}"#,
        ),
    );
    let apinizer = client(&server, Credentials::personal(Secret::new("fake-personal")));
    assert_eq!(
        apinizer
            .token()
            .await
            .expect("token")
            .access_token()
            .expose_secret(),
        "fake-personal"
    );
    let err = apinizer
        .send(
            apinizer
                .reqwest_client()
                .get(apinizer.url("apiops/projects/").expect("url")),
        )
        .await
        .expect_err("revoked");
    assert_eq!(
        err.kind(),
        auth_core::Error::token_revoked("v", Some("Invalid token".into())).kind()
    );
    assert!(err.to_string().contains("expired or was revoked"), "{err}");
    assert_eq!(server.requests().len(), 1, "no token request, no retry");
}

#[tokio::test]
async fn an_issued_token_rejected_by_the_api_is_renewed_once() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/apiops/auth/token",
        vec![Reply::json(200, TOKEN_OK)],
        Reply::json(200, r#"{"access_token":"fake-issued-2","expires_in":3600}"#),
    );
    server.route_fn("GET", "/apiops/projects/", |req| {
        if req.header("authorization") == Some("Bearer fake-issued-2") {
            Reply::json(200, "[]")
        } else {
            Reply::json(
                401,
                r#"{"error":"unauthorized_client","error_description":"Invalid token"}"#,
            )
        }
    });
    let apinizer = client(&server, Credentials::issued("admin", Secret::new("pw")));
    let resp = apinizer
        .send(
            apinizer
                .reqwest_client()
                .get(apinizer.url("apiops/projects/").expect("url")),
        )
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_personal_token_past_its_date_is_not_sent() {
    let server = TestServer::start().await;
    server.route("GET", "/apiops/projects/", Reply::json(200, "[]"));
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let apinizer = client(
        &server,
        Credentials::personal(Secret::new("fake-personal")).expires_at(yesterday),
    );
    let err = apinizer
        .send(
            apinizer
                .reqwest_client()
                .get(apinizer.url("apiops/projects/").expect("url")),
        )
        .await
        .expect_err("expired");
    assert!(matches!(err.kind(), ErrorKind::TokenRevoked { .. }));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn verify_tells_a_bad_token_from_a_server_that_is_down() {
    let server = TestServer::start().await;
    server.route(
        "GET",
        "/apiops/test/healthcheck",
        Reply::text(200, "text/plain", "OK"),
    );
    server.route(
        "GET",
        "/apiops/test/hello/apinizer-auth",
        Reply::json(
            401,
            r#"{"error":"unauthorized_client","error_description":"Invalid token"}"#,
        ),
    );
    let apinizer = client(&server, Credentials::personal(Secret::new("revoked")));
    let err = apinizer.verify().await.expect_err("bad token");
    assert!(
        matches!(err.kind(), ErrorKind::TokenRevoked { .. }),
        "{err:?}"
    );
    assert_eq!(server.count("GET", "/apiops/test/healthcheck"), 0);

    server.route(
        "GET",
        "/apiops/test/hello/apinizer-auth",
        Reply::status(503),
    );
    server.route("GET", "/apiops/test/healthcheck", Reply::status(503));
    let err = apinizer.verify().await.expect_err("down");
    assert!(err.hint().is_some_and(|h| h.contains("down")), "{err}");

    server.route(
        "GET",
        "/apiops/test/hello/apinizer-auth",
        Reply::text(200, "text/plain", "Hello apinizer-auth"),
    );
    apinizer.verify().await.expect("good token");
    apinizer.healthcheck().await.expect_err("still down");
}

#[test]
fn configuration_errors_name_the_setting() {
    let err = ClientBuilder::from_vars(&vars(&[]))
        .and_then(|b| b.build())
        .expect_err("missing");
    assert!(err.to_string().contains("APINIZER_BASE_URL"), "{err}");
    let base = ("APINIZER_BASE_URL", "https://demo.apinizer.com");
    let err = ClientBuilder::from_vars(&vars(&[base]))
        .and_then(|b| b.build())
        .expect_err("no credentials");
    assert!(err.to_string().contains("APINIZER_TOKEN"), "{err}");
    let err = ClientBuilder::from_vars(&vars(&[base, ("APINIZER_USERNAME", "u")]))
        .and_then(|b| b.build())
        .expect_err("no password");
    assert!(
        matches!(err.kind(), ErrorKind::Configuration { setting, problem: ConfigProblem::Missing, .. } if setting == "APINIZER_PASSWORD")
    );
    let err = ClientBuilder::from_vars(&vars(&[
        base,
        ("APINIZER_TOKEN", "t"),
        ("APINIZER_USERNAME", "u"),
    ]))
    .and_then(|b| b.build())
    .expect_err("both");
    assert!(matches!(
        err.kind(),
        ErrorKind::Configuration {
            problem: ConfigProblem::Conflict(_),
            ..
        }
    ));
    let ok = ClientBuilder::from_vars(&vars(&[base, ("APINIZER_TOKEN", "SENTINEL")]))
        .and_then(|b| b.build())
        .expect("personal");
    assert!(!format!("{ok:?}").contains("SENTINEL"));
}

#[tokio::test]
async fn the_example_prints_the_token_and_makes_no_request_with_a_personal_one() {
    let server = TestServer::start().await;
    let url = server.url("");
    let env = vars(&[
        ("APINIZER_BASE_URL", &url),
        ("APINIZER_TOKEN", "fake-personal"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(example::run(&env, &mut out, &mut err).await, 0);
    assert_eq!(String::from_utf8_lossy(&out), "fake-personal\n");
    assert!(server.requests().is_empty());

    server.route("POST", "/apiops/auth/token", Reply::json(200, TOKEN_OK));
    let env = vars(&[
        ("APINIZER_BASE_URL", &url),
        ("APINIZER_USERNAME", "admin"),
        ("APINIZER_PASSWORD", "pw"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(example::run(&env, &mut out, &mut err).await, 0);
    assert_eq!(String::from_utf8_lossy(&out), "fake-issued-1\n");

    let env = vars(&[("APINIZER_BASE_URL", &url)]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(example::run(&env, &mut out, &mut err).await, 1);
    assert!(String::from_utf8_lossy(&err).contains("APINIZER_TOKEN"));
}
