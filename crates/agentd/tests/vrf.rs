//! VRF_DEVICE and `vrf_master_interface` end to end against the real kernel, through NATS and
//! `nsagentctl`, in a network namespace made for the test (`unshare -n`): the agent makes the
//! VRF, enslaves a veth end to it once it is there, routes through it in the VRF's table, and the
//! member goes (and waits) when the VRF goes.
//!
//! Runs where the kernel has the VRF module; where `ip link add type vrf` fails (this project's
//! CI machine has no such module) the test says it is skipped, and why. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
if ! ip link add vprobe type vrf table 9 2>/dev/null; then
  echo "=== skip"; echo "ip link add type vrf fails: this kernel has no vrf module"; echo "==="; exit 0
fi
ip link del vprobe
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label vr --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/vr.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label vr --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/vb1 >/dev/null
ctl wait --within 20 config/linux/l3/v2/route/10.96.0.0/24/vb1 >/dev/null
echo "=== made"
ip -d -o link show vrf-e2e | grep -o 'vrf table [0-9]*'
ip -o link show vb1 | grep -o 'master [a-z0-9-]*'
ip route show table 100 10.96.0.0/24
ip route show table main 10.96.0.0/24 | wc -l
ctl del config/linux/interfaces/v2/interface/vrf-e2e >/dev/null
wait_for "member gone" sh -c "! ip link show vb1 >/dev/null 2>&1"
echo "=== vrf gone"; ctl status | grep 'interface/vb1'
echo "==="
"#;

#[test]
fn a_vrf_its_member_and_its_table_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let items = serde_json::json!([
        {"name": "vrf-e2e", "type": "VRF_DEVICE", "enabled": true, "vrfDev": {"routingTable": 100}},
        {"name": "vb1", "type": "VETH", "enabled": true, "vrf_master_interface": "vrf-e2e",
         "ip_addresses": ["10.95.0.1/24"], "veth": {"peer_if_name": "vb2"}},
        {"name": "vb2", "type": "VETH", "enabled": true, "ip_addresses": ["10.95.0.2/24"],
         "veth": {"peer_if_name": "vb1"}},
        {"outgoing_interface": "vb1", "dst_network": "10.96.0.0/24", "gw_addr": "10.95.0.2"},
    ]);
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "vr.log");
    if text.contains("=== skip") {
        eprintln!("SKIPPED: {}", section(&text, "skip", &all).trim());
        return;
    }
    let made = section(&text, "made", &all);
    assert!(made.contains("vrf table 100"), "{all}");
    assert!(made.contains("master vrf-e2e"), "{all}");
    assert!(made.contains("10.96.0.0/24 via 10.95.0.2 dev vb1"), "{all}");
    assert_eq!(made.lines().last(), Some("0"), "not in main: {all}");
    let gone = section(&text, "vrf gone", &all);
    assert!(
        gone.contains("interface 'vrf-e2e' is not configured"),
        "{all}"
    );
}
