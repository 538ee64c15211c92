//! Deterministic simulation of the whole agent: the core driven against the in-memory kernel
//! from one `u64` seed, with random intents, namespaces and microservices coming and going, and
//! injected faults, followed by a liveness phase with faults off.
//!
//! The harness checks the core against an oracle of its own — a direct, independent reading of
//! the rules ("a veth exists when both ends are configured and both namespaces are there", ...) —
//! never against the core's own beliefs, so a wrong rule in the core cannot hide. Invariants:
//! - whenever the core is quiet (no retry pending, no fault queued, no vanish unannounced), the
//!   kernel's managed state equals the desired state restricted to what is available;
//! - links the agent does not manage are never touched;
//! - no command is issued for an item whose dependencies do not hold, and, the sim being the
//!   kernel, no command fails by the kernel's own rules unless the core could not know better
//!   (a namespace vanished and nobody told it yet);
//! - the same seed gives the same trace, byte for byte (checked by running twice), and its
//!   recording replays to the same run.
//!
//! One concern per file: `workload.rs` is what the outside world does, `faults.rs` what goes
//! wrong around the agent (errnos, late announcements, restarts), `drift.rs` what others change
//! behind its back (told a step or two later), `transport.rs` the commands and
//! results in transit, `oracle.rs` what the kernel must hold, `checkers.rs` and `ifindex.rs` the
//! invariants, `swarm.rs` which features a seed has on, `replay.rs` a run as a list of steps
//! that replays without its seed, `shrink.rs` the shortest list that still fails, `queries.rs`
//! the core's read-only answers, `intake.rs` how intents are spelled and which broken ones are
//! refused. This file holds the run's configuration and report, the world they all act on, and
//! the step loop.

mod borrow;
mod chains;
mod checkers;
mod drift;
mod faults;
mod ifindex;
mod intake;
mod oracle;
mod policy_rules;
mod queries;
mod replay;
mod rng;
mod shrink;
mod spellings;
mod swarm;
mod tap;
mod transport;
mod workload;

pub use replay::{Action, Recording, Step};
pub use shrink::{shrink, shrink_violation, Shrunk};
pub use swarm::{Feature, Features};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use ipnet::IpNet;
use nsagent_core::{AgentIdentity, InstanceId, Mark};
use nsagent_core::{
    BackendError, Command, Core, CoreConfig, Event, Item, ItemKey, Netns, Timestamp,
};
use nsagent_sim::{SeedKind, SeedLink, SimConfig, SimKernel};

use ifindex::Ifindexes;
use replay::Dice;
use rng::Rng;
use workload::PIDS;

/// What one run does.
#[derive(Debug, Clone, Copy)]
pub struct SimulationConfig {
    pub seed: u64,
    pub steps: usize,
    /// Inject backend faults and silent namespace vanishes.
    pub faults: bool,
    /// At "restart from snapshot" steps, really serialize the core and restore it. Off, the
    /// same core goes on: the trace must be the same either way.
    pub restore_snapshots: bool,
    /// Let the seed draw which features are on (swarm testing); off, all of them are.
    pub swarm: bool,
}

impl SimulationConfig {
    pub fn new(seed: u64, steps: usize) -> SimulationConfig {
        SimulationConfig {
            seed,
            steps,
            faults: true,
            restore_snapshots: true,
            swarm: true,
        }
    }
}

/// What a run that held every invariant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    /// The features the run had on.
    pub features: Features,
    /// FNV-1a of every event fed to the core and every command it issued, with results.
    pub trace_hash: u64,
    pub events: u64,
    pub commands: u64,
    /// How many times the full convergence check ran (on quiet steps and at the end).
    pub convergence_checks: u64,
    /// Items applied at the end, and items still pending for lack of a dependency.
    pub applied: usize,
    pub pending: usize,
    /// What the run exercised, by kind: events fed, command results by operation and outcome,
    /// faults, restarts and restores, the swarm's features on ("swarm on ..."). What a change
    /// of the harness or the core stops reaching shows here.
    pub exercised: BTreeMap<String, u64>,
    /// The run as steps: its replay gives this same report.
    pub recording: Recording,
}

/// A broken invariant, with what is needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub seed: u64,
    pub step: usize,
    pub what: String,
    pub recent: Vec<String>,
    /// The run up to the violation, as steps that replay without the seed (empty for a
    /// violation in the set-up).
    pub recording: Option<Box<Recording>>,
}

impl Violation {
    /// What kind of invariant broke: the description without its numbers, names in
    /// parentheses, and details after a colon. The shrinker keeps a failure of the same kind.
    pub fn kind(&self) -> String {
        let first = self.what.split([':', '\n']).next().unwrap_or_default();
        let mut kind = String::new();
        let mut depth = 0usize;
        for c in first.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ if depth > 0 || c.is_ascii_digit() => {}
                _ => kind.push(c),
            }
        }
        kind.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation seed {} broke an invariant at step {}: {}",
            self.seed, self.step, self.what
        )?;
        if let Some(r) = &self.recording {
            writeln!(f, "features: {}", r.features)?;
        }
        writeln!(
            f,
            "reproduce with: SIM_SEED={} cargo test --release --test simulation",
            self.seed
        )?;
        writeln!(f, "last trace lines:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs one simulation from its seed.
pub fn run(config: SimulationConfig) -> Result<Report, Violation> {
    let features = if config.swarm {
        Features::draw(config.seed)
    } else {
        Features::all()
    };
    World::new(config, features).go(None, config.steps)
}

/// Runs the steps of a recording, every check on, restoring the core where it says; a list of
/// steps that did not come from a run (the shrinker's) replays too.
pub fn replay(recording: &Recording) -> Result<Report, Violation> {
    replay_with(recording, true)
}

/// The same replay, with restores from snapshots left out: it must give the same trace.
pub fn replay_without_restores(recording: &Recording) -> Result<Report, Violation> {
    replay_with(recording, false)
}

fn replay_with(recording: &Recording, restore_snapshots: bool) -> Result<Report, Violation> {
    let config = SimulationConfig {
        restore_snapshots,
        ..SimulationConfig::new(recording.seed, recording.steps.len())
    };
    let mut w = World::new(config, recording.features);
    w.kernel = SimKernel::new(SimConfig {
        live_rename: recording.live_rename,
        ..SimConfig::default()
    });
    w.recording.live_rename = recording.live_rename;
    w.go(Some(recording), recording.steps.len())
}

/// Which part of a run the dice being rolled belong to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Steps,
    Liveness,
}

impl World {
    /// The set-up, the steps (drawn from the seed, or those of `script`), the liveness phase;
    /// a violation leaves with the recording of the run up to it.
    fn go(mut self, script: Option<&Recording>, steps: usize) -> Result<Report, Violation> {
        match self.drive(script, steps) {
            Ok(()) => Ok(self.report()),
            Err(mut v) => {
                self.end_phase();
                v.recording = Some(Box::new(self.recording));
                Err(v)
            }
        }
    }

    fn drive(&mut self, script: Option<&Recording>, steps: usize) -> Result<(), Violation> {
        self.begin_phase(Phase::Setup, script.map(|r| r.setup_dice.clone()));
        self.setup()?;
        for i in 0..steps {
            self.step = i + 1;
            let planned = script.map(|r| &r.steps[i]);
            self.begin_phase(Phase::Steps, planned.map(|s| s.dice.clone()));
            self.recording
                .steps
                .push(Step::new(Action::Nothing, &[], false));
            self.notify_drift_due()?;
            match planned {
                None => self.random_step()?,
                Some(s) => {
                    self.announce_due();
                    self.perform(&s.action)?;
                }
            }
            self.pump()?;
            self.maybe_drift();
            self.check_step()?;
            self.check_queries()?;
            let restore = match planned {
                None => self.restore_rng.chance(10),
                Some(s) => s.restore,
            };
            self.maybe_round_trip(restore)?;
        }
        self.step = steps + 1;
        self.begin_phase(Phase::Liveness, script.map(|r| r.liveness_dice.clone()));
        self.liveness()?;
        self.end_phase();
        Ok(())
    }

    /// Keeps the dice of the phase that ends, and starts rolling for the next.
    fn begin_phase(&mut self, phase: Phase, tape: Option<Vec<u64>>) {
        self.end_phase();
        self.phase = phase;
        self.dice.play(tape);
    }

    fn end_phase(&mut self) {
        let taken = self.dice.take();
        let keep = match self.phase {
            Phase::Setup => &mut self.recording.setup_dice,
            Phase::Liveness => &mut self.recording.liveness_dice,
            Phase::Steps => match self.recording.steps.last_mut() {
                Some(step) => &mut step.dice,
                None => return,
            },
        };
        keep.extend(taken);
    }

    fn on(&self, feature: Feature) -> bool {
        self.features.on(feature)
    }

    fn report(mut self) -> Report {
        let statuses = self.core.statuses();
        for f in self.features.list() {
            self.exercised(format!("swarm on {}", f.name()));
        }
        Report {
            seed: self.seed,
            features: self.features,
            trace_hash: self.trace_hash,
            events: self.events,
            commands: self.commands,
            convergence_checks: self.convergence_checks,
            applied: statuses
                .iter()
                .filter(|(_, s)| *s == nsagent_core::ItemState::Applied)
                .count(),
            pending: statuses
                .iter()
                .filter(|(_, s)| matches!(s, nsagent_core::ItemState::Pending { .. }))
                .count(),
            exercised: self.exercised,
            recording: self.recording,
        }
    }
}

/// Everything a run acts on: the core, the kernel, and the harness's own record of what was
/// asked and what is in flight.
struct World {
    seed: u64,
    faults: bool,
    /// The seed's draw of features (all of them without swarm testing).
    features: Features,
    /// The workload's draws; the harness's other rolls go through `dice`.
    rng: Rng,
    dice: Dice,
    phase: Phase,
    /// The run so far, as steps.
    recording: Recording,
    /// When to round-trip the core through its snapshot encoding mid-run: a stream of its own,
    /// so that the workload's draws (and the trace) are the same with and without restores.
    restore_rng: Rng,
    /// When and what drifts (`drift.rs`): a stream of its own, like `restore_rng`.
    drift_rng: Rng,
    /// Namespaces changed by hand that the core has not been told of yet, and in how many
    /// steps it is.
    drifted: Vec<(Netns, u32)>,
    /// How publishers spell intents and which broken ones they send (`intake.rs`): a stream of
    /// its own, as none of it changes what the core is fed.
    intake_rng: Rng,
    /// What `intake.rs` found wrong, reported at the end of the step.
    intake_errors: Vec<String>,
    /// Every item's state as the state changes taken so far tell it (`queries.rs`).
    published: BTreeMap<ItemKey, nsagent_core::ItemState>,
    core: Core,
    kernel: SimKernel,
    now: u64,
    seq: u64,
    step: usize,
    desired: BTreeMap<ItemKey, Item>,
    /// Links the agent must never touch, as they were seeded (minus vanished namespaces).
    unmanaged: Vec<(Netns, nsagent_sim::LinkDump)>,
    /// Namespaces that vanished without the core being told yet, and in how many steps it is.
    unannounced: Vec<(Netns, u32)>,
    /// Command results on their way back: applied in the kernel, not yet told to the core.
    held: Vec<(Command, Result<(), BackendError>)>,
    /// Commands the core issued for an event fed since the last batch was taken, each with
    /// what the dependency check said when it was issued: several events can be fed before
    /// the next batch is applied, and a later one may change the desired state the command
    /// was decided on (as in the daemon, which sends a batch's commands after its last event).
    issued: Vec<(Command, Option<Violation>)>,
    /// Whether a command in `issued` was decided while a vanish or a hand change was still
    /// untold: the kernel may refuse it even once the core knows, for it did not then.
    issued_blind: bool,
    /// The commands of the batch being applied that were decided at an earlier event than
    /// the last one fed.
    decided_earlier: Vec<nsagent_core::CommandId>,
    /// The commands the last event fed caused: decided knowing everything told so far.
    last_fed: Vec<nsagent_core::CommandId>,
    /// In the liveness phase nothing is held back any more.
    settling: bool,
    /// Addresses on a `lo` that the agent added before a restart that lost its state: it cannot
    /// know they were its own, so they are someone else's now.
    foreign_lo: BTreeMap<Netns, BTreeSet<IpNet>>,
    /// The links `e0` may borrow, as they must be whenever `e0` does not hold them
    /// (`borrow.rs`).
    lent: BTreeMap<String, nsagent_sim::LinkDump>,
    /// How much of VPP's TAP the agent can know (`tap.rs`).
    tap_known: tap::TapKnown,
    /// Namespaces the core asked to observe while results were held: observed once they come.
    asked: Vec<Netns>,
    /// Namespaces whose iptables tables the core asked to read (`Core::poll_chain_resync`),
    /// taken after every event as the driver does, and read at the next pump.
    asked_chains: Vec<Netns>,
    /// Rules of the agent's protocol the agent may not know are its own: held when it lost
    /// its state, or seeded so (`policy_rules.rs`).
    rule_leftovers: BTreeSet<(Netns, nsagent_core::RuleSpec)>,
    restore_snapshots: bool,
    /// What the ifindex checker knows of the managed links.
    ifindexes: Ifindexes,
    trace_hash: u64,
    exercised: BTreeMap<String, u64>,
    recent: VecDeque<String>,
    events: u64,
    commands: u64,
    convergence_checks: u64,
}

impl World {
    fn new(config: SimulationConfig, features: Features) -> World {
        // One seed in four runs a kernel older than 6.2, which renames only links that
        // are down.
        let live_rename = !config.seed.is_multiple_of(4);
        World {
            seed: config.seed,
            faults: config.faults,
            features,
            rng: Rng(config.seed),
            dice: Dice::new(),
            phase: Phase::Setup,
            recording: Recording {
                seed: config.seed,
                live_rename,
                features,
                setup_dice: Vec::new(),
                steps: Vec::new(),
                liveness_dice: Vec::new(),
            },
            restore_rng: Rng(config.seed ^ 0x5eed_5eed_5eed_5eed),
            drift_rng: Rng(config.seed ^ 0xd71f_7d71_f7d7_1f7d),
            drifted: Vec::new(),
            intake_rng: Rng(config.seed ^ 0x1a7a_ce00_1a7a_ce00),
            intake_errors: Vec::new(),
            published: BTreeMap::new(),
            core: Core::new(core_config()),
            kernel: SimKernel::new(SimConfig {
                live_rename,
                ..SimConfig::default()
            }),
            now: 0,
            seq: 0,
            step: 0,
            desired: BTreeMap::new(),
            unmanaged: Vec::new(),
            unannounced: Vec::new(),
            held: Vec::new(),
            issued: Vec::new(),
            issued_blind: false,
            decided_earlier: Vec::new(),
            last_fed: Vec::new(),
            settling: false,
            foreign_lo: BTreeMap::new(),
            lent: BTreeMap::new(),
            tap_known: tap::TapKnown::Fully,
            asked: Vec::new(),
            asked_chains: Vec::new(),
            rule_leftovers: BTreeSet::new(),
            restore_snapshots: config.restore_snapshots,
            ifindexes: Ifindexes::default(),
            trace_hash: 0xcbf2_9ce4_8422_2325,
            exercised: BTreeMap::new(),
            recent: VecDeque::new(),
            events: 0,
            commands: 0,
            convergence_checks: 0,
        }
    }

    /// A broken invariant at this step, with the trace lines that led to it.
    fn violation(&self, what: impl Into<String>) -> Violation {
        Violation {
            seed: self.seed,
            step: self.step,
            what: what.into(),
            recent: self.recent.iter().cloned().collect(),
            recording: None,
        }
    }

    /// Counts one more of `what` in the report's account of what the run exercised.
    fn exercised(&mut self, what: String) {
        *self.exercised.entry(what).or_default() += 1;
    }

    /// Adds a line to the trace: into the hash that proves determinism, and into the tail a
    /// violation shows.
    fn trace(&mut self, line: String) {
        for b in line.as_bytes().iter().chain(b"\n") {
            self.trace_hash ^= u64::from(*b);
            self.trace_hash = self.trace_hash.wrapping_mul(0x0100_0000_01b3);
        }
        if self.recent.len() == 500 {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// Hands an event to the core, as the daemon does after appending it to the log.
    fn feed(&mut self, event: Event) {
        self.events += 1;
        let line = format!("{} event {event:?}", self.now);
        self.exercised(format!(
            "event {}",
            variant(&line[line.find("event ").unwrap_or(0) + 6..])
        ));
        self.trace(line);
        if matches!(event, Event::Restarted) {
            // The core forgets the commands it had not handed out yet; so does the harness.
            self.issued.clear();
            self.issued_blind = false;
        }
        self.core.handle(Timestamp(self.now), event);
        // "No command is issued whose dependencies do not hold" is judged when the command is
        // issued, against the desired state the core knows then.
        self.last_fed.clear();
        while let Some(c) = self.core.poll_command() {
            self.last_fed.push(c.id);
            let judged = self.check_dependencies(&c).err();
            self.issued_blind |= !self.unannounced.is_empty() || self.drift_pending();
            self.issued.push((c, judged));
        }
        if let Some(wanted) = self.core.poll_chain_resync() {
            self.asked_chains.extend(wanted);
        }
    }

    /// The host before the agent starts: someone else's links, stale links of a previous run,
    /// a namespace holding some of them; then the agent's first resync.
    fn setup(&mut self) -> Result<(), Violation> {
        let sim_err = |e: nsagent_sim::SimError| Violation {
            seed: 0,
            step: 0,
            what: format!("setting up the sim failed: {e}"),
            recent: vec![],
            recording: None,
        };
        // Someone else's links, a stale link of a previous run, and a namespace to hold some.
        self.kernel
            .appear(Netns::Named("n0".into()))
            .map_err(sim_err)?;
        self.kernel.appear(Netns::Pid(PIDS[0])).map_err(sim_err)?;
        let mut u0 = SeedLink::new("u0", SeedKind::Dummy);
        u0.up = true;
        u0.addresses = vec!["10.200.0.1/24".parse().expect("literal")];
        self.kernel
            .seed_link(&Netns::Default, u0)
            .map_err(sim_err)?;
        self.kernel
            .seed_link(&Netns::Default, SeedLink::new("eth9", SeedKind::Other))
            .map_err(sim_err)?;
        self.kernel
            .seed_link(
                &Netns::Named("n0".into()),
                SeedLink::new("u2", SeedKind::Dummy),
            )
            .map_err(sim_err)?;
        for (ns, name) in [(Netns::Default, "ghost"), (Netns::Named("n0".into()), "v0")] {
            let mut stale = SeedLink::new(name, SeedKind::Dummy);
            stale.alias = Some(identity().mark(name));
            self.kernel.seed_link(&ns, stale).map_err(sim_err)?;
        }
        // Links marked by another agent, by an agent of before identities (no item of this
        // one wants it), and by hand: none of them is this agent's to touch.
        let other = AgentIdentity::new("other", InstanceId(0x0ddb_a11c_0ddb_a11c))
            .expect("a valid literal");
        for (name, alias) in [
            ("f0", other.mark("v1")),
            ("old0", "nsagent:old0".to_string()),
            ("h0", "nsagent:x".to_string()),
        ] {
            let mut foreign = SeedLink::new(name, SeedKind::Dummy);
            foreign.alias = Some(alias);
            self.kernel
                .seed_link(&Netns::Default, foreign)
                .map_err(sim_err)?;
        }
        self.seed_foreign_rules();
        self.seed_foreign_policy_rules();
        self.unmanaged = self.unmanaged_now();
        self.lend_originals();
        self.check_other_shapes();

        self.feed(Event::MicroserviceWatch { connected: true });
        self.feed(Event::NamespaceAvailable {
            ns: Netns::Pid(PIDS[0]),
        });
        self.identify_aliases();
        self.resync_after_restart()?;
        if self
            .kernel
            .dump()
            .marked_by(&identity())
            .iter()
            .any(|(_, l)| l.name == "ghost" || l.name == "v0")
        {
            return Err(self.violation("resync at start-up left stale managed links in place"));
        }
        Ok(())
    }

    /// The links the agent must leave alone, as the kernel has them now.
    pub(super) fn unmanaged_now(&self) -> Vec<(Netns, nsagent_sim::LinkDump)> {
        // `lo` is the kernel's; what the agent may do to it is not under test here.
        self.kernel
            .dump()
            .not_marked_by(&identity())
            .into_iter()
            .filter(|(_, l)| l.name != "lo")
            .filter(|(ns, l)| !self.borrowable(ns, &l.name))
            .filter(|(_, l)| !tap::is_tap(l))
            .collect()
    }
}

/// The name of the enum variant a `Debug` string starts with (`Put { .. }` -> `Put`).
fn variant(debug: &str) -> &str {
    let end = debug
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(debug.len());
    &debug[..end]
}

/// The simulated agent's identity: every link it makes carries its mark, and it must leave
/// every other link alone, other agents' included.
pub(super) fn identity() -> AgentIdentity {
    AgentIdentity::new("sim", InstanceId(0x5151_0000_5151_0000)).expect("a valid literal")
}

/// The simulated agent's core configuration, at every start.
pub(super) fn core_config() -> CoreConfig {
    CoreConfig {
        identity: identity(),
        ..CoreConfig::default()
    }
}

/// The interface item whose link `alias` marks as the simulated agent's.
pub(super) fn marked_item(alias: Option<&str>) -> Option<&str> {
    match identity().read(alias) {
        Mark::Mine(item) => Some(item),
        _ => None,
    }
}
