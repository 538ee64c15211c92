//! The shrinker: a failing run's recording cut down to a short list of steps that still fails
//! the same way, so that debugging starts from ten events rather than nine hundred.
//!
//! It replays candidates (`replay.rs` makes any list of steps replay, deterministically) and
//! keeps one whenever it still fails: first delta debugging over the steps (halves, then
//! quarters, ... and their complements), then leaving out single steps until none can go, then
//! simpler values in what is left (fewer fields and addresses in a put), then single steps once
//! more. It stops at its budget and returns the shortest failing list found so far.

use std::time::{Duration, Instant};

use super::replay::{Action, Recording, Step};
use super::{replay, Violation};

/// A shrunk failure.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The shortest failing recording found, as its last replay recorded it (so that it
    /// replays without running out of dice).
    pub recording: Recording,
    /// How many steps the failing run had.
    pub original_steps: usize,
    /// How many candidates were replayed.
    pub replays: usize,
    /// Whether the budget ran out before the shrinker was done.
    pub cut_short: bool,
}

/// Shrinks the run of a violation to the shortest list of steps found within `budget` whose
/// replay breaks an invariant of the same kind. `None` when the violation carries no
/// recording or its recording does not fail again when replayed.
pub fn shrink_violation(violation: &Violation, budget: Duration) -> Option<(Shrunk, Violation)> {
    let recording = violation.recording.as_deref()?;
    let kind = violation.kind();
    let fails = |r: &Recording| replay(r).err().is_some_and(|v| v.kind() == kind);
    let shrunk = shrink(recording, fails, budget)?;
    let again = replay(&shrunk.recording).err()?;
    Some((shrunk, again))
}

/// Shrinks `recording` to the shortest list of steps found within `budget` for which `fails`
/// holds; `None` if it does not hold for `recording` itself. The result is re-recorded by
/// one more replay, so that it carries exactly the dice it uses.
pub fn shrink(
    recording: &Recording,
    mut fails: impl FnMut(&Recording) -> bool,
    budget: Duration,
) -> Option<Shrunk> {
    if !fails(recording) {
        return None;
    }
    let mut s = Shrinker {
        best: recording.clone(),
        fails: &mut fails,
        deadline: Instant::now() + budget,
        replays: 1,
        cut_short: false,
    };
    s.delta_debug();
    s.remove_single_steps();
    s.simplify_puts();
    s.remove_single_steps();
    let mut best = s.best;
    let (replays, cut_short) = (s.replays, s.cut_short);
    // The replay records the dice the steps really use; that recording fails the same way.
    let recorded = match replay(&best) {
        Ok(report) => Some(report.recording),
        Err(v) => v.recording.map(|r| *r),
    };
    if let Some(r) = recorded.filter(|r| fails(r)) {
        best = r;
    }
    Some(Shrunk {
        recording: best,
        original_steps: recording.steps.len(),
        replays,
        cut_short,
    })
}

struct Shrinker<'a, F: FnMut(&Recording) -> bool> {
    best: Recording,
    fails: &'a mut F,
    deadline: Instant,
    replays: usize,
    cut_short: bool,
}

impl<F: FnMut(&Recording) -> bool> Shrinker<'_, F> {
    /// Whether the budget is spent (and then, that the result is cut short).
    fn spent(&mut self) -> bool {
        if Instant::now() >= self.deadline {
            self.cut_short = true;
        }
        self.cut_short
    }

    /// Keeps `steps` if the recording with them still fails.
    fn attempt(&mut self, steps: Vec<Step>) -> bool {
        if self.spent() {
            return false;
        }
        let candidate = Recording {
            steps,
            ..self.best.clone()
        };
        self.replays += 1;
        if (self.fails)(&candidate) {
            self.best = candidate;
            true
        } else {
            false
        }
    }

    /// Delta debugging: try each of `n` chunks alone, then each complement; on success go on
    /// from the smaller list, otherwise split finer.
    fn delta_debug(&mut self) {
        let mut n = 2usize;
        while self.best.steps.len() >= 2 && !self.spent() {
            let len = self.best.steps.len();
            let size = len.div_ceil(n);
            let chunks: Vec<(usize, usize)> = (0..len)
                .step_by(size)
                .map(|start| (start, (start + size).min(len)))
                .collect();
            let steps = self.best.steps.clone();
            let mut reduced = false;
            for &(a, b) in &chunks {
                if self.attempt(steps[a..b].to_vec()) {
                    n = 2;
                    reduced = true;
                    break;
                }
            }
            if !reduced && chunks.len() > 2 {
                for &(a, b) in &chunks {
                    let complement = [&steps[..a], &steps[b..]].concat();
                    if self.attempt(complement) {
                        n = (n - 1).max(2);
                        reduced = true;
                        break;
                    }
                }
            }
            if !reduced {
                if n >= len {
                    break;
                }
                n = (2 * n).min(len);
            }
        }
    }

    /// Leaves out one step at a time, from the end, until none can go.
    fn remove_single_steps(&mut self) {
        let mut i = self.best.steps.len();
        while i > 0 && !self.spent() {
            i -= 1;
            let mut steps = self.best.steps.clone();
            steps.remove(i);
            self.attempt(steps);
            i = i.min(self.best.steps.len());
        }
    }

    /// Tries each put with one field, or one element of a list, left out.
    fn simplify_puts(&mut self) {
        for i in 0..self.best.steps.len() {
            let mut at = 0;
            loop {
                let Some(step) = self.best.steps.get(i) else {
                    return;
                };
                let Action::Put { key, value } = &step.action else {
                    break;
                };
                let options = simpler_values(value);
                let Some(simpler) = options.get(at).cloned() else {
                    break;
                };
                let mut steps = self.best.steps.clone();
                steps[i].action = Action::Put {
                    key: key.clone(),
                    value: simpler,
                };
                if !self.attempt(steps) {
                    at += 1;
                }
                if self.spent() {
                    return;
                }
            }
        }
    }
}

/// The value with one optional field, or one element of a list field, left out. The item's
/// identity (`name`, `type`, and the fields a route or neighbour is keyed by) stays.
fn simpler_values(value: &serde_json::Value) -> Vec<serde_json::Value> {
    const KEEP: [&str; 6] = [
        "name",
        "type",
        "outgoing_interface",
        "dst_network",
        "interface",
        "ip_address",
    ];
    let Some(obj) = value.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (field, v) in obj {
        if let Some(list) = v.as_array() {
            for i in 0..list.len() {
                let mut shorter = value.clone();
                if let Some(l) = shorter[field.as_str()].as_array_mut() {
                    l.remove(i);
                }
                out.push(shorter);
            }
        } else if !KEEP.contains(&field.as_str()) {
            let mut without = value.clone();
            if let Some(o) = without.as_object_mut() {
                o.remove(field);
            }
            out.push(without);
        }
    }
    out
}

impl Shrunk {
    /// A test to paste (into `tests/`, beside the simulation): the shrunk steps, replayed with
    /// every check on. It fails while the bug is there, and guards against its return after.
    pub fn to_test(&self, name: &str, violation: &Violation) -> String {
        let body = self.recording.to_rust().replace('\n', "\n    ");
        format!(
            "/// Shrunk by the simulation's shrinker from seed {seed}'s {from} steps to {to}; it broke:\n\
             /// {kind}.\n\
             #[test]\n\
             fn {name}() {{\n    \
                 #[allow(unused_imports)]\n    \
                 use nsagent::core::Netns;\n    \
                 #[allow(unused_imports)]\n    \
                 use nsagent::simulation::{{replay, Action, Feature, Features, Recording, Step}};\n    \
                 #[allow(unused_imports)]\n    \
                 use serde_json::json;\n    \
                 let recording = {body};\n    \
                 replay(&recording).unwrap_or_else(|v| panic!(\"{{v}}\"));\n\
             }}\n",
            seed = self.recording.seed,
            from = self.original_steps,
            to = self.recording.steps.len(),
            kind = violation.kind(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn violation(what: &str) -> Violation {
        Violation {
            seed: 1,
            step: 2,
            what: what.into(),
            recent: vec![],
            recording: None,
        }
    }

    #[test]
    fn a_violations_kind_drops_numbers_names_and_details() {
        let v = violation(
            "command 28 (create veth v0 in namespace 'n2' with peer v3) issued although the two \
             veth ends do not both want this pair",
        );
        assert_eq!(
            v.kind(),
            "command issued although the two veth ends do not both want this pair"
        );
        let v = violation("a link's ifindex changed where it should not:\n  link v0 (nsagent:v0)");
        assert_eq!(v.kind(), "a link's ifindex changed where it should not");
    }

    #[test]
    fn a_violation_without_a_recording_does_not_shrink() {
        assert!(shrink_violation(&violation("x"), Duration::from_secs(1)).is_none());
    }

    #[test]
    fn simpler_values_leave_out_one_optional_thing_each() {
        let v = json!({"name": "v0", "type": "VETH", "mtu": 1400, "ip_addresses": ["a", "b"]});
        let got = simpler_values(&v);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.contains(&json!({"name": "v0", "type": "VETH", "ip_addresses": ["a", "b"]})));
        assert!(got
            .contains(&json!({"name": "v0", "type": "VETH", "mtu": 1400, "ip_addresses": ["b"]})));
    }
}
