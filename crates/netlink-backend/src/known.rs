//! What the watcher last heard of each link and address of a namespace, so that a notification
//! that changes nothing an observation reports is not taken for a change.
//!
//! The kernel follows the agent's own requests with notifications of its own (sent on no one's
//! behalf, so they do not carry the agent's port id): carrier coming up on both ends of a new
//! veth, IPv6 duplicate address detection finishing, link-local addresses appearing. Each of
//! them used to make the whole namespace be observed again. An observation reports, per link,
//! its name, kind, alias, MTU, MAC, admin state, veth peer and the addresses not added by the
//! kernel; a notification that leaves all of those as they were is noise. Every notification,
//! the agent's own included, updates what is known; only one from someone else that changes
//! something counts, and one that shows only what the backend itself is changing (`echo.rs`)
//! is the backend's own. Route and neighbour messages are judged by the watcher itself
//! (`watch::concerns_managed`); here they count unless the backend sent them, and a message
//! that does not parse counts: when in doubt, observe.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::Instant;

use ipnet::IpNet;
use neli::consts::rtnl::Rtm;
use nsagent_core::{LinkKind, MacAddr, Netns};

use crate::echo::{Echoes, LinkEcho};
use crate::observe::{addresses, links, parse_address, parse_link, DumpedLink};
use crate::socket::{Message, NetlinkSocket};

/// The attributes of a link that an observation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkFacts {
    name: String,
    kind: LinkKind,
    alias: Option<String>,
    mtu: u32,
    mac: Option<MacAddr>,
    up: bool,
    peer: Option<(i32, Option<i32>)>,
}

impl LinkFacts {
    fn of(d: DumpedLink) -> LinkFacts {
        LinkFacts {
            name: d.link.name,
            kind: d.link.kind,
            alias: d.link.alias,
            mtu: d.link.mtu,
            mac: d.link.mac,
            up: d.link.up,
            peer: d.peer,
        }
    }
}

/// One namespace's links (by index) and addresses, as its notifications told them. Feed it
/// every notification the namespace's multicast socket receives, in order ([`Known::learn`]);
/// start from a dump ([`Known::dumped`]) each time the socket is opened, since what it missed
/// is unknown.
#[derive(Debug, Default)]
pub(crate) struct Known {
    links: HashMap<i32, LinkFacts>,
    addresses: HashSet<(i32, IpNet)>,
}

impl Known {
    /// What a dump shows now: taken right after the namespace's multicast socket is opened, so
    /// that a change of a link the agent made before it was watched is told from an echo.
    pub(crate) fn dumped(sock: &mut NetlinkSocket) -> io::Result<Known> {
        let mut known = Known::default();
        for d in links(sock)? {
            known.links.insert(d.index, LinkFacts::of(d));
        }
        known.addresses.extend(addresses(sock)?);
        Ok(known)
    }

    /// Takes in one notification of `ns`; returns whether it shows someone other than the
    /// backend changing something an observation reports (or might: an unknown message type,
    /// or one that does not parse). `from_backend`: it carries the port id of one of the
    /// backend's sockets; otherwise `echoes` tell whether it is the backend's own change all
    /// the same (see `echo.rs`).
    pub(crate) fn learn(
        &mut self,
        msg: &Message,
        ns: &Netns,
        echoes: &Echoes,
        from_backend: bool,
        now: Instant,
    ) -> bool {
        let ty = msg.ty;
        if ty == u16::from(Rtm::Newlink) {
            let Ok(d) = parse_link(msg.payload) else {
                return true;
            };
            let index = d.index;
            let facts = LinkFacts::of(d);
            let echo = echoes.link_echo(ns, &facts.name, now);
            let before = self.links.insert(index, facts.clone());
            match before {
                Some(before) if before == facts => false,
                _ if from_backend => false,
                before => !echo.is_some_and(|e| explains(e, before.as_ref(), &facts)),
            }
        } else if ty == u16::from(Rtm::Dellink) {
            let Ok(d) = parse_link(msg.payload) else {
                return true;
            };
            self.addresses.retain(|(i, _)| *i != d.index);
            self.links.remove(&d.index);
            let echo = echoes.link_echo(ns, &d.link.name, now);
            // A link never heard of may have been there all along.
            !from_backend && !echo.is_some_and(|e| e.deleted)
        } else if ty == u16::from(Rtm::Newaddr) || ty == u16::from(Rtm::Deladdr) {
            let Ok(parsed) = parse_address(msg.payload) else {
                return true;
            };
            let Some(addr) = parsed else {
                return false;
            };
            // Removed: a change even if never heard of, as it may predate the socket.
            let news = if ty == u16::from(Rtm::Newaddr) {
                self.addresses.insert(addr)
            } else {
                self.addresses.remove(&addr);
                true
            };
            let coming = ty == u16::from(Rtm::Newaddr);
            news && !from_backend && !echoes.address_echo(ns, &addr.1, coming, now)
        } else {
            // Routes and neighbours: `watch::concerns_managed` judges those.
            !from_backend
        }
    }
}

/// Whether a link notification shows nothing but what was known of the link before and what
/// the backend is changing on it. A link never heard of is explained by its creation, or by
/// the attributes the backend sets matching (the rest were never known, so cannot have
/// changed as far as the watcher can tell).
fn explains(echo: &LinkEcho, before: Option<&LinkFacts>, now: &LinkFacts) -> bool {
    let set = |was: bool, wanted: bool| was || wanted;
    match before {
        None => {
            echo.created
                || echo.renamed
                || (echo.up.is_none_or(|u| u == now.up)
                    && echo.mtu.is_none_or(|m| m == now.mtu)
                    && (echo.mac.is_none() || echo.mac == now.mac)
                    && (echo.alias.is_none() || echo.alias == now.alias))
        }
        Some(b) => {
            set(b.name == now.name, echo.renamed)
                && set(b.kind == now.kind && b.peer == now.peer, echo.created)
                && set(b.up == now.up, echo.up == Some(now.up))
                && set(b.mtu == now.mtu, echo.mtu == Some(now.mtu))
                && set(b.mac == now.mac, echo.mac.is_some() && echo.mac == now.mac)
                && set(
                    b.alias == now.alias,
                    echo.alias.is_some() && echo.alias == now.alias,
                )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message;
    use crate::socket::Messages;
    use nsagent_core::{LinkSpec, Op};

    /// The request messages the backend sends have the layout of the kernel's notifications
    /// (the same ifinfomsg / ifaddrmsg and attributes), so they stand in for them here.
    fn as_notification(request: Vec<u8>, ty: Rtm) -> Vec<u8> {
        let mut bytes = request;
        bytes[4..6].copy_from_slice(&u16::from(ty).to_ne_bytes());
        bytes
    }

    fn learn(known: &mut Known, bytes: &[u8]) -> bool {
        let msg = Messages::new(bytes)
            .next()
            .expect("one message")
            .expect("parses");
        known.learn(
            &msg,
            &Netns::Default,
            &Echoes::default(),
            false,
            Instant::now(),
        )
    }

    fn link(name: &str, up: bool, mtu: Option<u32>) -> Vec<u8> {
        let spec = LinkSpec {
            name: name.into(),
            mtu,
            mac: None,
            alias: Some("nsagent:x".into()),
            up,
        };
        let request = message::new_link(&spec, None).expect("encode");
        as_notification(request, Rtm::Newlink)
    }

    #[test]
    fn a_notification_repeating_what_is_known_is_not_a_change() {
        let mut known = Known::default();
        assert!(
            learn(&mut known, &link("a", true, Some(1500))),
            "first news of a link"
        );
        assert!(
            !learn(&mut known, &link("a", true, Some(1500))),
            "carrier only"
        );
        assert!(
            learn(&mut known, &link("a", false, Some(1500))),
            "taken down"
        );
        assert!(learn(&mut known, &link("a", false, Some(1400))), "new MTU");
    }

    #[test]
    fn an_address_heard_again_is_not_a_change_but_a_removal_always_is() {
        let mut known = Known::default();
        let addr: IpNet = "fd00::1/64".parse().expect("net");
        let add = as_notification(
            message::add_address(3, &addr).expect("encode"),
            Rtm::Newaddr,
        );
        let del = as_notification(
            message::del_address(3, &addr).expect("encode"),
            Rtm::Deladdr,
        );
        assert!(learn(&mut known, &add));
        assert!(
            !learn(&mut known, &add),
            "duplicate address detection finished"
        );
        assert!(learn(&mut known, &del));
        assert!(
            learn(&mut known, &del),
            "a removal never heard of still counts"
        );
    }

    #[test]
    fn messages_of_other_kinds_count_as_changes_unless_the_backend_sent_them() {
        let mut known = Known::default();
        let addr: IpNet = "10.0.0.1/24".parse().expect("net");
        let other = as_notification(
            message::add_address(3, &addr).expect("encode"),
            Rtm::Newroute,
        );
        assert!(learn(&mut known, &other));
        let msg = Messages::new(&other).next().expect("one").expect("parses");
        let now = Instant::now();
        assert!(!known.learn(&msg, &Netns::Default, &Echoes::default(), true, now));
    }

    #[test]
    fn a_change_the_backend_is_making_is_its_echo_but_another_on_the_same_link_is_not() {
        let mut known = Known::default();
        let mut echoes = Echoes::default();
        let now = Instant::now();
        let learn = |known: &mut Known, echoes: &Echoes, bytes: &[u8]| {
            let msg = Messages::new(bytes).next().expect("one").expect("parses");
            known.learn(&msg, &Netns::Default, echoes, false, now)
        };
        assert!(learn(&mut known, &echoes, &link("a", false, Some(1500))));
        let up = Op::SetLink {
            ns: Netns::Default,
            name: "a".into(),
            change: nsagent_core::LinkChange {
                up: Some(true),
                ..Default::default()
            },
        };
        echoes.expect(&[&up], now);
        assert!(
            !learn(&mut known, &echoes, &link("a", true, Some(1500))),
            "its own"
        );
        assert!(
            learn(&mut known, &echoes, &link("a", true, Some(1280))),
            "MTU by hand"
        );
        let create = Op::CreateLink {
            ns: Netns::Default,
            link: LinkSpec {
                name: "b".into(),
                mtu: None,
                mac: None,
                alias: None,
                up: false,
            },
            kind: nsagent_core::NewLink::Dummy,
        };
        echoes.expect(&[&create], now);
        let mut b = link("b", false, Some(1500));
        // ifinfomsg's ifi_index, after the 16-byte header and family, pad and type.
        b[20..24].copy_from_slice(&7i32.to_ne_bytes());
        assert!(!learn(&mut known, &echoes, &b), "made by it");
    }
}
