//! The deterministic heart of nsagent. It owns every decision the agent makes about Linux
//! network configuration and performs none of it: desired items and observations come in as
//! [`Event`]s, netlink-level [`Command`]s come out, and the crates around it (the kernel backend,
//! the simulator, the daemon) do the I/O. It has no clock, no randomness and no I/O, so the same
//! events always produce the same commands — which is what makes a log replayable and a
//! simulation reproducible from a seed.

mod added_fields;
mod backend;
mod command;
mod event;
mod firewall;
mod identity;
mod link_state;
mod machine;
mod model;
mod netns;
mod observed;
mod status;

pub use added_fields::reading_version_1;
pub use backend::{errno, Backend, BackendError, ErrorKind};
pub use command::{
    BridgeChange, Command, CommandId, Hop, LinkChange, LinkSpec, Master, NewLink, Op, RouteSpec,
    RuleSpec,
};
pub use event::{Event, Timestamp};
pub use firewall::{
    digest, rule_words, ChainSnapshot, ChainSpec, ObservedChain, ObservedRule, ObservedTable,
};
pub use identity::{
    check_route_protocol, AgentIdentity, IdentityError, InstanceId, Mark, ALIAS_PREFIX,
    MAX_ALIAS_LEN, MAX_ITEM_NAME_LEN, MAX_LABEL_LEN,
};
pub use link_state::{link_states_failed, LinkState, LinkStats, OperState};
pub use machine::{BorrowPolicy, Core, CoreConfig, ProtectedLink};
pub use model::{
    ArpEntry, BridgeSettings, Builtin, Chain, ChecksumOffload, Family, FdbEntry, Interface,
    InterfaceType, Item, ItemKey, MacAddr, MacvlanMode, MacvlanSettings, NextHop, Policy,
    PolicyRule, Route, RouteScope, RouteType, RuleAction, RuleChain, Table, TapSettings,
    ValidationError, VxlanSettings, VxlanTunnel, DEFAULT_AGEING_TIME_SECONDS,
    MAX_AGEING_TIME_SECONDS, OWN_CHAIN_PREFIX, VXLAN_DEFAULT_PORT, VXLAN_MAX_VNI,
};
pub use netns::{NamespaceIdentity, NamespaceRef, Netns};
pub use observed::{
    LinkKind, ObservedLink, ObservedNamespace, ObservedNeighbour, Snapshot, ROUTE_PROTOCOL,
};
pub use status::{Explanation, ItemState, PendingReason};
