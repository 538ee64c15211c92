//! Docker watcher (being written).
