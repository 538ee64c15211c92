//! The configuration model: what users publish, in the JSON shape of vpp-agent's Linux model
//! (`ligato.linux.interfaces.Interface`, `ligato.linux.l3.ARPEntry`, `ligato.linux.l3.Route`),
//! so that files written for vpp-agent load unchanged.
//!
//! Values are decoded with [`Item::decode`], which checks both the JSON shape and the meaning
//! (names, addresses, references) and reports the first problem as a [`ValidationError`] naming
//! the field. A decoded [`Item`] is therefore always valid; the core never sees bad input.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::netns::NamespaceRef;

/// Key prefix of interface items.
pub const INTERFACE_PREFIX: &str = "config/linux/interfaces/v2/interface/";
/// Key prefix of ARP (permanent neighbour) items.
pub const ARP_PREFIX: &str = "config/linux/l3/v2/arp/";
/// Key prefix of route items.
pub const ROUTE_PREFIX: &str = "config/linux/l3/v2/route/";

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_HOST_NAME_LEN: usize = 15;
/// MTU bounds: 68 is the IPv4 minimum (RFC 791), 65535 the largest a veth accepts.
pub const MTU_MIN: u32 = 68;
pub const MTU_MAX: u32 = 65535;

/// A rejected value: which field, and why. Shown to publishers as `{"field", "reason"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A 48-bit Ethernet address, written `aa:bb:cc:dd:ee:ff` in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts
                .next()
                .ok_or_else(|| format!("'{s}' has fewer than 6 octets"))?;
            if part.len() != 2 {
                return Err(format!("'{s}' is not six two-digit hex octets"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| format!("'{part}' in '{s}' is not hex"))?;
        }
        if parts.next().is_some() {
            return Err(format!("'{s}' has more than 6 octets"));
        }
        Ok(MacAddr(out))
    }
}

/// Kind of link an interface item describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InterfaceType {
    /// One end of a veth pair; the other end is another item named in `veth.peer_if_name`.
    Veth,
    /// A namespace's `lo`: never created or deleted, only configured.
    Loopback,
    /// A link someone else created: configured, never created or deleted.
    Existing,
    /// A dummy link, created and deleted by the agent.
    Dummy,
}

/// Scope of a route, as in `rtm_scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RouteScope {
    Global,
    Site,
    Link,
    Host,
}

impl RouteScope {
    /// The `rtm_scope` value the kernel uses.
    pub fn rtm_scope(self) -> u8 {
        match self {
            RouteScope::Global => 0,
            RouteScope::Site => 200,
            RouteScope::Link => 253,
            RouteScope::Host => 254,
        }
    }
}

/// A validated interface item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Logical name: the item's identity and the last segment of its key.
    pub name: String,
    pub kind: InterfaceType,
    pub namespace: NamespaceRef,
    /// Name of the link in the kernel.
    pub host_if_name: String,
    pub enabled: bool,
    /// Addresses in the order given, duplicates removed.
    pub ip_addresses: Vec<IpNet>,
    pub phys_address: Option<MacAddr>,
    /// `None` leaves the kernel's MTU alone.
    pub mtu: Option<u32>,
    /// Logical name of the other end, for `Veth` only.
    pub veth_peer: Option<String>,
    /// vpp-agent's `link_only`: configure the link itself but neither addresses nor MAC.
    pub link_only: bool,
}

/// A validated permanent neighbour (ARP/NDP) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpEntry {
    /// Logical name of the interface item the entry lives on.
    pub interface: String,
    pub ip_address: IpAddr,
    pub hw_address: MacAddr,
}

/// A validated static route in the main table of its interface's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Logical name of the interface item the route leaves through.
    pub outgoing_interface: String,
    /// Destination network, host bits zero.
    pub dst_network: IpNet,
    pub gw_addr: Option<IpAddr>,
    pub metric: u32,
    pub scope: RouteScope,
}

/// Identity of an item: what its key says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ItemKey {
    Interface(String),
    Arp { interface: String, ip: IpAddr },
    Route { dst: IpNet, interface: String },
}

impl ItemKey {
    /// The logical interface name this item is about or depends on.
    pub fn interface(&self) -> &str {
        match self {
            ItemKey::Interface(name) => name,
            ItemKey::Arp { interface, .. } | ItemKey::Route { interface, .. } => interface,
        }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemKey::Interface(name) => write!(f, "{INTERFACE_PREFIX}{name}"),
            ItemKey::Arp { interface, ip } => write!(f, "{ARP_PREFIX}{interface}/{ip}"),
            ItemKey::Route { dst, interface } => write!(f, "{ROUTE_PREFIX}{dst}/{interface}"),
        }
    }
}

impl FromStr for ItemKey {
    type Err = ValidationError;
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| ValidationError::new("key", reason);
        if let Some(name) = key.strip_prefix(INTERFACE_PREFIX) {
            check_logical_name("key", name)?;
            return Ok(ItemKey::Interface(name.to_string()));
        }
        if let Some(rest) = key.strip_prefix(ARP_PREFIX) {
            let (interface, ip) = rest
                .split_once('/')
                .ok_or_else(|| bad(format!("'{key}' is not {ARP_PREFIX}<interface>/<ip>")))?;
            check_logical_name("key", interface)?;
            let ip = ip
                .parse()
                .map_err(|_| bad(format!("'{ip}' in '{key}' is not an IP address")))?;
            return Ok(ItemKey::Arp {
                interface: interface.to_string(),
                ip,
            });
        }
        if let Some(rest) = key.strip_prefix(ROUTE_PREFIX) {
            // The destination itself contains a '/', so the interface is the last segment.
            let (dst, interface) = rest.rsplit_once('/').ok_or_else(|| {
                bad(format!(
                    "'{key}' is not {ROUTE_PREFIX}<dst-network>/<interface>"
                ))
            })?;
            check_logical_name("key", interface)?;
            let dst = dst
                .parse()
                .map_err(|_| bad(format!("'{dst}' in '{key}' is not a CIDR network")))?;
            return Ok(ItemKey::Route {
                dst,
                interface: interface.to_string(),
            });
        }
        Err(bad(format!(
            "'{key}' has no known prefix ({INTERFACE_PREFIX}, {ARP_PREFIX}, {ROUTE_PREFIX})"
        )))
    }
}

/// One validated item of desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Item {
    Interface(Interface),
    Arp(ArpEntry),
    Route(Route),
}

impl Item {
    /// The key this item is stored under.
    pub fn key(&self) -> ItemKey {
        match self {
            Item::Interface(i) => ItemKey::Interface(i.name.clone()),
            Item::Arp(a) => ItemKey::Arp {
                interface: a.interface.clone(),
                ip: a.ip_address,
            },
            Item::Route(r) => ItemKey::Route {
                dst: r.dst_network,
                interface: r.outgoing_interface.clone(),
            },
        }
    }

    /// Decodes and validates the JSON value published under `key`. The key decides which model
    /// the value must follow, and the value must name the same item as the key.
    pub fn decode(key: &str, value: &serde_json::Value) -> Result<Item, ValidationError> {
        let parsed_key: ItemKey = key.parse()?;
        let item = match parsed_key {
            ItemKey::Interface(_) => {
                Item::Interface(wire_from_value::<wire::Interface>(value)?.validate()?)
            }
            ItemKey::Arp { .. } => Item::Arp(wire_from_value::<wire::ArpEntry>(value)?.validate()?),
            ItemKey::Route { .. } => {
                Item::Route(wire_from_value::<wire::Route>(value)?.validate()?)
            }
        };
        let derived = item.key();
        if derived != parsed_key {
            return Err(ValidationError::new(
                "key",
                format!("key '{key}' does not match the value, which names '{derived}'"),
            ));
        }
        Ok(item)
    }

    /// Decodes a value whose key is derived from the value itself (files given to `nsagentctl
    /// put`). The kind of item is guessed from the fields present, as vpp-agent's files carry none.
    pub fn decode_unkeyed(value: &serde_json::Value) -> Result<Item, ValidationError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ValidationError::new("value", "expected a JSON object"))?;
        if obj.contains_key("outgoing_interface") || obj.contains_key("dst_network") {
            Ok(Item::Route(
                wire_from_value::<wire::Route>(value)?.validate()?,
            ))
        } else if obj.contains_key("hw_address") || obj.contains_key("ip_address") {
            Ok(Item::Arp(
                wire_from_value::<wire::ArpEntry>(value)?.validate()?,
            ))
        } else if obj.contains_key("name") {
            Ok(Item::Interface(
                wire_from_value::<wire::Interface>(value)?.validate()?,
            ))
        } else {
            Err(ValidationError::new(
                "value",
                "cannot tell the item kind: expected an interface (name), ARP entry (interface, ip_address, hw_address) or route (outgoing_interface, dst_network)",
            ))
        }
    }

    /// The JSON form of this item, in vpp-agent's shape.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Item::Interface(i) => serde_json::to_value(wire::Interface::from(i)),
            Item::Arp(a) => serde_json::to_value(wire::ArpEntry::from(a)),
            Item::Route(r) => serde_json::to_value(wire::Route::from(r)),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

fn wire_from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, ValidationError> {
    T::deserialize(value).map_err(|e| {
        // serde_json names unknown fields and type mismatches in its message; keep it, and pull
        // the field name out when it is there so clients can point at it.
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
            .unwrap_or("value")
            .to_string();
        ValidationError::new(field, msg)
    })
}

/// Logical names are key segments: non-empty, no '/', no whitespace or control characters.
fn check_logical_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(field, "name is empty"));
    }
    if name.len() > 255 {
        return Err(ValidationError::new(
            field,
            format!("name is {} bytes long, the limit is 255", name.len()),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(ValidationError::new(
            field,
            format!("name '{}' contains {:?}", name.escape_debug(), c),
        ));
    }
    Ok(())
}

/// The kernel's own rule for interface names (`dev_valid_name`).
pub fn check_host_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(field, "interface name is empty"));
    }
    if name.len() > MAX_HOST_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' is {} bytes long; Linux allows at most {MAX_HOST_NAME_LEN}",
                name.escape_debug(),
                name.len()
            ),
        ));
    }
    if name == "." || name == ".." {
        return Err(ValidationError::new(
            field,
            format!("'{name}' is not a valid interface name"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | ':' | '\0') || c.is_whitespace())
    {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' contains {:?}, which Linux does not allow in interface names",
                name.escape_debug(),
                c
            ),
        ));
    }
    Ok(())
}

/// The JSON shapes as published. Kept apart from the validated types so that the rest of the
/// code never handles an unchecked value.
pub(crate) mod wire {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Default, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Interface {
        pub name: String,
        #[serde(rename = "type", default)]
        pub kind: InterfaceTypeName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub namespace: Option<Namespace>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub host_if_name: String,
        #[serde(default)]
        pub enabled: bool,
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
        /// vpp-agent's TAP link settings; nsagent does not manage TAPs, see `validate`.
        #[serde(default, skip_serializing)]
        pub tap: Option<serde_json::Value>,
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
}

impl wire::Interface {
    fn validate(self) -> Result<Interface, ValidationError> {
        use wire::InterfaceTypeName as T;
        check_logical_name("name", &self.name)?;
        let kind = match self.kind {
            T::Veth => InterfaceType::Veth,
            T::Loopback => InterfaceType::Loopback,
            T::Existing => InterfaceType::Existing,
            T::Dummy => InterfaceType::Dummy,
            T::Undefined => {
                return Err(ValidationError::new(
                    "type",
                    "missing; one of VETH, LOOPBACK, EXISTING, DUMMY",
                ))
            }
            T::TapToVpp | T::VrfDevice => {
                return Err(ValidationError::new(
                    "type",
                    format!(
                    "{:?} is not supported by nsagent; supported: VETH, LOOPBACK, EXISTING, DUMMY",
                    self.kind
                ),
                ))
            }
        };
        if self.tap.is_some() {
            return Err(ValidationError::new(
                "tap",
                "TAP settings are not supported by nsagent",
            ));
        }
        let namespace = match &self.namespace {
            None => NamespaceRef::Default,
            Some(ns) => NamespaceRef::from_wire(ns.kind, &ns.reference)?,
        };
        let host_if_name = if !self.host_if_name.is_empty() {
            self.host_if_name.clone()
        } else if kind == InterfaceType::Loopback {
            "lo".to_string()
        } else {
            self.name.clone()
        };
        let host_field = if self.host_if_name.is_empty() {
            "name"
        } else {
            "host_if_name"
        };
        check_host_name(host_field, &host_if_name)?;

        let mut ip_addresses: Vec<IpNet> = Vec::with_capacity(self.ip_addresses.len());
        for (i, text) in self.ip_addresses.iter().enumerate() {
            let net: IpNet = text.parse().map_err(|_| {
                ValidationError::new(
                    format!("ip_addresses[{i}]"),
                    format!(
                        "'{text}' is not an address with a prefix length (e.g. 192.168.22.1/24)"
                    ),
                )
            })?;
            if net.addr().is_unspecified() || net.addr().is_multicast() {
                return Err(ValidationError::new(
                    format!("ip_addresses[{i}]"),
                    format!("'{text}' is not a unicast host address"),
                ));
            }
            if !ip_addresses.contains(&net) {
                ip_addresses.push(net);
            }
        }
        let phys_address = if self.phys_address.is_empty() {
            None
        } else {
            let mac: MacAddr = self
                .phys_address
                .parse()
                .map_err(|reason: String| ValidationError::new("phys_address", reason))?;
            if mac.is_multicast() || mac.0 == [0; 6] {
                return Err(ValidationError::new(
                    "phys_address",
                    format!(
                        "'{mac}' is a multicast or zero address; an interface needs a unicast MAC"
                    ),
                ));
            }
            Some(mac)
        };
        let mtu = match self.mtu {
            0 => None,
            m if !(MTU_MIN..=MTU_MAX).contains(&m) => {
                return Err(ValidationError::new(
                    "mtu",
                    format!("{m} is out of range {MTU_MIN}..={MTU_MAX} (0 leaves the MTU alone)"),
                ))
            }
            m => Some(m),
        };
        if let (Some(m), Some(v6)) = (mtu, ip_addresses.iter().position(|a| a.addr().is_ipv6())) {
            if m < 1280 {
                return Err(ValidationError::new(
                    "mtu",
                    format!("{m} is below 1280, the IPv6 minimum, so Linux would drop ip_addresses[{v6}]"),
                ));
            }
        }
        let veth_peer = match (kind, &self.veth) {
            (InterfaceType::Veth, None) => {
                return Err(ValidationError::new(
                    "veth.peer_if_name",
                    "a VETH must name its peer",
                ))
            }
            (InterfaceType::Veth, Some(veth)) => {
                if veth.peer_if_name.is_empty() {
                    return Err(ValidationError::new(
                        "veth.peer_if_name",
                        "a VETH must name its peer",
                    ));
                }
                check_logical_name("veth.peer_if_name", &veth.peer_if_name)?;
                if veth.peer_if_name == self.name {
                    return Err(ValidationError::new(
                        "veth.peer_if_name",
                        "a VETH cannot be its own peer",
                    ));
                }
                for (field, value) in [
                    ("veth.rx_checksum_offloading", &veth.rx_checksum_offloading),
                    ("veth.tx_checksum_offloading", &veth.tx_checksum_offloading),
                ] {
                    if let Some(v) = value {
                        if v != "CHKSM_OFFLOAD_DEFAULT" {
                            return Err(ValidationError::new(
                                field,
                                format!(
                                    "{v} is not supported by nsagent; only CHKSM_OFFLOAD_DEFAULT"
                                ),
                            ));
                        }
                    }
                }
                Some(veth.peer_if_name.clone())
            }
            (_, Some(_)) => {
                return Err(ValidationError::new(
                    "veth",
                    format!("only a VETH has veth settings, this is {:?}", kind),
                ))
            }
            (_, None) => None,
        };
        Ok(Interface {
            name: self.name,
            kind,
            namespace,
            host_if_name,
            enabled: self.enabled,
            ip_addresses,
            phys_address,
            mtu,
            veth_peer,
            link_only: self.link_only,
        })
    }
}

impl From<&Interface> for wire::Interface {
    fn from(i: &Interface) -> Self {
        use wire::InterfaceTypeName as T;
        let default_host = if i.kind == InterfaceType::Loopback {
            "lo"
        } else {
            i.name.as_str()
        };
        wire::Interface {
            name: i.name.clone(),
            kind: match i.kind {
                InterfaceType::Veth => T::Veth,
                InterfaceType::Loopback => T::Loopback,
                InterfaceType::Existing => T::Existing,
                InterfaceType::Dummy => T::Dummy,
            },
            namespace: i.namespace.to_wire(),
            host_if_name: if i.host_if_name == default_host {
                String::new()
            } else {
                i.host_if_name.clone()
            },
            enabled: i.enabled,
            ip_addresses: i.ip_addresses.iter().map(|a| a.to_string()).collect(),
            phys_address: i.phys_address.map(|m| m.to_string()).unwrap_or_default(),
            mtu: i.mtu.unwrap_or(0),
            link_only: i.link_only,
            veth: i.veth_peer.as_ref().map(|p| wire::Veth {
                peer_if_name: p.clone(),
                ..Default::default()
            }),
            tap: None,
        }
    }
}

impl wire::ArpEntry {
    fn validate(self) -> Result<ArpEntry, ValidationError> {
        check_logical_name("interface", &self.interface)?;
        let ip_address: IpAddr = self.ip_address.parse().map_err(|_| {
            ValidationError::new(
                "ip_address",
                format!("'{}' is not an IP address", self.ip_address),
            )
        })?;
        if ip_address.is_unspecified() || ip_address.is_multicast() {
            return Err(ValidationError::new(
                "ip_address",
                format!("'{ip_address}' is not a unicast address"),
            ));
        }
        if self.hw_address.is_empty() {
            return Err(ValidationError::new("hw_address", "missing"));
        }
        let hw_address = self
            .hw_address
            .parse()
            .map_err(|reason: String| ValidationError::new("hw_address", reason))?;
        Ok(ArpEntry {
            interface: self.interface,
            ip_address,
            hw_address,
        })
    }
}

impl From<&ArpEntry> for wire::ArpEntry {
    fn from(a: &ArpEntry) -> Self {
        wire::ArpEntry {
            interface: a.interface.clone(),
            ip_address: a.ip_address.to_string(),
            hw_address: a.hw_address.to_string(),
        }
    }
}

impl wire::Route {
    fn validate(self) -> Result<Route, ValidationError> {
        use wire::RouteScopeName as S;
        check_logical_name("outgoing_interface", &self.outgoing_interface)?;
        let dst_network: IpNet = self.dst_network.parse().map_err(|_| {
            ValidationError::new(
                "dst_network",
                format!(
                    "'{}' is not a CIDR network (e.g. 10.0.0.0/24)",
                    self.dst_network
                ),
            )
        })?;
        if dst_network.trunc() != dst_network {
            return Err(ValidationError::new(
                "dst_network",
                format!(
                    "'{dst_network}' has host bits set; the network is {}",
                    dst_network.trunc()
                ),
            ));
        }
        let gw_addr = if self.gw_addr.is_empty() {
            None
        } else {
            let gw: IpAddr = self.gw_addr.parse().map_err(|_| {
                ValidationError::new(
                    "gw_addr",
                    format!("'{}' is not an IP address", self.gw_addr),
                )
            })?;
            if gw.is_ipv4() != dst_network.addr().is_ipv4() {
                return Err(ValidationError::new(
                    "gw_addr",
                    format!("gateway {gw} and destination {dst_network} are of different address families"),
                ));
            }
            if gw.is_unspecified() || gw.is_multicast() {
                return Err(ValidationError::new(
                    "gw_addr",
                    format!("'{gw}' is not a unicast address"),
                ));
            }
            Some(gw)
        };
        let scope = match self.scope.unwrap_or_default() {
            // The kernel's default, as `ip route` picks it: a direct route is on-link.
            S::Undefined if gw_addr.is_none() => RouteScope::Link,
            S::Undefined | S::Global => RouteScope::Global,
            S::Site => RouteScope::Site,
            S::Link => RouteScope::Link,
            S::Host => RouteScope::Host,
        };
        if gw_addr.is_some() && matches!(scope, RouteScope::Link | RouteScope::Host) {
            return Err(ValidationError::new(
                "scope",
                format!("a {scope:?}-scope route cannot have a gateway (gw_addr): its destination is on-link"),
            ));
        }
        Ok(Route {
            outgoing_interface: self.outgoing_interface,
            dst_network,
            gw_addr,
            metric: self.metric,
            scope,
        })
    }
}

impl From<&Route> for wire::Route {
    fn from(r: &Route) -> Self {
        use wire::RouteScopeName as S;
        wire::Route {
            outgoing_interface: r.outgoing_interface.clone(),
            scope: Some(match r.scope {
                RouteScope::Global => S::Global,
                RouteScope::Site => S::Site,
                RouteScope::Link => S::Link,
                RouteScope::Host => S::Host,
            }),
            dst_network: r.dst_network.to_string(),
            gw_addr: r.gw_addr.map(|g| g.to_string()).unwrap_or_default(),
            metric: r.metric,
        }
    }
}
