//! Seeded links: someone else's links and stale ones of a previous run.

use super::*;

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

/// What VPP does to its TAP: it removes it wherever the agent moved it (here, a pid alias
/// names the namespace), with what was on it; a link that is not there is an error.
#[test]
fn an_unseeded_link_goes_with_its_routes_wherever_it_is() {
    let mut k = kernel();
    let a = ns("a");
    let seed = SeedLink {
        up: true,
        addresses: vec![net("10.1.0.2/24")],
        ..SeedLink::new("tap0", SeedKind::Other)
    };
    k.seed_link(&a, seed).expect("seed");
    k.seed_route(&a, route("tap0", "10.9.0.0/24", Some("10.1.0.1")), 3)
        .expect("route");
    k.alias(Netns::Pid(900), &a).expect("alias");
    k.unseed_link(&Netns::Pid(900), "tap0").expect("unseed");
    assert!(k.link(&a, "tap0").is_none());
    assert!(k
        .dump()
        .namespaces
        .iter()
        .all(|n| n.unmanaged.iter().all(|l| l.name != "tap0")));
    assert!(matches!(
        k.unseed_link(&a, "tap0"),
        Err(SimError::BadSeed { reason, .. }) if reason == "no such link"
    ));
    assert!(matches!(
        k.unseed_link(&ns("nowhere"), "tap0"),
        Err(SimError::NoSuchNamespace(_))
    ));
}
