//! Rule chains in the simulation: `fw0`..`fw2`, iptables chains in any namespace, built-in
//! (filter INPUT with or without a policy, nat POSTROUTING, mangle PREROUTING) or custom
//! (`web<k>`, or `theirs`, which someone else made in the default namespace first and must be
//! refused), some listing an interface they wait for, a few with a rule iptables refuses.
//!
//! Checked whenever the core is quiet, from the rules and not from the core: a chain whose
//! namespace is there and whose interfaces are applied is held exactly as `ChainSpec` says; no
//! chain of the agent's is left for an item that is gone or elsewhere; someone else's rules
//! (`-i lo -j ACCEPT` in INPUT, the chain `theirs`) are as they were.

use nsagent_core::{Chain, ChainSpec, Family, Item, ItemKey, Mark, Netns, RuleChain, Table};
use nsagent_sim::BAD_RULE_WORD;
use serde_json::json;

use super::swarm::Feature;
use super::workload::iface_name;
use super::{identity, Violation, World};

const RULES: [&str; 5] = [
    "-p icmp -j ACCEPT",
    "-i v0 -j ACCEPT",
    "-s 10.0.0.0/8 -j DROP",
    "-p tcp --dport 22 -j ACCEPT",
    "-m conntrack --ctstate ESTABLISHED -j ACCEPT",
];
const FOREIGN_INPUT_RULE: &str = "-i lo -j ACCEPT";
const FOREIGN_CHAIN: &str = "theirs";

impl World {
    /// Someone else's rules, there before the agent starts.
    pub(super) fn seed_foreign_rules(&mut self) {
        for (chain, rule) in [("INPUT", FOREIGN_INPUT_RULE), (FOREIGN_CHAIN, "-j DROP")] {
            self.kernel
                .add_foreign_rule(&Netns::Default, Family::Ipv4, Table::Filter, chain, rule)
                .expect("the default namespace is there");
        }
    }

    /// Puts or deletes one of the chain items.
    pub(super) fn chain_step(&mut self) {
        let k = self.rng.below(3);
        let name = format!("fw{k}");
        let key = ItemKey::RuleChain(name.clone());
        if self.desired.contains_key(&key) && self.on(Feature::Deletes) && self.rng.chance(30) {
            return self.delete(key);
        }
        let mut v = json!({"name": name, "protocol": "IPV4"});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        if self.on(Feature::Ipv6) && self.rng.chance(30) {
            v["protocol"] = json!("IPV6");
        }
        let (table, chain) = match self.rng.below(5) {
            0 | 1 => ("FILTER", "INPUT"),
            2 => ("NAT", "POSTROUTING"),
            3 => ("MANGLE", "PREROUTING"),
            _ => ("FILTER", "CUSTOM"),
        };
        v["table"] = json!(table);
        v["chain_type"] = json!(chain);
        if chain == "CUSTOM" {
            let custom = if self.rng.chance(15) {
                FOREIGN_CHAIN.to_string()
            } else {
                format!("web{k}")
            };
            v["chain_name"] = json!(custom);
        } else if table == "FILTER" && self.rng.chance(40) {
            v["default_policy"] = json!(if self.rng.chance(50) {
                "DROP"
            } else {
                "ACCEPT"
            });
        }
        if self.rng.chance(40) {
            v["interfaces"] = json!([iface_name(self.rng.below(4) as usize)]);
        }
        let mut rules: Vec<String> = (0..self.rng.below(4))
            .map(|_| self.rng.pick(&RULES).to_string())
            .collect();
        if self.rng.chance(4) {
            rules.push(format!("{BAD_RULE_WORD} 1 -j DROP"));
        }
        v["rules"] = json!(rules);
        self.put(key, v);
    }

    /// The interfaces `c` lists are applied (`Some(true)`), not (`Some(false)`), or the rules
    /// leave it open (a contested name): `None`.
    fn chain_dependencies(&self, c: &RuleChain) -> Option<bool> {
        let found = super::oracle::found_links(&self.kernel.dump());
        let (links, placed) = self.place_interfaces(&found);
        let (contested, _) = self.contested(&links);
        let mut met = true;
        for name in &c.interfaces {
            let peer = match self.desired.get(&ItemKey::Interface(name.clone())) {
                Some(Item::Interface(i)) => i.veth_peer.clone(),
                _ => None,
            };
            if contested.contains(name.as_str())
                || peer.is_some_and(|p| contested.contains(p.as_str()))
            {
                return None;
            }
            match placed.get(name) {
                Some((ns, host, ..)) => met &= found.contains_key(&(ns.clone(), host.clone())),
                None => met = false,
            }
        }
        Some(met)
    }

    /// The rules of the module documentation, at a quiet step.
    pub(super) fn check_chains(&self) -> Result<(), Violation> {
        let lo_kept = self.kernel.chains(&Netns::Default).is_some_and(|tables| {
            tables.iter().any(|t| {
                t.family == Family::Ipv4
                    && t.table == Table::Filter
                    && t.chains.iter().any(|c| {
                        (c.name == "INPUT" && c.rules.iter().any(|r| r.text == FOREIGN_INPUT_RULE))
                            || (c.name == FOREIGN_CHAIN
                                && c.rules.len() == 1
                                && c.rules[0].comment.is_none())
                    })
            })
        });
        if !lo_kept {
            return Err(self.violation("someone else's iptables rules were touched"));
        }
        for item in self.desired.values() {
            let Item::RuleChain(c) = item else { continue };
            let Some(ns) = self.available(&c.namespace) else {
                continue;
            };
            let spec = ChainSpec::of(c, &identity());
            let bad = c.rules.iter().any(|r| r.contains(BAD_RULE_WORD));
            let Some(deps) = self.chain_dependencies(c) else {
                continue;
            };
            // Two items setting different policies on one built-in chain: the oldest wins,
            // and the oracle does not model age.
            // So do two items writing into one custom chain.
            let contested = self.desired.values().any(|o| {
                matches!(o, Item::RuleChain(o) if o.name != c.name
                    && (o.family, o.table, &o.chain) == (c.family, c.table, &c.chain)
                    && self.available(&o.namespace).as_ref() == Some(&ns)
                    && (matches!(c.chain, Chain::Custom(_))
                        || (c.default_policy.is_some()
                            && o.default_policy.is_some_and(|p| Some(p) != c.default_policy))))
            });
            if bad || contested {
                continue;
            }
            let refused = ns == Netns::Default
                && c.family == Family::Ipv4
                && c.table == Table::Filter
                && c.chain == Chain::Custom(FOREIGN_CHAIN.into());
            let want = deps && !refused;
            let tables = self.kernel.chains(&ns).unwrap_or_default();
            if spec.held_in(&tables) != want {
                return Err(self.violation(format!(
                    "rule chain {} should {}be held in {ns}; the tables hold {tables:?}; core: {:?}",
                    c.name,
                    if want { "" } else { "not " },
                    self.core.explain(&item.key())
                )));
            }
        }
        self.check_no_leftover_chains()
    }

    /// Every chain of the agent's belongs to a desired chain item, in its namespace.
    fn check_no_leftover_chains(&self) -> Result<(), Violation> {
        let me = identity();
        for n in self.kernel.dump().namespaces {
            let Some(tables) = self.kernel.chains(&n.ns) else {
                continue;
            };
            for t in &tables {
                for chain in &t.chains {
                    for rule in &chain.rules {
                        let comment = rule.comment.as_deref();
                        let mark = comment.map(|c| c.split_once('#').map_or(c, |(m, _)| m));
                        let Mark::Mine(owner) = me.read(mark) else {
                            continue;
                        };
                        let wanted_here =
                            match self.desired.get(&ItemKey::RuleChain(owner.to_string())) {
                                Some(Item::RuleChain(c)) => {
                                    self.available(&c.namespace).as_ref() == Some(&n.ns)
                                        && c.family == t.family
                                        && c.table == t.table
                                }
                                _ => false,
                            };
                        if !wanted_here {
                            return Err(self.violation(format!(
                                "a chain of rule chain {owner} is left in {} ({:?} {})",
                                n.ns,
                                t.family,
                                t.table.name()
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A chain item reported applied is held as written.
    pub(super) fn check_chain_held(&self, key: &ItemKey, c: &RuleChain) -> Result<(), Violation> {
        let Some(ns) = self.available(&c.namespace) else {
            return Ok(());
        };
        let tables = self.kernel.chains(&ns).unwrap_or_default();
        if !ChainSpec::of(c, &identity()).held_in(&tables) {
            return Err(self.violation(format!(
                "{key} is reported applied, but {ns} does not hold its rules: {tables:?}"
            )));
        }
        Ok(())
    }
}
