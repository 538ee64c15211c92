//! MACVLAN end to end against the real kernel, through NATS and `nsagentctl`, in a network
//! namespace made for the test (`unshare -n`): the agent makes a veth pair there and two
//! MACVLANs in bridge mode on one end, each in a namespace of its own standing for a
//! container; they ping each other through their parent. A mode change to PRIVATE makes one
//! again, and the ping stops; deleting the parent's item takes both MACVLANs with it (the kernel
//! deletes them), and they wait for their parent again. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label mv --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/mv.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true; ip netns del $NS1 2>/dev/null || true; ip netns del $NS2 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label mv --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/mv1 >/dev/null
ctl wait --within 20 config/linux/interfaces/v2/interface/mv2 >/dev/null
echo "=== made"
ip netns exec $NS1 ip -d -o link show mv1 | grep -o 'macvlan mode [a-z]*\|link-netns[a-z]* [a-z0-9-]*'
ip netns exec $NS2 ip -d -o link show mv2 | grep -o 'macvlan mode [a-z]*'
ip netns exec $NS1 ping -c 2 -W 2 10.96.0.2 >/dev/null && echo "ping through the parent"
ip netns exec $NS2 ip -o link show mv2 | cut -d: -f1 > "$DIR/index"
echo "=== private"
sed 's/"mode": "BRIDGE"/"mode": "PRIVATE"/' "$DIR/items.json" > "$DIR/changed.json"
ctl put -f "$DIR/changed.json" >/dev/null
wait_for "private mode" sh -c "ip netns exec $NS2 ip -d link show mv2 | grep -q 'macvlan mode private'"
ctl wait --within 20 config/linux/interfaces/v2/interface/mv2 >/dev/null
ip netns exec $NS2 ip -o link show mv2 | cut -d: -f1 | cmp -s - "$DIR/index" || echo "made again"
ip netns exec $NS2 ip -o addr show mv2 | grep -o 'inet [0-9./]*'
ip netns exec $NS1 ping -c 1 -W 1 10.96.0.2 >/dev/null 2>&1 || echo "no ping in private mode"
echo "=== parent gone"
ctl del config/linux/interfaces/v2/interface/mvp >/dev/null
wait_for "macvlans gone" sh -c "! ip netns exec $NS1 ip link show mv1 >/dev/null 2>&1 && ! ip netns exec $NS2 ip link show mv2 >/dev/null 2>&1"
echo "macvlans gone"
for i in $(seq 100); do ctl status | grep 'interface/mv1' | grep -q pending && break; sleep 0.1; done
ctl status | grep 'interface/mv1'
echo "==="
"#;

#[test]
fn macvlans_on_a_parent_into_two_namespaces_ping_each_other_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    // Named namespaces are the host's: unique per run, removed by the script's trap.
    let ns = |n: u32| format!("nsa-mvt{}-{n}", std::process::id());
    let macvlan = |name: &str, ns: &str, addr: &str| {
        serde_json::json!({"name": name, "type": "MACVLAN", "enabled": true,
            "ip_addresses": [addr], "namespace": {"type": "NSID", "reference": ns},
            "macvlan": {"parent_interface": "mvp", "mode": "BRIDGE"}})
    };
    let items = serde_json::json!([
        {"name": "mvp", "type": "VETH", "enabled": true, "veth": {"peer_if_name": "mvq"}},
        {"name": "mvq", "type": "VETH", "enabled": true, "veth": {"peer_if_name": "mvp"}},
        macvlan("mv1", &ns(1), "10.96.0.1/24"),
        macvlan("mv2", &ns(2), "10.96.0.2/24"),
    ]);
    std::fs::write(
        dir.path().join("items.json"),
        serde_json::to_string_pretty(&items).expect("json"),
    )
    .expect("items");
    std::env::set_var("NS1", ns(1));
    std::env::set_var("NS2", ns(2));
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "mv.log");
    let made = section(&text, "made", &all);
    assert_eq!(made.matches("macvlan mode bridge").count(), 2, "{all}");
    // mv1 sits on a link of another namespace (the test's, where its parent is).
    assert!(made.contains("link-netns"), "{all}");
    assert!(made.contains("ping through the parent"), "{all}");
    let private = section(&text, "private", &all);
    assert!(private.contains("made again"), "{all}");
    assert!(private.contains("inet 10.96.0.2/24"), "{all}");
    assert!(private.contains("no ping in private mode"), "{all}");
    let gone = section(&text, "parent gone", &all);
    assert!(gone.contains("macvlans gone"), "{all}");
    assert!(gone.contains("interface 'mvp' is not configured"), "{all}");
}
