//! A namespace's iptables tables, as far as the agent can tell them apart: chains with their
//! policy and rules, each rule a comment, a target and its text. The rules the agent writes
//! follow `nsagent_core::ChainSpec` exactly as the netlink backend writes them with
//! iptables-restore, and with the same refusals, so the simulation exercises the core's
//! chain rules against the same outcomes.

use std::collections::BTreeMap;

use nsagent_core::{
    errno, Builtin, ChainSpec, Family, ObservedChain, ObservedRule, ObservedTable, Table,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SimChain {
    /// Built-in chains have one; user-defined chains do not.
    pub(crate) policy: Option<String>,
    pub(crate) rules: Vec<ObservedRule>,
}

/// The tables of one namespace. Built-in chains exist (ACCEPT) from the first look on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tables {
    tables: BTreeMap<(Family, Table), BTreeMap<String, SimChain>>,
}

const BUILTIN: [Builtin; 5] = [
    Builtin::Prerouting,
    Builtin::Input,
    Builtin::Forward,
    Builtin::Output,
    Builtin::Postrouting,
];

fn builtin_of(table: Table) -> Vec<&'static str> {
    let has = |b: Builtin| match table {
        Table::Filter | Table::Security => {
            matches!(b, Builtin::Input | Builtin::Forward | Builtin::Output)
        }
        Table::Nat => b != Builtin::Forward,
        Table::Mangle => true,
        Table::Raw => matches!(b, Builtin::Prerouting | Builtin::Output),
    };
    BUILTIN
        .into_iter()
        .filter(|b| has(*b))
        .map(|b| b.name())
        .collect()
}

/// A rule refused as iptables-restore would refuse it: the sim's stand-in for a match or
/// target iptables does not know.
pub const BAD_RULE_WORD: &str = "--no-such-option";

impl Tables {
    fn table(&mut self, family: Family, table: Table) -> &mut BTreeMap<String, SimChain> {
        self.tables.entry((family, table)).or_insert_with(|| {
            builtin_of(table)
                .into_iter()
                .map(|b| {
                    let chain = SimChain {
                        policy: Some("ACCEPT".into()),
                        rules: vec![],
                    };
                    (b.to_string(), chain)
                })
                .collect()
        })
    }

    /// `Op::SetChain`, all or nothing.
    pub(crate) fn set(&mut self, spec: &ChainSpec) -> Result<(), (i32, String)> {
        if let Some(i) = spec.rules.iter().position(|r| r.contains(BAD_RULE_WORD)) {
            return Err((
                errno::EINVAL,
                format!(
                    "rules[{i}] ('{}'): unknown option \"{BAD_RULE_WORD}\"",
                    spec.rules[i]
                ),
            ));
        }
        let t = self.table(spec.family, spec.table);
        if let Some(holder) = t.get(&spec.holder) {
            if !spec.may_take(&observed(&spec.holder, holder)) {
                return Err((
                    errno::EEXIST,
                    format!(
                        "chain {} exists with rules nsagent did not write",
                        spec.holder
                    ),
                ));
            }
        }
        let mut rules: Vec<ObservedRule> = (0..spec.rules.len())
            .map(|i| ObservedRule {
                comment: Some(spec.rule_comment(i)),
                target: last_target(&spec.rules[i]),
                text: spec.rules[i].clone(),
            })
            .collect();
        rules.push(ObservedRule {
            comment: Some(spec.end_comment()),
            target: Some("RETURN".into()),
            text: "-j RETURN".into(),
        });
        t.insert(
            spec.holder.clone(),
            SimChain {
                policy: None,
                rules,
            },
        );
        if let Some(from) = spec.jump_from() {
            let builtin = t.entry(from.to_string()).or_default();
            let jumps = builtin
                .rules
                .iter()
                .any(|r| r.comment.as_deref() == Some(spec.mark.as_str()));
            if !jumps {
                builtin.rules.push(ObservedRule {
                    comment: Some(spec.mark.clone()),
                    target: Some(spec.holder.clone()),
                    text: format!("-j {}", spec.holder),
                });
            }
            if let Some(p) = spec.policy {
                builtin.policy = Some(p.name().to_string());
            }
        }
        Ok(())
    }

    /// `Op::DeleteChain`: what the mark marks goes; nothing there is no error.
    pub(crate) fn delete(&mut self, spec: &ChainSpec) {
        let t = self.table(spec.family, spec.table);
        for chain in t.values_mut() {
            chain.rules.retain(|r| {
                !(r.comment.as_deref() == Some(spec.mark.as_str())
                    && r.target.as_deref() == Some(spec.holder.as_str()))
            });
        }
        if let (Some(from), Some(_)) = (spec.jump_from(), spec.policy) {
            if let Some(b) = t.get_mut(from) {
                b.policy = Some("ACCEPT".into());
            }
        }
        let ours = t
            .get(&spec.holder)
            .is_some_and(|h| spec.may_take(&observed(&spec.holder, h)));
        if ours {
            t.remove(&spec.holder);
        }
    }

    /// A hand adds a rule of nobody's to a chain (made if missing).
    pub fn add_foreign(&mut self, family: Family, table: Table, chain: &str, text: &str) {
        let c = self
            .table(family, table)
            .entry(chain.to_string())
            .or_default();
        c.rules.push(ObservedRule {
            comment: None,
            target: last_target(text),
            text: text.to_string(),
        });
    }

    /// A hand deletes the rule at `index` of `chain`.
    pub fn remove_rule(&mut self, family: Family, table: Table, chain: &str, index: usize) -> bool {
        match self.table(family, table).get_mut(chain) {
            Some(c) if index < c.rules.len() => {
                c.rules.remove(index);
                true
            }
            _ => false,
        }
    }

    /// What `observe_chains` reports: as the netlink backend reports it, the rules nobody
    /// marked only counted, chains of nobody's rules left out.
    pub(crate) fn observe(&self) -> Vec<ObservedTable> {
        self.view(|name, c| Some(observed(name, c)).filter(ObservedChain::worth_reporting))
    }

    /// Every chain with every rule, as `iptables-save` prints them: a harness's view.
    pub(crate) fn all(&self) -> Vec<ObservedTable> {
        self.view(|name, c| {
            Some(ObservedChain {
                name: name.to_string(),
                policy: c.policy.clone(),
                rules: c.rules.clone(),
                others: 0,
            })
        })
    }

    fn view(&self, chain: impl Fn(&str, &SimChain) -> Option<ObservedChain>) -> Vec<ObservedTable> {
        self.tables
            .iter()
            .map(|((family, table), chains)| ObservedTable {
                family: *family,
                table: *table,
                chains: chains.iter().filter_map(|(n, c)| chain(n, c)).collect(),
            })
            .collect()
    }
}

fn observed(name: &str, c: &SimChain) -> ObservedChain {
    let mut chain = ObservedChain::new(name, c.policy.clone());
    for r in &c.rules {
        chain.push(r.clone());
    }
    chain
}

/// The `-j`/`-g` target of a rule's text, as iptables reads it.
fn last_target(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .rev()
        .find(|w| w[0] == "-j" || w[0] == "-g" || w[0] == "--jump" || w[0] == "--goto")
        .map(|w| w[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsagent_core::{Chain, Policy};

    fn spec(rules: &[&str]) -> ChainSpec {
        ChainSpec {
            family: Family::Ipv4,
            table: Table::Filter,
            chain: Chain::Builtin(Builtin::Input),
            holder: "NSA-00000001".into(),
            policy: Some(Policy::Drop),
            rules: rules.iter().map(|r| r.to_string()).collect(),
            mark: "nsagent:t/0000000000000001:fw".into(),
        }
    }

    #[test]
    fn a_spec_written_is_held_and_leaves_other_rules_alone() {
        let mut t = Tables::default();
        t.add_foreign(Family::Ipv4, Table::Filter, "INPUT", "-i lo -j ACCEPT");
        let s = spec(&["-p icmp -j ACCEPT"]);
        t.set(&s).unwrap();
        t.set(&s).unwrap();
        assert!(s.held_in(&t.observe()));
        let input = &t.table(Family::Ipv4, Table::Filter)["INPUT"];
        assert_eq!(input.rules.len(), 2, "one jump, the foreign rule kept");
        t.delete(&s);
        assert!(!s.held_in(&t.observe()));
        let input = &t.table(Family::Ipv4, Table::Filter)["INPUT"];
        assert_eq!(input.rules.len(), 1);
        assert_eq!(input.policy.as_deref(), Some("ACCEPT"));
    }

    #[test]
    fn someone_elses_chain_and_a_bad_rule_are_refused() {
        let mut t = Tables::default();
        let mut s = spec(&["-j ACCEPT"]);
        s.chain = Chain::Custom("web".into());
        s.holder = "web".into();
        s.policy = None;
        t.add_foreign(Family::Ipv4, Table::Filter, "web", "-j DROP");
        assert_eq!(t.set(&s).unwrap_err().0, errno::EEXIST);
        let bad = spec(&["-j ACCEPT", "--no-such-option 1 -j DROP"]);
        let e = t.set(&bad).unwrap_err();
        assert_eq!(e.0, errno::EINVAL);
        assert!(e.1.starts_with("rules[1]"), "{}", e.1);
    }
}
