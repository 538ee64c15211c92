//! What the core can tell about an item: applied, pending and why, or failed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::Timestamp;
use crate::netns::{NamespaceRef, Netns};

/// Why an item is not (yet) in the kernel. Each reason is a dependency that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingReason {
    NamespaceNotAvailable(NamespaceRef),
    NamespaceBeingCreated(String),
    MicroserviceNotRunning(String),
    MicroserviceWatchDisconnected(String),
    PeerNotConfigured(String),
    PeerNotVeth(String),
    /// The peer names another interface as its own peer.
    PeerMismatch {
        peer: String,
        peers_peer: String,
    },
    PeerPending(String),
    /// Another item wants the same link name in the same namespace.
    HostNameTaken {
        host_if_name: String,
        ns: NamespaceRef,
        by: String,
    },
    InterfaceNotConfigured(String),
    InterfaceNotReady(String),
    InterfaceDisabled(String),
    GatewayUnreachable {
        gw: String,
        interface: String,
    },
    /// Another route item has the same destination and metric in the same namespace.
    RouteTaken {
        by: String,
    },
    /// An older rule chain item sets another default policy on the same built-in chain.
    /// (Last, so that snapshots keep their encoding.)
    PolicyTaken {
        chain: String,
        by: String,
    },
    /// An older rule chain item writes into the same custom chain in the same namespace.
    ChainTaken {
        chain: String,
        by: String,
    },
    /// A `link_only` interface lists an address that someone else has not put on its link
    /// yet: routes and neighbours on it wait for every listed address, as vpp-agent's do.
    AddressMissing {
        interface: String,
        address: String,
    },
    /// A TAP_TO_VPP interface's TAP is neither in the default namespace under the name its
    /// creator gives it nor already in the item's namespace under the item's name.
    TapMissing(String),
    /// `vrf_master_interface` names an interface that is not a VRF_DEVICE.
    NotAVrf(String),
    /// `vrf_master_interface` names a VRF in another namespace than the interface's.
    VrfInAnotherNamespace(String),
    /// `bridge_master_interface` names an interface that is not a BRIDGE.
    NotABridge(String),
    /// `bridge_master_interface` names a bridge in another namespace than the interface's.
    BridgeInAnotherNamespace(String),
    /// `macvlan.parent_interface` names a MACVLAN: the kernel would put this one on that
    /// one's parent instead, which the item does not say.
    ParentIsMacvlan(String),
    /// `macvlan.parent_interface` names a bridge port: the kernel refuses a parent there.
    ParentIsBridgePort(String),
    /// An FDB entry's `interface` is not a VXLAN the agent makes.
    NotAVxlan(String),
    /// A route's `src_addr` is not (yet) an address of its interface: the kernel refuses a
    /// preferred source the namespace does not have, and drops the route when it goes.
    SourceMissing {
        interface: String,
        src: String,
    },
    /// A policy rule's interface is in another namespace than the rule.
    InterfaceInAnotherNamespace(String),
    /// An older policy rule item holds the same priority in the same namespace and family:
    /// the kernel orders rules of one priority by when they were added, which the agent
    /// cannot keep across re-adding them.
    PriorityTaken {
        priority: u32,
        by: String,
    },
}

impl fmt::Display for PendingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PendingReason::*;
        match self {
            NamespaceNotAvailable(ns) => write!(f, "{ns} is not available"),
            NamespaceBeingCreated(name) => write!(f, "namespace '{name}' is being created"),
            MicroserviceNotRunning(label) => write!(f, "microservice '{label}' is not running"),
            MicroserviceWatchDisconnected(label) => {
                write!(
                    f,
                    "docker not connected: cannot tell whether microservice '{label}' runs"
                )
            }
            PeerNotConfigured(peer) => write!(f, "veth peer '{peer}' is not configured"),
            PeerNotVeth(peer) => write!(f, "veth peer '{peer}' is not a VETH"),
            PeerMismatch { peer, peers_peer } => {
                write!(f, "veth peer '{peer}' names '{peers_peer}' as its peer")
            }
            PeerPending(peer) => write!(f, "veth peer '{peer}' is pending"),
            HostNameTaken {
                host_if_name,
                ns,
                by,
            } => {
                write!(
                    f,
                    "link name '{host_if_name}' in {ns} is taken by item '{by}'"
                )
            }
            InterfaceNotConfigured(i) => write!(f, "interface '{i}' is not configured"),
            InterfaceNotReady(i) => write!(f, "interface '{i}' is not applied yet"),
            InterfaceDisabled(i) => write!(f, "interface '{i}' is disabled"),
            GatewayUnreachable { gw, interface } => {
                write!(
                    f,
                    "gateway {gw} is not in a subnet of interface '{interface}'"
                )
            }
            RouteTaken { by } => write!(
                f,
                "route with the same destination and metric is configured by '{by}'"
            ),
            PolicyTaken { chain, by } => {
                write!(f, "the default policy of {chain} is set by '{by}'")
            }
            ChainTaken { chain, by } => write!(f, "chain {chain} is written by '{by}'"),
            AddressMissing { interface, address } => write!(
                f,
                "address {address} of link-only interface '{interface}' is not on its link yet"
            ),
            NotAVrf(vrf) => write!(f, "interface '{vrf}' is not a VRF_DEVICE"),
            VrfInAnotherNamespace(vrf) => {
                write!(f, "VRF '{vrf}' is in another namespace than this interface")
            }
            NotABridge(bridge) => write!(f, "interface '{bridge}' is not a BRIDGE"),
            BridgeInAnotherNamespace(bridge) => {
                write!(
                    f,
                    "bridge '{bridge}' is in another namespace than this interface"
                )
            }
            ParentIsMacvlan(parent) => write!(
                f,
                "interface '{parent}' is a MACVLAN; name its parent as this MACVLAN's parent"
            ),
            ParentIsBridgePort(parent) => write!(
                f,
                "interface '{parent}' is a bridge port, which the kernel refuses as a MACVLAN's parent"
            ),
            NotAVxlan(interface) => write!(f, "interface '{interface}' is not a VXLAN"),
            SourceMissing { interface, src } => write!(
                f,
                "source address {src} is not an address of interface '{interface}' yet"
            ),
            InterfaceInAnotherNamespace(i) => {
                write!(f, "interface '{i}' is in another namespace than this rule")
            }
            PriorityTaken { priority, by } => {
                write!(f, "priority {priority} is taken by rule '{by}'")
            }
            TapMissing(tap) => write!(
                f,
                "TAP '{tap}' is not in the default namespace yet (its creator, such as VPP, makes it)"
            ),
        }
    }
}

/// The state of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemState {
    /// The kernel holds what the item asks for.
    Applied,
    /// Waiting for its dependencies; nothing of it is in the kernel.
    Pending { reasons: Vec<PendingReason> },
    /// Commands are being applied.
    InProgress,
    /// The last command failed. `retry_at` is `None` for errors that retrying cannot fix.
    Failed {
        error: String,
        attempts: u32,
        retry_at: Option<Timestamp>,
    },
    /// The item was deleted and its objects are being removed from the kernel.
    Removing,
    /// The item was deleted and nothing of it is left in the kernel.
    Removed,
}

impl ItemState {
    pub fn name(&self) -> &'static str {
        match self {
            ItemState::Applied => "applied",
            ItemState::Pending { .. } => "pending",
            ItemState::InProgress => "in-progress",
            ItemState::Failed { .. } => "failed",
            ItemState::Removing => "removing",
            ItemState::Removed => "removed",
        }
    }
}

impl fmt::Display for ItemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemState::Pending { reasons } => {
                write!(f, "pending")?;
                for (i, r) in reasons.iter().enumerate() {
                    write!(f, "{} {r}", if i == 0 { ":" } else { ";" })?;
                }
                Ok(())
            }
            ItemState::Failed {
                error,
                attempts,
                retry_at,
            } => {
                write!(f, "failed after {attempts} attempt(s): {error}")?;
                match retry_at {
                    Some(t) => write!(f, " (retry at {} ms)", t.0),
                    None => write!(f, " (not retried: fix the configuration)"),
                }
            }
            other => f.write_str(other.name()),
        }
    }
}

/// A full account of one item, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub key: String,
    pub state: ItemState,
    /// The desired value, in vpp-agent's JSON shape; `None` once deleted.
    pub desired: Option<serde_json::Value>,
    /// Log sequence of the intent that set the current desired value (or deleted it).
    pub last_seq: Option<u64>,
    /// The namespace the item currently resolves to.
    pub namespace: Option<Netns>,
    /// What the core believes the kernel holds for this item, in words.
    pub in_kernel: Vec<String>,
    /// The command in flight, if any.
    pub in_flight: Option<String>,
    /// The last error seen, even after a later success made it moot.
    pub last_error: Option<String>,
    /// Things that work but deserve attention, such as two containers claiming one label.
    pub warnings: Vec<String>,
}
