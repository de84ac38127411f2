//! The sandbox's vendor rules over raw HTTP: what a client must meet, answered as the real
//! services answer it.

use auth_sandbox::{Endpoint, Fault, Sandbox};
use serde_json::Value;

async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.expect("sandbox");
    sandbox.p21().add_user("u", "pw");
    sandbox
        .personify()
        .add_client("c", "s", &["idp_api"], &["t"]);
    sandbox.apinizer().add_user("admin", "pw");
    sandbox.bydesign().add_company("Co", &["Cart"]);
    sandbox.bydesign().add_rep("Co", "1", "pw");
    sandbox
}

fn http() -> reqwest::Client {
    // A bare reqwest client: the TLS provider must be installed first (see auth-core).
    auth_http::install_crypto_provider();
    reqwest::Client::builder().build().expect("client")
}

async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn p21_rejects_credentials_sent_as_headers_to_v2() {
    let s = sandbox().await;
    let resp = http()
        .post(format!("{}/api/security/token/v2", s.p21_base_url()))
        .header("username", "u")
        .header("password", "pw")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn p21_each_sign_in_closes_the_previous_session() {
    let s = sandbox().await;
    let sign_in = || async {
        let (_, body) = json(
            http()
                .post(format!("{}/api/security/token/v2", s.p21_base_url()))
                .json(&serde_json::json!({"username": "u", "password": "pw"}))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        body["AccessToken"].as_str().expect("token").to_owned()
    };
    let first = sign_in().await;
    let table = format!("{}/odataservice/odata/table/supplier", s.p21_base_url());
    let ok = http()
        .get(&table)
        .bearer_auth(&first)
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
    let _second = sign_in().await;
    let (status, body) = json(
        http()
            .get(&table)
            .bearer_auth(&first)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["Error"], "invalid_token");
    let (status, body) = json(http().get(&table).send().await.expect("sent")).await;
    assert_eq!(status, 401);
    assert_eq!(body["Error"], "invalid_request");
}

#[tokio::test]
async fn personify_answers_400_for_every_token_error() {
    let s = sandbox().await;
    let post = |body: &'static str, ct: &'static str| {
        http()
            .post(s.personify_token_url())
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let form = "application/x-www-form-urlencoded";
    let cases = [
        (
            post(r#"{"client_id":"c"}"#, "application/json").await,
            "invalid_request",
        ),
        (
            post(
                "grant_type=client_credentials&client_id=c&client_secret=x",
                form,
            )
            .await,
            "invalid_client",
        ),
        (
            post("grant_type=password&client_id=c&client_secret=s", form).await,
            "unsupported_grant_type",
        ),
        (
            post(
                "grant_type=client_credentials&client_id=c&client_secret=s&scope=admin",
                form,
            )
            .await,
            "invalid_scope",
        ),
    ];
    for (resp, code) in cases {
        let (status, body) = json(resp.expect("sent")).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(code)));
        assert!(
            body.get("error_description").is_none(),
            "stock IdentityServer sends no description"
        );
    }
}

#[tokio::test]
async fn bydesign_reads_forms_only_and_refuses_authorization_headers() {
    let s = sandbox().await;
    let url = format!("{}/token", s.bydesign_base_url("Co"));
    let (status, body) = json(
        http()
            .post(&url)
            .json(&serde_json::json!({"grant_type": "password", "username": "-->r_1", "password": "pw", "client_id": "Cart"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = json(
        http()
            .post(&url)
            .basic_auth("Cart", Some("x"))
            .body("grant_type=password&username=--%3Er_1&password=pw&client_id=Cart")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    // A form sent with a JSON content type is still read as a form.
    let (status, body) = json(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body("grant_type=password&username=--%3Er_1&password=pw&client_id=Cart")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["userName"], "-->r_1");
    assert_eq!(body["expires_in"], 172_799, "one second short of 48 h");
    let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
    let spend = || {
        http()
            .post(&url)
            .body(format!(
                "grant_type=refresh_token&refresh_token={refresh}&client_id=Cart"
            ))
            .send()
    };
    assert_eq!(spend().await.expect("sent").status(), 200);
    let (status, body) = json(spend().await.expect("sent")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "single use"
    );
}

#[tokio::test]
async fn faults_and_the_request_log() {
    let s = sandbox().await;
    s.fail_next(
        Endpoint::ApinizerHealthcheck,
        [
            Fault::Status(503),
            Fault::Throttle(7),
            Fault::Malformed,
            Fault::Oversize(100_000),
        ],
    );
    let url = format!("{}/apiops/test/healthcheck", s.apinizer_base_url());
    let r = http().get(&url).send().await.expect("sent");
    assert_eq!(r.status(), 503);
    let r = http().get(&url).send().await.expect("sent");
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().ok()
        ),
        (429, Some("7"))
    );
    let r = http().get(&url).send().await.expect("sent");
    assert!(serde_json::from_str::<Value>(&r.text().await.expect("body")).is_err());
    let r = http().get(&url).send().await.expect("sent");
    assert_eq!(r.bytes().await.expect("body").len(), 100_000);
    let r = http().get(&url).send().await.expect("sent");
    assert_eq!(r.text().await.expect("body"), "OK");
    assert_eq!(s.count(Endpoint::ApinizerHealthcheck), 5);
    assert_eq!(
        s.requests(Endpoint::ApinizerHealthcheck)[0].target,
        "/apinizer/apiops/test/healthcheck"
    );
    s.clear_log();
    assert_eq!(s.count(Endpoint::ApinizerHealthcheck), 0);
}

#[tokio::test]
async fn unknown_paths_get_the_iis_404() {
    let s = sandbox().await;
    let r = http()
        .get(format!("{}/nowhere", s.url()))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
    let r = http()
        .post(format!("{}/token", s.bydesign_base_url("NoSuchCo")))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn p21_consumer_keys_over_v1_and_never_expiring_keys() {
    let s = sandbox().await;
    s.p21()
        .add_consumer_key("11111111-2222-3333-4444-555555555555", "/api");
    let (status, body) = json(
        http()
            .post(format!("{}/api/security/token", s.p21_base_url()))
            .header("appkey", "11111111-2222-3333-4444-555555555555")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["ExpiresIn"], 630_720_000);
    let token = auth_core::Token::builder(auth_core::Secret::new(
        body["AccessToken"].as_str().expect("token"),
    ))
    .build();
    let claims = p21_auth::decode_claims_unverified(&token).expect("a JWT");
    assert_eq!(claims.exp, Some(2_147_483_647), "Never Expire");
    assert_eq!(claims.iss.as_deref(), Some("P21.Soa"));
    assert_eq!(claims.aud.as_deref(), Some("/api"));
}

#[tokio::test]
async fn apinizer_paths_need_their_trailing_slash_and_faults_speak_oauth() {
    let s = sandbox().await;
    let token = s.apinizer().create_personal_token(None);
    let r = http()
        .get(format!("{}/apiops/projects", s.apinizer_base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
    let r = http()
        .get(format!("{}/apiops/projects/", s.apinizer_base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    s.fail_next(
        Endpoint::ApinizerToken,
        [Fault::parse("server_error").expect("fault")],
    );
    let (status, body) = json(
        http()
            .post(format!("{}/apiops/auth/token", s.apinizer_base_url()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("server_error"))
    );
}

#[tokio::test]
async fn bydesign_can_keep_one_live_refresh_token_per_user_and_client() {
    let s = sandbox().await;
    let url = format!("{}/token", s.bydesign_base_url("Co"));
    let sign_in = || {
        http()
            .post(&url)
            .body("grant_type=password&username=--%3Er_1&password=pw&client_id=Cart")
            .send()
    };
    let refresh_of = |body: &Value| body["refresh_token"].as_str().expect("refresh").to_owned();
    let spend = |refresh: String| {
        http()
            .post(&url)
            .body(format!(
                "grant_type=refresh_token&refresh_token={refresh}&client_id=Cart"
            ))
            .send()
    };
    // Off (the default): two sign-ins give two refresh chains, both alive.
    let first = refresh_of(&json(sign_in().await.expect("sent")).await.1);
    let second = refresh_of(&json(sign_in().await.expect("sent")).await.1);
    assert_eq!(s.stats().gauge("bydesign", "live_refresh_tokens"), 2);
    assert_eq!(spend(first).await.expect("sent").status(), 200);
    assert_eq!(spend(second).await.expect("sent").status(), 200);

    // On: each new refresh token (by either grant) revokes the user's others for that client.
    s.bydesign().one_refresh_token_per_client(true);
    let first = refresh_of(&json(sign_in().await.expect("sent")).await.1);
    let second = refresh_of(&json(sign_in().await.expect("sent")).await.1);
    assert_eq!(s.stats().gauge("bydesign", "live_refresh_tokens"), 1);
    let (status, body) = json(spend(first).await.expect("sent")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = json(spend(second).await.expect("sent")).await;
    assert_eq!(status, 200);
    assert_eq!(spend(refresh_of(&body)).await.expect("sent").status(), 200);
    assert_eq!(s.stats().gauge("bydesign", "live_refresh_tokens"), 1);
    let stats = s.stats();
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "password"), 4);
    assert_eq!(stats.grants(Endpoint::ByDesignToken, "refresh_token"), 5);
    assert_eq!(stats.failures(Endpoint::ByDesignToken), 1);
}

#[tokio::test]
async fn stats_count_grants_answers_and_p21_sessions_replaced() {
    let s = sandbox().await;
    s.p21().add_consumer_key("k-1", "/api");
    let sign_in = |body: Value| {
        http()
            .post(format!("{}/api/security/token/v2", s.p21_base_url()))
            .json(&body)
            .send()
    };
    let user = serde_json::json!({"username": "u", "password": "pw"});
    let (_, first) = json(sign_in(user.clone()).await.expect("sent")).await;
    let (_, _second) = json(sign_in(user.clone()).await.expect("sent")).await;
    let key = serde_json::json!({"ClientSecret": "k-1", "GrantType": "client_credentials"});
    assert_eq!(sign_in(key).await.expect("sent").status(), 200);
    let bad = serde_json::json!({"username": "u", "password": "wrong"});
    assert_eq!(sign_in(bad).await.expect("sent").status(), 401);
    // The first token's session was closed by the second sign-in.
    let call = http()
        .get(format!(
            "{}/odataservice/odata/table/supplier",
            s.p21_base_url()
        ))
        .bearer_auth(first["AccessToken"].as_str().expect("token"))
        .send()
        .await
        .expect("sent");
    assert_eq!(call.status(), 401);

    let stats = s.stats();
    assert_eq!(stats.requests(Endpoint::P21TokenV2), 4);
    assert_eq!(stats.grants(Endpoint::P21TokenV2, "password"), 3);
    assert_eq!(stats.grants(Endpoint::P21TokenV2, "client_credentials"), 1);
    assert_eq!(stats.failures(Endpoint::P21TokenV2), 1);
    assert_eq!(stats.failures(Endpoint::P21Api), 1);
    assert_eq!(
        (
            stats.gauge("p21", "live_sessions"),
            stats.gauge("p21", "sessions_replaced")
        ),
        (2, 1)
    );

    // The same, as JSON over HTTP, for tests whose sandbox runs in another process.
    let served: Value = http()
        .get(format!("{}{}", s.url(), auth_sandbox::STATS_PATH))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(served["statuses"]["p21-api"]["401"], 1);
    assert_eq!(auth_sandbox::Stats::from_json(&served), Some(stats));
    s.clear_log();
    assert_eq!(s.stats().requests(Endpoint::P21TokenV2), 0);
}
