//! One test per kernel rule and per error path, named after the rule; one file per topic, with
//! the helpers they share here.

use std::net::IpAddr;

use ipnet::IpNet;
use nsagent_core::errno::{
    EADDRNOTAVAIL, EBUSY, EEXIST, EHOSTUNREACH, EINVAL, ENETDOWN, ENETUNREACH, ENOBUFS, ENODEV,
    ENOENT, EOPNOTSUPP, ERANGE, ESRCH,
};
use nsagent_core::ROUTE_PROTOCOL;
use nsagent_core::{
    Backend, BackendError, ErrorKind, Event, LinkChange, LinkKind, LinkSpec, MacAddr, Netns,
    NewLink, Op, RouteScope, RouteSpec,
};

use crate::{Fault, SeedKind, SeedLink, SimConfig, SimError, SimKernel};

mod addresses;
mod bookkeeping;
mod determinism;
mod faults;
mod link_changes;
mod link_local;
mod links;
mod microservices;
mod namespaces;
mod neighbours;
mod observe;
mod rename;
mod routes;
mod seeds;

// ----- helpers -----

fn ns(name: &str) -> Netns {
    Netns::Named(name.to_string())
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test CIDR")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test IP")
}

fn mac(text: &str) -> MacAddr {
    text.parse().expect("test MAC")
}

fn spec(name: &str) -> LinkSpec {
    LinkSpec {
        name: name.to_string(),
        mtu: None,
        mac: None,
        alias: None,
        up: false,
    }
}

fn managed(name: &str) -> LinkSpec {
    LinkSpec {
        alias: Some(format!("nsagent:{name}")),
        ..spec(name)
    }
}

fn route(dev: &str, dst: &str, gw: Option<&str>) -> RouteSpec {
    RouteSpec {
        dev: dev.to_string(),
        dst: net(dst),
        gw: gw.map(ip),
        metric: 0,
        scope: RouteScope::Global,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    }
}

/// A kernel with namespaces `a` and `b`.
fn kernel() -> SimKernel {
    let mut k = SimKernel::default();
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    ok(&mut k, Op::CreateNamespace { name: "b".into() });
    k
}

#[track_caller]
fn ok(k: &mut SimKernel, op: Op) {
    if let Err(e) = k.apply(&op) {
        panic!("{op} failed: {e}");
    }
}

#[track_caller]
fn err(k: &mut SimKernel, op: Op) -> BackendError {
    match k.apply(&op) {
        Ok(()) => panic!("{op} succeeded but should have failed"),
        Err(e) => e,
    }
}

#[track_caller]
fn errno(k: &mut SimKernel, op: Op) -> i32 {
    let e = err(k, op);
    e.errno.unwrap_or_else(|| panic!("{e} carries no errno"))
}

fn veth(k: &mut SimKernel, here: &Netns, name: &str, there: &Netns, peer: &str) {
    ok(
        k,
        Op::CreateLink {
            ns: here.clone(),
            link: managed(name),
            kind: NewLink::Veth {
                peer_ns: there.clone(),
                peer: managed(peer),
            },
        },
    );
}

fn dummy(k: &mut SimKernel, here: &Netns, name: &str) {
    ok(
        k,
        Op::CreateLink {
            ns: here.clone(),
            link: managed(name),
            kind: NewLink::Dummy,
        },
    );
}

fn set(
    k: &mut SimKernel,
    here: &Netns,
    name: &str,
    change: LinkChange,
) -> Result<(), BackendError> {
    k.apply(&Op::SetLink {
        ns: here.clone(),
        name: name.to_string(),
        change,
    })
}

fn up(k: &mut SimKernel, here: &Netns, name: &str) {
    ok(
        k,
        Op::SetLink {
            ns: here.clone(),
            name: name.to_string(),
            change: LinkChange {
                up: Some(true),
                ..Default::default()
            },
        },
    );
}

fn down(k: &mut SimKernel, here: &Netns, name: &str) {
    ok(
        k,
        Op::SetLink {
            ns: here.clone(),
            name: name.to_string(),
            change: LinkChange {
                up: Some(false),
                ..Default::default()
            },
        },
    );
}

fn add_addr(k: &mut SimKernel, here: &Netns, link: &str, addr: &str) {
    ok(
        k,
        Op::AddAddress {
            ns: here.clone(),
            link: link.to_string(),
            addr: net(addr),
        },
    );
}

fn add_route(k: &mut SimKernel, here: &Netns, r: RouteSpec) {
    ok(
        k,
        Op::AddRoute {
            ns: here.clone(),
            route: r,
        },
    );
}

fn link(k: &SimKernel, here: &Netns, name: &str) -> crate::LinkDump {
    k.dump()
        .link(here, name)
        .cloned()
        .unwrap_or_else(|| panic!("no link {name} in {here}"))
}

fn has_link(k: &SimKernel, here: &Netns, name: &str) -> bool {
    k.dump().link(here, name).is_some()
}

fn routes(k: &SimKernel, here: &Netns) -> Vec<RouteSpec> {
    let dump = k.dump();
    let Some(n) = dump.namespace(here) else {
        return Vec::new();
    };
    n.managed
        .iter()
        .chain(n.unmanaged.iter())
        .flat_map(|l| l.routes.iter().map(|r| r.route.clone()))
        .collect()
}

fn neighbours(k: &SimKernel, here: &Netns, name: &str) -> Vec<(IpAddr, MacAddr)> {
    link(k, here, name).neighbours
}

/// Two veth pairs `v0`/`p0`, both ends up, `v0` with 10.1.0.1/24 and fd00::1/64.
fn addressed_veth(k: &mut SimKernel) -> (Netns, Netns) {
    let (a, b) = (ns("a"), ns("b"));
    veth(k, &a, "v0", &b, "p0");
    up(k, &a, "v0");
    up(k, &b, "p0");
    add_addr(k, &a, "v0", "10.1.0.1/24");
    add_addr(k, &a, "v0", "fd00::1/64");
    (a, b)
}

fn both_neighbours(k: &mut SimKernel, here: &Netns, name: &str) {
    for addr in ["10.1.0.5", "fd00::5"] {
        ok(
            k,
            Op::SetNeighbour {
                ns: here.clone(),
                link: name.into(),
                ip: ip(addr),
                mac: mac("02:00:00:00:00:05"),
            },
        );
    }
}
