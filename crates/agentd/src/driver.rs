//! The driver: the one thread that owns the core and the log.
//!
//! Everything that changes the core arrives on one channel — intents, command results, queries —
//! so the core is driven from one place in one order, and that order is the log's order. Each
//! turn of the loop takes whatever has queued up, appends it to the log as one batch, flushes once
//! if the batch holds intents (group commit), acknowledges those intents, and only then hands the
//! events to the core. Commands go to the backend thread, which applies them outside this thread
//! (a netlink backend enters namespaces, which must never happen on an async worker) and sends the
//! results back as input.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nsagent_core::{
    Backend, BackendError, Command, Core, CoreConfig, Event, Item, ItemKey, ItemState, Netns,
    Snapshot, Timestamp,
};
use serde_json::Value;

use crate::journal::{encode_snapshot, EncodedSnapshot, Journal, JournalError, Origin, Record};
use crate::protocol::{ErrorBody, GetEntry, IntentOp, IntentReply, StatusEntry};
use crate::replay;

/// Most inputs taken into one batch; bounds the latency of the first one.
const MAX_BATCH: usize = 8192;
/// How long results may sit unflushed in the log.
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Shortest time between two computations of the namespaces to watch.
pub const NAMESPACES_INTERVAL: Duration = Duration::from_millis(20);

/// Builds the backend on the backend thread: backends need not be `Send`.
pub type BackendFactory = Box<dyn FnOnce() -> Result<Box<dyn Backend>, String> + Send>;

/// Where the answer to an intent goes.
pub enum Reply {
    /// Sent through the ack channel to be published on this NATS reply subject.
    Subject(String),
    /// Sent on a channel (tests, the KV watcher when it needs to know).
    Channel(std::sync::mpsc::Sender<IntentReply>),
    None,
}

/// A query answered from the core's state, after the current batch is applied.
pub enum Query {
    Status {
        key: Option<ItemKey>,
        prefix: Option<String>,
    },
    Get {
        prefix: Option<String>,
    },
    Explain {
        key: ItemKey,
    },
}

/// Input of the driver.
pub enum Input {
    Intent {
        ops: Vec<IntentOp>,
        origin: Origin,
        reply: Reply,
    },
    Results(Vec<(Command, Result<(), BackendError>)>),
    Query {
        query: Query,
        reply: tokio::sync::oneshot::Sender<Value>,
    },
    /// The keys in the KV bucket when its watch starts: desired items last set from the bucket
    /// and missing from it are deleted.
    KvResync {
        present: std::collections::BTreeSet<ItemKey>,
    },
    /// Observations from outside (the Docker watcher, the kernel watcher): logged with their
    /// origin, then handled, so that a replay sees them in the same order as the core did.
    Observe {
        events: Vec<Event>,
        origin: Origin,
    },
    /// Look at these namespaces again (someone else changed them): the backend thread observes
    /// them after the commands already sent to it, and the snapshot comes back as
    /// [`Input::Observed`].
    Reobserve(Vec<Netns>),
    /// The backend's answer to [`Input::Reobserve`]; logged as `Event::Observed` (origin
    /// `Kernel`). A failure is only reported: the next change or restart looks again.
    Observed(Result<Snapshot, BackendError>),
    /// Flush the log and stop.
    Shutdown,
}

/// Output of the driver for the async side.
#[derive(Debug)]
pub enum Output {
    /// Publish `body` on the reply subject.
    Ack { subject: String, body: Vec<u8> },
    /// An item's state changed.
    StateChange { key: ItemKey, state: ItemState },
    /// The namespaces the core now cares about (`Core::namespaces_to_observe`), sent when the
    /// set changes and [`DriverConfig::publish_namespaces`] is on: what the kernel watcher
    /// should watch.
    Namespaces(Vec<Netns>),
}

#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub core: CoreConfig,
    /// Write a snapshot after this many events.
    pub snapshot_every: u64,
    /// Send [`Output::Namespaces`]. The set is recomputed at most every
    /// [`NAMESPACES_INTERVAL`] (it walks every item), and once more when things go quiet.
    pub publish_namespaces: bool,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            core: CoreConfig::default(),
            snapshot_every: 10_000,
            publish_namespaces: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("restoring from the log: {0}")]
    Replay(#[from] replay::ReplayError),
    #[error("backend: {0}")]
    Backend(String),
}

/// Handle to a running driver.
pub struct Driver {
    pub input: mpsc::Sender<Input>,
    thread: thread::JoinHandle<Result<(), DriverError>>,
    exited: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Driver {
    /// Restores the core from the log (snapshot + replay), starts the backend thread, resyncs
    /// with it, and starts the driver thread. Returns once the resync is logged.
    pub fn start(
        journal: Journal,
        config: DriverConfig,
        backend: BackendFactory,
        output: tokio::sync::mpsc::UnboundedSender<Output>,
    ) -> Result<Driver, DriverError> {
        let (input_tx, input_rx) = mpsc::channel();
        let (job_tx, job_rx) = mpsc::channel::<BackendJob>();
        let results_tx = input_tx.clone();
        let (ready_tx, ready_rx) = mpsc::channel();
        thread::Builder::new()
            .name("nsagent-backend".into())
            .spawn(move || backend_thread(backend, job_rx, results_tx, ready_tx))
            .map_err(|e| DriverError::Backend(format!("cannot spawn the backend thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| DriverError::Backend("backend thread exited".into()))?
            .map_err(DriverError::Backend)?;

        let restored = replay::restore(&journal, config.core.clone())?;
        tracing::info!(
            snapshot = ?restored.snapshot_seq,
            replayed = restored.replayed,
            last_seq = journal.last_seq(),
            "restored core from the log"
        );
        let journal_for_snapshots = journal.clone();
        let mut state = DriverState {
            clock: Clock::start(restored.last_at),
            core: restored.core,
            journal,
            jobs: job_tx,
            output,
            since_snapshot: restored.replayed,
            last_snapshot_len: 0,
            snapshots: Some(SnapshotWriter::start(journal_for_snapshots)?),
            config,
            last_flush: Instant::now(),
            dirty: false,
            namespaces: NamespacesSent {
                sent: None,
                stale: true,
                checked: Instant::now(),
            },
        };
        state.resync()?;
        let (exited_tx, exited) = tokio::sync::oneshot::channel();
        let thread = thread::Builder::new()
            .name("nsagent-driver".into())
            .spawn(move || {
                let result = state.run(input_rx);
                if let Err(e) = &result {
                    tracing::error!(error = %e, "driver stopped");
                }
                let _ = exited_tx.send(());
                result
            })
            .map_err(|e| DriverError::Backend(format!("cannot spawn the driver thread: {e}")))?;
        Ok(Driver {
            input: input_tx,
            thread,
            exited: Some(exited),
        })
    }

    /// Resolves when the driver thread has stopped, by request or because of an error (the
    /// log cannot be written, the backend thread died); the daemon must not go on without it.
    pub fn exited(&mut self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.exited.take()
    }

    /// Asks the driver to flush and stop, and waits for it.
    pub fn shutdown(self) -> Result<(), DriverError> {
        let _ = self.input.send(Input::Shutdown);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(DriverError::Backend("driver thread panicked".into())))
    }
}

enum BackendJob {
    Apply(Vec<Command>),
    Observe(Vec<Netns>, mpsc::Sender<Result<Snapshot, BackendError>>),
    /// Observe, and send the snapshot back to the driver as input.
    Reobserve(Vec<Netns>),
}

fn backend_thread(
    factory: BackendFactory,
    jobs: mpsc::Receiver<BackendJob>,
    results: mpsc::Sender<Input>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let mut backend = match factory() {
        Ok(b) => {
            let _ = ready.send(Ok(()));
            b
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Ok(job) = jobs.recv() {
        match job {
            BackendJob::Apply(commands) => {
                let outcome = backend.apply_batch(&commands);
                let paired: Vec<_> = commands.into_iter().zip(outcome).collect();
                if results.send(Input::Results(paired)).is_err() {
                    return;
                }
            }
            BackendJob::Observe(namespaces, reply) => {
                let _ = reply.send(backend.observe(&namespaces));
            }
            BackendJob::Reobserve(namespaces) => {
                let snapshot = backend.observe(&namespaces);
                if results.send(Input::Observed(snapshot)).is_err() {
                    return;
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch, never behind the last logged time, never going back.
struct Clock {
    base: u64,
    started: Instant,
}

impl Clock {
    fn start(last_logged: Timestamp) -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock {
            base: wall.max(last_logged.0),
            started: Instant::now(),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.base + self.started.elapsed().as_millis() as u64)
    }
}

/// The thread that writes snapshots.
struct SnapshotWriter {
    tx: mpsc::Sender<(u64, EncodedSnapshot)>,
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl SnapshotWriter {
    fn start(journal: Journal) -> Result<SnapshotWriter, DriverError> {
        let (tx, rx) = mpsc::channel::<(u64, EncodedSnapshot)>();
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = busy.clone();
        let thread = thread::Builder::new()
            .name("nsagent-snapshot".into())
            .spawn(move || {
                for (seq, encoded) in rx {
                    let len = encoded.len();
                    match journal.write_encoded_snapshot(seq, encoded) {
                        Ok(()) => tracing::debug!(seq, bytes = len, "snapshot written"),
                        // A lost snapshot costs only start-up time: the log still has everything.
                        Err(e) => tracing::warn!(seq, error = %e, "snapshot not written"),
                    }
                    flag.store(false, std::sync::atomic::Ordering::Release);
                }
            })
            .map_err(|e| DriverError::Backend(format!("cannot spawn the snapshot thread: {e}")))?;
        Ok(SnapshotWriter { tx, busy, thread })
    }
}

struct DriverState {
    core: Core,
    journal: Journal,
    clock: Clock,
    jobs: mpsc::Sender<BackendJob>,
    output: tokio::sync::mpsc::UnboundedSender<Output>,
    config: DriverConfig,
    since_snapshot: u64,
    last_snapshot_len: u64,
    snapshots: Option<SnapshotWriter>,
    last_flush: Instant,
    /// Records written since the last flush.
    dirty: bool,
    namespaces: NamespacesSent,
}

/// What [`Output::Namespaces`] last said, and whether it may be out of date.
struct NamespacesSent {
    sent: Option<Vec<Netns>>,
    /// Events were handled since the last computation.
    stale: bool,
    checked: Instant,
}

impl DriverState {
    /// After a restart the outcome of commands in flight is unknown: tell the core, then let it
    /// compare what it believes with what the backend reports.
    fn resync(&mut self) -> Result<(), DriverError> {
        self.log_and_handle(vec![(Origin::Agent, Event::Restarted)])?;
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(BackendJob::Observe(self.core.namespaces_to_observe(), tx))
            .map_err(|_| DriverError::Backend("backend thread exited".into()))?;
        let snapshot = rx
            .recv()
            .map_err(|_| DriverError::Backend("backend thread exited".into()))?
            .map_err(|e| DriverError::Backend(format!("observing the kernel for resync: {e}")))?;
        self.log_and_handle(vec![(Origin::Agent, Event::Observed(snapshot))])?;
        self.journal.flush()?;
        Ok(())
    }

    fn log_and_handle(&mut self, events: Vec<(Origin, Event)>) -> Result<(), DriverError> {
        let at = self.clock.now();
        let mut batch = self.journal.batch();
        for (origin, event) in events {
            batch.push(Record { at, origin, event });
        }
        self.journal.commit(&batch, false)?;
        self.dirty = true;
        self.apply(batch)
    }

    fn run(mut self, input: mpsc::Receiver<Input>) -> Result<(), DriverError> {
        loop {
            let now = self.clock.now();
            let mut wait = match self.core.poll_timeout() {
                Some(t) => Duration::from_millis(t.0.saturating_sub(now.0)).min(FLUSH_INTERVAL),
                None => FLUSH_INTERVAL,
            };
            if self.config.publish_namespaces && self.namespaces.stale {
                wait =
                    wait.min(NAMESPACES_INTERVAL.saturating_sub(self.namespaces.checked.elapsed()));
            }
            let mut inputs = Vec::new();
            match input.recv_timeout(wait) {
                Ok(first) => inputs.push(first),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.finish_snapshots();
                    self.journal.flush()?;
                    return Ok(());
                }
            }
            while inputs.len() < MAX_BATCH {
                match input.try_recv() {
                    Ok(i) => inputs.push(i),
                    Err(_) => break,
                }
            }
            let stop = self.turn(inputs)?;
            self.publish_namespaces();
            if self.dirty && self.last_flush.elapsed() >= FLUSH_INTERVAL {
                self.journal.flush()?;
                self.dirty = false;
                self.last_flush = Instant::now();
            }
            if stop {
                self.finish_snapshots();
                self.journal.flush()?;
                tracing::info!(
                    last_seq = self.journal.last_seq(),
                    "log flushed; driver stopped"
                );
                return Ok(());
            }
        }
    }

    /// One turn: log, flush, acknowledge, handle, dispatch, answer. Returns whether to stop.
    fn turn(&mut self, inputs: Vec<Input>) -> Result<bool, DriverError> {
        let at = self.clock.now();
        let mut batch = self.journal.batch();
        let mut acks = Vec::new();
        let mut queries = Vec::new();
        let mut stop = false;
        let mut touched = std::collections::HashSet::new();
        let mut reobserve: Vec<Netns> = Vec::new();
        for input in inputs {
            match input {
                Input::Intent { ops, origin, reply } => {
                    let mut last = 0;
                    for op in ops {
                        if matches!(origin, Origin::Kv { .. }) && self.kv_no_op(&op, &touched) {
                            continue;
                        }
                        touched.insert(match &op {
                            IntentOp::Put(item) => item.key(),
                            IntentOp::Delete(key) => key.clone(),
                        });
                        let seq = batch.next_seq();
                        let event = match op {
                            IntentOp::Put(item) => Event::Put { seq, item },
                            IntentOp::Delete(key) => Event::Delete { seq, key },
                        };
                        last = batch.push(Record {
                            at,
                            origin: origin.clone(),
                            event,
                        });
                    }
                    acks.push((reply, last));
                }
                Input::Results(results) => {
                    for (command, result) in results {
                        batch.push(Record {
                            at,
                            origin: Origin::Agent,
                            event: Event::command_result(command.id, result),
                        });
                    }
                }
                Input::Query { query, reply } => queries.push((query, reply)),
                Input::KvResync { present } => {
                    for key in self.kv_orphans(&present) {
                        let seq = batch.next_seq();
                        touched.insert(key.clone());
                        batch.push(Record {
                            at,
                            origin: Origin::KvResync,
                            event: Event::Delete { seq, key },
                        });
                    }
                }
                Input::Observe { events, origin } => {
                    for event in events {
                        batch.push(Record {
                            at,
                            origin: origin.clone(),
                            event,
                        });
                    }
                }
                Input::Reobserve(namespaces) => reobserve.extend(namespaces),
                Input::Observed(Ok(snapshot)) => {
                    batch.push(Record {
                        at,
                        origin: Origin::Kernel,
                        event: Event::Observed(snapshot),
                    });
                }
                Input::Observed(Err(e)) => {
                    tracing::warn!(error = %e, "observing changed namespaces failed");
                }
                Input::Shutdown => stop = true,
            }
        }
        if self.core.poll_timeout().is_some_and(|t| t <= at) {
            batch.push(Record {
                at,
                origin: Origin::Agent,
                event: Event::TimerFired,
            });
        }

        let durable = !acks.is_empty();
        if let Err(e) = self.journal.commit(&batch, durable) {
            // Nothing of this batch may reach the core, and nothing can be promised durable.
            for (reply, _) in acks {
                self.send_reply(
                    reply,
                    IntentReply::Error(ErrorBody {
                        field: "log".into(),
                        reason: e.to_string(),
                    }),
                );
            }
            return Err(e.into());
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
        self.apply(batch)?;
        if !reobserve.is_empty() {
            reobserve.sort();
            reobserve.dedup();
            // After the commands just dispatched: the backend thread takes jobs in order.
            self.jobs
                .send(BackendJob::Reobserve(reobserve))
                .map_err(|_| DriverError::Backend("backend thread exited".into()))?;
        }
        for (query, reply) in queries {
            let _ = reply.send(self.answer(query));
        }
        Ok(stop)
    }

    /// Hands logged events to the core in log order, dispatches its commands, publishes state
    /// changes, and snapshots when due.
    fn apply(&mut self, batch: crate::journal::PendingBatch) -> Result<(), DriverError> {
        let count = batch.len() as u64;
        if count > 0 {
            self.namespaces.stale = true;
        }
        let mut commands = Vec::new();
        // The last state of each item changed in this batch, in order of first change: a
        // subscriber learns where every item ended up, without the steps in between.
        let mut changes: Vec<(ItemKey, ItemState)> = Vec::new();
        let mut index: std::collections::HashMap<ItemKey, usize> = std::collections::HashMap::new();
        for (_, record) in batch.into_records() {
            self.core.handle(record.at, record.event);
            while let Some(c) = self.core.poll_command() {
                commands.push(c);
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
            self.jobs
                .send(BackendJob::Apply(commands))
                .map_err(|_| DriverError::Backend("backend thread exited".into()))?;
        }
        self.since_snapshot += count;
        self.maybe_snapshot()
    }

    /// Sends the namespaces to watch when they may have changed, at most every
    /// [`NAMESPACES_INTERVAL`].
    fn publish_namespaces(&mut self) {
        let n = &mut self.namespaces;
        if !self.config.publish_namespaces || !n.stale || n.checked.elapsed() < NAMESPACES_INTERVAL
        {
            return;
        }
        n.stale = false;
        n.checked = Instant::now();
        let now = self.core.namespaces_to_observe();
        if n.sent.as_ref() != Some(&now) {
            n.sent = Some(now.clone());
            let _ = self.output.send(Output::Namespaces(now));
        }
    }

    /// Snapshots are encoded here, where the core is, and written by the snapshot thread so
    /// that intake does not wait for the disk. The interval grows with the size of the state
    /// (at least one event per 64 bytes of snapshot), which keeps the cost of snapshots per
    /// event bounded however large the configuration gets. A snapshot due while the previous
    /// one is still being written waits for the next turn.
    fn maybe_snapshot(&mut self) -> Result<(), DriverError> {
        let due = self.config.snapshot_every.max(self.last_snapshot_len / 64);
        if self.since_snapshot < due {
            return Ok(());
        }
        let Some(writer) = &self.snapshots else {
            return Ok(());
        };
        if writer.busy.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let seq = self.journal.last_seq();
        let encoded = encode_snapshot(&self.core)?;
        self.last_snapshot_len = encoded.len() as u64;
        writer
            .busy
            .store(true, std::sync::atomic::Ordering::Release);
        if writer.tx.send((seq, encoded)).is_err() {
            return Err(DriverError::Backend("snapshot thread exited".into()));
        }
        self.since_snapshot = 0;
        Ok(())
    }

    /// Waits for the snapshot being written, if any.
    fn finish_snapshots(&mut self) {
        if let Some(writer) = self.snapshots.take() {
            drop(writer.tx);
            let _ = writer.thread.join();
        }
    }

    /// Whether a KV change would change nothing: the watch starts with the whole bucket every
    /// time, and logging it all again on each start would only grow the log. Only decidable
    /// from the core's state when no earlier op of this batch touched the key.
    fn kv_no_op(&self, op: &IntentOp, touched: &std::collections::HashSet<ItemKey>) -> bool {
        match op {
            IntentOp::Put(item) => {
                let key = item.key();
                !touched.contains(&key)
                    && self
                        .core
                        .explain(&key)
                        .and_then(|e| e.desired)
                        .is_some_and(|d| d == item.to_json())
            }
            IntentOp::Delete(key) => !touched.contains(key) && self.core.status(key).is_none(),
        }
    }

    /// Desired items whose last intent came from the KV bucket and that are not in `present`.
    /// An item whose last intent is no longer in the log (retention) is kept: when in doubt,
    /// nothing is deleted.
    fn kv_orphans(&self, present: &std::collections::BTreeSet<ItemKey>) -> Vec<ItemKey> {
        let from_kv = |seq: u64| {
            self.journal
                .read(seq..=seq)
                .next()
                .and_then(|r| r.ok())
                .is_some_and(|(_, r)| r.is_ok_and(|r| matches!(r.origin, Origin::Kv { .. })))
        };
        self.core
            .desired()
            .iter()
            .map(Item::key)
            .filter(|k| !present.contains(k))
            .filter(|k| {
                self.core
                    .explain(k)
                    .and_then(|e| e.last_seq)
                    .is_some_and(from_kv)
            })
            .collect()
    }

    fn send_reply(&self, reply: Reply, body: IntentReply) {
        match reply {
            Reply::Subject(subject) => {
                let _ = self.output.send(Output::Ack {
                    subject,
                    body: body.to_bytes(),
                });
            }
            Reply::Channel(tx) => {
                let _ = tx.send(body);
            }
            Reply::None => {}
        }
    }

    fn answer(&self, query: Query) -> Value {
        let matches = |key: &ItemKey, prefix: &Option<String>| {
            prefix
                .as_deref()
                .is_none_or(|p| key.to_string().starts_with(p))
        };
        match query {
            Query::Status { key: Some(key), .. } => match self.core.status(&key) {
                Some(state) => serde_json::json!({ "items": [status_entry(&key, &state)] }),
                None => not_found(&key),
            },
            Query::Status { key: None, prefix } => {
                let items: Vec<_> = self
                    .core
                    .statuses()
                    .iter()
                    .filter(|(k, _)| matches(k, &prefix))
                    .map(|(k, s)| status_entry(k, s))
                    .collect();
                serde_json::json!({ "items": items })
            }
            Query::Get { prefix } => {
                let items: Vec<_> = self
                    .core
                    .desired()
                    .into_iter()
                    .filter(|i| matches(&i.key(), &prefix))
                    .map(|i| GetEntry {
                        key: i.key().to_string(),
                        value: i.to_json(),
                    })
                    .collect();
                serde_json::json!({ "items": items })
            }
            Query::Explain { key } => match self.core.explain(&key) {
                Some(e) => serde_json::to_value(e).unwrap_or(Value::Null),
                None => not_found(&key),
            },
        }
    }
}

fn status_entry(key: &ItemKey, state: &ItemState) -> StatusEntry {
    StatusEntry {
        key: key.to_string(),
        state: state.name().to_string(),
        detail: state.to_string(),
    }
}

fn not_found(key: &ItemKey) -> Value {
    serde_json::json!({ "error": { "field": "key", "reason": format!("'{key}' is not known to the agent") } })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use nsagent_core::{Item, Op};
    use nsagent_sim::{Fault, SimConfig, SimKernel};

    use super::*;
    use crate::journal::JournalConfig;

    /// The sim kernel, recording every command it is given, with faults injected up front.
    struct Recording {
        kernel: SimKernel,
        seen: Arc<Mutex<Vec<Command>>>,
    }

    impl Backend for Recording {
        fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
            self.kernel.apply(op)
        }

        fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
            self.seen
                .lock()
                .expect("lock")
                .extend(commands.iter().cloned());
            commands.iter().map(|c| self.kernel.apply(&c.op)).collect()
        }

        fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
            self.kernel.observe(namespaces)
        }
    }

    fn factory(seen: Arc<Mutex<Vec<Command>>>, faults: u32) -> BackendFactory {
        Box::new(move || {
            let mut kernel = SimKernel::new(SimConfig::default());
            kernel.fail_next(faults, Fault::Errno(nsagent_core::errno::EBUSY));
            Ok(Box::new(Recording { kernel, seen }) as Box<dyn Backend>)
        })
    }

    fn item(v: serde_json::Value) -> Item {
        Item::decode_unkeyed(&v).expect("valid")
    }

    fn send(driver: &Driver, ops: Vec<IntentOp>) -> IntentReply {
        let (tx, rx) = mpsc::channel();
        driver
            .input
            .send(Input::Intent {
                ops,
                origin: Origin::Request,
                reply: Reply::Channel(tx),
            })
            .expect("send");
        rx.recv_timeout(Duration::from_secs(5)).expect("ack")
    }

    fn status(driver: &Driver) -> Value {
        let (tx, rx) = tokio::sync::oneshot::channel();
        driver
            .input
            .send(Input::Query {
                query: Query::Status {
                    key: None,
                    prefix: None,
                },
                reply: tx,
            })
            .expect("send");
        rx.blocking_recv().expect("answer")
    }

    fn wait_all_applied(driver: &Driver, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = status(driver);
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.len() == count && items.iter().all(|i| i["state"] == "applied") {
                return;
            }
            assert!(Instant::now() < deadline, "not applied: {v}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn workload() -> Vec<Vec<IntentOp>> {
        let mut batches = vec![vec![
            IntentOp::Put(item(
                serde_json::json!({"name": "v1", "type": "VETH", "enabled": true,
                "ip_addresses": ["10.1.0.1/24"], "veth": {"peer_if_name": "v2"}}),
            )),
            IntentOp::Put(item(
                serde_json::json!({"name": "v2", "type": "VETH", "enabled": true,
                "namespace": {"type": "NSID", "reference": "blue"}, "veth": {"peer_if_name": "v1"}}),
            )),
        ]];
        for i in 0..30 {
            batches.push(vec![IntentOp::Put(item(
                serde_json::json!({"name": format!("d{i}"), "type": "DUMMY", "enabled": true}),
            ))]);
        }
        batches.push(vec![IntentOp::Put(item(
            serde_json::json!({"outgoing_interface": "v1",
            "dst_network": "10.9.0.0/16", "gw_addr": "10.1.0.2"}),
        ))]);
        batches.push(vec![IntentOp::Delete(ItemKey::Interface("d3".into()))]);
        batches
    }

    #[test]
    fn replaying_the_log_yields_the_same_commands_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tmp");
        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (out, _out_rx) = tokio::sync::mpsc::unbounded_channel();
        // Failing operations make the core retry through the timer, so timer events are logged too.
        let driver = Driver::start(
            journal,
            DriverConfig::default(),
            factory(seen.clone(), 3),
            out,
        )
        .expect("start");
        let mut last = 0;
        for ops in workload() {
            match send(&driver, ops) {
                IntentReply::Seq(s) => {
                    assert!(s > last);
                    last = s;
                }
                IntentReply::Error(e) => panic!("{e:?}"),
            }
        }
        wait_all_applied(&driver, 32);
        driver.shutdown().expect("clean stop");

        let (journal, report) =
            Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert!(report.cut.is_none());
        let mut replayed = Vec::new();
        let mut timers = 0;
        replay::replay_from_start(&journal, CoreConfig::default(), u64::MAX, |_, r, cmds| {
            timers += usize::from(matches!(r.event, Event::TimerFired));
            replayed.extend(cmds.iter().cloned());
        })
        .expect("replay");
        let live = seen.lock().expect("lock").clone();
        assert!(timers > 0, "the injected faults should have caused retries");
        assert_eq!(
            bincode::serialize(&replayed).expect("ser"),
            bincode::serialize(&live).expect("ser")
        );
    }

    #[test]
    fn a_restart_restores_from_the_snapshot_and_resyncs_with_the_fresh_kernel() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = DriverConfig {
            snapshot_every: 7,
            ..DriverConfig::default()
        };
        let (journal, _) = Journal::open(
            dir.path(),
            JournalConfig {
                retention: Some(0),
                ..JournalConfig::default()
            },
        )
        .expect("open");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
        let driver =
            Driver::start(journal, config.clone(), factory(seen.clone(), 0), out).expect("start");
        for ops in workload() {
            send(&driver, ops);
        }
        wait_all_applied(&driver, 32);
        driver.shutdown().expect("stop");

        let (journal, _) = Journal::open(
            dir.path(),
            JournalConfig {
                retention: Some(0),
                ..JournalConfig::default()
            },
        )
        .expect("reopen");
        assert!(
            journal.first_seq().unwrap_or(0) > 1,
            "retention trimmed the records before the snapshots"
        );
        assert!(!journal.snapshot_seqs().is_empty());
        seen.lock().expect("lock").clear();
        let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
        // A new sim kernel is empty: resync must re-create everything.
        let driver =
            Driver::start(journal, config, factory(seen.clone(), 0), out).expect("restart");
        wait_all_applied(&driver, 32);
        assert!(
            !seen.lock().expect("lock").is_empty(),
            "resync re-created the links"
        );
        driver.shutdown().expect("stop");
    }

    /// The sim kernel shared with the test, which plays Docker and the neighbour who changes
    /// links by hand.
    struct SharedKernel {
        kernel: Arc<Mutex<SimKernel>>,
        seen: Arc<Mutex<Vec<Command>>>,
    }

    impl Backend for SharedKernel {
        fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
            self.kernel.lock().expect("lock").apply(op)
        }

        fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
            self.seen
                .lock()
                .expect("lock")
                .extend(commands.iter().cloned());
            let mut kernel = self.kernel.lock().expect("lock");
            commands.iter().map(|c| kernel.apply(&c.op)).collect()
        }

        fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
            self.kernel.lock().expect("lock").observe(namespaces)
        }
    }

    fn item_state(driver: &Driver, key: &str) -> String {
        let v = status(driver);
        v["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i["key"].as_str().is_some_and(|k| k.ends_with(key)))
            })
            .map(|i| format!("{} {}", i["state"], i["detail"]))
            .unwrap_or_default()
    }

    #[test]
    fn observations_and_reobservations_go_through_the_log_and_replay_identically() {
        let dir = tempfile::tempdir().expect("tmp");
        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let kernel = Arc::new(Mutex::new(SimKernel::new(SimConfig::default())));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let backend = SharedKernel {
            kernel: kernel.clone(),
            seen: seen.clone(),
        };
        let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
        let config = DriverConfig {
            publish_namespaces: true,
            ..DriverConfig::default()
        };
        let driver = Driver::start(
            journal,
            config,
            Box::new(move || Ok(Box::new(backend) as Box<dyn Backend>)),
            out,
        )
        .expect("start");
        let observe = |events: Vec<Event>, origin: Origin| {
            driver
                .input
                .send(Input::Observe { events, origin })
                .expect("send")
        };
        observe(
            vec![Event::MicroserviceWatch { connected: false }],
            Origin::Docker,
        );
        send(
            &driver,
            vec![
                IntentOp::Put(item(
                    serde_json::json!({"name": "h1", "type": "VETH", "enabled": true,
                    "ip_addresses": ["10.5.0.1/24"], "veth": {"peer_if_name": "c1"}}),
                )),
                IntentOp::Put(item(
                    serde_json::json!({"name": "c1", "type": "VETH", "enabled": true,
                    "host_if_name": "eth1", "ip_addresses": ["10.5.0.2/24"],
                    "namespace": {"type": "MICROSERVICE", "reference": "ms1"},
                    "veth": {"peer_if_name": "h1"}}),
                )),
            ],
        );
        let state = item_state(&driver, "c1");
        assert!(
            state.contains("pending") && state.contains("docker not connected"),
            "{state}"
        );

        let ms = kernel
            .lock()
            .expect("lock")
            .start_microservice("ms1")
            .expect("start ms1");
        observe(
            vec![
                Event::MicroserviceWatch { connected: true },
                ms.started_event(),
            ],
            Origin::Docker,
        );
        wait_all_applied(&driver, 2);

        // Someone deletes the host end by hand; only a new look at the namespace tells.
        kernel
            .lock()
            .expect("lock")
            .apply(&Op::DeleteLink {
                ns: Netns::Default,
                name: "h1".into(),
            })
            .expect("delete by hand");
        let before = seen.lock().expect("lock").len();
        driver
            .input
            .send(Input::Reobserve(vec![Netns::Default, Netns::Default]))
            .expect("send");
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().expect("lock").len() == before {
            assert!(Instant::now() < deadline, "the pair was not re-created");
            thread::sleep(Duration::from_millis(10));
        }
        wait_all_applied(&driver, 2);
        assert!(kernel
            .lock()
            .expect("lock")
            .dump()
            .link(&Netns::Default, "h1")
            .is_some());
        driver.shutdown().expect("stop");

        let mut published = Vec::new();
        while let Ok(o) = out_rx.try_recv() {
            if let Output::Namespaces(list) = o {
                published.push(list);
            }
        }
        assert!(
            published.iter().any(|l| l.contains(&ms.netns())),
            "the container's namespace is to be watched: {published:?}"
        );

        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        let mut origins = Vec::new();
        let mut replayed = Vec::new();
        replay::replay_from_start(&journal, CoreConfig::default(), u64::MAX, |_, r, cmds| {
            origins.push((r.origin.clone(), std::mem::discriminant(&r.event)));
            replayed.extend(cmds.iter().cloned());
        })
        .expect("replay");
        let observed = std::mem::discriminant(&Event::Observed(Snapshot::default()));
        assert!(origins.contains(&(Origin::Kernel, observed)), "{origins:?}");
        assert_eq!(
            origins.iter().filter(|(o, _)| *o == Origin::Docker).count(),
            3
        );
        let live = seen.lock().expect("lock").clone();
        assert_eq!(
            bincode::serialize(&replayed).expect("ser"),
            bincode::serialize(&live).expect("ser")
        );
    }

    /// A backend that dies on its first command.
    struct Dying;

    impl Backend for Dying {
        fn apply(&mut self, _: &Op) -> Result<(), BackendError> {
            panic!("backend died (on purpose, in a test)")
        }

        fn observe(&mut self, _: &[Netns]) -> Result<Snapshot, BackendError> {
            Ok(Snapshot::default())
        }
    }

    #[test]
    fn the_driver_stops_with_an_error_when_the_backend_thread_dies() {
        let dir = tempfile::tempdir().expect("tmp");
        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut driver = Driver::start(
            journal,
            DriverConfig::default(),
            Box::new(|| Ok(Box::new(Dying) as Box<dyn Backend>)),
            out,
        )
        .expect("start");
        let exited = driver.exited().expect("exit signal");
        let put = |name: &str| {
            vec![IntentOp::Put(item(
                serde_json::json!({"name": name, "type": "DUMMY"}),
            ))]
        };
        send(&driver, put("a"));
        // Commands for the next intent find the backend thread gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut n = 0;
        while driver
            .input
            .send(Input::Intent {
                ops: put(&format!("b{n}")),
                origin: Origin::Request,
                reply: Reply::None,
            })
            .is_ok()
        {
            n += 1;
            assert!(
                Instant::now() < deadline,
                "the driver kept running without a backend"
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert!(exited.blocking_recv().is_ok());
        let err = driver.shutdown().expect_err("error");
        assert!(err.to_string().contains("backend thread exited"), "{err}");
    }

    #[test]
    fn a_backend_that_cannot_start_is_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
        let err = Driver::start(
            journal,
            DriverConfig::default(),
            Box::new(|| Err("no netlink".into())),
            out,
        )
        .err()
        .expect("fails");
        assert!(err.to_string().contains("no netlink"), "{err}");
    }
}
