//! `Client::middleware()` in a real reqwest-middleware client against the sandbox: the token on
//! every request, one re-authentication after a 401, P21's permission refusal as an error, and
//! nothing sent over plain http to a host that is not loopback.

use auth_sandbox::{Endpoint, Sandbox};
use p21_auth::reqwest_middleware::{self, ClientBuilder, ClientWithMiddleware};
use p21_auth::{Client, Credentials, ErrorKind, Secret};

async fn setup() -> (Sandbox, Client, ClientWithMiddleware) {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.p21().add_user("api_user", "pw");
    let _ = sandbox
        .p21()
        .add_user("no_perms", "pw")
        .without_api_permission();
    let p21 = client(&sandbox, "api_user");
    let api = ClientBuilder::new(p21.reqwest_client().clone())
        .with(p21.middleware())
        .build();
    (sandbox, p21, api)
}

fn client(sandbox: &Sandbox, user: &str) -> Client {
    Client::builder()
        .base_url(sandbox.p21_base_url())
        .credentials(Credentials::user(user, Secret::new("pw")))
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_middleware_authorizes_and_reauthenticates_once_after_a_401() {
    let (sandbox, p21, api) = setup().await;
    let url = p21.url("odataservice/odata/table/supplier").expect("url");
    for _ in 0..3 {
        let response = api.get(url.clone()).send().await.expect("sent");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        sandbox.count(Endpoint::P21TokenV2),
        1,
        "one token for every call"
    );
    assert_eq!(sandbox.count(Endpoint::P21Api), 3);

    // Another sign-in closes the session: a 401, one new token, the call retried once.
    sandbox.p21().close_sessions();
    let response = api.get(url).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(sandbox.count(Endpoint::P21TokenV2), 2);
    assert_eq!(sandbox.count(Endpoint::P21Api), 5);
}

#[tokio::test]
async fn refusals_and_plain_http_fail_closed() {
    let (sandbox, _, _) = setup().await;
    let no_perms = client(&sandbox, "no_perms");
    let api = ClientBuilder::new(no_perms.reqwest_client().clone())
        .with(no_perms.middleware())
        .build();
    let url = no_perms
        .url("odataservice/odata/table/supplier")
        .expect("url");
    let err = api.get(url).send().await.expect_err("not authorized");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("a middleware error: {err:?}")
    };
    let err = inner
        .downcast_ref::<p21_auth::Error>()
        .expect("the crate's error");
    assert!(matches!(err.kind(), ErrorKind::Forbidden { .. }), "{err:?}");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("Application Security"))
    );
    let tokens = sandbox.count(Endpoint::P21TokenV2);
    assert_eq!(tokens, 1, "no new session for a missing permission");

    let err = api
        .get("http://erp.example.com/odataservice/odata/table/supplier")
        .send()
        .await
        .expect_err("plain http to another host");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("{err:?}")
    };
    let err = inner
        .downcast_ref::<p21_auth::Error>()
        .expect("the crate's error");
    assert!(
        matches!(err.kind(), ErrorKind::Configuration { .. }),
        "{err:?}"
    );
    assert_eq!(
        sandbox.count(Endpoint::P21TokenV2),
        tokens,
        "no token was fetched for it"
    );
}
