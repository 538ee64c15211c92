//! VRFs: VRF_DEVICE items (an L3 master link with a routing table of its own, created by the
//! agent) and the interfaces enslaved to one (`vrf_master_interface`). A member waits, with
//! nothing of it in the kernel, until its VRF item's link is there in the same namespace, as
//! vpp-agent's members depend on their VRF; its routes then go to the VRF's table. The kernel
//! takes a link down and up again when a VRF gains or loses it, and releases every member of a
//! VRF it deletes: the core's beliefs follow (effects.rs, [`Core::vrf_gone`]).
//!
//! What any master does to its members (waiting for it, its commands in flight) is in
//! `master.rs`; what only a VRF does is here.
//!
//! Driving: `l3.rs` asks [`Core::route_table_of`] for the table of a route and waits while
//! [`Core::vrf_busy`], and the effect of a VRF link's removal calls [`Core::vrf_gone`].

use crate::command::Op;
use crate::model::Item;
use crate::netns::Netns;

use super::state::{Actual, LinkRole};
use super::Core;

impl Core {
    /// The routing table of routes through interface `name`: its VRF's, if it has one (`None`:
    /// the main table).
    pub(super) fn route_table_of(&self, name: &str) -> Option<u32> {
        let iface = self.interface_slot(name)?.1.desired.as_deref()?;
        let Item::Interface(i) = iface else {
            return None;
        };
        let vrf = self
            .interface_slot(i.vrf_master.as_deref()?)?
            .1
            .desired
            .as_deref()?;
        match vrf {
            Item::Interface(v) => v.vrf_table,
            _ => None,
        }
    }

    /// The VRF link `name` in `ns` is gone, and the kernel released its members on the way,
    /// cycling each: what the core believed enslaved to it is not any more.
    pub(super) fn vrf_gone(&mut self, ns: &Netns, name: &str) {
        for id in self.members_of(ns, name) {
            let Actual::Link(a) = &self.slot(id).actual else {
                continue;
            };
            let link = a.name.clone();
            self.forget_cycled(id, ns, &link);
        }
    }

    /// Whether the VRF link `master` in `ns` (if any) has a command of its item's in flight,
    /// or is a stale link whose removal is.
    pub(super) fn vrf_busy(&self, ns: &Netns, master: Option<&str>) -> bool {
        let Some(master) = master else {
            return false;
        };
        // A bridge's commands do nothing to what is on its ports (`bridge.rs`).
        let owned_busy = self
            .ix
            .link_owner
            .get(&(ns.clone(), master.to_string()))
            .is_some_and(|&v| {
                let slot = self.slot(v);
                slot.in_flight.is_some()
                    && !matches!(&slot.actual, Actual::Link(l) if matches!(l.role, LinkRole::Bridge(_)))
            });
        owned_busy
            || self.s.stale.on_link(ns, master).into_iter().any(|o| {
                self.s.stale.get(o).is_some_and(|obj| {
                    obj.in_flight.is_some() && matches!(obj.op, Op::DeleteLink { .. })
                })
            })
    }

    /// A command of the VRF link `name` in `ns` has its result: the routes and neighbours of
    /// its members, which waited for it ([`Core::vrf_busy`]), get their turn.
    pub(super) fn wake_vrf_members(&mut self, ns: &Netns, name: &str) {
        for id in self.members_of(ns, name) {
            self.mark_related_dirty(id);
        }
    }
}
