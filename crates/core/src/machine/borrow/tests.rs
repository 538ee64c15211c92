//! Unit tests of borrowed links' loans (`machine/borrow.rs`).

use super::*;
use crate::model::Item;
use crate::observed::LinkKind;
use serde_json::json;

fn existing(value: serde_json::Value) -> Interface {
    match Item::decode_unkeyed(&value) {
        Ok(Item::Interface(i)) => i,
        other => panic!("not an interface: {other:?}"),
    }
}

fn seen() -> ObservedLink {
    ObservedLink {
        name: "eth1".into(),
        kind: LinkKind::Other,
        alias: None,
        mtu: 1400,
        mac: Some("02:00:00:00:00:01".parse().unwrap()),
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

fn belief(l: &ObservedLink) -> LinkActual {
    LinkActual::observed(
        &Netns::Default,
        l,
        super::super::state::LinkRole::Borrowed,
        None,
        &[],
    )
}

#[test]
fn an_unset_attribute_is_left_alone_and_a_set_one_restored_once_deleted() {
    let iface = existing(
        json!({"name": "x", "type": "EXISTING", "host_if_name": "eth1",
        "mtu": 1300}),
    );
    let mut b = Borrows::default();
    assert!(b.want_observation(&Netns::Default, "eth1"));
    assert!(!b.want_observation(&Netns::Default, "eth1"), "asked once");
    assert!(b.observed(&Netns::Default, "eth1", Some(&seen())));
    let mut a = belief(&seen());
    let w = b.wanted(&a, Some(&iface));
    assert_eq!(
        w,
        Wanted {
            up: None,
            mtu: Some(1300),
            mac: None,
            master: None,
            bridge: None,
        }
    );
    b.record(
        &a,
        &LinkChange {
            mtu: Some(1300),
            ..LinkChange::default()
        },
    );
    a.mtu = Some(1300);
    b.settle(&a, Some(&iface));
    assert_eq!(
        b.wanted(&a, None).mtu,
        Some(1400),
        "the original once deleted"
    );
    a.mtu = Some(1400);
    b.settle(&a, None);
    assert_eq!(
        b.wanted(&a, None),
        Wanted::default(),
        "restored: nothing to do"
    );
    assert_eq!(b.kept(&Netns::Default, "eth1"), &seen().addresses[..]);
    b.release(&Netns::Default, "eth1");
    assert!(b.is_empty());
}

#[test]
fn a_link_taken_down_for_its_mac_comes_back_up_though_enabled_is_unset() {
    let iface = existing(
        json!({"name": "x", "type": "EXISTING", "host_if_name": "eth1",
        "phys_address": "02:00:00:00:00:09"}),
    );
    let mut b = Borrows::default();
    b.observed(&Netns::Default, "eth1", Some(&seen()));
    let mut a = belief(&seen());
    b.record(
        &a,
        &LinkChange {
            up: Some(false),
            mac: iface.phys_address,
            ..LinkChange::default()
        },
    );
    a.up = false;
    a.mac = iface.phys_address;
    assert_eq!(b.wanted(&a, Some(&iface)).up, Some(true));
    let back = b.wanted(&a, None);
    assert_eq!((back.up, back.mac), (Some(true), seen().mac));
}

#[test]
fn a_missing_link_is_told_once_per_ask_and_gets_no_loan() {
    let mut b = Borrows::default();
    assert!(!b.observed(&Netns::Default, "eth1", None), "not asked");
    b.want_observation(&Netns::Default, "eth1");
    assert!(b.observed(&Netns::Default, "eth1", None));
    assert!(b.is_empty());
}

#[test]
fn an_observation_answers_every_ask_of_its_namespace_and_a_vanish_ends_its_loans() {
    let mut b = Borrows::default();
    let red = Netns::Named("red".into());
    b.want_observation(&red, "eth1");
    b.observed_namespace(&red, |_| true);
    assert!(b.want_observation(&red, "eth1"), "asked again");
    b.observed(&red, "eth1", Some(&seen()));
    assert!(!b.is_empty());
    b.forget_namespace(&red);
    assert!(b.is_empty());
}

#[test]
fn a_look_without_the_link_ends_its_loan() {
    let mut b = Borrows::default();
    let red = Netns::Named("red".into());
    b.observed(&red, "eth1", Some(&seen()));
    b.observed_namespace(&red, |l| l == "eth1");
    assert!(b.lent(&red, "eth1"), "still there: still lent");
    b.observed_namespace(&Netns::Default, |_| false);
    assert!(
        b.lent(&red, "eth1"),
        "another namespace's look says nothing of it"
    );
    b.observed_namespace(&red, |_| false);
    assert!(!b.lent(&red, "eth1"));
}

#[test]
fn unknown_attributes_record_nothing() {
    let mut b = Borrows::default();
    let mut a = belief(&seen());
    a.attributes_unknown = true;
    b.record(
        &a,
        &LinkChange {
            mtu: Some(1300),
            ..LinkChange::default()
        },
    );
    assert!(b.is_empty());
}

#[test]
fn the_policy_refuses_links_not_allowed_and_protects_the_agents_own() {
    // `"enabled": false` is protobuf-JSON's zero, read as unset; a stored item of before
    // the mapping may still say false.
    let mut lo_down = existing(json!({"name": "l", "type": "LOOPBACK"}));
    lo_down.enabled = Some(false);
    let lo_mac = existing(json!({"name": "l", "type": "LOOPBACK",
        "phys_address": "02:00:00:00:00:01"}));
    let lo_up = existing(json!({"name": "l", "type": "LOOPBACK", "enabled": true,
        "ip_addresses": ["127.0.0.2/8"]}));
    let eth = existing(json!({"name": "x", "type": "EXISTING", "host_if_name": "eth1"}));
    let p = BorrowPolicy {
        allow: vec!["lo".into(), "veth*".into()],
        protected: vec![ProtectedLink {
            ns: Netns::Default,
            name: "lo".into(),
            address: Some([127, 0, 0, 1].into()),
            server: [127, 0, 0, 1].into(),
        }],
    };
    let refused = p
        .refusal(&Netns::Default, &eth)
        .expect("eth1 is not allowed");
    assert!(
        refused.contains("'eth1'") && refused.contains("lo,veth*"),
        "{refused}"
    );
    let refused = p.refusal(&Netns::Default, &lo_down).expect("protected");
    assert!(refused.contains("NATS server 127.0.0.1") && refused.contains("enabled: false"));
    let refused = p.refusal(&Netns::Default, &lo_mac).expect("protected");
    assert!(refused.contains("phys_address"), "{refused}");
    assert_eq!(p.refusal(&Netns::Default, &lo_up), None);
    assert_eq!(
        p.refusal(&Netns::Named("red".into()), &lo_down),
        None,
        "another namespace's lo"
    );
    let mac = existing(json!({"name": "l", "type": "LOOPBACK",
        "phys_address": "02:00:00:00:00:09"}));
    assert!(p
        .refusal(&Netns::Default, &mac)
        .unwrap()
        .contains("phys_address"));
    assert_eq!(BorrowPolicy::default().refusal(&Netns::Default, &eth), None);
    assert!(glob_matches("veth*", "veth0") && !glob_matches("veth", "veth0"));
}

#[test]
fn a_landed_tap_takes_its_first_look_as_what_was_there_before_and_prunes_after() {
    let red = Netns::Named("red".into());
    let mut b = Borrows::default();
    b.landed(&red, "vpp1", "tap0");
    assert!(b.unseen(&red, "vpp1"));
    assert_eq!(b.home(&red, "vpp1"), Some("tap0"));
    let a: IpNet = "10.9.0.1/24".parse().unwrap();
    let c: IpNet = "10.9.0.2/24".parse().unwrap();
    b.seen_addresses(&red, "vpp1", &[a, c]);
    assert!(!b.unseen(&red, "vpp1"), "seen once");
    assert_eq!(b.kept(&red, "vpp1"), &[a, c]);
    b.seen_addresses(&red, "vpp1", &[c]);
    assert_eq!(
        b.kept(&red, "vpp1"),
        &[c],
        "one removed by hand is no longer kept"
    );
    assert_eq!(b.home(&red, "vpp1"), Some("tap0"), "home stays");
}
