//! Creating and deleting links: unique names, veth pairs across namespaces, attributes and their limits, ifindexes, generated MACs.

use super::*;

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

#[test]
fn a_moved_veth_end_is_named_by_its_peer_where_it_went_and_keeps_a_free_index() {
    let mut k = kernel();
    let (a, b, c) = (ns("a"), ns("b"), ns("c"));
    k.appear(c.clone()).expect("c");
    veth(&mut k, &a, "v0", &b, "p0");
    let index = link(&k, &a, "v0").ifindex;
    k.apply(&Op::MoveLink {
        ns: a.clone(),
        name: "v0".into(),
        to: c.clone(),
        new_name: "v9".into(),
    })
    .expect("moved");
    assert!(!has_link(&k, &a, "v0"));
    assert_eq!(link(&k, &c, "v9").ifindex, index, "its index is free in c");
    assert_eq!(link(&k, &b, "p0").peer, Some((c.clone(), "v9".to_string())));
    // A link made in c afterwards gets another index.
    dummy(&mut k, &c, "d1");
    assert_ne!(link(&k, &c, "d1").ifindex, index);
}
