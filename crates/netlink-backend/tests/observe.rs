//! `observe` against the real kernel: what resync sees.

mod common;

use common::*;
use nsagent_core::ROUTE_PROTOCOL;
use nsagent_core::{Backend, LinkKind, LinkSpec, MacAddr, NewLink, Op, RouteScope, RouteSpec};
use nsagent_netlink::NetlinkBackend;

/// A veth pair `o0` (in `a`, with two addresses, a route and a neighbour) and `o1` (in `b`),
/// made by the backend; returns the route.
fn configure(be: &mut NetlinkBackend, a: &TestNs, b: &TestNs) -> RouteSpec {
    let end = |name: &str, last: u8| LinkSpec {
        name: name.into(),
        mtu: Some(1450),
        mac: Some(MacAddr([2, 0, 0, 0, 1, last])),
        alias: Some(format!("nsagent:{name}")),
        up: true,
    };
    apply(
        be,
        Op::CreateLink {
            ns: a.netns(),
            link: end("o0", 1),
            kind: NewLink::Veth {
                peer_ns: b.netns(),
                peer: end("o1", 2),
            },
        },
    )
    .unwrap();
    let ns = a.netns();
    for addr in ["10.6.0.1/24", "fd00:6::1/64"] {
        apply(
            be,
            Op::AddAddress {
                ns: ns.clone(),
                link: "o0".into(),
                addr: addr.parse().unwrap(),
            },
        )
        .unwrap();
    }
    let r = RouteSpec {
        dev: "o0".into(),
        dst: "10.66.0.0/16".parse().unwrap(),
        gw: Some("10.6.0.2".parse().unwrap()),
        metric: 5,
        scope: RouteScope::Global,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    };
    apply(
        be,
        Op::AddRoute {
            ns: ns.clone(),
            route: r.clone(),
        },
    )
    .unwrap();
    apply(
        be,
        Op::SetNeighbour {
            ns: ns.clone(),
            link: "o0".into(),
            ip: "10.6.0.7".parse().unwrap(),
            mac: MacAddr([2, 0, 0, 0, 0, 7]),
        },
    )
    .unwrap();
    r
}

/// Made by hand in `a`: an unmanaged veth pair, a route of another protocol, and a permanent
/// neighbour without a protocol on the agent's own link `o0`.
fn add_unmanaged(a: &TestNs) {
    run(
        "ip",
        &[
            "-n",
            &a.name,
            "neigh",
            "add",
            "10.6.0.9",
            "lladdr",
            "02:00:00:00:00:09",
            "dev",
            "o0",
            "nud",
            "permanent",
        ],
    );
    run(
        "ip",
        &[
            "-n", &a.name, "link", "add", "hand0", "type", "veth", "peer", "name", "hand1",
        ],
    );
    run(
        "ip",
        &[
            "-n",
            &a.name,
            "route",
            "add",
            "10.67.0.0/16",
            "via",
            "10.6.0.3",
            "proto",
            "boot",
        ],
    );
}

#[test]
fn observe_reports_links_addresses_static_routes_and_permanent_neighbours() {
    let a = TestNs::new();
    let b = TestNs::new();
    let missing = TestNs::unmade();
    let mut be = NetlinkBackend::new();
    let r = configure(&mut be, &a, &b);
    add_unmanaged(&a);

    let snap = be
        .observe(&[a.netns(), b.netns(), missing.netns()])
        .expect("observe");
    assert_eq!(snap.missing, vec![missing.netns()]);
    assert_eq!(snap.namespaces.len(), 2);
    let oa = &snap.namespaces[0];
    assert_eq!(oa.ns, a.netns());
    let o0 = oa.links.iter().find(|l| l.name == "o0").expect("o0");
    assert_eq!(o0.kind, LinkKind::Veth);
    assert_eq!(o0.alias.as_deref(), Some("nsagent:o0"));
    assert_eq!(o0.mtu, 1450);
    assert_eq!(o0.mac, Some(MacAddr([2, 0, 0, 0, 1, 1])));
    assert!(o0.up);
    assert_eq!(
        o0.addresses,
        vec![
            "10.6.0.1/24".parse().unwrap(),
            "fd00:6::1/64".parse().unwrap()
        ],
        "no kernel-made fe80::"
    );
    let lo = oa.links.iter().find(|l| l.name == "lo").expect("lo");
    assert_eq!(lo.kind, LinkKind::Loopback);
    assert!(!lo.up);
    let hand = oa
        .links
        .iter()
        .find(|l| l.name == "hand0")
        .expect("unmanaged links are reported too");
    assert_eq!(hand.alias, None);
    assert_eq!(
        oa.routes,
        vec![r],
        "only protocol {ROUTE_PROTOCOL} routes of the main table"
    );
    assert_eq!(
        oa.neighbours.len(),
        1,
        "only the agent's entry, not the one made by hand on its link: {:?}",
        oa.neighbours
    );
    let shown = a.ip(&["neigh", "show", "dev", "o0"]);
    let proto_of = |dst: &str| {
        shown
            .as_array()
            .and_then(|n| n.iter().find(|e| e["dst"] == dst))
            .map(|e| e["protocol"].clone())
    };
    assert_eq!(
        proto_of("10.6.0.7"),
        Some(serde_json::json!("static")),
        "the agent's entry carries its protocol: {shown}"
    );
    assert_eq!(proto_of("10.6.0.9"), Some(serde_json::Value::Null));
    assert_eq!(
        oa.neighbours[0].ip,
        "10.6.0.7".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(oa.neighbours[0].mac, MacAddr([2, 0, 0, 0, 0, 7]));
    let ob = &snap.namespaces[1];
    let o1 = ob.links.iter().find(|l| l.name == "o1").expect("o1");
    assert_eq!(o1.alias.as_deref(), Some("nsagent:o1"));
    assert!(o1.up, "the peer was brought up after creation");
    assert_eq!(o1.mtu, 1450);
    assert_eq!(
        o0.peer,
        Some((b.netns(), "o1".to_string())),
        "peer found through IFLA_LINK_NETNSID"
    );
    assert_eq!(o1.peer, Some((a.netns(), "o0".to_string())));
    assert_eq!(
        hand.peer,
        Some((a.netns(), "hand1".to_string())),
        "a peer in the same namespace"
    );

    // A peer in a namespace that was not asked about cannot be named.
    let alone = be.observe(&[a.netns(), a.netns()]).expect("observe");
    assert_eq!(alone.namespaces.len(), 1, "asked twice, reported once");
    let o0 = alone.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == "o0")
        .unwrap();
    assert_eq!(o0.peer, None);
}

#[test]
fn observe_of_loopback_addresses_skips_the_kernels_own() {
    let a = TestNs::new();
    run("ip", &["-n", &a.name, "link", "set", "lo", "up"]);
    let mut be = NetlinkBackend::new();
    let snap = be.observe(&[a.netns()]).unwrap();
    let lo = snap.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == "lo")
        .unwrap();
    assert!(lo.up);
    // 127.0.0.1/8 and ::1/128 are added by the kernel (IFA_PROTO kernel_lo) and are not reported.
    assert!(lo.addresses.is_empty(), "{:?}", lo.addresses);
}

/// An agent with a route protocol of its own adds its routes with it and sees only those: a
/// route of the default protocol on the same link (another agent's) is not in its snapshot,
/// and its own routes are not in the other's.
#[test]
fn a_backend_with_its_own_route_protocol_sees_only_its_routes() {
    let (a, b) = (TestNs::new(), TestNs::new());
    let mut default = NetlinkBackend::new();
    let theirs = configure(&mut default, &a, &b);
    let mut own = NetlinkBackend::new().with_route_protocol(201);
    let mine = RouteSpec {
        dst: "10.67.0.0/16".parse().unwrap(),
        ..theirs.clone()
    };
    apply(
        &mut own,
        Op::AddRoute {
            ns: a.netns(),
            route: mine.clone(),
        },
    )
    .unwrap();
    let shown = a.ip(&["-d", "route", "show", "10.67.0.0/16"]);
    assert_eq!(shown[0]["protocol"], "201", "{shown}");
    let snap = own.observe(&[a.netns()]).expect("observe");
    assert_eq!(snap.namespaces[0].routes, vec![mine]);
    let snap = default.observe(&[a.netns()]).expect("observe");
    assert_eq!(snap.namespaces[0].routes, vec![theirs]);
}
