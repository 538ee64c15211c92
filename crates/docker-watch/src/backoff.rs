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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(
            delays,
            vec![100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
    }

    #[test]
    fn reset_returns_to_the_base_delay() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        b.next_delay();
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay(), 100 * MS);
    }

    #[test]
    fn zero_base_is_raised_to_one_millisecond() {
        let mut b = Backoff::new(Duration::ZERO, 4 * MS);
        assert_eq!(
            [
                b.next_delay(),
                b.next_delay(),
                b.next_delay(),
                b.next_delay()
            ],
            [MS, 2 * MS, 4 * MS, 4 * MS]
        );
    }

    #[test]
    fn cap_below_base_is_raised_to_the_base() {
        let mut b = Backoff::new(50 * MS, 10 * MS);
        assert_eq!([b.next_delay(), b.next_delay()], [50 * MS, 50 * MS]);
    }
}
