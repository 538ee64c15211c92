//! TAPs, which rtnetlink cannot make (the tun driver refuses `RTM_NEWLINK`): `/dev/net/tun` is
//! opened inside the namespace (a TAP is made in the namespace of whoever opened the device),
//! then `TUNSETIFF` names it, `TUNSETOWNER` / `TUNSETGROUP` say who may attach, and
//! `TUNSETPERSIST` keeps it once the file is closed. Its MTU, MAC, mark and admin state are set
//! afterwards with rtnetlink, as for any created link; `RTM_DELLINK` deletes it. A dump reads
//! its settings back from `IFLA_INFO_DATA` of kind "tun".

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;

use nsagent_core::{errno, Netns, TapSettings};

use crate::message::info_attr;
use crate::namespace;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
const TUNSETGROUP: libc::c_ulong = 0x4004_54ce;
const IFF_TAP: i16 = 0x0002;
const IFF_MULTI_QUEUE: i16 = 0x0100;
const IFF_NO_PI: i16 = 0x1000;
/// Fail rather than attach when a link of that name exists.
const IFF_TUN_EXCL: i16 = 0x8000u16 as i16;

/// `IFLA_TUN_*` of a "tun" link's `IFLA_INFO_DATA`.
const IFLA_TUN_OWNER: u16 = 1;
const IFLA_TUN_GROUP: u16 = 2;
const IFLA_TUN_TYPE: u16 = 3;
const IFLA_TUN_MULTI_QUEUE: u16 = 7;

/// `struct ifreq` as `TUNSETIFF` reads it: the name, then the flags, in a 40-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: i16,
    _rest: [u8; 22],
}

/// Makes the persistent TAP `name` in `ns` with `settings`, down and without its attributes
/// yet. A name taken is EEXIST, as a creation by rtnetlink says it (the driver says EBUSY).
pub(crate) fn create(ns: &Netns, name: &str, settings: &TapSettings) -> io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::from_raw_os_error(errno::EINVAL));
    }
    let file = namespace::open(ns)?;
    let tun = namespace::run_in(&file.fd, || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
    })?;
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL,
        _rest: [0; 22],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    if settings.multi_queue {
        req.flags |= IFF_MULTI_QUEUE;
    }
    let fd = tun.as_raw_fd();
    // SAFETY: `req` is a live ifreq of the size the kernel reads; `fd` is open for the calls.
    let named = unsafe { libc::ioctl(fd, TUNSETIFF, &mut req as *mut IfReq) };
    if named < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(errno::EBUSY) => io::Error::from_raw_os_error(errno::EEXIST),
            _ => e,
        });
    }
    let calls = [
        settings.owner.map(|o| (TUNSETOWNER, o as libc::c_ulong)),
        settings.group.map(|g| (TUNSETGROUP, g as libc::c_ulong)),
        Some((TUNSETPERSIST, 1)),
    ];
    for (request, arg) in calls.into_iter().flatten() {
        // SAFETY: these requests take their argument by value.
        if unsafe { libc::ioctl(fd, request, arg) } < 0 {
            // The TAP goes with the file, as it is not persistent yet (or the persist failed).
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A "tun" link's settings from its `IFLA_INFO_DATA` payload, if it is a TAP (not a TUN).
pub(crate) fn settings_of(data: &[u8]) -> Option<TapSettings> {
    let u32_at = |ty| {
        info_attr(data, ty)
            .and_then(|p| p.get(..4))
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u8_at = |ty| info_attr(data, ty).and_then(|p| p.first().copied());
    if u8_at(IFLA_TUN_TYPE) != Some(IFF_TAP as u8) {
        return None;
    }
    Some(TapSettings {
        owner: u32_at(IFLA_TUN_OWNER),
        group: u32_at(IFLA_TUN_GROUP),
        multi_queue: u8_at(IFLA_TUN_MULTI_QUEUE).is_some_and(|m| m != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_numbers_are_the_kernels() {
        // _IOW('T', nr, int): direction 1 << 30, size 4 << 16, type 'T' << 8, number.
        let iow = |nr: libc::c_ulong| (1 << 30) | (4 << 16) | ((b'T' as libc::c_ulong) << 8) | nr;
        assert_eq!(TUNSETIFF, iow(202));
        assert_eq!(TUNSETPERSIST, iow(203));
        assert_eq!(TUNSETOWNER, iow(204));
        assert_eq!(TUNSETGROUP, iow(206));
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_taps_settings_read_back_and_a_tun_is_not_a_tap() {
        let tap = [
            8u8, 0, 1, 0, 0xe8, 3, 0, 0, // owner 1000
            5, 0, 3, 0, 2, 0, 0, 0, // type tap
            5, 0, 7, 0, 1, 0, 0, 0, // multi-queue
        ];
        assert_eq!(
            settings_of(&tap),
            Some(TapSettings {
                owner: Some(1000),
                group: None,
                multi_queue: true
            })
        );
        let tun = [5u8, 0, 3, 0, 1, 0, 0, 0];
        assert_eq!(settings_of(&tun), None);
    }
}
