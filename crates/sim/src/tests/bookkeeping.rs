//! Per-link bookkeeping: routes and neighbours belong to the right link.

use super::*;

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
