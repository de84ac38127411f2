//! personify-auth against the sandbox: IdentityServer rules, tenants, 401s.

use auth_sandbox::{Endpoint, Sandbox};
use personify_auth::{Client, Secret};

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.personify().add_client(
        "sandbox-client",
        "s&cret=+1",
        &["idp_api", "members.read"],
        &["tenant-a"],
    );
    sandbox
}

fn client(sandbox: &Sandbox, tenant: &str) -> Client {
    Client::builder()
        .credentials(personify_auth::Credentials::new(
            "sandbox-client",
            Secret::new("s&cret=+1"),
        ))
        .token_url(sandbox.personify_token_url())
        .tenant_id(tenant)
        .build()
        .expect("client")
}

/// The smoke test: a token from the sandbox, then the same token from the cache. Single flight
/// and the rest of the cache's behaviour are tested once, in auth-core.
#[tokio::test]
async fn smoke_one_token_request_serves_every_call() {
    let sandbox = sandbox().await;
    let c = client(&sandbox, "tenant-a");
    let first = c.token().await.expect("token");
    let again = c.token().await.expect("cached");
    assert!(first.same_as(&again));
    assert_eq!(sandbox.count(Endpoint::PersonifyToken), 1);
}

#[tokio::test]
async fn scopes_secrets_and_tenants() {
    let sandbox = sandbox().await;
    let personify = client(&sandbox, "tenant-a");
    assert_eq!(
        personify.token().await.expect("token").scope(),
        Some("idp_api")
    );
    let resp = personify
        .send(
            personify
                .reqwest_client()
                .get(sandbox.personify_api_url("members")),
        )
        .await
        .expect("sent");
    assert_eq!(
        resp.status(),
        200,
        "the secret with & = + arrived intact; bearer and tenant sent"
    );

    let wrong_tenant = client(&sandbox, "tenant-b");
    let resp = wrong_tenant
        .send(
            wrong_tenant
                .reqwest_client()
                .get(sandbox.personify_api_url("members")),
        )
        .await
        .expect("sent");
    assert_eq!(resp.status(), 403);

    let err = Client::builder()
        .credentials(personify_auth::Credentials::new(
            "sandbox-client",
            Secret::new("s&cret=+1"),
        ))
        .token_url(sandbox.personify_token_url())
        .scope("admin")
        .build()
        .expect("client")
        .token()
        .await
        .expect_err("scope refused");
    assert_eq!(err.code(), Some("invalid_scope"));
    assert_eq!(err.status(), Some(400));

    let err = Client::builder()
        .credentials(personify_auth::Credentials::new(
            "sandbox-client",
            Secret::new("wrong"),
        ))
        .token_url(sandbox.personify_token_url())
        .build()
        .expect("client")
        .token()
        .await
        .expect_err("bad secret");
    assert!(err.is_rejected());
    assert_eq!(err.code(), Some("invalid_client"));
}

#[tokio::test]
async fn basic_client_authentication_and_all_scopes() {
    let sandbox = sandbox().await;
    let personify = Client::builder()
        .credentials(personify_auth::Credentials::new(
            "sandbox-client",
            Secret::new("s&cret=+1"),
        ))
        .token_url(sandbox.personify_token_url())
        .client_auth(personify_auth::ClientAuth::Basic)
        .no_scope()
        .build()
        .expect("client");
    let token = personify.token().await.expect("token");
    assert_eq!(token.scope(), Some("idp_api members.read"));
}

#[tokio::test]
async fn revoked_tokens_cause_one_reauthentication() {
    let sandbox = sandbox().await;
    let personify = client(&sandbox, "tenant-a");
    personify.token().await.expect("token");
    sandbox.personify().revoke_all();
    let resp = personify
        .send(
            personify
                .reqwest_client()
                .get(sandbox.personify_api_url("members")),
        )
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    assert_eq!(sandbox.count(Endpoint::PersonifyToken), 2);
}
