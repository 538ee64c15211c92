//! Time from the Docker daemon's `start` event to the watcher's `MicroserviceStarted`, over 50
//! container starts, next to a reference measured in the same run: the time the same event
//! takes to reach a bare bollard subscriber. The difference is what the watcher adds (the
//! inspect round trip and the map); the rest is the daemon's event delivery.
//!
//! Run as root: `cargo bench -p nsagent-docker-watch --bench start_latency`
//! (it runs scripts/docker-test-env.sh to start dockerd and build the test image).

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use nsagent_core::Event;
use nsagent_docker_watch::{connect, watch, WatchConfig};
use tokio::sync::mpsc;

const STARTS: usize = 50;
const IMAGE: &str = "nsagent-test-busybox:latest";

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Containers of this run, removed at the end even if the bench panics.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let p50 = percentile(&ms, 50.0);
    println!(
        "{name:<40} n={:<3} p50={p50:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        ms.len(),
        percentile(&ms, 99.0),
        ms[ms.len() - 1]
    );
    p50
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/docker-test-env.sh"
    );
    let status = Command::new("bash")
        .args([script, "ensure"])
        .status()
        .expect("run the test-env script");
    assert!(status.success(), "{script} failed: need root and dockerd");

    // Reference subscriber: records when each start event reaches a bare client.
    let docker = connect(&WatchConfig::default()).await.expect("connect");
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("event".to_string(), vec!["start".to_string()]),
    ]);
    let mut raw = docker.events(Some(EventsOptions {
        filters: Some(filters),
        ..Default::default()
    }));
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<(String, i128, i128)>();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = raw.next().await {
            let received = now_nanos();
            if let (Some(id), Some(at)) = (msg.actor.and_then(|a| a.id), msg.time_nano) {
                let _ = raw_tx.send((id, i128::from(at), received));
            }
        }
    });

    let (tx, mut rx) = mpsc::channel(256);
    tokio::spawn(watch(WatchConfig::default(), tx));
    loop {
        if let Some(Event::MicroserviceWatch { connected: true }) = rx.recv().await {
            break;
        }
    }

    let mut cleanup = Cleanup(Vec::new());
    let mut watcher_ms = Vec::new();
    let mut raw_ms = Vec::new();
    for i in 0..STARTS {
        let name = format!("nsagent-dw-bench-{}-{i}", std::process::id());
        let label = format!("ms-bench-{}-{i}", std::process::id());
        cleanup.0.push(name.clone());
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "-e",
                &format!("MICROSERVICE_LABEL={label}"),
                IMAGE,
                "sleep",
                "600",
            ])
            .output()
            .expect("docker run");
        assert!(
            out.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();

        let received = loop {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some(Event::MicroserviceStarted { label: l, .. })) if l == label => {
                    break now_nanos()
                }
                Ok(Some(_)) => continue,
                other => panic!("no MicroserviceStarted for {label}: {other:?}"),
            }
        };
        let (event_at, raw_received) = loop {
            match tokio::time::timeout(Duration::from_secs(30), raw_rx.recv()).await {
                Ok(Some((raw_id, at, got))) if raw_id == id => break (at, got),
                Ok(Some(_)) => continue,
                other => panic!("no raw start event for {id}: {other:?}"),
            }
        };
        watcher_ms.push((received - event_at) as f64 / 1e6);
        raw_ms.push((raw_received - event_at) as f64 / 1e6);
    }

    println!("start event -> delivery, {STARTS} container starts:");
    let reference = summary("bare bollard subscriber (reference)", raw_ms);
    let watched = summary("watcher MicroserviceStarted", watcher_ms);
    println!(
        "watcher / reference p50 ratio: {:.2}",
        watched / reference.max(1e-6)
    );
}
