//! Masters: the link a link is enslaved to, a VRF (`vrf_master_interface`, `vrf.rs`) or a
//! bridge (`bridge_master_interface`, `bridge.rs`). A member waits, with nothing of it in the
//! kernel, until its master item's link is there in the same namespace, as vpp-agent's
//! members depend on their master; while a command of its master's is in flight it waits for
//! the result rather than remove a link that is about to fit.
//!
//! Driving: `link_target` asks [`Core::master_of`] for a member's master (or its pending
//! reasons), `reconcile_interface` and `l3.rs` wait while [`Core::master_in_flight`], and the
//! result of a master's command calls [`Core::wake_waiting_members`].

use crate::model::{Interface, InterfaceType, Item, ItemKey};
use crate::netns::Netns;
use crate::status::PendingReason;

use super::index::ids_in;
use super::state::{Actual, ItemId, LinkRole};
use super::Core;

impl Core {
    /// The kernel name of the link `iface` is to be enslaved to in `ns`: `Ok(None)` when it
    /// has no master, `Err` with the reason while its master is not there for it.
    pub(super) fn master_of(
        &self,
        iface: &Interface,
        ns: Option<&Netns>,
    ) -> Result<Option<String>, PendingReason> {
        let (master, kind) = match (&iface.vrf_master, &iface.bridge_master) {
            (Some(v), _) => (v.as_str(), InterfaceType::Vrf),
            (None, Some(b)) => (b.as_str(), InterfaceType::Bridge),
            (None, None) => return Ok(None),
        };
        let not_configured = || PendingReason::InterfaceNotConfigured(master.to_string());
        let (_, slot) = self.interface_slot(master).ok_or_else(not_configured)?;
        let Some(Item::Interface(m)) = slot.desired.as_deref() else {
            return Err(not_configured());
        };
        if m.kind != kind {
            return Err(match kind {
                InterfaceType::Vrf => PendingReason::NotAVrf(master.to_string()),
                _ => PendingReason::NotABridge(master.to_string()),
            });
        }
        let master_ns = self.resolve(&m.namespace).ok();
        if ns.is_some() && master_ns.is_some() && master_ns.as_ref() != ns {
            return Err(match kind {
                InterfaceType::Vrf => PendingReason::VrfInAnotherNamespace(master.to_string()),
                _ => PendingReason::BridgeInAnotherNamespace(master.to_string()),
            });
        }
        if master_ns.is_none() || ns.is_none() {
            // Its link, if there is one, is not where the master is wanted: on its way out.
            return Err(PendingReason::InterfaceNotReady(master.to_string()));
        }
        // Read from the belief itself, not from whether the master item was last found to
        // fit: after a resync adopts both, the member may be reconciled before its master is.
        // A command of the master's in flight (taking it up again after a hand change) leaves
        // it there: were the member to wait, it would be removed meanwhile.
        let fits = |role: &LinkRole| match role {
            LinkRole::Vrf { table } => Some(*table) == m.vrf_table,
            LinkRole::Bridge(_) => kind == InterfaceType::Bridge,
            _ => false,
        };
        match &slot.actual {
            Actual::Link(a) if fits(&a.role) && Some(&a.ns) == ns => Ok(Some(a.name.clone())),
            _ => Err(PendingReason::InterfaceNotReady(master.to_string())),
        }
    }

    /// Whether the master `iface` is to be enslaved to has a command in flight, or, for a veth,
    /// the master of its other end (which holds the pair back as well).
    pub(super) fn master_in_flight(&self, iface: &Interface) -> bool {
        let busy = |i: &Interface| {
            i.master()
                .and_then(|m| self.interface_slot(m))
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

    /// A command of the item `id` has its result: if it is a master, the interfaces naming
    /// it, which waited for it with what is on them ([`Core::master_in_flight`]), get their
    /// turn.
    pub(super) fn wake_waiting_members(&mut self, id: ItemId) {
        let ItemKey::Interface(name) = &self.slot(id).key else {
            return;
        };
        let is_master = matches!(self.slot(id).desired.as_deref(),
            Some(Item::Interface(v)) if matches!(v.kind, InterfaceType::Vrf | InterfaceType::Bridge));
        if !is_master {
            return;
        }
        let members: Vec<ItemId> = ids_in(self.ix.referrers.get(name.as_str()))
            .into_iter()
            .filter(|&m| {
                matches!(self.slot(m).desired.as_deref(),
                    Some(Item::Interface(i)) if i.master() == Some(name.as_str()))
            })
            .collect();
        for m in members {
            self.mark_related_dirty(m);
            // A veth's other end waited for this master too, with what is on it.
            let peer = match self.slot(m).desired.as_deref() {
                Some(Item::Interface(i)) => i.veth_peer.clone(),
                _ => None,
            };
            if let Some((pid, _)) = peer.as_deref().and_then(|p| self.interface_slot(p)) {
                self.mark_related_dirty(pid);
            }
        }
    }

    /// The items whose links the core believes enslaved to the link `name` in `ns`.
    pub(super) fn members_of(&self, ns: &Netns, name: &str) -> Vec<ItemId> {
        ids_in(self.ix.actual_in.get(ns))
            .into_iter()
            .filter(|&id| {
                matches!(&self.slot(id).actual, Actual::Link(a) if a.master.as_deref() == Some(name))
            })
            .collect()
    }
}
