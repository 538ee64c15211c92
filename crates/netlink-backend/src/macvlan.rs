//! A MACVLAN as rtnetlink carries it: made by an RTM_NEWLINK sent in its parent's namespace,
//! naming the parent by index (`IFLA_LINK`) and the MACVLAN's own namespace by a file
//! descriptor (`IFLA_NET_NS_FD`), so that it is never made and then moved; its mode in
//! `IFLA_INFO_DATA` (always sent: without it the kernel picks VEPA), read back from a dump.

use std::os::fd::RawFd;

use neli::consts::rtnl::{Ifla, IflaInfo};
use neli::types::Buffer;
use nsagent_core::{LinkSpec, MacvlanMode};

use crate::message::{attr, enc, info_attr, new_link_with, Result};
use crate::socket::Request;

/// `IFLA_MACVLAN_MODE` (u32, one `MACVLAN_MODE_*` bit).
const IFLA_MACVLAN_MODE: u16 = 1;

/// RTM_NEWLINK making the MACVLAN `link` on the link of index `parent` (in the namespace the
/// request is sent in), placed in the namespace of `ns_fd` (`None`: that same one).
pub(crate) fn create(
    link: &LinkSpec,
    parent: u32,
    mode: MacvlanMode,
    ns_fd: Option<RawFd>,
) -> Result<Request> {
    let data = attr(IflaInfo::Data, Buffer::new())?
        .nest(&attr(IFLA_MACVLAN_MODE, mode.kernel_value())?)
        .map_err(enc)?;
    let mut extra = vec![attr(Ifla::Link, parent)?];
    if let Some(fd) = ns_fd {
        extra.push(attr(Ifla::NetNsFd, fd as u32)?);
    }
    new_link_with("macvlan", link, extra, Some(data))
}

/// The mode of a MACVLAN, from its `IFLA_INFO_DATA`; `None` for a mode the model lacks
/// (`source`).
pub(crate) fn mode_of(data: &[u8]) -> Option<MacvlanMode> {
    let p = info_attr(data, IFLA_MACVLAN_MODE)?;
    MacvlanMode::from_kernel(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_read_back_from_what_is_written() {
        for m in [MacvlanMode::Bridge, MacvlanMode::Passthru] {
            let a = attr(IFLA_MACVLAN_MODE, m.kernel_value()).unwrap();
            let mut bytes = std::io::Cursor::new(Vec::new());
            neli::ToBytes::to_bytes(&a, &mut bytes).unwrap();
            assert_eq!(mode_of(&bytes.into_inner()), Some(m));
        }
        assert_eq!(mode_of(&[]), None);
    }
}
