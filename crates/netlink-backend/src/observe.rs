//! Reading a namespace's links, addresses, routes, neighbours and policy rules back from kernel
//! dumps.

use std::collections::HashMap;
use std::io::{self, Cursor};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use ipnet::IpNet;
use neli::attr::Attribute;
use neli::consts::rtnl::{Arphrd, Ifa, Ifla, IflaInfo, Nda, Ntf, Nud, RtAddrFamily, Rta, Rtm};
use neli::rtnl::{Ifaddrmsg, Ifinfomsg, Ndmsg, Rtattr, Rtmsg};
use neli::types::Buffer;
use neli::FromBytesWithInput;
use nsagent_core::{
    Hop, LinkKind, LinkState, LinkStats, MacAddr, Netns, ObservedLink, ObservedNamespace,
    ObservedNeighbour, OperState, RouteScope, RouteSpec, RouteType, RuleSpec,
};

use crate::bridge;
use crate::message;
use crate::socket::{NetlinkSocket, Reply};
use crate::tap;

const RT_TABLE_MAIN: u32 = 254;
/// `IFA_PROTO`: who added an address. Values 1-3 are the kernel's own (loopback, router
/// advertisement, link-local), which no configuration asks for.
const IFA_PROTO: u16 = 11;
const IFAPROT_KERNEL_MAX: u8 = 3;

fn bad(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("parsing {what}: {e}"))
}

fn dump(
    sock: &mut NetlinkSocket,
    request: io::Result<Vec<u8>>,
    what: &str,
) -> io::Result<Vec<Reply>> {
    let request = request?;
    sock.dump(&request)?
        .map_err(|e| io::Error::other(format!("dumping {what}: {}", e.describe())))
}

fn enc(r: Result<Vec<u8>, message::EncodeError>) -> io::Result<Vec<u8>> {
    r.map_err(io::Error::other)
}

/// Text of a string attribute, without the NUL the kernel appends.
fn text(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

pub(crate) fn ip_from(family: u8, bytes: &[u8]) -> Option<IpAddr> {
    if family == libc::AF_INET as u8 {
        let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(b)))
    } else if family == libc::AF_INET6 as u8 {
        let b: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(b)))
    } else {
        None
    }
}

fn u32_of(payload: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

pub(crate) fn find<T: neli::consts::rtnl::RtaType>(
    attrs: &[Rtattr<T, Buffer>],
    ty: T,
) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|a| *a.rta_type() == ty)
        .map(|a| a.payload().as_ref())
}

/// A link as a dump reports it, with its index.
pub(crate) struct DumpedLink {
    pub index: i32,
    pub link: ObservedLink,
    /// For a veth: its peer's index, and the id of the peer's namespace when it is another one.
    pub peer: Option<(i32, Option<i32>)>,
    /// The index of the link it is enslaved to (`IFLA_MASTER`), in its namespace.
    pub master: Option<i32>,
}

/// A namespace as observed, with what is needed to find the other end of its veths.
pub(crate) struct Observed {
    pub ns: ObservedNamespace,
    pub names: HashMap<i32, String>,
    /// Veth name, peer index, peer namespace id (`None`: this namespace).
    pub peers: Vec<(String, i32, Option<i32>)>,
}

/// `IFLA_LINK_NETNSID`.
const IFLA_LINK_NETNSID: u16 = 37;
const NETNSA_NSID: u16 = 1;

pub(crate) fn parse_link(payload: &[u8]) -> io::Result<DumpedLink> {
    let msg = Ifinfomsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .map_err(|e| bad("link", e))?;
    let attrs = msg.rtattrs().as_ref();
    let name = find(attrs, Ifla::Ifname).map(text).unwrap_or_default();
    let info = attrs
        .iter()
        .find(|a| *a.rta_type() == Ifla::Linkinfo)
        .and_then(|a| a.get_attr_handle::<IflaInfo>().ok());
    let kind_name = info.as_ref().and_then(|h| {
        h.get_attribute(IflaInfo::Kind)
            .map(|k| text(k.payload().as_ref()))
    });
    let data = info
        .as_ref()
        .and_then(|h| h.get_attribute(IflaInfo::Data))
        .map(|d| d.payload().as_ref().to_vec());
    let vrf_table = data.as_deref().and_then(message::vrf_table_of);
    let kind = match kind_name.as_deref() {
        Some("veth") => LinkKind::Veth,
        Some("dummy") => LinkKind::Dummy,
        Some("vrf") => LinkKind::Vrf,
        Some("bridge") => LinkKind::Bridge,
        Some("macvlan") => LinkKind::Macvlan,
        Some("vxlan") => LinkKind::Vxlan,
        Some("tun") if data.as_deref().and_then(tap::settings_of).is_some() => LinkKind::Tap,
        _ if *msg.ifi_type() == Arphrd::Loopback => LinkKind::Loopback,
        _ => LinkKind::Other,
    };
    let alias = find(attrs, Ifla::Ifalias)
        .map(text)
        .filter(|a| !a.is_empty());
    let mtu = find(attrs, Ifla::Mtu).and_then(u32_of).unwrap_or(0);
    let mac = find(attrs, Ifla::Address)
        .and_then(|b| <[u8; 6]>::try_from(b).ok())
        .map(MacAddr);
    let up = msg.ifi_flags().bits() & message::IFF_UP != 0;
    // A VXLAN's underlay is in its data; its IFLA_LINK is its own index.
    let lower = match kind {
        LinkKind::Veth | LinkKind::Macvlan => find(attrs, Ifla::Link).and_then(u32_of),
        LinkKind::Vxlan => data.as_deref().and_then(crate::vxlan::underlay_of),
        _ => None,
    };
    let peer = match kind {
        LinkKind::Veth | LinkKind::Macvlan | LinkKind::Vxlan => {
            lower.filter(|i| *i != 0).map(|i| {
                let nsid = find(attrs, Ifla::from(IFLA_LINK_NETNSID))
                    .and_then(u32_of)
                    .map(|n| n as i32);
                (i as i32, nsid.filter(|n| *n >= 0))
            })
        }
        _ => None,
    };
    let master = find(attrs, Ifla::Master)
        .and_then(u32_of)
        .filter(|i| *i != 0)
        .map(|i| i as i32);
    Ok(DumpedLink {
        peer,
        master,
        index: *msg.ifi_index(),
        link: ObservedLink {
            name,
            kind,
            alias,
            mtu,
            mac,
            up,
            addresses: Vec::new(),
            // Resolved across namespaces by the caller, see `Observed::peers`.
            peer: None,
            // Read from ethtool by the caller, for veths.
            checksum_offload: Default::default(),
            // Named by the caller, which knows every index of the namespace.
            master: None,
            vrf_table: vrf_table.filter(|_| kind == LinkKind::Vrf),
            bridge: (kind == LinkKind::Bridge)
                .then(|| bridge::settings_of(data.as_deref().unwrap_or_default())),
            tap: data
                .as_deref()
                .filter(|_| kind == LinkKind::Tap)
                .and_then(tap::settings_of),
            macvlan_mode: data
                .as_deref()
                .filter(|_| kind == LinkKind::Macvlan)
                .and_then(crate::macvlan::mode_of),
            // Resolved across namespaces by the caller, as a veth's peer is.
            parent: None,
            vxlan: data
                .as_deref()
                .filter(|_| kind == LinkKind::Vxlan)
                .and_then(crate::vxlan::tunnel_of),
            // Read from the namespace's bridge-family dump by the caller.
            fdb: Vec::new(),
        },
    })
}

/// `IFLA_OPERSTATE` (u8, `IF_OPER_*`) and `IFLA_STATS64` (`struct rtnl_link_stats64`).
const IFLA_OPERSTATE: u16 = 16;
const IFLA_STATS64: u16 = 23;

/// Every link of the namespace as it is now, with its counters.
pub(crate) fn link_states(sock: &mut NetlinkSocket) -> io::Result<Vec<LinkState>> {
    let replies = dump(sock, enc(message::dump_links_with_stats()), "link states")?;
    replies
        .iter()
        .filter(|r| r.ty == u16::from(Rtm::Newlink))
        .map(|r| parse_link_state(&r.payload))
        .collect()
}

fn parse_link_state(payload: &[u8]) -> io::Result<LinkState> {
    let d = parse_link(payload)?;
    let msg = Ifinfomsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .map_err(|e| bad("link", e))?;
    let attrs = msg.rtattrs().as_ref();
    let oper = find(attrs, Ifla::from(IFLA_OPERSTATE))
        .and_then(|b| b.first().copied())
        .map_or(OperState::Unknown, OperState::from_kernel);
    let stats = find(attrs, Ifla::from(IFLA_STATS64))
        .map(stats64)
        .unwrap_or_default();
    Ok(LinkState {
        name: d.link.name,
        ifindex: u32::try_from(d.index).unwrap_or(0),
        kind: d.link.kind,
        admin_up: d.link.up,
        oper,
        mtu: d.link.mtu,
        mac: d.link.mac,
        stats,
        // Read from ethtool by the caller.
        speed_mbps: None,
    })
}

/// `struct rtnl_link_stats64` begins rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors,
/// tx_errors, rx_dropped, tx_dropped, each a u64; a shorter payload leaves the rest zero.
fn stats64(b: &[u8]) -> LinkStats {
    let at = |i: usize| {
        b.get(i * 8..i * 8 + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map_or(0, u64::from_ne_bytes)
    };
    LinkStats {
        rx_packets: at(0),
        tx_packets: at(1),
        rx_bytes: at(2),
        tx_bytes: at(3),
        rx_errors: at(4),
        tx_errors: at(5),
        rx_dropped: at(6),
        tx_dropped: at(7),
    }
}

/// Every link of the namespace, by index.
pub(crate) fn links(sock: &mut NetlinkSocket) -> io::Result<Vec<DumpedLink>> {
    let replies = dump(sock, enc(message::dump_links()), "links")?;
    replies
        .iter()
        .filter(|r| r.ty == u16::from(Rtm::Newlink))
        .map(|r| parse_link(&r.payload))
        .collect()
}

/// The ids under which the socket's namespace knows the namespaces of `fds`.
pub(crate) fn namespace_ids(
    sock: &mut NetlinkSocket,
    fds: &[RawFd],
) -> io::Result<Vec<Option<i32>>> {
    let mut requests = Vec::with_capacity(fds.len());
    for fd in fds {
        requests.push(enc(message::get_nsid(*fd))?);
    }
    let outcomes = sock.transact(&mut requests)?;
    Ok(outcomes
        .into_iter()
        .map(|o| {
            let replies = o.ok()?;
            let reply = replies.iter().find(|r| r.ty == u16::from(Rtm::Newnsid))?;
            let mut attrs = reply.payload.get(4..)?;
            while attrs.len() >= 4 {
                let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                let ty = u16::from_ne_bytes([attrs[2], attrs[3]]);
                if len < 4 || len > attrs.len() {
                    return None;
                }
                if ty == NETNSA_NSID {
                    return u32_of(&attrs[4..len]).map(|n| n as i32).filter(|n| *n >= 0);
                }
                attrs = &attrs[crate::socket::align(len).min(attrs.len())..];
            }
            None
        })
        .collect())
}

/// Reads everything the core may manage in the socket's namespace: links with their
/// addresses, the agent's routes (main table and any VRF's), its permanent neighbours and its
/// policy rules (all by `protocol`). Lists are sorted,
/// so that two looks at an unchanged namespace compare equal.
pub(crate) fn observe(sock: &mut NetlinkSocket, ns: Netns, protocol: u8) -> io::Result<Observed> {
    let dumped = links(sock)?;
    let mut by_index: HashMap<i32, usize> = HashMap::new();
    let mut links: Vec<ObservedLink> = Vec::with_capacity(dumped.len());
    let mut peers = Vec::new();
    let mut masters = Vec::new();
    for (i, d) in dumped.into_iter().enumerate() {
        by_index.insert(d.index, i);
        if let Some((index, nsid)) = d.peer {
            peers.push((d.link.name.clone(), index, nsid));
        }
        if let Some(m) = d.master {
            masters.push((i, m));
        }
        links.push(d.link);
    }
    let names: HashMap<i32, String> = by_index
        .iter()
        .map(|(i, &pos)| (*i, links[pos].name.clone()))
        .collect();
    for (i, m) in masters {
        links[i].master = names.get(&m).cloned();
    }
    for (index, net) in addresses(sock)? {
        if let Some(&i) = by_index.get(&index) {
            links[i].addresses.push(net);
        }
    }
    let name_of = |index: u32| names.get(&(index as i32)).cloned();
    let mut routes = managed_routes(sock, &name_of, protocol)?;
    let mut neighbours = permanent_neighbours(sock, &name_of, protocol)?;
    for (index, entry) in vxlan_fdb(sock)? {
        if let Some(&i) = by_index.get(&index) {
            if links[i].kind == LinkKind::Vxlan {
                links[i].fdb.push(entry);
            }
        }
    }

    // IPv4 has no IFA_PROTO for the address the kernel gives loopback when it comes up.
    let kernel_lo: IpNet =
        IpNet::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8).map_err(|e| bad("loopback address", e))?;
    for link in &mut links {
        if link.kind == LinkKind::Loopback {
            link.addresses.retain(|a| *a != kernel_lo);
        }
        link.addresses.sort();
        link.fdb.sort();
    }
    links.sort_by(|a, b| a.name.cmp(&b.name));
    routes.sort();
    neighbours.sort_by(|a, b| (&a.link, a.ip).cmp(&(&b.link, b.ip)));
    Ok(Observed {
        ns: ObservedNamespace {
            ns,
            links,
            routes,
            neighbours,
            rules: policy_rules(sock, protocol)?,
        },
        names,
        peers,
    })
}

/// Every address not added by the kernel itself, with the index of its link.
pub(crate) fn addresses(sock: &mut NetlinkSocket) -> io::Result<Vec<(i32, IpNet)>> {
    let mut out = Vec::new();
    for reply in dump(sock, enc(message::dump_addresses()), "addresses")? {
        if reply.ty != u16::from(Rtm::Newaddr) {
            continue;
        }
        out.extend(parse_address(&reply.payload)?);
    }
    Ok(out)
}

/// An address message's link index and address, or `None` for an address the kernel added by
/// itself (which no configuration asks for, so no observation reports it).
pub(crate) fn parse_address(payload: &[u8]) -> io::Result<Option<(i32, IpNet)>> {
    let msg = Ifaddrmsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .map_err(|e| bad("address", e))?;
    let attrs = msg.rtattrs().as_ref();
    let proto = find(attrs, Ifa::from(IFA_PROTO))
        .and_then(|b| b.first().copied())
        .unwrap_or(0);
    if (1..=IFAPROT_KERNEL_MAX).contains(&proto) {
        return Ok(None);
    }
    let family = u8::from(*msg.ifa_family());
    let Some(ip) = find(attrs, Ifa::Local)
        .or_else(|| find(attrs, Ifa::Address))
        .and_then(|b| ip_from(family, b))
    else {
        return Ok(None);
    };
    let Ok(net) = IpNet::new(ip, *msg.ifa_prefixlen()) else {
        return Ok(None);
    };
    Ok(Some((*msg.ifa_index() as i32, net)))
}

/// The value of one metric in an `RTA_METRICS` payload, if it is there and set.
fn route_metric(payload: &[u8], ty: u16) -> Option<u32> {
    let mut rest = payload;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let this = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return None;
        }
        if this == ty {
            return u32_of(&rest[4..len]).filter(|v| *v != 0);
        }
        rest = &rest[(len + 3) & !3..];
    }
    None
}

/// The paths of an `RTA_MULTIPATH` payload in the kernel's order (the order given), or
/// `None` if one is malformed or on a link not known by name.
fn multipath_hops(
    payload: &[u8],
    family: u8,
    name_of: &dyn Fn(u32) -> Option<String>,
) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    let mut rest = payload;
    while rest.len() >= 8 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        if len < 8 || len > rest.len() {
            return None;
        }
        let weight = u16::from(rest[3]) + 1;
        let index = u32::from_ne_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let mut gw = None;
        let mut attrs = &rest[8..len];
        while attrs.len() >= 4 {
            let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
            let ty = u16::from_ne_bytes([attrs[2], attrs[3]]);
            if alen < 4 || alen > attrs.len() {
                return None;
            }
            if ty == u16::from(Rta::Gateway) {
                gw = ip_from(family, &attrs[4..alen]);
            }
            attrs = &attrs[((alen + 3) & !3).min(attrs.len())..];
        }
        hops.push(Hop {
            dev: name_of(index)?,
            gw,
            weight,
        });
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    Some(hops)
}

/// Routes added with the agent's protocol number, of any table: the only ones it
/// manages, so that routes of the kernel and of others are never taken for stale.
fn managed_routes(
    sock: &mut NetlinkSocket,
    name_of: &dyn Fn(u32) -> Option<String>,
    protocol: u8,
) -> io::Result<Vec<RouteSpec>> {
    let mut routes = Vec::new();
    for reply in dump(sock, enc(message::dump_routes()), "routes")? {
        if reply.ty != u16::from(Rtm::Newroute) {
            continue;
        }
        let msg =
            Rtmsg::from_bytes_with_input(&mut Cursor::new(&reply.payload), reply.payload.len())
                .map_err(|e| bad("route", e))?;
        let attrs = msg.rtattrs().as_ref();
        let table = find(attrs, Rta::Table)
            .and_then(u32_of)
            .unwrap_or(u8::from(*msg.rtm_table()) as u32);
        // Only the protocol number tells the agent's routes from the kernel's own (its local
        // table is full of them) and anyone else's.
        let kind = RouteType::from_rtm_type(u8::from(*msg.rtm_type()));
        let (Some(kind), false) = (
            kind,
            table == 0 || u8::from(*msg.rtm_protocol()) != protocol,
        ) else {
            continue;
        };
        let family = u8::from(*msg.rtm_family());
        let dst_ip = match find(attrs, Rta::Dst) {
            Some(b) => ip_from(family, b),
            None if family == libc::AF_INET as u8 => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            None if family == libc::AF_INET6 as u8 => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            None => None,
        };
        let Some(Ok(dst)) = dst_ip.map(|ip| IpNet::new(ip, *msg.rtm_dst_len())) else {
            continue;
        };
        let hops = match find(attrs, Rta::Multipath) {
            Some(b) => match multipath_hops(b, family, name_of) {
                Some(h) => h,
                None => continue,
            },
            None => Vec::new(),
        };
        // The kernel hangs an IPv6 dropping route on `lo`; it has no device of its own.
        let dev = match find(attrs, Rta::Oif).and_then(u32_of).and_then(name_of) {
            _ if !kind.has_device() || !hops.is_empty() => String::new(),
            Some(dev) => dev,
            None => continue,
        };
        let scope = match u8::from(*msg.rtm_scope()) {
            0 => RouteScope::Global,
            200 => RouteScope::Site,
            253 => RouteScope::Link,
            254 => RouteScope::Host,
            _ => continue,
        };
        routes.push(RouteSpec {
            dev,
            dst,
            gw: find(attrs, Rta::Gateway).and_then(|b| ip_from(family, b)),
            metric: find(attrs, Rta::Priority).and_then(u32_of).unwrap_or(0),
            scope,
            table: (table != RT_TABLE_MAIN).then_some(table),
            kind,
            src: find(attrs, Rta::Prefsrc).and_then(|b| ip_from(family, b)),
            mtu: find(attrs, Rta::Metrics).and_then(|b| route_metric(b, message::RTAX_MTU)),
            hops,
        });
    }
    Ok(routes)
}

/// The permanent bridge-family entries of the namespace's devices themselves (`NTF_SELF`)
/// that send to a VTEP (`NDA_DST`), by device index: a VXLAN's FDB. A bridge's own table, and
/// the MACs a veth or bridge lists as its own, have no VTEP and are left out.
fn vxlan_fdb(sock: &mut NetlinkSocket) -> io::Result<Vec<(i32, (MacAddr, IpAddr))>> {
    let mut entries = Vec::new();
    for reply in dump(sock, enc(crate::fdb::dump()), "fdb entries")? {
        if reply.ty != u16::from(Rtm::Newneigh) {
            continue;
        }
        let msg =
            Ndmsg::from_bytes_with_input(&mut Cursor::new(&reply.payload), reply.payload.len())
                .map_err(|e| bad("fdb entry", e))?;
        if !msg.ndm_state().contains(Nud::PERMANENT) || !msg.ndm_flags().contains(Ntf::SELF) {
            continue;
        }
        let attrs = msg.rtattrs().as_ref();
        let remote = find(attrs, Nda::Dst).and_then(|b| match b.len() {
            4 => ip_from(libc::AF_INET as u8, b),
            16 => ip_from(libc::AF_INET6 as u8, b),
            _ => None,
        });
        let mac = find(attrs, Nda::Lladdr)
            .and_then(|b| <[u8; 6]>::try_from(b).ok())
            .map(MacAddr);
        if let (Some(mac), Some(remote)) = (mac, remote) {
            entries.push((*msg.ndm_index(), (mac, remote)));
        }
    }
    Ok(entries)
}

/// Permanent IPv4 and IPv6 neighbours marked with the agent's `protocol`: the kind of entry an
/// ARP item makes. Learnt ones come and go with traffic, and permanent ones made by hand (no
/// protocol, or another's) on the agent's links are someone else's: neither is reported.
fn permanent_neighbours(
    sock: &mut NetlinkSocket,
    name_of: &dyn Fn(u32) -> Option<String>,
    protocol: u8,
) -> io::Result<Vec<ObservedNeighbour>> {
    let mut neighbours = Vec::new();
    for reply in dump(sock, enc(message::dump_neighbours()), "neighbours")? {
        if reply.ty != u16::from(Rtm::Newneigh) {
            continue;
        }
        let msg =
            Ndmsg::from_bytes_with_input(&mut Cursor::new(&reply.payload), reply.payload.len())
                .map_err(|e| bad("neighbour", e))?;
        if !msg.ndm_state().contains(Nud::PERMANENT) {
            continue;
        }
        let family = u8::from(*msg.ndm_family());
        if family != u8::from(RtAddrFamily::Inet) && family != u8::from(RtAddrFamily::Inet6) {
            continue;
        }
        let attrs = msg.rtattrs().as_ref();
        let marked = find(attrs, Nda::from(message::NDA_PROTOCOL)).and_then(|b| b.first().copied());
        if marked != Some(protocol) {
            continue;
        }
        let Some(ip) = find(attrs, Nda::Dst).and_then(|b| ip_from(family, b)) else {
            continue;
        };
        let Some(mac) = find(attrs, Nda::Lladdr)
            .and_then(|b| <[u8; 6]>::try_from(b).ok())
            .map(MacAddr)
        else {
            continue;
        };
        let Some(link) = name_of(*msg.ndm_index() as u32) else {
            continue;
        };
        neighbours.push(ObservedNeighbour { link, ip, mac });
    }
    Ok(neighbours)
}

/// The agent's policy rules (by `protocol`) of both families, sorted so that two looks at an
/// unchanged namespace compare equal; the kernel's own rules and anyone else's are left out,
/// as are rules a `RuleSpec` cannot hold (`rule::parse`).
fn policy_rules(sock: &mut NetlinkSocket, protocol: u8) -> io::Result<Vec<RuleSpec>> {
    let mut rules = Vec::new();
    for reply in dump(sock, enc(crate::rule::dump()), "rules")? {
        if reply.ty != u16::from(Rtm::Newrule) {
            continue;
        }
        rules.extend(crate::rule::parse(&reply.payload, protocol)?);
    }
    rules.sort();
    Ok(rules)
}
