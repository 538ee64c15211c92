//! Integration tests against a real Docker daemon. They need root and the packages that
//! `scripts/docker-test-env.sh` installs; the script starts dockerd when it is not running and
//! imports the busybox test image. Without root or a working daemon these tests fail, loudly:
//! CI has both, and a green run must mean the watcher was tested.

use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use nsagent_core::Event;
use nsagent_docker_watch::{connect, watch, WatchConfig};
use tokio::process::Command;
use tokio::sync::{mpsc, RwLock};

const IMAGE: &str = "nsagent-test-busybox:latest";
const WAIT: Duration = Duration::from_secs(30);

/// Every test reads the daemon; the daemon-restart test writes it (takes it away for a while).
static DAEMON: RwLock<()> = RwLock::const_new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/docker-test-env.sh")
}

fn run_script(arg: &str) -> Result<(), String> {
    let out = StdCommand::new("bash")
        .arg(script())
        .arg(arg)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {arg} failed ({}):\n{}{}",
            script().display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Makes sure dockerd runs and the test image exists, once per test binary.
fn docker_env() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        if !root {
            return Err(
                "must run as root: they start dockerd and enter container namespaces".into(),
            );
        }
        run_script("ensure")
    });
    if let Err(why) = ready {
        panic!("docker-watch integration tests cannot run: {why}\n(CI runs them as root with dockerd; they never pass silently)");
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .await
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A test container, removed when the guard drops, whether the test passed or not.
struct Container {
    name: String,
    id: String,
}

impl Container {
    /// Starts `sleep` in the busybox image; `args` go before the image name.
    async fn run(args: &[&str]) -> Container {
        let name = unique("nsagent-dw");
        let mut all = vec!["run", "-d", "--name", &name, "--stop-timeout", "1"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[IMAGE, "sleep", "3600"]);
        // The guard exists before the container does, so a failing `docker run` that left a
        // created container behind still cleans up.
        let mut guard = Container {
            name: name.clone(),
            id: String::new(),
        };
        guard.id = docker(&all).await;
        guard
    }

    async fn with_label(label: &str) -> Container {
        Container::run(&["-e", &format!("MICROSERVICE_LABEL={label}")]).await
    }

    async fn pid(&self) -> u32 {
        let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &self.name]).await;
        pid.parse()
            .unwrap_or_else(|e| panic!("pid of {}: {pid:?}: {e}", self.name))
    }

    async fn stop(&self) {
        docker(&["stop", "-t", "1", &self.name]).await;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = StdCommand::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// Runs a watcher for one test; it stops when the receiver drops at the end of the test.
struct Watch {
    rx: mpsc::Receiver<Event>,
    seen: Vec<Event>,
}

impl Watch {
    fn start() -> Watch {
        let (tx, rx) = mpsc::channel(256);
        let config = WatchConfig {
            reconnect_base: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(500),
            ..WatchConfig::default()
        };
        tokio::spawn(watch(config, tx));
        Watch {
            rx,
            seen: Vec::new(),
        }
    }

    /// Starts a watcher and waits for its first successful listing.
    async fn connected() -> Watch {
        let mut w = Watch::start();
        w.next_matching("connected=true", |e| {
            matches!(e, Event::MicroserviceWatch { connected: true })
        })
        .await;
        w
    }

    /// The next event that `pred` accepts; events of other tests' containers are skipped.
    async fn next_matching(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if pred(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!(
                    "watcher ended while waiting for {what}; saw {:#?}",
                    self.seen
                ),
                Err(_) => panic!("no {what} within {WAIT:?}; saw {:#?}", self.seen),
            }
        }
    }

    async fn started(&mut self, label: &str) -> (String, u32, Vec<String>) {
        let event = self
            .next_matching(
                &format!("MicroserviceStarted for {label}"),
                |e| matches!(e, Event::MicroserviceStarted { label: l, .. } if l == label),
            )
            .await;
        match event {
            Event::MicroserviceStarted {
                container_id,
                pid,
                duplicates,
                ..
            } => (container_id, pid, duplicates),
            other => unreachable!("matched {other:?}"),
        }
    }

    async fn stopped(&mut self, label: &str) -> String {
        let event = self
            .next_matching(
                &format!("MicroserviceStopped for {label}"),
                |e| matches!(e, Event::MicroserviceStopped { label: l, .. } if l == label),
            )
            .await;
        match event {
            Event::MicroserviceStopped { container_id, .. } => container_id,
            other => unreachable!("matched {other:?}"),
        }
    }

    /// Events about `label` seen so far.
    fn seen_for(&self, label: &str) -> Vec<&Event> {
        self.seen
            .iter()
            .filter(|e| match e {
                Event::MicroserviceStarted { label: l, .. }
                | Event::MicroserviceStopped { label: l, .. } => l == label,
                Event::MicroserviceWatch { .. } => false,
                _ => false,
            })
            .collect()
    }
}

fn assert_netns_exists(pid: u32) {
    let path = format!("/proc/{pid}/ns/net");
    assert!(std::fs::metadata(&path).is_ok(), "{path} does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_version_is_negotiated_down_to_the_daemons() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let server = docker(&["version", "--format", "{{.Server.APIVersion}}"]).await;
    let client = connect(&WatchConfig::default())
        .await
        .expect("connects to the test daemon");
    assert_eq!(client.client_version().to_string(), server);
    // The negotiated client can talk: a request with bollard's default version would be refused
    // by an older daemon.
    client
        .ping()
        .await
        .expect("ping with the negotiated version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_with_env_label_is_reported_with_its_pid() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let mut w = Watch::connected().await;
    let label = unique("ms");
    let c = Container::with_label(&label).await;
    let (id, pid, duplicates) = w.started(&label).await;
    assert_eq!(id, c.id);
    assert_eq!(pid, c.pid().await);
    assert!(duplicates.is_empty(), "{duplicates:?}");
    assert_netns_exists(pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_with_docker_label_is_reported() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let mut w = Watch::connected().await;
    let label = unique("ms");
    let c = Container::run(&["--label", &format!("nsagent.microservice={label}")]).await;
    let (id, pid, _) = w.started(&label).await;
    assert_eq!((id, pid), (c.id.clone(), c.pid().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_container_is_found_by_the_initial_listing() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let label = unique("ms");
    let c = Container::with_label(&label).await;
    let mut w = Watch::start();
    let (id, pid, _) = w.started(&label).await;
    assert_eq!((id, pid), (c.id.clone(), c.pid().await));
    // The listing's starts come before the watcher says it is connected.
    w.next_matching("connected=true", |e| {
        matches!(e, Event::MicroserviceWatch { connected: true })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_without_label_is_ignored() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let mut w = Watch::connected().await;
    let plain = Container::run(&["-e", "OTHER=1"]).await;
    plain.stop().await;
    // A labelled container started afterwards is a fence: by its start, the plain one's events
    // have been processed.
    let label = unique("ms");
    let _fence = Container::with_label(&label).await;
    w.started(&label).await;
    let about_plain: Vec<&Event> = w
        .seen
        .iter()
        .filter(|e| match e {
            Event::MicroserviceStarted { container_id, .. }
            | Event::MicroserviceStopped { container_id, .. } => *container_id == plain.id,
            _ => false,
        })
        .collect();
    assert!(about_plain.is_empty(), "{about_plain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_container_reports_stopped() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let mut w = Watch::connected().await;
    let label = unique("ms");
    let c = Container::with_label(&label).await;
    w.started(&label).await;
    c.stop().await;
    assert_eq!(w.stopped(&label).await, c.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reports_a_new_pid() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let mut w = Watch::connected().await;
    let label = unique("ms");
    let c = Container::with_label(&label).await;
    let (_, first_pid, _) = w.started(&label).await;
    docker(&["restart", "-t", "1", &c.name]).await;
    assert_eq!(w.stopped(&label).await, c.id);
    let (id, pid, _) = w.started(&label).await;
    assert_eq!(id, c.id);
    assert_ne!(pid, first_pid, "restart must report the new process");
    assert_eq!(pid, c.pid().await);
    assert_netns_exists(pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_label_newest_wins_and_the_older_takes_over() {
    docker_env();
    let _daemon = DAEMON.read().await;
    let mut w = Watch::connected().await;
    let label = unique("ms");
    let older = Container::with_label(&label).await;
    let (id, _, _) = w.started(&label).await;
    assert_eq!(id, older.id);

    let newer = Container::with_label(&label).await;
    let (id, pid, duplicates) = w.started(&label).await;
    assert_eq!((id, pid), (newer.id.clone(), newer.pid().await));
    assert_eq!(duplicates, vec![older.id.clone()]);

    newer.stop().await;
    let (id, pid, duplicates) = w.started(&label).await;
    assert_eq!((id, pid), (older.id.clone(), older.pid().await));
    assert!(duplicates.is_empty(), "{duplicates:?}");

    older.stop().await;
    assert_eq!(w.stopped(&label).await, older.id);
    // Exactly these four changes, no flip-flop in between.
    assert_eq!(w.seen_for(&label).len(), 4, "{:#?}", w.seen_for(&label));
}

/// Brings dockerd back even when the test fails half-way, so later tests find it running.
struct DaemonBack;

impl Drop for DaemonBack {
    fn drop(&mut self) {
        if let Err(why) = run_script("start") {
            eprintln!("could not restart dockerd after the restart test: {why}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_restart_reports_disconnected_then_resyncs() {
    docker_env();
    let _daemon = DAEMON.write().await;
    let mut w = Watch::connected().await;

    // One container the daemon brings back on restart (with a new process), one it does not.
    let back_label = unique("ms");
    let back = Container::run(&[
        "--restart=always",
        "-e",
        &format!("MICROSERVICE_LABEL={back_label}"),
    ])
    .await;
    let gone_label = unique("ms");
    let gone = Container::with_label(&gone_label).await;
    let (_, back_pid, _) = w.started(&back_label).await;
    w.started(&gone_label).await;

    // A crash, not a clean stop: a clean stop reports every container's exit through the event
    // stream before closing it, and the resync would have nothing left to find. After a crash
    // the restarted daemon (no live-restore) kills the orphaned containers and restarts the one
    // with a restart policy, all before it serves the API, so only the resync can report them.
    let _back_guard = DaemonBack;
    run_script("kill").unwrap_or_else(|why| panic!("{why}"));
    w.next_matching("connected=false", |e| {
        matches!(e, Event::MicroserviceWatch { connected: false })
    })
    .await;
    run_script("start").unwrap_or_else(|why| panic!("{why}"));

    // The resync reports the container that did not come back as stopped and the one that came
    // back with its new pid, then says it is connected; the restarted one may instead arrive
    // through the event stream just after, depending on when the daemon restarts it.
    let from = w.seen.len();
    let stopped = w.stopped(&gone_label).await;
    assert_eq!(stopped, gone.id);
    w.next_matching("connected=true", |e| {
        matches!(e, Event::MicroserviceWatch { connected: true })
    })
    .await;
    let resynced = w.seen[from..].iter().rev().find_map(|e| match e {
        Event::MicroserviceStarted {
            label,
            container_id,
            pid,
            ..
        } if *label == back_label => Some((container_id.clone(), *pid)),
        _ => None,
    });
    let (id, pid) = match resynced {
        Some(found) => found,
        None => {
            let (id, pid, _) = w.started(&back_label).await;
            (id, pid)
        }
    };
    assert_eq!(id, back.id);
    assert_ne!(pid, back_pid);
    assert_eq!(pid, back.pid().await);
    assert_netns_exists(pid);

    // The event stream works again after the resync.
    let after_label = unique("ms");
    let after = Container::with_label(&after_label).await;
    let (id, _, _) = w.started(&after_label).await;
    assert_eq!(id, after.id);
}
