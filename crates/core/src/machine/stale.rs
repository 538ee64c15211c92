//! Stale objects: managed links, routes and neighbours that a resync found in the kernel and
//! that no item wants. The core removes them on no item's behalf, with the same retry policy as
//! items' commands, and keeps them indexed by what they stand in the way of, so that an item
//! that wants the same link name or route waits for the removal instead of racing it. Their
//! removals are issued after the items had their turn (`issue_due_stale`), since a stale route
//! on a link with a command in flight may go with that command.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, ErrorKind};
use crate::command::{CommandId, Op};
use crate::event::Timestamp;
use crate::firewall::ObservedTable;
use crate::identity::{AgentIdentity, Mark};
use crate::netns::Netns;
use crate::observed::{LinkKind, ObservedLink, ObservedNamespace};

use super::dirty::Resource;
use super::index::ids_in;
use super::state::{InFlight, ItemId, Owner};
use super::timers::TimerKey;
use super::Core;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StaleObject {
    pub(super) op: Op,
    pub(super) attempts: u32,
    /// For a stale veth end: its other end, which goes with it.
    pub(super) peer_link: Option<(Netns, String)>,
    pub(super) in_flight: Option<CommandId>,
    pub(super) retry_at: Option<Timestamp>,
    /// For a stale link: how resync saw it, and its other end if that was seen too, so that
    /// an item that comes back for it before the removal is on its way takes it back as it is
    /// instead of having it deleted and made again (which would change its ifindex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) found: Option<(Netns, ObservedLink)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) found_peer: Option<(Netns, ObservedLink)>,
}

impl StaleObject {
    /// What this removal stands in the way of.
    pub(super) fn resources(&self) -> Vec<Resource> {
        let mut res = match &self.op {
            Op::DeleteLink { ns, name } => vec![Resource::LinkName(ns.clone(), name.clone())],
            Op::DelRoute { ns, route } => {
                vec![Resource::route(ns, route)]
            }
            Op::DelNeighbour { ns, link, ip } => {
                vec![Resource::Neighbour(ns.clone(), link.clone(), *ip)]
            }
            Op::DelFdb {
                ns,
                link,
                mac,
                remote,
            } => vec![Resource::Fdb(ns.clone(), link.clone(), *mac, *remote)],
            Op::DeleteChain { ns, chain } => vec![Resource::Chain(
                ns.clone(),
                chain.family,
                chain.table,
                chain.holder.clone(),
            )],
            Op::DelRule { ns, rule } => vec![rule.place(ns)],
            _ => vec![],
        };
        if let Some((ns, name)) = &self.peer_link {
            res.push(Resource::LinkName(ns.clone(), name.clone()));
        }
        res
    }

    /// The link the removal acts on or through.
    pub(super) fn link(&self) -> Option<(Netns, String)> {
        match &self.op {
            Op::DeleteLink { ns, name } => Some((ns.clone(), name.clone())),
            // A multipath route's by its first path's link.
            Op::DelRoute { ns, route } => Some((
                ns.clone(),
                route.devs().next().unwrap_or_default().to_string(),
            )),
            Op::DelNeighbour { ns, link, .. } | Op::DelFdb { ns, link, .. } => {
                Some((ns.clone(), link.clone()))
            }
            _ => None,
        }
    }
}

/// Whether `l` is marked as this agent's link of `item` (legacy marks count: a stale link got
/// that far only if it was taken for the agent's).
pub(super) fn names(identity: &AgentIdentity, l: &ObservedLink, item: &str) -> bool {
    matches!(identity.read(l.alias.as_deref()), Mark::Mine(i) | Mark::Legacy(i) if i == item)
}

/// A stale link an item may take back (see [`StaleObjects::waiting_link_of`]).
pub(super) struct FoundLink {
    pub(super) removal: u64,
    pub(super) link: ObservedLink,
    /// The other end of a veth pair: where it is, and how resync saw it if it did.
    pub(super) other: Option<(Netns, String)>,
    pub(super) other_seen: Option<(Netns, ObservedLink)>,
}

/// Every pending removal of a stale object. Fed by resync (`add`), drained after each event by
/// `issue_due_stale`, and told of every result; its indexes by resource and by link are
/// rebuilt on restore, so that items can ask cheaply whether a removal stands in their way.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct StaleObjects {
    map: BTreeMap<u64, StaleObject>,
    next: u64,
    /// Ready to be issued: neither in flight nor waiting for a retry.
    due: VecDeque<u64>,
    #[serde(skip)]
    by_resource: BTreeMap<Resource, BTreeSet<u64>>,
    #[serde(skip)]
    by_link: BTreeMap<(Netns, String), BTreeSet<u64>>,
}

fn ids(set: Option<&BTreeSet<u64>>) -> Vec<u64> {
    set.map(|s| s.iter().copied().collect()).unwrap_or_default()
}

impl StaleObjects {
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The stale MACVLANs and VXLANs being removed from the link `at`, by their names: one
    /// made there meanwhile might be refused for them (a PASSTHRU MACVLAN is alone on its
    /// parent, an up one's MAC its own, a VNI one VXLAN's). A scan: they are few, and looked
    /// for only then.
    pub(super) fn stacked_on(&self, at: &(Netns, String)) -> Vec<Resource> {
        self.stacked_removals_on(at)
            .into_iter()
            .filter_map(|o| self.map.get(&o)?.found.as_ref())
            .map(|(ns, l)| Resource::LinkName(ns.clone(), l.name.clone()))
            .collect()
    }

    /// The removals of stale links on the link `at`, which the kernel deletes with it.
    pub(super) fn stacked_removals_on(&self, at: &(Netns, String)) -> Vec<u64> {
        self.map
            .iter()
            .filter(|(_, o)| {
                o.found
                    .as_ref()
                    .is_some_and(|(_, l)| l.kind.on_parent() && l.parent.as_ref() == Some(at))
            })
            .map(|(o, _)| *o)
            .collect()
    }

    /// Rebuilds the indexes after a restore.
    pub(super) fn rebuild(&mut self) {
        self.by_resource.clear();
        self.by_link.clear();
        let ids: Vec<u64> = self.map.keys().copied().collect();
        for o in ids {
            self.index(o);
        }
    }

    fn index(&mut self, o: u64) {
        let Some(obj) = self.map.get(&o) else {
            return;
        };
        for res in obj.resources() {
            self.by_resource.entry(res).or_default().insert(o);
        }
        if let Some(link) = obj.link() {
            self.by_link.entry(link).or_default().insert(o);
        }
    }

    fn unindex(&mut self, o: u64, obj: &StaleObject) {
        for res in obj.resources() {
            if let Some(set) = self.by_resource.get_mut(&res) {
                set.remove(&o);
                if set.is_empty() {
                    self.by_resource.remove(&res);
                }
            }
        }
        if let Some(link) = obj.link() {
            if let Some(set) = self.by_link.get_mut(&link) {
                set.remove(&o);
                if set.is_empty() {
                    self.by_link.remove(&link);
                }
            }
        }
    }

    /// Queues the removal, unless it is queued already or another removal covers it (the other
    /// end of a stale veth pair takes this one along). Either way the link is remembered as
    /// this, the latest, resync saw it: an item that takes it back believes what it holds, and
    /// a belief from an earlier look would miss what changed by hand since (an address
    /// removed, the link taken down), so the item would send removals the kernel refuses.
    pub(super) fn add(
        &mut self,
        op: Op,
        peer_link: Option<(Netns, String)>,
        found: Option<(Netns, ObservedLink)>,
    ) {
        let obj = StaleObject {
            op,
            attempts: 0,
            peer_link,
            in_flight: None,
            retry_at: None,
            found,
            found_peer: None,
        };
        let covering = obj
            .resources()
            .first()
            .and_then(|res| self.by_resource.get(res))
            .and_then(|set| set.first().copied());
        if let Some(c) = covering {
            let this = obj.link();
            if let (Some(cover), Some(found)) = (self.map.get_mut(&c), obj.found) {
                if matches!(cover.op, Op::DeleteLink { .. }) && cover.link() == this {
                    cover.found = Some(found);
                } else if cover.peer_link == this {
                    // The other end of a stale veth pair: remembered with the removal that
                    // takes it along.
                    cover.found_peer = Some(found);
                }
            }
            return;
        }
        let o = self.next;
        self.next += 1;
        self.map.insert(o, obj);
        self.index(o);
        self.due.push_back(o);
    }

    /// A link removal not yet on its way, of a link that resync saw in `ns` with `item`'s
    /// alias: the removal, that link, and the other end of the pair as seen, if it was.
    /// A scan: asked only when an item is about to make a link while removals are pending.
    pub(super) fn waiting_link_of(
        &self,
        ns: &Netns,
        item: &str,
        identity: &AgentIdentity,
    ) -> Option<FoundLink> {
        self.map.iter().find_map(|(&o, obj)| {
            if obj.in_flight.is_some() || !matches!(obj.op, Op::DeleteLink { .. }) {
                return None;
            }
            let mine = |end: &Option<(Netns, ObservedLink)>| {
                end.as_ref()
                    .filter(|(n, l)| n == ns && names(identity, l, item))
                    .map(|(_, l)| l.clone())
            };
            if let Some(link) = mine(&obj.found) {
                let other = obj.peer_link.clone();
                let other_seen = obj.found_peer.clone();
                return Some(FoundLink {
                    removal: o,
                    link,
                    other,
                    other_seen,
                });
            }
            mine(&obj.found_peer).map(|link| FoundLink {
                removal: o,
                link,
                other: obj.link(),
                other_seen: obj.found.clone(),
            })
        })
    }

    pub(super) fn get(&self, o: u64) -> Option<&StaleObject> {
        self.map.get(&o)
    }

    pub(super) fn get_mut(&mut self, o: u64) -> Option<&mut StaleObject> {
        self.map.get_mut(&o)
    }

    pub(super) fn remove(&mut self, o: u64) -> Option<StaleObject> {
        let obj = self.map.remove(&o)?;
        self.unindex(o, &obj);
        Some(obj)
    }

    /// The pending removals that stand in the way of `res` (for a link name: the removal of
    /// the link, or of the veth pair it is an end of).
    pub(super) fn removals_of(&self, res: &Resource) -> Vec<u64> {
        ids(self.by_resource.get(res))
    }

    /// Whether a pending removal stands in the way of `res`.
    pub(super) fn blocks(&self, res: &Resource) -> bool {
        !self.map.is_empty() && self.by_resource.contains_key(res)
    }

    /// Removals acting on or through the link `name` in `ns`.
    pub(super) fn on_link(&self, ns: &Netns, name: &str) -> Vec<u64> {
        if self.map.is_empty() {
            return vec![];
        }
        self.by_link
            .get(&(ns.clone(), name.to_string()))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Removals in a namespace, or of a veth whose other end is in it (the kernel destroys
    /// both ends with the namespace); only for a vanished namespace, so a scan is fine.
    pub(super) fn in_namespace(&self, ns: &Netns) -> Vec<u64> {
        self.map
            .iter()
            .filter(|(_, o)| {
                o.op.namespace() == *ns || o.peer_link.as_ref().is_some_and(|(n, _)| n == ns)
            })
            .map(|(o, _)| *o)
            .collect()
    }

    /// Whether a chain removal is pending in `ns`.
    pub(super) fn has_chain_in(&self, ns: &Netns) -> bool {
        self.map
            .values()
            .any(|o| matches!(&o.op, Op::DeleteChain { ns: n, .. } if n == ns))
    }

    /// The link `old` in `ns` is now called `new`: removals through it that are not yet on
    /// their way name it so.
    pub(super) fn rename_link(&mut self, ns: &Netns, old: &str, new: &str) {
        for o in self.on_link(ns, old) {
            let Some(obj) = self.map.remove(&o) else {
                continue;
            };
            self.unindex(o, &obj);
            let mut obj = obj;
            if obj.in_flight.is_none() {
                match &mut obj.op {
                    Op::DelRoute { route, .. } => route.rename_dev(old, new),
                    Op::DelNeighbour { link, .. } | Op::DelFdb { link, .. } => {
                        *link = new.to_string()
                    }
                    _ => {}
                }
            }
            self.map.insert(o, obj);
            self.index(o);
        }
    }

    fn take_due(&mut self) -> VecDeque<u64> {
        std::mem::take(&mut self.due)
    }

    pub(super) fn requeue(&mut self, o: u64) {
        self.due.push_back(o);
    }

    pub(super) fn clear(&mut self) -> Vec<(u64, StaleObject)> {
        self.due.clear();
        self.by_resource.clear();
        self.by_link.clear();
        std::mem::take(&mut self.map).into_iter().collect()
    }
}

impl Core {
    /// A stale object's removal is over: done, found pointless, or given up. `gone`: the object
    /// is not in the kernel any more, and neither is what went with it.
    pub(super) fn finish_stale(&mut self, o: u64, gone: bool) {
        let Some(obj) = self.s.stale.remove(o) else {
            return;
        };
        let mut handle = obj.retry_at;
        self.s.timers.cancel(&mut handle, TimerKey::Stale(o));
        for res in obj.resources() {
            self.wake_waiters(&res);
        }
        if let (true, Op::DeleteLink { ns, name }) = (gone, &obj.op) {
            // Whoever still believed it held the link (an item put back while the removal
            // waited to retry) holds nothing now, and makes it again.
            self.forget_link_at(ns, name);
            // A stale VRF removed released its members, cycling them; a bridge, leaving them.
            match &obj.found {
                Some((_, l)) if l.kind == LinkKind::Bridge => self.bridge_gone(ns, name),
                _ => self.vrf_gone(ns, name),
            }
            if let Some((pns, pname)) = &obj.peer_link {
                self.forget_link_at(pns, pname);
            }
        }
        // Whatever waited on these links (routes parked behind the removal) gets its turn.
        let links = obj.link().into_iter().chain(obj.peer_link.clone());
        for (ns, name) in links {
            if let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), name.clone())) {
                self.mark_related_dirty(owner);
            }
            let on: Vec<ItemId> = ids_in(self.ix.on_link.get(&(ns, name)));
            for id in on {
                self.mark_dirty(id);
            }
        }
    }

    /// Whether a stale object's removal, pending or in flight, is about the object an item
    /// wants to make: the item waits for it rather than race it.
    pub(super) fn blocked_by_stale(&mut self, res: Resource, id: ItemId) -> bool {
        let blocked = self.s.stale.blocks(&res);
        if blocked {
            self.wait_for(res, id);
        }
        blocked
    }

    pub(super) fn queue_stale_removal(
        &mut self,
        op: Op,
        peer_link: Option<(Netns, String)>,
        found: Option<(Netns, ObservedLink)>,
    ) {
        self.s.stale.add(op, peer_link, found);
    }

    /// Issues the removals of stale objects that are due, after the items had their turn: a
    /// stale route or neighbour on a link with a command in flight waits for it, since that
    /// command may remove or flush it and removing it as well would race.
    pub(super) fn issue_due_stale(&mut self) {
        if self.s.stale.is_empty() || self.s.awaiting_resync {
            return;
        }
        for o in self.s.stale.take_due() {
            let Some(obj) = self.s.stale.get(o) else {
                continue;
            };
            if obj.in_flight.is_some() || obj.retry_at.is_some() {
                continue;
            }
            let waits = match &obj.op {
                Op::DelRoute { ns, route } => route.devs().any(|d| self.link_changing(ns, d)),
                Op::DelNeighbour { ns, link, .. } | Op::DelFdb { ns, link, .. } => {
                    self.link_changing(ns, link)
                }
                Op::DeleteLink { .. } => self.wanted_back(obj) || self.goes_with_stale_parent(obj),
                _ => false,
            };
            if waits {
                self.s.stale.requeue(o);
                continue;
            }
            let op = obj.op.clone();
            let cid = CommandId(self.s.next_command);
            if let Some(obj) = self.s.stale.get_mut(o) {
                obj.in_flight = Some(cid);
            }
            self.issue(op, Owner::Stale(o));
        }
    }

    /// Whether `obj` is a stale MACVLAN or VXLAN whose parent is being removed or changed: the
    /// kernel deletes it along (`stacked_at_gone` then finishes its removal); sent meanwhile,
    /// the two removals could reach the kernel in either order.
    fn goes_with_stale_parent(&self, obj: &StaleObject) -> bool {
        let Some((_, l)) = &obj.found else {
            return false;
        };
        match (&l.kind, &l.parent) {
            (kind, Some((ns, name))) if kind.on_parent() => {
                self.s
                    .stale
                    .blocks(&Resource::LinkName(ns.clone(), name.clone()))
                    || self.link_changing(ns, name)
            }
            _ => false,
        }
    }

    /// Removals not on their way whose object `obs` (a fresh look at their namespace) no longer
    /// holds are over: someone else, or the kernel (a link taken down drops its routes), took
    /// the object away, and sending the removal would only be refused.
    pub(super) fn prune_gone_stale(&mut self, obs: &ObservedNamespace) {
        for o in self.s.stale.in_namespace(&obs.ns) {
            let Some(obj) = self.s.stale.get(o) else {
                continue;
            };
            // A pair's removal listed by its other end's namespace is judged in its own.
            if obj.in_flight.is_some() || obj.op.namespace() != obs.ns {
                continue;
            }
            let gone = match &obj.op {
                Op::DeleteLink { name, .. } => !obs.links.iter().any(|l| &l.name == name),
                Op::DelRoute { route, .. } => !obs.routes.iter().any(|r| {
                    r.dev == route.dev
                        && r.dst == route.dst
                        && r.metric == route.metric
                        && r.table == route.table
                }),
                Op::DelNeighbour { link, ip, .. } => !obs
                    .neighbours
                    .iter()
                    .any(|n| &n.link == link && n.ip == *ip),
                Op::DelFdb {
                    link, mac, remote, ..
                } => !obs
                    .links
                    .iter()
                    .any(|l| &l.name == link && l.fdb.contains(&(*mac, *remote))),
                Op::DelRule { rule, .. } => !obs.rules.contains(rule),
                _ => false,
            };
            if gone {
                self.finish_stale(o, true);
            }
        }
    }

    /// Chain removals not on their way whose chain a fresh look at `ns` no longer shows are
    /// over, like [`Core::prune_gone_stale`] for links.
    pub(super) fn prune_gone_chains(&mut self, ns: &Netns, tables: &[ObservedTable]) {
        let gone: Vec<u64> = self
            .s
            .stale
            .map
            .iter()
            .filter(|(_, o)| o.in_flight.is_none())
            .filter_map(|(&id, o)| match &o.op {
                Op::DeleteChain { ns: n, chain } if n == ns => {
                    let there = tables.iter().any(|t| {
                        t.family == chain.family
                            && t.table == chain.table
                            && t.chains.iter().any(|c| c.name == chain.holder)
                    });
                    (!there).then_some(id)
                }
                _ => None,
            })
            .collect();
        for o in gone {
            self.finish_stale(o, true);
        }
    }

    pub(super) fn on_stale_result(
        &mut self,
        o: u64,
        flight: &InFlight,
        result: Result<(), BackendError>,
        outdated: bool,
    ) {
        if let Op::DeleteLink { ns, name } = &flight.op {
            // What waited on its members for it ([`Core::vrf_busy`]) gets its turn.
            self.wake_vrf_members(ns, name);
        }
        let retry = match result {
            Ok(()) => None,
            // The namespace vanished meanwhile: the object went with it.
            Err(_) if outdated => None,
            Err(e)
                if self.failure_means_done(&flight.op, &e)
                    || e.kind == ErrorKind::NamespaceGone =>
            {
                None
            }
            Err(e) => Some(e),
        };
        let Some(error) = retry else {
            return self.finish_stale(o, true);
        };
        if !error.kind.is_retriable() {
            // Nothing more to try; the next resync will find it again.
            return self.finish_stale(o, false);
        }
        let Some(attempts) = self.s.stale.get(o).map(|obj| obj.attempts + 1) else {
            return;
        };
        let at = self.retry_time(attempts);
        if let Some(obj) = self.s.stale.get_mut(o) {
            obj.in_flight = None;
            obj.attempts = attempts;
            self.s.timers.arm(&mut obj.retry_at, at, TimerKey::Stale(o));
        }
    }
}

#[cfg(test)]
mod tests;
