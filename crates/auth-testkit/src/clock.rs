//! [`ManualClock`]: time that moves only when a test says so.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use super::lock;
use auth_core::clock::{Clock, Sleep};

/// A clock that moves only on [`advance`](Self::advance) (or, made with
/// [`auto_advance`](Self::auto_advance), by exactly each requested sleep).
///
/// ```
/// use std::time::Duration;
/// use auth_core::Clock;
/// use auth_testkit::ManualClock;
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now() - start, Duration::from_secs(90));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ClockState>>,
}

struct ClockState {
    now: Instant,
    wall: SystemTime,
    auto: bool,
    sleeps: Vec<Duration>,
    sleepers: Vec<Waker>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.inner);
        f.debug_struct("ManualClock")
            .field("auto", &s.auto)
            .field("sleeps", &s.sleeps)
            .finish_non_exhaustive()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock standing still at the real current time.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(ClockState {
                now: Instant::now(),
                wall: SystemTime::now(),
                auto: false,
                sleeps: Vec::new(),
                sleepers: Vec::new(),
            })),
        }
    }

    /// A clock standing still at wall-clock time `wall` (for snapshots of date arithmetic).
    #[must_use]
    pub fn starting_at(wall: SystemTime) -> Self {
        let clock = Self::new();
        lock(&clock.inner).wall = wall;
        clock
    }

    /// A clock whose sleeps complete at once, moving the clock forward by their length.
    #[must_use]
    pub fn auto_advance() -> Self {
        let clock = Self::new();
        lock(&clock.inner).auto = true;
        clock
    }

    /// Moves time forward and wakes the sleeps that are due.
    pub fn advance(&self, by: Duration) {
        let wakers = {
            let mut s = lock(&self.inner);
            s.now += by;
            s.wall += by;
            std::mem::take(&mut s.sleepers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Every sleep requested so far, in order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        lock(&self.inner).sleeps.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        lock(&self.inner).now
    }

    fn system_now(&self) -> SystemTime {
        lock(&self.inner).wall
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let deadline = {
            let mut s = lock(&self.inner);
            s.sleeps.push(duration);
            let at = auth_core::clock::later(s.now, duration);
            if s.auto {
                let moved = at - s.now;
                s.wall += moved;
                s.now = at;
            }
            at
        };
        Box::pin(ManualSleep {
            clock: self.clone(),
            deadline,
        })
    }
}

struct ManualSleep {
    clock: ManualClock,
    deadline: Instant,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.clock.inner);
        if s.now >= self.deadline {
            Poll::Ready(())
        } else {
            s.sleepers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}
