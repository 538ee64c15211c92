//! The high-water mark: the highest sequence number the log has ever made durable, kept in a
//! small file beside sled's own.
//!
//! sled recovers from damage to its files by dropping what it cannot read, silently: a flipped
//! byte, a zeroed block or a truncated file opens as a shorter, valid-looking log. Only a
//! witness outside sled can tell that records are missing, so every durable commit also raises
//! this mark before it is acknowledged, and opening the log compares what sled still holds with
//! it. The mark also keeps a sequence number from being handed out twice after such a loss.
//!
//! The file holds two slots in separate 512-byte sectors, written in turn, each with a magic,
//! the sequence number and a CRC-32: a write torn by a crash damages at most the slot being
//! written, and the other one still holds the previous mark.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// File name inside the data directory.
pub(crate) const FILE: &str = "nsagent.mark";
const MAGIC: &[u8; 8] = b"NSAMARK1";
const SLOT_LEN: usize = 20;
const SLOT_OFFSETS: [u64; 2] = [0, 512];

/// What the mark file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// No file: a data directory from before marks were kept, or a new one.
    Absent,
    /// The highest sequence number made durable.
    At(u64),
    /// The file is there but neither slot reads: the mark itself is damaged.
    Unreadable,
}

/// The open mark file.
#[derive(Debug)]
pub(crate) struct Mark {
    file: File,
    path: PathBuf,
    /// The slot the next store writes.
    next_slot: usize,
    /// The value stored last, so an unchanged mark costs no write; `None` until a file with no
    /// readable slot (a new one) has had its first store.
    stored: Option<u64>,
}

impl Mark {
    /// Reads the mark in `dir` without creating or changing anything.
    pub(crate) fn read(dir: &Path) -> io::Result<Reading> {
        match File::open(dir.join(FILE)) {
            Ok(file) => Ok(match best_slot(&file)? {
                Some((_, seq)) => Reading::At(seq),
                None => Reading::Unreadable,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Reading::Absent),
            Err(e) => Err(e),
        }
    }

    /// Opens (or creates) the mark file in `dir`; the next store goes to the older slot.
    pub(crate) fn open(dir: &Path) -> io::Result<Mark> {
        let path = dir.join(FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let (next_slot, stored) = match best_slot(&file)? {
            Some((slot, seq)) => (1 - slot, Some(seq)),
            None => (0, None),
        };
        Ok(Mark {
            file,
            path,
            next_slot,
            stored,
        })
    }

    /// Makes `seq` the durable mark (written and synced when it returns). Lower values than
    /// the stored one are ignored: the mark never goes back.
    pub(crate) fn store(&mut self, seq: u64) -> io::Result<()> {
        if self.stored.is_some_and(|s| seq <= s) {
            return Ok(());
        }
        self.file
            .write_all_at(&encode(seq), SLOT_OFFSETS[self.next_slot])?;
        self.file.sync_data()?;
        self.next_slot = 1 - self.next_slot;
        self.stored = Some(seq);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn stored(&self) -> Option<u64> {
        self.stored
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn encode(seq: u64) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    slot[..8].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&slot[..16]);
    slot[16..].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn decode(slot: &[u8]) -> Option<u64> {
    let crc = u32::from_le_bytes(slot.get(16..20)?.try_into().ok()?);
    (slot.get(..8)? == MAGIC && crc32fast::hash(&slot[..16]) == crc)
        .then(|| u64::from_le_bytes(slot[8..16].try_into().unwrap_or_default()))
}

/// The slot holding the higher valid mark, and that mark.
fn best_slot(file: &File) -> io::Result<Option<(usize, u64)>> {
    let mut best = None;
    for (slot, offset) in SLOT_OFFSETS.iter().enumerate() {
        let mut buf = [0u8; SLOT_LEN];
        let read = match file.read_exact_at(&mut buf, *offset) {
            Ok(()) => decode(&buf),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
            Err(e) => return Err(e),
        };
        if let Some(seq) = read {
            if best.is_none_or(|(_, s)| seq > s) {
                best = Some((slot, seq));
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_mark_reads_back_and_never_goes_down() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::Absent);
        let mut m = Mark::open(dir.path()).expect("open");
        m.store(5).expect("store");
        m.store(9).expect("store");
        m.store(7).expect("lower is ignored");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::At(9));
        drop(m);
        let mut m = Mark::open(dir.path()).expect("reopen");
        assert_eq!(m.stored(), Some(9));
        m.store(10).expect("store");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::At(10));
    }

    #[test]
    fn a_torn_slot_leaves_the_previous_mark() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut m = Mark::open(dir.path()).expect("open");
        m.store(3).expect("store"); // slot 0
        m.store(4).expect("store"); // slot 1
        drop(m);
        // A crash tore the write of slot 1.
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join(FILE))
            .expect("open");
        f.write_all_at(&[0xff; 6], SLOT_OFFSETS[1] + 10)
            .expect("tear");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::At(3));
        // The next store overwrites the torn slot, not the good one.
        let mut m = Mark::open(dir.path()).expect("reopen");
        m.store(5).expect("store");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::At(5));
    }

    #[test]
    fn a_new_file_holds_a_mark_after_its_first_store_even_of_zero() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut m = Mark::open(dir.path()).expect("open");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::Unreadable);
        m.store(0).expect("store");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::At(0));
    }

    #[test]
    fn a_file_with_no_good_slot_is_unreadable_not_absent() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(FILE), vec![0u8; 1024]).expect("write");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::Unreadable);
        std::fs::write(dir.path().join(FILE), b"").expect("truncate");
        assert_eq!(Mark::read(dir.path()).expect("read"), Reading::Unreadable);
    }
}
