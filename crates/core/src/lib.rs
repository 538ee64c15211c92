//! The deterministic heart of nsagent. It owns every decision the agent makes about Linux
//! network configuration and performs none of it: desired items and observations come in as
//! [`Event`]s, netlink-level [`Command`]s come out, and the crates around it (the kernel backend,
//! the simulator, the daemon) do the I/O. It has no clock, no randomness and no I/O, so the same
//! events always produce the same commands — which is what makes a log replayable and a
//! simulation reproducible from a seed.

pub mod backend;
pub mod command;
pub mod event;
pub mod model;
pub mod netns;
pub mod observed;
mod orphan;
pub mod status;

pub use backend::{Backend, BackendError, ErrorKind};
pub use command::{Command, CommandId, LinkChange, LinkSpec, NewLink, Op, RouteSpec};
pub use event::{Event, Timestamp};
pub use model::{
    ArpEntry, Interface, InterfaceType, Item, ItemKey, MacAddr, Route, RouteScope, ValidationError,
};
pub use netns::{NamespaceRef, Netns};
pub use observed::{LinkKind, ObservedLink, ObservedNamespace, ObservedNeighbour, Snapshot};
pub use status::{Explanation, ItemState, PendingReason};
pub mod machine;
pub use machine::{run_until_idle, Core, CoreConfig};
