//! Routes, neighbours and FDB entries. All live on their interface's link and follow one
//! pattern: wait until the interface is applied and its link up (with every address a
//! `link_only` interface lists, a route's gateway reachable, an FDB entry's interface a
//! VXLAN), never act while the interface has a command in flight, and replace in place what
//! keeps its kernel identity (an FDB entry's identity is all of it).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::command::{Hop, Op, RouteSpec};
use crate::model::{Item, MacAddr, Route, RouteScope, RouteType, LOCAL_TABLE, MAIN_TABLE};
use crate::netns::Netns;
use crate::status::{ItemState, PendingReason};

use super::dirty::{route_slot, Resource};
use super::index::ids_in;
use super::state::{Actual, ItemId, LinkActual, LinkRole, Owner, RouteActual};
use super::Core;

/// The links of a multipath route's paths, by their interface items.
type HopLinks = Vec<(String, LinkActual)>;

/// What a route, neighbour or FDB item wants in the kernel, on its interface's link.
enum L3Target {
    Route(RouteSpec),
    Neighbour {
        link: String,
        ip: IpAddr,
        mac: MacAddr,
    },
    Fdb {
        link: String,
        mac: MacAddr,
        remote: IpAddr,
    },
}

impl L3Target {
    /// `table`: the routing table of the interface's routes (its VRF's; `None`: main).
    /// `hop_links`: a multipath route's hops' links, by their interfaces.
    pub(super) fn of(
        item: &Item,
        link: &LinkActual,
        interface: &str,
        table: Option<u32>,
        hop_links: &[(String, LinkActual)],
    ) -> Result<L3Target, PendingReason> {
        match item {
            Item::Route(r) => route_spec(r, link, interface, table, hop_links).map(L3Target::Route),
            Item::Arp(a) => Ok(L3Target::Neighbour {
                link: link.name.clone(),
                ip: a.ip_address,
                mac: a.hw_address,
            }),
            Item::Fdb(f) if matches!(link.role, LinkRole::Vxlan { .. }) => Ok(L3Target::Fdb {
                link: link.name.clone(),
                mac: f.hw_address,
                remote: f.remote_ip,
            }),
            Item::Fdb(_) => Err(PendingReason::NotAVxlan(interface.to_string())),
            Item::Interface(_) | Item::RuleChain(_) | Item::PolicyRule(_) => {
                Err(PendingReason::InterfaceNotConfigured(interface.to_string()))
            }
        }
    }

    /// Whether what is in the kernel can become this in place: same namespace and link, and
    /// for a route the same destination and metric (the kernel's identity of a route).
    pub(super) fn fits(&self, actual: &Actual, ns: &Netns) -> bool {
        match (self, actual) {
            (L3Target::Route(spec), Actual::Route(a)) => {
                // One path and many replace each other in place; a path's link is not part
                // of the kernel's identity, but the agent's beliefs are kept by it.
                let multipath = !(a.route.hops.is_empty() && spec.hops.is_empty());
                a.ns == *ns
                    && (multipath || a.route.dev == spec.dev)
                    && a.route.dst == spec.dst
                    && a.route.metric == spec.metric
                    && a.route.table == spec.table
            }
            (L3Target::Neighbour { link, ip, .. }, Actual::Neighbour(a)) => {
                a.ns == *ns && a.link == *link && a.ip == *ip
            }
            (L3Target::Fdb { link, mac, remote }, Actual::Fdb(a)) => {
                a.ns == *ns && a.link == *link && a.mac == *mac && a.remote == *remote
            }
            _ => false,
        }
    }

    /// The in-place change that makes what is there this, if it differs.
    fn update(&self, actual: &Actual, ns: &Netns) -> Option<Op> {
        match (self, actual) {
            (L3Target::Route(spec), Actual::Route(a)) if a.route != *spec => {
                Some(Op::ReplaceRoute {
                    ns: ns.clone(),
                    route: spec.clone(),
                })
            }
            (L3Target::Neighbour { link, ip, mac }, Actual::Neighbour(a)) if a.mac != *mac => {
                Some(Op::SetNeighbour {
                    ns: ns.clone(),
                    link: link.clone(),
                    ip: *ip,
                    mac: *mac,
                })
            }
            _ => None,
        }
    }

    fn addition(self, ns: Netns) -> Op {
        match self {
            L3Target::Route(route) => Op::AddRoute { ns, route },
            L3Target::Neighbour { link, ip, mac } => Op::SetNeighbour { ns, link, ip, mac },
            L3Target::Fdb { link, mac, remote } => Op::AddFdb {
                ns,
                link,
                mac,
                remote,
            },
        }
    }

    pub(super) fn resource(&self, ns: &Netns) -> Resource {
        match self {
            L3Target::Route(spec) => Resource::route(ns, spec),
            L3Target::Neighbour { link, ip, .. } => {
                Resource::Neighbour(ns.clone(), link.clone(), *ip)
            }
            L3Target::Fdb { link, mac, remote } => {
                Resource::Fdb(ns.clone(), link.clone(), *mac, *remote)
            }
        }
    }
}

impl Actual {
    /// The command that removes a route, neighbour or FDB entry the kernel holds.
    pub(super) fn removal(&self) -> Option<Op> {
        match self {
            Actual::Route(r) => Some(Op::DelRoute {
                ns: r.ns.clone(),
                route: r.route.clone(),
            }),
            Actual::Neighbour(n) => Some(Op::DelNeighbour {
                ns: n.ns.clone(),
                link: n.link.clone(),
                ip: n.ip,
            }),
            Actual::Fdb(f) => Some(Op::DelFdb {
                ns: f.ns.clone(),
                link: f.link.clone(),
                mac: f.mac,
                remote: f.remote,
            }),
            _ => None,
        }
    }
}

/// The route a route item wants on its interface's link. `vrf_table`: the table of the
/// interface's routes (its VRF's; `None`: main), where the item names none.
fn route_spec(
    r: &Route,
    link: &LinkActual,
    interface: &str,
    vrf_table: Option<u32>,
    hop_links: &[(String, LinkActual)],
) -> Result<RouteSpec, PendingReason> {
    reachable(r.gw_addr, link, interface)?;
    let mut hops = Vec::with_capacity(r.next_hops.len());
    for h in &r.next_hops {
        let hop_link = match hop_links.iter().find(|(i, _)| *i == h.outgoing_interface) {
            Some((_, l)) => l,
            None if h.outgoing_interface == interface => link,
            None => {
                return Err(PendingReason::InterfaceNotReady(
                    h.outgoing_interface.clone(),
                ))
            }
        };
        reachable(h.gw_addr, hop_link, &h.outgoing_interface)?;
        hops.push(Hop {
            dev: hop_link.name.clone(),
            gw: h.gw_addr,
            weight: h.weight,
        });
    }
    if let Some(src) = r.src_addr {
        if !link.addresses.iter().any(|a| a.addr() == src) {
            return Err(PendingReason::SourceMissing {
                interface: interface.to_string(),
                src: src.to_string(),
            });
        }
    }
    let table = match r.table {
        Some(MAIN_TABLE) => None,
        Some(t) => Some(t),
        None if r.route_type == RouteType::Local => vrf_table.or(Some(LOCAL_TABLE)),
        None => vrf_table,
    };
    Ok(RouteSpec {
        dev: if r.route_type.has_device() && hops.is_empty() {
            link.name.clone()
        } else {
            String::new()
        },
        dst: r.dst_network,
        gw: r.gw_addr,
        metric: kernel_metric(r.dst_network, r.metric),
        scope: kernel_scope(r.dst_network, r.scope),
        table,
        kind: r.route_type,
        src: r.src_addr,
        mtu: r.mtu,
        hops,
    })
}

/// A gateway is reachable through a link with an address of its network.
fn reachable(gw: Option<IpAddr>, link: &LinkActual, interface: &str) -> Result<(), PendingReason> {
    match gw {
        Some(gw) if !link.addresses.iter().any(|a| a.contains(&gw)) => {
            Err(PendingReason::GatewayUnreachable {
                gw: gw.to_string(),
                interface: interface.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// The metric the kernel stores: an IPv6 route asked for with metric 0 gets 1024
/// (IP6_RT_PRIO_USER), and must be compared as such on resync.
fn kernel_metric(dst: IpNet, metric: u32) -> u32 {
    match (dst, metric) {
        (IpNet::V6(_), 0) => 1024,
        _ => metric,
    }
}

/// The scope the kernel stores: IPv6 routes have no scope of their own and report global.
fn kernel_scope(dst: IpNet, scope: RouteScope) -> RouteScope {
    match dst {
        IpNet::V6(_) => RouteScope::Global,
        IpNet::V4(_) => scope,
    }
}

impl Core {
    /// What a route or neighbour can rely on: its interface's link, if it is in place and up.
    /// `Ok(None)`: the interface has a command in flight; decide when its result is in.
    fn usable_link(&self, name: &str) -> Result<Option<(LinkActual, bool)>, PendingReason> {
        let Some((_, iface)) = self.interface_slot(name) else {
            return Err(PendingReason::InterfaceNotConfigured(name.to_string()));
        };
        if self.link_busy(name) {
            return Ok(None);
        }
        let Some(Item::Interface(desired)) = iface.desired.as_deref() else {
            return Err(PendingReason::InterfaceNotConfigured(name.to_string()));
        };
        if desired.enabled == Some(false) {
            return Err(PendingReason::InterfaceDisabled(name.to_string()));
        }
        let Actual::Link(l) = &iface.actual else {
            return Err(PendingReason::InterfaceNotReady(name.to_string()));
        };
        if !(iface.link_ok && l.up) {
            return Err(PendingReason::InterfaceNotReady(name.to_string()));
        }
        // The addresses of a link-only interface are someone else's to add (a DHCP client, a
        // CNI plugin); the item lists them so that what relies on them waits.
        let missing = desired.link_only.then(|| {
            desired
                .ip_addresses
                .iter()
                .find(|a| !l.addresses.contains(a))
        });
        if let Some(Some(address)) = missing {
            return Err(PendingReason::AddressMissing {
                interface: name.to_string(),
                address: address.to_string(),
            });
        }
        // An address the interface no longer wants is on its way out (its removal may be
        // failing and retried): a gateway or source it would reach is not to be relied on.
        let mut usable = l.clone();
        if !desired.link_only {
            let kept = self.s.borrows.kept(&l.ns, &l.name);
            usable
                .addresses
                .retain(|a| desired.ip_addresses.contains(a) || kept.contains(a));
        }
        Ok(Some((usable, iface.state == ItemState::Applied)))
    }

    /// Whether the interface's link may change under its routes and neighbours any moment: while
    /// the interface has a command in flight (possibly removing the link and with it everything
    /// on it), or waits for its VRF's, or the VRF it is enslaved to has one (removing it
    /// releases the link, taking it down and up again), anything done to them would race it.
    /// Adding or removing alike.
    fn link_busy(&self, name: &str) -> bool {
        let Some((_, iface)) = self.interface_slot(name) else {
            return false;
        };
        if iface.in_flight.is_some() || self.releasing_ports(name) {
            return true;
        }
        // The interface itself waits for its master's command (link.rs): so does what is on it.
        if let Some(Item::Interface(i)) = iface.desired.as_deref() {
            if self.master_in_flight(i) {
                return true;
            }
        }
        matches!(&iface.actual, Actual::Link(l) if self.vrf_busy(&l.ns, l.master.as_deref()))
    }

    /// The links of a multipath route's hops on interfaces other than its own, each usable and
    /// in the route's namespace, and whether all their items are applied. `Ok(None)`: one has
    /// a command in flight.
    fn hop_links(
        &self,
        item: &Item,
        interface: &str,
        link: &LinkActual,
    ) -> Result<Option<(HopLinks, bool)>, PendingReason> {
        let Item::Route(r) = item else {
            return Ok(Some((Vec::new(), true)));
        };
        let mut out: HopLinks = Vec::new();
        let mut ready = true;
        for name in r.interfaces().into_iter().filter(|n| *n != interface) {
            let Some((hop_link, applied)) = self.usable_link(name)? else {
                return Ok(None);
            };
            if hop_link.ns != link.ns {
                return Err(PendingReason::InterfaceInAnotherNamespace(name.to_string()));
            }
            ready &= applied;
            out.push((name.to_string(), hop_link));
        }
        Ok(Some((out, ready)))
    }

    /// The item waits for its link's commands; if the kernel took what it had meanwhile (its
    /// link went), it is not applied any more.
    fn wait_for_link(&mut self, id: ItemId) {
        if self.slot(id).actual == Actual::None && self.slot(id).state == ItemState::Applied {
            self.set_state(id, ItemState::InProgress);
        }
    }

    /// The kernel deletes the IPv4 routes, of any table, whose preferred source was an address
    /// it deleted (measured: `netlink-backend/tests/route_kinds.rs`). A route's source is one
    /// of its own link's addresses (`l3.rs`), so only that link's routes can have had one.
    pub(super) fn forget_routes_from(&mut self, ns: &Netns, link: &str, gone: &[std::net::IpAddr]) {
        let holders: Vec<ItemId> = ids_in(self.ix.on_link.get(&(ns.clone(), link.to_string())));
        for id in holders {
            let lost = matches!(&self.slot(id).actual, Actual::Route(r)
                if r.route.src.is_some_and(|s| s.is_ipv4() && gone.contains(&s)));
            if lost {
                self.set_actual(id, Actual::None);
            }
        }
    }

    /// A link a multipath route has a path through went (`gone`), or went down or lost its
    /// addresses: what the kernel keeps of the route is what the core believes of it. A link
    /// gone is `RouteSpec::without_link`; otherwise the path is dead, and the kernel drops
    /// the route once no other path's link is up (as the sim does, `sim/src/multipath.rs`).
    pub(super) fn path_link_lost(&mut self, id: ItemId, link: &str, gone: bool) {
        let Actual::Route(r) = &self.slot(id).actual else {
            return;
        };
        if !r.route.uses(link) {
            return;
        }
        let left = if gone {
            r.route.without_link(link)
        } else {
            let alive = |dev: &str| {
                let owner = self.ix.link_owner.get(&(r.ns.clone(), dev.to_string()));
                owner.is_some_and(
                    |o| matches!(&self.slot(*o).actual, Actual::Link(l) if l.name == dev && l.up),
                )
            };
            let other_up = r.route.hops.iter().any(|h| h.dev != link && alive(&h.dev));
            if other_up {
                return;
            }
            None
        };
        let left = left.map(|route| RouteActual {
            ns: r.ns.clone(),
            route,
        });
        self.set_actual(id, left.map_or(Actual::None, Actual::Route));
    }

    /// Routes and neighbours: both live on their interface's link and follow one pattern.
    pub(super) fn reconcile_l3(&mut self, id: ItemId) {
        let interface = self.slot(id).key.interface().to_string();
        let desired_item = self.slot(id).desired.clone();
        let target: Result<(Netns, L3Target, bool), Option<PendingReason>> =
            match desired_item.as_deref() {
                None if self.link_busy(&interface) => return self.wait_for_link(id),
                None => Err(None),
                Some(item) => match self.usable_link(&interface) {
                    Err(reason) => Err(Some(reason)),
                    Ok(None) => return self.wait_for_link(id),
                    Ok(Some((link, ready))) => match self.hop_links(item, &interface, &link) {
                        Err(reason) => Err(Some(reason)),
                        Ok(None) => return self.wait_for_link(id),
                        Ok(Some((hop_links, hops_ready))) => L3Target::of(
                            item,
                            &link,
                            &interface,
                            self.route_table_of(&interface),
                            &hop_links,
                        )
                        .map(|t| (link.ns, t, ready && hops_ready))
                        .map_err(Some),
                    },
                },
            };
        let working = if desired_item.is_some() {
            ItemState::InProgress
        } else {
            ItemState::Removing
        };
        let actual = self.slot(id).actual.clone();
        if actual != Actual::None {
            let op = match target
                .as_ref()
                .ok()
                .filter(|(ns, t, _)| t.fits(&actual, ns))
            {
                None => actual.removal(),
                Some((ns, t, _)) => t.update(&actual, ns),
            };
            return match op {
                Some(op) => {
                    self.issue(op, Owner::Item { id, peer: None });
                    self.set_state(id, working)
                }
                None => self.set_state(id, ItemState::Applied),
            };
        }
        let pending = |reason| ItemState::Pending {
            reasons: vec![reason],
        };
        match target {
            Err(None) => self.free_slot(id),
            Err(Some(reason)) => self.set_state(id, pending(reason)),
            Ok((_, _, false)) => {
                self.set_state(id, pending(PendingReason::InterfaceNotReady(interface)))
            }
            Ok((ns, target, true)) => {
                if self.blocked_by_stale(target.resource(&ns), id) {
                    return self.set_state(id, ItemState::InProgress);
                }
                if let L3Target::Route(spec) = &target {
                    let slot_key = route_slot(&ns, spec);
                    let holder = self
                        .ix
                        .route_owner
                        .get(&slot_key)
                        .or_else(|| self.ix.route_adding.get(&slot_key));
                    if let Some(&holder) = holder.filter(|h| **h != id) {
                        let by = self.slot(holder).key.to_string();
                        self.wait_for(target.resource(&ns), id);
                        return self.set_state(id, pending(PendingReason::RouteTaken { by }));
                    }
                }
                self.issue(target.addition(ns), Owner::Item { id, peer: None });
                self.set_state(id, ItemState::InProgress)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_routes_are_compared_as_the_kernel_stores_them() {
        let v6: IpNet = "2001:db8::/64".parse().unwrap();
        let v4: IpNet = "10.0.0.0/24".parse().unwrap();
        assert_eq!(kernel_metric(v6, 0), 1024);
        assert_eq!(kernel_metric(v6, 5), 5);
        assert_eq!(kernel_metric(v4, 0), 0);
        assert_eq!(kernel_scope(v6, RouteScope::Link), RouteScope::Global);
        assert_eq!(kernel_scope(v4, RouteScope::Link), RouteScope::Link);
    }
}
