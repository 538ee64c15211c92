//! A VXLAN overlay end to end against the real kernel, through NATS and `nsagentctl`, in a
//! network namespace made for the test (`unshare -n`): two namespaces stand for two hosts,
//! joined by a veth pair (the underlay, 192.168.77.0/24); on each the agent makes a VXLAN on
//! its underlay end and a bridge with the VXLAN as its port, and the bridges' addresses
//! (10.200.0.0/24) ping each other across the overlay, all from intents: host A's VXLAN names
//! its remote VTEP, host B's has none and learns nothing, and an FDB item sends its frames to
//! A. Without that FDB entry the ping stops, with it back it goes again. Another VNI on one
//! side makes it again and the ping stops; the underlay's item deleted takes the VXLANs with
//! it (the kernel deletes them), and they wait for it again. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label vx --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/vx.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true; ip netns del $NS1 2>/dev/null || true; ip netns del $NS2 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label vx --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
for i in vxa vxb bra brb; do ctl wait --within 20 config/linux/interfaces/v2/interface/$i >/dev/null; done
ctl wait --within 20 $FDB >/dev/null
echo "=== made"
ip netns exec $NS1 ip -d -o link show vxa | grep -o 'vxlan id [0-9]* remote [0-9.]* local [0-9.]* dev [a-z0-9]*\|dstport [0-9]*\|master bra'
ip netns exec $NS1 ping -c 2 -W 2 10.200.0.2 >/dev/null && echo "ping across the overlay"
ip netns exec $NS2 cat /sys/class/net/vxb/statistics/rx_packets
ip netns exec $NS2 bridge fdb show dev vxb | grep -o '00:00:00:00:00:00 dst [0-9.]* self permanent'
echo "=== fdb gone"
ctl del $FDB >/dev/null
wait_for "no fdb entry" sh -c "! ip netns exec $NS2 bridge fdb show dev vxb | grep -q 'dst 192.168.77.1'"
ip netns exec $NS1 ping -c 1 -W 1 10.200.0.2 >/dev/null 2>&1 || echo "no ping without the entry"
ctl put -f "$DIR/items.json" >/dev/null
ctl wait --within 20 $FDB >/dev/null
wait_for "ping with the entry" ip netns exec $NS1 ping -c 1 -W 1 10.200.0.2
echo "ping with the entry"
echo "=== other vni"
sed '/"name":"vxb"/s/"vni":100/"vni":101/' "$DIR/items.json" > "$DIR/changed.json"
ctl put -f "$DIR/changed.json" >/dev/null
wait_for "vni 101" sh -c "ip netns exec $NS2 ip -d link show vxb | grep -q 'vxlan id 101'"
ctl wait --within 20 config/linux/interfaces/v2/interface/vxb >/dev/null
ip netns exec $NS2 ip -d -o link show vxb | grep -o 'master brb'
ip netns exec $NS1 ping -c 1 -W 1 10.200.0.2 >/dev/null 2>&1 || echo "no ping across VNIs"
ctl put -f "$DIR/items.json" >/dev/null
wait_for "vni 100" sh -c "ip netns exec $NS2 ip -d link show vxb | grep -q 'vxlan id 100'"
ctl wait --within 20 config/linux/interfaces/v2/interface/vxb >/dev/null
wait_for "ping again" ip netns exec $NS1 ping -c 1 -W 1 10.200.0.2
echo "ping again"
echo "=== underlay gone"
ctl del config/linux/interfaces/v2/interface/ua >/dev/null
wait_for "vxlans gone" sh -c "! ip netns exec $NS1 ip link show vxa >/dev/null 2>&1 && ! ip netns exec $NS2 ip link show vxb >/dev/null 2>&1"
echo "vxlans gone"
for i in $(seq 100); do ctl status | grep 'interface/vxa' | grep -q pending && break; sleep 0.1; done
ctl status | grep 'interface/vxa'
echo "==="
"#;

#[test]
fn two_namespaces_ping_across_a_vxlan_overlay_made_from_intents_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    // Named namespaces are the host's: unique per run, removed by the script's trap.
    let ns = |n: u32| format!("nsa-vxt{}-{n}", std::process::id());
    let in_ns = |mut v: serde_json::Value, n: u32| {
        v["namespace"] = serde_json::json!({"type": "NSID", "reference": ns(n)});
        v
    };
    let host = |n: u32, me: &str, other: &str, underlay: &str, vx: &str, br: &str, ip: &str| {
        let mut tunnel = serde_json::json!({"vni": 100, "local_ip": me,
            "underlay_interface": underlay});
        if n == 1 {
            tunnel["remote_ip"] = serde_json::json!(other);
        } else {
            tunnel["no_learning"] = serde_json::json!(true);
        }
        [
            in_ns(
                serde_json::json!({"name": vx, "type": "VXLAN", "enabled": true,
                    "bridge_master_interface": br, "vxlan": tunnel}),
                n,
            ),
            in_ns(
                serde_json::json!({"name": br, "type": "BRIDGE", "enabled": true,
                    "ip_addresses": [ip]}),
                n,
            ),
        ]
    };
    let [vxa, bra] = host(
        1,
        "192.168.77.1",
        "192.168.77.2",
        "ua",
        "vxa",
        "bra",
        "10.200.0.1/24",
    );
    let [vxb, brb] = host(
        2,
        "192.168.77.2",
        "192.168.77.1",
        "ub",
        "vxb",
        "brb",
        "10.200.0.2/24",
    );
    let items = serde_json::json!([
        in_ns(
            serde_json::json!({"name": "ua", "type": "VETH", "enabled": true,
            "ip_addresses": ["192.168.77.1/24"], "veth": {"peer_if_name": "ub"}}),
            1
        ),
        in_ns(
            serde_json::json!({"name": "ub", "type": "VETH", "enabled": true,
            "ip_addresses": ["192.168.77.2/24"], "veth": {"peer_if_name": "ua"}}),
            2
        ),
        vxa,
        bra,
        vxb,
        brb,
        // Host B's frames for any MAC go to host A.
        {"interface": "vxb", "hw_address": "00:00:00:00:00:00", "remote_ip": "192.168.77.1"},
    ]);
    // One object per line, so that the script's sed changes host B's VNI alone.
    let text = items
        .as_array()
        .expect("list")
        .iter()
        .map(|i| serde_json::to_string(i).expect("json"))
        .collect::<Vec<_>>()
        .join(",\n");
    std::fs::write(dir.path().join("items.json"), format!("[\n{text}\n]\n")).expect("items");
    std::env::set_var("NS1", ns(1));
    std::env::set_var("NS2", ns(2));
    std::env::set_var(
        "FDB",
        "config/linux/l2/v2/fdb/vxb/00:00:00:00:00:00/192.168.77.1",
    );
    let (text, all) = unshared::run(SCRIPT, dir.path(), 150, "vx.log");
    let made = section(&text, "made", &all);
    assert!(
        made.contains("vxlan id 100 remote 192.168.77.2 local 192.168.77.1 dev ua"),
        "{all}"
    );
    assert!(made.contains("dstport 4789"), "{all}");
    assert!(made.contains("master bra"), "{all}");
    assert!(made.contains("ping across the overlay"), "{all}");
    // What crossed came out of the tunnel on the other side.
    let rx: u64 = made
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0);
    assert!(rx >= 2, "vxb received {rx} packets: {all}");
    assert!(
        made.contains("00:00:00:00:00:00 dst 192.168.77.1 self permanent"),
        "{all}"
    );
    let fdb = section(&text, "fdb gone", &all);
    assert!(fdb.contains("no ping without the entry"), "{all}");
    assert!(fdb.contains("ping with the entry"), "{all}");
    let other = section(&text, "other vni", &all);
    assert!(other.contains("master brb"), "made again as a port: {all}");
    assert!(other.contains("no ping across VNIs"), "{all}");
    assert!(other.contains("ping again"), "{all}");
    let gone = section(&text, "underlay gone", &all);
    assert!(gone.contains("vxlans gone"), "{all}");
    assert!(gone.contains("interface 'ua' is not configured"), "{all}");
}
