//! MACVLANs: a link the agent makes on top of another item's link (its parent), with a MAC of
//! its own, in any namespace: CNI's macvlan plugin, as an interface item. An extension of
//! vpp-agent's model in its style: the settings are the `macvlan` member of the interface's
//! `link` choice, and the parent is named by its logical name, as a veth names its peer, so
//! that it is a dependency the item waits for (a host's NIC is an EXISTING item).

use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, InterfaceType, MacAddr, ValidationError};

/// How a MACVLAN's traffic meets its siblings' on the same parent (`IFLA_MACVLAN_MODE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MacvlanMode {
    /// Siblings talk to each other directly (CNI's default, and the zero value here).
    #[default]
    Bridge,
    /// Siblings never talk to each other, not even through the outside switch.
    Private,
    /// Siblings talk only through the outside switch (hairpin).
    Vepa,
    /// The one MACVLAN on its parent, taking over the parent's MAC: the kernel refuses a
    /// second one, or any other MACVLAN beside it (EINVAL).
    Passthru,
}

impl MacvlanMode {
    /// The kernel's `MACVLAN_MODE_*` bit.
    pub fn kernel_value(self) -> u32 {
        match self {
            MacvlanMode::Private => 1,
            MacvlanMode::Vepa => 2,
            MacvlanMode::Bridge => 4,
            MacvlanMode::Passthru => 8,
        }
    }

    /// The mode of a kernel's `MACVLAN_MODE_*` value, if it is one of these (not `source`).
    pub fn from_kernel(value: u32) -> Option<MacvlanMode> {
        [
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Bridge,
            MacvlanMode::Passthru,
        ]
        .into_iter()
        .find(|m| m.kernel_value() == value)
    }

    /// The proto enum's name, as written in the model.
    pub fn name(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "BRIDGE",
            MacvlanMode::Private => "PRIVATE",
            MacvlanMode::Vepa => "VEPA",
            MacvlanMode::Passthru => "PASSTHRU",
        }
    }
}

/// A MACVLAN's settings, fixed when it is made: a change makes it again (the kernel changes a
/// mode in place, but not to or from passthru, and never the parent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MacvlanSettings {
    /// The interface item (its logical name) whose link is the parent.
    pub parent: String,
    pub mode: MacvlanMode,
}

/// A MACVLAN's settings: required for it (the parent), refused on any other type.
pub(super) fn macvlan_settings(
    kind: InterfaceType,
    macvlan: Option<&wire::Macvlan>,
    name: &str,
) -> Result<Option<MacvlanSettings>, ValidationError> {
    let m = match (kind, macvlan) {
        (InterfaceType::Macvlan, Some(m)) if !m.parent_interface.is_empty() => m,
        (InterfaceType::Macvlan, _) => return Err(ValidationError::new(
            "macvlan.parent_interface",
            "missing; a MACVLAN names the interface (its logical name) whose link is its parent",
        )),
        (_, Some(_)) => {
            return Err(ValidationError::new(
                "macvlan",
                format!("macvlan settings are for type MACVLAN only, not {kind:?}"),
            ))
        }
        (_, None) => return Ok(None),
    };
    check_logical_name("macvlan.parent_interface", &m.parent_interface)?;
    if m.parent_interface == name {
        return Err(ValidationError::new(
            "macvlan.parent_interface",
            "a MACVLAN cannot be its own parent",
        ));
    }
    let mode = match m.mode.as_deref() {
        None | Some("BRIDGE") => MacvlanMode::Bridge,
        Some("PRIVATE") => MacvlanMode::Private,
        Some("VEPA") => MacvlanMode::Vepa,
        Some("PASSTHRU") => MacvlanMode::Passthru,
        Some(other) => {
            return Err(ValidationError::new(
                "macvlan.mode",
                format!("'{other}' is not one of BRIDGE, PRIVATE, VEPA, PASSTHRU"),
            ))
        }
    };
    Ok(Some(MacvlanSettings {
        parent: m.parent_interface.clone(),
        mode,
    }))
}

/// A PASSTHRU MACVLAN has its parent's MAC, and setting its own sets the parent's (as
/// measured): the parent's item says the MAC, never this one.
pub(super) fn check_passthru_mac(
    macvlan: Option<&MacvlanSettings>,
    phys_address: Option<&MacAddr>,
) -> Result<(), ValidationError> {
    match (macvlan.map(|m| m.mode), phys_address) {
        (Some(MacvlanMode::Passthru), Some(mac)) => Err(ValidationError::new(
            "phys_address",
            format!("a PASSTHRU MACVLAN has its parent's MAC, and setting {mac} here would change the parent's; set it on the parent's interface"),
        )),
        _ => Ok(()),
    }
}

impl From<&MacvlanSettings> for wire::Macvlan {
    fn from(m: &MacvlanSettings) -> Self {
        wire::Macvlan {
            parent_interface: m.parent.clone(),
            mode: (m.mode != MacvlanMode::Bridge).then(|| m.mode.name().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_macvlan(parent: &str, mode: Option<&str>) -> wire::Macvlan {
        wire::Macvlan {
            parent_interface: parent.into(),
            mode: mode.map(str::to_string),
        }
    }

    #[test]
    fn a_macvlan_names_another_item_as_its_parent() {
        let ok = macvlan_settings(
            InterfaceType::Macvlan,
            Some(&wire_macvlan("eth0", Some("VEPA"))),
            "m1",
        );
        assert_eq!(
            ok,
            Ok(Some(MacvlanSettings {
                parent: "eth0".into(),
                mode: MacvlanMode::Vepa
            }))
        );
        for (m, field) in [
            (None, "macvlan.parent_interface"),
            (Some(wire_macvlan("", None)), "macvlan.parent_interface"),
            (Some(wire_macvlan("m1", None)), "macvlan.parent_interface"),
            (Some(wire_macvlan("a/b", None)), "macvlan.parent_interface"),
            (Some(wire_macvlan("eth0", Some("SOURCE"))), "macvlan.mode"),
        ] {
            let e = macvlan_settings(InterfaceType::Macvlan, m.as_ref(), "m1").unwrap_err();
            assert_eq!(e.field, field, "{m:?}");
        }
    }

    #[test]
    fn a_passthru_macvlan_leaves_its_mac_to_the_parent() {
        let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        let s = |mode| MacvlanSettings {
            parent: "p".into(),
            mode,
        };
        let e = check_passthru_mac(Some(&s(MacvlanMode::Passthru)), Some(&mac)).unwrap_err();
        assert_eq!(e.field, "phys_address");
        assert_eq!(
            check_passthru_mac(Some(&s(MacvlanMode::Passthru)), None),
            Ok(())
        );
        assert_eq!(
            check_passthru_mac(Some(&s(MacvlanMode::Bridge)), Some(&mac)),
            Ok(())
        );
    }

    #[test]
    fn settings_are_for_macvlans_only() {
        let e = macvlan_settings(InterfaceType::Veth, Some(&wire_macvlan("eth0", None)), "v1")
            .unwrap_err();
        assert_eq!(e.field, "macvlan");
        assert_eq!(macvlan_settings(InterfaceType::Veth, None, "v1"), Ok(None));
    }

    #[test]
    fn modes_map_to_the_kernel_bits_and_back() {
        for m in [
            MacvlanMode::Bridge,
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Passthru,
        ] {
            assert_eq!(MacvlanMode::from_kernel(m.kernel_value()), Some(m));
            let w = wire::Macvlan::from(&MacvlanSettings {
                parent: "p".into(),
                mode: m,
            });
            let back = macvlan_settings(InterfaceType::Macvlan, Some(&w), "x").unwrap();
            assert_eq!(back.map(|s| s.mode), Some(m));
        }
        // source (16) needs a list of MACs, which the model does not carry.
        assert_eq!(MacvlanMode::from_kernel(16), None);
    }
}
