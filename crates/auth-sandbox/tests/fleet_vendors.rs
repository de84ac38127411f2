//! Each vendor client sharing its tokens through a store: two clients (two "processes") with
//! separate caches and one store make one token request, and the adopted token carries the
//! vendor's details (P21 and ByDesign sessions) as the fetched one did. The store keeps no
//! secret of the credentials, and clients of different identities never share.

use auth_core::store::{MemoryStore, StoreKey, TokenStore};
use auth_core::{CacheOptions, Secret};
use auth_sandbox::{Endpoint, Sandbox};

fn options(store: &MemoryStore) -> CacheOptions {
    CacheOptions::default().store(store.clone())
}

/// Every record in `store` under `key`, as text (to look for secrets in it).
async fn stored_text(store: &MemoryStore, key: &StoreKey) -> String {
    let record = store.load(key).await.expect("load").expect("a record");
    String::from_utf8(record.value).expect("utf-8")
}

#[tokio::test]
async fn p21_clients_share_one_session() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.p21().add_user("api_user", "user-password");
    sandbox
        .p21()
        .add_consumer_key("consumer-key-secret", "/api");
    let store = MemoryStore::new();
    let client = |credentials: p21_auth::Credentials| {
        p21_auth::Client::builder()
            .base_url(sandbox.p21_base_url())
            .credentials(credentials)
            .cache(options(&store))
            .build()
            .expect("client")
    };
    let user = || p21_auth::Credentials::user("api_user", Secret::new("user-password"));
    let (a, b) = (client(user()), client(user()));
    let ta = a.token().await.expect("token");
    let tb = b.token().await.expect("token");
    assert_eq!(sandbox.count(Endpoint::P21TokenV2), 1);
    assert_eq!(sandbox.stats().gauge("p21", "sessions_replaced"), 0);
    assert!(p21_auth::Session::of(&tb).is_some_and(|s| s.session_id.is_some()));
    assert_eq!(p21_auth::Session::of(&ta), p21_auth::Session::of(&tb));
    assert_eq!(b.cache().stats().store_adopted, 1);
    // Both work against the API: one session, nobody logged out.
    for c in [&a, &b] {
        let url = c.url("odataservice/odata/table/supplier").expect("url");
        let resp = c.send(c.reqwest_client().get(url)).await.expect("sent");
        assert_eq!(resp.status(), 200);
    }

    // A consumer key is shared under its fingerprint, never under the key itself.
    let key_client = || {
        client(p21_auth::Credentials::consumer_key(Secret::new(
            "consumer-key-secret",
        )))
    };
    let (k1, k2) = (key_client(), key_client());
    k1.token().await.expect("token");
    k2.token().await.expect("token");
    assert_eq!(sandbox.count(Endpoint::P21TokenV2), 2);
    let key = k2.cache().store_key().expect("shared").clone();
    let fingerprint = auth_http::vendor::fingerprint(&Secret::new("consumer-key-secret"));
    assert!(
        key.as_str().ends_with(&format!("3:key|32:{fingerprint}|")),
        "{key:?}"
    );
    assert!(!key.as_str().contains("consumer-key"));
    assert!(
        !stored_text(&store, &key)
            .await
            .contains("consumer-key-secret")
    );
    let user_key = a.cache().store_key().expect("shared").clone();
    assert!(
        user_key.as_str().starts_with("3:p21|26:http://127.0.0.1:"),
        "{user_key:?}"
    );
    assert!(
        user_key.as_str().ends_with("|4:user|8:api_user|"),
        "{user_key:?}"
    );
    assert!(
        !stored_text(&store, &user_key)
            .await
            .contains("user-password")
    );
}

#[tokio::test]
async fn bydesign_clients_share_one_refresh_chain_and_never_another_reps() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.bydesign().add_company("Co", &["Cart"]);
    sandbox.bydesign().add_rep("Co", "1001", "rep-password");
    sandbox.bydesign().add_rep("Co", "1002", "other-password");
    sandbox.bydesign().one_refresh_token_per_client(true);
    let store = MemoryStore::new();
    let client = |credentials: bydesign_auth::Credentials| {
        bydesign_auth::Client::builder()
            .base_url(sandbox.bydesign_base_url("Co"))
            .client_id("Cart")
            .credentials(credentials)
            .cache(options(&store).min_forced_refresh_interval(std::time::Duration::ZERO))
            .build()
            .expect("client")
    };
    let rep = || bydesign_auth::Credentials::rep("1001", Secret::new("rep-password"));
    let (a, b) = (client(rep()), client(rep()));
    let ta = a.token().await.expect("token");
    let tb = b.token().await.expect("token");
    assert_eq!(
        bydesign_auth::Session::of(&ta),
        bydesign_auth::Session::of(&tb)
    );
    assert!(
        tb.refresh_token().is_some(),
        "the refresh token is shared too"
    );
    // A 401 on one: the other's token is the same, so it is dropped from the store once, and
    // the next fetch spends the stored (newest) refresh token: one chain, no password again.
    assert!(a.invalidate(&ta));
    a.token().await.expect("refreshed");
    assert!(b.invalidate(&tb));
    b.token().await.expect("adopted or refreshed");
    let stats = sandbox.stats();
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "password"), 1);
    assert_eq!(
        stats.failures(Endpoint::ByDesignToken),
        0,
        "no invalid_grant"
    );
    assert_eq!(stats.gauge("bydesign", "live_refresh_tokens"), 1);

    // Another rep on the same store signs in on its own.
    let other = client(bydesign_auth::Credentials::rep(
        "1002",
        Secret::new("other-password"),
    ));
    let to = other.token().await.expect("token");
    assert_eq!(
        bydesign_auth::Session::of(&to).map(|s| s.user_name.as_str()),
        Some("-->r_1002")
    );
    assert_eq!(
        sandbox.stats().grants(Endpoint::ByDesignToken, "password"),
        2
    );
}

#[tokio::test]
async fn personify_and_apinizer_clients_share_their_tokens() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox
        .personify()
        .add_client("c", "client-secret", &["idp_api"], &["t"]);
    sandbox.apinizer().add_user("admin", "admin-password");
    let store = MemoryStore::new();
    let personify = || {
        personify_auth::Client::builder()
            .credentials(personify_auth::Credentials::new(
                "c",
                Secret::new("client-secret"),
            ))
            .token_url(sandbox.personify_token_url())
            .tenant_id("t")
            .cache(options(&store))
            .build()
            .expect("client")
    };
    let apinizer = || {
        apinizer_auth::Client::builder()
            .base_url(sandbox.apinizer_base_url())
            .credentials(apinizer_auth::Credentials::issued(
                "admin",
                Secret::new("admin-password"),
            ))
            .cache(options(&store))
            .build()
            .expect("client")
    };
    for _ in 0..3 {
        personify().token().await.expect("token");
        apinizer().token().await.expect("token");
    }
    assert_eq!(sandbox.count(Endpoint::PersonifyToken), 1);
    assert_eq!(sandbox.count(Endpoint::ApinizerToken), 1);
}
