//! p21-auth against the sandbox: sessions, scopes, permissions, XML, refresh
//! ahead of time and outages.

use std::sync::Arc;
use std::time::Duration;

use auth_core::ErrorKind;
use auth_http::HttpClient;
use auth_sandbox::{Endpoint, Fault, Sandbox};
use auth_testkit::ManualClock;
use p21_auth::{Client, Credentials, Secret};

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.p21().add_user("api_user", "pw");
    sandbox
        .p21()
        .add_consumer_key("11111111-2222-3333-4444-555555555555", "/odata:supplier");
    sandbox
}

fn client(sandbox: &Sandbox, credentials: Credentials, clock: &ManualClock) -> Client {
    Client::builder()
        .base_url(sandbox.p21_base_url())
        .credentials(credentials)
        .http_client(
            HttpClient::builder()
                .clock(Arc::new(clock.clone()))
                .build()
                .expect("http"),
        )
        .build()
        .expect("client")
}

/// Waits (up to 5 s of real time) for what a background refresh does over loopback.
async fn settle(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the background refresh did not finish");
}

fn user() -> Credentials {
    Credentials::user("api_user", Secret::new("pw"))
}

/// The smoke test: a token from the sandbox, then the same token from the cache. Single flight
/// and the rest of the cache's behaviour are tested once, in auth-core.
#[tokio::test]
async fn smoke_one_token_request_serves_every_call() {
    let sandbox = sandbox().await;
    let c = client(&sandbox, user(), &ManualClock::auto_advance());
    let first = c.token().await.expect("token");
    let again = c.token().await.expect("cached");
    assert!(first.same_as(&again));
    assert_eq!(sandbox.count(Endpoint::P21TokenV2), 1);
    assert_eq!(sandbox.p21().live_sessions(), 1);
}

#[tokio::test]
async fn another_sign_in_closes_our_session_and_we_reauthenticate_once() {
    let sandbox = sandbox().await;
    let clock = ManualClock::auto_advance();
    let ours = client(&sandbox, user(), &clock);
    let theirs = client(&sandbox, user(), &clock);
    ours.token().await.expect("ours");
    theirs.token().await.expect("theirs: closes our session");
    let resp = ours
        .send(
            ours.reqwest_client()
                .get(ours.url("odataservice/odata/table/supplier").expect("url")),
        )
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    assert_eq!(sandbox.count(Endpoint::P21TokenV2), 3);
    assert_eq!(sandbox.count(Endpoint::P21Api), 2, "one 401, one retry");
}

#[tokio::test]
async fn consumer_key_scope_and_user_permissions_are_enforced() {
    let sandbox = sandbox().await;
    let clock = ManualClock::auto_advance();
    let key = client(
        &sandbox,
        Credentials::consumer_key(Secret::new("11111111-2222-3333-4444-555555555555")),
        &clock,
    );
    let token = key.token().await.expect("token");
    assert_eq!(token.scope(), Some("/odata:supplier"));
    let ok = key
        .send(
            key.reqwest_client()
                .get(key.url("odataservice/odata/table/supplier").expect("url")),
        )
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
    let outside = key
        .send(
            key.reqwest_client()
                .get(key.url("odataservice/odata/table/customer").expect("url")),
        )
        .await
        .expect("sent");
    assert_eq!(outside.status(), 403);

    sandbox
        .p21()
        .add_user("no_api", "pw")
        .without_api_permission();
    let user = client(
        &sandbox,
        Credentials::user("no_api", Secret::new("pw")),
        &clock,
    );
    let sessions_before = sandbox.count(Endpoint::P21TokenV2);
    let denied = user
        .send(
            user.reqwest_client()
                .get(user.url("odataservice/odata/table/supplier").expect("url")),
        )
        .await
        .expect_err("a permission problem");
    assert!(
        matches!(denied.kind(), ErrorKind::Forbidden { status: 401, .. }),
        "{denied:?}"
    );
    assert!(
        denied
            .hint()
            .is_some_and(|h| h.contains("Allow OData API Service"))
    );
    assert_eq!(
        sandbox.count(Endpoint::P21TokenV2),
        sessions_before + 1,
        "one sign-in, and no second session opened for a permission problem"
    );
    assert_eq!(user.cache().stats().invalidations, 0);
}

#[tokio::test]
async fn wrong_credentials_and_xml_answers() {
    let sandbox = sandbox().await;
    let clock = ManualClock::auto_advance();
    let err = client(
        &sandbox,
        Credentials::user("api_user", Secret::new("wrong")),
        &clock,
    )
    .token()
    .await
    .expect_err("rejected");
    assert_eq!(err.code(), Some("invalid_grant"));
    let err = client(
        &sandbox,
        Credentials::consumer_key(Secret::new("unknown")),
        &clock,
    )
    .token()
    .await
    .expect_err("rejected");
    assert_eq!(err.code(), Some("invalid_client"));

    sandbox.p21().answer_in_xml(true);
    let token = client(&sandbox, user(), &clock)
        .token()
        .await
        .expect("xml token");
    assert_eq!(token.lifetime(), Some(Duration::from_secs(86_400)));
    assert!(
        p21_auth::Session::of(&token)
            .and_then(|s| s.session_id.clone())
            .is_some()
    );
}

#[tokio::test]
async fn ui_server_url_through_the_redirect() {
    let sandbox = sandbox().await;
    sandbox.p21().redirect_ui_router(true);
    let url = client(&sandbox, user(), &ManualClock::auto_advance())
        .ui_server_url()
        .await
        .expect("url");
    assert_eq!(url.as_str(), format!("{}/p21/uiserver0", sandbox.url()));
}

#[tokio::test]
async fn refresh_ahead_of_time_and_an_outage_in_the_refresh_window() {
    let sandbox = sandbox().await;
    let clock = ManualClock::auto_advance();
    let p21 = client(&sandbox, user(), &clock);
    let first = p21.token().await.expect("token");
    // A 24 h token refreshes in the background from half its lifetime (13.2 h at the latest).
    clock.advance(Duration::from_secs(13 * 3600 + 15 * 60));
    assert!(p21.token().await.expect("cached").same_as(&first));
    settle(|| p21.cache().stats().tokens_fetched == 2).await;
    assert_eq!(sandbox.count(Endpoint::P21TokenV2), 2);
    let second = p21.token().await.expect("token");
    assert!(!second.same_as(&first));

    // The service goes down during the next refresh window: the cached token keeps serving.
    sandbox.fail_next(
        Endpoint::P21TokenV2,
        std::iter::repeat_n(Fault::Status(503), 3),
    );
    clock.advance(Duration::from_secs(13 * 3600 + 15 * 60));
    assert!(p21.token().await.expect("grace").same_as(&second));
    settle(|| p21.cache().stats().refresh_failures == 1).await;
    assert!(p21.token().await.expect("grace").same_as(&second));
    assert!(matches!(
        p21.cache().last_error().map(|e| e.kind().clone()),
        Some(ErrorKind::UnexpectedStatus { status: 503, .. })
    ));
}
