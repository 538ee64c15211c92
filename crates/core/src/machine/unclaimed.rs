//! Resync's last step: the routes, neighbours and FDB entries a snapshot shows on the agent's
//! own links that no belief claimed in the steps before (`resync.rs`). Each is adopted by the
//! item whose key it fits, if that item holds nothing yet and is idle, or else removed as a
//! stale object; one whose item has a command in flight is left alone, as the snapshot may
//! predate the result.

use crate::command::{Op, RouteSpec};
use crate::model::{ItemKey, MAIN_TABLE};

use super::dirty::Resource;
use super::seen::Seen;
use super::state::{Actual, FdbActual, ItemId, NeighbourActual, RouteActual};
use super::Core;

impl Core {
    /// Routes on managed links that no item claimed: adopted by their item, or removed.
    pub(super) fn resync_routes(&mut self, seen: &Seen) {
        let ns = &seen.obs.ns;
        for (i, r) in seen.obs.routes.iter().enumerate() {
            if seen.claimed_routes.contains(&i) {
                continue;
            }
            let Some(key) = self.route_item_of(seen, r) else {
                continue;
            };
            if self.has_command_in_flight(&key) {
                continue;
            }
            let res = Resource::route(ns, r);
            match self.adoptable(&key) {
                Some(_) if !self.take_back_from_stale(&res) => {}
                Some(id) => self.set_actual(
                    id,
                    Actual::Route(RouteActual {
                        ns: ns.clone(),
                        route: r.clone(),
                    }),
                ),
                None => self.queue_stale_removal(
                    Op::DelRoute {
                        ns: ns.clone(),
                        route: r.clone(),
                    },
                    None,
                    None,
                ),
            }
        }
    }

    /// The key of the item a route seen on managed links would be, if it is on one. A
    /// multipath route's item may name any of its paths' interfaces (or one of none, which
    /// resync does not find): the first that has an item, else the first managed.
    fn route_item_of(&self, seen: &Seen, r: &RouteSpec) -> Option<ItemKey> {
        let mut keys = r
            .devs()
            .filter_map(|d| seen.managed.get(d))
            .map(|name| self.route_key_of(r, name));
        let first = keys.next()?;
        if self.ix.by_key.contains_key(&first) {
            return Some(first);
        }
        Some(
            keys.find(|k| self.ix.by_key.contains_key(k))
                .unwrap_or(first),
        )
    }

    /// The key of the item a route seen on `interface`'s link would be: one that names the
    /// route's table, if there is such an item, or else the one that does not (a route of
    /// main, its VRF's or, for a local route, the local table).
    fn route_key_of(&self, r: &RouteSpec, interface: &str) -> ItemKey {
        let key = |table| ItemKey::Route {
            dst: r.dst,
            interface: interface.to_string(),
            table,
        };
        let named = key(Some(r.table.unwrap_or(MAIN_TABLE)));
        if self.ix.by_key.contains_key(&named) {
            return named;
        }
        key(None)
    }

    /// Neighbours on managed links that no item claimed: adopted by their item, or removed.
    pub(super) fn resync_neighbours(&mut self, seen: &Seen) {
        let ns = &seen.obs.ns;
        for (i, n) in seen.obs.neighbours.iter().enumerate() {
            if seen.claimed_neigh.contains(&i) {
                continue;
            }
            let Some(item_name) = seen.managed.get(n.link.as_str()) else {
                continue;
            };
            let key = ItemKey::Arp {
                interface: item_name.to_string(),
                ip: n.ip,
            };
            if self.has_command_in_flight(&key) {
                continue;
            }
            let res = Resource::Neighbour(ns.clone(), n.link.clone(), n.ip);
            match self.adoptable(&key) {
                Some(_) if !self.take_back_from_stale(&res) => {}
                Some(id) => {
                    let a = NeighbourActual {
                        ns: ns.clone(),
                        link: n.link.clone(),
                        ip: n.ip,
                        mac: n.mac,
                    };
                    self.set_actual(id, Actual::Neighbour(a))
                }
                None => self.queue_stale_removal(
                    Op::DelNeighbour {
                        ns: ns.clone(),
                        link: n.link.clone(),
                        ip: n.ip,
                    },
                    None,
                    None,
                ),
            }
        }
    }

    /// Permanent FDB entries on managed VXLANs that no item claimed: adopted by their item, or
    /// removed. The entry the kernel keeps for a VXLAN's own remote is the VXLAN's, not stale.
    pub(super) fn resync_fdb(&mut self, seen: &Seen) {
        let ns = &seen.obs.ns;
        for l in &seen.obs.links {
            let Some(item_name) = seen.managed.get(l.name.as_str()) else {
                continue;
            };
            for (i, (mac, remote)) in l.fdb.iter().enumerate() {
                let own_remote = mac.0 == [0; 6] && l.vxlan.and_then(|t| t.remote) == Some(*remote);
                if seen.claimed_fdb.contains(&(l.name.as_str(), i)) || own_remote {
                    continue;
                }
                let key = ItemKey::Fdb {
                    interface: item_name.to_string(),
                    mac: *mac,
                    remote: *remote,
                };
                if self.has_command_in_flight(&key) {
                    continue;
                }
                let res = Resource::Fdb(ns.clone(), l.name.clone(), *mac, *remote);
                match self.adoptable(&key) {
                    Some(_) if !self.take_back_from_stale(&res) => {}
                    Some(id) => {
                        let f = FdbActual {
                            ns: ns.clone(),
                            link: l.name.clone(),
                            mac: *mac,
                            remote: *remote,
                        };
                        self.set_actual(id, Actual::Fdb(f))
                    }
                    None => self.queue_stale_removal(
                        Op::DelFdb {
                            ns: ns.clone(),
                            link: l.name.clone(),
                            mac: *mac,
                            remote: *remote,
                        },
                        None,
                        None,
                    ),
                }
            }
        }
    }

    /// Whether the item with this key has a command in flight: whatever the kernel shows of it
    /// may be older than that command's result, so a resync leaves it alone.
    pub(super) fn has_command_in_flight(&self, key: &ItemKey) -> bool {
        self.ix
            .by_key
            .get(key)
            .is_some_and(|id| self.slot(*id).in_flight.is_some())
    }

    pub(super) fn adoptable(&self, key: &ItemKey) -> Option<ItemId> {
        let id = *self.ix.by_key.get(key)?;
        let s = self.slot(id);
        (s.desired.is_some() && s.actual == Actual::None && s.in_flight.is_none()).then_some(id)
    }
}
