//! The driver: the one thread that owns the core and the log.
//!
//! Everything that changes the core arrives on one channel — intents, command results, queries —
//! so the core is driven from one place in one order, and that order is the log's order. Each
//! turn of the loop takes whatever has queued up, appends it to the log as one batch, flushes once
//! if the batch holds intents (group commit), acknowledges those intents, and only then feeds the
//! events to the core. Commands go to the backend thread, which applies them outside this thread
//! (a netlink backend enters namespaces, which must never happen on an async worker) and sends the
//! results back as input.
//!
//! The pieces, one concern each: `run_loop` (the loop and its turn), `backend` (the backend
//! thread), `clock` (the time logged with each batch), `snapshots` (when to snapshot, and the
//! thread that writes them), `namespaces` (what the kernel watcher should watch), `queries`
//! (status, get, explain and log answers), `kv` (what a KV watch may change) and `resyncs`
//! (resyncs asked for on demand, and when to answer them).

mod backend;
mod clock;
mod kv;
mod namespaces;
mod queries;
mod resyncs;
mod run_loop;
mod snapshots;
#[cfg(test)]
mod soak;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::thread;

use nsagent_core::{BackendError, Command, CoreConfig, Event, ItemKey, ItemState, Netns, Snapshot};
use serde_json::Value;

use crate::journal::{Journal, JournalError, Origin};
use crate::protocol::IntentOp;
use crate::replay::ReplayError;

pub use backend::BackendFactory;
pub use queries::read_log;

use backend::BackendThread;
use run_loop::RunLoop;

/// Where the answer to an intent goes. It is sent only once the intent is durable in the log,
/// so a publisher that got a sequence number knows the intent survives a crash.
pub enum Reply {
    /// Sent through the ack channel to be published on this NATS reply subject.
    Subject(String),
    /// Sent on a channel, for tests that drive the driver without NATS.
    #[cfg(test)]
    Channel(mpsc::Sender<crate::protocol::IntentReply>),
    None,
}

/// A query answered from the core's state. It travels on the driver's input like everything
/// else, so it is answered after the intents sent before it were fed to the core: a client that
/// got an acknowledgement and then asks sees its intent.
pub enum Query {
    /// `after`: only keys sorting after it (the next page).
    Status {
        key: Option<ItemKey>,
        prefix: Option<String>,
        after: Option<String>,
        /// Only how many items are in each state, not the items.
        summary: bool,
    },
    Get {
        prefix: Option<String>,
        after: Option<String>,
    },
    Explain {
        key: ItemKey,
    },
}

/// Everything that reaches the driver, on its one channel. The order of the channel is the order
/// of the log, and the log is what a replay feeds a fresh core; so whatever may change a
/// decision (command results and observations included) must come this way, never around it.
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
    /// A KV watch starts, on the bucket whose stream was created at `bucket_created`: what it
    /// replays at or below the revision the log already took in from that bucket is not news.
    KvWatch {
        bucket_created: String,
    },
    /// The keys in the KV bucket when its watch starts: desired items last set from the bucket
    /// and missing from it are deleted.
    KvResync {
        present: BTreeSet<ItemKey>,
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
    /// The backend's answer to [`Input::Reobserve`] or to a resync the core asked for; logged
    /// as `Event::Observed` (origin `Kernel`). A failure is only reported: the next change,
    /// periodic resync or restart looks again.
    Observed(Result<Snapshot, BackendError>),
    /// The backend's answer to a look at iptables tables the core asked for
    /// (`Core::poll_chain_resync`); logged as `Event::ChainsObserved` (origin `Kernel`). A
    /// failure is only reported: the next resync looks again.
    ChainsObserved(Result<nsagent_core::ChainSnapshot, BackendError>),
    /// `nsagentctl resync`: logged as `Event::ResyncRequested` (origin `Request`); `reply`
    /// gets `{"seq"}` once the snapshot it caused has been fed to the core, or an error naming
    /// the field. `None`: every namespace.
    Resync {
        ns: Option<Netns>,
        reply: tokio::sync::oneshot::Sender<Value>,
    },
    /// `nsagentctl dump`: what the kernel holds now in `ns` (`None`: every namespace the core
    /// cares about), observed by the backend thread after the commands already sent to it and
    /// answered from there; not logged, since it changes nothing.
    Dump {
        ns: Option<Netns>,
        reply: tokio::sync::oneshot::Sender<Value>,
    },
    /// `nsagentctl state` and the state watcher: the state of the link each interface item
    /// holds (of `name`'s alone if given), read by the backend thread and answered from there;
    /// not logged.
    States {
        name: Option<String>,
        reply: tokio::sync::oneshot::Sender<Value>,
    },
    /// Flush the log and stop.
    Shutdown,
}

/// What the driver tells the async side, in the order it happened; the daemon publishes it in
/// that order, so that a subscriber never sees an item's states out of order.
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

/// How the driver runs; fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub core: CoreConfig,
    /// Write a snapshot after this many events.
    pub snapshot_every: u64,
    /// Send [`Output::Namespaces`]. Computing the set walks every item, so it is recomputed
    /// at most every few milliseconds, and once more when things go quiet.
    pub publish_namespaces: bool,
    /// Milliseconds between full resyncs (`Core::set_resync_interval`); `None`: none.
    pub resync_interval_ms: Option<u64>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            core: CoreConfig::default(),
            snapshot_every: 10_000,
            publish_namespaces: false,
            resync_interval_ms: None,
        }
    }
}

/// Why the driver could not start or had to stop. Every one is fatal to the daemon: without
/// the log, a restored core, the backend or any of the driver's threads it cannot keep its
/// promise that what it acknowledged is applied.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("restoring from the log: {0}")]
    Replay(#[from] ReplayError),
    /// The backend could not be built, or could not read the kernel for the start-up resync.
    #[error("backend: {0}")]
    Backend(String),
    /// A thread of the driver (the driver's own, the backend's, the snapshot writer) could not
    /// be spawned, went away or panicked.
    #[error("{0}")]
    Thread(String),
}

impl DriverError {
    fn exited(thread: &str) -> DriverError {
        DriverError::Thread(format!("{thread} thread exited"))
    }
}

/// Spawns the thread `nsagent-<what>`: named so that a thread list or a stack dump says whose it
/// is. Failing to spawn one is as fatal as losing it.
fn spawn<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<thread::JoinHandle<T>, DriverError> {
    thread::Builder::new()
        .name(format!("nsagent-{what}"))
        .spawn(f)
        .map_err(|e| DriverError::Thread(format!("cannot spawn the {what} thread: {e}")))
}

/// Handle to a running driver. Feed it through [`Driver::input`]; the daemon must also wait on
/// [`Driver::exited`], because the driver stops on its own when the log or a thread fails, and
/// end with [`Driver::shutdown`], which flushes the log.
pub struct Driver {
    pub input: mpsc::Sender<Input>,
    thread: thread::JoinHandle<Result<(), DriverError>>,
    exited: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Driver {
    /// Starts the backend thread, restores the core from the log (snapshot + replay), resyncs
    /// with the backend, and starts the driver thread. Returns once the resync is logged, so
    /// that the first intent is decided against what the kernel holds now.
    pub fn start(
        journal: Journal,
        config: DriverConfig,
        backend: BackendFactory,
        output: tokio::sync::mpsc::UnboundedSender<Output>,
    ) -> Result<Driver, DriverError> {
        let (input_tx, input_rx) = mpsc::channel();
        let backend = BackendThread::start(backend, input_tx.clone())?;
        let mut state = RunLoop::restore(journal, config, backend, output)?;
        state.resync()?;
        let (exited_tx, exited) = tokio::sync::oneshot::channel();
        let thread = spawn("driver", move || {
            let result = state.run(input_rx);
            if let Err(e) = &result {
                tracing::error!(error = %e, "driver stopped");
            }
            let _ = exited_tx.send(());
            result
        })?;
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
            .unwrap_or_else(|_| Err(DriverError::Thread("driver thread panicked".into())))
    }
}
