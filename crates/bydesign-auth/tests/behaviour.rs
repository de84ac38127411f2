//! The ByDesign client end to end against a loopback server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use auth_core::ErrorKind;
use auth_core::error::ConfigProblem;
use auth_testkit::{Gate, Reply, TestServer};
use bydesign_auth::{Client, ClientBuilder, Credentials, Secret};

#[allow(dead_code)]
#[path = "../examples/bydesign_token.rs"]
mod example;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn token_body(n: usize, user: &str, user_type: &str) -> String {
    format!(
        r#"{{"access_token":"access-{n}","token_type":"bearer","expires_in":172799,"refresh_token":"refresh-{n}","userName":"{user}","userType":"{user_type}"}}"#
    )
}

/// A token endpoint with ByDesign's rules: the password grant for one rep, single-use refresh
/// tokens that rotate, and 400 `invalid_grant` for anything else.
fn bydesign_like(server: &TestServer, password: &'static str) -> Arc<Mutex<Vec<String>>> {
    let grants = Arc::new(Mutex::new(Vec::new()));
    let log = grants.clone();
    let state = Mutex::new((0usize, Option::<String>::None));
    server.route_fn("POST", "/Co/token", move |req| {
        let form: HashMap<String, String> = req.form().into_iter().collect();
        let grant = form.get("grant_type").cloned().unwrap_or_default();
        log.lock().expect("log").push(grant.clone());
        let mut state = state.lock().expect("state");
        let ok = match grant.as_str() {
            "password" => form.get("username").map(String::as_str) == Some("-->r_1001")
                && form.get("password").map(String::as_str) == Some(password),
            "refresh_token" => state.1.is_some() && form.get("refresh_token") == state.1.as_ref(),
            _ => false,
        };
        if !ok {
            return Reply::json(400, r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#);
        }
        state.0 += 1;
        state.1 = Some(format!("refresh-{}", state.0));
        Reply::json(200, token_body(state.0, "-->r_1001", "rep"))
    });
    grants
}

fn client(server: &TestServer, password: &str) -> Client {
    Client::builder()
        .base_url(server.url("/Co/"))
        .client_id("FakeCart")
        .credentials(Credentials::rep("1001", Secret::new(password)))
        .build()
        .expect("client")
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_newest_is_spent() {
    let server = TestServer::start().await;
    let grants = bydesign_like(&server, "pw");
    let bydesign = Client::builder()
        .base_url(server.url("/Co/"))
        .client_id("FakeCart")
        .credentials(Credentials::rep("1001", Secret::new("pw")))
        .cache(
            bydesign_auth::CacheOptions::default()
                .min_forced_refresh_interval(std::time::Duration::ZERO),
        )
        .build()
        .expect("client");
    let mut token = bydesign.token().await.expect("password grant");
    for _ in 0..3 {
        assert!(bydesign.invalidate(&token));
        token = bydesign.token().await.expect("refreshed");
    }
    assert_eq!(token.access_token().expose_secret(), "access-4");
    let spent: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| {
            r.form()
                .into_iter()
                .find(|(k, _)| k == "refresh_token")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(
        spent,
        ["refresh-1", "refresh-2", "refresh-3"],
        "always the newest, each once"
    );
    assert_eq!(
        *grants.lock().expect("log"),
        [
            "password",
            "refresh_token",
            "refresh_token",
            "refresh_token"
        ]
    );
}

#[tokio::test]
async fn a_refused_refresh_falls_back_to_the_password_once() {
    let server = TestServer::start().await;
    server.route_sequence(
        "POST",
        "/Co/token",
        vec![
            Reply::json(200, token_body(1, "-->r_1001", "rep")),
            Reply::json(
                400,
                r#"{"error":"invalid_grant","error_description":"The refresh token is invalid."}"#,
            ),
        ],
        Reply::json(200, token_body(2, "-->r_1001", "rep")),
    );
    let bydesign = client(&server, "pw");
    let first = bydesign.token().await.expect("token");
    assert!(bydesign.invalidate(&first));
    let second = bydesign.token().await.expect("fallback");
    assert_eq!(second.access_token().expose_secret(), "access-2");
    let grants: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.form()
                .into_iter()
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v)
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(grants, ["password", "refresh_token", "password"]);
    // The refusal is counted (the password sign-in that followed it is no failure).
    let stats = bydesign.cache().stats();
    assert_eq!(stats.refresh_fallbacks, 1);
    assert_eq!(stats.refresh_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renewals_never_spend_a_refresh_token_twice() {
    let server = TestServer::start().await;
    let gate = Gate::new();
    server.route_sequence(
        "POST",
        "/Co/token",
        vec![Reply::json(200, token_body(1, "-->r_1001", "rep"))],
        Reply::json(200, token_body(2, "-->r_1001", "rep")).after(&gate),
    );
    let bydesign = client(&server, "pw");
    let first = bydesign.token().await.expect("token");
    bydesign.invalidate(&first);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let bydesign = bydesign.clone();
            tokio::spawn(async move { bydesign.token().await })
        })
        .collect();
    for _ in 0..100_000 {
        if server.requests().len() == 2 && bydesign.cache().stats().waits >= 1001 {
            break;
        }
        tokio::task::yield_now().await;
    }
    gate.release(1);
    for task in tasks {
        assert_eq!(
            task.await
                .expect("task")
                .expect("token")
                .access_token()
                .expose_secret(),
            "access-2"
        );
    }
    assert_eq!(
        server.requests().len(),
        2,
        "one password grant, one refresh"
    );
}

/// ByDesign's token endpoint and a protected API, with state: which password signs in, and which
/// access and refresh tokens are alive. `expire_all` is what a password change does.
#[derive(Default)]
struct Account {
    password: String,
    issued: usize,
    access: Vec<String>,
    refresh: Vec<String>,
    grants: Vec<String>,
}

fn serve_account(server: &TestServer, password: &str) -> Arc<Mutex<Account>> {
    let account = Arc::new(Mutex::new(Account {
        password: password.to_owned(),
        ..Account::default()
    }));
    let state = account.clone();
    server.route_fn("POST", "/Co/token", move |req| {
        let form: HashMap<String, String> = req.form().into_iter().collect();
        let mut a = state.lock().expect("account");
        let grant = form.get("grant_type").cloned().unwrap_or_default();
        a.grants.push(grant.clone());
        let ok = match grant.as_str() {
            "password" => form.get("password") == Some(&a.password),
            "refresh_token" => {
                let presented = form.get("refresh_token").cloned().unwrap_or_default();
                let alive = a.refresh.contains(&presented);
                a.refresh.retain(|r| *r != presented); // single use
                alive
            }
            _ => false,
        };
        if !ok {
            return Reply::json(400, r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#);
        }
        a.issued += 1;
        let n = a.issued;
        a.access.push(format!("access-{n}"));
        a.refresh.push(format!("refresh-{n}"));
        Reply::json(200, token_body(n, "-->r_1001", "rep"))
    });
    let state = account.clone();
    server.route_fn("GET", "/Co/api/orders", move |req| {
        let token = req
            .header("authorization")
            .unwrap_or_default()
            .trim_start_matches("Bearer ")
            .to_owned();
        if state.lock().expect("account").access.contains(&token) {
            Reply::json(200, "[]")
        } else {
            Reply::json(
                401,
                r#"{"Message":"Authorization has been denied for this request."}"#,
            )
        }
    });
    account
}

fn expire_all(account: &Mutex<Account>) {
    let mut a = account.lock().expect("account");
    a.access.clear();
    a.refresh.clear();
}

#[tokio::test]
async fn expired_tokens_after_a_password_change_cause_one_reauthentication() {
    let server = TestServer::start().await;
    let account = serve_account(&server, "pw");
    let bydesign = Client::builder()
        .base_url(server.url("/Co"))
        .client_id("FakeCart")
        .credentials(Credentials::rep("1001", Secret::new("pw")))
        .cache(
            bydesign_auth::CacheOptions::default()
                .min_forced_refresh_interval(std::time::Duration::ZERO),
        )
        .build()
        .expect("client");
    let orders = || bydesign.send(bydesign.reqwest_client().get(server.url("/Co/api/orders")));
    assert_eq!(orders().await.expect("sent").status(), 200);

    // The server expires every token (as after a password change) while the password the client
    // holds still signs in: one 401, the refresh is refused, the password signs in, one retry.
    expire_all(&account);
    assert_eq!(orders().await.expect("sent").status(), 200);
    assert_eq!(
        account.lock().expect("account").grants,
        ["password", "refresh_token", "password"]
    );
    assert_eq!(server.count("GET", "/Co/api/orders"), 3);

    // The password really changed: re-authentication is refused and the client fails closed.
    account.lock().expect("account").password = "new-pw".into();
    expire_all(&account);
    let err = orders().await.expect_err("rejected");
    assert!(err.is_rejected(), "{err:?}");
    assert_eq!(
        server.count("GET", "/Co/api/orders"),
        4,
        "the request is not re-sent without a token"
    );
}

#[tokio::test]
async fn an_answer_for_another_identity_is_discarded() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/Co/token",
        Reply::json(200, token_body(1, "-->c_1001", "customer")),
    );
    let err = client(&server, "pw").token().await.expect_err("mismatch");
    assert_eq!(
        err.kind(),
        bydesign_auth::Error::identity_mismatch("bydesign", "-->r_1001", "-->c_1001").kind()
    );
}

#[test]
fn configuration_errors_name_the_setting() {
    let base = [
        ("BYDESIGN_BASE_URL", "https://webapi.securefreedom.com/Co"),
        ("BYDESIGN_CLIENT_ID", "FakeCart"),
        ("BYDESIGN_PASSWORD", "pw"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        ClientBuilder::from_vars(&vars(&all)).and_then(|b| b.build())
    };
    let err = with(&[]).expect_err("no id");
    assert!(
        err.to_string()
            .contains("BYDESIGN_REP_ID or BYDESIGN_CUSTOMER_ID"),
        "{err}"
    );
    let err = with(&[("BYDESIGN_REP_ID", "1"), ("BYDESIGN_CUSTOMER_ID", "2")]).expect_err("both");
    assert!(matches!(
        err.kind(),
        ErrorKind::Configuration {
            problem: ConfigProblem::Conflict(_),
            ..
        }
    ));
    with(&[("BYDESIGN_CUSTOMER_ID", "2")]).expect("customer");
    let err = ClientBuilder::from_vars(&vars(&[("BYDESIGN_BASE_URL", "https://x/Co")]))
        .and_then(|b| b.build())
        .expect_err("no client id");
    assert!(err.to_string().contains("BYDESIGN_CLIENT_ID"), "{err}");
    let err = with(&[("BYDESIGN_REP_ID", "-->r_1")]).expect_err("prefixed id");
    assert!(err.to_string().contains("bare"), "{err}");
    assert!(err.to_string().contains("BYDESIGN_REP_ID"), "{err}");
    let err = with(&[
        ("BYDESIGN_REP_ID", "1"),
        ("BYDESIGN_TOKEN_PATH", "/token?x=1"),
    ])
    .expect_err("bad path");
    assert!(err.to_string().contains("BYDESIGN_TOKEN_PATH"), "{err}");
    // A value set in code after from_env is named as the code setting, and wins.
    let err = ClientBuilder::from_vars(&vars(&[
        base[0],
        base[1],
        base[2],
        ("BYDESIGN_REP_ID", "1"),
    ]))
    .expect("builder")
    .token_path("/token?y")
    .build()
    .expect_err("bad path in code");
    assert!(err.to_string().contains("token_path"), "{err}");
    assert!(!err.to_string().contains("BYDESIGN_TOKEN_PATH"), "{err}");
    let err = ClientBuilder::from_vars(&vars(&[
        ("BYDESIGN_BASE_URL", "http://example.com/Co"),
        base[1],
        base[2],
        ("BYDESIGN_REP_ID", "1"),
    ]))
    .and_then(|b| b.build())
    .expect_err("plain http");
    assert!(err.to_string().contains("BYDESIGN_BASE_URL"), "{err}");
}

#[tokio::test]
async fn the_token_path_is_configurable_and_the_company_path_kept() {
    let server = TestServer::start().await;
    server.route(
        "POST",
        "/Co/Client/token",
        Reply::json(200, token_body(1, "-->r_1001", "rep")),
    );
    let bydesign = Client::builder()
        .base_url(server.url("/Co"))
        .token_path("Client/token")
        .client_id("FakeCart")
        .credentials(Credentials::rep("1001", Secret::new("pw")))
        .build()
        .expect("client");
    bydesign.token().await.expect("token");
    assert_eq!(server.requests()[0].target, "/Co/Client/token");
}

#[tokio::test]
async fn the_example_prints_the_token_alone() {
    let server = TestServer::start().await;
    bydesign_like(&server, "pw");
    let url = server.url("/Co");
    let env = vars(&[
        ("BYDESIGN_BASE_URL", &url),
        ("BYDESIGN_CLIENT_ID", "FakeCart"),
        ("BYDESIGN_PASSWORD", "pw"),
        ("BYDESIGN_REP_ID", "1001"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(example::run(&env, &mut out, &mut err).await, 0);
    assert_eq!(String::from_utf8_lossy(&out), "access-1\n");
    let env = vars(&[
        ("BYDESIGN_BASE_URL", &url),
        ("BYDESIGN_CLIENT_ID", "FakeCart"),
        ("BYDESIGN_PASSWORD", "wrong"),
        ("BYDESIGN_REP_ID", "1001"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(example::run(&env, &mut out, &mut err).await, 1);
    assert!(String::from_utf8_lossy(&err).contains("invalid_grant"));
}

#[test]
fn debug_output_never_shows_credentials() {
    let creds = Credentials::rep("1001", Secret::new("SENTINEL-PW"));
    let builder = Client::builder()
        .base_url("https://webapi.securefreedom.com/Co")
        .client_id("Cart")
        .credentials(creds.clone());
    let shown = format!("{creds:?} {builder:?}");
    assert!(shown.contains("-->r_1001"), "{shown}");
    assert!(!shown.contains("SENTINEL"), "{shown}");
    let client = builder.build().expect("client");
    assert!(!format!("{client:?}").contains("SENTINEL"));
}
