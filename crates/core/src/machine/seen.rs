//! A namespace's snapshot read against the core's beliefs: which observed link, route or
//! neighbour is the one an item holds (also while a rename is in flight, when either name may
//! show), and which observed addresses are an item's. Pure: `resync.rs` decides what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::command::Op;
use crate::netns::Netns;
use crate::observed::{LinkKind, ObservedLink, ObservedNamespace};

use super::state::{FdbActual, LinkActual, LinkRole, NeighbourActual, RouteActual};

pub(super) fn role_fits(role: &LinkRole, kind: LinkKind) -> bool {
    match role {
        LinkRole::Veth { .. } => kind == LinkKind::Veth,
        LinkRole::Dummy => kind == LinkKind::Dummy,
        LinkRole::Borrowed => true,
        LinkRole::Vrf { .. } => kind == LinkKind::Vrf,
        LinkRole::Bridge(_) => kind == LinkKind::Bridge,
        LinkRole::Tap(_) => kind == LinkKind::Tap,
        LinkRole::Macvlan { .. } => kind == LinkKind::Macvlan,
        LinkRole::Vxlan { .. } => kind == LinkKind::Vxlan,
    }
}

/// Which observed addresses count as the item's. On a link the agent owns, every address does,
/// except the IPv6 link-local ones the kernel adds by itself (unless asked for). On a borrowed
/// link only those the agent added or is asked to add: the rest are someone else's.
pub(super) fn observed_addresses(
    a: &LinkActual,
    l: &ObservedLink,
    desired: &[IpNet],
) -> Vec<IpNet> {
    l.addresses
        .iter()
        .filter(|addr| {
            if desired.contains(addr) {
                return true;
            }
            if a.role.owned() {
                !is_ipv6_link_local(addr)
            } else {
                a.addresses.contains(addr)
            }
        })
        .copied()
        .collect()
}

impl LinkActual {
    /// The belief about a link that resync takes on as seen: the observation says everything
    /// about it but which of its addresses are the item's.
    pub(super) fn observed(
        ns: &Netns,
        l: &ObservedLink,
        role: LinkRole,
        peer_link: Option<(Netns, String)>,
        desired: &[IpNet],
    ) -> LinkActual {
        let mut a = LinkActual {
            ns: ns.clone(),
            name: l.name.clone(),
            role,
            up: l.up,
            mtu: Some(l.mtu),
            mac: l.mac,
            alias: l.alias.clone(),
            addresses: vec![],
            peer_link,
            attributes_unknown: false,
            checksum_offload: l.checksum_offload,
            master: l.master.clone(),
            // Not known from a look: a bridge's is set again once.
            mtu_pinned: false,
        };
        a.addresses = observed_addresses(&a, l, desired);
        a
    }
}

fn is_ipv6_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// One namespace's snapshot during a resync, with what its steps have claimed of it so far.
/// Built once per observed namespace and threaded through the steps in order.
pub(super) struct Seen<'o> {
    pub(super) obs: &'o ObservedNamespace,
    pub(super) links: BTreeMap<&'o str, &'o ObservedLink>,
    pub(super) claimed_links: BTreeSet<&'o str>,
    pub(super) claimed_routes: BTreeSet<usize>,
    pub(super) claimed_neigh: BTreeSet<usize>,
    /// FDB entries claimed, by their VXLAN's name and position in its list.
    pub(super) claimed_fdb: BTreeSet<(&'o str, usize)>,
    /// Links being renamed here (old name to new name): a snapshot taken meanwhile may show
    /// either name, and shows what is on the link under the name it had then. Until the result
    /// comes, the core keeps calling a link by its old name, a veth's other end included.
    pub(super) renaming: BTreeMap<String, String>,
    /// Every rename in flight, by the link's new name, to its old one.
    pub(super) renamed_from: BTreeMap<(Netns, String), String>,
    /// Managed links seen (step 2): link name to the name of the item its mark names. Only
    /// this agent's links: its own marks, and legacy marks it holds or adopts.
    pub(super) managed: BTreeMap<&'o str, &'o str>,
    /// Managed links found stale (step 2): being removed, so no one's to borrow (step 3).
    pub(super) stale_links: BTreeSet<&'o str>,
}

impl<'o> Seen<'o> {
    pub(super) fn new<'f>(
        obs: &'o ObservedNamespace,
        in_flight: impl Iterator<Item = &'f Op>,
    ) -> Seen<'o> {
        let mut renaming = BTreeMap::new();
        let mut renamed_from = BTreeMap::new();
        for op in in_flight {
            if let Op::RenameLink {
                ns: at,
                name,
                new_name,
            } = op
            {
                if *at == obs.ns {
                    renaming.insert(name.clone(), new_name.clone());
                }
                renamed_from.insert((at.clone(), new_name.clone()), name.clone());
            }
        }
        Seen {
            obs,
            links: obs.links.iter().map(|l| (l.name.as_str(), l)).collect(),
            claimed_links: BTreeSet::new(),
            claimed_routes: BTreeSet::new(),
            claimed_neigh: BTreeSet::new(),
            claimed_fdb: BTreeSet::new(),
            renaming,
            renamed_from,
            managed: BTreeMap::new(),
            stale_links: BTreeSet::new(),
        }
    }

    /// Whether the link the core calls `believed` shows as `seen` (its new name, mid-rename).
    fn on_dev(&self, believed: &str, seen: &str) -> bool {
        seen == believed || self.renaming.get(believed).is_some_and(|n| n == seen)
    }

    /// A veth's other end as the core calls it: by its old name while a rename is in flight.
    pub(super) fn believed_peer(&self, seen: &Option<(Netns, String)>) -> Option<(Netns, String)> {
        seen.as_ref().map(|(pns, name)| {
            let key = (pns.clone(), name.clone());
            match self.renamed_from.get(&key) {
                Some(old) => (key.0, old.clone()),
                None => key,
            }
        })
    }

    pub(super) fn route_position(&self, r: &RouteActual) -> Option<usize> {
        self.obs.routes.iter().position(|o| {
            self.on_dev(&r.route.dev, &o.dev)
                && o.dst == r.route.dst
                && o.metric == r.route.metric
                && o.table == r.route.table
        })
    }

    pub(super) fn fdb_position(&self, f: &FdbActual) -> Option<(&'o str, usize)> {
        self.obs
            .links
            .iter()
            .filter(|l| self.on_dev(&f.link, &l.name))
            .find_map(|l| {
                let i = l.fdb.iter().position(|e| *e == (f.mac, f.remote))?;
                Some((l.name.as_str(), i))
            })
    }

    pub(super) fn neighbour_position(&self, n: &NeighbourActual) -> Option<usize> {
        self.obs
            .neighbours
            .iter()
            .position(|o| self.on_dev(&n.link, &o.link) && o.ip == n.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn observed(addresses: &[&str]) -> ObservedLink {
        ObservedLink {
            name: "l".into(),
            kind: LinkKind::Dummy,
            alias: None,
            mtu: 1500,
            mac: None,
            up: true,
            addresses: addresses.iter().map(|a| net(a)).collect(),
            peer: None,
            checksum_offload: Default::default(),
            master: None,
            vrf_table: None,
            bridge: None,
            tap: None,
            macvlan_mode: None,
            parent: None,
            vxlan: None,
            fdb: vec![],
        }
    }

    #[test]
    fn owned_links_keep_all_addresses_but_the_kernels_link_local_ones() {
        let l = observed(&["10.0.0.1/24", "fe80::1/64"]);
        let a = LinkActual::observed(&Netns::Default, &l, LinkRole::Dummy, None, &[]);
        assert_eq!(a.addresses, vec![net("10.0.0.1/24")]);
        let asked = [net("fe80::1/64")];
        let a = LinkActual::observed(&Netns::Default, &l, LinkRole::Dummy, None, &asked);
        assert_eq!(a.addresses.len(), 2);
    }

    #[test]
    fn borrowed_links_keep_only_what_the_item_asks_for() {
        let l = observed(&["10.0.0.1/24", "10.0.0.2/24"]);
        let asked = [net("10.0.0.2/24")];
        let a = LinkActual::observed(&Netns::Default, &l, LinkRole::Borrowed, None, &asked);
        assert_eq!(a.addresses, vec![net("10.0.0.2/24")]);
    }

    #[test]
    fn a_rename_in_flight_lets_either_name_match_and_keeps_the_old_name_for_peers() {
        let obs = ObservedNamespace {
            ns: Netns::Named("a".into()),
            links: vec![],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        };
        let rename = Op::RenameLink {
            ns: Netns::Named("a".into()),
            name: "old".into(),
            new_name: "new".into(),
        };
        let seen = Seen::new(&obs, std::iter::once(&rename));
        assert!(seen.on_dev("old", "new") && seen.on_dev("old", "old"));
        assert!(!seen.on_dev("new", "old"));
        let peer = Some((Netns::Named("a".into()), "new".to_string()));
        assert_eq!(
            seen.believed_peer(&peer),
            Some((Netns::Named("a".into()), "old".to_string()))
        );
    }

    #[test]
    fn roles_fit_the_kinds_they_are_made_of() {
        let veth = LinkRole::Veth {
            peer_item: "p".into(),
        };
        assert!(role_fits(&veth, LinkKind::Veth) && !role_fits(&veth, LinkKind::Dummy));
        assert!(role_fits(&LinkRole::Borrowed, LinkKind::Other));
    }
}
