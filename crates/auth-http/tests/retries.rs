//! After a 401 an API call is retried with a new token; once more only when that token, too,
//! was obtained before the first 401 came back (adopted from another process, say: the vendor
//! closing every session ends it as well). A token obtained after the first 401 is never
//! replaced again, so a vendor that keeps refusing costs at most two retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth_core::{CacheOptions, Error, Secret, Token, TokenCache, TokenSource, async_trait};
use auth_http::AuthorizedCalls;
use auth_testkit::{Reply, TestServer};

/// Hands out `token-1`, `token-2`, … in turn; those listed in `older` as obtained a minute ago
/// (a token the source had before the call began), the others as obtained now.
#[derive(Debug)]
struct Tokens {
    next: AtomicUsize,
    older: Vec<usize>,
}

#[async_trait]
impl TokenSource for Tokens {
    fn vendor(&self) -> &'static str {
        "example"
    }

    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, Error> {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Instant::now();
        let obtained = if self.older.contains(&n) {
            now - Duration::from_secs(60)
        } else {
            now
        };
        Ok(Token::builder(Secret::new(format!("token-{n}")))
            .lifetime(obtained, Some(Duration::from_secs(3600)))
            .build())
    }
}

/// A cache on `Tokens` whose forced refreshes are never too soon, and an API that accepts only
/// `good` (counting every call).
async fn setup(older: Vec<usize>, good: &'static str) -> (TokenCache, Arc<TestServer>) {
    let cache = TokenCache::builder(Tokens {
        next: AtomicUsize::new(0),
        older,
    })
    .options(CacheOptions::default().min_forced_refresh_interval(Duration::ZERO))
    .build();
    let server = TestServer::start().await;
    server.route_fn("GET", "/things", move |request| {
        if request.header("authorization") == Some(&format!("Bearer {good}")) {
            Reply::json(200, "{}")
        } else {
            Reply::status(401)
        }
    });
    (cache, Arc::new(server))
}

/// One API call through the cache: its final status, and how many attempts the API saw.
async fn call(cache: &TokenCache, server: &TestServer) -> (u16, usize) {
    auth_http::install_crypto_provider();
    let api = reqwest::Client::new();
    let response = cache
        .send(api.get(server.url("/things")))
        .await
        .expect("sent");
    (response.status().as_u16(), server.count("GET", "/things"))
}

#[tokio::test]
async fn a_retry_token_obtained_before_the_401_is_replaced_once_more() {
    // token-1 is refused; token-2 (obtained before that 401) too; token-3 is fresh and good.
    let (cache, server) = setup(vec![1, 2], "token-3").await;
    assert_eq!(call(&cache, &server).await, (200, 3));
}

#[tokio::test]
async fn a_retry_token_obtained_after_the_401_is_not_replaced_again() {
    // token-2 is fresh (obtained after the first 401): its 401 is the answer.
    let (cache, server) = setup(vec![1], "token-3").await;
    assert_eq!(call(&cache, &server).await, (401, 2));
}

#[tokio::test]
async fn a_vendor_refusing_every_token_costs_at_most_two_retries() {
    // Every token is old, none accepted: three attempts, never a fourth.
    let (cache, server) = setup((1..=10).collect(), "none").await;
    assert_eq!(call(&cache, &server).await, (401, 3));
    // The rejected token is not kept: the next call starts with a new one.
    cache.token().await.expect("token");
    assert!(cache.stats().invalidations >= 3);
}
