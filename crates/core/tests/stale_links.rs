//! A stale link (marked as the agent's, wanted by no item) that a hand changed while its
//! removal waited: whatever takes it back must believe it as the latest look saw it.

mod common;
use common::*;
use nsagent_core::*;
use serde_json::json;

fn look(up: bool, addrs: &[&str]) -> Event {
    dummy_seen("d", up, addrs)
}

/// Seeds 2659, 3305, 4213 and 5002 of the long campaign: after a restart the stale link's
/// removal failed and waited to retry; a hand removed an address and took the link down (which
/// drops its IPv6 addresses) and a resync saw it so; the item came back and took the link back
/// as the first look had seen it, then removed addresses that were gone (EADDRNOTAVAIL).
#[test]
fn a_stale_link_taken_back_is_believed_as_the_latest_look_saw_it() {
    let mut d = Harness::new();
    d.event(Event::Restarted);
    d.event(look(true, &["10.0.0.1/24", "10.0.1.1/24", "fd00::1/64"]));
    let cmds = d.pending();
    assert!(
        matches!(&cmds[..], [c] if matches!(&c.op, Op::DeleteLink { name, .. } if name == "d")),
        "{cmds:?}"
    );
    d.fail(&cmds[0], errno::EAGAIN);
    d.event(look(false, &["10.0.1.1/24"]));
    d.put(
        &iface_key("d"),
        json!({"name": "d", "type": "DUMMY", "enabled": true, "ip_addresses": ["10.0.0.1/24"]}),
    );
    let ops = d.settle();
    let refused: Vec<&Op> = ops
        .iter()
        .filter(|op| match op {
            Op::DelAddress { addr, .. } => addr.to_string() != "10.0.1.1/24",
            Op::DeleteLink { .. } | Op::CreateLink { .. } => true,
            _ => false,
        })
        .collect();
    assert!(refused.is_empty(), "acted on an old look: {ops:?}");
    assert!(
        ops.iter().any(
            |op| matches!(op, Op::AddAddress { addr, .. } if addr.to_string() == "10.0.0.1/24")
        ),
        "the address removed by hand is put back: {ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::SetLink { change, .. } if change.up == Some(true))),
        "the link taken down by hand is brought up: {ops:?}"
    );
    assert!(
        is_applied(&d.state(&iface_key("d"))),
        "{}",
        d.state(&iface_key("d"))
    );
}

/// Seed 17588 of the long campaign: the stale link's removal waited to retry while its item,
/// back under another host name that a veth item held, could not take it back; a resync then
/// adopted the link for the item as well, so the item deleted it and the removal's retry
/// deleted it again (ENODEV). A link whose removal is queued is the removal's alone.
#[test]
fn a_link_whose_removal_is_queued_is_not_adopted_by_resync() {
    let mut d = Harness::new();
    d.event(Event::Restarted);
    d.event(look(false, &[]));
    let cmds = d.pending();
    assert!(
        matches!(&cmds[..], [c] if matches!(&c.op, Op::DeleteLink { name, .. } if name == "d")),
        "{cmds:?}"
    );
    d.fail(&cmds[0], errno::ENOMEM);
    // The veth item holds host name "h" (its peer is not configured yet), so "d" waits.
    d.put(
        &iface_key("v"),
        json!({"name": "v", "type": "VETH", "host_if_name": "h", "veth": {"peer_if_name": "w"}}),
    );
    d.put(
        &iface_key("d"),
        json!({"name": "d", "type": "DUMMY", "host_if_name": "h"}),
    );
    d.event(look(false, &[]));
    assert!(d.pending().is_empty(), "nothing is due before the retry");
    let mut deletions = 0;
    for _ in 0..20 {
        d.advance(60_000);
        deletions += d
            .settle()
            .iter()
            .filter(|op| matches!(op, Op::DeleteLink { name, .. } if name == "d"))
            .count();
    }
    assert_eq!(
        deletions, 1,
        "the link is deleted once, by its removal's retry"
    );
    assert!(
        reasons(&d.state(&iface_key("d")))
            .iter()
            .any(|r| r.contains("h")),
        "{}",
        d.state(&iface_key("d"))
    );
}
