//! A cap on the requests one [`HttpClient`](crate::HttpClient) has in flight: each attempt holds a
//! permit while it runs (not while it backs off), and waiting requests are served first come,
//! first served, so that no credential's token request waits behind another's retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) struct RequestLimit {
    permits: Semaphore,
    max: usize,
    waiting: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts a request as waiting for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RequestLimit {
    pub(crate) fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Semaphore::new(max),
            max,
            waiting: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// A permit, waiting at most `within` for it (`None` when the wait ran out).
    pub(crate) async fn acquire(&self, within: Duration) -> Option<SemaphorePermit<'_>> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        let permit = tokio::time::timeout(within, self.permits.acquire())
            .await
            .ok()?
            .ok()?;
        drop(waiting);
        self.peak.fetch_max(self.in_flight(), Ordering::Relaxed);
        Some(permit)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}
