//! One test per kernel rule and per error path, named after the rule.

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

// ----- namespaces -----

#[test]
fn new_namespace_starts_with_lo_down_mtu_65536() {
    let k = kernel();
    let lo = link(&k, &ns("a"), "lo");
    assert_eq!(lo.kind, LinkKind::Loopback);
    assert!(!lo.up);
    assert_eq!(lo.mtu, 65536);
    assert_eq!(lo.ifindex, 1);
    assert!(lo.addresses.is_empty() && lo.kernel_addresses.is_empty());
    assert_eq!(
        k.dump()
            .namespace(&ns("a"))
            .map(|n| n.managed.len() + n.unmanaged.len()),
        Some(1)
    );
}

#[test]
fn default_namespace_always_exists_with_lo_up() {
    let mut k = SimKernel::default();
    assert!(k.contains_namespace(&Netns::Default));
    let lo = link(&k, &Netns::Default, "lo");
    assert!(lo.up);
    assert_eq!(
        lo.kernel_addresses,
        vec![net("127.0.0.1/8"), net("::1/128")]
    );
    assert_eq!(
        k.vanish(&Netns::Default),
        Err(SimError::DefaultNamespace { action: "vanish" })
    );
    assert_eq!(
        k.appear(Netns::Default),
        Err(SimError::DefaultNamespace { action: "appear" })
    );
}

#[test]
fn create_namespace_is_idempotent() {
    let mut k = kernel();
    dummy(&mut k, &ns("a"), "d0");
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    assert!(
        has_link(&k, &ns("a"), "d0"),
        "re-creating an existing namespace must not empty it"
    );
}

#[test]
fn ops_in_a_missing_namespace_are_namespace_gone() {
    let mut k = kernel();
    let gone = ns("gone");
    let ops = vec![
        Op::CreateLink {
            ns: gone.clone(),
            link: spec("d0"),
            kind: NewLink::Dummy,
        },
        Op::DeleteLink {
            ns: gone.clone(),
            name: "d0".into(),
        },
        Op::SetLink {
            ns: gone.clone(),
            name: "lo".into(),
            change: LinkChange {
                up: Some(true),
                ..Default::default()
            },
        },
        Op::AddAddress {
            ns: gone.clone(),
            link: "lo".into(),
            addr: net("10.0.0.1/8"),
        },
        Op::DelAddress {
            ns: gone.clone(),
            link: "lo".into(),
            addr: net("10.0.0.1/8"),
        },
        Op::AddRoute {
            ns: gone.clone(),
            route: route("lo", "10.9.0.0/16", None),
        },
        Op::ReplaceRoute {
            ns: gone.clone(),
            route: route("lo", "10.9.0.0/16", None),
        },
        Op::DelRoute {
            ns: gone.clone(),
            route: route("lo", "10.9.0.0/16", None),
        },
        Op::SetNeighbour {
            ns: gone.clone(),
            link: "lo".into(),
            ip: ip("10.0.0.2"),
            mac: mac("02:00:00:00:00:01"),
        },
        Op::DelNeighbour {
            ns: gone.clone(),
            link: "lo".into(),
            ip: ip("10.0.0.2"),
        },
        // A veth whose peer namespace is missing cannot be created either.
        Op::CreateLink {
            ns: ns("a"),
            link: spec("v0"),
            kind: NewLink::Veth {
                peer_ns: gone.clone(),
                peer: spec("p0"),
            },
        },
    ];
    for op in ops {
        let e = err(&mut k, op.clone());
        assert_eq!(e.kind, ErrorKind::NamespaceGone, "{op}");
        assert_eq!(e.errno, None, "{op}");
    }
    assert!(!has_link(&k, &ns("a"), "v0"));
}

#[test]
fn bringing_lo_up_adds_127_0_0_1_and_ipv6_loopback() {
    let mut k = kernel();
    let a = ns("a");
    up(&mut k, &a, "lo");
    assert_eq!(
        link(&k, &a, "lo").kernel_addresses,
        vec![net("127.0.0.1/8"), net("::1/128")]
    );
}

#[test]
fn setting_lo_down_flushes_ipv6_loopback_but_keeps_127_0_0_1() {
    let mut k = kernel();
    let a = ns("a");
    up(&mut k, &a, "lo");
    down(&mut k, &a, "lo");
    assert_eq!(
        link(&k, &a, "lo").kernel_addresses,
        vec![net("127.0.0.1/8")]
    );
}

#[test]
fn lo_coming_up_again_restores_a_deleted_127_0_0_1() {
    let mut k = kernel();
    let a = ns("a");
    up(&mut k, &a, "lo");
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "lo".into(),
            addr: net("127.0.0.1/8"),
        },
    );
    assert_eq!(link(&k, &a, "lo").kernel_addresses, vec![net("::1/128")]);
    down(&mut k, &a, "lo");
    up(&mut k, &a, "lo");
    assert_eq!(
        link(&k, &a, "lo").kernel_addresses,
        vec![net("127.0.0.1/8"), net("::1/128")]
    );
}

#[test]
fn adding_127_0_0_1_to_lo_that_has_it_is_eexist() {
    let mut k = kernel();
    let a = ns("a");
    up(&mut k, &a, "lo");
    assert_eq!(
        errno(
            &mut k,
            Op::AddAddress {
                ns: a,
                link: "lo".into(),
                addr: net("127.0.0.1/8")
            }
        ),
        EEXIST
    );
}

// ----- creating links -----

#[test]
fn link_names_are_unique_per_namespace() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    dummy(&mut k, &a, "d0");
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: spec("d0"),
                kind: NewLink::Dummy
            }
        ),
        EEXIST
    );
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: spec("d0"),
                kind: NewLink::Veth {
                    peer_ns: b.clone(),
                    peer: spec("p9")
                }
            }
        ),
        EEXIST
    );
    assert!(
        !has_link(&k, &b, "p9"),
        "a refused veth leaves no peer behind"
    );
    dummy(&mut k, &b, "d0");
}

#[test]
fn veth_peer_is_created_directly_in_the_peer_namespace() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    veth(&mut k, &a, "v0", &b, "p0");
    assert_eq!(link(&k, &a, "v0").peer, Some((b.clone(), "p0".to_string())));
    assert_eq!(link(&k, &b, "p0").peer, Some((a.clone(), "v0".to_string())));
    assert_eq!(link(&k, &b, "p0").kind, LinkKind::Veth);
    assert!(!has_link(&k, &a, "p0"));
}

#[test]
fn veth_peer_name_taken_in_peer_namespace_is_eexist() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    dummy(&mut k, &b, "p0");
    let op = Op::CreateLink {
        ns: a.clone(),
        link: spec("v0"),
        kind: NewLink::Veth {
            peer_ns: b.clone(),
            peer: spec("p0"),
        },
    };
    assert_eq!(errno(&mut k, op), EEXIST);
    assert!(
        !has_link(&k, &a, "v0"),
        "the refused pair must leave nothing behind"
    );
    assert_eq!(link(&k, &b, "p0").kind, LinkKind::Dummy);
}

#[test]
fn veth_ends_with_one_name_in_one_namespace_is_eexist() {
    let mut k = kernel();
    let a = ns("a");
    let op = Op::CreateLink {
        ns: a.clone(),
        link: spec("v0"),
        kind: NewLink::Veth {
            peer_ns: a.clone(),
            peer: spec("v0"),
        },
    };
    assert_eq!(errno(&mut k, op), EEXIST);
    assert!(!has_link(&k, &a, "v0"));
}

#[test]
fn creation_applies_mtu_mac_alias_and_up_to_both_ends() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    let here = LinkSpec {
        name: "v0".into(),
        mtu: Some(9000),
        mac: Some(mac("02:00:00:00:00:44")),
        alias: Some("nsagent:x".into()),
        up: true,
    };
    let there = LinkSpec {
        name: "p0".into(),
        mtu: Some(1400),
        mac: Some(mac("02:00:00:00:00:45")),
        alias: None,
        up: false,
    };
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: here,
            kind: NewLink::Veth {
                peer_ns: b.clone(),
                peer: there,
            },
        },
    );
    let v0 = link(&k, &a, "v0");
    assert_eq!(
        (v0.mtu, v0.mac, v0.alias.as_deref(), v0.up),
        (9000, mac("02:00:00:00:00:44"), Some("nsagent:x"), true)
    );
    let p0 = link(&k, &b, "p0");
    assert_eq!(
        (p0.mtu, p0.mac, p0.alias.as_deref(), p0.up),
        (1400, mac("02:00:00:00:00:45"), None, false)
    );
    let d = LinkSpec {
        name: "d0".into(),
        mtu: Some(1600),
        mac: Some(mac("02:00:00:00:00:46")),
        alias: Some("nsagent:d".into()),
        up: true,
    };
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: d,
            kind: NewLink::Dummy,
        },
    );
    let d0 = link(&k, &a, "d0");
    assert_eq!(
        (d0.mtu, d0.mac, d0.up, d0.kind),
        (1600, mac("02:00:00:00:00:46"), true, LinkKind::Dummy)
    );
}

#[test]
fn links_without_mtu_get_1500() {
    let mut k = kernel();
    dummy(&mut k, &ns("a"), "d0");
    assert_eq!(link(&k, &ns("a"), "d0").mtu, 1500);
}

#[test]
fn multicast_or_zero_mac_is_eaddrnotavail() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    let bad = LinkSpec {
        mac: Some(mac("01:00:00:00:00:44")),
        ..spec("v0")
    };
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: bad.clone(),
                kind: NewLink::Veth {
                    peer_ns: b.clone(),
                    peer: spec("p0")
                }
            }
        ),
        EADDRNOTAVAIL
    );
    let bad_peer = LinkSpec {
        mac: Some(mac("01:00:00:00:00:45")),
        ..spec("p0")
    };
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: spec("v0"),
                kind: NewLink::Veth {
                    peer_ns: b.clone(),
                    peer: bad_peer
                }
            }
        ),
        EADDRNOTAVAIL
    );
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: bad,
                kind: NewLink::Dummy
            }
        ),
        EADDRNOTAVAIL
    );
    let zero = LinkSpec {
        mac: Some(MacAddr([0; 6])),
        ..spec("d1")
    };
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: zero,
                kind: NewLink::Dummy
            }
        ),
        EADDRNOTAVAIL
    );
    dummy(&mut k, &a, "d0");
    let e = set(
        &mut k,
        &a,
        "d0",
        LinkChange {
            mac: Some(mac("33:33:00:00:00:01")),
            ..Default::default()
        },
    );
    assert_eq!(e.map_err(|e| e.errno), Err(Some(EADDRNOTAVAIL)));
    assert!(!has_link(&k, &a, "v0") && !has_link(&k, &b, "p0"));
}

#[test]
fn mtu_out_of_range_is_einval() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    for mtu in [67, 65536, 70000] {
        let bad = LinkSpec {
            mtu: Some(mtu),
            ..spec("v0")
        };
        assert_eq!(
            errno(
                &mut k,
                Op::CreateLink {
                    ns: a.clone(),
                    link: bad.clone(),
                    kind: NewLink::Veth {
                        peer_ns: b.clone(),
                        peer: spec("p0")
                    }
                }
            ),
            EINVAL
        );
        assert_eq!(
            errno(
                &mut k,
                Op::CreateLink {
                    ns: a.clone(),
                    link: spec("v0"),
                    kind: NewLink::Veth {
                        peer_ns: b.clone(),
                        peer: LinkSpec {
                            mtu: Some(mtu),
                            ..spec("p0")
                        }
                    }
                }
            ),
            EINVAL
        );
        assert_eq!(
            errno(
                &mut k,
                Op::CreateLink {
                    ns: a.clone(),
                    link: bad,
                    kind: NewLink::Dummy
                }
            ),
            EINVAL
        );
    }
    veth(&mut k, &a, "v0", &b, "p0");
    for mtu in [67, 65536] {
        let e = set(
            &mut k,
            &a,
            "v0",
            LinkChange {
                mtu: Some(mtu),
                ..Default::default()
            },
        );
        assert_eq!(e.map_err(|e| e.errno), Err(Some(EINVAL)));
    }
    for mtu in [68, 65535] {
        assert_eq!(
            set(
                &mut k,
                &a,
                "v0",
                LinkChange {
                    mtu: Some(mtu),
                    ..Default::default()
                }
            ),
            Ok(())
        );
        assert_eq!(link(&k, &a, "v0").mtu, mtu);
    }
}

#[test]
fn lo_accepts_any_mtu() {
    let mut k = kernel();
    let a = ns("a");
    for mtu in [10, 70000] {
        assert_eq!(
            set(
                &mut k,
                &a,
                "lo",
                LinkChange {
                    mtu: Some(mtu),
                    ..Default::default()
                }
            ),
            Ok(())
        );
        assert_eq!(link(&k, &a, "lo").mtu, mtu);
    }
}

#[test]
fn invalid_interface_names_are_refused() {
    let mut k = kernel();
    let a = ns("a");
    for name in ["", ".", "..", "a/b", "a:b", "a b"] {
        assert_eq!(
            errno(
                &mut k,
                Op::CreateLink {
                    ns: a.clone(),
                    link: spec(name),
                    kind: NewLink::Dummy
                }
            ),
            EINVAL,
            "{name:?}"
        );
    }
    assert_eq!(
        errno(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: spec("abcdefghijklmnop"),
                kind: NewLink::Dummy
            }
        ),
        ERANGE
    );
    let op = Op::CreateLink {
        ns: a.clone(),
        link: spec("v0"),
        kind: NewLink::Veth {
            peer_ns: ns("b"),
            peer: spec("p/0"),
        },
    };
    assert_eq!(errno(&mut k, op), EINVAL);
    dummy(&mut k, &a, "abcdefghijklmno");
}

#[test]
fn ifindexes_are_per_namespace_and_the_veth_peer_registers_first() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    veth(&mut k, &a, "v0", &a, "v1");
    assert_eq!(
        (link(&k, &a, "v1").ifindex, link(&k, &a, "v0").ifindex),
        (2, 3)
    );
    veth(&mut k, &a, "v2", &b, "p2");
    assert_eq!(
        (link(&k, &b, "p2").ifindex, link(&k, &a, "v2").ifindex),
        (2, 4)
    );
}

#[test]
fn generated_macs_are_unique_unicast_and_deterministic() {
    let build = || {
        let mut k = kernel();
        veth(&mut k, &ns("a"), "v0", &ns("b"), "p0");
        dummy(&mut k, &ns("a"), "d0");
        k
    };
    let (k1, k2) = (build(), build());
    let macs: Vec<MacAddr> = [("a", "v0"), ("b", "p0"), ("a", "d0")]
        .iter()
        .map(|(n, l)| link(&k1, &ns(n), l).mac)
        .collect();
    assert!(
        macs.iter()
            .all(|m| !m.is_multicast() && m.0[0] & 0x02 == 0x02),
        "{macs:?}"
    );
    assert!(macs[0] != macs[1] && macs[1] != macs[2] && macs[0] != macs[2]);
    assert_eq!(k1.dump(), k2.dump());
}

// ----- deleting links -----

#[test]
fn deleting_a_missing_link_is_enodev() {
    let mut k = kernel();
    assert_eq!(
        errno(
            &mut k,
            Op::DeleteLink {
                ns: ns("a"),
                name: "nope".into()
            }
        ),
        ENODEV
    );
}

#[test]
fn deleting_lo_or_a_hardware_link_is_eopnotsupp() {
    let mut k = kernel();
    let a = ns("a");
    k.seed_link(&a, SeedLink::new("eth0", SeedKind::Other))
        .expect("seed");
    assert_eq!(
        errno(
            &mut k,
            Op::DeleteLink {
                ns: a.clone(),
                name: "lo".into()
            }
        ),
        EOPNOTSUPP
    );
    assert_eq!(
        errno(
            &mut k,
            Op::DeleteLink {
                ns: a.clone(),
                name: "eth0".into()
            }
        ),
        EOPNOTSUPP
    );
    assert!(has_link(&k, &a, "lo") && has_link(&k, &a, "eth0"));
}

#[test]
fn deleting_one_veth_end_deletes_its_peer() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    add_addr(&mut k, &b, "p0", "10.1.0.2/24");
    add_route(&mut k, &b, route("p0", "10.2.0.0/24", Some("10.1.0.1")));
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: b.clone(),
            link: "p0".into(),
            ip: ip("10.1.0.1"),
            mac: mac("02:00:00:00:00:01"),
        },
    );
    add_route(&mut k, &a, route("v0", "10.3.0.0/24", None));
    ok(
        &mut k,
        Op::DeleteLink {
            ns: a.clone(),
            name: "v0".into(),
        },
    );
    assert!(!has_link(&k, &a, "v0") && !has_link(&k, &b, "p0"));
    assert!(routes(&k, &a).is_empty() && routes(&k, &b).is_empty());
    let snap = k.observe(std::slice::from_ref(&b)).expect("observe");
    assert!(snap.namespaces[0].neighbours.is_empty() && snap.namespaces[0].routes.is_empty());
    // And from the other side.
    veth(&mut k, &a, "v1", &b, "p1");
    ok(
        &mut k,
        Op::DeleteLink {
            ns: b.clone(),
            name: "p1".into(),
        },
    );
    assert!(!has_link(&k, &a, "v1") && !has_link(&k, &b, "p1"));
}

#[test]
fn deleting_a_dummy_removes_its_routes_and_neighbours() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    dummy(&mut k, &a, "d1");
    for d in ["d0", "d1"] {
        up(&mut k, &a, d);
        ok(
            &mut k,
            Op::SetNeighbour {
                ns: a.clone(),
                link: d.into(),
                ip: ip("10.1.0.9"),
                mac: mac("02:00:00:00:00:09"),
            },
        );
    }
    add_route(&mut k, &a, route("d0", "10.2.0.0/24", None));
    add_route(&mut k, &a, route("d1", "10.3.0.0/24", None));
    ok(
        &mut k,
        Op::DeleteLink {
            ns: a.clone(),
            name: "d0".into(),
        },
    );
    assert_eq!(routes(&k, &a), vec![route("d1", "10.3.0.0/24", None)]);
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    assert_eq!(snap.namespaces[0].neighbours.len(), 1);
    assert_eq!(snap.namespaces[0].neighbours[0].link, "d1");
}

// ----- changing links -----

#[test]
fn set_link_on_a_missing_link_is_enodev() {
    let mut k = kernel();
    let e = set(
        &mut k,
        &ns("a"),
        "nope",
        LinkChange {
            up: Some(true),
            ..Default::default()
        },
    );
    assert_eq!(e.map_err(|e| e.errno), Err(Some(ENODEV)));
}

#[test]
fn a_veth_mac_can_change_while_up_and_keeps_its_link_local() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    let before = link(&k, &a, "v0").kernel_addresses;
    assert_eq!(
        set(
            &mut k,
            &a,
            "v0",
            LinkChange {
                mac: Some(mac("02:00:00:00:00:aa")),
                ..Default::default()
            }
        ),
        Ok(())
    );
    let v0 = link(&k, &a, "v0");
    assert_eq!(v0.mac, mac("02:00:00:00:00:aa"));
    assert_eq!(v0.kernel_addresses, before);
}

#[test]
fn a_hardware_mac_cannot_change_while_up() {
    let mut k = kernel();
    let a = ns("a");
    k.seed_link(
        &a,
        SeedLink {
            up: true,
            ..SeedLink::new("eth0", SeedKind::Other)
        },
    )
    .expect("seed");
    let e = set(
        &mut k,
        &a,
        "eth0",
        LinkChange {
            mac: Some(mac("02:00:00:00:00:aa")),
            ..Default::default()
        },
    );
    assert_eq!(e.map_err(|e| e.errno), Err(Some(EBUSY)));
    down(&mut k, &a, "eth0");
    assert_eq!(
        set(
            &mut k,
            &a,
            "eth0",
            LinkChange {
                mac: Some(mac("02:00:00:00:00:aa")),
                ..Default::default()
            }
        ),
        Ok(())
    );
}

#[test]
fn set_link_stops_at_the_first_error_and_keeps_earlier_changes() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    let change = LinkChange {
        mac: Some(mac("02:00:00:00:00:bb")),
        mtu: Some(10),
        alias: Some("nsagent:new".into()),
        up: Some(true),
    };
    assert_eq!(
        set(&mut k, &a, "d0", change).map_err(|e| e.errno),
        Err(Some(EINVAL))
    );
    let d0 = link(&k, &a, "d0");
    assert_eq!(
        d0.mac,
        mac("02:00:00:00:00:bb"),
        "the address is set before the MTU"
    );
    assert_eq!(
        (d0.mtu, d0.alias.as_deref(), d0.up),
        (1500, Some("nsagent:d0"), false)
    );
}

#[test]
fn set_link_applies_mtu_alias_and_up_together() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    let change = LinkChange {
        mac: None,
        mtu: Some(9000),
        alias: Some("nsagent:other".into()),
        up: Some(true),
    };
    assert_eq!(set(&mut k, &a, "d0", change), Ok(()));
    let d0 = link(&k, &a, "d0");
    assert_eq!(
        (d0.mtu, d0.alias.as_deref(), d0.up),
        (9000, Some("nsagent:other"), true)
    );
}

#[test]
fn an_empty_alias_removes_the_alias() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    assert_eq!(
        set(
            &mut k,
            &a,
            "d0",
            LinkChange {
                alias: Some(String::new()),
                ..Default::default()
            }
        ),
        Ok(())
    );
    assert_eq!(link(&k, &a, "d0").alias, None);
    assert!(!link(&k, &a, "d0").is_managed());
}

#[test]
fn an_alias_longer_than_255_bytes_is_erange() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    let e = set(
        &mut k,
        &a,
        "d0",
        LinkChange {
            alias: Some("x".repeat(256)),
            ..Default::default()
        },
    );
    assert_eq!(e.map_err(|e| e.errno), Err(Some(ERANGE)));
    assert_eq!(
        set(
            &mut k,
            &a,
            "d0",
            LinkChange {
                alias: Some("x".repeat(255)),
                ..Default::default()
            }
        ),
        Ok(())
    );
}

#[test]
fn setting_a_link_down_flushes_routes_ipv6_addresses_and_neighbours() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", Some("10.1.0.2")));
    add_route(&mut k, &a, route("v0", "fd02::/64", Some("fd00::2")));
    add_route(&mut k, &a, route("v0", "10.3.0.0/24", None));
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("fd00::5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    down(&mut k, &a, "v0");
    let v0 = link(&k, &a, "v0");
    assert_eq!(
        v0.addresses,
        vec![net("10.1.0.1/24")],
        "IPv4 stays, IPv6 goes"
    );
    assert!(
        v0.kernel_addresses.is_empty(),
        "the link-local address goes too"
    );
    assert!(v0.routes.is_empty());
    assert!(v0.neighbours.is_empty());
    up(&mut k, &a, "v0");
    assert!(
        link(&k, &a, "v0").routes.is_empty(),
        "routes do not come back with the link"
    );
}

#[test]
fn a_veth_losing_carrier_keeps_its_routes_and_addresses() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", Some("10.1.0.2")));
    let before = link(&k, &a, "v0");
    down(&mut k, &b, "p0");
    assert_eq!(link(&k, &a, "v0"), before);
}

#[test]
fn mtu_below_1280_disables_ipv6_on_the_link() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "fd02::/64", Some("fd00::2")));
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", Some("10.1.0.2")));
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("fd00::5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    assert_eq!(
        set(
            &mut k,
            &a,
            "v0",
            LinkChange {
                mtu: Some(1200),
                ..Default::default()
            }
        ),
        Ok(())
    );
    let v0 = link(&k, &a, "v0");
    assert_eq!(v0.addresses, vec![net("10.1.0.1/24")]);
    assert!(v0.kernel_addresses.is_empty());
    assert_eq!(
        v0.routes
            .iter()
            .map(|r| r.route.clone())
            .collect::<Vec<_>>(),
        vec![route("v0", "10.2.0.0/24", Some("10.1.0.2"))]
    );
    assert_eq!(
        v0.neighbours,
        vec![(ip("10.1.0.5"), mac("02:00:00:00:00:05"))]
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddAddress {
                ns: a.clone(),
                link: "v0".into(),
                addr: net("fd00::1/64")
            }
        ),
        EINVAL
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd03::/64", None)
            }
        ),
        ENODEV
    );
    let neigh = Op::SetNeighbour {
        ns: a.clone(),
        link: "v0".into(),
        ip: ip("fd00::7"),
        mac: mac("02:00:00:00:00:07"),
    };
    assert_eq!(errno(&mut k, neigh), EINVAL);
    // Raising it again brings back the link-local address but not the configured ones.
    assert_eq!(
        set(
            &mut k,
            &a,
            "v0",
            LinkChange {
                mtu: Some(1500),
                ..Default::default()
            }
        ),
        Ok(())
    );
    let v0 = link(&k, &a, "v0");
    assert_eq!(v0.addresses, vec![net("10.1.0.1/24")]);
    assert_eq!(v0.kernel_addresses.len(), 1);
    add_addr(&mut k, &a, "v0", "fd00::1/64");
}

#[test]
fn lo_with_small_mtu_has_no_ipv6_loopback_until_raised() {
    let mut k = kernel();
    let a = ns("a");
    assert_eq!(
        set(
            &mut k,
            &a,
            "lo",
            LinkChange {
                mtu: Some(1000),
                ..Default::default()
            }
        ),
        Ok(())
    );
    up(&mut k, &a, "lo");
    assert_eq!(
        link(&k, &a, "lo").kernel_addresses,
        vec![net("127.0.0.1/8")]
    );
    assert_eq!(
        set(
            &mut k,
            &a,
            "lo",
            LinkChange {
                mtu: Some(65536),
                ..Default::default()
            }
        ),
        Ok(())
    );
    assert_eq!(
        link(&k, &a, "lo").kernel_addresses,
        vec![net("127.0.0.1/8"), net("::1/128")]
    );
}

// ----- link-local addresses -----

#[test]
fn a_veth_gets_its_link_local_address_only_when_both_ends_are_up() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    let mac0 = mac("12:6d:e3:19:0f:60");
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: LinkSpec {
                mac: Some(mac0),
                ..managed("v0")
            },
            kind: NewLink::Veth {
                peer_ns: b.clone(),
                peer: managed("p0"),
            },
        },
    );
    up(&mut k, &a, "v0");
    assert!(
        link(&k, &a, "v0").kernel_addresses.is_empty(),
        "no carrier while the peer is down"
    );
    up(&mut k, &b, "p0");
    assert_eq!(
        link(&k, &a, "v0").kernel_addresses,
        vec![net("fe80::106d:e3ff:fe19:f60/64")]
    );
    assert_eq!(link(&k, &b, "p0").kernel_addresses.len(), 1);
}

#[test]
fn a_dummy_gets_its_link_local_address_when_up() {
    let mut k = kernel();
    let a = ns("a");
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: LinkSpec {
                mac: Some(mac("02:00:00:00:00:bb")),
                up: true,
                ..managed("d0")
            },
            kind: NewLink::Dummy,
        },
    );
    assert_eq!(
        link(&k, &a, "d0").kernel_addresses,
        vec![net("fe80::ff:fe00:bb/64")]
    );
}

#[test]
fn link_local_addresses_can_be_switched_off() {
    let mut k = SimKernel::new(SimConfig {
        ipv6_link_local: false,
        ..SimConfig::default()
    });
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    ok(
        &mut k,
        Op::CreateLink {
            ns: ns("a"),
            link: LinkSpec {
                up: true,
                ..managed("d0")
            },
            kind: NewLink::Dummy,
        },
    );
    assert!(link(&k, &ns("a"), "d0").kernel_addresses.is_empty());
}

// ----- addresses -----

#[test]
fn address_on_a_missing_link_is_enodev() {
    let mut k = kernel();
    assert_eq!(
        errno(
            &mut k,
            Op::AddAddress {
                ns: ns("a"),
                link: "nope".into(),
                addr: net("10.0.0.1/24")
            }
        ),
        ENODEV
    );
    assert_eq!(
        errno(
            &mut k,
            Op::DelAddress {
                ns: ns("a"),
                link: "nope".into(),
                addr: net("10.0.0.1/24")
            }
        ),
        ENODEV
    );
}

#[test]
fn duplicate_ipv4_address_is_eexist_but_another_prefix_length_is_not() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "10.1.0.1/24");
    assert_eq!(
        errno(
            &mut k,
            Op::AddAddress {
                ns: a.clone(),
                link: "d0".into(),
                addr: net("10.1.0.1/24")
            }
        ),
        EEXIST
    );
    add_addr(&mut k, &a, "d0", "10.1.0.1/16");
    assert_eq!(
        link(&k, &a, "d0").addresses,
        vec![net("10.1.0.1/16"), net("10.1.0.1/24")]
    );
}

#[test]
fn duplicate_ipv6_address_is_eexist_whatever_its_prefix_length() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "fd00::1/64");
    assert_eq!(
        errno(
            &mut k,
            Op::AddAddress {
                ns: a.clone(),
                link: "d0".into(),
                addr: net("fd00::1/64")
            }
        ),
        EEXIST
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddAddress {
                ns: a.clone(),
                link: "d0".into(),
                addr: net("fd00::1/48")
            }
        ),
        EEXIST
    );
    dummy(&mut k, &a, "d1");
    add_addr(&mut k, &a, "d1", "fd00::1/64");
}

#[test]
fn addresses_can_be_added_to_a_down_link() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "10.1.0.1/24");
    add_addr(&mut k, &a, "d0", "fd00::1/64");
    up(&mut k, &a, "d0");
    assert_eq!(
        link(&k, &a, "d0").addresses,
        vec![net("10.1.0.1/24"), net("fd00::1/64")]
    );
}

#[test]
fn deleting_a_missing_address_is_eaddrnotavail() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "10.1.0.1/24");
    add_addr(&mut k, &a, "d0", "fd00::1/64");
    for missing in ["10.9.9.9/24", "10.1.0.1/23", "fd00::9/64", "fd00::1/48"] {
        assert_eq!(
            errno(
                &mut k,
                Op::DelAddress {
                    ns: a.clone(),
                    link: "d0".into(),
                    addr: net(missing)
                }
            ),
            EADDRNOTAVAIL,
            "{missing}"
        );
    }
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "d0".into(),
            addr: net("fd00::1/64"),
        },
    );
    assert_eq!(link(&k, &a, "d0").addresses, vec![net("10.1.0.1/24")]);
}

#[test]
fn deleting_the_primary_ipv4_address_deletes_its_secondaries() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "10.1.0.1/24");
    add_addr(&mut k, &a, "d0", "10.1.0.2/24");
    add_addr(&mut k, &a, "d0", "10.1.0.3/16");
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "d0".into(),
            addr: net("10.1.0.1/24"),
        },
    );
    assert_eq!(link(&k, &a, "d0").addresses, vec![net("10.1.0.3/16")]);
}

#[test]
fn deleting_a_secondary_ipv4_address_keeps_the_primary() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    add_addr(&mut k, &a, "d0", "10.1.0.1/24");
    add_addr(&mut k, &a, "d0", "10.1.0.2/24");
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "d0".into(),
            addr: net("10.1.0.2/24"),
        },
    );
    assert_eq!(link(&k, &a, "d0").addresses, vec![net("10.1.0.1/24")]);
}

#[test]
fn promote_secondaries_keeps_secondaries() {
    let mut k = SimKernel::new(SimConfig {
        promote_secondaries: true,
        ..SimConfig::default()
    });
    let d = Netns::Default;
    dummy(&mut k, &d, "d0");
    add_addr(&mut k, &d, "d0", "10.1.0.1/24");
    add_addr(&mut k, &d, "d0", "10.1.0.2/24");
    ok(
        &mut k,
        Op::DelAddress {
            ns: d.clone(),
            link: "d0".into(),
            addr: net("10.1.0.1/24"),
        },
    );
    assert_eq!(link(&k, &d, "d0").addresses, vec![net("10.1.0.2/24")]);
}

#[test]
fn deleting_the_last_ipv4_address_flushes_the_links_ipv4_routes() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Link,
            ..route("v0", "10.30.0.0/24", None)
        },
    );
    add_route(&mut k, &a, route("v0", "10.31.0.0/24", Some("10.30.0.5")));
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", Some("10.1.0.2")));
    add_route(&mut k, &a, route("v0", "fd02::/64", Some("fd00::2")));
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "v0".into(),
            addr: net("10.1.0.1/24"),
        },
    );
    assert_eq!(
        routes(&k, &a),
        vec![RouteSpec {
            metric: 1024,
            ..route("v0", "fd02::/64", Some("fd00::2"))
        }]
    );
}

#[test]
fn deleting_an_address_keeps_gateway_routes_through_its_subnet() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_addr(&mut k, &a, "v0", "10.1.1.1/24");
    add_addr(&mut k, &a, "v0", "fd10::1/64");
    add_route(&mut k, &a, route("v0", "10.20.0.0/24", Some("10.1.0.2")));
    add_route(&mut k, &a, route("v0", "fd20::/64", Some("fd00::2")));
    let before = routes(&k, &a);
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "v0".into(),
            addr: net("10.1.0.1/24"),
        },
    );
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "v0".into(),
            addr: net("fd00::1/64"),
        },
    );
    assert_eq!(routes(&k, &a), before);
    // ...but a new route through the vanished subnet is refused.
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.21.0.0/24", Some("10.1.0.2"))
            }
        ),
        ENETUNREACH
    );
}

// ----- routes -----

#[test]
fn route_needs_an_existing_device() {
    let mut k = kernel();
    let a = ns("a");
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("nope", "10.2.0.0/24", None)
            }
        ),
        ENODEV
    );
    assert_eq!(
        errno(
            &mut k,
            Op::ReplaceRoute {
                ns: a.clone(),
                route: route("nope", "fd02::/64", None)
            }
        ),
        ENODEV
    );
    assert_eq!(
        errno(
            &mut k,
            Op::DelRoute {
                ns: a.clone(),
                route: route("nope", "10.2.0.0/24", None)
            }
        ),
        ENODEV
    );
}

#[test]
fn route_needs_its_device_up() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    veth(&mut k, &a, "v0", &b, "p0");
    add_addr(&mut k, &a, "v0", "10.1.0.1/24");
    add_addr(&mut k, &a, "v0", "fd00::1/64");
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.2.0.0/24", None)
            }
        ),
        ENETDOWN
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd01::/64", None)
            }
        ),
        ENETDOWN
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.2.0.0/24", Some("10.1.0.2"))
            }
        ),
        ENETUNREACH
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd02::/64", Some("fd00::2"))
            }
        ),
        EHOSTUNREACH
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd04::/64", Some("fe80::2"))
            }
        ),
        ENETDOWN
    );
    // Up without carrier (peer down) is enough.
    up(&mut k, &a, "v0");
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", None));
    add_route(&mut k, &a, route("v0", "fd01::/64", None));
    add_route(&mut k, &a, route("v0", "10.3.0.0/24", Some("10.1.0.2")));
    add_route(&mut k, &a, route("v0", "fd02::/64", Some("fd00::2")));
    add_route(&mut k, &a, route("v0", "fd04::/64", Some("fe80::2")));
    assert_eq!(routes(&k, &a).len(), 5);
}

#[test]
fn route_needs_a_reachable_gateway() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.3.0.0/24", Some("10.9.0.2"))
            }
        ),
        ENETUNREACH
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd03::/64", Some("fd09::2"))
            }
        ),
        EHOSTUNREACH
    );
    // A subnet on another device does not count.
    veth(&mut k, &a, "v1", &ns("b"), "p1");
    up(&mut k, &a, "v1");
    add_addr(&mut k, &a, "v1", "10.8.0.1/24");
    add_addr(&mut k, &a, "v1", "fd08::1/64");
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.9.0.0/24", Some("10.8.0.2"))
            }
        ),
        ENETUNREACH
    );
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v1", "fd09::/64", Some("fd00::2"))
            }
        ),
        EHOSTUNREACH
    );
    // The device's own address is a valid gateway.
    add_route(&mut k, &a, route("v0", "10.6.0.0/24", Some("10.1.0.1")));
}

#[test]
fn a_static_device_route_makes_its_gateways_reachable() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Link,
            ..route("v0", "10.30.0.0/24", None)
        },
    );
    add_route(&mut k, &a, route("v0", "10.31.0.0/24", Some("10.30.0.5")));
    add_route(&mut k, &a, route("v0", "fd30::/64", None));
    add_route(&mut k, &a, route("v0", "fd31::/64", Some("fd30::5")));
    // A global-scope device route is not consulted for an IPv4 gateway.
    add_route(&mut k, &a, route("v0", "10.40.0.0/24", None));
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.41.0.0/24", Some("10.40.0.5"))
            }
        ),
        ENETUNREACH
    );
}

#[test]
fn a_gateway_route_does_not_make_its_gateways_reachable() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "fd30::/64", Some("fd00::2")));
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd31::/64", Some("fd30::5"))
            }
        ),
        EHOSTUNREACH
    );
}

#[test]
fn host_scope_route_with_a_gateway_is_einval() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    let r = RouteSpec {
        scope: RouteScope::Host,
        ..route("v0", "10.5.0.0/24", Some("10.1.0.2"))
    };
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: r
            }
        ),
        EINVAL
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Host,
            ..route("v0", "10.5.0.0/24", None)
        },
    );
}

#[test]
fn link_scope_route_with_a_gateway_in_a_subnet_is_enetunreach() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    let r = RouteSpec {
        scope: RouteScope::Link,
        ..route("v0", "10.5.0.0/24", Some("10.1.0.2"))
    };
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: r
            }
        ),
        ENETUNREACH
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Site,
            ..route("v0", "10.6.0.0/24", Some("10.1.0.2"))
        },
    );
}

#[test]
fn gateway_of_the_other_family_is_enetunreach_for_ipv4_and_erange_for_ipv6() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    let v4 = Op::AddRoute {
        ns: a.clone(),
        route: route("v0", "10.5.0.0/24", Some("fd00::2")),
    };
    assert_eq!(errno(&mut k, v4), ENETUNREACH);
    let v6 = Op::AddRoute {
        ns: a.clone(),
        route: route("v0", "fd05::/64", Some("10.1.0.2")),
    };
    assert_eq!(errno(&mut k, v6), ERANGE);
    assert!(routes(&k, &a).is_empty());
}

#[test]
fn multicast_ipv6_gateway_is_einval() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "fd40::/64", Some("ff02::1"))
            }
        ),
        EINVAL
    );
}

#[test]
fn ipv4_destination_with_host_bits_is_einval_ipv6_is_masked() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    assert_eq!(
        errno(
            &mut k,
            Op::AddRoute {
                ns: a.clone(),
                route: route("v0", "10.2.0.5/24", None)
            }
        ),
        EINVAL
    );
    assert_eq!(
        errno(
            &mut k,
            Op::DelRoute {
                ns: a.clone(),
                route: route("v0", "10.2.0.5/24", None)
            }
        ),
        EINVAL
    );
    add_route(&mut k, &a, route("v0", "fd01::5/64", None));
    assert_eq!(
        routes(&k, &a),
        vec![RouteSpec {
            metric: 1024,
            ..route("v0", "fd01::/64", None)
        }]
    );
}

#[test]
fn ipv6_routes_get_metric_1024_for_0_and_global_scope() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Link,
            ..route("v0", "fd05::/64", None)
        },
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 5,
            ..route("v0", "fd06::/64", None)
        },
    );
    assert_eq!(
        routes(&k, &a),
        vec![
            RouteSpec {
                metric: 1024,
                ..route("v0", "fd05::/64", None)
            },
            RouteSpec {
                metric: 5,
                ..route("v0", "fd06::/64", None)
            }
        ]
    );
}

#[test]
fn add_route_replaces_the_route_with_the_same_destination_and_metric() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    veth(&mut k, &a, "v1", &b, "p1");
    up(&mut k, &a, "v1");
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 5,
            ..route("v0", "10.3.0.0/24", None)
        },
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 5,
            ..route("v1", "10.3.0.0/24", None)
        },
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 5,
            ..route("v0", "fd03::/64", None)
        },
    );
    ok(
        &mut k,
        Op::ReplaceRoute {
            ns: a.clone(),
            route: RouteSpec {
                metric: 5,
                ..route("v1", "fd03::/64", None)
            },
        },
    );
    add_route(&mut k, &a, route("v0", "10.7.0.0/24", Some("10.1.0.2")));
    ok(
        &mut k,
        Op::ReplaceRoute {
            ns: a.clone(),
            route: route("v0", "10.7.0.0/24", Some("10.1.0.3")),
        },
    );
    assert_eq!(
        routes(&k, &a),
        vec![
            route("v0", "10.7.0.0/24", Some("10.1.0.3")),
            RouteSpec {
                metric: 5,
                ..route("v1", "10.3.0.0/24", None)
            },
            RouteSpec {
                metric: 5,
                ..route("v1", "fd03::/64", None)
            },
        ]
    );
}

#[test]
fn routes_differing_in_metric_coexist() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 5,
            ..route("v0", "10.4.0.0/24", Some("10.1.0.2"))
        },
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 6,
            ..route("v0", "10.4.0.0/24", Some("10.1.0.2"))
        },
    );
    assert_eq!(routes(&k, &a).len(), 2);
}

#[test]
fn replace_route_creates_a_missing_route() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    ok(
        &mut k,
        Op::ReplaceRoute {
            ns: a.clone(),
            route: route("v0", "10.7.0.0/24", Some("10.1.0.2")),
        },
    );
    assert_eq!(
        routes(&k, &a),
        vec![route("v0", "10.7.0.0/24", Some("10.1.0.2"))]
    );
}

#[test]
fn a_refused_route_leaves_the_existing_one() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "10.7.0.0/24", Some("10.1.0.2")));
    assert_eq!(
        errno(
            &mut k,
            Op::ReplaceRoute {
                ns: a.clone(),
                route: route("v0", "10.7.0.0/24", Some("10.9.0.2"))
            }
        ),
        ENETUNREACH
    );
    assert_eq!(
        routes(&k, &a),
        vec![route("v0", "10.7.0.0/24", Some("10.1.0.2"))]
    );
}

#[test]
fn deleting_a_missing_route_is_esrch() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    veth(&mut k, &a, "v1", &b, "p1");
    up(&mut k, &a, "v1");
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 5,
            ..route("v0", "10.4.0.0/24", Some("10.1.0.2"))
        },
    );
    add_route(&mut k, &a, route("v0", "fd04::/64", None));
    let misses = [
        route("v0", "10.77.0.0/24", None),
        RouteSpec {
            metric: 7,
            ..route("v0", "10.4.0.0/24", None)
        },
        RouteSpec {
            metric: 5,
            ..route("v0", "10.4.0.0/24", Some("10.1.0.9"))
        },
        RouteSpec {
            metric: 5,
            ..route("v1", "10.4.0.0/24", None)
        },
        route("v0", "fd77::/64", None),
        RouteSpec {
            metric: 7,
            ..route("v0", "fd04::/64", None)
        },
    ];
    for r in misses {
        assert_eq!(
            errno(
                &mut k,
                Op::DelRoute {
                    ns: a.clone(),
                    route: r.clone()
                }
            ),
            ESRCH,
            "{r:?}"
        );
    }
    assert_eq!(routes(&k, &a).len(), 2);
    ok(
        &mut k,
        Op::DelRoute {
            ns: a.clone(),
            route: RouteSpec {
                metric: 5,
                ..route("v0", "10.4.0.0/24", Some("10.1.0.2"))
            },
        },
    );
    ok(
        &mut k,
        Op::DelRoute {
            ns: a.clone(),
            route: RouteSpec {
                metric: 1024,
                ..route("v0", "fd04::/64", None)
            },
        },
    );
    assert!(routes(&k, &a).is_empty());
}

#[test]
fn deleting_a_route_with_metric_0_matches_any_metric() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 7,
            ..route("v0", "fd04::/64", None)
        },
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            metric: 7,
            ..route("v0", "10.4.0.0/24", None)
        },
    );
    ok(
        &mut k,
        Op::DelRoute {
            ns: a.clone(),
            route: route("v0", "fd04::/64", None),
        },
    );
    ok(
        &mut k,
        Op::DelRoute {
            ns: a.clone(),
            route: route("v0", "10.4.0.0/24", None),
        },
    );
    assert!(routes(&k, &a).is_empty());
}

// ----- neighbours -----

#[test]
fn set_neighbour_creates_or_replaces() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:06"),
        },
    );
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.200.0.5"),
            mac: mac("02:00:00:00:00:07"),
        },
    );
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("fd00::5"),
            mac: mac("02:00:00:00:00:07"),
        },
    );
    assert_eq!(
        neighbours(&k, &a, "v0"),
        vec![
            (ip("10.1.0.5"), mac("02:00:00:00:00:06")),
            (ip("10.200.0.5"), mac("02:00:00:00:00:07")),
            (ip("fd00::5"), mac("02:00:00:00:00:07")),
        ]
    );
}

#[test]
fn neighbour_on_a_missing_link_is_enodev() {
    let mut k = kernel();
    let set = Op::SetNeighbour {
        ns: ns("a"),
        link: "nope".into(),
        ip: ip("10.1.0.5"),
        mac: mac("02:00:00:00:00:05"),
    };
    assert_eq!(errno(&mut k, set), ENODEV);
    assert_eq!(
        errno(
            &mut k,
            Op::DelNeighbour {
                ns: ns("a"),
                link: "nope".into(),
                ip: ip("10.1.0.5")
            }
        ),
        ENODEV
    );
}

#[test]
fn neighbour_on_a_down_link_survives_it_coming_up() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "d0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    up(&mut k, &a, "d0");
    assert_eq!(neighbours(&k, &a, "d0").len(), 1);
}

#[test]
fn deleting_a_missing_neighbour_is_enoent() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    assert_eq!(
        errno(
            &mut k,
            Op::DelNeighbour {
                ns: a.clone(),
                link: "v0".into(),
                ip: ip("10.1.0.99")
            }
        ),
        ENOENT
    );
    assert_eq!(
        errno(
            &mut k,
            Op::DelNeighbour {
                ns: a.clone(),
                link: "v0".into(),
                ip: ip("fd00::99")
            }
        ),
        ENOENT
    );
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    ok(
        &mut k,
        Op::DelNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
        },
    );
    assert!(neighbours(&k, &a, "v0").is_empty());
}

// ----- faults -----

#[test]
fn injected_faults_fail_the_next_n_operations_without_effect() {
    let mut k = kernel();
    let a = ns("a");
    k.fail_next(2, Fault::Errno(ENOBUFS));
    let before = k.dump();
    for name in ["d0", "d1"] {
        let e = err(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: spec(name),
                kind: NewLink::Dummy,
            },
        );
        assert_eq!((e.errno, e.kind), (Some(ENOBUFS), ErrorKind::Busy));
    }
    assert_eq!(k.dump(), before);
    assert_eq!(k.pending_faults(), 0);
    dummy(&mut k, &a, "d0");
}

#[test]
fn injected_namespace_gone_reports_namespace_gone() {
    let mut k = kernel();
    k.fail_next(1, Fault::NamespaceGone);
    let e = err(
        &mut k,
        Op::CreateLink {
            ns: ns("a"),
            link: spec("d0"),
            kind: NewLink::Dummy,
        },
    );
    assert_eq!((e.kind, e.errno), (ErrorKind::NamespaceGone, None));
    assert!(
        k.contains_namespace(&ns("a")),
        "an injected failure does not remove the namespace"
    );
}

#[test]
fn injected_faults_queue_in_order_and_can_be_cleared() {
    let mut k = kernel();
    k.fail_next(1, Fault::Errno(EBUSY));
    k.fail_next(1, Fault::Errno(ENOBUFS));
    let op = Op::CreateLink {
        ns: ns("a"),
        link: spec("d0"),
        kind: NewLink::Dummy,
    };
    assert_eq!(errno(&mut k, op.clone()), EBUSY);
    assert_eq!(errno(&mut k, op.clone()), ENOBUFS);
    k.fail_next(5, Fault::Errno(EBUSY));
    assert_eq!(k.pending_faults(), 5);
    k.clear_faults();
    ok(&mut k, op);
}

#[test]
fn counters_count_applied_refused_and_injected_operations() {
    let mut k = SimKernel::default();
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    let _ = k.apply(&Op::DeleteLink {
        ns: ns("a"),
        name: "nope".into(),
    });
    let _ = k.apply(&Op::DeleteLink {
        ns: ns("gone"),
        name: "nope".into(),
    });
    k.fail_next(1, Fault::Errno(EBUSY));
    let _ = k.apply(&Op::CreateNamespace { name: "b".into() });
    let c = k.counters();
    assert_eq!((c.ops_applied, c.ops_refused, c.ops_injected), (1, 2, 1));
}

#[test]
fn apply_batch_applies_each_command_in_order() {
    let mut k = kernel();
    let cmds = vec![
        nsagent_core::Command {
            id: nsagent_core::CommandId(1),
            op: Op::CreateLink {
                ns: ns("a"),
                link: spec("d0"),
                kind: NewLink::Dummy,
            },
        },
        nsagent_core::Command {
            id: nsagent_core::CommandId(2),
            op: Op::DeleteLink {
                ns: ns("a"),
                name: "nope".into(),
            },
        },
    ];
    let results = k.apply_batch(&cmds);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().map_err(|e| e.errno), Err(Some(ENODEV)));
}

// ----- namespaces vanishing and appearing -----

#[test]
fn vanished_namespace_takes_veth_peers_with_it() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    add_route(&mut k, &a, route("v0", "10.2.0.0/24", Some("10.1.0.2")));
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "v0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    veth(&mut k, &a, "v1", &Netns::Default, "h1");
    dummy(&mut k, &a, "keep");
    let destroyed = k.vanish(&b).expect("vanish");
    assert_eq!(destroyed, vec![(a.clone(), "v0".to_string())]);
    assert!(!k.contains_namespace(&b));
    assert!(!has_link(&k, &a, "v0"));
    assert!(routes(&k, &a).is_empty());
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    assert!(snap.namespaces[0].neighbours.is_empty());
    assert!(
        has_link(&k, &a, "v1") && has_link(&k, &a, "keep") && has_link(&k, &Netns::Default, "h1")
    );
    let destroyed = k.vanish(&a).expect("vanish");
    assert_eq!(destroyed, vec![(Netns::Default, "h1".to_string())]);
    assert!(!has_link(&k, &Netns::Default, "h1"));
}

#[test]
fn vanishing_a_missing_namespace_is_an_error() {
    let mut k = kernel();
    assert_eq!(
        k.vanish(&ns("nope")),
        Err(SimError::NoSuchNamespace(ns("nope")))
    );
}

#[test]
fn an_appearing_namespace_holds_only_lo() {
    let mut k = kernel();
    k.appear(Netns::Pid(4242)).expect("appear");
    let dump = k.dump();
    let n = dump.namespace(&Netns::Pid(4242)).expect("namespace");
    assert_eq!(
        n.unmanaged
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        vec!["lo"]
    );
    assert!(n.managed.is_empty());
    assert_eq!(
        k.appear(Netns::Pid(4242)),
        Err(SimError::NamespaceExists(Netns::Pid(4242)))
    );
}

#[test]
fn a_namespace_that_reappears_is_empty() {
    let mut k = kernel();
    let p = Netns::Pid(7);
    k.appear(p.clone()).expect("appear");
    dummy(&mut k, &p, "d0");
    k.vanish(&p).expect("vanish");
    assert_eq!(
        errno_or_kind(
            &mut k,
            Op::DeleteLink {
                ns: p.clone(),
                name: "d0".into()
            }
        ),
        Err(ErrorKind::NamespaceGone)
    );
    k.appear(p.clone()).expect("appear");
    assert!(!has_link(&k, &p, "d0"));
}

fn errno_or_kind(k: &mut SimKernel, op: Op) -> Result<i32, ErrorKind> {
    let e = err(k, op);
    e.errno.ok_or(e.kind)
}

// ----- microservices -----

#[test]
fn a_started_microservice_gets_a_fresh_pid_and_its_namespace() {
    let mut k = SimKernel::default();
    let ms1 = k.start_microservice("ms1").expect("start");
    let ms2 = k.start_microservice("ms2").expect("start");
    assert_eq!((ms1.pid, ms2.pid), (10_000, 10_001));
    assert_ne!(ms1.container_id, ms2.container_id);
    assert!(k.contains_namespace(&Netns::Pid(ms1.pid)));
    assert_eq!(k.microservice("ms1"), Some(&ms1));
    assert_eq!(k.microservices(), vec![ms1.clone(), ms2]);
    assert_eq!(
        ms1.started_event(),
        Event::MicroserviceStarted {
            label: "ms1".into(),
            container_id: ms1.container_id.clone(),
            pid: 10_000,
            duplicates: vec![]
        }
    );
    assert_eq!(
        ms1.stopped_event(),
        Event::MicroserviceStopped {
            label: "ms1".into(),
            container_id: ms1.container_id.clone()
        }
    );
}

#[test]
fn microservice_pids_skip_namespaces_that_exist() {
    let mut k = SimKernel::default();
    k.appear(Netns::Pid(10_000)).expect("appear");
    assert_eq!(k.start_microservice("ms").expect("start").pid, 10_001);
}

#[test]
fn starting_a_running_microservice_or_stopping_a_stopped_one_is_an_error() {
    let mut k = SimKernel::default();
    k.start_microservice("ms").expect("start");
    assert_eq!(
        k.start_microservice("ms"),
        Err(SimError::AlreadyRunning("ms".into()))
    );
    k.stop_microservice("ms").expect("stop");
    assert_eq!(
        k.stop_microservice("ms"),
        Err(SimError::NotRunning("ms".into()))
    );
    assert_eq!(
        k.restart_microservice("ms"),
        Err(SimError::NotRunning("ms".into()))
    );
}

#[test]
fn stopping_a_microservice_vanishes_its_namespace_and_veth_peers() {
    let mut k = SimKernel::default();
    let ms = k.start_microservice("ms").expect("start");
    veth(&mut k, &Netns::Default, "h0", &ms.netns(), "eth0");
    let stopped = k.stop_microservice("ms").expect("stop");
    assert_eq!(stopped, ms);
    assert!(!k.contains_namespace(&ms.netns()));
    assert!(!has_link(&k, &Netns::Default, "h0"));
}

#[test]
fn restarting_a_microservice_gives_a_new_pid_and_an_empty_namespace() {
    let mut k = SimKernel::default();
    let ms = k.start_microservice("ms").expect("start");
    veth(&mut k, &Netns::Default, "h0", &ms.netns(), "eth0");
    let (old, new) = k.restart_microservice("ms").expect("restart");
    assert_eq!(old, ms);
    assert_ne!(new.pid, old.pid);
    assert_ne!(new.container_id, old.container_id);
    assert!(!k.contains_namespace(&old.netns()));
    assert!(!has_link(&k, &new.netns(), "eth0") && has_link(&k, &new.netns(), "lo"));
    assert!(!has_link(&k, &Netns::Default, "h0"));
}

#[test]
fn stopping_a_microservice_whose_namespace_already_vanished_works() {
    let mut k = SimKernel::default();
    let ms = k.start_microservice("ms").expect("start");
    k.vanish(&ms.netns()).expect("vanish");
    assert_eq!(k.stop_microservice("ms"), Ok(ms));
}

// ----- seeds -----

#[test]
fn seeded_links_are_unmanaged_and_kept_apart_in_the_dump() {
    let mut k = kernel();
    let a = ns("a");
    let seed = SeedLink {
        up: true,
        addresses: vec![net("192.168.1.2/24")],
        ..SeedLink::new("eth0", SeedKind::Other)
    };
    k.seed_link(&Netns::Default, seed).expect("seed");
    k.seed_link(&a, SeedLink::new("dummy0", SeedKind::Dummy))
        .expect("seed");
    dummy(&mut k, &a, "d0");
    let dump = k.dump();
    assert_eq!(
        dump.managed()
            .iter()
            .map(|(n, l)| (n.clone(), l.name.clone()))
            .collect::<Vec<_>>(),
        vec![(a.clone(), "d0".to_string())]
    );
    let unmanaged: Vec<(Netns, String)> = dump
        .unmanaged()
        .into_iter()
        .map(|(n, l)| (n, l.name))
        .collect();
    assert_eq!(
        unmanaged,
        vec![
            (Netns::Default, "eth0".to_string()),
            (Netns::Default, "lo".to_string()),
            (a.clone(), "dummy0".to_string()),
            (a.clone(), "lo".to_string()),
            (ns("b"), "lo".to_string()),
        ]
    );
    let eth0 = link(&k, &Netns::Default, "eth0");
    assert_eq!(
        (eth0.kind, eth0.up, eth0.addresses.clone()),
        (LinkKind::Other, true, vec![net("192.168.1.2/24")])
    );
    assert_eq!(
        eth0.kernel_addresses.len(),
        1,
        "an up link with carrier has its link-local address"
    );
}

#[test]
fn a_seeded_link_with_the_agents_alias_is_managed() {
    let mut k = kernel();
    let seed = SeedLink {
        alias: Some("nsagent:stale".into()),
        ..SeedLink::new("stale0", SeedKind::Dummy)
    };
    k.seed_link(&ns("a"), seed).expect("seed");
    assert!(link(&k, &ns("a"), "stale0").is_managed());
    ok(
        &mut k,
        Op::DeleteLink {
            ns: ns("a"),
            name: "stale0".into(),
        },
    );
}

#[test]
fn bad_seeds_are_refused() {
    let mut k = kernel();
    let a = ns("a");
    let bad = |k: &mut SimKernel, seed: SeedLink| {
        matches!(k.seed_link(&ns("a"), seed), Err(SimError::BadSeed { .. }))
    };
    assert!(bad(&mut k, SeedLink::new("lo", SeedKind::Dummy)));
    assert!(bad(&mut k, SeedLink::new("a/b", SeedKind::Dummy)));
    assert!(bad(
        &mut k,
        SeedLink {
            mtu: 10,
            ..SeedLink::new("d0", SeedKind::Dummy)
        }
    ));
    assert!(bad(
        &mut k,
        SeedLink {
            mac: Some(mac("01:00:00:00:00:01")),
            ..SeedLink::new("d0", SeedKind::Dummy)
        }
    ));
    assert!(bad(
        &mut k,
        SeedLink {
            addresses: vec![net("10.0.0.1/24"), net("10.0.0.1/24")],
            ..SeedLink::new("d0", SeedKind::Dummy)
        }
    ));
    assert_eq!(
        k.seed_link(&ns("nope"), SeedLink::new("d0", SeedKind::Dummy)),
        Err(SimError::NoSuchNamespace(ns("nope")))
    );
    assert!(!has_link(&k, &a, "d0"));
    assert!(matches!(
        k.seed_route(&a, route("nope", "10.0.0.0/8", None), 3),
        Err(SimError::BadSeed { .. })
    ));
    assert_eq!(
        k.seed_route(&ns("nope"), route("lo", "10.0.0.0/8", None), 3),
        Err(SimError::NoSuchNamespace(ns("nope")))
    );
}

#[test]
fn seeds_neither_count_as_operations_nor_meet_faults() {
    let mut k = kernel();
    k.fail_next(1, Fault::Errno(EBUSY));
    k.seed_link(&ns("a"), SeedLink::new("d9", SeedKind::Dummy))
        .expect("seed");
    assert_eq!(k.pending_faults(), 1);
    assert_eq!(k.counters().ops_applied, 2);
}

// ----- observe -----

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
fn deleting_a_route_matches_any_scope() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Link,
            ..route("v0", "10.4.0.0/24", None)
        },
    );
    let other_scope = RouteSpec {
        scope: RouteScope::Host,
        ..route("v0", "10.4.0.0/24", None)
    };
    ok(
        &mut k,
        Op::DelRoute {
            ns: a.clone(),
            route: other_scope,
        },
    );
    assert!(routes(&k, &a).is_empty());
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

// ----- dump and determinism -----

#[test]
fn the_dump_is_canonical_whatever_the_order_of_operations() {
    let build = |order: &[&str]| {
        let mut k = kernel();
        let a = ns("a");
        dummy(&mut k, &a, "d0");
        up(&mut k, &a, "d0");
        for addr in order {
            add_addr(&mut k, &a, "d0", addr);
        }
        for n in ["10.3.0.0/24", "10.2.0.0/24"] {
            add_route(&mut k, &a, route("d0", n, None));
        }
        k.dump()
    };
    assert_eq!(
        build(&["10.1.0.1/24", "fd00::1/64", "10.2.0.1/24"]),
        build(&["fd00::1/64", "10.2.0.1/24", "10.1.0.1/24"])
    );
}

#[test]
fn the_same_operations_give_the_same_kernel() {
    let run = || {
        let mut k = SimKernel::default();
        let ms = k.start_microservice("ms").expect("start");
        veth(&mut k, &Netns::Default, "h0", &ms.netns(), "eth0");
        up(&mut k, &Netns::Default, "h0");
        up(&mut k, &ms.netns(), "eth0");
        add_addr(&mut k, &ms.netns(), "eth0", "10.1.0.2/24");
        add_route(
            &mut k,
            &ms.netns(),
            route("eth0", "0.0.0.0/0", Some("10.1.0.1")),
        );
        let snap = k.observe(&k.namespaces()).expect("observe");
        (k.dump(), snap, k.counters())
    };
    assert_eq!(run(), run());
}

// ----- neighbour flushes found later -----

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

#[test]
fn changing_the_mac_flushes_the_links_neighbours_even_to_the_same_mac() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    dummy(&mut k, &a, "d1");
    both_neighbours(&mut k, &a, "v0");
    both_neighbours(&mut k, &a, "d1");
    let same = link(&k, &a, "v0").mac;
    assert_eq!(
        set(
            &mut k,
            &a,
            "v0",
            LinkChange {
                mac: Some(same),
                ..Default::default()
            }
        ),
        Ok(())
    );
    assert!(neighbours(&k, &a, "v0").is_empty());
    assert_eq!(neighbours(&k, &a, "d1").len(), 2, "other links keep theirs");
    both_neighbours(&mut k, &a, "v0");
    down(&mut k, &a, "v0");
    both_neighbours(&mut k, &a, "v0");
    assert_eq!(
        set(
            &mut k,
            &a,
            "v0",
            LinkChange {
                mac: Some(mac("02:00:00:00:00:dd")),
                ..Default::default()
            }
        ),
        Ok(())
    );
    assert!(neighbours(&k, &a, "v0").is_empty(), "also while down");
}

#[test]
fn a_refused_mac_change_keeps_the_neighbours() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    both_neighbours(&mut k, &a, "v0");
    let e = set(
        &mut k,
        &a,
        "v0",
        LinkChange {
            mac: Some(mac("01:00:00:00:00:01")),
            ..Default::default()
        },
    );
    assert_eq!(e.map_err(|e| e.errno), Err(Some(EADDRNOTAVAIL)));
    assert_eq!(neighbours(&k, &a, "v0").len(), 2);
}

#[test]
fn mtu_alias_and_carrier_changes_keep_the_neighbours() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    both_neighbours(&mut k, &a, "v0");
    let change = LinkChange {
        mtu: Some(1400),
        alias: Some("nsagent:renamed".into()),
        ..Default::default()
    };
    assert_eq!(set(&mut k, &a, "v0", change), Ok(()));
    down(&mut k, &b, "p0");
    assert_eq!(neighbours(&k, &a, "v0").len(), 2);
}

#[test]
fn deleting_the_last_ipv4_address_flushes_the_links_ipv4_neighbours() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_addr(&mut k, &a, "v0", "10.2.0.1/24");
    both_neighbours(&mut k, &a, "v0");
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "v0".into(),
            addr: net("fd00::1/64"),
        },
    );
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "v0".into(),
            addr: net("10.1.0.1/24"),
        },
    );
    assert_eq!(
        neighbours(&k, &a, "v0").len(),
        2,
        "neither an IPv6 nor a non-last IPv4 address takes neighbours"
    );
    ok(
        &mut k,
        Op::DelAddress {
            ns: a.clone(),
            link: "v0".into(),
            addr: net("10.2.0.1/24"),
        },
    );
    assert_eq!(
        neighbours(&k, &a, "v0"),
        vec![(ip("fd00::5"), mac("02:00:00:00:00:05"))]
    );
}

#[test]
fn ipv4_neighbours_need_no_ipv4_address() {
    let mut k = kernel();
    let a = ns("a");
    dummy(&mut k, &a, "d0");
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "d0".into(),
            ip: ip("10.1.0.5"),
            mac: mac("02:00:00:00:00:05"),
        },
    );
    add_addr(&mut k, &a, "d0", "10.1.0.1/24");
    assert_eq!(neighbours(&k, &a, "d0").len(), 1);
}

// ----- per-link bookkeeping -----

#[test]
fn a_replaced_route_belongs_to_its_new_device() {
    let mut k = kernel();
    let (a, b) = addressed_veth(&mut k);
    veth(&mut k, &a, "v1", &b, "p1");
    up(&mut k, &a, "v1");
    add_route(&mut k, &a, route("v0", "10.3.0.0/24", None));
    add_route(&mut k, &a, route("v1", "10.3.0.0/24", None));
    assert!(link(&k, &a, "v0").routes.is_empty());
    assert_eq!(link(&k, &a, "v1").routes.len(), 1);
    ok(
        &mut k,
        Op::DeleteLink {
            ns: a.clone(),
            name: "v0".into(),
        },
    );
    assert_eq!(routes(&k, &a), vec![route("v1", "10.3.0.0/24", None)]);
    down(&mut k, &a, "v1");
    assert!(routes(&k, &a).is_empty());
}

#[test]
fn one_links_neighbours_are_not_another_links_with_a_longer_name() {
    let mut k = kernel();
    let a = ns("a");
    for name in ["v0", "v0a", "v"] {
        dummy(&mut k, &a, name);
        both_neighbours(&mut k, &a, name);
    }
    ok(
        &mut k,
        Op::DeleteLink {
            ns: a.clone(),
            name: "v0".into(),
        },
    );
    assert_eq!(neighbours(&k, &a, "v0a").len(), 2);
    assert_eq!(neighbours(&k, &a, "v").len(), 2);
    let snap = k.observe(std::slice::from_ref(&a)).expect("observe");
    assert_eq!(snap.namespaces[0].neighbours.len(), 4);
}

#[test]
fn a_host_scope_device_route_or_an_own_address_serves_a_link_scope_gateway() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Host,
            ..route("v0", "10.43.0.0/24", None)
        },
    );
    add_route(&mut k, &a, route("v0", "10.44.0.0/24", Some("10.43.0.5")));
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Link,
            ..route("v0", "10.45.0.0/24", Some("10.43.0.5"))
        },
    );
    add_route(
        &mut k,
        &a,
        RouteSpec {
            scope: RouteScope::Link,
            ..route("v0", "10.46.0.0/24", Some("10.1.0.1"))
        },
    );
    assert_eq!(routes(&k, &a).len(), 4);
}

fn rename(k: &mut SimKernel, here: &Netns, name: &str, new_name: &str) -> Result<(), BackendError> {
    k.apply(&Op::RenameLink {
        ns: here.clone(),
        name: name.to_string(),
        new_name: new_name.to_string(),
    })
}

#[test]
fn rename_keeps_the_link_and_everything_on_it_and_its_peer_follows() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    veth(&mut k, &a, "ra", &b, "rb");
    up(&mut k, &a, "ra");
    up(&mut k, &b, "rb");
    add_addr(&mut k, &a, "ra", "10.7.0.1/24");
    add_route(&mut k, &a, route("ra", "10.8.0.0/24", Some("10.7.0.2")));
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "ra".into(),
            ip: ip("10.7.0.9"),
            mac: mac("02:00:00:00:00:09"),
        },
    );
    let before = link(&k, &a, "ra");

    rename(&mut k, &a, "ra", "ra-new").expect("an up link is renamed live");
    assert!(!has_link(&k, &a, "ra"));
    let after = link(&k, &a, "ra-new");
    assert_eq!(after.ifindex, before.ifindex);
    assert!(after.up);
    assert_eq!(after.addresses, before.addresses);
    assert_eq!(after.kernel_addresses, before.kernel_addresses);
    assert_eq!(after.neighbours, before.neighbours);
    assert!(
        !after.routes.is_empty() && after.routes.iter().all(|r| r.route.dev == "ra-new"),
        "{:?}",
        after.routes
    );
    assert_eq!(after.routes.len(), before.routes.len());
    assert_eq!(link(&k, &b, "rb").peer, Some((a.clone(), "ra-new".into())));

    // The pair is still one: deleting the far end takes the renamed end with it.
    ok(
        &mut k,
        Op::DeleteLink {
            ns: b.clone(),
            name: "rb".into(),
        },
    );
    assert!(!has_link(&k, &a, "ra-new"));
}

#[test]
fn rename_errors_are_the_kernels() {
    let mut k = kernel();
    let a = ns("a");
    veth(&mut k, &a, "x1", &a, "x2");
    let code = |r: Result<(), BackendError>| r.err().and_then(|e| e.errno);
    assert_eq!(code(rename(&mut k, &a, "x1", "x2")), Some(EEXIST));
    assert_eq!(code(rename(&mut k, &a, "x1", "lo")), Some(EEXIST));
    assert_eq!(code(rename(&mut k, &a, "nope", "x3")), Some(ENODEV));
    assert_eq!(
        code(rename(&mut k, &a, "x1", "a-name-too-long-x")),
        Some(ERANGE)
    );
    let gone = rename(&mut k, &ns("gone"), "x1", "x3").expect_err("no such namespace");
    assert_eq!(gone.kind, ErrorKind::NamespaceGone, "{gone}");
    rename(&mut k, &a, "x1", "x1").expect("its own name changes nothing");
    assert!(has_link(&k, &a, "x1") && has_link(&k, &a, "x2"));
}

#[test]
fn a_kernel_before_6_2_renames_only_links_that_are_down() {
    let mut k = SimKernel::new(SimConfig {
        live_rename: false,
        ..SimConfig::default()
    });
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    let a = ns("a");
    veth(&mut k, &a, "x1", &a, "x2");
    up(&mut k, &a, "x1");
    let busy = rename(&mut k, &a, "x1", "x3").expect_err("up");
    assert_eq!(busy.errno, Some(EBUSY), "{busy}");
    down(&mut k, &a, "x1");
    rename(&mut k, &a, "x1", "x3").expect("down");
    assert!(has_link(&k, &a, "x3"));
}
