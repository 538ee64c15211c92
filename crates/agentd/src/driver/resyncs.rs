//! Resyncs asked for on demand (`nsagentctl resync`), and when to answer them.
//!
//! A request is logged as `Event::ResyncRequested`; the core answers with the namespaces it
//! wants observed (`Core::poll_resync`), which the driver sends to the backend thread as one
//! reobservation after the turn's commands. The backend thread does its jobs in order and each
//! reobservation comes back as exactly one `Input::Observed`, so counting reobservations sent
//! and snapshots back is enough to know when the one a request caused has been fed to the core:
//! only then is the requester answered, and a status query it sends afterwards sees the result.
//!
//! Driving: [`Resyncs::sent`] for every reobservation handed to the backend thread,
//! [`Resyncs::came_back`] for every `Input::Observed` taken into a turn, [`Resyncs::wait`] for
//! each request of the turn once its reobservation (if any) is sent, and [`Resyncs::answer`]
//! after the turn's events were fed to the core.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;
use tokio::sync::oneshot;

use crate::protocol::error_value;

type Reply = oneshot::Sender<Value>;

#[derive(Default)]
pub(super) struct Resyncs {
    /// Reobservations handed to the backend thread, and snapshots (or failures) back.
    sent: u64,
    back: u64,
    /// Why a reobservation failed, by its number, until its waiters are answered.
    failed: BTreeMap<u64, String>,
    /// Requests waiting for the reobservation of this number, with their log position.
    waiting: VecDeque<(u64, u64, Reply)>,
}

impl Resyncs {
    /// A reobservation was handed to the backend thread.
    pub(super) fn sent(&mut self) {
        self.sent += 1;
    }

    /// A reobservation came back, with the error if it failed.
    pub(super) fn came_back(&mut self, error: Option<String>) {
        self.back += 1;
        if let Some(e) = error {
            self.failed.insert(self.back, e);
        }
    }

    /// The request logged at `seq` was fed to the core this turn: it waits for the
    /// reobservation sent last, or is answered at once if that one is already back (the core
    /// wanted nothing new, say because the namespace went away in the same turn).
    pub(super) fn wait(&mut self, seq: u64, reply: Reply) {
        self.waiting.push_back((self.sent, seq, reply));
    }

    /// Answers every request whose reobservation is back.
    pub(super) fn answer(&mut self) {
        while self
            .waiting
            .front()
            .is_some_and(|(job, _, _)| *job <= self.back)
        {
            let Some((job, seq, reply)) = self.waiting.pop_front() else {
                break;
            };
            let body = match self.failed.get(&job) {
                Some(e) => error_value("kernel", format!("observing the kernel failed: {e}")),
                None => serde_json::json!({ "seq": seq }),
            };
            let _ = reply.send(body);
        }
        let oldest = self
            .waiting
            .front()
            .map_or(self.back + 1, |(job, _, _)| *job);
        self.failed.retain(|job, _| *job >= oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_answered_once_its_reobservation_is_back_and_says_if_it_failed() {
        let mut r = Resyncs::default();
        let (tx1, mut rx1) = oneshot::channel();
        r.sent();
        r.wait(5, tx1);
        r.answer();
        assert!(rx1.try_recv().is_err(), "its reobservation is not back yet");
        let (tx2, mut rx2) = oneshot::channel();
        r.sent();
        r.wait(9, tx2);
        r.came_back(None);
        r.answer();
        assert_eq!(
            rx1.try_recv().expect("answered"),
            serde_json::json!({"seq": 5})
        );
        assert!(rx2.try_recv().is_err());
        r.came_back(Some("ENOBUFS".into()));
        r.answer();
        let failed = rx2.try_recv().expect("answered");
        assert_eq!(failed["error"]["field"], "kernel");
        assert!(r.failed.is_empty(), "nothing kept once answered");
        // Nothing new was sent for this one: everything it waits for is back.
        let (tx3, mut rx3) = oneshot::channel();
        r.wait(12, tx3);
        r.answer();
        assert_eq!(
            rx3.try_recv().expect("answered"),
            serde_json::json!({"seq": 12})
        );
    }
}
