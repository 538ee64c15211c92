//! Changing links in place: MAC, MTU, alias, up and down, and what each change flushes.

use super::*;

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
        master: None,
        bridge: None,
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
        master: None,
        bridge: None,
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
