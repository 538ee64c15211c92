//! Faults of the world around the core: transient errnos injected into the kernel, namespaces
//! that vanish before the watcher says so, and restarts of the agent — from a snapshot, or with
//! its state lost and the desired state coming back from the KV bucket. Each is something a
//! real host does to the agent; none may make it diverge.

use nsagent_core::errno;
use nsagent_core::{Backend, Core, Event, Item, Netns};
use nsagent_sim::Fault;

use super::replay::Action;
use super::swarm::Feature;
use super::{Violation, World};

impl World {
    /// Transient failures of the next few kernel operations.
    pub(super) fn inject_fault(&mut self) {
        let count = 1 + self.rng.below(3) as u32;
        let errno = *self.rng.pick(&self.errnos());
        self.fault(errno, count);
    }

    /// The errnos the seed's swarm injects. Transient errors only: EEXIST or ENODEV would lie
    /// about the kernel's state, and the core rightly believes them.
    pub(super) fn errnos(&self) -> Vec<i32> {
        [
            (errno::EBUSY, Feature::ErrnoEbusy),
            (errno::ENOBUFS, Feature::ErrnoEnobufs),
            (errno::EAGAIN, Feature::ErrnoEagain),
            (errno::ENOMEM, Feature::ErrnoEnomem),
        ]
        .into_iter()
        .filter(|(_, f)| self.on(*f))
        .map(|(e, _)| e)
        .collect()
    }

    /// The next `count` kernel operations fail with `errno`.
    pub(super) fn fault(&mut self, errno: i32, count: u32) {
        self.record(&Action::Fault { errno, count });
        self.exercised(format!("fault errno {errno}"));
        self.trace(format!("{} inject {count} x errno {errno}", self.now));
        self.kernel.fail_next(count, Fault::Errno(errno));
    }

    /// Whether `ns` has vanished without the core being told yet.
    pub(super) fn is_unannounced(&self, ns: &Netns) -> bool {
        self.unannounced.iter().any(|(n, _)| n == ns)
    }

    /// The watcher catches up: namespaces whose announcement is due are announced.
    pub(super) fn announce_due(&mut self) {
        let mut due = Vec::new();
        for (ns, steps) in &mut self.unannounced {
            *steps -= 1;
            if *steps == 0 {
                due.push(ns.clone());
            }
        }
        for ns in due {
            self.announce(ns);
        }
    }

    /// The watcher tells the core `ns` vanished. Other vanishes due in the same step stay
    /// unannounced until their own event: what the core issues in between may still land in
    /// one of them, unknowingly (seed 6511).
    pub(super) fn announce(&mut self, ns: Netns) {
        self.unannounced.retain(|(n, _)| *n != ns);
        self.feed(Event::NamespaceVanished { ns });
    }

    /// The agent restarts: from a snapshot of its state, or with its state lost (then the
    /// desired state comes back from the KV bucket, as the daemon does with `--kv`).
    pub(super) fn restart(&mut self, lose_state: bool) -> Result<(), Violation> {
        self.record(&Action::Restart { lose_state });
        // Results on their way die with the process; the kernel keeps what they did, and the
        // resync below shows it.
        self.held.clear();
        self.asked_chains.clear();
        if lose_state {
            self.exercised("restart with state lost".into());
            self.trace(format!("{} restart with state lost", self.now));
            self.note_rule_leftovers();
            self.forget_lo_addresses();
            self.forget_loans();
            self.forget_tap();
            self.core = Core::new(super::core_config());
            // The new process publishes every state afresh.
            self.published.clear();
            self.feed(Event::MicroserviceWatch { connected: true });
            let present: Vec<Netns> = self
                .kernel
                .namespaces()
                .into_iter()
                .filter(|n| matches!(n, Netns::Pid(_)))
                .collect();
            for ns in present {
                self.feed(Event::NamespaceAvailable { ns });
            }
            for ms in self.kernel.microservices() {
                self.feed(ms.started_event());
            }
            self.identify_aliases();
            let items: Vec<Item> = self.desired.values().cloned().collect();
            for item in items {
                self.seq += 1;
                self.feed(Event::Put {
                    seq: self.seq,
                    item,
                });
            }
        } else {
            self.exercised("restart from snapshot".into());
            self.trace(format!("{} restart from snapshot", self.now));
            if !self.restore_snapshots {
                self.unannounced.clear();
                self.drifted.clear();
                return self.resync_after_restart();
            }
            self.round_trip()?;
        }
        // Whatever the watcher had not announced yet, the kernel shows now.
        self.unannounced.clear();
        self.drifted.clear();
        self.resync_after_restart()
    }

    /// Replaces the core with its snapshot, decoded, in the encoding the daemon's log writes
    /// (MessagePack, fields by name): whatever the snapshot does not carry, or decoding
    /// changes, shows as a trace that differs from the run without restores.
    pub(super) fn round_trip(&mut self) -> Result<(), Violation> {
        let bytes = rmp_serde::to_vec_named(&self.core)
            .map_err(|e| self.violation(format!("snapshot: {e}")))?;
        self.core =
            rmp_serde::from_slice(&bytes).map_err(|e| self.violation(format!("restore: {e}")))?;
        // The identity is the agent's, not the snapshot's: the daemon sets it again likewise.
        self.core.set_identity(super::identity(), false);
        Ok(())
    }

    /// Between steps, now and then (`restore`, drawn from a stream of its own or replayed):
    /// the core is restored from a snapshot without a restart, as an offline replay that
    /// starts from a snapshot in the middle of a log does.
    pub(super) fn maybe_round_trip(&mut self, restore: bool) -> Result<(), Violation> {
        if let Some(step) = self.recording.steps.last_mut() {
            step.restore = restore;
        }
        if restore && self.restore_snapshots {
            self.exercised("restore between steps".into());
            self.round_trip()?;
        }
        Ok(())
    }

    /// What the daemon does after any (re)start: observe every namespace it knows of or the
    /// kernel shows, and let the core adopt or remove what it finds.
    pub(super) fn resync_after_restart(&mut self) -> Result<(), Violation> {
        self.feed(Event::Restarted);
        let mut wanted = self.core.namespaces_to_observe();
        wanted.extend(self.kernel.namespaces());
        wanted.sort();
        wanted.dedup();
        let snapshot = self
            .kernel
            .observe(&wanted)
            .map_err(|e| self.violation(format!("observe failed: {e}")))?;
        self.feed(Event::Observed(snapshot));
        self.pump()
    }

    /// At a restart that loses the agent's state: what its `lo`s hold becomes someone else's.
    /// The agent, looking at a borrowed link for the first time, takes every address there for
    /// one it did not add, and never removes it (those `l0` asks for included).
    fn forget_lo_addresses(&mut self) {
        for n in self.kernel.dump().namespaces {
            let Some(lo) = n.unmanaged.iter().find(|l| l.name == "lo") else {
                continue;
            };
            let foreign = self.foreign_lo.entry(n.ns.clone()).or_default();
            foreign.extend(lo.addresses.iter().copied());
        }
    }
}
