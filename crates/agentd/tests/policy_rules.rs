//! Policy rules end to end against the real kernel, through NATS and `nsagentctl`, in a network
//! namespace made for the test (`unshare -n`): a source rule sending one address's traffic to a
//! table of its own (which the kernel's route lookup then answers with), a blackhole rule, an
//! IPv6 prohibit rule and one on an incoming interface and a firewall mark, all marked with the
//! agent's protocol; a rule someone else made is left alone, a second item at a taken priority
//! waits, a changed rule is replaced, and deleted rules go. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
ip rule add pref 2000 from 10.77.0.0/16 lookup 77
ip rule add pref 2001 from 10.78.0.0/16 lookup 78 protocol static
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label pr --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/pr.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label pr --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
for k in from-five drop-lab no-v6 marked; do
  ctl wait --within 20 "config/linux/l3/v2/policy-rule/$k" >/dev/null
done
echo "=== made"
ip -d rule show
ip -6 -d rule show
ip route get 192.0.2.1 from 10.96.0.5
ip route get 192.0.2.1 from 10.96.0.1
ctl status | grep 'policy-rule/late'
echo "=== changed"
ctl put -f "$DIR/changed.json" >/dev/null
wait_for "rule changed" sh -c "ip rule show | grep -q '1000:.*lookup 200'"
ctl del config/linux/l3/v2/policy-rule/drop-lab >/dev/null
wait_for "rule gone" sh -c "! ip rule show | grep -q blackhole"
ip -d rule show
echo "==="
"#;

#[test]
fn rules_route_by_source_drop_and_follow_their_items_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut items = serde_json::json!([
        {"name": "pr1", "type": "VETH", "enabled": true,
         "ip_addresses": ["10.96.0.1/24", "10.96.0.5/24", "fd00:96::1/64"],
         "veth": {"peer_if_name": "pr2"}},
        {"name": "pr2", "type": "VETH", "enabled": true, "ip_addresses": ["10.96.0.2/24"],
         "veth": {"peer_if_name": "pr1"}},
        {"outgoing_interface": "pr1", "dst_network": "0.0.0.0/0", "gw_addr": "10.96.0.2"},
        {"outgoing_interface": "pr1", "dst_network": "0.0.0.0/0", "gw_addr": "10.96.0.3", "table": 100},
        {"outgoing_interface": "pr1", "dst_network": "0.0.0.0/0", "gw_addr": "10.96.0.4", "table": 200},
        {"name": "drop-lab", "priority": 1001, "dst_network": "10.55.0.0/16", "action": "BLACKHOLE"},
        {"name": "no-v6", "priority": 1002, "family": "IPV6", "dst_network": "fd00:55::/32", "action": "PROHIBIT"},
        {"name": "marked", "priority": 1003, "incoming_interface": "pr2", "fwmark": 16, "fwmask": 240, "table": 100},
        {"name": "late", "priority": 1003, "table": 101},
    ]);
    let from_five = |table: u32| serde_json::json!({"name": "from-five", "priority": 1000, "src_network": "10.96.0.5/32", "table": table});
    let arr = items.as_array_mut().expect("array");
    arr.push(from_five(100));
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let changed = serde_json::json!([from_five(200)]);
    std::fs::write(dir.path().join("changed.json"), changed.to_string()).expect("changed");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "pr.log");
    let made = section(&text, "made", &all);
    for want in [
        "1000:\tfrom 10.96.0.5 lookup 100 proto static",
        "1001:\tfrom all to 10.55.0.0/16 blackhole proto static",
        "1003:\tfrom all fwmark 0x10/0xf0 iif pr2 lookup 100 proto static",
        "2000:\tfrom 10.77.0.0/16 lookup 77 proto unspec",
        "1002:\tfrom all to fd00:55::/32 prohibit proto static",
    ] {
        assert!(made.contains(want), "no '{want}' in: {all}");
    }
    assert!(
        made.contains("192.0.2.1 from 10.96.0.5 via 10.96.0.3 dev pr1 table 100"),
        "the rule routes 10.96.0.5's traffic by table 100: {all}"
    );
    assert!(
        made.contains("192.0.2.1 from 10.96.0.1 via 10.96.0.2 dev pr1"),
        "and no one else's: {all}"
    );
    assert!(
        made.contains("priority 1003 is taken by rule 'marked'"),
        "{all}"
    );
    let after = section(&text, "changed", &all);
    assert!(
        after.contains("1000:\tfrom 10.96.0.5 lookup 200 proto static"),
        "{all}"
    );
    assert!(
        after.matches("1000:").count() == 1,
        "the old rule went: {all}"
    );
    assert!(!after.contains("blackhole"), "{all}");
    assert!(
        after.contains("2000:\tfrom 10.77.0.0/16 lookup 77 proto unspec"),
        "someone else's rule stays: {all}"
    );
    assert!(
        after.contains("2001:\tfrom 10.78.0.0/16 lookup 78 proto static"),
        "a rule with the agent's protocol at a priority no item holds stays: {all}"
    );
}
