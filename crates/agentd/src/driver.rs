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
    Backend, BackendError, Command, Core, CoreConfig, Event, ItemKey, ItemState, Netns, Snapshot,
    Timestamp,
};
use serde_json::Value;

use crate::journal::{Journal, JournalError, Origin, Record};
use crate::protocol::{ErrorBody, GetEntry, IntentOp, IntentReply, StatusEntry};
use crate::replay;

/// Most inputs taken into one batch; bounds the latency of the first one.
const MAX_BATCH: usize = 8192;
/// How long results may sit unflushed in the log.
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

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
}

#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub core: CoreConfig,
    /// Write a snapshot after this many events.
    pub snapshot_every: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            core: CoreConfig::default(),
            snapshot_every: 10_000,
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
        let mut state = DriverState {
            clock: Clock::start(restored.last_at),
            core: restored.core,
            journal,
            jobs: job_tx,
            output,
            since_snapshot: restored.replayed,
            config,
            last_flush: Instant::now(),
            dirty: false,
        };
        state.resync()?;
        let thread = thread::Builder::new()
            .name("nsagent-driver".into())
            .spawn(move || state.run(input_rx))
            .map_err(|e| DriverError::Backend(format!("cannot spawn the driver thread: {e}")))?;
        Ok(Driver {
            input: input_tx,
            thread,
        })
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

struct DriverState {
    core: Core,
    journal: Journal,
    clock: Clock,
    jobs: mpsc::Sender<BackendJob>,
    output: tokio::sync::mpsc::UnboundedSender<Output>,
    config: DriverConfig,
    since_snapshot: u64,
    last_flush: Instant,
    /// Records written since the last flush.
    dirty: bool,
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
            let wait = match self.core.poll_timeout() {
                Some(t) => Duration::from_millis(t.0.saturating_sub(now.0)).min(FLUSH_INTERVAL),
                None => FLUSH_INTERVAL,
            };
            let mut inputs = Vec::new();
            match input.recv_timeout(wait) {
                Ok(first) => inputs.push(first),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
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
            if self.dirty && self.last_flush.elapsed() >= FLUSH_INTERVAL {
                self.journal.flush()?;
                self.dirty = false;
                self.last_flush = Instant::now();
            }
            if stop {
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
        for input in inputs {
            match input {
                Input::Intent { ops, origin, reply } => {
                    let mut last = 0;
                    for op in ops {
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
                        let event = match result {
                            Ok(()) => Event::CommandSucceeded { id: command.id },
                            Err(error) => Event::CommandFailed {
                                id: command.id,
                                error,
                            },
                        };
                        batch.push(Record {
                            at,
                            origin: Origin::Agent,
                            event,
                        });
                    }
                }
                Input::Query { query, reply } => queries.push((query, reply)),
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
        for (query, reply) in queries {
            let _ = reply.send(self.answer(query));
        }
        Ok(stop)
    }

    /// Hands logged events to the core in log order, dispatches its commands, publishes state
    /// changes, and snapshots when due.
    fn apply(&mut self, batch: crate::journal::PendingBatch) -> Result<(), DriverError> {
        let count = batch.len() as u64;
        let mut commands = Vec::new();
        for (_, record) in batch.into_records() {
            self.core.handle(record.at, record.event);
            while let Some(c) = self.core.poll_command() {
                commands.push(c);
            }
        }
        if !commands.is_empty() {
            self.jobs
                .send(BackendJob::Apply(commands))
                .map_err(|_| DriverError::Backend("backend thread exited".into()))?;
        }
        for (key, state) in self.core.take_state_changes() {
            let _ = self.output.send(Output::StateChange { key, state });
        }
        self.since_snapshot += count;
        if self.since_snapshot >= self.config.snapshot_every {
            let seq = self.journal.last_seq();
            self.journal.write_snapshot(seq, &self.core)?;
            self.since_snapshot = 0;
            tracing::debug!(seq, "snapshot written");
        }
        Ok(())
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
            prefix.as_deref().is_none_or(|p| key.to_string().starts_with(p))
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
