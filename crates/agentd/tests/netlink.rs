//! nsagentd with the netlink backend, against the real kernel, inside a network namespace made
//! for the test (`unshare -n`): nats-server, the daemon and nsagentctl all run in it, so nothing
//! outside is touched and the namespace, with every link the daemon made, goes away with them.
//! Needs root; without it the test says so and checks nothing else. (Dummy links are left out:
//! the kernels this runs on in CI may lack the dummy driver.)

use std::process::Command;

#[test]
fn netlink_backend_applies_a_veth_pair_in_a_private_namespace() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let items = serde_json::json!([
        {"name": "nl-v1", "type": "VETH", "enabled": true, "ip_addresses": ["10.78.0.1/24"], "veth": {"peer_if_name": "nl-v2"}},
        {"name": "nl-v2", "type": "VETH", "enabled": true, "mtu": 1400, "veth": {"peer_if_name": "nl-v1"}},
    ]);
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let script = r#"
set -e
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
"$NSAGENTD" --label nl --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink >"$DIR/d.log" 2>&1 &
D=$!
trap 'kill $D $NATS 2>/dev/null || true' EXIT
CTL="$NSAGENTCTL --label nl --nats nats://127.0.0.1:4222 --timeout 1"
for i in $(seq 100); do $CTL status >/dev/null 2>&1 && break; sleep 0.1; done
$CTL put -f "$DIR/items.json" >/dev/null
for i in $(seq 100); do [ "$($CTL status | grep -c ' applied')" = 2 ] && break; sleep 0.1; done
$CTL status
echo ---
ip -br addr
ip -d link show nl-v2 | grep -o 'mtu [0-9]*' | head -1
ip -d link show nl-v1 | grep -o 'alias .*'
echo "instance $(cat "$DIR/data/instance-id")"
"#;
    let out = Command::new("unshare")
        .args(["-n", "timeout", "60", "sh", "-c", script])
        .env("DIR", dir.path())
        .env("NSAGENTD", env!("CARGO_BIN_EXE_nsagentd"))
        .env("NSAGENTCTL", env!("CARGO_BIN_EXE_nsagentctl"))
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(dir.path().join("d.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{text}\n{}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, kernel) = text.split_once("---").expect("two parts");
    assert_eq!(
        status.lines().filter(|l| l.contains(" applied")).count(),
        2,
        "{text}\n{log}"
    );
    let line = |name: &str| {
        kernel
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("nl-v1@nl-v2").contains("10.78.0.1/24"), "{kernel}");
    assert!(line("nl-v2@nl-v1").contains("UP"), "{kernel}");
    assert!(kernel.contains("mtu 1400"), "{kernel}");
    // The link is marked with the agent's label and the instance id of its data dir.
    let instance = kernel
        .lines()
        .find_map(|l| l.strip_prefix("instance "))
        .unwrap_or_else(|| panic!("no instance id: {kernel}"));
    assert_eq!(instance.len(), 16, "{kernel}");
    assert!(
        kernel.contains(&format!("alias nsagent:nl/{instance}:nl-v1")),
        "{kernel}"
    );
}
