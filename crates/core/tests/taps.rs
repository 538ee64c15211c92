//! TAP (nsagent's extension): a persistent Linux TAP the agent makes with who may attach to it
//! and whether it has several queues, configures like any link it owns, re-makes when those
//! settings change (they are fixed when it is made), and takes back after a restart as it is.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn tap(owner: u32, multi_queue: bool) -> serde_json::Value {
    json!({"name": "tp", "type": "TAP", "host_if_name": "tap0", "enabled": true, "mtu": 9000,
           "ip_addresses": ["10.6.0.1/24"],
           "tap": {"owner": owner, "multi_queue": multi_queue}})
}

fn settings(owner: Option<u32>, multi_queue: bool) -> TapSettings {
    TapSettings {
        owner,
        group: None,
        multi_queue,
    }
}

#[test]
fn a_tap_is_made_with_its_settings_configured_and_re_made_when_they_change() {
    let mut d = Harness::new();
    d.put(&iface_key("tp"), tap(1000, true));
    let ops = d.settle();
    assert!(
        matches!(&ops[0], Op::CreateLink { link, kind: NewLink::Tap(t), .. }
            if link.name == "tap0" && link.mtu == Some(9000) && link.up
                && *t == settings(Some(1000), true)),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::AddAddress { link, .. } if link == "tap0")),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("tp"))));

    // The MTU changes in place; the owner only by making it again.
    let mut v = tap(1000, true);
    v["mtu"] = json!(1500);
    d.put(&iface_key("tp"), v);
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::SetLink { change, .. }] if change.mtu == Some(1500)),
        "{ops:?}"
    );
    d.put(&iface_key("tp"), tap(0, true));
    let ops = d.settle();
    let deleted = ops
        .iter()
        .position(|op| matches!(op, Op::DeleteLink { name, .. } if name == "tap0"));
    let made = ops.iter().position(|op| {
        matches!(op, Op::CreateLink { kind: NewLink::Tap(t), .. } if *t == settings(None, true))
    });
    assert!(deleted.is_some() && made > deleted, "{ops:?}");
}

#[test]
fn a_tap_found_after_a_restart_is_taken_back_or_re_made_by_its_settings() {
    for (seen, re_made) in [
        (settings(Some(1000), true), false),
        (settings(Some(1000), false), true),
    ] {
        let mut d = Harness::new();
        d.put(&iface_key("tp"), tap(1000, true));
        d.event(Event::Restarted);
        let mut l = host_link("tap0", true, 9000, &["10.6.0.1/24"]);
        l.kind = LinkKind::Tap;
        l.tap = Some(seen);
        l.alias = Some(mine("tp"));
        d.event(default_seen(vec![l]));
        let ops = d.settle();
        let made = ops.iter().any(|op| matches!(op, Op::CreateLink { .. }));
        assert_eq!(made, re_made, "{seen:?}: {ops:?}");
        assert!(is_applied(&d.state(&iface_key("tp"))));
    }
}

#[test]
fn tap_settings_are_checked_on_their_fields() {
    let bad = |v: serde_json::Value, field: &str| {
        let e = Item::decode_unkeyed(&v).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    };
    bad(
        json!({"name": "t", "type": "TAP", "tap": {"vpp_tap_if_name": "x"}}),
        "tap.vpp_tap_if_name",
    );
    bad(
        json!({"name": "t", "type": "TAP_TO_VPP", "tap": {"vpp_tap_if_name": "x", "owner": 5}}),
        "tap",
    );
    bad(
        json!({"name": "t", "type": "DUMMY", "tap": {"multi_queue": true}}),
        "tap",
    );
    bad(json!({"name": "t", "type": "TAP", "mtu": 65536}), "mtu");
    let Item::Interface(i) = Item::decode_unkeyed(&json!({"name": "t", "type": 102,
        "tap": {"multiQueue": true, "group": 7}}))
    .expect("valid") else {
        panic!()
    };
    assert_eq!(i.kind, InterfaceType::Tap);
    assert_eq!(
        i.tap,
        Some(TapSettings {
            owner: None,
            group: Some(7),
            multi_queue: true
        })
    );
}
