//! BRIDGE and `bridge_master_interface`: the agent makes bridges with their settings, changes
//! the settings in place, makes a port of any link once its bridge is there (a port waits, with
//! nothing of it in the kernel, while it is not), and lets the ports go before it deletes a
//! bridge. Unlike a VRF's, a bridge's ports are never taken down on the way.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn bridge() -> serde_json::Value {
    json!({"name": "br", "type": "BRIDGE", "host_if_name": "br0", "enabled": true,
           "bridge": {"stp": true, "ageing_time_seconds": 30}})
}

fn port(master: Option<&str>) -> serde_json::Value {
    let mut v =
        json!({"name": "p", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.4.0.1/24"]});
    if let Some(m) = master {
        v["bridge_master_interface"] = json!(m);
    }
    v
}

/// The agent's bridge `br` as a look finds it.
fn bridge_seen(settings: BridgeSettings) -> ObservedLink {
    let mut b = host_link("br0", true, 1500, &[]);
    b.kind = LinkKind::Bridge;
    b.bridge = Some(settings);
    b.alias = Some(mine("br"));
    b
}

fn port_seen(master: Option<&str>) -> ObservedLink {
    let mut p = host_link("p", true, 1500, &["10.4.0.1/24"]);
    p.kind = LinkKind::Dummy;
    p.alias = Some(mine("p"));
    p.master = master.map(str::to_string);
    p
}

fn asked_settings() -> BridgeSettings {
    BridgeSettings {
        stp: true,
        vlan_filtering: false,
        ageing_time_seconds: 30,
    }
}

#[test]
fn a_port_waits_for_its_bridge_then_joins_it() {
    let mut d = Harness::new();
    d.put(&iface_key("p"), port(Some("br")));
    assert_eq!(d.settle(), vec![], "nothing of the port before its bridge");
    assert_eq!(
        reasons(&d.state(&iface_key("p"))),
        vec!["interface 'br' is not configured"]
    );
    d.put(&iface_key("br"), bridge());
    let ops = d.settle();
    let made_bridge = ops.iter().position(|op| {
        matches!(op, Op::CreateLink { link, kind: NewLink::Bridge(b), .. }
            if link.name == "br0" && *b == asked_settings())
    });
    let made_port = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "p"));
    assert!(
        made_bridge.is_some() && made_port > made_bridge,
        "the bridge first: {ops:?}"
    );
    assert_eq!(
        enslaving(&ops, "p"),
        vec![&Master::Set("br0".into())],
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("p"))));
    assert!(is_applied(&d.state(&iface_key("br"))));

    // No longer a port: released, not re-created.
    d.put(&iface_key("p"), port(None));
    let ops = d.settle();
    assert_eq!(enslaving(&ops, "p"), vec![&Master::Release], "{ops:?}");
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DeleteLink { .. })),
        "{ops:?}"
    );
}

#[test]
fn joining_a_bridge_keeps_the_ports_routes_which_a_vrf_would_flush() {
    let mut d = Harness::new();
    d.put(&iface_key("br"), bridge());
    d.put(&iface_key("p"), port(None));
    d.put(
        "config/linux/l3/v2/route/10.50.0.0/16/p",
        json!({"outgoing_interface": "p", "dst_network": "10.50.0.0/16", "gw_addr": "10.4.0.9"}),
    );
    d.settle();
    d.put(&iface_key("p"), port(Some("br")));
    let ops = d.settle();
    assert_eq!(
        enslaving(&ops, "p"),
        vec![&Master::Set("br0".into())],
        "{ops:?}"
    );
    assert!(
        !ops.iter().any(|op| matches!(op, Op::AddRoute { .. })),
        "the kernel kept the route, so the core does not add it again: {ops:?}"
    );
}

#[test]
fn settings_change_in_place_and_only_what_differs_is_sent() {
    let mut d = Harness::new();
    d.put(&iface_key("br"), bridge());
    d.settle();
    let mut b = bridge();
    b["bridge"] = json!({"ageing_time_seconds": 30});
    d.put(&iface_key("br"), b);
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::SetLink {
            ns: Netns::Default,
            name: "br0".into(),
            change: LinkChange {
                bridge: Some(BridgeChange {
                    stp: Some(false),
                    ..BridgeChange::default()
                }),
                ..LinkChange::default()
            },
        }],
        "STP off, nothing else, and the bridge is not re-made"
    );
    assert!(is_applied(&d.state(&iface_key("br"))));
}

#[test]
fn a_kernel_without_vlan_filtering_fails_the_bridge_with_its_errno() {
    let mut d = Harness::new();
    let mut b = bridge();
    b["bridge"] = json!({"vlan_filtering": true});
    d.put(&iface_key("br"), b);
    d.put(&iface_key("p"), port(Some("br")));
    let create = d
        .pending()
        .into_iter()
        .find(|c| matches!(c.op, Op::CreateLink { .. }))
        .expect("the bridge is made");
    d.fail(&create, errno::EOPNOTSUPP);
    assert!(d.settle().is_empty());
    let ItemState::Failed { error, .. } = d.state(&iface_key("br")) else {
        panic!("{:?}", d.state(&iface_key("br")));
    };
    assert!(error.contains("errno 95"), "{error}");
    assert_eq!(
        reasons(&d.state(&iface_key("p"))),
        vec!["interface 'br' is not applied yet"]
    );
}

#[test]
fn deleting_a_bridge_lets_its_ports_go_first() {
    let mut d = Harness::new();
    d.put(&iface_key("br"), bridge());
    d.put(&iface_key("p"), port(Some("br")));
    d.settle();
    d.delete(&iface_key("br"));
    let first = d.pending();
    assert!(
        first
            .iter()
            .all(|c| !matches!(&c.op, Op::DeleteLink { name, .. } if name == "br0")),
        "not while a port is on it: {first:?}"
    );
    let port_gone = first
        .iter()
        .find(|c| matches!(&c.op, Op::DeleteLink { name, .. } if name == "p"))
        .expect("the port goes first")
        .clone();
    d.ok(&port_gone);
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "br0")),
        "then the bridge: {ops:?}"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("p"))),
        vec!["interface 'br' is not configured"]
    );
}

#[test]
fn a_blocked_port_does_not_hold_its_bridge_back() {
    let mut d = Harness::new();
    d.put(&iface_key("br"), bridge());
    d.put(&iface_key("p"), port(Some("br")));
    d.settle();
    // The port's next change is refused for good: it is blocked until it changes.
    let mut p = port(Some("br"));
    p["mtu"] = json!(9000);
    d.put(&iface_key("p"), p);
    let set = d.pending().pop().expect("the MTU is set");
    d.fail(&set, errno::EINVAL);
    d.delete(&iface_key("br"));
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "br0")),
        "the kernel releases that port with the bridge: {ops:?}"
    );
}

#[test]
fn a_bridge_deleted_by_hand_releases_its_ports_without_cycling_them() {
    let mut d = Harness::new();
    d.put(&iface_key("br"), bridge());
    d.put(&iface_key("p"), port(Some("br")));
    d.event(Event::Restarted);
    d.event(default_seen(vec![
        bridge_seen(asked_settings()),
        port_seen(Some("br0")),
    ]));
    assert_eq!(d.settle(), vec![], "as asked already");
    assert!(is_applied(&d.state(&iface_key("p"))));

    // Settings changed by hand are put back; a port released by hand joins again.
    d.event(default_seen(vec![
        bridge_seen(BridgeSettings {
            ageing_time_seconds: 300,
            ..asked_settings()
        }),
        port_seen(None),
    ]));
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::SetLink { name, change, .. }
            if name == "br0" && change.bridge == Some(BridgeChange {
                ageing_time_seconds: Some(30),
                ..BridgeChange::default()
            }))),
        "{ops:?}"
    );
    assert_eq!(
        enslaving(&ops, "p"),
        vec![&Master::Set("br0".into())],
        "{ops:?}"
    );
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::SetLink { change, .. } if change.up.is_some())),
        "a port is never cycled: {ops:?}"
    );
}

#[test]
fn a_port_of_something_else_than_a_bridge_waits_and_says_why() {
    let mut d = Harness::new();
    d.put(
        &iface_key("br"),
        json!({"name": "br", "type": "DUMMY", "enabled": true}),
    );
    d.put(&iface_key("p"), port(Some("br")));
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("p"))),
        vec!["interface 'br' is not a BRIDGE"]
    );
    let mut b = bridge();
    b["namespace"] = json!({"type": "NSID", "reference": "blue"});
    d.put(&iface_key("br"), b);
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("p"))),
        vec!["bridge 'br' is in another namespace than this interface"]
    );
}

#[test]
fn bridge_settings_are_checked_on_their_fields() {
    let bad = |v: serde_json::Value, field: &str, part: &str| {
        let e = Item::decode_unkeyed(&v).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.reason.contains(part), "{e}");
    };
    bad(
        json!({"name": "b", "type": "BRIDGE", "bridge": {"ageing_time_seconds": 100000}}),
        "bridge.ageing_time_seconds",
        "seconds",
    );
    bad(
        json!({"name": "d", "type": "DUMMY", "bridge": {"stp": true}}),
        "bridge",
        "BRIDGE only",
    );
    bad(
        json!({"name": "b", "type": "BRIDGE", "bridge_master_interface": "other"}),
        "bridge_master_interface",
        "cannot be a port",
    );
    bad(
        json!({"name": "d", "type": "DUMMY", "bridge_master_interface": "br",
               "vrf_master_interface": "red"}),
        "bridge_master_interface",
        "one master",
    );
    bad(
        json!({"name": "v", "type": "VETH", "veth": {"peer_if_name": "w"},
               "bridge": {"stp": true}}),
        "veth",
        "one choice",
    );
    // camelCase and the enum's number read alike.
    let item = Item::decode_unkeyed(&json!({"name": "b", "type": 101,
        "bridge": {"ageingTimeSeconds": 12}}))
    .expect("valid");
    let Item::Interface(i) = item else { panic!() };
    assert_eq!(i.kind, InterfaceType::Bridge);
    assert_eq!(i.bridge.map(|b| b.ageing_time_seconds), Some(12));
}

#[test]
fn a_bridge_is_made_with_a_mac_of_its_own_so_that_ports_never_change_it() {
    // The kernel gives a bridge without a set MAC its ports' lowest, flushing the bridge's
    // neighbours each time: the agent sets one, stable across restarts, distinct per item.
    let made_mac = |name: &str, mac: Option<&str>| {
        let mut d = Harness::new();
        let mut b = bridge();
        b["name"] = json!(name);
        if let Some(mac) = mac {
            b["phys_address"] = json!(mac);
        }
        d.put(&iface_key(name), b);
        d.settle().into_iter().find_map(|op| match op {
            Op::CreateLink { link, .. } => link.mac,
            _ => None,
        })
    };
    let first = made_mac("br", None).expect("a MAC is set");
    assert_eq!(made_mac("br", None), Some(first), "the same every time");
    assert_ne!(
        made_mac("br2", None),
        Some(first),
        "another item, another MAC"
    );
    assert_eq!(
        first.0[0] & 0x03,
        0x02,
        "locally administered unicast: {first}"
    );
    assert_eq!(
        made_mac("br", Some("02:00:00:00:0b:01")),
        Some(MacAddr([2, 0, 0, 0, 0x0b, 1])),
        "the item's own when it sets one"
    );
}

#[test]
fn zero_bridge_settings_on_another_type_are_no_settings() {
    let ok = Item::decode_unkeyed(&json!({"name": "d", "type": "DUMMY", "bridge": {}}));
    assert!(ok.is_ok(), "{ok:?}");
    let ok = Item::decode_unkeyed(
        &json!({"name": "d", "type": "DUMMY", "bridge": {"stp": false, "ageing_time_seconds": 0}}),
    );
    assert!(ok.is_ok(), "{ok:?}");
}
