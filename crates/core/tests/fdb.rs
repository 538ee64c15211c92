//! FDB items (nsagent's extension): a VXLAN's forwarding database entries, MAC to remote VTEP.
//! One waits for its VXLAN to be applied and up, is added in the VXLAN's namespace, is
//! removed when the item goes (or its VXLAN is disabled), comes back when the VXLAN is made
//! again, refuses to sit on anything but a VXLAN, and after a restart is taken back, or
//! removed as stale when no item wants it, without touching the entry the kernel keeps for the
//! VXLAN's own remote.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

const ZERO: &str = "00:00:00:00:00:00";

fn vxlan(vni: u32) -> serde_json::Value {
    json!({"name": "vx", "type": "VXLAN", "host_if_name": "vx0", "enabled": true,
           "namespace": {"type": "NSID", "reference": "blue"},
           "vxlan": {"vni": vni, "local_ip": "192.168.50.1", "remote_ip": "192.168.50.9"}})
}

fn fdb_key(interface: &str, mac: &str, remote: &str) -> String {
    format!("config/linux/l2/v2/fdb/{interface}/{mac}/{remote}")
}

fn entry(interface: &str, mac: &str, remote: &str) -> serde_json::Value {
    json!({"interface": interface, "hw_address": mac, "remote_ip": remote})
}

fn blue() -> Netns {
    Netns::Named("blue".into())
}

fn added(ops: &[Op]) -> Vec<(Netns, String, MacAddr, std::net::IpAddr)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::AddFdb {
                ns,
                link,
                mac,
                remote,
            } => Some((ns.clone(), link.clone(), *mac, *remote)),
            _ => None,
        })
        .collect()
}

fn removed(ops: &[Op]) -> usize {
    ops.iter()
        .filter(|op| matches!(op, Op::DelFdb { .. }))
        .count()
}

#[test]
fn an_entry_waits_for_its_vxlan_then_is_added_on_it_and_removed_with_its_item() {
    let mut d = Harness::new();
    let key = fdb_key("vx", ZERO, "192.168.50.2");
    d.put(&key, entry("vx", ZERO, "192.168.50.2"));
    d.settle();
    assert_eq!(
        reasons(&d.state(&key)),
        vec!["interface 'vx' is not configured"]
    );
    d.put(&iface_key("vx"), vxlan(42));
    let ops = d.settle();
    assert_eq!(
        added(&ops),
        vec![(
            blue(),
            "vx0".to_string(),
            MacAddr([0; 6]),
            "192.168.50.2".parse().unwrap()
        )]
    );
    assert!(is_applied(&d.state(&key)));
    let explained = format!("{:?}", d.core.explain(&key.parse().unwrap()));
    assert!(
        explained
            .contains("fdb entry 00:00:00:00:00:00 dst 192.168.50.2 on vx0 in namespace 'blue'"),
        "{explained}"
    );
    let shown = ops
        .iter()
        .find(|op| matches!(op, Op::AddFdb { .. }))
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        shown,
        "add fdb entry 00:00:00:00:00:00 dst 192.168.50.2 to vx0 in namespace 'blue'"
    );
    // A second VTEP for the same MAC is another entry beside it.
    let other = fdb_key("vx", ZERO, "192.168.50.3");
    d.put(&other, entry("vx", ZERO, "192.168.50.3"));
    assert_eq!(added(&d.settle()).len(), 1);
    d.delete(&key);
    let ops = d.settle();
    assert_eq!(removed(&ops), 1, "{ops:?}");
    assert!(is_applied(&d.state(&other)));
}

#[test]
fn an_entry_comes_back_when_its_vxlan_is_made_again_and_goes_when_it_is_disabled() {
    let mut d = Harness::new();
    let key = fdb_key("vx", "02:00:00:00:00:07", "192.168.50.2");
    d.put(&iface_key("vx"), vxlan(42));
    d.put(&key, entry("vx", "02:00:00:00:00:07", "192.168.50.2"));
    d.settle();
    // Another VNI makes the VXLAN again: its entries went with the old one.
    d.put(&iface_key("vx"), vxlan(43));
    let ops = d.settle();
    assert_eq!(
        removed(&ops),
        0,
        "deleted with the link, not by hand: {ops:?}"
    );
    assert_eq!(added(&ops).len(), 1, "{ops:?}");
    assert!(is_applied(&d.state(&key)));
    // Disabled, the VXLAN keeps its link, and the entry is taken off it.
    let mut off = vxlan(43);
    off["enabled"] = json!(false);
    d.put(&iface_key("vx"), off);
    let ops = d.settle();
    assert_eq!(removed(&ops), 1, "{ops:?}");
    assert_eq!(reasons(&d.state(&key)), vec!["interface 'vx' is disabled"]);
}

#[test]
fn an_entry_on_anything_but_a_vxlan_waits_and_says_why() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d"),
        json!({"name": "d", "type": "DUMMY", "enabled": true}),
    );
    let key = fdb_key("d", ZERO, "10.0.0.2");
    d.put(&key, entry("d", ZERO, "10.0.0.2"));
    let ops = d.settle();
    assert!(added(&ops).is_empty(), "{ops:?}");
    assert_eq!(
        reasons(&d.state(&key)),
        vec!["interface 'd' is not a VXLAN"]
    );
}

fn seen_vxlan(fdb: &[(&str, &str)]) -> ObservedLink {
    let mut l = host_link("vx0", true, 1500, &[]);
    l.kind = LinkKind::Vxlan;
    l.alias = Some(mine("vx"));
    l.vxlan = Some(VxlanTunnel {
        vni: 42,
        local: Some("192.168.50.1".parse().unwrap()),
        remote: Some("192.168.50.9".parse().unwrap()),
        dst_port: VXLAN_DEFAULT_PORT,
        learning: true,
    });
    l.fdb = fdb
        .iter()
        .map(|(m, r)| (m.parse().unwrap(), r.parse().unwrap()))
        .collect();
    l
}

#[test]
fn after_a_restart_an_entry_is_taken_back_and_one_no_item_wants_is_removed() {
    let mut d = Harness::new();
    let key = fdb_key("vx", ZERO, "192.168.50.2");
    d.put(&iface_key("vx"), vxlan(42));
    d.put(&key, entry("vx", ZERO, "192.168.50.2"));
    d.event(Event::Restarted);
    d.event(Event::Observed(Snapshot {
        namespaces: vec![
            ObservedNamespace {
                ns: Netns::Default,
                links: vec![],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
            ObservedNamespace {
                ns: blue(),
                // The VXLAN's own remote, the item's entry, and one no item wants.
                links: vec![seen_vxlan(&[
                    (ZERO, "192.168.50.9"),
                    (ZERO, "192.168.50.2"),
                    ("02:00:00:00:00:05", "192.168.50.5"),
                ])],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            },
        ],
        missing: vec![],
    }));
    let ops = d.settle();
    assert!(added(&ops).is_empty(), "taken back, not added: {ops:?}");
    let dels: Vec<&Op> = ops
        .iter()
        .filter(|op| matches!(op, Op::DelFdb { .. }))
        .collect();
    assert_eq!(dels.len(), 1, "{ops:?}");
    assert!(
        matches!(dels[0], Op::DelFdb { mac, remote, .. }
            if mac.0 == [2, 0, 0, 0, 0, 5] && remote.to_string() == "192.168.50.5"),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&key)));
    assert!(is_applied(&d.state(&iface_key("vx"))));
}

#[test]
fn fdb_keys_and_values_are_checked_on_their_fields() {
    let key: ItemKey = fdb_key("vx", "02:00:00:00:00:01", "fd00::2")
        .parse()
        .unwrap();
    assert_eq!(
        key,
        ItemKey::Fdb {
            interface: "vx".into(),
            mac: "02:00:00:00:00:01".parse().unwrap(),
            remote: "fd00::2".parse().unwrap(),
        }
    );
    assert_eq!(
        key.to_string(),
        fdb_key("vx", "02:00:00:00:00:01", "fd00::2")
    );
    for bad in [
        "config/linux/l2/v2/fdb/vx/02:00:00:00:00:01",
        "config/linux/l2/v2/fdb/vx/02:00/10.0.0.1",
        "config/linux/l2/v2/fdb/vx/02:00:00:00:00:01/vtep",
    ] {
        assert_eq!(bad.parse::<ItemKey>().unwrap_err().field, "key", "{bad}");
    }
    // The value must name the key's entry.
    let e = Item::decode(
        &fdb_key("vx", ZERO, "10.0.0.1"),
        &entry("vx", ZERO, "10.0.0.2"),
    )
    .unwrap_err();
    assert_eq!(e.field, "key");
    // Told apart from an ARP entry by its remote_ip, in either spelling.
    let Item::Fdb(f) = Item::decode_unkeyed(
        &json!({"interface": "vx", "hwAddress": ZERO, "remoteIp": "10.0.0.2"}),
    )
    .expect("valid") else {
        panic!("not an FDB entry")
    };
    assert_eq!(f.remote_ip.to_string(), "10.0.0.2");
    let e = Item::decode_unkeyed(&json!({"interface": "vx", "hwAddress": ZERO, "remoteIp": "x"}))
        .unwrap_err();
    assert_eq!(e.field, "remoteIp");
}

#[test]
fn an_entry_on_a_stale_vxlan_is_left_to_go_with_it() {
    // After a restart that lost the core's state, the VXLAN's item is gone but an FDB item
    // on it is still desired: the VXLAN is stale and removed, and the entry goes with it; a
    // removal of the entry sent beside the link's could reach the kernel after it (ENODEV).
    let mut d = Harness::new();
    let key = fdb_key("vx", ZERO, "192.168.50.2");
    d.put(&key, entry("vx", ZERO, "192.168.50.2"));
    d.event(Event::Restarted);
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: blue(),
            links: vec![seen_vxlan(&[(ZERO, "192.168.50.2")])],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    let first = d.pending();
    assert!(
        first
            .iter()
            .any(|c| matches!(&c.op, Op::DeleteLink { name, .. } if name == "vx0")),
        "{first:?}"
    );
    assert!(
        !first.iter().any(|c| matches!(c.op, Op::DelFdb { .. })),
        "{first:?}"
    );
    for c in &first {
        d.ok(c);
    }
    let rest = d.settle();
    assert!(
        !rest.iter().any(|op| matches!(op, Op::DelFdb { .. })),
        "{rest:?}"
    );
    assert_eq!(
        reasons(&d.state(&key)),
        vec!["interface 'vx' is not configured"]
    );
}
