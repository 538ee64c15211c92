//! The fields of vpp-agent's Linux proto messages (and nsagent's extensions of them) as the
//! protobuf-JSON mapping reads them: each field's proto name, its kind, the enums by name and
//! number, and which fields form the interface's `link` choice. `protojson.rs` walks a value
//! against these; nothing here reads a value.

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    U32,
    Bool,
    Strings,
    Enum(&'static [(&'static str, i64)]),
    Msg(&'static [Field]),
    /// A repeated message: each element is kept (an all-zero one as `{}`), so that an error
    /// names the element by the index the user gave it.
    Msgs(&'static [Field]),
    /// `NetNamespace`, or v1's union: the two are told apart by their fields.
    Namespace,
}

#[derive(Clone, Copy)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    /// The proto `oneof` the field belongs to: at most one of its fields may be set.
    pub(super) oneof: bool,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        oneof: false,
    }
}

const fn link(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        oneof: true,
    }
}

pub(super) const INTERFACE_TYPE: &[(&str, i64)] = &[
    ("UNDEFINED", 0),
    ("VETH", 1),
    ("TAP_TO_VPP", 2),
    ("LOOPBACK", 3),
    ("EXISTING", 4),
    ("VRF_DEVICE", 5),
    ("DUMMY", 6),
    // nsagent's extensions, numbered from 100 so that vpp-agent's later types never collide.
    ("BRIDGE", 101),
    ("TAP", 102),
    ("MACVLAN", 103),
    ("VXLAN", 104),
];
/// v1's `InterfaceType`, whose zero is VETH: an absent type is a VETH there.
pub(super) const INTERFACE_TYPE_V1: &[(&str, i64)] = &[("VETH", 0), ("AUTO_TAP", 1)];
pub(super) const CHECKSUM: &[(&str, i64)] = &[
    ("CHKSM_OFFLOAD_DEFAULT", 0),
    ("CHKSM_OFFLOAD_ENABLED", 1),
    ("CHKSM_OFFLOAD_DISABLED", 2),
];
pub(super) const MACVLAN_MODE: &[(&str, i64)] =
    &[("BRIDGE", 0), ("PRIVATE", 1), ("VEPA", 2), ("PASSTHRU", 3)];
pub(super) const NAMESPACE_TYPE: &[(&str, i64)] = &[
    ("UNDEFINED", 0),
    ("NSID", 1),
    ("PID", 2),
    ("FD", 3),
    ("MICROSERVICE", 4),
];
pub(super) const NAMESPACE_TYPE_V1: &[(&str, i64)] = &[
    ("PID_REF_NS", 0),
    ("MICROSERVICE_REF_NS", 1),
    ("NAMED_NS", 2),
    ("FILE_REF_NS", 3),
];
pub(super) const ROUTE_SCOPE: &[(&str, i64)] = &[
    ("UNDEFINED", 0),
    ("GLOBAL", 1),
    ("SITE", 2),
    ("LINK", 3),
    ("HOST", 4),
];

pub(super) const ROUTE_TYPE: &[(&str, i64)] = &[
    ("UNICAST", 0),
    ("LOCAL", 1),
    ("BLACKHOLE", 2),
    ("UNREACHABLE", 3),
    ("PROHIBIT", 4),
];

pub(super) const VETH: &[Field] = &[
    f("peer_if_name", Kind::Str),
    f("rx_checksum_offloading", Kind::Enum(CHECKSUM)),
    f("tx_checksum_offloading", Kind::Enum(CHECKSUM)),
];
pub(super) const TAP: &[Field] = &[
    f("vpp_tap_if_name", Kind::Str),
    f("owner", Kind::U32),
    f("group", Kind::U32),
    f("multi_queue", Kind::Bool),
];
pub(super) const VRF_DEV: &[Field] = &[f("routing_table", Kind::U32)];
pub(super) const BRIDGE: &[Field] = &[
    f("stp", Kind::Bool),
    f("vlan_filtering", Kind::Bool),
    f("ageing_time_seconds", Kind::U32),
];

pub(super) const MACVLAN: &[Field] = &[
    f("parent_interface", Kind::Str),
    f("mode", Kind::Enum(MACVLAN_MODE)),
];

pub(super) const VXLAN: &[Field] = &[
    f("vni", Kind::U32),
    f("local_ip", Kind::Str),
    f("remote_ip", Kind::Str),
    f("group", Kind::Str),
    f("dst_port", Kind::U32),
    f("underlay_interface", Kind::Str),
    f("no_learning", Kind::Bool),
];

pub(super) const INTERFACE: &[Field] = &[
    f("name", Kind::Str),
    f("type", Kind::Enum(INTERFACE_TYPE)),
    f("namespace", Kind::Namespace),
    f("host_if_name", Kind::Str),
    f("enabled", Kind::Bool),
    f("ip_addresses", Kind::Strings),
    f("phys_address", Kind::Str),
    f("mtu", Kind::U32),
    link("veth", Kind::Msg(VETH)),
    link("tap", Kind::Msg(TAP)),
    link("vrf_dev", Kind::Msg(VRF_DEV)),
    f("link_only", Kind::Bool),
    f("vrf_master_interface", Kind::Str),
    link("bridge", Kind::Msg(BRIDGE)),
    f("bridge_master_interface", Kind::Str),
    link("macvlan", Kind::Msg(MACVLAN)),
    link("vxlan", Kind::Msg(VXLAN)),
];

pub(super) const VETH_V1: &[Field] = &[f("peer_if_name", Kind::Str)];
pub(super) const TAP_V1: &[Field] = &[f("temp_if_name", Kind::Str)];
pub(super) const INTERFACE_V1: &[Field] = &[
    f("name", Kind::Str),
    f("description", Kind::Str),
    f("type", Kind::Enum(INTERFACE_TYPE_V1)),
    f("enabled", Kind::Bool),
    f("ip_addresses", Kind::Strings),
    f("phys_address", Kind::Str),
    f("mtu", Kind::U32),
    f("host_if_name", Kind::Str),
    f("namespace", Kind::Namespace),
    f("veth", Kind::Msg(VETH_V1)),
    f("tap", Kind::Msg(TAP_V1)),
];

pub(super) const ROUTE: &[Field] = &[
    f("outgoing_interface", Kind::Str),
    f("scope", Kind::Enum(ROUTE_SCOPE)),
    f("dst_network", Kind::Str),
    f("gw_addr", Kind::Str),
    f("metric", Kind::U32),
    f("table", Kind::U32),
    f("type", Kind::Enum(ROUTE_TYPE)),
    f("src_addr", Kind::Str),
    f("mtu", Kind::U32),
    f("next_hops", Kind::Msgs(NEXT_HOP)),
];

pub(super) const NEXT_HOP: &[Field] = &[
    f("outgoing_interface", Kind::Str),
    f("gw_addr", Kind::Str),
    f("weight", Kind::U32),
];

pub(super) const FDB: &[Field] = &[
    f("interface", Kind::Str),
    f("hw_address", Kind::Str),
    f("remote_ip", Kind::Str),
];
pub(super) const ARP: &[Field] = &[
    f("interface", Kind::Str),
    f("ip_address", Kind::Str),
    f("hw_address", Kind::Str),
];

pub(super) const CHAIN_PROTOCOL: &[(&str, i64)] = &[("IPV4", 0), ("IPV6", 1)];
pub(super) const CHAIN_TABLE: &[(&str, i64)] = &[
    ("FILTER", 0),
    ("NAT", 1),
    ("MANGLE", 2),
    ("RAW", 3),
    ("SECURITY", 4),
];
pub(super) const CHAIN_TYPE: &[(&str, i64)] = &[
    ("CUSTOM", 0),
    ("INPUT", 1),
    ("OUTPUT", 2),
    ("FORWARD", 3),
    ("PREROUTING", 4),
    ("POSTROUTING", 5),
];
pub(super) const CHAIN_POLICY: &[(&str, i64)] = &[
    ("NONE", 0),
    ("ACCEPT", 1),
    ("DROP", 2),
    ("QUEUE", 3),
    ("RETURN", 4),
];
pub(super) const RULE_CHAIN: &[Field] = &[
    f("name", Kind::Str),
    f("namespace", Kind::Namespace),
    f("interfaces", Kind::Strings),
    f("protocol", Kind::Enum(CHAIN_PROTOCOL)),
    f("table", Kind::Enum(CHAIN_TABLE)),
    f("chain_type", Kind::Enum(CHAIN_TYPE)),
    f("chain_name", Kind::Str),
    f("default_policy", Kind::Enum(CHAIN_POLICY)),
    f("rules", Kind::Strings),
];

pub(super) const RULE_FAMILY: &[(&str, i64)] = &[("IPV4", 0), ("IPV6", 1)];
pub(super) const RULE_ACTION: &[(&str, i64)] = &[
    ("LOOKUP", 0),
    ("BLACKHOLE", 1),
    ("UNREACHABLE", 2),
    ("PROHIBIT", 3),
];
pub(super) const POLICY_RULE: &[Field] = &[
    f("name", Kind::Str),
    f("namespace", Kind::Namespace),
    f("family", Kind::Enum(RULE_FAMILY)),
    f("priority", Kind::U32),
    f("src_network", Kind::Str),
    f("dst_network", Kind::Str),
    f("incoming_interface", Kind::Str),
    f("outgoing_interface", Kind::Str),
    f("fwmark", Kind::U32),
    f("fwmask", Kind::U32),
    f("table", Kind::U32),
    f("action", Kind::Enum(RULE_ACTION)),
];

pub(super) const NAMESPACE_V2: &[Field] = &[
    f("type", Kind::Enum(NAMESPACE_TYPE)),
    f("reference", Kind::Str),
];
pub(super) const NAMESPACE_V1: &[Field] = &[
    f("type", Kind::Enum(NAMESPACE_TYPE_V1)),
    f("pid", Kind::U32),
    f("microservice", Kind::Str),
    f("name", Kind::Str),
    f("filepath", Kind::Str),
];

/// The namespace fields of both forms: v2's `type` and `reference`, v1's `type` and the four
/// reference fields of its union.
pub(super) const NAMESPACE_FIELDS: &[&str] = &[
    "type",
    "reference",
    "pid",
    "microservice",
    "name",
    "filepath",
];
