//! Telling the kernel watcher which namespaces to watch.

use std::time::{Duration, Instant};

use nsagent_core::{Core, Netns};

use super::Output;

/// Shortest time between two computations of the namespaces to watch.
const INTERVAL: Duration = Duration::from_millis(20);

/// What [`Output::Namespaces`] last said, and whether it may be out of date. Computing the set
/// walks every item, so it is not done per event: mark it stale whenever events were fed to the
/// core, let the loop wait no longer than [`NamespacesSent::wait`] allows, and call
/// [`NamespacesSent::publish`] after every turn. A burst costs one computation per interval and
/// one more when it ends.
pub(super) struct NamespacesSent {
    enabled: bool,
    sent: Option<Vec<Netns>>,
    /// Events were fed to the core since the last computation.
    stale: bool,
    checked: Instant,
}

impl NamespacesSent {
    pub(super) fn new(enabled: bool) -> NamespacesSent {
        NamespacesSent {
            enabled,
            sent: None,
            stale: true,
            checked: Instant::now(),
        }
    }

    pub(super) fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// `wait`, shortened so that a stale set is published when its interval is over.
    pub(super) fn wait(&self, wait: Duration) -> Duration {
        if self.enabled && self.stale {
            wait.min(INTERVAL.saturating_sub(self.checked.elapsed()))
        } else {
            wait
        }
    }

    /// Sends the namespaces `core` wants watched if they may have changed, the interval is over
    /// and they did change.
    pub(super) fn publish(
        &mut self,
        core: &Core,
        output: &tokio::sync::mpsc::UnboundedSender<Output>,
    ) {
        if !self.enabled || !self.stale || self.checked.elapsed() < INTERVAL {
            return;
        }
        self.stale = false;
        self.checked = Instant::now();
        let now = core.namespaces_to_observe();
        if self.sent.as_ref() != Some(&now) {
            self.sent = Some(now.clone());
            let _ = output.send(Output::Namespaces(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use nsagent_core::CoreConfig;

    use super::*;

    #[test]
    fn the_set_is_sent_when_stale_after_the_interval_and_only_when_it_changed() {
        let core = Core::new(CoreConfig::default());
        let (out, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut sent = NamespacesSent::new(true);
        assert!(sent.wait(Duration::from_secs(1)) <= INTERVAL);
        std::thread::sleep(INTERVAL);
        sent.publish(&core, &out);
        assert!(matches!(rx.try_recv(), Ok(Output::Namespaces(_))));
        assert_eq!(sent.wait(Duration::from_secs(1)), Duration::from_secs(1));

        sent.mark_stale();
        sent.publish(&core, &out);
        assert!(sent.stale, "within the interval nothing is computed");
        std::thread::sleep(INTERVAL);
        sent.publish(&core, &out);
        assert!(!sent.stale);
        assert!(rx.try_recv().is_err(), "the same set is not sent again");

        let mut off = NamespacesSent::new(false);
        std::thread::sleep(INTERVAL);
        off.publish(&core, &out);
        assert!(rx.try_recv().is_err());
        assert_eq!(off.wait(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
