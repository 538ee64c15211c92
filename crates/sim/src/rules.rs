//! A simulated namespace's routing policy database, as Linux 6.18 keeps it (measured with `ip
//! rule` and raw netlink in namespaces of the probe's own: `docs/measurements/rules-6.18.md`;
//! `crates/netlink-backend/tests/rules.rs` holds the sim to the kernel):
//!
//! - a new namespace has the kernel's rules (protocol kernel): IPv4 0 local, 32766 main, 32767
//!   default; IPv6 0 local, 32766 main;
//! - rules are listed by priority, and within one priority in the order they were added;
//! - adding a rule the database holds already is EEXIST (`ip rule add` asks for exclusivity).
//!   The kernel compares a source or destination only when the new rule has one, so a rule
//!   without a source is "there already" beside one with a source, but not the other way;
//!   every other field (priority, action, table, interfaces, mark and mask, protocol) must be
//!   equal;
//! - deleting matches each field the request gives (all of them, for the agent's requests),
//!   and takes the first rule in list order that matches; none is ENOENT.

use nsagent_core::errno::{EEXIST, ENOENT};
use nsagent_core::{Family, Netns, RuleAction, RuleSpec, ROUTE_PROTOCOL};

use crate::kernel::{refuse, Outcome, SimKernel};

/// `RTPROT_KERNEL`: the protocol of the rules a namespace starts with.
const KERNEL_PROTOCOL: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRule {
    pub(crate) spec: RuleSpec,
    pub(crate) protocol: u8,
}

/// Both families' rules of one namespace, in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleTable {
    rules: Vec<StoredRule>,
}

fn kernel_rule(family: Family, priority: u32, table: u32) -> StoredRule {
    StoredRule {
        spec: RuleSpec {
            family,
            priority,
            src: None,
            dst: None,
            iif: None,
            oif: None,
            fwmark: None,
            action: RuleAction::Lookup(table),
        },
        protocol: KERNEL_PROTOCOL,
    }
}

impl Default for RuleTable {
    fn default() -> Self {
        RuleTable {
            rules: vec![
                kernel_rule(Family::Ipv4, 0, 255),
                kernel_rule(Family::Ipv4, 32766, 254),
                kernel_rule(Family::Ipv4, 32767, 253),
                kernel_rule(Family::Ipv6, 0, 255),
                kernel_rule(Family::Ipv6, 32766, 254),
            ],
        }
    }
}

/// Whether `new` is a rule the kernel takes `old` for when adding (see the module's doc).
fn same_on_add(old: &StoredRule, new: &StoredRule) -> bool {
    let (o, n) = (&old.spec, &new.spec);
    o.family == n.family
        && o.priority == n.priority
        && o.action == n.action
        && o.iif == n.iif
        && o.oif == n.oif
        && o.fwmark == n.fwmark
        && old.protocol == new.protocol
        && (n.src.is_none() || o.src == n.src)
        && (n.dst.is_none() || o.dst == n.dst)
}

/// Whether a delete request for `asked` takes `old`: every field it gives must match.
fn matches_delete(old: &StoredRule, asked: &RuleSpec, protocol: u8) -> bool {
    let o = &old.spec;
    let given = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
    o.family == asked.family
        && o.priority == asked.priority
        && o.action.fr_action() == asked.action.fr_action()
        && (asked.action.table().is_none() || o.action.table() == asked.action.table())
        && given(&asked.iif, &o.iif)
        && given(&asked.oif, &o.oif)
        && (asked.fwmark.is_none() || o.fwmark == asked.fwmark)
        && (asked.src.is_none() || o.src == asked.src)
        && (asked.dst.is_none() || o.dst == asked.dst)
        && old.protocol == protocol
}

impl RuleTable {
    pub(crate) fn add(&mut self, rule: StoredRule) -> Outcome {
        if self.rules.iter().any(|old| same_on_add(old, &rule)) {
            return Err(refuse(EEXIST, format!("rule {} exists", rule.spec)));
        }
        let at = self
            .rules
            .iter()
            .position(|r| r.spec.priority > rule.spec.priority)
            .unwrap_or(self.rules.len());
        self.rules.insert(at, rule);
        Ok(())
    }

    pub(crate) fn delete(&mut self, asked: &RuleSpec, protocol: u8) -> Outcome {
        match self
            .rules
            .iter()
            .position(|r| matches_delete(r, asked, protocol))
        {
            Some(at) => {
                self.rules.remove(at);
                Ok(())
            }
            None => Err(refuse(ENOENT, format!("no rule {asked}"))),
        }
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &StoredRule> {
        self.rules.iter()
    }
}

impl SimKernel {
    pub(crate) fn add_rule(&mut self, ns: &Netns, rule: &RuleSpec) -> Outcome {
        self.namespace_mut(ns)?.rules.add(StoredRule {
            spec: rule.clone(),
            protocol: ROUTE_PROTOCOL,
        })
    }

    pub(crate) fn del_rule(&mut self, ns: &Netns, rule: &RuleSpec) -> Outcome {
        self.namespace_mut(ns)?.rules.delete(rule, ROUTE_PROTOCOL)
    }

    /// Places a rule someone else made (`ip rule add`, protocol 0 when it names none, or a
    /// routing daemon's).
    pub fn seed_rule(&mut self, ns: &Netns, rule: RuleSpec, protocol: u8) -> Result<(), String> {
        let namespace = self
            .namespace_mut(ns)
            .map_err(|_| format!("no namespace {ns}"))?;
        namespace
            .rules
            .add(StoredRule {
                spec: rule,
                protocol,
            })
            .map_err(|_| "the rule is there already".to_string())
    }

    /// Every rule of the namespace in list order, with its protocol (`None`: no namespace).
    pub fn rules(&self, ns: &Netns) -> Option<Vec<(RuleSpec, u8)>> {
        let namespace = self.namespace(ns).ok()?;
        Some(
            namespace
                .rules
                .all()
                .map(|r| (r.spec.clone(), r.protocol))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, src: Option<&str>, table: u32) -> StoredRule {
        let mut r = kernel_rule(Family::Ipv4, priority, table);
        r.spec.src = src.map(|s| s.parse().unwrap());
        r.protocol = ROUTE_PROTOCOL;
        r
    }

    #[test]
    fn a_rule_without_a_source_is_there_beside_one_with_but_not_the_other_way() {
        let mut t = RuleTable::default();
        t.add(rule(100, Some("10.0.0.0/8"), 100)).unwrap();
        assert!(matches!(
            t.add(rule(100, None, 100)),
            Err(crate::kernel::Refusal::Errno(EEXIST, _))
        ));
        let mut t = RuleTable::default();
        t.add(rule(100, None, 100)).unwrap();
        t.add(rule(100, Some("10.0.0.0/8"), 100)).unwrap();
        let mut other = rule(100, None, 100);
        other.protocol = 0;
        t.add(other).unwrap();
        assert_eq!(t.all().filter(|r| r.spec.priority == 100).count(), 3);
    }

    #[test]
    fn rules_keep_priority_order_then_age_and_delete_takes_the_first_match() {
        let mut t = RuleTable::default();
        t.add(rule(32766, Some("10.1.0.0/16"), 7)).unwrap();
        t.add(rule(5, None, 9)).unwrap();
        let order: Vec<(u32, Option<u32>)> = t
            .all()
            .map(|r| (r.spec.priority, r.spec.action.table()))
            .collect();
        assert_eq!(
            order[..5],
            [
                (0, Some(255)),
                (5, Some(9)),
                (32766, Some(254)),
                (32766, Some(7)),
                (32767, Some(253))
            ]
        );
        // No source in the request matches any source: the kernel's main rule goes first.
        let asked = rule(32766, None, 254).spec;
        assert!(t.delete(&asked, KERNEL_PROTOCOL).is_ok());
        assert!(matches!(
            t.delete(&asked, KERNEL_PROTOCOL),
            Err(crate::kernel::Refusal::Errno(ENOENT, _))
        ));
        // The protocol must match.
        assert!(t.delete(&rule(5, None, 9).spec, 0).is_err());
        assert!(t.delete(&rule(5, None, 9).spec, ROUTE_PROTOCOL).is_ok());
    }
}
