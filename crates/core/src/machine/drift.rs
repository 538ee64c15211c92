//! Drift: catching what was changed behind the agent's back. The kernel watcher's change
//! notifications make the driver observe a namespace again on its own; this file holds the two
//! ways the core itself asks for a resync — on demand ([`Event::ResyncRequested`]) and
//! periodically, as a safety net for the changes no notification tells of (lost notifications,
//! kinds of change the watcher filters out). A resync it asks for is only a wish: the driver
//! takes it with [`Core::poll_resync`], observes, and feeds the snapshot back as
//! [`Event::Observed`], whose handling (`resync.rs`) is the one place beliefs are corrected.
//!
//! The period is a core timer rather than a tick of the driver so that "when to look again" is
//! decided in one place, next to the retries, and shows in the log as the `TimerFired` that
//! served it. It is not part of the state a snapshot stores: it decides nothing but when to ask,
//! and whatever the answer was is in the log as `Observed`, so a replay under another interval
//! issues the same commands. That is also why the driver sets it after a restore
//! ([`Core::set_resync_interval`]) instead of it travelling in the snapshot's `CoreConfig`.
//!
//! Driving: call `set_resync_interval` once after building or restoring the core; after each
//! `handle`, drain `poll_resync` as well as `poll_command` (commands first: a snapshot taken
//! after them shows their effect).
//!
//! [`Event::ResyncRequested`]: crate::Event::ResyncRequested
//! [`Event::Observed`]: crate::Event::Observed

use std::collections::BTreeSet;

use crate::event::Timestamp;
use crate::netns::Netns;

use super::timers::TimerKey;
use super::Core;

/// Resyncs the core wants, and its periodic timer. Rebuilt empty on restore: the entry of an
/// armed timer is found again in the timer set.
#[derive(Debug, Clone, Default)]
pub(super) struct ResyncRequests {
    /// Milliseconds between full resyncs; `None`: no periodic resync.
    every: Option<u64>,
    /// When the armed periodic entry is due (the handle that names it in the timer set).
    at: Option<Timestamp>,
    /// Namespaces to observe, not yet taken by the driver.
    pub(super) wanted: BTreeSet<Netns>,
    /// Namespaces whose iptables tables to observe, not yet taken by the driver.
    pub(super) chains: BTreeSet<Netns>,
}

impl ResyncRequests {
    /// The requests of a core restored with `at` as its armed periodic entry, if any.
    pub(super) fn restored(at: Option<Timestamp>) -> ResyncRequests {
        ResyncRequests {
            at,
            ..ResyncRequests::default()
        }
    }
}

impl Core {
    /// Sets the period of the full resync (`None` or `Some(0)`: off). An entry already armed
    /// stays and fires once; the next one is armed with the new period.
    pub fn set_resync_interval(&mut self, every_ms: Option<u64>) {
        self.resync.every = every_ms.filter(|ms| *ms > 0);
        self.arm_periodic_resync();
    }

    /// Namespaces the core wants observed and fed back as [`crate::Event::Observed`], each
    /// once, or `None` when it wants none.
    pub fn poll_resync(&mut self) -> Option<Vec<Netns>> {
        if self.resync.wanted.is_empty() {
            return None;
        }
        Some(
            std::mem::take(&mut self.resync.wanted)
                .into_iter()
                .collect(),
        )
    }

    /// A request names a namespace, or all of them. One the core does not care about is not
    /// looked at: a snapshot of it would make the core believe in a namespace no item wants.
    pub(super) fn on_resync_requested(&mut self, ns: Option<Netns>) {
        let mine = self.namespaces_to_observe();
        match ns {
            None => self.resync.wanted.extend(mine),
            Some(ns) if mine.contains(&ns) => {
                self.resync.wanted.insert(ns);
            }
            Some(_) => {}
        }
    }

    /// The core needs to see `ns` before it can decide (a link to borrow): the driver is asked
    /// to observe it, as for a requested resync.
    pub(super) fn want_observed(&mut self, ns: Netns) {
        self.resync.wanted.insert(ns);
    }

    /// Arms the periodic entry if there is a period and none is armed; called after every
    /// event, so that the first event of a fresh core arms it from the first time it knows.
    pub(super) fn arm_periodic_resync(&mut self) {
        if let (Some(every), None) = (self.resync.every, self.resync.at) {
            let at = self.s.now.plus_millis(every);
            self.s.timers.arm(&mut self.resync.at, at, TimerKey::Resync);
        }
    }

    /// The periodic entry fired: every namespace is looked at again, and the next entry armed.
    pub(super) fn on_periodic_resync(&mut self) {
        self.resync.at = None;
        if self.resync.every.is_some() {
            let mine = self.namespaces_to_observe();
            self.resync.wanted.extend(mine);
            self.arm_periodic_resync();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Core, CoreConfig, Event, Netns, Timestamp};

    fn core() -> Core {
        let mut c = Core::new(CoreConfig::default());
        c.handle(Timestamp(0), Event::MicroserviceWatch { connected: true });
        c.handle(
            Timestamp(0),
            Event::NamespaceAvailable { ns: Netns::Pid(7) },
        );
        c
    }

    #[test]
    fn a_request_for_everything_wants_every_namespace_the_core_cares_about_once() {
        let mut c = core();
        assert_eq!(c.poll_resync(), None);
        c.handle(Timestamp(1), Event::ResyncRequested { ns: None });
        c.handle(Timestamp(2), Event::ResyncRequested { ns: None });
        assert_eq!(c.poll_resync(), Some(vec![Netns::Default, Netns::Pid(7)]));
        assert_eq!(c.poll_resync(), None, "taken once");
    }

    #[test]
    fn a_request_for_one_namespace_wants_it_only_if_the_core_cares_about_it() {
        let mut c = core();
        c.handle(
            Timestamp(1),
            Event::ResyncRequested {
                ns: Some(Netns::Pid(7)),
            },
        );
        assert_eq!(c.poll_resync(), Some(vec![Netns::Pid(7)]));
        c.handle(
            Timestamp(2),
            Event::ResyncRequested {
                ns: Some(Netns::Named("nobody".into())),
            },
        );
        assert_eq!(c.poll_resync(), None);
        assert!(c.poll_timeout().is_none(), "no period, no timer");
    }

    #[test]
    fn the_period_arms_a_timer_that_wants_everything_and_rearms() {
        let mut c = core();
        c.set_resync_interval(Some(60_000));
        assert_eq!(c.poll_timeout(), Some(Timestamp(60_000)));
        c.handle(Timestamp(59_999), Event::TimerFired);
        assert_eq!(c.poll_resync(), None, "not due yet");
        c.handle(Timestamp(60_000), Event::TimerFired);
        assert_eq!(c.poll_resync(), Some(vec![Netns::Default, Netns::Pid(7)]));
        assert_eq!(c.poll_timeout(), Some(Timestamp(120_000)));
    }

    #[test]
    fn the_armed_entry_survives_a_snapshot_and_turning_the_period_off_ends_it() {
        let mut c = core();
        c.set_resync_interval(Some(1_000));
        let bytes = serde_json::to_vec(&c).expect("encode");
        let mut restored: Core = serde_json::from_slice(&bytes).expect("decode");
        restored.set_resync_interval(Some(1_000));
        assert_eq!(
            restored.poll_timeout(),
            Some(Timestamp(1_000)),
            "not armed twice"
        );
        restored.set_resync_interval(None);
        restored.handle(Timestamp(1_000), Event::TimerFired);
        assert_eq!(
            restored.poll_resync(),
            None,
            "off: the last entry asks nothing"
        );
        assert_eq!(restored.poll_timeout(), None);
        // `0` is off too.
        restored.set_resync_interval(Some(0));
        assert_eq!(restored.poll_timeout(), None);
    }
}
