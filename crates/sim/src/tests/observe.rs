//! Observing the kernel for a resync: what a snapshot lists and what it leaves out.

use super::*;

#[test]
fn observe_lists_every_link_in_ifindex_order_with_its_attributes() {
    let mut k = kernel();
    let a = ns("a");
    k.seed_link(&a, SeedLink::new("zz", SeedKind::Dummy))
        .expect("seed");
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: LinkSpec {
                mtu: Some(9000),
                mac: Some(mac("02:00:00:00:00:44")),
                up: true,
                ..managed("aa")
            },
            kind: NewLink::Dummy,
        },
    );
    add_addr(&mut k, &a, "aa", "10.1.0.1/24");
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    let links = &snap.namespaces[0].links;
    assert_eq!(
        links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        vec!["lo", "zz", "aa"]
    );
    assert_eq!(links[0].mac, Some(MacAddr([0; 6])));
    let aa = &links[2];
    assert_eq!(
        (aa.kind, aa.alias.as_deref(), aa.mtu, aa.mac, aa.up),
        (
            LinkKind::Dummy,
            Some("nsagent:aa"),
            9000,
            Some(mac("02:00:00:00:00:44")),
            true
        )
    );
    assert_eq!(aa.addresses, vec![net("10.1.0.1/24")]);
}

#[test]
fn observe_leaves_out_the_addresses_the_kernel_made() {
    let mut k = kernel();
    let a = ns("a");
    up(&mut k, &a, "lo");
    dummy(&mut k, &a, "d0");
    up(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "fe80::1/64");
    add_addr(&mut k, &a, "d0", "fd00::1/64");
    assert_eq!(link(&k, &a, "d0").kernel_addresses.len(), 1);
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    let links = &snap.namespaces[0].links;
    assert!(
        links[0].addresses.is_empty(),
        "lo's 127.0.0.1/8 and ::1 are the kernel's"
    );
    assert_eq!(
        links[1].addresses,
        vec![net("fe80::1/64"), net("fd00::1/64")]
    );
    // An address the agent asked for again after deleting the kernel's copy is the agent's.
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "lo".into(),
            addr: net("127.0.0.1/8"),
        },
    );
    add_addr(&mut k, &a, "lo", "127.0.0.1/8");
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    assert_eq!(
        snap.namespaces[0].links[0].addresses,
        vec![net("127.0.0.1/8")]
    );
}

#[test]
fn observe_reports_only_the_agents_routes_and_permanent_neighbours() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", Some("10.1.0.2")));
    k.seed_route(&a, route("v0", "10.9.0.0/24", Some("10.1.0.1")), 16)
        .expect("seed");
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    let n = &snap.namespaces[0];
    assert_eq!(n.routes, vec![route("v0", "10.2.0.0/24", Some("10.1.0.2"))]);
    assert_eq!(n.neighbours.len(), 1);
    assert_eq!(
        (
            n.neighbours[0].link.as_str(),
            n.neighbours[0].ip,
            n.neighbours[0].mac
        ),
        ("v0", ip("10.1.0.5"), mac("02:00:00:00:00:05"))
    );
    // The seeded route is in the dump with its protocol.
    let protos: Vec<u8> = link(&k, &a, "v0")
        .routes
        .iter()
        .map(|r| r.protocol)
        .collect();
    assert_eq!(protos, vec![ROUTE_PROTOCOL, 16]);
}

#[test]
fn observe_puts_missing_namespaces_in_missing_and_reports_each_once() {
    let mut k = kernel();
    let snap = k
        .observe(&[ns("b"), ns("gone"), ns("a"), ns("b"), Netns::Pid(9)])
        .expect("observe");
    assert_eq!(
        snap.namespaces
            .iter()
            .map(|n| n.ns.clone())
            .collect::<Vec<_>>(),
        vec![ns("b"), ns("a")]
    );
    assert_eq!(snap.missing, vec![ns("gone"), Netns::Pid(9)]);
}

#[test]
fn link_states_follow_carrier_as_the_kernel_reports_it() {
    use nsagent_core::OperState;
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    veth(&mut k, &a, "va", &b, "vb");
    dummy(&mut k, &a, "d");
    let oper = |k: &mut SimKernel, ns: &Netns, name: &str| {
        k.link_states(ns)
            .expect("states")
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| (s.admin_up, s.oper))
    };
    assert_eq!(oper(&mut k, &a, "va"), Some((false, OperState::Down)));
    up(&mut k, &a, "va");
    assert_eq!(
        oper(&mut k, &a, "va"),
        Some((true, OperState::Down)),
        "the other end is down: no carrier"
    );
    up(&mut k, &b, "vb");
    assert_eq!(oper(&mut k, &a, "va"), Some((true, OperState::Up)));
    up(&mut k, &a, "d");
    assert_eq!(oper(&mut k, &a, "d"), Some((true, OperState::Unknown)));
    let states = k.link_states(&a).expect("states");
    assert_eq!(
        states.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["lo", "va", "d"],
        "in ifindex order"
    );
    assert!(states.windows(2).all(|w| w[0].ifindex < w[1].ifindex));
    let gone = k.link_states(&ns("nowhere")).expect_err("no namespace");
    assert_eq!(gone.kind, ErrorKind::NamespaceGone);
}
