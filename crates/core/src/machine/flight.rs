//! Commands in flight: issuing, and what their results mean. Every command goes through `issue`,
//! which records who waits for it and reserves the link names and route it takes, and every
//! result comes back through `on_result`, which releases them — so a reservation never outlives
//! its command. Failed commands are retried after a backoff (`timers.rs`), the same policy
//! for items, namespaces and stale objects.

use crate::backend::{errno, BackendError, ErrorKind};
use crate::command::{Command, CommandId, NewLink, Op};
use crate::netns::{NamespaceRef, Netns};
use crate::status::ItemState;

use super::dirty::{route_slot, Resource};
use super::state::{Actual, InFlight, ItemId, LinkActual, LinkRole, NamedState, Owner};
use super::timers::TimerKey;
use super::Core;

/// The link names a command gives to links: the new link (and its veth peer), or the new name.
fn link_names_taken(op: &Op) -> Vec<(Netns, String)> {
    match op {
        Op::CreateLink { ns, link, kind } => {
            let mut v = vec![(ns.clone(), link.name.clone())];
            if let NewLink::Veth { peer_ns, peer } = kind {
                v.push((peer_ns.clone(), peer.name.clone()));
            }
            v
        }
        Op::RenameLink { ns, new_name, .. } => vec![(ns.clone(), new_name.clone())],
        Op::MoveLink { to, new_name, .. } => vec![(to.clone(), new_name.clone())],
        _ => vec![],
    }
}

impl Core {
    pub(super) fn on_restarted(&mut self) {
        let forgotten = std::mem::take(&mut self.s.in_flight);
        self.ix.route_adding.clear();
        self.ix.link_naming.clear();
        self.ix.in_flight_ns.clear();
        self.s.outbox.clear();
        for (_, f) in forgotten {
            match f.owner {
                Owner::Item { id, peer } => {
                    for id in std::iter::once(id).chain(peer) {
                        if self.live(id) {
                            self.slot_mut(id).in_flight = None;
                            self.mark_dirty(id);
                        }
                    }
                }
                Owner::Namespace(n) => {
                    self.s.named.insert(n.clone(), NamedState::Absent);
                    self.mark_members_dirty(&NamespaceRef::Named(n));
                }
                Owner::Stale(_) => {}
            }
        }
        // Stale objects are found again by the resync that follows.
        for (o, obj) in self.s.stale.clear() {
            let mut handle = obj.retry_at;
            self.s.timers.cancel(&mut handle, TimerKey::Stale(o));
        }
        self.s.awaiting_resync = true;
    }

    pub(super) fn issue(&mut self, op: Op, owner: Owner) {
        let id = CommandId(self.s.next_command);
        self.s.next_command += 1;
        let generations = self.generations_of(&op);
        if let Owner::Item { id: item, peer } = &owner {
            self.slot_mut(*item).in_flight = Some(id);
            if let Some(p) = peer {
                self.slot_mut(*p).in_flight = Some(id);
            }
        }
        self.reserve(&op, &owner);
        self.count_in_flight(&op, true);
        self.s.in_flight.insert(
            id,
            InFlight {
                op: op.clone(),
                owner,
                generations,
            },
        );
        self.s.outbox.push_back(Command { id, op });
    }

    pub(super) fn count_in_flight(&mut self, op: &Op, up: bool) {
        for ns in std::iter::once(op.namespace()).chain(op.peer_namespace().cloned()) {
            if up {
                *self.ix.in_flight_ns.entry(ns).or_insert(0) += 1;
            } else if let Some(n) = self.ix.in_flight_ns.get_mut(&ns) {
                *n -= 1;
                if *n == 0 {
                    self.ix.in_flight_ns.remove(&ns);
                    // A named namespace waits for the commands aimed at its previous
                    // incarnation before it is made again.
                    if let Netns::Named(name) = &ns {
                        if self.s.named.get(name) == Some(&NamedState::Absent) {
                            self.mark_members_dirty(&NamespaceRef::Named(name.clone()));
                        }
                    }
                }
            }
        }
    }

    pub(super) fn reserve(&mut self, op: &Op, owner: &Owner) {
        if let (Op::AddRoute { ns, route }, Owner::Item { id, .. }) = (op, owner) {
            self.ix.route_adding.insert(route_slot(ns, route), *id);
        }
        if let Owner::Item { id, peer } = owner {
            for (i, name) in link_names_taken(op).into_iter().enumerate() {
                let by = if i == 0 { *id } else { peer.unwrap_or(*id) };
                self.ix.link_naming.insert(name, by);
            }
        }
    }

    /// The route an item was adding is added, or not: the slot is free for others to look at.
    fn release(&mut self, op: &Op) {
        if let Op::AddRoute { ns, route } = op {
            if self
                .ix
                .route_adding
                .remove(&route_slot(ns, route))
                .is_some()
            {
                self.wake_waiters(&Resource::route(ns, route));
            }
        }
        for name in link_names_taken(op) {
            if self.ix.link_naming.remove(&name).is_some() {
                self.wake_waiters(&Resource::LinkName(name.0, name.1));
            }
        }
    }

    pub(super) fn on_result(&mut self, cid: CommandId, result: Result<(), BackendError>) {
        // A result for a command the core no longer waits for (answered twice, or issued
        // before a restart) changes nothing.
        let Some(flight) = self.s.in_flight.remove(&cid) else {
            return;
        };
        let outdated = self.generations_of(&flight.op) != flight.generations;
        self.count_in_flight(&flight.op, false);
        match &flight.owner {
            Owner::Namespace(n) => {
                let n = n.clone();
                return self.on_namespace_result(&n, &flight.op, result, outdated);
            }
            Owner::Stale(o) => return self.on_stale_result(*o, &flight, result, outdated),
            Owner::Item { .. } => self.release(&flight.op),
        }
        let ids: Vec<ItemId> = match &flight.owner {
            Owner::Item { id, peer } => std::iter::once(*id)
                .chain(*peer)
                .filter(|i| self.live(*i))
                .collect(),
            _ => vec![],
        };
        for id in &ids {
            if self.slot(*id).in_flight == Some(cid) {
                self.slot_mut(*id).in_flight = None;
            }
            self.mark_dirty(*id);
            // Whoever waited for this command (the veth partner, routes and neighbours on this
            // link or the partner's) gets its turn; whoever is applied did not wait.
            self.mark_waiting_related_dirty(*id);
            if let Actual::Link(LinkActual {
                peer_link: Some(peer),
                ..
            }) = &self.slot(*id).actual
            {
                if let Some(&pid) = self.ix.link_owner.get(peer) {
                    self.mark_waiting_related_dirty(pid);
                }
            }
            if let Actual::Link(
                a @ LinkActual {
                    role: LinkRole::Vrf { .. },
                    ..
                },
            ) = &self.slot(*id).actual
            {
                let (ns, name) = (a.ns.clone(), a.name.clone());
                self.wake_vrf_members(&ns, &name);
            }
            self.wake_waiting_members(*id);
            self.wake_stacked(*id);
            self.wake_parent(*id);
            self.wake_releasing_bridge(*id);
        }
        let result = match result {
            Err(e) if self.failure_means_done(&flight.op, &e) => Ok(()),
            other => other,
        };
        match result {
            Ok(()) => {
                for id in &ids {
                    let slot = self.slot_mut(*id);
                    slot.attempts = 0;
                }
                if !outdated {
                    self.apply_effect(&flight.op, &flight.owner);
                } else if let (Op::MoveLink { .. }, Some(&id)) = (&flight.op, ids.first()) {
                    // A TAP moved into a namespace that vanished since went with it: it is
                    // not at home any more.
                    self.forget_kernel_objects(id);
                }
            }
            Err(error) => self.on_failure(&flight, &ids, error, outdated),
        }
    }

    /// Errors that say the command's goal already holds.
    pub(super) fn failure_means_done(&self, op: &Op, e: &BackendError) -> bool {
        match op {
            Op::DeleteLink { .. } => e.kind == ErrorKind::NoSuchDevice,
            // The kernel answers EADDRNOTAVAIL when the address is not on the link.
            Op::DelAddress { .. } => {
                matches!(e.kind, ErrorKind::NoSuchDevice | ErrorKind::NotFound)
                    || e.errno == Some(errno::EADDRNOTAVAIL)
            }
            Op::DelRoute { .. } | Op::DelNeighbour { .. } | Op::DelFdb { .. } => {
                matches!(e.kind, ErrorKind::NoSuchDevice | ErrorKind::NotFound)
            }
            Op::DelRule { .. } => e.kind == ErrorKind::NotFound,
            Op::AddAddress { .. } | Op::CreateNamespace { .. } => {
                e.kind == ErrorKind::AlreadyExists
            }
            _ => false,
        }
    }

    fn on_failure(
        &mut self,
        flight: &InFlight,
        ids: &[ItemId],
        error: BackendError,
        outdated: bool,
    ) {
        if error.kind == ErrorKind::NamespaceGone && self.namespace_gone(flight, &error, outdated) {
            return;
        }
        if outdated && error.kind != ErrorKind::NamespaceGone {
            // The namespace vanished after the command was issued: the failure is explained.
            return;
        }
        // A rename, or a TAP's move within its namespace (which is one), refused while the link
        // is up: this kernel is older than 6.2.
        let rename = match &flight.op {
            Op::RenameLink { .. } => true,
            Op::MoveLink { ns, to, .. } => ns == to,
            _ => false,
        };
        if rename && error.errno == Some(errno::EBUSY) {
            if let Some(&id) = ids.first() {
                self.slot_mut(id).rename_when_down = true;
            }
        }
        if error.kind == ErrorKind::NoSuchDevice {
            // The link went away behind the agent's back: forget it so that it is re-created.
            if let Some(link_item) = self.link_item_of(&flight.op, ids) {
                self.forget_kernel_objects(link_item);
            }
        }
        if let Op::SetChain { ns, chain } = &flight.op {
            if self.chain_write_failed(ids, ns, chain, &error) {
                return;
            }
        }
        if let (Op::AddRule { ns, .. }, ErrorKind::AlreadyExists) = (&flight.op, error.kind) {
            // A rule with the agent's protocol at the item's place the core did not know of
            // (left before a restart that lost its state, seen while the item's namespace was
            // not yet known as this one): a look lets resync take it for the item's.
            self.resync.wanted.insert(ns.clone());
        }
        // Only items' commands come here: namespaces' and stale objects' results have their
        // own handling in `on_result`.
        let text = error.to_string();
        for &id in ids {
            self.record_failure(id, &text, &error);
        }
    }

    /// An item's command failed: count it, and retry after the backoff, or (a terminal error)
    /// not until the desired value changes.
    pub(super) fn record_failure(&mut self, id: ItemId, text: &str, error: &BackendError) {
        let slot = self.slot_mut(id);
        slot.attempts += 1;
        slot.last_error = Some(text.to_string());
        let attempts = slot.attempts;
        slot.retry_on_observe = error.kind == ErrorKind::AlreadyExists;
        if error.kind.is_retriable() {
            let at = self.retry_time(attempts);
            self.arm_item_retry(id, at);
            self.set_state(
                id,
                ItemState::Failed {
                    error: text.to_string(),
                    attempts,
                    retry_at: Some(at),
                },
            );
        } else {
            slot.blocked = true;
            self.set_state(
                id,
                ItemState::Failed {
                    error: text.to_string(),
                    attempts,
                    retry_at: None,
                },
            );
        }
    }

    /// A command failed because a namespace is gone: that namespace vanished (unless the
    /// result is outdated). Says whether the failure is thereby explained, so that its items
    /// wait for the namespace instead of backing off.
    fn namespace_gone(&mut self, flight: &InFlight, error: &BackendError, outdated: bool) -> bool {
        // Which namespace: the backend says; a command in one namespace tells by itself. A
        // veth spans two, and guessing would wipe what the core knows of a healthy one, so
        // an unnamed one is left for the watcher to report.
        let gone: Vec<Netns> = match (&error.namespace, &flight.op) {
            (Some(ns), _) => vec![ns.clone()],
            (
                None,
                Op::CreateLink {
                    kind: NewLink::Veth { .. },
                    ..
                },
            ) => vec![],
            (None, op) => vec![op.namespace()],
        };
        if !outdated {
            for ns in &gone {
                self.on_namespace_vanished(ns);
            }
        }
        // A PID or task namespace that is gone makes its items pending until it is back.
        // Anything else (a named namespace, which is re-created; a backend that says the
        // agent's own namespace is gone) backs off like after any failure, lest the core
        // spin on a namespace it cannot enter.
        !gone.is_empty()
            && gone
                .iter()
                .all(|ns| matches!(ns, Netns::Pid(_) | Netns::Task { .. }))
    }

    /// The interface item whose link a command acts on.
    fn link_item_of(&self, op: &Op, ids: &[ItemId]) -> Option<ItemId> {
        let first = *ids.first()?;
        match op {
            Op::SetLink { .. }
            | Op::SetOffload { .. }
            | Op::RenameLink { .. }
            | Op::MoveLink { .. }
            | Op::AddAddress { .. }
            | Op::DelAddress { .. }
            | Op::DeleteLink { .. } => Some(first),
            Op::AddRoute { .. }
            | Op::ReplaceRoute { .. }
            | Op::SetNeighbour { .. }
            | Op::AddFdb { .. } => {
                let name = self.slot(first).key.interface().to_string();
                self.interface_slot(&name).map(|(id, _)| id)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{LinkSpec, NewLink};

    fn spec(name: &str) -> LinkSpec {
        LinkSpec {
            name: name.into(),
            mtu: None,
            mac: None,
            alias: None,
            up: true,
        }
    }

    #[test]
    fn creations_and_renames_take_link_names_and_nothing_else_does() {
        let ns = Netns::Named("a".into());
        let veth = Op::CreateLink {
            ns: ns.clone(),
            link: spec("v1"),
            kind: NewLink::Veth {
                peer_ns: Netns::Default,
                peer: spec("v2"),
            },
        };
        assert_eq!(
            link_names_taken(&veth),
            vec![
                (ns.clone(), "v1".to_string()),
                (Netns::Default, "v2".to_string())
            ]
        );
        let rename = Op::RenameLink {
            ns: ns.clone(),
            name: "v1".into(),
            new_name: "v3".into(),
        };
        assert_eq!(
            link_names_taken(&rename),
            vec![(ns.clone(), "v3".to_string())]
        );
        let delete = Op::DeleteLink {
            ns,
            name: "v1".into(),
        };
        assert!(link_names_taken(&delete).is_empty());
    }
}
