//! Drift repaired, against the real kernel: a route and an ARP entry of the agent's deleted by
//! hand come back within a second or two of the change, and status never says `applied` while
//! they are missing once the watcher had time to tell; a change the watcher does not report (a
//! permanent entry replaced by a learnt one) stays until `nsagentctl resync`, or until the
//! periodic resync finds it; a permanent entry made by hand on the agent's link is left alone.
//! Everything runs in a network namespace of the test's own
//! (`unshare -n`, the script `drift.sh`), so nothing outside is touched and every link goes
//! away with it. Needs root; without it the test says so and checks nothing else.

use std::process::Command;
use std::time::Duration;

fn root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// How long a phase took to come back, from the script's `back-ms <phase> <ms>` line.
fn back_within(out: &str, phase: &str, limit: Duration) {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("back-ms {phase} ")))
        .unwrap_or_else(|| panic!("{phase} never came back:\n{out}"));
    let ms: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad line {line}"));
    assert!(
        ms <= limit.as_millis() as u64,
        "{phase}: back after {ms} ms\n{out}"
    );
    assert!(
        out.contains(&format!("state {phase} applied")),
        "{phase}: not applied once back\n{out}"
    );
}

#[test]
fn routes_and_neighbours_removed_or_changed_by_hand_are_restored_and_never_reported_applied_meanwhile(
) {
    if !root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let items = serde_json::json!([
        {"name": "dr-v1", "type": "VETH", "enabled": true, "ip_addresses": ["10.79.0.1/24"], "veth": {"peer_if_name": "dr-v2"}},
        {"name": "dr-v2", "type": "VETH", "enabled": true, "ip_addresses": ["10.79.1.1/24"], "veth": {"peer_if_name": "dr-v1"}},
        {"outgoing_interface": "dr-v1", "dst_network": "10.80.0.0/24", "gw_addr": "10.79.0.2"},
        {"interface": "dr-v1", "ip_address": "10.79.0.9", "hw_address": "02:00:00:00:00:09"},
    ]);
    std::fs::write(dir.path().join("items.json"), items.to_string()).expect("items");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/drift.sh");
    let out = Command::new("unshare")
        .args(["-n", "timeout", "90", "sh", script])
        .env("DIR", dir.path())
        .env("NSAGENTD", env!("CARGO_BIN_EXE_nsagentd"))
        .env("NSAGENTCTL", env!("CARGO_BIN_EXE_nsagentctl"))
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let log = std::fs::read_to_string(dir.path().join("d.log")).unwrap_or_default();
    let all = format!(
        "{text}\n{}\n--- daemon log ---\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(text.contains("applied 4"), "{all}");
    assert!(!text.contains("applied-while-missing"), "{all}");
    assert!(!text.contains("never-back"), "{all}");
    // Told by the watcher: back within a second of the change, with room for a loaded host.
    back_within(&text, "route-del", Duration::from_millis(2000));
    back_within(&text, "neigh-del", Duration::from_millis(2000));
    // Not told: nothing happens until asked.
    assert!(text.contains("unseen-change kept"), "{all}");
    let resync = text
        .lines()
        .find_map(|l| l.strip_prefix("resync "))
        .unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(resync).unwrap_or_default();
    assert!(answer["seq"].as_u64().is_some(), "{all}");
    back_within(&text, "on-demand", Duration::from_millis(2000));
    assert!(
        text.contains("bad-ns error: ns: ") && text.contains("'nowhere'"),
        "{all}"
    );
    // A one-second period finds it without being asked.
    back_within(&text, "periodic", Duration::from_millis(3000));
    // A permanent neighbour made by hand on the agent's link is not the agent's to remove; the
    // agent's own entry carries its protocol, which is how the two are told apart.
    assert!(text.contains("hand-neigh kept"), "{all}");
    let agent = text
        .lines()
        .find_map(|l| l.strip_prefix("agent-neigh "))
        .unwrap_or_default();
    assert!(agent.contains("proto static"), "{all}");
    // `nsagentctl dump` shows the kernel as it is: the agent's link as its own, with the
    // address and route it holds, and the one made by hand as no one's.
    let dump: serde_json::Value = text
        .lines()
        .find_map(|l| l.strip_prefix("dump "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("no dump: {all}"));
    let ns = &dump["namespaces"][0];
    let owner = |name: &str| {
        ns["links"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["name"] == name))
            .map(|l| l["owner"].clone())
    };
    assert_eq!(ns["ns"], "default", "{dump}");
    assert_eq!(owner("dr-h0"), Some(serde_json::json!("none")), "{dump}");
    assert!(
        owner("dr-v1").is_some_and(|o| o.as_str().is_some_and(|o| o.starts_with("this agent"))),
        "{dump}"
    );
    assert!(
        ns["routes"].to_string().contains("10.80.0.0/24"),
        "the agent's route: {dump}"
    );
}
