//! VRF_DEVICE and `vrf_master_interface`: the agent makes VRFs, enslaves members once their
//! VRF is there, releases them when they stop naming it, and a member waits (nothing of it in
//! the kernel) while its VRF is not there for it.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn vrf() -> serde_json::Value {
    json!({"name": "red", "type": "VRF_DEVICE", "host_if_name": "vrf-red", "enabled": true,
           "vrf_dev": {"routing_table": 10}})
}

fn member(master: Option<&str>) -> serde_json::Value {
    let mut v =
        json!({"name": "m", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.3.0.1/24"]});
    if let Some(m) = master {
        v["vrf_master_interface"] = json!(m);
    }
    v
}

/// The agent's VRF `red` as a look finds it, table 10.
fn vrf_seen(up: bool) -> ObservedLink {
    let mut v = host_link("vrf-red", up, 65575, &[]);
    v.kind = LinkKind::Vrf;
    v.vrf_table = Some(10);
    v.alias = Some(mine("red"));
    v
}

/// The agent's dummy `m` as a look finds it, enslaved to `vrf-red`.
fn member_seen() -> ObservedLink {
    let mut m = host_link("m", true, 1500, &["10.3.0.1/24"]);
    m.kind = LinkKind::Dummy;
    m.alias = Some(mine("m"));
    m.master = Some("vrf-red".into());
    m
}

#[test]
fn a_member_waits_for_its_vrf_then_is_enslaved_to_it() {
    let mut d = Harness::new();
    d.put(&iface_key("m"), member(Some("red")));
    assert_eq!(d.settle(), vec![], "nothing of the member before its VRF");
    assert_eq!(
        reasons(&d.state(&iface_key("m"))),
        vec!["interface 'red' is not configured"]
    );
    d.put(&iface_key("red"), vrf());
    let ops = d.settle();
    let made_vrf = ops.iter().position(|op| {
        matches!(op, Op::CreateLink { link, kind: NewLink::Vrf { table: 10 }, .. } if link.name == "vrf-red")
    });
    let made_member = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "m"));
    assert!(
        made_vrf.is_some() && made_member > made_vrf,
        "the VRF first: {ops:?}"
    );
    assert_eq!(
        enslaving(&ops, "m"),
        vec![&Master::Set("vrf-red".into())],
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("m"))));
    assert!(is_applied(&d.state(&iface_key("red"))));

    // No longer a member: released, not re-created.
    d.put(&iface_key("m"), member(None));
    let ops = d.settle();
    assert_eq!(enslaving(&ops, "m"), vec![&Master::Release], "{ops:?}");
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DeleteLink { .. })),
        "{ops:?}"
    );
}

#[test]
fn a_member_of_something_else_than_a_vrf_waits_and_says_why() {
    let mut d = Harness::new();
    d.put(
        &iface_key("red"),
        json!({"name": "red", "type": "DUMMY", "enabled": true}),
    );
    d.put(&iface_key("m"), member(Some("red")));
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("m"))),
        vec!["interface 'red' is not a VRF_DEVICE"]
    );
}

#[test]
fn a_vrf_in_another_namespace_is_not_the_members() {
    let mut d = Harness::new();
    let mut v = vrf();
    v["namespace"] = json!({"type": "NSID", "reference": "blue"});
    d.put(&iface_key("red"), v);
    d.put(&iface_key("m"), member(Some("red")));
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("m"))),
        vec!["VRF 'red' is in another namespace than this interface"]
    );
}

#[test]
fn when_the_vrf_goes_its_members_go_and_wait() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(&iface_key("m"), member(Some("red")));
    d.settle();
    d.delete(&iface_key("red"));
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "vrf-red")),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "m")),
        "a member has nothing in the kernel while its VRF is not there: {ops:?}"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("m"))),
        vec!["interface 'red' is not configured"]
    );
}

#[test]
fn a_vrf_and_its_member_found_after_a_restart_are_left_as_they_are() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(&iface_key("m"), member(Some("red")));
    d.event(Event::Restarted);
    let (mut v, mut m) = (vrf_seen(true), member_seen());
    d.event(default_seen(vec![v.clone(), m.clone()]));
    assert_eq!(d.settle(), vec![], "as asked already");
    assert!(is_applied(&d.state(&iface_key("m"))));

    // Released by hand: enslaved again at the next look. A VRF of another table is re-made.
    m.master = None;
    v.vrf_table = Some(11);
    d.event(default_seen(vec![v, m]));
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(
            op,
            Op::CreateLink {
                kind: NewLink::Vrf { table: 10 },
                ..
            }
        )),
        "{ops:?}"
    );
    assert_eq!(
        enslaving(&ops, "m"),
        vec![&Master::Set("vrf-red".into())],
        "{ops:?}"
    );
}

#[test]
fn vrf_settings_are_checked_on_their_fields() {
    let bad = |v: serde_json::Value, field: &str, part: &str| {
        let e = Item::decode_unkeyed(&v).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.reason.contains(part), "{e}");
    };
    bad(
        json!({"name": "v", "type": "VRF_DEVICE", "vrf_dev": {"routing_table": 254}}),
        "vrf_dev.routing_table",
        "every namespace has",
    );
    bad(
        json!({"name": "v", "type": "VRF_DEVICE", "vrf_dev": {"routing_table": 9},
               "vrf_master_interface": "w"}),
        "vrf_master_interface",
        "cannot be enslaved",
    );
    bad(
        json!({"name": "l", "type": "LOOPBACK", "vrfMasterInterface": "w"}),
        "vrfMasterInterface",
        "lo cannot",
    );
    bad(
        json!({"name": "d", "type": "DUMMY", "vrf_master_interface": "d"}),
        "vrf_master_interface",
        "its own VRF",
    );
    bad(
        json!({"name": "v", "type": "VRF_DEVICE", "host_if_name": "lo", "vrf_dev": {"routing_table": 9}}),
        "host_if_name",
        "loopback",
    );
}

#[test]
fn routes_through_a_member_go_to_its_vrfs_table() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(&iface_key("m"), member(Some("red")));
    d.put(
        &iface_key("plain"),
        json!({"name": "plain", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.4.0.1/24"]}),
    );
    d.put(
        "config/linux/l3/v2/route/10.9.0.0/24/m",
        json!({"outgoing_interface": "m", "dst_network": "10.9.0.0/24", "gw_addr": "10.3.0.254"}),
    );
    d.put(
        "config/linux/l3/v2/route/10.9.0.0/24/plain",
        json!({"outgoing_interface": "plain", "dst_network": "10.9.0.0/24", "gw_addr": "10.4.0.254"}),
    );
    let ops = d.settle();
    let tables: Vec<(String, Option<u32>)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::AddRoute { route, .. } => Some((route.dev.clone(), route.table)),
            _ => None,
        })
        .collect();
    assert!(tables.contains(&("m".into(), Some(10))), "{ops:?}");
    assert!(
        tables.contains(&("plain".into(), None)),
        "the same destination in main, no contest with the VRF's: {ops:?}"
    );
    assert!(is_applied(
        &d.state("config/linux/l3/v2/route/10.9.0.0/24/m")
    ));
    assert!(is_applied(
        &d.state("config/linux/l3/v2/route/10.9.0.0/24/plain")
    ));

    // The member leaves its VRF: the route goes to main, where the other holds the slot.
    d.put(&iface_key("m"), member(None));
    d.settle();
    assert_eq!(
        reasons(&d.state("config/linux/l3/v2/route/10.9.0.0/24/m")),
        vec!["route with the same destination and metric is configured by 'config/linux/l3/v2/route/10.9.0.0/24/plain'"]
    );
}

/// Campaign-style case found by the simulation: a veth pair whose one end names a VRF that is
/// not there was made on the other end's behalf, then removed for the first end, forever.
#[test]
fn a_veth_whose_peer_waits_for_its_vrf_waits_too() {
    let mut d = Harness::new();
    let (k4, v4) = veth("v4", "v5", None, "10.4.0.1/24");
    let (k5, mut v5) = veth("v5", "v4", None, "10.5.0.1/24");
    v5["vrf_master_interface"] = json!("red");
    d.put(&k4, v4);
    d.put(&k5, v5);
    assert_eq!(d.settle(), vec![], "no pair made to be removed");
    assert_eq!(reasons(&d.state(&k4)), vec!["veth peer 'v5' is pending"]);
    assert_eq!(
        reasons(&d.state(&k5)),
        vec!["interface 'red' is not configured"]
    );
    d.put(&iface_key("red"), vrf());
    d.settle();
    assert!(is_applied(&d.state(&k4)) && is_applied(&d.state(&k5)));
}

/// Found by the simulation (seed 18): after a restart that lost the state, the member was
/// reconciled before its VRF, took the adopted VRF for not there yet, and was re-made.
#[test]
fn a_member_adopted_with_its_vrf_after_state_loss_is_kept() {
    let mut d = Harness::new();
    d.put(&iface_key("m"), member(Some("red")));
    d.put(&iface_key("red"), vrf());
    d.event(Event::Restarted);
    let (v, m) = (vrf_seen(true), member_seen());
    d.event(default_seen(vec![m, v]));
    assert_eq!(d.settle(), vec![], "kept as found");
}

/// Found by the simulation (seed 22): the VRF taken down by hand was being brought up again,
/// and its member, seeing a command of the VRF's in flight, was removed for it.
#[test]
fn a_vrf_being_repaired_keeps_its_members() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(&iface_key("m"), member(Some("red")));
    d.settle();
    let (v, m) = (vrf_seen(false), member_seen());
    d.event(default_seen(vec![m, v]));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::SetLink { name, change, .. }] if name == "vrf-red" && change.up == Some(true)),
        "only the VRF is brought up again: {ops:?}"
    );
}

/// Found by the simulation (seed 39): a member put again with another VRF kept being counted
/// as the first VRF's member, and a later put touched the freed slot of one it had named.
#[test]
fn a_member_moved_to_another_vrf_follows_that_one() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    let mut blue = vrf();
    blue["name"] = json!("blue");
    blue["host_if_name"] = json!("vrf-blue");
    blue["vrf_dev"] = json!({"routing_table": 11});
    d.put(&iface_key("blue"), blue.clone());
    d.put(&iface_key("m"), member(Some("red")));
    d.settle();
    d.put(&iface_key("m"), member(Some("blue")));
    let ops = d.settle();
    assert_eq!(
        enslaving(&ops, "m"),
        vec![&Master::Set("vrf-blue".into())],
        "{ops:?}"
    );
    d.delete(&iface_key("m"));
    d.settle();
    // Red changes: nothing of m's is touched (it is gone), and nothing breaks.
    let mut red = vrf();
    red["vrf_dev"] = json!({"routing_table": 12});
    d.put(&iface_key("red"), red);
    d.settle();
    // Blue goes: a new m is left waiting for it, and is enslaved when it is back.
    d.put(&iface_key("m"), member(Some("blue")));
    d.delete(&iface_key("blue"));
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("m"))),
        vec!["interface 'blue' is not configured"]
    );
    d.put(&iface_key("blue"), blue);
    let ops = d.settle();
    assert_eq!(
        enslaving(&ops, "m"),
        vec![&Master::Set("vrf-blue".into())],
        "{ops:?}"
    );
}

/// Found by the simulation (seed 78): a VRF cycles only a port that is up; the core took the
/// release of a down member for a cycle, forgot its IPv6 address, and left it on the link
/// when the item stopped listing it.
#[test]
fn releasing_a_down_member_keeps_what_is_on_it() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(
        &iface_key("m"),
        json!({"name": "m", "type": "DUMMY", "enabled": false, "ip_addresses": ["fd00:10::1/64"],
               "vrf_master_interface": "red"}),
    );
    d.settle();
    d.put(
        &iface_key("m"),
        json!({"name": "m", "type": "DUMMY", "enabled": false}),
    );
    let ops = d.settle();
    assert_eq!(enslaving(&ops, "m"), vec![&Master::Release], "{ops:?}");
    assert!(
        ops.iter().any(
            |op| matches!(op, Op::DelAddress { addr, .. } if addr.to_string() == "fd00:10::1/64")
        ),
        "the address is still there, and goes: {ops:?}"
    );
}

/// Found by the simulation (CI seed 6): a member whose release failed was still enslaved when
/// its VRF's table changed. The VRF's removal releases and cycles the member, flushing its
/// routes: removing them in the same breath raced the kernel. They wait for the VRF's result,
/// then go to main.
#[test]
fn a_members_routes_wait_while_its_vrf_is_being_removed() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(&iface_key("m"), member(Some("red")));
    let route = "config/linux/l3/v2/route/10.9.0.0/24/m";
    d.put(
        route,
        json!({"outgoing_interface": "m", "dst_network": "10.9.0.0/24", "scope": "LINK"}),
    );
    d.settle();
    assert!(is_applied(&d.state(route)));

    d.put(&iface_key("m"), member(None));
    let release = d.pending();
    assert!(
        release
            .iter()
            .any(|c| enslaving(std::slice::from_ref(&c.op), "m") == vec![&Master::Release]),
        "{release:?}"
    );
    // The VRF's table changes while the release is out; the release then fails.
    let mut red = vrf();
    red["vrf_dev"] = json!({"routing_table": 11});
    d.put(&iface_key("red"), red);
    let mut batch = d.pending();
    for c in &release {
        d.fail(c, 16);
    }
    batch.extend(d.pending());
    assert!(
        batch
            .iter()
            .any(|c| matches!(&c.op, Op::DeleteLink { name, .. } if name == "vrf-red")),
        "{batch:?}"
    );
    assert!(
        !batch.iter().any(|c| matches!(&c.op, Op::DelRoute { .. })),
        "the route waits for the VRF's removal, which flushes it: {batch:?}"
    );
    for c in &batch {
        d.ok(c);
    }
    d.advance(60_000);
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::AddRoute { route, .. } if route.dev == "m" && route.table.is_none())),
        "the flushed route comes back in main: {ops:?}"
    );
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DelRoute { .. })),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(route)));
}

/// Found by the simulation (seeds 3100, 465): a member put while its VRF was being made (the
/// command on its way) was taken for one whose VRF is not there, and its link was removed and
/// re-made a moment later; a veth whose other end's VRF was being made, likewise. It waits for
/// the VRF's result, and is enslaved in place.
#[test]
fn a_member_waits_for_its_vrf_being_made_and_keeps_its_link() {
    let mut d = Harness::new();
    d.put(&iface_key("m"), member(None));
    d.settle();
    d.put(&iface_key("red"), vrf());
    let create = d.pending();
    assert!(
        matches!(create.as_slice(), [c] if matches!(c.op, Op::CreateLink { .. })),
        "{create:?}"
    );
    d.put(&iface_key("m"), member(Some("red")));
    let meanwhile = d.pending();
    assert!(
        !meanwhile
            .iter()
            .any(|c| matches!(&c.op, Op::DeleteLink { name, .. } if name == "m")),
        "the member's link stays: {meanwhile:?}"
    );
    d.ok(&create[0]);
    let ops = d.settle();
    assert_eq!(
        enslaving(&ops, "m"),
        vec![&Master::Set("vrf-red".into())],
        "{ops:?}"
    );
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DeleteLink { .. })),
        "{ops:?}"
    );
}

/// Found by the simulation (seeds 2196, 3035): an ARP entry deleted while the VRF its
/// interface is enslaved to was being removed went out in the same breath, and the removal
/// (which releases and cycles the member) had flushed it by then. Removals wait too.
#[test]
fn a_members_neighbour_deleted_while_its_vrf_goes_waits_for_it() {
    let mut d = Harness::new();
    d.put(&iface_key("red"), vrf());
    d.put(&iface_key("m"), member(Some("red")));
    let arp = "config/linux/l3/v2/arp/m/10.3.0.7";
    d.put(
        arp,
        json!({"interface": "m", "ip_address": "10.3.0.7", "hw_address": "02:aa:00:00:00:07"}),
    );
    d.settle();
    assert!(is_applied(&d.state(arp)));
    let mut red = vrf();
    red["vrf_dev"] = json!({"routing_table": 11});
    d.put(&iface_key("red"), red);
    let removal = d.pending();
    assert!(
        removal
            .iter()
            .any(|c| matches!(&c.op, Op::DeleteLink { name, .. } if name == "vrf-red")),
        "{removal:?}"
    );
    // The member's own removal (it goes while its VRF is re-made) fails for now: nothing of
    // the member's is in flight, only the VRF's removal.
    let vrf_removal: Vec<Command> = removal
        .iter()
        .filter(|c| {
            let member = matches!(&c.op, Op::DeleteLink { name, .. } if name == "m");
            if member {
                d.fail(c, 11);
            }
            !member
        })
        .cloned()
        .collect();
    let removal = vrf_removal;
    d.delete(arp);
    let meanwhile = d.pending();
    assert!(
        !meanwhile
            .iter()
            .any(|c| matches!(&c.op, Op::DelNeighbour { .. })),
        "the neighbour waits for the VRF's removal: {meanwhile:?}"
    );
    for c in removal.iter().chain(&meanwhile) {
        d.ok(c);
    }
    let ops = d.settle();
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DelNeighbour { .. })),
        "flushed with the cycle, nothing left to delete: {ops:?}"
    );
    assert!(d.core.status(&arp.parse().unwrap()).is_none());
}
