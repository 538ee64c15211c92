//! Checksum offloading through the kernel's ethtool netlink family (generic netlink, "ethtool",
//! since Linux 5.6): `ETHTOOL_MSG_FEATURES_SET` to change a link's features,
//! `ETHTOOL_MSG_FEATURES_GET` dumped to read every link's of a namespace in one exchange, and
//! `ETHTOOL_MSG_LINKMODES_GET` dumped for the links' speeds (interface state).
//!
//! The messages are encoded here by hand: a few nested attributes, whose layout is the
//! kernel's (`include/uapi/linux/ethtool_netlink.h`, `genetlink.h`), checked against the
//! running kernel by `tests/offload.rs`. Features are named in bit-by-bit bitsets, so nothing
//! depends on a kernel's feature numbering: `rx-checksum` is receive offloading, and transmit
//! offloading is the five `tx-checksum-*` features together (`NETIF_F_CSUM_MASK`, FCoE CRC and
//! SCTP CRC), which is what the legacy `ETHTOOL_STXCSUM` call (vpp-agent's) changes and what
//! `ethtool -k` sums up as `tx-checksumming`.

use std::io;
use std::sync::OnceLock;

use nsagent_core::ChecksumOffload;

use crate::socket::{align, NetlinkSocket, Request};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const ETHTOOL_GENL_NAME: &str = "ethtool";
const ETHTOOL_GENL_VERSION: u8 = 1;
const ETHTOOL_MSG_LINKMODES_GET: u8 = 4;
/// The reply to a LINKMODES_GET, in a dump one per link whose driver reports link modes.
const ETHTOOL_MSG_LINKMODES_GET_REPLY: u8 = 4;
const ETHTOOL_MSG_FEATURES_GET: u8 = 11;
const ETHTOOL_MSG_FEATURES_SET: u8 = 12;
/// The reply to a FEATURES_GET, in a dump one per link.
const ETHTOOL_MSG_FEATURES_GET_REPLY: u8 = 11;

const ETHTOOL_A_HEADER_DEV_INDEX: u16 = 1;
const ETHTOOL_A_HEADER_DEV_NAME: u16 = 2;
const ETHTOOL_A_HEADER_FLAGS: u16 = 3;
const ETHTOOL_FLAG_OMIT_REPLY: u32 = 1 << 1;

const ETHTOOL_A_LINKMODES_HEADER: u16 = 1;
const ETHTOOL_A_LINKMODES_SPEED: u16 = 5;
/// `SPEED_UNKNOWN`.
const SPEED_UNKNOWN: u32 = u32::MAX;

const ETHTOOL_A_FEATURES_HEADER: u16 = 1;
const ETHTOOL_A_FEATURES_WANTED: u16 = 3;
const ETHTOOL_A_FEATURES_ACTIVE: u16 = 4;

const ETHTOOL_A_BITSET_BITS: u16 = 3;
const ETHTOOL_A_BITSET_BITS_BIT: u16 = 1;
const ETHTOOL_A_BITSET_BIT_NAME: u16 = 2;
const ETHTOOL_A_BITSET_BIT_VALUE: u16 = 3;

/// `NETIF_F_RXCSUM`.
pub const RX_CHECKSUM: &str = "rx-checksum";
/// What `ETHTOOL_STXCSUM` changes: IPv4, generic and IPv6 checksumming, FCoE and SCTP CRCs.
pub const TX_CHECKSUM: [&str; 5] = [
    "tx-checksum-ipv4",
    "tx-checksum-ip-generic",
    "tx-checksum-ipv6",
    "tx-checksum-fcoe-crc",
    "tx-checksum-sctp",
];

/// A netlink attribute being built: type, then payload bytes (nested attributes included).
struct Attr {
    ty: u16,
    payload: Vec<u8>,
}

impl Attr {
    fn bytes(ty: u16, payload: &[u8]) -> Attr {
        Attr {
            ty,
            payload: payload.to_vec(),
        }
    }

    fn string(ty: u16, s: &str) -> Attr {
        let mut payload = s.as_bytes().to_vec();
        payload.push(0);
        Attr { ty, payload }
    }

    fn flag(ty: u16) -> Attr {
        Attr {
            ty,
            payload: Vec::new(),
        }
    }

    fn nest(ty: u16, inner: Vec<Attr>) -> Attr {
        let mut payload = Vec::new();
        for a in inner {
            a.write(&mut payload);
        }
        Attr {
            ty: ty | NLA_F_NESTED,
            payload,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = 4 + self.payload.len();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.extend_from_slice(&self.ty.to_ne_bytes());
        out.extend_from_slice(&self.payload);
        out.resize(out.len() + align(len) - len, 0);
    }
}

/// A generic netlink message; its sequence number is filled in when it is sent.
fn message(family: u16, flags: u16, cmd: u8, version: u8, attrs: Vec<Attr>) -> Request {
    let mut body = vec![cmd, version, 0, 0];
    for a in attrs {
        a.write(&mut body);
    }
    let mut msg = Vec::with_capacity(16 + body.len());
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&family.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&[0; 8]); // sequence number and port id
    msg.extend_from_slice(&body);
    msg
}

/// The attributes of a generic netlink payload (after its 4-byte header), as (type, payload).
fn attributes(mut rest: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((ty, &rest[4..len]));
        rest = &rest[align(len).min(rest.len())..];
    }
    out
}

fn find_in<'a>(attrs: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    attrs.iter().find(|(t, _)| *t == ty).map(|(_, p)| *p)
}

/// The request that asks the kernel for the id of the ethtool family.
fn family_request() -> Request {
    message(
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        CTRL_CMD_GETFAMILY,
        1,
        vec![Attr::string(CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME)],
    )
}

/// The id of the ethtool family. Generic netlink family ids are global, not per namespace, so
/// the first answer serves every socket; a kernel without the family answers ENOENT.
pub(crate) fn family(sock: &mut NetlinkSocket) -> io::Result<u16> {
    static FAMILY: OnceLock<u16> = OnceLock::new();
    if let Some(id) = FAMILY.get() {
        return Ok(*id);
    }
    let outcome = sock
        .transact(&mut [family_request()])?
        .pop()
        .unwrap_or(Ok(Vec::new()));
    let replies = outcome.map_err(|e| {
        io::Error::other(format!(
            "the kernel has no ethtool netlink family (Linux 5.6 or later): {}",
            e.describe()
        ))
    })?;
    let id = replies
        .iter()
        .find_map(|r| {
            let attrs = attributes(r.payload.get(4..)?);
            let id = find_in(&attrs, CTRL_ATTR_FAMILY_ID)?;
            Some(u16::from_ne_bytes([*id.first()?, *id.get(1)?]))
        })
        .ok_or_else(|| io::Error::other("no family id in the answer about ethtool"))?;
    Ok(*FAMILY.get_or_init(|| id))
}

/// FEATURES_SET for link `name`: each way the change sets, its features listed by name, on or
/// off; the rest are left as they are (the listed bits are the request's mask).
pub(crate) fn set_features(family: u16, name: &str, change: &ChecksumOffload) -> Request {
    let bit = |feature: &str, on: bool| {
        let mut attrs = vec![Attr::string(ETHTOOL_A_BITSET_BIT_NAME, feature)];
        if on {
            attrs.push(Attr::flag(ETHTOOL_A_BITSET_BIT_VALUE));
        }
        Attr::nest(ETHTOOL_A_BITSET_BITS_BIT, attrs)
    };
    let mut bits = Vec::new();
    if let Some(on) = change.rx {
        bits.push(bit(RX_CHECKSUM, on));
    }
    if let Some(on) = change.tx {
        bits.extend(TX_CHECKSUM.iter().map(|f| bit(f, on)));
    }
    let header = Attr::nest(
        ETHTOOL_A_FEATURES_HEADER,
        vec![
            Attr::string(ETHTOOL_A_HEADER_DEV_NAME, name),
            Attr::bytes(
                ETHTOOL_A_HEADER_FLAGS,
                &ETHTOOL_FLAG_OMIT_REPLY.to_ne_bytes(),
            ),
        ],
    );
    let wanted = Attr::nest(
        ETHTOOL_A_FEATURES_WANTED,
        vec![Attr::nest(ETHTOOL_A_BITSET_BITS, bits)],
    );
    message(
        family,
        NLM_F_REQUEST | NLM_F_ACK,
        ETHTOOL_MSG_FEATURES_SET,
        ETHTOOL_GENL_VERSION,
        vec![header, wanted],
    )
}

/// FEATURES_GET of every link of the socket's namespace.
fn dump_features(family: u16) -> Request {
    message(
        family,
        NLM_F_REQUEST | NLM_F_DUMP,
        ETHTOOL_MSG_FEATURES_GET,
        ETHTOOL_GENL_VERSION,
        vec![Attr::nest(ETHTOOL_A_FEATURES_HEADER, vec![])],
    )
}

/// Checksum offloading of every link of the socket's namespace, by link index.
pub(crate) fn offloads(sock: &mut NetlinkSocket) -> io::Result<Vec<(u32, ChecksumOffload)>> {
    let family = family(sock)?;
    let replies = sock
        .dump(&dump_features(family))?
        .map_err(|e| io::Error::other(format!("ethtool features: {}", e.describe())))?;
    Ok(replies
        .iter()
        .filter(|r| r.ty == family)
        .filter_map(|r| parse_features(&r.payload))
        .collect())
}

/// The speed (Mb/s) of every link of the socket's namespace whose driver reports one, by link
/// index: one LINKMODES_GET dump, which leaves out links whose driver has no link modes.
pub(crate) fn speeds(sock: &mut NetlinkSocket) -> io::Result<Vec<(u32, u32)>> {
    let family = family(sock)?;
    let request = message(
        family,
        NLM_F_REQUEST | NLM_F_DUMP,
        ETHTOOL_MSG_LINKMODES_GET,
        ETHTOOL_GENL_VERSION,
        vec![Attr::nest(ETHTOOL_A_LINKMODES_HEADER, vec![])],
    );
    let replies = sock
        .dump(&request)?
        .map_err(|e| io::Error::other(format!("ethtool link modes: {}", e.describe())))?;
    Ok(replies
        .iter()
        .filter(|r| r.ty == family)
        .filter_map(|r| parse_speed(&r.payload))
        .collect())
}

fn parse_speed(payload: &[u8]) -> Option<(u32, u32)> {
    if *payload.first()? != ETHTOOL_MSG_LINKMODES_GET_REPLY {
        return None;
    }
    let attrs = attributes(payload.get(4..)?);
    let index = header_index(find_in(&attrs, ETHTOOL_A_LINKMODES_HEADER)?)?;
    let speed = find_in(&attrs, ETHTOOL_A_LINKMODES_SPEED)?;
    let speed = u32::from_ne_bytes(speed.get(0..4)?.try_into().ok()?);
    (speed != SPEED_UNKNOWN).then_some((index, speed))
}

/// The link index in a reply's header nest.
fn header_index(header: &[u8]) -> Option<u32> {
    let header = attributes(header);
    let index = find_in(&header, ETHTOOL_A_HEADER_DEV_INDEX)?;
    Some(u32::from_ne_bytes(index.get(0..4)?.try_into().ok()?))
}

/// A FEATURES_GET reply: the link's index and what its active features say. The active set
/// is a bitset without a mask, whose bit-by-bit form lists only the bits that are set.
fn parse_features(payload: &[u8]) -> Option<(u32, ChecksumOffload)> {
    if *payload.first()? != ETHTOOL_MSG_FEATURES_GET_REPLY {
        return None;
    }
    let attrs = attributes(payload.get(4..)?);
    let index = header_index(find_in(&attrs, ETHTOOL_A_FEATURES_HEADER)?)?;
    let active = attributes(find_in(&attrs, ETHTOOL_A_FEATURES_ACTIVE)?);
    let bits = find_in(&active, ETHTOOL_A_BITSET_BITS).map_or(Vec::new(), attributes);
    let on: Vec<&[u8]> = bits
        .iter()
        .filter(|(t, _)| *t == ETHTOOL_A_BITSET_BITS_BIT)
        .filter_map(|(_, bit)| find_in(&attributes(bit), ETHTOOL_A_BITSET_BIT_NAME))
        .map(|name| name.split(|b| *b == 0).next().unwrap_or_default())
        .collect();
    let has = |feature: &str| on.contains(&feature.as_bytes());
    Some((
        index,
        ChecksumOffload {
            rx: Some(has(RX_CHECKSUM)),
            tx: Some(TX_CHECKSUM.iter().any(|f| has(f))),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attributes of a request (after its netlink and generic netlink headers).
    fn body(req: &[u8]) -> Vec<(u16, &[u8])> {
        attributes(&req[20..])
    }

    #[test]
    fn a_change_lists_only_the_ways_it_sets() {
        let req = set_features(
            30,
            "veth0",
            &ChecksumOffload {
                rx: Some(false),
                tx: None,
            },
        );
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), 30, "family id");
        assert_eq!(req[16], ETHTOOL_MSG_FEATURES_SET);
        let attrs = body(&req);
        let header = attributes(find_in(&attrs, ETHTOOL_A_FEATURES_HEADER).unwrap());
        assert_eq!(
            find_in(&header, ETHTOOL_A_HEADER_DEV_NAME),
            Some(&b"veth0\0"[..])
        );
        let wanted = attributes(find_in(&attrs, ETHTOOL_A_FEATURES_WANTED).unwrap());
        let bits = attributes(find_in(&wanted, ETHTOOL_A_BITSET_BITS).unwrap());
        assert_eq!(bits.len(), 1);
        let bit = attributes(bits[0].1);
        assert_eq!(
            find_in(&bit, ETHTOOL_A_BITSET_BIT_NAME),
            Some(&b"rx-checksum\0"[..])
        );
        assert!(find_in(&bit, ETHTOOL_A_BITSET_BIT_VALUE).is_none(), "off");
    }

    #[test]
    fn transmit_offloading_is_the_five_checksum_features_together() {
        let req = set_features(
            30,
            "v",
            &ChecksumOffload {
                rx: None,
                tx: Some(true),
            },
        );
        let attrs = body(&req);
        let wanted = attributes(find_in(&attrs, ETHTOOL_A_FEATURES_WANTED).unwrap());
        let bits = attributes(find_in(&wanted, ETHTOOL_A_BITSET_BITS).unwrap());
        assert_eq!(bits.len(), 5);
        for (_, bit) in bits {
            assert!(find_in(&attributes(bit), ETHTOOL_A_BITSET_BIT_VALUE).is_some());
        }
    }

    #[test]
    fn a_link_modes_reply_gives_a_known_speed_only() {
        let reply = |speed: u32| {
            message(
                30,
                0,
                ETHTOOL_MSG_LINKMODES_GET_REPLY,
                1,
                vec![
                    Attr::nest(
                        ETHTOOL_A_LINKMODES_HEADER,
                        vec![Attr::bytes(ETHTOOL_A_HEADER_DEV_INDEX, &3u32.to_ne_bytes())],
                    ),
                    Attr::bytes(ETHTOOL_A_LINKMODES_SPEED, &speed.to_ne_bytes()),
                ],
            )
        };
        assert_eq!(parse_speed(&reply(10_000)[16..]), Some((3, 10_000)));
        assert_eq!(parse_speed(&reply(SPEED_UNKNOWN)[16..]), None);
    }

    #[test]
    fn a_reply_reads_as_the_features_it_lists() {
        let bit = |name: &str| {
            Attr::nest(
                ETHTOOL_A_BITSET_BITS_BIT,
                vec![Attr::string(ETHTOOL_A_BITSET_BIT_NAME, name)],
            )
        };
        let reply = message(
            30,
            0,
            ETHTOOL_MSG_FEATURES_GET_REPLY,
            1,
            vec![
                Attr::nest(
                    ETHTOOL_A_FEATURES_HEADER,
                    vec![Attr::bytes(ETHTOOL_A_HEADER_DEV_INDEX, &7u32.to_ne_bytes())],
                ),
                Attr::nest(
                    ETHTOOL_A_FEATURES_ACTIVE,
                    vec![Attr::nest(
                        ETHTOOL_A_BITSET_BITS,
                        vec![bit("tx-checksum-ip-generic"), bit("tx-scatter-gather")],
                    )],
                ),
            ],
        );
        assert_eq!(
            parse_features(&reply[16..]),
            Some((
                7,
                ChecksumOffload {
                    rx: Some(false),
                    tx: Some(true)
                }
            ))
        );
    }
}
