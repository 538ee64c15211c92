//! The `tap` settings of an interface, for its two TAP types: TAP_TO_VPP names the TAP someone
//! else (VPP) makes (`vpp_tap_if_name`), TAP (nsagent's extension) is a persistent Linux TAP
//! the agent makes itself, with who may attach to it and whether it has several queues. Each
//! setting is refused on the other type.

use serde::{Deserialize, Serialize};

use super::validation::check_host_name;
use super::{wire, InterfaceType, ValidationError};

/// A TAP's settings, fixed when it is made (`TUNSETIFF`, `TUNSETOWNER`, `TUNSETGROUP`): a
/// change makes it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TapSettings {
    /// The user that may attach to it; `None`: anyone the kernel lets (CAP_NET_ADMIN).
    pub owner: Option<u32>,
    /// The group that may attach to it; `None`: no group.
    pub group: Option<u32>,
    /// `IFF_MULTI_QUEUE`: one queue per attaching file descriptor.
    pub multi_queue: bool,
}

/// The `tap` message of an interface: the TAP a TAP_TO_VPP item takes over (required for it),
/// or a TAP's settings (the defaults when it gives none).
pub(super) fn tap_settings(
    kind: InterfaceType,
    tap: Option<&wire::Tap>,
) -> Result<(Option<String>, Option<TapSettings>), ValidationError> {
    let default = wire::Tap::default();
    let t = tap.unwrap_or(&default);
    let sets_tap = t.owner != 0 || t.group != 0 || t.multi_queue;
    let name = t.vpp_tap_if_name.as_str();
    match kind {
        InterfaceType::TapToVpp if name.is_empty() => Err(ValidationError::new(
            "tap.vpp_tap_if_name",
            "missing; a TAP_TO_VPP interface names the TAP it takes over from the default namespace",
        )),
        InterfaceType::TapToVpp if sets_tap => Err(ValidationError::new(
            "tap",
            "owner, group and multi_queue are for type TAP, whose TAP the agent makes; a TAP_TO_VPP's is made by VPP",
        )),
        InterfaceType::TapToVpp => {
            check_host_name("tap.vpp_tap_if_name", name)?;
            Ok((Some(name.to_string()), None))
        }
        InterfaceType::Tap if !name.is_empty() => Err(ValidationError::new(
            "tap.vpp_tap_if_name",
            "for type TAP_TO_VPP only; a TAP's link is named by host_if_name",
        )),
        InterfaceType::Tap => Ok((
            None,
            Some(TapSettings {
                owner: Some(t.owner).filter(|o| *o != 0),
                group: Some(t.group).filter(|g| *g != 0),
                multi_queue: t.multi_queue,
            }),
        )),
        _ if !name.is_empty() => Err(ValidationError::new(
            "tap",
            format!("TAP settings (vpp_tap_if_name) are for type TAP_TO_VPP only, not {kind:?}"),
        )),
        // Zeros, as generators write every field, are no settings.
        _ if sets_tap => Err(ValidationError::new(
            "tap",
            format!("TAP settings (owner, group, multi_queue) are for type TAP only, not {kind:?}"),
        )),
        _ => Ok((None, None)),
    }
}

/// The `tap` message written back for an item.
pub(super) fn to_wire(vpp_tap: Option<&str>, tap: Option<&TapSettings>) -> Option<wire::Tap> {
    if vpp_tap.is_none() && tap.is_none() {
        return None;
    }
    let t = tap.copied().unwrap_or_default();
    Some(wire::Tap {
        vpp_tap_if_name: vpp_tap.unwrap_or_default().to_string(),
        owner: t.owner.unwrap_or(0),
        group: t.group.unwrap_or(0),
        multi_queue: t.multi_queue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(owner: u32, multi_queue: bool, vpp: &str) -> wire::Tap {
        wire::Tap {
            vpp_tap_if_name: vpp.into(),
            owner,
            group: 0,
            multi_queue,
        }
    }

    #[test]
    fn each_setting_belongs_to_its_type() {
        let e = tap_settings(InterfaceType::TapToVpp, Some(&tap(1000, false, "t0"))).unwrap_err();
        assert_eq!(e.field, "tap");
        let e = tap_settings(InterfaceType::Tap, Some(&tap(0, false, "t0"))).unwrap_err();
        assert_eq!(e.field, "tap.vpp_tap_if_name");
        let e = tap_settings(InterfaceType::Dummy, Some(&tap(0, true, ""))).unwrap_err();
        assert_eq!(e.field, "tap");
        let e = tap_settings(InterfaceType::TapToVpp, None).unwrap_err();
        assert_eq!(e.field, "tap.vpp_tap_if_name");
    }

    #[test]
    fn a_tap_without_settings_has_the_defaults_and_zero_is_unset() {
        assert_eq!(
            tap_settings(InterfaceType::Tap, None),
            Ok((None, Some(TapSettings::default())))
        );
        let (_, s) = tap_settings(InterfaceType::Tap, Some(&tap(1000, true, ""))).unwrap();
        assert_eq!(
            s,
            Some(TapSettings {
                owner: Some(1000),
                group: None,
                multi_queue: true
            })
        );
        let back = to_wire(None, s.as_ref()).unwrap();
        assert_eq!((back.owner, back.group, back.multi_queue), (1000, 0, true));
        assert!(to_wire(None, None).is_none());
        assert_eq!(
            tap_settings(InterfaceType::TapToVpp, Some(&tap(0, false, "t0"))),
            Ok((Some("t0".into()), None))
        );
    }
}
