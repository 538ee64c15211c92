//! Policy rule items: each is one kernel rule in its namespace's routing policy database,
//! marked with the agent's route protocol. The kernel knows a rule by all of it and has no
//! replace, so a changed rule is removed and added again (removed first: adding first could
//! meet the kernel's EEXIST for a rule that differs only in a source the old one sets).
//!
//! Rules of one namespace and family are told apart by priority: an item whose priority an
//! older item holds waits (`PriorityTaken`), as the kernel orders rules of one priority by
//! when they were added, which the agent cannot keep across re-adding them. That also makes a
//! rule with the agent's protocol at an item's priority that item's: resync adopts it, or
//! removes it when the item holds another; a rule at a priority no item holds is left alone
//! (the protocol alone does not say it is this agent's: a routing daemon may use it too).
//!
//! Interfaces are named by their items and written by their link names: the kernel attaches a
//! rule to a link by name whenever one of that name is there, so a rule does not wait for the
//! link, only for the item, and follows its `host_if_name`.
//!
//! Driven like every item: `reconcile_policy_rule` from the dirty queue, results through
//! `flight.rs` and `effects.rs`, beliefs corrected by `resync_rules` on each observation.

use crate::command::{Op, RuleSpec};
use crate::model::{Item, PolicyRule};
use crate::netns::Netns;
use crate::status::{ItemState, PendingReason};

use super::dirty::Resource;
use super::index::ids_in;
use super::seen::Seen;
use super::state::{Actual, ItemId, Owner, RuleActual};
use super::Core;

impl RuleSpec {
    /// The place the rule takes in its namespace: one item's per family and priority.
    pub(super) fn place(&self, ns: &Netns) -> Resource {
        Resource::Rule(ns.clone(), self.family, self.priority)
    }
}

impl Core {
    fn desired_rule(&self, id: ItemId) -> Option<PolicyRule> {
        match self.slot(id).desired.as_deref() {
            Some(Item::PolicyRule(r)) => Some(r.clone()),
            _ => None,
        }
    }

    /// The namespace and kernel form of rule item `id`, or why it cannot be added yet.
    fn rule_target(
        &mut self,
        id: ItemId,
        r: &PolicyRule,
    ) -> Result<RuleActual, Vec<PendingReason>> {
        self.ensure_named_namespace(&r.namespace);
        let mut reasons = Vec::new();
        let ns = self.resolve(&r.namespace).map_err(|e| reasons.push(e)).ok();
        let link_of = |name: &str, reasons: &mut Vec<PendingReason>| {
            let Some(i) = self
                .interface_slot(name)
                .and_then(|(iid, _)| self.desired_interface(iid))
            else {
                reasons.push(PendingReason::InterfaceNotConfigured(name.to_string()));
                return None;
            };
            match (self.resolve(&i.namespace), &ns) {
                (Ok(at), Some(ns)) if at == *ns => Some(i.host_if_name.clone()),
                (Ok(_), Some(_)) => {
                    reasons.push(PendingReason::InterfaceInAnotherNamespace(name.to_string()));
                    None
                }
                // Where the interface will be is not known yet: its own reason says why.
                _ => {
                    reasons.push(PendingReason::InterfaceNotReady(name.to_string()));
                    None
                }
            }
        };
        let iif = r
            .incoming_interface
            .as_deref()
            .and_then(|n| link_of(n, &mut reasons));
        let oif = r
            .outgoing_interface
            .as_deref()
            .and_then(|n| link_of(n, &mut reasons));
        if let Some(by) = self.priority_taken_by(id, r) {
            reasons.push(PendingReason::PriorityTaken {
                priority: r.priority,
                by,
            });
        }
        match ns {
            Some(ns) if reasons.is_empty() => Ok(RuleActual {
                ns,
                rule: RuleSpec {
                    family: r.family,
                    priority: r.priority,
                    src: r.src_network,
                    dst: r.dst_network,
                    iif,
                    oif,
                    fwmark: r.fwmark,
                    action: r.action,
                },
            }),
            _ => Err(reasons),
        }
    }

    /// The older rule item (first put) at the same priority and family in the same
    /// namespace (named by the same reference, or by another that resolves to it: a pid
    /// living there), if there is one.
    fn priority_taken_by(&self, id: ItemId, r: &PolicyRule) -> Option<String> {
        let me = (self.slot(id).born, &self.slot(id).key);
        let here = self.resolve(&r.namespace).ok();
        self.ix
            .policy_rules
            .iter()
            .filter(|o| **o != id)
            .filter_map(|&o| {
                let s = self.slot(o);
                match s.desired.as_deref() {
                    Some(Item::PolicyRule(other))
                        if other.family == r.family
                            && other.priority == r.priority
                            && (s.born, &s.key) < me
                            && (other.namespace == r.namespace
                                || here.is_some()
                                    && self.resolve(&other.namespace).ok() == here) =>
                    {
                        Some(other.name.clone())
                    }
                    _ => None,
                }
            })
            .min()
    }

    /// One step towards the rule the item wants: remove what it holds if that is not it, then
    /// add it.
    pub(super) fn reconcile_policy_rule(&mut self, id: ItemId) {
        let owner = Owner::Item { id, peer: None };
        let actual = match &self.slot(id).actual {
            Actual::Rule(a) => Some(a.clone()),
            _ => None,
        };
        let Some(r) = self.desired_rule(id) else {
            return match actual {
                Some(a) => {
                    self.issue(
                        Op::DelRule {
                            ns: a.ns,
                            rule: a.rule,
                        },
                        owner,
                    );
                    self.set_state(id, ItemState::Removing)
                }
                None => self.free_slot(id),
            };
        };
        let target = self.rule_target(id, &r);
        match (target, actual) {
            (Ok(want), Some(a)) if want == a => self.set_state(id, ItemState::Applied),
            (target, Some(a)) => {
                self.issue(
                    Op::DelRule {
                        ns: a.ns,
                        rule: a.rule,
                    },
                    owner,
                );
                let state = match target {
                    Err(reasons) => ItemState::Pending { reasons },
                    Ok(_) => ItemState::InProgress,
                };
                self.set_state(id, state)
            }
            (Err(reasons), None) => self.set_state(id, ItemState::Pending { reasons }),
            (Ok(want), None) => {
                let place = want.rule.place(&want.ns);
                // Another item's rule still there (an item gone elsewhere, its removal on its
                // way or to be retried), or being added: this one waits for it to go, lest the
                // kernel take the two for one (EEXIST) or a removal take the wrong one.
                if self.place_held_by_another(id, &want.ns, &want.rule) {
                    self.wait_for(place, id);
                    return self.set_state(id, ItemState::InProgress);
                }
                if self.blocked_by_stale(place, id) {
                    return self.set_state(id, ItemState::InProgress);
                }
                let op = Op::AddRule {
                    ns: want.ns,
                    rule: want.rule,
                };
                self.issue(op, owner);
                self.set_state(id, ItemState::InProgress)
            }
        }
    }

    /// Resync's step for rules: beliefs the snapshot no longer shows are forgotten (the rule
    /// is added again), and a rule with the agent's protocol at a priority an item holds is
    /// adopted by that item if it holds none and is idle, or else removed as stale.
    pub(super) fn resync_rules(&mut self, seen: &Seen) {
        let ns = &seen.obs.ns;
        let mut claimed = vec![false; seen.obs.rules.len()];
        for id in ids_in(self.ix.actual_in.get(ns)) {
            let Actual::Rule(a) = &self.slot(id).actual else {
                continue;
            };
            let at = seen.obs.rules.iter().position(|r| *r == a.rule);
            if let Some(i) = at {
                claimed[i] = true;
            } else if self.slot(id).in_flight.is_none() {
                self.set_actual(id, Actual::None);
            }
        }
        for (i, rule) in seen.obs.rules.iter().enumerate() {
            if claimed[i] || self.rule_in_flight(ns, rule) {
                continue;
            }
            let Some(holder) = self.rule_item_at(ns, rule) else {
                continue;
            };
            let key = self.slot(holder).key.clone();
            let place = rule.place(ns);
            match self.adoptable(&key) {
                Some(_) if !self.take_back_from_stale(&place) => {}
                Some(id) => {
                    let a = RuleActual {
                        ns: ns.clone(),
                        rule: rule.clone(),
                    };
                    self.set_actual(id, Actual::Rule(a))
                }
                None => self.queue_stale_removal(
                    Op::DelRule {
                        ns: ns.clone(),
                        rule: rule.clone(),
                    },
                    None,
                    None,
                ),
            }
        }
    }

    /// The item (wanting a rule) whose priority and family this rule in `ns` has.
    fn rule_item_at(&self, ns: &Netns, rule: &RuleSpec) -> Option<ItemId> {
        self.ix.policy_rules.iter().copied().find(|&o| {
            let Some(Item::PolicyRule(p)) = self.slot(o).desired.as_deref() else {
                return false;
            };
            p.family == rule.family
                && p.priority == rule.priority
                && self.resolve(&p.namespace).as_ref() == Ok(ns)
                && self.priority_taken_by(o, p).is_none()
        })
    }

    /// Whether another item holds a rule at this one's place in `ns`, or is adding one there.
    fn place_held_by_another(&self, id: ItemId, ns: &Netns, rule: &RuleSpec) -> bool {
        let place = rule.place(ns);
        self.rule_in_flight(ns, rule) || self.ix.policy_rules.iter().any(|&o| {
            o != id
                && matches!(&self.slot(o).actual, Actual::Rule(a) if a.rule.place(&a.ns) == place)
        })
    }

    /// Whether a command adding or removing a rule at this one's place in `ns` is on its way:
    /// the snapshot may predate its result.
    fn rule_in_flight(&self, ns: &Netns, rule: &RuleSpec) -> bool {
        let place = rule.place(ns);
        self.s.in_flight.values().any(|f| match &f.op {
            Op::AddRule { ns, rule } | Op::DelRule { ns, rule } => rule.place(ns) == place,
            _ => false,
        })
    }
}
