//! Two interface settings end to end against the real kernel, through NATS and `nsagentctl`,
//! in a network namespace made for the test (`unshare -n`):
//! - a veth's checksum offloading (vpp-agent's `veth.rx/tx_checksum_offloading`, written as its
//!   generator writes it: camelCase, enum numbers) is set through ethtool's netlink family, read
//!   back with the `ethtool` tool, and set again by a resync after a hand change;
//! - a `link_only` veth's route waits for the address the item lists until someone else puts it
//!   on the link, then goes in.
//!
//! Needs root, and `ethtool` for the independent view; without either the test says so.

mod common;

use std::process::Command;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label of --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/of.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label of --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/of-a >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/lo-a >/dev/null
echo "=== set"; ethtool -k ofa | grep -E '^(rx|tx)-checksumming'; ethtool -k ofb | grep -E '^(rx|tx)-checksumming'
echo "=== pending"; ctl status | grep 'route/'
ethtool -K ofa rx on
echo "=== by hand"; ethtool -k ofa | grep -E '^rx-checksumming'
ctl resync >/dev/null
wait_for "rx off again" sh -c "ethtool -k ofa | grep -q '^rx-checksumming: off'"
echo "=== repaired"; ethtool -k ofa | grep -E '^(rx|tx)-checksumming'
ip addr add 10.77.0.1/24 dev loa
ctl wait --within 20 config/linux/l3/v2/route/10.78.0.0/24/lo-a >/dev/null
echo "=== route"; ip route show 10.78.0.0/24; ip addr show dev loa | grep 'inet '
echo "==="
"#;

#[test]
fn checksum_offloading_and_link_only_addresses_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    if Command::new("ethtool").arg("--version").output().is_err() {
        eprintln!("SKIPPED: ethtool is not installed (the independent view of the features)");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let items = serde_json::json!([
        {"name": "of-a", "type": 1, "hostIfName": "ofa", "enabled": true,
         "veth": {"peerIfName": "of-b", "rxChecksumOffloading": 2, "txChecksumOffloading": 2}},
        {"name": "of-b", "type": "VETH", "host_if_name": "ofb", "enabled": true,
         "veth": {"peer_if_name": "of-a", "rx_checksum_offloading": "CHKSM_OFFLOAD_DEFAULT"}},
        {"name": "lo-a", "type": "VETH", "host_if_name": "loa", "enabled": true, "link_only": true,
         "ip_addresses": ["10.77.0.1/24"], "veth": {"peer_if_name": "lo-b"}},
        {"name": "lo-b", "type": "VETH", "host_if_name": "lob", "enabled": true,
         "veth": {"peer_if_name": "lo-a"}},
        {"outgoing_interface": "lo-a", "dst_network": "10.78.0.0/24", "gw_addr": "10.77.0.254"},
    ]);
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "of.log");

    let set = section(&text, "set", &all);
    assert_eq!(
        set.lines().collect::<Vec<_>>(),
        [
            "rx-checksumming: off",
            "tx-checksumming: off",
            "rx-checksumming: on",
            "tx-checksumming: on"
        ],
        "off on the end that asks, the kernel's on the other: {all}"
    );
    let pending = section(&text, "pending", &all);
    assert!(
        pending
            .contains("address 10.77.0.1/24 of link-only interface 'lo-a' is not on its link yet"),
        "{all}"
    );
    assert!(
        section(&text, "by hand", &all).contains("rx-checksumming: on"),
        "{all}"
    );
    let repaired = section(&text, "repaired", &all);
    assert!(
        repaired.contains("rx-checksumming: off") && repaired.contains("tx-checksumming: off"),
        "{all}"
    );
    let route = section(&text, "route", &all);
    assert!(
        route.contains("10.78.0.0/24 via 10.77.0.254 dev loa"),
        "{all}"
    );
    assert_eq!(
        route.matches("inet ").count(),
        1,
        "the agent added no address of its own: {all}"
    );
}
