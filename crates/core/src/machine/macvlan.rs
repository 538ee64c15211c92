//! MACVLANs: a MACVLAN item's link lives on its parent item's link, wherever each of them is.
//! It waits, with nothing of it in the kernel, until the parent's link is there where the
//! parent item wants it (as a member waits for its master, `master.rs`), and while a command
//! of the parent's is in flight (a rename would otherwise make it look gone). The kernel ties
//! the two together: deleting the parent deletes its MACVLANs, in every namespace; lowering
//! the parent's MTU lowers theirs; moving the parent elsewhere leaves them be.
//!
//! Driving: `link_target` asks [`Core::parent_of`] for the parent's link (or why it waits),
//! `reconcile_interface` waits while [`Core::parent_in_flight`], the result of any command
//! calls [`Core::wake_waiting_macvlans`], and the core's model of the kernel calls
//! [`Core::macvlans_gone`] when a link goes and [`Core::parent_mtu_lowered`] when its MTU
//! is set.

use crate::command::LinkChange;
use crate::model::{Interface, InterfaceType, Item, ItemKey};
use crate::netns::Netns;
use crate::status::PendingReason;

use super::index::ids_in;
use super::state::{Actual, ItemId};
use super::Core;

impl Core {
    /// Where the parent link of the MACVLAN `iface` is (namespace and kernel name), or why it
    /// is not there for it.
    pub(super) fn parent_of(&self, iface: &Interface) -> Result<(Netns, String), PendingReason> {
        let parent = iface.macvlan_parent().unwrap_or_default();
        let not_configured = || PendingReason::InterfaceNotConfigured(parent.to_string());
        let (_, slot) = self.interface_slot(parent).ok_or_else(not_configured)?;
        let Some(Item::Interface(p)) = slot.desired.as_deref() else {
            return Err(not_configured());
        };
        if p.kind == InterfaceType::Macvlan {
            return Err(PendingReason::ParentIsMacvlan(parent.to_string()));
        }
        // The kernel refuses a bridge port as a parent, and a parent as a port (EBUSY).
        if p.bridge_master.is_some() {
            return Err(PendingReason::ParentIsBridgePort(parent.to_string()));
        }
        // Read from the belief, as a master is: after a resync adopts both, the MACVLAN may be
        // reconciled before its parent is.
        let wanted_ns = self.resolve(&p.namespace).ok();
        match &slot.actual {
            Actual::Link(a) if Some(&a.ns) == wanted_ns.as_ref() && a.name == p.host_if_name => {
                Ok((a.ns.clone(), a.name.clone()))
            }
            _ => Err(PendingReason::InterfaceNotReady(parent.to_string())),
        }
    }

    /// Whether the parent of the MACVLAN `iface` has a command in flight.
    pub(super) fn parent_in_flight(&self, iface: &Interface) -> bool {
        iface
            .macvlan_parent()
            .and_then(|p| self.interface_slot(p))
            .is_some_and(|(_, slot)| slot.in_flight.is_some())
    }

    /// A command of the item `id` has its result: the MACVLANs naming it as their parent,
    /// which waited for it ([`Core::parent_in_flight`]), get their turn.
    pub(super) fn wake_waiting_macvlans(&mut self, id: ItemId) {
        let ItemKey::Interface(name) = &self.slot(id).key else {
            return;
        };
        let waiting: Vec<ItemId> = ids_in(self.ix.referrers.get(name.as_str()))
            .into_iter()
            .filter(|&m| {
                matches!(self.slot(m).desired.as_deref(),
                    Some(Item::Interface(i)) if i.macvlan_parent() == Some(name.as_str()))
            })
            .collect();
        for m in waiting {
            self.mark_dirty(m);
        }
    }

    /// The link of the item `parent` went: the kernel deleted the MACVLANs on it with it.
    pub(super) fn macvlans_gone(&mut self, parent: &str) {
        for id in ids_in(self.ix.macvlans_on.get(parent)) {
            self.forget_kernel_objects(id);
        }
    }

    /// The link of the item `parent` was given the MTU `mtu`: the kernel lowers its
    /// MACVLANs' to it where theirs was higher (and never raises them).
    pub(super) fn parent_mtu_lowered(&mut self, parent: &str, mtu: u32) {
        for id in ids_in(self.ix.macvlans_on.get(parent)) {
            let (ns, name) = match &self.slot(id).actual {
                Actual::Link(l) if l.mtu.is_some_and(|m| m > mtu) => (l.ns.clone(), l.name.clone()),
                _ => continue,
            };
            // As if set on it: what the kernel drops below the IPv6 minimum goes too.
            let change = LinkChange {
                mtu: Some(mtu),
                ..LinkChange::default()
            };
            self.link_set(id, &ns, &name, &change);
        }
    }

    /// The item whose link a resync found a MACVLAN's parent to be, if the core knows it:
    /// `None` when the backend could not tell where the parent is, `Some("")` when it is no
    /// item's link (so that the MACVLAN fits no item and is made again).
    pub(super) fn parent_seen(&self, seen: &Option<(Netns, String)>) -> Option<String> {
        let at = seen.as_ref()?;
        Some(
            self.ix
                .link_owner
                .get(at)
                .map(|&id| self.slot(id).key.interface().to_string())
                .unwrap_or_default(),
        )
    }
}
