//! A bridge's settings as rtnetlink carries them: the attributes of `IFLA_INFO_DATA` when
//! `IFLA_INFO_KIND` is "bridge" (`include/uapi/linux/if_link.h`), written on creation and on a
//! change, read back from a dump. Only what is asked for is written: a kernel built without
//! VLAN filtering refuses `IFLA_BR_VLAN_FILTERING` whatever its value.

use neli::consts::rtnl::IflaInfo;
use neli::rtnl::Rtattr;
use neli::types::Buffer;
use nsagent_core::{BridgeChange, BridgeSettings, DEFAULT_AGEING_TIME_SECONDS};

use crate::message::{attr, enc, info_attr, Result};

/// `IFLA_BR_AGEING_TIME` (u32, hundredths of a second).
const IFLA_BR_AGEING_TIME: u16 = 4;
/// `IFLA_BR_STP_STATE` (u32: 0 off, 1 the kernel's STP, 2 a user-space daemon's).
const IFLA_BR_STP_STATE: u16 = 5;
/// `IFLA_BR_VLAN_FILTERING` (u8).
const IFLA_BR_VLAN_FILTERING: u16 = 7;

/// The kernel counts ageing in hundredths of a second (`clock_t`, USER_HZ 100).
const HUNDREDTHS: u32 = 100;

/// The `IFLA_INFO_DATA` of a bridge being created: what differs from the kernel's defaults.
pub(crate) fn creation_data(b: &BridgeSettings) -> Result<Option<Rtattr<IflaInfo, Buffer>>> {
    data(&BridgeChange {
        stp: Some(b.stp).filter(|s| *s),
        vlan_filtering: Some(b.vlan_filtering).filter(|v| *v),
        ageing_time_seconds: Some(b.ageing_time_seconds)
            .filter(|s| *s != DEFAULT_AGEING_TIME_SECONDS),
    })
}

/// The `IFLA_INFO_DATA` of a change: only the settings it changes; `None` when there are none.
pub(crate) fn data(change: &BridgeChange) -> Result<Option<Rtattr<IflaInfo, Buffer>>> {
    let mut attrs = Vec::new();
    if let Some(stp) = change.stp {
        attrs.push(attr(IFLA_BR_STP_STATE, u32::from(stp))?);
    }
    if let Some(s) = change.ageing_time_seconds {
        attrs.push(attr(IFLA_BR_AGEING_TIME, s.saturating_mul(HUNDREDTHS))?);
    }
    if let Some(v) = change.vlan_filtering {
        attrs.push(attr(IFLA_BR_VLAN_FILTERING, u8::from(v))?);
    }
    if attrs.is_empty() {
        return Ok(None);
    }
    let mut data = attr(IflaInfo::Data, Buffer::new())?;
    for a in &attrs {
        data = data.nest(a).map_err(enc)?;
    }
    Ok(Some(data))
}

/// A dumped bridge's settings, from its `IFLA_INFO_DATA` payload. An ageing time that is not
/// a whole number of seconds (set by hand in hundredths) reads as the whole seconds below it
/// plus one, so that it differs from any whole value an item asks for and is set again.
pub(crate) fn settings_of(data: &[u8]) -> BridgeSettings {
    let u32_at = |ty| {
        info_attr(data, ty)
            .and_then(|p| p.get(..4))
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let ageing = u32_at(IFLA_BR_AGEING_TIME).map_or(DEFAULT_AGEING_TIME_SECONDS, |h| {
        h / HUNDREDTHS + u32::from(h % HUNDREDTHS != 0)
    });
    BridgeSettings {
        stp: u32_at(IFLA_BR_STP_STATE).is_some_and(|s| s != 0),
        vlan_filtering: info_attr(data, IFLA_BR_VLAN_FILTERING)
            .and_then(|p| p.first())
            .is_some_and(|v| *v != 0),
        ageing_time_seconds: ageing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neli::ToBytes;
    use std::io::Cursor;

    fn bytes(a: &Rtattr<IflaInfo, Buffer>) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        a.to_bytes(&mut out).expect("encoded");
        out.into_inner()
    }

    /// The layout `ip link add br type bridge stp_state 1 ageing_time 1000` sends (read with
    /// strace): IFLA_INFO_DATA { IFLA_BR_STP_STATE u32 1, IFLA_BR_AGEING_TIME u32 1000 }.
    #[cfg(target_endian = "little")]
    #[test]
    fn a_creation_carries_only_what_differs_from_the_defaults() {
        let b = BridgeSettings {
            stp: true,
            vlan_filtering: false,
            ageing_time_seconds: 10,
        };
        let data = creation_data(&b).expect("encoded").expect("some");
        assert_eq!(
            bytes(&data),
            vec![
                20, 0, 2, 0, // IFLA_INFO_DATA
                8, 0, 5, 0, 1, 0, 0, 0, // IFLA_BR_STP_STATE 1
                8, 0, 4, 0, 0xe8, 3, 0, 0, // IFLA_BR_AGEING_TIME 1000
            ]
        );
        assert!(creation_data(&BridgeSettings::default())
            .expect("encoded")
            .is_none());
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_change_carries_vlan_filtering_only_when_it_changes() {
        let off = BridgeChange {
            vlan_filtering: Some(false),
            ..BridgeChange::default()
        };
        let data = data(&off).expect("encoded").expect("some");
        // IFLA_BR_VLAN_FILTERING, u8 0, padded to 8.
        assert_eq!(bytes(&data), vec![12, 0, 2, 0, 5, 0, 7, 0, 0, 0, 0, 0]);
        assert!(super::data(&BridgeChange::default())
            .expect("encoded")
            .is_none());
    }

    #[test]
    fn settings_read_back_from_a_dump() {
        let payload = [
            8u8, 0, 4, 0, 0x30, 0x75, 0, 0, // ageing 30000
            8, 0, 5, 0, 1, 0, 0, 0, // stp 1
            5, 0, 7, 0, 1, 0, 0, 0, // vlan filtering 1
        ];
        let payload: Vec<u8> = payload
            .chunks(8)
            .flat_map(|c| {
                let mut c = c.to_vec();
                let (l, t) = (u16::from(c[0]), u16::from(c[2]));
                c[..2].copy_from_slice(&l.to_ne_bytes());
                c[2..4].copy_from_slice(&t.to_ne_bytes());
                if t != 7 {
                    let v = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                    c[4..8].copy_from_slice(&v.to_ne_bytes());
                }
                c
            })
            .collect();
        let s = settings_of(&payload);
        assert_eq!(
            s,
            BridgeSettings {
                stp: true,
                vlan_filtering: true,
                ageing_time_seconds: 300
            }
        );
        // 99 hundredths (what the kernel keeps of 1 after its jiffies round trip) is not 0 s.
        let odd = [8u8, 0, 4, 0, 99, 0, 0, 0];
        #[cfg(target_endian = "little")]
        assert_eq!(settings_of(&odd).ageing_time_seconds, 1);
        assert_eq!(settings_of(&[]), BridgeSettings::default());
    }
}
