//! The core's model of the kernel's side effects: what a successful command did, including what
//! the kernel did along with it (deleting a veth end deletes its peer, taking a link down drops
//! its routes, neighbours and IPv6 addresses, ...). The belief must follow the kernel's rules
//! exactly, or the core will wait for objects that are gone or re-add ones that are there.

use ipnet::IpNet;

use crate::command::{LinkChange, LinkSpec, Master, NewLink, Op};
use crate::model::ChecksumOffload;
use crate::netns::Netns;

use super::index::ids_in;
use super::state::{
    Actual, FdbActual, ItemId, LinkActual, LinkRole, NeighbourActual, Owner, RouteActual,
    RuleActual,
};
use super::Core;

pub(super) fn link_from_spec(
    ns: &Netns,
    spec: &LinkSpec,
    role: LinkRole,
    peer_link: Option<(Netns, String)>,
) -> LinkActual {
    // Only a bridge's MTU follows anything (its ports).
    let mtu_pinned = spec.mtu.is_some() && matches!(role, LinkRole::Bridge(_));
    LinkActual {
        ns: ns.clone(),
        name: spec.name.clone(),
        role,
        up: spec.up,
        mtu: spec.mtu,
        mac: spec.mac,
        alias: spec.alias.clone(),
        addresses: vec![],
        peer_link,
        attributes_unknown: false,
        // A new link has the kernel's defaults, which the core does not assume.
        checksum_offload: ChecksumOffload::default(),
        master: None,
        mtu_pinned,
    }
}

/// What the kernel flushed from a link.
#[derive(Clone, Copy)]
struct Flushed {
    pub(super) routes: bool,
    pub(super) neighbours: bool,
    /// Only this family (`Some(true)`: IPv6), or both.
    pub(super) ipv6: Option<bool>,
    /// The link itself went. Else (down, addresses gone) the kernel keeps a multipath route
    /// with that path dead while another lives.
    pub(super) gone: bool,
}

/// Below this MTU the kernel disables IPv6 on a link.
const IPV6_MIN_MTU: u32 = 1280;

fn same_subnet(a: &IpNet, b: &IpNet) -> bool {
    a.prefix_len() == b.prefix_len()
        && a.network() == b.network()
        && a.addr().is_ipv4() == b.addr().is_ipv4()
}

impl Core {
    /// The kernel no longer holds this item's objects (its link, or its route or neighbour):
    /// forget them, along with what went with them — the other end of a veth, and the routes
    /// and neighbours on the link.
    pub(super) fn forget_kernel_objects(&mut self, id: ItemId) {
        let actual = self.slot(id).actual.clone();
        if actual == Actual::None {
            return;
        }
        self.set_actual(id, Actual::None);
        if let Actual::Link(link) = actual {
            self.slot_mut(id).link_ok = false;
            self.forget_link_dependents(&link.ns, &link.name);
            match link.role {
                LinkRole::Vrf { .. } => self.vrf_gone(&link.ns, &link.name),
                LinkRole::Bridge(_) => self.bridge_gone(&link.ns, &link.name),
                _ => {}
            }
            if let Some(m) = &link.master {
                self.ports_changed(&link.ns, m);
            }
            if let Some((pns, pname)) = &link.peer_link {
                self.forget_link_at(pns, pname);
            }
            let me = self.slot(id).key.interface().to_string();
            self.stacked_gone(&me);
            // And those believed on it by where it was, whichever item they took it for (a
            // resync after a restart may not have known it as this item's).
            self.stacked_at_gone(&link.ns, &link.name);
            if let LinkRole::Veth { peer_item } = &link.role {
                if let Some((pid, peer)) = self.interface_slot(peer_item) {
                    let peer_is_partner = matches!(
                        &peer.actual,
                        Actual::Link(LinkActual { role: LinkRole::Veth { peer_item: back }, .. }) if *back == self.slot(id).key.interface()
                    );
                    if peer_is_partner {
                        self.forget_kernel_objects(pid);
                    }
                }
            }
        }
    }

    /// The kernel removed the link `name` in `ns` (the far end of a removed veth): forget the
    /// item's belief about it, and any stale-object removal aimed at it or at what was on it.
    pub(super) fn forget_link_at(&mut self, ns: &Netns, name: &str) {
        if let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), name.to_string())) {
            if matches!(&self.slot(owner).actual, Actual::Link(l) if l.ns == *ns && l.name == name)
            {
                self.forget_kernel_objects(owner);
            }
        }
        for o in self.s.stale.on_link(ns, name) {
            let gone = self.s.stale.get(o).is_some_and(|obj| {
                obj.in_flight.is_none() && matches!(obj.op, Op::DeleteLink { .. })
            });
            if gone {
                self.finish_stale(o, true);
            }
        }
        self.forget_link_dependents(ns, name);
        self.stacked_at_gone(ns, name);
    }

    /// Routes, neighbours and FDB entries on a link that the kernel removed, along with the
    /// link. (A flush leaves a VXLAN's permanent FDB entries be: only this takes them.)
    pub(super) fn forget_link_dependents(&mut self, ns: &Netns, link: &str) {
        self.forget_on_link(
            ns,
            link,
            Flushed {
                routes: true,
                neighbours: true,
                ipv6: None,
                gone: true,
            },
        );
        for id in ids_in(self.ix.on_link.get(&(ns.clone(), link.to_string()))) {
            if matches!(&self.slot(id).actual, Actual::Fdb(f) if f.link == link) {
                self.set_actual(id, Actual::None);
            }
        }
        for o in self.s.stale.on_link(ns, link) {
            let gone =
                self.s.stale.get(o).is_some_and(|obj| {
                    obj.in_flight.is_none() && matches!(obj.op, Op::DelFdb { .. })
                });
            if gone {
                self.finish_stale(o, true);
            }
        }
    }

    /// The VRF the link was enslaved to went: the kernel released it, taking it down and up
    /// again if it was up, so that its routes, neighbours and IPv6 addresses are gone.
    pub(super) fn forget_cycled(&mut self, id: ItemId, ns: &Netns, link: &str) {
        let mut up = false;
        self.update_link(id, true, |l| {
            l.master = None;
            up = l.up;
            if up {
                l.addresses.retain(|a| a.addr().is_ipv4());
            }
        });
        if !up {
            return;
        }
        self.s.borrows.dropped_ipv6(ns, link);
        self.forget_on_link(
            ns,
            link,
            Flushed {
                routes: true,
                neighbours: true,
                ipv6: None,
                gone: false,
            },
        );
    }

    /// Routes and neighbour entries on a link that the kernel flushed.
    fn forget_on_link(&mut self, ns: &Netns, link: &str, what: Flushed) {
        let Flushed {
            routes,
            neighbours,
            ipv6,
            gone,
        } = what;
        // Stale objects waiting for a retry of their removal went with the flush too.
        let family = |v6: bool| ipv6.is_none_or(|want| want == v6);
        for o in self.s.stale.on_link(ns, link) {
            let flushed = self.s.stale.get(o).is_some_and(|obj| {
                obj.in_flight.is_none()
                    && match &obj.op {
                        Op::DelRoute { route, .. } => routes && family(route.dst.addr().is_ipv6()),
                        Op::DelNeighbour { ip, .. } => neighbours && family(ip.is_ipv6()),
                        _ => false,
                    }
            });
            if flushed {
                self.finish_stale(o, true);
            }
        }
        let holders: Vec<ItemId> = ids_in(self.ix.on_link.get(&(ns.clone(), link.to_string())));
        for id in holders {
            let on_link = match &self.slot(id).actual {
                Actual::Route(r) if !r.route.hops.is_empty() => {
                    let family = ipv6.is_none_or(|v6| r.route.dst.addr().is_ipv6() == v6);
                    if routes && family {
                        self.path_link_lost(id, link, gone);
                    }
                    false
                }
                Actual::Route(r) => {
                    routes
                        && r.route.dev == link
                        && ipv6.is_none_or(|v6| r.route.dst.addr().is_ipv6() == v6)
                }
                Actual::Neighbour(n) => {
                    neighbours && n.link == link && ipv6.is_none_or(|v6| n.ip.is_ipv6() == v6)
                }
                _ => false,
            };
            if on_link {
                self.set_actual(id, Actual::None);
            }
        }
    }

    /// What a successful command did, as the core's belief: called once per result, and only
    /// for a command whose namespaces kept their generation (else the kernel took its work
    /// along with the namespace).
    pub(super) fn apply_effect(&mut self, op: &Op, owner: &Owner) {
        let (id, peer) = match owner {
            Owner::Item { id, peer } => (*id, *peer),
            // Namespaces' and stale objects' results are handled in `on_result`.
            Owner::Namespace(_) | Owner::Stale(_) => return,
        };
        if !self.live(id) {
            return;
        }
        match op {
            Op::CreateNamespace { .. } => {}
            Op::CreateLink { ns, link, kind } => self.link_created(id, peer, ns, link, kind),
            Op::DeleteLink { .. } => self.forget_kernel_objects(id),
            Op::SetLink { ns, name, change } => self.link_set(id, ns, name, change),
            Op::AddAddress { addr, .. } => self.update_link(id, true, |link| {
                if !link.addresses.contains(addr) {
                    link.addresses.push(*addr);
                }
            }),
            Op::DelAddress { ns, link, addr } => self.address_deleted(id, ns, link, addr),
            // A route or neighbour lives on its link: if the core learnt meanwhile that the link
            // is gone (the far end of its veth went with a namespace), so is what was added. A
            // dropping route has no link to lose.
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route }
                if route.devs().any(|d| !self.link_known(ns, d)) =>
            {
                self.set_actual(id, Actual::None)
            }
            Op::SetNeighbour { ns, link, .. } | Op::AddFdb { ns, link, .. }
                if !self.link_known(ns, link) =>
            {
                self.set_actual(id, Actual::None)
            }
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route } => {
                self.set_actual(
                    id,
                    Actual::Route(RouteActual {
                        ns: ns.clone(),
                        route: route.clone(),
                    }),
                );
            }
            Op::DelRoute { .. }
            | Op::DelNeighbour { .. }
            | Op::DelFdb { .. }
            | Op::DelRule { .. } => self.set_actual(id, Actual::None),
            Op::AddRule { ns, rule } => {
                let r = RuleActual {
                    ns: ns.clone(),
                    rule: rule.clone(),
                };
                self.set_actual(id, Actual::Rule(r));
            }
            Op::AddFdb {
                ns,
                link,
                mac,
                remote,
            } => {
                let f = FdbActual {
                    ns: ns.clone(),
                    link: link.clone(),
                    mac: *mac,
                    remote: *remote,
                };
                self.set_actual(id, Actual::Fdb(f));
            }
            Op::RenameLink { ns, name, new_name } => self.on_renamed(id, ns, name, new_name),
            Op::MoveLink {
                ns,
                name,
                to,
                new_name,
            } => self.tap_moved(id, (ns, name), (to, new_name)),
            Op::SetChain { .. } | Op::DeleteChain { .. } => self.chain_written(id, op),
            Op::SetOffload { offload, .. } => self.update_link(id, false, |link| {
                let seen = &mut link.checksum_offload;
                seen.rx = offload.rx.or(seen.rx);
                seen.tx = offload.tx.or(seen.tx);
            }),
            Op::SetNeighbour { ns, link, ip, mac } => {
                let n = NeighbourActual {
                    ns: ns.clone(),
                    link: link.clone(),
                    ip: *ip,
                    mac: *mac,
                };
                self.set_actual(id, Actual::Neighbour(n));
            }
        }
    }

    /// A link was created: for a veth, both ends at once, each item's belief naming the other.
    fn link_created(
        &mut self,
        id: ItemId,
        peer: Option<ItemId>,
        ns: &Netns,
        link: &LinkSpec,
        kind: &NewLink,
    ) {
        match kind {
            NewLink::Dummy => self.set_actual(
                id,
                Actual::Link(link_from_spec(ns, link, LinkRole::Dummy, None)),
            ),
            NewLink::Tap(settings) => self.set_actual(
                id,
                Actual::Link(link_from_spec(ns, link, LinkRole::Tap(*settings), None)),
            ),
            NewLink::Macvlan {
                mode,
                parent_ns,
                parent,
            } => {
                let parent_item = self
                    .desired_interface(id)
                    .and_then(|i| i.macvlan_parent())
                    .unwrap_or_default()
                    .to_string();
                let role = LinkRole::Macvlan {
                    parent_item,
                    mode: *mode,
                    parent_link: Some((parent_ns.clone(), parent.clone())),
                };
                self.set_actual(id, Actual::Link(link_from_spec(ns, link, role, None)))
            }
            NewLink::Vxlan { tunnel, underlay } => self.vxlan_made(id, ns, link, tunnel, underlay),
            NewLink::Bridge(settings) => self.set_actual(
                id,
                Actual::Link(link_from_spec(ns, link, LinkRole::Bridge(*settings), None)),
            ),
            NewLink::Vrf { table } => self.set_actual(
                id,
                Actual::Link(link_from_spec(
                    ns,
                    link,
                    LinkRole::Vrf { table: *table },
                    None,
                )),
            ),
            NewLink::Veth {
                peer_ns,
                peer: peer_spec,
            } => {
                let me = self.slot(id).key.interface().to_string();
                let other = peer
                    .map(|p| self.slot(p).key.interface().to_string())
                    .unwrap_or_default();
                let mine = link_from_spec(
                    ns,
                    link,
                    LinkRole::Veth { peer_item: other },
                    Some((peer_ns.clone(), peer_spec.name.clone())),
                );
                self.set_actual(id, Actual::Link(mine));
                if let Some(p) = peer.filter(|p| self.live(*p)) {
                    let theirs = link_from_spec(
                        peer_ns,
                        peer_spec,
                        LinkRole::Veth { peer_item: me },
                        Some((ns.clone(), link.name.clone())),
                    );
                    self.set_actual(p, Actual::Link(theirs));
                }
            }
        }
    }

    /// A link's attributes were set, with what the kernel flushes along with some of them.
    pub(super) fn link_set(&mut self, id: ItemId, ns: &Netns, name: &str, change: &LinkChange) {
        let mut flushes = Vec::new();
        let mut cycled = false;
        let old_master = match &self.slot(id).actual {
            Actual::Link(l) => l.master.clone(),
            _ => None,
        };
        let cycles = change.master.as_ref().is_some_and(|m| {
            let new = match m {
                Master::Set(m) => Some(m.as_str()),
                Master::Release => None,
            };
            old_master.as_deref() != new && self.master_cycles(ns, old_master.as_deref(), new)
        });
        self.update_link(id, change.up.is_some() || change.mac.is_some(), |link| {
            if let Some(up) = change.up {
                link.up = up;
                if !up {
                    // Taking a link down makes the kernel drop its routes, its neighbour
                    // entries and (keep_addr_on_down=0) its IPv6 addresses.
                    link.addresses.retain(|a| a.addr().is_ipv4());
                    flushes.push(Flushed {
                        routes: true,
                        neighbours: true,
                        ipv6: None,
                        gone: false,
                    });
                }
            }
            if let Some(mtu) = change.mtu {
                link.mtu = Some(mtu);
                link.mtu_pinned = matches!(link.role, LinkRole::Bridge(_));
                if mtu < IPV6_MIN_MTU {
                    // Below the IPv6 minimum the kernel disables IPv6 on the link.
                    link.addresses.retain(|a| a.addr().is_ipv4());
                    flushes.push(Flushed {
                        routes: true,
                        neighbours: true,
                        ipv6: Some(true),
                        gone: false,
                    });
                }
            }
            if let Some(mac) = change.mac {
                link.mac = Some(mac);
                // Setting a link's address flushes all its neighbour entries.
                flushes.push(Flushed {
                    routes: false,
                    neighbours: true,
                    ipv6: None,
                    gone: false,
                });
            }
            if let Some(alias) = &change.alias {
                link.alias = Some(alias.clone());
            }
            if let Some(master) = &change.master {
                link.master = match master {
                    Master::Set(m) => Some(m.clone()),
                    Master::Release => None,
                };
                // A VRF takes a link it gains or loses down and up again (the kernel's
                // cycle_netdev), if it is up (the flags are set first): its routes,
                // neighbours and IPv6 addresses go. A bridge leaves them.
                if link.up && cycles {
                    cycled = true;
                    link.addresses.retain(|a| a.addr().is_ipv4());
                    flushes.push(Flushed {
                        routes: true,
                        neighbours: true,
                        ipv6: None,
                        gone: false,
                    });
                }
            }
            if let (Some(b), LinkRole::Bridge(settings)) = (&change.bridge, &mut link.role) {
                *settings = b.applied_to(settings);
            }
            link.attributes_unknown = false;
        });
        let new_master = match &self.slot(id).actual {
            Actual::Link(l) => l.master.clone(),
            _ => None,
        };
        if old_master != new_master {
            for m in [old_master, new_master].iter().flatten() {
                self.ports_changed(ns, m);
            }
        }
        let ipv6_dropped =
            change.up == Some(false) || cycled || change.mtu.is_some_and(|m| m < IPV6_MIN_MTU);
        if ipv6_dropped {
            self.s.borrows.dropped_ipv6(ns, name);
        }
        for what in flushes {
            self.forget_on_link(ns, name, what);
        }
        if let Some(mtu) = change.mtu {
            let me = self.slot(id).key.interface().to_string();
            self.parent_mtu_lowered(&me, mtu);
        }
    }

    /// An address was deleted, with the secondaries and the IPv4 state that go with it.
    fn address_deleted(&mut self, id: ItemId, ns: &Netns, name: &str, addr: &IpNet) {
        let mut last_ipv4 = false;
        let mut gone = Vec::new();
        self.update_link(id, true, |link| {
            // With promote_secondaries off (a new namespace's default), deleting the
            // primary IPv4 address of a subnet deletes that subnet's secondaries too.
            let primary = addr.addr().is_ipv4()
                && link.addresses.iter().find(|a| same_subnet(a, addr)) == Some(addr);
            link.addresses.retain(|a| {
                let keep = a != addr && !(primary && same_subnet(a, addr));
                if !keep {
                    gone.push(a.addr());
                }
                keep
            });
            // Removing a link's last IPv4 address disables IPv4 on it. On a borrowed link
            // the agent knows only its own addresses, so it assumes the worst.
            last_ipv4 = addr.addr().is_ipv4() && !link.addresses.iter().any(|a| a.addr().is_ipv4());
        });
        self.forget_routes_from(ns, name, &gone);
        if last_ipv4 {
            // With IPv4 disabled go its routes and its (ARP) neighbour entries.
            self.forget_on_link(
                ns,
                name,
                Flushed {
                    routes: true,
                    neighbours: true,
                    ipv6: Some(false),
                    gone: false,
                },
            );
        }
    }

    /// The kernel renamed the item's link. Everything on it stayed (the link kept its index),
    /// so the core's account of its routes, neighbours and veth peer follows the new name.
    pub(super) fn on_renamed(&mut self, id: ItemId, ns: &Netns, old: &str, new: &str) {
        let Actual::Link(mut link) = self.slot(id).actual.clone() else {
            return;
        };
        if link.ns != *ns || link.name != old {
            return;
        }
        self.slot_mut(id).rename_when_down = false;
        self.s.stale.rename_link(ns, old, new);
        link.name = new.to_string();
        let peer_link = link.peer_link.clone();
        self.set_actual(id, Actual::Link(link));
        let was = (ns.clone(), old.to_string());
        if let Some(&p) = peer_link.as_ref().and_then(|k| self.ix.link_owner.get(k)) {
            if let Actual::Link(other) = &mut self.slot_mut(p).actual {
                if other.peer_link.as_ref() == Some(&was) {
                    other.peer_link = Some((ns.clone(), new.to_string()));
                }
            }
        }
        let me = self.slot(id).key.interface().to_string();
        self.parent_moved(&me, &was, &(ns.clone(), new.to_string()));
        let on: Vec<ItemId> = ids_in(self.ix.on_link.get(&was));
        for d in on {
            let mut actual = self.slot(d).actual.clone();
            match &mut actual {
                Actual::Route(r) => r.route.rename_dev(old, new),
                Actual::Neighbour(n) => n.link = new.to_string(),
                Actual::Fdb(f) => f.link = new.to_string(),
                _ => continue,
            }
            self.set_actual(d, actual);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_compared_by_network_prefix_and_family() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert!(same_subnet(&n("10.0.0.1/24"), &n("10.0.0.7/24")));
        assert!(!same_subnet(&n("10.0.0.1/24"), &n("10.0.0.1/25")));
        assert!(!same_subnet(&n("10.0.1.1/24"), &n("10.0.0.1/24")));
    }
}
