//! Rebuilding the core from the log: at start-up (newest snapshot, then the records after it)
//! and offline for `nsagentctl replay` (from the start, or the newest snapshot before where the
//! log begins). The core is deterministic, so feeding it the logged events in order reproduces
//! the commands it issued, byte for byte.

use nsagent_core::{Command, Core, CoreConfig, Timestamp};

use crate::journal::{Journal, JournalError, Record, RecordError};

/// Why the log cannot rebuild the core: replaying past an unreadable record, or from a start
/// the log no longer has, would give a core that never existed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("record {seq} cannot be read: {error}")]
    Record { seq: u64, error: RecordError },
    #[error("the log starts at record {first} and no snapshot covers the records before it")]
    Incomplete { first: u64 },
}

/// A core rebuilt from the log.
pub struct Restored {
    pub core: Core,
    /// The snapshot it started from, if any.
    pub snapshot_seq: Option<u64>,
    /// How many records were fed to it after the snapshot.
    pub replayed: u64,
    /// The last record's time, so the clock never goes back.
    pub last_at: Timestamp,
}

/// Restores the newest state: newest snapshot plus every record after it.
pub fn restore(journal: &Journal, config: CoreConfig) -> Result<Restored, ReplayError> {
    replay(journal, config, u64::MAX, |_, _, _| {})
}

/// Replays records up to and including `until` from the newest snapshot at or before it,
/// calling `visit` with each record and the commands the core issued in response.
pub fn replay(
    journal: &Journal,
    config: CoreConfig,
    until: u64,
    visit: impl FnMut(u64, &Record, &[Command]),
) -> Result<Restored, ReplayError> {
    let snapshot: Option<(u64, Core)> = journal.snapshot_at_or_before(until)?;
    let (core, snapshot_seq) = match snapshot {
        Some((seq, core)) => (core, Some(seq)),
        None => (Core::new(config), None),
    };
    feed(journal, core, snapshot_seq, until, visit)
}

/// Replays the whole history from the first record when the log still has it, so every
/// command can be shown; falls back to the newest snapshot before the log's start otherwise.
pub fn replay_from_start(
    journal: &Journal,
    config: CoreConfig,
    until: u64,
    visit: impl FnMut(u64, &Record, &[Command]),
) -> Result<Restored, ReplayError> {
    match journal.first_seq() {
        None | Some(1) => feed(journal, Core::new(config), None, until, visit),
        Some(first) => {
            let snapshot: Option<(u64, Core)> = journal.snapshot_at_or_before(until)?;
            match snapshot {
                Some((seq, core)) if seq + 1 >= first => {
                    feed(journal, core, Some(seq), until, visit)
                }
                _ => Err(ReplayError::Incomplete { first }),
            }
        }
    }
}

fn feed(
    journal: &Journal,
    mut core: Core,
    snapshot_seq: Option<u64>,
    until: u64,
    mut visit: impl FnMut(u64, &Record, &[Command]),
) -> Result<Restored, ReplayError> {
    let start = snapshot_seq.map_or(0, |s| s + 1);
    let mut replayed = 0;
    let mut last_at = Timestamp(0);
    let mut commands = Vec::new();
    if start <= until {
        for item in journal.read(start..=until) {
            let (seq, record) = item?;
            let record = record.map_err(|error| ReplayError::Record { seq, error })?;
            core.handle(record.at, record.event.clone());
            commands.clear();
            while let Some(c) = core.poll_command() {
                commands.push(c);
            }
            visit(seq, &record, &commands);
            last_at = record.at;
            replayed += 1;
        }
    }
    // State changes seen during replay were published in the run that logged them.
    core.take_state_changes();
    Ok(Restored {
        core,
        snapshot_seq,
        replayed,
        last_at,
    })
}
