//! Injectable time: every expiry, window, backoff and negative-cache decision reads a [`Clock`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

/// The longest lifetime a token is given, whatever the server says: 20 years (7 300 days).
///
/// Servers send "never expires" as 630 720 000 s (exactly this), as a JWT `exp` of 2 147 483 647
/// (2038), or as values that do not fit in 64 bits; all are clamped here so that no arithmetic
/// overflows, and a stored record claiming more is held to it.
pub const MAX_LIFETIME: Duration = Duration::from_secs(7_300 * 24 * 60 * 60);

/// A boxed sleep future, as returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of time for a token cache and the HTTP retry loop.
///
/// The default, [`SystemClock`], reads the monotonic clock and sleeps on tokio's timer. Tests use
/// a manual clock so that expiry,
/// refresh windows and backoff are exercised without real waiting.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current monotonic time. Token expiry is kept as an [`Instant`].
    fn now(&self) -> Instant;

    /// The current wall-clock time, used only to turn absolute dates sent by a server
    /// (an `.expires` field, a JWT `exp`, a `Retry-After` date) into durations.
    fn system_now(&self) -> SystemTime;

    /// A future that completes after `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: tokio's [`Instant::now`](tokio::time::Instant::now), [`SystemTime::now`]
/// and [`tokio::time::sleep`].
///
/// Monotonic time is read through tokio, which is the standard library's clock unless tokio's
/// `test-util` is on and the runtime's time is paused: then expiry, windows, backoff and
/// deadlines follow the paused clock just as sleeps and timeouts do.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Converts an absolute wall-clock time into an [`Instant`] on `clock`, or `None` when the
/// result cannot be represented. A time in the past maps to `now` minus the difference.
#[must_use]
pub fn instant_from_system_time(clock: &dyn Clock, at: SystemTime) -> Option<Instant> {
    let (now, wall) = (clock.now(), clock.system_now());
    match at.duration_since(wall) {
        Ok(ahead) => now.checked_add(ahead),
        Err(behind) => now.checked_sub(behind.duration()),
    }
}

/// The inverse of [`instant_from_system_time`]: the wall-clock time of `at` on `clock`, or `None`
/// when it cannot be represented.
pub(crate) fn system_time_from_instant(clock: &dyn Clock, at: Instant) -> Option<SystemTime> {
    let (now, wall) = (clock.now(), clock.system_now());
    match at.checked_duration_since(now) {
        Some(ahead) => wall.checked_add(ahead),
        None => wall.checked_sub(now.duration_since(at)),
    }
}

/// `now + wait`, saturating: a wait too long for the platform's `Instant` ends [`MAX_LIFETIME`] from
/// now (or as far as the platform allows), never panics.
#[must_use]
pub fn later(now: Instant, wait: Duration) -> Instant {
    let mut wait = wait.min(MAX_LIFETIME);
    loop {
        if let Some(at) = now.checked_add(wait) {
            return at;
        }
        wait /= 2;
    }
}
