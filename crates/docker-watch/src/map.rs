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

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(id: &str, label: &str, pid: u32, started: i128) -> Observation {
        Observation {
            container_id: id.into(),
            label: label.into(),
            pid,
            started_at: StartTime(started),
        }
    }

    fn started(label: &str, id: &str, pid: u32, dups: &[&str]) -> Event {
        Event::MicroserviceStarted {
            label: label.into(),
            container_id: id.into(),
            pid,
            duplicates: dups.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn stopped(label: &str, id: &str) -> Event {
        Event::MicroserviceStopped {
            label: label.into(),
            container_id: id.into(),
        }
    }

    fn connected_map(observations: Vec<Observation>) -> MicroserviceMap {
        let mut map = MicroserviceMap::new();
        map.resync(observations);
        map
    }

    #[test]
    fn running_container_is_reported_started() {
        let mut map = connected_map(vec![]);
        assert_eq!(
            map.observe_running(obs("c1", "ms1", 10, 1)),
            vec![started("ms1", "c1", 10, &[])]
        );
        let entry = map.get("ms1").expect("entry for ms1");
        assert_eq!((entry.container_id.as_str(), entry.pid), ("c1", 10));
    }

    #[test]
    fn repeated_observation_is_silent() {
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 1)]);
        assert_eq!(map.observe_running(obs("c1", "ms1", 10, 1)), vec![]);
    }

    #[test]
    fn exit_of_winner_reports_stopped() {
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 1)]);
        assert_eq!(
            map.observe_exit("c1", StartTime(5)),
            vec![stopped("ms1", "c1")]
        );
        assert_eq!(map.get("ms1"), None);
    }

    #[test]
    fn exit_at_the_start_instant_still_counts() {
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 5)]);
        assert_eq!(
            map.observe_exit("c1", StartTime(5)),
            vec![stopped("ms1", "c1")]
        );
    }

    #[test]
    fn stale_exit_of_an_earlier_process_is_ignored() {
        // The resync already saw the restarted process (started at 20); the replayed die event
        // of the previous process (at 15) must not stop it.
        let mut map = connected_map(vec![obs("c1", "ms1", 11, 20)]);
        assert_eq!(map.observe_exit("c1", StartTime(15)), vec![]);
        assert_eq!(map.get("ms1").map(|e| e.pid), Some(11));
    }

    #[test]
    fn exit_of_unknown_container_is_ignored() {
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 1)]);
        assert_eq!(map.observe_exit("other", StartTime(5)), vec![]);
        assert_eq!(map.observe_gone("other"), vec![]);
    }

    #[test]
    fn destroyed_container_is_gone_whatever_its_start_time() {
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 100)]);
        assert_eq!(map.observe_gone("c1"), vec![stopped("ms1", "c1")]);
    }

    #[test]
    fn restart_with_new_pid_reports_started_with_the_new_pid() {
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 1)]);
        assert_eq!(
            map.observe_exit("c1", StartTime(2)),
            vec![stopped("ms1", "c1")]
        );
        assert_eq!(
            map.observe_running(obs("c1", "ms1", 11, 3)),
            vec![started("ms1", "c1", 11, &[])]
        );
    }

    #[test]
    fn new_pid_without_exit_reports_started_with_the_new_pid() {
        // A missed die event (or a resync) must still move the label to the new process.
        let mut map = connected_map(vec![obs("c1", "ms1", 10, 1)]);
        assert_eq!(
            map.observe_running(obs("c1", "ms1", 11, 3)),
            vec![started("ms1", "c1", 11, &[])]
        );
    }

    #[test]
    fn duplicate_label_newest_wins_and_lists_the_loser() {
        let mut map = connected_map(vec![obs("old", "ms1", 10, 1)]);
        assert_eq!(
            map.observe_running(obs("new", "ms1", 20, 2)),
            vec![started("ms1", "new", 20, &["old"])]
        );
    }

    #[test]
    fn duplicate_that_started_earlier_does_not_take_over() {
        // Observed later (e.g. its inspect was slow) but started earlier: it loses, and the
        // winner is reported again only to list it as a duplicate.
        let mut map = connected_map(vec![obs("new", "ms1", 20, 2)]);
        assert_eq!(
            map.observe_running(obs("old", "ms1", 10, 1)),
            vec![started("ms1", "new", 20, &["old"])]
        );
    }

    #[test]
    fn duplicates_are_listed_newest_first() {
        let mut map = connected_map(vec![
            obs("a", "ms1", 1, 1),
            obs("c", "ms1", 3, 3),
            obs("b", "ms1", 2, 2),
        ]);
        let entry = map.get("ms1").expect("entry");
        assert_eq!(entry.container_id, "c");
        assert_eq!(entry.duplicates, vec!["b".to_string(), "a".to_string()]);
        assert_eq!(map.observe_running(obs("b", "ms1", 2, 2)), vec![]);
    }

    #[test]
    fn stop_of_winner_hands_the_label_to_the_next_newest() {
        let mut map = connected_map(vec![
            obs("a", "ms1", 1, 1),
            obs("b", "ms1", 2, 2),
            obs("c", "ms1", 3, 3),
        ]);
        assert_eq!(
            map.observe_exit("c", StartTime(10)),
            vec![started("ms1", "b", 2, &["a"])]
        );
        assert_eq!(
            map.observe_exit("b", StartTime(10)),
            vec![started("ms1", "a", 1, &[])]
        );
        assert_eq!(
            map.observe_exit("a", StartTime(10)),
            vec![stopped("ms1", "a")]
        );
    }

    #[test]
    fn stop_of_a_loser_only_updates_the_duplicates() {
        let mut map = connected_map(vec![obs("a", "ms1", 1, 1), obs("b", "ms1", 2, 2)]);
        assert_eq!(
            map.observe_exit("a", StartTime(10)),
            vec![started("ms1", "b", 2, &[])]
        );
    }

    #[test]
    fn winner_does_not_depend_on_observation_order() {
        let all = [
            obs("a", "ms1", 1, 5),
            obs("b", "ms1", 2, 7),
            obs("c", "ms1", 3, 6),
        ];
        let orders = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        for order in orders {
            let mut map = connected_map(vec![]);
            for i in order {
                map.observe_running(all[i].clone());
            }
            let entry = map.get("ms1").expect("entry");
            assert_eq!(entry.container_id, "b", "order {order:?}");
            assert_eq!(
                entry.duplicates,
                vec!["c".to_string(), "a".to_string()],
                "order {order:?}"
            );
        }
    }

    #[test]
    fn resync_of_the_same_duplicates_never_flips_the_winner() {
        let set = vec![obs("a", "ms1", 1, 5), obs("b", "ms1", 2, 5)];
        let mut map = connected_map(set.clone());
        for _ in 0..3 {
            let mut reversed = set.clone();
            reversed.reverse();
            map.disconnected();
            assert_eq!(
                map.resync(reversed),
                vec![Event::MicroserviceWatch { connected: true }]
            );
            assert_eq!(
                map.get("ms1").map(|e| e.container_id),
                Some("b".to_string())
            );
        }
    }

    #[test]
    fn equal_start_times_are_broken_by_container_id() {
        let mut map = connected_map(vec![]);
        map.observe_running(obs("b", "ms1", 2, 5));
        assert_eq!(
            map.observe_running(obs("a", "ms1", 1, 5)),
            vec![started("ms1", "b", 2, &["a"])]
        );
    }

    #[test]
    fn labels_are_independent() {
        let mut map = connected_map(vec![obs("a", "ms1", 1, 1)]);
        assert_eq!(
            map.observe_running(obs("b", "ms2", 2, 2)),
            vec![started("ms2", "b", 2, &[])]
        );
        assert_eq!(
            map.observe_exit("a", StartTime(3)),
            vec![stopped("ms1", "a")]
        );
        assert_eq!(map.get("ms2").map(|e| e.pid), Some(2));
    }

    #[test]
    fn relabelled_container_leaves_its_old_label() {
        let mut map = connected_map(vec![obs("a", "ms1", 1, 1)]);
        assert_eq!(
            map.observe_running(obs("a", "ms2", 1, 1)),
            vec![started("ms2", "a", 1, &[]), stopped("ms1", "a")]
        );
    }

    #[test]
    fn first_resync_reports_running_containers_then_connected() {
        let mut map = MicroserviceMap::new();
        assert!(!map.is_connected());
        assert_eq!(
            map.resync(vec![obs("a", "ms1", 1, 1)]),
            vec![
                started("ms1", "a", 1, &[]),
                Event::MicroserviceWatch { connected: true }
            ]
        );
        assert!(map.is_connected());
    }

    #[test]
    fn failure_before_any_connection_reports_disconnected_once() {
        let mut map = MicroserviceMap::new();
        assert_eq!(
            map.disconnected(),
            vec![Event::MicroserviceWatch { connected: false }]
        );
        assert_eq!(map.disconnected(), vec![]);
    }

    #[test]
    fn disconnect_reports_once_and_keeps_the_map() {
        let mut map = connected_map(vec![obs("a", "ms1", 1, 1)]);
        assert_eq!(
            map.disconnected(),
            vec![Event::MicroserviceWatch { connected: false }]
        );
        assert_eq!(map.disconnected(), vec![]);
        assert!(!map.is_connected());
        assert_eq!(map.get("ms1").map(|e| e.pid), Some(1));
    }

    #[test]
    fn resync_after_disconnect_reports_only_differences_then_connected() {
        let mut map = connected_map(vec![
            obs("same", "keep", 1, 1),
            obs("gone", "vanish", 2, 1),
            obs("restarted", "repid", 3, 1),
        ]);
        map.disconnected();
        let events = map.resync(vec![
            obs("same", "keep", 1, 1),
            obs("restarted", "repid", 30, 9),
            obs("fresh", "new", 4, 9),
        ]);
        assert_eq!(
            events,
            vec![
                started("new", "fresh", 4, &[]),
                started("repid", "restarted", 30, &[]),
                stopped("vanish", "gone"),
                Event::MicroserviceWatch { connected: true },
            ]
        );
        assert_eq!(map.entries().len(), 3);
    }

    #[test]
    fn resync_that_removes_the_winner_hands_over_to_the_duplicate() {
        let mut map = connected_map(vec![obs("a", "ms1", 1, 1), obs("b", "ms1", 2, 2)]);
        map.disconnected();
        assert_eq!(
            map.resync(vec![obs("a", "ms1", 1, 1)]),
            vec![
                started("ms1", "a", 1, &[]),
                Event::MicroserviceWatch { connected: true }
            ]
        );
    }

    #[test]
    fn resync_while_connected_does_not_repeat_connected() {
        let mut map = connected_map(vec![obs("a", "ms1", 1, 1)]);
        assert_eq!(map.resync(vec![obs("a", "ms1", 1, 1)]), vec![]);
    }

    #[test]
    fn entries_are_sorted_by_label() {
        let map = connected_map(vec![obs("x", "zeta", 1, 1), obs("y", "alpha", 2, 1)]);
        let labels: Vec<String> = map.entries().into_iter().map(|e| e.label).collect();
        assert_eq!(labels, vec!["alpha".to_string(), "zeta".to_string()]);
    }
}
