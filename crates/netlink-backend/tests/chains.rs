//! Rule chains against the real kernel's iptables (through iptables-restore and iptables-save
//! run in the namespace), checked with `iptables-save` as an independent view and with traffic:
//! written whole, replaced whole, removed whole, never touching a rule the agent did not write.

mod common;

use common::*;
use nsagent_core::errno;
use nsagent_core::{
    Backend, Builtin, Chain, ChainSpec, Family, LinkChange, Netns, Op, Policy, Table,
};
use nsagent_netlink::NetlinkBackend;

fn spec(chain: Chain, holder: &str, rules: &[&str]) -> ChainSpec {
    ChainSpec {
        family: Family::Ipv4,
        table: Table::Filter,
        chain,
        holder: holder.into(),
        policy: None,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        mark: format!("nsagent:test/0000000000000001:{holder}"),
    }
}

fn save(ns: &TestNs, tool: &str) -> String {
    run("ip", &["netns", "exec", &ns.name, tool])
}

fn held(b: &mut NetlinkBackend, ns: &TestNs, s: &ChainSpec) -> bool {
    let snap = b.observe_chains(&[ns.netns()]).expect("observe");
    let (_, tables) = snap
        .namespaces
        .iter()
        .find(|(n, _)| *n == ns.netns())
        .expect("observed");
    s.held_in(tables)
}

#[test]
fn a_chain_is_written_replaced_and_removed_whole_beside_someone_elses_rules() {
    let a = TestNs::new();
    run(
        "ip",
        &[
            "netns", "exec", &a.name, "iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT",
        ],
    );
    let mut b = NetlinkBackend::new();
    let mut s = spec(
        Chain::Builtin(Builtin::Input),
        "NSA-T1",
        &["-p icmp -j ACCEPT", "-s 10.0.0.0/8 -j DROP"],
    );
    s.policy = Some(Policy::Drop);
    apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: s.clone(),
        },
    )
    .expect("set");
    let text = save(&a, "iptables-save");
    assert!(text.contains(":INPUT DROP"), "{text}");
    assert!(text.contains("-A INPUT -i lo -j ACCEPT"), "{text}");
    assert_eq!(text.matches("-j NSA-T1").count(), 1, "{text}");
    assert!(held(&mut b, &a, &s));

    // Replaced whole: one jump still, the new rules only.
    s.rules = vec!["-p tcp --dport 22 -j ACCEPT".into()];
    apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: s.clone(),
        },
    )
    .expect("replace");
    let text = save(&a, "iptables-save");
    assert_eq!(text.matches("-j NSA-T1").count(), 1, "{text}");
    assert!(!text.contains("icmp"), "{text}");
    assert!(text.contains("--dport 22"), "{text}");
    assert!(held(&mut b, &a, &s));

    // A rule iptables refuses fails the write, named as the item has it; nothing changes.
    let mut bad = s.clone();
    bad.rules = vec![
        "-p icmp -j ACCEPT".into(),
        "-p tcp --no-such-option -j DROP".into(),
    ];
    let e = apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: bad,
        },
    )
    .unwrap_err();
    assert_eq!(e.errno, Some(errno::EINVAL), "{e}");
    assert!(
        e.message
            .starts_with("rules[1] ('-p tcp --no-such-option -j DROP')"),
        "{e}"
    );
    assert!(held(&mut b, &a, &s), "a refused write changes nothing");

    // A hand adds a rule to the agent's chain: the look no longer shows it as written.
    run(
        "ip",
        &[
            "netns", "exec", &a.name, "iptables", "-A", "NSA-T1", "-j", "RETURN",
        ],
    );
    assert!(!held(&mut b, &a, &s));
    apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: s.clone(),
        },
    )
    .expect("rewrite");
    assert!(held(&mut b, &a, &s));

    apply(
        &mut b,
        Op::DeleteChain {
            ns: a.netns(),
            chain: s.clone(),
        },
    )
    .expect("delete");
    let text = save(&a, "iptables-save");
    assert!(!text.contains("NSA-T1"), "{text}");
    assert!(text.contains(":INPUT ACCEPT"), "{text}");
    assert!(text.contains("-A INPUT -i lo -j ACCEPT"), "{text}");
    // Deleting what is not there is no error.
    apply(
        &mut b,
        Op::DeleteChain {
            ns: a.netns(),
            chain: s,
        },
    )
    .expect("delete again");
}

#[test]
fn someone_elses_custom_chain_is_refused_and_left_alone() {
    let a = TestNs::new();
    run(
        "ip",
        &["netns", "exec", &a.name, "iptables", "-N", "theirs"],
    );
    run(
        "ip",
        &[
            "netns", "exec", &a.name, "iptables", "-A", "theirs", "-j", "DROP",
        ],
    );
    let mut b = NetlinkBackend::new();
    let s = spec(Chain::Custom("theirs".into()), "theirs", &["-j ACCEPT"]);
    let e = apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: s.clone(),
        },
    )
    .unwrap_err();
    assert_eq!(e.errno, Some(errno::EEXIST), "{e}");
    apply(
        &mut b,
        Op::DeleteChain {
            ns: a.netns(),
            chain: s,
        },
    )
    .expect("delete leaves it");
    let text = save(&a, "iptables-save");
    assert!(
        text.contains(":theirs - ") && text.contains("-A theirs -j DROP"),
        "{text}"
    );

    let mine = spec(Chain::Custom("mine".into()), "mine", &["-p icmp -j ACCEPT"]);
    apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: mine.clone(),
        },
    )
    .expect("custom");
    assert!(held(&mut b, &a, &mine));
}

#[test]
fn ipv6_chains_go_to_ip6tables_and_a_gone_namespace_is_missing() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    let mut s = spec(
        Chain::Builtin(Builtin::Output),
        "NSA-T6",
        &["-p ipv6-icmp -j ACCEPT"],
    );
    s.family = Family::Ipv6;
    apply(
        &mut b,
        Op::SetChain {
            ns: a.netns(),
            chain: s.clone(),
        },
    )
    .expect("set v6");
    assert!(save(&a, "ip6tables-save").contains("NSA-T6"));
    assert!(!save(&a, "iptables-save").contains("NSA-T6"));
    assert!(held(&mut b, &a, &s));
    let gone = Netns::Named(unique("nsa-gone"));
    let snap = b
        .observe_chains(std::slice::from_ref(&gone))
        .expect("observe");
    assert_eq!(snap.missing, vec![gone.clone()]);
    let e = apply(&mut b, Op::SetChain { ns: gone, chain: s }).unwrap_err();
    assert_eq!(e.kind, nsagent_core::ErrorKind::NamespaceGone, "{e}");
}

/// The rules mean what iptables means: a DROP of ICMP in one end's namespace stops a ping
/// across the pair, and removing the chain lets it through again.
#[test]
fn a_drop_rule_stops_traffic_and_its_removal_lets_it_through() {
    let (a, z) = (TestNs::new(), TestNs::new());
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "fa", &z, "fz")).expect("veth");
    for (ns, name, addr) in [(&a, "fa", "10.91.0.1/24"), (&z, "fz", "10.91.0.2/24")] {
        let up = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        apply(
            &mut b,
            Op::SetLink {
                ns: ns.netns(),
                name: name.into(),
                change: up,
            },
        )
        .unwrap();
        apply(
            &mut b,
            Op::AddAddress {
                ns: ns.netns(),
                link: name.into(),
                addr: addr.parse().unwrap(),
            },
        )
        .unwrap();
    }
    let ping = || {
        std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &a.name,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                "10.91.0.2",
            ])
            .output()
            .expect("ping")
            .status
            .success()
    };
    assert!(ping(), "the pair passes traffic before any rule");
    let s = spec(
        Chain::Builtin(Builtin::Input),
        "NSA-TP",
        &["-p icmp -j DROP"],
    );
    apply(
        &mut b,
        Op::SetChain {
            ns: z.netns(),
            chain: s.clone(),
        },
    )
    .expect("drop icmp");
    assert!(!ping(), "ICMP is dropped in the far end's INPUT");
    apply(
        &mut b,
        Op::DeleteChain {
            ns: z.netns(),
            chain: s,
        },
    )
    .expect("delete");
    assert!(ping(), "traffic passes again");
}
