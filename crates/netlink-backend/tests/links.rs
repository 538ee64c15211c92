//! Link commands against the real kernel, checked with `ip -j`.

mod common;

use common::*;
use nsagent_core::errno;
use nsagent_core::{ErrorKind, LinkChange, LinkSpec, MacAddr, NewLink, Op};
use nsagent_netlink::NetlinkBackend;

fn full_spec(name: &str, mac: [u8; 6], alias: &str) -> LinkSpec {
    LinkSpec {
        name: name.into(),
        mtu: Some(1400),
        mac: Some(MacAddr(mac)),
        alias: Some(alias.into()),
        up: true,
    }
}

fn flags(link: &serde_json::Value) -> Vec<String> {
    link["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

#[test]
fn veth_peer_is_created_in_its_namespace_with_every_attribute() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut backend = NetlinkBackend::new();
    let op = Op::CreateLink {
        ns: a.netns(),
        link: full_spec("va", [0x02, 0, 0, 0, 0, 0x0a], "nsagent:va"),
        kind: NewLink::Veth {
            peer_ns: b.netns(),
            peer: full_spec("vb", [0x02, 0, 0, 0, 0, 0x0b], "nsagent:vb"),
        },
    };
    apply(&mut backend, op).expect("create veth");
    for (ns, name, mac, alias) in [
        (&a, "va", "02:00:00:00:00:0a", "nsagent:va"),
        (&b, "vb", "02:00:00:00:00:0b", "nsagent:vb"),
    ] {
        let l = ns.link(name).unwrap_or_else(|| panic!("{name} exists"));
        assert_eq!(l["linkinfo"]["info_kind"], "veth");
        assert_eq!(l["mtu"], 1400);
        assert_eq!(l["address"], mac);
        assert_eq!(l["ifalias"], alias);
        assert!(flags(&l).contains(&"UP".to_string()), "{name} is up: {l}");
    }
    assert!(
        a.link("vb").is_none(),
        "the peer was never in the first namespace"
    );
}

#[test]
fn veth_with_both_ends_in_one_namespace() {
    let a = TestNs::new();
    let mut backend = NetlinkBackend::new();
    apply(&mut backend, veth(&a, "v1", &a, "v2")).expect("create veth");
    assert!(a.link("v1").is_some() && a.link("v2").is_some());
    assert!(
        !flags(&a.link("v1").unwrap()).contains(&"UP".to_string()),
        "down unless asked"
    );
}

#[test]
fn creating_a_taken_name_is_eexist_and_leaves_the_other_link_alone() {
    let a = TestNs::new();
    let b = TestNs::new();
    run(
        "ip",
        &[
            "-n", &a.name, "link", "add", "taken", "type", "veth", "peer", "name", "other",
        ],
    );
    let mut backend = NetlinkBackend::new();
    let op = Op::CreateLink {
        ns: a.netns(),
        link: LinkSpec {
            alias: Some("nsagent:x".into()),
            ..spec("taken")
        },
        kind: NewLink::Veth {
            peer_ns: b.netns(),
            peer: spec("p"),
        },
    };
    let err = apply(&mut backend, op).expect_err("name is taken");
    assert_eq!(err.errno, Some(errno::EEXIST));
    assert_eq!(err.kind, ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("create veth taken"), "{err}");
    assert!(
        a.link("taken").unwrap().get("ifalias").is_none(),
        "no alias on a link that is not ours"
    );
    assert!(b.link("p").is_none());
}

#[test]
fn dummy_creation_matches_what_the_kernel_supports() {
    let a = TestNs::new();
    let probe = std::process::Command::new("ip")
        .args(["-n", &a.name, "link", "add", "probe0", "type", "dummy"])
        .output()
        .expect("run ip");
    let mut backend = NetlinkBackend::new();
    let op = Op::CreateLink {
        ns: a.netns(),
        link: LinkSpec {
            alias: Some("nsagent:d".into()),
            ..spec("d0")
        },
        kind: NewLink::Dummy,
    };
    let result = apply(&mut backend, op);
    if probe.status.success() {
        result.expect("dummy supported");
        let l = a.link("d0").expect("d0 exists");
        assert_eq!(l["linkinfo"]["info_kind"], "dummy");
        assert_eq!(l["ifalias"], "nsagent:d");
    } else {
        // This kernel has no dummy driver (CONFIG_DUMMY unset): the kernel says EOPNOTSUPP.
        let err = result.expect_err("no dummy driver");
        assert_eq!(err.errno, Some(errno::EOPNOTSUPP), "{err}");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(a.link("d0").is_none());
    }
}

#[test]
fn deleting_one_end_deletes_the_pair_and_a_missing_link_is_enodev() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut backend = NetlinkBackend::new();
    apply(&mut backend, veth(&a, "va", &b, "vb")).unwrap();
    apply(
        &mut backend,
        Op::DeleteLink {
            ns: b.netns(),
            name: "vb".into(),
        },
    )
    .expect("delete");
    assert!(a.link("va").is_none() && b.link("vb").is_none());
    let err = apply(
        &mut backend,
        Op::DeleteLink {
            ns: b.netns(),
            name: "vb".into(),
        },
    )
    .expect_err("gone");
    assert_eq!(err.errno, Some(errno::ENODEV));
    assert_eq!(err.kind, ErrorKind::NoSuchDevice);
}

#[test]
fn set_link_changes_state_mtu_mac_and_alias_in_place() {
    let a = TestNs::new();
    let mut backend = NetlinkBackend::new();
    apply(&mut backend, veth(&a, "s1", &a, "s2")).unwrap();
    let index_before = a.link("s1").unwrap()["ifindex"].clone();
    let change = LinkChange {
        up: Some(true),
        mtu: Some(9000),
        mac: None,
        alias: Some("nsagent:s1".into()),
        master: None,
        bridge: None,
    };
    apply(
        &mut backend,
        Op::SetLink {
            ns: a.netns(),
            name: "s1".into(),
            change,
        },
    )
    .expect("set");
    let l = a.link("s1").unwrap();
    assert!(flags(&l).contains(&"UP".to_string()));
    assert_eq!(l["mtu"], 9000);
    assert_eq!(l["ifalias"], "nsagent:s1");
    // The MAC of a veth can change while it is up.
    let change = LinkChange {
        mac: Some(MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55])),
        ..LinkChange::default()
    };
    apply(
        &mut backend,
        Op::SetLink {
            ns: a.netns(),
            name: "s1".into(),
            change,
        },
    )
    .expect("mac while up");
    let l = a.link("s1").unwrap();
    assert_eq!(l["address"], "02:11:22:33:44:55");
    assert!(flags(&l).contains(&"UP".to_string()));
    assert_eq!(
        l["ifindex"], index_before,
        "changed in place, not re-created"
    );
    // An empty alias removes it; down takes the link down.
    let change = LinkChange {
        up: Some(false),
        alias: Some(String::new()),
        ..LinkChange::default()
    };
    apply(
        &mut backend,
        Op::SetLink {
            ns: a.netns(),
            name: "s1".into(),
            change,
        },
    )
    .expect("clear");
    let l = a.link("s1").unwrap();
    assert!(!flags(&l).contains(&"UP".to_string()));
    assert!(l.get("ifalias").is_none(), "{l}");
}

#[test]
fn set_link_errors_carry_errno_and_kernel_text() {
    let a = TestNs::new();
    let mut backend = NetlinkBackend::new();
    apply(&mut backend, veth(&a, "e1", &a, "e2")).unwrap();
    let err = apply(
        &mut backend,
        Op::SetLink {
            ns: a.netns(),
            name: "nope".into(),
            change: LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        },
    )
    .expect_err("no such link");
    assert_eq!(err.errno, Some(errno::ENODEV));
    let err = apply(
        &mut backend,
        Op::SetLink {
            ns: a.netns(),
            name: "e1".into(),
            change: LinkChange {
                mtu: Some(70000),
                ..LinkChange::default()
            },
        },
    )
    .expect_err("mtu above the veth maximum");
    assert_eq!(err.errno, Some(errno::EINVAL));
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.to_lowercase().contains("mtu"),
        "extack text is passed on: {}",
        err.message
    );
    let err = apply(
        &mut backend,
        Op::SetLink {
            ns: a.netns(),
            name: "e1".into(),
            change: LinkChange {
                mac: Some(MacAddr([1, 0, 0, 0, 0, 1])),
                ..LinkChange::default()
            },
        },
    )
    .expect_err("multicast MAC");
    assert_eq!(err.errno, Some(errno::EADDRNOTAVAIL), "{err}");
}

/// Why the backend sets a new link's alias with a second request: the kernel drops
/// `IFLA_IFALIAS` on RTM_NEWLINK without an error (`ip link add ... alias` sends it there).
#[test]
fn kernel_fact_alias_is_ignored_when_a_link_is_created() {
    let a = TestNs::new();
    run(
        "ip",
        &[
            "-n", &a.name, "link", "add", "k0", "alias", "given", "type", "veth", "peer", "name",
            "k1",
        ],
    );
    assert!(a.link("k0").expect("created").get("ifalias").is_none());
}

/// Why the backend brings a veth peer up with a second request: asking for it up at creation
/// fails the whole creation with ENOTCONN, as the peer is opened before the pair is joined.
#[test]
fn kernel_fact_a_veth_peer_cannot_be_created_up() {
    let a = TestNs::new();
    let out = std::process::Command::new("ip")
        .args([
            "-n", &a.name, "link", "add", "k0", "type", "veth", "peer", "name", "k1", "up",
        ])
        .output()
        .expect("run ip");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Transport endpoint is not connected"));
    assert!(a.link("k0").is_none() && a.link("k1").is_none());
}

/// The alias is set after the link is created; when that fails, the new link is deleted again
/// so that a failed command leaves nothing behind.
#[test]
fn a_creation_whose_alias_is_refused_is_undone() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut backend = NetlinkBackend::new();
    let op = Op::CreateLink {
        ns: a.netns(),
        link: LinkSpec {
            alias: Some("x".repeat(300)),
            ..spec("u0")
        },
        kind: NewLink::Veth {
            peer_ns: b.netns(),
            peer: spec("u1"),
        },
    };
    let err = apply(&mut backend, op).expect_err("alias longer than the kernel's 255 bytes");
    assert!(
        err.errno == Some(errno::EINVAL) || err.errno == Some(errno::ERANGE),
        "{err}"
    );
    assert!(
        err.message.contains("completing the new link"),
        "{}",
        err.message
    );
    assert!(
        a.link("u0").is_none() && b.link("u1").is_none(),
        "the pair was deleted again"
    );
}

/// An address, a route through it and a permanent neighbour on `dev`, added with `ip`.
fn address_route_and_neighbour_by_hand(a: &TestNs, dev: &str) {
    run(
        "ip",
        &["-n", &a.name, "addr", "add", "10.7.0.1/24", "dev", dev],
    );
    run(
        "ip",
        &[
            "-n",
            &a.name,
            "route",
            "add",
            "10.8.0.0/24",
            "via",
            "10.7.0.2",
        ],
    );
    run(
        "ip",
        &[
            "-n",
            &a.name,
            "neigh",
            "replace",
            "10.7.0.9",
            "lladdr",
            "02:00:00:00:00:09",
            "dev",
            dev,
            "nud",
            "permanent",
        ],
    );
}

#[test]
fn rename_keeps_the_link_with_its_addresses_routes_neighbours_and_peer() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut backend = NetlinkBackend::new();
    let op = Op::CreateLink {
        ns: a.netns(),
        link: full_spec("ra", [0x02, 0, 0, 0, 0, 0x1a], "nsagent:ra"),
        kind: NewLink::Veth {
            peer_ns: b.netns(),
            peer: full_spec("rb", [0x02, 0, 0, 0, 0, 0x1b], "nsagent:rb"),
        },
    };
    apply(&mut backend, op).expect("create veth");
    let before = a.link("ra").expect("created");
    address_route_and_neighbour_by_hand(&a, "ra");

    apply(
        &mut backend,
        Op::RenameLink {
            ns: a.netns(),
            name: "ra".into(),
            new_name: "ra-new".into(),
        },
    )
    .expect("rename an up link");
    assert!(a.link("ra").is_none());
    let after = a.link("ra-new").expect("renamed");
    assert_eq!(after["ifindex"], before["ifindex"], "the same link");
    assert!(flags(&after).contains(&"UP".to_string()), "still up");
    assert_eq!(after["ifalias"], "nsagent:ra");
    assert_eq!(a.addresses("ra-new"), vec!["10.7.0.1/24".to_string()]);
    let routes = a.ip(&["route", "show", "10.8.0.0/24"]);
    assert_eq!(routes[0]["dev"], "ra-new", "{routes}");
    let neighbours = a.ip(&["neigh", "show", "10.7.0.9"]);
    assert_eq!(neighbours[0]["dev"], "ra-new", "{neighbours}");
    assert!(b.link("rb").is_some(), "the peer is untouched");

    // Its own name: nothing to do. A taken name: EEXIST. A missing link: ENODEV.
    apply(
        &mut backend,
        Op::RenameLink {
            ns: a.netns(),
            name: "ra-new".into(),
            new_name: "ra-new".into(),
        },
    )
    .expect("renaming to its own name");
    let taken = apply(
        &mut backend,
        Op::RenameLink {
            ns: a.netns(),
            name: "ra-new".into(),
            new_name: "lo".into(),
        },
    )
    .expect_err("lo is taken");
    assert_eq!(taken.errno, Some(errno::EEXIST), "{taken}");
    assert!(
        taken.to_string().contains("rename link ra-new to lo"),
        "{taken}"
    );
    let missing = apply(
        &mut backend,
        Op::RenameLink {
            ns: a.netns(),
            name: "nope".into(),
            new_name: "nope2".into(),
        },
    )
    .expect_err("no such link");
    assert_eq!(missing.kind, ErrorKind::NoSuchDevice, "{missing}");
}
