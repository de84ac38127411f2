//! `Client::middleware()` in a real reqwest-middleware client against the sandbox: the bearer
//! token and `X-Tenant-Id` on every request; without a tenant, nothing is sent.

use auth_sandbox::{Endpoint, Sandbox};
use personify_auth::reqwest_middleware::{self, ClientBuilder};
use personify_auth::{Client, ClientBuilder as PersonifyBuilder, Credentials, ErrorKind, Secret};

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox
        .personify()
        .add_client("app", "secret", &["idp_api"], &["acme"]);
    sandbox
}

fn builder(sandbox: &Sandbox) -> PersonifyBuilder {
    Client::builder()
        .token_url(sandbox.personify_token_url())
        .credentials(Credentials::new("app", Secret::new("secret")))
}

#[tokio::test]
async fn the_tenant_goes_with_the_token() {
    let sandbox = sandbox().await;
    let personify = builder(&sandbox).tenant_id("acme").build().expect("client");
    let api = ClientBuilder::new(personify.reqwest_client().clone())
        .with(personify.middleware())
        .build();
    let response = api
        .get(sandbox.personify_api_url("v1/members"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let seen = sandbox.requests(Endpoint::PersonifyApi);
    assert_eq!(seen.len(), 1);
    let header = |name: &str| {
        seen[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-tenant-id"), Some("acme"));
    assert!(header("authorization").is_some_and(|a| a.starts_with("Bearer ")));
}

#[tokio::test]
async fn without_a_tenant_nothing_is_sent() {
    let sandbox = sandbox().await;
    let personify = builder(&sandbox).build().expect("client");
    let api = ClientBuilder::new(personify.reqwest_client().clone())
        .with(personify.middleware())
        .build();
    let err = api
        .get(sandbox.personify_api_url("v1/members"))
        .send()
        .await
        .expect_err("no tenant");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("{err:?}")
    };
    let err = inner
        .downcast_ref::<personify_auth::Error>()
        .expect("the crate's error");
    assert!(
        matches!(err.kind(), ErrorKind::Configuration { .. }),
        "{err:?}"
    );
    assert_eq!(sandbox.count(Endpoint::PersonifyApi), 0);
    assert_eq!(sandbox.count(Endpoint::PersonifyToken), 0);
}
