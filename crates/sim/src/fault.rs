//! Injected failures: what the next operations fail with, whatever they are.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How an injected failure presents itself to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// The kernel answers with this errno (EBUSY, ENOBUFS, EPERM, ...).
    Errno(i32),
    /// The backend cannot enter the namespace, as when a process exits between the decision to
    /// act and the `setns`.
    NamespaceGone,
}

/// Failures waiting for the next operations, first in first out. An injected failure changes no
/// state: the kernel refused the request before doing anything.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultQueue {
    pending: VecDeque<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, count: u32, fault: Fault) {
        for _ in 0..count {
            self.pending.push_back(fault);
        }
    }

    pub(crate) fn next(&mut self) -> Option<Fault> {
        self.pending.pop_front()
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}
