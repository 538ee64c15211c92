//! Addresses: adding and deleting, duplicates, primaries and secondaries, and the routes an address takes with it.

use super::*;

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
