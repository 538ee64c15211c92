//! TAP (a persistent Linux TAP the agent makes) end to end against the real kernel, through
//! NATS and `nsagentctl`, in a network namespace made for the test (`unshare -n`): the agent
//! makes it persistent with its owner, group, queues, MTU and address; a changed owner re-makes
//! it (and configures it again); deleting the item deletes it. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label tp --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/tp.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label tp --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/tap-e2e >/dev/null
echo "=== made"
ip -d -o link show tap-e2e | grep -o 'tun type tap\|multi_queue\|persist on\|user [0-9a-z]*\|group [0-9a-z]*\|mtu [0-9]*' | sort -u
ip -o addr show tap-e2e | grep -o 'inet [0-9./]*'
ip -o link show tap-e2e | cut -d: -f1 > "$DIR/index"
echo "=== changed"
sed 's/"owner": 1000/"owner": 1001/' "$DIR/items.json" > "$DIR/changed.json"
ctl put -f "$DIR/changed.json" >/dev/null
wait_for "owner 1001" sh -c "ip -d link show tap-e2e | grep -q 'user 1001'"
ip -o link show tap-e2e | cut -d: -f1 | cmp -s - "$DIR/index" || echo "made again"
ctl wait --within 20 config/linux/interfaces/v2/interface/tap-e2e >/dev/null
ip -o addr show tap-e2e | grep -o 'inet [0-9./]*'
ctl del config/linux/interfaces/v2/interface/tap-e2e >/dev/null
wait_for "tap gone" sh -c "! ip link show tap-e2e >/dev/null 2>&1"
echo "tap gone"
echo "==="
"#;

#[test]
fn a_tap_the_agent_makes_with_its_settings_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let items = serde_json::json!([
        {"name": "tap-e2e", "type": "TAP", "enabled": true, "mtu": 9000,
         "ip_addresses": ["10.94.0.1/24"],
         "tap": {"owner": 1000, "group": 1000, "multi_queue": true}}
    ]);
    std::fs::write(
        dir.path().join("items.json"),
        serde_json::to_string_pretty(&items).expect("json"),
    )
    .expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "tp.log");
    let made = section(&text, "made", &all);
    for want in [
        "tun type tap",
        "multi_queue",
        "persist on",
        "mtu 9000",
        "inet 10.94.0.1/24",
    ] {
        assert!(made.contains(want), "{want}: {all}");
    }
    // `ip` names the user and group when they exist here, else shows the number.
    assert!(made.contains("user "), "{all}");
    let changed = section(&text, "changed", &all);
    assert!(changed.contains("made again"), "{all}");
    assert!(
        changed.contains("inet 10.94.0.1/24"),
        "configured again: {all}"
    );
    assert!(changed.contains("tap gone"), "{all}");
}
