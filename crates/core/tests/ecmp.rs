//! Multipath (ECMP) routes, nsagent's extension of vpp-agent's route: `next_hops` lists two or
//! more paths, each an interface item (the route's own when left out), a gateway and a
//! weight. The route waits for every path's interface as for its own, all in one namespace;
//! a change of paths or weights replaces it in place; a path's link going takes an IPv4 route
//! whole and one path of an IPv6 route, as the kernel does.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn dummy(name: &str, addrs: &[&str]) -> (String, serde_json::Value) {
    (
        iface_key(name),
        json!({"name": name, "type": "DUMMY", "enabled": true, "ip_addresses": addrs}),
    )
}

const KEY: &str = "config/linux/l3/v2/route/10.9.0.0/24/d1";

fn ecmp(w1: u32, w2: u32) -> serde_json::Value {
    json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "next_hops": [
        {"gw_addr": "10.1.0.254", "weight": w1},
        {"outgoing_interface": "d2", "gw_addr": "10.2.0.254", "weight": w2},
    ]})
}

fn two_dummies(d: &mut Harness) {
    for (k, v) in [
        dummy("d1", &["10.1.0.1/24", "fd01::1/64"]),
        dummy("d2", &["10.2.0.1/24", "fd02::1/64"]),
    ] {
        d.put(&k, v);
    }
}

fn routes_put(ops: &[Op]) -> Vec<RouteSpec> {
    ops.iter()
        .filter_map(|op| match op {
            Op::AddRoute { route, .. } | Op::ReplaceRoute { route, .. } => Some(route.clone()),
            _ => None,
        })
        .collect()
}

fn hop(dev: &str, gw: &str, weight: u16) -> Hop {
    Hop {
        dev: dev.into(),
        gw: Some(gw.parse().unwrap()),
        weight,
    }
}

#[test]
fn a_multipath_route_is_one_route_with_a_path_through_each_interface() {
    let mut d = Harness::new();
    two_dummies(&mut d);
    d.put(KEY, ecmp(1, 3));
    let added = routes_put(&d.settle());
    assert_eq!(added.len(), 1, "{added:?}");
    let r = &added[0];
    assert_eq!(
        (r.dev.as_str(), r.gw, r.scope),
        ("", None, RouteScope::Global)
    );
    assert_eq!(
        r.hops,
        vec![hop("d1", "10.1.0.254", 1), hop("d2", "10.2.0.254", 3)]
    );
    assert!(is_applied(&d.state(KEY)));
}

#[test]
fn the_route_waits_for_each_paths_interface_and_its_gateway() {
    let mut d = Harness::new();
    let (k1, v1) = dummy("d1", &["10.1.0.1/24"]);
    d.put(&k1, v1);
    d.put(KEY, ecmp(1, 1));
    assert!(routes_put(&d.settle()).is_empty());
    assert_eq!(
        reasons(&d.state(KEY)),
        vec!["interface 'd2' is not configured"]
    );
    // d2 without an address in the gateway's network: the path's gateway is unreachable.
    let (k2, _) = dummy("d2", &[]);
    d.put(&k2, dummy("d2", &["10.3.0.1/24"]).1);
    assert!(routes_put(&d.settle()).is_empty());
    let why = reasons(&d.state(KEY));
    assert!(
        why.len() == 1 && why[0].contains("10.2.0.254") && why[0].contains("'d2'"),
        "{why:?}"
    );
    d.put(&k2, dummy("d2", &["10.2.0.1/24"]).1);
    assert_eq!(routes_put(&d.settle()).len(), 1);
    assert!(is_applied(&d.state(KEY)));
}

#[test]
fn a_paths_interface_in_another_namespace_keeps_the_route_pending() {
    let mut d = Harness::new();
    let (k1, v1) = dummy("d1", &["10.1.0.1/24"]);
    d.put(&k1, v1);
    let mut v2 = dummy("d2", &["10.2.0.1/24"]).1;
    v2["namespace"] = json!({"type": "NSID", "reference": "elsewhere"});
    d.put(&iface_key("d2"), v2);
    d.put(KEY, ecmp(1, 1));
    let ops = d.settle();
    assert!(routes_put(&ops).is_empty(), "{ops:?}");
    let why = reasons(&d.state(KEY));
    assert!(
        why.iter()
            .any(|w| w.contains("'d2'") && w.contains("namespace")),
        "{why:?}"
    );
}

#[test]
fn new_weights_or_paths_replace_the_route_in_place() {
    let mut d = Harness::new();
    two_dummies(&mut d);
    d.put(KEY, ecmp(1, 1));
    d.settle();
    d.put(KEY, ecmp(1, 5));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { route, .. }] if route.hops[1].weight == 5),
        "{ops:?}"
    );
    // Down to one path: a plain route, still in place.
    d.put(
        KEY,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.1.0.254"}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { route, .. }] if route.hops.is_empty() && route.dev == "d1"),
        "{ops:?}"
    );
    // And back.
    d.put(KEY, ecmp(2, 2));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { route, .. }] if route.hops.len() == 2),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(KEY)));
}

#[test]
fn a_paths_interface_going_takes_an_ipv4_route_whole_and_one_path_of_an_ipv6_one() {
    let mut d = Harness::new();
    two_dummies(&mut d);
    d.put(KEY, ecmp(1, 1));
    let v6 = "config/linux/l3/v2/route/fd09::/64/d1";
    d.put(
        v6,
        json!({"outgoing_interface": "d1", "dst_network": "fd09::/64", "next_hops": [
            {"gw_addr": "fd01::fe"}, {"outgoing_interface": "d2", "gw_addr": "fd02::fe"}]}),
    );
    d.settle();
    assert!(is_applied(&d.state(KEY)) && is_applied(&d.state(v6)));
    d.delete(&iface_key("d2"));
    let ops = d.settle();
    // The link's removal first (the routes wait for it); then the IPv6 route's path left
    // through d1 is removed, as the item cannot have its paths; the IPv4 route went whole.
    let deletes: Vec<String> = ops
        .iter()
        .filter(|o| matches!(o, Op::DelRoute { .. } | Op::DeleteLink { .. }))
        .map(|o| o.to_string())
        .collect();
    assert_eq!(deletes.len(), 2, "{ops:?}");
    assert!(deletes[0].contains("delete link d2"), "{deletes:?}");
    assert!(
        deletes[1].contains("fd09::/64 via fd01::fe dev d1"),
        "{deletes:?}"
    );
    for key in [KEY, v6] {
        assert_eq!(
            reasons(&d.state(key)),
            vec!["interface 'd2' is not configured"],
            "{key}"
        );
    }
}

#[test]
fn a_hand_made_change_of_weights_is_put_back() {
    let mut d = Harness::new();
    two_dummies(&mut d);
    d.put(KEY, ecmp(1, 3));
    let mut route = routes_put(&d.settle()).remove(0);
    route.hops[1].weight = 1;
    let link = |name: &str, addrs: &[&str]| ObservedLink {
        kind: LinkKind::Dummy,
        alias: Some(mine(name)),
        mac: None,
        ..host_link(name, true, 1500, addrs)
    };
    d.core.poll_resync();
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![
                link("d1", &["10.1.0.1/24", "fd01::1/64"]),
                link("d2", &["10.2.0.1/24", "fd02::1/64"]),
            ],
            routes: vec![route],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { route, .. }] if route.hops[1].weight == 3),
        "{ops:?}"
    );
}

#[test]
fn bad_next_hops_are_named_as_written() {
    let cases = [
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "next_hops": [{"gw_addr": "10.1.0.254"}]}),
            "next_hops",
            "plain route",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.1.0.254", "next_hops": [{"gw_addr": "10.1.0.254"}, {"gw_addr": "10.1.0.253"}]}),
            "gw_addr",
            "each path's gateway",
        ),
        (
            json!({"outgoingInterface": "d1", "dstNetwork": "10.9.0.0/24", "nextHops": [{"gwAddr": "10.1.0.254"}, {"gwAddr": "10.1.0.253", "weight": 257}]}),
            "nextHops[1].weight",
            "1 to 256",
        ),
        (
            json!({"outgoingInterface": "d1", "dstNetwork": "10.9.0.0/24", "nextHops": [{"gwAddr": "10.1.0.254"}, {"gwAddr": "fd00::1"}]}),
            "nextHops[1].gwAddr",
            "different address families",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "next_hops": [{"gw_addr": "10.1.0.254"}, {"outgoing_interface": "d1", "gw_addr": "10.1.0.254"}]}),
            "next_hops[1]",
            "the same path as next_hops[0]",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "type": "BLACKHOLE", "next_hops": [{"gw_addr": "10.1.0.254"}, {"gw_addr": "10.1.0.253"}]}),
            "next_hops",
            "only a UNICAST one forwards",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "scope": "LINK", "next_hops": [{"gw_addr": "10.1.0.254"}, {"gw_addr": "10.1.0.253"}]}),
            "scope",
            "cannot have a gateway",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "next_hops": [{"gw_addr": "10.1.0.254"}, {"outgoing_interface": "", "gw_addr": "10.1.0.253", "mtu": 3}]}),
            "next_hops[1].mtu",
            "unknown field",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "next_hops": [{"gw_addr": "10.1.0.254"}, 7]}),
            "next_hops[1]",
            "expected an object",
        ),
    ];
    for (value, field, reason) in cases {
        let err = Item::decode(KEY, &value).unwrap_err();
        assert_eq!(err.field, field, "{value}: {err}");
        assert!(err.reason.contains(reason), "{value}: {err}");
    }
}

#[test]
fn a_multipath_route_reads_back_as_it_was_written() {
    let item = Item::decode(KEY, &ecmp(1, 7)).unwrap();
    let back = item.to_json();
    assert_eq!(Item::decode(KEY, &back).unwrap(), item);
    assert_eq!(back["next_hops"][1]["outgoing_interface"], "d2");
    assert_eq!(back["next_hops"][1]["weight"], 7);
    // A path that leaves the interface out takes the route's.
    assert_eq!(back["next_hops"][0]["outgoing_interface"], "d1");
}

#[test]
fn a_multipath_route_whose_every_paths_link_goes_down_is_not_deleted_again() {
    let mut d = Harness::new();
    two_dummies(&mut d);
    d.put(KEY, ecmp(1, 1));
    d.settle();
    // Both interfaces disabled together: their links go down, and the kernel drops the route
    // with the second; the core asks nothing more of it.
    for (name, addrs) in [
        ("d1", ["10.1.0.1/24", "fd01::1/64"]),
        ("d2", ["10.2.0.1/24", "fd02::1/64"]),
    ] {
        let (k, mut v) = dummy(name, &addrs);
        v["enabled"] = json!(false);
        d.put(&k, v);
    }
    let ops = d.settle();
    assert!(
        ops.iter().all(|o| !matches!(o, Op::DelRoute { .. })),
        "{ops:?}"
    );
    assert_eq!(reasons(&d.state(KEY)), vec!["interface 'd1' is disabled"]);
}
