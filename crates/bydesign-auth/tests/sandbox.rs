//! bydesign-auth against the sandbox: prefixes, rotating refresh tokens, password changes.

use auth_sandbox::{Endpoint, Sandbox};
use bydesign_auth::{Client, Credentials, Secret, Session, UserType};

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.bydesign().add_company("Co", &["Cart"]);
    sandbox.bydesign().add_rep("Co", "1001", "pw+1&2");
    sandbox.bydesign().add_customer("Co", "1146820", "pw");
    sandbox
}

fn client(sandbox: &Sandbox, credentials: Credentials) -> Client {
    Client::builder()
        .base_url(sandbox.bydesign_base_url("Co"))
        .client_id("Cart")
        .credentials(credentials)
        .cache(
            bydesign_auth::CacheOptions::default()
                .min_forced_refresh_interval(std::time::Duration::ZERO),
        )
        .build()
        .expect("client")
}

fn rep() -> Credentials {
    Credentials::rep("1001", Secret::new("pw+1&2"))
}

/// The smoke test: a token from the sandbox, then the same token from the cache. Single flight
/// and the rest of the cache's behaviour are tested once, in auth-core.
#[tokio::test]
async fn smoke_one_token_request_serves_every_call() {
    let sandbox = sandbox().await;
    let c = client(&sandbox, rep());
    let first = c.token().await.expect("token");
    let again = c.token().await.expect("cached");
    assert!(first.same_as(&again));
    assert_eq!(sandbox.count(Endpoint::ByDesignToken), 1);
}

#[tokio::test]
async fn reps_and_customers_with_their_sessions() {
    let sandbox = sandbox().await;
    let token = client(&sandbox, rep()).token().await.expect("rep");
    let session = Session::of(&token).expect("session");
    assert_eq!(session.user_name, "-->r_1001");
    assert_eq!(session.user_type, UserType::Rep);
    assert_eq!(session.rank_type_id.as_deref(), Some("10"));
    assert!(session.expires.is_some() && token.refresh_token().is_some());
    let token = client(
        &sandbox,
        Credentials::customer("1146820", Secret::new("pw")),
    )
    .token()
    .await
    .expect("customer");
    let session = Session::of(&token).expect("session");
    assert_eq!(session.user_type, UserType::Customer);
    assert_eq!(session.rank_type_id, None);
    assert_eq!(session.can_enroll_as_rep, Some(true));
}

#[tokio::test]
async fn single_use_refresh_tokens_rotate() {
    let sandbox = sandbox().await;
    let bydesign = client(&sandbox, rep());
    let mut token = bydesign.token().await.expect("token");
    for _ in 0..3 {
        assert!(bydesign.invalidate(&token));
        token = bydesign.token().await.expect("refreshed");
    }
    let grants: Vec<String> = sandbox
        .requests(Endpoint::ByDesignToken)
        .iter()
        .map(|r| {
            form_urlencoded::parse(&r.body)
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        grants,
        [
            "password",
            "refresh_token",
            "refresh_token",
            "refresh_token"
        ]
    );
}

#[tokio::test]
async fn a_password_change_expires_tokens_and_the_client_fails_closed() {
    let sandbox = sandbox().await;
    let bydesign = client(&sandbox, rep());
    let api = format!("{}/api/orders", sandbox.bydesign_base_url("Co"));
    let ok = bydesign
        .send(bydesign.reqwest_client().get(&api))
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
    sandbox.bydesign().change_rep_password("Co", "1001", "new");
    let err = bydesign
        .send(bydesign.reqwest_client().get(&api))
        .await
        .expect_err("old password refused");
    assert_eq!(err.code(), Some("invalid_grant"));
    assert_eq!(
        sandbox.count(Endpoint::ByDesignApi),
        2,
        "not re-sent without a token"
    );
    let renewed = client(&sandbox, Credentials::rep("1001", Secret::new("new")));
    let ok = renewed
        .send(renewed.reqwest_client().get(&api))
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn an_unregistered_client_id_is_rejected() {
    let sandbox = sandbox().await;
    let err = Client::builder()
        .base_url(sandbox.bydesign_base_url("Co"))
        .client_id("Unknown")
        .credentials(rep())
        .build()
        .expect("client")
        .token()
        .await
        .expect_err("rejected");
    assert_eq!(err.code(), Some("invalid_clientId"));
    assert!(err.to_string().contains("not registered"), "{err}");
}

/// A restart starts from the refresh token the last run saved (no password sign-in), and a
/// saved token that is refused falls back to the password once.
#[tokio::test]
async fn a_restart_starts_from_a_saved_refresh_token() {
    let sandbox = sandbox().await;
    let saved = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let hook = std::sync::Arc::clone(&saved);
    let first = Client::builder()
        .base_url(sandbox.bydesign_base_url("Co"))
        .client_id("Cart")
        .credentials(rep())
        .cache(bydesign_auth::CacheOptions::default().on_token(move |t| {
            *hook.lock().expect("lock") = t.refresh_token().map(|r| r.expose_secret().to_owned());
        }))
        .build()
        .expect("client");
    first.token().await.expect("first run");
    let stats = sandbox.stats();
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "password"), 1);
    let saved = saved
        .lock()
        .expect("lock")
        .clone()
        .expect("a refresh token was saved");

    // The next run: the saved refresh token, no password grant.
    let restarted = client(
        &sandbox,
        rep().with_refresh_token(Secret::new(saved.clone())),
    );
    let token = restarted.token().await.expect("restarted");
    assert_eq!(Session::of(&token).expect("session").user_name, "-->r_1001");
    let stats = sandbox.stats();
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "refresh_token"), 1);
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "password"), 1);

    // The same saved token again: spent, refused, so the password signs in (once).
    let stale = client(&sandbox, rep().with_refresh_token(Secret::new(saved)));
    stale.token().await.expect("password fallback");
    let stats = sandbox.stats();
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "password"), 2);
    assert_eq!(stats.failures(Endpoint::ByDesignToken), 1);
}
