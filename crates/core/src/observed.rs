//! What a backend reports it found in the kernel: the input of resync.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::command::{RouteSpec, RuleSpec};
use crate::model::{
    BridgeSettings, ChecksumOffload, MacAddr, MacvlanMode, TapSettings, VxlanTunnel,
};
use crate::netns::Netns;

/// The `rtm_protocol` of routes the agent installs unless told another
/// (`crate::check_route_protocol`). A route with the agent's protocol on a link it owns is the
/// agent's; anything else (kernel, dhcp, boot, other agents) is left alone.
pub const ROUTE_PROTOCOL: u8 = 4; // RTPROT_STATIC

/// The contents of some namespaces, and which of the asked-for namespaces do not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub namespaces: Vec<ObservedNamespace>,
    /// Namespaces that were asked for but could not be opened.
    pub missing: Vec<Netns>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedNamespace {
    pub ns: Netns,
    /// Every link in the namespace, managed or not.
    pub links: Vec<ObservedLink>,
    /// Routes of the main table whose protocol is [`ROUTE_PROTOCOL`].
    pub routes: Vec<RouteSpec>,
    /// Permanent neighbour entries.
    pub neighbours: Vec<ObservedNeighbour>,
    /// Policy rules whose protocol is the agent's, both families.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    Veth,
    Dummy,
    Loopback,
    Other,
    /// A VRF device.
    Vrf,
    /// A bridge.
    Bridge,
    /// A TAP (`tun` of type tap).
    Tap,
    /// A MACVLAN.
    Macvlan,
    /// A VXLAN. (Last, so that logged snapshots keep their encoding.)
    Vxlan,
}

impl LinkKind {
    /// Whether a link of this kind may be made on another (its parent), and deleted by the
    /// kernel with it.
    pub fn on_parent(self) -> bool {
        matches!(self, LinkKind::Macvlan | LinkKind::Vxlan)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedLink {
    pub name: String,
    pub kind: LinkKind,
    pub alias: Option<String>,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    /// Administrative state (`IFF_UP`).
    pub up: bool,
    pub addresses: Vec<IpNet>,
    /// For a veth: where its other end is, when the backend can tell (`IFLA_LINK` and
    /// `IFLA_LINK_NETNSID` resolved against the observed namespaces). Resync needs it to know
    /// what else goes when a stale end is removed.
    #[serde(default)]
    pub peer: Option<(Netns, String)>,
    /// For a veth: its checksum offloading as ethtool reports it; `None` each way where the
    /// backend does not look (other kinds of link).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub checksum_offload: ChecksumOffload,
    /// The link this one is enslaved to (`IFLA_MASTER`), by name: a VRF, a bridge.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub master: Option<String>,
    /// For a VRF: its routing table (`IFLA_VRF_TABLE`).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub vrf_table: Option<u32>,
    /// For a bridge: its settings.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub bridge: Option<BridgeSettings>,
    /// For a TAP: its settings.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub tap: Option<TapSettings>,
    /// For a MACVLAN: its mode.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub macvlan_mode: Option<MacvlanMode>,
    /// For a MACVLAN: where its parent is, for a VXLAN its underlay, when the backend can tell
    /// (`IFLA_LINK` or `IFLA_VXLAN_LINK`, and `IFLA_LINK_NETNSID`, resolved as a veth's peer
    /// is).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub parent: Option<(Netns, String)>,
    /// For a VXLAN: its tunnel.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub vxlan: Option<VxlanTunnel>,
    /// For a VXLAN: its permanent FDB entries that send to a VTEP (MAC, VTEP), the one the
    /// kernel keeps for its remote (the zero MAC) included.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub fdb: Vec<(MacAddr, IpAddr)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedNeighbour {
    pub link: String,
    pub ip: IpAddr,
    pub mac: MacAddr,
}
