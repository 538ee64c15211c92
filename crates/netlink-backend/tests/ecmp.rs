//! Multipath (ECMP) routes against the real kernel and the sim beside it: made, replaced,
//! refused (with the same errno), removed, and what a path's link going down or away does to
//! them, for both families; both kernels show the same routes after each step, and the backend
//! reads the paths back with their weights.

mod common;

use common::*;
use nsagent_core::{errno, Hop, LinkChange, Netns, Op, RouteScope, RouteSpec, RouteType};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

fn hop(dev: &str, gw: &str, weight: u16) -> Hop {
    Hop {
        dev: dev.into(),
        gw: Some(gw.parse().unwrap()),
        weight,
    }
}

fn multipath(dst: &str, hops: Vec<Hop>) -> RouteSpec {
    RouteSpec {
        dev: String::new(),
        dst: dst.parse().unwrap(),
        gw: None,
        metric: if dst.contains(':') { 1024 } else { 0 },
        scope: RouteScope::Global,
        table: None,
        kind: RouteType::Unicast,
        src: None,
        mtu: None,
        hops,
    }
}

fn up(ns: &Netns, link: &str, up: bool) -> Op {
    Op::SetLink {
        ns: ns.clone(),
        name: link.into(),
        change: LinkChange {
            up: Some(up),
            ..LinkChange::default()
        },
    }
}

/// Two veth pairs in one namespace, `ea` and `eb` up with an address of each family.
fn setup(ns: &TestNs) -> Vec<(Op, Option<i32>)> {
    let n = ns.netns();
    let mut ops = vec![
        (veth(ns, "ea", ns, "ex"), None),
        (veth(ns, "eb", ns, "ey"), None),
    ];
    for (link, addr) in [
        ("ea", "10.1.0.1/24"),
        ("eb", "10.2.0.1/24"),
        ("ea", "2001:db8:1::1/64"),
        ("eb", "2001:db8:2::1/64"),
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
    for link in ["ea", "ex", "eb", "ey"] {
        ops.push((up(&n, link, true), None));
    }
    ops
}

fn v4() -> RouteSpec {
    multipath(
        "10.9.0.0/24",
        vec![hop("ea", "10.1.0.2", 1), hop("eb", "10.2.0.2", 3)],
    )
}

fn v6() -> RouteSpec {
    multipath(
        "2001:db8:9::/64",
        vec![hop("ea", "2001:db8:1::2", 1), hop("eb", "2001:db8:2::2", 2)],
    )
}

#[test]
fn multipath_routes_are_made_refused_and_removed_alike_in_the_sim_and_the_kernel() {
    let ns = TestNs::new();
    let n = ns.netns();
    let mut sim = SimKernel::default();
    sim.appear(n.clone()).expect("ns");
    let mut real = NetlinkBackend::new();
    let mut differences = alike(&mut sim, &mut real, &setup(&ns));
    let reweighted = multipath(
        "10.9.0.0/24",
        vec![hop("ea", "10.1.0.2", 2), hop("eb", "10.2.0.2", 256)],
    );
    let unreachable_v4 = multipath(
        "10.95.0.0/24",
        vec![hop("ea", "10.5.0.1", 1), hop("eb", "10.2.0.2", 1)],
    );
    let twice_v6 = multipath(
        "2001:db8:95::/64",
        vec![hop("ea", "2001:db8:1::2", 1), hop("ea", "2001:db8:1::2", 1)],
    );
    let unreachable_v6 = multipath(
        "2001:db8:96::/64",
        vec![hop("ea", "2001:db8:5::1", 1), hop("eb", "2001:db8:2::2", 1)],
    );
    let missing_link = multipath(
        "10.97.0.0/24",
        vec![hop("ea", "10.1.0.2", 1), hop("nope0", "10.2.0.2", 1)],
    );
    // A path without a gateway (straight out of its link) beside one with.
    let direct = multipath(
        "10.98.0.0/24",
        vec![
            Hop {
                dev: "ea".into(),
                gw: None,
                weight: 2,
            },
            hop("eb", "10.2.0.2", 1),
        ],
    );
    let ops = vec![
        (add_route(&n, v4()), None),
        (add_route(&n, reweighted.clone()), None),
        (add_route(&n, direct), None),
        (add_route(&n, unreachable_v4), Some(errno::ENETUNREACH)),
        (add_route(&n, v6()), None),
        (add_route(&n, twice_v6), Some(errno::EEXIST)),
        (add_route(&n, unreachable_v6), Some(errno::EHOSTUNREACH)),
        (add_route(&n, missing_link), Some(errno::ENODEV)),
    ];
    differences.extend(alike(&mut sim, &mut real, &ops));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let seen = routes_seen(&mut real, &n);
    assert_eq!(routes_seen(&mut sim, &n), seen);
    for want in ["weight: 2", "weight: 256", "2001:db8:2::2", "10.98.0.0/24"] {
        assert!(seen.iter().any(|r| r.contains(want)), "{want}: {seen:#?}");
    }
    // Removed by all its paths; a second removal finds nothing.
    let ops = vec![
        (del_route(&n, reweighted), None),
        (del_route(&n, v4()), Some(errno::ESRCH)),
        (add_route(&n, v4()), None),
        // A path's link down: the route stays while the other path's is up.
        (up(&n, "ea", false), None),
    ];
    differences.extend(alike(&mut sim, &mut real, &ops));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let down = routes_seen(&mut real, &n);
    assert_eq!(routes_seen(&mut sim, &n), down);
    assert!(down.iter().any(|r| r.contains("10.9.0.0/24")), "{down:#?}");
    assert!(
        down.iter().any(|r| r.contains("2001:db8:9::/64")),
        "{down:#?}"
    );
    // A path's link removed: the IPv4 route goes whole, the IPv6 one keeps its other path as
    // a route of one.
    let ops = vec![
        (up(&n, "ea", true), None),
        (
            Op::DeleteLink {
                ns: n.clone(),
                name: "eb".into(),
            },
            None,
        ),
    ];
    differences.extend(alike(&mut sim, &mut real, &ops));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let gone = routes_seen(&mut real, &n);
    assert_eq!(routes_seen(&mut sim, &n), gone);
    assert!(!gone.iter().any(|r| r.contains("10.9.0.0/24")), "{gone:#?}");
    let left = gone
        .iter()
        .find(|r| r.contains("2001:db8:9::/64"))
        .unwrap_or_else(|| panic!("{gone:#?}"));
    assert!(
        left.contains("dev: \"ea\"") && left.contains("hops: []"),
        "{left}"
    );
}
