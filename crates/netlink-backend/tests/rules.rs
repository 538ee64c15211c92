//! Policy rules against the real kernel and the sim beside it: the same adds and deletes get
//! the same errno from both (EEXIST for a rule there already, also the kernel's asymmetric
//! "no source is any source", ENOENT for one that is not), both show the same rules afterwards,
//! and a rule someone else made is neither shown nor taken by the agent's delete at its
//! priority. A second test holds the backend's reading of a dump to what `ip rule` makes:
//! rules with conditions a `RuleSpec` cannot hold are left out, never shown looser.
//!
//! Every rule is made in a namespace of the test's own: the default namespace's rules are
//! never touched.

mod common;

use common::*;
use nsagent_core::{errno, Backend, Family, Netns, Op, RuleAction, RuleSpec};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

/// Rules need root (`ip netns add`, RTM_NEWRULE); elsewhere the test says it is skipped.
fn skipped() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return false;
    }
    eprintln!("SKIPPED: policy rules are made in namespaces of the test's own, which needs root");
    true
}

fn rule(priority: u32, action: RuleAction) -> RuleSpec {
    RuleSpec {
        family: Family::Ipv4,
        priority,
        src: None,
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        action,
    }
}

/// The same rule with another source (or none).
fn with_src(rule: &RuleSpec, src: Option<ipnet::IpNet>) -> RuleSpec {
    RuleSpec {
        src,
        ..rule.clone()
    }
}

fn net(text: &str) -> Option<ipnet::IpNet> {
    Some(text.parse().unwrap())
}

fn add(ns: &Netns, rule: &RuleSpec) -> Op {
    Op::AddRule {
        ns: ns.clone(),
        rule: rule.clone(),
    }
}

fn del(ns: &Netns, rule: &RuleSpec) -> Op {
    Op::DelRule {
        ns: ns.clone(),
        rule: rule.clone(),
    }
}

/// The rules a backend observes in `ns`, sorted (the sim lists them in its database's order).
fn observed(b: &mut dyn Backend, ns: &Netns) -> Vec<RuleSpec> {
    let seen = b.observe(std::slice::from_ref(ns)).expect("observe");
    let mut rules: Vec<RuleSpec> = seen
        .namespaces
        .iter()
        .flat_map(|n| n.rules.iter().cloned())
        .collect();
    rules.sort();
    rules
}

/// The kernel's rules at `priority` of one family, as `ip -j -d rule` shows them.
fn ip_rules_at(ns: &TestNs, v6: bool, priority: u64) -> Vec<serde_json::Value> {
    let args: &[&str] = if v6 {
        &["-6", "-d", "rule", "show"]
    } else {
        &["-d", "rule", "show"]
    };
    ns.ip(args)
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["priority"] == priority)
        .collect()
}

/// The ops of the parity test, each with the errno the kernel answers, and the rules left
/// afterwards.
fn cases(n: &Netns) -> (Vec<(Op, Option<i32>)>, Vec<RuleSpec>) {
    let sourced = RuleSpec {
        src: net("10.1.0.0/16"),
        iif: Some("ra".into()),
        ..rule(1000, RuleAction::Lookup(100))
    };
    let without_src = with_src(&sourced, None);
    // The other order: a rule without a source first, then one with.
    let bare = rule(1001, RuleAction::Lookup(100));
    let bare_with_src = with_src(&bare, net("10.1.0.0/16"));
    let any_src = RuleSpec {
        src: net("10.3.0.0/16"),
        ..rule(1002, RuleAction::Lookup(100))
    };
    let marked = |mask| RuleSpec {
        fwmark: Some((0x1, mask)),
        ..rule(1100, RuleAction::Lookup(101))
    };
    let v6 = RuleSpec {
        family: Family::Ipv6,
        src: net("fd00:1::/64"),
        ..rule(1000, RuleAction::Lookup(100))
    };
    let big_table = RuleSpec {
        dst: net("10.50.0.0/16"),
        ..rule(1300, RuleAction::Lookup(1000))
    };
    let no_such_oif = RuleSpec {
        oif: Some("nosuch0".into()),
        ..rule(1400, RuleAction::Lookup(100))
    };
    let blackhole = rule(1200, RuleAction::Blackhole);
    let unreachable = rule(1201, RuleAction::Unreachable);
    let prohibit = RuleSpec {
        family: Family::Ipv6,
        ..rule(1202, RuleAction::Prohibit)
    };
    let wrong_table = RuleSpec {
        action: RuleAction::Lookup(999),
        ..big_table.clone()
    };
    let wrong_family = RuleSpec {
        family: Family::Ipv6,
        ..blackhole.clone()
    };
    let ops = vec![
        (add(n, &sourced), None),
        (add(n, &sourced), Some(errno::EEXIST)),
        // No source in the new rule: the kernel does not compare sources, it is "there".
        (add(n, &without_src), Some(errno::EEXIST)),
        (add(n, &bare), None),
        (add(n, &bare_with_src), None),
        (add(n, &marked(u32::MAX)), None),
        (add(n, &marked(0xff)), None),
        (add(n, &marked(u32::MAX)), Some(errno::EEXIST)),
        (add(n, &blackhole), None),
        (add(n, &unreachable), None),
        (add(n, &prohibit), None),
        (add(n, &v6), None),
        (add(n, &big_table), None),
        (add(n, &no_such_oif), None),
        (del(n, &bare_with_src), None),
        (del(n, &bare_with_src), Some(errno::ENOENT)),
        // A delete without a source takes a rule with one: on delete the kernel compares
        // only what the request gives (the first match in list order goes).
        (add(n, &any_src), None),
        (del(n, &with_src(&any_src, None)), None),
        (del(n, &any_src), Some(errno::ENOENT)),
        (del(n, &unreachable), None),
        (del(n, &unreachable), Some(errno::ENOENT)),
        // The wrong table, or family, matches nothing.
        (del(n, &wrong_table), Some(errno::ENOENT)),
        (del(n, &wrong_family), Some(errno::ENOENT)),
    ];
    let mut want = vec![
        sourced,
        bare,
        marked(u32::MAX),
        marked(0xff),
        blackhole,
        prohibit,
        v6,
        big_table,
        no_such_oif,
    ];
    want.sort();
    (ops, want)
}

#[test]
fn rules_are_added_refused_and_deleted_alike_in_the_sim_and_the_kernel() {
    if skipped() {
        return;
    }
    let ns = TestNs::new();
    let n = ns.netns();
    let mut sim = SimKernel::default();
    sim.appear(n.clone()).expect("ns");
    let mut real = NetlinkBackend::new();
    let mut differences = alike(&mut sim, &mut real, &[(veth(&ns, "ra", &ns, "rb"), None)]);
    let (ops, want) = cases(&n);
    differences.extend(alike(&mut sim, &mut real, &ops));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(observed(&mut real, &n), want, "the kernel");
    assert_eq!(observed(&mut sim, &n), want, "the sim");
    // Two looks at an unchanged namespace compare equal.
    assert_eq!(observed(&mut real, &n), want);
    // `ip rule`'s own view: the agent's protocol, a table past 255, a detached oif.
    let big = ip_rules_at(&ns, false, 1300);
    assert_eq!(big.len(), 1, "{big:?}");
    assert_eq!(big[0]["table"], "1000");
    assert_eq!(big[0]["protocol"], "static");
    let detached = ip_rules_at(&ns, false, 1400);
    assert_eq!(detached[0]["oif"], "nosuch0", "{detached:?}");
    assert!(detached[0].get("oif_detached").is_some(), "{detached:?}");
}

#[test]
fn a_rule_someone_else_made_is_neither_seen_nor_deleted_by_the_agent() {
    if skipped() {
        return;
    }
    let ns = TestNs::new();
    let n = ns.netns();
    let mut sim = SimKernel::default();
    sim.appear(n.clone()).expect("ns");
    let mut real = NetlinkBackend::new();
    let foreign = RuleSpec {
        src: net("10.9.0.0/16"),
        ..rule(50, RuleAction::Lookup(50))
    };
    run(
        "ip",
        &[
            "-n",
            &ns.name,
            "rule",
            "add",
            "pref",
            "50",
            "from",
            "10.9.0.0/16",
            "table",
            "50",
        ],
    );
    sim.seed_rule(&n, foreign.clone(), 0).expect("seeded");
    assert_eq!(observed(&mut real, &n), vec![], "the kernel");
    assert_eq!(observed(&mut sim, &n), vec![], "the sim");

    // The agent's delete names its protocol: neither the same rule nor one with fewer fields
    // at that priority takes the foreign one.
    let ops = vec![
        (del(&n, &foreign), Some(errno::ENOENT)),
        (
            del(&n, &rule(50, RuleAction::Lookup(50))),
            Some(errno::ENOENT),
        ),
        // The agent's own rule beside it is a rule of its own (the protocols differ)...
        (add(&n, &foreign), None),
        // ...and its delete takes that one, leaving the foreign rule.
        (del(&n, &foreign), None),
        (del(&n, &foreign), Some(errno::ENOENT)),
    ];
    let differences = alike(&mut sim, &mut real, &ops);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let left = ip_rules_at(&ns, false, 50);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["src"], "10.9.0.0");
    assert_eq!(left[0]["protocol"], "unspec");
    let in_sim = sim.rules(&n).expect("ns");
    let at_50: Vec<&(RuleSpec, u8)> = in_sim.iter().filter(|(r, _)| r.priority == 50).collect();
    assert_eq!(at_50, vec![&(foreign, 0)]);
    assert_eq!(observed(&mut real, &n), vec![]);
}

/// Rules `ip rule` makes with the agent's protocol (static, 4) that a `RuleSpec` cannot hold
/// are left out; one it can hold reads back whole, host bits of its source and all.
#[test]
fn a_rule_with_a_condition_the_agent_cannot_hold_is_not_observed() {
    if skipped() {
        return;
    }
    let ns = TestNs::new();
    let n = ns.netns();
    let ip_rule = |args: &[&str]| {
        let mut full = vec!["-n", ns.name.as_str(), "rule", "add"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["protocol", "static"]);
        run("ip", &full);
    };
    ip_rule(&["pref", "2000", "not", "from", "10.7.0.0/16", "table", "100"]);
    ip_rule(&["pref", "2001", "ipproto", "tcp", "table", "100"]);
    ip_rule(&["pref", "2002", "tos", "0x10", "table", "100"]);
    ip_rule(&["pref", "2003", "goto", "2010"]);
    ip_rule(&["pref", "2004", "uidrange", "1-2", "table", "100"]);
    ip_rule(&["pref", "2005", "sport", "80", "table", "100"]);
    ip_rule(&[
        "pref",
        "2006",
        "suppress_prefixlength",
        "0",
        "table",
        "main",
    ]);
    ip_rule(&[
        "pref",
        "2007",
        "from",
        "10.8.0.1/24",
        "fwmark",
        "0x5",
        "iif",
        "nosuch1",
        "table",
        "7",
    ]);
    // iproute2 sends an IPv4 rule unless told (the kernel then refuses an IPv6 address).
    run(
        "ip",
        &[
            "-6",
            "-n",
            &ns.name,
            "rule",
            "add",
            "pref",
            "2008",
            "to",
            "fd00:9::/48",
            "unreachable",
            "protocol",
            "static",
        ],
    );
    let mut real = NetlinkBackend::new();
    let mut want = vec![
        RuleSpec {
            src: net("10.8.0.1/24"),
            fwmark: Some((0x5, u32::MAX)),
            iif: Some("nosuch1".into()),
            ..rule(2007, RuleAction::Lookup(7))
        },
        RuleSpec {
            family: Family::Ipv6,
            dst: net("fd00:9::/48"),
            ..rule(2008, RuleAction::Unreachable)
        },
    ];
    want.sort();
    assert_eq!(observed(&mut real, &n), want);

    // Another route protocol: the backend marks its rules with it and sees only those.
    let mut other = NetlinkBackend::new().with_route_protocol(250);
    let own = rule(3000, RuleAction::Lookup(30));
    other.apply(&add(&n, &own)).expect("added");
    assert_eq!(observed(&mut other, &n), vec![own.clone()]);
    assert_eq!(observed(&mut real, &n), want);
    assert_eq!(ip_rules_at(&ns, false, 3000)[0]["protocol"], "250");
    let refused = real.apply(&del(&n, &own)).expect_err("not the agent's");
    assert_eq!(refused.errno, Some(errno::ENOENT));
    other.apply(&del(&n, &own)).expect("deleted");
}
