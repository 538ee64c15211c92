//! rtnetlink requests, encoded with neli's message types.
//!
//! Every request asks for an acknowledgement, so that a pipelined exchange can tell which of its
//! requests failed. Links are named with `IFLA_IFNAME` (the kernel looks them up itself); the
//! address, route and neighbour messages need the link's index, which the caller resolves first.

use std::io::Cursor;
use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::IpNet;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{
    Ifa, IfaF, Ifla, IflaInfo, Nda, Nud, RtAddrFamily, RtScope, RtTable, Rta, Rtm, Rtn, Rtprot,
};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{
    Ifaddrmsg, IfaddrmsgBuilder, Ifinfomsg, IfinfomsgBuilder, NdmsgBuilder, Rtattr, RtattrBuilder,
    RtmsgBuilder,
};
use neli::types::{Buffer, RtBuffer};
use neli::{Size, ToBytes};
use nsagent_core::{BridgeSettings, Hop, LinkChange, LinkSpec, MacAddr, RouteSpec};

use crate::bridge;
use crate::socket::Request;

/// `IFLA_VRF_TABLE`, the table attribute of vrf's `IFLA_INFO_DATA` (u32).
const IFLA_VRF_TABLE: u16 = 1;

/// The table in a vrf's `IFLA_INFO_DATA` payload (a list of attributes).
pub fn vrf_table_of(data: &[u8]) -> Option<u32> {
    let p = info_attr(data, IFLA_VRF_TABLE)?;
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

/// The payload of the attribute of type `want` in a list of attributes (an `IFLA_INFO_DATA`
/// payload); `None` if it is not there or the list is cut short.
pub(crate) fn info_attr(data: &[u8], want: u16) -> Option<&[u8]> {
    let mut rest = data;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if ty == want {
            return Some(&rest[4..len]);
        }
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    None
}

/// `VETH_INFO_PEER`, the one attribute of veth's `IFLA_INFO_DATA`.
const VETH_INFO_PEER: u16 = 1;
/// `IFLA_EXT_MASK` value that leaves the statistics out of link dumps.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// A request could not be encoded; with fixed-size fields this means a bug, not bad input.
#[derive(Debug, thiserror::Error)]
#[error("encoding a netlink request: {0}")]
pub(crate) struct EncodeError(String);

pub(crate) fn enc<E: std::fmt::Display>(e: E) -> EncodeError {
    EncodeError(e.to_string())
}

pub(crate) type Result<T> = std::result::Result<T, EncodeError>;

pub(crate) fn attr<T, P>(ty: T, payload: P) -> Result<Rtattr<T, Buffer>>
where
    T: neli::consts::rtnl::RtaType,
    P: Size + ToBytes,
{
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(payload)
        .build()
        .map_err(enc)
}

/// A request the kernel acknowledges, so that each of a pipelined batch gets its own answer.
pub(crate) fn encode<P: Size + ToBytes + std::fmt::Debug>(
    ty: Rtm,
    flags: NlmF,
    payload: P,
) -> Result<Request> {
    encode_with(ty, NlmF::REQUEST | NlmF::ACK | flags, payload)
}

/// A dump asks for no ACK: its end is marked by NLMSG_DONE.
pub(crate) fn encode_dump<P: Size + ToBytes + std::fmt::Debug>(
    ty: Rtm,
    payload: P,
) -> Result<Request> {
    encode_with(ty, NlmF::REQUEST | NlmF::DUMP, payload)
}

fn encode_with<P: Size + ToBytes + std::fmt::Debug>(
    ty: Rtm,
    flags: NlmF,
    payload: P,
) -> Result<Request> {
    let msg = NlmsghdrBuilder::default()
        .nl_type(ty)
        .nl_flags(flags)
        .nl_payload(NlPayload::Payload(payload))
        .build()
        .map_err(enc)?;
    let mut buf = Cursor::new(Vec::with_capacity(msg.padded_size()));
    msg.to_bytes(&mut buf).map_err(enc)?;
    Ok(buf.into_inner())
}

fn up_flags(builder: IfinfomsgBuilder, up: Option<bool>) -> IfinfomsgBuilder {
    match up {
        Some(true) => builder.up(),
        Some(false) => builder.down(),
        None => builder,
    }
}

/// Link attributes common to creation and change. The alias is sent without a trailing NUL,
/// as `ip` does: the kernel stores the attribute's bytes as they are.
fn link_attrs(
    name: &str,
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    alias: Option<&str>,
) -> Result<Vec<Rtattr<Ifla, Buffer>>> {
    let mut attrs = vec![attr(Ifla::Ifname, name)?];
    if let Some(mtu) = mtu {
        attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    if let Some(mac) = mac {
        attrs.push(attr(Ifla::Address, mac.0)?);
    }
    if let Some(alias) = alias {
        attrs.push(attr(Ifla::Ifalias, alias.as_bytes())?);
    }
    Ok(attrs)
}

fn ifinfo(up: Option<bool>, attrs: Vec<Rtattr<Ifla, Buffer>>) -> Result<Ifinfomsg> {
    up_flags(
        IfinfomsgBuilder::default().ifi_family(RtAddrFamily::Unspecified),
        up,
    )
    .rtattrs(attrs.into_iter().collect::<RtBuffer<Ifla, Buffer>>())
    .build()
    .map_err(enc)
}

/// RTM_NEWLINK creating a link. For a veth, the peer's own ifinfomsg, with its name and the fd
/// of its namespace, travels inside `IFLA_INFO_DATA`, so the kernel creates it there directly.
/// Neither the alias nor the peer's up flag is included: the kernel ignores the first and fails
/// the creation with ENOTCONN for the second; the caller sets both afterwards.
pub fn new_link(link: &LinkSpec, peer: Option<(&LinkSpec, Option<RawFd>)>) -> Result<Request> {
    let kind = if peer.is_some() { "veth" } else { "dummy" };
    new_link_of(kind, link, peer, None)
}

/// RTM_NEWLINK creating a VRF device with its table (`IFLA_INFO_DATA` holding
/// `IFLA_VRF_TABLE`, as `ip link add NAME type vrf table T` sends it).
pub fn new_vrf(link: &LinkSpec, table: u32) -> Result<Request> {
    let data = attr(IflaInfo::Data, Buffer::new())?
        .nest(&attr(IFLA_VRF_TABLE, table)?)
        .map_err(enc)?;
    new_link_of("vrf", link, None, Some(data))
}

/// RTM_NEWLINK creating a bridge with the settings that differ from the kernel's defaults.
pub fn new_bridge(link: &LinkSpec, settings: &BridgeSettings) -> Result<Request> {
    new_link_of("bridge", link, None, bridge::creation_data(settings)?)
}

/// RTM_NEWLINK of `kind` with attributes of its own beside the spec's (a MACVLAN's parent).
pub(crate) fn new_link_with(
    kind: &str,
    link: &LinkSpec,
    extra: Vec<Rtattr<Ifla, Buffer>>,
    data: Option<Rtattr<IflaInfo, Buffer>>,
) -> Result<Request> {
    new_link_attrs(kind, link, extra, None, data)
}

fn new_link_of(
    kind: &str,
    link: &LinkSpec,
    peer: Option<(&LinkSpec, Option<RawFd>)>,
    data: Option<Rtattr<IflaInfo, Buffer>>,
) -> Result<Request> {
    new_link_attrs(kind, link, Vec::new(), peer, data)
}

fn new_link_attrs(
    kind: &str,
    link: &LinkSpec,
    extra: Vec<Rtattr<Ifla, Buffer>>,
    peer: Option<(&LinkSpec, Option<RawFd>)>,
    data: Option<Rtattr<IflaInfo, Buffer>>,
) -> Result<Request> {
    let mut attrs = link_attrs(&link.name, link.mtu, link.mac, None)?;
    attrs.extend(extra);
    let mut info = attr(Ifla::Linkinfo, Buffer::new())?
        .nest(&attr(IflaInfo::Kind, kind)?)
        .map_err(enc)?;
    if let Some(data) = data {
        info = info.nest(&data).map_err(enc)?;
    }
    if let Some((peer, peer_fd)) = peer {
        let mut peer_attrs = link_attrs(&peer.name, peer.mtu, peer.mac, None)?;
        if let Some(fd) = peer_fd {
            peer_attrs.push(attr(Ifla::NetNsFd, fd as u32)?);
        }
        let peer_msg = ifinfo(None, peer_attrs)?;
        let mut peer_bytes = Cursor::new(Vec::new());
        peer_msg.to_bytes(&mut peer_bytes).map_err(enc)?;
        let peer_attr = attr(VETH_INFO_PEER, peer_bytes.into_inner().as_slice())?;
        let data = attr(IflaInfo::Data, Buffer::new())?
            .nest(&peer_attr)
            .map_err(enc)?;
        info = info.nest(&data).map_err(enc)?;
    }
    attrs.push(info);
    encode(
        Rtm::Newlink,
        NlmF::CREATE | NlmF::EXCL,
        ifinfo(link.up.then_some(true), attrs)?,
    )
}

pub fn del_link(name: &str) -> Result<Request> {
    encode(
        Rtm::Dellink,
        NlmF::empty(),
        ifinfo(None, vec![attr(Ifla::Ifname, name)?])?,
    )
}

/// RTM_SETLINK naming the link by name. `master`: the index of the link to enslave it to (0
/// releases it), resolved by the caller from the change's master name. A change of a bridge's
/// settings goes as RTM_NEWLINK without NLM_F_CREATE instead, the one request whose kind's
/// data the kernel hands the driver (`changelink`, before the other attributes); a link of
/// another kind answers EOPNOTSUPP.
pub fn set_link(name: &str, change: &LinkChange, master: Option<u32>) -> Result<Request> {
    let mut attrs = link_attrs(name, change.mtu, change.mac, change.alias.as_deref())?;
    if let Some(index) = master {
        attrs.push(attr(Ifla::Master, index)?);
    }
    let data = match &change.bridge {
        Some(b) => bridge::data(b)?,
        None => None,
    };
    let Some(data) = data else {
        return encode(Rtm::Setlink, NlmF::empty(), ifinfo(change.up, attrs)?);
    };
    let info = attr(Ifla::Linkinfo, Buffer::new())?
        .nest(&attr(IflaInfo::Kind, "bridge")?)
        .map_err(enc)?
        .nest(&data)
        .map_err(enc)?;
    attrs.push(info);
    encode(Rtm::Newlink, NlmF::empty(), ifinfo(change.up, attrs)?)
}

/// RTM_SETLINK naming the link by its index, so that `IFLA_IFNAME` is its new name.
pub fn rename_link(index: u32, new_name: &str) -> Result<Request> {
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(index as i32)
        .rtattrs(std::iter::once(attr(Ifla::Ifname, new_name)?).collect::<RtBuffer<Ifla, Buffer>>())
        .build()
        .map_err(enc)?;
    encode(Rtm::Setlink, NlmF::empty(), msg)
}

/// RTM_SETLINK moving the link of this index into the namespace open as `ns_fd`, named
/// `new_name` there (the kernel moves it, then renames it: the name must be free there).
pub fn move_link(index: u32, ns_fd: i32, new_name: &str) -> Result<Request> {
    let attrs = [
        attr(Ifla::NetNsFd, ns_fd as u32)?,
        attr(Ifla::Ifname, new_name)?,
    ];
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(index as i32)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Ifla, Buffer>>())
        .build()
        .map_err(enc)?;
    encode(Rtm::Setlink, NlmF::empty(), msg)
}

/// RTM_GETLINK for one link by name, to learn its index.
pub fn get_link(name: &str) -> Result<Request> {
    let attrs = vec![
        attr(Ifla::Ifname, name)?,
        attr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?,
    ];
    encode(Rtm::Getlink, NlmF::empty(), ifinfo(None, attrs)?)
}

/// Every link with its counters (`IFLA_STATS64`), for state reports.
pub fn dump_links_with_stats() -> Result<Request> {
    encode_dump(Rtm::Getlink, ifinfo(None, vec![])?)
}

pub fn dump_links() -> Result<Request> {
    encode_dump(
        Rtm::Getlink,
        ifinfo(None, vec![attr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?])?,
    )
}

fn family(ip: &IpAddr) -> RtAddrFamily {
    match ip {
        IpAddr::V4(_) => RtAddrFamily::Inet,
        IpAddr::V6(_) => RtAddrFamily::Inet6,
    }
}

pub(crate) fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn ifaddr(index: u32, addr: &IpNet) -> Result<Ifaddrmsg> {
    let ip = addr.addr();
    let bytes = ip_bytes(&ip);
    let mut attrs = vec![attr(Ifa::Local, bytes.as_slice())?];
    attrs.push(attr(Ifa::Address, bytes.as_slice())?);
    IfaddrmsgBuilder::default()
        .ifa_family(family(&ip))
        .ifa_prefixlen(addr.prefix_len())
        .ifa_flags(IfaF::empty())
        .ifa_scope(RtScope::Universe)
        .ifa_index(index)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Ifa, Buffer>>())
        .build()
        .map_err(enc)
}

pub fn add_address(index: u32, addr: &IpNet) -> Result<Request> {
    encode(
        Rtm::Newaddr,
        NlmF::CREATE | NlmF::EXCL,
        ifaddr(index, addr)?,
    )
}

pub fn del_address(index: u32, addr: &IpNet) -> Result<Request> {
    encode(Rtm::Deladdr, NlmF::empty(), ifaddr(index, addr)?)
}

pub fn dump_addresses() -> Result<Request> {
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Unspecified)
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(0)
        .build()
        .map_err(enc)?;
    encode_dump(Rtm::Getaddr, msg)
}

/// `RTAX_MTU`: the path MTU among a route's metrics (`RTA_METRICS`, itself a list of
/// attributes). neli has no names for these.
pub(crate) const RTAX_MTU: u16 = 2;

/// One attribute of `RTA_METRICS`: length, type, a u32 value, in host order.
fn route_metric(ty: u16, value: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(8);
    b.extend_from_slice(&8u16.to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&value.to_ne_bytes());
    b
}

/// `RTA_GATEWAY`'s number, for the attributes nested in an `rtnexthop`.
const RTA_GATEWAY: u16 = 5;

/// `RTA_MULTIPATH`'s payload: one `rtnexthop` per path (length, flags, `weight - 1`, the
/// link's index), each followed by its gateway as a nested `RTA_GATEWAY`.
pub(crate) fn multipath(hops: &[(u32, &Hop)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (index, hop) in hops {
        let gw = hop.gw.map(|g| ip_bytes(&g));
        let gw_len = gw.as_ref().map_or(0, |g| 4 + g.len());
        let len = 8 + ((gw_len + 3) & !3);
        b.extend_from_slice(&(len as u16).to_ne_bytes());
        b.push(0);
        b.push(u8::try_from(hop.weight.saturating_sub(1)).unwrap_or(u8::MAX));
        b.extend_from_slice(&index.to_ne_bytes());
        if let Some(g) = gw {
            b.extend_from_slice(&(gw_len as u16).to_ne_bytes());
            b.extend_from_slice(&RTA_GATEWAY.to_ne_bytes());
            b.extend_from_slice(&g);
            b.resize(b.len() + ((4 - gw_len % 4) % 4), 0);
        }
    }
    b
}

/// A route request. For removal the scope is "nowhere", which matches a route of any scope.
/// `hops`: the links' indexes of a multipath route's paths, in order.
fn route_msg(
    index: u32,
    hops: &[u32],
    route: &RouteSpec,
    removal: bool,
    protocol: u8,
) -> Result<neli::rtnl::Rtmsg> {
    let dst = route.dst.addr();
    let mut attrs = vec![attr(Rta::Dst, ip_bytes(&dst).as_slice())?];
    // A dropping route has no device: the kernel refuses one (EINVAL).
    if !route.dev.is_empty() {
        attrs.push(attr(Rta::Oif, index)?);
    }
    if !route.hops.is_empty() {
        let paths: Vec<(u32, &Hop)> = hops.iter().copied().zip(&route.hops).collect();
        attrs.push(attr(Rta::Multipath, multipath(&paths).as_slice())?);
    }
    if let Some(gw) = route.gw {
        attrs.push(attr(Rta::Gateway, ip_bytes(&gw).as_slice())?);
    }
    if let (Some(src), false) = (route.src, removal) {
        attrs.push(attr(Rta::Prefsrc, ip_bytes(&src).as_slice())?);
    }
    if let (Some(mtu), false) = (route.mtu, removal) {
        attrs.push(attr(Rta::Metrics, route_metric(RTAX_MTU, mtu).as_slice())?);
    }
    attrs.push(attr(Rta::Priority, route.metric)?);
    // A table past 255 does not fit `rtm_table`: RTA_TABLE carries any, and wins.
    let rtm_table = match route.table {
        None => RtTable::Main,
        Some(t) => {
            attrs.push(attr(Rta::Table, t)?);
            u8::try_from(t).map_or(RtTable::Unspec, RtTable::from)
        }
    };
    let scope = if removal {
        RtScope::Nowhere
    } else {
        RtScope::from(route.scope.rtm_scope())
    };
    RtmsgBuilder::default()
        .rtm_family(family(&dst))
        .rtm_dst_len(route.dst.prefix_len())
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(rtm_table)
        .rtm_protocol(if removal {
            Rtprot::Unspec
        } else {
            Rtprot::from(protocol)
        })
        .rtm_scope(scope)
        .rtm_type(Rtn::from(route.kind.rtm_type()))
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Rta, Buffer>>())
        .build()
        .map_err(enc)
}

/// Both adding and replacing a route replace one with the same destination and metric: the
/// kernel keys routes by destination, table, tos and metric.
/// `hops`: as for `route_msg`. A multipath route is removed by all its paths: the kernel
/// matches an IPv4 one's by all of them, and removes only the paths listed of an IPv6 one.
pub fn put_route(index: u32, hops: &[u32], route: &RouteSpec, protocol: u8) -> Result<Request> {
    encode(
        Rtm::Newroute,
        NlmF::CREATE | NlmF::REPLACE,
        route_msg(index, hops, route, false, protocol)?,
    )
}

pub fn del_route(index: u32, hops: &[u32], route: &RouteSpec) -> Result<Request> {
    encode(
        Rtm::Delroute,
        NlmF::empty(),
        route_msg(index, hops, route, true, 0)?,
    )
}

pub fn dump_routes() -> Result<Request> {
    let msg = RtmsgBuilder::default()
        .rtm_family(RtAddrFamily::Unspecified)
        .rtm_dst_len(0)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Unspec)
        .rtm_protocol(Rtprot::Unspec)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unspec)
        .build()
        .map_err(enc)?;
    encode_dump(Rtm::Getroute, msg)
}

/// `NDA_PROTOCOL` (Linux 5.2): who made a neighbour entry, as `rtm_protocol` says it of a
/// route. neli has no name for it.
pub(crate) const NDA_PROTOCOL: u16 = 12;

fn neigh_msg(
    index: u32,
    ip: &IpAddr,
    mac: Option<MacAddr>,
    state: Nud,
    protocol: Option<u8>,
) -> Result<neli::rtnl::Ndmsg> {
    let mut attrs = vec![attr(Nda::Dst, ip_bytes(ip).as_slice())?];
    if let Some(mac) = mac {
        attrs.push(attr(Nda::Lladdr, mac.0)?);
    }
    if let Some(protocol) = protocol {
        attrs.push(attr(Nda::from(NDA_PROTOCOL), protocol)?);
    }
    NdmsgBuilder::default()
        .ndm_family(family(ip))
        .ndm_index(index as i32)
        .ndm_state(state)
        .ndm_type(Rtn::Unspec)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Nda, Buffer>>())
        .build()
        .map_err(enc)
}

/// A permanent entry marked with the agent's `protocol`, the mark by which a resync tells the
/// agent's entries from ones made by hand on the same link.
pub fn set_neighbour(index: u32, ip: &IpAddr, mac: MacAddr, protocol: u8) -> Result<Request> {
    encode(
        Rtm::Newneigh,
        NlmF::CREATE | NlmF::REPLACE,
        neigh_msg(index, ip, Some(mac), Nud::PERMANENT, Some(protocol))?,
    )
}

pub fn del_neighbour(index: u32, ip: &IpAddr) -> Result<Request> {
    encode(
        Rtm::Delneigh,
        NlmF::empty(),
        neigh_msg(index, ip, None, Nud::empty(), None)?,
    )
}

pub fn dump_neighbours() -> Result<Request> {
    let msg = NdmsgBuilder::default()
        .ndm_family(RtAddrFamily::Unspecified)
        .ndm_index(0)
        .ndm_state(Nud::empty())
        .ndm_type(Rtn::Unspec)
        .build()
        .map_err(enc)?;
    encode_dump(Rtm::Getneigh, msg)
}

/// `NETNSA_FD`: the namespace RTM_GETNSID asks about, as a file descriptor.
const NETNSA_FD: u16 = 3;

/// RTM_GETNSID: the id under which this socket's namespace knows the namespace of `fd` (the
/// id veths report their peer's namespace by, in `IFLA_LINK_NETNSID`).
pub fn get_nsid(fd: RawFd) -> Result<Request> {
    // struct rtgenmsg, padded to 4 bytes, then the attribute.
    let mut bytes = Cursor::new(vec![libc::AF_UNSPEC as u8, 0, 0, 0]);
    bytes.set_position(4);
    attr(NETNSA_FD, fd as u32)?
        .to_bytes(&mut bytes)
        .map_err(enc)?;
    encode(
        Rtm::Getnsid,
        NlmF::empty(),
        Buffer::from(bytes.into_inner()),
    )
}

pub(crate) const IFF_UP: u32 = libc::IFF_UP as u32;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> LinkSpec {
        LinkSpec {
            name: name.into(),
            mtu: None,
            mac: None,
            alias: None,
            up: false,
        }
    }

    /// The layout `ip link add vrf-x type vrf table 10` sends, and `vrf_newlink` reads
    /// (`include/uapi/linux/if_link.h`): IFLA_LINKINFO { IFLA_INFO_KIND "vrf", IFLA_INFO_DATA {
    /// IFLA_VRF_TABLE u32 } }. This host has no VRF module, so the bytes are checked here and
    /// the kernel test runs where the module is.
    // Lengths, types and the table in native byte order, written out for little-endian hosts.
    #[cfg(target_endian = "little")]
    #[test]
    fn a_vrf_creation_carries_its_kind_and_table_as_the_kernel_reads_them() {
        let bytes = new_vrf(&spec("vrf-x"), 10).expect("encoded");
        let linkinfo: [u8; 24] = [
            24, 0, 18, 0, // IFLA_LINKINFO, 4 + 8 + 12 bytes
            8, 0, 1, 0, b'v', b'r', b'f', 0, // IFLA_INFO_KIND "vrf"
            12, 0, 2, 0, // IFLA_INFO_DATA
            8, 0, 1, 0, 10, 0, 0, 0, // IFLA_VRF_TABLE 10
        ];
        let expect = linkinfo.to_vec();
        assert!(
            bytes.windows(expect.len()).any(|w| w == expect.as_slice()),
            "{bytes:?}"
        );
        assert_eq!(vrf_table_of(&linkinfo[16..]), Some(10));
        assert_eq!(
            vrf_table_of(&[8, 0, 2, 0, 1, 0, 0, 0]),
            None,
            "another attribute"
        );
        assert_eq!(vrf_table_of(&[200, 0, 1, 0]), None, "a length past the end");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_link_change_enslaves_by_index_and_zero_releases() {
        let change = LinkChange {
            master: Some(nsagent_core::Master::Release),
            ..LinkChange::default()
        };
        let bytes = set_link("m", &change, Some(7)).expect("encoded");
        // IFLA_MASTER (10), u32 7.
        assert!(
            bytes.windows(8).any(|w| w == [8, 0, 10, 0, 7, 0, 0, 0]),
            "{bytes:?}"
        );
        let bytes = set_link("m", &change, Some(0)).expect("encoded");
        assert!(
            bytes.windows(8).any(|w| w == [8, 0, 10, 0, 0, 0, 0, 0]),
            "{bytes:?}"
        );
        let bytes = set_link("m", &LinkChange::default(), None).expect("encoded");
        assert!(!bytes.windows(4).any(|w| w == [8, 0, 10, 0]), "{bytes:?}");
    }
}
