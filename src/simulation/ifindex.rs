//! Ifindex stability. An in-place change — an attribute update, a rename by index, an alias
//! change — keeps a link's ifindex, and so its addresses, routes, neighbours and peer; only a
//! deletion and a (re)creation give it a new one. The convergence check compares attributes
//! only, so a link re-created behind the harness's back would pass it: this checker remembers,
//! per managed link, the ifindex it had and whether a command since deleted or created it, and
//! holds that a link no command deleted or created has kept its ifindex.
//!
//! A managed link is known by its namespace and its alias (the item it stands for), not by its
//! name: a rename must keep the ifindex, and the alias is what the agent itself recognises its
//! links by.
//!
//! A deletion and re-creation by commands is not free either: the rules re-create a link only
//! when it cannot become what is wanted in place — its item is gone, or wants another
//! namespace, kind or veth peer — or when the name it is to take is held by another item's
//! link (the core re-creates then rather than rename, so that two items swapping names do not
//! wait for each other). A link deleted and re-created within one step with the same
//! namespace, kind and peer, when none of that held as the core issued the deletion, is a
//! re-creation where an in-place update was due. (A deletion and a creation in different steps
//! are not compared: the link was absent in between, for whatever reason.)

use std::collections::{BTreeMap, BTreeSet};

use nsagent_core::{Command, InterfaceType, Item, ItemKey, LinkKind, Netns, NewLink, Op};
use nsagent_sim::{LinkDump, SimKernel, StateDump};

use super::World;

/// A managed link: its namespace and its alias.
type Identity = (Netns, String);

/// What cannot change in place: the kind, and for a veth the identity of its peer.
type Shape = (LinkKind, Option<Identity>);

/// A link a command deleted: what it was, and whether the rules called for re-creating it.
#[derive(Debug)]
struct Deletion {
    shape: Shape,
    due: bool,
}

/// What the checker remembers between two steps.
#[derive(Debug, Default)]
pub(super) struct Ifindexes {
    /// The ifindex of every managed link at the last check, by identity.
    known: BTreeMap<Identity, u32>,
    /// Links a command deleted or created since the last check: their ifindex may differ.
    renewed: BTreeSet<Identity>,
    /// Links a command deleted since the last check.
    deleted: BTreeMap<Identity, Deletion>,
    /// Link names that deletions and renames freed, in this step and the one before: the core
    /// counts a name as held until it hears the result, and a result may be held back across
    /// a step.
    freed: [BTreeSet<(Netns, String)>; 2],
}

/// What one command is about to do to identities, read from the kernel before it is applied.
pub(super) enum Touch {
    /// Nothing that concerns ifindexes.
    None,
    /// These links are created, whatever the outcome.
    Renews(Vec<Identity>),
    /// These links, of these shapes, are deleted (a veth with its peer), freeing these names.
    Deletes(Vec<(Identity, Shape)>, Vec<(Netns, String)>),
    /// A rename frees this name.
    Renames((Netns, String)),
    /// The link known as `from` is to be known as `to` if the command succeeds.
    Realias { from: Identity, to: Identity },
}

impl Ifindexes {
    /// Reads, before `op` is applied, which links it may delete, create, or give a new alias.
    pub(super) fn touch(kernel: &SimKernel, op: &Op) -> Touch {
        match op {
            Op::CreateLink { ns, link, kind } => {
                let mut renewed: Vec<Identity> =
                    link.alias.iter().map(|a| (ns.clone(), a.clone())).collect();
                if let NewLink::Veth { peer_ns, peer } = kind {
                    renewed.extend(peer.alias.iter().map(|a| (peer_ns.clone(), a.clone())));
                }
                Touch::Renews(renewed)
            }
            // Deleting one veth end deletes its peer too, and the kernel the MACVLANs and
            // VXLANs on them.
            Op::DeleteLink { ns, name } => {
                let mut deleted = Vec::new();
                let mut freed = vec![(ns.clone(), name.clone())];
                if let Some(l) = kernel.link(ns, name) {
                    freed.extend(l.peer.clone());
                    let peer = peer_identity(kernel, &l);
                    if let Some(alias) = &l.alias {
                        deleted.push(((ns.clone(), alias.clone()), (l.kind, peer.clone())));
                    }
                    if let (Some(peer), Some(alias)) = (peer, l.alias.clone()) {
                        let back = Some((ns.clone(), alias));
                        deleted.push((peer, (l.kind, back)));
                    }
                    let ends = std::iter::once((ns.clone(), name.clone())).chain(l.peer.clone());
                    for (ens, ename) in ends {
                        for (mns, mname) in stacked_on(kernel, &ens, &ename) {
                            if let Some(m) = kernel.link(&mns, &mname) {
                                freed.push((mns.clone(), mname.clone()));
                                if let Some(alias) = m.alias {
                                    deleted.push(((mns, alias), (m.kind, None)));
                                }
                            }
                        }
                    }
                }
                Touch::Deletes(deleted, freed)
            }
            Op::RenameLink { ns, name, .. } => Touch::Renames((ns.clone(), name.clone())),
            Op::SetLink { ns, name, change } => {
                let old = kernel.link(ns, name).and_then(|l| l.alias);
                match (old, &change.alias) {
                    (Some(from), Some(to)) if from != *to => Touch::Realias {
                        from: (ns.clone(), from),
                        to: (ns.clone(), to.clone()),
                    },
                    _ => Touch::None,
                }
            }
            _ => Touch::None,
        }
    }

    /// Records what an applied command did; `due` holds the links whose re-creation the rules
    /// called for when the batch was issued.
    pub(super) fn applied(&mut self, touch: Touch, succeeded: bool, due: &BTreeSet<Identity>) {
        match touch {
            Touch::None => {}
            Touch::Renews(ids) => self.renewed.extend(ids),
            Touch::Renames(name) => {
                if succeeded {
                    self.freed[0].insert(name);
                }
            }
            Touch::Deletes(links, freed) => {
                if succeeded {
                    self.freed[0].extend(freed);
                }
                for (id, shape) in links {
                    self.renewed.insert(id.clone());
                    if succeeded {
                        let due = due.contains(&id);
                        self.deleted.entry(id).or_insert(Deletion { shape, due });
                    }
                }
            }
            // The link keeps its ifindex under its new alias; its old identity is free.
            Touch::Realias { from, to } if succeeded => match self.known.remove(&from) {
                Some(index) if !self.renewed.contains(&from) => {
                    self.renewed.remove(&to);
                    self.known.insert(to, index);
                }
                // A link new since the last check: nothing is known of it yet.
                _ => {
                    self.renewed.insert(to);
                }
            },
            Touch::Realias { .. } => {}
        }
    }

    /// Compares the managed links of `dump` with what was known, then remembers them. Returns
    /// the links whose ifindex changed although no command deleted or created them, and those
    /// deleted and re-created unchanged although the rules did not call for it.
    pub(super) fn check(&mut self, dump: &StateDump) -> Vec<String> {
        let mut now: BTreeMap<Identity, Vec<(String, u32)>> = BTreeMap::new();
        for (ns, l) in dump.marked_by(&super::identity()) {
            if let Some(alias) = l.alias {
                now.entry((ns, alias))
                    .or_default()
                    .push((l.name, l.ifindex));
            }
        }
        let mut changed = Vec::new();
        for (id, links) in &now {
            // Two links of one item in one namespace: which is which is not for this checker.
            let [(name, index)] = links.as_slice() else {
                continue;
            };
            match self.known.get(id) {
                Some(was) if was != index && !self.renewed.contains(id) => changed.push(format!(
                    "link {name} ({}) in {} has ifindex {index}, was {was}, and no command \
                     deleted or created it since",
                    id.1, id.0
                )),
                Some(was) if was != index => {
                    let shape = shape(dump, &id.0, name);
                    if let Some(d) = self.deleted.get(id) {
                        if !d.due && d.shape == shape {
                            changed.push(format!(
                                "link {name} ({}) in {} was deleted and re-created (ifindex \
                                 {was} -> {index}) with the same kind and peer {:?}, although \
                                 only in-place changes were due",
                                id.1, id.0, shape.1
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        self.deleted.clear();
        self.freed.swap(0, 1);
        self.freed[0].clear();
        self.known = now
            .into_iter()
            .filter_map(|(id, links)| match links.as_slice() {
                [(_, index)] => Some((id, *index)),
                _ => None,
            })
            .collect();
        self.renewed.clear();
        changed
    }
}

/// The identity of a link's veth peer, if it has a managed one.
fn peer_identity(kernel: &SimKernel, l: &LinkDump) -> Option<Identity> {
    let (pns, pname) = l.peer.as_ref()?;
    let alias = kernel.link(pns, pname)?.alias?;
    Some((pns.clone(), alias))
}

/// The shape of the link `name` in `ns`, as the dump shows it.
fn shape(dump: &StateDump, ns: &Netns, name: &str) -> Shape {
    let l = dump.link(ns, name).expect("a link of the dump");
    let peer = l.peer.as_ref().and_then(|(pns, pname)| {
        let alias = dump.link(pns, pname)?.alias.clone()?;
        Some((pns.clone(), alias))
    });
    (l.kind, peer)
}

impl World {
    /// The links the `DeleteLink`s of `batch` delete (with their peers) whose re-creation the
    /// rules call for, judged as the core issued the batch: before any of it is applied.
    pub(super) fn recreations_due(&self, batch: &[Command]) -> BTreeSet<Identity> {
        let mut taken: BTreeSet<(Netns, String)> =
            self.ifindexes.freed.iter().flatten().cloned().collect();
        for c in batch {
            match &c.op {
                Op::CreateLink { ns, link, kind } => {
                    taken.insert((ns.clone(), link.name.clone()));
                    if let NewLink::Veth { peer_ns, peer } = kind {
                        taken.insert((peer_ns.clone(), peer.name.clone()));
                    }
                }
                Op::RenameLink { ns, new_name, .. } => {
                    taken.insert((ns.clone(), new_name.clone()));
                }
                _ => {}
            }
        }
        let mut due = BTreeSet::new();
        for c in batch {
            let Op::DeleteLink { ns, name } = &c.op else {
                continue;
            };
            let Some(l) = self.kernel.link(ns, name) else {
                continue;
            };
            let peer = l.peer.clone().and_then(|(pns, pname)| {
                let p = self.kernel.link(&pns, &pname)?;
                Some((pns, p))
            });
            let mut ends = vec![(ns.clone(), l)];
            ends.extend(peer);
            // The links on them go with them whatever the rules say: they are made again.
            for (ens, el) in &ends {
                for (mns, mname) in stacked_on(&self.kernel, ens, &el.name) {
                    if let Some(alias) = self.kernel.link(&mns, &mname).and_then(|m| m.alias) {
                        due.insert((mns, alias));
                    }
                }
            }
            // A vanish the core has not heard of yet leaves it reasons the harness cannot judge.
            let called_for = !self.unannounced.is_empty()
                || ends
                    .iter()
                    .any(|(ns, l)| self.recreation_called_for(ns, l, &taken));
            if called_for {
                due.extend(
                    ends.into_iter()
                        .filter_map(|(ns, l)| l.alias.map(|a| (ns, a))),
                );
            }
        }
        due
    }

    /// Whether the rules call for re-creating link `l` in `ns` rather than changing it in
    /// place: its item is gone or wants another namespace, kind or peer, or the name it wants
    /// is held by another link, taken by a command of the batch or freed by one whose result the
    /// core may not have heard yet (`taken`), or contested.
    fn recreation_called_for(
        &self,
        ns: &Netns,
        l: &LinkDump,
        taken: &BTreeSet<(Netns, String)>,
    ) -> bool {
        let item = super::marked_item(l.alias.as_deref());
        let Some(Item::Interface(i)) =
            item.and_then(|n| self.desired.get(&ItemKey::Interface(n.into())))
        else {
            return true;
        };
        let kind_fits = match (i.kind, l.kind) {
            (InterfaceType::Dummy, LinkKind::Dummy) | (InterfaceType::Veth, LinkKind::Veth) => true,
            // A VRF's table is fixed when it is made.
            (InterfaceType::Vrf, LinkKind::Vrf) => l.vrf_table == i.vrf_table,
            // A bridge's settings change in place.
            (InterfaceType::Bridge, LinkKind::Bridge) => true,
            // A TAP's settings are fixed when it is made.
            (InterfaceType::Tap, LinkKind::Tap) => l.tap == i.tap,
            // A MACVLAN's mode and parent are fixed when it is made.
            (InterfaceType::Macvlan, LinkKind::Macvlan) => self.macvlan_fits(i, l),
            // So are a VXLAN's tunnel and underlay.
            (InterfaceType::Vxlan, LinkKind::Vxlan) => self.vxlan_fits(i, l),
            _ => false,
        };
        if self.available(&i.namespace).as_ref() != Some(ns) || !kind_fits || !self.peer_fits(i, l)
        {
            return true;
        }
        // A member has no link while its master is not there for it (a veth pair goes whole).
        let peer_item = i
            .veth_peer
            .as_deref()
            .and_then(|p| self.desired.get(&ItemKey::Interface(p.into())));
        let vrf_missing = |of: &nsagent_core::Interface| !self.master_there_for(of);
        if vrf_missing(i) || matches!(peer_item, Some(Item::Interface(p)) if vrf_missing(p)) {
            return true;
        }
        let host = (ns.clone(), i.host_if_name.clone());
        let held = self
            .kernel
            .link(ns, &i.host_if_name)
            .is_some_and(|h| h.alias != l.alias);
        let contested = self.desired.values().any(|other| {
            matches!(other, Item::Interface(o) if o.name != i.name
                && o.host_if_name == i.host_if_name
                && self.available(&o.namespace).as_ref() == Some(ns))
        });
        (i.host_if_name != l.name && (held || taken.contains(&host))) || contested
    }

    /// Whether the master an interface names (a VRF or bridge, if any) is in the kernel as its
    /// item wants it, in the interface's namespace.
    fn master_there_for(&self, i: &nsagent_core::Interface) -> bool {
        let (master, kind) = match (&i.vrf_master, &i.bridge_master) {
            (Some(v), _) => (v.as_str(), InterfaceType::Vrf),
            (None, Some(b)) => (b.as_str(), InterfaceType::Bridge),
            (None, None) => return true,
        };
        let Some(Item::Interface(v)) = self.desired.get(&ItemKey::Interface(master.into())) else {
            return false;
        };
        let ns = self.available(&i.namespace);
        v.kind == kind
            && self.available(&v.namespace) == ns
            && ns.is_some_and(|ns| {
                self.kernel.link(&ns, &v.host_if_name).is_some_and(|l| {
                    let fits = match kind {
                        InterfaceType::Vrf => l.kind == LinkKind::Vrf && l.vrf_table == v.vrf_table,
                        _ => l.kind == LinkKind::Bridge,
                    };
                    fits && l.alias == Some(super::identity().mark(master))
                })
            })
    }

    /// Whether a MACVLAN link is in its item's mode on its parent item's link, where that item
    /// wants it, and the parent may have it (not a MACVLAN, nor a bridge port).
    fn macvlan_fits(&self, i: &nsagent_core::Interface, l: &LinkDump) -> bool {
        let (Some(want), Some((mode, (pns, pname)))) = (&i.macvlan, &l.macvlan) else {
            return false;
        };
        let Some(Item::Interface(p)) = self.desired.get(&ItemKey::Interface(want.parent.clone()))
        else {
            return false;
        };
        let parent_alias = self.kernel.link(pns, pname).and_then(|pl| pl.alias);
        want.mode == *mode
            && p.kind != InterfaceType::Macvlan
            && p.bridge_master.is_none()
            && parent_alias == Some(super::identity().mark(&want.parent))
            && self.available(&p.namespace).as_ref() == Some(pns)
    }

    /// Whether a VXLAN link has its item's tunnel, on its underlay item's link where that item
    /// wants it (or on none, as its item says).
    fn vxlan_fits(&self, i: &nsagent_core::Interface, l: &LinkDump) -> bool {
        let (Some(want), Some((tunnel, on))) = (&i.vxlan, &l.vxlan) else {
            return false;
        };
        if want.tunnel != *tunnel {
            return false;
        }
        match (&want.underlay, on) {
            (None, None) => true,
            (Some(u), Some((uns, uname))) => {
                let Some(Item::Interface(p)) = self.desired.get(&ItemKey::Interface(u.clone()))
                else {
                    return false;
                };
                let alias = self.kernel.link(uns, uname).and_then(|ul| ul.alias);
                alias == Some(super::identity().mark(u))
                    && self.available(&p.namespace).as_ref() == Some(uns)
            }
            _ => false,
        }
    }

    /// Whether a veth link's peer is the one its item wants, where that item wants it.
    fn peer_fits(&self, i: &nsagent_core::Interface, l: &LinkDump) -> bool {
        let Some((pns, pname)) = &l.peer else {
            return l.kind != LinkKind::Veth;
        };
        let Some(p) = i.veth_peer.as_deref() else {
            return false;
        };
        let Some(Item::Interface(peer)) = self.desired.get(&ItemKey::Interface(p.into())) else {
            return false;
        };
        let peer_alias = self.kernel.link(pns, pname).and_then(|pl| pl.alias);
        peer.veth_peer.as_deref() == Some(i.name.as_str())
            && peer_alias == Some(super::identity().mark(p))
            && self.available(&peer.namespace).as_ref() == Some(pns)
    }
}

/// The links the kernel deletes with the link `name` in `ns`: the MACVLANs and VXLANs on it,
/// and what is on those (a VXLAN on a MACVLAN).
fn stacked_on(kernel: &SimKernel, ns: &Netns, name: &str) -> Vec<(Netns, String)> {
    let mut out = Vec::new();
    for (n, m) in kernel
        .macvlans_of(ns, name)
        .into_iter()
        .chain(kernel.vxlans_of(ns, name))
    {
        let above = stacked_on(kernel, &n, &m);
        out.push((n, m));
        out.extend(above);
    }
    out
}

#[cfg(test)]
mod tests {
    //! The checker itself: silent about in-place changes and announced re-creations, loud
    //! about a re-creation no command accounts for.

    use nsagent_core::{Backend, LinkChange, LinkSpec, Netns, NewLink, Op};
    use nsagent_sim::{SimConfig, SimKernel};

    /// The simulated agent's mark for `item`.
    fn m(item: &str) -> String {
        super::super::identity().mark(item)
    }

    use super::Ifindexes;

    fn create(name: &str, alias: &str) -> Op {
        Op::CreateLink {
            ns: Netns::Default,
            link: LinkSpec {
                name: name.into(),
                mtu: None,
                mac: None,
                alias: Some(alias.into()),
                up: true,
            },
            kind: NewLink::Dummy,
        }
    }

    fn delete(name: &str) -> Op {
        Op::DeleteLink {
            ns: Netns::Default,
            name: name.into(),
        }
    }

    /// Applies `op` as the harness does, telling the checker.
    fn apply(k: &mut SimKernel, ix: &mut Ifindexes, op: &Op) {
        let touch = Ifindexes::touch(k, op);
        let result = k.apply(op);
        assert!(result.is_ok(), "{op}: {result:?}");
        ix.applied(touch, true, &Default::default());
    }

    fn started() -> (SimKernel, Ifindexes) {
        let mut k = SimKernel::new(SimConfig::default());
        let mut ix = Ifindexes::default();
        apply(&mut k, &mut ix, &create("d0", &m("d0")));
        apply(&mut k, &mut ix, &create("pad", &m("pad")));
        assert!(ix.check(&k.dump()).is_empty());
        (k, ix)
    }

    #[test]
    fn in_place_changes_and_renames_keep_the_ifindex() {
        let (mut k, mut ix) = started();
        let change = LinkChange {
            mtu: Some(1400),
            up: Some(false),
            ..LinkChange::default()
        };
        let set = Op::SetLink {
            ns: Netns::Default,
            name: "d0".into(),
            change,
        };
        apply(&mut k, &mut ix, &set);
        let rename = Op::RenameLink {
            ns: Netns::Default,
            name: "d0".into(),
            new_name: "d0r".into(),
        };
        apply(&mut k, &mut ix, &rename);
        assert!(ix.check(&k.dump()).is_empty());
        let realias = Op::SetLink {
            ns: Netns::Default,
            name: "d0r".into(),
            change: LinkChange {
                alias: Some(m("d9")),
                ..LinkChange::default()
            },
        };
        apply(&mut k, &mut ix, &realias);
        assert!(ix.check(&k.dump()).is_empty());
        assert_eq!(ix.known.get(&(Netns::Default, m("d9"))), Some(&2));
    }

    #[test]
    fn a_re_creation_the_rules_call_for_may_change_the_ifindex() {
        let (mut k, mut ix) = started();
        let due = [(Netns::Default, m("d0"))].into();
        let op = delete("d0");
        let touch = Ifindexes::touch(&k, &op);
        k.apply(&op).expect("delete");
        ix.applied(touch, true, &due);
        apply(&mut k, &mut ix, &create("d0", &m("d0")));
        assert!(ix.check(&k.dump()).is_empty());
    }

    #[test]
    fn a_re_creation_where_an_update_was_due_is_reported() {
        let (mut k, mut ix) = started();
        apply(&mut k, &mut ix, &delete("d0"));
        apply(&mut k, &mut ix, &create("d0", &m("d0")));
        let changed = ix.check(&k.dump());
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].contains("re-created"), "{changed:?}");
    }

    #[test]
    fn a_re_creation_no_command_accounts_for_is_reported() {
        let (mut k, mut ix) = started();
        k.apply(&delete("d0")).expect("delete");
        k.apply(&create("d0", &m("d0"))).expect("create");
        let changed = ix.check(&k.dump());
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].contains("d0"), "{changed:?}");
    }
}
