//! iptables rule chains as commands carry them and as observations show them. The agent writes
//! the rules of a rule chain item into a chain it owns whole — the custom chain the item names,
//! or, for a built-in chain, a chain of its own (`NSA-…`) reached from the built-in one by a
//! single jump — and marks the jump and every rule with a comment. So a replace is one atomic
//! write of that chain (iptables-restore without flushing anything else), no rule the agent did
//! not write is ever touched, and an observation tells the agent's rules from everyone else's
//! by their comments alone, without parsing what iptables prints back for a rule.

use serde::{Deserialize, Serialize};

use crate::identity::{AgentIdentity, ALIAS_PREFIX};
use crate::model::{Chain, Family, Policy, RuleChain, Table, OWN_CHAIN_PREFIX};
use crate::netns::Netns;

/// The agent's rules of one rule chain item, as written to the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    pub family: Family,
    pub table: Table,
    /// The chain the item names.
    pub chain: Chain,
    /// The chain the rules are in: the custom chain itself, or the agent's own chain that the
    /// built-in one jumps to.
    pub holder: String,
    /// The built-in chain's policy to set; `None` leaves it.
    pub policy: Option<Policy>,
    pub rules: Vec<String>,
    /// The comment on the jump, and the start of every rule's comment.
    pub mark: String,
}

impl ChainSpec {
    /// What the agent of `identity` writes for rule chain item `c`: the one rule for the name
    /// of the chain it owns and for its mark.
    pub fn of(c: &RuleChain, identity: &AgentIdentity) -> ChainSpec {
        let mark = identity.mark(&c.name);
        let holder = match &c.chain {
            Chain::Custom(name) => name.clone(),
            Chain::Builtin(_) => format!("{OWN_CHAIN_PREFIX}{:08X}", digest(&mark)),
        };
        ChainSpec {
            family: c.family,
            table: c.table,
            chain: c.chain.clone(),
            holder,
            policy: c.default_policy,
            rules: c.rules.clone(),
            mark,
        }
    }

    /// The comment rule `i` carries: the mark, its place, and a digest of its text, so that a
    /// rule replaced or moved by hand reads as not the agent's rule `i` any more.
    pub fn rule_comment(&self, i: usize) -> String {
        format!("{}#{i}.{:08x}", self.mark, digest(&self.rules[i]))
    }

    /// The comment of the rule every holder ends with, `-j RETURN`: a no-op at the end of a
    /// user-defined chain, there so that even a chain of no rules is known as the agent's.
    pub fn end_comment(&self) -> String {
        format!("{}#end", self.mark)
    }

    /// Whether `comment` is this spec's: its mark on a jump, or on one of its rules.
    pub fn marks(&self, comment: Option<&str>) -> bool {
        comment.is_some_and(|c| {
            c == self.mark
                || c.strip_prefix(self.mark.as_str())
                    .is_some_and(|rest| rest.starts_with('#'))
        })
    }

    /// Whether the chain observed under the holder's name may be written over or removed: the
    /// agent's own chain for a built-in chain's rules (its name says so), or a custom chain
    /// that is empty or holds a rule of this item's. Never a built-in chain, never a chain of
    /// someone else's rules.
    pub fn may_take(&self, chain: &ObservedChain) -> bool {
        if chain.policy.is_some() {
            return false;
        }
        if self.jump_from().is_some() && self.holder.starts_with(OWN_CHAIN_PREFIX) {
            return true;
        }
        (chain.rules.is_empty() && chain.others == 0)
            || chain.rules.iter().any(|r| self.marks(r.comment.as_deref()))
    }

    /// The built-in chain that jumps to the holder, for a built-in chain.
    pub fn jump_from(&self) -> Option<&str> {
        match &self.chain {
            Chain::Builtin(b) => Some(b.name()),
            Chain::Custom(_) => None,
        }
    }

    /// Whether the observed tables hold exactly this: the holder with exactly these rules in
    /// order (no other rule in it), one jump from the built-in chain, and the policy.
    pub fn held_in(&self, tables: &[ObservedTable]) -> bool {
        let Some(t) = tables
            .iter()
            .find(|t| t.family == self.family && t.table == self.table)
        else {
            return false;
        };
        let Some(holder) = t.chains.iter().find(|c| c.name == self.holder) else {
            return false;
        };
        let n = self.rules.len();
        let ends = holder.rules.get(n).is_some_and(|r| {
            r.comment.as_deref() == Some(self.end_comment().as_str())
                && r.target.as_deref() == Some("RETURN")
        });
        let rules_ok = holder.others == 0
            && holder.rules.len() == n + 1
            && ends
            && holder.rules[..n]
                .iter()
                .enumerate()
                .all(|(i, r)| r.comment.as_deref() == Some(self.rule_comment(i).as_str()));
        if !rules_ok {
            return false;
        }
        let Some(from) = self.jump_from() else {
            return true;
        };
        let Some(builtin) = t.chains.iter().find(|c| c.name == from) else {
            return false;
        };
        let jumps = builtin
            .rules
            .iter()
            .filter(|r| r.comment.as_deref() == Some(self.mark.as_str()))
            .count();
        let policy_ok = self
            .policy
            .is_none_or(|p| builtin.policy.as_deref() == Some(p.name()));
        jumps == 1
            && policy_ok
            && builtin
                .rules
                .iter()
                .any(|r| r.target.as_deref() == Some(&self.holder))
    }
}

/// A rule's words as iptables splits them: on whitespace outside double quotes, a backslash
/// inside quotes escaping the next character. Unclosed quotes are an error. One tokenizer for
/// the rule strings users write and for the rules `iptables-save` prints back.
pub fn rule_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for c in text.chars() {
        if escaped {
            word.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err("a double quote is not closed".into());
    }
    if any {
        words.push(word);
    }
    Ok(words)
}

/// FNV-1a, 32 bits: stable across builds and machines, which is all a rule's digest needs.
pub fn digest(text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// One iptables table of one family as observed in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTable {
    pub family: Family,
    pub table: Table,
    pub chains: Vec<ObservedChain>,
}

/// One chain as a look reports it: the rules some agent marked, and how many others there are.
/// A host's own firewall can be large (thousands of rules), and every look is logged, so the
/// rules nobody marked are only counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedChain {
    pub name: String,
    /// A built-in chain's policy (`ACCEPT`, `DROP`); `None` for a user-defined chain.
    pub policy: Option<String>,
    /// The rules whose comment is an agent's mark (`nsagent:...`), in order.
    pub rules: Vec<ObservedRule>,
    /// Rules without such a mark.
    #[serde(default)]
    pub others: u32,
}

impl ObservedChain {
    pub fn new(name: impl Into<String>, policy: Option<String>) -> ObservedChain {
        ObservedChain {
            name: name.into(),
            policy,
            rules: vec![],
            others: 0,
        }
    }

    /// Takes one rule as read, in order: kept if an agent marked it, else counted.
    pub fn push(&mut self, rule: ObservedRule) {
        if rule
            .comment
            .as_deref()
            .is_some_and(|c| c.starts_with(ALIAS_PREFIX))
        {
            self.rules.push(rule);
        } else {
            self.others += 1;
        }
    }

    /// Whether a look needs to report it: a built-in chain (for its policy and jumps) or a
    /// chain holding an agent's rule (every chain the agent writes ends with one). A chain of
    /// nobody's rules is someone else's whole, and left out.
    pub fn worth_reporting(&self) -> bool {
        self.policy.is_some() || !self.rules.is_empty()
    }
}

/// What the agent reads of a rule: its comment, and where it jumps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedRule {
    pub comment: Option<String>,
    /// The `-j` or `-g` target.
    pub target: Option<String>,
    /// The rule as iptables prints it, for people (`nsagentctl dump`).
    pub text: String,
}

/// The iptables tables of some namespaces, as one look saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSnapshot {
    pub namespaces: Vec<(Netns, Vec<ObservedTable>)>,
    /// Namespaces asked for that are gone.
    pub missing: Vec<Netns>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Builtin;

    fn spec() -> ChainSpec {
        ChainSpec {
            family: Family::Ipv4,
            table: Table::Filter,
            chain: Chain::Builtin(Builtin::Input),
            holder: "NSA-0000abcd".into(),
            policy: Some(Policy::Drop),
            rules: vec!["-i eth0 -j ACCEPT".into(), "-p icmp -j ACCEPT".into()],
            mark: "nsagent:a/1:web".into(),
        }
    }

    fn rule(comment: Option<String>, target: &str) -> ObservedRule {
        ObservedRule {
            comment,
            target: Some(target.into()),
            text: String::new(),
        }
    }

    fn table(s: &ChainSpec, policy: &str, extra_in_holder: bool) -> Vec<ObservedTable> {
        let mut held: Vec<ObservedRule> = (0..s.rules.len())
            .map(|i| rule(Some(s.rule_comment(i)), "ACCEPT"))
            .collect();
        held.push(rule(Some(s.end_comment()), "RETURN"));
        let mut holder = ObservedChain::new(s.holder.clone(), None);
        for r in held.drain(..) {
            holder.push(r);
        }
        if extra_in_holder {
            holder.push(rule(None, "DROP"));
        }
        let held = holder.rules;
        let extra = holder.others;
        vec![ObservedTable {
            family: Family::Ipv4,
            table: Table::Filter,
            chains: vec![
                ObservedChain {
                    name: "INPUT".into(),
                    policy: Some(policy.into()),
                    rules: vec![rule(Some(s.mark.clone()), &s.holder)],
                    others: 1,
                },
                ObservedChain {
                    name: s.holder.clone(),
                    policy: None,
                    rules: held,
                    others: extra,
                },
            ],
        }]
    }

    #[test]
    fn a_spec_is_held_only_as_written() {
        let s = spec();
        assert!(s.held_in(&table(&s, "DROP", false)));
        assert!(!s.held_in(&table(&s, "ACCEPT", false)), "policy changed");
        assert!(!s.held_in(&table(&s, "DROP", true)), "a rule added by hand");
        let mut other = s.clone();
        other.rules[1] = "-p tcp -j ACCEPT".into();
        assert!(!other.held_in(&table(&s, "DROP", false)), "a rule changed");
        assert!(!s.held_in(&[]), "nothing there");
    }

    #[test]
    fn a_chain_is_taken_only_if_it_is_the_agents() {
        let s = spec();
        let chain = |rules: Vec<ObservedRule>, policy: Option<&str>| {
            let mut c = ObservedChain::new(s.holder.clone(), policy.map(str::to_string));
            for r in rules {
                c.push(r);
            }
            c
        };
        assert!(
            s.may_take(&chain(vec![rule(None, "DROP")], None)),
            "its own NSA- chain"
        );
        assert!(
            !s.may_take(&chain(vec![], Some("ACCEPT"))),
            "a built-in chain"
        );
        let mut custom = s.clone();
        custom.chain = Chain::Custom("web".into());
        custom.holder = "web".into();
        assert!(custom.may_take(&chain(vec![], None)));
        assert!(!custom.may_take(&chain(vec![rule(None, "DROP")], None)));
        let ours = rule(Some(custom.rule_comment(0)), "ACCEPT");
        assert!(custom.may_take(&chain(vec![ours, rule(None, "DROP")], None)));
        assert!(
            !custom.marks(Some("nsagent:a/1:web2#0.1")),
            "another item's mark"
        );
    }

    #[test]
    fn a_rule_comment_names_its_place_and_text() {
        let s = spec();
        assert_eq!(
            s.rule_comment(0),
            format!("nsagent:a/1:web#0.{:08x}", digest("-i eth0 -j ACCEPT"))
        );
        assert_ne!(s.rule_comment(0), s.rule_comment(1));
    }
}
