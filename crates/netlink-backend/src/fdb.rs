//! A VXLAN's FDB entries as rtnetlink carries them: neighbour messages of the bridge family
//! (`AF_BRIDGE`) on the VXLAN itself (`NTF_SELF`, not its bridge's table), permanent, with
//! the MAC (`NDA_LLADDR`) and the VTEP (`NDA_DST`). An entry is added as `bridge fdb append`
//! does (`NLM_F_CREATE | NLM_F_APPEND`): the zero MAC may list several VTEPs, and one already
//! listed is no error.

use std::net::IpAddr;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Nda, Ntf, Nud, RtAddrFamily, Rtm, Rtn};
use neli::rtnl::{Ndmsg, NdmsgBuilder};
use neli::types::{Buffer, RtBuffer};
use nsagent_core::MacAddr;

use crate::message::{attr, enc, encode, encode_dump, ip_bytes, Result};
use crate::socket::Request;

fn bridge_family() -> RtAddrFamily {
    RtAddrFamily::from(libc::AF_BRIDGE as u8)
}

fn entry(index: u32, mac: MacAddr, remote: &IpAddr) -> Result<Ndmsg> {
    let attrs = vec![
        attr(Nda::Lladdr, mac.0)?,
        attr(Nda::Dst, ip_bytes(remote).as_slice())?,
    ];
    NdmsgBuilder::default()
        .ndm_family(bridge_family())
        .ndm_index(index as i32)
        .ndm_state(Nud::PERMANENT)
        .ndm_flags(Ntf::SELF)
        .ndm_type(Rtn::Unspec)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Nda, Buffer>>())
        .build()
        .map_err(enc)
}

/// The entry sending frames for `mac` to `remote` on the VXLAN of index `index`.
pub(crate) fn add(index: u32, mac: MacAddr, remote: &IpAddr) -> Result<Request> {
    encode(
        Rtm::Newneigh,
        NlmF::CREATE | NlmF::APPEND,
        entry(index, mac, remote)?,
    )
}

pub(crate) fn del(index: u32, mac: MacAddr, remote: &IpAddr) -> Result<Request> {
    encode(Rtm::Delneigh, NlmF::empty(), entry(index, mac, remote)?)
}

/// Every bridge-family entry of the namespace: the caller keeps the VXLANs' permanent ones.
pub(crate) fn dump() -> Result<Request> {
    let msg = NdmsgBuilder::default()
        .ndm_family(bridge_family())
        .ndm_index(0)
        .ndm_state(Nud::empty())
        .ndm_type(Rtn::Unspec)
        .build()
        .map_err(enc)?;
    encode_dump(Rtm::Getneigh, msg)
}
