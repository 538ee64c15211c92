//! Policy rules in the simulation (feature `policy-rules`): `pr0`..`pr2`, in any namespace, at
//! priorities 100 to 102 (so that items contest a place), IPv4 or IPv6, with sources,
//! destinations, interfaces (by item: `v0`..`v3`, which may be elsewhere or absent), marks
//! and any action. Someone else's rules are there from the start in the default namespace: one
//! without a protocol, and one with the agent's at a priority no item takes.
//!
//! Checked whenever the core is quiet, from the rules and not from the core: at a place
//! (namespace, family, priority) one item wants, the agent's rules are exactly that item's
//! kernel form when its namespace and interfaces are there, else none; at a place several
//! items want, at most one, and one of theirs (the oldest wins, and the oracle does not model
//! age); elsewhere none but those the kernel held when the agent last lost its state (a rule
//! left by an item deleted meanwhile is no one's the agent can tell) and the seeded one. Such
//! a leftover may also stand beside an item's rule at its place until the agent next looks.

use std::collections::{BTreeMap, BTreeSet};

use nsagent_core::{
    Family, Item, ItemKey, Netns, PolicyRule, RuleAction, RuleSpec, ROUTE_PROTOCOL,
};
use serde_json::json;

use super::swarm::Feature;
use super::workload::iface_name;
use super::{Violation, World};

/// Someone else's rules in the default namespace: (priority, protocol).
const FOREIGN: [(u32, u8); 2] = [(50, 0), (60, ROUTE_PROTOCOL)];

fn foreign_rule(priority: u32) -> RuleSpec {
    RuleSpec {
        family: Family::Ipv4,
        priority,
        src: Some("10.77.0.0/16".parse().expect("a network")),
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        action: RuleAction::Lookup(priority),
    }
}

/// A place in a namespace's policy database.
type Place = (Netns, Family, u32);

impl World {
    /// Someone else's rules, there before the agent starts; the one with the agent's
    /// protocol counts as a leftover the agent may not touch.
    pub(super) fn seed_foreign_policy_rules(&mut self) {
        for (priority, protocol) in FOREIGN {
            self.kernel
                .seed_rule(&Netns::Default, foreign_rule(priority), protocol)
                .expect("the default namespace is there");
        }
        self.rule_leftovers
            .insert((Netns::Default, foreign_rule(60)));
    }

    /// The agent lost its state: whatever rules of its protocol the kernel holds now may be
    /// left no one's.
    pub(super) fn note_rule_leftovers(&mut self) {
        for ns in self.kernel.namespaces() {
            for (rule, protocol) in self.kernel.rules(&ns).unwrap_or_default() {
                if protocol == ROUTE_PROTOCOL {
                    self.rule_leftovers.insert((ns.clone(), rule));
                }
            }
        }
    }

    /// Puts or deletes one of the rule items.
    pub(super) fn policy_rule_step(&mut self) {
        let name = format!("pr{}", self.rng.below(3));
        let key = ItemKey::PolicyRule(name.clone());
        if self.desired.contains_key(&key) && self.on(Feature::Deletes) && self.rng.chance(30) {
            return self.delete(key);
        }
        let v6 = self.on(Feature::Ipv6) && self.rng.chance(30);
        let mut v = json!({"name": name, "priority": 100 + self.rng.below(3)});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        let nets: [&str; 2] = if v6 {
            ["fd00:9::/64", "fd00:8::/48"]
        } else {
            ["10.9.0.0/16", "10.8.1.0/24"]
        };
        if v6 {
            v["family"] = json!("IPV6");
        }
        for field in ["src_network", "dst_network"] {
            if self.rng.chance(40) {
                v[field] = json!(*self.rng.pick(&nets));
            }
        }
        for field in ["incoming_interface", "outgoing_interface"] {
            if self.rng.chance(25) {
                v[field] = json!(iface_name(self.rng.below(4) as usize));
            }
        }
        if self.rng.chance(20) {
            v["fwmark"] = json!(16);
            if self.rng.chance(50) {
                v["fwmask"] = json!(240);
            }
        }
        match self.rng.below(10) {
            0 => v["action"] = json!("BLACKHOLE"),
            1 => v["action"] = json!("UNREACHABLE"),
            2 => v["action"] = json!("PROHIBIT"),
            _ => v["table"] = json!(*self.rng.pick(&[100u32, 200, 300])),
        }
        self.put(key, v);
    }

    /// The place and kernel form of rule `r` by the rules, or `None` where it waits (its
    /// namespace is not there, an interface's item is missing or elsewhere).
    fn expected_rule(&self, r: &PolicyRule) -> Option<(Place, Option<RuleSpec>)> {
        let ns = self.kernel.real(&self.available(&r.namespace)?).clone();
        let place = (ns.clone(), r.family, r.priority);
        let link = |name: &Option<String>| -> Result<Option<String>, ()> {
            let Some(name) = name else { return Ok(None) };
            match self.desired.get(&ItemKey::Interface(name.clone())) {
                Some(Item::Interface(i))
                    if self
                        .available(&i.namespace)
                        .is_some_and(|at| *self.kernel.real(&at) == ns) =>
                {
                    Ok(Some(i.host_if_name.clone()))
                }
                _ => Err(()),
            }
        };
        let (Ok(iif), Ok(oif)) = (link(&r.incoming_interface), link(&r.outgoing_interface)) else {
            return Some((place, None));
        };
        let spec = RuleSpec {
            family: r.family,
            priority: r.priority,
            src: r.src_network,
            dst: r.dst_network,
            iif,
            oif,
            fwmark: r.fwmark,
            action: r.action,
        };
        Some((place, Some(spec)))
    }

    /// The rules of the module documentation, at a quiet step.
    pub(super) fn check_policy_rules(&self) -> Result<(), Violation> {
        let default_rules = self.kernel.rules(&Netns::Default).unwrap_or_default();
        for (priority, protocol) in FOREIGN {
            if !default_rules.contains(&(foreign_rule(priority), protocol)) {
                return Err(self.violation(format!(
                    "someone else's rule at priority {priority} was touched: {default_rules:?}"
                )));
            }
        }
        let mut wanted: BTreeMap<Place, Vec<Option<RuleSpec>>> = BTreeMap::new();
        let mut waiting: BTreeSet<&str> = BTreeSet::new();
        for item in self.desired.values() {
            let Item::PolicyRule(r) = item else { continue };
            match self.expected_rule(r) {
                Some((place, spec)) => wanted.entry(place).or_default().push(spec),
                None => {
                    waiting.insert(&r.name);
                }
            }
        }
        for ns in self.kernel.namespaces() {
            let mine: Vec<RuleSpec> = self
                .kernel
                .rules(&ns)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, p)| *p == ROUTE_PROTOCOL)
                .map(|(r, _)| r)
                .collect();
            let mut at: BTreeMap<Place, Vec<RuleSpec>> = BTreeMap::new();
            for r in mine {
                at.entry((ns.clone(), r.family, r.priority))
                    .or_default()
                    .push(r);
            }
            for (place, want) in wanted.iter().filter(|(p, _)| p.0 == ns) {
                // A rule left before the agent lost its state goes at the next look (which
                // takes it for the item's), but not before.
                let held: Vec<RuleSpec> = at
                    .remove(place)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|h| {
                        !self.rule_leftovers.contains(&(ns.clone(), h.clone()))
                            || want.iter().any(|w| w.as_ref() == Some(h))
                    })
                    .collect();
                let fits = match want.as_slice() {
                    [one] => held == one.iter().cloned().collect::<Vec<_>>(),
                    several => {
                        held.len() <= 1
                            && held
                                .iter()
                                .all(|h| several.iter().any(|w| w.as_ref() == Some(h)))
                    }
                };
                if !fits {
                    return Err(self.violation(format!(
                        "the rules at {place:?} should be one of {want:?}; the kernel holds {held:?}"
                    )));
                }
            }
            for (place, held) in at {
                let left = held
                    .iter()
                    .all(|h| self.rule_leftovers.contains(&(ns.clone(), h.clone())));
                if !left {
                    return Err(self.violation(format!(
                        "rules {held:?} at {place:?} are no item's (items without their namespace: {waiting:?})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the kernel holds a rule left before the agent lost its state at a place an
    /// item wants, beside what the items there want.
    pub(super) fn rules_left_beside_items(&self) -> bool {
        let mut wanted: BTreeMap<Place, Vec<RuleSpec>> = BTreeMap::new();
        for item in self.desired.values() {
            if let Some((place, spec)) = match item {
                Item::PolicyRule(r) => self.expected_rule(r),
                _ => None,
            } {
                wanted.entry(place).or_default().extend(spec);
            }
        }
        wanted.iter().any(|((ns, family, priority), specs)| {
            self.kernel
                .rules(ns)
                .unwrap_or_default()
                .into_iter()
                .any(|(h, p)| {
                    p == ROUTE_PROTOCOL
                        && (h.family, h.priority) == (*family, *priority)
                        && !specs.contains(&h)
                        && self.rule_leftovers.contains(&(ns.clone(), h))
                })
        })
    }

    /// A rule item reported applied is held as the rules say.
    pub(super) fn check_rule_held(&self, key: &ItemKey, r: &PolicyRule) -> Result<(), Violation> {
        let Some(((ns, ..), spec)) = self.expected_rule(r) else {
            return Ok(());
        };
        let rules = self.kernel.rules(&ns).unwrap_or_default();
        let held = spec.is_some_and(|s| rules.contains(&(s, ROUTE_PROTOCOL)));
        if !held {
            return Err(self.violation(format!(
                "{key} is reported applied, but {ns} does not hold its rule: {rules:?}"
            )));
        }
        Ok(())
    }
}
