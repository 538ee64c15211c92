//! The JSON shapes as published. Kept apart from the validated types so that the rest of the
//! code never handles an unchecked value: only `validate` turns one into a model type.

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Defaulted: protobuf-JSON's `""` is unset and left out, and `validate` says it is empty.
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: InterfaceTypeName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_if_name: String,
    /// Absent and `false` differ: a borrowed link's admin state is left as it is when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phys_address: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth: Option<Veth>,
    /// vpp-agent's TAP link settings, for TAP_TO_VPP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap: Option<Tap>,
    /// vpp-agent's VRF device settings, for VRF_DEVICE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf_dev: Option<VrfDev>,
    /// The VRF_DEVICE interface (its logical name) the link is enslaved to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vrf_master_interface: String,
    /// nsagent's extension: bridge settings, for BRIDGE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<Bridge>,
    /// nsagent's extension: the BRIDGE interface (its logical name) the link is a port of.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bridge_master_interface: String,
    /// nsagent's extension: MACVLAN settings, for MACVLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan: Option<Macvlan>,
    /// nsagent's extension: VXLAN settings, for VXLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<Vxlan>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Vxlan {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub vni: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dst_port: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub underlay_interface: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_learning: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Macvlan {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stp: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vlan_filtering: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ageing_time_seconds: u32,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tap {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vpp_tap_if_name: String,
    /// nsagent's extension, for TAP: the user and group that may attach (0: anyone allowed
    /// to, as the kernel's -1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub owner: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub group: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_queue: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VrfDev {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub routing_table: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum InterfaceTypeName {
    #[default]
    #[serde(rename = "UNDEFINED")]
    Undefined,
    #[serde(rename = "VETH")]
    Veth,
    #[serde(rename = "TAP_TO_VPP")]
    TapToVpp,
    #[serde(rename = "LOOPBACK")]
    Loopback,
    #[serde(rename = "EXISTING")]
    Existing,
    #[serde(rename = "VRF_DEVICE")]
    VrfDevice,
    #[serde(rename = "DUMMY")]
    Dummy,
    /// nsagent's extension (numbers from 100 on, clear of vpp-agent's own).
    #[serde(rename = "BRIDGE")]
    Bridge,
    #[serde(rename = "TAP")]
    Tap,
    #[serde(rename = "MACVLAN")]
    Macvlan,
    #[serde(rename = "VXLAN")]
    Vxlan,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    #[serde(rename = "type", default)]
    pub kind: NamespaceTypeName,
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum NamespaceTypeName {
    #[default]
    #[serde(rename = "UNDEFINED")]
    Undefined,
    #[serde(rename = "NSID")]
    Nsid,
    #[serde(rename = "PID")]
    Pid,
    #[serde(rename = "FD")]
    Fd,
    #[serde(rename = "MICROSERVICE")]
    Microservice,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Veth {
    #[serde(default)]
    pub peer_if_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_checksum_offloading: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_checksum_offloading: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArpEntry {
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub ip_address: String,
    #[serde(default)]
    pub hw_address: String,
}

/// nsagent's extension: a VXLAN's forwarding database entry.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FdbEntry {
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub hw_address: String,
    #[serde(default)]
    pub remote_ip: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub outgoing_interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<RouteScopeName>,
    #[serde(default)]
    pub dst_network: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gw_addr: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub metric: u32,
    /// nsagent's extensions, below.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub table: u32,
    #[serde(default, rename = "type", skip_serializing_if = "is_default")]
    pub route_type: RouteTypeName,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub src_addr: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_hops: Vec<NextHop>,
}

/// One path of a multipath (ECMP) route: nsagent's extension.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub outgoing_interface: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gw_addr: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RouteTypeName {
    #[default]
    #[serde(rename = "UNICAST")]
    Unicast,
    #[serde(rename = "LOCAL")]
    Local,
    #[serde(rename = "BLACKHOLE")]
    Blackhole,
    #[serde(rename = "UNREACHABLE")]
    Unreachable,
    #[serde(rename = "PROHIBIT")]
    Prohibit,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RouteScopeName {
    #[default]
    #[serde(rename = "UNDEFINED")]
    Undefined,
    #[serde(rename = "GLOBAL")]
    Global,
    #[serde(rename = "SITE")]
    Site,
    #[serde(rename = "LINK")]
    Link,
    #[serde(rename = "HOST")]
    Host,
}

/// `ligato.linux.iptables.RuleChain`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleChain {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: ChainProtocolName,
    #[serde(default, skip_serializing_if = "is_default")]
    pub table: ChainTableName,
    #[serde(default, skip_serializing_if = "is_default")]
    pub chain_type: ChainTypeName,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chain_name: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub default_policy: ChainPolicyName,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// nsagent's extension: a routing policy database entry (`policy_rule.rs`).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub family: RuleFamilyName,
    #[serde(default, skip_serializing_if = "is_default")]
    pub priority: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub src_network: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dst_network: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub incoming_interface: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub outgoing_interface: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub fwmark: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub fwmask: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub table: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub action: RuleActionName,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RuleFamilyName {
    #[default]
    #[serde(rename = "IPV4")]
    Ipv4,
    #[serde(rename = "IPV6")]
    Ipv6,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RuleActionName {
    #[default]
    #[serde(rename = "LOOKUP")]
    Lookup,
    #[serde(rename = "BLACKHOLE")]
    Blackhole,
    #[serde(rename = "UNREACHABLE")]
    Unreachable,
    #[serde(rename = "PROHIBIT")]
    Prohibit,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ChainProtocolName {
    #[default]
    #[serde(rename = "IPV4")]
    Ipv4,
    #[serde(rename = "IPV6")]
    Ipv6,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ChainTableName {
    #[default]
    #[serde(rename = "FILTER")]
    Filter,
    #[serde(rename = "NAT")]
    Nat,
    #[serde(rename = "MANGLE")]
    Mangle,
    #[serde(rename = "RAW")]
    Raw,
    #[serde(rename = "SECURITY")]
    Security,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ChainTypeName {
    #[default]
    #[serde(rename = "CUSTOM")]
    Custom,
    #[serde(rename = "INPUT")]
    Input,
    #[serde(rename = "OUTPUT")]
    Output,
    #[serde(rename = "FORWARD")]
    Forward,
    #[serde(rename = "PREROUTING")]
    Prerouting,
    #[serde(rename = "POSTROUTING")]
    Postrouting,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ChainPolicyName {
    #[default]
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "ACCEPT")]
    Accept,
    #[serde(rename = "DROP")]
    Drop,
    #[serde(rename = "QUEUE")]
    Queue,
    #[serde(rename = "RETURN")]
    Return,
}
