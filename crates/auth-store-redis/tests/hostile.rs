//! A Redis that answers with more than any record can be (an endless array, a 768 MiB bulk
//! string) or that never finishes its answer: the store's call fails within its timeout, and the
//! connection is dropped, so that nothing keeps reading (and buffering) in the background. The
//! fake servers run on loopback and report how much they could send before the store hung up.

use std::time::Duration;

use auth_core::store::{StoreKey, TokenStore};
use auth_store_redis::RedisStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What the fake server sends after the first bytes it reads.
#[derive(Clone, Copy)]
enum Reply {
    /// `*2147483647` then elements without end, as fast as the socket takes them.
    EndlessArray,
    /// A bulk string announced as 768 MiB, then its bytes as fast as the socket takes them.
    HugeBulk,
    /// An answer that never ends, one byte at a time.
    Drip,
}

/// A fake Redis on a free loopback port; the receiver gets the bytes it sent before the store
/// closed the connection.
async fn fake(reply: Reply) -> (String, oneshot::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("redis://{}", listener.local_addr().expect("addr"));
    let (done, report) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut first = [0u8; 256];
        let _ = socket.read(&mut first).await;
        let (head, chunk): (&[u8], Vec<u8>) = match reply {
            Reply::EndlessArray => (b"*2147483647\r\n", b"$1\r\nx\r\n".repeat(8192)),
            Reply::HugeBulk => (b"$805306368\r\n", vec![b'x'; 64 * 1024]),
            Reply::Drip => (b"*2\r\n$1\r\n", b"x".to_vec()),
        };
        let mut sent = 0;
        if socket.write_all(head).await.is_ok() {
            sent += head.len();
            // Until the store hangs up (or far more than any record could be).
            while sent < 1 << 30 {
                if matches!(reply, Reply::Drip) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if socket.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len();
            }
        }
        let _ = done.send(sent);
    });
    (url, report)
}

async fn hung_up_after(reply: Reply) -> usize {
    let (url, report) = fake(reply).await;
    let store = RedisStore::builder(url)
        .sealing_key(auth_store_redis::SealingKey::from_bytes(&[3; 32]).expect("key"))
        .call_timeout(Duration::from_millis(300))
        .build()
        .expect("store");
    let key = StoreKey::of("test", "https://auth.example.com").part("user", "alice");
    let err = store
        .load(&key)
        .await
        .expect_err("no record from a hostile server");
    assert!(!err.to_string().is_empty());
    // The store hung up: the server's writes fail soon after the call ended.
    tokio::time::timeout(Duration::from_secs(10), report)
        .await
        .expect("the connection was dropped")
        .expect("report")
}

#[tokio::test]
async fn an_endless_array_ends_the_connection_after_a_bounded_read() {
    let sent = hung_up_after(Reply::EndlessArray).await;
    // What the store read is capped at 1 MiB; the rest is what the sockets' buffers held.
    assert!(
        sent < 64 << 20,
        "the server sent {sent} bytes before the store hung up"
    );
}

#[tokio::test]
async fn a_huge_bulk_string_ends_the_connection_after_a_bounded_read() {
    let sent = hung_up_after(Reply::HugeBulk).await;
    assert!(
        sent < 64 << 20,
        "the server sent {sent} bytes before the store hung up"
    );
}

#[tokio::test]
async fn a_reply_that_never_ends_is_dropped_at_the_timeout() {
    let sent = hung_up_after(Reply::Drip).await;
    assert!(sent < 1 << 20);
}
