//! The driver loop and its turn.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nsagent_core::{Core, Event, ItemKey, ItemState, Netns, Timestamp};
use serde_json::Value;

use super::backend::BackendThread;
use super::clock::Clock;
use super::namespaces::NamespacesSent;
use super::resyncs::Resyncs;
use super::snapshots::Snapshots;
use super::{kv, queries, DriverConfig, DriverError, Input, Output, Query, Reply};
use crate::journal::{Journal, KvPosition, Origin, PendingBatch, Record};
use crate::protocol::{error_value, ErrorBody, IntentOp, IntentReply};
use crate::replay;

/// Most inputs taken into one batch; bounds the latency of the first one.
const MAX_BATCH: usize = 8192;
/// How often a log that stays unwritable is reported.
const WRITE_FAILURE_REPORT_EVERY: Duration = Duration::from_secs(30);
/// How long results may sit unflushed in the log.
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// The state of the driver thread: the core, the log and everything that must see events in
/// the log's order. Built by [`RunLoop::restore`], brought up to date with the kernel by
/// [`RunLoop::resync`] before anyone can send it intents, then moved to its thread and driven
/// by [`RunLoop::run`] until its input says stop. Every event goes through the log before the
/// core sees it, so nothing here may feed the core any other way.
pub(super) struct RunLoop {
    core: Core,
    journal: Journal,
    clock: Clock,
    backend: BackendThread,
    output: tokio::sync::mpsc::UnboundedSender<Output>,
    snapshots: Snapshots,
    namespaces: NamespacesSent,
    last_flush: Instant,
    /// Records written since the last flush.
    dirty: bool,
    /// Records a failed write could not log, other than intents (whose senders were told):
    /// command results, observations, timers, KV changes. They go first into the next batch,
    /// so the core sees them once they are logged, and nothing it must know is lost while the
    /// disk is full.
    held: Vec<Record>,
    /// When a write last failed and was reported, to report a lasting failure only now and
    /// then.
    write_failure: Option<Instant>,
    /// How far into the KV bucket the log has read. A watch replays the whole bucket each time
    /// it starts; what it replays at or below this revision was taken in (or found a no-op)
    /// before, so it is not news, and an intent acknowledged since must not be undone by it:
    /// of KV and request-reply, the later in the log wins.
    kv: Option<KvPosition>,
    /// Namespaces the core asked to observe (`Core::poll_resync`) since the last turn sent
    /// its reobservation.
    resync_wanted: Vec<Netns>,
    /// Namespaces whose iptables tables the core asked to read (`Core::poll_chain_resync`)
    /// since the last turn sent them to the backend thread.
    chains_wanted: Vec<Netns>,
    resyncs: Resyncs,
}

/// What one turn took in: the records to log, sharing one time, and what must wait until they
/// are logged (acknowledgements) or fed to the core (queries, reobservations).
struct Intake {
    at: Timestamp,
    batch: PendingBatch,
    acks: Vec<(Reply, u64)>,
    queries: Vec<(Query, tokio::sync::oneshot::Sender<Value>)>,
    reobserve: Vec<Netns>,
    /// Resync requests logged in this batch, by sequence number, with where to answer.
    resyncs: Vec<(u64, tokio::sync::oneshot::Sender<Value>)>,
    /// Keys of the intents in this batch: a KV op on one of them is never a no-op.
    touched: HashSet<ItemKey>,
    /// The newest KV revision this batch takes in.
    kv_revision: Option<u64>,
    stop: bool,
}

impl Intake {
    fn push(&mut self, origin: Origin, event: Event) -> u64 {
        self.batch.push(Record::new(self.at, origin, event))
    }

    /// A record held from a batch that could not be written, at its new place in the log
    /// (an intent's `seq` is its position there) and with the time it first came in.
    fn push_held(&mut self, mut record: Record) {
        let seq = self.batch.next_seq();
        if let Event::Put { seq: s, .. } | Event::Delete { seq: s, .. } = &mut record.event {
            *s = seq;
        }
        if let Event::Put { item, .. } = &record.event {
            self.touched.insert(item.key());
        }
        if let Event::Delete { key, .. } = &record.event {
            self.touched.insert(key.clone());
        }
        self.batch.push(record);
    }
}

impl RunLoop {
    /// Rebuilds the core from the log (newest snapshot, then the records after it).
    pub(super) fn restore(
        journal: Journal,
        config: DriverConfig,
        backend: BackendThread,
        output: tokio::sync::mpsc::UnboundedSender<Output>,
    ) -> Result<RunLoop, DriverError> {
        let restored = replay::restore(&journal, config.core.clone())?;
        tracing::info!(
            snapshot = ?restored.snapshot_seq,
            replayed = restored.replayed,
            last_seq = journal.last_seq(),
            "restored core from the log"
        );
        let snapshots =
            Snapshots::start(journal.clone(), config.snapshot_every, restored.replayed)?;
        let journal_kv = journal.kv_position()?;
        let mut core = restored.core;
        core.set_resync_interval(config.resync_interval_ms);
        Ok(RunLoop {
            clock: Clock::start(restored.last_at),
            core,
            journal,
            backend,
            output,
            snapshots,
            namespaces: NamespacesSent::new(config.publish_namespaces),
            last_flush: Instant::now(),
            dirty: false,
            held: Vec::new(),
            write_failure: None,
            kv: journal_kv,
            resync_wanted: Vec::new(),
            chains_wanted: Vec::new(),
            resyncs: Resyncs::default(),
        })
    }

    /// After a restart the outcome of commands in flight is unknown: tell the core, then let it
    /// compare what it believes with what the backend reports.
    pub(super) fn resync(&mut self) -> Result<(), DriverError> {
        self.log_and_feed(Origin::Agent, Event::Restarted)?;
        let snapshot = self
            .backend
            .observe(self.core.namespaces_to_observe())?
            .map_err(|e| DriverError::Backend(format!("observing the kernel for resync: {e}")))?;
        self.log_and_feed(Origin::Agent, Event::Observed(snapshot))?;
        let wanted = std::mem::take(&mut self.chains_wanted);
        if !wanted.is_empty() {
            // Not fatal: links are managed without iptables, and a rule chain that cannot be
            // written fails with the reason.
            match self.backend.observe_chains_now(wanted)? {
                Ok(chains) => self.log_and_feed(Origin::Agent, Event::ChainsObserved(chains))?,
                Err(e) => tracing::warn!(error = %e, "reading iptables tables for resync failed"),
            }
        }
        self.journal.flush()?;
        Ok(())
    }

    fn log_and_feed(&mut self, origin: Origin, event: Event) -> Result<(), DriverError> {
        let mut batch = self.journal.batch();
        batch.push(Record::new(self.clock.now(), origin, event));
        self.journal.commit(&batch, false)?;
        self.dirty = true;
        self.feed(batch)
    }

    /// Turns until [`Input::Shutdown`] or until every sender is gone, then flushes the log.
    pub(super) fn run(mut self, input: mpsc::Receiver<Input>) -> Result<(), DriverError> {
        loop {
            let Some(inputs) = self.next_inputs(&input) else {
                self.snapshots.finish();
                self.journal.flush()?;
                return Ok(());
            };
            let stop = self.turn(inputs)?;
            self.namespaces.publish(&self.core, &self.output);
            if self.dirty && self.last_flush.elapsed() >= FLUSH_INTERVAL {
                // Nothing unflushed was acknowledged: a failed flush is tried again later.
                match self.journal.flush() {
                    Ok(()) => self.dirty = false,
                    Err(e) => tracing::error!(error = %e, "flushing the log failed"),
                }
                self.last_flush = Instant::now();
            }
            if stop {
                self.snapshots.finish();
                self.journal.flush()?;
                tracing::info!(
                    last_seq = self.journal.last_seq(),
                    "log flushed; driver stopped"
                );
                return Ok(());
            }
        }
    }

    /// Whatever has queued up, waiting for the first input no longer than the next timer, the
    /// next flush or the next publication of namespaces; empty when that time came first.
    /// `None` once every sender is gone.
    fn next_inputs(&self, input: &mpsc::Receiver<Input>) -> Option<Vec<Input>> {
        let now = self.clock.now();
        let wait = match self.core.poll_timeout() {
            Some(t) => Duration::from_millis(t.0.saturating_sub(now.0)).min(FLUSH_INTERVAL),
            None => FLUSH_INTERVAL,
        };
        let mut inputs = Vec::new();
        match input.recv_timeout(self.namespaces.wait(wait)) {
            Ok(first) => inputs.push(first),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
        while inputs.len() < MAX_BATCH {
            match input.try_recv() {
                Ok(i) => inputs.push(i),
                Err(_) => break,
            }
        }
        Some(inputs)
    }

    /// One turn: log, flush, acknowledge, feed, dispatch, answer. Returns whether to stop.
    fn turn(&mut self, inputs: Vec<Input>) -> Result<bool, DriverError> {
        let mut intake = Intake {
            at: self.clock.now(),
            batch: self.journal.batch(),
            acks: Vec::new(),
            queries: Vec::new(),
            reobserve: Vec::new(),
            resyncs: Vec::new(),
            touched: HashSet::new(),
            kv_revision: None,
            stop: false,
        };
        for record in std::mem::take(&mut self.held) {
            intake.push_held(record);
        }
        for input in inputs {
            self.take(&mut intake, input);
        }
        if self.core.poll_timeout().is_some_and(|t| t <= intake.at) {
            intake.push(Origin::Agent, Event::TimerFired);
        }
        let Intake {
            batch,
            acks,
            queries,
            mut reobserve,
            resyncs,
            kv_revision,
            stop,
            ..
        } = intake;
        let fed = self.commit(&batch, acks);
        if fed {
            self.took_kv(kv_revision)?;
            self.feed(batch)?;
        } else {
            self.held = batch
                .into_records()
                .map(|(_, r)| r)
                .filter(|r| r.origin != Origin::Request)
                .collect();
        }
        if !self.chains_wanted.is_empty() {
            let mut wanted = std::mem::take(&mut self.chains_wanted);
            wanted.sort();
            wanted.dedup();
            self.backend.observe_chains(wanted)?;
        }
        reobserve.append(&mut self.resync_wanted);
        if !reobserve.is_empty() {
            reobserve.sort();
            reobserve.dedup();
            // After the commands just dispatched: the backend thread takes jobs in order.
            self.backend.reobserve(reobserve)?;
            self.resyncs.sent();
        }
        for (seq, reply) in resyncs {
            if fed {
                self.resyncs.wait(seq, reply);
            } else {
                let _ = reply.send(error_value("agent", "the log cannot be written"));
            }
        }
        if fed {
            // A snapshot that came back in an unwritten batch is held, not fed: its requests
            // are answered in the turn that feeds it.
            self.resyncs.answer();
        }
        for (query, reply) in queries {
            let _ = reply.send(queries::answer(&self.core, query));
        }
        Ok(stop)
    }

    /// After a batch is written: the revision it took in from the KV bucket is recorded after
    /// the records, so that a crash keeps both or the records alone (sled keeps a prefix of
    /// its writes), never a position past records that were lost.
    fn took_kv(&mut self, revision: Option<u64>) -> Result<(), DriverError> {
        if let (Some(revision), Some(kv)) = (revision, self.kv.as_mut()) {
            if revision > kv.revision {
                kv.revision = revision;
                self.journal.set_kv_position(kv)?;
            }
        }
        Ok(())
    }

    /// Whether a KV change at `revision` was taken in before (see [`RunLoop::kv`]).
    fn kv_seen(&self, revision: u64) -> bool {
        self.kv.as_ref().is_some_and(|kv| revision <= kv.revision)
    }

    /// Adds what `input` says to log to the batch, and puts aside what must wait for it.
    fn take(&mut self, intake: &mut Intake, input: Input) {
        match input {
            Input::Intent { ops, origin, reply } => {
                let mut last = 0;
                if let Origin::Kv { revision } = origin {
                    if self.kv_seen(revision) {
                        return; // nobody waits for an answer to a KV change
                    }
                    intake.kv_revision = intake.kv_revision.max(Some(revision));
                }
                for op in ops {
                    if matches!(origin, Origin::Kv { .. })
                        && kv::is_no_op(&self.core, &op, &intake.touched)
                    {
                        continue;
                    }
                    intake.touched.insert(match &op {
                        IntentOp::Put(item) => item.key(),
                        IntentOp::Delete(key) => key.clone(),
                    });
                    let seq = intake.batch.next_seq();
                    let event = match op {
                        IntentOp::Put(item) => Event::Put { seq, item: *item },
                        IntentOp::Delete(key) => Event::Delete { seq, key },
                    };
                    last = intake.push(origin.clone(), event);
                }
                intake.acks.push((reply, last));
            }
            Input::Results(results) => {
                for (command, result) in results {
                    intake.push(Origin::Agent, Event::command_result(command.id, result));
                }
            }
            Input::Query { query, reply } => intake.queries.push((query, reply)),
            Input::KvWatch { bucket_created } => {
                if self.kv.as_ref().map(|kv| &kv.bucket_created) != Some(&bucket_created) {
                    // A bucket never read, or one made anew: its revisions start over.
                    let kv = KvPosition {
                        bucket_created,
                        revision: 0,
                    };
                    if let Err(e) = self.journal.set_kv_position(&kv) {
                        tracing::error!(error = %e, "recording the KV bucket read");
                    }
                    self.kv = Some(kv);
                }
            }
            Input::KvResync { present } => {
                for key in kv::orphans(&self.core, &self.journal, &present) {
                    let seq = intake.batch.next_seq();
                    intake.touched.insert(key.clone());
                    intake.push(Origin::KvResync, Event::Delete { seq, key });
                }
            }
            Input::Observe { events, origin } => {
                for event in events {
                    intake.push(origin.clone(), event);
                }
            }
            Input::Reobserve(namespaces) => intake.reobserve.extend(namespaces),
            Input::Observed(Ok(snapshot)) => {
                self.resyncs.came_back(None);
                intake.push(Origin::Kernel, Event::Observed(snapshot));
            }
            Input::ChainsObserved(Ok(snapshot)) => {
                intake.push(Origin::Kernel, Event::ChainsObserved(snapshot));
            }
            Input::ChainsObserved(Err(e)) => {
                tracing::warn!(error = %e, "reading iptables tables failed");
            }
            Input::Observed(Err(e)) => {
                tracing::warn!(error = %e, "observing changed namespaces failed");
                self.resyncs.came_back(Some(e.to_string()));
            }
            Input::Resync { ns, reply } => match ns {
                // Checked before it is logged: a namespace no item uses is the requester's
                // mistake, not an event.
                Some(ns) if !self.core.namespaces_to_observe().contains(&ns) => {
                    let _ = reply.send(error_value(
                        "ns",
                        format!("the agent manages nothing in the {ns}"),
                    ));
                }
                ns => {
                    let seq = intake.push(Origin::Request, Event::ResyncRequested { ns });
                    intake.resyncs.push((seq, reply));
                }
            },
            Input::Dump { ns, reply } => {
                let namespaces = ns.map_or_else(|| self.core.namespaces_to_observe(), |n| vec![n]);
                let identity = self.core.identity().clone();
                if let Err(e) = self.backend.dump(namespaces, identity, reply) {
                    tracing::error!(error = %e, "asking the backend for a dump");
                }
            }
            Input::States { name, reply } => {
                let mut targets = self.core.interface_links();
                if let Some(name) = &name {
                    targets.retain(|(item, _, _)| item == name);
                    if targets.is_empty() {
                        let _ = reply.send(error_value(
                            "name",
                            format!("no interface item '{name}' holds a link"),
                        ));
                        return;
                    }
                }
                if let Err(e) = self.backend.states(targets, reply) {
                    tracing::error!(error = %e, "asking the backend for link states");
                }
            }
            Input::Shutdown => intake.stop = true,
        }
    }

    /// Writes the batch, flushing it if it holds intents (group commit), then acknowledges
    /// them; returns whether it was written. If the log cannot be written (a full disk),
    /// nothing of the batch may reach the core and nothing can be promised durable: every
    /// intent gets the error, and the rest of the batch waits for the next turn.
    fn commit(&mut self, batch: &PendingBatch, acks: Vec<(Reply, u64)>) -> bool {
        let durable = !acks.is_empty();
        if let Err(e) = self.journal.commit(batch, durable) {
            for (reply, _) in acks {
                self.send_reply(reply, IntentReply::Error(ErrorBody::new("body", &e)));
            }
            if self
                .write_failure
                .is_none_or(|at| at.elapsed() >= WRITE_FAILURE_REPORT_EVERY)
            {
                tracing::error!(error = %e, held = batch.len(), "the log cannot be written; intents are refused, queries answered, and writing is tried again every turn");
                self.write_failure = Some(Instant::now());
            }
            return false;
        }
        if self.write_failure.take().is_some() {
            tracing::info!(
                last_seq = self.journal.last_seq(),
                "the log can be written again"
            );
        }
        if durable {
            self.dirty = false;
            self.last_flush = Instant::now();
        } else if !batch.is_empty() {
            self.dirty = true;
        }
        for (reply, seq) in acks {
            self.send_reply(reply, IntentReply::Seq(seq));
        }
        true
    }

    /// Feeds logged events to the core in log order, dispatches its commands, publishes state
    /// changes, and snapshots when due.
    fn feed(&mut self, batch: PendingBatch) -> Result<(), DriverError> {
        let count = batch.len() as u64;
        if count > 0 {
            self.namespaces.mark_stale();
        }
        let mut commands = Vec::new();
        // The last state of each item changed in this batch, in order of first change: a
        // subscriber learns where every item ended up, without the steps in between.
        let mut changes: Vec<(ItemKey, ItemState)> = Vec::new();
        let mut index: HashMap<ItemKey, usize> = HashMap::new();
        for (_, record) in batch.into_records() {
            self.core.handle(record.at, record.event);
            while let Some(c) = self.core.poll_command() {
                commands.push(c);
            }
            if let Some(wanted) = self.core.poll_resync() {
                self.resync_wanted.extend(wanted);
            }
            if let Some(wanted) = self.core.poll_chain_resync() {
                self.chains_wanted.extend(wanted);
            }
            // Taken after every event: the core's cost of collecting changes grows with the
            // square of how many are pending.
            for (key, state) in self.core.take_state_changes() {
                match index.get(&key) {
                    Some(&i) => changes[i].1 = state,
                    None => {
                        index.insert(key.clone(), changes.len());
                        changes.push((key, state));
                    }
                }
            }
        }
        for (key, state) in changes {
            let _ = self.output.send(Output::StateChange { key, state });
        }
        if !commands.is_empty() {
            self.backend.apply(commands)?;
        }
        self.snapshots
            .after(count, &self.core, self.journal.last_seq())
    }

    fn send_reply(&self, reply: Reply, body: IntentReply) {
        match reply {
            Reply::Subject(subject) => {
                let _ = self.output.send(Output::Ack {
                    subject,
                    body: body.to_bytes(),
                });
            }
            #[cfg(test)]
            Reply::Channel(tx) => {
                let _ = tx.send(body);
            }
            Reply::None => {}
        }
    }
}
