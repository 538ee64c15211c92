//! Regressions: one test per bug a review of the state machine found, named after the rule
//! the bug broke. Each failed before its fix.

mod common;
use common::*;
use nsagent_core::*;
use serde_json::json;

fn dummy(
    name: &str,
    host: &str,
    ns: Option<serde_json::Value>,
    addr: &str,
) -> (String, serde_json::Value) {
    let mut v = json!({"name": name, "host_if_name": host, "type": "DUMMY", "enabled": true, "ip_addresses": [addr]});
    if let Some(ns) = ns {
        v["namespace"] = ns;
    }
    (iface_key(name), v)
}

fn link(
    name: &str,
    kind: LinkKind,
    alias: &str,
    addrs: &[&str],
    peer: Option<(Netns, String)>,
) -> ObservedLink {
    ObservedLink {
        name: name.into(),
        kind,
        alias: Some(alias.into()),
        mtu: 1500,
        mac: None,
        up: true,
        addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        peer,
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

#[test]
fn namespace_creation_answered_after_a_vanish_still_counts() {
    let mut d = Harness::new();
    let (k, v) = veth("v1", "v2", Some("ns1"), "10.0.0.1/24");
    d.put(&k, v);
    let (k, v) = veth("v2", "v1", Some("ns1"), "10.0.0.2/24");
    d.put(&k, v);
    let cmds = d.pending();
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    d.event(Event::NamespaceVanished {
        ns: Netns::Named("ns1".into()),
    });
    d.ok(&cmds[0]);
    for _ in 0..20 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(!ops.is_empty(), "stuck: {}", d.state(&iface_key("v1")));
}

#[test]
fn namespace_creation_that_cannot_enter_is_retried() {
    let mut d = Harness::new();
    let (k, v) = dummy(
        "d1",
        "d1",
        Some(json!({"type":"NSID","reference":"ns1"})),
        "10.0.0.1/24",
    );
    d.put(&k, v);
    let cmds = d.pending();
    assert_eq!(cmds.len(), 1);
    let err = BackendError::new(&cmds[0].op, ErrorKind::NamespaceGone, "x");
    d.event(Event::CommandFailed {
        id: cmds[0].id,
        error: err,
    });
    for _ in 0..20 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(!ops.is_empty(), "stuck: {}", d.state(&iface_key("d1")));
}

#[test]
fn stale_link_removal_answered_after_a_vanish_frees_the_name() {
    let mut d = Harness::new();
    let ns = Netns::Pid(5);
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: ns.clone(),
            links: vec![link("x", LinkKind::Dummy, &mine("ghost"), &[], None)],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let cmds = d.pending();
    assert!(matches!(cmds[0].op, Op::DeleteLink { .. }), "{cmds:?}");
    d.event(Event::NamespaceVanished { ns: ns.clone() });
    d.ok(&cmds[0]);
    d.event(Event::NamespaceAvailable { ns: ns.clone() });
    let (k, v) = dummy(
        "d",
        "x",
        Some(json!({"type":"PID","reference":"5"})),
        "10.0.0.1/24",
    );
    d.put(&k, v);
    for _ in 0..20 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(
        ops.iter().any(|o| matches!(o, Op::CreateLink { .. })),
        "stuck: {}",
        d.state(&k)
    );
}

fn route_setup() -> Harness {
    let mut d = Harness::new();
    let (k, v) = dummy("d", "d", None, "10.0.0.1/24");
    d.put(&k, v);
    d.put(
        "config/linux/l3/v2/route/192.168.0.0/24/d",
        json!({"outgoing_interface":"d","dst_network":"192.168.0.0/24","gw_addr":"10.0.0.2"}),
    );
    d.settle();
    assert!(is_applied(
        &d.state("config/linux/l3/v2/route/192.168.0.0/24/d")
    ));
    d
}

#[test]
fn snapshot_taken_while_a_route_changes_does_not_remove_it() {
    let mut d = route_setup();
    d.put(
        "config/linux/l3/v2/route/192.168.0.0/24/d",
        json!({"outgoing_interface":"d","dst_network":"192.168.0.0/24","gw_addr":"10.0.0.3"}),
    );
    let cmds = d.pending();
    assert!(matches!(cmds[0].op, Op::ReplaceRoute { .. }), "{cmds:?}");
    let route = RouteSpec {
        dev: "d".into(),
        dst: "192.168.0.0/24".parse().unwrap(),
        gw: Some("10.0.0.2".parse().unwrap()),
        metric: 0,
        scope: RouteScope::Global,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    };
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![link(
                "d",
                LinkKind::Dummy,
                &mine("d"),
                &["10.0.0.1/24"],
                None,
            )],
            routes: vec![route],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let more = d.pending();
    d.ok(&cmds[0]);
    for c in &more {
        d.ok(c);
    }
    d.settle();
    assert!(
        !more.iter().any(|c| matches!(c.op, Op::DelRoute { .. })),
        "deleted a route whose item is applied: {more:?}"
    );
    assert!(is_applied(
        &d.state("config/linux/l3/v2/route/192.168.0.0/24/d")
    ));
}

#[test]
fn snapshot_taken_while_a_link_is_created_does_not_remove_it() {
    let mut d = Harness::new();
    let (k, v) = dummy("d", "d", None, "10.0.0.1/24");
    d.put(&k, v);
    let cmds = d.pending();
    assert!(matches!(cmds[0].op, Op::CreateLink { .. }));
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![link("d", LinkKind::Dummy, &mine("d"), &[], None)],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let more = d.pending();
    d.ok(&cmds[0]);
    for c in &more {
        d.ok(c);
    }
    d.settle();
    assert!(
        !more.iter().any(|c| matches!(c.op, Op::DeleteLink { .. })),
        "deleted the link being created: {more:?}"
    );
    assert!(is_applied(&d.state(&k)));
}

#[test]
fn restore_before_resync_gives_the_same_commands() {
    let mut d = Harness::new();
    for i in 0..6 {
        let (k, v) = dummy(&format!("d{i}"), &format!("d{i}"), None, "10.0.0.1/24");
        d.put(&k, v);
    }
    let _ = d.pending(); // in flight
    d.event(Event::Restarted);
    for i in 6..9 {
        let (k, v) = dummy(&format!("d{i}"), &format!("d{i}"), None, "10.0.0.1/24");
        d.put(&k, v);
    }
    d.put(
        "config/linux/l3/v2/route/192.168.0.0/24/d0",
        json!({"outgoing_interface":"d0","dst_network":"192.168.0.0/24"}),
    );
    let json = serde_json::to_string(&d.core).unwrap();
    let mut restored: Core = serde_json::from_str(&json).unwrap();
    let snap = Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![
                link("d3", LinkKind::Dummy, &mine("d3"), &[], None),
                link("d7", LinkKind::Dummy, &mine("d7"), &[], None),
            ],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    };
    d.core.handle(Timestamp(0), Event::Observed(snap.clone()));
    restored.handle(Timestamp(0), Event::Observed(snap));
    let a: Vec<_> = std::iter::from_fn(|| d.core.poll_command()).collect();
    let b: Vec<_> = std::iter::from_fn(|| restored.poll_command()).collect();
    assert_eq!(a, b);
}

#[test]
fn damaged_snapshot_does_not_panic() {
    let d = Harness::new();
    let mut v: serde_json::Value = serde_json::to_value(&d.core).unwrap();
    v["free"] = json!([7]);
    let mut core: Core = serde_json::from_value(v).unwrap();
    let item = Item::decode(&iface_key("d"), &json!({"name":"d","type":"DUMMY"})).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        core.handle(Timestamp(0), Event::Put { seq: 1, item })
    }));
    assert!(r.is_ok(), "panicked");
}

#[test]
fn items_waiting_on_a_stale_link_go_on_when_its_removal_gives_up() {
    let mut d = Harness::new();
    let (k, mut v) = veth("A", "B", None, "10.0.0.1/24");
    v["host_if_name"] = json!("a");
    d.put(&k, v);
    let (k2, mut v2) = veth("B", "A", None, "10.0.0.2/24");
    v2["namespace"] = json!({"type":"PID","reference":"9"});
    v2["host_if_name"] = json!("b");
    d.put(&k2, v2);
    assert!(d.pending().is_empty());
    d.event(Event::Observed(Snapshot {
        namespaces: vec![
            ObservedNamespace {
                ns: Netns::Default,
                links: vec![link(
                    "a",
                    LinkKind::Veth,
                    &mine("A"),
                    &[],
                    Some((Netns::Pid(9), "zz".into())),
                )],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
            ObservedNamespace {
                ns: Netns::Pid(9),
                links: vec![link(
                    "zz",
                    LinkKind::Veth,
                    &mine("ghost"),
                    &[],
                    Some((Netns::Default, "a".into())),
                )],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
        ],
        missing: vec![],
    }));
    let cmds = d.pending();
    for c in &cmds {
        d.fail(c, 1);
    }
    for _ in 0..20 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(
        !ops.is_empty(),
        "stuck: A={} B={}",
        d.state(&k),
        d.state(&k2)
    );
}

#[test]
fn restore_before_resync_gives_the_same_commands_in_the_same_order() {
    let mut d = Harness::new();
    for i in 0..6 {
        let (k, v) = dummy(&format!("d{i}"), &format!("d{i}"), None, "10.0.0.1/24");
        d.put(&k, v);
    }
    d.settle();
    d.event(Event::Restarted);
    for i in [5, 2] {
        let (k, mut v) = dummy(&format!("d{i}"), &format!("d{i}"), None, "10.0.0.1/24");
        v["mtu"] = json!(1400);
        d.put(&k, v);
    }
    let json = serde_json::to_string(&d.core).unwrap();
    let mut restored: Core = serde_json::from_str(&json).unwrap();
    let links = (0..6)
        .map(|i| {
            link(
                &format!("d{i}"),
                LinkKind::Dummy,
                &mine(&format!("d{i}")),
                &["10.0.0.1/24"],
                None,
            )
        })
        .collect();
    let snap = Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links,
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    };
    d.core.handle(Timestamp(0), Event::Observed(snap.clone()));
    restored.handle(Timestamp(0), Event::Observed(snap));
    let a: Vec<_> = std::iter::from_fn(|| d.core.poll_command()).collect();
    let b: Vec<_> = std::iter::from_fn(|| restored.poll_command()).collect();
    assert_eq!(a, b);
}

#[test]
fn two_routes_for_one_destination_and_metric_are_not_added_together() {
    let mut d = Harness::new();
    for name in ["a", "b"] {
        let (k, v) = dummy(name, name, None, "10.0.0.1/24");
        d.put(&k, v);
    }
    d.settle();
    d.put(
        "config/linux/l3/v2/route/192.168.0.0/24/a",
        json!({"outgoing_interface":"a","dst_network":"192.168.0.0/24"}),
    );
    d.put(
        "config/linux/l3/v2/route/192.168.0.0/24/b",
        json!({"outgoing_interface":"b","dst_network":"192.168.0.0/24"}),
    );
    let cmds = d.pending();
    for c in &cmds {
        d.ok(c);
    }
    assert_eq!(
        cmds.iter()
            .filter(|c| matches!(c.op, Op::AddRoute { .. }))
            .count(),
        1,
        "two AddRoute for one kernel route: {cmds:?}"
    );
}

#[test]
fn fixing_one_end_of_a_failed_veth_pair_retries_the_pair() {
    let mut d = Harness::new();
    let (k, v) = veth("A", "B", None, "10.0.0.1/24");
    d.put(&k, v);
    let (k2, v2) = veth("B", "A", None, "10.0.0.2/24");
    d.put(&k2, v2);
    let cmds = d.pending();
    assert!(matches!(cmds[0].op, Op::CreateLink { .. }));
    d.fail(&cmds[0], 22); // EINVAL, terminal, e.g. caused by A's attributes
    let (k, mut v) = veth("A", "B", None, "10.0.0.1/24");
    v["mtu"] = json!(1400); // user fixes A
    d.put(&k, v);
    for _ in 0..10 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(!ops.is_empty(), "pair never retried after fixing A");
}

#[test]
fn namespace_creation_backs_off_exponentially() {
    let mut d = Harness::new();
    let (k, v) = dummy(
        "d1",
        "d1",
        Some(json!({"type":"NSID","reference":"ns1"})),
        "10.0.0.1/24",
    );
    d.put(&k, v);
    let mut delays = vec![];
    for _ in 0..6 {
        let cmds = d.pending();
        assert_eq!(cmds.len(), 1, "{cmds:?}");
        d.fail(&cmds[0], 16); // EBUSY
        let t = d.core.poll_timeout().unwrap().0;
        delays.push(t - d.now);
        d.now = t;
        d.event(Event::TimerFired);
    }
    assert!(delays[5] > delays[0], "no exponential backoff: {delays:?}");
}

#[test]
fn the_oldest_item_keeps_a_contested_link_name() {
    let mut d = Harness::new();
    let (k0, v0) = dummy("a0", "a0", None, "10.0.0.1/24");
    d.put(&k0, v0);
    let (kx, vx) = dummy("X", "eth0", None, "10.0.0.1/24");
    d.put(&kx, vx);
    d.settle();
    d.delete(&k0);
    d.settle();
    assert!(is_applied(&d.state(&kx)));
    let (ky, vy) = dummy("Y", "eth0", None, "10.0.0.2/24");
    d.put(&ky, vy);
    let ops = d.settle();
    assert!(
        is_applied(&d.state(&kx)),
        "applied X lost its link to a newer Y: {ops:?}"
    );
}

#[test]
fn resync_lets_an_existing_item_keep_its_link() {
    let mut d = Harness::new();
    let kx = iface_key("X");
    d.put(&kx, json!({"name":"X","host_if_name":"x","type":"EXISTING","enabled":true,"ip_addresses":["10.0.0.1/24"],"namespace":{"type":"PID","reference":"5"}}));
    d.settle();
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Pid(5),
            links: vec![link(
                "x",
                LinkKind::Dummy,
                &mine("X"),
                &["10.0.0.1/24"],
                None,
            )],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let cmds = d.pending();
    for c in &cmds {
        d.ok(c);
    }
    d.settle();
    assert!(
        !cmds.iter().any(|c| matches!(c.op, Op::DeleteLink { .. })),
        "deleted the link X borrows"
    );
    assert!(is_applied(&d.state(&kx)), "{}", d.state(&kx));
}

/// Two items competing for one link name are kept in a list in the order their claims were
/// made; a restore rebuilds the list in slot order. When the contest changes, the competitors
/// were marked (and so reconciled) in the list's order, so after a restore the other end of a
/// veth pair created the pair: the same events gave other commands than the run that happened.
#[test]
fn a_restore_keeps_the_order_in_which_link_name_competitors_are_reconciled() {
    let mut d = Harness::new();
    // A gets the lower slot; B claims the name x first, A later (and wins it, being older).
    let (ka, mut va) = veth("A", "Z", None, "10.0.0.1/24");
    d.put(&ka, va.clone());
    let (kb, mut vb) = veth("B", "A", None, "10.0.0.2/24");
    vb["host_if_name"] = json!("x");
    d.put(&kb, vb.clone());
    va["host_if_name"] = json!("x");
    va["veth"] = json!({"peer_if_name": "B"});
    d.put(&ka, va);
    assert!(
        d.pending().is_empty(),
        "both ends want x: nothing to do yet"
    );
    let json = serde_json::to_string(&d.core).unwrap();
    let mut restored: Core = serde_json::from_str(&json).unwrap();
    // B gives the name up: the pair can be made, by whichever end is reconciled first.
    vb["host_if_name"] = json!("y");
    let item = Item::decode(&kb, &vb).unwrap();
    for core in [&mut d.core, &mut restored] {
        core.handle(
            Timestamp(0),
            Event::Put {
                seq: 10,
                item: item.clone(),
            },
        );
    }
    let a: Vec<_> = std::iter::from_fn(|| d.core.poll_command()).collect();
    let b: Vec<_> = std::iter::from_fn(|| restored.poll_command()).collect();
    assert!(
        a.iter().any(|c| matches!(c.op, Op::CreateLink { .. })),
        "{a:?}"
    );
    assert_eq!(a, b, "the restored core decided otherwise");
}

/// Seeds 930, 202 and 209 of the deep simulation: a veth end found by a resync while its item
/// was deleted is queued for removal (taking the other end along); its item comes back while
/// the removal waits for a retry. The pair was deleted and made again, changing both ifindexes;
/// now the item takes its link back.
#[test]
fn a_stale_link_whose_item_comes_back_is_taken_back_not_made_again() {
    let mut d = Harness::new();
    let n = Netns::Named("n1".into());
    d.event(Event::NamespaceAvailable { ns: n.clone() });
    let (k, v) = veth("v1", "v2", Some("n1"), "10.0.0.1/24");
    d.put(&k, v);
    d.event(Event::Restarted);
    d.event(Event::Observed(Snapshot {
        namespaces: vec![
            ObservedNamespace {
                ns: n.clone(),
                links: vec![link(
                    "v1",
                    LinkKind::Veth,
                    &mine("v1"),
                    &["10.0.0.1/24"],
                    Some((Netns::Default, "v2".into())),
                )],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
            ObservedNamespace {
                ns: Netns::Default,
                links: vec![link(
                    "v2",
                    LinkKind::Veth,
                    &mine("v2"),
                    &["10.0.0.2/24"],
                    Some((n.clone(), "v1".into())),
                )],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
        ],
        missing: vec![],
    }));
    // v2 has no item: its removal (which takes v1 along) fails and waits for a retry.
    let cmds = d.pending();
    assert!(
        matches!(&cmds[..], [c] if matches!(&c.op, Op::DeleteLink { name, .. } if name == "v2")),
        "{cmds:?}"
    );
    d.fail(&cmds[0], errno::EBUSY);
    let (k, v) = veth("v2", "v1", None, "10.0.0.2/24");
    d.put(&k, v);
    for _ in 0..20 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { .. } | Op::CreateLink { .. })),
        "re-made a pair both items could keep: {ops:?}"
    );
    assert!(
        is_applied(&d.state(&iface_key("v1"))),
        "{}",
        d.state(&iface_key("v1"))
    );
    assert!(
        is_applied(&d.state(&iface_key("v2"))),
        "{}",
        d.state(&iface_key("v2"))
    );
}

/// Seed 2808 of the deep simulation: after a restart, resync found an item's link in the
/// namespace it had left as well as in the one it moved to, and adopted whichever it saw first —
/// the wrong one — then deleted the right one as stale and made it again.
#[test]
fn resync_adopts_an_items_link_only_in_the_namespace_the_item_wants() {
    let mut d = Harness::new();
    let n = Netns::Named("n1".into());
    d.event(Event::NamespaceAvailable { ns: n.clone() });
    let (k, v) = dummy(
        "d",
        "d",
        Some(json!({"type":"NSID","reference":"n1"})),
        "10.0.0.1/24",
    );
    d.put(&k, v);
    d.event(Event::Restarted);
    d.event(Event::Observed(Snapshot {
        namespaces: vec![
            ObservedNamespace {
                ns: Netns::Default,
                links: vec![link("d", LinkKind::Dummy, &mine("d"), &[], None)],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
            ObservedNamespace {
                ns: n.clone(),
                links: vec![link(
                    "d",
                    LinkKind::Dummy,
                    &mine("d"),
                    &["10.0.0.1/24"],
                    None,
                )],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
        ],
        missing: vec![],
    }));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "d".into()
        }],
        "only the link left behind goes"
    );
    assert!(
        is_applied(&d.state(&iface_key("d"))),
        "{}",
        d.state(&iface_key("d"))
    );
}

/// Seed 679 (at e6a9e9c): an ARP item put again while the removal of its stale neighbour
/// waited to retry was adopted by the next resync, and then the retry deleted the neighbour
/// the item was reported applied for. The rule: resync drops a queued removal of the object it
/// adopts (machine/reclaim.rs).
#[test]
fn a_stale_neighbour_adopted_again_by_its_item_is_not_removed_by_the_removals_retry() {
    let mut d = Harness::new();
    let (k, v) = dummy("d0", "d0", None, "10.8.0.1/24");
    d.put(&k, v);
    d.settle();
    let seen = |d: &mut Harness| {
        let mut l = link("d0", LinkKind::Dummy, &mine("d0"), &["10.8.0.1/24"], None);
        l.mac = None;
        d.event(Event::Observed(Snapshot {
            namespaces: vec![ObservedNamespace {
                ns: Netns::Default,
                links: vec![l],
                routes: vec![],
                neighbours: vec![ObservedNeighbour {
                    link: "d0".into(),
                    ip: "10.8.0.8".parse().unwrap(),
                    mac: "02:aa:00:00:08:00".parse().unwrap(),
                }],
                rules: vec![],
            }],
            missing: vec![],
        }))
    };
    seen(&mut d);
    let cmds = d.pending();
    assert!(
        matches!(cmds.as_slice(), [c] if matches!(c.op, Op::DelNeighbour { .. })),
        "{cmds:?}"
    );
    d.fail(&cmds[0], errno::EAGAIN);
    let arp = "config/linux/l3/v2/arp/d0/10.8.0.8";
    d.put(
        arp,
        json!({"interface": "d0", "ip_address": "10.8.0.8", "hw_address": "02:aa:00:00:08:00"}),
    );
    seen(&mut d);
    for _ in 0..10 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(
        !ops.iter().any(|o| matches!(o, Op::DelNeighbour { .. })),
        "the neighbour its item holds was removed: {ops:?}"
    );
    assert!(is_applied(&d.state(arp)), "{}", d.state(arp));
}

/// Seed 902 (at e6a9e9c): a veth end put back while the removal of its stale pair waited to
/// retry was adopted by the next resync of its namespace; the retry then deleted the pair, and
/// the item, still believing it held its end, deleted it again (ENODEV). The rule: a finished
/// link removal clears the belief of whoever still thought it held the link (machine/stale.rs).
#[test]
fn a_link_adopted_while_its_stale_removal_waits_to_retry_is_not_deleted_twice() {
    let mut d = Harness::new();
    let n0 = Netns::Named("n0".into());
    let snapshot = || {
        Event::Observed(Snapshot {
            namespaces: vec![
                ObservedNamespace {
                    ns: Netns::Default,
                    links: vec![link(
                        "v0",
                        LinkKind::Veth,
                        &mine("v0"),
                        &[],
                        Some((n0.clone(), "v1".into())),
                    )],
                    routes: vec![],
                    neighbours: vec![],
                    rules: vec![],
                },
                ObservedNamespace {
                    ns: n0.clone(),
                    links: vec![link(
                        "v1",
                        LinkKind::Veth,
                        &mine("v1"),
                        &[],
                        Some((Netns::Default, "v0".into())),
                    )],
                    routes: vec![],
                    neighbours: vec![],
                    rules: vec![],
                },
            ],
            missing: vec![],
        })
    };
    d.event(snapshot());
    let cmds = d.pending();
    assert!(
        matches!(cmds.as_slice(), [c] if matches!(c.op, Op::DeleteLink { .. })),
        "{cmds:?}"
    );
    d.fail(&cmds[0], errno::EBUSY);
    // v0 comes back wanting its peer in a namespace that is not there: it cannot take the
    // pair back, and waits.
    let (k, v) = veth("v0", "v1", None, "10.0.0.1/24");
    d.put(&k, v);
    let (k1, mut v1) = veth("v1", "v0", None, "10.0.0.2/24");
    v1["namespace"] = json!({"type": "PID", "reference": "501"});
    d.put(&k1, v1);
    assert!(d.pending().is_empty());
    d.event(snapshot());
    let mut deletes = 0;
    for _ in 0..10 {
        d.advance(60_000);
        for c in d.pending() {
            if matches!(&c.op, Op::DeleteLink { ns: Netns::Default, name } if name == "v0") {
                deletes += 1;
            }
            d.ok(&c);
        }
    }
    assert_eq!(
        deletes,
        1,
        "v0 deleted {deletes} times; v0 is {}",
        d.state(&k)
    );
}

/// Seed 174 (after the namespace-identity merge): a stale route's removal waited to retry
/// while its link was taken down by hand, which drops the link's routes; the next look at the
/// namespace did not show the route, but the retry was sent anyway (ESRCH). The rule: a fresh
/// look that no longer shows a waiting removal's object ends the removal (machine/stale.rs).
#[test]
fn a_stale_removal_whose_object_a_fresh_look_no_longer_shows_is_not_sent() {
    let mut d = Harness::new();
    let (k, v) = dummy("d1", "d1", None, "10.9.0.1/24");
    d.put(&k, v);
    d.settle();
    let look = |d: &mut Harness, routes: Vec<RouteSpec>| {
        d.event(Event::Observed(Snapshot {
            namespaces: vec![ObservedNamespace {
                ns: Netns::Default,
                links: vec![link(
                    "d1",
                    LinkKind::Dummy,
                    &mine("d1"),
                    &["10.9.0.1/24"],
                    None,
                )],
                routes,
                neighbours: vec![],
                rules: vec![],
            }],
            missing: vec![],
        }))
    };
    let route = RouteSpec {
        dev: "d1".into(),
        dst: "10.99.0.0/16".parse().unwrap(),
        gw: None,
        metric: 0,
        scope: RouteScope::Link,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    };
    look(&mut d, vec![route]);
    let cmds = d.pending();
    assert!(
        matches!(cmds.as_slice(), [c] if matches!(c.op, Op::DelRoute { .. })),
        "{cmds:?}"
    );
    d.fail(&cmds[0], errno::ENOBUFS);
    look(&mut d, vec![]);
    for _ in 0..10 {
        d.advance(60_000);
    }
    let ops = d.settle();
    assert!(
        !ops.iter().any(|o| matches!(o, Op::DelRoute { .. })),
        "a removal of a route that is gone was sent: {ops:?}"
    );
}
