//! The backend thread: the only place the backend is called.

use std::sync::mpsc;

use nsagent_core::{AgentIdentity, Backend, BackendError, ChainSnapshot, Command, Netns, Snapshot};
use serde_json::Value;

use super::queries::{dump_value, states_value};
use super::{spawn, DriverError, Input};
use crate::protocol::error_value;

/// Builds the backend on the backend thread: backends need not be `Send`.
pub type BackendFactory = Box<dyn FnOnce() -> Result<Box<dyn Backend>, String> + Send>;

/// What the backend thread is asked to do; done in the order sent.
enum Job {
    Apply(Vec<Command>),
    /// Observe, and answer on this channel (the start-up resync waits for it).
    Observe(Vec<Netns>, mpsc::Sender<Result<Snapshot, BackendError>>),
    /// Observe, and send the snapshot back to the driver as input.
    Reobserve(Vec<Netns>),
    /// Read the iptables tables of these namespaces: answered on the channel if there is one
    /// (the start-up resync waits for it), else sent back to the driver as input.
    ObserveChains(
        Vec<Netns>,
        Option<mpsc::Sender<Result<ChainSnapshot, BackendError>>>,
    ),
    /// Read the states of these links (item, namespace, link), and answer with them.
    States(
        Vec<(String, Netns, String)>,
        tokio::sync::oneshot::Sender<Value>,
    ),
    /// Observe, and answer `nsagentctl dump` with what was seen, marks read by this identity.
    Dump(
        Vec<Netns>,
        AgentIdentity,
        tokio::sync::oneshot::Sender<Value>,
    ),
}

/// The thread that owns the backend. Jobs are done one at a time in the order they were sent,
/// which is what lets a reobservation sent after some commands see their effect. Results come
/// back as [`Input`] on the driver's own channel, so they are logged in the order the driver
/// sees them. The thread ends when this handle is dropped or the driver's input is gone; any
/// method failing means it has ended, and the driver must stop.
pub(super) struct BackendThread {
    jobs: mpsc::Sender<Job>,
}

impl BackendThread {
    /// Spawns the thread and builds the backend on it; returns once it is built, so that a
    /// backend that cannot start (no netlink) is reported by the start-up, not later.
    pub(super) fn start(
        factory: BackendFactory,
        results: mpsc::Sender<Input>,
    ) -> Result<BackendThread, DriverError> {
        let (jobs, job_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        spawn("backend", move || run(factory, job_rx, results, ready_tx))?;
        ready_rx
            .recv()
            .map_err(|_| DriverError::exited("backend"))?
            .map_err(DriverError::Backend)?;
        Ok(BackendThread { jobs })
    }

    pub(super) fn apply(&self, commands: Vec<Command>) -> Result<(), DriverError> {
        self.send(Job::Apply(commands))
    }

    /// Observes `namespaces` after the jobs already sent, and waits for the answer.
    pub(super) fn observe(
        &self,
        namespaces: Vec<Netns>,
    ) -> Result<Result<Snapshot, BackendError>, DriverError> {
        let (tx, rx) = mpsc::channel();
        self.send(Job::Observe(namespaces, tx))?;
        rx.recv().map_err(|_| DriverError::exited("backend"))
    }

    /// Observes `namespaces` after the jobs already sent; the answer comes back as
    /// [`Input::Observed`].
    pub(super) fn reobserve(&self, namespaces: Vec<Netns>) -> Result<(), DriverError> {
        self.send(Job::Reobserve(namespaces))
    }

    /// Reads the iptables tables of `namespaces` after the jobs already sent; the answer comes
    /// back as [`Input::ChainsObserved`].
    pub(super) fn observe_chains(&self, namespaces: Vec<Netns>) -> Result<(), DriverError> {
        self.send(Job::ObserveChains(namespaces, None))
    }

    /// The same, waiting for the answer.
    pub(super) fn observe_chains_now(
        &self,
        namespaces: Vec<Netns>,
    ) -> Result<Result<ChainSnapshot, BackendError>, DriverError> {
        let (tx, rx) = mpsc::channel();
        self.send(Job::ObserveChains(namespaces, Some(tx)))?;
        rx.recv().map_err(|_| DriverError::exited("backend"))
    }

    /// Answers `reply` with what `namespaces` hold, observed after the jobs already sent.
    pub(super) fn dump(
        &self,
        namespaces: Vec<Netns>,
        identity: AgentIdentity,
        reply: tokio::sync::oneshot::Sender<Value>,
    ) -> Result<(), DriverError> {
        self.send(Job::Dump(namespaces, identity, reply))
    }

    /// Answers `reply` with the states of `targets`, read after the jobs already sent.
    pub(super) fn states(
        &self,
        targets: Vec<(String, Netns, String)>,
        reply: tokio::sync::oneshot::Sender<Value>,
    ) -> Result<(), DriverError> {
        self.send(Job::States(targets, reply))
    }

    fn send(&self, job: Job) -> Result<(), DriverError> {
        self.jobs
            .send(job)
            .map_err(|_| DriverError::exited("backend"))
    }
}

fn run(
    factory: BackendFactory,
    jobs: mpsc::Receiver<Job>,
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
            Job::Apply(commands) => {
                let outcome = backend.apply_batch(&commands);
                let paired: Vec<_> = commands.into_iter().zip(outcome).collect();
                if results.send(Input::Results(paired)).is_err() {
                    return;
                }
            }
            Job::Observe(namespaces, reply) => {
                let _ = reply.send(backend.observe(&namespaces));
            }
            Job::States(targets, reply) => {
                let mut read = std::collections::BTreeMap::new();
                for (_, ns, _) in &targets {
                    if !read.contains_key(ns) {
                        read.insert(ns.clone(), backend.link_states(ns));
                    }
                }
                let _ = reply.send(states_value(&targets, &read));
            }
            Job::Dump(namespaces, identity, reply) => {
                let answer = match backend.observe(&namespaces) {
                    Ok(snapshot) => {
                        let chains = backend.observe_chains(&namespaces);
                        dump_value(&snapshot, &chains, &identity)
                    }
                    Err(e) => error_value("kernel", e),
                };
                let _ = reply.send(answer);
            }
            Job::ObserveChains(namespaces, reply) => {
                let snapshot = backend.observe_chains(&namespaces);
                match reply {
                    Some(reply) => {
                        let _ = reply.send(snapshot);
                    }
                    None => {
                        if results.send(Input::ChainsObserved(snapshot)).is_err() {
                            return;
                        }
                    }
                }
            }
            Job::Reobserve(namespaces) => {
                let snapshot = backend.observe(&namespaces);
                if results.send(Input::Observed(snapshot)).is_err() {
                    return;
                }
            }
        }
    }
}
