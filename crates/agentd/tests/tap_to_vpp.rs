//! TAP_TO_VPP end to end against the real kernel, through NATS and `nsagentctl`, in a network
//! namespace made for the test (`unshare -n`, standing for the host's default namespace): the
//! item waits, pending with its reason, until a TAP of the name it gives appears (made here with
//! `ip tuntap`, as VPP makes its own); the agent then moves it into the item's namespace under
//! the item's name, configures it and routes through it; over a restart it stays as it is; once
//! deleted it is back home, under its first name, without the agent's address.
//!
//! Needs root; without it the test says so.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
start() {
  "$NSAGENTD" --label tv --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/tv.log" 2>&1 &
  A=$!
}
start
NS=tapns-$$
trap 'kill $A $NATS 2>/dev/null || true; ip netns del $NS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label tv --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
sed -i "s/TAPNS/$NS/" "$DIR/items.json"
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
wait_for "tap pending" sh -c "$NSAGENTCTL --label tv --nats nats://127.0.0.1:4222 --timeout 2 status | grep -q 'vpptap0.*not in the default namespace'"
echo "=== pending"; ctl status | grep -E 'interface/t1|route/'
ip tuntap add dev vpptap0 mode tap
ip link set vpptap0 mtu 1450 up
ctl wait --within 20 config/linux/interfaces/v2/interface/t1 >/dev/null
ctl wait --within 20 config/linux/l3/v2/route/10.79.0.0/24/t1 >/dev/null
echo "=== moved"
ip link show vpptap0 >/dev/null 2>&1 && echo "still home" || echo "not home"
ip -n $NS -o addr show dev vpp1 | grep 'inet ' | awk '{print $4}'
ip -n $NS -o link show vpp1 | grep -o 'mtu [0-9]*'
ip -n $NS route show 10.79.0.0/24
kill $A; wait $A 2>/dev/null || true
start
wait_for "an answer after restart" ctl status
ctl wait --within 20 config/linux/interfaces/v2/interface/t1 >/dev/null
echo "=== after restart"; ip -n $NS -o link show vpp1 | grep -o 'mtu [0-9]*'; ip link show vpptap0 >/dev/null 2>&1 && echo "home" || echo "not home"
ctl del config/linux/l3/v2/route/10.79.0.0/24/t1 >/dev/null
ctl del config/linux/interfaces/v2/interface/t1 >/dev/null
wait_for "tap home" ip link show vpptap0
echo "=== home"
ip -o link show vpptap0 | grep -o 'mtu [0-9]*'
ip -o addr show dev vpptap0 | grep -c 'inet ' || true
ip -n $NS link show vpp1 >/dev/null 2>&1 && echo "still in $NS" || echo "gone from $NS"
echo "==="
"#;

#[test]
fn a_tap_made_by_someone_else_is_waited_for_taken_configured_and_given_back() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    // As vpp-agent's generator writes it: camelCase, TAP_TO_VPP by its number (2).
    let items = serde_json::json!([
        {"name": "t1", "type": 2, "hostIfName": "vpp1", "enabled": true, "mtu": 1400,
         "namespace": {"type": "NSID", "reference": "TAPNS"},
         "ipAddresses": ["10.78.1.1/24"], "tap": {"vppTapIfName": "vpptap0"}},
        {"outgoingInterface": "t1", "dstNetwork": "10.79.0.0/24", "gwAddr": "10.78.1.254"},
    ]);
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "tv.log");

    let pending = section(&text, "pending", &all);
    assert!(
        pending.contains("TAP 'vpptap0' is not in the default namespace yet"),
        "{all}"
    );
    let moved = section(&text, "moved", &all);
    assert!(moved.contains("not home"), "{all}");
    assert!(moved.contains("10.78.1.1/24"), "{all}");
    assert!(moved.contains("mtu 1400"), "{all}");
    assert!(
        moved.contains("10.79.0.0/24 via 10.78.1.254 dev vpp1"),
        "{all}"
    );
    let after = section(&text, "after restart", &all);
    assert!(
        after.contains("mtu 1400") && after.contains("not home"),
        "{all}"
    );
    let home = section(&text, "home", &all);
    let lines: Vec<&str> = home.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "home with its MTU as it came, no address of the agent's: {all}"
    );
    assert_eq!(lines[0], "mtu 1450", "{all}");
    assert_eq!(lines[1], "0", "no address left: {all}");
    assert!(lines[2].starts_with("gone from tapns-"), "{all}");
}
