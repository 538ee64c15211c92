//! Routes beyond vpp-agent's model end to end against the real kernel, through NATS and
//! `nsagentctl`, in a network namespace made for the test (`unshare -n`): a default route in a
//! table of its own beside main's, a blackhole, a route with a preferred source and a path MTU
//! (which the kernel's route lookup then answers with), and that route waiting again, gone from
//! the kernel, once its source address is asked off the interface. Needs root.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label rk --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/rk.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label rk --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/items.json" >/dev/null
for k in 0.0.0.0/0/rk1 0.0.0.0/0/rk1/table/100 10.98.0.0/16/rk1 10.99.0.0/24/rk1; do
  ctl wait --within 20 "config/linux/l3/v2/route/$k" >/dev/null
done
echo "=== made"
ip route show table main default
ip route show table 100
ip route show type blackhole
ip route show 10.99.0.0/24
ip route get 10.99.0.7
echo "=== source gone"
ctl put -f "$DIR/less.json" >/dev/null
wait_for "route gone" sh -c "! ip route show 10.99.0.0/24 | grep -q ."
ctl status | grep 'route/10.99.0.0/24/rk1'
ip route show table 100
echo "==="
"#;

#[test]
fn tables_blackholes_sources_and_mtus_on_the_real_kernel() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let veth = |addrs: &[&str]| {
        serde_json::json!([
            {"name": "rk1", "type": "VETH", "enabled": true, "ip_addresses": addrs,
             "veth": {"peer_if_name": "rk2"}},
            {"name": "rk2", "type": "VETH", "enabled": true, "ip_addresses": ["10.97.0.2/24"],
             "veth": {"peer_if_name": "rk1"}},
        ])
    };
    let mut items = veth(&["10.97.0.1/24", "10.97.0.5/24"]);
    let routes = serde_json::json!([
        {"outgoing_interface": "rk1", "dst_network": "0.0.0.0/0", "gw_addr": "10.97.0.2", "metric": 5},
        {"outgoing_interface": "rk1", "dst_network": "0.0.0.0/0", "gw_addr": "10.97.0.3", "table": 100},
        {"outgoing_interface": "rk1", "dst_network": "10.98.0.0/16", "type": "BLACKHOLE"},
        {"outgoing_interface": "rk1", "dst_network": "10.99.0.0/24", "gw_addr": "10.97.0.2",
         "src_addr": "10.97.0.5", "mtu": 1400},
    ]);
    items
        .as_array_mut()
        .expect("array")
        .extend(routes.as_array().expect("array").iter().cloned());
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let less = veth(&["10.97.0.1/24"]);
    std::fs::write(dir.path().join("less.json"), less.to_string()).expect("less");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "rk.log");
    let made = section(&text, "made", &all);
    assert!(
        made.contains("default via 10.97.0.2 dev rk1 proto static metric 5"),
        "{all}"
    );
    assert!(
        made.contains("default via 10.97.0.3 dev rk1 proto static"),
        "{all}"
    );
    assert!(
        made.contains("blackhole 10.98.0.0/16 proto static"),
        "{all}"
    );
    assert!(
        made.contains("10.99.0.0/24 via 10.97.0.2 dev rk1 proto static src 10.97.0.5 mtu 1400"),
        "{all}"
    );
    assert!(made.contains("src 10.97.0.5"), "route get: {all}");
    let gone = section(&text, "source gone", &all);
    assert!(
        gone.contains("source address 10.97.0.5 is not an address of interface 'rk1' yet"),
        "{all}"
    );
    assert!(
        gone.contains("default via 10.97.0.3 dev rk1 proto static"),
        "the table's route stays: {all}"
    );
}
