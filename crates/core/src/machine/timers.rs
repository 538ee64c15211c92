//! Timers: when the core next wants `Event::TimerFired`, and for whom. The core has no clock:
//! the driver asks `poll_timeout` after each `handle` and feeds `TimerFired` once that time has
//! come, and `on_timer` serves every entry that is due. Retries are armed and cancelled only
//! here, so the backoff policy and the bookkeeping of a retry are written once. Each owner
//! (slot, named namespace, stale object) keeps the time of its entry (`retry_at`), which is both
//! what it reports and the handle that cancels the entry; both are part of a snapshot.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::command::Op;
use crate::event::Timestamp;
use crate::netns::NamespaceRef;

use super::state::{ItemId, NamedState, Owner, NO_SLOT};
use super::Core;

/// Who a timer entry is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum TimerKey {
    Item(ItemId),
    Namespace(String),
    /// Encoded under its old name, so that snapshots taken before the rename still load.
    #[serde(rename = "Orphan")]
    Stale(u64),
    /// The periodic full resync (`drift.rs`).
    Resync,
}

/// Pending timer entries, earliest first. Entries are never replaced: arming twice gives two
/// entries, and each fires (the second finding nothing to do), so a cancel must name the
/// entry's time. Encodes exactly as the ordered set of `(time, key)` it wraps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Timers(BTreeSet<(Timestamp, TimerKey)>);

impl Timers {
    /// Arms an entry for `key` at `at`, and records its time in the owner's `handle`.
    pub(super) fn arm(&mut self, handle: &mut Option<Timestamp>, at: Timestamp, key: TimerKey) {
        *handle = Some(at);
        self.0.insert((at, key));
    }

    /// Cancels the entry whose time the owner's `handle` holds, if any; says whether there was
    /// one.
    pub(super) fn cancel(&mut self, handle: &mut Option<Timestamp>, key: TimerKey) -> bool {
        match handle.take() {
            Some(at) => {
                self.0.remove(&(at, key));
                true
            }
            None => false,
        }
    }

    /// When the entry of `key` is due, if one is armed. Walks the whole set: for restores.
    pub(super) fn armed(&self, key: &TimerKey) -> Option<Timestamp> {
        self.0.iter().find(|(_, k)| k == key).map(|(t, _)| *t)
    }

    /// When the earliest entry is due.
    pub(super) fn next(&self) -> Option<Timestamp> {
        self.0.first().map(|(t, _)| *t)
    }

    /// Takes the earliest entry if it is due at `now`.
    fn pop_due(&mut self, now: Timestamp) -> Option<TimerKey> {
        if self.0.first().is_some_and(|(at, _)| *at <= now) {
            return self.0.pop_first().map(|(_, key)| key);
        }
        None
    }
}

/// Milliseconds to wait after the `attempts`-th failure: `base` doubled per further failure,
/// capped at `max`.
fn backoff(base: u64, max: u64, attempts: u32) -> u64 {
    let shift = attempts.saturating_sub(1).min(32);
    base.saturating_mul(1u64 << shift).min(max)
}

impl Core {
    /// When to retry after the `attempts`-th failure in a row, by the configured backoff: the
    /// same policy for items, named namespaces and stale objects.
    pub(super) fn retry_time(&self, attempts: u32) -> Timestamp {
        let c = &self.s.config;
        self.s
            .now
            .plus_millis(backoff(c.retry_base_ms, c.retry_max_ms, attempts))
    }

    /// Arms the retry of an item at `at`.
    pub(super) fn arm_item_retry(&mut self, id: ItemId, at: Timestamp) {
        let slot = self.s.slots[id.0 as usize].as_mut().expect(NO_SLOT);
        self.s
            .timers
            .arm(&mut slot.retry_at, at, TimerKey::Item(id));
    }

    /// Cancels an item's pending retry; says whether it had one.
    pub(super) fn cancel_item_retry(&mut self, id: ItemId) -> bool {
        let slot = self.s.slots[id.0 as usize].as_mut().expect(NO_SLOT);
        self.s.timers.cancel(&mut slot.retry_at, TimerKey::Item(id))
    }

    /// Serves every timer entry that is due.
    pub(super) fn on_timer(&mut self) {
        while let Some(key) = self.s.timers.pop_due(self.s.now) {
            match key {
                TimerKey::Item(id) => {
                    if self.live(id) {
                        self.slot_mut(id).retry_at = None;
                        self.mark_dirty(id);
                    }
                }
                TimerKey::Namespace(n) => self.retry_namespace(n),
                TimerKey::Stale(o) => {
                    if let Some(obj) = self.s.stale.get_mut(o) {
                        obj.retry_at = None;
                        self.s.stale.requeue(o);
                    }
                }
                TimerKey::Resync => self.on_periodic_resync(),
            }
        }
    }

    /// A named namespace whose creation failed is created again if items still want it.
    fn retry_namespace(&mut self, n: String) {
        if let Some(NamedState::Failed { attempts, .. }) = self.s.named.get(&n) {
            let attempts = *attempts;
            if self
                .ix
                .ns_members
                .contains_key(&NamespaceRef::Named(n.clone()))
            {
                self.s
                    .named
                    .insert(n.clone(), NamedState::Creating { attempts });
                self.issue(Op::CreateNamespace { name: n.clone() }, Owner::Namespace(n));
            } else {
                self.s.named.insert(n, NamedState::Absent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(100, 30_000, 1), 100);
        assert_eq!(backoff(100, 30_000, 2), 200);
        assert_eq!(backoff(100, 30_000, 4), 800);
        assert_eq!(backoff(100, 30_000, 20), 30_000);
        assert_eq!(backoff(100, 30_000, u32::MAX), 30_000);
    }

    #[test]
    fn entries_fire_in_time_order_and_only_when_due() {
        let mut timers = Timers::default();
        let (mut a, mut b) = (None, None);
        timers.arm(&mut a, t(20), TimerKey::Item(ItemId(1)));
        timers.arm(&mut b, t(10), TimerKey::Stale(7));
        assert_eq!(timers.next(), Some(t(10)));
        assert_eq!(timers.pop_due(t(5)), None);
        assert_eq!(timers.pop_due(t(20)), Some(TimerKey::Stale(7)));
        assert_eq!(timers.pop_due(t(20)), Some(TimerKey::Item(ItemId(1))));
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn cancel_removes_the_entry_its_handle_names_and_clears_the_handle() {
        let mut timers = Timers::default();
        let mut handle = None;
        timers.arm(&mut handle, t(10), TimerKey::Namespace("n".into()));
        assert_eq!(handle, Some(t(10)));
        assert!(timers.cancel(&mut handle, TimerKey::Namespace("n".into())));
        assert_eq!(handle, None);
        assert_eq!(timers.next(), None);
        assert!(!timers.cancel(&mut handle, TimerKey::Namespace("n".into())));
    }

    #[test]
    fn encodes_as_the_bare_set() {
        let mut timers = Timers::default();
        let mut handle = None;
        timers.arm(&mut handle, t(10), TimerKey::Item(ItemId(3)));
        let bare: BTreeSet<(Timestamp, TimerKey)> = [(t(10), TimerKey::Item(ItemId(3)))].into();
        assert_eq!(
            serde_json::to_string(&timers).unwrap(),
            serde_json::to_string(&bare).unwrap()
        );
    }
}
