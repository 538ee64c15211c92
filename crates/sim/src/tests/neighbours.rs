//! Permanent neighbours: setting, deleting, and the flushes that take them away.

use super::*;

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

#[test]
fn neighbours_made_by_hand_are_not_observed_and_keep_their_protocol_when_replaced() {
    let mut k = kernel();
    let (a, _) = addressed_veth(&mut k);
    k.seed_neighbour(&a, "v0", ip("10.1.0.9"), mac("02:00:00:00:00:09"), 0)
        .expect("seed");
    k.seed_neighbour(&a, "v0", ip("10.1.0.8"), mac("02:00:00:00:00:08"), 3)
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
    let seen: Vec<IpAddr> = snap.namespaces[0].neighbours.iter().map(|n| n.ip).collect();
    assert_eq!(
        seen,
        vec![ip("10.1.0.5")],
        "only the agent's entry is observed"
    );
    let l = link(&k, &a, "v0");
    assert_eq!(
        l.neighbours,
        vec![(ip("10.1.0.5"), mac("02:00:00:00:00:05"))]
    );
    assert_eq!(
        l.foreign_neighbours,
        vec![
            (ip("10.1.0.8"), mac("02:00:00:00:00:08"), 3),
            (ip("10.1.0.9"), mac("02:00:00:00:00:09"), 0),
        ]
    );
    // A hand-made replace of the agent's entry (no protocol given) keeps it the agent's.
    k.seed_neighbour(&a, "v0", ip("10.1.0.5"), mac("02:00:00:00:00:55"), 0)
        .expect("seed");
    assert_eq!(
        link(&k, &a, "v0").neighbours,
        vec![(ip("10.1.0.5"), mac("02:00:00:00:00:55"))]
    );
    let e = k
        .seed_neighbour(&a, "nope", ip("10.1.0.7"), mac("02:00:00:00:00:07"), 0)
        .expect_err("no such link");
    assert!(e.to_string().contains("no such link"), "{e}");
}
