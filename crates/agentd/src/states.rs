//! Interface states on NATS: answered on request (`nsagentctl state`, with counters), and
//! watched — looked at every `--state-interval`, with each change of an interface's status
//! (admin or operational, its link replaced) published on `nsagent.<label>.interface-state` as
//! `{"type": "UPDOWN", "state": {...}}`, and an interface whose item is gone or holds no link any
//! more as `{"type": "DELETED", "state": <its last state>}`, as vpp-agent's interface
//! notifications are. The first look publishes every interface, so a subscriber that starts with
//! the agent learns them all. Counters change all the time and are not a change.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::driver::Input;

/// What the watcher last published, by interface item name.
#[derive(Debug, Default)]
pub(crate) struct StateWatch {
    last: BTreeMap<String, Value>,
}

/// An interface's state without its counters: what a change is judged by.
fn without_counters(entry: &Value) -> Value {
    let mut v = entry.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("statistics");
    }
    v
}

impl StateWatch {
    /// The notifications a new answer of `state` calls for, in name order: changed or new
    /// interfaces first, then deleted ones. An answer that is an error changes nothing.
    pub(crate) fn changes(&mut self, answer: &Value) -> Vec<Value> {
        let Some(list) = answer.get("interfaces").and_then(Value::as_array) else {
            return vec![];
        };
        let mut now = BTreeMap::new();
        for entry in list {
            if let Some(name) = entry.get("name").and_then(Value::as_str) {
                now.insert(name.to_string(), without_counters(entry));
            }
        }
        let mut out = Vec::new();
        for (name, entry) in &now {
            if self.last.get(name) != Some(entry) {
                out.push(serde_json::json!({"type": "UPDOWN", "state": entry}));
            }
        }
        for (name, entry) in &self.last {
            if !now.contains_key(name) {
                out.push(serde_json::json!({"type": "DELETED", "state": entry}));
            }
        }
        self.last = now;
        out
    }
}

/// Asks the driver for the states of every interface (or of `name`'s).
pub(crate) async fn ask(input: &mpsc::Sender<Input>, name: Option<String>) -> Option<Value> {
    let (tx, rx) = oneshot::channel();
    input.send(Input::States { name, reply: tx }).ok()?;
    rx.await.ok()
}

/// Looks every `every` and publishes the changes on `subject`, until the driver is gone.
pub(crate) fn spawn_watch(
    client: async_nats::Client,
    subject: String,
    input: mpsc::Sender<Input>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut watch = StateWatch::default();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(answer) = ask(&input, None).await else {
                return;
            };
            for n in watch.changes(&answer) {
                if let Err(e) = client.publish(subject.clone(), n.to_string().into()).await {
                    tracing::warn!(error = %e, "an interface state notification was not sent");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(entries: &[(&str, &str, u64)]) -> Value {
        let list: Vec<Value> = entries
            .iter()
            .map(|(name, oper, rx)| {
                serde_json::json!({"name": name, "oper_status": oper,
                    "statistics": {"rx_packets": rx}})
            })
            .collect();
        serde_json::json!({ "interfaces": list })
    }

    #[test]
    fn status_changes_and_deletions_are_told_and_counters_are_not() {
        let mut w = StateWatch::default();
        let first = w.changes(&answer(&[("a", "up", 0), ("b", "down", 0)]));
        assert_eq!(first.len(), 2, "the first look tells everything: {first:?}");
        assert!(w
            .changes(&answer(&[("a", "up", 7), ("b", "down", 9)]))
            .is_empty());
        let n = w.changes(&answer(&[("a", "down", 7), ("b", "down", 9)]));
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0]["type"], "UPDOWN");
        assert_eq!(n[0]["state"]["oper_status"], "down");
        assert!(n[0]["state"].get("statistics").is_none());
        let n = w.changes(&answer(&[("b", "down", 9)]));
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0]["type"], "DELETED");
        assert_eq!(n[0]["state"]["name"], "a");
        let err = serde_json::json!({"error": {"field": "name", "reason": "x"}});
        assert!(w.changes(&err).is_empty(), "an error changes nothing");
        assert!(w.changes(&answer(&[("b", "down", 9)])).is_empty());
    }
}
