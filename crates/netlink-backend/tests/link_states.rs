//! Link states against the real kernel: operational status as carrier makes it, and counters
//! that count (vpp-agent's users got empty statistics, ligato/vpp-agent#1537).

mod common;

use common::*;
use nsagent_core::{Backend, ErrorKind, Netns, OperState};
use nsagent_netlink::NetlinkBackend;

fn state(b: &mut NetlinkBackend, ns: &Netns, name: &str) -> nsagent_core::LinkState {
    b.link_states(ns)
        .expect("link states")
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} in {ns}"))
}

#[test]
fn states_follow_carrier_and_counters_count_the_traffic_sent() {
    let a = TestNs::new();
    let z = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "ls0", &z, "ls1")).unwrap();
    run(
        "ip",
        &["-n", &a.name, "addr", "add", "10.93.0.1/24", "dev", "ls0"],
    );
    run(
        "ip",
        &["-n", &z.name, "addr", "add", "10.93.0.2/24", "dev", "ls1"],
    );
    let s = state(&mut b, &a.netns(), "ls0");
    assert!(!s.admin_up && s.oper == OperState::Down, "{s:?}");
    assert!(s.ifindex > 0 && s.mac.is_some(), "{s:?}");
    // ethtool's link modes: the veth driver says 10000 Mb/s; loopback reports none.
    assert_eq!(s.speed_mbps, Some(10_000), "{s:?}");
    assert_eq!(state(&mut b, &a.netns(), "lo").speed_mbps, None);
    run("ip", &["-n", &a.name, "link", "set", "ls0", "up"]);
    // The kernel settles operational status a little later (linkwatch).
    assert!(
        eventually(|| {
            let s = state(&mut b, &a.netns(), "ls0");
            s.admin_up && s.oper == OperState::Down
        }),
        "the other end is down, so no carrier: {:?}",
        state(&mut b, &a.netns(), "ls0")
    );
    run("ip", &["-n", &z.name, "link", "set", "ls1", "up"]);
    assert!(
        eventually(|| state(&mut b, &a.netns(), "ls0").oper == OperState::Up),
        "{:?}",
        state(&mut b, &a.netns(), "ls0")
    );
    let before = state(&mut b, &z.netns(), "ls1").stats;
    assert!(
        a.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.93.0.2"]),
        "ping across the pair"
    );
    let sent = state(&mut b, &a.netns(), "ls0").stats;
    let got = state(&mut b, &z.netns(), "ls1").stats;
    assert!(sent.tx_packets >= 3 && sent.tx_bytes > 0, "{sent:?}");
    assert!(
        got.rx_packets >= before.rx_packets + 3,
        "{before:?} -> {got:?}"
    );

    let gone = TestNs::unmade();
    let err = b.link_states(&gone.netns()).expect_err("no such namespace");
    assert_eq!(err.kind, ErrorKind::NamespaceGone, "{err}");
}
