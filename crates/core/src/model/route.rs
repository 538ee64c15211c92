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

/// A validated static route in the main table of its interface's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Logical name of the interface item the route leaves through.
    pub outgoing_interface: String,
    /// Destination network, host bits zero.
    pub dst_network: IpNet,
    pub gw_addr: Option<IpAddr>,
    pub metric: u32,
    pub scope: RouteScope,
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
        let gw_addr = if self.gw_addr.is_empty() {
            None
        } else {
            let gw: IpAddr = self.gw_addr.parse().map_err(|_| {
                ValidationError::new(
                    "gw_addr",
                    format!("'{}' is not an IP address", self.gw_addr),
                )
            })?;
            if gw.is_ipv4() != dst_network.addr().is_ipv4() {
                return Err(ValidationError::new(
                    "gw_addr",
                    format!("gateway {gw} and destination {dst_network} are of different address families"),
                ));
            }
            if gw.is_unspecified() || gw.is_multicast() {
                return Err(ValidationError::new(
                    "gw_addr",
                    format!("'{gw}' is not a unicast address"),
                ));
            }
            Some(gw)
        };
        let scope = match self.scope.unwrap_or_default() {
            // The kernel's default, as `ip route` picks it: a direct route is on-link.
            S::Undefined if gw_addr.is_none() => RouteScope::Link,
            S::Undefined | S::Global => RouteScope::Global,
            S::Site => RouteScope::Site,
            S::Link => RouteScope::Link,
            S::Host => RouteScope::Host,
        };
        if gw_addr.is_some() && matches!(scope, RouteScope::Link | RouteScope::Host) {
            return Err(ValidationError::new(
                "scope",
                format!("a {scope:?}-scope route cannot have a gateway (gw_addr): its destination is on-link"),
            ));
        }
        Ok(Route {
            outgoing_interface: self.outgoing_interface,
            dst_network,
            gw_addr,
            metric: self.metric,
            scope,
        })
    }
}

impl From<&Route> for wire::Route {
    fn from(r: &Route) -> Self {
        use wire::RouteScopeName as S;
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
        }
    }
}
