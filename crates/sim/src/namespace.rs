//! One simulated network namespace: its links, their addresses, the static routes of its main
//! table and its permanent neighbours, with the side effects the kernel applies inside a single
//! namespace (flushes on link down, on address removal, on IPv6 being disabled).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nsagent_core::{
    BridgeSettings, LinkKind, MacAddr, MacvlanMode, Netns, RouteSpec, TapSettings, VxlanTunnel,
};

/// Below this MTU the kernel disables IPv6 on a link (IPV6_MIN_MTU, RFC 8200): it drops the
/// link's IPv6 addresses, routes and neighbours and refuses new ones.
pub(crate) const IPV6_MIN_MTU: u32 = 1280;

/// Who put an address on a link. The kernel adds some by itself (127.0.0.1/8 and ::1/128 on `lo`
/// when it comes up, the EUI-64 link-local address when a link gains carrier); a harness compares
/// the agent's work with the configured ones only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Configured,
    Kernel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) net: IpNet,
    pub(crate) origin: Origin,
}

/// The other end of a veth pair, or a MACVLAN's parent: a link by its namespace (as stored)
/// and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerRef {
    pub(crate) ns: Netns,
    pub(crate) name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) ifindex: u32,
    pub(crate) kind: LinkKind,
    pub(crate) alias: Option<String>,
    pub(crate) mtu: u32,
    pub(crate) mac: MacAddr,
    pub(crate) up: bool,
    /// In the order they were added: IPv4 primary/secondary status depends on it.
    pub(crate) addresses: Vec<Address>,
    pub(crate) peer: Option<PeerRef>,
    /// ethtool's `rx-checksum` and `tx-checksum-*` features: on for every new link.
    pub(crate) rx_checksum: bool,
    pub(crate) tx_checksum: bool,
    /// The index of the link it is enslaved to, in its namespace (`IFLA_MASTER`).
    pub(crate) master: Option<u32>,
    /// For a VRF: its routing table.
    pub(crate) vrf_table: Option<u32>,
    /// For a bridge: its settings, and whether its MTU was set by someone (otherwise the
    /// kernel keeps it at its ports' smallest, 1500 without ports).
    pub(crate) bridge: Option<BridgeSettings>,
    /// For a TAP: its settings.
    pub(crate) tap: Option<TapSettings>,
    /// For a MACVLAN: the link it is on (`macvlan.rs`), and its mode; for a VXLAN its
    /// underlay, if any.
    pub(crate) lower: Option<PeerRef>,
    pub(crate) macvlan_mode: Option<MacvlanMode>,
    /// For a VXLAN: its tunnel, and the namespace its socket lives in, as stored (`vxlan.rs`).
    pub(crate) vxlan: Option<(VxlanTunnel, Netns)>,
    /// For a VXLAN: its permanent FDB entries (MAC, VTEP), in the order added.
    pub(crate) fdb: Vec<(MacAddr, IpAddr)>,
    pub(crate) mtu_set: bool,
    /// Whether its MAC was set by someone (a bridge's follows its ports otherwise).
    pub(crate) mac_set: bool,
}

impl Link {
    pub(crate) fn ipv6_enabled(&self) -> bool {
        self.mtu >= IPV6_MIN_MTU
    }

    pub(crate) fn has_ipv4(&self) -> bool {
        self.addresses.iter().any(|a| a.net.addr().is_ipv4())
    }

    /// Adds an address the kernel chose itself, unless it is there already.
    pub(crate) fn add_kernel_address(&mut self, net: IpNet) {
        if !self.addresses.iter().any(|a| a.net == net) {
            self.addresses.push(Address {
                net,
                origin: Origin::Kernel,
            });
        }
    }

    /// The MTU range the driver accepts. veth (and dummy, whose module this host lacks, so it
    /// is assumed alike) take 68..=65535 and answer EINVAL outside it; `lo` reports no bounds
    /// (`minmtu 0 maxmtu 0`) and takes any value.
    pub(crate) fn mtu_range(kind: LinkKind) -> Option<(u32, u32)> {
        match kind {
            LinkKind::Loopback => None,
            // A bridge too (verified: `minmtu 68 maxmtu 65535`).
            LinkKind::Veth | LinkKind::Dummy | LinkKind::Bridge | LinkKind::Other => {
                Some((68, 65535))
            }
            // A MACVLAN too (verified: `minmtu 68 maxmtu 65535`), below its parent's.
            LinkKind::Macvlan => Some((68, 65535)),
            // A VXLAN too (verified: `minmtu 68 maxmtu 65535`), below its underlay's.
            LinkKind::Vxlan => Some((68, 65535)),
            // A TAP: 65535 less its Ethernet header (verified: `maxmtu 65521`).
            LinkKind::Tap => Some((68, 65521)),
            // drivers/net/vrf.c: IPV6_MIN_MTU..=IP6_MAX_MTU (not measurable on this host,
            // which has no VRF module).
            LinkKind::Vrf => Some((1280, 65575)),
        }
    }
}

/// A route, identified by destination, metric and table as the kernel does (`None`: main).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RouteKey {
    pub(crate) dst: IpNet,
    pub(crate) metric: u32,
    pub(crate) table: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRoute {
    pub(crate) spec: RouteSpec,
    pub(crate) protocol: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    /// ifindexes are allocated per namespace; `lo` is always 1.
    next_ifindex: u32,
    pub(crate) links: BTreeMap<String, Link>,
    pub(crate) routes: RouteTable,
    pub(crate) neighbours: NeighbourTable,
    pub(crate) tables: crate::firewall::Tables,
    /// The routing policy database, both families.
    pub(crate) rules: crate::rules::RuleTable,
}

/// The main routing table, indexed by device too, so that what happens to one link costs what
/// that link has, not what the namespace has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RouteTable {
    by_key: BTreeMap<RouteKey, StoredRoute>,
    by_dev: BTreeMap<String, BTreeSet<RouteKey>>,
}

impl RouteTable {
    /// Inserts or replaces the route with this key, whatever device the old one used.
    pub(crate) fn put(&mut self, key: RouteKey, route: StoredRoute) {
        let devs: Vec<String> = route.spec.devs().map(str::to_string).collect();
        if let Some(old) = self.by_key.insert(key, route) {
            self.unindex(&old.spec, &key);
        }
        // A dropping route has no device to index it by; a multipath one is indexed by each.
        for dev in devs {
            self.by_dev.entry(dev).or_default().insert(key);
        }
    }

    /// Inserts or replaces a route of the agent's protocol, keyed by its own fields.
    pub(crate) fn put_agent(&mut self, spec: RouteSpec) {
        let key = RouteKey {
            dst: spec.dst,
            metric: spec.metric,
            table: spec.table,
        };
        self.put(
            key,
            StoredRoute {
                spec,
                protocol: nsagent_core::ROUTE_PROTOCOL,
            },
        );
    }

    pub(crate) fn remove(&mut self, key: &RouteKey) -> Option<StoredRoute> {
        let old = self.by_key.remove(key)?;
        self.unindex(&old.spec, key);
        Some(old)
    }

    fn unindex(&mut self, spec: &RouteSpec, key: &RouteKey) {
        for dev in spec.devs() {
            if let Some(keys) = self.by_dev.get_mut(dev) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_dev.remove(dev);
                }
            }
        }
    }

    /// Every route, by destination and metric.
    pub(crate) fn all(&self) -> impl Iterator<Item = &StoredRoute> {
        self.by_key.values()
    }

    /// The routes through one device, by destination and metric.
    pub(crate) fn of_dev<'a>(
        &'a self,
        dev: &str,
    ) -> impl Iterator<Item = (&'a RouteKey, &'a StoredRoute)> + 'a {
        self.by_dev
            .get(dev)
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_key.get_key_value(k))
    }

    /// The routes to one destination, whatever their metric, by metric.
    pub(crate) fn to_dst(&self, dst: IpNet) -> impl Iterator<Item = (&RouteKey, &StoredRoute)> {
        self.by_key.range(
            RouteKey {
                dst,
                metric: 0,
                table: None,
            }..=RouteKey {
                dst,
                metric: u32::MAX,
                table: Some(u32::MAX),
            },
        )
    }

    /// Moves every route through `from` to `to`: they follow their device's index.
    pub(crate) fn rename_dev(&mut self, from: &str, to: &str) {
        let Some(keys) = self.by_dev.remove(from) else {
            return;
        };
        for key in &keys {
            if let Some(route) = self.by_key.get_mut(key) {
                route.spec.rename_dev(from, to);
            }
        }
        self.by_dev.entry(to.to_string()).or_default().extend(keys);
    }

    /// Removes the routes, of any device or none, that satisfy `doomed`.
    pub(crate) fn remove_where(&mut self, doomed: impl Fn(&StoredRoute) -> bool) {
        let keys: Vec<RouteKey> = self
            .by_key
            .iter()
            .filter(|(_, r)| doomed(r))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.remove(&key);
        }
    }

    /// Removes the routes through `dev` whose key satisfies `doomed`; of a multipath route,
    /// what `loss` says.
    pub(crate) fn remove_of_dev(
        &mut self,
        dev: &str,
        doomed: impl Fn(&RouteKey) -> bool,
        loss: PathLoss<'_>,
    ) {
        let keys: Vec<RouteKey> = self
            .by_dev
            .get(dev)
            .into_iter()
            .flatten()
            .filter(|k| doomed(k))
            .copied()
            .collect();
        for key in keys {
            let Some(route) = self.remove(&key) else {
                continue;
            };
            if route.spec.hops.is_empty() {
                continue;
            }
            let kept = match loss {
                PathLoss::Gone if key.dst.addr().is_ipv4() => None,
                PathLoss::Gone => {
                    let mut spec = route.spec.clone();
                    spec.hops.retain(|h| h.dev != dev);
                    crate::multipath::one_left(spec)
                }
                PathLoss::Dead { alive } => route
                    .spec
                    .hops
                    .iter()
                    .any(|h| h.dev != dev && alive(&h.dev))
                    .then(|| route.spec.clone()),
            };
            if let Some(spec) = kept {
                self.put(key, StoredRoute { spec, ..route });
            }
        }
    }
}

/// What a multipath route loses with one path's link.
#[derive(Clone, Copy)]
pub(crate) enum PathLoss<'a> {
    /// The link went: an IPv4 route goes whole, an IPv6 one loses the path.
    Gone,
    /// The link went down or lost its addresses: the path is dead, and the route stays while
    /// another path's link is `alive`.
    Dead { alive: &'a dyn Fn(&str) -> bool },
}

/// Permanent neighbour entries, keyed by link name and address so that one link's entries are
/// one range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NeighbourTable {
    /// The link-layer address and `ndm_protocol` (`NDA_PROTOCOL`) of each entry: the agent's
    /// carry its protocol, entries made by hand carry none (0) or their tool's.
    entries: BTreeMap<(String, IpAddr), (MacAddr, u8)>,
}

impl NeighbourTable {
    /// Creates or replaces an entry; a replace without a protocol keeps the entry's, as the
    /// kernel does.
    pub(crate) fn set(&mut self, link: &str, ip: IpAddr, mac: MacAddr, protocol: u8) {
        let entry = self
            .entries
            .entry((link.to_string(), ip))
            .or_insert((mac, protocol));
        entry.0 = mac;
        if protocol != 0 {
            entry.1 = protocol;
        }
    }

    pub(crate) fn remove(&mut self, link: &str, ip: IpAddr) -> Option<MacAddr> {
        self.entries
            .remove(&(link.to_string(), ip))
            .map(|(mac, _)| mac)
    }

    /// Every entry, by link name and address, with its protocol.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&str, IpAddr, MacAddr, u8)> {
        self.entries
            .iter()
            .map(|((link, ip), (mac, protocol))| (link.as_str(), *ip, *mac, *protocol))
    }

    /// One link's entries with their protocol, IPv4 before IPv6, by address.
    pub(crate) fn of_link(&self, link: &str) -> impl Iterator<Item = (IpAddr, MacAddr, u8)> + '_ {
        let low = (link.to_string(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let high = (link.to_string(), IpAddr::V6(Ipv6Addr::from(u128::MAX)));
        self.entries
            .range(low..=high)
            .map(|((_, ip), (mac, protocol))| (*ip, *mac, *protocol))
    }

    /// Moves every entry of `from` to `to`.
    pub(crate) fn rename_link(&mut self, from: &str, to: &str) {
        let moved: Vec<(IpAddr, MacAddr, u8)> = self.of_link(from).collect();
        for (ip, mac, protocol) in moved {
            self.entries.remove(&(from.to_string(), ip));
            self.entries.insert((to.to_string(), ip), (mac, protocol));
        }
    }

    /// Removes the entries of `link` whose address satisfies `doomed`.
    pub(crate) fn remove_of_link(&mut self, link: &str, doomed: impl Fn(&IpAddr) -> bool) {
        let ips: Vec<IpAddr> = self
            .of_link(link)
            .map(|(ip, _, _)| ip)
            .filter(|ip| doomed(ip))
            .collect();
        for ip in ips {
            self.entries.remove(&(link.to_string(), ip));
        }
    }
}

impl Namespace {
    /// A fresh namespace holds only `lo`: down, MTU 65536, all-zero MAC, no addresses (verified
    /// with `ip netns add` on Linux 6.18).
    pub(crate) fn new() -> Namespace {
        let mut ns = Namespace {
            next_ifindex: 1,
            links: BTreeMap::new(),
            routes: RouteTable::default(),
            neighbours: NeighbourTable::default(),
            tables: Default::default(),
            rules: Default::default(),
        };
        let ifindex = ns.allocate_ifindex();
        ns.links.insert(
            "lo".to_string(),
            Link {
                ifindex,
                kind: LinkKind::Loopback,
                alias: None,
                mtu: 65536,
                mac: MacAddr([0; 6]),
                up: false,
                addresses: Vec::new(),
                peer: None,
                rx_checksum: true,
                tx_checksum: true,
                master: None,
                vrf_table: None,
                bridge: None,
                tap: None,
                lower: None,
                macvlan_mode: None,
                vxlan: None,
                fdb: vec![],
                mtu_set: false,
                mac_set: false,
            },
        );
        ns
    }

    pub(crate) fn allocate_ifindex(&mut self) -> u32 {
        let index = self.next_ifindex;
        self.next_ifindex += 1;
        index
    }

    /// A link moved in keeps its index: later links are numbered past it, as no two links of a
    /// namespace share one.
    pub(crate) fn keep_ifindex(&mut self, index: u32) {
        self.next_ifindex = self.next_ifindex.max(index + 1);
    }

    /// The name of the link with this index.
    pub(crate) fn name_of(&self, index: u32) -> Option<&str> {
        self.links
            .iter()
            .find(|(_, l)| l.ifindex == index)
            .map(|(n, _)| n.as_str())
    }

    /// Gives link `from` the name `to`, with everything that refers to it in this namespace:
    /// the kernel knows them by index, so they stay. The caller checks that `to` is free.
    pub(crate) fn rename_link(&mut self, from: &str, to: &str) -> Option<&Link> {
        let link = self.links.remove(from)?;
        self.links.insert(to.to_string(), link);
        self.routes.rename_dev(from, to);
        self.neighbours.rename_link(from, to);
        self.links.get(to)
    }

    /// Removes a link with everything that refers to it in this namespace: its routes and its
    /// neighbours go with the device in the kernel too.
    pub(crate) fn remove_link(&mut self, name: &str) -> Option<Link> {
        let link = self.links.remove(name)?;
        self.routes.remove_of_dev(name, |_| true, PathLoss::Gone);
        self.neighbours.remove_of_link(name, |_| true);
        Some(link)
    }

    /// What setting a link down does (verified): every IPv4 and IPv6 route through it is
    /// removed, its IPv6 addresses are flushed (`keep_addr_on_down` is 0 by default, so global
    /// addresses go as well as link-local ones, and `::1` on `lo`), and its neighbour entries,
    /// permanent ones included, are flushed. IPv4 addresses stay.
    pub(crate) fn flush_on_down(&mut self, name: &str) {
        let links = &self.links;
        let alive = |d: &str| links.get(d).is_some_and(|l| l.up);
        self.routes
            .remove_of_dev(name, |_| true, PathLoss::Dead { alive: &alive });
        self.neighbours.remove_of_link(name, |_| true);
        if let Some(link) = self.links.get_mut(name) {
            link.addresses.retain(|a| a.net.addr().is_ipv4());
        }
    }

    /// What an MTU below 1280 does (verified): IPv6 is disabled on the link, so its IPv6
    /// addresses, routes and neighbours disappear and new ones are refused until the MTU is
    /// raised again.
    pub(crate) fn flush_ipv6(&mut self, name: &str) {
        let links = &self.links;
        let alive = |d: &str| links.get(d).is_some_and(|l| l.up && l.ipv6_enabled());
        self.routes.remove_of_dev(
            name,
            |k| k.dst.addr().is_ipv6(),
            PathLoss::Dead { alive: &alive },
        );
        self.neighbours.remove_of_link(name, |ip| ip.is_ipv6());
        if let Some(link) = self.links.get_mut(name) {
            link.addresses.retain(|a| a.net.addr().is_ipv4());
        }
    }

    /// What the removal of a link's last IPv4 address does (verified): the kernel flushes every
    /// IPv4 route through the link, even routes that never depended on that address, and its
    /// IPv4 neighbours, permanent ones included. Removing any other address leaves routes and
    /// neighbours alone, including gateway routes whose gateway was in the removed address's
    /// subnet; IPv6 address removal never removes routes or neighbours.
    pub(crate) fn flush_ipv4(&mut self, name: &str) {
        let links = &self.links;
        let alive = |d: &str| links.get(d).is_some_and(|l| l.up);
        self.routes.remove_of_dev(
            name,
            |k| k.dst.addr().is_ipv4(),
            PathLoss::Dead { alive: &alive },
        );
        self.neighbours.remove_of_link(name, |ip| ip.is_ipv4());
    }
}

/// A route as the kernel stores it: the destination masked, and an IPv6 one global with metric
/// 0 made 1024.
pub(crate) fn as_stored(mut spec: RouteSpec) -> RouteSpec {
    spec.dst = masked(spec.dst);
    if spec.dst.addr().is_ipv6() {
        spec.scope = nsagent_core::RouteScope::Global;
        if spec.metric == 0 {
            spec.metric = crate::kernel::IPV6_DEFAULT_METRIC;
        }
    }
    spec
}

/// The host bits of an IPv4 destination are an error (EINVAL, "Invalid prefix for given prefix
/// length"); IPv6 destinations are masked silently (both verified).
pub(crate) fn has_host_bits(dst: &IpNet) -> bool {
    dst.addr() != dst.network()
}

pub(crate) fn masked(dst: IpNet) -> IpNet {
    dst.trunc()
}

/// The link-local address the kernel derives from a MAC (EUI-64, `addrgenmode eui64`): the
/// universal/local bit flipped and ff:fe inserted in the middle. Matches what Linux 6.18 showed
/// (12:6d:e3:19:0f:60 gave fe80::106d:e3ff:fe19:f60/64).
pub(crate) fn link_local(mac: MacAddr) -> IpNet {
    let m = mac.0;
    let addr = Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    );
    IpNet::V6(Ipv6Net::new(addr, 64).unwrap_or_default())
}

/// `lo`'s addresses, added whenever it comes up (verified: even after 127.0.0.1/8 was deleted,
/// a down/up brings it back).
pub(crate) fn loopback_v4() -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).unwrap_or_default())
}

pub(crate) fn loopback_v6() -> IpNet {
    IpNet::V6(Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).unwrap_or_default())
}
