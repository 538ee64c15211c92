//! References that name one namespace (by its identity) are one namespace to the core: the
//! agent's own pid and the default namespace, a pid inside a named namespace and its name.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

const SAME: NamespaceIdentity = NamespaceIdentity {
    dev: 4,
    ino: 4026531840,
};
const OTHER: NamespaceIdentity = NamespaceIdentity {
    dev: 4,
    ino: 4026532000,
};

fn identified(d: &mut Harness, ns: Netns, identity: NamespaceIdentity) {
    d.event(Event::NamespaceIdentified { ns, identity });
}

fn veth_in(
    name: &str,
    host: &str,
    peer: &str,
    ns: serde_json::Value,
) -> (String, serde_json::Value) {
    let (k, mut v) = veth(name, peer, None, "10.0.0.1/24");
    v["host_if_name"] = json!(host);
    v["ip_addresses"] = json!([]);
    if !ns.is_null() {
        v["namespace"] = ns;
    }
    (k, v)
}

fn pid(p: u32) -> serde_json::Value {
    json!({"type": "PID", "reference": p.to_string()})
}

fn nsid(n: &str) -> serde_json::Value {
    json!({"type": "NSID", "reference": n})
}

fn link(name: &str, item: &str, peer: (Netns, &str)) -> ObservedLink {
    ObservedLink {
        name: name.into(),
        kind: LinkKind::Veth,
        alias: Some(mine(item)),
        mtu: 1500,
        mac: None,
        up: true,
        addresses: vec![],
        peer: Some((peer.0, peer.1.into())),
        checksum_offload: Default::default(),
        master: None,
        vrf_table: None,
        bridge: None,
        tap: None,
        macvlan_mode: None,
        parent: None,
        vxlan: None,
        fdb: vec![],
    }
}

fn observed(ns: Netns, links: Vec<ObservedLink>) -> ObservedNamespace {
    ObservedNamespace {
        ns,
        links,
        routes: vec![],
        neighbours: vec![],
        rules: vec![],
    }
}

#[test]
fn the_agents_own_pid_is_the_default_namespace_and_nothing_flaps() {
    let mut d = Harness::new();
    identified(&mut d, Netns::Default, SAME);
    identified(&mut d, Netns::Pid(77), SAME);
    let (k, v) = veth_in("v1", "v1", "v2", serde_json::Value::Null);
    d.put(&k, v);
    let (k, v) = veth_in("v2", "v2", "v1", pid(77));
    d.put(&k, v);
    let ops = d.settle();
    let creates: Vec<&Op> = ops
        .iter()
        .filter(|o| matches!(o, Op::CreateLink { .. }))
        .collect();
    assert_eq!(creates.len(), 1, "{ops:?}");
    match creates[0] {
        Op::CreateLink {
            ns,
            kind: NewLink::Veth { peer_ns, .. },
            ..
        } => assert_eq!((ns, peer_ns), (&Netns::Default, &Netns::Default)),
        other => panic!("expected a veth, got {other}"),
    }
    assert!(is_applied(&d.state(&iface_key("v1"))));
    assert!(is_applied(&d.state(&iface_key("v2"))));

    // The kernel shows the pair through both references: nothing is stale, nothing moves.
    let links = || {
        vec![
            link("v1", "v1", (Netns::Default, "v2")),
            link("v2", "v2", (Netns::Default, "v1")),
        ]
    };
    let alias_links = vec![
        link("v1", "v1", (Netns::Pid(77), "v2")),
        link("v2", "v2", (Netns::Pid(77), "v1")),
    ];
    for namespaces in [
        vec![
            observed(Netns::Default, links()),
            observed(Netns::Pid(77), alias_links.clone()),
        ],
        vec![observed(Netns::Pid(77), alias_links.clone())],
        vec![observed(Netns::Default, links())],
    ] {
        d.event(Event::Observed(Snapshot {
            namespaces,
            missing: vec![],
        }));
        assert_eq!(
            d.settle(),
            vec![],
            "an observation of an alias changes nothing"
        );
        assert!(is_applied(&d.state(&iface_key("v2"))));
    }

    let e = d.core.explain(&iface_key("v2").parse().unwrap()).unwrap();
    assert_eq!(e.namespace, Some(Netns::Default));
    assert!(
        e.warnings.iter().any(|w| w.contains("namespace of pid 77")
            && w.contains("default namespace")
            && w.contains("inode 4026531840")),
        "{:?}",
        e.warnings
    );
    let e = d.core.explain(&iface_key("v1").parse().unwrap()).unwrap();
    assert!(
        e.warnings.iter().any(|w| w.contains("namespace of pid 77")),
        "the canonical's items are told too: {:?}",
        e.warnings
    );
}

#[test]
fn a_pid_of_another_namespace_is_not_an_alias() {
    let mut d = Harness::new();
    identified(&mut d, Netns::Default, SAME);
    identified(&mut d, Netns::Pid(77), OTHER);
    let (k, v) = veth_in("v1", "v1", "v2", serde_json::Value::Null);
    d.put(&k, v);
    let (k, v) = veth_in("v2", "v2", "v1", pid(77));
    d.put(&k, v);
    let ops = d.settle();
    assert!(
        ops.iter().any(
            |o| matches!(o, Op::CreateLink { ns, kind: NewLink::Veth { peer_ns, .. }, .. }
            if [ns, peer_ns].contains(&&Netns::Pid(77)))
        ),
        "{ops:?}"
    );
    let e = d.core.explain(&iface_key("v2").parse().unwrap()).unwrap();
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

/// Items `x1`/`x2` in namespace `t`, `y1`/`y2` under the pid of a process inside it; `y1`
/// wants the link name `x1` holds.
fn contest() -> Harness {
    let mut d = Harness::new();
    let (k, v) = veth_in("x1", "same", "x2", nsid("t"));
    d.put(&k, v);
    let (k, v) = veth_in("x2", "x2", "x1", nsid("t"));
    d.put(&k, v);
    d.settle();
    identified(&mut d, Netns::Named("t".into()), SAME);
    assert!(is_applied(&d.state(&iface_key("x1"))));
    let (k, v) = veth_in("y1", "same", "y2", pid(7));
    d.put(&k, v);
    let (k, v) = veth_in("y2", "y2", "y1", pid(7));
    d.put(&k, v);
    identified(&mut d, Netns::Pid(7), SAME);
    d
}

#[test]
fn one_link_name_under_two_references_is_contested_as_in_one_namespace() {
    let mut d = contest();
    assert_eq!(d.settle(), vec![], "the younger claimant waits");
    let r = reasons(&d.state(&iface_key("y1")));
    assert!(
        r.iter()
            .any(|r| r.contains("link name 'same'") && r.contains("'x1'")),
        "{r:?}"
    );
    assert!(reasons(&d.state(&iface_key("y2")))
        .iter()
        .any(|r| r.contains("'y1' is pending")));
    assert!(is_applied(&d.state(&iface_key("x1"))));
    for _ in 0..5 {
        d.advance(60_000);
        assert_eq!(d.settle(), vec![], "nothing flaps");
    }

    // The winner leaves: the other reference gets the name, in the canonical namespace.
    d.delete(&iface_key("x1"));
    d.delete(&iface_key("x2"));
    let ops = d.settle();
    let t = Netns::Named("t".into());
    assert!(
        ops.iter().any(
            |o| matches!(o, Op::CreateLink { ns, link, .. } if *ns == t && link.name == "same")
        ),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("y1"))));
}

#[test]
fn when_the_canonical_vanishes_its_alias_takes_over_with_what_it_held() {
    let mut d = contest();
    d.delete(&iface_key("x1"));
    d.delete(&iface_key("x2"));
    d.settle();
    assert!(is_applied(&d.state(&iface_key("y1"))));
    // An item of the named namespace itself, with a link there.
    let (k, v) = veth_in("z1", "z1", "z2", nsid("t"));
    d.put(&k, v);
    let (k, v) = veth_in("z2", "z2", "z1", nsid("t"));
    d.put(&k, v);
    d.settle();
    assert!(is_applied(&d.state(&iface_key("z1"))));
    while d.core.poll_resync().is_some() {}

    // `ip netns del t` while the process keeps the namespace alive: the pid's items keep
    // their links, believed under the pid now; the name's items move theirs to the new `t`.
    d.event(Event::NamespaceVanished {
        ns: Netns::Named("t".into()),
    });
    assert_eq!(d.core.poll_resync(), Some(vec![Netns::Pid(7)]));
    let e = d.core.explain(&iface_key("y1").parse().unwrap()).unwrap();
    assert_eq!(e.namespace, Some(Netns::Pid(7)));
    assert!(
        e.in_kernel[0].contains("namespace of pid 7"),
        "{:?}",
        e.in_kernel
    );
    let ops = d.settle();
    let t = Netns::Named("t".into());
    let p7 = Netns::Pid(7);
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::DeleteLink { ns, name } if *ns == p7 && (name == "z1" || name == "z2"))),
        "the name's pair leaves the old namespace: {ops:?}"
    );
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::CreateLink { ns, link, .. } if *ns == t && (link.name == "z1" || link.name == "z2"))),
        "and is made in the new one: {ops:?}"
    );
    assert!(
        !ops.iter().any(
            |o| matches!(o, Op::CreateLink { link, .. } if link.name == "same")
                || matches!(o, Op::DeleteLink { name, .. } if name == "same" || name == "y2")
        ),
        "the pid's pair stays: {ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("y1"))));
    assert!(is_applied(&d.state(&iface_key("z1"))));

    // The observation asked for finds the pid's pair where it is believed: nothing changes.
    d.event(Event::Observed(Snapshot {
        namespaces: vec![observed(
            Netns::Pid(7),
            vec![
                link("same", "y1", (Netns::Pid(7), "y2")),
                link("y2", "y2", (Netns::Pid(7), "same")),
            ],
        )],
        missing: vec![],
    }));
    assert_eq!(d.settle(), vec![]);
    assert!(is_applied(&d.state(&iface_key("y1"))));
}

#[test]
fn identities_survive_a_snapshot() {
    let mut d = Harness::new();
    identified(&mut d, Netns::Default, SAME);
    identified(&mut d, Netns::Pid(77), SAME);
    let (k, v) = veth_in("v2", "v2", "v1", pid(77));
    d.put(&k, v);
    let text = serde_json::to_string(&d.core).unwrap();
    let back: Core = serde_json::from_str(&text).unwrap();
    let e = back.explain(&iface_key("v2").parse().unwrap()).unwrap();
    assert_eq!(e.namespace, Some(Netns::Default));
}
