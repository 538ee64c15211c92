//! Multipath (ECMP) routes end to end against the real kernel, through NATS and `nsagentctl`,
//! in a network namespace made for the test (`unshare -n`): an IPv4 and an IPv6 route of two
//! weighted paths through two veth pairs, a change of weights made in place, and, once one
//! path's interface is deleted, both routes gone from the kernel and pending on it. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label ec --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/ec.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label ec --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
for k in 10.60.0.0/24/e1 fd60::/64/e1; do
  ctl wait --within 20 "config/linux/l3/v2/route/$k" >/dev/null
done
echo "=== made"
ip route show 10.60.0.0/24
ip -6 route show fd60::/64
echo "=== reweighted"
ctl put -f "$DIR/reweighted.json" >/dev/null
wait_for "new weights" sh -c "ip route show 10.60.0.0/24 | grep -q 'weight 5'"
ip route show 10.60.0.0/24
echo "=== path gone"
ctl del config/linux/interfaces/v2/interface/f1 >/dev/null
wait_for "f1 gone" sh -c "! ip link show f1 2>/dev/null"
wait_for "routes gone" sh -c "! ip route show 10.60.0.0/24 | grep -q . && ! ip -6 route show fd60::/64 | grep -q ."
ctl status | grep 'route/'
echo "==="
"#;

fn pair(a: &str, b: &str, a_addrs: &[&str], b_addrs: &[&str]) -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({"name": a, "type": "VETH", "enabled": true, "ip_addresses": a_addrs,
                           "veth": {"peer_if_name": b}}),
        serde_json::json!({"name": b, "type": "VETH", "enabled": true, "ip_addresses": b_addrs,
                           "veth": {"peer_if_name": a}}),
    ]
}

fn routes(w1: u32, w2: u32) -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({"outgoing_interface": "e1", "dst_network": "10.60.0.0/24", "next_hops": [
            {"gw_addr": "10.61.0.2", "weight": w1},
            {"outgoing_interface": "f1", "gw_addr": "10.62.0.2", "weight": w2}]}),
        serde_json::json!({"outgoing_interface": "e1", "dst_network": "fd60::/64", "next_hops": [
            {"gw_addr": "fd61::2", "weight": w1},
            {"outgoing_interface": "f1", "gw_addr": "fd62::2", "weight": w2}]}),
    ]
}

#[test]
fn weighted_multipath_routes_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut links = pair(
        "e1",
        "e2",
        &["10.61.0.1/24", "fd61::1/64"],
        &["10.61.0.2/24"],
    );
    links.extend(pair(
        "f1",
        "f2",
        &["10.62.0.1/24", "fd62::1/64"],
        &["10.62.0.2/24"],
    ));
    let write = |name: &str, routes: Vec<serde_json::Value>| {
        let mut all = links.clone();
        all.extend(routes);
        std::fs::write(
            dir.path().join(name),
            serde_json::Value::from(all).to_string(),
        )
        .expect("items");
    };
    write("items.json", routes(1, 3));
    write("reweighted.json", routes(2, 5));
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "ec.log");
    let made = section(&text, "made", &all);
    for want in [
        "10.60.0.0/24 proto static",
        "nexthop via 10.61.0.2 dev e1 weight 1",
        "nexthop via 10.62.0.2 dev f1 weight 3",
        "fd60::/64 proto static",
        "nexthop via fd61::2 dev e1 weight 1",
        "nexthop via fd62::2 dev f1 weight 3",
    ] {
        assert!(made.contains(want), "{want}: {all}");
    }
    let reweighted = section(&text, "reweighted", &all);
    for want in [
        "nexthop via 10.61.0.2 dev e1 weight 2",
        "nexthop via 10.62.0.2 dev f1 weight 5",
    ] {
        assert!(reweighted.contains(want), "{want}: {all}");
    }
    let gone = section(&text, "path gone", &all);
    for key in ["route/10.60.0.0/24/e1", "route/fd60::/64/e1"] {
        let line = gone
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("{key}: {all}"));
        assert!(
            line.contains("interface 'f1' is not configured"),
            "{line}: {all}"
        );
    }
}
