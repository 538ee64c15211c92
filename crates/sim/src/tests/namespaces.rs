//! Namespaces: creation, `lo` and its addresses, ops in a missing namespace, vanishing and reappearing.

use super::*;

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
