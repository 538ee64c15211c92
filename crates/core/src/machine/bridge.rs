//! Bridges the agent makes (BRIDGE items) as the kernel treats them: a port joins and leaves
//! without being taken down (unlike a VRF's), a bridge deleted releases its ports, and its
//! settings change in place (`configure.rs`). Before the agent deletes a bridge, the items
//! whose links are its ports let go of them first — each removes or gives back its link, its
//! master being no longer there for it — so that what is left on the bridge at the moment it
//! goes is only what someone else put there.
//!
//! Driving: `remove_link` asks [`Core::ports_to_release`] before deleting a bridge, and
//! `l3.rs` waits while [`Core::releasing_ports`]; the effects of a command call
//! [`Core::ports_changed`] when a link joins or leaves its master, [`Core::master_cycles`] to
//! know whether the kernel took the link down and up on the way, and [`Core::bridge_gone`]
//! when a bridge link is gone; a route's or neighbour's result calls
//! [`Core::wake_releasing_bridge`].

use crate::model::ItemKey;
use crate::netns::Netns;
use crate::observed::LinkKind;

use super::dirty::Resource;
use super::index::ids_in;
use super::state::{Actual, ItemId, LinkActual, LinkRole};
use super::Core;

impl Core {
    /// Whether the bridge link `a` still has ports held by items that can let go of them now:
    /// they are looked at again (their master is not there for them any more), and the bridge
    /// waits. An item that cannot act (blocked by a terminal error) does not hold it back: the
    /// kernel releases that port with the bridge.
    pub(super) fn ports_to_release(&mut self, a: &LinkActual) -> bool {
        if !matches!(a.role, LinkRole::Bridge(_)) {
            return false;
        }
        let ports = self.releasable_ports(a);
        for &p in &ports {
            self.mark_dirty(p);
        }
        // What routes and neighbours on it did meanwhile (they wait while ports are released,
        // `l3.rs`, but may have been on their way before) is done before the bridge goes.
        let on_it = ids_in(self.ix.on_link.get(&(a.ns.clone(), a.name.clone())));
        !ports.is_empty() || on_it.iter().any(|&r| self.slot(r).in_flight.is_some())
    }

    /// The ports of the bridge link `a` held by items that can act (not blocked).
    fn releasable_ports(&self, a: &LinkActual) -> Vec<ItemId> {
        self.members_of(&a.ns, &a.name)
            .into_iter()
            .filter(|&p| !self.slot(p).blocked)
            .collect()
    }

    /// Whether the interface `name`'s link is a bridge waiting for its ports to be let go
    /// before it is removed: what is on it waits too, or it would race the removal.
    pub(super) fn releasing_ports(&self, name: &str) -> bool {
        let Some((_, slot)) = self.interface_slot(name) else {
            return false;
        };
        match &slot.actual {
            Actual::Link(a) if matches!(a.role, LinkRole::Bridge(_)) && !slot.link_ok => {
                !self.releasable_ports(a).is_empty()
            }
            _ => false,
        }
    }

    /// A command of item `id` has its result: if it is a route or neighbour on a bridge that
    /// waits to be removed ([`Core::ports_to_release`]), the bridge looks again.
    pub(super) fn wake_releasing_bridge(&mut self, id: ItemId) {
        let key = &self.slot(id).key;
        if matches!(key, ItemKey::Interface(_) | ItemKey::RuleChain(_)) {
            return;
        }
        if let Some((bridge, slot)) = self.interface_slot(key.interface()) {
            if !slot.link_ok
                && matches!(&slot.actual, Actual::Link(a) if matches!(a.role, LinkRole::Bridge(_)))
            {
                self.mark_dirty(bridge);
            }
        }
    }

    /// A link in `ns` joined or left its master `master` (enslaved, released, moved elsewhere,
    /// or gone): a bridge waiting for its ports to go ([`Core::ports_to_release`]) looks again.
    /// (A bridge the agent makes always has a MAC set, its item's or
    /// [`crate::AgentIdentity::stable_mac`], so the kernel never changes it as ports come and
    /// go, and never flushes the neighbours on it for that.)
    pub(super) fn ports_changed(&mut self, ns: &Netns, master: &str) {
        if let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), master.to_string())) {
            self.mark_dirty(owner);
        }
    }

    /// Whether the kernel takes a link down and up again when its master changes from `old` to
    /// `new` in `ns`: a VRF does, on gaining a port and on losing one; a bridge does not. A
    /// master the core knows nothing of is taken to be a VRF, since believing too little is
    /// what resync and the next reconcile repair.
    pub(super) fn master_cycles(&self, ns: &Netns, old: Option<&str>, new: Option<&str>) -> bool {
        old.into_iter().chain(new).any(|m| !self.is_bridge(ns, m))
    }

    /// Whether the link `name` in `ns` is known to be a bridge: an item's, or a stale one as
    /// resync saw it (after a restart that lost the state, a bridge whose item is elsewhere
    /// now is stale while its ports are still on it).
    pub(super) fn is_bridge(&self, ns: &Netns, name: &str) -> bool {
        let key = (ns.clone(), name.to_string());
        if let Some(&o) = self.ix.link_owner.get(&key) {
            return matches!(&self.slot(o).actual,
                Actual::Link(l) if matches!(l.role, LinkRole::Bridge(_)));
        }
        self.s
            .stale
            .removals_of(&Resource::LinkName(key.0, key.1))
            .into_iter()
            .filter_map(|o| self.s.stale.get(o))
            .any(|obj| matches!(&obj.found, Some((_, l)) if l.kind == LinkKind::Bridge))
    }

    /// The bridge link `name` in `ns` is gone, and the kernel released its ports on the way,
    /// leaving each as it was otherwise: what the core believed enslaved to it is not any more.
    pub(super) fn bridge_gone(&mut self, ns: &Netns, name: &str) {
        for id in self.members_of(ns, name) {
            self.update_link(id, true, |l| l.master = None);
        }
    }
}
