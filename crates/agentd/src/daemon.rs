//! The async side of `nsagentd`: NATS subscriptions in, replies and state changes out, and the
//! shutdown sequence. Nothing here touches the core or the kernel; it only talks to the driver.

use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt;
use nsagent_core::{AgentIdentity, Backend, CoreConfig, ItemKey};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::config::{BackendKind, DaemonConfig};
use crate::driver::{
    read_log, BackendFactory, Driver, DriverConfig, DriverError, Input, Output, Query, Reply,
};
use crate::instance;
use crate::journal::{Journal, JournalConfig, JournalError, Origin};
use crate::kv;
use crate::nats::{self, ConnectError};
use crate::observers::{self, KernelWatch};
use crate::protocol::{
    self, error_value, fit_to_payload, IntentReply, LogRequest, QueryRequest, Subjects,
};
use crate::states;

/// Why the daemon did not start or stopped with an error; `nsagentd` logs it and exits with
/// failure, so that a supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("{0}")]
    Other(String),
}

/// Builds the configured backend (on the backend thread). For the kernel, also the backend's
/// socket cache, which the kernel watcher shares.
fn backend_factory(
    kind: BackendKind,
    route_protocol: u8,
) -> (BackendFactory, Option<nsagent_netlink::SocketCache>) {
    match kind {
        BackendKind::Sim => (
            Box::new(|| {
                let kernel = nsagent_sim::SimKernel::new(nsagent_sim::SimConfig::default());
                Ok(Box::new(kernel) as Box<dyn Backend>)
            }),
            None,
        ),
        BackendKind::Netlink => {
            let backend =
                nsagent_netlink::NetlinkBackend::new().with_route_protocol(route_protocol);
            let sockets = backend.sockets();
            (
                Box::new(move || Ok(Box::new(backend) as Box<dyn Backend>)),
                Some(sockets),
            )
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT, or until the driver stops on its own (which is an
/// error: the daemon must not take intents it cannot log or apply).
pub async fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    let subjects = Subjects::new(&config.label);
    let journal = open_journal(&config)?;
    let reader = journal.clone();
    let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel();
    let (factory, sockets) = backend_factory(config.backend, config.route_protocol);
    let instance = instance::load_or_create(&config.data_dir)
        .map_err(|e| DaemonError::Other(e.to_string()))?;
    let identity = AgentIdentity::new(&config.label, instance)
        .map_err(|e| DaemonError::Other(format!("--label: {}", e.reason)))?;
    tracing::info!(mark = %identity.mark("<item>"), adopt_legacy = config.adopt_legacy, "links are marked");
    let driver_config = DriverConfig {
        core: CoreConfig {
            identity,
            adopt_legacy: config.adopt_legacy,
            ..CoreConfig::default()
        },
        snapshot_every: config.snapshot_every,
        publish_namespaces: sockets.is_some(),
        resync_interval_ms: config.resync_interval_ms,
    };
    let mut driver =
        tokio::task::spawn_blocking(move || Driver::start(journal, driver_config, factory, out_tx))
            .await
            .map_err(|e| DaemonError::Other(format!("start-up task failed: {e}")))??;
    let input = driver.input.clone();
    send_borrow_policy(&config, &input)?;
    let kernel_watch = match sockets {
        Some(sockets) => Some(
            KernelWatch::start(sockets, input.clone())
                .map_err(|e| DaemonError::Other(format!("starting the kernel watcher: {e}")))?,
        ),
        None => None,
    };

    let client = nats::connect(
        &config.nats,
        &config.auth,
        &format!("nsagentd-{}", config.label),
        false,
    )
    .await?;
    tracing::info!(label = %config.label, nats = %config.nats, backend = ?config.backend, docker = config.docker, "nsagentd running");
    let publisher = spawn_publisher(client.clone(), subjects.clone(), out_rx, kernel_watch);
    let tasks = spawn_inputs(&client, &subjects, &config, &input, reader).await?;

    let driver_died = wait_for_stop(driver.exited()).await?;
    tracing::info!(driver_died, "shutting down");
    for t in &tasks {
        t.abort();
    }
    drop(input);
    tokio::task::spawn_blocking(move || driver.shutdown())
        .await
        .map_err(|e| DaemonError::Other(format!("shutdown task failed: {e}")))??;
    // The driver is gone, so the publisher drains what it left and ends.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), publisher).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), client.flush()).await;
    tracing::info!("stopped");
    if driver_died {
        return Err(DaemonError::Other(
            "the driver stopped; see the error above".into(),
        ));
    }
    Ok(())
}

/// Tells the core which links items may borrow and which carry the agent's way to NATS, before
/// any intent arrives: logged like every observation, so a replay judges items the same way.
fn send_borrow_policy(
    config: &DaemonConfig,
    input: &mpsc::Sender<Input>,
) -> Result<(), DaemonError> {
    let protected = config.backend == BackendKind::Netlink;
    let policy = if protected {
        crate::protect::borrow_policy(&config.borrow_allow, &config.nats)
            .map_err(|e| DaemonError::Other(format!("finding the links to NATS: {e}")))?
    } else {
        // The simulated kernel carries no traffic.
        nsagent_core::BorrowPolicy {
            allow: config.borrow_allow.clone(),
            protected: vec![],
        }
    };
    for p in &policy.protected {
        tracing::info!(link = %p.name, server = %p.server, "protected: carries the route to NATS");
    }
    input
        .send(Input::Observe {
            events: vec![nsagent_core::Event::BorrowPolicy(policy)],
            origin: Origin::Agent,
        })
        .map_err(|_| DaemonError::Other("the driver stopped at start".into()))
}

/// Opens the log in the data directory, saying what start-up had to repair.
fn open_journal(config: &DaemonConfig) -> Result<Journal, DaemonError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| DaemonError::Other(format!("creating {}: {e}", config.data_dir.display())))?;
    let (journal, report) = Journal::open(
        &config.data_dir,
        JournalConfig {
            retention: config.retention,
            repair: config.repair,
        },
    )
    .map_err(|e| match e {
        JournalError::Damaged { .. } if config.kv => DaemonError::Other(format!(
            "{e}. The desired items are also in the KV bucket nsagent_{}: an agent started on a \
             new data directory converges to them",
            config.label
        )),
        e => DaemonError::from(e),
    })?;
    if let Some(cut) = &report.cut {
        tracing::warn!(first_bad = cut.first_bad, removed = cut.removed, reason = %cut.reason, "unacknowledged log tail that does not read was cut");
    }
    if let Some(repair) = &report.repair {
        for (first, last, reason) in &repair.lost {
            tracing::error!(first, last, reason = %reason, "repair: acknowledged records lost");
        }
        tracing::warn!(report = %repair.report.display(), "event log repaired");
    }
    for (seq, e) in &report.bad_snapshots {
        tracing::warn!(seq, error = %e, "unreadable snapshot removed");
    }
    Ok(journal)
}

/// Publishes replies and state changes in the order the driver produced them, and passes the
/// namespaces to watch to the kernel watcher. Ends when the driver is gone.
fn spawn_publisher(
    client: async_nats::Client,
    subjects: Subjects,
    mut out_rx: tokio::sync::mpsc::UnboundedReceiver<Output>,
    mut kernel_watch: Option<KernelWatch>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let result = match out {
                Output::Ack { subject, body } => client.publish(subject, body.into()).await,
                Output::Namespaces(namespaces) => {
                    if let Some(w) = kernel_watch.as_mut() {
                        w.set(namespaces);
                    }
                    Ok(())
                }
                Output::StateChange { key, state } => {
                    let body = serde_json::json!({
                        "key": key.to_string(), "state": state.name(), "detail": crate::human::state_detail(&state),
                    });
                    client
                        .publish(subjects.event(&key, state.name()), body.to_string().into())
                        .await
                }
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "publish failed");
            }
        }
    })
}

/// Subscribes to every subject of the agent and starts the watchers the configuration asks
/// for; all of them feed the driver's input.
async fn spawn_inputs(
    client: &async_nats::Client,
    subjects: &Subjects,
    config: &DaemonConfig,
    input: &mpsc::Sender<Input>,
    reader: Journal,
) -> Result<Vec<tokio::task::JoinHandle<()>>, DaemonError> {
    let mut tasks = vec![spawn_intents(client, subjects, input.clone()).await?];
    for (subject, kind) in [
        (&subjects.status, QueryKind::Status),
        (&subjects.get, QueryKind::Get),
        (&subjects.explain, QueryKind::Explain),
    ] {
        tasks.push(spawn_queries(client, subject.clone(), input.clone(), kind).await?);
    }
    tasks.push(spawn_log(client, subjects.log.clone(), reader).await?);
    tasks.push(spawn_resync(client, subjects.resync.clone(), input.clone()).await?);
    tasks.push(spawn_dump(client, subjects.dump.clone(), input.clone()).await?);
    tasks.push(spawn_state(client, subjects.state.clone(), input.clone()).await?);
    if let Some(ms) = config.state_interval_ms {
        tasks.push(states::spawn_watch(
            client.clone(),
            subjects.interface_state.clone(),
            input.clone(),
            Duration::from_millis(ms),
        ));
    }
    if config.docker {
        tasks.extend(observers::spawn_docker(
            nsagent_docker_watch::WatchConfig::from_env(),
            input.clone(),
        ));
    }
    if config.kv {
        tasks.push(kv::spawn(
            client.clone(),
            protocol::kv_bucket(&config.label),
            input.clone(),
        ));
    }
    Ok(tasks)
}

/// Waits for a signal or for the driver to stop; returns whether the driver stopped.
async fn wait_for_stop(exited: Option<oneshot::Receiver<()>>) -> Result<bool, DaemonError> {
    tokio::select! {
        r = wait_for_signal() => { r?; Ok(false) }
        _ = async {
            match exited {
                Some(rx) => { let _ = rx.await; }
                None => std::future::pending::<()>().await,
            }
        } => Ok(true),
    }
}

async fn wait_for_signal() -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| DaemonError::Other(format!("SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| DaemonError::Other(format!("SIGINT handler: {e}")))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn subscribe(
    client: &async_nats::Client,
    subject: String,
) -> Result<async_nats::Subscriber, DaemonError> {
    client
        .subscribe(subject.clone())
        .await
        .map_err(|e| DaemonError::Nats(format!("subscribing to {subject}: {e}")))
}

async fn spawn_intents(
    client: &async_nats::Client,
    subjects: &Subjects,
    input: mpsc::Sender<Input>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    let mut sub = subscribe(client, subjects.intents.clone()).await?;
    let client = client.clone();
    Ok(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply) = msg.reply else {
                tracing::warn!("intent without a reply subject ignored: intents are request-reply");
                continue;
            };
            match protocol::parse_intent(&msg.payload) {
                Ok(ops) => {
                    let intent = Input::Intent {
                        ops,
                        origin: Origin::Request,
                        reply: Reply::Subject(reply.to_string()),
                    };
                    if input.send(intent).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!(field = %e.field, reason = %e.reason, "intent rejected");
                    let _ = client
                        .publish(reply, IntentReply::Error(e.into()).to_bytes().into())
                        .await;
                }
            }
        }
    }))
}

/// Which of the query subjects a request came on: each takes its own fields of the body.
#[derive(Clone, Copy)]
enum QueryKind {
    Status,
    Get,
    Explain,
}

fn to_query(kind: QueryKind, body: &[u8]) -> Result<Query, Value> {
    let req: QueryRequest = if body.iter().all(u8::is_ascii_whitespace) {
        QueryRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| error_value("body", e))?
    };
    let key = req
        .key
        .as_deref()
        .map(str::parse::<ItemKey>)
        .transpose()
        .map_err(|e| error_value("key", e.reason))?;
    match kind {
        QueryKind::Status => Ok(Query::Status {
            key,
            prefix: req.prefix,
            after: req.after,
            summary: req.summary,
        }),
        QueryKind::Get => Ok(Query::Get {
            prefix: req.prefix.or(req.key),
            after: req.after,
        }),
        QueryKind::Explain => key
            .map(|key| Query::Explain { key })
            .ok_or_else(|| error_value("key", "missing")),
    }
}

async fn spawn_queries(
    client: &async_nats::Client,
    subject: String,
    input: mpsc::Sender<Input>,
    kind: QueryKind,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    serve(client, subject, move |body| {
        let input = input.clone();
        async move {
            let query = match to_query(kind, &body) {
                Ok(query) => query,
                Err(e) => return Some(e),
            };
            let (tx, rx) = oneshot::channel();
            input.send(Input::Query { query, reply: tx }).ok()?;
            Some(
                rx.await
                    .unwrap_or_else(|_| error_value("agent", "shutting down")),
            )
        }
    })
    .await
}

/// `nsagentctl state`: answered by the backend thread with the links' states.
async fn spawn_state(
    client: &async_nats::Client,
    subject: String,
    input: mpsc::Sender<Input>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    serve(client, subject, move |body| {
        let input = input.clone();
        async move {
            let name = match protocol::parse_state_request(&body) {
                Ok(name) => name,
                Err(e) => return Some(e),
            };
            Some(
                states::ask(&input, name)
                    .await
                    .unwrap_or_else(|| error_value("agent", "shutting down")),
            )
        }
    })
    .await
}

/// `nsagentctl dump`: answered by the backend thread with what it observes.
async fn spawn_dump(
    client: &async_nats::Client,
    subject: String,
    input: mpsc::Sender<Input>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    spawn_namespace_requests(client, subject, input, |ns, reply| Input::Dump {
        ns,
        reply,
    })
    .await
}

/// `nsagentctl resync`: answered once the snapshot it caused has been fed to the core.
async fn spawn_resync(
    client: &async_nats::Client,
    subject: String,
    input: mpsc::Sender<Input>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    spawn_namespace_requests(client, subject, input, |ns, reply| Input::Resync {
        ns,
        reply,
    })
    .await
}

/// Requests whose body names a namespace (or none: all of them), handed to the driver as the
/// input `make` builds; the driver's answer is the reply.
async fn spawn_namespace_requests(
    client: &async_nats::Client,
    subject: String,
    input: mpsc::Sender<Input>,
    make: fn(Option<nsagent_core::Netns>, oneshot::Sender<Value>) -> Input,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    serve(client, subject, move |body| {
        let input = input.clone();
        async move {
            let ns = match protocol::parse_namespace_request(&body) {
                Ok(ns) => ns,
                Err(e) => return Some(e),
            };
            let (tx, rx) = oneshot::channel();
            input.send(make(ns, tx)).ok()?;
            Some(
                rx.await
                    .unwrap_or_else(|_| error_value("agent", "shutting down")),
            )
        }
    })
    .await
}

async fn spawn_log(
    client: &async_nats::Client,
    subject: String,
    journal: Journal,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    serve(client, subject, move |body| {
        let journal = journal.clone();
        async move {
            Some(match serde_json::from_slice::<LogRequest>(&body) {
                // Reading the log is disk I/O: not on an async worker.
                Ok(req) => tokio::task::spawn_blocking(move || read_log(&journal, &req))
                    .await
                    .unwrap_or_else(|e| error_value("log", e)),
                Err(e) => error_value("body", e),
            })
        }
    })
    .await
}

/// Answers every request on `subject` with the JSON `answer` makes of its body, one request at
/// a time; ends when `answer` gives `None` (the driver is gone). Messages without a reply
/// subject are not requests and are dropped.
async fn serve<A, F>(
    client: &async_nats::Client,
    subject: String,
    answer: A,
) -> Result<tokio::task::JoinHandle<()>, DaemonError>
where
    A: Fn(bytes::Bytes) -> F + Send + 'static,
    F: std::future::Future<Output = Option<Value>> + Send,
{
    let mut sub = subscribe(client, subject).await?;
    let client = client.clone();
    Ok(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply) = msg.reply else { continue };
            let Some(answer) = answer(msg.payload).await else {
                return;
            };
            // The server's limit, as it told this connection: answers are paged to fit it.
            let max_payload = client.server_info().max_payload;
            let body = fit_to_payload(answer, max_payload).to_string();
            let len = body.len();
            if let Err(e) = client.publish(reply, body.into()).await {
                tracing::error!(len, max_payload, error = %e, "a reply could not be sent");
            }
        }
    }))
}
