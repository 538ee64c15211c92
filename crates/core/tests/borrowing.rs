//! Borrowing (EXISTING, LOOPBACK): what the agent takes back when it lets a link go, and whose
//! links it never borrows.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

#[test]
fn an_address_on_a_borrowed_link_before_stays_when_the_item_that_listed_it_goes() {
    let mut d = Harness::new();
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9",
            "ip_addresses": ["10.9.0.1/24", "10.1.0.1/24"]}),
    );
    d.observe_default(vec![host_link("eth9", true, 1500, &["10.9.0.1/24"])]);
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::AddAddress { addr, .. }] if addr.to_string() == "10.1.0.1/24"),
        "only the missing address is added: {ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("e"))));
    // The item stops listing the address that was there: it stays.
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9",
            "ip_addresses": ["10.1.0.1/24"]}),
    );
    assert_eq!(d.settle(), vec![], "the address that was there is kept");
    d.delete(&iface_key("e"));
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::DelAddress { addr, .. }] if addr.to_string() == "10.1.0.1/24"),
        "only the address the agent added goes: {ops:?}"
    );
}

#[test]
fn a_link_another_agent_marked_is_never_borrowed() {
    let mut d = Harness::new();
    let other = AgentIdentity::new("other", InstanceId(7)).expect("identity");
    let mut theirs = host_link("v1", false, 1500, &[]);
    theirs.alias = Some(other.mark("v1"));
    d.put(
        &iface_key("e"),
        json!({"name": "e", "type": "EXISTING", "host_if_name": "v1", "enabled": true,
            "mtu": 1400, "ip_addresses": ["10.1.0.1/24"]}),
    );
    d.observe_default(vec![theirs.clone()]);
    assert_eq!(d.settle(), vec![], "nothing of the other agent's touched");
    match d.state(&iface_key("e")) {
        ItemState::Failed { error, .. } => assert!(
            error.starts_with("refused: ") && error.contains("another agent's mark"),
            "{error}"
        ),
        other => panic!("{other:?}"),
    }
    // A resync looks again: still refused, and the item is not retried behind the refusal.
    assert_eq!(
        d.core.poll_resync(),
        None,
        "no look asked for a refused item"
    );
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![theirs],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
    for _ in 0..5 {
        d.advance(60_000);
    }
    assert_eq!(d.settle(), vec![]);
}

/// Seed 8467 of the long campaign: an address that was on the borrowed link before was counted
/// as there for good; once taking the link back down (its original state) dropped it, as the
/// kernel drops IPv6 addresses of a link going down, the item asking for it never got it back.
#[test]
fn an_address_that_was_there_and_went_is_added_when_the_item_asks_for_it() {
    let mut d = Harness::new();
    let key = iface_key("e");
    d.put(
        &key,
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9", "enabled": true}),
    );
    d.observe_default(vec![host_link("eth9", false, 1500, &["fd00::9/64"])]);
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::SetLink { change, .. }] if change.up == Some(true)),
        "{ops:?}"
    );
    // No longer setting `enabled`: the link goes back down, and the kernel drops fd00::9.
    d.put(
        &key,
        json!({"name": "e", "type": "EXISTING", "host_if_name": "eth9",
            "ip_addresses": ["fd00::9/64"]}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::SetLink { change, .. }, Op::AddAddress { addr, .. }]
            if change.up == Some(false) && addr.to_string() == "fd00::9/64"),
        "the address the item asks for is added back: {ops:?}"
    );
    assert!(is_applied(&d.state(&key)), "{}", d.state(&key));
    d.delete(&key);
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::DelAddress { addr, .. }] if addr.to_string() == "fd00::9/64"),
        "added by the agent, so removed with the item: {ops:?}"
    );
}
