//! The agent's instance id (`nsagent_core::InstanceId`), the part of its identity nobody picks
//! by accident: made at random at the first start on a data dir, kept in it, read at every
//! later start. It must survive as long as the links it marks do, so it is written atomically
//! and synced; a file that does not read is an error, never a reason to make a new identity
//! (which would leave every link of the old one to no one).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nsagent_core::InstanceId;

/// The file in the data dir: the id's 16 hex digits and a newline.
pub const INSTANCE_FILE: &str = "instance-id";

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: {reason}. It holds this agent's identity, which marks every link it owns: restore \
         it from a backup; delete it only to make this agent a new one that owns none of the \
         links the old one made",
        path.display()
    )]
    Damaged { path: PathBuf, reason: String },
}

/// Reads the instance id of `data_dir`, `None` if it has none (yet).
pub fn load(data_dir: &Path) -> Result<Option<InstanceId>, InstanceError> {
    let path = data_dir.join(INSTANCE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => parse(&path, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(InstanceError::Io { path, source }),
    }
}

/// Reads the instance id of `data_dir`, making and storing one if it has none yet.
pub fn load_or_create(data_dir: &Path) -> Result<InstanceId, InstanceError> {
    let path = data_dir.join(INSTANCE_FILE);
    let io = |source| InstanceError::Io {
        path: path.clone(),
        source,
    };
    match load(data_dir)? {
        Some(id) => Ok(id),
        None => {
            let id = random().map_err(|source| InstanceError::Io {
                path: "/dev/urandom".into(),
                source,
            })?;
            store(data_dir, &path, id).map_err(io)?;
            tracing::info!(instance = %id, path = %path.display(), "made this agent's instance id");
            Ok(id)
        }
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<InstanceId, InstanceError> {
    let damaged = |reason: String| InstanceError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| damaged(format!("not text: {e}")))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    InstanceId::parse("instance id", text).map_err(|e| damaged(e.reason))
}

fn random() -> std::io::Result<InstanceId> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(InstanceId(u64::from_le_bytes(bytes)))
}

/// Writes the id beside its final name, syncs it, renames it into place and syncs the
/// directory, so that a crash leaves either no file or a whole one.
fn store(data_dir: &Path, path: &Path, id: InstanceId) -> std::io::Result<()> {
    let tmp = data_dir.join(format!("{INSTANCE_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(format!("{id}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_makes_an_id_and_later_starts_read_it_back() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(load(dir.path()).expect("none yet"), None);
        let first = load_or_create(dir.path()).expect("made");
        assert_eq!(load(dir.path()).expect("read"), Some(first));
        assert_eq!(load_or_create(dir.path()).expect("read"), first);
        let text = std::fs::read_to_string(dir.path().join(INSTANCE_FILE)).expect("file");
        assert_eq!(text, format!("{first}\n"));
        assert!(!dir.path().join("instance-id.tmp").exists());
        let other = tempfile::tempdir().expect("tmp");
        assert_ne!(load_or_create(other.path()).expect("made"), first);
    }

    #[test]
    fn a_damaged_id_file_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().expect("tmp");
        for bad in [&b""[..], b"12345\n", b"00ABCDEF01234567\n", b"\xff\xfe"] {
            std::fs::write(dir.path().join(INSTANCE_FILE), bad).expect("write");
            let e = load_or_create(dir.path()).expect_err("damaged");
            assert!(
                matches!(e, InstanceError::Damaged { .. }) && e.to_string().contains("instance-id"),
                "{e}"
            );
            assert_eq!(
                std::fs::read(dir.path().join(INSTANCE_FILE)).expect("kept"),
                bad,
                "the damaged file is left as it is"
            );
        }
    }

    #[test]
    fn an_unreadable_data_dir_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        // A directory where the file should be cannot be read as one.
        std::fs::create_dir(dir.path().join(INSTANCE_FILE)).expect("dir");
        let e = load_or_create(dir.path()).expect_err("not a file");
        assert!(matches!(e, InstanceError::Io { .. }), "{e}");
        assert!(e.to_string().contains("instance-id"), "{e}");
    }
}
