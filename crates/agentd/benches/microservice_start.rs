//! Container start to configured interface (issue 5's figure). Needs root, dockerd (see
//! `scripts/docker-test-env.sh`) and nats-server; run with
//! `cargo bench -p nsagent-agentd --bench microservice_start`.
//!
//! A real nats-server and nsagentd (netlink backend, Docker watcher) hold one veth pair between
//! a named namespace and the microservice of a busybox container. The container is stopped and
//! started BENCH_STARTS times (default 50); for each start the bench takes
//!
//! * the Docker daemon's `start` event time (`docker events`, nanoseconds),
//! * the wall-clock time just before `docker start` was run, and when it returned,
//! * the time the later of the two ends' `applied` state change arrives on NATS,
//!
//! and prints p50/p99 of applied − start event (the target: p99 < 100 ms), of applied −
//! `docker start` invoked, and, as the reference measured in the same run, of the `docker start`
//! command itself.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{client, request, Daemon, Nats};
use futures::StreamExt;

const IMAGE: &str = "nsagent-test-busybox:latest";

fn ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Removes what the bench made, also when it fails.
struct Cleanup {
    container: String,
    netns: String,
    events: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut c) = self.events.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.container])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&v, 0.5), percentile(&v, 0.99));
    println!(
        "{name:<40} p50 {p50:8.2} ms   p99 {p99:8.2} ms   max {:8.2} ms",
        v[v.len() - 1]
    );
    p99
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = ok("id", &["-u"]).trim() == "0";
    assert!(root, "this bench needs root (namespaces, docker)");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/docker-test-env.sh"
    );
    ok(script, &["ensure"]);
    let starts: usize = std::env::var("BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);

    let id = std::process::id();
    // Dropped last: the daemon (dropped first) would re-create the namespace.
    let mut cleanup = Cleanup {
        container: format!("nsagent-bench-{id}"),
        netns: format!("nsbench{id}"),
        events: None,
    };
    let ms = format!("ms-bench-{id}");
    let nats = Nats::start();
    let dir = tempfile::tempdir().expect("tmp");
    let label = format!("bench{id}");
    let daemon = Daemon::start_backend(
        &nats.url(),
        &label,
        &dir.path().join("data"),
        "netlink",
        &["--docker"],
    );
    let c = client(&nats.url()).await;
    common::wait_ready(&c, &label).await;

    let (a, b) = ("bench-ns", "bench-ms");
    put_pair(&c, &label, (a, b), &cleanup.netns, &ms).await;

    let mut states = follow_states(&c, &label).await;

    let (events, start_rx) = follow_start_events(&cleanup.container);
    cleanup.events = Some(events);
    tokio::time::sleep(Duration::from_millis(300)).await;

    create_container(&cleanup.container, &ms);

    let (mut from_event, mut from_cli, mut cli) = (Vec::new(), Vec::new(), Vec::new());
    let mut slow = Vec::new();
    let wanted = [key(a), key(b)];
    for round in 0..=starts {
        let invoked = now_ns();
        let t = Instant::now();
        ok("docker", &["start", &cleanup.container]);
        let cli_ms = t.elapsed().as_secs_f64() * 1e3;
        let event = start_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("start event");
        let applied = until_both(
            &mut states,
            &wanted,
            |s| s == "applied",
            || format!("not applied in round {round}:\n{}", daemon.log_text()),
        )
        .await;
        let done = applied.iter().flatten().max().copied().unwrap_or(0);
        // Round 0 warms up (first start of the container, first namespace).
        if round > 0 {
            let ms_after_event = (done.saturating_sub(event)) as f64 / 1e6;
            if ms_after_event > 100.0 {
                println!("round {round}: {ms_after_event:.1} ms from the start event to applied");
                print_last_errors(&c, &label, &wanted).await;
                slow.push(round);
            }
            from_event.push((done.saturating_sub(event)) as f64 / 1e6);
            from_cli.push((done.saturating_sub(invoked)) as f64 / 1e6);
            cli.push(cli_ms);
        }
        ok("docker", &["stop", "-t", "0", &cleanup.container]);
        until_both(
            &mut states,
            &wanted,
            |s| s != "applied",
            || format!("not pending after stop in round {round}"),
        )
        .await;
    }
    print_report(starts, from_event, from_cli, cli);
    if !slow.is_empty() {
        print_daemon_complaints(&daemon);
    }
    drop(c);
    drop(daemon);
    drop(nats);
}

fn key(name: &str) -> String {
    format!("config/linux/interfaces/v2/interface/{name}")
}

/// Puts the veth pair `a` (in the named namespace `netns`) to `b` (in the microservice `ms`).
async fn put_pair(
    c: &async_nats::Client,
    label: &str,
    (a, b): (&str, &str),
    netns: &str,
    ms: &str,
) {
    let items = serde_json::json!({"txn": [
        {"put": {"key": key(a), "value": {"name": a, "type": "VETH", "enabled": true,
            "host_if_name": "vb0", "ip_addresses": ["10.79.0.1/24"],
            "namespace": {"type": "NSID", "reference": netns}, "veth": {"peer_if_name": b}}}},
        {"put": {"key": key(b), "value": {"name": b, "type": "VETH", "enabled": true,
            "host_if_name": "eth1", "ip_addresses": ["10.79.0.2/24"],
            "namespace": {"type": "MICROSERVICE", "reference": ms}, "veth": {"peer_if_name": a}}}},
    ]});
    let reply = request(
        c,
        &format!("nsagent.{label}.intents"),
        items.to_string().as_bytes(),
        Duration::from_secs(10),
    )
    .await
    .expect("put");
    assert!(reply["seq"].is_u64(), "{reply}");
}

/// State changes of the interfaces: key, state and the time they arrived.
type States = tokio::sync::mpsc::UnboundedReceiver<(String, String, u128)>;

async fn follow_states(c: &async_nats::Client, label: &str) -> States {
    let mut sub = c
        .subscribe(format!("nsagent.{label}.events.interface.>"))
        .await
        .expect("subscribe");
    c.flush().await.expect("flush");
    let (state_tx, states) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let at = now_ns();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&msg.payload) {
                let k = v["key"].as_str().unwrap_or_default().to_string();
                let s = v["state"].as_str().unwrap_or_default().to_string();
                if state_tx.send((k, s, at)).is_err() {
                    return;
                }
            }
        }
    });
    states
}

/// The Docker daemon's start events for `container`, as their times in nanoseconds; the child
/// is `docker events`, to be killed when done.
fn follow_start_events(container: &str) -> (Child, mpsc::Receiver<u128>) {
    let mut events = Command::new("docker")
        .args([
            "events",
            "--filter",
            &format!("container={container}"),
            "--filter",
            "event=start",
            "--format",
            "{{.TimeNano}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker events");
    let out = events.stdout.take().expect("stdout");
    let (start_tx, start_rx) = mpsc::channel::<u128>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(t) = line.trim().parse() {
                if start_tx.send(t).is_err() {
                    return;
                }
            }
        }
    });
    (events, start_rx)
}

/// Waits (10 s at most, then panics with `late`) until the last state change of both `wanted`
/// keys satisfies `done`; returns when each last changed.
async fn until_both(
    states: &mut States,
    wanted: &[String; 2],
    done: impl Fn(&str) -> bool,
    late: impl Fn() -> String,
) -> [Option<u128>; 2] {
    let mut when = [None, None];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while when.iter().any(Option::is_none) {
        let (k, s, at) = tokio::time::timeout_at(deadline, states.recv())
            .await
            .unwrap_or_else(|_| panic!("{}", late()))
            .expect("events");
        if let Some(i) = wanted.iter().position(|w| *w == k) {
            when[i] = done(&s).then_some(at);
        }
    }
    when
}

/// What the daemon says went wrong last with each of `keys`.
async fn print_last_errors(c: &async_nats::Client, label: &str, keys: &[String]) {
    for k in keys {
        let body = serde_json::json!({ "key": k }).to_string();
        if let Ok(e) = request(
            c,
            &format!("nsagent.{label}.explain"),
            body.as_bytes(),
            Duration::from_secs(5),
        )
        .await
        {
            println!("  {k}: last error {}", e["last_error"]);
        }
    }
}

/// A busybox container carrying the microservice label `ms`, without a network of Docker's.
fn create_container(name: &str, ms: &str) {
    ok(
        "docker",
        &[
            "create",
            "--name",
            name,
            "--network",
            "none",
            "-e",
            &format!("MICROSERVICE_LABEL={ms}"),
            IMAGE,
            "sleep",
            "3600",
        ],
    );
}

fn print_report(starts: usize, from_event: Vec<f64>, from_cli: Vec<f64>, cli: Vec<f64>) {
    println!("{starts} container starts, veth pair named namespace <-> microservice:");
    let p99 = report("applied - daemon's start event", from_event);
    report("applied - `docker start` invoked", from_cli);
    let reference = report("`docker start` command (reference)", cli);
    println!(
        "p99 start event -> applied: {p99:.2} ms (target < 100 ms); {:.2}x the p99 of `docker start` itself",
        p99 / reference
    );
}

/// What the daemon said about the slow rounds: failed commands and their retries.
fn print_daemon_complaints(daemon: &Daemon) {
    for line in daemon.log_text().lines() {
        if line.contains("WARN") || line.contains("ERROR") || line.contains("failed") {
            println!("  daemon: {line}");
        }
    }
}
