//! Echoes: the notifications the kernel sends about the backend's own changes without saying
//! so. Address and route notifications carry the port id of the socket whose request caused
//! them, but link notifications (and IPv6 address ones) are sent on no one's behalf, so the
//! watcher cannot tell the agent's own veth creations, renames and admin-state changes from a
//! hand-made change — and observed every namespace the agent worked in again.
//!
//! Before it sends a batch, the backend records here what each command will change (`expect`):
//! per link, the attributes it sets; per address, that it comes or goes. The watcher asks
//! (`explains`) whether a notification shows only what was known before plus what the backend
//! set; only then is it the backend's echo. A hand-made change of another attribute of the
//! same link still shows, and so does any change once `ECHO_WINDOW` has passed. An expectation
//! of a command that failed expires the same way; meanwhile it can only hide a change to
//! exactly the value the agent wanted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use nsagent_core::{LinkSpec, MacAddr, Netns, NewLink, Op};

/// How long after a batch is sent its notifications count as its echoes: generous, since the
/// kernel's own follow-ups (linkwatch runs about once a second) come late.
const ECHO_WINDOW: Duration = Duration::from_secs(5);

/// What the backend is changing on one link, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LinkEcho {
    /// Made by the backend: any first notification of it is its echo.
    pub created: bool,
    /// Renamed to this name by the backend: the name may differ from the one known.
    pub renamed: bool,
    pub deleted: bool,
    pub up: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub alias: Option<String>,
    until: Option<Instant>,
}

/// Every expectation, by namespace and link name or address. Shared by the backend (writer)
/// and the watcher (reader) through the socket cache.
#[derive(Debug, Default)]
pub(crate) struct Echoes {
    links: HashMap<(Netns, String), LinkEcho>,
    /// Per address: until when, and whether it is coming (added) or going (deleted). Only a
    /// notification of the same direction is its echo: an address the backend just added and
    /// someone deletes by hand is a change.
    addresses: HashMap<(Netns, IpNet), (Instant, bool)>,
}

impl Echoes {
    /// Records what `ops` are about to change, at `now`.
    pub(crate) fn expect(&mut self, ops: &[&Op], now: Instant) {
        let until = now + ECHO_WINDOW;
        self.links.retain(|_, e| e.until.is_some_and(|u| u > now));
        self.addresses.retain(|_, (u, _)| *u > now);
        for op in ops {
            match op {
                Op::CreateLink { ns, link, kind } => {
                    self.created(ns, link, until);
                    if let NewLink::Veth { peer_ns, peer } = kind {
                        self.created(peer_ns, peer, until);
                    }
                }
                Op::SetLink { ns, name, change } => {
                    let e = self.link(ns, name, until);
                    e.up = change.up.or(e.up);
                    e.mtu = change.mtu.or(e.mtu);
                    e.mac = change.mac.or(e.mac);
                    e.alias = change.alias.clone().or(e.alias.take());
                }
                Op::RenameLink { ns, new_name, .. } => {
                    self.link(ns, new_name, until).renamed = true
                }
                Op::DeleteLink { ns, name } => self.link(ns, name, until).deleted = true,
                Op::AddAddress { ns, addr, .. } => {
                    self.addresses.insert((ns.clone(), *addr), (until, true));
                }
                Op::DelAddress { ns, addr, .. } => {
                    self.addresses.insert((ns.clone(), *addr), (until, false));
                }
                _ => {}
            }
        }
    }

    fn link(&mut self, ns: &Netns, name: &str, until: Instant) -> &mut LinkEcho {
        let e = self
            .links
            .entry((ns.clone(), name.to_string()))
            .or_default();
        e.until = Some(until);
        e
    }

    fn created(&mut self, ns: &Netns, spec: &LinkSpec, until: Instant) {
        let e = self.link(ns, &spec.name, until);
        e.created = true;
        e.up = Some(spec.up);
        e.mtu = spec.mtu.or(e.mtu);
        e.mac = spec.mac.or(e.mac);
        e.alias = spec.alias.clone().or(e.alias.take());
    }

    /// What the backend is changing on the link `name` in `ns`, if anything, at `now`.
    pub(crate) fn link_echo(&self, ns: &Netns, name: &str, now: Instant) -> Option<&LinkEcho> {
        self.links
            .get(&(ns.clone(), name.to_string()))
            .filter(|e| e.until.is_some_and(|u| u > now))
    }

    /// Whether the backend is adding (`coming`) or removing `addr` in `ns`, at `now`.
    pub(crate) fn address_echo(
        &self,
        ns: &Netns,
        addr: &IpNet,
        coming: bool,
        now: Instant,
    ) -> bool {
        self.addresses
            .get(&(ns.clone(), *addr))
            .is_some_and(|(u, c)| *u > now && *c == coming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsagent_core::LinkChange;

    fn ns() -> Netns {
        Netns::Named("a".into())
    }

    #[test]
    fn changes_to_one_link_add_up_and_expire() {
        let mut echoes = Echoes::default();
        let t = Instant::now();
        let set = |change| Op::SetLink {
            ns: ns(),
            name: "x".into(),
            change,
        };
        let up = set(LinkChange {
            up: Some(true),
            ..LinkChange::default()
        });
        let mtu = set(LinkChange {
            mtu: Some(1400),
            ..LinkChange::default()
        });
        echoes.expect(&[&up, &mtu], t);
        let e = echoes.link_echo(&ns(), "x", t).expect("expected");
        assert_eq!((e.up, e.mtu, e.created), (Some(true), Some(1400), false));
        assert!(echoes.link_echo(&Netns::Default, "x", t).is_none());
        assert!(echoes.link_echo(&ns(), "x", t + ECHO_WINDOW).is_none());
    }

    #[test]
    fn a_veth_creation_expects_both_ends_and_an_address_its_coming() {
        let mut echoes = Echoes::default();
        let t = Instant::now();
        let spec = |name: &str| LinkSpec {
            name: name.into(),
            mtu: None,
            mac: None,
            alias: Some(format!("nsagent:{name}")),
            up: true,
        };
        let create = Op::CreateLink {
            ns: ns(),
            link: spec("x"),
            kind: NewLink::Veth {
                peer_ns: Netns::Default,
                peer: spec("y"),
            },
        };
        let addr: IpNet = "fd00::1/64".parse().expect("net");
        let add = Op::AddAddress {
            ns: ns(),
            link: "x".into(),
            addr,
        };
        echoes.expect(&[&create, &add], t);
        assert!(echoes.link_echo(&ns(), "x", t).is_some_and(|e| e.created));
        let peer = echoes.link_echo(&Netns::Default, "y", t).expect("peer");
        assert_eq!(peer.alias.as_deref(), Some("nsagent:y"));
        assert!(echoes.address_echo(&ns(), &addr, true, t));
        assert!(
            !echoes.address_echo(&ns(), &addr, false, t),
            "an address the backend added and someone deletes is a change"
        );
        assert!(!echoes.address_echo(&Netns::Default, &addr, true, t));
        // A later batch drops what has expired.
        echoes.expect(&[], t + ECHO_WINDOW);
        assert!(echoes.links.is_empty() && echoes.addresses.is_empty());
    }
}
