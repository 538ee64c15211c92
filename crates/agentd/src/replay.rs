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
        Some((seq, mut core)) => {
            // A snapshot does not store whose the links are: that is the agent's to say.
            core.set_identity(config.identity.clone(), config.adopt_legacy);
            (core, Some(seq))
        }
        None => (Core::new(config), None),
    };
    // Without a snapshot that reaches the log's start, a core fed what is left would believe
    // a history with its beginning torn off.
    if let Some(first) = journal.missing_from(snapshot_seq.map_or(1, |s| s + 1))? {
        return Err(ReplayError::Incomplete { first });
    }
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
    if journal.missing_from(1)?.is_none() {
        return feed(journal, Core::new(config), None, until, visit);
    }
    replay(journal, config, until, visit)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{JournalConfig, Origin};
    use nsagent_core::Event;

    fn append(journal: &mut Journal, n: u64) {
        let mut b = journal.batch();
        for _ in 0..n {
            b.push(Record {
                at: Timestamp(1),
                origin: Origin::Agent,
                event: Event::TimerFired,
            });
        }
        journal.commit(&b, true).expect("commit");
    }

    #[test]
    fn restoring_from_a_trimmed_log_without_a_readable_snapshot_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = JournalConfig {
            retention: Some(0),
            ..JournalConfig::default()
        };
        let (mut j, _) = Journal::open(dir.path(), config).expect("open");
        for _ in 0..3 {
            append(&mut j, 10);
            let seq = j.last_seq();
            j.write_snapshot(seq, &Core::new(CoreConfig::default()))
                .expect("snapshot");
        }
        assert!(j.first_seq() > Some(1), "retention trimmed nothing");
        assert!(restore(&j, CoreConfig::default()).is_ok());
        // Both kept snapshots become unreadable: what is left of the log is not a history.
        for seq in j.snapshot_seqs() {
            j.put_raw_snapshot(seq, &[1, 0, 0, 0, 0, 9]);
        }
        let err = restore(&j, CoreConfig::default()).err().expect("refused");
        assert!(matches!(err, ReplayError::Incomplete { .. }), "{err}");
    }
}
