//! Whose links a core touches: only those marked with its own identity, and legacy-marked ones
//! only when an item of its own wants them (then re-marked), or when told to adopt them all.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn identity(label: &str, instance: u64) -> AgentIdentity {
    AgentIdentity::new(label, InstanceId(instance)).expect("identity")
}

fn harness(me: &AgentIdentity, adopt_legacy: bool) -> Harness {
    let mut d = Harness::with_config(CoreConfig {
        identity: me.clone(),
        adopt_legacy,
        ..CoreConfig::default()
    });
    d.event(Event::Restarted);
    d
}

fn link(name: &str, alias: Option<&str>) -> ObservedLink {
    ObservedLink {
        name: name.into(),
        kind: LinkKind::Dummy,
        alias: alias.map(String::from),
        mtu: 1500,
        mac: None,
        up: true,
        addresses: vec!["10.1.0.1/24".parse().unwrap()],
        peer: None,
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

fn route_on(dev: &str) -> RouteSpec {
    RouteSpec {
        dev: dev.into(),
        dst: "10.9.0.0/16".parse().unwrap(),
        gw: None,
        metric: 0,
        scope: RouteScope::Link,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    }
}

fn neighbour_on(dev: &str) -> ObservedNeighbour {
    ObservedNeighbour {
        link: dev.into(),
        ip: "10.1.0.9".parse().unwrap(),
        mac: "02:00:00:00:00:09".parse().unwrap(),
    }
}

fn snapshot(links: Vec<ObservedLink>) -> Event {
    let routes = links.iter().map(|l| route_on(&l.name)).collect();
    let neighbours = links.iter().map(|l| neighbour_on(&l.name)).collect();
    Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links,
            routes,
            neighbours,
            rules: vec![],
        }],
        missing: vec![],
    })
}

fn dummy(d: &mut Harness, name: &str) {
    d.put(
        &iface_key(name),
        json!({"name": name, "type": "DUMMY", "enabled": true, "ip_addresses": ["10.1.0.1/24"]}),
    );
}

#[test]
fn links_of_another_identity_and_hand_set_marks_are_never_stale() {
    let me = identity("a", 0x1111);
    let other_instance = identity("a", 0x2222).mark("x");
    let other_label = identity("b", 0x1111).mark("x");
    let mut d = harness(&me, false);
    d.event(snapshot(vec![
        link("o1", Some(&other_instance)),
        link("o2", Some(&other_label)),
        link("o3", Some("nsagent:x")),
        link("o4", Some("nsagent:a/not-hex:x")),
        link("o5", None),
        link("m1", Some(&me.mark("gone"))),
    ]));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "m1".into()
        }],
        "only this core's own stale link goes; routes and neighbours on the others stay"
    );
}

#[test]
fn a_link_of_another_identity_is_never_adopted_even_under_an_items_name() {
    let me = identity("a", 0x1111);
    let theirs = identity("b", 0x2222).mark("d1");
    let mut d = harness(&me, false);
    dummy(&mut d, "d1");
    d.event(snapshot(vec![link("d1", Some(&theirs))]));
    let ops = d.settle();
    assert!(
        ops.iter().all(
            |o| !matches!(o, Op::SetLink { name, .. } | Op::DeleteLink { name, .. } if name == "d1")
        ),
        "the other agent's link is neither changed nor removed: {ops:?}"
    );
    assert!(
        matches!(ops.first(), Some(Op::CreateLink { .. })),
        "the item tries to make its own link (and the kernel will say EEXIST): {ops:?}"
    );
}

#[test]
fn a_belief_about_a_link_another_agent_now_marks_is_dropped_not_acted_on() {
    let me = identity("a", 0x1111);
    let mut d = harness(&me, false);
    dummy(&mut d, "d1");
    d.event(snapshot(vec![]));
    d.settle();
    assert!(is_applied(&d.state(&iface_key("d1"))));
    // Someone replaced the link with one of another agent's under the same name.
    d.event(Event::Restarted);
    d.event(snapshot(vec![link(
        "d1",
        Some(&identity("b", 7).mark("d1")),
    )]));
    let ops = d.settle();
    assert!(
        ops.iter().all(|o| !matches!(
            o,
            Op::SetLink { .. }
                | Op::DeleteLink { .. }
                | Op::DelRoute { .. }
                | Op::DelNeighbour { .. }
                | Op::DelAddress { .. }
        )),
        "{ops:?}"
    );
}

#[test]
fn a_legacy_marked_link_an_item_wants_is_adopted_and_re_marked() {
    let me = identity("a", 0x1111);
    let mut d = harness(&me, false);
    dummy(&mut d, "d1");
    d.event(snapshot(vec![link("d1", Some("nsagent:d1"))]));
    let ops = d.settle();
    let remark = Op::SetLink {
        ns: Netns::Default,
        name: "d1".into(),
        change: LinkChange {
            up: None,
            mtu: None,
            mac: None,
            alias: Some(me.mark("d1")),
            master: None,
            bridge: None,
        },
    };
    // The stale route and neighbour on it are the agent's own (on its adopted link).
    assert_eq!(ops[0], remark, "{ops:?}");
    assert!(ops
        .iter()
        .all(|o| !matches!(o, Op::CreateLink { .. } | Op::DeleteLink { .. })));
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::DelRoute { route, .. } if route.dev == "d1")));
    assert!(is_applied(&d.state(&iface_key("d1"))));
    // Once re-marked, a resync finds nothing to do.
    d.event(Event::Restarted);
    let mut relinked = link("d1", Some(&me.mark("d1")));
    relinked.addresses = vec!["10.1.0.1/24".parse().unwrap()];
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![relinked],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    assert_eq!(d.settle(), vec![]);
}

#[test]
fn legacy_marked_links_no_item_wants_stay_unless_the_core_adopts_all_of_them() {
    let me = identity("a", 0x1111);
    let mut d = harness(&me, false);
    d.event(snapshot(vec![link("old", Some("nsagent:old"))]));
    assert_eq!(d.settle(), vec![]);

    let mut d = harness(&me, true);
    d.event(snapshot(vec![link("old", Some("nsagent:old"))]));
    assert_eq!(
        d.settle(),
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "old".into()
        }]
    );
}

#[test]
fn two_cores_create_links_with_their_own_marks() {
    let (a, b) = (identity("a", 1), identity("b", 2));
    for me in [a, b] {
        let mut d = harness(&me, false);
        dummy(&mut d, "d1");
        d.event(snapshot(vec![]));
        let ops = d.settle();
        let Some(Op::CreateLink { link, .. }) = ops.first() else {
            panic!("{ops:?}")
        };
        assert_eq!(link.alias.as_deref(), Some(me.mark("d1").as_str()));
    }
}

#[test]
fn a_restored_core_gets_its_identity_from_its_agent_not_from_the_snapshot() {
    let me = identity("a", 0x1111);
    let d = harness(&me, true);
    let bytes = serde_json::to_vec(&d.core).expect("core serializes");
    let mut restored: Core = serde_json::from_slice(&bytes).expect("core deserializes");
    let mut h = Harness::new();
    restored.set_identity(me.clone(), false);
    h.core = restored;
    h.event(snapshot(vec![
        link("old", Some("nsagent:old")),
        link("m", Some(&me.mark("m"))),
    ]));
    assert_eq!(
        h.settle(),
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "m".into()
        }]
    );
}

#[test]
fn a_link_believed_with_its_legacy_mark_is_re_marked_in_place() {
    // What a core restored from a snapshot written before identities believes, or a link
    // whose mark someone reverted: the item's own link, under the legacy mark.
    let me = identity("a", 0x1111);
    let mut d = harness(&me, false);
    dummy(&mut d, "d1");
    d.event(snapshot(vec![]));
    d.settle();
    d.event(Event::Restarted);
    let mut legacy = link("d1", Some("nsagent:d1"));
    legacy.addresses = vec!["10.1.0.1/24".parse().unwrap()];
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![legacy],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::SetLink {
            ns: Netns::Default,
            name: "d1".into(),
            change: LinkChange {
                up: None,
                mtu: None,
                mac: None,
                alias: Some(me.mark("d1")),
                master: None,
                bridge: None,
            },
        }]
    );
}
