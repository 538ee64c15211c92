//! A canonical picture of the simulated kernel for a simulation harness: sorted, free of
//! insertion order, so two dumps are equal exactly when the kernels hold the same configuration.

use std::net::IpAddr;

use ipnet::IpNet;
use nsagent_core::{
    AgentIdentity, BridgeSettings, LinkKind, MacAddr, MacvlanMode, Mark, Netns, RouteSpec,
    TapSettings, VxlanTunnel, ALIAS_PREFIX,
};
use serde::{Deserialize, Serialize};

/// Every namespace, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDump {
    pub namespaces: Vec<NamespaceDump>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceDump {
    pub ns: Netns,
    /// Links whose alias starts with [`ALIAS_PREFIX`] (any agent's, any form), sorted by name.
    pub managed: Vec<LinkDump>,
    /// All other links (`lo`, seeded links, anything without the agent's alias), sorted by name.
    pub unmanaged: Vec<LinkDump>,
}

/// A link with everything that hangs off it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDump {
    pub name: String,
    pub ifindex: u32,
    pub kind: LinkKind,
    pub alias: Option<String>,
    pub mtu: u32,
    pub mac: MacAddr,
    pub up: bool,
    /// Addresses added by requests (or seeds), sorted.
    pub addresses: Vec<IpNet>,
    /// Addresses the kernel added by itself: 127.0.0.1/8 and ::1/128 on `lo`, the EUI-64
    /// link-local address of a link with carrier. Sorted.
    pub kernel_addresses: Vec<IpNet>,
    /// The other end of a veth pair.
    pub peer: Option<(Netns, String)>,
    /// Routes of the main table through this link, any protocol, sorted by destination and
    /// metric.
    pub routes: Vec<RouteDump>,
    /// Permanent neighbours on this link with the agent's protocol
    /// ([`nsagent_core::ROUTE_PROTOCOL`]), sorted by address.
    pub neighbours: Vec<(IpAddr, MacAddr)>,
    /// Permanent neighbours on this link made by someone else (another protocol, or none), with
    /// their protocol, sorted by address: the agent must never remove them.
    pub foreign_neighbours: Vec<(IpAddr, MacAddr, u8)>,
    /// For a VXLAN: its permanent FDB entries (MAC, VTEP), sorted.
    pub fdb: Vec<(MacAddr, IpAddr)>,
    /// The link it is enslaved to (a VRF), by name.
    pub master: Option<String>,
    /// For a VRF: its routing table.
    pub vrf_table: Option<u32>,
    /// For a bridge: its settings.
    pub bridge: Option<BridgeSettings>,
    /// For a TAP: its settings.
    pub tap: Option<TapSettings>,
    /// For a MACVLAN: its mode and the link it is on (namespace as stored, name).
    pub macvlan: Option<(MacvlanMode, (Netns, String))>,
    /// For a VXLAN: its tunnel, and its underlay if any (namespace as stored, name).
    pub vxlan: Option<(VxlanTunnel, Option<(Netns, String)>)>,
    /// Checksum offloading (ethtool's `rx-checksum`, `tx-checksum-*`), receive and transmit.
    pub checksum_offload: (bool, bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDump {
    pub route: RouteSpec,
    /// `rtm_protocol`; the agent's routes carry [`nsagent_core::ROUTE_PROTOCOL`].
    pub protocol: u8,
}

impl LinkDump {
    pub fn is_managed(&self) -> bool {
        self.alias
            .as_deref()
            .is_some_and(|a| a.starts_with(ALIAS_PREFIX))
    }
}

impl StateDump {
    pub fn namespace(&self, ns: &Netns) -> Option<&NamespaceDump> {
        self.namespaces.iter().find(|n| &n.ns == ns)
    }

    /// The agent's links, with their namespace, in canonical order.
    pub fn managed(&self) -> Vec<(Netns, LinkDump)> {
        self.namespaces
            .iter()
            .flat_map(|n| n.managed.iter().map(|l| (n.ns.clone(), l.clone())))
            .collect()
    }

    /// Every link that is not the agent's, with its namespace, in canonical order: what a
    /// harness compares before and after to prove the agent left them alone.
    pub fn unmanaged(&self) -> Vec<(Netns, LinkDump)> {
        self.namespaces
            .iter()
            .flat_map(|n| n.unmanaged.iter().map(|l| (n.ns.clone(), l.clone())))
            .collect()
    }

    /// The links one agent owns (its mark, `nsagent_core::AgentIdentity`), with their
    /// namespace, in canonical order: what a harness with several agents on one kernel checks
    /// each agent against.
    pub fn marked_by(&self, me: &AgentIdentity) -> Vec<(Netns, LinkDump)> {
        self.all()
            .filter(|(_, l)| matches!(me.read(l.alias.as_deref()), Mark::Mine(_)))
            .collect()
    }

    /// Every link that is not this agent's (another agent's included), in canonical order.
    pub fn not_marked_by(&self, me: &AgentIdentity) -> Vec<(Netns, LinkDump)> {
        let mut v: Vec<_> = self
            .all()
            .filter(|(_, l)| !matches!(me.read(l.alias.as_deref()), Mark::Mine(_)))
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
        v
    }

    fn all(&self) -> impl Iterator<Item = (Netns, LinkDump)> + '_ {
        self.namespaces.iter().flat_map(|n| {
            n.managed
                .iter()
                .chain(n.unmanaged.iter())
                .map(|l| (n.ns.clone(), l.clone()))
        })
    }

    /// One link by namespace and name, managed or not.
    pub fn link(&self, ns: &Netns, name: &str) -> Option<&LinkDump> {
        let n = self.namespace(ns)?;
        n.managed
            .iter()
            .chain(n.unmanaged.iter())
            .find(|l| l.name == name)
    }
}
