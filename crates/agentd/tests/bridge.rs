//! BRIDGE and `bridge_master_interface` end to end against the real kernel, through NATS and
//! `nsagentctl`, in a network namespace made for the test (`unshare -n`): the agent makes a
//! bridge and two veth pairs whose ends in the test's namespace are its ports, the other ends in
//! two namespaces of their own standing for two containers; they ping each other across the
//! bridge. A settings change (STP on) is made in place (the bridge keeps its index), and deleting the
//! bridge takes its ports first. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label br --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/br.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true; ip netns del nsa-brt-1 2>/dev/null || true; ip netns del nsa-brt-2 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label br --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/bp1 >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/bp2 >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/bh1 >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/bh2 >/dev/null
echo "=== made"
ip -d -o link show br-e2e | grep -o 'stp_state [0-9]\|ageing_time [0-9]*'
ip -o link show bp1 | grep -o 'master [a-z0-9-]*'
ip -o link show bp2 | grep -o 'master [a-z0-9-]*'
ip -o link show br-e2e | cut -d: -f1 > "$DIR/index"
ip netns exec nsa-brt-1 ping -c 2 -W 2 10.93.0.2 >/dev/null && echo "ping across the bridge"
echo "=== changed"
sed 's/"stp": false/"stp": true/' "$DIR/items.json" > "$DIR/changed.json"
ctl put -f "$DIR/changed.json" >/dev/null
wait_for "stp on" sh -c "ip -d link show br-e2e | grep -q 'stp_state 1'"
ip -o link show br-e2e | cut -d: -f1 | cmp -s - "$DIR/index" && echo "same bridge"
ctl del config/linux/interfaces/v2/interface/br-e2e >/dev/null
wait_for "bridge gone" sh -c "! ip link show br-e2e >/dev/null 2>&1"
ip link show bp1 >/dev/null 2>&1 || echo "port gone"
echo "=== bridge gone"; ctl status | grep 'interface/bp1'
echo "==="
"#;

#[test]
fn a_bridge_its_ports_and_a_ping_across_it_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let pair = |port: &str, host: &str, ns: &str, addr: &str| {
        [
            serde_json::json!({"name": port, "type": "VETH", "enabled": true,
                "bridge_master_interface": "br-e2e", "veth": {"peer_if_name": host}}),
            serde_json::json!({"name": host, "type": "VETH", "enabled": true,
                "ip_addresses": [addr], "namespace": {"type": "NSID", "reference": ns},
                "veth": {"peer_if_name": port}}),
        ]
    };
    let mut items = vec![serde_json::json!({"name": "br-e2e", "type": "BRIDGE",
        "enabled": true, "bridge": {"stp": false, "ageing_time_seconds": 30}})];
    items.extend(pair("bp1", "bh1", "nsa-brt-1", "10.93.0.1/24"));
    items.extend(pair("bp2", "bh2", "nsa-brt-2", "10.93.0.2/24"));
    std::fs::write(
        dir.path().join("items.json"),
        serde_json::to_string_pretty(&items).expect("json"),
    )
    .expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "br.log");
    let made = section(&text, "made", &all);
    // STP off at first: with it on, ports forward only after twice the forwarding delay.
    assert!(made.contains("stp_state 0"), "{all}");
    assert!(
        made.contains("ageing_time 3000"),
        "30 s in hundredths: {all}"
    );
    assert_eq!(made.matches("master br-e2e").count(), 2, "{all}");
    assert!(made.contains("ping across the bridge"), "{all}");
    let changed = section(&text, "changed", &all);
    assert!(changed.contains("same bridge"), "changed in place: {all}");
    assert!(changed.contains("port gone"), "{all}");
    let gone = section(&text, "bridge gone", &all);
    assert!(
        gone.contains("interface 'br-e2e' is not configured"),
        "{all}"
    );
}
