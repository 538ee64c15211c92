//! Daemon (being written).
