//! Multipath (ECMP) routes in the simulated kernel: one route, one key (destination, metric,
//! table), several paths, each a link and a gateway with a weight. Checked against Linux 6.18
//! with `ip` (docs/measurements/routes-6.18.md, section 5; `netlink-backend/tests/ecmp.rs`
//! holds the sim to the kernel):
//!
//! - each path is checked as a route of one path would be (a missing link ENODEV, an
//!   unreachable gateway ENETUNREACH for IPv4 and EHOSTUNREACH for IPv6, ...);
//! - an IPv6 path given twice is EEXIST; IPv4 keeps it twice;
//! - a dropping type with paths is EINVAL (IPv4; IPv6 takes it and drops the paths, which the
//!   agent never asks for and the sim does not model);
//! - a removal listing every path removes the route (IPv4 matches them in order, the weight
//!   not compared; IPv6 removes each path it lists, the rest stay);
//! - when a path's link goes, an IPv4 route goes whole, an IPv6 one loses that path only and
//!   is a route of one path when one is left;
//! - a path's link going down, or losing its addresses, leaves the route while another path's
//!   link is up (the kernel marks that path dead).

use nsagent_core::errno::{EEXIST, EINVAL, ESRCH};
use nsagent_core::{Netns, RouteSpec};

use crate::kernel::{one_path, refuse, Outcome, SimKernel};
use crate::namespace::{as_stored, masked};

impl SimKernel {
    pub(crate) fn put_multipath_route(&mut self, ns: &Netns, route: &RouteSpec) -> Outcome {
        if !route.kind.has_device() && route.dst.addr().is_ipv4() {
            return Err(refuse(
                EINVAL,
                "Gateway, device and multipath can not be specified for this route type",
            ));
        }
        let namespace = self.namespace(ns)?;
        if let Some(src) = route.src {
            crate::kernel::check_preferred_source(namespace, src)?;
        }
        for (i, hop) in route.hops.iter().enumerate() {
            let path = RouteSpec {
                dev: hop.dev.clone(),
                gw: hop.gw,
                hops: Vec::new(),
                src: None,
                ..route.clone()
            };
            one_path(namespace, &path)?;
            let twice = route.hops[..i]
                .iter()
                .any(|h| h.dev == hop.dev && h.gw == hop.gw);
            if twice && route.dst.addr().is_ipv6() {
                return Err(refuse(EEXIST, format!("path via {} given twice", hop.dev)));
            }
        }
        let mut spec = as_stored(route.clone());
        spec.dev = String::new();
        spec.gw = None;
        self.namespace_mut(ns)?.routes.put_agent(spec);
        Ok(())
    }

    /// A removal that lists paths: of an IPv4 route, the one whose paths are these, in order;
    /// of an IPv6 one, each path listed (ESRCH if none is there).
    pub(crate) fn del_multipath_route(&mut self, ns: &Netns, route: &RouteSpec) -> Outcome {
        let namespace = self.namespace_mut(ns)?;
        let dst = masked(route.dst);
        let same_path =
            |a: &nsagent_core::Hop, b: &nsagent_core::Hop| a.dev == b.dev && a.gw == b.gw;
        let found = namespace.routes.to_dst(dst).find_map(|(key, stored)| {
            let s = &stored.spec;
            let ours = (route.metric == 0 || key.metric == route.metric)
                && key.table == route.table
                && s.kind == route.kind;
            let paths = if route.dst.addr().is_ipv4() {
                s.hops.len() == route.hops.len()
                    && s.hops.iter().zip(&route.hops).all(|(a, b)| same_path(a, b))
            } else {
                route.hops.iter().any(|h| {
                    s.hops.iter().any(|o| same_path(o, h))
                        || (s.hops.is_empty() && s.dev == h.dev && s.gw == h.gw)
                })
            };
            (ours && paths).then_some(*key)
        });
        let key = found.ok_or_else(|| refuse(ESRCH, format!("no multipath route {dst}")))?;
        let Some(mut stored) = namespace.routes.remove(&key) else {
            return Ok(());
        };
        if route.dst.addr().is_ipv6() {
            let listed = |o: &nsagent_core::Hop| route.hops.iter().any(|h| same_path(o, h));
            if stored.spec.hops.is_empty() {
                return Ok(());
            }
            stored.spec.hops.retain(|o| !listed(o));
            if let Some(left) = one_left(stored.spec) {
                stored.spec = left;
                namespace.routes.put(key, stored);
            }
        }
        Ok(())
    }
}

/// What is left of an IPv6 multipath route that lost paths: nothing, a route of one path, or
/// the rest.
pub(crate) fn one_left(mut spec: RouteSpec) -> Option<RouteSpec> {
    match spec.hops.len() {
        0 => None,
        1 => {
            let last = spec.hops.remove(0);
            spec.dev = last.dev;
            spec.gw = last.gw;
            Some(spec)
        }
        _ => Some(spec),
    }
}
