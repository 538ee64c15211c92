//! The oracle: what the kernel must hold, written from the rules ("a veth exists when both ends
//! are configured and both namespaces are there", ...) and from the harness's own record of the
//! desired state, never from the core's beliefs, so that a wrong rule in the core cannot hide.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use nsagent_core::ROUTE_PROTOCOL;
use nsagent_core::{
    BridgeSettings, Interface, InterfaceType, Item, ItemKey, LinkKind, MacAddr, MacvlanMode,
    NamespaceRef, Netns, Route, RouteScope, TapSettings, VxlanTunnel,
};
use nsagent_sim::StateDump;

use super::World;

/// A managed link by where it is: namespace and name.
pub(super) type LinkKey = (Netns, String);

/// What a link name in a namespace should hold: one of the candidates, or maybe nothing.
#[derive(Debug, Default)]
pub(super) struct Expected {
    pub(super) candidates: Vec<ExpectedLink>,
    pub(super) may_be_absent: bool,
}

/// A route as the rules decide it: destination, gateway, metric, scope, table (`None`:
/// main), path MTU, and a multipath route's paths (link, gateway, weight).
pub(super) type ExpectedRoute = (
    IpNet,
    Option<IpAddr>,
    u32,
    RouteScope,
    Option<u32>,
    Option<u32>,
    Vec<(String, Option<IpAddr>, u16)>,
);

/// The part of a link the rules decide, in a form the oracle and the kernel's dump both give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExpectedLink {
    pub(super) kind: LinkKind,
    pub(super) up: bool,
    pub(super) mtu: Option<u32>,
    pub(super) mac: Option<MacAddr>,
    pub(super) addresses: BTreeSet<IpNet>,
    /// `link_only`: the addresses are not the agent's to judge.
    pub(super) addresses_unmanaged: bool,
    pub(super) peer: Option<(Netns, String)>,
    pub(super) routes: BTreeSet<ExpectedRoute>,
    pub(super) neighbours: BTreeSet<(IpAddr, MacAddr)>,
    /// Receive and transmit checksum offloading; `None` where the item leaves the kernel's.
    pub(super) checksum_offload: (Option<bool>, Option<bool>),
    /// The link it is enslaved to (its VRF's or bridge's), by name.
    pub(super) master: Option<String>,
    /// For a VRF: its table.
    pub(super) vrf_table: Option<u32>,
    /// For a bridge: its settings.
    pub(super) bridge: Option<BridgeSettings>,
    /// For a TAP the agent makes: its settings.
    pub(super) tap: Option<TapSettings>,
    /// For a MACVLAN: its mode and where its parent link is.
    pub(super) macvlan: Option<(MacvlanMode, LinkKey)>,
    /// For a VXLAN: its tunnel and where its underlay link is, if it has one.
    pub(super) vxlan: Option<(VxlanTunnel, Option<LinkKey>)>,
    /// For a VXLAN: its permanent FDB entries (the zero MAC's to its remote included).
    pub(super) fdb: BTreeSet<(MacAddr, IpAddr)>,
}

/// Where a placed interface's link is, whether it is up, and the addresses that decide whether
/// a gateway is reachable through it.
pub(super) type Placement = (Netns, String, bool, Vec<IpNet>);

/// The links the oracle calls for, by interface item name.
pub(super) type Links = BTreeMap<String, (LinkKey, ExpectedLink)>;

/// The kernel's managed links in the oracle's terms (agent's routes only).
pub(super) fn found_links(dump: &StateDump) -> BTreeMap<LinkKey, ExpectedLink> {
    let mut found = BTreeMap::new();
    for (ns, l) in dump.marked_by(&super::identity()) {
        let routes = l
            .routes
            .iter()
            .filter(|r| r.protocol == ROUTE_PROTOCOL)
            .map(|r| {
                let r = &r.route;
                let hops = r.hops.iter().map(|h| (h.dev.clone(), h.gw, h.weight));
                (
                    r.dst,
                    r.gw,
                    r.metric,
                    r.scope,
                    r.table,
                    r.mtu,
                    hops.collect(),
                )
            })
            .collect();
        found.insert(
            (ns, l.name.clone()),
            ExpectedLink {
                kind: l.kind,
                up: l.up,
                mtu: Some(l.mtu),
                mac: Some(l.mac),
                addresses: l.addresses.iter().copied().collect(),
                addresses_unmanaged: false,
                peer: l.peer.clone(),
                routes,
                neighbours: l.neighbours.iter().copied().collect(),
                checksum_offload: (Some(l.checksum_offload.0), Some(l.checksum_offload.1)),
                master: l.master.clone(),
                vrf_table: l.vrf_table,
                bridge: l.bridge,
                tap: l.tap,
                macvlan: l.macvlan.clone(),
                vxlan: l.vxlan.clone(),
                fdb: l.fdb.iter().copied().collect(),
            },
        );
    }
    found
}

impl World {
    /// The namespace a reference stands for, if it is there (or the agent makes it).
    pub(super) fn available(&self, r: &NamespaceRef) -> Option<Netns> {
        match r {
            NamespaceRef::Default => Some(Netns::Default),
            // The agent creates named namespaces that are missing.
            NamespaceRef::Named(n) => Some(Netns::Named(n.clone())),
            NamespaceRef::Microservice(label) => self.kernel.microservice(label).map(|m| m.netns()),
            // A pid living in another namespace (an alias) places links there.
            other => other
                .fixed()
                .filter(|ns| self.kernel.contains_namespace(ns))
                .map(|ns| self.kernel.real(&ns).clone()),
        }
    }

    /// The managed links the rules call for, written from the rules and not from the core.
    /// `found` is consulted only for what the configuration leaves to others: the addresses of
    /// a `link_only` interface, which decide whether its routes' gateways are reachable.
    ///
    /// Items that want the same link name in the same namespace compete for it: the rules only
    /// say that one of them has it, so any one is accepted (`Expected::candidates`), and a veth
    /// whose other end competes may be absent.
    pub(super) fn oracle(
        &self,
        found: &BTreeMap<LinkKey, ExpectedLink>,
    ) -> BTreeMap<LinkKey, Expected> {
        let (mut links, placed) = self.place_interfaces(found);
        self.attach_routes_and_neighbours(&mut links, &placed);
        let (contested, winner_may_be_unplaced) = self.contested(&links);
        // An interface whose link may be another item's, or absent.
        let unsure: BTreeSet<&str> = links
            .keys()
            .map(String::as_str)
            .filter(|i| {
                contested.contains(i)
                    || winner_may_be_unplaced.contains(i)
                    || self.leans_on_contested(i, &contested, &winner_may_be_unplaced, 3)
            })
            .collect();
        let uncertain = self.uncertain_multipath(&unsure);
        let mut expected: BTreeMap<LinkKey, Expected> = BTreeMap::new();
        for (item, (key, link)) in &links {
            // A veth's peer, or a MACVLAN's or VXLAN's parent (or its parent's, a VXLAN on a
            // MACVLAN), that competes for its name may be another item's link.
            let peer_contested =
                self.leans_on_contested(item, &contested, &winner_may_be_unplaced, 3);
            let e = expected.entry(key.clone()).or_default();
            e.candidates.push(link.clone());
            // A multipath route through another interface whose link may be another item's
            // or absent is there only if that one has its link.
            // Each of them independently: a candidate without each subset of them.
            let unsure_here: Vec<ExpectedRoute> = link
                .routes
                .iter()
                .filter(|r| !r.6.is_empty() && uncertain.contains(&(r.0, r.4)))
                .cloned()
                .collect();
            for mask in 1u32..(1 << unsure_here.len().min(4)) {
                let mut without = link.clone();
                for (i, r) in unsure_here.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        without.routes.remove(r);
                    }
                }
                e.candidates.push(without);
            }
            e.may_be_absent |= peer_contested || winner_may_be_unplaced.contains(item.as_str());
        }
        expected
    }

    /// The multipath route items (destination, table as the oracle's routes carry it) that
    /// leave through an interface whose link is `unsure`.
    fn uncertain_multipath(&self, unsure: &BTreeSet<&str>) -> Vec<(IpNet, Option<u32>)> {
        self.desired
            .values()
            .filter_map(|item| match item {
                Item::Route(r) if !r.next_hops.is_empty() => Some(r),
                _ => None,
            })
            .filter(|r| r.interfaces().iter().any(|i| unsure.contains(i)))
            .map(|r| {
                let table = match r.table {
                    Some(254) => None,
                    Some(t) => Some(t),
                    None => self.vrf_table_of(&r.outgoing_interface),
                };
                (r.dst_network, table)
            })
            .collect()
    }

    /// Whether the interface `item` stands on a link that competes for its name, or may lose
    /// it: its veth peer's, or its parent's (looked up `depth` parents far).
    fn leans_on_contested(
        &self,
        item: &str,
        contested: &BTreeSet<&str>,
        unplaced: &BTreeSet<&str>,
        depth: u32,
    ) -> bool {
        let Some(Item::Interface(i)) = self.desired.get(&ItemKey::Interface(item.into())) else {
            return false;
        };
        i.veth_peer.as_deref().or(i.parent()).is_some_and(|p| {
            contested.contains(p)
                || unplaced.contains(p)
                || self.peer_contested(p, contested)
                || (depth > 0
                    && i.parent() == Some(p)
                    && self.leans_on_contested(p, contested, unplaced, depth - 1))
        })
    }

    /// Whether the item `name` is a veth whose other end competes for its link name (its pair
    /// may then be absent, and a MACVLAN on it with it).
    fn peer_contested(&self, name: &str, contested: &BTreeSet<&str>) -> bool {
        matches!(self.desired.get(&ItemKey::Interface(name.into())),
            Some(Item::Interface(i)) if i.veth_peer.as_deref().is_some_and(|p| contested.contains(p)))
    }

    /// Every desired interface whose namespace is available and, for a veth, whose other end
    /// wants it back and has its namespace too: its link, without routes and neighbours yet.
    pub(super) fn place_interfaces(
        &self,
        found: &BTreeMap<LinkKey, ExpectedLink>,
    ) -> (Links, BTreeMap<String, Placement>) {
        let mut links = Links::new();
        let mut placed: BTreeMap<String, Placement> = BTreeMap::new();
        // Masters first: a member has a link only once its VRF or bridge has one in its
        // namespace. (A bridge may itself be in a VRF: VRFs before bridges.)
        let interfaces: Vec<&Interface> = self
            .desired
            .values()
            .filter_map(|item| match item {
                Item::Interface(i) => Some(i),
                _ => None,
            })
            .collect();
        // MACVLANs last: one has a link only once its parent has one.
        let rank = |i: &&Interface| match i.kind {
            InterfaceType::Vrf => 0,
            InterfaceType::Bridge => 1,
            InterfaceType::Macvlan => 3,
            // VXLANs after MACVLANs, which may be their underlays.
            InterfaceType::Vxlan => 4,
            _ => 2,
        };
        let mut ordered = interfaces;
        ordered.sort_by_key(rank);
        for i in ordered {
            let Some(ns) = self.available(&i.namespace) else {
                continue;
            };
            let Some((kind, peer)) = self.link_kind(i) else {
                continue;
            };
            // The master's link name if it is there in `ns`; `Err` if it is not.
            let vrf_in = |of: &Interface, ns: &Netns| {
                let (master, kind) = match (&of.vrf_master, &of.bridge_master) {
                    (Some(v), _) => (v, LinkKind::Vrf),
                    (None, Some(b)) => (b, LinkKind::Bridge),
                    (None, None) => return Ok(None),
                };
                match links.get(master) {
                    Some(((vns, vname), l)) if l.kind == kind && vns == ns => {
                        Ok(Some(vname.clone()))
                    }
                    _ => Err(()),
                }
            };
            let Ok(master) = vrf_in(i, &ns) else {
                continue;
            };
            let Ok(macvlan) = self.parent_placed(i, &links) else {
                continue;
            };
            let Ok(vxlan) = self.underlay_placed(i, &links) else {
                continue;
            };
            // The kernel keeps a VXLAN's remote as its FDB's entry for the zero MAC.
            let fdb: BTreeSet<(MacAddr, IpAddr)> = vxlan
                .as_ref()
                .and_then(|(t, _)| t.remote)
                .map(|r| (MacAddr([0; 6]), r))
                .into_iter()
                .collect();
            // A veth pair is made whole or not at all: the other end's VRF must be there too.
            if let (Some((peer_ns, _)), Some(Item::Interface(p))) = (
                &peer,
                i.veth_peer
                    .as_ref()
                    .and_then(|p| self.desired.get(&ItemKey::Interface(p.clone()))),
            ) {
                if vrf_in(p, peer_ns).is_err() {
                    continue;
                }
            }
            // A link-only interface's addresses are someone else's business: the agent neither
            // adds nor removes them.
            let addresses: Vec<IpNet> = if i.link_only {
                found
                    .get(&(ns.clone(), i.host_if_name.clone()))
                    .map(|l| l.addresses.iter().copied().collect())
                    .unwrap_or_default()
            } else {
                i.ip_addresses.clone()
            };
            placed.insert(
                i.name.clone(),
                (
                    ns.clone(),
                    i.host_if_name.clone(),
                    i.enabled.unwrap_or(false),
                    addresses.clone(),
                ),
            );
            links.insert(
                i.name.clone(),
                (
                    (ns, i.host_if_name.clone()),
                    ExpectedLink {
                        kind,
                        up: i.enabled.unwrap_or(false),
                        mtu: i.mtu,
                        mac: if i.link_only { None } else { i.phys_address },
                        addresses: addresses.into_iter().collect(),
                        addresses_unmanaged: i.link_only,
                        peer,
                        routes: BTreeSet::new(),
                        neighbours: BTreeSet::new(),
                        checksum_offload: (i.checksum_offload.rx, i.checksum_offload.tx),
                        master,
                        vrf_table: i.vrf_table,
                        bridge: i.bridge,
                        tap: i.tap,
                        macvlan,
                        vxlan,
                        fdb,
                    },
                ),
            );
        }
        (links, placed)
    }

    /// The kind of link an interface makes, and for a veth where its peer is; `None` if it
    /// makes none (a loopback, or a veth whose other end does not want it or is not there).
    fn link_kind(&self, i: &Interface) -> Option<(LinkKind, Option<(Netns, String)>)> {
        match i.kind {
            InterfaceType::Dummy => Some((LinkKind::Dummy, None)),
            InterfaceType::Vrf => Some((LinkKind::Vrf, None)),
            InterfaceType::Bridge => Some((LinkKind::Bridge, None)),
            InterfaceType::Tap => Some((LinkKind::Tap, None)),
            InterfaceType::Macvlan => Some((LinkKind::Macvlan, None)),
            InterfaceType::Vxlan => Some((LinkKind::Vxlan, None)),
            InterfaceType::Veth => {
                let p = i.veth_peer.as_deref().unwrap_or_default();
                let Some(Item::Interface(peer)) =
                    self.desired.get(&ItemKey::Interface(p.to_string()))
                else {
                    return None;
                };
                if peer.kind != InterfaceType::Veth
                    || peer.veth_peer.as_deref() != Some(i.name.as_str())
                {
                    return None;
                }
                let peer_ns = self.available(&peer.namespace)?;
                Some((LinkKind::Veth, Some((peer_ns, peer.host_if_name.clone()))))
            }
            _ => None,
        }
    }

    /// For a MACVLAN: its mode and where its parent's link is placed (`Ok(None)` for any other
    /// interface); `Err` while it has none, as the parent is not placed, is a MACVLAN itself,
    /// or is a bridge port (which the kernel refuses as a parent).
    fn parent_placed(
        &self,
        i: &Interface,
        links: &Links,
    ) -> Result<Option<(MacvlanMode, LinkKey)>, ()> {
        let Some(m) = &i.macvlan else {
            return Ok(None);
        };
        let Some(Item::Interface(p)) = self.desired.get(&ItemKey::Interface(m.parent.clone()))
        else {
            return Err(());
        };
        if p.kind == InterfaceType::Macvlan || p.bridge_master.is_some() {
            return Err(());
        }
        let (at, _) = links.get(&m.parent).ok_or(())?;
        Ok(Some((m.mode, at.clone())))
    }

    /// For a VXLAN: its tunnel and where its underlay's link is placed, if it names one
    /// (`Ok(None)` for any other interface); `Err` while the underlay is not placed.
    fn underlay_placed(
        &self,
        i: &Interface,
        links: &Links,
    ) -> Result<Option<(VxlanTunnel, Option<LinkKey>)>, ()> {
        let Some(v) = &i.vxlan else {
            return Ok(None);
        };
        let at = match &v.underlay {
            None => None,
            Some(u) => Some(links.get(u).ok_or(())?.0.clone()),
        };
        Ok(Some((v.tunnel, at)))
    }

    /// Routes and neighbours hang off placed, enabled interfaces; a route only when its
    /// gateway is inside one of the interface's subnets.
    fn attach_routes_and_neighbours(
        &self,
        links: &mut Links,
        placed: &BTreeMap<String, Placement>,
    ) {
        for item in self.desired.values() {
            match item {
                Item::Route(r) => self.attach_route(r, links, placed),
                Item::Arp(a) => {
                    let Some((ns, host, true, addrs)) = placed.get(&a.interface) else {
                        continue;
                    };
                    if !self.listed_addresses_present(&a.interface, addrs) {
                        continue;
                    }
                    if let Some((key, l)) = links.get_mut(&a.interface) {
                        if *key == (ns.clone(), host.clone()) {
                            l.neighbours.insert((a.ip_address, a.hw_address));
                        }
                    }
                }
                // On a placed, enabled VXLAN; on another link it waits (`NotAVxlan`).
                Item::Fdb(f) => {
                    let Some((ns, host, true, addrs)) = placed.get(&f.interface) else {
                        continue;
                    };
                    if !self.listed_addresses_present(&f.interface, addrs) {
                        continue;
                    }
                    if let Some((key, l)) = links.get_mut(&f.interface) {
                        if *key == (ns.clone(), host.clone()) && l.kind == LinkKind::Vxlan {
                            l.fdb.insert((f.hw_address, f.remote_ip));
                        }
                    }
                }
                Item::Interface(_) | Item::RuleChain(_) | Item::PolicyRule(_) => {}
            }
        }
    }

    /// A route on its interface's link, or a multipath one on each of its paths' links: only
    /// when every interface it leaves through is placed, linked and enabled in one namespace, with
    /// the listed addresses of a link-only one there, and each gateway inside one of its
    /// interface's subnets.
    fn attach_route(&self, r: &Route, links: &mut Links, placed: &BTreeMap<String, Placement>) {
        let paths: Vec<(&str, Option<IpAddr>, u16)> = if r.next_hops.is_empty() {
            vec![(r.outgoing_interface.as_str(), r.gw_addr, 0)]
        } else {
            let hops = r.next_hops.iter();
            hops.map(|h| (h.outgoing_interface.as_str(), h.gw_addr, h.weight))
                .collect()
        };
        let mut at: Vec<(&str, &Netns, &String)> = Vec::new();
        for name in r.interfaces() {
            let Some((ns, host, true, addrs)) = placed.get(name) else {
                return;
            };
            // Placed, and the link the oracle calls for there (not one another item took).
            let linked = links
                .get(name)
                .is_some_and(|(key, _)| key.0 == *ns && key.1 == *host);
            if !linked || !self.listed_addresses_present(name, addrs) {
                return;
            }
            let unreachable = paths.iter().any(|(i, gw, _)| {
                *i == name && gw.is_some_and(|gw| !addrs.iter().any(|a| a.contains(&gw)))
            });
            if unreachable || at.first().is_some_and(|(_, first, _)| *first != ns) {
                return;
            }
            at.push((name, ns, host));
        }
        let host_of = |name: &str| at.iter().find(|(n, ..)| *n == name).map(|(.., h)| *h);
        let hops: Vec<(String, Option<IpAddr>, u16)> = match r.next_hops.is_empty() {
            true => Vec::new(),
            false => paths
                .iter()
                .filter_map(|(i, gw, w)| Some((host_of(i)?.clone(), *gw, *w)))
                .collect(),
        };
        let metric = if r.dst_network.addr().is_ipv6() && r.metric == 0 {
            1024
        } else {
            r.metric
        };
        // IPv6 routes have no scope in the kernel: it reports them global.
        let scope = if r.dst_network.addr().is_ipv6() {
            RouteScope::Global
        } else {
            r.scope
        };
        // A VRF member's routes go to its VRF's table, unless the item names one.
        let table = match r.table {
            Some(254) => None,
            Some(t) => Some(t),
            None => self.vrf_table_of(&r.outgoing_interface),
        };
        let gw = if hops.is_empty() { r.gw_addr } else { None };
        let expected = (r.dst_network, gw, metric, scope, table, r.mtu, hops);
        // The kernel lists a multipath route on each of its paths' links.
        let on: Vec<&str> = match r.next_hops.is_empty() {
            true => vec![r.outgoing_interface.as_str()],
            false => paths.iter().map(|(i, ..)| *i).collect(),
        };
        for name in on {
            if let Some((_, l)) = links.get_mut(name) {
                l.routes.insert(expected.clone());
            }
        }
    }

    /// The table of the VRF an interface is enslaved to, if it is.
    fn vrf_table_of(&self, interface: &str) -> Option<u32> {
        let Some(Item::Interface(i)) = self.desired.get(&ItemKey::Interface(interface.into()))
        else {
            return None;
        };
        match self.desired.get(&ItemKey::Interface(i.vrf_master.clone()?)) {
            Some(Item::Interface(v)) => v.vrf_table,
            _ => None,
        }
    }

    /// Whether a `link_only` interface's link holds every address the item lists (someone
    /// else adds them, and routes and neighbours on it wait for them); true for the others.
    fn listed_addresses_present(&self, interface: &str, on_link: &[IpNet]) -> bool {
        match self.desired.get(&ItemKey::Interface(interface.to_string())) {
            Some(Item::Interface(i)) if i.link_only => {
                i.ip_addresses.iter().all(|a| on_link.contains(a))
            }
            _ => true,
        }
    }

    /// Items that compete for a link name (`contested`), and those of them whose competitor
    /// is not placed, so that the winner may be an item with no link at all.
    pub(super) fn contested<'a>(
        &'a self,
        links: &'a Links,
    ) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
        // Every desired interface claims its host name under its namespace reference, placed
        // or not; the oldest claim wins, and the oracle does not model age.
        // A pid living in another namespace (an alias) claims there.
        let aliases = self.kernel.aliases();
        let claimed_in = |r: &NamespaceRef| match r.fixed() {
            Some(ns) => match aliases.iter().find(|(a, _)| *a == ns) {
                Some((_, Netns::Default)) => format!("{:?}", NamespaceRef::Default),
                Some((_, Netns::Named(n))) => format!("{:?}", NamespaceRef::Named(n.clone())),
                _ => format!("{r:?}"),
            },
            None => format!("{r:?}"),
        };
        let mut claims: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
        for item in self.desired.values() {
            if let Item::Interface(i) = item {
                claims
                    .entry((claimed_in(&i.namespace), i.host_if_name.clone()))
                    .or_default()
                    .push(i.name.as_str());
            }
        }
        let mut contested: BTreeSet<&str> = BTreeSet::new();
        let mut winner_may_be_unplaced: BTreeSet<&str> = BTreeSet::new();
        for items in claims.values().filter(|items| items.len() > 1) {
            let unplaced = items.iter().any(|i| !links.contains_key(*i));
            for i in items {
                contested.insert(i);
                if unplaced {
                    winner_may_be_unplaced.insert(i);
                }
            }
        }
        // Different references can name one namespace (a PID and the microservice running as
        // it): their items compete for link names too.
        let mut by_key: BTreeMap<&LinkKey, Vec<&str>> = BTreeMap::new();
        for (item, (key, _)) in links {
            by_key.entry(key).or_default().push(item);
        }
        for items in by_key.values().filter(|items| items.len() > 1) {
            contested.extend(items.iter().copied());
        }
        (contested, winner_may_be_unplaced)
    }
}
