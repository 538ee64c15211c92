//! Unit tests of the steps that configure a link in place (`machine/configure.rs`).

use super::*;
use crate::machine::state::LinkRole;
use crate::model::Item;
use crate::netns::Netns;
use serde_json::json;

fn dummy(value: serde_json::Value) -> Interface {
    match Item::decode_unkeyed(&value) {
        Ok(Item::Interface(i)) => i,
        other => panic!("not an interface: {other:?}"),
    }
}

fn step(a: &LinkActual, iface: &Interface) -> Option<Op> {
    let want = Wanted::of(iface, a.role.owned());
    configuration_step(&AgentIdentity::default(), a, iface, &want, &[])
}

fn link_of(iface: &Interface) -> LinkActual {
    let spec = link_spec(&AgentIdentity::default(), iface, true);
    LinkActual {
        ns: Netns::Default,
        name: spec.name,
        role: LinkRole::Dummy,
        up: spec.up,
        mtu: spec.mtu,
        mac: spec.mac,
        alias: spec.alias,
        addresses: vec![],
        peer_link: None,
        attributes_unknown: false,
        checksum_offload: Default::default(),
        master: None,
        mtu_pinned: spec.mtu.is_some(),
    }
}

#[test]
fn attributes_come_before_addresses_and_deletions_before_additions() {
    let iface = dummy(json!({"name": "d", "type": "DUMMY", "enabled": true,
        "ip_addresses": ["10.0.0.1/24"], "mtu": 1400}));
    let mut a = link_of(&iface);
    a.mtu = Some(1500);
    a.addresses = vec!["10.9.9.9/24".parse().unwrap()];
    let Some(Op::SetLink { change, .. }) = step(&a, &iface) else {
        panic!("the MTU differs first");
    };
    assert_eq!(change.mtu, Some(1400));
    a.mtu = Some(1400);
    assert!(matches!(step(&a, &iface), Some(Op::DelAddress { .. })));
    a.addresses.clear();
    assert!(matches!(step(&a, &iface), Some(Op::AddAddress { .. })));
    a.addresses = iface.ip_addresses.clone();
    assert_eq!(step(&a, &iface), None);
}

#[test]
fn a_new_mac_is_set_while_the_link_is_still_down() {
    let iface = dummy(json!({"name": "d", "type": "DUMMY", "enabled": true,
        "phys_address": "02:00:00:00:00:01"}));
    let mut a = link_of(&iface);
    a.up = false;
    a.mac = None;
    let Some(Op::SetLink { change, .. }) = step(&a, &iface) else {
        panic!("the MAC differs");
    };
    assert_eq!(change.up, None);
    assert!(change.mac.is_some());
}

#[test]
fn a_borrowed_link_that_is_up_is_taken_down_alone_before_its_mac_changes() {
    let iface = dummy(
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth1",
        "mtu": 1400, "phys_address": "02:00:00:00:00:01"}),
    );
    let mut a = link_of(&iface);
    a.role = LinkRole::Borrowed;
    a.up = true;
    a.mac = None;
    a.mtu = Some(1500);
    let Some(Op::SetLink { change, .. }) = step(&a, &iface) else {
        panic!("the MAC differs");
    };
    assert_eq!(
        change,
        LinkChange {
            up: Some(false),
            ..LinkChange::default()
        }
    );
    a.up = false;
    let Some(Op::SetLink { change, .. }) = step(&a, &iface) else {
        panic!("the MAC differs");
    };
    assert_eq!((change.mac, change.mtu), (iface.phys_address, Some(1400)));
}

#[test]
fn unknown_attributes_are_all_set_again() {
    let iface = dummy(json!({"name": "d", "type": "DUMMY", "enabled": true, "mtu": 1400}));
    let mut a = link_of(&iface);
    a.attributes_unknown = true;
    let Some(Op::SetLink { change, .. }) = step(&a, &iface) else {
        panic!("attributes are unknown");
    };
    assert_eq!((change.up, change.mtu), (Some(true), Some(1400)));
}

#[test]
fn a_bridge_whose_mtu_follows_its_ports_has_the_items_set_even_when_it_matches() {
    let iface = dummy(json!({"name": "b", "type": "BRIDGE", "enabled": true, "mtu": 1450}));
    let mut a = link_of(&iface);
    a.role = LinkRole::Bridge(Default::default());
    // Seen at 1450 because its ports are: a 1400 port joining would take it down to that.
    a.mtu_pinned = false;
    let want = Wanted::of(&iface, true);
    let change = attribute_change(&AgentIdentity::default(), &a, &want, Some("b"));
    assert!(
        matches!(&change, Some(Op::SetLink { change, .. }) if change.mtu == Some(1450)),
        "{change:?}"
    );
    // Set once, it holds: nothing more to do.
    a.mtu_pinned = true;
    assert_eq!(
        attribute_change(&AgentIdentity::default(), &a, &want, Some("b")),
        None
    );
}
