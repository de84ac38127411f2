//! `cargo xtask demo`: every vendor flow, then the scenarios that matter, against the embedded
//! sandbox. No accounts, no network. Each scenario prints a table: vendor, flow, token requests
//! the sandbox saw, calls served from the cache, outcome.
//!
//! Client-side time runs on a manual clock, so "an hour later" takes no time; the sandbox keeps
//! real time.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{Clock, TokenCache};
use auth_http::HttpClient;
use auth_sandbox::{Endpoint, Fault, Sandbox};
use auth_testkit::ManualClock;

const PASSWORD: &str = "sandbox-password";

/// What the demo expected and did not see; any entry makes it exit 1 (CI runs it).
static SURPRISES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// `title` numbered as the next scenario: 1, 2, 3... in the order they run, with no gap.
fn numbered(title: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{n}. {title}")
}

fn expect(holds: bool, what: &str) {
    if !holds {
        SURPRISES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(what.to_owned());
    }
}
const CONSUMER_KEY: &str = "11111111-2222-3333-4444-555555555555";

struct Row {
    vendor: &'static str,
    flow: String,
    requests: usize,
    cached: u64,
    outcome: String,
}

struct Table {
    title: String,
    rows: Vec<Row>,
}

impl Table {
    fn new(title: String) -> Self {
        Self {
            title,
            rows: Vec::new(),
        }
    }

    fn row(
        &mut self,
        vendor: &'static str,
        flow: impl Into<String>,
        requests: usize,
        cache: &TokenCache,
        outcome: impl Into<String>,
    ) {
        self.rows.push(Row {
            vendor,
            flow: flow.into(),
            requests,
            cached: cache.stats().cache_hits,
            outcome: outcome.into(),
        });
    }

    fn print(&self) {
        println!("\n{}", self.title);
        let flow_w = self
            .rows
            .iter()
            .map(|r| r.flow.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "  {:<10} {:<flow_w$} {:>14} {:>12}  outcome",
            "vendor", "flow", "token requests", "from cache"
        );
        for r in &self.rows {
            println!(
                "  {:<10} {:<flow_w$} {:>14} {:>12}  {}",
                r.vendor, r.flow, r.requests, r.cached, r.outcome
            );
        }
    }
}

fn outcome<T>(result: &Result<T, auth_core::Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// An HTTP client on `clock`, so that client-side time (expiry, windows, backoff) is simulated.
fn http(clock: &ManualClock) -> HttpClient {
    HttpClient::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("http client")
}

fn sandbox_accounts(sandbox: &Sandbox) {
    sandbox.p21().add_user("api_user", PASSWORD);
    sandbox.p21().add_consumer_key(CONSUMER_KEY, "/api;/p21sdk");
    sandbox.personify().add_client(
        "sandbox-client",
        "sandbox-secret",
        &["idp_api", "members.read"],
        &["sandbox-tenant"],
    );
    sandbox.apinizer().add_user("admin", PASSWORD);
    sandbox
        .bydesign()
        .add_company("SandboxCo", &["SandboxCart"]);
    sandbox.bydesign().add_rep("SandboxCo", "1001", PASSWORD);
    sandbox
        .bydesign()
        .add_customer("SandboxCo", "1146820", PASSWORD);
}

fn p21(
    sandbox: &Sandbox,
    credentials: p21_auth::Credentials,
    clock: &ManualClock,
) -> p21_auth::Client {
    p21_auth::Client::builder()
        .base_url(sandbox.p21_base_url())
        .credentials(credentials)
        .http_client(http(clock))
        .build()
        .expect("p21 client")
}

fn personify(sandbox: &Sandbox, clock: &ManualClock) -> personify_auth::Client {
    personify_auth::Client::builder()
        .credentials(personify_auth::Credentials::new(
            "sandbox-client",
            auth_core::Secret::new("sandbox-secret"),
        ))
        .token_url(sandbox.personify_token_url())
        .tenant_id("sandbox-tenant")
        .http_client(http(clock))
        .build()
        .expect("personify client")
}

fn bydesign(
    sandbox: &Sandbox,
    credentials: bydesign_auth::Credentials,
    clock: &ManualClock,
) -> bydesign_auth::Client {
    bydesign_auth::Client::builder()
        .base_url(sandbox.bydesign_base_url("SandboxCo"))
        .client_id("SandboxCart")
        .credentials(credentials)
        .http_client(http(clock))
        .build()
        .expect("bydesign client")
}

fn apinizer(
    sandbox: &Sandbox,
    credentials: apinizer_auth::Credentials,
    clock: &ManualClock,
) -> apinizer_auth::Client {
    apinizer_auth::Client::builder()
        .base_url(sandbox.apinizer_base_url())
        .credentials(credentials)
        .http_client(http(clock))
        .build()
        .expect("apinizer client")
}

/// Waits (up to 5 s of real time) for something a background task does over loopback.
async fn settle(done: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// Calls `token()` `n` times and returns the last outcome.
async fn tokens<F, Fut>(n: usize, call: F) -> Result<auth_core::Token, auth_core::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<auth_core::Token, auth_core::Error>>,
{
    let mut last = call().await;
    for _ in 1..n {
        last = call().await;
    }
    last
}

async fn every_flow(sandbox: &Sandbox) {
    let mut t = Table::new(numbered(
        "Every flow of every vendor (100 token() calls each)",
    ));
    let clock = ManualClock::auto_advance();
    use auth_core::Secret;

    let before = sandbox.count(Endpoint::P21TokenV2);
    let c = p21(
        sandbox,
        p21_auth::Credentials::user("api_user", Secret::new(PASSWORD)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    t.row(
        "p21",
        "user credentials (V2)",
        sandbox.count(Endpoint::P21TokenV2) - before,
        c.cache(),
        outcome(&r),
    );

    let before = sandbox.count(Endpoint::P21TokenV2);
    let c = p21(
        sandbox,
        p21_auth::Credentials::consumer_key(Secret::new(CONSUMER_KEY)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    let scope = r
        .as_ref()
        .ok()
        .and_then(|t| t.scope().map(str::to_owned))
        .unwrap_or_default();
    t.row(
        "p21",
        "consumer key",
        sandbox.count(Endpoint::P21TokenV2) - before,
        c.cache(),
        format!("{}, scope {scope}", outcome(&r)),
    );

    let before = sandbox.count(Endpoint::P21TokenV2);
    let c = p21(
        sandbox,
        p21_auth::Credentials::consumer_key(Secret::new(CONSUMER_KEY)).with_username("api_user"),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    let sub = r
        .as_ref()
        .ok()
        .and_then(|t| p21_auth::decode_claims_unverified(t).ok())
        .and_then(|claims| claims.sub)
        .unwrap_or_default();
    t.row(
        "p21",
        "consumer key + user",
        sandbox.count(Endpoint::P21TokenV2) - before,
        c.cache(),
        format!("{}, sub {sub:?} (unverified)", outcome(&r)),
    );

    #[allow(deprecated)]
    let v1 = p21_auth::Credentials::user_v1_headers("api_user", Secret::new(PASSWORD));
    let c = p21(sandbox, v1, &clock);
    let r = tokens(100, || c.token()).await;
    t.row(
        "p21",
        "user credentials (V1, deprecated)",
        sandbox.count(Endpoint::P21TokenV1),
        c.cache(),
        outcome(&r),
    );

    sandbox.p21().answer_in_xml(true);
    let before = sandbox.count(Endpoint::P21TokenV2);
    let c = p21(
        sandbox,
        p21_auth::Credentials::user("api_user", Secret::new(PASSWORD)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    t.row(
        "p21",
        "XML token response",
        sandbox.count(Endpoint::P21TokenV2) - before,
        c.cache(),
        outcome(&r),
    );
    sandbox.p21().answer_in_xml(false);

    sandbox.p21().redirect_ui_router(true);
    let url = c.ui_server_url().await;
    t.row(
        "p21",
        "UI server URL (via 307)",
        0,
        c.cache(),
        match &url {
            Ok(u) => format!("ok, {u}"),
            Err(e) => format!("error: {e}"),
        },
    );
    sandbox.p21().redirect_ui_router(false);

    let before = sandbox.count(Endpoint::PersonifyToken);
    let c = personify(sandbox, &clock);
    let r = tokens(100, || c.token()).await;
    t.row(
        "personify",
        "client credentials (form)",
        sandbox.count(Endpoint::PersonifyToken) - before,
        c.cache(),
        outcome(&r),
    );
    let resp = c
        .send(c.reqwest_client().get(sandbox.personify_api_url("members")))
        .await;
    t.row(
        "personify",
        "API call with X-Tenant-Id",
        0,
        c.cache(),
        match resp {
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => format!("error: {e}"),
        },
    );
    let before = sandbox.count(Endpoint::PersonifyToken);
    let c = personify_auth::Client::builder()
        .credentials(personify_auth::Credentials::new(
            "sandbox-client",
            Secret::new("sandbox-secret"),
        ))
        .token_url(sandbox.personify_token_url())
        .client_auth(personify_auth::ClientAuth::Basic)
        .scopes(["idp_api", "members.read"])
        .http_client(http(&clock))
        .build()
        .expect("client");
    let r = tokens(100, || c.token()).await;
    let scope = r
        .as_ref()
        .ok()
        .and_then(|t| t.scope().map(str::to_owned))
        .unwrap_or_default();
    t.row(
        "personify",
        "client credentials (Basic, 2 scopes)",
        sandbox.count(Endpoint::PersonifyToken) - before,
        c.cache(),
        format!("{}, scope {scope:?}", outcome(&r)),
    );

    let c = apinizer(
        sandbox,
        apinizer_auth::Credentials::issued("admin", Secret::new(PASSWORD)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    t.row(
        "apinizer",
        "issued token",
        sandbox.count(Endpoint::ApinizerToken),
        c.cache(),
        outcome(&r),
    );
    let personal = sandbox.apinizer().create_personal_token(None);
    let c = apinizer(
        sandbox,
        apinizer_auth::Credentials::personal(Secret::new(personal)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    let verified = c.verify().await;
    t.row(
        "apinizer",
        "personal token + verify()",
        0,
        c.cache(),
        format!("{}, verify {}", outcome(&r), outcome(&verified)),
    );

    let before = sandbox.count(Endpoint::ByDesignToken);
    let c = bydesign(
        sandbox,
        bydesign_auth::Credentials::rep("1001", Secret::new(PASSWORD)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    let who = r
        .as_ref()
        .ok()
        .and_then(bydesign_auth::Session::of)
        .map(|s| format!("{} ({:?})", s.user_name, s.user_type))
        .unwrap_or_default();
    t.row(
        "bydesign",
        "rep",
        sandbox.count(Endpoint::ByDesignToken) - before,
        c.cache(),
        format!("{}, {who}", outcome(&r)),
    );
    let before = sandbox.count(Endpoint::ByDesignToken);
    let c = bydesign(
        sandbox,
        bydesign_auth::Credentials::customer("1146820", Secret::new(PASSWORD)),
        &clock,
    );
    let r = tokens(100, || c.token()).await;
    t.row(
        "bydesign",
        "customer",
        sandbox.count(Endpoint::ByDesignToken) - before,
        c.cache(),
        outcome(&r),
    );
    let first = r.ok();
    let before = sandbox.count(Endpoint::ByDesignToken);
    if let Some(first) = &first {
        c.invalidate(first);
    }
    let r = c.token().await;
    let grant = sandbox
        .requests(Endpoint::ByDesignToken)
        .last()
        .map(|req| {
            form_urlencoded::parse(&req.body)
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    t.row(
        "bydesign",
        "renewal",
        sandbox.count(Endpoint::ByDesignToken) - before,
        c.cache(),
        format!("{}, grant_type={grant}", outcome(&r)),
    );
    t.print();
}

async fn concurrency(sandbox: &Sandbox) {
    let mut t = Table::new(numbered("1000 concurrent callers on a cold cache"));
    let clock = ManualClock::auto_advance();
    sandbox.clear_log();
    sandbox.set_latency(Endpoint::P21TokenV2, Duration::from_millis(50));
    let c = p21(
        sandbox,
        p21_auth::Credentials::user("api_user", auth_core::Secret::new(PASSWORD)),
        &clock,
    );
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.token().await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if matches!(task.await, Ok(Ok(_))) {
            ok += 1;
        }
    }
    sandbox.set_latency(Endpoint::P21TokenV2, Duration::ZERO);
    expect(
        ok == 1000 && sandbox.count(Endpoint::P21TokenV2) == 1,
        "1000 callers, one token request",
    );
    t.row(
        "p21",
        "1000 tasks call token() at once",
        sandbox.count(Endpoint::P21TokenV2),
        c.cache(),
        format!(
            "{ok}/1000 got the token; {} waited for the one fetch",
            c.cache().stats().waits
        ),
    );
    t.print();
}

async fn lifecycle(sandbox: &Sandbox) {
    let mut t = Table::new(numbered(
        "Expiry, refresh ahead of time, and an outage (client time simulated)",
    ));
    sandbox
        .personify()
        .set_token_lifetime(Duration::from_secs(3600));
    sandbox.clear_log();
    let clock = ManualClock::auto_advance();
    let c = personify(sandbox, &clock);
    let first = c.token().await;
    t.row(
        "personify",
        "t = 0: first token",
        sandbox.count(Endpoint::PersonifyToken),
        c.cache(),
        outcome(&first),
    );

    clock.advance(Duration::from_secs(3600 - 200));
    let served = c.token().await;
    let same = matches!((&first, &served), (Ok(a), Ok(b)) if a.same_as(b));
    settle(|| c.cache().stats().tokens_fetched == 2).await;
    expect(
        same && sandbox.count(Endpoint::PersonifyToken) == 2,
        "soft window: cached token, one background refresh",
    );
    t.row(
        "personify",
        "t = 56m40s: soft window",
        sandbox.count(Endpoint::PersonifyToken),
        c.cache(),
        format!("caller served the cached token at once ({same}); one background refresh"),
    );

    // An outage: the next refresh fails (each of its three attempts answers 503).
    sandbox.fail_next(
        Endpoint::PersonifyToken,
        std::iter::repeat_n(Fault::Status(503), 3),
    );
    clock.advance(Duration::from_secs(3600 - 200));
    let during = c.token().await;
    settle(|| c.cache().stats().refresh_failures >= 1).await;
    let later = c.token().await;
    expect(
        during.is_ok() && later.is_ok() && c.cache().stats().refresh_failures == 1,
        "outage: the cached token keeps serving while the refresh fails",
    );
    t.row(
        "personify",
        "outage inside the refresh window",
        sandbox.count(Endpoint::PersonifyToken),
        c.cache(),
        format!(
            "{} / {}: cached token kept serving; {} refresh failed (3 attempts), next try in 30 s",
            outcome(&during),
            outcome(&later),
            c.cache().stats().refresh_failures
        ),
    );
    clock.advance(Duration::from_secs(31));
    let _ = c.token().await;
    settle(|| c.cache().stats().tokens_fetched == 3).await;
    expect(
        c.cache().stats().tokens_fetched == 3 && c.cache().last_error().is_none(),
        "recovery 30 s after the failed refresh",
    );
    t.row(
        "personify",
        "30 s later, service back",
        sandbox.count(Endpoint::PersonifyToken),
        c.cache(),
        format!(
            "refreshed; last error cleared: {}",
            c.cache().last_error().is_none()
        ),
    );
    t.print();
}

async fn failures(sandbox: &Sandbox) {
    let mut t = Table::new(numbered(
        "401s, a password change, revocation, rejection, throttling",
    ));
    let clock = ManualClock::auto_advance();
    use auth_core::Secret;

    // Another process signs in with the same P21 user: the session of ours is closed.
    sandbox.clear_log();
    let ours = p21(
        sandbox,
        p21_auth::Credentials::user("api_user", Secret::new(PASSWORD)),
        &clock,
    );
    let theirs = p21(
        sandbox,
        p21_auth::Credentials::user("api_user", Secret::new(PASSWORD)),
        &clock,
    );
    let _ = ours.token().await;
    let _ = theirs.token().await;
    let resp = ours
        .send(
            ours.reqwest_client()
                .get(ours.url("odataservice/odata/table/supplier").expect("url")),
        )
        .await;
    expect(
        matches!(&resp, Ok(r) if r.status() == 200) && sandbox.count(Endpoint::P21TokenV2) == 3,
        "p21: one re-authentication after the session was closed",
    );
    t.row(
        "p21",
        "session closed by another sign-in, API 401",
        sandbox.count(Endpoint::P21TokenV2),
        ours.cache(),
        match resp {
            Ok(r) => format!("HTTP {} after one re-authentication", r.status().as_u16()),
            Err(e) => format!("error: {e}"),
        },
    );

    // 100 concurrent API calls all get 401 with the same dead token: one re-authentication.
    let before = sandbox.count(Endpoint::PersonifyToken);
    let c = personify(sandbox, &clock);
    let _ = c.token().await;
    sandbox.personify().revoke_all();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            let url = sandbox.personify_api_url("members");
            tokio::spawn(async move { c.send(c.reqwest_client().get(url)).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if matches!(task.await, Ok(Ok(r)) if r.status() == 200) {
            ok += 1;
        }
    }
    expect(
        ok == 100
            && sandbox.count(Endpoint::PersonifyToken) - before == 2
            && c.cache().stats().invalidations == 1,
        "personify: 100 concurrent 401s, one re-authentication",
    );
    t.row(
        "personify",
        "100 concurrent API calls hit 401",
        sandbox.count(Endpoint::PersonifyToken) - before,
        c.cache(),
        format!(
            "{ok}/100 succeeded after {} invalidation",
            c.cache().stats().invalidations
        ),
    );

    // A ByDesign rep changes the password: earlier tokens expire.
    let before = sandbox.count(Endpoint::ByDesignToken);
    let rep = bydesign(
        sandbox,
        bydesign_auth::Credentials::rep("1001", Secret::new(PASSWORD)),
        &clock,
    );
    let _ = rep.token().await;
    sandbox
        .bydesign()
        .change_rep_password("SandboxCo", "1001", "changed-password");
    let api = format!("{}/api/orders", sandbox.bydesign_base_url("SandboxCo"));
    let stale = rep.send(rep.reqwest_client().get(&api)).await;
    expect(
        stale.as_ref().is_err_and(auth_core::Error::is_rejected),
        "bydesign: after a password change the old password fails closed",
    );
    t.row(
        "bydesign",
        "password changed elsewhere, API 401",
        sandbox.count(Endpoint::ByDesignToken) - before,
        rep.cache(),
        format!(
            "{} (refresh refused, old password refused: fails closed)",
            outcome(&stale)
        ),
    );
    let before = sandbox.count(Endpoint::ByDesignToken);
    let rep = bydesign(
        sandbox,
        bydesign_auth::Credentials::rep("1001", Secret::new("changed-password")),
        &clock,
    );
    let fresh = rep.send(rep.reqwest_client().get(&api)).await;
    expect(
        matches!(&fresh, Ok(r) if r.status() == 200),
        "bydesign: the new password works",
    );
    t.row(
        "bydesign",
        "client given the new password",
        sandbox.count(Endpoint::ByDesignToken) - before,
        rep.cache(),
        match fresh {
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => format!("error: {e}"),
        },
    );
    sandbox
        .bydesign()
        .change_rep_password("SandboxCo", "1001", PASSWORD);

    // An Apinizer personal token is revoked in the console.
    let token = sandbox.apinizer().create_personal_token(None);
    let c = apinizer(
        sandbox,
        apinizer_auth::Credentials::personal(Secret::new(token.clone())),
        &clock,
    );
    sandbox.apinizer().revoke(&token);
    let before = sandbox.count(Endpoint::ApinizerApi);
    let resp = c
        .send(
            c.reqwest_client()
                .get(c.url("apiops/projects/").expect("url")),
        )
        .await;
    t.row(
        "apinizer",
        "personal token revoked",
        0,
        c.cache(),
        format!(
            "{} ({} API request, not retried)",
            outcome(&resp),
            sandbox.count(Endpoint::ApinizerApi) - before
        ),
    );

    // A wrong password, asked for on every request: the account is not hammered.
    let before = sandbox.count(Endpoint::P21TokenV2);
    let c = p21(
        sandbox,
        p21_auth::Credentials::user("api_user", Secret::new("wrong")),
        &clock,
    );
    let mut last = None;
    for _ in 0..50 {
        last = Some(c.token().await);
    }
    expect(
        sandbox.count(Endpoint::P21TokenV2) - before == 1,
        "p21: a wrong password is asked once, then remembered",
    );
    t.row(
        "p21",
        "wrong password, 50 calls",
        sandbox.count(Endpoint::P21TokenV2) - before,
        c.cache(),
        format!(
            "{} (remembered 30 s)",
            last.map(|r| outcome(&r)).unwrap_or_default()
        ),
    );

    // Throttled once, then served: Retry-After honoured by the HTTP plumbing.
    let before = sandbox.count(Endpoint::ApinizerToken);
    sandbox.fail_next(Endpoint::ApinizerToken, [Fault::Throttle(2)]);
    let clock = ManualClock::auto_advance();
    let c = apinizer(
        sandbox,
        apinizer_auth::Credentials::issued("admin", Secret::new(PASSWORD)),
        &clock,
    );
    let r = c.token().await;
    let waited: Vec<String> = clock
        .sleeps()
        .iter()
        .map(|d| format!("{} s", d.as_secs()))
        .collect();
    t.row(
        "apinizer",
        "429 with Retry-After: 2",
        sandbox.count(Endpoint::ApinizerToken) - before,
        c.cache(),
        format!("{} after waiting {}", outcome(&r), waited.join(", ")),
    );
    let _ = clock.now();
    t.print();
}

/// One P21 user on `clients` replicas (separate caches), each calling the OData API once per
/// round, one second of client time apart: token requests, and calls that failed.
async fn p21_replicas(
    sandbox: &Sandbox,
    clients: usize,
    rounds: usize,
    store: Option<&auth_store::FileStore>,
) -> (usize, usize, usize) {
    let clock = ManualClock::new();
    sandbox.clear_log();
    let replicas: Vec<p21_auth::Client> = (0..clients)
        .map(|_| {
            let mut options = auth_core::CacheOptions::default();
            if let Some(store) = store {
                options = options.store(store.clone());
            }
            p21_auth::Client::builder()
                .base_url(sandbox.p21_base_url())
                .credentials(p21_auth::Credentials::user(
                    "api_user",
                    auth_core::Secret::new(PASSWORD),
                ))
                .http_client(http(&clock))
                .cache(options)
                .build()
                .expect("p21 client")
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..rounds {
        for c in &replicas {
            let sent = match c.url("odataservice/odata/table/supplier") {
                Ok(url) => c.send(c.reqwest_client().get(url)).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(r) if r.status().is_success() => ok += 1,
                _ => failed += 1,
            }
        }
        clock.advance(Duration::from_secs(1));
    }
    (sandbox.count(Endpoint::P21TokenV2), ok, failed)
}

/// One ByDesign rep on `clients` replicas, with the one-live-refresh-token rule on: a sign-in
/// each, then a day later (client time) a refresh each. Password sign-ins, refreshes, refusals.
async fn bydesign_replicas(
    sandbox: &Sandbox,
    clients: usize,
    store: Option<&auth_store::FileStore>,
) -> (u64, u64, u64) {
    let clock = ManualClock::new();
    sandbox.clear_log();
    sandbox.bydesign().one_refresh_token_per_client(true);
    let replicas: Vec<bydesign_auth::Client> = (0..clients)
        .map(|_| {
            let mut options = auth_core::CacheOptions::default();
            if let Some(store) = store {
                options = options.store(store.clone());
            }
            bydesign_auth::Client::builder()
                .base_url(sandbox.bydesign_base_url("SandboxCo"))
                .client_id("SandboxCart")
                .credentials(bydesign_auth::Credentials::rep(
                    "1001",
                    auth_core::Secret::new(PASSWORD),
                ))
                .http_client(http(&clock))
                .cache(options)
                .build()
                .expect("bydesign client")
        })
        .collect();
    for c in &replicas {
        let _ = c.token().await;
    }
    // Into the last minute of the 48-hour lifetime: every replica's next call waits for a new
    // token.
    clock.advance(Duration::from_secs(48 * 3600 - 30));
    for c in &replicas {
        let _ = c.token().await;
    }
    sandbox.bydesign().one_refresh_token_per_client(false);
    let stats = sandbox.stats();
    (
        stats.grants(Endpoint::ByDesignToken, "password"),
        stats.grants(Endpoint::ByDesignToken, "refresh_token"),
        stats.failures(Endpoint::ByDesignToken),
    )
}

async fn fleet(sandbox: &Sandbox) {
    println!(
        "\n{}",
        numbered(
            "A fleet: replicas on one credential, each with its own cache (client time simulated)"
        )
    );
    let dir = std::env::temp_dir().join(format!("vendor-auth-demo-{}", std::process::id()));
    let store = auth_store::FileStore::open(&dir).expect("a file store in the temp dir");
    let (clients, rounds) = (4, 20);
    let (alone, alone_ok, alone_failed) = p21_replicas(sandbox, clients, rounds, None).await;
    let (shared, shared_ok, shared_failed) =
        p21_replicas(sandbox, clients, rounds, Some(&store)).await;
    println!(
        "  {:<44} {:>14} {:>10} {:>12}",
        "P21: 4 replicas x 20 OData calls", "token requests", "calls ok", "calls failed"
    );
    println!(
        "  {:<44} {:>14} {:>10} {:>12}",
        "  each on its own (today's default)", alone, alone_ok, alone_failed
    );
    println!(
        "  {:<44} {:>14} {:>10} {:>12}",
        "  sharing a file store", shared, shared_ok, shared_failed
    );
    expect(
        shared == 1 && shared_failed == 0 && shared_ok == clients * rounds,
        "P21 replicas sharing a store: one token request, no failed call",
    );
    expect(
        alone > shared && alone_failed > 0,
        "P21 replicas on their own log each other out (the problem the store solves)",
    );
    let (pw_alone, refresh_alone, refused_alone) = bydesign_replicas(sandbox, clients, None).await;
    let (pw_shared, refresh_shared, refused_shared) =
        bydesign_replicas(sandbox, clients, Some(&store)).await;
    println!(
        "  {:<44} {:>14} {:>10} {:>12}",
        "ByDesign: 4 replicas, one rep, two days apart", "sign-ins", "refreshes", "refused"
    );
    println!(
        "  {:<44} {:>14} {:>10} {:>12}",
        "  each on its own", pw_alone, refresh_alone, refused_alone
    );
    println!(
        "  {:<44} {:>14} {:>10} {:>12}",
        "  sharing a file store", pw_shared, refresh_shared, refused_shared
    );
    expect(
        (pw_shared, refresh_shared, refused_shared) == (1, 1, 0),
        "ByDesign replicas sharing a store: one sign-in, one refresh chain",
    );
    expect(
        refused_alone > 0,
        "ByDesign replicas on their own spend each other's refresh tokens",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where the `vendor-auth` binary is: `VENDOR_AUTH_BIN` (set by `cargo xtask demo`), or beside
/// this example's own directory in the target directory.
fn vendor_auth_bin() -> Option<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os("VENDOR_AUTH_BIN") {
        return Some(bin.into());
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join(format!("vendor-auth{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

async fn cli(sandbox: &Sandbox) {
    println!(
        "\n{}",
        numbered("The vendor-auth tool: `vendor-auth token p21`, twice, sharing a file store")
    );
    let Some(bin) = vendor_auth_bin() else {
        println!(
            "  skipped: build it first (cargo build -p vendor-auth-cli), or run cargo xtask demo"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("vendor-auth-demo-cli-{}", std::process::id()));
    let before = sandbox.stats().requests(Endpoint::P21TokenV2);
    let mut printed = Vec::new();
    for _ in 0..2 {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["token", "p21"])
            .env("P21_BASE_URL", sandbox.p21_base_url())
            .env("P21_USERNAME", "api_user")
            .env("P21_PASSWORD", PASSWORD)
            .env("VENDOR_AUTH_STORE", format!("file:{}", dir.display()));
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .ok()
            .and_then(Result::ok);
        match out {
            Some(out) if out.status.success() => {
                printed.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
            }
            Some(out) => {
                printed.push(String::new());
                println!(
                    "  vendor-auth failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            None => printed.push(String::new()),
        }
    }
    let requests = sandbox.stats().requests(Endpoint::P21TokenV2) - before;
    // The token itself is not shown: its length says that one was printed.
    let shown = |t: &str| format!("a token of {} characters", t.len());
    println!(
        "  {:<44} {:>14} {:>10}",
        "vendor-auth token p21", "token requests", "same token"
    );
    println!(
        "  {:<44} {:>14} {:>10}",
        format!("  run 1: {}", shown(&printed[0])),
        "",
        ""
    );
    println!(
        "  {:<44} {:>14} {:>10}",
        format!("  run 2: {}", shown(&printed[1])),
        requests,
        if printed[0] == printed[1] {
            "yes"
        } else {
            "no"
        }
    );
    expect(
        requests == 1 && !printed[0].is_empty() && printed[0] == printed[1],
        "vendor-auth run twice: one token request, the same token",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main]
async fn main() {
    let sandbox = Sandbox::start()
        .await
        .expect("start the sandbox on 127.0.0.1");
    sandbox_accounts(&sandbox);
    println!(
        "auth-sandbox on {} (loopback only; no accounts, no network)",
        sandbox.url()
    );
    every_flow(&sandbox).await;
    concurrency(&sandbox).await;
    lifecycle(&sandbox).await;
    failures(&sandbox).await;
    fleet(&sandbox).await;
    cli(&sandbox).await;
    let surprises = SURPRISES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if surprises.is_empty() {
        println!("\ndone: every scenario behaved as expected.");
    } else {
        println!("\nUNEXPECTED:");
        for s in &surprises {
            println!("  - {s}");
        }
        std::process::exit(1);
    }
}
