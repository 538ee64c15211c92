//! The time handed to the core with each batch.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nsagent_core::Timestamp;

/// Milliseconds since the Unix epoch, never behind the last logged time and never going back,
/// because the core schedules retries by it and a replay must see times in order. Started
/// once from the log's last time; read once per turn, so every record of a batch carries the
/// same time.
pub(super) struct Clock {
    base: u64,
    started: Instant,
}

impl Clock {
    pub(super) fn start(last_logged: Timestamp) -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock {
            base: wall.max(last_logged.0),
            started: Instant::now(),
        }
    }

    pub(super) fn now(&self) -> Timestamp {
        Timestamp(self.base + self.started.elapsed().as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_from_the_future_holds_the_clock_back_from_going_back() {
        let ahead = Timestamp(u64::MAX / 2);
        let clock = Clock::start(ahead);
        let first = clock.now();
        assert!(first >= ahead);
        assert!(clock.now() >= first);
        let now = Clock::start(Timestamp(0)).now();
        assert!(now.0 > 1_600_000_000_000, "wall time in ms: {now:?}");
    }
}
