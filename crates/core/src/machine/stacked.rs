//! Links made on another item's link, their parent: MACVLANs, and VXLANs with an underlay.
//! Such a link waits, with nothing of it in the kernel, until the parent's link is there where
//! the parent item wants it (as a member waits for its master, `master.rs`), and while a
//! command of the parent's is in flight (a rename would otherwise make it look gone). The
//! kernel ties the two together: deleting the parent deletes the links on it, in every
//! namespace. Lowering a parent's MTU lowers its MACVLANs'; moving a parent elsewhere leaves
//! its MACVLANs be, and deletes its VXLANs (their socket is bound to the parent's namespace).
//!
//! The two ends are never changed at once: a link on a parent is reconciled after the other
//! links (a queue of its own, `dirty.rs`), so that it sees a removal of its parent issued in
//! the same round, and a parent (or its veth partner) is not removed while a link on it has a
//! command in flight, since the two requests may reach the kernel in either order.
//!
//! Driving: `link_target` asks [`Core::parent_of`] for the parent's link (or why it waits),
//! `reconcile_interface` waits while [`Core::parent_in_flight`], `remove_link` while
//! [`Core::stacked_busy_on`], the result of any command calls [`Core::wake_stacked`]
//! and [`Core::wake_parent`], and the core's model of the kernel calls
//! [`Core::stacked_gone`] when a link goes and [`Core::parent_mtu_lowered`] when its MTU
//! is set.

use crate::command::LinkChange;
use crate::model::{Interface, InterfaceType, Item, ItemKey};
use crate::netns::Netns;
use crate::status::PendingReason;

use super::dirty::Resource;
use super::index::ids_in;
use super::state::{Actual, ItemId, LinkActual, LinkRole};
use super::Core;

impl Core {
    /// Where the parent link of the MACVLAN or VXLAN `iface` is (namespace and kernel name),
    /// or why it is not there for it.
    pub(super) fn parent_of(&self, iface: &Interface) -> Result<(Netns, String), PendingReason> {
        let parent = iface.parent().unwrap_or_default();
        let not_configured = || PendingReason::InterfaceNotConfigured(parent.to_string());
        let (_, slot) = self.interface_slot(parent).ok_or_else(not_configured)?;
        let Some(Item::Interface(p)) = slot.desired.as_deref() else {
            return Err(not_configured());
        };
        let macvlan = iface.kind == InterfaceType::Macvlan;
        if macvlan && p.kind == InterfaceType::Macvlan {
            return Err(PendingReason::ParentIsMacvlan(parent.to_string()));
        }
        // The kernel refuses a bridge port as a MACVLAN's parent, and a parent as a port
        // (EBUSY); a VXLAN's underlay may be anything.
        if macvlan && p.bridge_master.is_some() {
            return Err(PendingReason::ParentIsBridgePort(parent.to_string()));
        }
        // Read from the belief, as a master is: after a resync adopts both, the MACVLAN may be
        // reconciled before its parent is.
        let wanted_ns = self.resolve(&p.namespace).ok();
        match &slot.actual {
            // Still a port of one of the agent's bridges, on its way out of it: not yet.
            Actual::Link(a)
                if macvlan
                    && a.master
                        .as_ref()
                        .is_some_and(|m| self.is_own_bridge(&a.ns, m)) =>
            {
                Err(PendingReason::InterfaceNotReady(parent.to_string()))
            }
            Actual::Link(a) if Some(&a.ns) == wanted_ns.as_ref() && a.name == p.host_if_name => {
                Ok((a.ns.clone(), a.name.clone()))
            }
            _ => Err(PendingReason::InterfaceNotReady(parent.to_string())),
        }
    }

    /// Whether the link `name` in `ns` is a bridge of the agent's.
    fn is_own_bridge(&self, ns: &Netns, name: &str) -> bool {
        self.ix
            .link_owner
            .get(&(ns.clone(), name.to_string()))
            .is_some_and(|&b| {
                matches!(&self.slot(b).actual, Actual::Link(l) if matches!(l.role, LinkRole::Bridge(_)))
            })
    }

    /// Whether the parent of the MACVLAN or VXLAN `iface` holds one of the agent's own links
    /// where it wants it but under another name: that link is renamed in place, keeping what is
    /// on it, so a link on it waits for the rename rather than go (`parent_of` says it is not
    /// ready meanwhile).
    pub(super) fn parent_renaming(&self, iface: &Interface) -> bool {
        let Some((_, slot)) = iface.parent().and_then(|p| self.interface_slot(p)) else {
            return false;
        };
        let Some(Item::Interface(p)) = slot.desired.as_deref() else {
            return false;
        };
        let wanted_ns = self.resolve(&p.namespace).ok();
        matches!(&slot.actual, Actual::Link(a)
            if a.role.owned() && Some(&a.ns) == wanted_ns.as_ref() && a.name != p.host_if_name)
    }

    /// Whether the parent of the MACVLAN or VXLAN `iface` has a command in flight, or its link
    /// may be changed or removed by one (its veth partner's deletion, say).
    pub(super) fn parent_in_flight(&self, iface: &Interface) -> bool {
        let Some((_, slot)) = iface.parent().and_then(|p| self.interface_slot(p)) else {
            return false;
        };
        slot.in_flight.is_some()
            || matches!(&slot.actual, Actual::Link(a) if self.link_changing(&a.ns, &a.name))
    }

    /// Whether the link of the item `parent` is on its way out with its veth partner, a stale
    /// link whose removal is queued or in flight: that takes the parent and the links on it
    /// along, so the item `id` neither makes one on it nor removes its own meanwhile (it waits
    /// for the removal, which wakes it). Nor does it make one while a stale link on the same
    /// parent is being removed (a MACVLAN beside it, a VXLAN of the same VNI, may be refused).
    pub(super) fn parent_going(&mut self, id: ItemId, parent: &str) -> bool {
        let mut at: Vec<(Netns, String)> = Vec::new();
        // Where its own link sits, which may be no item's link any more.
        if let Actual::Link(a) = &self.slot(id).actual {
            at.extend(a.role.parent_link().cloned());
        }
        let mut stale_siblings = Vec::new();
        if let Some(Actual::Link(p)) = self.interface_slot(parent).map(|(_, s)| &s.actual) {
            let here = (p.ns.clone(), p.name.clone());
            stale_siblings = self.s.stale.stacked_on(&here);
            at.push(here);
            at.extend(p.peer_link.clone());
        }
        // A stale link still on the parent goes first: one made beside it may be refused.
        at.into_iter()
            .map(|(ns, name)| Resource::LinkName(ns, name))
            .chain(stale_siblings)
            .any(|res| self.blocked_by_stale(res, id))
    }

    /// Whether the link of item `id`, to be made a bridge port, waits for the MACVLANs on it
    /// to go first (they wait for it not to be one, `parent_of`): the kernel refuses a parent
    /// as a port (EBUSY).
    pub(super) fn port_waits_for_macvlans(
        &self,
        id: ItemId,
        iface: &Interface,
        a: &LinkActual,
        master: Option<&str>,
    ) -> bool {
        let name = self.slot(id).key.interface();
        let is_macvlan = |m: ItemId| {
            matches!(&self.slot(m).actual, Actual::Link(l) if matches!(l.role, LinkRole::Macvlan { .. }))
                || matches!(self.slot(m).desired.as_deref(),
                    Some(Item::Interface(i)) if i.kind == InterfaceType::Macvlan)
        };
        iface.bridge_master.is_some()
            && a.master.as_deref() != master
            && (ids_in(self.ix.stacked_on.get(name))
                .into_iter()
                .any(is_macvlan)
                || self
                    .stacked_wanting(name)
                    .into_iter()
                    .any(|m| is_macvlan(m) && self.slot(m).in_flight.is_some()))
    }

    /// Whether the link `a` of item `id`, made on a parent, is left for the kernel to delete
    /// rather than deleted: its parent has a command in flight that may remove it (or rename
    /// or move it), or is on its way out with a stale partner ([`Core::parent_going`]).
    pub(super) fn goes_with_parent(&mut self, id: ItemId, a: &LinkActual) -> bool {
        let Some(parent_item) = a.role.parent_item() else {
            return false;
        };
        let on_its_way = self.interface_slot(parent_item).is_some_and(|(_, s)| {
            s.in_flight.is_some()
                || matches!(&s.actual, Actual::Link(p) if self.link_changing(&p.ns, &p.name))
        });
        on_its_way || self.parent_going(id, parent_item)
    }

    /// A command of the item `id` has its result: the links naming it or its veth peer as
    /// their parent, which waited for it ([`Core::parent_in_flight`]), get their turn.
    pub(super) fn wake_stacked(&mut self, id: ItemId) {
        let ItemKey::Interface(name) = &self.slot(id).key else {
            return;
        };
        let peer = self.desired_interface(id).and_then(|i| i.veth_peer.clone());
        let parents: Vec<String> = std::iter::once(name.clone()).chain(peer).collect();
        for parent in parents {
            // Those that want to be on it, with what waited on them meanwhile.
            for m in self.stacked_wanting(&parent) {
                self.mark_related_dirty(m);
            }
            self.wake_on(&parent, 3);
        }
    }

    /// The links on the link of the item `parent` (removing theirs, say), and what is on them
    /// (routes, neighbours, FDB entries, the links on those, `depth` far), which waited while
    /// the parent's command could change them (`link_changing`).
    fn wake_on(&mut self, parent: &str, depth: u32) {
        for m in ids_in(self.ix.stacked_on.get(parent)) {
            self.mark_related_dirty(m);
            if depth > 0 {
                let name = self.slot(m).key.interface().to_string();
                self.wake_on(&name, depth - 1);
            }
        }
    }

    /// Whether a link naming the item `id` as its parent has a command in flight (its
    /// creation, sent in the parent's namespace): the parent's link, or its veth partner's
    /// (which takes it along), is not removed meanwhile, as the two requests may go on
    /// different sockets and reach the kernel in either order.
    pub(super) fn stacked_busy_on(&self, id: ItemId) -> bool {
        let ItemKey::Interface(name) = &self.slot(id).key else {
            return false;
        };
        self.stacked_wanting(name)
            .into_iter()
            .any(|m| self.slot(m).in_flight.is_some())
    }

    /// The MACVLAN and VXLAN items whose desired parent is the item `parent`.
    fn stacked_wanting(&self, parent: &str) -> Vec<ItemId> {
        ids_in(self.ix.referrers.get(parent))
            .into_iter()
            .filter(|&m| {
                matches!(self.slot(m).desired.as_deref(),
                    Some(Item::Interface(i)) if i.parent() == Some(parent))
            })
            .collect()
    }

    /// A command of the MACVLAN or VXLAN item `id` has its result: its parent (and the
    /// parent's veth partner), which may have waited for it ([`Core::stacked_busy_on`]), get
    /// their turn.
    pub(super) fn wake_parent(&mut self, id: ItemId) {
        // The one it wants, and the one it is on (which may wait for it to go).
        let wanted = self.desired_interface(id).and_then(|i| i.parent());
        let on = match &self.slot(id).actual {
            Actual::Link(l) => l.role.parent_item(),
            _ => None,
        };
        let parents: Vec<String> = wanted.into_iter().chain(on).map(str::to_string).collect();
        for parent in parents {
            let Some((pid, p)) = self.interface_slot(&parent) else {
                continue;
            };
            let partner = match p.desired.as_deref() {
                Some(Item::Interface(i)) => i.veth_peer.clone(),
                _ => None,
            };
            // With what waited on the parent's link meanwhile (`link_changing`), and the
            // other links on it, which waited to be left to the kernel (`goes_with_parent`)
            // while this one's command was on its way.
            self.mark_related_dirty(pid);
            if let Some((qid, _)) = partner.as_deref().and_then(|q| self.interface_slot(q)) {
                self.mark_related_dirty(qid);
            }
            // Those on the partner's link waited too: what changes one end of a pair
            // changes the other (`link_changing`).
            for on in std::iter::once(parent.as_str()).chain(partner.as_deref()) {
                for sibling in ids_in(self.ix.stacked_on.get(on)) {
                    self.mark_dirty(sibling);
                }
            }
        }
    }

    /// The link of the item `parent` is now at `to` (renamed, or moved to another namespace
    /// with its MACVLANs kept): the links on it stay on it.
    pub(super) fn parent_moved(
        &mut self,
        parent: &str,
        from: &(Netns, String),
        to: &(Netns, String),
    ) {
        for id in ids_in(self.ix.stacked_on.get(parent)) {
            if let Actual::Link(l) = &mut self.slot_mut(id).actual {
                if let Some(parent_link) = l.role.parent_link_mut() {
                    if parent_link.as_ref() == Some(from) {
                        *parent_link = Some(to.clone());
                    }
                }
            }
        }
    }

    /// What the core believes of the MACVLANs on the link of `parent`, before that link is
    /// forgotten for another reason than its deletion (a move: [`Core::macvlans_back`]). Its
    /// VXLANs are not kept: the kernel deletes them when it leaves their socket's namespace.
    pub(super) fn macvlans_kept(&self, parent: &str) -> Vec<(ItemId, Actual)> {
        ids_in(self.ix.stacked_on.get(parent))
            .into_iter()
            .filter(|&id| {
                matches!(&self.slot(id).actual,
                    Actual::Link(l) if matches!(l.role, LinkRole::Macvlan { .. }))
            })
            .map(|id| (id, self.slot(id).actual.clone()))
            .collect()
    }

    /// The MACVLANs `kept` are still there, on the link of `parent`, now at `to`.
    pub(super) fn macvlans_back(
        &mut self,
        parent: &str,
        kept: Vec<(ItemId, Actual)>,
        from: &(Netns, String),
        to: &(Netns, String),
    ) {
        for (id, actual) in kept {
            self.set_actual(id, actual);
        }
        self.parent_moved(parent, from, to);
    }

    /// The link `name` in `ns` went, whoever's it was (a stale link, the far end of a veth):
    /// the links believed on it went with it. They are few: they are looked through.
    pub(super) fn stacked_at_gone(&mut self, ns: &Netns, name: &str) {
        let at = (ns.clone(), name.to_string());
        let on: Vec<ItemId> = self
            .ix
            .stacked_on
            .values()
            .flatten()
            .copied()
            .filter(|&id| {
                matches!(&self.slot(id).actual,
                    Actual::Link(l) if l.role.parent_link() == Some(&at))
            })
            .collect();
        for id in on {
            self.forget_kernel_objects(id);
        }
        // And the stale ones on it, whose removals have nothing left to do.
        for o in self.s.stale.stacked_removals_on(&at) {
            if self
                .s
                .stale
                .get(o)
                .is_some_and(|obj| obj.in_flight.is_none())
            {
                self.finish_stale(o, true);
            }
        }
    }

    /// The link of the item `parent` went: the kernel deleted the links on it with it.
    pub(super) fn stacked_gone(&mut self, parent: &str) {
        for id in ids_in(self.ix.stacked_on.get(parent)) {
            self.forget_kernel_objects(id);
        }
    }

    /// The link of the item `parent` was given the MTU `mtu`: the kernel lowers its
    /// MACVLANs' to it where theirs was higher (and never raises them).
    pub(super) fn parent_mtu_lowered(&mut self, parent: &str, mtu: u32) {
        for id in ids_in(self.ix.stacked_on.get(parent)) {
            let (ns, name) = match &self.slot(id).actual {
                Actual::Link(l)
                    if matches!(l.role, LinkRole::Macvlan { .. })
                        && l.mtu.is_some_and(|m| m > mtu) =>
                {
                    (l.ns.clone(), l.name.clone())
                }
                _ => continue,
            };
            // As if set on it: what the kernel drops below the IPv6 minimum goes too.
            let change = LinkChange {
                mtu: Some(mtu),
                ..LinkChange::default()
            };
            self.link_set(id, &ns, &name, &change);
        }
    }

    /// The item whose link a resync found the MACVLAN or VXLAN item `id`'s parent to be: `None` when
    /// the backend could not tell where the parent is; the item believed to hold the link
    /// there; else the item's own parent if that item wants its link there (a resync after a
    /// restart may see the MACVLAN before it has taken the parent back, in a namespace looked
    /// at later); else `Some("")`, no item's, so that the MACVLAN fits none and is made again.
    pub(super) fn parent_seen(&self, id: ItemId, seen: &Option<(Netns, String)>) -> Option<String> {
        let at = seen.as_ref()?;
        if let Some(&owner) = self.ix.link_owner.get(at) {
            return Some(self.slot(owner).key.interface().to_string());
        }
        let wanted = self.desired_interface(id).and_then(|i| i.parent());
        let wants_it_there = wanted
            .and_then(|p| self.interface_slot(p))
            .and_then(|(_, s)| match s.desired.as_deref() {
                Some(Item::Interface(p)) => Some(p),
                _ => None,
            })
            .is_some_and(|p| {
                // Its namespace may be one the same look makes available, further on.
                let ns = self
                    .resolve(&p.namespace)
                    .ok()
                    .or_else(|| p.namespace.fixed());
                p.host_if_name == at.1 && ns.as_ref() == Some(&at.0)
            });
        Some(
            wanted
                .filter(|_| wants_it_there)
                .unwrap_or_default()
                .to_string(),
        )
    }
}
