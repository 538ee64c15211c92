//! Routes beyond unicast in the main table, against the real kernel and the sim beside it:
//! tables of their own, the dropping types (no device), local routes, preferred sources and
//! path MTUs are made, refused (with the same errno) and deleted alike, both kernels show the
//! same routes afterwards, and deleting an address takes the IPv4 routes it was the source of.

mod common;

use common::*;
use nsagent_core::{errno, LinkChange, Op, RouteScope, RouteSpec, RouteType};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

fn route(dev: &str, dst: &str) -> RouteSpec {
    RouteSpec {
        dev: dev.into(),
        dst: dst.parse().unwrap(),
        gw: None,
        metric: 0,
        scope: if dst.contains(':') {
            RouteScope::Global
        } else {
            RouteScope::Link
        },
        table: None,
        kind: RouteType::Unicast,
        src: None,
        mtu: None,
        hops: Vec::new(),
    }
}

fn dropping(kind: RouteType, dst: &str) -> RouteSpec {
    RouteSpec {
        kind,
        scope: RouteScope::Global,
        ..route("", dst)
    }
}

fn setup(ns: &TestNs) -> Vec<(Op, Option<i32>)> {
    let n = ns.netns();
    let mut ops = vec![(veth(ns, "ra", ns, "rb"), None)];
    for (link, addr) in [
        ("ra", "10.1.0.1/24"),
        ("ra", "10.1.0.5/24"),
        ("rb", "10.2.0.1/24"),
    ] {
        ops.push((
            Op::AddAddress {
                ns: n.clone(),
                link: link.into(),
                addr: addr.parse().unwrap(),
            },
            None,
        ));
    }
    for link in ["ra", "rb"] {
        ops.push((
            Op::SetLink {
                ns: n.clone(),
                name: link.into(),
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            },
            None,
        ));
    }
    ops
}

#[test]
fn tables_types_sources_and_mtus_are_made_and_refused_alike_in_the_sim_and_the_kernel() {
    let ns = TestNs::new();
    let n = ns.netns();
    let mut sim = SimKernel::default();
    sim.appear(n.clone()).expect("ns");
    let mut real = NetlinkBackend::new();
    let mut differences = alike(&mut sim, &mut real, &setup(&ns));
    let in_table = |t| RouteSpec {
        table: Some(t),
        ..route("ra", "10.9.0.0/24")
    };
    let ops = vec![
        // One destination in main and in a table of its own.
        (add_route(&n, route("ra", "10.9.0.0/24")), None),
        (add_route(&n, in_table(100)), None),
        (add_route(&n, in_table(100_000)), None),
        // Dropping types: no device, no gateway.
        (
            add_route(&n, dropping(RouteType::Blackhole, "10.66.0.0/16")),
            None,
        ),
        (
            add_route(&n, dropping(RouteType::Unreachable, "10.67.0.0/16")),
            None,
        ),
        (
            add_route(&n, dropping(RouteType::Prohibit, "fd66::/48")),
            None,
        ),
        (
            add_route(
                &n,
                RouteSpec {
                    table: Some(100),
                    ..dropping(RouteType::Blackhole, "0.0.0.0/0")
                },
            ),
            None,
        ),
        (
            add_route(
                &n,
                RouteSpec {
                    dev: "ra".into(),
                    ..dropping(RouteType::Blackhole, "10.68.0.0/16")
                },
            ),
            Some(errno::EINVAL),
        ),
        (
            add_route(
                &n,
                RouteSpec {
                    gw: Some("10.1.0.9".parse().unwrap()),
                    ..dropping(RouteType::Blackhole, "10.68.0.0/16")
                },
            ),
            Some(errno::EINVAL),
        ),
        // A local route in the local table.
        (
            add_route(
                &n,
                RouteSpec {
                    kind: RouteType::Local,
                    scope: RouteScope::Host,
                    table: Some(255),
                    ..route("ra", "10.1.0.77/32")
                },
            ),
            None,
        ),
        // Preferred sources: the link's own, another link's, none of the namespace's.
        (
            add_route(
                &n,
                RouteSpec {
                    src: Some("10.1.0.5".parse().unwrap()),
                    ..route("ra", "10.20.0.0/24")
                },
            ),
            None,
        ),
        // Another table's route with that source, which goes with the address too.
        (
            add_route(
                &n,
                RouteSpec {
                    src: Some("10.1.0.5".parse().unwrap()),
                    table: Some(100),
                    ..route("ra", "10.23.0.0/24")
                },
            ),
            None,
        ),
        (
            add_route(
                &n,
                RouteSpec {
                    src: Some("10.2.0.1".parse().unwrap()),
                    ..route("ra", "10.21.0.0/24")
                },
            ),
            None,
        ),
        (
            add_route(
                &n,
                RouteSpec {
                    src: Some("10.3.0.1".parse().unwrap()),
                    ..route("ra", "10.22.0.0/24")
                },
            ),
            Some(errno::EINVAL),
        ),
        // A path MTU.
        (
            add_route(
                &n,
                RouteSpec {
                    mtu: Some(1400),
                    ..route("ra", "10.30.0.0/24")
                },
            ),
            None,
        ),
        // Deleted by table and by type: the wrong table or type matches nothing.
        (del_route(&n, in_table(101)), Some(errno::ESRCH)),
        (del_route(&n, in_table(100_000)), None),
        (
            del_route(&n, dropping(RouteType::Prohibit, "10.67.0.0/16")),
            Some(errno::ESRCH),
        ),
        (
            del_route(&n, dropping(RouteType::Unreachable, "10.67.0.0/16")),
            None,
        ),
    ];
    differences.extend(alike(&mut sim, &mut real, &ops));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(routes_seen(&mut sim, &n), routes_seen(&mut real, &n));
    let seen = routes_seen(&mut real, &n);
    for want in [
        "table: Some(100)",
        "kind: Blackhole",
        "kind: Prohibit",
        "kind: Local",
        "src: Some(10.1.0.5)",
        "mtu: Some(1400)",
    ] {
        assert!(seen.iter().any(|r| r.contains(want)), "{want}: {seen:#?}");
    }

    // The source address deleted: its route goes, another's stays; the link deleted: the
    // dropping routes stay.
    differences.extend(alike(
        &mut sim,
        &mut real,
        &[
            (
                Op::DelAddress {
                    ns: n.clone(),
                    link: "ra".into(),
                    addr: "10.1.0.5/24".parse().unwrap(),
                },
                None,
            ),
            (
                Op::DeleteLink {
                    ns: n.clone(),
                    name: "rb".into(),
                },
                None,
            ),
        ],
    ));
    let after_sim = routes_seen(&mut sim, &n);
    assert_eq!(after_sim, routes_seen(&mut real, &n));
    assert!(!after_sim.iter().any(|r| r.contains("10.20.0.0/24")));
    assert!(!after_sim.iter().any(|r| r.contains("10.23.0.0/24")));
    assert!(after_sim.iter().any(|r| r.contains("kind: Blackhole")));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
