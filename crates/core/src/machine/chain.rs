//! Rule chain items (vpp-agent's iptables `RuleChain`): each is written whole into a chain the
//! agent owns (`crate::firewall`), replaced whole when it changes, removed whole when it goes.
//! A chain waits for its namespace and for the link of every interface it lists.
//!
//! Driven like every item: `reconcile_chain` from the dirty queue (after interfaces), results
//! through `flight.rs` and `effects.rs`, beliefs corrected by [`Event::ChainsObserved`]. The core
//! asks for the tables of a namespace (`poll_chain_resync`) when it resyncs a namespace a chain
//! item cares about, and of every namespace it observes after a restart, when it cannot know
//! which chains it wrote before; the driver drains that after each event, like `poll_resync`.
//!
//! [`Event::ChainsObserved`]: crate::Event::ChainsObserved

use std::collections::BTreeMap;

use crate::backend::{BackendError, ErrorKind};
use crate::command::Op;
use crate::firewall::{ChainSnapshot, ChainSpec, ObservedTable};
use crate::identity::Mark;
use crate::model::{Chain, Family, Item, Policy, RuleChain, Table};
use crate::netns::Netns;
use crate::status::{ItemState, PendingReason};

use super::dirty::Resource;
use super::state::{Actual, ChainActual, ItemId, Owner};
use super::Core;

/// The agent's chain found in one table: whose it is, and the built-in chain jumping to it.
struct FoundChain {
    item: String,
    family: Family,
    table: Table,
    holder: String,
    jump_from: Option<String>,
}

impl Core {
    /// Namespaces whose iptables tables the core wants observed and fed back as
    /// [`crate::Event::ChainsObserved`], each once, or `None` when it wants none.
    pub fn poll_chain_resync(&mut self) -> Option<Vec<Netns>> {
        if self.resync.chains.is_empty() {
            return None;
        }
        Some(
            std::mem::take(&mut self.resync.chains)
                .into_iter()
                .collect(),
        )
    }

    pub(super) fn chain_spec(&self, c: &RuleChain) -> ChainSpec {
        ChainSpec::of(c, &self.s.config.identity)
    }

    fn desired_chain(&self, id: ItemId) -> Option<RuleChain> {
        match self.slot(id).desired.as_deref() {
            Some(Item::RuleChain(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// Why rule chain `c` cannot be written yet, if it cannot; otherwise its namespace.
    fn chain_target(&mut self, c: &RuleChain) -> Result<Netns, Vec<PendingReason>> {
        self.ensure_named_namespace(&c.namespace);
        let mut reasons = Vec::new();
        let ns = self.resolve(&c.namespace).map_err(|r| reasons.push(r)).ok();
        // An interface counts once its link is there: a firewall must not drop its rules for
        // the moment the interface is being changed (an MTU, an address).
        for name in &c.interfaces {
            match self.interface_slot(name) {
                Some((_, s)) if s.desired.is_some() && matches!(s.actual, Actual::Link(_)) => {}
                Some((_, s)) if s.desired.is_some() => {
                    reasons.push(PendingReason::InterfaceNotReady(name.clone()))
                }
                _ => reasons.push(PendingReason::InterfaceNotConfigured(name.clone())),
            }
        }
        match ns {
            Some(ns) if reasons.is_empty() => Ok(ns),
            _ => Err(reasons),
        }
    }

    /// One step towards the chain the item wants: remove what is written elsewhere or under
    /// another holder, then write the rules whole.
    pub(super) fn reconcile_chain(&mut self, id: ItemId) {
        let owner = Owner::Item { id, peer: None };
        let actual = match &self.slot(id).actual {
            Actual::Chain(a) => Some(a.clone()),
            _ => None,
        };
        let Some(c) = self.desired_chain(id) else {
            return match actual {
                Some(a) => {
                    let chain = self.removal_spec(id, &a);
                    self.issue(Op::DeleteChain { ns: a.ns, chain }, owner);
                    self.set_state(id, ItemState::Removing)
                }
                None => self.free_slot(id),
            };
        };
        let target = self.chain_target(&c);
        let wanted = self.chain_spec(&c);
        if let Some(a) = &actual {
            let same_place = target.as_ref().is_ok_and(|ns| *ns == a.ns)
                && (a.spec.family, a.spec.table, &a.spec.holder)
                    == (wanted.family, wanted.table, &wanted.holder);
            if !same_place {
                let op = Op::DeleteChain {
                    ns: a.ns.clone(),
                    chain: self.removal_spec(id, a),
                };
                self.issue(op, owner);
                if self.slot(id).blocked {
                    // The failure stays what the state says.
                    return;
                }
                return self.set_state(id, ItemState::InProgress);
            }
        }
        if self.slot(id).blocked {
            // Failed for good (a rule iptables refused, someone else's chain): nothing is
            // written until the item changes, and the state keeps saying why.
            return;
        }
        let ns = match target {
            Ok(ns) => ns,
            Err(reasons) => return self.set_state(id, ItemState::Pending { reasons }),
        };
        if let Some(by) = self.chain_taken_by(id, &ns, &wanted) {
            let chain = format!("{} {}", wanted.table.name(), wanted.holder);
            let reasons = vec![PendingReason::ChainTaken { chain, by }];
            return self.set_state(id, ItemState::Pending { reasons });
        }
        if let Some(by) = self.policy_taken_by(id, &ns, &wanted) {
            let chain = format!("{} {}", wanted.table.name(), wanted.chain.name());
            let reasons = vec![PendingReason::PolicyTaken { chain, by }];
            return self.set_state(id, ItemState::Pending { reasons });
        }
        if actual.is_some_and(|a| a.intact && a.spec == wanted) {
            return self.set_state(id, ItemState::Applied);
        }
        let res = Resource::Chain(
            ns.clone(),
            wanted.family,
            wanted.table,
            wanted.holder.clone(),
        );
        if self.blocked_by_stale(res, id) {
            return self.set_state(id, ItemState::InProgress);
        }
        self.issue(Op::SetChain { ns, chain: wanted }, owner);
        self.set_state(id, ItemState::InProgress)
    }

    /// A write failed and changed nothing. Returns whether that is all there is to it, the
    /// failure counting for nothing more:
    /// - the item was put again while the write was on its way: the failure is about a value
    ///   it no longer has (a rule iptables refused, say), and the item is reconciled again;
    /// - the chain is someone else's (EEXIST): never written over, and no use trying again
    ///   until the item changes (a look does not show someone else's chains: `firewall.rs`).
    ///
    /// Otherwise what is there may be the item's chain from before a restart: the item holds
    /// it as not intact, so that it is written again in place, or removed if the item goes
    /// elsewhere, and the failure is recorded as any other.
    pub(super) fn chain_write_failed(
        &mut self,
        ids: &[ItemId],
        ns: &Netns,
        spec: &ChainSpec,
        error: &BackendError,
    ) -> bool {
        let mut handled = false;
        for &id in ids {
            let outdated = self
                .desired_chain(id)
                .is_some_and(|c| self.chain_spec(&c) != *spec);
            if outdated {
                self.mark_dirty(id);
                handled = true;
            } else if error.kind == ErrorKind::AlreadyExists {
                let reason = format!("chain {} holds rules nsagent did not write", spec.holder);
                self.refuse(id, reason);
                handled = true;
            } else if self.slot(id).actual == Actual::None && error.kind != ErrorKind::NamespaceGone
            {
                // (A namespace that is gone holds nothing: believing a chain there would have
                // it removed from the namespace made again, before it is there: seed 2920.)
                let a = ChainActual {
                    ns: ns.clone(),
                    spec: spec.clone(),
                    intact: false,
                };
                self.set_actual(id, Actual::Chain(a));
            }
        }
        handled
    }

    /// Other rule chain items that set a default policy on the same built-in chain as `spec`
    /// in `ns`, with the policy each wants.
    fn policy_setters(&self, id: ItemId, ns: &Netns, spec: &ChainSpec) -> Vec<(ItemId, Policy)> {
        if spec.jump_from().is_none() {
            return vec![];
        }
        self.ix
            .chains
            .iter()
            .filter(|&&other| other != id)
            .filter_map(|&other| {
                let c = self.desired_chain(other)?;
                let same = (c.family, c.table, &c.chain) == (spec.family, spec.table, &spec.chain)
                    && self.resolve(&c.namespace).as_ref() == Ok(ns);
                same.then_some((other, c.default_policy?))
            })
            .collect()
    }

    /// The older item that sets another policy on the chain `spec` sets one on: a built-in
    /// chain has one policy, and the oldest claim to it wins, as for link names.
    fn policy_taken_by(&self, id: ItemId, ns: &Netns, spec: &ChainSpec) -> Option<String> {
        let mine = spec.policy?;
        let born = self.slot(id).born;
        self.policy_setters(id, ns, spec)
            .into_iter()
            .filter(|(other, p)| *p != mine && self.slot(*other).born < born)
            .min_by_key(|(other, _)| self.slot(*other).born)
            .map(|(other, _)| self.slot(other).key.interface().to_string())
    }

    /// The item the chain `spec` in `ns` is left to, if not this one: two items naming one
    /// custom chain would overwrite each other, so the one holding it keeps it, and else the
    /// oldest claim wins, as for link names.
    fn chain_taken_by(&self, id: ItemId, ns: &Netns, spec: &ChainSpec) -> Option<String> {
        // Whoever holds the chain keeps it while it wants it: an older claim that comes later
        // (an item moved here) waits, rather than write over it and be refused as if the
        // chain were someone else's (seed 499).
        let holds = |i: ItemId| {
            matches!(&self.slot(i).actual, Actual::Chain(a) if a.ns == *ns
                && (a.spec.family, a.spec.table, &a.spec.holder)
                    == (spec.family, spec.table, &spec.holder))
        };
        if holds(id) {
            return None;
        }
        if let Some(&holder) = self.ix.chains.iter().find(|&&o| o != id && holds(o)) {
            return Some(self.slot(holder).key.interface().to_string());
        }
        let born = self.slot(id).born;
        self.ix
            .chains
            .iter()
            .filter(|&&other| other != id && self.slot(other).born < born)
            .filter(|&&other| {
                self.desired_chain(other).is_some_and(|c| {
                    let s = self.chain_spec(&c);
                    (s.family, s.table, &s.holder) == (spec.family, spec.table, &spec.holder)
                        && self.resolve(&c.namespace).as_ref() == Ok(ns)
                })
            })
            .min_by_key(|&&other| self.slot(other).born)
            .map(|&other| self.slot(other).key.interface().to_string())
    }

    /// What removing `a` takes away: its policy stays if another item sets one there.
    fn removal_spec(&self, id: ItemId, a: &ChainActual) -> ChainSpec {
        let mut spec = a.spec.clone();
        if !self.policy_setters(id, &a.ns, &spec).is_empty() {
            spec.policy = None;
        }
        spec
    }

    /// A chain command succeeded: the item holds what it wrote, or nothing. The other chain
    /// items get a look: one may have waited for the policy this one set or gave up.
    pub(super) fn chain_written(&mut self, id: ItemId, op: &Op) {
        let others: Vec<ItemId> = self
            .ix
            .chains
            .iter()
            .copied()
            .filter(|o| *o != id)
            .collect();
        for &other in &others {
            self.mark_dirty(other);
        }
        self.policy_overwritten(op, &others);
        match op {
            Op::SetChain { ns, chain } => {
                let a = ChainActual {
                    ns: ns.clone(),
                    spec: chain.clone(),
                    intact: true,
                };
                self.set_actual(id, Actual::Chain(a));
            }
            _ => self.set_actual(id, Actual::None),
        }
    }

    /// A command that set a built-in chain's policy (a write, or a removal putting ACCEPT
    /// back) made the belief of every other item holding another policy there false: each is
    /// written again once it may (seed 512: an item that lost the policy after a restart
    /// stayed applied under the winner's policy when the winner moved away).
    fn policy_overwritten(&mut self, op: &Op, others: &[ItemId]) {
        let (ns, spec, now) = match op {
            Op::SetChain { ns, chain } => (ns, chain, chain.policy),
            Op::DeleteChain { ns, chain } => (ns, chain, chain.policy.map(|_| Policy::Accept)),
            _ => return,
        };
        let Some(now) = now.filter(|_| spec.jump_from().is_some()) else {
            return;
        };
        for &other in others {
            let Actual::Chain(a) = &self.slot(other).actual else {
                continue;
            };
            let same_chain = a.ns == *ns
                && (a.spec.family, a.spec.table, &a.spec.chain)
                    == (spec.family, spec.table, &spec.chain);
            if same_chain && a.intact && a.spec.policy.is_some_and(|p| p != now) {
                let mut a = a.clone();
                a.intact = false;
                self.set_actual(other, Actual::Chain(a));
            }
        }
    }

    /// Asks for the tables of `ns` if a rule chain item cares about it, or of every namespace
    /// observed right after a restart.
    pub(super) fn want_chains_of(&mut self, ns: &Netns, after_restart: bool) {
        let cares = after_restart
            || self.s.stale.has_chain_in(ns)
            || self.ix.chains.iter().any(|&id| {
                let slot = self.slot(id);
                slot.actual.ns() == Some(ns)
                    || matches!(slot.desired.as_deref(), Some(Item::RuleChain(c))
                        if self.resolve(&c.namespace).as_ref() == Ok(ns))
            });
        if cares {
            self.resync.chains.insert(ns.clone());
        }
    }

    /// What the tables of some namespaces hold: beliefs corrected, the agent's own chains
    /// adopted for their items or removed as stale. Items with a command in flight are left
    /// alone: the look may predate the result.
    pub(super) fn on_chains_observed(&mut self, snapshot: ChainSnapshot) {
        for (ns, tables) in &snapshot.namespaces {
            self.observe_chains_in(ns, tables);
        }
        for ns in &snapshot.missing {
            self.observe_chains_in(ns, &[]);
        }
    }

    fn observe_chains_in(&mut self, ns: &Netns, tables: &[ObservedTable]) {
        self.prune_gone_chains(ns, tables);
        let ids: Vec<ItemId> = self.ix.chains.iter().copied().collect();
        for id in ids {
            if self.slot(id).in_flight.is_some() {
                continue;
            }
            if let Actual::Chain(a) = &self.slot(id).actual {
                if a.ns == *ns && a.intact && !a.spec.held_in(tables) {
                    // Changed or removed by hand: written again whole, in place.
                    let mut a = a.clone();
                    a.intact = false;
                    self.set_actual(id, Actual::Chain(a));
                    self.mark_dirty(id);
                }
            }
        }
        for found in self.agents_chains(tables) {
            self.resync_found_chain(ns, tables, found);
        }
    }

    /// A chain of this agent's in `ns`: adopted by its item if that wants exactly it here and
    /// holds nothing, left to an item that holds it, or else removed as stale.
    fn resync_found_chain(&mut self, ns: &Netns, tables: &[ObservedTable], f: FoundChain) {
        let key = crate::model::ItemKey::RuleChain(f.item.clone());
        if let Some(&id) = self.ix.by_key.get(&key) {
            // A command of its item on this very chain may have acted after the look.
            let here = |op: &Op| match op {
                Op::SetChain { ns: n, chain } | Op::DeleteChain { ns: n, chain } => {
                    n == ns
                        && (chain.family, chain.table, &chain.holder)
                            == (f.family, f.table, &f.holder)
                }
                _ => false,
            };
            let busy_here = self
                .slot(id)
                .in_flight
                .and_then(|c| self.s.in_flight.get(&c));
            if busy_here.is_some_and(|flight| here(&flight.op)) {
                return;
            }
            if let Actual::Chain(a) = &self.slot(id).actual {
                // The holder's name is the same in both families (seed 14908: an IPv4 chain
                // left behind was taken for the item's IPv6 one).
                let same =
                    (a.spec.family, a.spec.table, &a.spec.holder) == (f.family, f.table, &f.holder);
                if a.ns == *ns && same {
                    return;
                }
            }
            if let Some(c) = self.desired_chain(id) {
                let wanted = self.chain_spec(&c);
                let here = self.resolve(&c.namespace).as_ref() == Ok(ns);
                let same =
                    (wanted.family, wanted.table, &wanted.holder) == (f.family, f.table, &f.holder);
                if here && same && self.slot(id).actual == Actual::None {
                    // Its own chain: held as it is, and written again whole, in place, unless
                    // it is exactly what the item wants.
                    let a = ChainActual {
                        ns: ns.clone(),
                        intact: wanted.held_in(tables),
                        spec: wanted,
                    };
                    self.set_actual(id, Actual::Chain(a));
                    self.mark_dirty(id);
                    return;
                }
            }
        }
        let chain = match f.jump_from.as_deref().and_then(builtin_named) {
            Some(b) => Chain::Builtin(b),
            None => Chain::Custom(f.holder.clone()),
        };
        let spec = ChainSpec {
            family: f.family,
            table: f.table,
            chain,
            holder: f.holder,
            policy: None,
            rules: vec![],
            mark: self.s.config.identity.mark(&f.item),
        };
        self.queue_stale_removal(
            Op::DeleteChain {
                ns: ns.clone(),
                chain: spec,
            },
            None,
            None,
        );
    }

    /// The chains in `tables` this agent wrote, by the marks on their rules and on the jumps
    /// to them.
    fn agents_chains(&self, tables: &[ObservedTable]) -> Vec<FoundChain> {
        let identity = &self.s.config.identity;
        let mut found: BTreeMap<(Family, Table, String), FoundChain> = BTreeMap::new();
        for t in tables {
            for chain in &t.chains {
                for rule in &chain.rules {
                    let comment = rule.comment.as_deref();
                    let (mark, is_rule) = match comment.and_then(|c| c.split_once('#')) {
                        Some((m, _)) => (Some(m), true),
                        None => (comment, false),
                    };
                    let Mark::Mine(item) = identity.read(mark) else {
                        continue;
                    };
                    let (holder, jump_from) = if is_rule {
                        (chain.name.clone(), None)
                    } else {
                        match &rule.target {
                            Some(target) => (target.clone(), Some(chain.name.clone())),
                            None => continue,
                        }
                    };
                    let entry = found
                        .entry((t.family, t.table, holder.clone()))
                        .or_insert_with(|| FoundChain {
                            item: item.to_string(),
                            family: t.family,
                            table: t.table,
                            holder,
                            jump_from: None,
                        });
                    if jump_from.is_some() {
                        entry.jump_from = jump_from;
                    }
                }
            }
        }
        found.into_values().collect()
    }
}

fn builtin_named(name: &str) -> Option<crate::model::Builtin> {
    use crate::model::Builtin::*;
    [Input, Output, Forward, Prerouting, Postrouting]
        .into_iter()
        .find(|b| b.name() == name)
}
