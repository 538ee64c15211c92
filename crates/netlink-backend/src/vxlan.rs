//! A VXLAN as rtnetlink carries it: the attributes of `IFLA_INFO_DATA` when `IFLA_INFO_KIND`
//! is "vxlan" (`include/uapi/linux/if_link.h`). With an underlay the RTM_NEWLINK is sent in
//! the underlay's namespace, naming it by index (`IFLA_VXLAN_LINK`) and the VXLAN's own
//! namespace by a file descriptor (`IFLA_NET_NS_FD`), as a MACVLAN is made; the tunnel's
//! socket then lives in the underlay's namespace. The unicast remote and the multicast group
//! are one attribute (`IFLA_VXLAN_GROUP`/`GROUP6`), told apart by the kernel by the address.
//! Learning and the port are always sent: the kernel's own port is 8472, not IANA's 4789.

use std::net::IpAddr;
use std::os::fd::RawFd;

use neli::consts::rtnl::{Ifla, IflaInfo};
use neli::rtnl::Rtattr;
use neli::types::Buffer;
use nsagent_core::{LinkSpec, VxlanTunnel};

use crate::message::{attr, enc, info_attr, new_link_with, Result};
use crate::socket::Request;

const IFLA_VXLAN_ID: u16 = 1;
/// The remote VTEP or group, IPv4 (4 bytes, network order).
const IFLA_VXLAN_GROUP: u16 = 2;
/// The underlay's index (u32), in the namespace the request is sent in.
pub(crate) const IFLA_VXLAN_LINK: u16 = 3;
const IFLA_VXLAN_LOCAL: u16 = 4;
const IFLA_VXLAN_LEARNING: u16 = 7;
/// The destination UDP port (u16, network order).
const IFLA_VXLAN_PORT: u16 = 15;
const IFLA_VXLAN_GROUP6: u16 = 16;
const IFLA_VXLAN_LOCAL6: u16 = 17;

/// RTM_NEWLINK making the VXLAN `link` with `tunnel`, on the link of index `underlay` (in the
/// namespace the request is sent in) if any, placed in the namespace of `ns_fd` (`None`: that
/// same one).
pub(crate) fn create(
    link: &LinkSpec,
    tunnel: &VxlanTunnel,
    underlay: Option<u32>,
    ns_fd: Option<RawFd>,
) -> Result<Request> {
    let mut data = attr(IflaInfo::Data, Buffer::new())?;
    for a in tunnel_attrs(tunnel, underlay)? {
        data = data.nest(&a).map_err(enc)?;
    }
    let mut extra = Vec::new();
    if let Some(fd) = ns_fd {
        extra.push(attr(Ifla::NetNsFd, fd as u32)?);
    }
    new_link_with("vxlan", link, extra, Some(data))
}

fn tunnel_attrs(t: &VxlanTunnel, underlay: Option<u32>) -> Result<Vec<Rtattr<u16, Buffer>>> {
    let mut attrs = vec![
        attr(IFLA_VXLAN_ID, t.vni)?,
        attr(
            IFLA_VXLAN_PORT,
            Buffer::from(t.dst_port.to_be_bytes().to_vec()),
        )?,
        attr(IFLA_VXLAN_LEARNING, u8::from(t.learning))?,
    ];
    if let Some(index) = underlay {
        attrs.push(attr(IFLA_VXLAN_LINK, index)?);
    }
    for (addr, v4, v6) in [
        (t.remote, IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6),
        (t.local, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6),
    ] {
        match addr {
            Some(IpAddr::V4(a)) => attrs.push(attr(v4, Buffer::from(a.octets().to_vec()))?),
            Some(IpAddr::V6(a)) => attrs.push(attr(v6, Buffer::from(a.octets().to_vec()))?),
            None => {}
        }
    }
    Ok(attrs)
}

/// A dumped VXLAN's tunnel, from its `IFLA_INFO_DATA` payload; `None` without a VNI.
pub(crate) fn tunnel_of(data: &[u8]) -> Option<VxlanTunnel> {
    let vni = u32::from_ne_bytes(info_attr(data, IFLA_VXLAN_ID)?.get(..4)?.try_into().ok()?);
    let address = |v4: u16, v6: u16| -> Option<IpAddr> {
        let a = match (info_attr(data, v4), info_attr(data, v6)) {
            (Some(b), _) => IpAddr::from(<[u8; 4]>::try_from(b).ok()?),
            (None, Some(b)) => IpAddr::from(<[u8; 16]>::try_from(b).ok()?),
            (None, None) => return None,
        };
        // The kernel reports an unset address as the zero one.
        (!a.is_unspecified()).then_some(a)
    };
    let port = info_attr(data, IFLA_VXLAN_PORT)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, u16::from_be_bytes);
    Some(VxlanTunnel {
        vni,
        local: address(IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6),
        remote: address(IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6),
        dst_port: port,
        learning: info_attr(data, IFLA_VXLAN_LEARNING).is_some_and(|b| b.first() == Some(&1)),
    })
}

/// The underlay's index of a dumped VXLAN, in its socket's namespace; `None`: none.
pub(crate) fn underlay_of(data: &[u8]) -> Option<u32> {
    let b = info_attr(data, IFLA_VXLAN_LINK)?;
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?)).filter(|i| *i != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(attrs: &[Rtattr<u16, Buffer>]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        for a in attrs {
            neli::ToBytes::to_bytes(a, &mut out).unwrap();
            // Attributes are padded to four bytes.
            while out.get_ref().len() % 4 != 0 {
                out.get_mut().push(0);
            }
        }
        out.into_inner()
    }

    #[test]
    fn the_tunnel_is_read_back_from_what_is_written() {
        for t in [
            VxlanTunnel {
                vni: 42,
                local: Some("10.0.0.1".parse().unwrap()),
                remote: Some("10.0.0.2".parse().unwrap()),
                dst_port: 4789,
                learning: false,
            },
            VxlanTunnel {
                vni: (1 << 24) - 1,
                local: None,
                remote: Some("ff05::1".parse().unwrap()),
                dst_port: 8472,
                learning: true,
            },
        ] {
            let data = bytes(&tunnel_attrs(&t, Some(7)).unwrap());
            assert_eq!(tunnel_of(&data), Some(t));
            assert_eq!(underlay_of(&data), Some(7));
            let data = bytes(&tunnel_attrs(&t, None).unwrap());
            assert_eq!(underlay_of(&data), None);
        }
        assert_eq!(tunnel_of(&[]), None);
    }
}
