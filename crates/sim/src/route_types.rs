//! Routes beyond unicast in the simulated kernel: the dropping types (blackhole, unreachable,
//! prohibit), which have no device, and what deleting an address does to the routes that
//! named it as their preferred source. Checked against Linux 6.18 with `ip` in namespaces of
//! the test's own (`crates/netlink-backend/tests/route_kinds.rs` holds the sim to it):
//!
//! - a dropping route with a device or a gateway is EINVAL ("Gateway, device and multipath
//!   can not be specified for this route type"); without, it needs nothing of any link, stays
//!   when links go, and an IPv6 one is shown on `lo`;
//! - a preferred source that is no address of the namespace is EINVAL;
//! - deleting an IPv4 address deletes the IPv4 routes whose preferred source it was, in any
//!   table (unless another link of the namespace still has it);
//!   deleting an IPv6 one leaves its routes (the kernel clears their source, which the sim
//!   does not model: the core removes such a route anyway, as its source is gone).

use std::net::IpAddr;

use nsagent_core::errno::EINVAL;
use nsagent_core::{Netns, RouteSpec};

use crate::kernel::{refuse, Outcome, SimKernel};
use crate::namespace::{as_stored, has_host_bits, Namespace};

impl SimKernel {
    /// A blackhole, unreachable or prohibit route: a destination and a table, nothing else.
    pub(crate) fn put_dropping_route(&mut self, ns: &Netns, route: &RouteSpec) -> Outcome {
        let namespace = self.namespace_mut(ns)?;
        if !route.dev.is_empty() || route.gw.is_some() {
            return Err(refuse(
                EINVAL,
                format!("a {:?} route can have no device or gateway", route.kind),
            ));
        }
        if route.dst.addr().is_ipv4() && has_host_bits(&route.dst) {
            return Err(refuse(EINVAL, format!("{} has host bits set", route.dst)));
        }
        namespace.routes.put_agent(as_stored(route.clone()));
        Ok(())
    }
}

impl Namespace {
    /// The IPv4 routes whose preferred source went with `gone` go too, in any table, unless a
    /// link of the namespace still has that address.
    pub(crate) fn drop_routes_from(&mut self, gone: &[IpAddr]) {
        let orphaned: Vec<IpAddr> = gone
            .iter()
            .copied()
            .filter(|ip| ip.is_ipv4())
            .filter(|ip| {
                !self
                    .links
                    .values()
                    .any(|l| l.addresses.iter().any(|a| a.net.addr() == *ip))
            })
            .collect();
        if !orphaned.is_empty() {
            self.routes
                .remove_where(|r| r.spec.src.is_some_and(|s| orphaned.contains(&s)));
        }
    }
}
