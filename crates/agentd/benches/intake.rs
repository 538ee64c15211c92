//! Intake benchmark (run with `cargo bench -p nsagent-agentd --bench intake`): a real nats-server
//! and the real nsagentd with the simulated kernel and the sled log on disk.
//!
//! 1. Throughput: intents acknowledged per second, with many requests in flight (the daemon
//!    group-commits whatever has queued up), once with one put per request and once with
//!    transactions of 100 puts.
//! 2. Latency: puts published at a steady 1,000/s; for each, the time from publishing to the
//!    `applied` state change arriving on the events subject; p50 and p99.
//!
//! Sizes can be changed with BENCH_INTENTS (default 200000) and BENCH_SECONDS (default 10).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Publishes `bodies` keeping `window` requests in flight; returns acknowledged intents/s.
async fn throughput(
    c: &async_nats::Client,
    label: &str,
    bodies: Vec<Vec<u8>>,
    ops_per_body: usize,
    window: usize,
) -> f64 {
    let inbox = format!("_INBOX.bench.{label}");
    let mut replies = c.subscribe(format!("{inbox}.>")).await.expect("sub");
    c.flush().await.expect("flush");
    let subject = format!("nsagent.{label}.intents");
    let total = bodies.len();
    let start = Instant::now();
    let (mut sent, mut acked) = (0usize, 0usize);
    let mut bodies = bodies.into_iter();
    while acked < total {
        while sent < total && sent - acked < window {
            let body = bodies.next().expect("body");
            c.publish_with_reply(subject.clone(), format!("{inbox}.{sent}"), body.into())
                .await
                .expect("publish");
            sent += 1;
        }
        let msg = tokio::time::timeout(Duration::from_secs(30), replies.next())
            .await
            .expect("reply in time")
            .expect("stream");
        let v: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
        assert!(v["seq"].is_u64(), "{v}");
        acked += 1;
    }
    (total * ops_per_body) as f64 / start.elapsed().as_secs_f64()
}

async fn latency(
    c: &async_nats::Client,
    label: &str,
    rate: u64,
    seconds: u64,
) -> (Duration, Duration, Duration, usize) {
    let mut events = c
        .subscribe(format!("nsagent.{label}.events.interface.applied"))
        .await
        .expect("sub");
    let inbox = format!("_INBOX.lat.{label}");
    let mut acks = c.subscribe(format!("{inbox}.>")).await.expect("sub");
    c.flush().await.expect("flush");
    let collector = tokio::spawn(async move {
        let mut applied = HashMap::new();
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(3), events.next()).await
        {
            let v: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
            applied
                .entry(v["key"].as_str().unwrap_or_default().to_string())
                .or_insert_with(Instant::now);
        }
        applied
    });
    let drain = tokio::spawn(async move {
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(3), acks.next()).await {}
    });
    let subject = format!("nsagent.{label}.intents");
    let mut published = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..rate * seconds {
        tick.tick().await;
        let name = format!("l{i}");
        published.insert(dummy(&name).0, Instant::now());
        c.publish_with_reply(
            subject.clone(),
            format!("{inbox}.{i}"),
            put_body(&name).into(),
        )
        .await
        .expect("publish");
    }
    c.flush().await.expect("flush");
    let applied = collector.await.expect("collector");
    drain.await.expect("drain");
    let mut lat: Vec<Duration> = published
        .iter()
        .filter_map(|(k, t)| applied.get(k).map(|a| a.saturating_duration_since(*t)))
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (pct(0.50), pct(0.99), *lat.last().expect("some"), lat.len())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("intake: run with cargo bench");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let nats = Nats::start();
        let data = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
        let n = env_or("BENCH_INTENTS", 200_000) as usize;
        let seconds = env_or("BENCH_SECONDS", 10);

        let label = unique_label("thr");
        let _d = Daemon::start(&nats.url(), &label, &data.path().join("thr"), &[]);
        let c = client(&nats.url()).await;
        wait_ready(&c, &label).await;
        let bodies: Vec<Vec<u8>> = (0..n).map(|i| put_body(&format!("t{i}"))).collect();
        let single = throughput(&c, &label, bodies, 1, 4096).await;
        println!("acked intents/s, one put per request, 4096 in flight: {single:.0}  ({n} intents)");

        let label = unique_label("txn");
        let _d2 = Daemon::start(&nats.url(), &label, &data.path().join("txn"), &[]);
        wait_ready(&c, &label).await;
        let bodies: Vec<Vec<u8>> = (0..n / 100)
            .map(|b| {
                let ops: Vec<serde_json::Value> = (0..100)
                    .map(|j| {
                        let (key, value) = dummy(&format!("x{}", b * 100 + j));
                        serde_json::json!({"put": {"key": key, "value": value}})
                    })
                    .collect();
                serde_json::json!({ "txn": ops }).to_string().into_bytes()
            })
            .collect();
        let txn = throughput(&c, &label, bodies, 100, 64).await;
        println!("acked intents/s, transactions of 100 puts, 64 in flight: {txn:.0}  ({} intents)", n / 100 * 100);

        let label = unique_label("lat");
        let _d3 = Daemon::start(&nats.url(), &label, &data.path().join("lat"), &[]);
        wait_ready(&c, &label).await;
        let (p50, p99, max, count) = latency(&c, &label, 1000, seconds).await;
        println!(
            "publish-to-applied at 1000 intents/s for {seconds}s ({count} applied): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    });
}
