//! Lookups derived from the slots. They are never serialized: a restored core rebuilds them, so
//! a snapshot cannot hold an index that disagrees with the slots. The rule that keeps them true
//! is that a slot's `actual` changes only through `set_actual`, and its desired value only
//! through `index_desired`/`unindex_desired` around the change.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use crate::command::Op;
use crate::model::{InterfaceType, Item, ItemKey};
use crate::netns::{NamespaceRef, Netns};

use super::dirty::{route_slot, Resource, RouteSlot};
use super::drift::ResyncRequests;
use super::state::{Actual, ItemId, LinkActual, Owner, State};
use super::timers::TimerKey;
use super::Core;

/// Lookups rebuilt from [`State`] after a restore, so that reconciling needs no scan. Kept true
/// by `set_actual` and `index_desired`/`unindex_desired` only: any other write to a slot's
/// `actual` or `desired` would leave them stale.
#[derive(Debug, Clone, Default)]
pub(super) struct Indexes {
    pub(super) by_key: FxHashMap<ItemKey, ItemId>,
    /// Interface items by logical name: the same as `by_key`, looked up by `&str`.
    pub(super) names: FxHashMap<String, ItemId>,
    /// Items that name an interface: its routes and ARPs (by their key), veths naming it as
    /// their peer, members naming it as their master and MACVLANs as their parent.
    pub(super) referrers: FxHashMap<String, BTreeSet<ItemId>>,
    /// Interface and rule chain items by their desired namespace. Ordered: it is iterated.
    pub(super) ns_members: BTreeMap<NamespaceRef, BTreeSet<ItemId>>,
    /// Items with objects in a namespace.
    pub(super) actual_in: FxHashMap<Netns, BTreeSet<ItemId>>,
    /// Interface items by the link name they want, with the namespace they want it in.
    pub(super) host_claims: FxHashMap<(NamespaceRef, String), Vec<ItemId>>,
    pub(super) link_owner: FxHashMap<(Netns, String), ItemId>,
    /// Route and neighbour items with objects on a link.
    pub(super) on_link: FxHashMap<(Netns, String), BTreeSet<ItemId>>,
    pub(super) route_owner: FxHashMap<RouteSlot, ItemId>,
    /// Routes being added (command in flight), by the item adding them: a second item with
    /// the same destination and metric waits rather than replace it unseen.
    pub(super) route_adding: FxHashMap<RouteSlot, ItemId>,
    /// Link names being taken (a creation or rename in flight), by the item taking them: an
    /// item that wins the name meanwhile waits, rather than collide with it in the kernel.
    pub(super) link_naming: FxHashMap<(Netns, String), ItemId>,
    /// Commands in flight per namespace they act in (both, for a veth pair).
    pub(super) in_flight_ns: FxHashMap<Netns, u32>,
    /// Rule chain items: few, and looked through when a namespace's tables are observed.
    pub(super) chains: BTreeSet<ItemId>,
    /// Policy rule items: few, and each looked at again when another changes, as they
    /// contest priorities.
    pub(super) policy_rules: BTreeSet<ItemId>,
    /// TAP_TO_VPP items: few, and looked through when the default namespace, where their TAPs
    /// appear, is observed.
    pub(super) taps: BTreeSet<ItemId>,
    /// MACVLAN and VXLAN items by the item whose link the core believes their link's parent:
    /// the kernel deletes them along with it.
    pub(super) stacked_on: FxHashMap<String, BTreeSet<ItemId>>,
}

/// The items of one index entry, copied out so that the core can change while it visits them.
pub(super) fn ids_in(set: Option<&BTreeSet<ItemId>>) -> Vec<ItemId> {
    set.map(|s| s.iter().copied().collect()).unwrap_or_default()
}

fn remove_from<K: Ord>(map: &mut BTreeMap<K, BTreeSet<ItemId>>, key: &K, id: ItemId) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

pub(super) fn remove_from_fx<K, Q>(map: &mut FxHashMap<Q, BTreeSet<ItemId>>, key: &K, id: ItemId)
where
    K: std::hash::Hash + Eq + ?Sized,
    Q: std::hash::Hash + Eq + std::borrow::Borrow<K>,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl Core {
    pub(super) fn from_state(s: State) -> Core {
        let mut core = Core {
            s,
            ix: Indexes::default(),
            dirty_links: VecDeque::new(),
            dirty_stacked: VecDeque::new(),
            dirty_l3: VecDeque::new(),
            scratch: Vec::new(),
            resync: ResyncRequests::default(),
        };
        core.resync = ResyncRequests::restored(core.s.timers.armed(&TimerKey::Resync));
        core.sanitize();
        core.s.stale.rebuild();
        let in_flight: Vec<(Op, Owner)> = core
            .s
            .in_flight
            .values()
            .map(|f| (f.op.clone(), f.owner.clone()))
            .collect();
        for (op, owner) in in_flight {
            core.reserve(&op, &owner);
            core.count_in_flight(&op, true);
        }
        for i in 0..core.s.slots.len() {
            let id = ItemId(i as u32);
            let Some(slot) = &core.s.slots[i] else {
                continue;
            };
            let key = slot.key.clone();
            let desired = slot.desired.clone();
            let actual = slot.actual.clone();
            core.index_key(id, &key);
            if let Some(item) = &desired {
                core.index_desired(id, item);
            }
            core.index_actual(id, &actual);
        }
        core
    }

    pub(super) fn index_key(&mut self, id: ItemId, key: &ItemKey) {
        self.ix.by_key.insert(key.clone(), id);
        if let ItemKey::Interface(name) = key {
            self.ix.names.insert(name.clone(), id);
        } else if let ItemKey::RuleChain(_) = key {
            // A chain refers to the interfaces it lists, which only its desired value says.
            self.ix.chains.insert(id);
        } else if let ItemKey::PolicyRule(_) = key {
            // So does a rule.
            self.ix.policy_rules.insert(id);
        } else {
            self.ix
                .referrers
                .entry(key.interface().to_string())
                .or_default()
                .insert(id);
        }
    }

    pub(super) fn index_desired(&mut self, id: ItemId, item: &Item) {
        // A multipath route's own interface is indexed by its key; its hops' here.
        if let Item::Route(r) = item {
            for name in r.interfaces().into_iter().skip(1) {
                self.ix
                    .referrers
                    .entry(name.to_string())
                    .or_default()
                    .insert(id);
            }
        }
        if let Item::PolicyRule(r) = item {
            self.ix
                .ns_members
                .entry(r.namespace.clone())
                .or_default()
                .insert(id);
            for name in r.interfaces() {
                self.ix
                    .referrers
                    .entry(name.to_string())
                    .or_default()
                    .insert(id);
            }
        }
        if let Item::RuleChain(c) = item {
            self.ix
                .ns_members
                .entry(c.namespace.clone())
                .or_default()
                .insert(id);
            for name in &c.interfaces {
                self.ix
                    .referrers
                    .entry(name.clone())
                    .or_default()
                    .insert(id);
            }
        }
        if let Item::Interface(i) = item {
            self.ix
                .ns_members
                .entry(i.namespace.clone())
                .or_default()
                .insert(id);
            let claim = (i.namespace.clone(), i.host_if_name.clone());
            self.ix
                .host_claims
                .entry(claim.clone())
                .or_default()
                .push(id);
            self.settle_claims(&claim);
            if i.kind == InterfaceType::TapToVpp {
                self.ix.taps.insert(id);
            }
            for named in i.named_interfaces() {
                self.ix
                    .referrers
                    .entry(named.to_string())
                    .or_default()
                    .insert(id);
            }
        }
    }

    pub(super) fn unindex_desired(&mut self, id: ItemId, item: &Item) {
        if let Item::Route(r) = item {
            for name in r.interfaces().into_iter().skip(1) {
                remove_from_fx(&mut self.ix.referrers, name, id);
            }
        }
        if let Item::PolicyRule(r) = item {
            remove_from(&mut self.ix.ns_members, &r.namespace, id);
            for name in r.interfaces() {
                remove_from_fx(&mut self.ix.referrers, name, id);
            }
        }
        if let Item::RuleChain(c) = item {
            remove_from(&mut self.ix.ns_members, &c.namespace, id);
            for name in &c.interfaces {
                remove_from_fx(&mut self.ix.referrers, name, id);
            }
        }
        if let Item::Interface(i) = item {
            remove_from(&mut self.ix.ns_members, &i.namespace, id);
            let claim = (i.namespace.clone(), i.host_if_name.clone());
            if let Some(claims) = self.ix.host_claims.get_mut(&claim) {
                claims.retain(|c| *c != id);
                if claims.is_empty() {
                    self.ix.host_claims.remove(&claim);
                }
            }
            self.slot_mut(id).name_taken_by = None;
            self.settle_claims(&claim);
            self.ix.taps.remove(&id);
            for named in i.named_interfaces() {
                remove_from_fx(&mut self.ix.referrers, named, id);
            }
        }
    }

    fn index_actual(&mut self, id: ItemId, actual: &Actual) {
        if let Some(ns) = actual.ns() {
            self.ix.actual_in.entry(ns.clone()).or_default().insert(id);
        }
        match actual {
            Actual::Link(l) => {
                self.ix
                    .link_owner
                    .insert((l.ns.clone(), l.name.clone()), id);
                if let Some(parent_item) = l.role.parent_item() {
                    self.ix
                        .stacked_on
                        .entry(parent_item.to_string())
                        .or_default()
                        .insert(id);
                }
            }
            Actual::Route(r) => {
                self.ix.route_owner.insert(route_slot(&r.ns, &r.route), id);
                for dev in r.route.devs() {
                    self.ix
                        .on_link
                        .entry((r.ns.clone(), dev.to_string()))
                        .or_default()
                        .insert(id);
                }
            }
            Actual::Neighbour(n) => {
                self.ix
                    .on_link
                    .entry((n.ns.clone(), n.link.clone()))
                    .or_default()
                    .insert(id);
            }
            Actual::Fdb(f) => {
                self.ix
                    .on_link
                    .entry((f.ns.clone(), f.link.clone()))
                    .or_default()
                    .insert(id);
            }
            Actual::None | Actual::Chain(_) | Actual::Rule(_) => {}
        }
    }

    fn unindex_actual(&mut self, id: ItemId, actual: &Actual) {
        if let Some(ns) = actual.ns() {
            remove_from_fx(&mut self.ix.actual_in, ns, id);
        }
        let released = match actual {
            Actual::Link(l) => {
                let key = (l.ns.clone(), l.name.clone());
                if self.ix.link_owner.get(&key) == Some(&id) {
                    self.ix.link_owner.remove(&key);
                }
                if let Some(parent_item) = l.role.parent_item() {
                    remove_from_fx(&mut self.ix.stacked_on, parent_item, id);
                }
                Some(Resource::LinkName(key.0, key.1))
            }
            Actual::Route(r) => {
                for dev in r.route.devs() {
                    remove_from_fx(&mut self.ix.on_link, &(r.ns.clone(), dev.to_string()), id);
                }
                let key = route_slot(&r.ns, &r.route);
                if self.ix.route_owner.get(&key) == Some(&id) {
                    self.ix.route_owner.remove(&key);
                }
                Some(Resource::route(&r.ns, &r.route))
            }
            Actual::Neighbour(n) => {
                remove_from_fx(&mut self.ix.on_link, &(n.ns.clone(), n.link.clone()), id);
                None
            }
            Actual::Fdb(f) => {
                remove_from_fx(&mut self.ix.on_link, &(f.ns.clone(), f.link.clone()), id);
                None
            }
            Actual::Chain(c) => Some(Resource::Chain(
                c.ns.clone(),
                c.spec.family,
                c.spec.table,
                c.spec.holder.clone(),
            )),
            Actual::Rule(r) => Some(r.rule.place(&r.ns)),
            Actual::None => None,
        };
        if let Some(res) = released {
            self.wake_waiters(&res);
        }
    }

    pub(super) fn set_actual(&mut self, id: ItemId, actual: Actual) {
        let old = std::mem::replace(&mut self.slot_mut(id).actual, Actual::None);
        self.unindex_actual(id, &old);
        self.index_actual(id, &actual);
        self.slot_mut(id).actual = actual;
        self.mark_related_dirty(id);
    }

    /// Changes attributes of an item's link in place: its identity (namespace, name) and so
    /// the indexes stay as they are.
    /// `wakes_dependents`: the change is one routes and neighbours read (up, addresses).
    pub(super) fn update_link(
        &mut self,
        id: ItemId,
        wakes_dependents: bool,
        f: impl FnOnce(&mut LinkActual),
    ) {
        if let Actual::Link(link) = &mut self.slot_mut(id).actual {
            f(link);
        }
        if wakes_dependents {
            self.mark_related_dirty(id);
        } else {
            // The command's result already woke whoever waited for it.
            self.mark_dirty(id);
        }
    }

    /// Whether some item believes the link `name` in `ns` is in the kernel.
    pub(super) fn link_known(&self, ns: &Netns, name: &str) -> bool {
        self.ix
            .link_owner
            .contains_key(&(ns.clone(), name.to_string()))
    }
}
