//! Checksum offloading of veths (vpp-agent's `veth.rx/tx_checksum_offloading`): set once the
//! link is there, as a command of its own, and set again when a look finds it changed.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn pair(rx: &str, tx: &str) -> Harness {
    let mut d = Harness::new();
    d.put(
        &iface_key("a"),
        json!({"name": "a", "type": "VETH", "enabled": true,
               "veth": {"peer_if_name": "b", "rx_checksum_offloading": rx, "tx_checksum_offloading": tx}}),
    );
    d.put(
        &iface_key("b"),
        json!({"name": "b", "type": "VETH", "enabled": true, "veth": {"peer_if_name": "a"}}),
    );
    d
}

fn offloads(ops: &[Op]) -> Vec<(&str, ChecksumOffload)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::SetOffload { name, offload, .. } => Some((name.as_str(), *offload)),
            _ => None,
        })
        .collect()
}

/// The pair as a look finds it, `a` with the given offloading.
fn seen(a: ChecksumOffload) -> Event {
    let end = |name: &str, peer: &str, offload| ObservedLink {
        name: name.into(),
        kind: LinkKind::Veth,
        alias: Some(mine(name)),
        mtu: 1500,
        mac: None,
        up: true,
        addresses: vec![],
        peer: Some((Netns::Default, peer.into())),
        checksum_offload: offload,
        master: None,
        vrf_table: None,
        bridge: None,
        tap: None,
        macvlan_mode: None,
        parent: None,
        vxlan: None,
        fdb: vec![],
    };
    let on = ChecksumOffload {
        rx: Some(true),
        tx: Some(true),
    };
    Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![end("a", "b", a), end("b", "a", on)],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    })
}

#[test]
fn a_new_veth_gets_the_offloading_asked_for_and_its_peer_keeps_the_kernels() {
    let mut d = pair("CHKSM_OFFLOAD_DISABLED", "CHKSM_OFFLOAD_ENABLED");
    let ops = d.settle();
    let off = ChecksumOffload {
        rx: Some(false),
        tx: Some(true),
    };
    assert_eq!(offloads(&ops), vec![("a", off)], "{ops:?}");
    let created = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { .. }))
        .unwrap();
    let set = ops
        .iter()
        .position(|op| matches!(op, Op::SetOffload { .. }))
        .unwrap();
    assert!(created < set, "set on the link once it is there: {ops:?}");
    assert!(is_applied(&d.state(&iface_key("a"))));

    // A look that finds it as set changes nothing.
    d.event(seen(off));
    assert!(d.settle().is_empty());
}

#[test]
fn offloading_changed_by_hand_is_set_again_and_only_the_way_that_differs() {
    let mut d = pair("CHKSM_OFFLOAD_DISABLED", "CHKSM_OFFLOAD_DISABLED");
    d.settle();
    d.event(seen(ChecksumOffload {
        rx: Some(false),
        tx: Some(true),
    }));
    let ops = d.settle();
    assert_eq!(
        offloads(&ops),
        vec![(
            "a",
            ChecksumOffload {
                rx: None,
                tx: Some(false)
            }
        )],
        "{ops:?}"
    );
}

#[test]
fn a_refused_change_fails_the_item_with_the_reason() {
    let mut d = pair("CHKSM_OFFLOAD_DISABLED", "CHKSM_OFFLOAD_DEFAULT");
    loop {
        let batch = d.pending();
        assert!(!batch.is_empty(), "no offload command came");
        let Some(c) = batch.iter().find(|c| matches!(c.op, Op::SetOffload { .. })) else {
            for c in &batch {
                d.ok(c);
            }
            continue;
        };
        let c = c.clone();
        for other in batch.iter().filter(|o| o.id != c.id) {
            d.ok(other);
        }
        d.fail(&c, errno::EOPNOTSUPP);
        break;
    }
    match d.state(&iface_key("a")) {
        ItemState::Failed { error, .. } => assert!(error.contains("checksum"), "{error}"),
        other => panic!("expected failed, got {other}"),
    }
}
