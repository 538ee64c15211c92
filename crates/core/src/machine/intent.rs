//! The user's puts and deletes, and the contest for link names. Only here does a desired value
//! change; and the oldest claimant of a (namespace, link name) wins it, so that a newcomer never
//! takes over a link that is applied.

use std::sync::Arc;

use crate::model::{Item, ItemKey};
use crate::netns::NamespaceRef;

use super::state::ItemId;
use super::Core;

/// Whether two values of an interface place it the same way: same kind, namespace, link name
/// and peer. Only then can other items ignore the change.
fn same_placement(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Interface(a), Item::Interface(b)) => {
            a.kind == b.kind
                && a.namespace == b.namespace
                && a.host_if_name == b.host_if_name
                && a.veth_peer == b.veth_peer
                && a.enabled == b.enabled
                // Indexed (a member refers to its master) and read by others (a member's
                // routes take its VRF's table).
                && a.vrf_master == b.vrf_master
                && a.bridge_master == b.bridge_master
                && a.vrf_table == b.vrf_table
                // Indexed too: a MACVLAN refers to its parent, a VXLAN to its underlay.
                && a.macvlan == b.macvlan
                && a.vxlan == b.vxlan
        }
        _ => false,
    }
}

impl Core {
    pub(super) fn on_put(&mut self, seq: u64, item: Item) {
        let key = item.key();
        let id = match self.ix.by_key.get(&key) {
            Some(id) => *id,
            None => self.alloc_slot(key),
        };
        let slot = self.slot_mut(id);
        slot.last_seq = Some(seq);
        if slot.desired.as_deref() == Some(&item) {
            return;
        }
        let item = Arc::new(item);
        slot.attempts = 0;
        slot.blocked = false;
        let old = slot.desired.replace(item.clone());
        self.cancel_item_retry(id);
        self.unblock_partner(&item);
        if old.as_deref().is_some_and(|old| same_placement(old, &item)) {
            // Only attributes changed (MTU, addresses, ...): no other item reads them before
            // they reach the kernel, and what they change there wakes whoever depends on it;
            // but a link-only interface's addresses never reach it, and its routes and
            // neighbours read them from the item (l3.rs).
            if old.as_deref().is_some_and(link_only) || link_only(&item) {
                self.mark_related_dirty(id);
            } else {
                self.mark_dirty(id);
            }
            return;
        }
        if let Some(old) = &old {
            self.mark_claims_dirty(old);
            self.unindex_desired(id, old);
        }
        self.index_desired(id, &item);
        self.mark_claims_dirty(&item);
        self.mark_related_dirty(id);
        // A veth that named another peer before: that peer must learn it lost its partner.
        if let Some(pid) = old.as_deref().and_then(|o| self.named_peer(o)) {
            self.mark_dirty(pid);
        }
    }

    pub(super) fn on_delete(&mut self, seq: u64, key: ItemKey) {
        let Some(&id) = self.ix.by_key.get(&key) else {
            return;
        };
        let slot = self.slot_mut(id);
        slot.last_seq = Some(seq);
        let Some(old) = slot.desired.take() else {
            return;
        };
        slot.attempts = 0;
        slot.blocked = false;
        self.cancel_item_retry(id);
        self.unindex_desired(id, &old);
        self.mark_claims_dirty(&old);
        self.mark_related_dirty(id);
        if let Some(pid) = self.named_peer(&old) {
            self.mark_dirty(pid);
        }
    }

    /// Items competing with `item` for a link name learn that the competition changed.
    fn mark_claims_dirty(&mut self, item: &Item) {
        if let Item::Interface(i) = item {
            let mut ids: Vec<ItemId> = Vec::new();
            for r in std::iter::once(i.namespace.clone()).chain(self.aliases_of(&i.namespace)) {
                if let Some(claims) = self.ix.host_claims.get(&(r, i.host_if_name.clone())) {
                    ids.extend(claims);
                }
            }
            // The list is in the order the claims were made, which a restore does not keep
            // (it rebuilds the list in slot order): mark in the order of age, as claims are won.
            ids.sort_unstable_by_key(|id| (self.slot(*id).born, *id));
            for id in ids {
                self.mark_dirty(id);
            }
        }
    }

    /// The item that wins the link name this item wants, if it is another one.
    /// Claims made through other references to the same namespace (aliases) count as claims
    /// in it: the oldest of all wins.
    pub(super) fn host_name_winner(&self, id: ItemId) -> Option<String> {
        let mut winner = self.slot(id).name_taken_by.unwrap_or(id);
        if let Some(i) = self.desired_interface(id) {
            for r in self.aliases_of(&i.namespace) {
                let claims = self.ix.host_claims.get(&(r, i.host_if_name.clone()));
                for &other in claims.into_iter().flatten() {
                    let age = |x: ItemId| (self.slot(x).born, x);
                    if age(other) < age(winner) {
                        winner = other;
                    }
                }
            }
        }
        (winner != id).then(|| self.slot(winner).key.interface().to_string())
    }

    /// Decides which of the items that want one link name in one namespace wins it: the oldest
    /// item, so that an applied link is never taken over by a newcomer.
    pub(super) fn settle_claims(&mut self, claim: &(NamespaceRef, String)) {
        let Some(claims) = self.ix.host_claims.get(claim) else {
            return;
        };
        let claims = claims.clone();
        let winner = claims
            .iter()
            .copied()
            .min_by_key(|id| (self.slot(*id).born, *id));
        for id in claims {
            self.slot_mut(id).name_taken_by = winner.filter(|w| *w != id);
        }
    }
}

fn link_only(item: &Item) -> bool {
    matches!(item, Item::Interface(i) if i.link_only)
}
