//! Items whose commands fail for ever: every retry logs its timer and its result, so the log
//! grows for as long as they fail, and sled's memory grows with the log. The test here checks
//! that retention holds the log at a plateau under that load; the soak prints the process's
//! resident memory and what the log holds as it goes. The soak only measures, so it is
//! ignored and run by hand (BENCHMARKS.md, "Memory with items that keep failing"):
//!
//! ```sh
//! NSAGENT_SOAK_ITEMS=20000 NSAGENT_SOAK_SECS=300 NSAGENT_SOAK_RETENTION=default \
//!   cargo test -p nsagent-agentd --release --lib soak -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use nsagent_core::{errno, Backend, BackendError, Command, CoreConfig, Netns, Op, Snapshot};
use nsagent_sim::{SimConfig, SimKernel};

use super::{Driver, DriverConfig, Input, Reply};
use crate::journal::{Journal, JournalConfig, Origin};
use crate::protocol::IntentOp;

/// The sim kernel, answering every command with EBUSY (retriable) and observing normally.
struct AlwaysBusy(SimKernel);

impl Backend for AlwaysBusy {
    fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
        Err(BackendError::from_errno(op, errno::EBUSY, "busy (soak)"))
    }

    fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
        commands.iter().map(|c| self.apply(&c.op)).collect()
    }

    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
        self.0.observe(namespaces)
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process, in KiB.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts a driver on `journal` whose every command fails, with fast retries, and puts
/// `items` dummies.
fn start_failing(journal: Journal, items: u64, snapshot_every: u64, retry_max_ms: u64) -> Driver {
    let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    // Drain what the driver publishes, as the daemon does.
    std::thread::spawn(move || while out_rx.blocking_recv().is_some() {});
    let driver_config = DriverConfig {
        core: CoreConfig {
            retry_base_ms: 1,
            retry_max_ms,
            ..CoreConfig::default()
        },
        snapshot_every,
        ..DriverConfig::default()
    };
    let driver = Driver::start(
        journal,
        driver_config,
        Box::new(|| {
            Ok(Box::new(AlwaysBusy(SimKernel::new(SimConfig::default()))) as Box<dyn Backend>)
        }),
        out,
    )
    .expect("start");
    for chunk in (0..items).collect::<Vec<_>>().chunks(1000) {
        let ops = chunk
            .iter()
            .map(|i| {
                IntentOp::Put(Box::new(
                    nsagent_core::Item::decode_unkeyed(&serde_json::json!({
                        "name": format!("soak{i}"), "type": "DUMMY", "enabled": true,
                        "ip_addresses": ["10.1.2.3/24"]
                    }))
                    .expect("valid"),
                ))
            })
            .collect();
        driver
            .input
            .send(Input::Intent {
                ops,
                origin: Origin::Request,
                reply: Reply::None,
            })
            .expect("send");
    }
    driver
}

/// The most records the log held at once while `total` records were written through it.
fn most_records_held(retention: Option<u64>, total: u64) -> u64 {
    let dir = tempfile::tempdir().expect("tmp");
    let config = JournalConfig {
        retention,
        ..JournalConfig::default()
    };
    let (journal, _) = Journal::open(dir.path(), config).expect("open");
    let reader = journal.clone();
    let driver = start_failing(journal, 50, 200, 2);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut most = 0;
    loop {
        let last = reader.stored_last_seq();
        let held = last + 1 - reader.first_seq().unwrap_or(last + 1);
        most = most.max(held);
        if last >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {last} records in two minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    driver.shutdown().expect("stop");
    most
}

#[test]
fn retention_holds_the_log_at_a_plateau_while_items_keep_failing() {
    // 50 failing items snapshot about every 500 events (a 30 KB state, one event per 64 bytes):
    // the log holds the two newest snapshots' span, the retention before it, and the batch in
    // hand, whatever was written in all.
    let total = 12_000;
    let bounded = most_records_held(Some(300), total);
    assert!(bounded < 4_000, "held {bounded} of {total} records");
    // Without retention every retry stays: the plateau is retention's doing.
    let everything = most_records_held(None, total);
    assert!(everything >= total, "held {everything} of {total} records");
}

#[test]
#[ignore = "a measurement run by hand; see BENCHMARKS.md"]
fn soak_items_that_keep_failing() {
    let items = env("NSAGENT_SOAK_ITEMS", 20_000);
    let secs = env("NSAGENT_SOAK_SECS", 120);
    let retention = match std::env::var("NSAGENT_SOAK_RETENTION").as_deref() {
        Ok("none") => None,
        Ok(n) => n.parse().ok(),
        Err(_) => None,
    };
    let dir = tempfile::tempdir().expect("tmp");
    let config = JournalConfig {
        retention,
        ..JournalConfig::default()
    };
    let (journal, _) = Journal::open(dir.path(), config).expect("open");
    let reader = journal.clone();
    let driver = start_failing(
        journal,
        items,
        DriverConfig::default().snapshot_every,
        env("NSAGENT_SOAK_RETRY_MAX_MS", 2_000),
    );
    let start = Instant::now();
    println!("secs\trss_mib\tlast_seq\tfirst_seq\tdisk_mib\tsnapshots");
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(10));
        println!(
            "{}\t{}\t{}\t{}\t{}\t{:?}",
            start.elapsed().as_secs(),
            rss_kib() / 1024,
            reader.stored_last_seq(),
            reader.first_seq().unwrap_or(0),
            reader.size_on_disk() / (1024 * 1024),
            reader.snapshot_seqs(),
        );
    }
    driver.shutdown().expect("stop");
}
