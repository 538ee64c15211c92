//! Event log append throughput (run with `cargo bench -p nsagent-agentd --bench journal`):
//! records per second committed in batches of BATCH (default 1,000) with one flush per batch, on disk.

use std::time::Instant;

use nsagent_agentd::{Journal, JournalConfig, Origin, Record};
use nsagent_core::{Event, Item, Timestamp};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("journal: run with cargo bench");
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let (mut journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
    let per_batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let items: Vec<Item> = (0..per_batch)
        .map(|i| {
            Item::decode_unkeyed(
                &serde_json::json!({"name": format!("d{i}"), "type": "DUMMY",
                "enabled": true, "ip_addresses": ["10.20.0.1/24"]}),
            )
            .expect("item")
        })
        .collect();
    let batches = 200_000 / per_batch as u64;
    let start = Instant::now();
    for b in 0..batches {
        let mut batch = journal.batch();
        for item in &items {
            let seq = batch.next_seq();
            let event = Event::Put {
                seq,
                item: item.clone(),
            };
            batch.push(Record::new(Timestamp(b), Origin::Request, event));
        }
        journal.commit(&batch, true).expect("commit");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "journal: {:.0} records/s ({batches} batches of {per_batch}, one flush each)",
        (batches * per_batch as u64) as f64 / secs
    );
}
