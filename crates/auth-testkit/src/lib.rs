//! Fakes for the workspace's tests, never in a published crate's normal dependency tree (this
//! crate is not published; the others name it in `[dev-dependencies]` by path only).
//!
//! - [`ManualClock`]: time that moves only when a test says so (or, in auto mode, exactly as far
//!   as each sleep asks), so expiry, windows and backoff are tested without real waiting.
//! - [`ScriptedSource`]: a [`TokenSource`](auth_core::TokenSource) that counts calls, follows a script of failures, and
//!   can be held in flight until the test releases it.
//! - [`TestServer`]: a loopback HTTP/1.1 server with scripted replies that records every request
//!   and renders it as text for snapshots.
//! - [`LogRecorder`]: a `tracing` subscriber that keeps every event and span field as text, at
//!   every level, so that tests can check what log lines carry.
//! - [`check_lease_contract`]: the lease rules every `TokenStore` must keep.
//! - [`TlsServer`]: an https server on a loopback port with a certificate made for the test.
//! - [`TestProxy`]: a forward proxy on a loopback port that tunnels `CONNECT` to local servers
//!   and records what it saw.

#![deny(missing_docs)]

mod clock;
mod logs;
mod proxy;
mod server;
mod source;
mod store;
mod tls;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use clock::ManualClock;
pub use logs::LogRecorder;
pub use proxy::{ProxyRequest, TestProxy};
pub use server::{Gate, Received, Reply, TestServer, render};
pub use source::ScriptedSource;
pub use store::check_lease_contract;
pub use tls::{TlsServer, http_reply};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
