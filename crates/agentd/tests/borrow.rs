//! Issue 11, case 3, against the real kernel: an EXISTING item borrows a link someone made by
//! hand, changes only what it sets (no `enabled`: the link stays up), and gives the link back
//! as it was when deleted (MTU back, the agent's address gone, the one that was there kept,
//! though the item listed it too). A link another agent marked is never borrowed.
//! An item off `--borrow-allow` and one that would change the MAC of `lo` (the kernel takes a
//! link down for that), which carries the agent's route to its NATS server, are refused with their reason and touch nothing. Everything runs
//! in a network namespace made for the test (`unshare -n`), so nothing outside is touched and
//! everything goes with it. Needs root; without it the test says so and checks nothing else.

mod common;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
# Made by hand: not the agent's.
ip link add bx type veth peer name by
ip link set bx mtu 1400 up
ip link set by up
ip addr add 10.77.0.9/24 dev bx
ip link add zz0 type veth peer name zz1
# Another agent's link, by its mark.
ip link add bm type veth peer name bn
ip link set bm alias nsagent:other/0123456789abcdef:m mtu 1450
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label bw --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker --borrow-allow 'b*,lo' >>"$DIR/bw.log" 2>&1 &
A=$!
trap 'kill $A $NATS 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label bw --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
wait_for "an answer" ctl status
ctl put -f "$DIR/x.json" >/dev/null
wait_for "x applied" sh -c "$NSAGENTCTL --label bw --nats nats://127.0.0.1:4222 --timeout 2 status | grep -q 'x.* applied'"
echo "=== borrowed"; ip -o link show bx; ip -o addr show dev bx
ctl put -f "$DIR/refused.json" >/dev/null
wait_for "both refused" sh -c "[ \$($NSAGENTCTL --label bw --nats nats://127.0.0.1:4222 --timeout 2 status | grep -c failed) = 3 ]"
echo "=== refused"; ctl status; ip -o link show lo; ip -o link show zz0; ip -o link show bm
ctl del config/linux/interfaces/v2/interface/x >/dev/null
wait_for "x gone" sh -c "! $NSAGENTCTL --label bw --nats nats://127.0.0.1:4222 --timeout 2 status | grep -q 'interface/x\b'"
sleep 0.5
echo "=== given back"; ip -o link show bx; ip -o addr show dev bx
echo "==="
"#;

#[test]
fn an_existing_link_is_borrowed_and_given_back_as_it_was_and_refusals_touch_nothing() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let x = serde_json::json!({"name": "x", "type": "EXISTING", "host_if_name": "bx",
        "mtu": 1300, "ip_addresses": ["10.77.1.1/24", "10.77.0.9/24"]});
    std::fs::write(dir.path().join("x.json"), x.to_string()).expect("item");
    let refused = serde_json::json!([
        {"name": "z", "type": "EXISTING", "host_if_name": "zz0", "enabled": true},
        {"name": "l", "type": "LOOPBACK", "enabled": true, "phys_address": "02:00:00:00:00:01"},
        {"name": "m", "type": "EXISTING", "host_if_name": "bm", "enabled": true, "mtu": 1280},
    ]);
    std::fs::write(dir.path().join("refused.json"), refused.to_string()).expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 90, "bw.log");

    let borrowed = section(&text, "borrowed", &all);
    assert!(borrowed.contains("mtu 1300"), "MTU set: {all}");
    assert!(
        borrowed.contains("state UP") || borrowed.contains(",UP"),
        "no `enabled`: left up: {all}"
    );
    assert!(
        borrowed.contains("10.77.1.1/24") && borrowed.contains("10.77.0.9/24"),
        "{all}"
    );

    let refused = section(&text, "refused", &all);
    assert!(
        refused.contains("zz0") && refused.contains("--borrow-allow b*,lo"),
        "refused by the allow-list: {all}"
    );
    assert!(
        refused.contains("NATS server 127.0.0.1") && refused.contains("phys_address"),
        "lo is protected: {all}"
    );
    assert!(
        refused.contains("another agent's mark (nsagent:other/0123456789abcdef:m)"),
        "another agent's link refused: {all}"
    );
    let bm = refused
        .lines()
        .find(|l| l.contains(": bm@"))
        .expect("bm line");
    assert!(
        bm.contains("mtu 1450") && !bm.contains(",UP"),
        "the other agent's link untouched: {all}"
    );
    let lo = refused
        .lines()
        .find(|l| l.contains(": lo:"))
        .expect("lo line");
    assert!(lo.contains(",UP"), "lo untouched: {all}");

    let back = section(&text, "given back", &all);
    assert!(back.contains("mtu 1400"), "MTU given back: {all}");
    assert!(back.contains(",UP"), "still up: {all}");
    assert!(
        !back.contains("10.77.1.1/24"),
        "the agent's address gone: {all}"
    );
    assert!(
        back.contains("10.77.0.9/24"),
        "the address that was there, listed by the item too, kept: {all}"
    );
}
