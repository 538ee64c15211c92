//! The event log: every event the core sees, in the order it saw them, made durable before it
//! saw them.
//!
//! sled and the record codec (`codec.rs`) are used here and nowhere else, so either can be
//! replaced without touching the daemon. Every record has a sequence number; the records of one
//! group commit are stored as one sled entry, keyed by the big-endian sequence number of its
//! first record (so sled's key order is log order, and record N is in the entry with the
//! greatest key not above N). One entry per commit rather than per record because sled's
//! per-insert cost was two thirds of the daemon's time per intent. Each value is a format
//! version byte, a CRC-32 of the payload, and the payload (the list of records). The checksum
//! lets start-up tell a torn or damaged group from a good one, because sled's own checksums
//! only cover its pages, not what a buggy or interrupted writer put in them; the high-water
//! mark (`mark.rs`) lets it tell records sled dropped from records never written, and
//! `open.rs` decides what each finding means.
//!
//! Snapshots of the daemon's state go in the `snapshots` tree, keyed by the sequence number of the
//! last record they include. The two newest are kept, so a damaged newest snapshot falls back to
//! the one before it; retention trims records only below the older of the two.

mod codec;
mod mark;
mod open;
mod summary;

use codec::open_envelope;
pub use codec::{decode_group, decode_snapshot, encode_group, encode_snapshot, FORMAT_VERSION};

use std::ops::RangeInclusive;
use std::path::Path;

use nsagent_core::{Event, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Free space a write must leave on the log's file system: room for sled's own segments and
/// metadata, which it writes whenever it likes.
const MIN_FREE: u64 = 2 * 1024 * 1024;
/// Key of the KV position in the `meta` tree.
const KV_POSITION: &[u8] = b"kv_position";

/// The newest revision of the KV bucket the log has taken in, and which bucket that was (its
/// stream's creation time: a bucket deleted and made again numbers its revisions from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPosition {
    pub bucket_created: String,
    pub revision: u64,
}

/// Snapshots kept, newest first; older ones are deleted when a new one is written.
const SNAPSHOTS_KEPT: usize = 2;

/// Where an event came from, kept for `nsagentctl log` and for auditing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Produced by the daemon itself: command results, timers, resync.
    Agent,
    /// An intent received on the NATS intents subject.
    Request,
    /// A change of the JetStream key-value bucket, at this revision.
    Kv { revision: u64 },
    /// A delete made at the start of a KV watch: the key was last set from the bucket and is no
    /// longer in it (its history, delete marker included, is gone).
    KvResync,
    /// Reported by the Docker watcher (microservices started or stopped, connection state).
    Docker,
    /// Seen in the kernel by the agent's watcher (namespaces gone or back, links changed by
    /// someone else, and what a new look at those namespaces found).
    Kernel,
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The time handed to the core with the event.
    pub at: Timestamp,
    pub origin: Origin,
    pub event: Event,
}

impl Record {
    /// Every record of one batch shares its `at`: the driver reads its clock once per turn.
    pub fn new(at: Timestamp, origin: Origin, event: Event) -> Record {
        Record { at, origin, event }
    }
}

/// Why a stored record or snapshot cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is {0} bytes long, shorter than its header")]
    Truncated(usize),
    #[error("record has format version {0}; this build reads versions 1 to {FORMAT_VERSION}")]
    UnknownVersion(u8),
    #[error("record checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("record payload does not decode: {0}")]
    Decode(String),
}

/// Why the log could not be opened, written or read. Unlike [`RecordError`], which concerns
/// one record, it means the log as a whole cannot be trusted to hold what is written next.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("event log at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("event log I/O: {0}")]
    Io(#[from] sled::Error),
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("batch starts at sequence {batch} but the log continues at {log}")]
    StaleBatch { batch: u64, log: u64 },
    #[error("high-water mark {path}: {source}")]
    Mark {
        path: String,
        source: std::io::Error,
    },
    /// Acknowledged records are damaged or missing. Nothing was changed.
    #[error(
        "event log at {path} is damaged: records {first} to {last} were acknowledged but {reason}; \
         nsagent removed nothing. Start with --repair to keep every readable record and go on \
         (a report is written to the data directory), or restore the directory from a backup"
    )]
    Damaged {
        path: String,
        first: u64,
        last: u64,
        reason: String,
    },
    /// The write was refused before it began: too little space is free.
    #[error(
        "log write failed: no space left on device ({free} bytes free in {path}, {needed} needed)"
    )]
    NoSpace {
        path: String,
        free: u64,
        needed: u64,
    },
    /// sled cannot read its own files at all.
    #[error(
        "event log at {path} cannot be read ({reason}); nsagent removed nothing. Restore the \
         directory from a backup, or move it away to start with an empty log"
    )]
    Unreadable { path: String, reason: String },
    /// A record or snapshot was written by a newer nsagent. Nothing was changed.
    #[error(
        "event log at {path}: {what} at sequence {seq} has format version {version}, newer than \
         this build reads ({FORMAT_VERSION}); run the newer nsagent. Nothing was changed"
    )]
    NewerFormat {
        path: String,
        what: &'static str,
        seq: u64,
        version: u8,
    },
}

/// How the log is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalConfig {
    /// How many records older than the older kept snapshot to keep; `None` keeps every record,
    /// so the whole history stays replayable.
    pub retention: Option<u64>,
    /// Open a damaged log anyway: keep every readable record, remember what is missing, write a
    /// report, and continue the sequence after the highest number ever used.
    pub repair: bool,
}

/// What opening the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The tail that was cut because a record in it could not be read. Only records never
    /// acknowledged are cut: a tail torn by a crash before its flush.
    pub cut: Option<TailCut>,
    /// Snapshots that could not be read and were deleted, with the reason.
    pub bad_snapshots: Vec<(u64, RecordError)>,
    /// What `--repair` did, when the log needed it.
    pub repair: Option<Repair>,
}

/// Damage to acknowledged records that `--repair` let the log open with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Missing ranges (first, last), each with why.
    pub lost: Vec<(u64, u64, String)>,
    /// Where the report was written.
    pub report: std::path::PathBuf,
}

/// A damaged tail removed at start-up: the first bad sequence number, why it is bad, and how
/// many records from it on were removed. Everything before `first_bad` is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailCut {
    pub first_bad: u64,
    pub reason: String,
    pub removed: u64,
}

/// Records waiting to be committed together. Sequence numbers are handed out as records are
/// pushed, so events can carry their own sequence number before they are written. Take one
/// from [`Journal::batch`] and commit it before taking the next: a batch continues the log
/// where it was when the batch was taken, and a stale one is refused.
#[derive(Debug)]
pub struct PendingBatch {
    first: u64,
    records: Vec<Record>,
}

impl PendingBatch {
    /// The sequence number the next pushed record will get.
    pub fn next_seq(&self) -> u64 {
        self.first + self.records.len() as u64
    }

    pub fn push(&mut self, record: Record) -> u64 {
        let seq = self.next_seq();
        self.records.push(record);
        seq
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn into_records(self) -> impl Iterator<Item = (u64, Record)> {
        let first = self.first;
        self.records
            .into_iter()
            .enumerate()
            .map(move |(i, r)| (first + i as u64, r))
    }
}

/// One record as read back: its sequence number and the record or why it cannot be read.
pub type ReadItem = Result<(u64, Result<Record, RecordError>), JournalError>;

/// The append-only event log with its snapshots. One handle writes (the driver's): sequence
/// numbers are handed out by it, so two writers would hand out the same ones. Clones may
/// read (the `log` answers, the snapshot writer) and write snapshots, which do not take
/// sequence numbers.
#[derive(Clone)]
pub struct Journal {
    db: sled::Db,
    events: sled::Tree,
    snapshots: sled::Tree,
    /// Ranges of sequence numbers a repair found missing, by first number: `--repair` keeps
    /// what could be read and remembers what could not, so later opens do not take the hole
    /// for new damage.
    gaps: sled::Tree,
    /// Small facts the driver keeps with the log, made durable by the same flushes.
    meta: sled::Tree,
    mark: std::sync::Arc<std::sync::Mutex<mark::Mark>>,
    /// The data directory, for free-space checks.
    dir: std::path::PathBuf,
    next_seq: u64,
    config: JournalConfig,
}

/// How long opening waits for the directory lock of a log this process just closed.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database in `dir`. sled lets go of the directory's lock only once its I/O
/// threads have dropped their handles, a moment after the last handle of the caller: a log
/// reopened right after it was closed (a restart within the process) waits for that, up to
/// `wait`. Another process holding the log still gets the lock error, after the wait.
fn open_db(dir: &Path, wait: std::time::Duration) -> Result<sled::Db, JournalError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        // sled panics on some damage to its files (a flipped byte in a page header) instead
        // of answering with an error; that is damage to report, not a reason to crash.
        let opened = std::panic::catch_unwind(|| {
            sled::Config::new()
                .path(dir)
                // No background flusher: its thread outlives a dropped handle for a moment and
                // keeps the directory locked; the daemon flushes on its own schedule instead.
                .flush_every_ms(None)
                .open()
        })
        .map_err(|panic| JournalError::Unreadable {
            path: dir.display().to_string(),
            reason: panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "sled gave up reading its files".into()),
        })?;
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => {
                return other.map_err(|source| JournalError::Open {
                    path: dir.display().to_string(),
                    source,
                })
            }
        }
    }
}

impl Journal {
    /// The key of the group that holds `seq` (the greatest key not above it).
    fn group_key_at(&self, seq: u64) -> Result<Option<u64>, JournalError> {
        Ok(self
            .events
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()?
            .map(|(k, _)| seq_of(&k)))
    }

    /// One past the last stored sequence number, from disk.
    fn stored_end(&self) -> Option<u64> {
        let (k, v) = self.events.last().ok().flatten()?;
        let count = decode_group(&v).map_or(1, |r| r.len() as u64);
        Some(seq_of(&k) + count)
    }

    /// Starts a batch that continues the log. Sequence numbers start at 1.
    pub fn batch(&self) -> PendingBatch {
        PendingBatch {
            first: self.next_seq,
            records: Vec::new(),
        }
    }

    /// Writes a batch atomically, as one group; with `durable` it is on disk when this
    /// returns (one flush for the whole batch: group commit).
    pub fn commit(&mut self, batch: &PendingBatch, durable: bool) -> Result<(), JournalError> {
        if batch.first != self.next_seq {
            return Err(JournalError::StaleBatch {
                batch: batch.first,
                log: self.next_seq,
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut groups = Vec::new();
        encode_groups(batch.first, &batch.records, &mut groups)?;
        self.ensure_room(groups.iter().map(|(_, g)| g.len()).sum())?;
        let mut entries = sled::Batch::default();
        for (first, group) in groups {
            entries.insert(&first.to_be_bytes(), group);
        }
        // One sled batch: the groups of a commit are all there or none is.
        self.events.apply_batch(entries)?;
        self.next_seq = batch.next_seq();
        if durable {
            self.flush()?;
        }
        Ok(())
    }

    /// Refuses a write of `len` bytes that would leave less than [`MIN_FREE`] (or four times
    /// the write) free on the log's file system. sled does not survive running out of space:
    /// once a write of its fails, every later one fails too, until it is reopened. Refusing
    /// before sled writes keeps it healthy, so writing works again the moment space returns.
    fn ensure_room(&self, len: usize) -> Result<(), JournalError> {
        let needed = MIN_FREE.max(4 * len as u64);
        let free = nix::sys::statvfs::statvfs(&self.dir)
            .map(|s| s.blocks_available() * s.fragment_size())
            .map_err(|e| JournalError::Mark {
                path: self.dir.display().to_string(),
                source: e.into(),
            })?;
        if free < needed {
            return Err(JournalError::NoSpace {
                path: self.dir.display().to_string(),
                free,
                needed,
            });
        }
        Ok(())
    }

    /// Forces everything written so far to disk, and then raises the high-water mark to it:
    /// from here on, losing any of it is damage that opening the log reports.
    pub fn flush(&self) -> Result<(), JournalError> {
        self.db.flush()?;
        let mut mark = self
            .mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        mark.store(self.next_seq - 1)
            .map_err(|source| JournalError::Mark {
                path: mark.path().display().to_string(),
                source,
            })
    }

    /// The sequence number of the last record written, 0 for an empty log.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The last sequence number stored, read from disk: right for a clone that does not write.
    pub fn stored_last_seq(&self) -> u64 {
        self.stored_end().map_or(0, |e| e - 1)
    }

    /// How far into the KV bucket the log has read, if it ever did.
    pub fn kv_position(&self) -> Result<Option<KvPosition>, JournalError> {
        Ok(self
            .meta
            .get(KV_POSITION)?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Records how far into the KV bucket the log has read; durable with the next flush, so
    /// with the records it covers.
    pub fn set_kv_position(&self, position: &KvPosition) -> Result<(), JournalError> {
        let value =
            serde_json::to_vec(position).map_err(|e| JournalError::Encode(e.to_string()))?;
        self.meta.insert(KV_POSITION, value)?;
        Ok(())
    }

    /// The oldest record still in the log.
    pub fn first_seq(&self) -> Option<u64> {
        self.events.first().ok().flatten().map(|(k, _)| seq_of(&k))
    }

    /// Whether records from `needed` on can be replayed: the log holds `needed` or starts
    /// before it, or what is missing before its start is a hole a repair accepted. Otherwise
    /// (retention trimmed them and no readable snapshot covers them) the first record held.
    pub fn missing_from(&self, needed: u64) -> Result<Option<u64>, JournalError> {
        let Some(first) = self.first_seq() else {
            return Ok(None);
        };
        if first <= needed.max(1) {
            return Ok(None);
        }
        let accepted = self.gaps.get(needed.max(1).to_be_bytes())?;
        Ok((accepted.map(|last| seq_of(&last)) != Some(first - 1)).then_some(first))
    }

    /// Records with sequence numbers in `range`, in order. A group that cannot be read is
    /// reported once, under its first sequence number, rather than ending the iteration.
    pub fn read(&self, range: RangeInclusive<u64>) -> impl Iterator<Item = ReadItem> + '_ {
        let (lo, hi) = (*range.start(), *range.end());
        let start = match self.group_key_at(lo) {
            Ok(k) => k.unwrap_or(lo),
            Err(e) => return Box::new(std::iter::once(Err(e))) as Box<dyn Iterator<Item = _>>,
        };
        Box::new(
            self.events
                .range(start.to_be_bytes()..=hi.to_be_bytes())
                .flat_map(move |item| -> Vec<ReadItem> {
                    match item {
                        Err(e) => vec![Err(e.into())],
                        Ok((k, v)) => {
                            let first = seq_of(&k);
                            match decode_group(&v) {
                                Err(e) => vec![Ok((first, Err(e)))],
                                Ok(records) => records
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, r)| (first + i as u64, r))
                                    .filter(|(seq, _)| (lo..=hi).contains(seq))
                                    .map(|(seq, r)| Ok((seq, Ok(r))))
                                    .collect(),
                            }
                        }
                    }
                }),
        )
    }

    /// Encodes and writes a snapshot in one step, which only tests want: the daemon encodes
    /// on its driver thread and writes on another.
    #[cfg(test)]
    pub(crate) fn write_snapshot<S: Serialize>(
        &mut self,
        seq: u64,
        state: &S,
    ) -> Result<(), JournalError> {
        let encoded = encode_snapshot(state)?;
        self.write_encoded_snapshot(seq, encoded)
    }

    /// Stores a snapshot, encoded by [`encode_snapshot`], of state that includes every record
    /// up to `seq`; drops older snapshots beyond the kept two, and applies retention. Encoding
    /// needs the state as it is at `seq`, so it is separate: writing can happen later, on
    /// another thread.
    pub fn write_encoded_snapshot(
        &self,
        seq: u64,
        encoded: EncodedSnapshot,
    ) -> Result<(), JournalError> {
        self.ensure_room(encoded.len())?;
        self.snapshots.insert(seq.to_be_bytes(), encoded.0)?;
        let keys: Vec<_> = self
            .snapshots
            .iter()
            .keys()
            .rev()
            .collect::<Result<_, _>>()?;
        for old in keys.iter().skip(SNAPSHOTS_KEPT) {
            self.snapshots.remove(old)?;
        }
        if let Some(keep) = self.config.retention {
            let oldest_kept = keys
                .iter()
                .take(SNAPSHOTS_KEPT)
                .map(|k| seq_of(k))
                .min()
                .unwrap_or(0);
            let trim_below = (oldest_kept + 1).saturating_sub(keep);
            // A group goes when every record in it is below the line, that is when the next
            // group starts at or below it.
            let starts: Vec<u64> = self
                .events
                .range(..=trim_below.to_be_bytes())
                .keys()
                .map(|k| k.map(|k| seq_of(&k)))
                .collect::<Result<_, _>>()?;
            let mut batch = sled::Batch::default();
            for pair in starts.windows(2) {
                batch.remove(&pair[0].to_be_bytes());
            }
            self.events.apply_batch(batch)?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// The newest snapshot and the sequence number it covers up to.
    #[cfg(test)]
    fn latest_snapshot<S: DeserializeOwned>(&self) -> Result<Option<(u64, S)>, JournalError> {
        self.snapshot_at_or_before(u64::MAX)
    }

    /// The newest readable snapshot covering no record after `max_seq`.
    pub fn snapshot_at_or_before<S: DeserializeOwned>(
        &self,
        max_seq: u64,
    ) -> Result<Option<(u64, S)>, JournalError> {
        for item in self.snapshots.range(..=max_seq.to_be_bytes()).rev() {
            let (key, value) = item?;
            match decode_snapshot(&value) {
                Ok(state) => return Ok(Some((seq_of(&key), state))),
                Err(e) => {
                    tracing::warn!(seq = seq_of(&key), error = %e, "skipping unreadable snapshot")
                }
            }
        }
        Ok(None)
    }

    /// The bytes sled's files take on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Sequence numbers of the stored snapshots, oldest first (for `nsagentctl log verify`).
    pub fn snapshot_seqs(&self) -> Vec<u64> {
        self.snapshots
            .iter()
            .keys()
            .filter_map(Result::ok)
            .map(|k| seq_of(&k))
            .collect()
    }

    #[cfg(test)]
    fn put_raw(&self, seq: u64, value: &[u8]) {
        self.events
            .insert(seq.to_be_bytes(), value)
            .expect("raw insert");
    }

    #[cfg(test)]
    pub(crate) fn put_raw_snapshot(&self, seq: u64, value: &[u8]) {
        self.snapshots
            .insert(seq.to_be_bytes(), value)
            .expect("raw insert");
    }
}

/// A snapshot in its stored form: encoded where the state is, written wherever suits.
pub struct EncodedSnapshot(Vec<u8>);

impl EncodedSnapshot {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Largest group worth splitting further. sled stores a value over about a quarter of its
/// segment (128 KiB by default) as a file of its own ("blob"), and its cache counts such a value
/// by the size of its pointer, so it never evicts it: every large group stayed in memory for as
/// long as it stayed in the log, which is how a daemon retrying 20k failing items grew by the
/// size of its log. Groups this small are stored inline and counted at their size.
const GROUP_BYTES: usize = 32 * 1024;

/// Encodes `records`, the first numbered `first`, as groups of at most [`GROUP_BYTES`] (a
/// single record larger than that is a group of its own), appending (first seq, group) pairs.
fn encode_groups(
    first: u64,
    records: &[Record],
    out: &mut Vec<(u64, Vec<u8>)>,
) -> Result<(), JournalError> {
    let group = encode_group(records)?;
    if group.len() <= GROUP_BYTES || records.len() == 1 {
        out.push((first, group));
        return Ok(());
    }
    let half = records.len() / 2;
    encode_groups(first, &records[..half], out)?;
    encode_groups(first + half as u64, &records[half..], out)
}

fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[key.len() - n..]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsagent_core::{Item, ItemKey, Netns};

    #[test]
    fn a_log_held_open_elsewhere_is_a_clear_error_after_the_wait() {
        let dir = tempfile::tempdir().expect("tmp");
        let held = open_db(dir.path(), std::time::Duration::ZERO).expect("first open");
        let err = open_db(dir.path(), std::time::Duration::from_millis(50))
            .expect_err("the lock is held");
        assert!(err.to_string().contains("could not acquire lock"), "{err}");
        drop(held);
        // Released once its holder is gone, however long sled's threads take to let go.
        open_db(dir.path(), LOCK_WAIT).expect("reopened after the holder closed");
    }

    fn put(seq: u64, name: &str) -> Event {
        let item = Item::decode_unkeyed(&serde_json::json!({
            "name": name, "type": "DUMMY", "mtu": 1400, "phys_address": "02:00:00:00:00:01",
            "ip_addresses": ["10.1.2.3/24", "fd00::1/64"], "namespace": {"type": "NSID", "reference": "blue"}
        })).expect("valid item");
        Event::Put { seq, item }
    }

    fn rec(at: u64, event: Event) -> Record {
        Record::new(Timestamp(at), Origin::Request, event)
    }

    fn append(j: &mut Journal, n: usize) -> Vec<u64> {
        let mut b = j.batch();
        let mut seqs = vec![];
        for i in 0..n {
            let seq = b.next_seq();
            seqs.push(b.push(rec(seq, put(seq, &format!("d{i}")))));
        }
        j.commit(&b, true).expect("commit");
        seqs
    }

    /// One commit per record, so every record is a group of its own.
    fn append_each(j: &mut Journal, n: usize) {
        for _ in 0..n {
            append(j, 1);
        }
    }

    fn all(j: &Journal) -> Vec<(u64, Record)> {
        j.read(0..=u64::MAX)
            .map(|r| r.expect("io"))
            .map(|(s, r)| (s, r.expect("decodes")))
            .collect()
    }

    #[test]
    fn records_round_trip_in_order_with_keys_in_big_endian() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        assert_eq!(report, OpenReport::default());
        assert_eq!(j.last_seq(), 0);
        let seqs = append(&mut j, 300);
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
        let mut b = j.batch();
        b.push(rec(
            5,
            Event::Delete {
                seq: 301,
                key: ItemKey::Interface("d0".into()),
            },
        ));
        b.push(rec(6, Event::NamespaceVanished { ns: Netns::Pid(7) }));
        j.commit(&b, false).expect("commit");
        let got = all(&j);
        assert_eq!(got.len(), 302);
        // 256 sorts after 255 only with big-endian keys.
        assert!(got.windows(2).all(|w| w[0].0 + 1 == w[1].0));
        assert_eq!(
            got[300].1.event,
            Event::Delete {
                seq: 301,
                key: ItemKey::Interface("d0".into())
            }
        );
        drop(j);
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert!(report.cut.is_none());
        assert_eq!(j.last_seq(), 302);
        assert_eq!(j.batch().next_seq(), 303);
    }

    #[test]
    fn a_large_commit_is_stored_as_groups_small_enough_to_stay_inline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let seqs = append(&mut j, 2_000);
        assert_eq!(seqs, (1..=2_000).collect::<Vec<_>>());
        let entries: Vec<(u64, usize)> = j
            .events
            .iter()
            .map(|e| e.expect("io"))
            .map(|(k, v)| (seq_of(&k), v.len()))
            .collect();
        assert!(entries.len() > 1, "one group of {} bytes", entries[0].1);
        assert!(
            entries.iter().all(|(_, len)| *len <= GROUP_BYTES),
            "{entries:?}"
        );
        drop(j);
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert_eq!(report, OpenReport::default());
        let got = all(&j);
        assert_eq!(got.len(), 2_000);
        assert!(got
            .iter()
            .zip(1..)
            .all(|((s, r), n)| *s == n && r.at == Timestamp(n)));
        // A record larger than a group is a group of its own.
        let mut groups = vec![];
        let big = Event::MicroserviceStopped {
            label: "x".repeat(GROUP_BYTES),
            container_id: "c".into(),
        };
        let records = vec![rec(1, put(1, "a")), rec(2, big), rec(3, put(3, "c"))];
        encode_groups(1, &records, &mut groups).expect("encode");
        let firsts: Vec<u64> = groups.iter().map(|(f, _)| *f).collect();
        assert_eq!(firsts, vec![1, 2, 3]);
    }

    #[test]
    fn a_stale_batch_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let mut stale = j.batch();
        stale.push(rec(1, put(1, "a")));
        append(&mut j, 1);
        let err = j.commit(&stale, true).expect_err("stale");
        assert!(
            matches!(err, JournalError::StaleBatch { batch: 1, log: 2 }),
            "{err}"
        );
    }

    #[test]
    fn a_checksum_mismatch_in_the_tail_is_cut_and_everything_before_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append(&mut j, 10);
            let good = encode_group(&[rec(11, put(11, "x"))]).expect("encode");
            let mut bad = good.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0xff;
            j.put_raw(11, &bad);
            j.put_raw(12, &good);
            j.flush().expect("flush");
        }
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        let cut = report.cut.expect("cut reported");
        assert_eq!(cut.first_bad, 11);
        assert_eq!(cut.removed, 2);
        assert!(cut.reason.contains("checksum"), "{}", cut.reason);
        assert_eq!(all(&j).len(), 10);
        assert_eq!(j.last_seq(), 10);
    }

    #[test]
    fn a_truncated_record_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append(&mut j, 3);
            let good = encode_group(&[rec(4, put(4, "x"))]).expect("encode");
            j.put_raw(4, &good[..good.len() / 2]);
            j.put_raw(5, &good[..3]);
            j.flush().expect("flush");
        }
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        let cut = report.cut.expect("cut reported");
        assert_eq!((cut.first_bad, cut.removed), (4, 2));
        assert_eq!(j.last_seq(), 3);
    }

    #[test]
    fn a_header_only_fragment_and_an_unknown_version_are_reported() {
        assert_eq!(decode_group(&[1, 2]), Err(RecordError::Truncated(2)));
        let mut v = encode_group(&[rec(1, put(1, "a"))]).expect("encode");
        v[0] = 9;
        assert_eq!(decode_group(&v), Err(RecordError::UnknownVersion(9)));
        // A payload with a matching checksum that is not a record.
        let junk = codec::envelope_of(FORMAT_VERSION, vec![0xff; 3]);
        assert!(matches!(decode_group(&junk), Err(RecordError::Decode(_))));
    }

    #[test]
    fn a_record_or_snapshot_of_a_newer_format_is_refused_and_nothing_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut newer = encode_group(&[rec(4, put(4, "x"))]).expect("encode");
        newer[0] = FORMAT_VERSION + 1;
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append(&mut j, 3);
            j.put_raw(4, &newer);
            j.flush().expect("flush");
        }
        for _ in 0..2 {
            let err = Journal::open(dir.path(), JournalConfig::default())
                .err()
                .expect("refused");
            assert!(
                matches!(err, JournalError::NewerFormat { seq: 4, .. }),
                "{err}"
            );
        }
        // Not even a repair takes it for damage.
        let repair = JournalConfig {
            repair: true,
            ..JournalConfig::default()
        };
        assert!(Journal::open(dir.path(), repair.clone()).is_err());
        let db = open_db(dir.path(), LOCK_WAIT).expect("raw");
        let kept = db
            .open_tree("events")
            .expect("tree")
            .get(4u64.to_be_bytes());
        assert_eq!(kept.expect("get").as_deref(), Some(&newer[..]));
        drop(db);

        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append(&mut j, 3);
            j.put_raw_snapshot(3, &[FORMAT_VERSION + 1, 0, 0, 0, 0]);
            j.flush().expect("flush");
        }
        let err = Journal::open(dir.path(), repair).err().expect("refused");
        assert!(
            matches!(
                err,
                JournalError::NewerFormat {
                    what: "a snapshot",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_log_written_in_version_1_opens_whole_and_goes_on_in_the_current_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old: Vec<Record> = (1..=3).map(|s| rec(s, put(s, "old"))).collect();
        {
            let (j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            let v1 = codec::envelope_of(1, bincode::serialize(&old).expect("bincode"));
            j.put_raw(1, &v1);
            j.flush().expect("flush");
        }
        let (mut j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert_eq!(report, OpenReport::default());
        assert_eq!(j.last_seq(), 3);
        append(&mut j, 2);
        drop(j);
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert_eq!(report, OpenReport::default());
        let got = all(&j);
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[..3].iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            old
        );
    }

    #[test]
    fn a_sequence_gap_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append(&mut j, 3);
            j.put_raw(7, &encode_group(&[rec(7, put(7, "x"))]).expect("encode"));
            j.flush().expect("flush");
        }
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        let cut = report.cut.expect("cut");
        assert_eq!(cut.first_bad, 4);
        assert!(cut.reason.contains("gap"), "{}", cut.reason);
        assert_eq!(j.last_seq(), 3);
    }

    #[test]
    fn snapshots_keep_the_two_newest_and_retention_trims_below_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(
            dir.path(),
            JournalConfig {
                retention: Some(2),
                ..JournalConfig::default()
            },
        )
        .expect("open");
        append_each(&mut j, 10);
        j.write_snapshot(5, &"five".to_string()).expect("snap");
        j.write_snapshot(8, &"eight".to_string()).expect("snap");
        append_each(&mut j, 5);
        j.write_snapshot(12, &"twelve".to_string()).expect("snap");
        assert_eq!(j.snapshot_seqs(), vec![8, 12]);
        let latest: Option<(u64, String)> = j.latest_snapshot().expect("read");
        assert_eq!(latest, Some((12, "twelve".to_string())));
        // Older kept snapshot is at 8: records 1..=6 go, 7 and 8 are the two retained.
        assert_eq!(j.first_seq(), Some(7));
        assert_eq!(all(&j).len(), 9);
    }

    #[test]
    fn retention_keeps_a_group_that_straddles_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(
            dir.path(),
            JournalConfig {
                retention: Some(0),
                ..JournalConfig::default()
            },
        )
        .expect("open");
        append(&mut j, 3);
        append(&mut j, 4);
        j.write_snapshot(5, &1u8).expect("snap");
        // Group 4..=7 holds records after the snapshot: it stays, group 1..=3 goes.
        assert_eq!(j.first_seq(), Some(4));
        let seqs: Vec<u64> = all(&j).into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, vec![4, 5, 6, 7]);
        let part: Vec<u64> = j.read(5..=6).map(|r| r.expect("io").0).collect();
        assert_eq!(part, vec![5, 6]);
    }

    #[test]
    fn without_retention_every_record_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        append(&mut j, 10);
        j.write_snapshot(4, &1u32).expect("snap");
        j.write_snapshot(9, &2u32).expect("snap");
        j.write_snapshot(10, &3u32).expect("snap");
        assert_eq!(j.first_seq(), Some(1));
    }

    #[test]
    fn a_damaged_newest_snapshot_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append(&mut j, 6);
            j.write_snapshot(3, &"three".to_string()).expect("snap");
            j.put_raw_snapshot(6, &[FORMAT_VERSION, 0, 0, 0, 0, 1, 2, 3]);
            j.flush().expect("flush");
        }
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert_eq!(report.bad_snapshots.len(), 1);
        assert_eq!(report.bad_snapshots[0].0, 6);
        let latest: Option<(u64, String)> = j.latest_snapshot().expect("read");
        assert_eq!(latest, Some((3, "three".to_string())));
        assert_eq!(j.last_seq(), 6);
    }

    #[test]
    fn damage_before_the_newest_snapshot_is_not_cut() {
        // Records covered by a snapshot are not needed to restore, so damage there must not
        // destroy the newer records after it.
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
            append_each(&mut j, 6);
            j.write_snapshot(4, &0u8).expect("snap");
            j.put_raw(2, b"garbage");
            j.flush().expect("flush");
        }
        let (j, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
        assert!(report.cut.is_none());
        assert_eq!(j.last_seq(), 6);
        let bad: Vec<_> = j
            .read(1..=6)
            .map(|r| r.expect("io"))
            .filter(|(_, r)| r.is_err())
            .collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2);
    }
}
