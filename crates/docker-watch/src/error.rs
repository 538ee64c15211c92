//! Errors of the watcher. A malformed answer about one container is logged and that container
//! skipped; only a lost connection makes the watcher reconnect.

use thiserror::Error;

/// The daemon's description of one container cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ObservationError {
    #[error("container description has no id")]
    MissingId,
    #[error("container {container_id}: microservice label is empty")]
    EmptyLabel { container_id: String },
    #[error("container {container_id}: description has no state")]
    MissingState { container_id: String },
    #[error("container {container_id}: running with pid {pid}, which is not a valid pid")]
    BadPid { container_id: String, pid: i64 },
    #[error("container {container_id}: running without a start time")]
    MissingStartTime { container_id: String },
    #[error("start time {0:?} is not an RFC 3339 timestamp")]
    BadStartTime(String),
}

/// Why a session with the daemon ended; the watcher logs it and reconnects.
#[derive(Debug, Error)]
pub enum WatchError {
    #[error("cannot reach the Docker daemon at {socket}: {source}")]
    Connect {
        socket: String,
        source: bollard::errors::Error,
    },
    #[error("cannot negotiate the API version with the Docker daemon: {0}")]
    Negotiate(bollard::errors::Error),
    #[error("cannot list containers: {0}")]
    List(bollard::errors::Error),
    #[error("cannot inspect container {container_id}: {source}")]
    Inspect {
        container_id: String,
        source: bollard::errors::Error,
    },
    #[error("event stream failed: {0}")]
    Events(bollard::errors::Error),
    #[error("event stream ended")]
    EventsEnded,
    /// The receiver of the watcher's events is gone: the watcher stops for good.
    #[error("receiver of microservice events closed")]
    Closed,
}
