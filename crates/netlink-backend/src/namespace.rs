//! Network namespace files: opening them, telling whether two opens name the same namespace,
//! creating named ones, and opening sockets inside them.
//!
//! Entering a namespace changes only the calling thread, and a thread pool would hand that
//! thread to unrelated work; so every `setns`/`unshare` here happens on a short-lived thread of
//! its own, which exits instead of switching back. What it made (a socket, a bind mount) keeps
//! the namespace it was made in.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{fstatfs, NSFS_MAGIC};
use nsagent_core::Netns;

use crate::socket::NetlinkSocket;

pub(crate) const NETNS_RUN_DIR: &str = "/var/run/netns";

/// Which namespace a file names: the nsfs inode, stable for the namespace's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NsId {
    dev: u64,
    ino: u64,
}

impl From<NsId> for nsagent_core::NamespaceIdentity {
    fn from(id: NsId) -> Self {
        nsagent_core::NamespaceIdentity {
            dev: id.dev,
            ino: id.ino,
        }
    }
}

/// The identity of the namespace `ns` names now, or `None` when it names none; for tests
/// and for the agent's own namespace, which no watcher reports.
pub fn identity_of(ns: &Netns) -> Option<nsagent_core::NamespaceIdentity> {
    identify(ns).map(Into::into)
}

/// An open namespace file: holding it keeps the namespace alive.
pub(crate) struct NsFile {
    pub fd: OwnedFd,
    pub id: NsId,
}

/// Opens the file naming `ns`, refusing files that are not namespaces (a leftover file in
/// /var/run/netns whose mount is gone).
pub(crate) fn open(ns: &Netns) -> io::Result<NsFile> {
    let file = open_path(ns)?;
    let fs = fstatfs(&file)?;
    if fs.filesystem_type() != NSFS_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a namespace file", ns.path()),
        ));
    }
    let meta = file.metadata()?;
    Ok(NsFile {
        fd: OwnedFd::from(file),
        id: NsId {
            dev: meta.dev(),
            ino: meta.ino(),
        },
    })
}

/// Opens the path of `ns`. A named namespace's file is opened without following a symbolic
/// link (ELOOP), in a run directory that must itself be a directory (ENOTDIR): whoever can
/// write there must not be able to point the agent at another namespace, or make it mount a
/// new one over some other file. Pid and fd references are kernel links by nature
/// (`/proc/<pid>/ns/net`) and are followed.
fn open_path(ns: &Netns) -> io::Result<File> {
    if let Netns::Named(_) = ns {
        check_run_dir()?;
        return OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(ns.path());
    }
    File::open(ns.path())
}

/// Refuses a run directory that is not a directory (a symbolic link to one included).
fn check_run_dir() -> io::Result<()> {
    match fs::symlink_metadata(NETNS_RUN_DIR) {
        Ok(meta) if !meta.file_type().is_dir() => Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
        _ => Ok(()),
    }
}

/// The identity of the namespace `ns` names now, or `None` when it names none.
pub(crate) fn identify(ns: &Netns) -> Option<NsId> {
    open(ns).ok().map(|f| f.id)
}

/// Runs `f` on a new thread that has entered the namespace of `fd`; the thread then exits.
pub(crate) fn run_in<T, F>(fd: &OwnedFd, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let fd = fd.try_clone()?;
    std::thread::Builder::new()
        .name("nsagent-setns".into())
        .spawn(move || {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// Opens a NETLINK_ROUTE socket inside the namespace of `file`.
pub(crate) fn socket_in(ns: &Netns, file: &NsFile) -> io::Result<NetlinkSocket> {
    if *ns == Netns::Default {
        // Threads of this process never leave its namespace, so this one is in it already.
        return NetlinkSocket::open();
    }
    run_in(&file.fd, NetlinkSocket::open)
}

/// Opens a NETLINK_GENERIC socket inside namespace `ns`: ethtool finds links by name or index
/// in the namespace of the socket.
pub(crate) fn generic_socket_in(ns: &Netns) -> io::Result<NetlinkSocket> {
    if *ns == Netns::Default {
        return NetlinkSocket::open_generic();
    }
    let file = open(ns)?;
    run_in(&file.fd, NetlinkSocket::open_generic)
}

/// Whether this process has made the run directory a shared mount point already. Preparing it
/// twice at once is how stacked mounts happen: every caller that finds it not yet a mount point
/// binds it onto itself, and each bind lands on top of the last one.
static RUN_DIR_READY: Mutex<bool> = Mutex::new(false);

/// Makes the directory of named namespaces a shared mount point, as `ip netns add` does, so
/// that a namespace mounted there shows in every mount namespace that can see it.
///
/// Once per process, under a lock; a directory that is a mount point already (by this process,
/// `ip netns` or another agent) is only made shared, never mounted again. Other processes are
/// kept out of the same window by an advisory lock on the directory itself.
fn prepare_run_dir() -> io::Result<()> {
    let mut ready = RUN_DIR_READY.lock().unwrap_or_else(PoisonError::into_inner);
    if *ready {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_RUN_DIR)?;
    check_run_dir()?;
    let dir = Flock::lock(File::open(NETNS_RUN_DIR)?, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::from(errno))?;
    let point = fs::canonicalize(NETNS_RUN_DIR)?;
    if !is_mount_point(&dir, &point)? {
        mount(
            Some(&point),
            &point,
            Some("none"),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )?;
    }
    mount(
        None::<&str>,
        &point,
        Some("none"),
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )?;
    *ready = true;
    Ok(())
}

/// Whether the directory `dir` (open, at `point`) is the root of the mount it is on, as this
/// process sees it. Asking for the mount that holds the open directory (its `mnt_id`) rather
/// than searching mountinfo for the path matters: a mount at the same path hidden under a later
/// mount of a parent (a fresh `/run`) is listed there too, but is not what the path shows.
fn is_mount_point(dir: &File, point: &Path) -> io::Result<bool> {
    let fdinfo = fs::read_to_string(format!("/proc/self/fdinfo/{}", dir.as_raw_fd()))?;
    let mnt_id = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .map(str::trim)
        .ok_or_else(|| io::Error::other("no mnt_id in fdinfo"))?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mount_point_of(&mountinfo, mnt_id).is_some_and(|p| Path::new(&p) == point))
}

/// Where mount `mnt_id` is mounted, from a `/proc/<pid>/mountinfo` text (its first field is
/// the mount id, its fifth the mount point, escaped).
fn mount_point_of(mountinfo: &str, mnt_id: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let mut fields = line.split(' ');
        (fields.next() == Some(mnt_id))
            .then(|| fields.nth(3).map(unescape_mount_path))
            .flatten()
    })
}

/// Undoes the kernel's octal escapes in mountinfo paths (`\040` for a space, and so on).
fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates `/var/run/netns/<name>` holding a new namespace; an existing one is left as it is.
/// Returns the identity of the namespace the name holds afterwards.
pub(crate) fn create_named(name: &str) -> io::Result<NsId> {
    let ns = Netns::Named(name.to_string());
    if let Some(id) = identify(&ns) {
        return Ok(id);
    }
    prepare_run_dir()?;
    let path = ns.path();
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let created = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&path)
    {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if let Some(id) = identify(&ns) {
                return Ok(id); // someone else made it meanwhile
            }
            false // a leftover plain file: mount over it
        }
        Err(e) => return Err(e),
    };
    let target = path.clone();
    let result = std::thread::Builder::new()
        .name("nsagent-unshare".into())
        .spawn(move || -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            mount(
                Some("/proc/thread-self/ns/net"),
                Path::new(&target),
                Some("none"),
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        })?
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?;
    if result.is_err() && created {
        let _ = fs::remove_file(&path);
    }
    result?;
    // Someone may delete it at once; that is reported as gone, not mistaken for success.
    identify(&ns).ok_or_else(|| io::Error::from(nix::errno::Errno::ENOENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_point_is_the_fifth_field_of_its_mount_unescaped() {
        let info = "22 1 0:21 / /run rw,nosuid shared:5 - tmpfs tmpfs rw\n\
                    40 22 0:21 /netns /run/netns rw shared:6 - tmpfs tmpfs rw\n\
                    41 22 0:30 / /run/a\\040b rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_point_of(info, "40").as_deref(), Some("/run/netns"));
        assert_eq!(mount_point_of(info, "41").as_deref(), Some("/run/a b"));
        assert_eq!(mount_point_of(info, "4"), None);
    }

    #[test]
    fn the_run_dir_of_this_process_is_judged_by_the_mount_it_is_on() {
        let root = File::open("/").unwrap();
        assert!(is_mount_point(&root, Path::new("/")).unwrap());
        let dir = tempfile_dir();
        let f = File::open(&dir).unwrap();
        assert!(
            !is_mount_point(&f, &dir).unwrap(),
            "a plain directory is no mount point"
        );
        fs::remove_dir(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nsagent-mnt-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn a_backslash_without_three_octal_digits_is_kept() {
        assert_eq!(unescape_mount_path("/a\\9b\\"), "/a\\9b\\");
    }
}
