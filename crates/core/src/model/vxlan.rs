//! VXLANs: a tunnel link the agent makes, carrying a bridge's frames over UDP to other hosts
//! (VTEPs), as CNI overlays do. An extension of vpp-agent's model in its style: the settings
//! are the `vxlan` member of the interface's `link` choice, and the underlay device is named by
//! its logical name, as a MACVLAN names its parent, so that it is a dependency the item waits
//! for. Without one the kernel routes the tunnel's packets as any others.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, InterfaceType, ValidationError};

/// The VXLAN port IANA assigned (the kernel's own default is Linux's old 8472).
pub const VXLAN_DEFAULT_PORT: u16 = 4789;
/// VNIs are 24 bits.
pub const VXLAN_MAX_VNI: u32 = (1 << 24) - 1;

/// What the kernel holds of a VXLAN, and what the agent asks it for: fixed when it is made (a
/// change makes it again, as the kernel refuses to change most of it in place). The default
/// (VNI 0) is no item's: what a look could not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VxlanTunnel {
    pub vni: u32,
    /// The source address of the tunnel's packets; `None`: the route's.
    pub local: Option<IpAddr>,
    /// The remote VTEP, or the multicast group of every VTEP of the VNI; `None`: only the
    /// forwarding database says where frames go (FDB items).
    pub remote: Option<IpAddr>,
    pub dst_port: u16,
    /// Whether the source VTEP of each frame received is learnt into the forwarding database.
    pub learning: bool,
}

impl VxlanTunnel {
    /// Whether the tunnel runs over IPv6 (its local or remote address says; IPv4 otherwise):
    /// the kernel's VXLAN_F_IPV6, which its headroom, its VNI's uniqueness and the family of
    /// its FDB entries' VTEPs follow.
    pub fn is_ipv6(&self) -> bool {
        self.local.or(self.remote).is_some_and(|a| a.is_ipv6())
    }

    /// The bytes of outer headers the tunnel adds (IPv4 or IPv6, UDP, VXLAN, Ethernet): the
    /// kernel keeps a VXLAN's MTU that far below its underlay's.
    pub fn headroom(&self) -> u32 {
        if self.is_ipv6() {
            70
        } else {
            50
        }
    }
}

/// A VXLAN item's settings: its tunnel, and the interface item (its logical name) whose link
/// is the underlay, if it names one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VxlanSettings {
    pub tunnel: VxlanTunnel,
    pub underlay: Option<String>,
}

/// A VXLAN's settings: required for it (the VNI), refused on any other type.
pub(super) fn vxlan_settings(
    kind: InterfaceType,
    vxlan: Option<&wire::Vxlan>,
    name: &str,
) -> Result<Option<VxlanSettings>, ValidationError> {
    let v = match (kind, vxlan) {
        (InterfaceType::Vxlan, Some(v)) if v.vni != 0 => v,
        (InterfaceType::Vxlan, _) => {
            return Err(ValidationError::new(
                "vxlan.vni",
                format!("missing; a VXLAN names its VNI (1 to {VXLAN_MAX_VNI})"),
            ))
        }
        (_, Some(_)) => {
            return Err(ValidationError::new(
                "vxlan",
                format!("vxlan settings are for type VXLAN only, not {kind:?}"),
            ))
        }
        (_, None) => return Ok(None),
    };
    if v.vni > VXLAN_MAX_VNI {
        return Err(ValidationError::new(
            "vxlan.vni",
            format!("{} is above {VXLAN_MAX_VNI}: VNIs are 24 bits", v.vni),
        ));
    }
    let local = address("vxlan.local_ip", &v.local_ip)?;
    if local.is_some_and(|a| a.is_multicast()) {
        return Err(ValidationError::new(
            "vxlan.local_ip",
            "a multicast address cannot be a tunnel's source",
        ));
    }
    let remote = remote(v)?;
    if let (Some(l), Some((field, r))) = (local, remote) {
        if l.is_ipv6() != r.is_ipv6() {
            return Err(ValidationError::new(
                field,
                format!("{r} and local_ip {l} are of different families; a tunnel has one"),
            ));
        }
    }
    let underlay = match v.underlay_interface.as_str() {
        "" => None,
        u => {
            check_logical_name("vxlan.underlay_interface", u)?;
            if u == name {
                return Err(ValidationError::new(
                    "vxlan.underlay_interface",
                    "a VXLAN cannot be its own underlay",
                ));
            }
            Some(u.to_string())
        }
    };
    if remote.is_some_and(|(f, _)| f == "vxlan.group") && underlay.is_none() {
        return Err(ValidationError::new(
            "vxlan.group",
            "a multicast group is joined on an underlay device: name it in underlay_interface",
        ));
    }
    let dst_port = match v.dst_port {
        0 => VXLAN_DEFAULT_PORT,
        p => u16::try_from(p).map_err(|_| {
            ValidationError::new(
                "vxlan.dst_port",
                format!("{p} is not a UDP port (1 to 65535)"),
            )
        })?,
    };
    Ok(Some(VxlanSettings {
        tunnel: VxlanTunnel {
            vni: v.vni,
            local,
            remote: remote.map(|(_, r)| r),
            dst_port,
            learning: !v.no_learning,
        },
        underlay,
    }))
}

fn address(field: &str, text: &str) -> Result<Option<IpAddr>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let a: IpAddr = text
        .parse()
        .map_err(|_| ValidationError::new(field, format!("'{text}' is not an IP address")))?;
    if a.is_unspecified() {
        return Err(ValidationError::new(
            field,
            format!("'{text}' is the unspecified address; leave the field out instead"),
        ));
    }
    Ok(Some(a))
}

/// The remote VTEP (`remote_ip`, unicast) or the group (`group`, multicast), at most one, with
/// the field it came from.
fn remote(v: &wire::Vxlan) -> Result<Option<(&'static str, IpAddr)>, ValidationError> {
    let remote = address("vxlan.remote_ip", &v.remote_ip)?;
    let group = address("vxlan.group", &v.group)?;
    match (remote, group) {
        (Some(_), Some(_)) => Err(ValidationError::new(
            "vxlan.group",
            "remote_ip is set too; a VXLAN sends to one remote VTEP or to one group",
        )),
        (Some(r), None) if r.is_multicast() => Err(ValidationError::new(
            "vxlan.remote_ip",
            format!("{r} is a multicast address; set it as group"),
        )),
        (None, Some(g)) if !g.is_multicast() => Err(ValidationError::new(
            "vxlan.group",
            format!("{g} is not a multicast address; set a unicast VTEP as remote_ip"),
        )),
        (Some(r), None) => Ok(Some(("vxlan.remote_ip", r))),
        (None, Some(g)) => Ok(Some(("vxlan.group", g))),
        (None, None) => Ok(None),
    }
}

impl From<&VxlanSettings> for wire::Vxlan {
    fn from(s: &VxlanSettings) -> Self {
        let t = &s.tunnel;
        let text = |a: Option<IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        let (remote_ip, group) = match t.remote {
            Some(r) if r.is_multicast() => (String::new(), r.to_string()),
            r => (text(r), String::new()),
        };
        wire::Vxlan {
            vni: t.vni,
            local_ip: text(t.local),
            remote_ip,
            group,
            dst_port: if t.dst_port == VXLAN_DEFAULT_PORT {
                0
            } else {
                u32::from(t.dst_port)
            },
            underlay_interface: s.underlay.clone().unwrap_or_default(),
            no_learning: !t.learning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(vni: u32) -> wire::Vxlan {
        wire::Vxlan {
            vni,
            ..Default::default()
        }
    }

    fn settings(v: wire::Vxlan) -> Result<Option<VxlanSettings>, ValidationError> {
        vxlan_settings(InterfaceType::Vxlan, Some(&v), "vx1")
    }

    #[test]
    fn a_vxlan_needs_only_its_vni() {
        let s = settings(wire(42)).unwrap().unwrap();
        assert_eq!(
            s.tunnel,
            VxlanTunnel {
                vni: 42,
                local: None,
                remote: None,
                dst_port: VXLAN_DEFAULT_PORT,
                learning: true,
            }
        );
        assert_eq!(s.underlay, None);
        assert_eq!(s.tunnel.headroom(), 50);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let with = |f: fn(&mut wire::Vxlan)| {
            let mut v = wire(7);
            f(&mut v);
            settings(v).unwrap_err().field
        };
        assert_eq!(
            vxlan_settings(InterfaceType::Vxlan, None, "vx1")
                .unwrap_err()
                .field,
            "vxlan.vni"
        );
        assert_eq!(settings(wire(1 << 24)).unwrap_err().field, "vxlan.vni");
        assert_eq!(with(|v| v.local_ip = "nope".into()), "vxlan.local_ip");
        assert_eq!(with(|v| v.local_ip = "239.1.1.1".into()), "vxlan.local_ip");
        assert_eq!(with(|v| v.remote_ip = "0.0.0.0".into()), "vxlan.remote_ip");
        assert_eq!(
            with(|v| v.remote_ip = "239.1.1.1".into()),
            "vxlan.remote_ip"
        );
        assert_eq!(with(|v| v.group = "10.0.0.1".into()), "vxlan.group");
        // A group is joined on a device.
        assert_eq!(with(|v| v.group = "239.1.1.1".into()), "vxlan.group");
        assert_eq!(
            with(|v| {
                v.remote_ip = "10.0.0.2".into();
                v.group = "239.1.1.1".into();
            }),
            "vxlan.group"
        );
        assert_eq!(
            with(|v| {
                v.local_ip = "10.0.0.1".into();
                v.remote_ip = "fd00::2".into();
            }),
            "vxlan.remote_ip"
        );
        assert_eq!(with(|v| v.dst_port = 70000), "vxlan.dst_port");
        assert_eq!(
            with(|v| v.underlay_interface = "vx1".into()),
            "vxlan.underlay_interface"
        );
        assert_eq!(
            with(|v| v.underlay_interface = "a/b".into()),
            "vxlan.underlay_interface"
        );
    }

    #[test]
    fn settings_are_for_vxlans_only() {
        let e = vxlan_settings(InterfaceType::Veth, Some(&wire(1)), "v1").unwrap_err();
        assert_eq!(e.field, "vxlan");
        assert_eq!(vxlan_settings(InterfaceType::Veth, None, "v1"), Ok(None));
    }

    #[test]
    fn settings_go_back_to_the_wire_as_written() {
        let v = wire::Vxlan {
            vni: 100,
            local_ip: "fd00::1".into(),
            group: "ff05::100".into(),
            dst_port: 8472,
            underlay_interface: "eth0".into(),
            no_learning: true,
            ..Default::default()
        };
        let s = settings(v).unwrap().unwrap();
        assert_eq!(s.tunnel.headroom(), 70);
        assert!(!s.tunnel.learning);
        let back = wire::Vxlan::from(&s);
        assert_eq!(settings(back).unwrap(), Some(s.clone()));
        let w = wire::Vxlan::from(&s);
        assert_eq!((w.group.as_str(), w.remote_ip.as_str()), ("ff05::100", ""));
    }
}
