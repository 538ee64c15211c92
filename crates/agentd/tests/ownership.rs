//! Two nsagentd daemons with the netlink backend on one kernel (a network namespace made for
//! the test with `unshare -n`, so nothing outside is touched), each with its own label and data
//! dir and the same item names: each applies its own pairs; restarting either (from a
//! snapshot, and from the log) loses no link of either. Beside them: a link someone marked
//! `nsagent:x` by hand and a link of the legacy mark no item wants, both left alone, and legacy
//! links an item wants, adopted in place (same ifindex) and re-marked with the agent's identity.
//! Needs root; without it the test says so and checks nothing else.

use std::collections::BTreeMap;
use std::process::Command;

mod common;
use common::unshared::is_root;

/// `ip -o link` lines to (name, (ifindex, alias)).
fn links(section: &str) -> BTreeMap<String, (String, String)> {
    section
        .lines()
        .filter_map(|l| {
            let mut f = l.split(": ");
            let index = f.next()?.trim().to_string();
            let name = f.next()?.split('@').next()?.to_string();
            let alias = l
                .split("alias ")
                .nth(1)
                .map(|a| a.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default();
            Some((name, (index, alias)))
        })
        .collect()
}

#[test]
fn two_agents_on_one_kernel_keep_their_own_links_and_leave_the_rest_alone() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let pair = |prefix: &str, net: u8| {
        serde_json::json!([
            {"name": "v1", "type": "VETH", "enabled": true, "host_if_name": format!("{prefix}v1"),
             "ip_addresses": [format!("10.{net}.0.1/24")], "veth": {"peer_if_name": "v2"}},
            {"name": "v2", "type": "VETH", "enabled": true, "host_if_name": format!("{prefix}v2"),
             "ip_addresses": [format!("10.{net}.0.2/24")], "veth": {"peer_if_name": "v1"}},
        ])
    };
    let mut a = pair("a", 81);
    a.as_array_mut().expect("array").extend([
        serde_json::json!({"name": "own-a", "type": "VETH", "enabled": true, "host_if_name": "la",
            "veth": {"peer_if_name": "own-b"}}),
        serde_json::json!({"name": "own-b", "type": "VETH", "enabled": true, "host_if_name": "lb",
            "veth": {"peer_if_name": "own-a"}}),
    ]);
    std::fs::write(dir.path().join("a.json"), a.to_string()).expect("items");
    std::fs::write(dir.path().join("b.json"), pair("b", 82).to_string()).expect("items");
    let script = r#"
set -e
ip link set lo up
# Made by hand, marked by hand: nobody's.
ip link add hx type veth peer name hy
ip link set hx alias nsagent:x
# Made by an agent of before identities: one pair an item of agent A wants, one nobody wants.
ip link add la type veth peer name lb
ip link set la alias nsagent:own-a
ip link set lb alias nsagent:own-b
ip link add lz type veth peer name lw
ip link set lz alias nsagent:nobody
ip -o link > "$DIR/before-legacy"
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
start() { # label, data dir, extra
  "$NSAGENTD" --label "$1" --nats nats://127.0.0.1:4222 --data-dir "$DIR/$2" --backend netlink --no-docker $3 >>"$DIR/$1.log" 2>&1 &
}
applied() { # label, count
  for i in $(seq 200); do
    [ "$($NSAGENTCTL --label "$1" --nats nats://127.0.0.1:4222 --timeout 1 status 2>/dev/null | grep -c ' applied')" = "$2" ] && return 0
    sleep 0.1
  done
  echo "agent $1 never had $2 items applied"; $NSAGENTCTL --label "$1" --nats nats://127.0.0.1:4222 --timeout 1 status || true
  return 1
}
ready() { # label
  for i in $(seq 200); do
    $NSAGENTCTL --label "$1" --nats nats://127.0.0.1:4222 --timeout 1 status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "agent $1 never answered"; return 1
}
start oa da "--snapshot-every 1"; A=$!
start ob db; B=$!
trap 'kill $A $B $NATS 2>/dev/null || true' EXIT
ready oa; ready ob
$NSAGENTCTL --label oa --nats nats://127.0.0.1:4222 put -f "$DIR/a.json" >/dev/null
$NSAGENTCTL --label ob --nats nats://127.0.0.1:4222 put -f "$DIR/b.json" >/dev/null
applied oa 4; applied ob 2
sleep 1
echo "=== applied"; ip -o link
# A restarts from its snapshot; B from its log; then each again, while the other runs.
kill $A; wait $A || true; start oa da "--snapshot-every 1"; A=$!
applied oa 4
kill $B; wait $B || true; start ob db; B=$!
applied ob 2
kill $A; wait $A || true; start oa da; A=$!
applied oa 4
sleep 2
echo "=== restarted"; ip -o link
echo "=== ids"; echo "a $(cat "$DIR/da/instance-id")"; echo "b $(cat "$DIR/db/instance-id")"
"#;
    let out = Command::new("unshare")
        .args(["-n", "timeout", "120", "sh", "-c", script])
        .env("DIR", dir.path())
        .env("NSAGENTD", env!("CARGO_BIN_EXE_nsagentd"))
        .env("NSAGENTCTL", env!("CARGO_BIN_EXE_nsagentctl"))
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let logs = ["oa", "ob"]
        .map(|l| std::fs::read_to_string(dir.path().join(format!("{l}.log"))).unwrap_or_default())
        .join("\n");
    let all = format!("{text}\n{}\n{logs}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    let section = |name: &str| {
        text.split(&format!("=== {name}\n"))
            .nth(1)
            .and_then(|s| s.split("===").next())
            .unwrap_or_else(|| panic!("no section {name}: {all}"))
            .to_string()
    };
    let ids: BTreeMap<String, String> = section("ids")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (ia, ib) = (&ids["a"], &ids["b"]);
    assert_ne!(ia, ib, "two data dirs, two instance ids");
    let before = links(&std::fs::read_to_string(dir.path().join("before-legacy")).expect("file"));
    let applied = links(&section("applied"));
    let restarted = links(&section("restarted"));
    let want = [
        ("av1", format!("nsagent:oa/{ia}:v1")),
        ("av2", format!("nsagent:oa/{ia}:v2")),
        ("bv1", format!("nsagent:ob/{ib}:v1")),
        ("bv2", format!("nsagent:ob/{ib}:v2")),
        ("la", format!("nsagent:oa/{ia}:own-a")),
        ("lb", format!("nsagent:oa/{ia}:own-b")),
        ("hx", "nsagent:x".to_string()),
        ("hy", String::new()),
        ("lz", "nsagent:nobody".to_string()),
        ("lw", String::new()),
    ];
    for (name, alias) in &want {
        let Some((index, got)) = applied.get(*name) else {
            panic!("{name} missing once applied: {all}")
        };
        assert_eq!(got, alias, "{name} once applied: {all}");
        assert_eq!(
            restarted.get(*name),
            Some(&(index.clone(), alias.clone())),
            "{name} is the same link, marked the same, after the restarts: {all}"
        );
    }
    for name in ["la", "lb", "hx", "hy", "lz", "lw"] {
        assert_eq!(
            before[name].0, applied[name].0,
            "{name} kept its ifindex (adopted or left alone, never re-created): {all}"
        );
    }
}
