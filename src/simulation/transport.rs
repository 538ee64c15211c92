//! Commands and their results in transit between the core and the kernel. The core's commands
//! are applied in a random order within a batch (it promises that commands outstanding together
//! are independent), and their results sometimes stay on their way while the world moves on: the
//! kernel has done the work, the core does not know yet. A refusal by the kernel's own rules is a
//! violation unless the core could not have known better.

use nsagent_core::errno;
use nsagent_core::{
    Backend, BackendError, Command, CommandId, ErrorKind, Event, Netns, Op, Timestamp,
};

use super::ifindex::Ifindexes;
use super::replay::Action;
use super::swarm::Feature;
use super::{Violation, World};

/// What the kernel answered to one command.
type Outcome = Result<(), BackendError>;

impl World {
    /// Applies the core's commands until it is idle, or until a batch's results are held.
    pub(super) fn pump(&mut self) -> Result<(), Violation> {
        for (c, r) in std::mem::take(&mut self.held) {
            self.deliver(&c, r);
        }
        self.serve_chain_observations()?;
        let mut asked = std::mem::take(&mut self.asked);
        if !asked.is_empty() {
            asked.sort();
            asked.dedup();
            let snapshot = self
                .kernel
                .observe(&asked)
                .map_err(|e| self.violation(format!("observe failed: {e}")))?;
            self.feed(Event::Observed(snapshot));
        }
        let mut may_hold = !self.settling;
        for _round in 0..10_000 {
            let mut batch: Vec<Command> = Vec::new();
            let mut earlier = Vec::new();
            for (c, judged) in std::mem::take(&mut self.issued) {
                if let Some(v) = judged {
                    return Err(v);
                }
                if !self.last_fed.contains(&c.id) {
                    earlier.push(c.id);
                }
                batch.push(c);
            }
            self.decided_earlier = earlier;
            while let Some(c) = self.core.poll_command() {
                self.check_dependencies(&c)?;
                batch.push(c);
            }
            if batch.is_empty() {
                if self.serve_observations()? || self.serve_chain_observations()? {
                    continue;
                }
                return Ok(());
            }
            let results = self.apply_in_random_order(&batch)?;
            // Sometimes the results stay on their way while the next things happen: the
            // kernel has done the work, the core does not know yet.
            let hold = may_hold && self.on(Feature::HeldResults) && self.roll(100) < 15;
            may_hold = false;
            for (c, r) in batch.into_iter().zip(results) {
                if hold {
                    self.exercised("fault results held".into());
                    self.trace(format!("{} command {} {:?} held", self.now, c.id.0, c.op));
                    self.held.push((c, r));
                } else {
                    self.deliver(&c, r);
                }
            }
            if hold {
                // As the driver does after every event: what the core asked to observe is
                // taken now, not left in the core for a snapshot to lose; it is observed
                // when the held results come, at the next pump.
                if let Some(wanted) = self.core.poll_resync() {
                    self.asked.extend(wanted);
                }
                return Ok(());
            }
        }
        Err(self.violation("the core did not become idle after 10,000 rounds of commands"))
    }

    /// Applies one batch in a random order; the results come back in the batch's order.
    fn apply_in_random_order(&mut self, batch: &[Command]) -> Result<Vec<Outcome>, Violation> {
        let mut order: Vec<usize> = (0..batch.len()).collect();
        for i in (1..order.len()).rev() {
            let j = self.roll(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut results = vec![None; batch.len()];
        // A vanish nobody announced excuses the whole batch, even once a command of it
        // has made the namespace again, and so does one announced only after a command of
        // the batch was decided.
        let unannounced = !self.unannounced.is_empty()
            || self.drift_pending()
            || std::mem::take(&mut self.issued_blind);
        let due = self.recreations_due(batch);
        for &i in &order {
            let before = self.kernel.counters().ops_injected;
            let touch = Ifindexes::touch(&self.kernel, &batch[i].op);
            let result = self.kernel.apply(&batch[i].op);
            self.ifindexes.applied(touch, result.is_ok(), &due);
            let injected = self.kernel.counters().ops_injected > before;
            if !unannounced && !injected && !self.excused(batch[i].id, &batch[i].op, &result) {
                if let Err(e) = &result {
                    return Err(self.refused(batch, i, e));
                }
            }
            self.note_applied(&batch[i].op, &result);
            results[i] = Some(result);
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every command was applied"))
            .collect())
    }

    /// Refusals the core could not have avoided on a real host either.
    fn excused(&self, id: CommandId, op: &Op, result: &Outcome) -> bool {
        // On a borrowed link (`lo`, a TAP_TO_VPP's TAP, an EXISTING link: none carries the
        // agent's mark) the agent knows only the addresses it added, and after a restart that
        // lost its state not even those; one that was there already answers EEXIST, which the
        // core rightly takes as done.
        let borrowed_address_there = matches!(
            (op, result),
            (Op::AddAddress { ns, link, .. }, Err(e)) if e.errno == Some(errno::EEXIST)
                && (link == "lo" || self.kernel.link(ns, link).is_some_and(|l| {
                    super::marked_item(l.alias.as_deref()).is_none()
                }))
        );
        // A kernel older than 6.2 refuses to rename a link that is up: the agent learns
        // so from the answer, as it would on such a machine.
        // A TAP's move within its namespace is a rename.
        let rename = match op {
            Op::RenameLink { .. } => true,
            Op::MoveLink { ns, to, .. } => ns == to,
            _ => false,
        };
        let old_kernel_rename = rename
            && matches!(result, Err(e) if e.errno == Some(errno::EBUSY))
            && !self.kernel.config().live_rename;
        // Only iptables knows its options, and only a look (which the write makes) shows
        // whose a chain is: a rule it refuses and someone else's chain are the item's errors.
        let chain_refused = matches!(
            (op, result),
            (Op::SetChain { chain, .. }, Err(e))
                if (e.errno == Some(errno::EINVAL)
                    && chain.rules.iter().any(|r| r.contains(nsagent_sim::BAD_RULE_WORD)))
                    || (e.errno == Some(errno::EEXIST) && chain.holder == "theirs")
        );
        // Decided before a later event of the same step took its namespace away (a container
        // stopped): the command lands in a namespace that is gone, as it would on a host.
        let namespace_went = matches!(result, Err(e) if e.kind == ErrorKind::NamespaceGone)
            && self.decided_earlier.contains(&id)
            && !self.kernel.contains_namespace(&op.namespace());
        // A rule the agent left before it lost its state, at the place of an item whose
        // namespace was not known as this one when the agent looked: the answer makes it look
        // again, and take the rule for the item's.
        let rule_left = matches!(
            (op, result),
            (Op::AddRule { ns, rule }, Err(e)) if e.errno == Some(errno::EEXIST)
                && self.rule_leftovers.iter().any(|(n, r)| {
                    n == self.kernel.real(ns) && r.family == rule.family && r.priority == rule.priority
                })
        );
        borrowed_address_there || old_kernel_rename || chain_refused || namespace_went || rule_left
    }

    fn refused(&self, batch: &[Command], i: usize, e: &BackendError) -> Violation {
        let issued: Vec<String> = batch
            .iter()
            .map(|c| format!("{} {}", c.id.0, c.op))
            .collect();
        self.violation(format!(
            "the kernel refused command {} ({}) by its own rules: {e}\n  \
             issued together: {}",
            batch[i].id.0,
            batch[i].op,
            issued.join("; ")
        ))
    }

    /// What the harness itself must remember of an applied command.
    fn note_applied(&mut self, op: &Op, result: &Outcome) {
        // An address the agent adds (or finds there as it adds it) is the agent's again.
        if let Op::AddAddress { ns, link, addr } = op {
            let added = result
                .as_ref()
                .map_or_else(|e| e.errno == Some(errno::EEXIST), |_| true);
            if link == "lo" && added {
                if let Some(foreign) = self.foreign_lo.get_mut(ns) {
                    foreign.remove(addr);
                }
            }
        }
        if let (Op::CreateNamespace { name }, Ok(())) = (op, result) {
            // The agent re-created it: nothing is left for the watcher to announce.
            let ns = Netns::Named(name.clone());
            self.unannounced.retain(|(n, _)| *n != ns);
        }
    }

    /// The watcher saw something change and the kernel is observed again, while results are
    /// still on their way: the snapshot shows what the core has not been told yet.
    pub(super) fn reobserve(&mut self) -> Result<(), Violation> {
        self.record(&Action::Reobserve);
        let namespaces = self.kernel.namespaces();
        let snapshot = self
            .kernel
            .observe(&namespaces)
            .map_err(|e| self.violation(format!("observe failed: {e}")))?;
        self.feed(Event::Observed(snapshot));
        Ok(())
    }

    /// Observes what the core asked to (a link to borrow is observed before it is changed),
    /// and feeds the snapshot back; `false` if it asked nothing.
    fn serve_observations(&mut self) -> Result<bool, Violation> {
        let Some(wanted) = self.core.poll_resync() else {
            return Ok(false);
        };
        let snapshot = self
            .kernel
            .observe(&wanted)
            .map_err(|e| self.violation(format!("observe failed: {e}")))?;
        self.feed(Event::Observed(snapshot));
        Ok(true)
    }

    /// Reads the iptables tables the core asked for and feeds them back; `false` if it asked
    /// nothing.
    fn serve_chain_observations(&mut self) -> Result<bool, Violation> {
        let mut wanted = std::mem::take(&mut self.asked_chains);
        if wanted.is_empty() {
            return Ok(false);
        }
        wanted.sort();
        wanted.dedup();
        let snapshot = self
            .kernel
            .observe_chains(&wanted)
            .map_err(|e| self.violation(format!("observing chains failed: {e}")))?;
        self.feed(Event::ChainsObserved(snapshot));
        Ok(true)
    }

    /// Hands one result to the core, and into the trace.
    fn deliver(&mut self, c: &Command, r: Outcome) {
        self.commands += 1;
        let op = format!("{:?}", c.op);
        let outcome = match &r {
            Ok(()) => "ok".to_string(),
            Err(e) => e
                .errno
                .map_or(format!("{:?}", e.kind), |n| format!("errno {n}")),
        };
        self.exercised(format!("command {} {outcome}", super::variant(&op)));
        if let Some(what) = link_step(&c.op) {
            self.exercised(format!("{what} {outcome}"));
        }
        self.trace(format!(
            "{} command {} {:?} -> {:?}",
            self.now,
            c.id.0,
            c.op,
            r.as_ref().map_err(|e| e.to_string())
        ));
        let event = Event::command_result(c.id, r);
        self.core.handle(Timestamp(self.now), event);
    }
}

/// What a command does with a bridge, a TAP or a MACVLAN the agent makes, for the report: a
/// bridge made, a port joining it, its settings changed; a TAP made; a MACVLAN made.
fn link_step(op: &nsagent_core::Op) -> Option<&'static str> {
    use nsagent_core::{Master, NewLink, Op};
    match op {
        Op::CreateLink {
            kind: NewLink::Bridge(_),
            ..
        } => Some("bridge made"),
        Op::CreateLink {
            kind: NewLink::Tap(_),
            ..
        } => Some("plain tap made"),
        Op::CreateLink {
            kind: NewLink::Macvlan { .. },
            ..
        } => Some("macvlan made"),
        Op::CreateLink {
            kind: NewLink::Vxlan { .. },
            ..
        } => Some("vxlan made"),
        Op::SetLink { change, .. } if change.bridge.is_some() => Some("bridge settings"),
        Op::SetLink { change, .. } => match &change.master {
            Some(Master::Set(m)) if m == super::workload::BRIDGE => Some("bridge port joined"),
            _ => None,
        },
        _ => None,
    }
}
