//! Policy rules (`ip rule`) as rtnetlink carries them: RTM_NEWRULE, RTM_DELRULE and their dump,
//! a `struct fib_rule_hdr` (family, prefix lengths, tos, table, action, flags) followed by
//! `FRA_*` attributes. What the kernel does with them (Linux 6.18, measured in
//! `docs/measurements/rules-6.18.md`; the sim's `rules.rs` models it) decides how they are built:
//!
//! - A rule has no replace: `NLM_F_REPLACE` is ignored, and without `NLM_F_EXCL` an identical
//!   rule is simply added again beside the first. Adding asks for exclusivity, so a rule that
//!   is there already is EEXIST, as `ip rule add` makes it.
//! - The kernel takes a rule for the one there already when every field is equal, except that
//!   a source or destination is compared only when the new rule has one: a rule without a
//!   source is EEXIST beside one with a source at the same priority and table.
//! - Deleting compares only the fields the request gives (0 or absent is "any") and takes the
//!   first match in list order. A delete therefore gives everything the agent's rule has,
//!   `FRA_PRIORITY` (present, so even 0 is compared) and `FRA_PROTOCOL` above all, so that it
//!   never takes a rule someone else made at the same priority.
//! - `fib_rule_hdr.table` is a byte: a table past 255 goes in `FRA_TABLE` (which wins) with
//!   `RT_TABLE_COMPAT` in the header, as the kernel dumps it. `FRA_TABLE` is sent for any
//!   lookup; the dropping actions (blackhole, unreachable, prohibit) carry no table.
//! - Interfaces go by name (`FRA_IIFNAME`/`FRA_OIFNAME`), not index: the kernel accepts a
//!   name no link has yet ("detached", flags 0x8/0x10) and attaches the rule when a link of
//!   that name appears, so a rule needs no link index and does not wait for its links.
//! - A mark without a mask gets the mask 0xffffffff from the kernel, which dumps it; the
//!   agent always sends both.
//!
//! Reading a dump back keeps only what a [`RuleSpec`] can say without losing a condition: a
//! rule with one the agent cannot express (a goto, tos, an inverted match, ports, uid ranges,
//! …) is left out, never shown as a looser rule than it is.

use std::io::{self, Cursor};

use ipnet::IpNet;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{FrAct, Frattr, Frf, RtAddrFamily, RtTable, Rtm};
use neli::rtnl::{Fibmsg, FibmsgBuilder, Rtattr};
use neli::types::{Buffer, RtBuffer};
use neli::FromBytesWithInput;
use nsagent_core::{Family, RuleAction, RuleSpec};

use crate::message::{attr, enc, encode, encode_dump, ip_bytes, Result};
use crate::observe::ip_from;
use crate::socket::Request;

/// `RT_TABLE_COMPAT`: the header's table when the real one does not fit a byte.
const RT_TABLE_COMPAT: u8 = 252;
/// `FRA_SUPPRESS_PREFIXLEN` of a rule that suppresses nothing (-1, the kernel's default, which
/// it dumps for every rule).
const NO_SUPPRESSION: u32 = u32::MAX;

/// Attribute types whose presence is a condition or an action a [`RuleSpec`] cannot hold
/// (`include/uapi/linux/fib_rules.h`): goto, realms, tunnel id, suppress_ifgroup, l3mdev, uid
/// range, ip proto, port ranges, dscp (with which the header's tos reads 0), IPv6 flow label,
/// and the port and dscp masks. Each is dumped only when set.
const INEXPRESSIBLE: [u16; 15] = [4, 11, 12, 13, 19, 20, 22, 23, 24, 25, 26, 27, 28, 29, 30];

fn family_of(f: Family) -> RtAddrFamily {
    match f {
        Family::Ipv4 => RtAddrFamily::Inet,
        Family::Ipv6 => RtAddrFamily::Inet6,
    }
}

/// The attributes of a request for `rule`: its priority always, each selector it has, the
/// lookup's table, and the agent's protocol.
fn attributes(rule: &RuleSpec, protocol: u8) -> Result<Vec<Rtattr<Frattr, Buffer>>> {
    let mut attrs = vec![attr(Frattr::Priority, rule.priority)?];
    // A /0 is "from all": the kernel ignores an address with a zero length, and dumps none.
    for (ty, net) in [(Frattr::Src, rule.src), (Frattr::Dst, rule.dst)] {
        if let Some(net) = net.filter(|n| n.prefix_len() > 0) {
            attrs.push(attr(ty, ip_bytes(&net.addr()).as_slice())?);
        }
    }
    // `&str` is written with its NUL, as the kernel's `nla_strscpy` expects.
    if let Some(iif) = &rule.iif {
        attrs.push(attr(Frattr::Iifname, iif.as_str())?);
    }
    if let Some(oif) = &rule.oif {
        attrs.push(attr(Frattr::Oifname, oif.as_str())?);
    }
    if let Some((mark, mask)) = rule.fwmark {
        attrs.push(attr(Frattr::Fwmark, mark)?);
        attrs.push(attr(Frattr::Fwmask, mask)?);
    }
    if let Some(table) = rule.action.table() {
        attrs.push(attr(Frattr::Table, table)?);
    }
    attrs.push(attr(Frattr::Protocol, protocol)?);
    Ok(attrs)
}

fn prefix_len(net: Option<IpNet>) -> u8 {
    net.map_or(0, |n| n.prefix_len())
}

/// The whole message for `rule`, as adding and deleting send it alike.
fn message(rule: &RuleSpec, protocol: u8) -> Result<Fibmsg> {
    let table = match rule.action.table() {
        None => 0,
        Some(t) => u8::try_from(t).unwrap_or(RT_TABLE_COMPAT),
    };
    FibmsgBuilder::default()
        .fib_family(family_of(rule.family))
        .fib_dst_len(prefix_len(rule.dst))
        .fib_src_len(prefix_len(rule.src))
        .fib_tos(0)
        .fib_table(RtTable::from(table))
        .fib_action(FrAct::from(rule.action.fr_action()))
        .rtattrs(
            attributes(rule, protocol)?
                .into_iter()
                .collect::<RtBuffer<Frattr, Buffer>>(),
        )
        .build()
        .map_err(enc)
}

/// RTM_NEWRULE, exclusive: a rule the kernel holds already is EEXIST.
pub(crate) fn add(rule: &RuleSpec, protocol: u8) -> Result<Request> {
    encode(
        Rtm::Newrule,
        NlmF::CREATE | NlmF::EXCL,
        message(rule, protocol)?,
    )
}

/// RTM_DELRULE for the agent's rule that is exactly `rule` (none: ENOENT).
pub(crate) fn del(rule: &RuleSpec, protocol: u8) -> Result<Request> {
    encode(Rtm::Delrule, NlmF::empty(), message(rule, protocol)?)
}

/// Every rule of every family: the kernel dumps each family's rules for AF_UNSPEC, the
/// multicast routing families (128, 129) included, which the reader leaves out.
pub(crate) fn dump() -> Result<Request> {
    let msg = FibmsgBuilder::default()
        .fib_family(RtAddrFamily::Unspecified)
        .fib_dst_len(0)
        .fib_src_len(0)
        .fib_tos(0)
        .fib_table(RtTable::Unspec)
        .fib_action(FrAct::Unspec)
        .build()
        .map_err(enc)?;
    encode_dump(Rtm::Getrule, msg)
}

fn u32_of(payload: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

/// Text of a string attribute, without its NUL.
fn name_of(payload: &[u8]) -> Option<String> {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    Some(String::from_utf8_lossy(&payload[..end]).into_owned()).filter(|n| !n.is_empty())
}

/// A selector network: the address as given (the kernel keeps host bits) with the header's
/// length; `Err` when the length says there is one and the attribute is missing or bad.
fn network(family: u8, len: u8, payload: Option<&[u8]>) -> std::result::Result<Option<IpNet>, ()> {
    if len == 0 {
        return Ok(None);
    }
    let ip = payload.and_then(|b| ip_from(family, b)).ok_or(())?;
    IpNet::new(ip, len).map(Some).map_err(|_| ())
}

/// A dumped rule as the agent's [`RuleSpec`], or `None` when it is not the agent's (another
/// `FRA_PROTOCOL`: the kernel's own rules, `ip rule`'s, a routing daemon's), not of IPv4 or
/// IPv6, or has something a `RuleSpec` cannot hold. The "detached" flags (an interface no link
/// has now) do not change the rule; an inverted match does.
pub(crate) fn parse(payload: &[u8], protocol: u8) -> io::Result<Option<RuleSpec>> {
    let msg = Fibmsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("parsing rule: {e}")))?;
    let family = u8::from(*msg.fib_family());
    let family = match family {
        f if f == libc::AF_INET as u8 => (f, Family::Ipv4),
        f if f == libc::AF_INET6 as u8 => (f, Family::Ipv6),
        _ => return Ok(None),
    };
    let attrs = msg.rtattrs().as_ref();
    let get = |ty: Frattr| crate::observe::find(attrs, ty);
    let ours = get(Frattr::Protocol).and_then(|b| b.first().copied()) == Some(protocol);
    let inexpressible = attrs
        .iter()
        .any(|a| INEXPRESSIBLE.contains(&u16::from(*a.rta_type())));
    let suppressing = get(Frattr::SuppressPrefixlen)
        .and_then(u32_of)
        .is_some_and(|s| s != NO_SUPPRESSION);
    if !ours
        || inexpressible
        || suppressing
        || *msg.fib_tos() != 0
        || msg.fib_flags().contains(Frf::INVERT)
    {
        return Ok(None);
    }
    let table = get(Frattr::Table)
        .and_then(u32_of)
        .unwrap_or(u32::from(u8::from(*msg.fib_table())));
    let Some(action) = RuleAction::from_fr_action(u8::from(*msg.fib_action()), table) else {
        return Ok(None);
    };
    let (Ok(src), Ok(dst)) = (
        network(family.0, *msg.fib_src_len(), get(Frattr::Src)),
        network(family.0, *msg.fib_dst_len(), get(Frattr::Dst)),
    ) else {
        return Ok(None);
    };
    let mark = get(Frattr::Fwmark).and_then(u32_of);
    let mask = get(Frattr::Fwmask).and_then(u32_of);
    let fwmark = match (mark, mask) {
        (None, None) => None,
        (mark, mask) => Some((mark.unwrap_or(0), mask.unwrap_or(u32::MAX))),
    };
    Ok(Some(RuleSpec {
        family: family.1,
        // The kernel leaves FRA_PRIORITY out of a rule at priority 0.
        priority: get(Frattr::Priority).and_then(u32_of).unwrap_or(0),
        src,
        dst,
        iif: get(Frattr::Iifname).and_then(name_of),
        oif: get(Frattr::Oifname).and_then(name_of),
        fwmark,
        action,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NLMSG_HDRLEN: usize = 16;

    fn rule(family: Family, action: RuleAction) -> RuleSpec {
        RuleSpec {
            family,
            priority: 1000,
            src: None,
            dst: None,
            iif: None,
            oif: None,
            fwmark: None,
            action,
        }
    }

    /// `struct fib_rule_hdr` of a request: family, dst_len, src_len, tos, table, res1, res2,
    /// action, then flags (u32).
    fn header(request: &[u8]) -> [u8; 8] {
        request[NLMSG_HDRLEN..NLMSG_HDRLEN + 8].try_into().unwrap()
    }

    fn has_attr(request: &[u8], ty: u16, payload: &[u8]) -> bool {
        let mut want = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        want.extend_from_slice(&ty.to_ne_bytes());
        want.extend_from_slice(payload);
        request[NLMSG_HDRLEN + 12..]
            .windows(want.len())
            .any(|w| w == want.as_slice())
    }

    #[test]
    fn a_lookup_carries_its_table_in_the_header_only_while_it_fits_a_byte() {
        let small = add(&rule(Family::Ipv4, RuleAction::Lookup(100)), 4).unwrap();
        assert_eq!(header(&small), [2, 0, 0, 0, 100, 0, 0, 1]);
        assert!(has_attr(&small, 15, &100u32.to_ne_bytes()));
        let big = add(&rule(Family::Ipv6, RuleAction::Lookup(1000)), 4).unwrap();
        assert_eq!(header(&big), [10, 0, 0, 0, RT_TABLE_COMPAT, 0, 0, 1]);
        assert!(has_attr(&big, 15, &1000u32.to_ne_bytes()));
        let drop = del(&rule(Family::Ipv4, RuleAction::Prohibit), 4).unwrap();
        assert_eq!(header(&drop), [2, 0, 0, 0, 0, 0, 0, 8]);
        assert!(!has_attr(&drop, 15, &0u32.to_ne_bytes()));
        for r in [&small, &big, &drop] {
            assert!(has_attr(r, 6, &1000u32.to_ne_bytes()), "priority");
            assert!(has_attr(r, 21, &[4]), "protocol");
        }
        // NLM_F_REQUEST | ACK | EXCL | CREATE on the add; REQUEST | ACK on the delete.
        let flags = |r: &[u8]| u16::from_ne_bytes([r[6], r[7]]);
        assert_eq!(flags(&small), 0x1 | 0x4 | 0x200 | 0x400);
        assert_eq!(flags(&drop), 0x1 | 0x4);
    }

    #[test]
    fn a_request_reads_back_as_the_rule_it_was_built_from() {
        let full = RuleSpec {
            src: Some("10.1.0.0/16".parse().unwrap()),
            dst: Some("10.2.3.4/24".parse().unwrap()),
            iif: Some("veth-a".into()),
            oif: Some("nosuch0".into()),
            fwmark: Some((0x10, 0xf0)),
            ..rule(Family::Ipv4, RuleAction::Lookup(100_000))
        };
        let v6 = RuleSpec {
            src: Some("fd00:1::/64".parse().unwrap()),
            priority: 0,
            ..rule(Family::Ipv6, RuleAction::Blackhole)
        };
        for r in [full, v6] {
            let bytes = add(&r, 4).unwrap();
            let payload = &bytes[NLMSG_HDRLEN..];
            assert!(has_attr(&bytes, 3, b"veth-a\0") || r.iif.is_none());
            assert_eq!(parse(payload, 4).unwrap(), Some(r.clone()), "{r}");
            assert_eq!(parse(payload, 5).unwrap(), None, "another's protocol");
        }
    }

    #[test]
    fn a_rule_with_a_condition_the_agent_cannot_say_is_left_out() {
        let base = add(&rule(Family::Ipv4, RuleAction::Lookup(100)), 4).unwrap();
        let payload = base[NLMSG_HDRLEN..].to_vec();
        let with_attr = |ty: u16, value: u32| {
            let mut p = payload.clone();
            p.extend_from_slice(&8u16.to_ne_bytes());
            p.extend_from_slice(&ty.to_ne_bytes());
            p.extend_from_slice(&value.to_ne_bytes());
            p
        };
        assert!(parse(&with_attr(14, NO_SUPPRESSION), 4).unwrap().is_some());
        assert!(parse(&with_attr(14, 0), 4).unwrap().is_none(), "suppress");
        assert!(parse(&with_attr(22, 6), 4).unwrap().is_none(), "ip proto");
        let mut inverted = payload.clone();
        inverted[8] = 0x2;
        assert!(parse(&inverted, 4).unwrap().is_none());
        let mut detached = payload.clone();
        detached[8] = 0x18;
        assert!(parse(&detached, 4).unwrap().is_some());
        let mut tos = payload.clone();
        tos[3] = 0x10;
        assert!(parse(&tos, 4).unwrap().is_none());
        let mut goto = payload;
        goto[7] = 2;
        assert!(parse(&goto, 4).unwrap().is_none());
    }
}
