//! The rules of rule chain items (`machine/chain.rs`), driven through the core's public API:
//! what is written and when, the contest for a built-in chain's policy, someone else's chain,
//! resync after a restart, and removal.

mod common;
use common::*;
use nsagent_core::*;
use serde_json::json;

const IN: &str = "config/linux/iptables/v2/rulechain/in";

fn chains_of(d: &mut Harness, tables: Vec<ObservedTable>) {
    d.event(Event::ChainsObserved(ChainSnapshot {
        namespaces: vec![(Netns::Default, tables)],
        missing: vec![],
    }));
}

fn set_of(ops: &[Op]) -> Vec<&ChainSpec> {
    ops.iter()
        .filter_map(|op| match op {
            Op::SetChain { chain, .. } => Some(chain),
            _ => None,
        })
        .collect()
}

/// The agent restarts and sees an empty default namespace (the tables come separately).
fn restart_and_look(d: &mut Harness) {
    d.event(Event::Restarted);
    d.event(Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    }));
}

fn removal_of(ops: &[Op]) -> Option<&ChainSpec> {
    ops.iter().find_map(|op| match op {
        Op::DeleteChain { chain, .. } => Some(chain),
        _ => None,
    })
}

/// The tables as they are once `spec` is written, beside a rule of someone else's.
fn written(spec: &ChainSpec) -> Vec<ObservedTable> {
    let mut rules: Vec<ObservedRule> = (0..spec.rules.len())
        .map(|i| ObservedRule {
            comment: Some(spec.rule_comment(i)),
            target: Some("ACCEPT".into()),
            text: spec.rules[i].clone(),
        })
        .collect();
    rules.push(ObservedRule {
        comment: Some(spec.end_comment()),
        target: Some("RETURN".into()),
        text: "-j RETURN".into(),
    });
    vec![ObservedTable {
        family: Family::Ipv4,
        table: Table::Filter,
        chains: vec![
            ObservedChain {
                name: "INPUT".into(),
                policy: Some(spec.policy.map_or("ACCEPT", |p| p.name()).into()),
                // Someone else's rule, counted.
                others: 1,
                rules: vec![ObservedRule {
                    comment: Some(spec.mark.clone()),
                    target: Some(spec.holder.clone()),
                    text: format!("-j {}", spec.holder),
                }],
            },
            ObservedChain {
                name: spec.holder.clone(),
                policy: None,
                rules,
                others: 0,
            },
        ],
    }]
}

#[test]
fn a_chain_waits_for_its_interfaces_then_is_written_whole_and_replaced_whole() {
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "interfaces": ["d"], "rules": ["-i d -j ACCEPT"]}),
    );
    assert!(set_of(&d.settle()).is_empty(), "waits for interface d");
    assert!(
        reasons(&d.state(IN)).iter().any(|r| r.contains("'d'")),
        "{}",
        d.state(IN)
    );
    d.put(
        &iface_key("d"),
        json!({"name": "d", "type": "DUMMY", "enabled": true}),
    );
    let ops = d.settle();
    let sets = set_of(&ops);
    assert_eq!(sets.len(), 1, "{ops:?}");
    assert_eq!(sets[0].rules, ["-i d -j ACCEPT"]);
    assert!(sets[0].holder.starts_with(OWN_CHAIN_PREFIX));
    assert!(is_applied(&d.state(IN)), "{}", d.state(IN));
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "interfaces": ["d"], "rules": ["-p icmp -j DROP", "-j ACCEPT"]}),
    );
    let ops = d.settle();
    assert_eq!(
        set_of(&ops).len(),
        1,
        "one write replaces the rules: {ops:?}"
    );
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DeleteChain { .. })),
        "{ops:?}"
    );
    // The interface goes: so does the chain that waited for it.
    d.delete(&iface_key("d"));
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(op, Op::DeleteChain { .. })),
        "{ops:?}"
    );
}

#[test]
fn the_oldest_item_sets_a_built_in_chains_policy_and_a_removal_keeps_the_others() {
    let mut d = Harness::new();
    let b = "config/linux/iptables/v2/rulechain/b";
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "default_policy": "DROP"}),
    );
    d.put(
        b,
        json!({"name": "b", "chain_type": "INPUT", "default_policy": "ACCEPT"}),
    );
    d.settle();
    assert!(is_applied(&d.state(IN)));
    assert!(
        reasons(&d.state(b))
            .iter()
            .any(|r| r.contains("set by 'in'")),
        "{}",
        d.state(b)
    );
    // Same policy: no contest. A removal leaves the policy to the other item.
    d.put(
        b,
        json!({"name": "b", "chain_type": "INPUT", "default_policy": "DROP"}),
    );
    d.settle();
    assert!(is_applied(&d.state(b)), "{}", d.state(b));
    d.delete(IN);
    let ops = d.settle();
    let removal = removal_of(&ops);
    assert_eq!(
        removal.map(|c| c.policy),
        Some(None),
        "policy kept for b: {ops:?}"
    );
    d.delete(b);
    let ops = d.settle();
    let removal = removal_of(&ops);
    assert_eq!(
        removal.map(|c| c.policy),
        Some(Some(Policy::Drop)),
        "the last one puts it back: {ops:?}"
    );
}

#[test]
fn someone_elses_chain_is_refused_until_the_item_is_put_again() {
    let mut d = Harness::new();
    let web = "config/linux/iptables/v2/rulechain/web";
    d.put(
        web,
        json!({"name": "web", "chain_name": "theirs", "rules": ["-j ACCEPT"]}),
    );
    let cmds = d.pending();
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    d.fail(&cmds[0], errno::EEXIST);
    assert!(
        d.state(web).to_string().contains("refused: chain theirs"),
        "{}",
        d.state(web)
    );
    for _ in 0..10 {
        d.advance(60_000);
        assert!(d.settle().is_empty(), "not tried again while it is there");
    }
    chains_of(&mut d, vec![]);
    assert!(
        d.settle().is_empty(),
        "a look does not show someone else's chains"
    );
    d.put(
        web,
        json!({"name": "web", "chain_name": "theirs", "rules": ["-j DROP"]}),
    );
    let ops = d.settle();
    assert_eq!(set_of(&ops).len(), 1, "tried again once changed: {ops:?}");
    assert!(is_applied(&d.state(web)));
}

#[test]
fn after_a_restart_a_chain_found_as_written_is_kept_and_one_changed_is_rewritten_in_place() {
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "rules": ["-p icmp -j ACCEPT"]}),
    );
    let ops = d.settle();
    let spec = set_of(&ops)[0].clone();

    restart_and_look(&mut d);
    assert_eq!(
        d.core.poll_chain_resync(),
        Some(vec![Netns::Default]),
        "after a restart the tables are read"
    );
    chains_of(&mut d, written(&spec));
    let ops = d.settle();
    assert!(ops.is_empty(), "kept as it is: {ops:?}");
    assert!(is_applied(&d.state(IN)));

    // A rule removed by hand: written again whole, in place (no removal first).
    let mut changed = written(&spec);
    changed[0].chains[1].rules.clear();
    chains_of(&mut d, changed);
    let ops = d.settle();
    assert_eq!(set_of(&ops).len(), 1, "{ops:?}");
    assert!(
        !ops.iter().any(|op| matches!(op, Op::DeleteChain { .. })),
        "{ops:?}"
    );
}

#[test]
fn a_chain_of_the_agents_that_no_item_wants_is_removed() {
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "rules": ["-j ACCEPT"]}),
    );
    let ops = d.settle();
    let spec = set_of(&ops)[0].clone();
    // A stale chain: written by this agent for an item it no longer has.
    let mut stale = spec.clone();
    stale.mark = stale.mark.replace(":in", ":old");
    stale.holder = "NSA-0000FFFF".into();
    let mut tables = written(&spec);
    tables[0]
        .chains
        .extend(written(&stale)[0].chains[1..].iter().cloned());
    tables[0].chains[0]
        .rules
        .extend(written(&stale)[0].chains[0].rules[1..].iter().cloned());
    chains_of(&mut d, tables);
    let ops = d.settle();
    let removed: Vec<&ChainSpec> = ops
        .iter()
        .filter_map(|op| match op {
            Op::DeleteChain { chain, .. } => Some(chain),
            _ => None,
        })
        .collect();
    assert_eq!(removed.len(), 1, "{ops:?}");
    assert_eq!(removed[0].holder, "NSA-0000FFFF");
    assert!(is_applied(&d.state(IN)), "its own chain kept");
}

/// A write that fails changes nothing, but what is there may be the item's chain from before a
/// restart that lost the state (the look at the tables came while the write was on its way, so
/// it could not tell): moving the item elsewhere removes it.
#[test]
fn a_failed_write_is_not_forgotten() {
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "rules": ["-j ACCEPT"]}),
    );
    let old = set_of(&d.settle())[0].clone();
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "rules": ["-j DROP"]}),
    );
    restart_and_look(&mut d);
    let cmds = d.pending();
    assert!(
        matches!(&cmds[..], [c] if matches!(c.op, Op::SetChain { .. })),
        "{cmds:?}"
    );
    chains_of(&mut d, written(&old));
    d.fail(&cmds[0], errno::EBUSY);
    d.put(
        IN,
        json!({"name": "in", "table": "NAT", "chain_type": "POSTROUTING", "rules": ["-j ACCEPT"]}),
    );
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteChain { chain, .. }
            if chain.table == Table::Filter && chain.holder == old.holder)),
        "{ops:?}"
    );
}

/// Campaign seed 526: two items naming one custom chain in one namespace wrote over each
/// other. The oldest claim wins; the other waits, saying who holds the chain.
#[test]
fn two_items_naming_one_custom_chain_take_turns() {
    let mut d = Harness::new();
    let a = "config/linux/iptables/v2/rulechain/a";
    let b = "config/linux/iptables/v2/rulechain/b";
    d.put(
        a,
        json!({"name": "a", "chain_name": "web", "rules": ["-j ACCEPT"]}),
    );
    d.put(
        b,
        json!({"name": "b", "chain_name": "web", "rules": ["-j DROP"]}),
    );
    let ops = d.settle();
    assert_eq!(set_of(&ops).len(), 1, "{ops:?}");
    assert!(
        reasons(&d.state(b))
            .iter()
            .any(|r| r.contains("written by 'a'")),
        "{}",
        d.state(b)
    );
    d.delete(a);
    let ops = d.settle();
    assert!(removal_of(&ops).is_some(), "{ops:?}");
    assert_eq!(set_of(&ops).len(), 1, "b writes once a is gone: {ops:?}");
    assert!(is_applied(&d.state(b)));
}

/// Campaign seed 499: the older of two items naming one custom chain came to its namespace
/// after the younger had written it; it wrote over it, was refused as if the chain were
/// someone else's, and never tried again. The holder keeps the chain; the other waits for it.
#[test]
fn an_older_claim_arriving_later_waits_for_the_chain_it_names() {
    let mut d = Harness::new();
    let a = "config/linux/iptables/v2/rulechain/a";
    let b = "config/linux/iptables/v2/rulechain/b";
    d.put(a, json!({"name": "a", "chain_name": "other", "rules": []}));
    d.settle();
    d.put(
        b,
        json!({"name": "b", "chain_name": "web", "rules": ["-j DROP"]}),
    );
    d.settle();
    assert!(is_applied(&d.state(b)));
    // a, older, now names b's chain.
    d.put(
        a,
        json!({"name": "a", "chain_name": "web", "rules": ["-j ACCEPT"]}),
    );
    let ops = d.settle();
    assert!(
        set_of(&ops).iter().all(|c| c.holder != "web"),
        "b's chain is not written over: {ops:?}"
    );
    assert!(
        reasons(&d.state(a))
            .iter()
            .any(|r| r.contains("written by 'b'")),
        "{}",
        d.state(a)
    );
    assert!(is_applied(&d.state(b)));
    d.delete(b);
    let ops = d.settle();
    assert!(
        set_of(&ops)
            .iter()
            .any(|c| c.holder == "web" && c.rules.iter().any(|r| r.contains("ACCEPT"))),
        "a writes once b is gone: {ops:?}"
    );
    assert!(is_applied(&d.state(a)));
}

/// Campaign seed 215: a chain of no rules, written before a restart that lost the state, was
/// not known as the agent's (nothing in it carried the mark) and stayed after its item went.
/// Every chain the agent writes ends with its marked `-j RETURN`.
#[test]
fn a_chain_of_no_rules_is_known_as_the_agents_after_a_restart() {
    let mut d = Harness::new();
    d.put(IN, json!({"name": "in", "chain_name": "web"}));
    let spec = set_of(&d.settle())[0].clone();
    assert!(spec.rules.is_empty());
    let mut d = Harness::new();
    restart_and_look(&mut d);
    let mut tables = written(&spec);
    tables[0].chains.retain(|c| c.name == spec.holder);
    chains_of(&mut d, tables);
    let ops = d.settle();
    assert_eq!(
        removal_of(&ops).map(|c| c.holder.as_str()),
        Some("web"),
        "no item wants it: removed: {ops:?}"
    );
}

/// Campaign seed 2551: a write refused for a rule iptables does not know blocked the item
/// although it had been put again, without that rule, while the write was on its way.
#[test]
fn a_failure_about_a_value_put_over_since_blocks_nothing() {
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "rules": ["--bogus -j DROP"]}),
    );
    let cmds = d.pending();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "rules": ["-j DROP"]}),
    );
    d.fail(&cmds[0], errno::EINVAL);
    let ops = d.settle();
    assert_eq!(set_of(&ops).len(), 1, "{ops:?}");
    assert_eq!(set_of(&ops)[0].rules, ["-j DROP"]);
    assert!(is_applied(&d.state(IN)), "{}", d.state(IN));
}

/// Campaign seed 3587: an item blocked by a refused rule kept its older chain where it no
/// longer belonged. Blocked, it writes nothing, but still takes its chain away.
#[test]
fn a_blocked_chain_still_takes_its_chain_away() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d"),
        json!({"name": "d", "type": "DUMMY", "enabled": true}),
    );
    let v = |rule: &str| json!({"name": "in", "chain_type": "INPUT", "interfaces": ["d"], "rules": [rule]});
    d.put(IN, v("-j ACCEPT"));
    d.settle();
    d.put(IN, v("--bogus -j DROP"));
    let cmds = d.pending();
    d.fail(&cmds[0], errno::EINVAL);
    let failed = |s: ItemState| matches!(s, ItemState::Failed { retry_at: None, .. });
    assert!(failed(d.state(IN)), "{}", d.state(IN));
    d.delete(&iface_key("d"));
    let ops = d.settle();
    assert!(removal_of(&ops).is_some(), "{ops:?}");
    assert!(set_of(&ops).is_empty(), "{ops:?}");
    assert!(failed(d.state(IN)), "still says why: {}", d.state(IN));
}

/// A firewall must not drop its rules while an interface it lists is being changed: the chain
/// depends on the interface's link, not on its last change being done.
#[test]
fn changing_a_listed_interface_leaves_the_chain_alone() {
    let mut d = Harness::new();
    let iface = |mtu: u32| json!({"name": "d", "type": "DUMMY", "enabled": true, "mtu": mtu});
    d.put(&iface_key("d"), iface(1500));
    d.put(IN, json!({"name": "in", "chain_type": "INPUT", "interfaces": ["d"], "rules": ["-i d -j DROP"]}));
    d.settle();
    assert!(is_applied(&d.state(IN)));
    d.put(&iface_key("d"), iface(1400));
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(op, Op::SetLink { .. })),
        "{ops:?}"
    );
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::DeleteChain { .. } | Op::SetChain { .. })),
        "{ops:?}"
    );
}

/// Campaign seed 512: after a state loss the items were put again in another order, so the
/// one that had lost the policy won it and wrote its own; when it moved away, the other, still
/// believing its policy there, was reported applied under the winner's.
#[test]
fn a_policy_written_over_by_the_winner_is_written_again_once_it_goes() {
    let b = "config/linux/iptables/v2/rulechain/b";
    let accept = json!({"name": "b", "chain_type": "INPUT", "default_policy": "ACCEPT"});
    let mut before = Harness::new();
    before.put(b, accept.clone());
    let ops = before.settle();
    let b_spec = set_of(&ops)[0].clone();

    // State lost; the items come back youngest first, and b's chain is found as written.
    let mut d = Harness::new();
    d.put(
        IN,
        json!({"name": "in", "chain_type": "INPUT", "default_policy": "DROP"}),
    );
    d.put(b, accept);
    restart_and_look(&mut d);
    chains_of(&mut d, written(&b_spec));
    let ops = d.settle();
    assert_eq!(
        set_of(&ops).iter().map(|c| c.policy).collect::<Vec<_>>(),
        vec![Some(Policy::Drop)],
        "the oldest claim now is in's: {ops:?}"
    );
    assert!(matches!(d.state(b), ItemState::Pending { .. }));

    d.delete(IN);
    let ops = d.settle();
    assert_eq!(removal_of(&ops).map(|c| c.policy), Some(None), "{ops:?}");
    let sets = set_of(&ops);
    assert_eq!(
        sets.iter().map(|c| c.policy).collect::<Vec<_>>(),
        vec![Some(Policy::Accept)],
        "b writes its policy again: {ops:?}"
    );
    assert!(is_applied(&d.state(b)), "{}", d.state(b));
}
