//! Stale objects: managed links, routes and neighbours that a resync found in the kernel and
//! that no item wants. The core removes them on no item's behalf, with the same retry policy as
//! items' commands, and keeps them indexed by what they stand in the way of, so that an item
//! that wants the same link name or route waits for the removal instead of racing it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::command::{CommandId, Op};
use crate::event::Timestamp;
use crate::netns::Netns;

/// Something an item can wait for: a link name, a route slot or a neighbour entry that another
/// item, or a stale object's removal, holds for now.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Resource {
    LinkName(Netns, String),
    Route(Netns, IpNet, u32),
    Neighbour(Netns, String, IpAddr),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Orphan {
    pub(crate) op: Op,
    pub(crate) attempts: u32,
    /// For a stale veth end: its other end, which goes with it.
    pub(crate) peer_link: Option<(Netns, String)>,
    pub(crate) in_flight: Option<CommandId>,
    pub(crate) retry_at: Option<Timestamp>,
}

impl Orphan {
    /// What this removal stands in the way of.
    pub(crate) fn resources(&self) -> Vec<Resource> {
        let mut res = match &self.op {
            Op::DeleteLink { ns, name } => vec![Resource::LinkName(ns.clone(), name.clone())],
            Op::DelRoute { ns, route } => {
                vec![Resource::Route(ns.clone(), route.dst, route.metric)]
            }
            Op::DelNeighbour { ns, link, ip } => {
                vec![Resource::Neighbour(ns.clone(), link.clone(), *ip)]
            }
            _ => vec![],
        };
        if let Some((ns, name)) = &self.peer_link {
            res.push(Resource::LinkName(ns.clone(), name.clone()));
        }
        res
    }

    /// The link the removal acts on or through.
    pub(crate) fn link(&self) -> Option<(Netns, String)> {
        match &self.op {
            Op::DeleteLink { ns, name } => Some((ns.clone(), name.clone())),
            Op::DelRoute { ns, route } => Some((ns.clone(), route.dev.clone())),
            Op::DelNeighbour { ns, link, .. } => Some((ns.clone(), link.clone())),
            _ => None,
        }
    }
}

/// Every pending removal of a stale object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Orphans {
    map: BTreeMap<u64, Orphan>,
    next: u64,
    /// Ready to be issued: neither in flight nor waiting for a retry.
    due: VecDeque<u64>,
    #[serde(skip)]
    by_resource: BTreeMap<Resource, BTreeSet<u64>>,
    #[serde(skip)]
    by_link: BTreeMap<(Netns, String), BTreeSet<u64>>,
}

impl Orphans {
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Rebuilds the indexes after a restore.
    pub(crate) fn rebuild(&mut self) {
        self.by_resource.clear();
        self.by_link.clear();
        let ids: Vec<u64> = self.map.keys().copied().collect();
        for o in ids {
            self.index(o);
        }
    }

    fn index(&mut self, o: u64) {
        let Some(orphan) = self.map.get(&o) else {
            return;
        };
        for res in orphan.resources() {
            self.by_resource.entry(res).or_default().insert(o);
        }
        if let Some(link) = orphan.link() {
            self.by_link.entry(link).or_default().insert(o);
        }
    }

    fn unindex(&mut self, o: u64, orphan: &Orphan) {
        for res in orphan.resources() {
            if let Some(set) = self.by_resource.get_mut(&res) {
                set.remove(&o);
                if set.is_empty() {
                    self.by_resource.remove(&res);
                }
            }
        }
        if let Some(link) = orphan.link() {
            if let Some(set) = self.by_link.get_mut(&link) {
                set.remove(&o);
                if set.is_empty() {
                    self.by_link.remove(&link);
                }
            }
        }
    }

    /// Queues the removal, unless it is queued already or another removal covers it (the other
    /// end of a stale veth pair takes this one along).
    pub(crate) fn add(&mut self, op: Op, peer_link: Option<(Netns, String)>) {
        let orphan = Orphan {
            op,
            attempts: 0,
            peer_link,
            in_flight: None,
            retry_at: None,
        };
        let covered = orphan
            .resources()
            .first()
            .is_some_and(|res| self.by_resource.contains_key(res));
        if covered {
            return;
        }
        let o = self.next;
        self.next += 1;
        self.map.insert(o, orphan);
        self.index(o);
        self.due.push_back(o);
    }

    pub(crate) fn get(&self, o: u64) -> Option<&Orphan> {
        self.map.get(&o)
    }

    pub(crate) fn get_mut(&mut self, o: u64) -> Option<&mut Orphan> {
        self.map.get_mut(&o)
    }

    pub(crate) fn remove(&mut self, o: u64) -> Option<Orphan> {
        let orphan = self.map.remove(&o)?;
        self.unindex(o, &orphan);
        Some(orphan)
    }

    /// Whether a pending removal stands in the way of `res`.
    pub(crate) fn blocks(&self, res: &Resource) -> bool {
        !self.map.is_empty() && self.by_resource.contains_key(res)
    }

    /// Removals acting on or through the link `name` in `ns`.
    pub(crate) fn on_link(&self, ns: &Netns, name: &str) -> Vec<u64> {
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
    pub(crate) fn in_namespace(&self, ns: &Netns) -> Vec<u64> {
        self.map
            .iter()
            .filter(|(_, o)| {
                o.op.namespace() == *ns || o.peer_link.as_ref().is_some_and(|(n, _)| n == ns)
            })
            .map(|(o, _)| *o)
            .collect()
    }

    /// The link `old` in `ns` is now called `new`: removals through it that are not yet on
    /// their way name it so.
    pub(crate) fn rename_link(&mut self, ns: &Netns, old: &str, new: &str) {
        for o in self.on_link(ns, old) {
            let Some(orphan) = self.map.remove(&o) else {
                continue;
            };
            self.unindex(o, &orphan);
            let mut orphan = orphan;
            if orphan.in_flight.is_none() {
                match &mut orphan.op {
                    Op::DelRoute { route, .. } => route.dev = new.to_string(),
                    Op::DelNeighbour { link, .. } => *link = new.to_string(),
                    _ => {}
                }
            }
            self.map.insert(o, orphan);
            self.index(o);
        }
    }

    pub(crate) fn take_due(&mut self) -> VecDeque<u64> {
        std::mem::take(&mut self.due)
    }

    pub(crate) fn requeue(&mut self, o: u64) {
        self.due.push_back(o);
    }

    pub(crate) fn clear(&mut self) -> Vec<(u64, Orphan)> {
        self.due.clear();
        self.by_resource.clear();
        self.by_link.clear();
        std::mem::take(&mut self.map).into_iter().collect()
    }
}
