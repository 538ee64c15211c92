//! A run as a list of steps, so that it can be replayed without its seed — with steps left out,
//! which is what the shrinker does. A step is the one thing the outside world did (an
//! [`Action`], its random choices already made), the dice the harness rolled while the core's
//! commands went through the kernel (their order, whether results were held), and whether the
//! core was restored from its snapshot after it.
//!
//! A seeded run records itself as it goes; a replay performs the recorded actions and plays the
//! recorded dice back, and records itself the same way. An action whose conditions no longer
//! hold (a namespace to vanish that is not there, an item to delete that nobody put) does
//! nothing; dice that run out are drawn from a fixed stream. So any list of steps replays, and
//! always the same way.

use std::fmt::Write as _;

use nsagent_core::{ItemKey, Netns};

use super::rng::Rng;
use super::swarm::Features;
use super::{Violation, World};

/// What the outside world did in one step, with every random choice made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The step's roll did nothing (nothing to delete, no namespace to vanish).
    Nothing,
    /// An intent published: the item's key, as the bucket has it, and its JSON value.
    Put {
        key: String,
        value: serde_json::Value,
    },
    Delete {
        key: String,
    },
    /// A namespace goes away; silently, the watcher announces it only that many steps later.
    Vanish {
        ns: Netns,
        silently: Option<u32>,
    },
    /// A process namespace appears.
    Appear {
        ns: Netns,
    },
    StartMicroservice {
        label: String,
    },
    StopMicroservice {
        label: String,
    },
    /// A microservice restarts with a fresh pid; Docker may or may not report the stop.
    RestartMicroservice {
        label: String,
        report_stop: bool,
    },
    /// The next `count` kernel operations fail with `errno`.
    Fault {
        errno: i32,
        count: u32,
    },
    /// The kernel observed again while results are held.
    Reobserve,
    /// Time passes.
    Advance {
        ms: u64,
    },
    Restart {
        lose_state: bool,
    },
    /// A process `ns` (a pid) starts inside the namespace `of`: an alias of it.
    Alias {
        ns: Netns,
        of: Netns,
    },
    /// "VPP" makes its TAP in the default namespace (`tap.rs`), if it has none.
    TapMade,
    /// "VPP" removes its TAP, wherever it is now.
    TapRemoved,
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    /// The harness's rolls after the action, each already reduced to its range.
    pub dice: Vec<u64>,
    /// Whether the core was restored from its snapshot after the step.
    pub restore: bool,
}

impl Step {
    pub fn new(action: Action, dice: &[u64], restore: bool) -> Step {
        Step {
            action,
            dice: dice.to_vec(),
            restore,
        }
    }
}

/// A whole run: what the seed decided once (the kernel's kind, the swarm's features), the dice
/// of the set-up and of the liveness phase, and the steps between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The seed the run came from; only a label in a replay.
    pub seed: u64,
    /// Whether the kernel renames links that are up (6.2 and later).
    pub live_rename: bool,
    pub features: Features,
    pub setup_dice: Vec<u64>,
    pub steps: Vec<Step>,
    pub liveness_dice: Vec<u64>,
}

/// Where the harness's rolls come from: the seed's stream (and then they are recorded), or a
/// recording's dice (and when those run out, a fixed stream).
pub(super) struct Dice {
    tape: Option<(Vec<u64>, usize)>,
    fallback: Rng,
    taken: Vec<u64>,
}

impl Dice {
    pub(super) fn new() -> Dice {
        Dice {
            tape: None,
            fallback: Rng(0xd1ce_d1ce_d1ce_d1ce),
            taken: Vec::new(),
        }
    }

    /// Starts a phase: play `tape` back, or (without one) roll the seed's stream.
    pub(super) fn play(&mut self, tape: Option<Vec<u64>>) {
        self.tape = tape.map(|t| (t, 0));
    }

    /// The rolls of the phase so far, which the recording keeps.
    pub(super) fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.taken)
    }
}

impl World {
    /// A number below `n`, from the recording being replayed or from the seed.
    pub(super) fn roll(&mut self, n: u64) -> u64 {
        let value = match &mut self.dice.tape {
            Some((tape, at)) if *at < tape.len() => {
                *at += 1;
                tape[*at - 1] % n
            }
            Some(_) => self.dice.fallback.below(n),
            None => self.rng.below(n),
        };
        self.dice.taken.push(value);
        value
    }

    /// Notes the step's action in the recording (a seeded run records as it goes).
    pub(super) fn record(&mut self, action: &Action) {
        if let Some(step) = self.recording.steps.last_mut() {
            step.action = action.clone();
        }
    }

    /// Does what a recorded action says.
    pub(super) fn perform(&mut self, action: &Action) -> Result<(), Violation> {
        match action {
            Action::Nothing => self.record(action),
            Action::Put { key, value } => {
                self.put_value(key, value.clone()).map_err(|e| {
                    self.violation(format!("a recorded put of {key} is invalid: {e}"))
                })?;
            }
            Action::Delete { key } => {
                let parsed: ItemKey = key.parse().map_err(|e| {
                    self.violation(format!("a recorded delete names a bad key {key}: {e}"))
                })?;
                self.delete(parsed);
            }
            Action::Vanish { ns, silently } => self.vanish_now(ns, *silently),
            Action::Appear { ns } => self.appear(ns.clone()),
            Action::StartMicroservice { label } => self.start_microservice(label),
            Action::StopMicroservice { label } => self.stop_microservice(label),
            Action::RestartMicroservice { label, report_stop } => {
                self.restart_microservice(label, *report_stop)
            }
            Action::Fault { errno, count } => self.fault(*errno, *count),
            Action::Reobserve => return self.reobserve(),
            Action::Advance { ms } => self.advance(*ms),
            Action::Restart { lose_state } => return self.restart(*lose_state),
            Action::Alias { ns, of } => self.alias(ns.clone(), of.clone()),
            Action::TapMade => self.make_tap(),
            Action::TapRemoved => self.remove_tap(),
        }
        Ok(())
    }
}

impl Recording {
    /// Rust code that builds this recording, to paste into a test beside
    /// `nsagent::simulation::replay`.
    pub fn to_rust(&self) -> String {
        let mut out = String::new();
        let features: Vec<String> = self
            .features
            .list()
            .iter()
            .map(|f| format!("Feature::{f:?}"))
            .collect();
        let _ = writeln!(out, "Recording {{");
        let _ = writeln!(out, "    seed: {},", self.seed);
        let _ = writeln!(out, "    live_rename: {},", self.live_rename);
        let _ = writeln!(
            out,
            "    features: Features::from_list(&[{}]),",
            features.join(", ")
        );
        let _ = writeln!(out, "    setup_dice: vec!{:?},", self.setup_dice);
        let _ = writeln!(out, "    steps: vec![");
        for s in &self.steps {
            let _ = writeln!(
                out,
                "        Step::new({}, &{:?}, {}),",
                action_rust(&s.action),
                s.dice,
                s.restore
            );
        }
        let _ = writeln!(out, "    ],");
        let _ = writeln!(out, "    liveness_dice: vec!{:?},", self.liveness_dice);
        let _ = write!(out, "}}");
        out
    }
}

fn netns_rust(ns: &Netns) -> String {
    match ns {
        Netns::Default => "Netns::Default".into(),
        Netns::Named(n) => format!("Netns::Named({n:?}.into())"),
        Netns::Pid(p) => format!("Netns::Pid({p})"),
        Netns::Task { pid, tid } => format!("Netns::Task {{ pid: {pid}, tid: {tid} }}"),
    }
}

fn action_rust(a: &Action) -> String {
    match a {
        Action::Nothing => "Action::Nothing".into(),
        Action::Put { key, value } => {
            format!("Action::Put {{ key: {key:?}.into(), value: json!({value}) }}")
        }
        Action::Delete { key } => format!("Action::Delete {{ key: {key:?}.into() }}"),
        Action::Vanish { ns, silently } => format!(
            "Action::Vanish {{ ns: {}, silently: {silently:?} }}",
            netns_rust(ns)
        ),
        Action::Appear { ns } => format!("Action::Appear {{ ns: {} }}", netns_rust(ns)),
        Action::StartMicroservice { label } => {
            format!("Action::StartMicroservice {{ label: {label:?}.into() }}")
        }
        Action::StopMicroservice { label } => {
            format!("Action::StopMicroservice {{ label: {label:?}.into() }}")
        }
        Action::RestartMicroservice { label, report_stop } => format!(
            "Action::RestartMicroservice {{ label: {label:?}.into(), report_stop: {report_stop} }}"
        ),
        Action::Fault { errno, count } => {
            format!("Action::Fault {{ errno: {errno}, count: {count} }}")
        }
        Action::Reobserve => "Action::Reobserve".into(),
        Action::Advance { ms } => format!("Action::Advance {{ ms: {ms} }}"),
        Action::Restart { lose_state } => format!("Action::Restart {{ lose_state: {lose_state} }}"),
        Action::Alias { ns, of } => format!(
            "Action::Alias {{ ns: {}, of: {} }}",
            netns_rust(ns),
            netns_rust(of)
        ),
        Action::TapMade => "Action::TapMade".into(),
        Action::TapRemoved => "Action::TapRemoved".into(),
    }
}
