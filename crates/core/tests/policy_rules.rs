//! Policy rules (nsagent's extension, `config/linux/l3/v2/policy-rule/<name>`): one kernel rule
//! each, in the item's namespace, with its interfaces by their link names; a change removes
//! the old rule before adding the new one; one item per namespace, family and priority; and
//! resync keeps, re-adds, adopts or removes rules with the agent's protocol only at the
//! priorities items hold.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::{json, Value};

const R1: &str = "config/linux/l3/v2/policy-rule/r1";
const R2: &str = "config/linux/l3/v2/policy-rule/r2";

fn rule(name: &str, priority: u32, extra: Value) -> Value {
    let mut v = json!({"name": name, "priority": priority, "table": 100});
    for (k, x) in extra.as_object().expect("an object") {
        v[k] = x.clone();
    }
    v
}

fn short(ns: &Netns) -> String {
    match ns {
        Netns::Default => "default".into(),
        Netns::Named(n) => n.clone(),
        other => other.to_string(),
    }
}

fn rules_in(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            Op::AddRule { ns, rule } => Some(format!("add {rule} in {}", short(ns))),
            Op::DelRule { ns, rule } => Some(format!("del {rule} in {}", short(ns))),
            _ => None,
        })
        .collect()
}

fn seen_rules(ns: Netns, rules: Vec<RuleSpec>) -> Event {
    Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns,
            links: vec![],
            routes: vec![],
            neighbours: vec![],
            rules,
        }],
        missing: vec![],
    })
}

fn spec(priority: u32, table: u32) -> RuleSpec {
    RuleSpec {
        family: Family::Ipv4,
        priority,
        src: None,
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        action: RuleAction::Lookup(table),
    }
}

#[test]
fn a_rule_waits_for_the_items_of_its_interfaces_and_names_their_links() {
    let mut d = Harness::new();
    d.put(
        R1,
        rule(
            "r1",
            100,
            json!({"incoming_interface": "d1", "src_network": "10.1.0.0/16", "fwmark": 7, "fwmask": 255}),
        ),
    );
    assert_eq!(rules_in(&d.settle()), Vec::<String>::new());
    assert_eq!(
        reasons(&d.state(R1)),
        vec!["interface 'd1' is not configured"]
    );
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "host_if_name": "dummy-one"}),
    );
    let ops = rules_in(&d.settle());
    assert_eq!(
        ops,
        vec!["add pref 100 from 10.1.0.0/16 iif dummy-one fwmark 0x7/0xff lookup 100 in default"]
    );
    assert!(is_applied(&d.state(R1)));
    // The interface's link name changes: so does the rule, old one first.
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "host_if_name": "dummy-two"}),
    );
    let ops = rules_in(&d.settle());
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(ops[0].starts_with("del pref 100") && ops[0].contains("iif dummy-one"));
    assert!(ops[1].starts_with("add pref 100") && ops[1].contains("iif dummy-two"));
    // The interface goes: the rule waits again, and its kernel rule goes.
    d.delete(&iface_key("d1"));
    let ops = rules_in(&d.settle());
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert!(ops[0].starts_with("del"));
    assert_eq!(
        reasons(&d.state(R1)),
        vec!["interface 'd1' is not configured"]
    );
}

#[test]
fn a_changed_rule_is_removed_before_it_is_added_again_and_a_deleted_one_goes() {
    let mut d = Harness::new();
    d.put(R1, rule("r1", 100, json!({})));
    assert_eq!(
        rules_in(&d.settle()),
        vec!["add pref 100 lookup 100 in default"]
    );
    d.put(
        R1,
        rule("r1", 100, json!({"table": 0, "action": "BLACKHOLE"})),
    );
    assert_eq!(
        rules_in(&d.settle()),
        vec![
            "del pref 100 lookup 100 in default",
            "add pref 100 blackhole in default"
        ]
    );
    d.delete(R1);
    assert_eq!(
        rules_in(&d.settle()),
        vec!["del pref 100 blackhole in default"]
    );
    assert!(d.core.status(&R1.parse().unwrap()).is_none());
}

#[test]
fn one_item_holds_a_priority_per_namespace_and_family_the_older_one() {
    let mut d = Harness::new();
    d.put(R1, rule("r1", 100, json!({})));
    d.put(R2, rule("r2", 100, json!({"table": 200})));
    let ops = rules_in(&d.settle());
    assert_eq!(ops, vec!["add pref 100 lookup 100 in default"]);
    assert_eq!(
        reasons(&d.state(R2)),
        vec!["priority 100 is taken by rule 'r1'"]
    );
    // Another family, or another namespace, is another place.
    let r3 = "config/linux/l3/v2/policy-rule/r3";
    d.put(r3, rule("r3", 100, json!({"src_network": "fd00::/8"})));
    let r4 = "config/linux/l3/v2/policy-rule/r4";
    d.put(
        r4,
        rule(
            "r4",
            100,
            json!({"namespace": {"type": "NSID", "reference": "n1"}}),
        ),
    );
    let ops = rules_in(&d.settle());
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(is_applied(&d.state(r3)) && is_applied(&d.state(r4)));
    // The older goes: the younger gets its place, after its rule is removed.
    d.delete(R1);
    assert_eq!(
        rules_in(&d.settle()),
        vec![
            "del pref 100 lookup 100 in default",
            "add pref 100 lookup 200 in default"
        ]
    );
    assert!(is_applied(&d.state(R2)));
}

#[test]
fn an_interface_in_another_namespace_than_the_rule_keeps_it_pending() {
    let mut d = Harness::new();
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "namespace": {"type": "NSID", "reference": "n1"}}),
    );
    d.put(R1, rule("r1", 10, json!({"outgoing_interface": "d1"})));
    assert_eq!(rules_in(&d.settle()), Vec::<String>::new());
    assert_eq!(
        reasons(&d.state(R1)),
        vec!["interface 'd1' is in another namespace than this rule"]
    );
    d.put(
        R1,
        rule(
            "r1",
            10,
            json!({"outgoing_interface": "d1", "namespace": {"type": "NSID", "reference": "n1"}}),
        ),
    );
    assert_eq!(
        rules_in(&d.settle()),
        vec!["add pref 10 oif d1 lookup 100 in n1"]
    );
}

#[test]
fn eexist_is_a_failure_retried_and_enoent_on_removal_is_done() {
    let mut d = Harness::new();
    d.put(R1, rule("r1", 100, json!({})));
    let cmds = d.pending();
    assert_eq!(cmds.len(), 1);
    d.fail(&cmds[0], errno::EEXIST);
    let ItemState::Failed { retry_at, .. } = d.state(R1) else {
        panic!("{:?}", d.state(R1))
    };
    assert!(retry_at.is_some(), "EEXIST is retried");
    d.advance(60_000);
    assert_eq!(
        rules_in(&d.settle()),
        vec!["add pref 100 lookup 100 in default"]
    );
    d.delete(R1);
    let cmds = d.pending();
    d.fail(&cmds[0], errno::ENOENT);
    assert!(d.pending().is_empty());
    assert!(d.core.status(&R1.parse().unwrap()).is_none());
}

#[test]
fn resync_re_adds_a_lost_rule_replaces_one_at_its_priority_and_leaves_the_rest() {
    let mut d = Harness::new();
    d.put(R1, rule("r1", 100, json!({})));
    d.settle();
    // Seen as believed: nothing to do.
    d.event(seen_rules(Netns::Default, vec![spec(100, 100)]));
    assert!(d.settle().is_empty());
    // Gone behind the agent's back: added again.
    d.event(seen_rules(Netns::Default, vec![]));
    assert_eq!(
        rules_in(&d.settle()),
        vec!["add pref 100 lookup 100 in default"]
    );
    // Changed by hand at the item's priority (with the agent's protocol): the item takes it
    // and puts its own back; a rule at a priority no item holds is not touched.
    d.event(seen_rules(
        Netns::Default,
        vec![spec(100, 7), spec(300, 300)],
    ));
    assert_eq!(
        rules_in(&d.settle()),
        vec![
            "del pref 100 lookup 7 in default",
            "add pref 100 lookup 100 in default"
        ]
    );
    // Both there (the item's, and a second one at its priority): the other goes as stale.
    d.event(seen_rules(
        Netns::Default,
        vec![spec(100, 100), spec(100, 9)],
    ));
    assert_eq!(
        rules_in(&d.settle()),
        vec!["del pref 100 lookup 9 in default"]
    );
    assert!(is_applied(&d.state(R1)));
}

#[test]
fn rule_values_are_checked_and_errors_name_the_field_as_written() {
    let e = Item::decode(
        R1,
        &json!({"name": "r1", "priority": 5, "table": 1, "srcNetwork": "10.0.0.1/8"}),
    )
    .unwrap_err();
    assert_eq!(e.field, "srcNetwork");
    assert!(e.reason.contains("did you mean 10.0.0.0/8"), "{e}");
    let e = Item::decode(R1, &json!({"name": "r2", "priority": 5, "table": 1})).unwrap_err();
    assert_eq!(e.field, "key");
    let e = Item::decode(R1, &json!({"name": "r1", "table": 1})).unwrap_err();
    assert_eq!(e.field, "priority");
    let e = Item::decode(R1, &json!({"name": "r1", "priority": 5, "action": "GOTO"})).unwrap_err();
    assert_eq!(e.field, "action");
    let e = Item::decode("config/linux/l3/v2/policy-rule/a/b", &json!({})).unwrap_err();
    assert_eq!(e.field, "key");
    // Files name no key: a priority says it is a rule, even beside a route's field names.
    let item = Item::decode_unkeyed(
        &json!({"name": "r1", "priority": 5, "outgoing_interface": "d1", "dst_network": "10.0.0.0/8", "table": 9}),
    )
    .unwrap();
    assert_eq!(item.key().to_string(), R1);
    let Item::PolicyRule(r) = &item else {
        panic!("{item:?}")
    };
    assert_eq!(r.action, RuleAction::Lookup(9));
    assert_eq!(Item::decode(R1, &item.to_json()).unwrap(), item);
}
