//! Rule chains end to end against the real kernel's iptables, through NATS and `nsagentctl`:
//! a chain on the built-in INPUT (with a DROP policy, after a rule someone else put there) and
//! a custom chain in a named namespace are written; a rule iptables refuses fails its item,
//! named as written; a rule removed by hand is put back by a resync; a restart of the agent
//! keeps the chains as they are (no second jump); a delete takes away exactly what the agent
//! wrote. Everything runs in a network namespace made for the test (`unshare -n`), so nothing
//! outside is touched. Needs root; without it the test says so and checks nothing else.

mod common;

use std::process::Command;

use common::unshared::{self, is_root, section};

const SCRIPT: &str = r#"
set -e
ip link set lo up
# Someone else's rule: the agent's DROP policy must not cut the agent off its NATS server.
iptables -A INPUT -i lo -j ACCEPT
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
start() {
  "$NSAGENTD" --label fw --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink --no-docker >>"$DIR/fw.log" 2>&1 &
  A=$!
}
start
trap 'kill $A $NATS 2>/dev/null || true; ip netns del fwns-$$ 2>/dev/null || true' EXIT
ctl() { "$NSAGENTCTL" --label fw --nats nats://127.0.0.1:4222 --timeout 2 "$@"; }
sed -i "s/FWNS/fwns-$$/" "$DIR/chains.json"
wait_for "an answer" ctl status
ctl put -f "$DIR/chains.json" >/dev/null
ctl wait --within 20 config/linux/iptables/v2/rulechain/in >/dev/null
ctl wait --within 20 config/linux/iptables/v2/rulechain/web >/dev/null
wait_for "bad failed" sh -c "$NSAGENTCTL --label fw --nats nats://127.0.0.1:4222 --timeout 2 status | grep -q 'rulechain/bad.*failed'"
echo "=== written"; iptables-save -t filter; ip netns exec fwns-$$ iptables-save -t filter
echo "=== status"; ctl status
echo "dump $(ctl -o json dump --ns default | tr -d '\n')"
HOLDER=$(iptables-save -t filter | sed -n 's/^:\(NSA-[0-9A-F]*\) .*/\1/p')
iptables -D "$HOLDER" 1
echo "=== changed by hand"; iptables-save -t filter
ctl resync >/dev/null
wait_for "rule back" sh -c "iptables-save -t filter | grep -q -- '-A $HOLDER -p icmp'"
echo "=== repaired"; iptables-save -t filter
kill $A; wait $A 2>/dev/null || true
start
wait_for "an answer after restart" ctl status
ctl wait --within 20 config/linux/iptables/v2/rulechain/in >/dev/null
sleep 0.5
echo "=== after restart"; iptables-save -t filter
ctl del config/linux/iptables/v2/rulechain/in >/dev/null
ctl del config/linux/iptables/v2/rulechain/web >/dev/null
wait_for "in gone" sh -c "! iptables-save -t filter | grep -q NSA-"
wait_for "web gone" sh -c "! ip netns exec fwns-$$ iptables-save -t filter | grep -q ':web '"
echo "=== deleted"; iptables-save -t filter; ip netns exec fwns-$$ iptables-save -t filter
echo "==="
"#;

#[test]
fn rule_chains_are_written_repaired_kept_over_a_restart_and_removed_exactly() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create a network namespace");
        return;
    }
    if Command::new("iptables").arg("--version").output().is_err() {
        eprintln!("SKIPPED: iptables is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let chains = serde_json::json!([
        {"name": "in", "table": "FILTER", "chain_type": "INPUT", "default_policy": "DROP",
         "rules": ["-p icmp -j ACCEPT", "-p tcp --dport 22 -j ACCEPT"]},
        {"name": "web", "namespace": {"type": "NSID", "reference": "FWNS"},
         "chainType": 0, "chainName": "web", "rules": ["-p tcp --dport 80 -j ACCEPT"]},
        {"name": "bad", "chain_type": "OUTPUT", "rules": ["-j ACCEPT", "-p tcp --no-such-option -j DROP"]},
    ]);
    std::fs::write(dir.path().join("chains.json"), chains.to_string()).expect("items");
    let (text, all) = unshared::run(SCRIPT, dir.path(), 120, "fw.log");

    let written = section(&text, "written", &all);
    assert!(written.contains(":INPUT DROP"), "policy set: {all}");
    let lo = written
        .find("-A INPUT -i lo -j ACCEPT")
        .expect("foreign rule kept");
    let jump = written.find("-j NSA-").expect("one jump");
    assert!(
        lo < jump,
        "the jump comes after the rules already there: {all}"
    );
    assert_eq!(written.matches("-j NSA-").count(), 1, "{all}");
    assert!(
        written.contains("-p icmp") && written.contains("--dport 22"),
        "{all}"
    );
    assert!(
        written.contains(":web - ") && written.contains("--dport 80"),
        "custom chain in its namespace: {all}"
    );
    let status = section(&text, "status", &all);
    assert!(
        status.contains("rules[1] ('-p tcp --no-such-option -j DROP')"),
        "the refused rule named as written: {all}"
    );

    // `nsagentctl dump` shows the chains as the kernel holds them: the agent's jump from INPUT,
    // beside the one rule someone else put there.
    let dump: serde_json::Value = text
        .lines()
        .find_map(|l| l.strip_prefix("dump "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no dump: {all}"));
    let tables = &dump["namespaces"][0]["iptables"];
    let input = tables
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["family"] == "ipv4" && t["table"] == "filter")
        })
        .and_then(|t| t["chains"].as_array())
        .and_then(|c| c.iter().find(|c| c["chain"] == "INPUT"))
        .unwrap_or_else(|| panic!("no INPUT in the dump: {dump}"));
    assert_eq!(input["policy"], "DROP", "{dump}");
    assert_eq!(input["rules_of_others"], 1, "{dump}");
    let jump = input["rules_of_this_agent"][0]["rule"]
        .as_str()
        .unwrap_or_default();
    assert!(
        jump.ends_with("-j NSA-") || jump.contains(" -j NSA-"),
        "{dump}"
    );

    let changed = section(&text, "changed by hand", &all);
    assert!(!changed.contains("-p icmp"), "{all}");
    let repaired = section(&text, "repaired", &all);
    assert!(
        repaired.contains("-p icmp") && repaired.contains("--dport 22"),
        "{all}"
    );
    let restarted = section(&text, "after restart", &all);
    assert_eq!(
        restarted.matches("-j NSA-").count(),
        1,
        "no second jump: {all}"
    );
    assert!(restarted.contains("-A INPUT -i lo -j ACCEPT"), "{all}");

    let deleted = section(&text, "deleted", &all);
    assert!(deleted.contains(":INPUT ACCEPT"), "policy back: {all}");
    assert!(
        deleted.contains("-A INPUT -i lo -j ACCEPT"),
        "foreign rule kept: {all}"
    );
    assert!(
        !deleted.contains("NSA-") && !deleted.contains(":web "),
        "{all}"
    );
}
