//! Commands: what the core asks a backend to do, at the level of single netlink requests.
//!
//! Commands are plain data so that they can be logged, compared across runs byte for byte, and
//! applied by backends that hold no policy. Every command the core emits at one moment is
//! independent of every other command outstanding at that moment, so a backend may apply a batch
//! in any order or in parallel.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::firewall::ChainSpec;
use crate::model::{
    BridgeSettings, ChecksumOffload, MacAddr, MacvlanMode, TapSettings, VxlanTunnel,
};
use crate::netns::Netns;

mod route;
mod rule;
pub use route::{Hop, RouteSpec};
pub use rule::RuleSpec;

/// Identifies a command so that its result can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommandId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub id: CommandId,
    pub op: Op,
}

/// Link attributes set when a link is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSpec {
    pub name: String,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    /// `IFLA_IFALIAS`: marks the link as managed by the agent.
    pub alias: Option<String>,
    pub up: bool,
}

/// Link attributes changed in place; `None` leaves an attribute as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkChange {
    pub up: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub alias: Option<String>,
    /// `IFLA_MASTER`: enslave the link to another of its namespace (a VRF), or release it.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub master: Option<Master>,
    /// A bridge's settings that change (`IFLA_INFO_DATA` of kind "bridge").
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub bridge: Option<BridgeChange>,
}

/// The settings of a bridge to change in place; `None` leaves one as it is. Each is its own
/// attribute, and only those that change are sent: a kernel without VLAN filtering refuses
/// `IFLA_BR_VLAN_FILTERING` even when it says 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeChange {
    pub stp: Option<bool>,
    pub vlan_filtering: Option<bool>,
    pub ageing_time_seconds: Option<u32>,
}

impl BridgeChange {
    /// What of `want` differs from `seen`.
    pub fn between(seen: &BridgeSettings, want: &BridgeSettings) -> Option<BridgeChange> {
        let change = BridgeChange {
            stp: Some(want.stp).filter(|w| *w != seen.stp),
            vlan_filtering: Some(want.vlan_filtering).filter(|w| *w != seen.vlan_filtering),
            ageing_time_seconds: Some(want.ageing_time_seconds)
                .filter(|w| *w != seen.ageing_time_seconds),
        };
        (change != BridgeChange::default()).then_some(change)
    }

    /// `seen` with this change made.
    pub fn applied_to(&self, seen: &BridgeSettings) -> BridgeSettings {
        BridgeSettings {
            stp: self.stp.unwrap_or(seen.stp),
            vlan_filtering: self.vlan_filtering.unwrap_or(seen.vlan_filtering),
            ageing_time_seconds: self.ageing_time_seconds.unwrap_or(seen.ageing_time_seconds),
        }
    }
}

/// A change of the link a link is enslaved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Master {
    /// Enslave to the link of this name, in the same namespace.
    Set(String),
    /// Release from whatever it is enslaved to.
    Release,
}

impl LinkChange {
    pub fn is_empty(&self) -> bool {
        *self == LinkChange::default()
    }
}

/// The kind of a new link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewLink {
    Dummy,
    /// A veth pair whose peer is created directly in `peer_ns`, never moved there afterwards.
    Veth {
        peer_ns: Netns,
        peer: LinkSpec,
    },
    /// A VRF device whose members' routes go to `table`. (Last, so that logs keep their
    /// encoding.)
    Vrf {
        table: u32,
    },
    /// A bridge with these settings; only those that differ from the kernel's defaults are
    /// sent, as `ip link add type bridge` does.
    Bridge(BridgeSettings),
    /// A persistent TAP (through `/dev/net/tun`, not rtnetlink) with these settings.
    Tap(TapSettings),
    /// A MACVLAN on the link `parent` in `parent_ns`: the request is sent there and the new
    /// link placed in the command's namespace at once (`IFLA_NET_NS_FD`). (Last, so that logs
    /// keep their encoding.)
    Macvlan {
        parent_ns: Netns,
        parent: String,
        mode: MacvlanMode,
    },
    /// A VXLAN with this tunnel, on the link `underlay` (namespace, name) if any: the request
    /// is then sent in the underlay's namespace, where the tunnel's socket lives, and the new
    /// link placed in the command's namespace at once. (Last, so that logs keep their
    /// encoding.)
    Vxlan {
        tunnel: VxlanTunnel,
        underlay: Option<(Netns, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create `/var/run/netns/<name>` as `ip netns add` does; success if it exists already.
    CreateNamespace {
        name: String,
    },
    CreateLink {
        ns: Netns,
        link: LinkSpec,
        kind: NewLink,
    },
    /// Deleting one end of a veth pair deletes the other end too.
    DeleteLink {
        ns: Netns,
        name: String,
    },
    SetLink {
        ns: Netns,
        name: String,
        change: LinkChange,
    },
    AddAddress {
        ns: Netns,
        link: String,
        addr: IpNet,
    },
    DelAddress {
        ns: Netns,
        link: String,
        addr: IpNet,
    },
    /// Create the route with this destination and metric, or replace the one there
    /// (NLM_F_CREATE | NLM_F_REPLACE), so that a route the kernel kept is no error.
    AddRoute {
        ns: Netns,
        route: RouteSpec,
    },
    /// Change the gateway or scope of the route with this destination and metric, in place;
    /// the same request as `AddRoute`, kept apart so that logs say what the core meant.
    ReplaceRoute {
        ns: Netns,
        route: RouteSpec,
    },
    DelRoute {
        ns: Netns,
        route: RouteSpec,
    },
    /// Create or replace a permanent neighbour entry.
    SetNeighbour {
        ns: Netns,
        link: String,
        ip: IpAddr,
        mac: MacAddr,
    },
    DelNeighbour {
        ns: Netns,
        link: String,
        ip: IpAddr,
    },
    /// Give link `name` the name `new_name`, in place: it keeps its index, addresses, routes,
    /// neighbours and veth peer. (Last, so that logged commands keep their encoding.)
    RenameLink {
        ns: Netns,
        name: String,
        new_name: String,
    },
    /// Make the holder chain hold exactly the spec's rules, in one atomic write of its table:
    /// created or flushed and filled, the jump to it from the built-in chain made if it is not
    /// there, the policy set. Refused (EEXIST) if the holder exists with a rule the spec's mark
    /// does not mark: it is someone else's chain.
    SetChain {
        ns: Netns,
        chain: ChainSpec,
    },
    /// Remove what the spec's mark marks: the jumps to the holder, the holder itself, and the
    /// policy set back to ACCEPT if the spec set one.
    DeleteChain {
        ns: Netns,
        chain: ChainSpec,
    },
    /// Turn a link's checksum offloading on or off each way where the change says (ethtool's
    /// features); `None` leaves that way as it is.
    SetOffload {
        ns: Netns,
        name: String,
        offload: ChecksumOffload,
    },
    /// Move link `name` from `ns` into namespace `to`, named `new_name` there, in one request
    /// (`ip link set NAME netns TO name NEW`). The kernel takes the link down and drops its
    /// addresses, routes and neighbours on the way; it keeps MTU and MAC. Used for links the
    /// agent takes over from someone else (TAP_TO_VPP) and gives back; the agent's own links
    /// are created where they belong instead, as a move costs the kernel far more.
    MoveLink {
        ns: Netns,
        name: String,
        to: Netns,
        new_name: String,
    },
    /// Add the permanent FDB entry sending frames for `mac` to the VTEP `remote` to the VXLAN
    /// `link` (`bridge fdb append`: an entry already there is no error).
    AddFdb {
        ns: Netns,
        link: String,
        mac: MacAddr,
        remote: IpAddr,
    },
    /// Remove that entry.
    DelFdb {
        ns: Netns,
        link: String,
        mac: MacAddr,
        remote: IpAddr,
    },
    /// Add the policy rule, marked with the agent's route protocol, refusing a duplicate
    /// (`ip rule add`: EEXIST). (After FDB entries, so that logs keep their encoding.)
    AddRule {
        ns: Netns,
        rule: RuleSpec,
    },
    /// Remove the agent's rule that is exactly this.
    DelRule {
        ns: Netns,
        rule: RuleSpec,
    },
}

impl Op {
    /// The namespace the request is sent in.
    pub fn namespace(&self) -> Netns {
        match self {
            Op::CreateNamespace { name } => Netns::Named(name.clone()),
            Op::CreateLink { ns, .. }
            | Op::DeleteLink { ns, .. }
            | Op::SetLink { ns, .. }
            | Op::AddAddress { ns, .. }
            | Op::DelAddress { ns, .. }
            | Op::AddRoute { ns, .. }
            | Op::ReplaceRoute { ns, .. }
            | Op::DelRoute { ns, .. }
            | Op::SetNeighbour { ns, .. }
            | Op::DelNeighbour { ns, .. }
            | Op::RenameLink { ns, .. }
            | Op::SetChain { ns, .. }
            | Op::DeleteChain { ns, .. }
            | Op::SetOffload { ns, .. }
            | Op::MoveLink { ns, .. }
            | Op::AddFdb { ns, .. }
            | Op::DelFdb { ns, .. }
            | Op::AddRule { ns, .. }
            | Op::DelRule { ns, .. } => ns.clone(),
        }
    }

    /// The second namespace a command acts in: a veth peer's, a MACVLAN's parent's, a VXLAN's underlay's, or where
    /// a link is moved to.
    pub fn peer_namespace(&self) -> Option<&Netns> {
        match self {
            Op::CreateLink {
                kind: NewLink::Veth { peer_ns, .. },
                ..
            } => Some(peer_ns),
            Op::CreateLink {
                kind: NewLink::Macvlan { parent_ns, .. },
                ..
            } => Some(parent_ns),
            Op::CreateLink {
                kind:
                    NewLink::Vxlan {
                        underlay: Some((ns, _)),
                        ..
                    },
                ..
            } => Some(ns),
            Op::MoveLink { to, .. } => Some(to),
            _ => None,
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateNamespace { name } => write!(f, "create namespace {name}"),
            Op::CreateLink {
                ns,
                link,
                kind: NewLink::Dummy,
            } => write!(f, "create dummy {} in {ns}", link.name),
            Op::CreateLink {
                ns,
                link,
                kind: NewLink::Vrf { table },
            } => write!(f, "create vrf {} (table {table}) in {ns}", link.name),
            Op::CreateLink {
                ns,
                link,
                kind: NewLink::Bridge(b),
            } => write!(
                f,
                "create bridge {} (stp {}, vlan filtering {}, ageing {} s) in {ns}",
                link.name,
                on_off(b.stp),
                on_off(b.vlan_filtering),
                b.ageing_time_seconds
            ),
            Op::CreateLink {
                ns,
                link,
                kind: NewLink::Veth { peer_ns, peer },
            } => {
                write!(
                    f,
                    "create veth {} in {ns} with peer {} in {peer_ns}",
                    link.name, peer.name
                )
            }
            Op::CreateLink {
                ns,
                link,
                kind: NewLink::Tap(t),
            } => {
                write!(f, "create tap {} in {ns}", link.name)?;
                if let Some(o) = t.owner {
                    write!(f, " (owner {o})")?;
                }
                if let Some(g) = t.group {
                    write!(f, " (group {g})")?;
                }
                if t.multi_queue {
                    write!(f, " (multi-queue)")?;
                }
                Ok(())
            }
            Op::CreateLink {
                ns,
                link,
                kind:
                    NewLink::Macvlan {
                        parent_ns,
                        parent,
                        mode,
                    },
            } => write!(
                f,
                "create macvlan {} (mode {}) in {ns} on {parent} in {parent_ns}",
                link.name,
                mode.name().to_lowercase()
            ),
            Op::CreateLink {
                ns,
                link,
                kind: NewLink::Vxlan { tunnel, underlay },
            } => {
                write!(f, "create vxlan {} (vni {}", link.name, tunnel.vni)?;
                if let Some(l) = tunnel.local {
                    write!(f, ", local {l}")?;
                }
                if let Some(r) = tunnel.remote {
                    write!(f, ", remote {r}")?;
                }
                write!(f, ", port {}", tunnel.dst_port)?;
                if !tunnel.learning {
                    write!(f, ", no learning")?;
                }
                write!(f, ") in {ns}")?;
                if let Some((uns, u)) = underlay {
                    write!(f, " on {u} in {uns}")?;
                }
                Ok(())
            }
            Op::DeleteLink { ns, name } => write!(f, "delete link {name} in {ns}"),
            Op::SetLink { ns, name, change } => {
                write!(f, "set link {name} in {ns}:")?;
                if let Some(up) = change.up {
                    write!(f, " {}", if up { "up" } else { "down" })?;
                }
                if let Some(mtu) = change.mtu {
                    write!(f, " mtu {mtu}")?;
                }
                if let Some(mac) = change.mac {
                    write!(f, " address {mac}")?;
                }
                if let Some(alias) = &change.alias {
                    write!(f, " alias {alias}")?;
                }
                match &change.master {
                    Some(Master::Set(m)) => write!(f, " master {m}")?,
                    Some(Master::Release) => write!(f, " nomaster")?,
                    None => {}
                }
                if let Some(b) = &change.bridge {
                    if let Some(stp) = b.stp {
                        write!(f, " stp {}", on_off(stp))?;
                    }
                    if let Some(v) = b.vlan_filtering {
                        write!(f, " vlan_filtering {}", on_off(v))?;
                    }
                    if let Some(s) = b.ageing_time_seconds {
                        write!(f, " ageing_time {s} s")?;
                    }
                }
                Ok(())
            }
            Op::SetOffload { ns, name, offload } => {
                write!(f, "set checksum offloading of {name} in {ns}:")?;
                for (way, on) in [("rx", offload.rx), ("tx", offload.tx)] {
                    if let Some(on) = on {
                        write!(f, " {way} {}", if on { "on" } else { "off" })?;
                    }
                }
                Ok(())
            }
            Op::AddAddress { ns, link, addr } => write!(f, "add address {addr} to {link} in {ns}"),
            Op::DelAddress { ns, link, addr } => {
                write!(f, "delete address {addr} from {link} in {ns}")
            }
            Op::AddRoute { ns, route } => write!(f, "add route {} in {ns}", route.text()),
            Op::ReplaceRoute { ns, route } => {
                write!(f, "replace route {} in {ns}", route.text())
            }
            Op::DelRoute { ns, route } => write!(f, "delete route {} in {ns}", route.text()),
            Op::SetNeighbour { ns, link, ip, mac } => {
                write!(f, "set neighbour {ip} lladdr {mac} on {link} in {ns}")
            }
            Op::DelNeighbour { ns, link, ip } => {
                write!(f, "delete neighbour {ip} on {link} in {ns}")
            }
            Op::AddFdb {
                ns,
                link,
                mac,
                remote,
            } => write!(f, "add fdb entry {mac} dst {remote} to {link} in {ns}"),
            Op::DelFdb {
                ns,
                link,
                mac,
                remote,
            } => write!(f, "delete fdb entry {mac} dst {remote} from {link} in {ns}"),
            Op::AddRule { ns, rule } => write!(f, "add rule {rule} in {ns}"),
            Op::DelRule { ns, rule } => write!(f, "delete rule {rule} in {ns}"),
            Op::RenameLink { ns, name, new_name } => {
                write!(f, "rename link {name} to {new_name} in {ns}")
            }
            Op::MoveLink {
                ns,
                name,
                to,
                new_name,
            } => write!(f, "move link {name} in {ns} to {to} as {new_name}"),
            Op::SetChain { ns, chain } => write!(
                f,
                "set {} rules of chain {} ({:?} {}) in {ns}",
                chain.rules.len(),
                chain.chain.name(),
                chain.family,
                chain.table.name()
            ),
            Op::DeleteChain { ns, chain } => write!(
                f,
                "delete rules of chain {} ({:?} {}) in {ns}",
                chain.chain.name(),
                chain.family,
                chain.table.name()
            ),
        }
    }
}
