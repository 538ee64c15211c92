//! One test per rule of the core state machine, named after the rule.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn put_veth(d: &mut Harness, name: &str, peer: &str, ns: Option<&str>, addr: &str) {
    let (k, v) = veth(name, peer, ns, addr);
    d.put(&k, v);
}

fn creates(ops: &[Op]) -> usize {
    ops.iter()
        .filter(|o| matches!(o, Op::CreateLink { .. }))
        .count()
}

#[test]
fn named_namespace_is_created_when_missing() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", Some("ns1"), "10.0.0.1/24");
    let cmds = d.pending();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].op, Op::CreateNamespace { name: "ns1".into() });
    assert!(reasons(&d.state(&iface_key("v1")))
        .iter()
        .any(|r| r.contains("being created")));
}

#[test]
fn veth_pair_is_created_only_when_both_ends_are_configured() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", None, "10.0.0.1/24");
    assert!(
        d.settle().is_empty(),
        "one end alone must not create anything"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("v1"))),
        vec!["veth peer 'v2' is not configured"]
    );
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    let ops = d.settle();
    assert_eq!(creates(&ops), 1, "one command creates the pair: {ops:?}");
    assert!(is_applied(&d.state(&iface_key("v1"))));
    assert!(is_applied(&d.state(&iface_key("v2"))));
}

#[test]
fn veth_pair_is_created_only_when_both_namespaces_are_available() {
    let mut d = Harness::new();
    let (k1, mut v1) = veth("v1", "v2", None, "10.0.0.1/24");
    v1["namespace"] = json!({"type": "PID", "reference": "4242"});
    d.put(&k1, v1);
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    assert!(d.settle().is_empty());
    assert!(reasons(&d.state(&iface_key("v2")))[0].contains("pid 4242"));
    d.event(Event::NamespaceAvailable {
        ns: Netns::Pid(4242),
    });
    let ops = d.settle();
    match &ops[0] {
        Op::CreateLink {
            ns,
            kind: NewLink::Veth { peer_ns, .. },
            ..
        } => {
            let mut pair = [ns.clone(), peer_ns.clone()];
            pair.sort();
            assert_eq!(pair, [Netns::Default, Netns::Pid(4242)]);
        }
        other => panic!("expected a veth creation, got {other}"),
    }
}

#[test]
fn veth_pair_is_created_with_the_peer_directly_in_its_namespace() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", None, "10.0.0.1/24");
    put_veth(&mut d, "v2", "v1", Some("ns1"), "10.0.0.2/24");
    let ops = d.settle();
    let create = ops
        .iter()
        .find(|o| matches!(o, Op::CreateLink { .. }))
        .unwrap();
    let Op::CreateLink {
        ns,
        link,
        kind: NewLink::Veth { peer_ns, peer },
    } = create
    else {
        panic!()
    };
    // Either end may send the request; each end is named in its own namespace.
    let mut ends = [
        (ns.clone(), link.name.clone()),
        (peer_ns.clone(), peer.name.clone()),
    ];
    ends.sort();
    assert_eq!(
        ends,
        [
            (Netns::Default, "v1".to_string()),
            (Netns::Named("ns1".into()), "v2".to_string())
        ]
    );
    assert!(
        !ops.iter().any(|o| matches!(o, Op::SetLink { .. })),
        "never create-then-move: {ops:?}"
    );
}

#[test]
fn veth_pair_is_removed_when_either_end_is_deleted() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", None, "10.0.0.1/24");
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    d.settle();
    d.delete(&iface_key("v2"));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "v2".into()
        }]
    );
    assert_eq!(
        reasons(&d.state(&iface_key("v1"))),
        vec!["veth peer 'v2' is not configured"]
    );
    assert_eq!(
        d.core.status(&iface_key("v2").parse().unwrap()),
        None,
        "a deleted item is forgotten once gone"
    );
    // Put back: the pair returns by itself.
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    assert_eq!(creates(&d.settle()), 1);
    assert!(is_applied(&d.state(&iface_key("v1"))));
}

#[test]
fn veth_pair_is_removed_when_a_namespace_vanishes_and_recreated_when_it_is_back() {
    let mut d = Harness::new();
    let (k1, mut v1) = veth("v1", "v2", None, "10.0.0.1/24");
    v1["namespace"] = json!({"type": "PID", "reference": "77"});
    d.put(&k1, v1);
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    d.event(Event::NamespaceAvailable { ns: Netns::Pid(77) });
    d.settle();
    d.event(Event::NamespaceVanished { ns: Netns::Pid(77) });
    assert!(
        d.settle().is_empty(),
        "the kernel removed both ends; nothing to do"
    );
    assert!(reasons(&d.state(&iface_key("v2")))[0].contains("pid 77"));
    d.event(Event::NamespaceAvailable { ns: Netns::Pid(77) });
    assert_eq!(creates(&d.settle()), 1);
    assert!(is_applied(&d.state(&iface_key("v1"))));
}

#[test]
fn vanished_pid_namespace_makes_items_pending_never_failed() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "namespace": {"type": "PID", "reference": "99"}}));
    d.event(Event::NamespaceAvailable { ns: Netns::Pid(99) });
    let cmds = d.pending();
    // The process exits while the command is in flight: the backend cannot enter it.
    let error = BackendError::new(&cmds[0].op, ErrorKind::NamespaceGone, "no such process");
    d.event(Event::CommandFailed {
        id: cmds[0].id,
        error,
    });
    assert!(
        matches!(d.state(&iface_key("d1")), ItemState::Pending { .. }),
        "got {}",
        d.state(&iface_key("d1"))
    );
    assert!(d.pending().is_empty());
}

#[test]
fn named_namespace_deleted_by_hand_is_recreated_and_its_items_return() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", Some("red"), "10.0.0.1/24");
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    d.settle();
    d.event(Event::NamespaceVanished {
        ns: Netns::Named("red".into()),
    });
    let ops = d.settle();
    assert_eq!(ops[0], Op::CreateNamespace { name: "red".into() });
    assert_eq!(creates(&ops), 1);
    assert!(is_applied(&d.state(&iface_key("v2"))));
}

#[test]
fn interface_is_up_and_addressed_before_its_routes_and_arps() {
    let mut d = Harness::new();
    d.put(
        "config/linux/l3/v2/route/10.9.0.0/24/d1",
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.254"}),
    );
    d.put(
        "config/linux/l3/v2/arp/d1/10.0.0.7",
        json!({"interface": "d1", "ip_address": "10.0.0.7", "hw_address": "02:00:00:00:00:07"}),
    );
    assert!(d.settle().is_empty());
    assert_eq!(
        reasons(&d.state("config/linux/l3/v2/route/10.9.0.0/24/d1")),
        vec!["interface 'd1' is not configured"]
    );
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24"]}),
    );
    let ops = d.settle();
    let pos = |f: &dyn Fn(&Op) -> bool| ops.iter().position(f).unwrap();
    let create = pos(&|o| matches!(o, Op::CreateLink { link, .. } if link.up));
    let addr = pos(&|o| matches!(o, Op::AddAddress { .. }));
    let route = pos(&|o| matches!(o, Op::AddRoute { .. }));
    let neigh = pos(&|o| matches!(o, Op::SetNeighbour { .. }));
    assert!(create < addr && addr < route && addr < neigh, "{ops:?}");
    assert!(is_applied(
        &d.state("config/linux/l3/v2/route/10.9.0.0/24/d1")
    ));
}

#[test]
fn route_waits_for_reachable_gateway() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24"]}),
    );
    let rk = "config/linux/l3/v2/route/10.9.0.0/24/d1";
    d.put(
        rk,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.5.0.1"}),
    );
    let ops = d.settle();
    assert!(!ops.iter().any(|o| matches!(o, Op::AddRoute { .. })));
    assert_eq!(
        reasons(&d.state(rk)),
        vec!["gateway 10.5.0.1 is not in a subnet of interface 'd1'"]
    );
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24", "10.5.0.2/16"]}));
    let ops = d.settle();
    assert!(
        ops.iter().any(|o| matches!(o, Op::AddRoute { .. })),
        "{ops:?}"
    );
}

#[test]
fn disabled_interface_keeps_its_routes_pending() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": false, "ip_addresses": ["10.0.0.1/24"]}),
    );
    let rk = "config/linux/l3/v2/route/10.9.0.0/24/d1";
    d.put(
        rk,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24"}),
    );
    d.settle();
    assert_eq!(reasons(&d.state(rk)), vec!["interface 'd1' is disabled"]);
}

#[test]
fn update_changes_mtu_mac_and_addresses_in_place() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24"]}),
    );
    d.settle();
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "mtu": 9000, "phys_address": "02:aa:00:00:00:01", "ip_addresses": ["10.0.0.2/24"]}));
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|o| matches!(o, Op::CreateLink { .. } | Op::DeleteLink { .. })),
        "{ops:?}"
    );
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::SetLink { change, .. } if change.mtu == Some(9000))));
    assert!(ops.contains(&Op::DelAddress {
        ns: Netns::Default,
        link: "d1".into(),
        addr: "10.0.0.1/24".parse().unwrap()
    }));
    assert!(ops.contains(&Op::AddAddress {
        ns: Netns::Default,
        link: "d1".into(),
        addr: "10.0.0.2/24".parse().unwrap()
    }));
    assert!(is_applied(&d.state(&iface_key("d1"))));
}

#[test]
fn change_of_namespace_type_or_peer_recreates() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", None, "10.0.0.1/24");
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    d.settle();
    // Namespace change: delete, then create in the new place.
    put_veth(&mut d, "v2", "v1", Some("blue"), "10.0.0.2/24");
    let ops = d.settle();
    let del = ops
        .iter()
        .position(|o| matches!(o, Op::DeleteLink { .. }))
        .expect("deleted");
    let cre = ops
        .iter()
        .position(|o| matches!(o, Op::CreateLink { .. }))
        .expect("created");
    assert!(del < cre);
    // Type change.
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true}),
    );
    d.settle();
    put_veth(&mut d, "d1", "d2", None, "10.0.1.1/24");
    put_veth(&mut d, "d2", "d1", None, "10.0.1.2/24");
    let ops = d.settle();
    assert!(
        ops.contains(&Op::DeleteLink {
            ns: Netns::Default,
            name: "d1".into()
        }),
        "{ops:?}"
    );
    assert_eq!(creates(&ops), 1);
}

#[test]
fn route_gateway_change_is_replaced_in_place_and_metric_change_recreates() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24"]}),
    );
    let rk = "config/linux/l3/v2/route/10.9.0.0/24/d1";
    d.put(
        rk,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.254"}),
    );
    d.settle();
    d.put(
        rk,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.253"}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { .. }]),
        "{ops:?}"
    );
    d.put(rk, json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.253", "metric": 50}));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::DelRoute { .. }, Op::AddRoute { .. }]),
        "{ops:?}"
    );
}

#[test]
fn managed_links_carry_an_alias() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "host_if_name": "dum0"}),
    );
    let ops = d.settle();
    let Op::CreateLink { link, .. } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(link.alias.as_deref(), Some(mine("d1").as_str()));
    assert_eq!(link.name, "dum0");
}

#[test]
fn existing_interface_is_configured_never_created_or_deleted() {
    let mut d = Harness::new();
    d.put(&iface_key("e"), json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9", "enabled": true, "ip_addresses": ["10.1.0.1/24"]}));
    assert_eq!(d.settle(), vec![], "observed before anything is changed");
    d.observe_default(vec![host_link("eth9", false, 1500, &["10.9.0.1/24"])]);
    let ops = d.settle();
    assert!(
        matches!(&ops[0], Op::SetLink { name, change, .. } if name == "eth9" && change.up == Some(true) && change.alias.is_none()),
        "{ops:?}"
    );
    assert!(ops.iter().all(|o| !matches!(o, Op::CreateLink { .. })));
    d.delete(&iface_key("e"));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![
            Op::SetLink {
                ns: Netns::Default,
                name: "eth9".into(),
                change: LinkChange {
                    up: Some(false),
                    ..LinkChange::default()
                }
            },
            Op::DelAddress {
                ns: Netns::Default,
                link: "eth9".into(),
                addr: "10.1.0.1/24".parse().unwrap()
            }
        ],
        "put back down, and only the address the agent added is deleted"
    );
}

#[test]
fn existing_interface_that_is_missing_retries() {
    let mut d = Harness::new();
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9", "enabled": true}),
    );
    d.observe_default(vec![]);
    assert!(matches!(
        d.state(&iface_key("e")),
        ItemState::Failed {
            retry_at: Some(_),
            ..
        }
    ));
    assert!(
        d.core.poll_resync().is_none(),
        "not asked again before the retry"
    );
    d.advance(100);
    d.observe_default(vec![host_link("eth9", false, 1500, &[])]);
    assert!(matches!(d.pending()[0].op, Op::SetLink { .. }));
}

#[test]
fn failed_commands_retry_with_exponential_backoff() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true}),
    );
    let mut delays = Vec::new();
    for _ in 0..5 {
        let c = d.pending().remove(0);
        let before = d.now;
        d.fail(&c, EEXIST);
        let at = d.core.poll_timeout().expect("a retry is scheduled").0;
        delays.push(at - before);
        d.advance(at - before - 1);
        assert!(d.pending().is_empty(), "no retry before its time");
        d.advance(1);
    }
    assert_eq!(delays, vec![100, 200, 400, 800, 1600]);
    let c = d.pending().remove(0);
    d.ok(&c);
    assert!(is_applied(&d.state(&iface_key("d1"))));
}

#[test]
fn terminal_errors_are_not_retried_until_the_item_changes() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "mtu": 9000}),
    );
    let c = d.pending().remove(0);
    d.fail(&c, nsagent_core::errno::EINVAL);
    assert!(matches!(
        d.state(&iface_key("d1")),
        ItemState::Failed {
            retry_at: None,
            attempts: 1,
            ..
        }
    ));
    assert_eq!(d.core.poll_timeout(), None);
    d.advance(60_000);
    assert!(d.pending().is_empty());
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "mtu": 1500}),
    );
    assert_eq!(d.pending().len(), 1);
}

#[test]
fn removal_of_what_is_already_gone_counts_as_done() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24"]}),
    );
    d.settle();
    d.delete(&iface_key("d1"));
    let c = d.pending().remove(0);
    d.fail(&c, nsagent_core::errno::ENODEV);
    assert_eq!(d.core.status(&iface_key("d1").parse().unwrap()), None);
}

#[test]
fn microservice_items_wait_for_their_container_and_follow_its_restarts() {
    let mut d = Harness::new();
    let (k1, mut v1) = veth("v1", "v2", None, "10.0.0.1/24");
    v1["namespace"] = json!({"type": "MICROSERVICE", "reference": "ms1"});
    d.put(&k1, v1);
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    assert!(d.settle().is_empty());
    assert_eq!(
        reasons(&d.state(&k1)),
        vec!["microservice 'ms1' is not running"]
    );
    let start = |pid| Event::MicroserviceStarted {
        label: "ms1".into(),
        container_id: "c1".into(),
        pid,
        duplicates: vec![],
    };
    d.event(start(500));
    let ops = d.settle();
    assert!(ops.iter().any(|o| matches!(
        o,
        Op::CreateLink {
            ns: Netns::Pid(500),
            ..
        }
    ) || matches!(
        o,
        Op::CreateLink {
            kind: NewLink::Veth {
                peer_ns: Netns::Pid(500),
                ..
            },
            ..
        }
    )));
    d.event(start(600));
    let ops = d.settle();
    assert_eq!(
        creates(&ops),
        1,
        "restart with a new pid re-creates the pair: {ops:?}"
    );
    d.event(Event::MicroserviceStopped {
        label: "ms1".into(),
        container_id: "c1".into(),
    });
    assert!(d.settle().is_empty());
    assert_eq!(
        reasons(&d.state(&k1)),
        vec!["microservice 'ms1' is not running"]
    );
}

#[test]
fn docker_not_connected_is_the_pending_reason() {
    let mut d = Harness::new();
    d.event(Event::MicroserviceWatch { connected: false });
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "namespace": {"type": "MICROSERVICE", "reference": "ms9"}}));
    assert!(reasons(&d.state(&iface_key("d1")))[0].starts_with("docker not connected"));
}

#[test]
fn duplicate_microservice_labels_are_reported() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "namespace": {"type": "MICROSERVICE", "reference": "ms1"}}));
    d.event(Event::MicroserviceStarted {
        label: "ms1".into(),
        container_id: "new".into(),
        pid: 5,
        duplicates: vec!["old".into()],
    });
    let e = d.core.explain(&iface_key("d1").parse().unwrap()).unwrap();
    assert!(e.warnings[0].contains("ignoring old"), "{:?}", e.warnings);
}

#[test]
fn host_name_taken_by_another_item_keeps_the_later_one_pending() {
    let mut d = Harness::new();
    d.put(
        &iface_key("a"),
        json!({"name": "a", "type": "DUMMY", "host_if_name": "same"}),
    );
    d.put(
        &iface_key("b"),
        json!({"name": "b", "type": "DUMMY", "host_if_name": "same"}),
    );
    assert_eq!(creates(&d.settle()), 1);
    assert!(reasons(&d.state(&iface_key("b")))[0].contains("taken by item 'a'"));
    d.delete(&iface_key("a"));
    let ops = d.settle();
    let del = ops
        .iter()
        .position(|o| matches!(o, Op::DeleteLink { .. }))
        .unwrap();
    let cre = ops
        .iter()
        .position(|o| matches!(o, Op::CreateLink { .. }))
        .unwrap();
    assert!(del < cre, "{ops:?}");
    assert!(is_applied(&d.state(&iface_key("b"))));
}

fn observed_link(name: &str, alias: Option<&str>, mtu: u32, addrs: &[&str]) -> ObservedLink {
    ObservedLink {
        name: name.into(),
        kind: LinkKind::Dummy,
        alias: alias.map(String::from),
        mtu,
        mac: None,
        up: true,
        addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
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

fn snapshot(links: Vec<ObservedLink>) -> Event {
    default_seen(links)
}

#[test]
fn resync_of_a_configured_kernel_changes_nothing() {
    let mut d = Harness::new();
    d.event(Event::Restarted);
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "mtu": 1400, "ip_addresses": ["10.0.0.1/24"]}));
    assert!(
        d.pending().is_empty(),
        "nothing is issued before the kernel is observed"
    );
    d.event(snapshot(vec![observed_link(
        "d1",
        Some(mine("d1").as_str()),
        1400,
        &["10.0.0.1/24", "fe80::1/64"],
    )]));
    assert_eq!(d.settle(), vec![]);
    assert!(is_applied(&d.state(&iface_key("d1"))));
}

#[test]
fn resync_corrects_a_managed_link_changed_by_hand() {
    let mut d = Harness::new();
    d.event(Event::Restarted);
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "mtu": 1400, "ip_addresses": ["10.0.0.1/24"]}));
    d.event(snapshot(vec![observed_link(
        "d1",
        Some(mine("d1").as_str()),
        1500,
        &["10.0.0.9/24"],
    )]));
    let ops = d.settle();
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::SetLink { change, .. } if change.mtu == Some(1400))));
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::DelAddress { addr, .. } if addr.to_string() == "10.0.0.9/24")));
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::AddAddress { addr, .. } if addr.to_string() == "10.0.0.1/24")));
}

#[test]
fn resync_never_touches_unmanaged_links_and_removes_stale_managed_ones() {
    let mut d = Harness::new();
    d.event(Event::Restarted);
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true}),
    );
    d.event(snapshot(vec![
        observed_link("d1", Some(mine("d1").as_str()), 1500, &[]),
        observed_link("d1x", None, 1500, &["10.0.0.1/24"]),
        observed_link("old", Some(mine("old").as_str()), 1500, &[]),
    ]));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "old".into()
        }]
    );
}

#[test]
fn same_events_give_the_same_commands_even_across_a_snapshot_restore() {
    let script = |d: &mut Harness| {
        put_veth(d, "v1", "v2", Some("a"), "10.0.0.1/24");
        put_veth(d, "v2", "v1", Some("b"), "10.0.0.2/24");
        d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.2.0.1/24"]}));
    };
    let mut a = Harness::new();
    script(&mut a);
    let first = a.settle();
    let mut b = Harness::new();
    script(&mut b);
    // Serialize mid-way (with commands queued) and continue on the restored copy.
    let bytes = serde_json::to_vec(&b.core).expect("core serializes");
    b.core = serde_json::from_slice(&bytes).expect("core deserializes");
    let second = b.settle();
    assert_eq!(first, second);
    assert!(!first.is_empty());
}

#[test]
fn explain_tells_why_an_item_is_pending() {
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", None, "10.0.0.1/24");
    d.put(
        &iface_key("v2"),
        json!({"name": "v2", "type": "VETH", "veth": {"peer_if_name": "other"}}),
    );
    let e = d.core.explain(&iface_key("v1").parse().unwrap()).unwrap();
    assert_eq!(
        e.state.to_string(),
        "pending: veth peer 'v2' names 'other' as its peer"
    );
    assert_eq!(e.last_seq, Some(1));
    assert!(e.desired.is_some());
}

#[test]
fn ipv6_route_with_metric_zero_is_sent_as_the_kernels_1024() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["fd00::1/64"]}),
    );
    d.put(
        "config/linux/l3/v2/route/fd99::/48/d1",
        json!({"outgoing_interface": "d1", "dst_network": "fd99::/48", "gw_addr": "fd00::fe"}),
    );
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::AddRoute { route, .. } if route.metric == 1024)),
        "{ops:?}"
    );
}

#[test]
fn deleting_a_primary_ipv4_address_drops_its_secondaries_too() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24", "10.0.0.2/24"]}));
    d.settle();
    // Dropping the primary: the kernel also drops 10.0.0.2, so the core must add it back.
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.2/24"]}),
    );
    let ops = d.settle();
    let text: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
    assert_eq!(
        text,
        vec![
            "delete address 10.0.0.1/24 from d1 in default namespace",
            "add address 10.0.0.2/24 to d1 in default namespace",
        ]
    );
}

#[test]
fn newer_container_taking_a_label_over_moves_the_links_out_of_the_old_one() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), json!({"name": "d1", "type": "DUMMY", "enabled": true, "namespace": {"type": "MICROSERVICE", "reference": "ms1"}}));
    d.event(Event::MicroserviceStarted {
        label: "ms1".into(),
        container_id: "old".into(),
        pid: 5,
        duplicates: vec![],
    });
    d.settle();
    d.event(Event::MicroserviceStarted {
        label: "ms1".into(),
        container_id: "new".into(),
        pid: 6,
        duplicates: vec!["old".into()],
    });
    let ops = d.settle();
    assert_eq!(
        ops[0],
        Op::DeleteLink {
            ns: Netns::Pid(5),
            name: "d1".into()
        },
        "{ops:?}"
    );
    assert!(
        matches!(
            &ops[1],
            Op::CreateLink {
                ns: Netns::Pid(6),
                ..
            }
        ),
        "{ops:?}"
    );
}

#[test]
fn link_name_still_taken_is_retried_when_its_namespace_is_observed_again() {
    // The far end of a veth outlives its namespace for up to a second; the watcher observes the
    // namespace again when it goes, and the pair should not wait out the backoff.
    let mut d = Harness::new();
    put_veth(&mut d, "v1", "v2", None, "10.0.0.1/24");
    put_veth(&mut d, "v2", "v1", None, "10.0.0.2/24");
    let c = d.pending().remove(0);
    d.fail(&c, EEXIST);
    assert!(d.pending().is_empty(), "waits for its retry");
    let observed = Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    };
    d.event(Event::Observed(observed));
    let retried = d.pending();
    assert!(
        matches!(retried.as_slice(), [c] if matches!(c.op, Op::CreateLink { .. })),
        "{retried:?}"
    );
}

#[test]
fn a_borrowed_link_changes_only_what_the_item_sets_and_gets_its_originals_back() {
    let mut d = Harness::new();
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9", "mtu": 1300,
            "ip_addresses": ["10.1.0.1/24"]}),
    );
    d.observe_default(vec![host_link("eth9", true, 1400, &["10.9.0.1/24"])]);
    let ops = d.settle();
    let change = LinkChange {
        mtu: Some(1300),
        ..LinkChange::default()
    };
    assert!(
        matches!(&ops[0], Op::SetLink { change: c, .. } if *c == change),
        "no admin state, no MAC: {ops:?}"
    );
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(is_applied(&d.state(&iface_key("e"))));
    // The originals survive a snapshot.
    let bytes = serde_json::to_vec(&d.core).expect("encode");
    d.core = serde_json::from_slice(&bytes).expect("decode");
    // No longer setting the MTU gives the original back.
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9",
            "ip_addresses": ["10.1.0.1/24"]}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::SetLink { change, .. }] if change.mtu == Some(1400) && change.up.is_none()),
        "{ops:?}"
    );
    d.delete(&iface_key("e"));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::DelAddress { addr, .. }] if addr.to_string() == "10.1.0.1/24"),
        "the address that was there stays: {ops:?}"
    );
}

#[test]
fn borrowing_is_refused_off_the_allow_list_and_on_the_agents_nats_link() {
    let mut d = Harness::new();
    d.event(Event::BorrowPolicy(BorrowPolicy {
        allow: vec!["lo".into(), "veth*".into()],
        protected: vec![ProtectedLink {
            ns: Netns::Default,
            name: "lo".into(),
            address: Some([127, 0, 0, 1].into()),
            server: [127, 0, 0, 1].into(),
        }],
    }));
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9", "enabled": true}),
    );
    d.put(
        &iface_key("l"),
        json!({"name": "l", "type": "LOOPBACK", "phys_address": "02:00:00:00:00:01"}),
    );
    assert_eq!(d.settle(), vec![], "nothing touched");
    for (key, why) in [("e", "--borrow-allow lo,veth*"), ("l", "phys_address")] {
        match d.state(&iface_key(key)) {
            ItemState::Failed {
                error, retry_at, ..
            } => assert!(
                error.starts_with("refused: ") && error.contains(why) && retry_at.is_none(),
                "{error}"
            ),
            other => panic!("{key}: {other:?}"),
        }
    }
    // A policy that allows it judges the item again.
    d.event(Event::BorrowPolicy(BorrowPolicy::default()));
    d.observe_default(vec![host_link("eth9", false, 1500, &[])]);
    assert!(d
        .settle()
        .iter()
        .any(|o| matches!(o, Op::SetLink { name, .. } if name == "eth9")));
}

fn veth_named(name: &str, host: &str, peer: &str, addr: &str) -> serde_json::Value {
    json!({"name": name, "type": "VETH", "host_if_name": host, "enabled": true,
        "ip_addresses": [addr], "veth": {"peer_if_name": peer}})
}

#[test]
fn host_name_change_renames_the_link_in_place_and_keeps_its_routes_and_arps() {
    let mut d = Harness::new();
    d.put(
        &iface_key("v1"),
        veth_named("v1", "v1", "v2", "10.0.0.1/24"),
    );
    d.put(
        &iface_key("v2"),
        veth_named("v2", "v2", "v1", "10.0.0.2/24"),
    );
    let route = "config/linux/l3/v2/route/10.9.0.0/24/v1";
    d.put(
        route,
        json!({"outgoing_interface": "v1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.2"}),
    );
    let arp = "config/linux/l3/v2/arp/v1/10.0.0.7";
    d.put(
        arp,
        json!({"interface": "v1", "ip_address": "10.0.0.7", "hw_address": "02:00:00:00:00:07"}),
    );
    d.settle();
    assert!(is_applied(&d.state(route)) && is_applied(&d.state(arp)));

    d.put(
        &iface_key("v1"),
        veth_named("v1", "v1-new", "v2", "10.0.0.1/24"),
    );
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::RenameLink {
            ns: Netns::Default,
            name: "v1".into(),
            new_name: "v1-new".into(),
        }],
        "one rename, nothing re-created, routes and neighbours left where the kernel keeps them"
    );
    for key in [&iface_key("v1"), &iface_key("v2"), route, arp] {
        assert!(is_applied(&d.state(key)), "{key}: {}", d.state(key));
    }

    // What follows is done under the new name, on both ends of the pair.
    d.delete(route);
    d.put(
        &iface_key("v2"),
        veth_named("v2", "v2-new", "v1", "10.0.0.2/24"),
    );
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::DelRoute { route, .. } if route.dev == "v1-new")),
        "{ops:?}"
    );
    assert!(ops.contains(&Op::RenameLink {
        ns: Netns::Default,
        name: "v2".into(),
        new_name: "v2-new".into(),
    }));
    assert_eq!(creates(&ops), 0, "{ops:?}");
    d.delete(&iface_key("v2"));
    assert_eq!(
        d.settle(),
        vec![Op::DeleteLink {
            ns: Netns::Default,
            name: "v2-new".into()
        }]
    );
}

/// After a restart the kernel may hold the two links under each other's wanted names. Each
/// waiting for the other's name would never end: a link whose wanted name another item's link
/// holds is re-created instead, which frees its old name first.
#[test]
fn host_names_swapped_between_two_links_are_recreated_rather_than_renamed_in_a_deadlock() {
    let mut d = Harness::new();
    d.event(Event::Restarted);
    for (item, host) in [("d1", "hb"), ("d2", "ha")] {
        d.put(
            &iface_key(item),
            json!({"name": item, "type": "DUMMY", "host_if_name": host, "enabled": true, "mtu": 1500}),
        );
    }
    d.event(snapshot(vec![
        observed_link("ha", Some(mine("d1").as_str()), 1500, &[]),
        observed_link("hb", Some(mine("d2").as_str()), 1500, &[]),
    ]));
    let ops = d.settle();
    assert!(
        ops.iter().all(|o| !matches!(o, Op::RenameLink { .. })),
        "{ops:?}"
    );
    assert_eq!(creates(&ops), 2, "{ops:?}");
    assert!(is_applied(&d.state(&iface_key("d1"))));
    assert!(is_applied(&d.state(&iface_key("d2"))));
}

/// A settled pair v1/v2, and the rename of v1's link the core issues for a new host name.
fn renaming_v1_to(host: &str) -> (Harness, Command) {
    let mut d = Harness::new();
    d.put(
        &iface_key("v1"),
        veth_named("v1", "v1", "v2", "10.0.0.1/24"),
    );
    d.put(
        &iface_key("v2"),
        veth_named("v2", "v2", "v1", "10.0.0.2/24"),
    );
    d.settle();
    d.put(
        &iface_key("v1"),
        veth_named("v1", host, "v2", "10.0.0.1/24"),
    );
    let c = d.pending().remove(0);
    assert!(matches!(c.op, Op::RenameLink { .. }), "{:?}", c.op);
    (d, c)
}

#[test]
fn rename_onto_a_name_someone_else_has_fails_and_keeps_the_link() {
    let (mut d, c) = renaming_v1_to("eth0");
    d.fail(&c, EEXIST);
    match d.state(&iface_key("v1")) {
        ItemState::Failed { error, .. } => {
            assert!(error.contains("rename link v1 to eth0"), "{error}")
        }
        other => panic!("expected failed, got {other}"),
    }
    assert!(
        d.pending().is_empty(),
        "the link stays as it is; nothing deleted"
    );
}

#[test]
fn existing_interface_with_another_host_name_is_another_link_never_renamed() {
    let mut d = Harness::new();
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9", "enabled": true}),
    );
    d.observe_default(vec![host_link("eth9", false, 1500, &[])]);
    d.settle();
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth8", "enabled": true}),
    );
    let mut ops = d.settle();
    d.observe_default(vec![
        host_link("eth9", false, 1500, &[]),
        host_link("eth8", false, 1500, &[]),
    ]);
    ops.extend(d.settle());
    assert!(
        ops.iter().all(|o| !matches!(o, Op::RenameLink { .. })),
        "{ops:?}"
    );
    assert!(
        matches!(&ops[0], Op::SetLink { name, change, .. } if name == "eth9" && change.up == Some(false)),
        "eth9 given back down as it was: {ops:?}"
    );
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::SetLink { name, .. } if name == "eth8")),
        "{ops:?}"
    );
}

/// Linux before 6.2 renames only links that are down: the agent then takes the link down,
/// renames it, and brings it up again.
#[test]
fn a_link_the_kernel_will_not_rename_while_up_is_renamed_down_then_brought_back_up() {
    let (mut d, c) = renaming_v1_to("v1-new");
    d.fail(&c, nsagent_core::errno::EBUSY);
    assert!(d.pending().is_empty(), "backs off first");
    d.advance(60_000);
    let ops = d.settle();
    let rename = Op::RenameLink {
        ns: Netns::Default,
        name: "v1".into(),
        new_name: "v1-new".into(),
    };
    let at = |f: &dyn Fn(&Op) -> bool| ops.iter().position(f).unwrap_or_else(|| panic!("{ops:?}"));
    let down = at(
        &|o| matches!(o, Op::SetLink { name, change, .. } if name == "v1" && change.up == Some(false)),
    );
    let renamed = at(&|o| *o == rename);
    let up = at(
        &|o| matches!(o, Op::SetLink { name, change, .. } if name == "v1-new" && change.up == Some(true)),
    );
    assert!(down < renamed && renamed < up, "{ops:?}");
    assert!(is_applied(&d.state(&iface_key("v1"))));
}
