//! Bridges the agent makes (BRIDGE items) as the kernel treats them: a port joins and leaves
//! without being taken down (unlike a VRF's), a bridge deleted releases its ports, and its
//! settings change in place (`configure.rs`). Before the agent deletes a bridge, the items
//! whose links are its ports let go of them first — each removes or gives back its link, its
//! master being no longer there for it — so that what is left on the bridge at the moment it
//! goes is only what someone else put there.
//!
//! Driving: `remove_link` asks [`Core::ports_to_release`] before deleting a bridge; the effects
//! of a command call [`Core::ports_changed`] when a link joins or leaves its master, [`Core::master_cycles`] to know whether the kernel took the link down and up on the
//! way, and [`Core::bridge_gone`] when a bridge link is gone.

use crate::model::Item;
use crate::netns::Netns;

use super::state::{Actual, LinkActual, LinkRole};
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
        let ports: Vec<_> = self
            .members_of(&a.ns, &a.name)
            .into_iter()
            .filter(|&p| !self.slot(p).blocked)
            .collect();
        for &p in &ports {
            self.mark_dirty(p);
        }
        !ports.is_empty()
    }

    /// A link in `ns` joined or left its master `master` (enslaved, released, moved elsewhere,
    /// or gone): a bridge waiting for its ports to go ([`Core::ports_to_release`]) looks again.
    /// A bridge whose MAC its item does not set takes its ports' lowest, and the kernel flushes
    /// the neighbour entries of a link whose address it changes, the permanent ones too
    /// (verified): those of the bridge are forgotten, to be set again.
    pub(super) fn ports_changed(&mut self, ns: &Netns, master: &str) {
        let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), master.to_string())) else {
            return;
        };
        self.mark_dirty(owner);
        let is_bridge = matches!(&self.slot(owner).actual,
            Actual::Link(l) if matches!(l.role, LinkRole::Bridge(_)));
        let mac_follows = !matches!(self.slot(owner).desired.as_deref(),
            Some(Item::Interface(i)) if i.phys_address.is_some());
        if is_bridge && mac_follows {
            self.forget_neighbours_on(ns, master);
        }
    }

    /// Whether the kernel takes a link down and up again when its master changes from `old` to
    /// `new` in `ns`: a VRF does, on gaining a port and on losing one; a bridge does not. A
    /// master the core knows nothing of is taken to be a VRF, since believing too little is
    /// what resync and the next reconcile repair.
    pub(super) fn master_cycles(&self, ns: &Netns, old: Option<&str>, new: Option<&str>) -> bool {
        let is_bridge = |name: &str| {
            self.ix
                .link_owner
                .get(&(ns.clone(), name.to_string()))
                .is_some_and(|&o| {
                    matches!(&self.slot(o).actual,
                        Actual::Link(l) if matches!(l.role, LinkRole::Bridge(_)))
                })
        };
        old.into_iter().chain(new).any(|m| !is_bridge(m))
    }

    /// The bridge link `name` in `ns` is gone, and the kernel released its ports on the way,
    /// leaving each as it was otherwise: what the core believed enslaved to it is not any more.
    pub(super) fn bridge_gone(&mut self, ns: &Netns, name: &str) {
        for id in self.members_of(ns, name) {
            self.update_link(id, true, |l| l.master = None);
        }
    }
}
