//! Routes: device and gateway rules, scopes, metrics, replacement and deletion.

use super::*;

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
