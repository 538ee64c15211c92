//! Opening the log: nothing it holds is believed before it is checked against the high-water
//! mark (see `mark.rs`).
//!
//! Three outcomes. A tail that was never acknowledged and does not read (a crash before its
//! flush) is cut and reported. Anything missing or unreadable at or below the mark is damage to
//! acknowledged records: the open fails naming the range and removes nothing, unless the
//! caller asked for a repair, which keeps every readable record, remembers the holes and writes
//! a report. A record or snapshot of a newer format is never taken for damage: the open fails
//! and removes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use super::mark::{Mark, Reading};
use super::{
    decode_group, open_db, open_envelope, seq_of, Journal, JournalConfig, JournalError, OpenReport,
    RecordError, Repair, TailCut, LOCK_WAIT,
};

/// One stored group, as the scan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    Group { first: u64, count: u64 },
    Unreadable { key: u64, error: RecordError },
}

/// A range of sequence numbers the log should hold and does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hole {
    pub first: u64,
    pub last: u64,
    pub reason: String,
}

/// What the groups found say, judged against the mark.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Judgement {
    /// Holes, in order.
    pub holes: Vec<Hole>,
    /// One past the last readable record.
    pub end: Option<u64>,
}

/// Judges the groups found from `from` on (the record after the newest snapshot, or `None`
/// when there is none and the log may start anywhere), with `acked` the mark and `gaps` the
/// holes an earlier repair accepted (first -> last).
pub(crate) fn judge(
    found: &[Found],
    from: Option<u64>,
    acked: u64,
    gaps: &BTreeMap<u64, u64>,
) -> Judgement {
    let mut j = Judgement::default();
    let mut expected = from;
    let known = |first: u64, last: u64| gaps.get(&first) == Some(&last);
    for (i, f) in found.iter().enumerate() {
        match f {
            Found::Group { first, count } => {
                if let Some(e) = expected.filter(|e| first > e) {
                    if !known(e, first - 1) {
                        j.holes.push(Hole {
                            first: e,
                            last: first - 1,
                            reason: format!(
                                "missing (a sequence gap: the log jumps from {} to {first})",
                                e - 1
                            ),
                        });
                    }
                }
                expected = Some(first + count);
                j.end = expected;
            }
            Found::Unreadable { key, error } => {
                // Its extent is unknown: up to the next group, or to the mark at the end.
                let first = expected.map_or(*key, |e| e.min(*key));
                let last = match found.get(i + 1) {
                    Some(Found::Group { first, .. }) => first.saturating_sub(1),
                    Some(Found::Unreadable { key, .. }) => key.saturating_sub(1),
                    None => acked.max(*key),
                };
                j.holes.push(Hole {
                    first,
                    last: last.max(first),
                    reason: format!("unreadable ({error})"),
                });
                expected = Some(last.max(first) + 1);
            }
        }
    }
    let end = expected.or(from).unwrap_or(1);
    if end <= acked && !known(end, acked) {
        j.holes.push(Hole {
            first: end,
            last: acked,
            reason: "missing from the log's end".into(),
        });
    }
    j
}

impl Journal {
    /// Opens (or creates) the log in `dir` and checks it; see the module doc for what it does
    /// with what it finds.
    pub fn open(dir: &Path, config: JournalConfig) -> Result<(Journal, OpenReport), JournalError> {
        let path = dir.display().to_string();
        let acked = acknowledged(dir, &config)?;
        let mut journal = Journal::attach(dir, config)?;
        let mut report = OpenReport::default();
        let from = journal.check_snapshots(&path, &mut report)?;
        let found = journal.scan(from.unwrap_or(0))?;
        if let Some((key, version)) = found.iter().find_map(|f| match f {
            Found::Unreadable {
                key,
                error: RecordError::UnknownVersion(v),
            } => Some((*key, *v)),
            _ => None,
        }) {
            return Err(JournalError::NewerFormat {
                path,
                what: "a record",
                seq: key,
                version,
            });
        }
        let judgement = judge(&found, from, acked, &journal.known_gaps()?);
        let (damage, torn): (Vec<Hole>, Vec<Hole>) =
            judgement.holes.into_iter().partition(|h| h.first <= acked);
        if !damage.is_empty() {
            if !journal.config.repair {
                let first = &damage[0];
                return Err(JournalError::Damaged {
                    path,
                    first: first.first,
                    last: damage.last().map_or(first.last, |h| h.last).min(acked),
                    reason: first.reason.clone(),
                });
            }
            let (rebuilt, repair) = journal.rebuild(dir, &damage)?;
            journal = rebuilt;
            report.repair = Some(repair);
        }
        if let Some(hole) = torn.first() {
            report.cut = Some(journal.cut_from(hole)?);
        }
        let last_snapshot = journal.snapshots.last()?.map(|(k, _)| seq_of(&k));
        journal.next_seq = [
            Some(1),
            journal.stored_end(),
            last_snapshot.map(|s| s + 1),
            Some(acked + 1),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(1);
        journal.flush()?;
        Ok((journal, report))
    }

    /// The sled database in `dir` and the mark beside it, unchecked.
    fn attach(dir: &Path, config: JournalConfig) -> Result<Journal, JournalError> {
        let db = open_db(dir, LOCK_WAIT)?;
        let mark = Mark::open(dir).map_err(|source| mark_error(dir, source))?;
        Ok(Journal {
            events: db.open_tree("events")?,
            snapshots: db.open_tree("snapshots")?,
            gaps: db.open_tree("gaps")?,
            meta: db.open_tree("meta")?,
            db,
            mark: std::sync::Arc::new(std::sync::Mutex::new(mark)),
            dir: dir.to_path_buf(),
            next_seq: 0,
            config,
        })
    }

    /// Drops unreadable snapshots (reporting them) and returns the record after the newest
    /// readable one. A snapshot of a newer format stops the open instead.
    fn check_snapshots(
        &self,
        path: &str,
        report: &mut OpenReport,
    ) -> Result<Option<u64>, JournalError> {
        for item in self.snapshots.iter().rev() {
            let (key, value) = item?;
            let seq = seq_of(&key);
            match open_envelope(&value) {
                Ok(_) => return Ok(Some(seq + 1)),
                Err(RecordError::UnknownVersion(version)) => {
                    return Err(JournalError::NewerFormat {
                        path: path.to_string(),
                        what: "a snapshot",
                        seq,
                        version,
                    })
                }
                Err(e) => {
                    report.bad_snapshots.push((seq, e));
                    self.snapshots.remove(key)?;
                }
            }
        }
        Ok(None)
    }

    /// Every group from the one holding `from` on, read and classified.
    fn scan(&self, from: u64) -> Result<Vec<Found>, JournalError> {
        let start = self.group_key_at(from)?.unwrap_or(from);
        let mut found = Vec::new();
        for item in self.events.range(start.to_be_bytes()..) {
            let (key, value) = item?;
            let seq = seq_of(&key);
            found.push(match decode_group(&value) {
                Err(error) => Found::Unreadable { key: seq, error },
                Ok(records) if key.len() != 8 || records.is_empty() => Found::Unreadable {
                    key: seq,
                    error: RecordError::Decode(format!(
                        "a group of {} records under a key of {} bytes",
                        records.len(),
                        key.len()
                    )),
                },
                Ok(records) => Found::Group {
                    first: seq,
                    count: records.len() as u64,
                },
            });
        }
        Ok(found)
    }

    fn known_gaps(&self) -> Result<BTreeMap<u64, u64>, JournalError> {
        self.gaps
            .iter()
            .map(|item| {
                let (k, v) = item?;
                Ok((seq_of(&k), seq_of(&v)))
            })
            .collect()
    }

    /// Removes every group from the one that holds `hole.first` on: a tail never acknowledged.
    fn cut_from(&self, hole: &Hole) -> Result<TailCut, JournalError> {
        let from = self.group_key_at(hole.first)?.unwrap_or(hole.first);
        let mut removed = 0;
        let mut batch = sled::Batch::default();
        for item in self.events.range(from.to_be_bytes()..) {
            let (k, v) = item?;
            if seq_of(&k) + decode_group(&v).map_or(1, |r| r.len() as u64) <= hole.first {
                continue; // a good group ending before the hole
            }
            removed += decode_group(&v).map_or(1, |r| r.len() as u64);
            batch.remove(k);
        }
        self.events.apply_batch(batch)?;
        self.db.flush()?;
        Ok(TailCut {
            first_bad: hole.first,
            reason: hole.reason.clone(),
            removed,
        })
    }

    /// Copies everything that reads (every group that decodes, the snapshots, what the driver
    /// keeps) into a fresh sled database, with the holes remembered so later opens accept
    /// them, and moves the damaged files aside into `damaged-<time>/`. A repair inside the
    /// damaged files would not last: sled recovers up to the damage again at the next open,
    /// and drops whatever was written after it.
    fn rebuild(self, dir: &Path, damage: &[Hole]) -> Result<(Journal, Repair), JournalError> {
        let readable = |tree: &sled::Tree, keep: &dyn Fn(&[u8]) -> bool| {
            tree.iter()
                .filter_map(Result::ok)
                .filter(|(_, v)| keep(v))
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        };
        let events = readable(&self.events, &|v| decode_group(v).is_ok());
        let snapshots = readable(&self.snapshots, &|v| open_envelope(v).is_ok());
        let meta = readable(&self.meta, &|_| true);
        let mut gaps = readable(&self.gaps, &|_| true);
        gaps.extend(damage.iter().map(|h| {
            (
                h.first.to_be_bytes().to_vec(),
                h.last.to_be_bytes().to_vec(),
            )
        }));
        let config = self.config.clone();
        drop(self);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = move_aside(dir, &format!("damaged-{stamp}"))
            .map_err(|source| mark_error(dir, source))?;
        let journal = Journal::attach(dir, config)?;
        for (tree, entries) in [
            (&journal.events, events),
            (&journal.snapshots, snapshots),
            (&journal.meta, meta),
            (&journal.gaps, gaps),
        ] {
            let mut batch = sled::Batch::default();
            for (k, v) in entries {
                batch.insert(k, v);
            }
            tree.apply_batch(batch)?;
        }
        journal.db.flush()?;
        let lost: Vec<(u64, u64, String)> = damage
            .iter()
            .map(|h| (h.first, h.last, h.reason.clone()))
            .collect();
        let report = write_report(dir, stamp, &aside, &lost)?;
        Ok((journal, Repair { lost, report }))
    }
}

/// How far the log has acknowledged, by its mark; a mark that does not read is damage unless
/// the caller repairs.
fn acknowledged(dir: &Path, config: &JournalConfig) -> Result<u64, JournalError> {
    match Mark::read(dir).map_err(|source| mark_error(dir, source))? {
        Reading::At(seq) => Ok(seq),
        Reading::Absent => Ok(0),
        Reading::Unreadable if config.repair => Ok(0),
        Reading::Unreadable => Err(JournalError::Damaged {
            path: dir.display().to_string(),
            first: 1,
            last: u64::MAX,
            reason: "the high-water mark that says how far is unreadable".into(),
        }),
    }
}

fn mark_error(dir: &Path, source: std::io::Error) -> JournalError {
    JournalError::Mark {
        path: dir.join(super::mark::FILE).display().to_string(),
        source,
    }
}

/// Moves sled's files in `dir` into the new subdirectory `name`, leaving the mark, reports and
/// earlier damaged copies where they are.
fn move_aside(dir: &Path, name: &str) -> std::io::Result<std::path::PathBuf> {
    let aside = dir.join(name);
    std::fs::create_dir(&aside)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let ours = file == super::mark::FILE
            || file.starts_with("repair-")
            || file.starts_with("damaged-");
        if !ours {
            std::fs::rename(entry.path(), aside.join(entry.file_name()))?;
        }
    }
    Ok(aside)
}

fn write_report(
    dir: &Path,
    stamp: u64,
    aside: &Path,
    lost: &[(u64, u64, String)],
) -> Result<std::path::PathBuf, JournalError> {
    let report = dir.join(format!("repair-{stamp}.txt"));
    let mut text = format!(
        "nsagent repaired the event log in {} at unix time {stamp}.\n\
         These acknowledged records were missing or unreadable and are gone:\n",
        dir.display()
    );
    for (first, last, reason) in lost {
        text.push_str(&format!("  {first}..={last}: {reason}\n"));
    }
    text.push_str(&format!(
        "Every other record was copied into a fresh database; the damaged files are in {}.\n\
         New records continue after the highest number ever used.\n",
        aside.display()
    ));
    std::fs::write(&report, text).map_err(|source| JournalError::Mark {
        path: report.display().to_string(),
        source,
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(first: u64, count: u64) -> Found {
        Found::Group { first, count }
    }

    fn bad(key: u64) -> Found {
        Found::Unreadable {
            key,
            error: RecordError::Truncated(1),
        }
    }

    fn holes(j: &Judgement) -> Vec<(u64, u64)> {
        j.holes.iter().map(|h| (h.first, h.last)).collect()
    }

    #[test]
    fn an_intact_log_up_to_the_mark_has_no_holes() {
        let j = judge(&[g(1, 5), g(6, 5)], None, 10, &BTreeMap::new());
        assert_eq!(holes(&j), []);
        assert_eq!(j.end, Some(11));
    }

    #[test]
    fn records_below_the_mark_that_are_gone_are_a_hole() {
        let j = judge(&[g(1, 5)], None, 10, &BTreeMap::new());
        assert_eq!(holes(&j), [(6, 10)]);
        // Nothing at all, with a mark: everything is missing.
        assert_eq!(holes(&judge(&[], None, 10, &BTreeMap::new())), [(1, 10)]);
        // After a snapshot at 7, the log must go on from 8.
        assert_eq!(holes(&judge(&[], Some(8), 10, &BTreeMap::new())), [(8, 10)]);
    }

    #[test]
    fn a_gap_and_an_unreadable_group_are_holes_with_their_extent() {
        let j = judge(
            &[g(1, 2), g(5, 1), bad(6), g(9, 2)],
            None,
            10,
            &BTreeMap::new(),
        );
        assert_eq!(holes(&j), [(3, 4), (6, 8)]);
        // An unreadable last group reaches to the mark.
        assert_eq!(
            holes(&judge(&[g(1, 2), bad(3)], None, 10, &BTreeMap::new())),
            [(3, 10)]
        );
    }

    #[test]
    fn a_hole_an_earlier_repair_accepted_is_no_hole() {
        let gaps = BTreeMap::from([(3, 4), (11, 12)]);
        assert_eq!(holes(&judge(&[g(1, 2), g(5, 6)], None, 12, &gaps)), []);
    }

    #[test]
    fn beyond_the_mark_a_hole_is_a_torn_tail_not_damage() {
        let j = judge(&[g(1, 10), bad(11), g(12, 1)], None, 10, &BTreeMap::new());
        assert_eq!(holes(&j), [(11, 11)]);
        assert!(j.holes.iter().all(|h| h.first > 10));
    }
}
