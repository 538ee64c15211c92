//! Network namespace files: opening them, telling whether two opens name the same namespace,
//! creating named ones, and opening sockets inside them.
//!
//! Entering a namespace changes only the calling thread, and a thread pool would hand that
//! thread to unrelated work; so every `setns`/`unshare` here happens on a short-lived thread of
//! its own, which exits instead of switching back. What it made (a socket, a bind mount) keeps
//! the namespace it was made in.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{fstatfs, statfs, NSFS_MAGIC};
use nsagent_core::Netns;

use crate::socket::RouteSocket;

pub(crate) const NETNS_RUN_DIR: &str = "/var/run/netns";

/// Which namespace a file names: the nsfs inode, stable for the namespace's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NsId {
    dev: u64,
    ino: u64,
}

/// An open namespace file: holding it keeps the namespace alive.
pub(crate) struct NsFile {
    pub fd: OwnedFd,
    pub id: NsId,
}

/// Opens the file naming `ns`, refusing files that are not namespaces (a leftover file in
/// /var/run/netns whose mount is gone).
pub(crate) fn open(ns: &Netns) -> io::Result<NsFile> {
    let file = File::open(ns.path())?;
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

/// The identity of the namespace `ns` names now, or `None` when it names none.
pub(crate) fn identify(ns: &Netns) -> Option<NsId> {
    let path = ns.path();
    let fs = statfs(path.as_str()).ok()?;
    if fs.filesystem_type() != NSFS_MAGIC {
        return None;
    }
    let meta = fs::metadata(&path).ok()?;
    Some(NsId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
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
pub(crate) fn socket_in(ns: &Netns, file: &NsFile) -> io::Result<RouteSocket> {
    if *ns == Netns::Default {
        // Threads of this process never leave its namespace, so this one is in it already.
        return RouteSocket::open();
    }
    run_in(&file.fd, RouteSocket::open)
}

/// Makes the directory of named namespaces a shared mount point, as `ip netns add` does, so
/// that a namespace mounted there shows in every mount namespace that can see it.
fn prepare_run_dir() -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_RUN_DIR)?;
    let shared = || {
        mount(
            None::<&str>,
            NETNS_RUN_DIR,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then share it.
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            shared().map_err(io::Error::from)
        }
        Err(e) => Err(e.into()),
    }
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
