//! Events: everything that can change what the core decides.

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;
use crate::command::CommandId;
use crate::firewall::ChainSnapshot;
use crate::machine::BorrowPolicy;
use crate::model::{Item, ItemKey};
use crate::netns::{NamespaceIdentity, Netns};
use crate::observed::Snapshot;

/// Milliseconds on the driver's monotonic clock. The core has no clock of its own: every event
/// comes with the time it happened, so replaying a log replays time too.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn plus_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Desired state: create or replace an item. `seq` is the intent's position in the log.
    Put {
        seq: u64,
        item: Item,
    },
    /// Desired state: remove an item.
    Delete {
        seq: u64,
        key: ItemKey,
    },
    /// A namespace can be entered (a process started, a file appeared).
    NamespaceAvailable {
        ns: Netns,
    },
    /// A namespace is gone, and with it every link inside it and the peers of its veths.
    NamespaceVanished {
        ns: Netns,
    },
    /// A container running a microservice started (or is found running). `duplicates` lists
    /// other running containers with the same label that lost to this one, newest first wins.
    MicroserviceStarted {
        label: String,
        container_id: String,
        pid: u32,
        duplicates: Vec<String>,
    },
    /// The container of a microservice stopped; its namespace is gone.
    MicroserviceStopped {
        label: String,
        container_id: String,
    },
    /// Whether the source of microservice events (the Docker daemon) is reachable.
    MicroserviceWatch {
        connected: bool,
    },
    CommandSucceeded {
        id: CommandId,
    },
    CommandFailed {
        id: CommandId,
        error: BackendError,
    },
    /// The time returned by [`crate::Core::poll_timeout`] has come.
    TimerFired,
    /// The agent restarted: the outcome of commands that were in flight is unknown. The core
    /// forgets them and issues nothing until the next [`Event::Observed`] tells it what the
    /// kernel holds.
    Restarted,
    /// What the kernel contains, for resync: replaces what the core believes about these
    /// namespaces.
    Observed(Snapshot),
    /// Someone asked for a resync (`nsagentctl resync`): of every namespace the core cares
    /// about, or of `ns` alone. The core answers through [`crate::Core::poll_resync`]; the
    /// snapshot comes back as [`Event::Observed`].
    ResyncRequested {
        ns: Option<Netns>,
    },
    /// A namespace can be entered, and this is its identity: what [`Event::NamespaceAvailable`]
    /// says, and which other references name the same namespace. Backends that can tell send
    /// this instead (for the default namespace too, which is otherwise always available).
    NamespaceIdentified {
        ns: Netns,
        identity: NamespaceIdentity,
    },
    /// Which existing links items may borrow, and which carry the agent's own route to its
    /// NATS server: told by the daemon at start, so that a replay refuses the same items.
    BorrowPolicy(BorrowPolicy),
    /// What the iptables tables of some namespaces hold, for resync of rule chains: the answer
    /// to [`crate::Core::poll_chain_resync`]. (Last, so that logged events keep their encoding.)
    ChainsObserved(ChainSnapshot),
}

impl Event {
    /// The event that reports the outcome of command `id`, as every driver feeds it back.
    pub fn command_result(id: CommandId, result: Result<(), BackendError>) -> Event {
        match result {
            Ok(()) => Event::CommandSucceeded { id },
            Err(error) => Event::CommandFailed { id, error },
        }
    }
}
