//! VRFs: VRF_DEVICE items (an L3 master link with a routing table of its own, created by the
//! agent) and the interfaces enslaved to one (`vrf_master_interface`). A member waits, with
//! nothing of it in the kernel, until its VRF item's link is there in the same namespace, as
//! vpp-agent's members depend on their VRF; its routes then go to the VRF's table. The kernel
//! takes a link down and up again when a VRF gains or loses it, and releases every member of a
//! VRF it deletes: the core's beliefs follow (effects.rs, [`Core::vrf_gone`]).
//!
//! Driving: `link_target` asks [`Core::vrf_master_of`] for a member's master (or its pending
//! reasons), `l3.rs` asks [`Core::route_table_of`] for the table of a route, and the effect of a
//! VRF link's removal calls [`Core::vrf_gone`].

use crate::command::Op;
use crate::model::{Interface, InterfaceType, Item, ItemKey};
use crate::netns::Netns;
use crate::status::PendingReason;

use super::index::ids_in;
use super::state::{Actual, ItemId, LinkRole};
use super::Core;

impl Core {
    /// The kernel name of the VRF link `iface` is to be enslaved to in `ns`: `Ok(None)` when it
    /// has no VRF, `Err` with the reason while its VRF is not there for it.
    pub(super) fn vrf_master_of(
        &self,
        iface: &Interface,
        ns: Option<&Netns>,
    ) -> Result<Option<String>, PendingReason> {
        let Some(vrf) = iface.vrf_master.as_deref() else {
            return Ok(None);
        };
        let Some((_, slot)) = self.interface_slot(vrf) else {
            return Err(PendingReason::InterfaceNotConfigured(vrf.to_string()));
        };
        let Some(Item::Interface(v)) = slot.desired.as_deref() else {
            return Err(PendingReason::InterfaceNotConfigured(vrf.to_string()));
        };
        if v.kind != InterfaceType::Vrf {
            return Err(PendingReason::NotAVrf(vrf.to_string()));
        }
        let vrf_ns = self.resolve(&v.namespace).ok();
        if ns.is_some() && vrf_ns.is_some() && vrf_ns.as_ref() != ns {
            return Err(PendingReason::VrfInAnotherNamespace(vrf.to_string()));
        }
        if vrf_ns.is_none() || ns.is_none() {
            // Its link, if there is one, is not where the VRF is wanted: on its way out.
            return Err(PendingReason::InterfaceNotReady(vrf.to_string()));
        }
        // Read from the belief itself, not from whether the VRF item was last found to fit:
        // after a resync adopts both, the member may be reconciled before its VRF is. A
        // command of the VRF's in flight (taking it up again after a hand change) leaves it
        // there: were the member to wait, it would be removed meanwhile.
        match &slot.actual {
            Actual::Link(a)
                if matches!(a.role, LinkRole::Vrf { table } if Some(table) == v.vrf_table)
                    && Some(&a.ns) == ns =>
            {
                Ok(Some(a.name.clone()))
            }
            _ => Err(PendingReason::InterfaceNotReady(vrf.to_string())),
        }
    }

    /// Whether the VRF `iface` is to be enslaved to has a command in flight, or, for a veth,
    /// the VRF of its other end (which holds the pair back as well).
    pub(super) fn vrf_in_flight(&self, iface: &Interface) -> bool {
        let busy = |i: &Interface| {
            i.vrf_master
                .as_deref()
                .and_then(|v| self.interface_slot(v))
                .is_some_and(|(_, slot)| slot.in_flight.is_some())
        };
        let peer = iface
            .veth_peer
            .as_deref()
            .and_then(|p| self.interface_slot(p))
            .and_then(|(_, slot)| match slot.desired.as_deref() {
                Some(Item::Interface(p)) => Some(p),
                _ => None,
            });
        busy(iface) || peer.is_some_and(busy)
    }

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
        for id in self.vrf_members(ns, name) {
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
        let owned_busy = self
            .ix
            .link_owner
            .get(&(ns.clone(), master.to_string()))
            .is_some_and(|&v| self.slot(v).in_flight.is_some());
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
        for id in self.vrf_members(ns, name) {
            self.mark_related_dirty(id);
        }
    }

    /// A command of the VRF item `id` has its result: the interfaces naming it, which waited for
    /// it with what is on them ([`Core::vrf_in_flight`]), get their turn.
    pub(super) fn wake_waiting_members(&mut self, id: ItemId) {
        let ItemKey::Interface(name) = &self.slot(id).key else {
            return;
        };
        let is_vrf = matches!(self.slot(id).desired.as_deref(),
            Some(Item::Interface(v)) if v.kind == InterfaceType::Vrf);
        if !is_vrf {
            return;
        }
        let members: Vec<ItemId> = ids_in(self.ix.referrers.get(name.as_str()))
            .into_iter()
            .filter(|&m| {
                matches!(self.slot(m).desired.as_deref(),
                    Some(Item::Interface(i)) if i.vrf_master.as_deref() == Some(name.as_str()))
            })
            .collect();
        for m in members {
            self.mark_related_dirty(m);
            // A veth's other end waited for this VRF too, with what is on it.
            let peer = match self.slot(m).desired.as_deref() {
                Some(Item::Interface(i)) => i.veth_peer.clone(),
                _ => None,
            };
            if let Some((pid, _)) = peer.as_deref().and_then(|p| self.interface_slot(p)) {
                self.mark_related_dirty(pid);
            }
        }
    }

    /// The items whose links the core believes enslaved to the VRF link `name` in `ns`.
    fn vrf_members(&self, ns: &Netns, name: &str) -> Vec<ItemId> {
        ids_in(self.ix.actual_in.get(ns))
            .into_iter()
            .filter(|&id| {
                matches!(&self.slot(id).actual, Actual::Link(a) if a.master.as_deref() == Some(name))
            })
            .collect()
    }
}
