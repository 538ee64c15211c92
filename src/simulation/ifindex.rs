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

use std::collections::{BTreeMap, BTreeSet};

use nsagent_core::{Netns, NewLink, Op};
use nsagent_sim::{SimKernel, StateDump};

/// A managed link: its namespace and its alias.
type Identity = (Netns, String);

/// What the checker remembers between two steps.
#[derive(Debug, Default)]
pub(super) struct Ifindexes {
    /// The ifindex of every managed link at the last check, by identity.
    known: BTreeMap<Identity, u32>,
    /// Links a command deleted or created since the last check: their ifindex may differ.
    renewed: BTreeSet<Identity>,
}

/// What one command is about to do to identities, read from the kernel before it is applied.
pub(super) enum Touch {
    /// Nothing that concerns ifindexes.
    None,
    /// These links are deleted or created, whatever the outcome.
    Renews(Vec<Identity>),
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
            // Deleting one veth end deletes its peer too.
            Op::DeleteLink { ns, name } => {
                let mut renewed = Vec::new();
                if let Some(l) = kernel.link(ns, name) {
                    renewed.extend(l.alias.map(|a| (ns.clone(), a)));
                    let peer = l.peer.and_then(|(pns, pname)| {
                        let alias = kernel.link(&pns, &pname)?.alias?;
                        Some((pns, alias))
                    });
                    renewed.extend(peer);
                }
                Touch::Renews(renewed)
            }
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

    /// Records what an applied command did.
    pub(super) fn applied(&mut self, touch: Touch, succeeded: bool) {
        match touch {
            Touch::None => {}
            Touch::Renews(ids) => self.renewed.extend(ids),
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
    /// the links whose ifindex changed although no command deleted or created them.
    pub(super) fn check(&mut self, dump: &StateDump) -> Vec<String> {
        let mut now: BTreeMap<Identity, Vec<(String, u32)>> = BTreeMap::new();
        for (ns, l) in dump.managed() {
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
                _ => {}
            }
        }
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

#[cfg(test)]
mod tests {
    //! The checker itself: silent about in-place changes and announced re-creations, loud
    //! about a re-creation no command accounts for.

    use nsagent_core::{Backend, LinkChange, LinkSpec, Netns, NewLink, Op};
    use nsagent_sim::{SimConfig, SimKernel};

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
        ix.applied(touch, true);
    }

    fn started() -> (SimKernel, Ifindexes) {
        let mut k = SimKernel::new(SimConfig::default());
        let mut ix = Ifindexes::default();
        apply(&mut k, &mut ix, &create("d0", "nsagent:d0"));
        apply(&mut k, &mut ix, &create("pad", "nsagent:pad"));
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
                alias: Some("nsagent:d9".into()),
                ..LinkChange::default()
            },
        };
        apply(&mut k, &mut ix, &realias);
        assert!(ix.check(&k.dump()).is_empty());
        assert_eq!(
            ix.known.get(&(Netns::Default, "nsagent:d9".into())),
            Some(&2)
        );
    }

    #[test]
    fn a_re_creation_by_commands_may_change_the_ifindex() {
        let (mut k, mut ix) = started();
        apply(&mut k, &mut ix, &delete("d0"));
        apply(&mut k, &mut ix, &create("d0", "nsagent:d0"));
        assert!(ix.check(&k.dump()).is_empty());
    }

    #[test]
    fn a_re_creation_no_command_accounts_for_is_reported() {
        let (mut k, mut ix) = started();
        k.apply(&delete("d0")).expect("delete");
        k.apply(&create("d0", "nsagent:d0")).expect("create");
        let changed = ix.check(&k.dump());
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].contains("d0"), "{changed:?}");
    }
}
