//! Resync: replacing what the core believes about a namespace with what a snapshot shows.
//! `observe_namespace` runs its steps in order — correct the beliefs of items that hold
//! objects there, adopt or remove managed links nobody knew of, take borrowed links, then adopt
//! or remove routes, neighbours and FDB entries on managed links (`unclaimed.rs`) — because
//! each step reads what the ones before claimed. Objects of items with a command in flight are
//! left alone: the snapshot may predate the result.

use crate::command::Op;
use crate::identity::Mark;
use crate::model::{InterfaceType, Item};
use crate::netns::{NamespaceRef, Netns};
use crate::observed::{LinkKind, ObservedLink, ObservedNamespace, Snapshot};

use super::dirty::Resource;
use super::index::ids_in;
use super::seen::{observed_addresses, role_fits, Seen};
use super::state::{
    Actual, ItemId, LinkActual, LinkRole, NamedState, NeighbourActual, RouteActual,
};
use super::Core;

impl Core {
    pub(super) fn on_observed(&mut self, snapshot: Snapshot) {
        let after_restart = std::mem::take(&mut self.s.awaiting_resync);
        if after_restart {
            // Items marked while the core waited are reconciled below anyway. Starting from an
            // empty queue makes the order the same whether or not the state was restored from
            // a snapshot in between (the queue is not part of a snapshot).
            for id in self
                .dirty_links
                .drain(..)
                .chain(self.dirty_stacked.drain(..))
                .chain(self.dirty_l3.drain(..))
                .collect::<Vec<_>>()
            {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                }
            }
        }
        for obs in self.through_aliases(snapshot.namespaces) {
            self.observe_namespace(&obs);
            self.want_chains_of(&obs.ns, after_restart);
        }
        for ns in &snapshot.missing {
            let known = match ns {
                Netns::Default => false,
                Netns::Named(n) => self.s.named.get(n) == Some(&NamedState::Present),
                other => self.s.available.contains(other),
            };
            if known || self.ix.actual_in.get(ns).is_some_and(|s| !s.is_empty()) {
                self.on_namespace_vanished(ns);
            }
            // A link to borrow asked for there is not there either.
            let empty = ObservedNamespace {
                ns: ns.clone(),
                links: vec![],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            };
            self.take_borrowed_links(&Seen::new(&empty, std::iter::empty()));
        }
        if after_restart {
            // Whatever waited for the resync gets its turn.
            let all: Vec<ItemId> = (0..self.s.slots.len() as u32)
                .map(ItemId)
                .filter(|id| self.live(*id))
                .collect();
            for id in all {
                self.mark_dirty(id);
            }
        }
    }

    /// The snapshot's namespaces as the core knows them: an alias's contents are its canonical
    /// namespace's (taken from the canonical itself when the snapshot has both), and veth peers
    /// are placed in canonical namespaces too. Read as its own namespace, an alias would show
    /// the canonical's links as unknown ones, to be removed as stale.
    fn through_aliases(&mut self, namespaces: Vec<ObservedNamespace>) -> Vec<ObservedNamespace> {
        if self.s.identities.is_empty() {
            return namespaces;
        }
        let listed: Vec<Netns> = namespaces.iter().map(|o| o.ns.clone()).collect();
        let mut out = Vec::with_capacity(namespaces.len());
        for mut obs in namespaces {
            let canonical = self.s.identities.canonical(obs.ns.clone());
            if canonical != obs.ns {
                self.on_namespace_available(&obs.ns);
                if listed.contains(&canonical)
                    || out.iter().any(|o: &ObservedNamespace| o.ns == canonical)
                {
                    continue;
                }
                obs.ns = canonical;
            }
            for link in &mut obs.links {
                for (peer_ns, _) in link.peer.iter_mut().chain(link.parent.iter_mut()) {
                    *peer_ns = self.s.identities.canonical(peer_ns.clone());
                }
            }
            out.push(obs);
        }
        out
    }

    /// Replaces what the core believes about one namespace with what the snapshot shows of
    /// it, in the steps the module documentation lists: each step reads what the ones before
    /// claimed, so their order is part of the rule.
    fn observe_namespace(&mut self, obs: &ObservedNamespace) {
        let ns = &obs.ns;
        self.on_namespace_available(ns);
        for r in self.refs_acting_in(ns) {
            self.mark_members_dirty(&r);
            self.retry_on_observe(&r);
        }
        // 0. Removals waiting to retry of objects that are gone meanwhile are over.
        self.prune_gone_stale(obs);
        let mut seen = Seen::new(obs, self.s.in_flight.values().map(|f| &f.op));
        // 1. What the core believed is in this namespace, corrected by what is there.
        let holders = ids_in(self.ix.actual_in.get(ns));
        for &id in &holders {
            self.follow_lost_rename(id, &seen);
        }
        for id in holders {
            if self.slot(id).in_flight.is_some() {
                self.claim_in_flight(id, &mut seen);
            } else {
                self.correct_belief(id, &mut seen);
            }
        }
        // 2. Managed links the core did not know of: adopt them for their item, or remove them.
        for l in &obs.links {
            self.resync_managed_link(l, &mut seen);
        }
        // 3. Links the agent borrows (EXISTING, LOOPBACK) in this namespace.
        self.take_borrowed_links(&seen);
        // 4. Routes and neighbours on managed links: adopt or remove.
        self.resync_routes(&seen);
        self.resync_neighbours(&seen);
        self.resync_fdb(&seen);
        self.resync_rules(&seen);
    }

    /// A link of the core's under another name than it believes is one whose rename went
    /// through while its result was lost (to a restart): it keeps its link, renamed.
    fn follow_lost_rename(&mut self, id: ItemId, seen: &Seen) {
        let ns = &seen.obs.ns;
        if self.slot(id).in_flight.is_some() {
            return;
        }
        let Actual::Link(a) = &self.slot(id).actual else {
            return;
        };
        if seen.links.contains_key(a.name.as_str()) {
            return;
        }
        let me = self.slot(id).key.interface();
        let identity = &self.s.config.identity;
        let renamed = seen.obs.links.iter().find(|l| {
            identity.marks(l.alias.as_deref(), me)
                && role_fits(&a.role, l.kind)
                && a.role.owned()
                && !self
                    .ix
                    .link_owner
                    .contains_key(&(ns.clone(), l.name.clone()))
        });
        if let Some(l) = renamed {
            let old = a.name.clone();
            self.on_renamed(id, ns, &old, &l.name);
        }
    }

    /// An item with a command in flight: its result will tell, and a snapshot taken meanwhile
    /// may predate it. What it holds is still its own, not a stale object.
    fn claim_in_flight(&self, id: ItemId, seen: &mut Seen) {
        match &self.slot(id).actual {
            Actual::Link(l) => {
                let new_name = seen.renaming.get(&l.name).cloned();
                for name in std::iter::once(l.name.as_str()).chain(new_name.as_deref()) {
                    if let Some((name, _)) = seen.links.get_key_value(name) {
                        seen.claimed_links.insert(name);
                    }
                }
            }
            Actual::Route(r) => {
                let found = seen.route_position(r);
                seen.claimed_routes.extend(found);
            }
            Actual::Neighbour(n) => {
                let found = seen.neighbour_position(n);
                seen.claimed_neigh.extend(found);
            }
            Actual::Fdb(f) => {
                let found = seen.fdb_position(f);
                seen.claimed_fdb.extend(found);
            }
            // Rules are resync's last step (`policy_rule.rs`).
            Actual::None | Actual::Chain(_) | Actual::Rule(_) => {}
        }
    }

    /// An idle item's belief about its object in this namespace, made to match the snapshot.
    fn correct_belief(&mut self, id: ItemId, seen: &mut Seen) {
        let ns = &seen.obs.ns;
        match self.slot(id).actual.clone() {
            Actual::Link(mut a) => match seen.links.get(a.name.as_str()) {
                // A link under the believed name that another agent marked is not this
                // item's any more, whatever the core believed: it is never touched.
                Some(l)
                    if role_fits(&a.role, l.kind)
                        && !(a.role.owned()
                            && self.s.config.identity.read(l.alias.as_deref())
                                == Mark::Foreign) =>
                {
                    seen.claimed_links.insert(l.name.as_str());
                    let desired = self
                        .desired_interface(id)
                        .map(|i| i.ip_addresses.clone())
                        .unwrap_or_default();
                    a.up = l.up;
                    a.mtu = Some(l.mtu);
                    a.mac = l.mac;
                    a.alias = l.alias.clone();
                    a.attributes_unknown = false;
                    a.checksum_offload = l.checksum_offload;
                    a.master = l.master.clone();
                    if let (LinkRole::Vrf { table }, Some(seen_table)) = (&mut a.role, l.vrf_table)
                    {
                        *table = seen_table;
                    }
                    if let (LinkRole::Bridge(settings), Some(seen)) = (&mut a.role, l.bridge) {
                        *settings = seen;
                    }
                    if let (LinkRole::Tap(settings), Some(seen)) = (&mut a.role, l.tap) {
                        *settings = seen;
                    }
                    let parent_seen = self.parent_seen(id, &l.parent);
                    if let LinkRole::Macvlan {
                        parent_item,
                        mode,
                        parent_link,
                    } = &mut a.role
                    {
                        *mode = l.macvlan_mode.unwrap_or(*mode);
                        if let Some(parent) = parent_seen.clone() {
                            *parent_item = parent;
                            *parent_link = l.parent.clone();
                        }
                    }
                    if let LinkRole::Vxlan {
                        tunnel,
                        parent_item,
                        parent_link,
                    } = &mut a.role
                    {
                        // A VXLAN names its underlay, if any, in every look.
                        *tunnel = l.vxlan.unwrap_or(*tunnel);
                        *parent_item = parent_seen.clone();
                        *parent_link = l.parent.clone();
                    }
                    if l.peer.is_some() {
                        a.peer_link = seen.believed_peer(&l.peer);
                    }
                    a.addresses = observed_addresses(&a, l, &desired);
                    if !a.role.owned() {
                        self.s.borrows.seen_addresses(ns, &l.name, &l.addresses);
                    }
                    self.set_actual(id, Actual::Link(a));
                }
                _ => self.forget_kernel_objects(id),
            },
            Actual::Route(r) => match seen.route_position(&r) {
                Some(i) => {
                    seen.claimed_routes.insert(i);
                    let route = seen.obs.routes[i].clone();
                    let ns = ns.clone();
                    self.set_actual(id, Actual::Route(RouteActual { ns, route }));
                }
                None => self.set_actual(id, Actual::None),
            },
            Actual::Neighbour(n) => match seen.neighbour_position(&n) {
                Some(i) => {
                    seen.claimed_neigh.insert(i);
                    let mac = seen.obs.neighbours[i].mac;
                    self.set_actual(id, Actual::Neighbour(NeighbourActual { mac, ..n }));
                }
                None => self.set_actual(id, Actual::None),
            },
            Actual::Fdb(f) => match seen.fdb_position(&f) {
                Some(at) => {
                    seen.claimed_fdb.insert(at);
                }
                None => self.set_actual(id, Actual::None),
            },
            // Rules are resync's last step (`policy_rule.rs`).
            Actual::None | Actual::Chain(_) | Actual::Rule(_) => {}
        }
    }

    /// A link marked as this agent's (`crate::identity`) that no item claimed in step 1:
    /// adopted by its item if that item wants such a link and holds none, else removed as
    /// stale — unless its item is busy with it, or borrows exactly this link (step 3 takes it).
    /// A legacy-marked link counts as this agent's when an item claimed it in step 1 or adopts
    /// it here (it is re-marked afterwards), or with `adopt_legacy`; otherwise it is left
    /// alone. Links of other agents, and unmarked ones, are never this agent's.
    fn resync_managed_link<'o>(&mut self, l: &'o ObservedLink, seen: &mut Seen<'o>) {
        let ns = &seen.obs.ns;
        let (item_name, only_if_wanted) = match self.s.config.identity.read(l.alias.as_deref()) {
            Mark::Mine(item) => (item, false),
            Mark::Legacy(item) => (item, !self.s.config.adopt_legacy),
            Mark::Foreign | Mark::Unmarked => return,
        };
        if seen.claimed_links.contains(l.name.as_str()) {
            seen.managed.insert(l.name.as_str(), item_name);
            return;
        }
        if only_if_wanted && self.legacy_adopter(item_name, ns).is_none() {
            return;
        }
        seen.managed.insert(l.name.as_str(), item_name);
        if self
            .interface_slot(item_name)
            .is_some_and(|(_, s)| s.in_flight.is_some())
        {
            // Its item is creating it right now: the snapshot may predate the result.
            return;
        }
        // A link whose removal is already queued stays the removal's: its item takes it back
        // from there (`reclaim_stale_link`) when it is ready to, or the removal goes ahead.
        // Adopted here as well, the item would hold a link the removal deletes on its retry.
        let removal_queued = self
            .s
            .stale
            .blocks(&Resource::LinkName(ns.clone(), l.name.clone()));
        // Only in the namespace the item wants it in: the same item's link left in another
        // namespace (the item moved) is stale, and adopting it would delete the right one.
        match self.legacy_adopter(item_name, ns) {
            Some(id) if !removal_queued => {
                let iface = self
                    .desired_interface(id)
                    .cloned()
                    .expect("adopted item is an interface");
                let role = match l.kind {
                    LinkKind::Veth => LinkRole::Veth {
                        peer_item: iface.veth_peer.clone().unwrap_or_default(),
                    },
                    LinkKind::Vrf => LinkRole::Vrf {
                        table: l.vrf_table.unwrap_or_default(),
                    },
                    LinkKind::Bridge => LinkRole::Bridge(l.bridge.unwrap_or_default()),
                    LinkKind::Tap => LinkRole::Tap(l.tap.unwrap_or_default()),
                    LinkKind::Macvlan => LinkRole::Macvlan {
                        parent_item: self.parent_seen(id, &l.parent).unwrap_or_default(),
                        mode: l.macvlan_mode.unwrap_or_default(),
                        parent_link: l.parent.clone(),
                    },
                    LinkKind::Vxlan => LinkRole::Vxlan {
                        // Not known: fits no item's, and is made again.
                        tunnel: l.vxlan.unwrap_or_default(),
                        parent_item: self.parent_seen(id, &l.parent),
                        parent_link: l.parent.clone(),
                    },
                    _ => LinkRole::Dummy,
                };
                let peer_link = seen.believed_peer(&l.peer);
                let a = LinkActual::observed(ns, l, role, peer_link, &iface.ip_addresses);
                self.set_actual(id, Actual::Link(a));
            }
            // An item that borrows exactly this link (it was the agent's before, under the
            // same item) keeps it, and step 3 takes it.
            None if self.interface_slot(item_name).is_some_and(|(_, s)| {
                matches!(s.desired.as_deref(), Some(Item::Interface(i))
                    if matches!(i.kind, InterfaceType::Existing | InterfaceType::Loopback | InterfaceType::TapToVpp)
                        && i.host_if_name == l.name
                        && self.resolve(&i.namespace).as_ref() == Ok(ns))
            }) => {}
            _ => {
                seen.stale_links.insert(l.name.as_str());
                self.queue_stale_removal(
                    Op::DeleteLink {
                        ns: ns.clone(),
                        name: l.name.clone(),
                    },
                    l.peer.clone(),
                    Some((ns.clone(), l.clone())),
                );
            }
        }
    }

    /// Items of this namespace that borrow a link (EXISTING, LOOPBACK) and hold none take the
    /// link of their name, if it is there and not a stale managed link being removed.
    fn take_borrowed_links(&mut self, seen: &Seen) {
        let ns = &seen.obs.ns;
        let members: Vec<ItemId> = self
            .refs_acting_in(ns)
            .iter()
            .filter_map(|r| self.ix.ns_members.get(r))
            .flat_map(|s| s.iter().copied())
            .collect();
        for id in members {
            let Some(iface) = self.desired_interface(id).cloned() else {
                continue;
            };
            if !matches!(
                iface.kind,
                InterfaceType::Existing | InterfaceType::Loopback | InterfaceType::TapToVpp
            ) {
                continue;
            }
            if self.slot(id).actual != Actual::None || self.slot(id).in_flight.is_some() {
                continue;
            }
            // A stale managed link being removed is no one's to borrow.
            let link = seen
                .links
                .get(iface.host_if_name.as_str())
                .filter(|l| !seen.stale_links.contains(l.name.as_str()))
                .copied();
            let asked = self.s.borrows.observed(ns, &iface.host_if_name, link);
            match link {
                Some(l) if self.s.config.identity.read(l.alias.as_deref()) == Mark::Foreign => {
                    let alias = l.alias.as_deref().unwrap_or_default();
                    let reason = format!(
                        "link '{}' carries another agent's mark ({alias}): it is that agent's to change",
                        l.name
                    );
                    self.s.borrows.release(ns, &iface.host_if_name);
                    self.refuse(id, reason);
                }
                Some(l) => {
                    let a =
                        LinkActual::observed(ns, l, LinkRole::Borrowed, None, &iface.ip_addresses);
                    self.set_actual(id, Actual::Link(a));
                    self.tap_taken(ns, &iface);
                }
                None if asked && iface.kind == InterfaceType::TapToVpp => {
                    self.tap_missing(id, &iface)
                }
                None if asked => self.borrowed_link_missing(id, ns, &iface.host_if_name),
                None => {}
            }
        }
        // A link being renamed or moved may show under either name, or not yet elsewhere.
        let moving: Vec<&str> = self
            .s
            .in_flight
            .values()
            .filter_map(|f| match &f.op {
                Op::MoveLink { ns: from, name, .. } if from == ns => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let there = |l: &str| {
            seen.links.contains_key(l)
                || seen.renaming.contains_key(l)
                || seen.renaming.values().any(|n| n == l)
                || moving.contains(&l)
        };
        self.s.borrows.observed_namespace(ns, there);
        self.take_taps_at_home(seen);
    }

    /// Items of this namespace (and their veth partners) that wait to retry after EEXIST try
    /// again now: the observation may be the news that the old link is gone.
    pub(super) fn retry_on_observe(&mut self, r: &NamespaceRef) {
        let Some(members) = self.ix.ns_members.get(r) else {
            return;
        };
        let mut ids: Vec<ItemId> = Vec::new();
        for &id in members {
            if self.slot(id).retry_on_observe {
                ids.push(id);
                if let Some(pid) = self
                    .slot(id)
                    .desired
                    .as_deref()
                    .and_then(|d| self.named_peer(d))
                {
                    ids.push(pid);
                }
            }
        }
        for id in ids {
            let slot = self.slot_mut(id);
            slot.retry_on_observe = false;
            if self.cancel_item_retry(id) {
                self.mark_dirty(id);
            }
        }
    }

    /// The item that would adopt a legacy-marked link named for `item_name` in step 2: one
    /// that wants a link of its own (veth, dummy) in `ns` and holds none.
    fn legacy_adopter(&self, item_name: &str, ns: &Netns) -> Option<ItemId> {
        let (id, s) = self.interface_slot(item_name)?;
        let fits = matches!(s.desired.as_deref(), Some(Item::Interface(i))
            if matches!(
                i.kind,
                InterfaceType::Veth | InterfaceType::Dummy | InterfaceType::Vrf | InterfaceType::Bridge | InterfaceType::Tap | InterfaceType::Macvlan | InterfaceType::Vxlan
            )
                && self.resolve(&i.namespace).as_ref() == Ok(ns));
        (fits && s.actual == Actual::None && s.in_flight.is_none()).then_some(id)
    }
}
