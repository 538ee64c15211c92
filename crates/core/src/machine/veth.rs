//! The veth pairing rules. A pair is created and deleted as one command for both items, so both
//! ends must agree on each other and be idle; the kernel's word on which link is the other end
//! (`peer_link`) beats the items' names; and a pair fails as one, so a change to one end lets
//! the other end try again.

use crate::model::{Interface, InterfaceType, Item};
use crate::status::PendingReason;

use super::state::{Actual, ItemId, LinkActual, LinkRole};
use super::target::WantedRole;
use super::Core;

impl Core {
    /// The item that a desired value names as its veth peer, if that item exists: the one
    /// lookup behind every "tell the other end" of the pairing rules.
    pub(super) fn named_peer(&self, item: &Item) -> Option<ItemId> {
        match item {
            Item::Interface(Interface {
                veth_peer: Some(peer),
                ..
            }) => self.ix.names.get(peer.as_str()).copied(),
            _ => None,
        }
    }

    /// A veth pair fails as one: when one end changes, the other end may try again too.
    pub(super) fn unblock_partner(&mut self, item: &Item) {
        let Some(pid) = self.named_peer(item) else {
            return;
        };
        let slot = self.slot_mut(pid);
        if slot.blocked {
            slot.blocked = false;
            slot.attempts = 0;
            self.mark_dirty(pid);
        }
    }

    /// The veth end an item asks for, if its peer item agrees: the peer must be a VETH that
    /// names this item back, in a namespace that resolves, and win its own link name. Each
    /// way it does not is a reason the pair waits, pushed to `reasons`.
    pub(super) fn wanted_veth(
        &self,
        iface: &Interface,
        reasons: &mut Vec<PendingReason>,
    ) -> Option<WantedRole> {
        let peer_name = iface.veth_peer.as_deref().unwrap_or_default();
        match self
            .interface_slot(peer_name)
            .map(|(pid, s)| (pid, s.desired.as_deref()))
        {
            Some((pid, Some(Item::Interface(peer)))) => {
                if peer.kind != InterfaceType::Veth {
                    reasons.push(PendingReason::PeerNotVeth(peer_name.to_string()));
                    None
                } else if peer.veth_peer.as_deref() != Some(iface.name.as_str()) {
                    reasons.push(PendingReason::PeerMismatch {
                        peer: peer_name.to_string(),
                        peers_peer: peer.veth_peer.clone().unwrap_or_default(),
                    });
                    None
                } else {
                    let peer_ns = self
                        .resolve(&peer.namespace)
                        .map_err(|r| reasons.push(r))
                        .ok();
                    // The pair is made whole or not at all: an end that may not have its
                    // link yet (another item holds its name, its master is not there) holds
                    // back the other, which would otherwise make the pair it then removes.
                    let peer_master_missing = self.master_of(peer, peer_ns.as_ref()).is_err();
                    if self.host_name_winner(pid).is_some() || peer_master_missing {
                        reasons.push(PendingReason::PeerPending(peer_name.to_string()));
                    }
                    peer_ns.map(|peer_ns| WantedRole::Veth { peer: pid, peer_ns })
                }
            }
            _ => {
                reasons.push(PendingReason::PeerNotConfigured(peer_name.to_string()));
                None
            }
        }
    }

    /// The item holding the link the kernel pairs with this veth end, whatever the items' names
    /// say: removing one end removes that one.
    pub(super) fn kernel_partner(&self, a: &LinkActual) -> Option<ItemId> {
        let (ns, name) = a.peer_link.as_ref()?;
        let pid = *self.ix.link_owner.get(&(ns.clone(), name.clone()))?;
        matches!(&self.slot(pid).actual, Actual::Link(l) if l.ns == *ns && l.name == *name)
            .then_some(pid)
    }

    /// The item holding the other end of this item's veth, if it believes so too.
    pub(super) fn veth_partner(&self, id: ItemId, a: &LinkActual) -> Option<ItemId> {
        let LinkRole::Veth { peer_item } = &a.role else {
            return None;
        };
        if let Some(peer_link) = &a.peer_link {
            // The kernel's word on which link is the other end beats the items' names.
            let pid = *self.ix.link_owner.get(peer_link)?;
            return (self.slot(pid).key.interface() == peer_item).then_some(pid);
        }
        let (pid, peer) = self.interface_slot(peer_item)?;
        let me = self.slot(id).key.interface();
        match &peer.actual {
            Actual::Link(LinkActual {
                role: LinkRole::Veth { peer_item: back },
                ..
            }) if back == me => Some(pid),
            _ => None,
        }
    }
}
