//! Addresses, routes and neighbours against the real kernel, checked with `ip -j`.

mod common;

use common::*;
use nsagent_core::errno;
use nsagent_core::{Backend, ErrorKind, LinkChange, MacAddr, Op, RouteScope, RouteSpec};
use nsagent_netlink::NetlinkBackend;

/// A namespace with a veth pair `l0`/`l1`, both up.
fn with_link() -> (TestNs, NetlinkBackend) {
    let a = TestNs::new();
    let mut backend = NetlinkBackend::new();
    apply(&mut backend, veth(&a, "l0", &a, "l1")).unwrap();
    for name in ["l0", "l1"] {
        let change = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        apply(
            &mut backend,
            Op::SetLink {
                ns: a.netns(),
                name: name.into(),
                change,
            },
        )
        .unwrap();
    }
    (a, backend)
}

#[test]
fn addresses_v4_and_v6_are_added_and_removed() {
    let (a, mut b) = with_link();
    let ns = a.netns();
    for addr in ["10.9.0.1/24", "fd00:9::1/64"] {
        apply(
            &mut b,
            Op::AddAddress {
                ns: ns.clone(),
                link: "l0".into(),
                addr: addr.parse().unwrap(),
            },
        )
        .expect("add");
    }
    assert_eq!(
        a.addresses("l0"),
        vec!["10.9.0.1/24".to_string(), "fd00:9::1/64".to_string()]
    );
    let err = apply(
        &mut b,
        Op::AddAddress {
            ns: ns.clone(),
            link: "l0".into(),
            addr: "10.9.0.1/24".parse().unwrap(),
        },
    )
    .expect_err("duplicate");
    assert_eq!(err.errno, Some(errno::EEXIST));
    for addr in ["10.9.0.1/24", "fd00:9::1/64"] {
        apply(
            &mut b,
            Op::DelAddress {
                ns: ns.clone(),
                link: "l0".into(),
                addr: addr.parse().unwrap(),
            },
        )
        .expect("del");
    }
    assert!(a.addresses("l0").is_empty());
    for addr in ["10.9.0.1/24", "fd00:9::1/64"] {
        let err = apply(
            &mut b,
            Op::DelAddress {
                ns: ns.clone(),
                link: "l0".into(),
                addr: addr.parse().unwrap(),
            },
        )
        .expect_err("already gone");
        assert_eq!(err.errno, Some(errno::EADDRNOTAVAIL), "{addr}: {err}");
    }
    let err = apply(
        &mut b,
        Op::AddAddress {
            ns,
            link: "missing".into(),
            addr: "10.9.0.1/24".parse().unwrap(),
        },
    )
    .expect_err("no link");
    assert_eq!(err.errno, Some(errno::ENODEV));
    assert_eq!(err.kind, ErrorKind::NoSuchDevice);
    assert!(err.message.contains("missing"), "{}", err.message);
}

fn route(dst: &str, gw: Option<&str>, metric: u32, scope: RouteScope) -> RouteSpec {
    RouteSpec {
        dev: "l0".into(),
        dst: dst.parse().unwrap(),
        gw: gw.map(|g| g.parse().unwrap()),
        metric,
        scope,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    }
}

fn routes(a: &TestNs, family: &str) -> Vec<serde_json::Value> {
    a.ip(&[family, "route", "show", "table", "main", "proto", "static"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn routes_are_added_replaced_and_deleted() {
    let (a, mut b) = with_link();
    let ns = a.netns();
    apply(
        &mut b,
        Op::AddAddress {
            ns: ns.clone(),
            link: "l0".into(),
            addr: "10.8.0.1/24".parse().unwrap(),
        },
    )
    .unwrap();
    apply(
        &mut b,
        Op::AddRoute {
            ns: ns.clone(),
            route: route("10.50.0.0/16", Some("10.8.0.2"), 20, RouteScope::Global),
        },
    )
    .expect("add");
    apply(
        &mut b,
        Op::AddRoute {
            ns: ns.clone(),
            route: route("10.51.0.0/16", None, 0, RouteScope::Link),
        },
    )
    .expect("add link scope");
    let r = routes(&a, "-4");
    let r50 = r
        .iter()
        .find(|r| r["dst"] == "10.50.0.0/16")
        .expect("10.50 route");
    assert_eq!(r50["gateway"], "10.8.0.2");
    assert_eq!(r50["metric"], 20);
    assert_eq!(r50["dev"], "l0");
    let r51 = r
        .iter()
        .find(|r| r["dst"] == "10.51.0.0/16")
        .expect("10.51 route");
    assert_eq!(r51["scope"], "link");

    // Replace in place: same destination and metric, another gateway.
    apply(
        &mut b,
        Op::ReplaceRoute {
            ns: ns.clone(),
            route: route("10.50.0.0/16", Some("10.8.0.3"), 20, RouteScope::Global),
        },
    )
    .expect("replace");
    let r = routes(&a, "-4");
    let matching: Vec<_> = r.iter().filter(|r| r["dst"] == "10.50.0.0/16").collect();
    assert_eq!(matching.len(), 1, "{r:?}");
    assert_eq!(matching[0]["gateway"], "10.8.0.3");

    apply(
        &mut b,
        Op::DelRoute {
            ns: ns.clone(),
            route: route("10.50.0.0/16", Some("10.8.0.3"), 20, RouteScope::Global),
        },
    )
    .expect("del");
    assert!(routes(&a, "-4").iter().all(|r| r["dst"] != "10.50.0.0/16"));
    let err = apply(
        &mut b,
        Op::DelRoute {
            ns: ns.clone(),
            route: route("10.50.0.0/16", None, 20, RouteScope::Global),
        },
    )
    .expect_err("gone");
    assert_eq!(err.errno, Some(errno::ESRCH), "{err}");
    assert_eq!(err.kind, ErrorKind::NotFound);

    let err = apply(
        &mut b,
        Op::AddRoute {
            ns: ns.clone(),
            route: route("10.60.0.0/16", Some("10.99.0.1"), 0, RouteScope::Global),
        },
    )
    .expect_err("gateway not on any subnet");
    assert_eq!(err.errno, Some(errno::ENETUNREACH), "{err}");
    assert_eq!(err.kind, ErrorKind::Unreachable);
}

#[test]
fn a_route_on_a_down_link_is_refused() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "l0", &a, "l1")).unwrap();
    let err = apply(
        &mut b,
        Op::AddRoute {
            ns: a.netns(),
            route: route("10.70.0.0/16", None, 0, RouteScope::Link),
        },
    )
    .expect_err("device down");
    assert_eq!(err.errno, Some(100), "ENETDOWN: {err}");
}

#[test]
fn ipv6_routes_with_metric_zero_get_metric_1024() {
    let (a, mut b) = with_link();
    let ns = a.netns();
    apply(
        &mut b,
        Op::AddAddress {
            ns: ns.clone(),
            link: "l0".into(),
            addr: "fd00:8::1/64".parse().unwrap(),
        },
    )
    .unwrap();
    apply(
        &mut b,
        Op::AddRoute {
            ns: ns.clone(),
            route: route("fd00:50::/48", None, 0, RouteScope::Global),
        },
    )
    .expect("add v6");
    apply(
        &mut b,
        Op::AddRoute {
            ns,
            route: route("fd00:51::/48", Some("fd00:8::2"), 7, RouteScope::Global),
        },
    )
    .expect("add v6 gw");
    let r = routes(&a, "-6");
    let r50 = r
        .iter()
        .find(|r| r["dst"] == "fd00:50::/48")
        .expect("route");
    assert_eq!(r50["metric"], 1024, "the kernel's default for IPv6");
    let r51 = r
        .iter()
        .find(|r| r["dst"] == "fd00:51::/48")
        .expect("route");
    assert_eq!(r51["metric"], 7);
    assert_eq!(r51["gateway"], "fd00:8::2");
}

#[test]
fn permanent_neighbours_are_set_replaced_and_deleted() {
    let (a, mut b) = with_link();
    let ns = a.netns();
    apply(
        &mut b,
        Op::AddAddress {
            ns: ns.clone(),
            link: "l0".into(),
            addr: "10.7.0.1/24".parse().unwrap(),
        },
    )
    .unwrap();
    let set = |mac: [u8; 6]| Op::SetNeighbour {
        ns: ns.clone(),
        link: "l0".into(),
        ip: "10.7.0.9".parse().unwrap(),
        mac: MacAddr(mac),
    };
    apply(&mut b, set([0x02, 0, 0, 0, 0, 0x09])).expect("set");
    let show = || {
        a.ip(&["neigh", "show", "dev", "l0"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let n = show();
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["dst"], "10.7.0.9");
    assert_eq!(n[0]["lladdr"], "02:00:00:00:00:09");
    assert!(n[0]["state"]
        .as_array()
        .unwrap()
        .contains(&"PERMANENT".into()));
    apply(&mut b, set([0x02, 0, 0, 0, 0, 0x0a])).expect("replace");
    assert_eq!(show()[0]["lladdr"], "02:00:00:00:00:0a");
    let v6 = Op::SetNeighbour {
        ns: ns.clone(),
        link: "l0".into(),
        ip: "fd00:7::9".parse().unwrap(),
        mac: MacAddr([2, 0, 0, 0, 0, 0x0b]),
    };
    apply(&mut b, v6).expect("v6 neighbour");
    let del = Op::DelNeighbour {
        ns: ns.clone(),
        link: "l0".into(),
        ip: "10.7.0.9".parse().unwrap(),
    };
    apply(&mut b, del.clone()).expect("del");
    assert!(show().iter().all(|n| n["dst"] != "10.7.0.9"));
    let err = apply(&mut b, del).expect_err("gone");
    assert_eq!(err.errno, Some(errno::ENOENT), "{err}");
    assert_eq!(err.kind, ErrorKind::NotFound);
}

/// A VRF member's routes go to the VRF's table. Tables need no VRF to exist, so this runs on
/// any kernel: a route in table 10 and one of the same destination and metric in main are two
/// routes, each observed with its table, each deleted alone.
#[test]
fn routes_of_another_table_are_added_observed_and_deleted_apart_from_main() {
    let (a, mut b) = with_link();
    let ns = a.netns();
    apply(
        &mut b,
        Op::AddAddress {
            ns: ns.clone(),
            link: "l0".into(),
            addr: "10.8.0.1/24".parse().unwrap(),
        },
    )
    .unwrap();
    let main = route("10.60.0.0/16", Some("10.8.0.2"), 5, RouteScope::Global);
    let in_ten = RouteSpec {
        table: Some(10),
        kind: Default::default(),
        src: None,
        mtu: None,
        ..main.clone()
    };
    for r in [&main, &in_ten] {
        apply(
            &mut b,
            Op::AddRoute {
                ns: ns.clone(),
                route: r.clone(),
            },
        )
        .expect("add");
    }
    let shown = a.ip(&["-4", "route", "show", "table", "10"]);
    assert_eq!(shown[0]["dst"], "10.60.0.0/16", "{shown}");
    let snap = b.observe(std::slice::from_ref(&ns)).expect("observe");
    let seen: Vec<Option<u32>> = snap.namespaces[0]
        .routes
        .iter()
        .filter(|r| r.dst == main.dst)
        .map(|r| r.table)
        .collect();
    assert_eq!(seen, vec![None, Some(10)], "both, each with its table");
    apply(
        &mut b,
        Op::DelRoute {
            ns: ns.clone(),
            route: in_ten.clone(),
        },
    )
    .expect("delete from table 10");
    assert!(a
        .ip(&["-4", "route", "show", "table", "10"])
        .as_array()
        .is_none_or(|v| v.is_empty()));
    assert!(
        routes(&a, "-4").iter().any(|r| r["dst"] == "10.60.0.0/16"),
        "main's stays"
    );
}
