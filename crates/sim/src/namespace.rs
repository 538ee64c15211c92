//! One simulated network namespace: its links, their addresses, the static routes of its main
//! table and its permanent neighbours, with the side effects the kernel applies inside a single
//! namespace (flushes on link down, on address removal, on IPv6 being disabled).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nsagent_core::{LinkKind, MacAddr, Netns, RouteSpec};

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

/// The other end of a veth pair.
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
            LinkKind::Veth | LinkKind::Dummy | LinkKind::Other => Some((68, 65535)),
        }
    }
}

/// A route of the main table, identified by destination and metric as the kernel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RouteKey {
    pub(crate) dst: IpNet,
    pub(crate) metric: u32,
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
    pub(crate) routes: BTreeMap<RouteKey, StoredRoute>,
    /// Permanent entries, keyed by link name and address.
    pub(crate) neighbours: BTreeMap<(String, IpAddr), MacAddr>,
}

impl Namespace {
    /// A fresh namespace holds only `lo`: down, MTU 65536, all-zero MAC, no addresses (verified
    /// with `ip netns add` on Linux 6.18).
    pub(crate) fn new() -> Namespace {
        let mut ns = Namespace {
            next_ifindex: 1,
            links: BTreeMap::new(),
            routes: BTreeMap::new(),
            neighbours: BTreeMap::new(),
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
            },
        );
        ns
    }

    pub(crate) fn allocate_ifindex(&mut self) -> u32 {
        let index = self.next_ifindex;
        self.next_ifindex += 1;
        index
    }

    /// Removes a link with everything that refers to it in this namespace: its routes and its
    /// neighbours go with the device in the kernel too.
    pub(crate) fn remove_link(&mut self, name: &str) -> Option<Link> {
        let link = self.links.remove(name)?;
        self.routes.retain(|_, r| r.spec.dev != name);
        self.neighbours.retain(|(dev, _), _| dev != name);
        Some(link)
    }

    /// What setting a link down does (verified): every IPv4 and IPv6 route through it is
    /// removed, its IPv6 addresses are flushed (`keep_addr_on_down` is 0 by default, so global
    /// addresses go as well as link-local ones, and `::1` on `lo`), and its neighbour entries,
    /// permanent ones included, are flushed. IPv4 addresses stay.
    pub(crate) fn flush_on_down(&mut self, name: &str) {
        self.routes.retain(|_, r| r.spec.dev != name);
        self.neighbours.retain(|(dev, _), _| dev != name);
        if let Some(link) = self.links.get_mut(name) {
            link.addresses.retain(|a| a.net.addr().is_ipv4());
        }
    }

    /// What an MTU below 1280 does (verified): IPv6 is disabled on the link, so its IPv6
    /// addresses, routes and neighbours disappear and new ones are refused until the MTU is
    /// raised again.
    pub(crate) fn flush_ipv6(&mut self, name: &str) {
        self.routes
            .retain(|k, r| !(r.spec.dev == name && k.dst.addr().is_ipv6()));
        self.neighbours
            .retain(|(dev, ip), _| !(dev == name && ip.is_ipv6()));
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
        self.routes
            .retain(|k, r| !(r.spec.dev == name && k.dst.addr().is_ipv4()));
        self.neighbours
            .retain(|(dev, ip), _| !(dev == name && ip.is_ipv4()));
    }
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
