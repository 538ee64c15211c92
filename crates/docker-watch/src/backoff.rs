//! Reconnection delays: doubling from a base up to a cap, so that a daemon restart is noticed
//! within a second and a daemon that stays down costs one attempt per cap interval.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A zero base would turn the doubling into a busy loop, so it is raised to one millisecond;
    /// a cap below the base is raised to the base.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        let base = base.max(Duration::from_millis(1));
        let max = max.max(base);
        Backoff {
            base,
            max,
            next: base,
        }
    }

    /// The delay before the next attempt; each call doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// A session succeeded: the next failure waits the base delay again.
    pub fn reset(&mut self) {
        self.next = self.base;
    }
}
