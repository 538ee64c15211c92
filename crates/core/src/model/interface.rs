//! Interface items: validated vpp-agent `Interface` values.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::bridge::{bridge_master, bridge_settings, BridgeSettings};
use super::macvlan::{check_passthru_mac, macvlan_settings, MacvlanSettings};
use super::tap::{tap_settings, TapSettings};
use super::validation::{check_host_name, check_logical_name, MTU_MAX, MTU_MIN};
use super::vxlan::{vxlan_settings, VxlanSettings};
use super::{wire, MacAddr, ValidationError};
use crate::netns::NamespaceRef;

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
    /// vpp-agent's TAP_TO_VPP: the Linux side of a TAP someone else (VPP) creates in the
    /// default namespace; taken from there into the item's namespace under its name,
    /// configured, and given back when the item goes. (Last, so that logs keep their encoding.)
    TapToVpp,
    /// A VRF device (an L3 master with its own routing table), created and deleted by the agent.
    Vrf,
    /// A Linux bridge, created and deleted by the agent (`bridge.rs`).
    Bridge,
    /// A persistent Linux TAP, created and deleted by the agent (`tap.rs`).
    Tap,
    /// A MACVLAN on another item's link, created and deleted by the agent (`macvlan.rs`).
    Macvlan,
    /// A VXLAN tunnel, on an underlay item's link or none, created and deleted by the agent
    /// (`vxlan.rs`).
    Vxlan,
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
    /// The admin state asked for. `None` (only for the borrowed kinds, EXISTING and LOOPBACK,
    /// when the item does not say) leaves the link's admin state as it is; an owned link is
    /// the agent's own, so an absent `enabled` means down, as in vpp-agent.
    #[serde(with = "admin_state")]
    pub enabled: Option<bool>,
    /// Addresses in the order given, duplicates removed.
    pub ip_addresses: Vec<IpNet>,
    pub phys_address: Option<MacAddr>,
    /// `None` leaves the kernel's MTU alone.
    pub mtu: Option<u32>,
    /// Logical name of the other end, for `Veth` only.
    pub veth_peer: Option<String>,
    /// vpp-agent's `link_only`: configure the link itself but neither addresses nor MAC; the
    /// listed addresses are then what the interface's routes and neighbours wait for.
    pub link_only: bool,
    /// vpp-agent's `veth.rx_checksum_offloading` and `tx_checksum_offloading`; a VETH's only.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub checksum_offload: ChecksumOffload,
    /// For TAP_TO_VPP: the name the TAP has in the default namespace when its creator made it
    /// (`tap.vpp_tap_if_name`), where the agent finds it and gives it back.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub vpp_tap: Option<String>,
    /// For VRF_DEVICE: the routing table its members' routes go to (`vrf_dev.routing_table`).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub vrf_table: Option<u32>,
    /// The VRF_DEVICE item (its logical name) whose link this one is enslaved to
    /// (`vrf_master_interface`): the link waits for it, and routes through it go to its table.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub vrf_master: Option<String>,
    /// For BRIDGE: its settings (`bridge`), the kernel's defaults where not given.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub bridge: Option<BridgeSettings>,
    /// The BRIDGE item (its logical name) whose link this one is a port of
    /// (`bridge_master_interface`): the link waits for it, as a VRF's member waits for its VRF.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub bridge_master: Option<String>,
    /// For TAP: its settings (`tap.owner`, `tap.group`, `tap.multi_queue`).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub tap: Option<TapSettings>,
    /// For MACVLAN: its parent and mode (`macvlan`); boxed, as few items have one.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub macvlan: Option<Box<MacvlanSettings>>,
    /// For VXLAN: its tunnel and underlay (`vxlan`); boxed, as few items have one.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub vxlan: Option<Box<VxlanSettings>>,
}

impl Interface {
    /// The item (its logical name) whose link this one's is to be enslaved to, a VRF or a
    /// bridge: a link has at most one master.
    pub fn master(&self) -> Option<&str> {
        self.vrf_master.as_deref().or(self.bridge_master.as_deref())
    }

    /// For a MACVLAN: the item (its logical name) whose link is its parent.
    pub fn macvlan_parent(&self) -> Option<&str> {
        self.macvlan.as_ref().map(|m| m.parent.as_str())
    }

    /// The item (its logical name) whose link this one's is made on: a MACVLAN's parent, a
    /// VXLAN's underlay. The kernel deletes such a link with its parent's.
    pub fn parent(&self) -> Option<&str> {
        self.macvlan_parent()
            .or_else(|| self.vxlan.as_ref().and_then(|v| v.underlay.as_deref()))
    }

    /// The other interface items this one names: its veth peer, its master, its parent.
    pub fn named_interfaces(&self) -> impl Iterator<Item = &str> {
        self.veth_peer
            .as_deref()
            .into_iter()
            .chain(self.master())
            .chain(self.parent())
    }
}

/// Whether a link's checksums are offloaded (left to the "device": for a veth, not computed at
/// all), each way; `None` leaves the kernel's setting, which for a veth is on. vpp-agent turns
/// it off for veths carrying traffic into VPP, which would otherwise drop packets with partial
/// checksums. Set through the kernel's ethtool features (`rx-checksum`, and the
/// `tx-checksum-*` features together, as the legacy ethtool call did: netlink-backend's
/// `ethtool.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChecksumOffload {
    pub rx: Option<bool>,
    pub tx: Option<bool>,
}

impl ChecksumOffload {
    /// What of `want` differs from what `seen` says (an unknown value differs).
    pub fn change_from(&self, seen: &ChecksumOffload) -> ChecksumOffload {
        ChecksumOffload {
            rx: self.rx.filter(|w| seen.rx != Some(*w)),
            tx: self.tx.filter(|w| seen.tx != Some(*w)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_none() && self.tx.is_none()
    }
}

impl wire::Interface {
    /// Checks the fields in the order they are listed in vpp-agent's model, and reports the
    /// first problem: publishers fix one field at a time, so the order must be stable.
    pub(super) fn validate(self) -> Result<Interface, ValidationError> {
        check_logical_name("name", &self.name)?;
        let kind = interface_type(self.kind)?;
        // protojson leaves zero values out before this point, so only settings with an effect
        // are refused here.
        let (vpp_tap, tap) = tap_settings(kind, self.tap.as_ref())?;
        let vrf_table = vrf_table(kind, self.vrf_dev.as_ref())?;
        let vrf_master = vrf_master(kind, &self.vrf_master_interface, &self.name)?;
        let bridge = bridge_settings(kind, self.bridge.as_ref())?;
        let macvlan = macvlan_settings(kind, self.macvlan.as_ref(), &self.name)?.map(Box::new);
        let vxlan = vxlan_settings(kind, self.vxlan.as_ref(), &self.name)?.map(Box::new);
        let bridge_master = bridge_master(
            kind,
            &self.bridge_master_interface,
            &self.name,
            vrf_master.as_deref(),
        )?;
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
        check_owned_not_lo(kind, host_field, &host_if_name)?;
        let ip_addresses = ip_addresses(&self.ip_addresses)?;
        let phys_address = phys_address(&self.phys_address)?;
        check_passthru_mac(macvlan.as_deref(), phys_address.as_ref())?;
        let mtu = mtu(self.mtu, &ip_addresses)?;
        let veth_peer = veth_peer(kind, self.veth.as_ref(), &self.name)?;
        let checksum_offload = self
            .veth
            .as_ref()
            .map(checksum_offload)
            .transpose()?
            .unwrap_or_default();
        Ok(Interface {
            name: self.name,
            kind,
            namespace,
            host_if_name,
            enabled: enabled(kind, self.enabled),
            ip_addresses,
            phys_address,
            mtu,
            veth_peer,
            link_only: self.link_only,
            checksum_offload,
            vpp_tap,
            vrf_table,
            vrf_master,
            bridge,
            bridge_master,
            tap,
            macvlan,
            vxlan,
        })
    }
}

/// A VRF device's table: required, and not one of the tables every namespace has (253
/// `default`, 254 `main`, 255 `local`), which the VRF's members would then share with the host.
fn vrf_table(
    kind: InterfaceType,
    dev: Option<&wire::VrfDev>,
) -> Result<Option<u32>, ValidationError> {
    let table = dev.map(|d| d.routing_table).unwrap_or(0);
    match (kind, table) {
        (InterfaceType::Vrf, 0) => Err(ValidationError::new(
            "vrf_dev.routing_table",
            "missing; a VRF_DEVICE names the routing table of its members' routes",
        )),
        (InterfaceType::Vrf, 253..=255) => Err(ValidationError::new(
            "vrf_dev.routing_table",
            format!("{table} is one of the tables every namespace has (default, main, local); pick another"),
        )),
        (InterfaceType::Vrf, t) => Ok(Some(t)),
        (_, 0) => Ok(None),
        (_, _) => Err(ValidationError::new(
            "vrf_dev",
            format!("VRF settings are for type VRF_DEVICE only, not {kind:?}"),
        )),
    }
}

/// The VRF a link is enslaved to: a logical name, never the item itself, and not for a VRF
/// (the kernel refuses to enslave an L3 master) or a namespace's `lo` (never enslaved).
fn vrf_master(
    kind: InterfaceType,
    master: &str,
    name: &str,
) -> Result<Option<String>, ValidationError> {
    const FIELD: &str = "vrf_master_interface";
    if master.is_empty() {
        return Ok(None);
    }
    check_logical_name(FIELD, master)?;
    let why = match kind {
        InterfaceType::Vrf => "a VRF_DEVICE cannot be enslaved to a VRF",
        InterfaceType::Loopback => "a namespace's lo cannot be enslaved to a VRF",
        _ if master == name => "an interface cannot be its own VRF",
        _ => return Ok(Some(master.to_string())),
    };
    Err(ValidationError::new(FIELD, why))
}

/// A link the agent creates is down unless asked; one it borrows keeps its admin state unless
/// the item sets it, since taking a host's link down would cut whoever uses it.
fn enabled(kind: InterfaceType, enabled: Option<bool>) -> Option<bool> {
    match kind {
        InterfaceType::Veth
        | InterfaceType::Dummy
        | InterfaceType::Vrf
        | InterfaceType::Bridge
        | InterfaceType::Tap
        | InterfaceType::Macvlan
        | InterfaceType::Vxlan => Some(enabled.unwrap_or(false)),
        InterfaceType::Existing | InterfaceType::Loopback | InterfaceType::TapToVpp => enabled,
    }
}

/// `enabled` as snapshots and logs store it: a set value as the bool it always was (so that
/// version 1's positional records, which hold a bare bool, read as set), not set as nil.
mod admin_state {
    use serde::de::{Deserializer, Error, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_bool(*b),
            None => s.serialize_unit(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        // Positional formats cannot say what comes next; the self-describing ones can.
        if d.is_human_readable() {
            d.deserialize_any(AdminState)
        } else {
            d.deserialize_bool(AdminState)
        }
    }

    struct AdminState;

    impl<'de> Visitor<'de> for AdminState {
        type Value = Option<bool>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a bool or nil")
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<Option<bool>, E> {
            Ok(Some(v))
        }
        fn visit_unit<E: Error>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_none<E: Error>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }
    }
}

/// Every namespace already has its `lo`, which the kernel never lets go: creating a link of that
/// name fails with EEXIST on every retry, so it is refused here instead.
fn check_owned_not_lo(
    kind: InterfaceType,
    field: &str,
    host_if_name: &str,
) -> Result<(), ValidationError> {
    let owned = matches!(
        kind,
        InterfaceType::Veth
            | InterfaceType::Dummy
            | InterfaceType::Vrf
            | InterfaceType::Bridge
            | InterfaceType::Tap
            | InterfaceType::Macvlan
            | InterfaceType::Vxlan
    );
    if owned && host_if_name == "lo" {
        return Err(ValidationError::new(
            field,
            format!("'lo' is the namespace's loopback, which a {kind:?} cannot be created as; use type LOOPBACK to configure it"),
        ));
    }
    Ok(())
}

fn interface_type(kind: wire::InterfaceTypeName) -> Result<InterfaceType, ValidationError> {
    use wire::InterfaceTypeName as T;
    match kind {
        T::Veth => Ok(InterfaceType::Veth),
        T::Loopback => Ok(InterfaceType::Loopback),
        T::Existing => Ok(InterfaceType::Existing),
        T::Dummy => Ok(InterfaceType::Dummy),
        T::TapToVpp => Ok(InterfaceType::TapToVpp),
        T::VrfDevice => Ok(InterfaceType::Vrf),
        T::Bridge => Ok(InterfaceType::Bridge),
        T::Tap => Ok(InterfaceType::Tap),
        T::Macvlan => Ok(InterfaceType::Macvlan),
        T::Vxlan => Ok(InterfaceType::Vxlan),
        T::Undefined => Err(ValidationError::new(
            "type",
            "missing; one of VETH, TAP_TO_VPP, LOOPBACK, EXISTING, VRF_DEVICE, DUMMY, BRIDGE, TAP, MACVLAN, VXLAN",
        )),
    }
}

/// Unicast host addresses with their prefix, in the order given, duplicates dropped.
fn ip_addresses(texts: &[String]) -> Result<Vec<IpNet>, ValidationError> {
    let mut ip_addresses: Vec<IpNet> = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let net: IpNet = text.parse().map_err(|_| {
            ValidationError::new(
                format!("ip_addresses[{i}]"),
                format!("'{text}' is not an address with a prefix length (e.g. 192.168.22.1/24)"),
            )
        })?;
        let limited_broadcast = net.addr() == std::net::IpAddr::from([255, 255, 255, 255]);
        if net.addr().is_unspecified() || net.addr().is_multicast() || limited_broadcast {
            return Err(ValidationError::new(
                format!("ip_addresses[{i}]"),
                format!("'{text}' is not a unicast host address"),
            ));
        }
        if !ip_addresses.contains(&net) {
            ip_addresses.push(net);
        }
    }
    Ok(ip_addresses)
}

/// An interface's MAC, if given: it must be unicast and not zero.
fn phys_address(text: &str) -> Result<Option<MacAddr>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let mac: MacAddr = text
        .parse()
        .map_err(|reason: String| ValidationError::new("phys_address", reason))?;
    if mac.is_multicast() || mac.0 == [0; 6] {
        return Err(ValidationError::new(
            "phys_address",
            format!("'{mac}' is a multicast or zero address; an interface needs a unicast MAC"),
        ));
    }
    Ok(Some(mac))
}

/// The MTU, if given (0 leaves it alone): in range, and not below the IPv6 minimum when the
/// interface has IPv6 addresses, which Linux would drop.
fn mtu(mtu: u32, ip_addresses: &[IpNet]) -> Result<Option<u32>, ValidationError> {
    let mtu = match mtu {
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
                format!(
                    "{m} is below 1280, the IPv6 minimum, so Linux would drop ip_addresses[{v6}]"
                ),
            ));
        }
    }
    Ok(mtu)
}

/// A VETH's peer: required for a VETH, and another item; no other type may have veth settings.
fn veth_peer(
    kind: InterfaceType,
    veth: Option<&wire::Veth>,
    name: &str,
) -> Result<Option<String>, ValidationError> {
    let veth = match (kind, veth) {
        (InterfaceType::Veth, Some(veth)) if !veth.peer_if_name.is_empty() => veth,
        (InterfaceType::Veth, _) => {
            return Err(ValidationError::new(
                "veth.peer_if_name",
                "a VETH must name its peer",
            ))
        }
        (_, Some(_)) => {
            return Err(ValidationError::new(
                "veth",
                format!("only a VETH has veth settings, this is {:?}", kind),
            ))
        }
        (_, None) => return Ok(None),
    };
    check_logical_name("veth.peer_if_name", &veth.peer_if_name)?;
    if veth.peer_if_name == name {
        return Err(ValidationError::new(
            "veth.peer_if_name",
            "a VETH cannot be its own peer",
        ));
    }
    Ok(Some(veth.peer_if_name.clone()))
}

/// vpp-agent's `ChecksumOffloading` values, each way.
fn checksum_offload(veth: &wire::Veth) -> Result<ChecksumOffload, ValidationError> {
    let one = |field: &str, value: &Option<String>| {
        match value.as_deref() {
        None | Some("CHKSM_OFFLOAD_DEFAULT") => Ok(None),
        Some("CHKSM_OFFLOAD_ENABLED") => Ok(Some(true)),
        Some("CHKSM_OFFLOAD_DISABLED") => Ok(Some(false)),
        Some(other) => Err(ValidationError::new(
            field,
            format!("'{other}' is not one of CHKSM_OFFLOAD_DEFAULT, CHKSM_OFFLOAD_ENABLED, CHKSM_OFFLOAD_DISABLED"),
        )),
    }
    };
    Ok(ChecksumOffload {
        rx: one("veth.rx_checksum_offloading", &veth.rx_checksum_offloading)?,
        tx: one("veth.tx_checksum_offloading", &veth.tx_checksum_offloading)?,
    })
}

fn checksum_name(on: Option<bool>) -> Option<String> {
    let name = match on? {
        true => "CHKSM_OFFLOAD_ENABLED",
        false => "CHKSM_OFFLOAD_DISABLED",
    };
    Some(name.to_string())
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
                InterfaceType::TapToVpp => T::TapToVpp,
                InterfaceType::Vrf => T::VrfDevice,
                InterfaceType::Bridge => T::Bridge,
                InterfaceType::Tap => T::Tap,
                InterfaceType::Macvlan => T::Macvlan,
                InterfaceType::Vxlan => T::Vxlan,
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
                rx_checksum_offloading: checksum_name(i.checksum_offload.rx),
                tx_checksum_offloading: checksum_name(i.checksum_offload.tx),
            }),
            tap: super::tap::to_wire(i.vpp_tap.as_deref(), i.tap.as_ref()),
            vrf_dev: i.vrf_table.map(|t| wire::VrfDev { routing_table: t }),
            vrf_master_interface: i.vrf_master.clone().unwrap_or_default(),
            bridge: i.bridge.as_ref().map(wire::Bridge::from),
            bridge_master_interface: i.bridge_master.clone().unwrap_or_default(),
            macvlan: i.macvlan.as_deref().map(wire::Macvlan::from),
            vxlan: i.vxlan.as_deref().map(wire::Vxlan::from),
        }
    }
}
