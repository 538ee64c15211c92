//! Which items must be looked at again. An event marks what it may affect; `reconcile_dirty`
//! drains interfaces before routes and neighbours, because the latter read the former's
//! result. Marking is idempotent (a flag per slot), so marking too much costs one look, and
//! marking too little is the bug to avoid: when in doubt, mark.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::command::RouteSpec;
use crate::model::{Family, InterfaceType, Item, ItemKey, MacAddr, Table};
use crate::netns::{NamespaceRef, Netns};
use crate::status::ItemState;

use super::index::ids_in;
use super::state::{Actual, ItemId, LinkActual, LinkRole};
use super::Core;

/// Something an item can wait for: a link name, a route slot or a neighbour entry that another
/// item, or a stale object's removal, holds for now.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum Resource {
    LinkName(Netns, String),
    Route(Netns, IpNet, u32),
    Neighbour(Netns, String, IpAddr),
    /// An iptables chain the agent writes its rules into: (namespace, family, table, name).
    Chain(Netns, Family, Table, String),
    /// A route slot of a table other than main (a VRF's): (namespace, table, destination,
    /// metric). Last, so that snapshots keep their encoding.
    RouteInTable(Netns, u32, IpNet, u32),
    /// A VXLAN's FDB entry: (namespace, link, MAC, VTEP). Last, so that snapshots keep their
    /// encoding.
    Fdb(Netns, String, MacAddr, IpAddr),
    /// A policy rule's place: (namespace, family, priority). Last, so that snapshots keep
    /// their encoding.
    Rule(Netns, Family, u32),
}

impl Resource {
    /// The slot a route takes: its table, destination and metric in its namespace.
    pub(super) fn route(ns: &Netns, r: &RouteSpec) -> Resource {
        match r.table {
            None => Resource::Route(ns.clone(), r.dst, r.metric),
            Some(t) => Resource::RouteInTable(ns.clone(), t, r.dst, r.metric),
        }
    }
}

/// A route slot as the indexes key it: namespace, table, destination, metric.
pub(super) type RouteSlot = (Netns, Option<u32>, IpNet, u32);

/// The slot of a route in `ns`.
pub(super) fn route_slot(ns: &Netns, r: &RouteSpec) -> RouteSlot {
    (ns.clone(), r.table, r.dst, r.metric)
}

impl Core {
    pub(super) fn wait_for(&mut self, res: Resource, id: ItemId) {
        self.s.waiters.entry(res).or_default().insert(id);
    }

    pub(super) fn wake_waiters(&mut self, res: &Resource) {
        if self.s.waiters.is_empty() {
            return;
        }
        let Some(woken) = self.s.waiters.remove(res) else {
            return;
        };
        for id in woken {
            if self.live(id) {
                self.mark_dirty(id);
            }
        }
    }

    pub(super) fn mark_dirty(&mut self, id: ItemId) {
        let slot = self.slot_mut(id);
        if slot.dirty {
            return;
        }
        slot.dirty = true;
        let stacked = matches!(slot.desired.as_deref(),
                Some(Item::Interface(i)) if matches!(i.kind, InterfaceType::Macvlan | InterfaceType::Vxlan))
            || matches!(&slot.actual, Actual::Link(l) if matches!(l.role, LinkRole::Macvlan { .. } | LinkRole::Vxlan { .. }));
        if stacked {
            self.dirty_stacked.push_back(id);
        } else if matches!(slot.key, ItemKey::Interface(_)) {
            self.dirty_links.push_back(id);
        } else {
            self.dirty_l3.push_back(id);
        }
    }

    /// Marks the items whose decisions read this item's desired or actual state.
    pub(super) fn mark_related_dirty(&mut self, id: ItemId) {
        self.mark_dirty(id);
        let mut ids = std::mem::take(&mut self.scratch);
        let slot = self.slot(id);
        if let ItemKey::Interface(name) = &slot.key {
            self.dependents_of(name, &mut ids);
            if let Some(pid) = slot.desired.as_deref().and_then(|d| self.named_peer(d)) {
                ids.push(pid);
            }
            if let Actual::Link(LinkActual {
                role: LinkRole::Veth { peer_item },
                ..
            }) = &slot.actual
            {
                if let Some(&pid) = self.ix.names.get(peer_item.as_str()) {
                    ids.push(pid);
                }
            }
        }
        if let ItemKey::RuleChain(_) = &slot.key {
            // Chains on one built-in chain contest its policy (`chain.rs`); they are few.
            ids.extend(self.ix.chains.iter().copied().filter(|o| *o != id));
        }
        if let ItemKey::PolicyRule(_) = &slot.key {
            // Rules contest priorities (`policy_rule.rs`); they are few.
            ids.extend(self.ix.policy_rules.iter().copied().filter(|o| *o != id));
        }
        for other in ids.drain(..) {
            self.mark_dirty(other);
        }
        self.scratch = ids;
    }

    /// Like [`Core::mark_related_dirty`], but only items that are not applied: those that may
    /// be waiting for this item.
    pub(super) fn mark_waiting_related_dirty(&mut self, id: ItemId) {
        let mut ids = std::mem::take(&mut self.scratch);
        let slot = self.slot(id);
        if let ItemKey::Interface(name) = &slot.key {
            self.dependents_of(name, &mut ids);
            if let Some(pid) = slot.desired.as_deref().and_then(|d| self.named_peer(d)) {
                ids.push(pid);
            }
        }
        // And what is on its link by belief only: a multipath route that no longer wants a
        // path through it waited for its command too (`reconcile`).
        if let Actual::Link(l) = &slot.actual {
            let on = self.ix.on_link.get(&(l.ns.clone(), l.name.clone()));
            ids.extend(on.into_iter().flatten().copied());
        }
        for other in ids.drain(..) {
            if self.slot(other).state != ItemState::Applied {
                self.mark_dirty(other);
            }
        }
        self.scratch = ids;
    }

    /// The items that refer to the interface `name`: its routes and ARPs, and veths naming it
    /// as their peer.
    fn dependents_of(&self, name: &str, into: &mut Vec<ItemId>) {
        if let Some(set) = self.ix.referrers.get(name) {
            into.extend(set.iter().copied());
        }
    }

    /// Marks the items that refer to `key` by name: routes and ARPs on an interface, and veths
    /// naming it as their peer.
    pub(super) fn mark_dependents_dirty(&mut self, key: &ItemKey) {
        if let ItemKey::Interface(name) = key {
            let mut ids = std::mem::take(&mut self.scratch);
            self.dependents_of(name, &mut ids);
            for id in ids.drain(..) {
                self.mark_dirty(id);
            }
            self.scratch = ids;
        }
    }

    /// [`Core::mark_dependents_dirty`] for a live item.
    pub(super) fn mark_dependents_dirty_of(&mut self, id: ItemId) {
        let key = std::mem::replace(
            &mut self.slot_mut(id).key,
            ItemKey::Interface(String::new()),
        );
        self.mark_dependents_dirty(&key);
        self.slot_mut(id).key = key;
    }

    pub(super) fn mark_members_dirty(&mut self, r: &NamespaceRef) {
        for id in ids_in(self.ix.ns_members.get(r)) {
            self.mark_dirty(id);
        }
    }

    pub(super) fn reconcile_dirty(&mut self) {
        if self.s.awaiting_resync {
            return;
        }
        loop {
            if let Some(id) = self.dirty_links.pop_front() {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                    self.reconcile(id);
                }
            } else if let Some(id) = self.dirty_stacked.pop_front() {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                    self.reconcile(id);
                }
            } else if let Some(id) = self.dirty_l3.pop_front() {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                    self.reconcile(id);
                }
            } else {
                break;
            }
        }
    }

    pub(super) fn reconcile(&mut self, id: ItemId) {
        let slot = self.slot(id);
        // A blocked rule chain still takes its chain away from where it no longer belongs
        // (`reconcile_chain`); it only writes nothing.
        let blocked = slot.blocked && !matches!(slot.key, ItemKey::RuleChain(_));
        if slot.in_flight.is_some() || blocked || slot.retry_at.is_some() {
            return;
        }
        if matches!(
            slot.key,
            ItemKey::Route { .. } | ItemKey::Arp { .. } | ItemKey::Fdb { .. }
        ) {
            // Whatever a route, neighbour or FDB entry would do, wanted or not, would race a
            // command in flight on its interface (which may be removing the link and all on
            // it), or the removal of the link (a stale one's) or of its veth partner. Their
            // results mark it dirty again.
            // So would it while the interface itself waits for its parent's command, whose
            // result may have it remove or re-make its link.
            let interface_changing = self
                .interface_slot(slot.key.interface())
                .is_some_and(|(_, i)| {
                    i.in_flight.is_some()
                        || matches!(&i.actual, Actual::Link(l) if self.link_changing(&l.ns, &l.name))
                        || matches!(i.desired.as_deref(),
                            Some(Item::Interface(d)) if self.parent_in_flight(d))
                });
            let link_changing_here = match &slot.actual {
                Actual::Route(r) => r.route.devs().any(|d| self.link_changing(&r.ns, d)),
                Actual::Neighbour(n) => self.link_changing(&n.ns, &n.link),
                Actual::Fdb(f) => self.link_changing(&f.ns, &f.link),
                _ => false,
            };
            if interface_changing || link_changing_here {
                // Waiting, and saying so: whoever finishes wakes the items that are not applied.
                if self.slot(id).state == ItemState::Applied {
                    self.set_state(id, ItemState::InProgress);
                }
                return;
            }
        }
        match slot.key {
            ItemKey::Interface(_) => self.reconcile_interface(id),
            ItemKey::Route { .. } | ItemKey::Arp { .. } | ItemKey::Fdb { .. } => {
                self.reconcile_l3(id)
            }
            ItemKey::RuleChain(_) => self.reconcile_chain(id),
            ItemKey::PolicyRule(_) => self.reconcile_policy_rule(id),
        }
    }
}
