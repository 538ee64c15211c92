//! The boundary between the core and whatever applies its commands.

use serde::{Deserialize, Serialize};

use crate::command::{Command, Op};
use crate::firewall::ChainSnapshot;
use crate::link_state::LinkState;
use crate::netns::Netns;
use crate::observed::Snapshot;

/// Linux errno values the core classifies; backends report the raw errno.
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const ELOOP: i32 = 40;
    pub const EOPNOTSUPP: i32 = 95;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRINUSE: i32 = 98;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENETDOWN: i32 = 100;
    pub const ENETUNREACH: i32 = 101;
    pub const ENOBUFS: i32 = 105;
    pub const EHOSTUNREACH: i32 = 113;
}

/// What went wrong, in the terms the core's retry policy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// EEXIST: the object is there already (possibly a link still being destroyed).
    AlreadyExists,
    /// ENODEV: the link is not there.
    NoSuchDevice,
    /// ENOENT/ESRCH: the address, route or neighbour is not there.
    NotFound,
    /// The namespace could not be opened: its process exited or its file was removed.
    NamespaceGone,
    /// ENETUNREACH/ENETDOWN: a route's gateway is not reachable, or its device is down.
    Unreachable,
    /// EBUSY/EAGAIN/ENOBUFS/ENOMEM: try again later.
    Busy,
    /// EINVAL/ERANGE/ELOOP/EOPNOTSUPP/EADDRNOTAVAIL: the kernel refuses the request as such.
    Invalid,
    /// EPERM/EACCES: the agent lacks a capability.
    PermissionDenied,
    /// Anything else, including I/O errors of the backend itself.
    Other,
}

impl ErrorKind {
    pub fn from_errno(errno: i32) -> ErrorKind {
        use errno::*;
        match errno {
            EEXIST => ErrorKind::AlreadyExists,
            ENODEV => ErrorKind::NoSuchDevice,
            ENOENT | ESRCH => ErrorKind::NotFound,
            ENETUNREACH | ENETDOWN | EHOSTUNREACH => ErrorKind::Unreachable,
            EBUSY | EAGAIN | ENOBUFS | ENOMEM => ErrorKind::Busy,
            EINVAL | ERANGE | ELOOP | EOPNOTSUPP | EADDRNOTAVAIL => ErrorKind::Invalid,
            EPERM | EACCES => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        }
    }

    /// Whether trying the same command again later can succeed without a change of config.
    pub fn is_retriable(self) -> bool {
        !matches!(self, ErrorKind::Invalid | ErrorKind::PermissionDenied)
    }
}

/// A failed command, with enough context to be understood in a status report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{op}: {message}{}", errno.map(|e| format!(" (errno {e})")).unwrap_or_default())]
pub struct BackendError {
    pub kind: ErrorKind,
    pub errno: Option<i32>,
    /// The operation, as the command's display form.
    pub op: String,
    pub message: String,
    /// For [`ErrorKind::NamespaceGone`]: which namespace could not be opened, when the command
    /// involves two (a veth pair). `None` means the command's own namespace.
    #[serde(default)]
    pub namespace: Option<Netns>,
}

impl BackendError {
    /// An error for `op` from a raw errno, classified by [`ErrorKind::from_errno`].
    pub fn from_errno(op: &Op, errno: i32, message: impl Into<String>) -> BackendError {
        BackendError {
            kind: ErrorKind::from_errno(errno),
            errno: Some(errno),
            op: op.to_string(),
            message: message.into(),
            namespace: None,
        }
    }

    pub fn new(op: &Op, kind: ErrorKind, message: impl Into<String>) -> BackendError {
        BackendError {
            kind,
            errno: None,
            op: op.to_string(),
            message: message.into(),
            namespace: None,
        }
    }

    /// The namespace `ns` (one of the command's) could not be opened.
    pub fn namespace_gone(op: &Op, ns: &Netns, message: impl Into<String>) -> BackendError {
        BackendError {
            kind: ErrorKind::NamespaceGone,
            errno: None,
            op: op.to_string(),
            message: message.into(),
            namespace: Some(ns.clone()),
        }
    }
}

/// Something that applies commands to a kernel, real or simulated. Backends hold no policy: they
/// do what a command says and report what happened, with the kernel's own errors.
pub trait Backend {
    /// Applies one command.
    fn apply(&mut self, op: &Op) -> Result<(), BackendError>;

    /// Applies commands that are independent of each other, in any order or in parallel; the
    /// results are in the order of `commands`.
    fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
        commands.iter().map(|c| self.apply(&c.op)).collect()
    }

    /// Reports what the given namespaces contain, for resync. A namespace that cannot be opened
    /// is listed in [`Snapshot::missing`] rather than failing the whole call.
    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError>;

    /// The iptables tables of the given namespaces, for resync of rule chains. A namespace that
    /// cannot be opened is listed in [`ChainSnapshot::missing`]. Backends that cannot tell say
    /// so with an error.
    fn observe_chains(&mut self, namespaces: &[Netns]) -> Result<ChainSnapshot, BackendError> {
        Err(BackendError {
            kind: ErrorKind::Other,
            errno: None,
            op: format!(
                "read the iptables tables of {} namespace(s)",
                namespaces.len()
            ),
            message: "this backend does not read iptables tables".into(),
            namespace: None,
        })
    }

    /// Every link of `ns` as it is now, with its counters, for state reports; nothing the core
    /// decides on. Backends that cannot tell say so with an error.
    fn link_states(&mut self, ns: &Netns) -> Result<Vec<LinkState>, BackendError> {
        Err(crate::link_state::link_states_failed(
            ns,
            ErrorKind::Other,
            "this backend does not report link states",
        ))
    }
}
