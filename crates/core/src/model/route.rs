//! Route items: validated vpp-agent `Route` values.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, ValidationError};

/// Scope of a route, as in `rtm_scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RouteScope {
    Global,
    Site,
    Link,
    Host,
}

impl RouteScope {
    /// The `rtm_scope` value the kernel uses.
    pub fn rtm_scope(self) -> u8 {
        match self {
            RouteScope::Global => 0,
            RouteScope::Site => 200,
            RouteScope::Link => 253,
            RouteScope::Host => 254,
        }
    }
}

/// What the kernel does with a packet a route matches, as in `rtm_type`. nsagent's extension
/// of vpp-agent's model (which knows unicast routes only).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum RouteType {
    /// Forward it through the route's interface.
    #[default]
    Unicast,
    /// Deliver it to this host: the destination is one of the namespace's own.
    Local,
    /// Drop it silently.
    Blackhole,
    /// Drop it and answer "host unreachable".
    Unreachable,
    /// Drop it and answer "administratively prohibited".
    Prohibit,
}

impl RouteType {
    /// The `rtm_type` value the kernel uses.
    pub fn rtm_type(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Local => 2,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
        }
    }

    /// The type an `rtm_type` names, if nsagent knows it.
    pub fn from_rtm_type(t: u8) -> Option<RouteType> {
        [
            RouteType::Unicast,
            RouteType::Local,
            RouteType::Blackhole,
            RouteType::Unreachable,
            RouteType::Prohibit,
        ]
        .into_iter()
        .find(|k| k.rtm_type() == t)
    }

    /// Whether the kernel's route has a device: the dropping types have none (the kernel
    /// refuses one with EINVAL), so their interface only says which namespace and VRF they
    /// are in.
    pub fn has_device(self) -> bool {
        matches!(self, RouteType::Unicast | RouteType::Local)
    }
}

/// The routing table `ip` puts a route of this type in when none is named: the local table
/// (255) for a local route, as `ip route add local` does; `None` (main, or the interface's
/// VRF's) for the rest.
pub(crate) const LOCAL_TABLE: u32 = 255;
/// The main table's number; a route asked for in it explicitly is in main even when its
/// interface is in a VRF.
pub(crate) const MAIN_TABLE: u32 = 254;

/// The smallest and largest path MTU a route may carry: IPv4's minimum packet, 68, and
/// IPv6's, 1280 (the kernel takes less, measured, but no link carries IPv6 below it); above
/// 65520 the kernel lowers it to 65520 silently (measured), which would read back as drift.
const MIN_MTU_V4: u32 = 68;
const MIN_MTU_V6: u32 = 1280;
const MAX_MTU: u32 = 65520;

/// A validated static route, in its interface's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Logical name of the interface item the route leaves through (for a dropping type, the
    /// interface whose namespace and VRF it is in).
    pub outgoing_interface: String,
    /// Destination network, host bits zero.
    pub dst_network: IpNet,
    pub gw_addr: Option<IpAddr>,
    pub metric: u32,
    pub scope: RouteScope,
    /// The routing table asked for; `None`: main, or the interface's VRF's (the local table
    /// for a local route). Part of the key, so that one destination through one interface can
    /// have a route in each table.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub table: Option<u32>,
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub route_type: RouteType,
    /// The preferred source address (`ip route ... src`); it must be one of the addresses of
    /// the route's interface, and the route waits until it is.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub src_addr: Option<IpAddr>,
    /// The path MTU (`RTAX_MTU`).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub mtu: Option<u32>,
    /// The paths of a multipath (ECMP) route, two or more, in the order given; empty for a
    /// route of one path (`outgoing_interface` and `gw_addr`). Every hop's interface must be
    /// in the route's namespace; the route waits for each, as for its own.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub next_hops: Vec<NextHop>,
}

/// One path of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHop {
    /// Logical name of the interface item the path leaves through (the route's own when the
    /// user left it out).
    pub outgoing_interface: String,
    pub gw_addr: Option<IpAddr>,
    /// The path's share of the flows, 1 to 256 (the kernel keeps `weight - 1` in a byte).
    pub weight: u16,
}

/// The most paths a route may have: the kernel has no small bound, but more than this is a
/// mistake in the value rather than a network.
const MAX_NEXT_HOPS: usize = 32;
/// The largest weight of a path (`rtnh_hops` is a byte holding `weight - 1`).
const MAX_WEIGHT: u32 = 256;

impl Route {
    /// The interface items the route leaves through: its own, then its hops' (each once).
    pub fn interfaces(&self) -> Vec<&str> {
        let mut out = vec![self.outgoing_interface.as_str()];
        for h in &self.next_hops {
            if !out.contains(&h.outgoing_interface.as_str()) {
                out.push(&h.outgoing_interface);
            }
        }
        out
    }
}

impl wire::Route {
    pub(super) fn validate(self) -> Result<Route, ValidationError> {
        use wire::RouteScopeName as S;
        check_logical_name("outgoing_interface", &self.outgoing_interface)?;
        let dst_network: IpNet = self.dst_network.parse().map_err(|_| {
            ValidationError::new(
                "dst_network",
                format!(
                    "'{}' is not a CIDR network (e.g. 10.0.0.0/24)",
                    self.dst_network
                ),
            )
        })?;
        if dst_network.trunc() != dst_network {
            return Err(ValidationError::new(
                "dst_network",
                format!(
                    "'{dst_network}' has host bits set; the network is {}",
                    dst_network.trunc()
                ),
            ));
        }
        let gw_addr = gateway("gw_addr", &self.gw_addr, dst_network)?;
        let route_type = route_type(self.route_type);
        let next_hops = next_hops(&self, dst_network, route_type)?;
        if gw_addr.is_some() && !next_hops.is_empty() {
            return Err(ValidationError::new(
                "gw_addr",
                "a route with next_hops gives each path's gateway in its hop; leave gw_addr out",
            ));
        }
        let has_gateway = gw_addr.is_some() || next_hops.iter().any(|h| h.gw_addr.is_some());
        let scope = match self.scope.unwrap_or_default() {
            // The kernel's default, as `ip route` picks it: a direct route of one path is
            // on-link, a multipath one global.
            S::Undefined if !has_gateway && next_hops.is_empty() => RouteScope::Link,
            S::Undefined | S::Global => RouteScope::Global,
            S::Site => RouteScope::Site,
            S::Link => RouteScope::Link,
            S::Host => RouteScope::Host,
        };
        if has_gateway && matches!(scope, RouteScope::Link | RouteScope::Host) {
            return Err(ValidationError::new(
                "scope",
                format!("a {scope:?}-scope route cannot have a gateway (gw_addr): its destination is on-link"),
            ));
        }
        let scope = scope_of_type(route_type, self.scope.unwrap_or_default(), scope)?;
        if route_type != RouteType::Unicast && gw_addr.is_some() {
            return Err(ValidationError::new(
                "gw_addr",
                format!("a {route_type:?} route has no gateway: only a UNICAST one forwards"),
            ));
        }
        let src_addr = source(&self.src_addr, dst_network, route_type)?;
        let mtu = path_mtu(self.mtu, dst_network, route_type)?;
        Ok(Route {
            outgoing_interface: self.outgoing_interface,
            dst_network,
            gw_addr,
            metric: self.metric,
            scope,
            table: (self.table != 0).then_some(self.table),
            route_type,
            src_addr,
            mtu,
            next_hops,
        })
    }
}

/// A gateway as `field` gives it: empty for none, else a unicast address of the
/// destination's family.
fn gateway(field: &str, text: &str, dst: IpNet) -> Result<Option<IpAddr>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let gw: IpAddr = text
        .parse()
        .map_err(|_| ValidationError::new(field, format!("'{text}' is not an IP address")))?;
    if gw.is_ipv4() != dst.addr().is_ipv4() {
        return Err(ValidationError::new(
            field,
            format!("gateway {gw} and destination {dst} are of different address families"),
        ));
    }
    if gw.is_unspecified() || gw.is_multicast() {
        return Err(ValidationError::new(
            field,
            format!("'{gw}' is not a unicast address"),
        ));
    }
    Ok(Some(gw))
}

/// The paths of a multipath route: two or more, each of them once (the kernel refuses an
/// IPv6 path given twice with EEXIST and keeps an IPv4 one twice, which is a weight).
fn next_hops(
    r: &wire::Route,
    dst: IpNet,
    route_type: RouteType,
) -> Result<Vec<NextHop>, ValidationError> {
    match r.next_hops.len() {
        0 => return Ok(Vec::new()),
        1 => return Err(ValidationError::new(
            "next_hops",
            "a route of one path is a plain route: give its outgoing_interface and gw_addr instead",
        )),
        n if n > MAX_NEXT_HOPS => {
            return Err(ValidationError::new(
                "next_hops",
                format!("{n} paths; a route may have at most {MAX_NEXT_HOPS}"),
            ))
        }
        _ if route_type != RouteType::Unicast => {
            return Err(ValidationError::new(
                "next_hops",
                format!("a {route_type:?} route has no paths: only a UNICAST one forwards"),
            ))
        }
        _ => {}
    }
    let mut hops: Vec<NextHop> = Vec::with_capacity(r.next_hops.len());
    for (i, h) in r.next_hops.iter().enumerate() {
        let at = |field: &str| format!("next_hops[{i}].{field}");
        let outgoing_interface = if h.outgoing_interface.is_empty() {
            r.outgoing_interface.clone()
        } else {
            check_logical_name(&at("outgoing_interface"), &h.outgoing_interface)?;
            h.outgoing_interface.clone()
        };
        let gw_addr = gateway(&at("gw_addr"), &h.gw_addr, dst)?;
        let weight = match h.weight {
            0 => 1,
            w @ 1..=MAX_WEIGHT => w as u16,
            w => {
                return Err(ValidationError::new(
                    at("weight"),
                    format!("{w} is not a weight: it must be 1 to {MAX_WEIGHT}"),
                ))
            }
        };
        let hop = NextHop {
            outgoing_interface,
            gw_addr,
            weight,
        };
        let same = |o: &NextHop| {
            o.outgoing_interface == hop.outgoing_interface && o.gw_addr == hop.gw_addr
        };
        if let Some(j) = hops.iter().position(same) {
            return Err(ValidationError::new(
                format!("next_hops[{i}]"),
                format!("the same path as next_hops[{j}]; give it once, with a larger weight"),
            ));
        }
        hops.push(hop);
    }
    Ok(hops)
}

fn route_type(name: wire::RouteTypeName) -> RouteType {
    use wire::RouteTypeName as T;
    match name {
        T::Unicast => RouteType::Unicast,
        T::Local => RouteType::Local,
        T::Blackhole => RouteType::Blackhole,
        T::Unreachable => RouteType::Unreachable,
        T::Prohibit => RouteType::Prohibit,
    }
}

/// A local route is host-scoped, as `ip route add local` makes it; a dropping one global.
/// Asked for another scope, either is refused rather than silently changed.
fn scope_of_type(
    route_type: RouteType,
    asked: wire::RouteScopeName,
    unicast_default: RouteScope,
) -> Result<RouteScope, ValidationError> {
    use wire::RouteScopeName as S;
    let (natural, fits) = match route_type {
        RouteType::Unicast => return Ok(unicast_default),
        RouteType::Local => (RouteScope::Host, matches!(asked, S::Undefined | S::Host)),
        _ => (
            RouteScope::Global,
            matches!(asked, S::Undefined | S::Global),
        ),
    };
    if !fits {
        return Err(ValidationError::new(
            "scope",
            format!(
                "a {route_type:?} route is {natural:?}-scoped; leave scope out or say {natural:?}"
            ),
        ));
    }
    Ok(natural)
}

fn source(
    text: &str,
    dst: IpNet,
    route_type: RouteType,
) -> Result<Option<IpAddr>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let src: IpAddr = text
        .parse()
        .map_err(|_| ValidationError::new("src_addr", format!("'{text}' is not an IP address")))?;
    if !route_type.has_device() {
        return Err(ValidationError::new(
            "src_addr",
            format!("a {route_type:?} route sends nothing, so it has no source address"),
        ));
    }
    if src.is_ipv4() != dst.addr().is_ipv4() {
        return Err(ValidationError::new(
            "src_addr",
            format!("source {src} and destination {dst} are of different address families"),
        ));
    }
    if src.is_unspecified() || src.is_multicast() {
        return Err(ValidationError::new(
            "src_addr",
            format!("'{src}' is not a unicast address"),
        ));
    }
    Ok(Some(src))
}

fn path_mtu(mtu: u32, dst: IpNet, route_type: RouteType) -> Result<Option<u32>, ValidationError> {
    if mtu == 0 {
        return Ok(None);
    }
    if !route_type.has_device() {
        return Err(ValidationError::new(
            "mtu",
            format!("a {route_type:?} route sends nothing, so it has no path MTU"),
        ));
    }
    let min = if dst.addr().is_ipv4() {
        MIN_MTU_V4
    } else {
        MIN_MTU_V6
    };
    if !(min..=MAX_MTU).contains(&mtu) {
        return Err(ValidationError::new(
            "mtu",
            format!("{mtu} is not a path MTU for {dst}: it must be {min} to {MAX_MTU}"),
        ));
    }
    Ok(Some(mtu))
}

impl From<&Route> for wire::Route {
    fn from(r: &Route) -> Self {
        use wire::RouteScopeName as S;
        use wire::RouteTypeName as T;
        wire::Route {
            outgoing_interface: r.outgoing_interface.clone(),
            scope: Some(match r.scope {
                RouteScope::Global => S::Global,
                RouteScope::Site => S::Site,
                RouteScope::Link => S::Link,
                RouteScope::Host => S::Host,
            }),
            dst_network: r.dst_network.to_string(),
            gw_addr: r.gw_addr.map(|g| g.to_string()).unwrap_or_default(),
            metric: r.metric,
            table: r.table.unwrap_or(0),
            route_type: match r.route_type {
                RouteType::Unicast => T::Unicast,
                RouteType::Local => T::Local,
                RouteType::Blackhole => T::Blackhole,
                RouteType::Unreachable => T::Unreachable,
                RouteType::Prohibit => T::Prohibit,
            },
            src_addr: r.src_addr.map(|s| s.to_string()).unwrap_or_default(),
            mtu: r.mtu.unwrap_or(0),
            next_hops: r
                .next_hops
                .iter()
                .map(|h| wire::NextHop {
                    outgoing_interface: h.outgoing_interface.clone(),
                    gw_addr: h.gw_addr.map(|g| g.to_string()).unwrap_or_default(),
                    weight: u32::from(h.weight),
                })
                .collect(),
        }
    }
}
