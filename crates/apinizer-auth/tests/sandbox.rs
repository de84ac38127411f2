//! apinizer-auth against the sandbox: issued and personal tokens, revocation, verification.

use apinizer_auth::{Client, Credentials, Secret};
use auth_core::ErrorKind;
use auth_sandbox::{Endpoint, Fault, Sandbox};

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.apinizer().add_user("admin", "p@ss&word");
    sandbox
}

fn client(sandbox: &Sandbox, credentials: Credentials) -> Client {
    Client::builder()
        .base_url(sandbox.apinizer_base_url())
        .credentials(credentials)
        .build()
        .expect("client")
}

/// The smoke test: a token from the sandbox, then the same token from the cache. Single flight
/// and the rest of the cache's behaviour are tested once, in auth-core.
#[tokio::test]
async fn smoke_one_token_request_serves_every_call() {
    let sandbox = sandbox().await;
    let c = client(
        &sandbox,
        Credentials::issued("admin", Secret::new("p@ss&word")),
    );
    let first = c.token().await.expect("token");
    let again = c.token().await.expect("cached");
    assert!(first.same_as(&again));
    assert_eq!(sandbox.count(Endpoint::ApinizerToken), 1);
}

#[tokio::test]
async fn issued_tokens_survive_a_server_error_and_reject_bad_credentials() {
    let sandbox = sandbox().await;
    sandbox.fail_next(Endpoint::ApinizerToken, [Fault::Status(500)]);
    let apinizer = client(
        &sandbox,
        Credentials::issued("admin", Secret::new("p@ss&word")),
    );
    apinizer.verify().await.expect("verified after one retry");
    assert_eq!(sandbox.count(Endpoint::ApinizerToken), 2);
    let err = client(&sandbox, Credentials::issued("admin", Secret::new("wrong")))
        .token()
        .await
        .expect_err("rejected");
    assert_eq!(err.code(), Some("unauthorized_client"));
}

#[tokio::test]
async fn a_revoked_personal_token_is_reported_not_retried() {
    let sandbox = sandbox().await;
    let token = sandbox.apinizer().create_personal_token(None);
    let apinizer = client(&sandbox, Credentials::personal(Secret::new(token.clone())));
    apinizer.verify().await.expect("valid");
    sandbox.apinizer().revoke(&token);
    let err = apinizer.verify().await.expect_err("revoked");
    assert!(
        matches!(err.kind(), ErrorKind::TokenRevoked { .. }),
        "{err:?}"
    );
    let err = apinizer
        .send(
            apinizer
                .reqwest_client()
                .get(apinizer.url("apiops/projects/").expect("url")),
        )
        .await
        .expect_err("revoked");
    assert!(matches!(err.kind(), ErrorKind::TokenRevoked { .. }));
    assert_eq!(sandbox.count(Endpoint::ApinizerApi), 1, "not retried");
    assert_eq!(sandbox.count(Endpoint::ApinizerToken), 0, "never fetched");
}

#[tokio::test]
async fn an_expired_issued_token_is_renewed_after_a_401() {
    let sandbox = sandbox().await;
    let apinizer = client(
        &sandbox,
        Credentials::issued("admin", Secret::new("p@ss&word")),
    );
    let first = apinizer.token().await.expect("token");
    sandbox
        .apinizer()
        .revoke(first.access_token().expose_secret());
    let resp = apinizer
        .send(
            apinizer
                .reqwest_client()
                .get(apinizer.url("apiops/projects/").expect("url")),
        )
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    assert_eq!(sandbox.count(Endpoint::ApinizerToken), 2);
}
