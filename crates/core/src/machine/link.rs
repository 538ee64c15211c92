//! Reconciling an interface item's link: create, rename in place, configure, or remove. A link
//! whose namespace, kind or veth peer differs from the desired one is re-created; one whose name
//! differs is renamed where it is (by index), so that what is on it stays.

use crate::command::{LinkChange, NewLink, Op};
use crate::model::{Interface, InterfaceType, Item};
use crate::netns::Netns;
use crate::status::{ItemState, PendingReason};

use super::borrow::Wanted;
use super::configure::{attribute_change, configuration_step, link_spec};
use super::dirty::Resource;
use super::state::{Actual, ItemId, LinkActual, LinkRole, Owner};
use super::target::{LinkTarget, WantedRole};
use super::Core;

/// Takes the link `name` in `ns` down: before a rename on kernels older than 6.2, which rename
/// only links that are down.
pub(super) fn link_down(ns: &Netns, name: &str) -> Op {
    Op::SetLink {
        ns: ns.clone(),
        name: name.to_string(),
        change: LinkChange {
            up: Some(false),
            ..LinkChange::default()
        },
    }
}

impl Core {
    /// Whether a command in flight may change or remove the link `name` in `ns`: one of the
    /// item holding it, of the item holding its veth partner, or a stale link's removal, or
    /// one that may change or remove its parent's link; or its removal waits for a MACVLAN or
    /// VXLAN being made on it (`stacked.rs`).
    pub(super) fn link_changing(&self, ns: &Netns, name: &str) -> bool {
        let key = (ns.clone(), name.to_string());
        if let Some(&owner) = self.ix.link_owner.get(&key) {
            let slot = self.slot(owner);
            if slot.in_flight.is_some() || self.stacked_busy_on(owner) {
                return true;
            }
            if let Actual::Link(LinkActual {
                peer_link: Some(peer),
                ..
            }) = &slot.actual
            {
                if self
                    .ix
                    .link_owner
                    .get(peer)
                    .is_some_and(|p| self.slot(*p).in_flight.is_some() || self.stacked_busy_on(*p))
                {
                    return true;
                }
            }
            // A link on a parent goes with it: what changes the parent changes it.
            if let Some((pns, pname)) = match &slot.actual {
                Actual::Link(l) => l.role.parent_link(),
                _ => None,
            } {
                if self.link_changing(pns, pname) {
                    return true;
                }
            }
        }
        self.s.stale.blocks(&Resource::LinkName(key.0, key.1))
    }

    /// The link an interface item asks for now, or why it cannot have one.
    pub(super) fn link_target(
        &self,
        id: ItemId,
        iface: &Interface,
    ) -> Result<LinkTarget, Vec<PendingReason>> {
        let mut reasons = Vec::new();
        let ns = self
            .resolve(&iface.namespace)
            .map_err(|r| reasons.push(r))
            .ok();
        if let Some(by) = self.host_name_winner(id) {
            reasons.push(PendingReason::HostNameTaken {
                host_if_name: iface.host_if_name.clone(),
                ns: iface.namespace.clone(),
                by,
            });
        }
        let master = self
            .master_of(iface, ns.as_ref())
            .map_err(|r| reasons.push(r))
            .ok()
            .flatten();
        let role = match iface.kind {
            InterfaceType::Veth => self.wanted_veth(iface, &mut reasons),
            InterfaceType::Dummy => Some(WantedRole::Dummy),
            InterfaceType::Vrf => Some(WantedRole::Vrf {
                table: iface.vrf_table.unwrap_or_default(),
            }),
            InterfaceType::Bridge => Some(WantedRole::Bridge(iface.bridge.unwrap_or_default())),
            InterfaceType::Tap => Some(WantedRole::Tap(iface.tap.unwrap_or_default())),
            InterfaceType::Macvlan => self.parent_of(iface).map_err(|r| reasons.push(r)).ok().map(
                |(parent_ns, parent)| WantedRole::Macvlan {
                    mode: iface.macvlan.as_ref().map(|m| m.mode).unwrap_or_default(),
                    parent_ns,
                    parent,
                },
            ),
            InterfaceType::Vxlan => self.wanted_vxlan(iface, &mut reasons),
            InterfaceType::Existing | InterfaceType::Loopback | InterfaceType::TapToVpp => {
                Some(WantedRole::Borrowed)
            }
        };
        match (ns, role) {
            (Some(ns), Some(role)) if reasons.is_empty() => Ok(LinkTarget { ns, role, master }),
            _ => Err(reasons),
        }
    }

    /// Brings an interface item's link one step closer to the desired one: remove what does
    /// not fit, create what is missing, rename in place, then configure attributes and
    /// addresses — one command at most, the next step once its result is in.
    pub(super) fn reconcile_interface(&mut self, id: ItemId) {
        // A cheap handle on the desired value: it stays readable while the core changes.
        let desired_item = self.slot(id).desired.clone();
        let desired = match desired_item.as_deref() {
            Some(Item::Interface(i)) => Some(i),
            _ => None,
        };
        // Its master's command is on its way (the VRF or bridge being made or re-made): the
        // member waits for the result, rather than remove a link that is about to fit.
        // So does a MACVLAN while its parent's is.
        if desired.is_some_and(|i| self.master_in_flight(i) || self.parent_in_flight(i)) {
            return self.set_state(id, ItemState::InProgress);
        }
        let parent = desired.and_then(|i| i.parent());
        if parent.is_some_and(|p| self.parent_going(id, p))
            || desired.is_some_and(|i| self.parent_renaming(i))
        {
            return self.set_state(id, ItemState::InProgress);
        }
        let target = match desired {
            Some(iface) => {
                self.ensure_namespaces_of(iface);
                self.link_target(id, iface)
            }
            None => Err(vec![]),
        };

        // Remove what does not fit the target: the wrong link, or any link once not wanted.
        let fits = match &self.slot(id).actual {
            // A veth end fits only while the item at the other end holds the other end: a lone
            // end (after a partial resync) is removed so that the pair can be made whole.
            Actual::Link(a) => Some(
                matches!((&target, desired), (Ok(t), Some(i)) if t.fits(a, i))
                    && (!matches!(a.role, LinkRole::Veth { .. })
                        || self.veth_partner(id, a).is_some())
                    && desired.is_none_or(|i| self.may_rename(id, a, &i.host_if_name)),
            ),
            _ => None,
        };
        if let Some(fits) = fits {
            self.slot_mut(id).link_ok = fits;
        }
        if fits == Some(false) && self.fetch_tap(id, desired, &target) {
            return;
        }
        if fits == Some(false) {
            return self.remove_link(id, desired.is_some());
        }

        let target = match target {
            Ok(t) => t,
            Err(reasons) => {
                if desired.is_none() {
                    return self.free_slot(id);
                }
                return self.set_state(id, ItemState::Pending { reasons });
            }
        };
        let iface = desired.expect("a target exists only for a desired item");
        if let (WantedRole::Borrowed, Some(reason)) = (
            &target.role,
            self.s.borrows.policy.refusal(&target.ns, iface),
        ) {
            // Given back as it was, then refused: the policy may have changed since.
            if fits.is_some() {
                return self.remove_link(id, true);
            }
            return self.refuse(id, reason);
        }
        if fits.is_none() {
            if self.reclaim_stale_link(id, &target.ns, &target.role) {
                return self.reconcile_interface(id);
            }
            return self.create_link(id, target, iface);
        }

        let Actual::Link(a) = &self.slot(id).actual else {
            unreachable!("fits is known, so a link is")
        };
        if a.name != iface.host_if_name {
            let (ns, name, up) = (a.ns.clone(), a.name.clone(), a.up);
            return self.rename_link(id, &ns, &name, up, &iface.host_if_name);
        }
        if !a.role.owned() && self.s.borrows.unseen(&a.ns, &a.name) {
            // A TAP that just landed: its originals are read from a look before any change.
            let ns = a.ns.clone();
            self.want_observed(ns);
            return self.set_state(id, ItemState::InProgress);
        }
        let (mut want, kept) = if a.role.owned() {
            (Wanted::of(iface, true), vec![])
        } else {
            let a = a.clone();
            self.s.borrows.settle(&a, Some(iface));
            let kept = self.s.borrows.kept(&a.ns, &a.name).to_vec();
            (self.s.borrows.wanted(&a, Some(iface)), kept)
        };
        // An owned link is enslaved exactly as asked; a borrowed one only when asked.
        if target.master.is_some() || target.role.owned() {
            want.master = Some(target.master.clone());
        }
        let Actual::Link(a) = &self.slot(id).actual else {
            unreachable!("fits is known, so a link is")
        };
        if self.port_waits_for_macvlans(id, iface, a, target.master.as_deref()) {
            return self.set_state(id, ItemState::InProgress);
        }
        match configuration_step(&self.s.config.identity, a, iface, &want, &kept) {
            Some(op) => {
                if let (Op::SetLink { change, .. }, false) = (&op, a.role.owned()) {
                    let a = a.clone();
                    self.s.borrows.record(&a, change);
                }
                self.issue(op, Owner::Item { id, peer: None });
                self.set_state(id, ItemState::InProgress)
            }
            None => self.set_state(id, ItemState::Applied),
        }
    }

    /// The namespaces an interface (and its veth peer) want are made if they are named ones:
    /// the pair cannot be created before both ends' namespaces are there.
    fn ensure_namespaces_of(&mut self, iface: &Interface) {
        self.ensure_named_namespace(&iface.namespace);
        if let Some(peer) = iface
            .veth_peer
            .as_deref()
            .and_then(|p| self.interface_slot(p))
        {
            if let Some(Item::Interface(p)) = peer.1.desired.as_deref() {
                let r = p.namespace.clone();
                self.ensure_named_namespace(&r);
            }
        }
    }

    /// Renames the item's link `name` in `ns` to `wanted` where it is, once nothing stale
    /// stands in the way; on kernels that refuse to rename a link that is up (EBUSY, before
    /// 6.2), it is taken down first.
    fn rename_link(&mut self, id: ItemId, ns: &Netns, name: &str, up: bool, wanted: &str) {
        let wanted_name = Resource::LinkName(ns.clone(), wanted.to_string());
        let op = if up && self.slot(id).rename_when_down {
            link_down(ns, name)
        } else {
            Op::RenameLink {
                ns: ns.clone(),
                name: name.to_string(),
                new_name: wanted.to_string(),
            }
        };
        // A stale link of that name is on its way out: rename once it is gone. Stale
        // routes and neighbours being removed through the link go first too: their
        // removals name it by its present name.
        let through: Vec<Resource> = self
            .s
            .stale
            .on_link(ns, name)
            .into_iter()
            .filter_map(|o| self.s.stale.get(o))
            .flat_map(|o| o.resources())
            .collect();
        if self.blocked_by_stale(wanted_name, id) || !through.is_empty() {
            for res in through {
                self.wait_for(res, id);
            }
            return self.set_state(id, ItemState::InProgress);
        }
        self.issue(op, Owner::Item { id, peer: None });
        self.set_state(id, ItemState::InProgress)
    }

    /// Takes away a link that does not fit what the item wants (or is no longer wanted).
    fn remove_link(&mut self, id: ItemId, still_desired: bool) {
        let Actual::Link(a) = self.slot(id).actual.clone() else {
            return;
        };
        let working = if still_desired {
            ItemState::InProgress
        } else {
            ItemState::Removing
        };
        if a.role.owned() {
            // Whoever holds the other end of this pair in the kernel loses it too.
            let peer = self
                .kernel_partner(&a)
                .or_else(|| self.veth_partner(id, &a));
            if peer.is_some_and(|p| self.slot(p).in_flight.is_some()) {
                return self.set_state(id, ItemState::InProgress);
            }
            // A MACVLAN being made on it (or on the other end) is let finish first.
            if self.stacked_busy_on(id) || peer.is_some_and(|p| self.stacked_busy_on(p)) {
                return self.set_state(id, working);
            }
            // A link whose parent is going goes with it (`stacked.rs`).
            if self.goes_with_parent(id, &a) {
                return self.set_state(id, working);
            }
            // The other end is a stale link being removed: that takes this end along.
            if let Some((pns, pname)) = &a.peer_link {
                let res = Resource::LinkName(pns.clone(), pname.clone());
                if self.blocked_by_stale(res, id) {
                    return self.set_state(id, working);
                }
            }
            // A bridge's ports are let go by their items first (`bridge.rs`).
            if self.ports_to_release(&a) {
                return self.set_state(id, working);
            }
            self.issue(
                Op::DeleteLink {
                    ns: a.ns,
                    name: a.name,
                },
                Owner::Item { id, peer },
            );
        } else if let Some(op) = self.restore_step(&a) {
            self.issue(op, Owner::Item { id, peer: None });
        } else if self.give_back_tap(id, &a, working.clone()) {
            return;
        } else {
            // A borrowed link is let go as it was before the agent changed it.
            self.s.borrows.release(&a.ns, &a.name);
            // A TAP borrowed at home that its item wants elsewhere now stays believed there,
            // as a look at home would find it, to be fetched.
            if !self.tap_sought_at_home(id, &a) {
                self.set_actual(id, Actual::None);
            }
            return self.reconcile_interface(id);
        }
        self.set_state(id, working)
    }

    /// Whether the item's link may take the name `wanted` in place. Not while another item's
    /// link holds it: two items swapping names would each wait for the other, so the link is
    /// re-created instead, which frees its old name first.
    fn may_rename(&self, id: ItemId, a: &LinkActual, wanted: &str) -> bool {
        let key = (a.ns.clone(), wanted.to_string());
        a.name == wanted
            || self
                .ix
                .link_owner
                .get(&key)
                .or_else(|| self.ix.link_naming.get(&key))
                .is_none_or(|&holder| holder == id)
    }

    /// Creates the link an item wants (for a veth, the whole pair, on both items' behalf), or
    /// for a borrowed link starts configuring it, once its names are free in the kernel.
    fn create_link(&mut self, id: ItemId, target: LinkTarget, iface: &Interface) {
        let owner_peer = match &target.role {
            WantedRole::Veth { peer, .. } => {
                let p = self.slot(*peer);
                if p.in_flight.is_some() || p.actual != Actual::None {
                    // The other end still has work to finish (or an old link to remove).
                    return self.set_state(id, ItemState::InProgress);
                }
                if p.blocked || p.retry_at.is_some() {
                    let reason = PendingReason::PeerPending(p.key.interface().to_string());
                    return self.set_state(
                        id,
                        ItemState::Pending {
                            reasons: vec![reason],
                        },
                    );
                }
                Some(*peer)
            }
            _ => None,
        };
        let spec = link_spec(&self.s.config.identity, iface, target.role.owned());
        let peer_spec = match &target.role {
            WantedRole::Veth { peer, .. } => match self.desired_interface(*peer) {
                Some(p) => Some(link_spec(&self.s.config.identity, p, true)),
                None => return self.set_state(id, ItemState::InProgress),
            },
            _ => None,
        };
        let mut names = vec![(target.ns.clone(), spec.name.clone())];
        if let (WantedRole::Veth { peer_ns, .. }, Some(p)) = (&target.role, &peer_spec) {
            names.push((peer_ns.clone(), p.name.clone()));
        }
        if !self.link_names_free(id, owner_peer, names) {
            return self.set_state(id, ItemState::InProgress);
        }
        if let WantedRole::Borrowed = target.role {
            return self.borrow_link(id, target.ns, iface);
        }
        let op = match (target.role, peer_spec) {
            (WantedRole::Veth { peer_ns, .. }, Some(peer_spec)) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Veth {
                    peer_ns,
                    peer: peer_spec,
                },
            },
            (WantedRole::Veth { .. }, None) => unreachable!("a veth target has a peer spec"),
            (WantedRole::Dummy, _) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Dummy,
            },
            (WantedRole::Vrf { table }, _) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Vrf { table },
            },
            (WantedRole::Bridge(settings), _) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Bridge(settings),
            },
            (WantedRole::Tap(settings), _) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Tap(settings),
            },
            (
                WantedRole::Macvlan {
                    mode,
                    parent_ns,
                    parent,
                },
                _,
            ) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Macvlan {
                    parent_ns,
                    parent,
                    mode,
                },
            },
            (WantedRole::Vxlan { tunnel, underlay }, _) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Vxlan { tunnel, underlay },
            },
            (WantedRole::Borrowed, _) => unreachable!("borrowed links are not created"),
        };
        self.issue(
            op,
            Owner::Item {
                id,
                peer: owner_peer,
            },
        );
        if let Some(p) = owner_peer {
            self.set_state(p, ItemState::InProgress);
        }
        self.set_state(id, ItemState::InProgress);
    }

    /// Whether the link names a creation gives are free: not held or being taken by another
    /// item (on its way out, say) than this one and its veth peer, nor by a stale link being
    /// removed. If not, the item waits for the first one that is taken.
    fn link_names_free(
        &mut self,
        id: ItemId,
        owner_peer: Option<ItemId>,
        names: Vec<(Netns, String)>,
    ) -> bool {
        for (ns, name) in names {
            if self.blocked_by_stale(Resource::LinkName(ns.clone(), name.clone()), id) {
                return false;
            }
            let key = (ns.clone(), name.clone());
            let holder = self
                .ix
                .link_owner
                .get(&key)
                .or_else(|| self.ix.link_naming.get(&key));
            if let Some(&holder) = holder {
                if holder != id && Some(holder) != owner_peer {
                    self.wait_for(Resource::LinkName(ns, name), id);
                    return false;
                }
            }
        }
        true
    }

    /// The next step of giving back a borrowed link: the attributes the agent changed are
    /// restored, then the addresses it added are deleted; `None` once it is as it was. Also
    /// when the item still wants a link elsewhere: this one is no longer its.
    fn restore_step(&mut self, a: &LinkActual) -> Option<Op> {
        self.s.borrows.settle(a, None);
        let want = self.s.borrows.wanted(a, None);
        if let Some(op) = attribute_change(&self.s.config.identity, a, &want, None) {
            if let Op::SetLink { change, .. } = &op {
                self.s.borrows.record(a, change);
            }
            return Some(op);
        }
        let kept = self.s.borrows.kept(&a.ns, &a.name);
        let addr = a.addresses.iter().find(|x| !kept.contains(x))?;
        Some(Op::DelAddress {
            ns: a.ns.clone(),
            link: a.name.clone(),
            addr: *addr,
        })
    }

    /// Someone else's link is borrowed only once observed: its originals must be known
    /// before anything is changed. Asks for the namespace's observation; the
    /// observation's resync (`take_borrowed_links`) takes the link, or says it is missing.
    fn borrow_link(&mut self, id: ItemId, ns: Netns, iface: &Interface) {
        if self.waiting_for_tap(id, iface) {
            return;
        }
        // Asked each time: a request is not stored in snapshots, so one made before a restart
        // may be gone; asking twice before the answer costs nothing.
        self.s.borrows.want_observation(&ns, &iface.host_if_name);
        if iface.kind == InterfaceType::TapToVpp {
            // Not in its place yet, it is at home, if anywhere.
            self.want_observed(Netns::Default);
        }
        self.want_observed(ns);
        self.set_state(id, ItemState::InProgress);
    }
}
