//! When to snapshot the core, and the thread that writes the snapshots.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use nsagent_core::Core;

use super::{spawn, DriverError};
use crate::journal::{encode_snapshot, EncodedSnapshot, Journal};

/// Snapshots are encoded on the driver thread, where the core is, and written by a thread of
/// their own so that intake does not wait for the disk. The interval grows with the size of the
/// state (at least one event per 64 bytes of snapshot), which keeps the cost of snapshots per
/// event bounded however large the configuration gets. A snapshot due while the previous one is
/// still being written waits for the next batch.
///
/// Tell it after every batch fed to the core ([`Snapshots::after`]), and [`Snapshots::finish`]
/// before the log is flushed for the last time, so the snapshot in flight is not lost.
pub(super) struct Snapshots {
    every: u64,
    /// Events fed to the core since the last snapshot.
    since: u64,
    last_len: u64,
    writer: Option<Writer>,
}

/// The snapshot thread's handle; `busy` is set while it writes, so that snapshots never queue.
struct Writer {
    tx: mpsc::Sender<(u64, EncodedSnapshot)>,
    busy: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl Snapshots {
    /// `since` counts the events already fed to the core since the newest snapshot (those
    /// replayed at start-up).
    pub(super) fn start(
        journal: Journal,
        every: u64,
        since: u64,
    ) -> Result<Snapshots, DriverError> {
        let (tx, rx) = mpsc::channel::<(u64, EncodedSnapshot)>();
        let busy = Arc::new(AtomicBool::new(false));
        let flag = busy.clone();
        let thread = spawn("snapshot", move || {
            for (seq, encoded) in rx {
                let len = encoded.len();
                match journal.write_encoded_snapshot(seq, encoded) {
                    Ok(()) => tracing::debug!(seq, bytes = len, "snapshot written"),
                    // A lost snapshot costs only start-up time: the log still has everything.
                    Err(e) => tracing::warn!(seq, error = %e, "snapshot not written"),
                }
                flag.store(false, Ordering::Release);
            }
        })?;
        Ok(Snapshots {
            every,
            since,
            last_len: 0,
            writer: Some(Writer { tx, busy, thread }),
        })
    }

    /// Counts `events` just fed to `core`, whose state now includes every record up to
    /// `last_seq`, and hands a snapshot to the writer if one is due.
    pub(super) fn after(
        &mut self,
        events: u64,
        core: &Core,
        last_seq: u64,
    ) -> Result<(), DriverError> {
        self.since += events;
        let due = self.every.max(self.last_len / 64);
        if self.since < due {
            return Ok(());
        }
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        if writer.busy.load(Ordering::Acquire) {
            return Ok(());
        }
        let encoded = encode_snapshot(core)?;
        self.last_len = encoded.len() as u64;
        writer.busy.store(true, Ordering::Release);
        if writer.tx.send((last_seq, encoded)).is_err() {
            return Err(DriverError::exited("snapshot"));
        }
        self.since = 0;
        Ok(())
    }

    /// Waits for the snapshot being written, if any; no snapshot is taken after this.
    pub(super) fn finish(&mut self) {
        if let Some(writer) = self.writer.take() {
            drop(writer.tx);
            let _ = writer.thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use nsagent_core::CoreConfig;

    use super::*;
    use crate::journal::JournalConfig;

    #[test]
    fn a_snapshot_is_written_once_enough_events_were_fed_and_the_interval_grows_with_its_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let core = Core::new(CoreConfig::default());
        let mut snapshots = Snapshots::start(journal.clone(), 3, 1).expect("start");
        snapshots.after(1, &core, 2).expect("not due");
        assert!(snapshots.last_len == 0, "two events are fewer than three");
        snapshots.after(1, &core, 3).expect("due");
        assert!(snapshots.last_len > 0);
        assert_eq!(snapshots.since, 0);
        // A state of 64 KiB asks for a thousand events between snapshots.
        snapshots.last_len = 64 * 1000;
        snapshots.since = 999;
        snapshots.after(0, &core, 4).expect("not due");
        assert_eq!(snapshots.since, 999);
        snapshots.finish();
        assert_eq!(journal.snapshot_seqs(), vec![3]);
        snapshots
            .after(5000, &core, 9)
            .expect("finished: nothing more is written");
        assert_eq!(journal.snapshot_seqs(), vec![3]);
    }
}
