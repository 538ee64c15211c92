//! The policy of the watcher: which container serves each microservice label, and which
//! [`Event`]s a change in the set of running containers is worth to the core.
//!
//! Nothing here talks to Docker. The I/O layer turns what the daemon says into
//! [`Observation`]s (a container runs with this pid) and departures (a container no longer
//! runs); the map answers with the core events, so every rule can be tested without a daemon.

use std::collections::BTreeMap;

use nsagent_core::Event;

use crate::observation::{Observation, StartTime};

/// What the map has told the core about one label: the winning container and the losers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reported {
    container_id: String,
    pid: u32,
    duplicates: Vec<String>,
}

/// A running microservice container as the map remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Running {
    label: String,
    pid: u32,
    started_at: StartTime,
}

/// Live map from microservice label to the container (and pid) that serves it.
///
/// Every running container with a label is remembered, not only the winner, so that when the
/// winner stops the next-newest duplicate takes over without asking the daemon again. The
/// winner of a label is a pure function of the running set — the newest start time, ties broken
/// by container id — so the order in which observations arrive, or a resync that sees the same
/// containers again, can never make the map alternate between two containers.
#[derive(Debug, Clone, Default)]
pub struct MicroserviceMap {
    running: BTreeMap<String, Running>,
    reported: BTreeMap<String, Reported>,
    link: Link,
}

/// What the core was last told about the connection to the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Link {
    /// Nothing yet: the first attempt decides, whether it succeeds or fails.
    #[default]
    Untold,
    Connected,
    Disconnected,
}

/// The entry of one label, for status displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub container_id: String,
    pub pid: u32,
    /// Other running containers with the same label, which lost to `container_id`.
    pub duplicates: Vec<String>,
}

impl MicroserviceMap {
    pub fn new() -> MicroserviceMap {
        MicroserviceMap::default()
    }

    /// Whether the last word from the source was a successful resync (and no disconnect since).
    pub fn is_connected(&self) -> bool {
        self.link == Link::Connected
    }

    /// The winner of every label, sorted by label.
    pub fn entries(&self) -> Vec<Entry> {
        self.reported
            .iter()
            .map(|(label, r)| Entry {
                label: label.clone(),
                container_id: r.container_id.clone(),
                pid: r.pid,
                duplicates: r.duplicates.clone(),
            })
            .collect()
    }

    /// The winner of one label.
    pub fn get(&self, label: &str) -> Option<Entry> {
        self.reported.get(label).map(|r| Entry {
            label: label.to_string(),
            container_id: r.container_id.clone(),
            pid: r.pid,
            duplicates: r.duplicates.clone(),
        })
    }

    /// A container is running (it started, restarted, or was found running).
    pub fn observe_running(&mut self, obs: Observation) -> Vec<Event> {
        let mut labels = vec![obs.label.clone()];
        let new = Running {
            label: obs.label,
            pid: obs.pid,
            started_at: obs.started_at,
        };
        if let Some(old) = self.running.insert(obs.container_id, new) {
            // Docker never relabels a container, but a map fed from two sources could be told
            // so; the old label must then lose the container.
            if old.label != labels[0] {
                labels.push(old.label);
            }
        }
        self.settle(labels)
    }

    /// A container no longer exists or no longer runs, whatever its process. Unknown containers
    /// are ignored: most containers are not microservices.
    pub fn observe_gone(&mut self, container_id: &str) -> Vec<Event> {
        match self.running.remove(container_id) {
            Some(old) => self.settle(vec![old.label]),
            None => Vec::new(),
        }
    }

    /// A container's process exited at `at` (the daemon's die or stop event). An exit older than
    /// the process the map knows is about an earlier process of the same container — an event
    /// replayed after a resync that already saw the restart — and is ignored.
    pub fn observe_exit(&mut self, container_id: &str, at: StartTime) -> Vec<Event> {
        match self.running.get(container_id) {
            Some(known) if known.started_at > at => Vec::new(),
            Some(_) => self.observe_gone(container_id),
            None => Vec::new(),
        }
    }

    /// The source of observations is lost (or could not be reached at all). The map keeps what
    /// it knows — containers may outlive a daemon restart — and tells the core once that the
    /// knowledge may be stale; repeated failures while disconnected say nothing more.
    pub fn disconnected(&mut self) -> Vec<Event> {
        if self.link == Link::Disconnected {
            return Vec::new();
        }
        self.link = Link::Disconnected;
        vec![Event::MicroserviceWatch { connected: false }]
    }

    /// A complete list of the running microservice containers, taken after (re)connecting.
    /// Emits only the differences with what the map knew, then `connected: true` if the map was
    /// not connected, so that when the core hears it is connected the map it holds is current.
    pub fn resync(&mut self, observations: Vec<Observation>) -> Vec<Event> {
        let mut labels: Vec<String> = self.running.values().map(|r| r.label.clone()).collect();
        self.running.clear();
        for obs in observations {
            labels.push(obs.label.clone());
            self.running.insert(
                obs.container_id,
                Running {
                    label: obs.label,
                    pid: obs.pid,
                    started_at: obs.started_at,
                },
            );
        }
        labels.sort();
        labels.dedup();
        let mut events = self.settle(labels);
        if self.link != Link::Connected {
            self.link = Link::Connected;
            events.push(Event::MicroserviceWatch { connected: true });
        }
        events
    }

    /// Recomputes the winner of each label and returns the events for those that changed.
    fn settle(&mut self, labels: Vec<String>) -> Vec<Event> {
        let mut events = Vec::new();
        for label in labels {
            let wanted = self.winner(&label);
            let previous = self.reported.get(&label);
            if previous == wanted.as_ref() {
                continue;
            }
            match wanted {
                Some(w) => {
                    if !w.duplicates.is_empty() {
                        tracing::warn!(
                            label = %label,
                            winner = %w.container_id,
                            duplicates = ?w.duplicates,
                            "several running containers carry one microservice label; the newest wins"
                        );
                    }
                    events.push(Event::MicroserviceStarted {
                        label: label.clone(),
                        container_id: w.container_id.clone(),
                        pid: w.pid,
                        duplicates: w.duplicates.clone(),
                    });
                    self.reported.insert(label, w);
                }
                None => {
                    if let Some(old) = self.reported.remove(&label) {
                        events.push(Event::MicroserviceStopped {
                            label,
                            container_id: old.container_id,
                        });
                    }
                }
            }
        }
        events
    }

    /// The newest running container of a label, with the others newest first.
    fn winner(&self, label: &str) -> Option<Reported> {
        let mut candidates: Vec<(&StartTime, &String, u32)> = self
            .running
            .iter()
            .filter(|(_, r)| r.label == label)
            .map(|(id, r)| (&r.started_at, id, r.pid))
            .collect();
        candidates.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
        let mut it = candidates.into_iter();
        let (_, id, pid) = it.next()?;
        Some(Reported {
            container_id: id.clone(),
            pid,
            duplicates: it.map(|(_, id, _)| id.clone()).collect(),
        })
    }
}
