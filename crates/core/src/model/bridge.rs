//! Bridges: BRIDGE interface items (a Linux bridge the agent creates, with the settings that
//! matter on container hosts) and `bridge_master_interface`, which makes any other link (a
//! veth end, a TAP, a borrowed link) a port of one. An extension of vpp-agent's model, in its
//! style: the settings are the `bridge` member of the interface's `link` choice, beside `veth`,
//! `tap` and `vrf_dev`.

use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, InterfaceType, ValidationError};

/// The kernel's default ageing time of a bridge's learnt MAC addresses (`ip link add type
/// bridge` gives 30000 hundredths of a second).
pub const DEFAULT_AGEING_TIME_SECONDS: u32 = 300;

/// The longest ageing time accepted: a day, which outlasts any sensible MAC table; beyond it a
/// typo (milliseconds for seconds) is likelier than intent.
pub const MAX_AGEING_TIME_SECONDS: u32 = 86_400;

/// A bridge's settings, as an owned BRIDGE has them: what is not said is the kernel's default
/// (STP off, VLAN filtering off, 300 s ageing), so that taking a setting out of an item puts
/// the default back rather than leaving what was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BridgeSettings {
    /// The kernel's own spanning tree (`IFLA_BR_STP_STATE` 1).
    pub stp: bool,
    /// `IFLA_BR_VLAN_FILTERING`: ports pass only the VLANs configured on them. Kernels built
    /// without `CONFIG_BRIDGE_VLAN_FILTERING` refuse the attribute (EOPNOTSUPP), even to say 0.
    pub vlan_filtering: bool,
    /// How long a learnt MAC address stays in the bridge's table, in seconds (the kernel counts
    /// in hundredths, `IFLA_BR_AGEING_TIME`; whole seconds convert exactly both ways).
    pub ageing_time_seconds: u32,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        BridgeSettings {
            stp: false,
            vlan_filtering: false,
            ageing_time_seconds: DEFAULT_AGEING_TIME_SECONDS,
        }
    }
}

/// A BRIDGE's settings: the defaults when it says none; no other type may carry them.
pub(super) fn bridge_settings(
    kind: InterfaceType,
    bridge: Option<&wire::Bridge>,
) -> Result<Option<BridgeSettings>, ValidationError> {
    let Some(b) = bridge else {
        return Ok((kind == InterfaceType::Bridge).then(BridgeSettings::default));
    };
    if kind != InterfaceType::Bridge {
        return Err(ValidationError::new(
            "bridge",
            format!("bridge settings are for type BRIDGE only, not {kind:?}"),
        ));
    }
    let ageing_time_seconds = match b.ageing_time_seconds {
        0 => DEFAULT_AGEING_TIME_SECONDS,
        s if s > MAX_AGEING_TIME_SECONDS => {
            return Err(ValidationError::new(
                "bridge.ageing_time_seconds",
                format!("{s} is over {MAX_AGEING_TIME_SECONDS} (a day); the time is in seconds (0: the default, {DEFAULT_AGEING_TIME_SECONDS})"),
            ))
        }
        s => s,
    };
    Ok(Some(BridgeSettings {
        stp: b.stp,
        vlan_filtering: b.vlan_filtering,
        ageing_time_seconds,
    }))
}

/// The bridge a link is a port of: a logical name, never the item itself, and not for what the
/// kernel refuses as a port (a bridge: ELOOP; a namespace's `lo`: EINVAL), nor beside a VRF
/// (a link has one master).
pub(super) fn bridge_master(
    kind: InterfaceType,
    master: &str,
    name: &str,
    vrf_master: Option<&str>,
) -> Result<Option<String>, ValidationError> {
    const FIELD: &str = "bridge_master_interface";
    if master.is_empty() {
        return Ok(None);
    }
    check_logical_name(FIELD, master)?;
    let why = match kind {
        InterfaceType::Bridge => "a BRIDGE cannot be a port of a bridge (the kernel refuses it)",
        InterfaceType::Vrf => "a VRF_DEVICE cannot be a port of a bridge",
        InterfaceType::Loopback => "a namespace's lo cannot be a port of a bridge",
        _ if master == name => "an interface cannot be its own bridge",
        _ if vrf_master.is_some() => {
            "a link has one master: vrf_master_interface is set as well; enslave the BRIDGE to the VRF instead"
        }
        _ => return Ok(Some(master.to_string())),
    };
    Err(ValidationError::new(FIELD, why))
}

impl From<&BridgeSettings> for wire::Bridge {
    fn from(b: &BridgeSettings) -> Self {
        wire::Bridge {
            stp: b.stp,
            vlan_filtering: b.vlan_filtering,
            ageing_time_seconds: if b.ageing_time_seconds == DEFAULT_AGEING_TIME_SECONDS {
                0
            } else {
                b.ageing_time_seconds
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_bridge(stp: bool, ageing: u32) -> wire::Bridge {
        wire::Bridge {
            stp,
            vlan_filtering: false,
            ageing_time_seconds: ageing,
        }
    }

    #[test]
    fn a_bridge_without_settings_has_the_kernel_defaults() {
        assert_eq!(
            bridge_settings(InterfaceType::Bridge, None),
            Ok(Some(BridgeSettings::default()))
        );
        assert_eq!(bridge_settings(InterfaceType::Veth, None), Ok(None));
    }

    #[test]
    fn settings_are_for_bridges_only_and_the_ageing_time_is_bounded() {
        let e = bridge_settings(InterfaceType::Dummy, Some(&wire_bridge(true, 0))).unwrap_err();
        assert_eq!(e.field, "bridge");
        let e =
            bridge_settings(InterfaceType::Bridge, Some(&wire_bridge(false, 86_401))).unwrap_err();
        assert_eq!(e.field, "bridge.ageing_time_seconds");
        assert!(e.reason.contains("seconds"), "{e}");
        let ok = bridge_settings(InterfaceType::Bridge, Some(&wire_bridge(true, 30)))
            .unwrap()
            .unwrap();
        assert!(ok.stp);
        assert_eq!(ok.ageing_time_seconds, 30);
    }

    #[test]
    fn a_port_names_another_item_and_only_one_master() {
        assert_eq!(
            bridge_master(InterfaceType::Veth, "br0", "v1", None),
            Ok(Some("br0".into()))
        );
        for (kind, name, vrf) in [
            (InterfaceType::Bridge, "b1", None),
            (InterfaceType::Vrf, "v1", None),
            (InterfaceType::Loopback, "lo1", None),
            (InterfaceType::Veth, "br0", None),
            (InterfaceType::Veth, "v1", Some("vrf1")),
        ] {
            let e = bridge_master(kind, "br0", name, vrf).unwrap_err();
            assert_eq!(e.field, "bridge_master_interface", "{kind:?} {name}");
        }
        assert_eq!(bridge_master(InterfaceType::Veth, "", "v1", None), Ok(None));
    }

    #[test]
    fn the_default_ageing_time_is_written_as_unset() {
        let w = wire::Bridge::from(&BridgeSettings::default());
        assert_eq!(w.ageing_time_seconds, 0);
        let w = wire::Bridge::from(&BridgeSettings {
            ageing_time_seconds: 10,
            ..BridgeSettings::default()
        });
        assert_eq!(w.ageing_time_seconds, 10);
    }
}
