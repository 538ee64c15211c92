//! The kernel form of a route, as commands and observations carry it.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::{RouteScope, RouteType};

/// A route. The kernel identifies it by table, destination and metric. A route of a dropping
/// type (blackhole, unreachable, prohibit) has no device: `dev` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Kernel name of the outgoing link.
    pub dev: String,
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
    pub metric: u32,
    pub scope: RouteScope,
    /// The routing table; `None`: the main table (254). A VRF member's routes go to its VRF's.
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
    pub kind: RouteType,
    /// The preferred source address.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub src: Option<IpAddr>,
    /// The path MTU.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub mtu: Option<u32>,
    /// The paths of a multipath route, two or more; `dev` is then empty and `gw` none, as the
    /// kernel's `RTA_MULTIPATH` carries them instead of `RTA_OIF` and `RTA_GATEWAY`.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub hops: Vec<Hop>,
}

/// One path of a multipath route (an `rtnexthop`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hop {
    /// Kernel name of the path's link.
    pub dev: String,
    pub gw: Option<IpAddr>,
    /// 1 to 256.
    pub weight: u16,
}

impl RouteSpec {
    /// The links the route leaves through: `dev`, or each hop's (a link twice when two paths
    /// share it).
    pub fn devs(&self) -> impl Iterator<Item = &str> {
        let single = (self.hops.is_empty() && !self.dev.is_empty()).then_some(self.dev.as_str());
        single
            .into_iter()
            .chain(self.hops.iter().map(|h| h.dev.as_str()))
    }

    /// Whether the route leaves through the link `dev`.
    pub fn uses(&self, dev: &str) -> bool {
        self.devs().any(|d| d == dev)
    }

    /// The route after its link `old` was renamed `new`.
    pub fn rename_dev(&mut self, old: &str, new: &str) {
        if self.dev == old {
            self.dev = new.to_string();
        }
        for h in self.hops.iter_mut().filter(|h| h.dev == old) {
            h.dev = new.to_string();
        }
    }

    /// What the kernel keeps of the route when its link `dev` is removed: nothing of an IPv4
    /// route (a multipath one goes whole), an IPv6 multipath route loses that link's paths
    /// only, and becomes a plain route if one is left (measured on Linux 6.18, see
    /// docs/measurements/routes-6.18.md).
    pub fn without_link(&self, dev: &str) -> Option<RouteSpec> {
        if self.hops.is_empty() || self.dst.addr().is_ipv4() {
            return None;
        }
        let mut left = self.clone();
        left.hops.retain(|h| h.dev != dev);
        match left.hops.len() {
            0 => None,
            1 => {
                let last = left.hops.remove(0);
                left.dev = last.dev;
                left.gw = last.gw;
                Some(left)
            }
            _ => Some(left),
        }
    }

    /// The route as a log line prints it.
    pub(crate) fn text(&self) -> RouteText<'_> {
        RouteText(self)
    }
}

pub(crate) struct RouteText<'a>(&'a RouteSpec);

impl fmt::Display for RouteText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        if r.kind != RouteType::Unicast {
            write!(f, "{:?} ", r.kind)?;
        }
        write!(f, "{}", r.dst)?;
        if let Some(gw) = r.gw {
            write!(f, " via {gw}")?;
        }
        if !r.dev.is_empty() {
            write!(f, " dev {}", r.dev)?;
        }
        for h in &r.hops {
            write!(f, " nexthop")?;
            if let Some(gw) = h.gw {
                write!(f, " via {gw}")?;
            }
            write!(f, " dev {} weight {}", h.dev, h.weight)?;
        }
        write!(f, " metric {} scope {:?}", r.metric, r.scope)?;
        if let Some(t) = r.table {
            write!(f, " table {t}")?;
        }
        if let Some(src) = r.src {
            write!(f, " src {src}")?;
        }
        match r.mtu {
            Some(mtu) => write!(f, " mtu {mtu}"),
            None => Ok(()),
        }
    }
}
