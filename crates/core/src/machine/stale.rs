//! Driving the removal of stale objects (managed objects a resync found and no item wants; see
//! `crate::orphan` for their bookkeeping). They are issued after the items had their turn, and
//! an item that wants what a stale object holds waits for its removal rather than race it.

use crate::backend::{BackendError, ErrorKind};
use crate::command::{CommandId, Op};
use crate::netns::Netns;
use crate::orphan::Resource;

use super::index::ids_in;
use super::state::{InFlight, ItemId, Owner};
use super::timers::TimerKey;
use super::Core;

impl Core {
    /// A stale object's removal is over: done, found pointless, or given up. `gone`: the object
    /// is not in the kernel any more, and neither is what went with it.
    pub(super) fn finish_orphan(&mut self, o: u64, gone: bool) {
        let Some(orphan) = self.s.orphans.remove(o) else {
            return;
        };
        let mut handle = orphan.retry_at;
        self.s.timers.cancel(&mut handle, TimerKey::Orphan(o));
        for res in orphan.resources() {
            self.wake_waiters(&res);
        }
        if let (true, Op::DeleteLink { ns, name }) = (gone, &orphan.op) {
            self.forget_link_dependents(ns, name);
            if let Some((pns, pname)) = &orphan.peer_link {
                self.forget_link_at(pns, pname);
            }
        }
        // Whatever waited on these links (routes parked behind the removal) gets its turn.
        let links = orphan.link().into_iter().chain(orphan.peer_link.clone());
        for (ns, name) in links {
            if let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), name.clone())) {
                self.mark_related_dirty(owner);
            }
            let on: Vec<ItemId> = ids_in(self.ix.on_link.get(&(ns, name)));
            for id in on {
                self.mark_dirty(id);
            }
        }
    }

    /// Whether a stale object's removal, pending or in flight, is about the object an item
    /// wants to make: the item waits for it rather than race it.
    pub(super) fn blocked_by_orphan(&mut self, res: Resource, id: ItemId) -> bool {
        let blocked = self.s.orphans.blocks(&res);
        if blocked {
            self.wait_for(res, id);
        }
        blocked
    }

    pub(super) fn queue_stale_removal(&mut self, op: Op, peer_link: Option<(Netns, String)>) {
        self.s.orphans.add(op, peer_link);
    }

    /// Issues the removals of stale objects that are due, after the items had their turn: a
    /// stale route or neighbour on a link with a command in flight waits for it, since that
    /// command may remove or flush it and removing it as well would race.
    pub(super) fn issue_due_orphans(&mut self) {
        if self.s.orphans.is_empty() || self.s.awaiting_resync {
            return;
        }
        for o in self.s.orphans.take_due() {
            let Some(orphan) = self.s.orphans.get(o) else {
                continue;
            };
            if orphan.in_flight.is_some() || orphan.retry_at.is_some() {
                continue;
            }
            let waits = match &orphan.op {
                Op::DelRoute { ns, route } => self.link_busy(ns, &route.dev),
                Op::DelNeighbour { ns, link, .. } => self.link_busy(ns, link),
                _ => false,
            };
            if waits {
                self.s.orphans.requeue(o);
                continue;
            }
            let op = orphan.op.clone();
            let cid = CommandId(self.s.next_command);
            if let Some(orphan) = self.s.orphans.get_mut(o) {
                orphan.in_flight = Some(cid);
            }
            self.issue(op, Owner::Orphan(o));
        }
    }

    pub(super) fn on_orphan_result(
        &mut self,
        o: u64,
        flight: &InFlight,
        result: Result<(), BackendError>,
        stale: bool,
    ) {
        let retry = match result {
            Ok(()) => None,
            // The namespace vanished meanwhile: the object went with it.
            Err(_) if stale => None,
            Err(e)
                if self.failure_means_done(&flight.op, &e)
                    || e.kind == ErrorKind::NamespaceGone =>
            {
                None
            }
            Err(e) => Some(e),
        };
        let Some(error) = retry else {
            return self.finish_orphan(o, true);
        };
        if !error.kind.is_retriable() {
            // Nothing more to try; the next resync will find it again.
            return self.finish_orphan(o, false);
        }
        let Some(attempts) = self.s.orphans.get(o).map(|orphan| orphan.attempts + 1) else {
            return;
        };
        let at = self.retry_time(attempts);
        if let Some(orphan) = self.s.orphans.get_mut(o) {
            orphan.in_flight = None;
            orphan.attempts = attempts;
            self.s
                .timers
                .arm(&mut orphan.retry_at, at, TimerKey::Orphan(o));
        }
    }
}
