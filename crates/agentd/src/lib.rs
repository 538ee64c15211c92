//! The daemon around the core: it takes intents from NATS (request-reply and, optionally, a
//! JetStream key-value bucket), makes each one durable in an append-only event log before the
//! core sees it, drives the core from a single thread, hands the core's commands to a kernel
//! backend on a thread of its own, and answers status queries. Everything the core saw is in the
//! log, so any run can be replayed offline — `nsagentctl replay` does exactly that.
//!
//! Modules are private; what the two binaries, the tests and the benchmarks need is exported
//! here, once: the daemon's configuration and [`run`], what `nsagentctl` does offline, the NATS
//! connection, the protocol's subjects, and the event log with its stored formats.

mod config;
mod ctl;
mod daemon;
mod driver;
mod human;
mod instance;
mod journal;
mod kv;
mod nats;
mod observers;
mod protect;
mod protocol;
mod replay;
mod states;

pub use config::{Args, BackendKind, ConfigError, DaemonConfig, Retention, DEFAULT_RETENTION};
pub use ctl::{
    log_row, put_bodies, read_items, render, replay_offline, verify_offline, CtlError, Format,
    ReplayReport, Show, VerifyReport,
};
pub use daemon::{run, DaemonError};
pub use human::{humanize_times, rfc3339, state_detail, time_text, TimeError};
pub use journal::{
    decode_group, decode_snapshot, encode_group, encode_snapshot, EncodedSnapshot, Journal,
    JournalConfig, JournalError, OpenReport, Origin, PendingBatch, ReadItem, Record, RecordError,
    Repair, TailCut, FORMAT_VERSION,
};
pub use nats::{connect, ConnectError, NatsAuth};
pub use protocol::{EntryError, LogEntry, LogReply, Subjects, MAX_PAYLOAD, MAX_TXN_OPS};
pub use replay::ReplayError;
