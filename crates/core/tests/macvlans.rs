//! MACVLAN (nsagent's extension): a link the agent makes on its parent item's link, in any
//! namespace. It waits for its parent, is made from the parent's namespace straight into its
//! own, goes with its parent (the kernel deletes it along), follows its parent's MTU down,
//! is re-made when its parent or mode changes, and is taken back after a restart only where
//! it still sits on its parent.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn parent(mtu: u32) -> serde_json::Value {
    json!({"name": "up", "type": "DUMMY", "host_if_name": "up0", "enabled": true, "mtu": mtu})
}

fn macvlan(mode: &str) -> serde_json::Value {
    json!({"name": "mv", "type": "MACVLAN", "host_if_name": "mv0", "enabled": true,
           "namespace": {"type": "NSID", "reference": "blue"},
           "ip_addresses": ["10.7.0.1/24"],
           "macvlan": {"parent_interface": "up", "mode": mode}})
}

fn blue() -> Netns {
    Netns::Named("blue".into())
}

fn macvlan_made(ops: &[Op]) -> Option<(MacvlanMode, &Netns, &str)> {
    ops.iter().find_map(|op| match op {
        Op::CreateLink {
            ns,
            link,
            kind:
                NewLink::Macvlan {
                    parent_ns,
                    parent,
                    mode,
                },
        } if *ns == blue() && link.name == "mv0" => Some((*mode, parent_ns, parent.as_str())),
        _ => None,
    })
}

#[test]
fn a_macvlan_waits_for_its_parent_then_is_made_on_it_in_its_own_namespace() {
    let mut d = Harness::new();
    d.put(&iface_key("mv"), macvlan("PRIVATE"));
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("mv"))),
        vec!["interface 'up' is not configured"]
    );
    d.put(&iface_key("up"), parent(9000));
    let ops = d.settle();
    let parent_made = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "up0"));
    let made = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "mv0"));
    assert!(parent_made.is_some() && made > parent_made, "{ops:?}");
    assert_eq!(
        macvlan_made(&ops),
        Some((MacvlanMode::Private, &Netns::Default, "up0"))
    );
    assert!(
        ops.iter().any(
            |op| matches!(op, Op::AddAddress { ns, link, .. } if *ns == blue() && link == "mv0")
        ),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("mv"))));
    let explained = d.core.explain(&iface_key("mv").parse().unwrap());
    assert!(
        format!("{explained:?}").contains("macvlan, mode private, on the link of item 'up'"),
        "{explained:?}"
    );
}

#[test]
fn a_parent_re_made_takes_its_macvlan_along_and_the_macvlan_follows_it_back() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), parent(9000));
    d.put(&iface_key("mv"), macvlan("BRIDGE"));
    d.settle();
    // A dummy moved to another namespace is made again there: the kernel deletes the
    // MACVLAN with the old one, so the core must not delete it itself, only make it again.
    let mut moved = parent(9000);
    moved["namespace"] = json!({"type": "NSID", "reference": "red"});
    d.put(&iface_key("up"), moved);
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "mv0")),
        "{ops:?}"
    );
    assert_eq!(
        macvlan_made(&ops),
        Some((MacvlanMode::Bridge, &Netns::Named("red".into()), "up0"))
    );
    assert!(is_applied(&d.state(&iface_key("mv"))));
}

#[test]
fn a_macvlan_whose_parent_goes_is_removed_and_waits_and_a_new_mode_re_makes_it() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), parent(9000));
    d.put(&iface_key("mv"), macvlan("BRIDGE"));
    d.settle();
    d.put(&iface_key("mv"), macvlan("VEPA"));
    let ops = d.settle();
    let deleted = ops
        .iter()
        .position(|op| matches!(op, Op::DeleteLink { name, .. } if name == "mv0"));
    let made = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "mv0"));
    assert!(deleted.is_some() && made > deleted, "{ops:?}");
    assert_eq!(macvlan_made(&ops).map(|m| m.0), Some(MacvlanMode::Vepa));

    // Whichever goes first, the MACVLAN is deleted once: by the core, or by the kernel with
    // its parent (which the core knows, and does not delete it again).
    d.delete(&iface_key("up"));
    let ops = d.settle();
    let deletes: Vec<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::DeleteLink { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert!(deletes == ["up0"] || deletes == ["mv0", "up0"], "{ops:?}");
    assert_eq!(
        reasons(&d.state(&iface_key("mv"))),
        vec!["interface 'up' is not configured"]
    );
}

#[test]
fn lowering_the_parents_mtu_lowers_the_macvlans_as_the_kernel_does() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), parent(9000));
    let mut mv = macvlan("BRIDGE");
    mv["mtu"] = json!(1500);
    d.put(&iface_key("mv"), mv);
    d.settle();
    // The kernel brought the MACVLAN's MTU down to 1400 with its parent's: asking for 1500
    // again is what the core does next (and the kernel refuses, above the parent's).
    d.put(&iface_key("up"), parent(1400));
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::SetLink { name, change, .. }
            if name == "mv0" && change.mtu == Some(1500))),
        "{ops:?}"
    );
}

#[test]
fn a_macvlan_is_not_put_on_a_macvlan_nor_on_a_bridge_port() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), parent(9000));
    d.put(&iface_key("mv"), macvlan("BRIDGE"));
    let mut on_mv = macvlan("BRIDGE");
    on_mv["name"] = json!("mv2");
    on_mv["host_if_name"] = json!("mv2");
    on_mv["macvlan"]["parent_interface"] = json!("mv");
    d.put(&iface_key("mv2"), on_mv);
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("mv2"))),
        vec!["interface 'mv' is a MACVLAN; name its parent as this MACVLAN's parent"]
    );
    d.put(
        &iface_key("br"),
        json!({"name": "br", "type": "BRIDGE", "enabled": true}),
    );
    let mut port = parent(9000);
    port["bridge_master_interface"] = json!("br");
    d.put(&iface_key("up"), port);
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "mv0")),
        "{ops:?}"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("mv"))),
        vec!["interface 'up' is a bridge port, which the kernel refuses as a MACVLAN's parent"]
    );
}

fn seen_macvlan(mode: MacvlanMode, parent: Option<(Netns, String)>) -> ObservedLink {
    let mut l = host_link("mv0", true, 9000, &["10.7.0.1/24"]);
    l.kind = LinkKind::Macvlan;
    l.alias = Some(mine("mv"));
    l.macvlan_mode = Some(mode);
    l.parent = parent;
    l
}

#[test]
fn a_macvlan_found_after_a_restart_is_taken_back_only_on_its_parent_and_in_its_mode() {
    let on_parent = Some((Netns::Default, "up0".to_string()));
    let elsewhere = Some((Netns::Default, "eth7".to_string()));
    for (mode, at, re_made) in [
        (MacvlanMode::Bridge, on_parent.clone(), false),
        (MacvlanMode::Private, on_parent, true),
        (MacvlanMode::Bridge, elsewhere, true),
    ] {
        let mut d = Harness::new();
        d.put(&iface_key("up"), parent(9000));
        d.put(&iface_key("mv"), macvlan("BRIDGE"));
        d.event(Event::Restarted);
        let mut up = host_link("up0", true, 9000, &[]);
        up.kind = LinkKind::Dummy;
        up.alias = Some(mine("up"));
        d.event(Event::Observed(Snapshot {
            namespaces: vec![
                ObservedNamespace {
                    ns: Netns::Default,
                    links: vec![up],
                    routes: vec![],
                    neighbours: vec![],
                    rules: vec![],
                },
                ObservedNamespace {
                    ns: blue(),
                    links: vec![seen_macvlan(mode, at.clone())],
                    routes: vec![],
                    neighbours: vec![],
                    rules: vec![],
                },
            ],
            missing: vec![],
        }));
        let ops = d.settle();
        assert_eq!(
            macvlan_made(&ops).is_some(),
            re_made,
            "{mode:?} {at:?}: {ops:?}"
        );
        assert!(is_applied(&d.state(&iface_key("mv"))));
    }
}

#[test]
fn macvlan_settings_are_checked_on_their_fields() {
    let bad = |v: serde_json::Value, field: &str| {
        let e = Item::decode_unkeyed(&v).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    };
    bad(
        json!({"name": "m", "type": "MACVLAN"}),
        "macvlan.parent_interface",
    );
    bad(
        json!({"name": "m", "type": "MACVLAN", "macvlan": {"parent_interface": "m"}}),
        "macvlan.parent_interface",
    );
    bad(
        json!({"name": "m", "type": "MACVLAN", "macvlan": {"parent_interface": "p", "mode": "SOURCE"}}),
        "macvlan.mode",
    );
    bad(
        json!({"name": "m", "type": "VETH", "veth": {"peer_if_name": "x"}, "macvlan": {"parent_interface": "p"}}),
        "veth",
    );
    bad(
        json!({"name": "m", "type": "DUMMY", "macvlan": {"parent_interface": "p"}}),
        "macvlan",
    );
    bad(
        json!({"name": "m", "type": "MACVLAN", "phys_address": "02:00:00:00:00:01",
               "macvlan": {"parent_interface": "p", "mode": "PASSTHRU"}}),
        "phys_address",
    );
    // The protobuf-JSON spellings: camelCase names, enums by number.
    let Item::Interface(i) = Item::decode_unkeyed(&json!({"name": "m", "type": 103,
        "macvlan": {"parentInterface": "p", "mode": 3}}))
    .expect("valid") else {
        panic!()
    };
    assert_eq!(i.kind, InterfaceType::Macvlan);
    assert_eq!(
        i.macvlan.as_deref(),
        Some(&MacvlanSettings {
            parent: "p".into(),
            mode: MacvlanMode::Passthru
        })
    );
}

fn creates(ops: &[Command], name: &str) -> bool {
    ops.iter()
        .any(|c| matches!(&c.op, Op::CreateLink { link, .. } if link.name == name))
}

fn deletes(ops: &[Command], name: &str) -> bool {
    ops.iter()
        .any(|c| matches!(&c.op, Op::DeleteLink { name: n, .. } if n == name))
}

#[test]
fn a_parent_is_not_deleted_while_a_macvlan_is_being_made_on_it() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), parent(9000));
    let made = d.pending();
    for c in &made {
        d.ok(c);
    }
    d.put(&iface_key("mv"), macvlan("BRIDGE"));
    let mut batch = d.pending();
    // Its namespace first, then the MACVLAN itself, left in flight.
    while !creates(&batch, "mv0") {
        for c in &batch {
            d.ok(c);
        }
        batch = d.pending();
    }
    // The two requests would go on two sockets (the parent's namespace, and the MACVLAN's):
    // the parent's removal waits for the creation's result.
    d.delete(&iface_key("up"));
    let meanwhile = d.pending();
    assert!(!deletes(&meanwhile, "up0"), "{meanwhile:?}");
    for c in batch.iter().chain(&meanwhile) {
        d.ok(c);
    }
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "up0")),
        "{ops:?}"
    );
}

#[test]
fn a_macvlan_on_a_veth_end_goes_with_the_pair_and_comes_back_after_it() {
    let mut d = Harness::new();
    let (ka, a) = veth("a", "b", None, "10.8.0.1/24");
    let (kb, b) = veth("b", "a", None, "10.8.0.2/24");
    d.put(&ka, a.clone());
    d.put(&kb, b.clone());
    let mut mv = macvlan("BRIDGE");
    mv["macvlan"]["parent_interface"] = json!("a");
    d.put(&iface_key("mv"), mv);
    d.settle();
    assert!(is_applied(&d.state(&iface_key("mv"))));
    // Deleting the other end deletes the pair and, in the kernel, the MACVLAN on it: the core
    // neither deletes it itself (it would race the pair's removal) nor makes it meanwhile.
    d.delete(&kb);
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "mv0")),
        "{ops:?}"
    );
    assert!(macvlan_made(&ops).is_none(), "{ops:?}");
    d.put(&kb, b);
    let ops = d.settle();
    let pair = ops.iter().position(|op| {
        matches!(
            op,
            Op::CreateLink {
                kind: NewLink::Veth { .. },
                ..
            }
        )
    });
    let made = ops.iter().position(|op| {
        matches!(
            op,
            Op::CreateLink {
                kind: NewLink::Macvlan { .. },
                ..
            }
        )
    });
    assert!(pair.is_some() && made > pair, "{ops:?}");
    assert!(is_applied(&d.state(&iface_key("mv"))));
}

#[test]
fn a_stale_macvlan_on_the_parent_is_removed_before_another_is_made_there() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), parent(9000));
    let mut pt = macvlan("PASSTHRU");
    pt["namespace"] = json!({"type": "PID", "reference": "77"});
    d.put(&iface_key("mv"), pt);
    d.event(Event::NamespaceAvailable { ns: Netns::Pid(77) });
    d.event(Event::Restarted);
    let mut up = host_link("up0", true, 9000, &[]);
    up.kind = LinkKind::Dummy;
    up.alias = Some(mine("up"));
    // Left in the default namespace by an earlier version of the item: stale.
    let old = seen_macvlan(MacvlanMode::Bridge, Some((Netns::Default, "up0".into())));
    d.event(default_seen(vec![up, old]));
    let first = d.pending();
    assert!(deletes(&first, "mv0"), "{first:?}");
    assert!(
        !creates(&first, "mv0"),
        "made beside the stale one: {first:?}"
    );
    for c in &first {
        d.ok(c);
    }
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(
            op,
            Op::CreateLink {
                ns: Netns::Pid(77),
                kind: NewLink::Macvlan {
                    mode: MacvlanMode::Passthru,
                    ..
                },
                ..
            }
        )),
        "{ops:?}"
    );
}
