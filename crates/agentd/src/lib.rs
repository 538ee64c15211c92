//! The daemon around the core: it takes intents from NATS (request-reply and, optionally, a
//! JetStream key-value bucket), makes each one durable in an append-only event log before the
//! core sees it, drives the core from a single thread, hands the core's commands to a kernel
//! backend on a thread of its own, and answers status queries. Everything the core saw is in the
//! log, so any run can be replayed offline — `nsagentctl replay` does exactly that.

pub mod config;
pub mod ctl;
pub mod daemon;
pub mod driver;
pub mod journal;
pub mod kv;
pub mod nats;
pub mod observers;
pub mod protocol;
pub mod replay;
