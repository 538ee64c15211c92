//! Taking back what a resync found stale: an item that comes back for its own link, route or
//! neighbour while the removal of it is still queued holds it again as it is, and the removal
//! is dropped. Deleting it only to make it again would change a link's ifindex and cut what
//! uses it; letting the removal go ahead after the item adopted the object would leave the item
//! reported applied for an object the kernel no longer holds. A removal already on its way is
//! never overtaken: its result decides.
//!
//! Driven from the item's reconcile (`reclaim_stale_link`, before it makes a link), from resync
//! (`take_back_from_stale`, before it adopts a route or neighbour) and from the issue of
//! removals (`wanted_back`, which holds back a link removal its busy item will take back). A
//! link removal that completes while an item still believes it holds the link clears that
//! belief (`finish_stale` in stale.rs), so the item makes it again instead of deleting it twice.

use crate::identity::Mark;
use crate::netns::Netns;
use crate::observed::{LinkKind, ObservedLink};

use super::dirty::Resource;
use super::stale::{names, FoundLink, StaleObject};
use super::state::{Actual, ItemId, LinkActual, LinkRole};
use super::target::WantedRole;
use super::Core;

/// How an item takes a stale link back: the link, the role it holds it in, and the veth peer
/// item that takes the other end back with it, if that one holds none yet.
struct Reclaim {
    found: FoundLink,
    role: LinkRole,
    peer_takes: Option<(ItemId, (Netns, ObservedLink))>,
}

impl Core {
    /// An item about to make a link that a stale removal, not yet on its way, is to delete —
    /// its own link from before, found by a resync while no item wanted it — takes the link
    /// back as resync saw it: deleting it only to make it again would change its ifindex and
    /// cut what uses it, for nothing. A veth end is taken back only with its other end, held
    /// by the peer item or taken back with it. Returns whether the item now holds a link.
    pub(super) fn reclaim_stale_link(&mut self, id: ItemId, ns: &Netns, role: &WantedRole) -> bool {
        if self.s.stale.is_empty() || self.slot(id).in_flight.is_some() {
            return false;
        }
        let Some(plan) = self.reclaim_plan(id, ns, role) else {
            return false;
        };
        let me = self.slot(id).key.interface().to_string();
        let found = plan.found;
        let here = Some((ns.clone(), found.link.name.clone()));
        let addresses = self.addresses_of(id);
        let a = LinkActual::observed(ns, &found.link, plan.role, found.other.clone(), &addresses);
        self.set_actual(id, Actual::Link(a));
        if let Some((peer, (pns, l))) = plan.peer_takes {
            let role = LinkRole::Veth { peer_item: me };
            let addresses = self.addresses_of(peer);
            let a = LinkActual::observed(&pns, &l, role, here, &addresses);
            self.set_actual(peer, Actual::Link(a));
        }
        self.finish_stale(found.removal, false);
        true
    }

    /// How item `id`, wanting a link of `role` in `ns`, would take back a stale link of its
    /// own (see [`Core::reclaim_stale_link`]), whatever the item is busy with right now. The
    /// same judgement holds a removal back while its item is busy (`issue_due_stale`), so that
    /// the removal goes ahead exactly when the item, once idle, would not take the link back.
    fn reclaim_plan(&self, id: ItemId, ns: &Netns, role: &WantedRole) -> Option<Reclaim> {
        let me = self.slot(id).key.interface();
        let identity = &self.s.config.identity;
        let found = self.s.stale.waiting_link_of(ns, me, identity)?;
        let here = Some((ns.clone(), found.link.name.clone()));
        let (role, peer_takes) = match (role, found.link.kind) {
            (WantedRole::Dummy, LinkKind::Dummy) => (LinkRole::Dummy, None),
            // A bridge's settings are what was seen; configuring it in place follows.
            // A TAP's settings are fixed when it is made: one with others is not the item's.
            (WantedRole::Tap(t), LinkKind::Tap) if found.link.tap == Some(*t) => {
                (LinkRole::Tap(*t), None)
            }
            (WantedRole::Bridge(_), LinkKind::Bridge) => (
                LinkRole::Bridge(found.link.bridge.unwrap_or_default()),
                None,
            ),
            // A VRF's table is fixed when it is made: one of another table is not the item's.
            (WantedRole::Vrf { table }, LinkKind::Vrf) if found.link.vrf_table == Some(*table) => {
                (LinkRole::Vrf { table: *table }, None)
            }
            (WantedRole::Veth { peer, peer_ns }, LinkKind::Veth) => {
                let p = self.slot(*peer);
                let (other_ns, other_name) = found.other.as_ref()?;
                let holds_other = matches!(&p.actual, Actual::Link(a)
                    if &a.ns == other_ns && &a.name == other_name && a.peer_link == here);
                let takes_other = match &found.other_seen {
                    Some((n, l)) if p.actual == Actual::None && n == peer_ns => {
                        names(identity, l, p.key.interface()).then(|| (n.clone(), l.clone()))
                    }
                    _ => None,
                };
                if p.in_flight.is_some() || !(holds_other || takes_other.is_some()) {
                    return None;
                }
                let peer_item = p.key.interface().to_string();
                (
                    LinkRole::Veth { peer_item },
                    takes_other.map(|t| (*peer, t)),
                )
            }
            _ => return None,
        };
        Some(Reclaim {
            found,
            role,
            peer_takes,
        })
    }

    /// Whether the removal of stale link `o` waits because an item that is busy right now
    /// (its old link still going, a command in flight) will take the link back once idle.
    pub(super) fn wanted_back(&self, obj: &StaleObject) -> bool {
        let ends = [&obj.found, &obj.found_peer];
        ends.into_iter().flatten().any(|(ns, l)| {
            let (Mark::Mine(item) | Mark::Legacy(item)) =
                self.s.config.identity.read(l.alias.as_deref())
            else {
                return false;
            };
            let Some((id, _)) = self.interface_slot(item) else {
                return false;
            };
            let Some(iface) = self.desired_interface(id) else {
                return false;
            };
            match self.link_target(id, iface) {
                Ok(t) if &t.ns == ns && t.role.owned() => {
                    self.reclaim_plan(id, ns, &t.role).is_some()
                }
                _ => false,
            }
        })
    }

    fn addresses_of(&self, id: ItemId) -> Vec<ipnet::IpNet> {
        self.desired_interface(id)
            .map(|i| i.ip_addresses.clone())
            .unwrap_or_default()
    }

    /// Before resync adopts a route or neighbour for an item: the queued removal of that object
    /// is dropped, since the object is wanted again and its item holds it; one already in
    /// flight keeps it from being adopted until its result is in. Returns whether the object
    /// may be adopted. (Links are taken back by `reclaim_stale_link` alone: a veth end adopted
    /// without its pair's removal would leave the other end no one's.)
    pub(super) fn take_back_from_stale(&mut self, res: &Resource) -> bool {
        let removals = self.s.stale.removals_of(res);
        let in_flight = removals.iter().any(|&o| {
            self.s
                .stale
                .get(o)
                .is_some_and(|obj| obj.in_flight.is_some())
        });
        if in_flight {
            return false;
        }
        for o in removals {
            self.finish_stale(o, false);
        }
        true
    }
}
