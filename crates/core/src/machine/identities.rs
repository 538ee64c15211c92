//! Which references name the same namespace. A namespace can be reached through several files
//! (`/var/run/netns/x`, the `/proc/<pid>/ns/net` of every process inside it, the agent's own
//! namespace as the pid of the agent), and the core must not take them for several
//! namespaces: it would create a link through one and find it, unexplained, through the other,
//! remove it as stale and create it again, for ever.
//!
//! Each identified namespace (`Netns`) has the identity its backend reported; the namespaces
//! sharing one identity form a group, and one of them is **canonical**: every reference in the
//! group resolves to it, so commands, beliefs and name contests all happen there. The others
//! are **aliases**.
//!
//! # How it must be driven
//!
//! - [`Identities::identify`] when a backend reports a namespace's identity (it is available);
//!   [`Identities::forget`] when the namespace vanishes. Both return the namespaces whose
//!   canonical may have changed: the caller marks their members dirty.
//! - [`Identities::canonical`] after resolving any reference, before using the namespace.
//! - The canonical is the most durable reference of the group, whatever the order of the
//!   reports: the default namespace, then named ones, then pids and tasks; among equals the
//!   first identified. So a pid inside a named namespace never takes it over, and the agent's
//!   own pid is always an alias of the default namespace.
//! - When the canonical vanishes and aliases remain, the namespace itself lives on (a process
//!   holds it): the next alias becomes canonical, and the caller re-observes it, since the
//!   kernel kept everything in it that the core now forgets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::netns::{NamespaceIdentity, Netns};

/// How durable a reference is: lower ranks are preferred as the canonical one.
fn rank(ns: &Netns) -> u8 {
    match ns {
        Netns::Default => 0,
        Netns::Named(_) => 1,
        Netns::Pid(_) | Netns::Task { .. } => 2,
    }
}

/// The identified namespaces, grouped by identity. Stored in snapshots as the list of groups,
/// each canonical first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(NamespaceIdentity, Vec<Netns>)>")]
#[serde(into = "Vec<(NamespaceIdentity, Vec<Netns>)>")]
pub(super) struct Identities {
    /// Each group in order of preference: the canonical first.
    groups: BTreeMap<NamespaceIdentity, Vec<Netns>>,
    of: BTreeMap<Netns, NamespaceIdentity>,
}

impl From<Vec<(NamespaceIdentity, Vec<Netns>)>> for Identities {
    fn from(list: Vec<(NamespaceIdentity, Vec<Netns>)>) -> Self {
        let mut ids = Identities::default();
        for (identity, members) in list {
            for ns in members {
                ids.identify(ns, identity);
            }
        }
        ids
    }
}

impl From<Identities> for Vec<(NamespaceIdentity, Vec<Netns>)> {
    fn from(ids: Identities) -> Self {
        ids.groups.into_iter().collect()
    }
}

impl Identities {
    pub(super) fn is_empty(&self) -> bool {
        self.of.is_empty()
    }

    /// Records that `ns` is the namespace `identity`. Returns the namespaces whose canonical
    /// may have changed (empty when nothing did).
    pub(super) fn identify(&mut self, ns: Netns, identity: NamespaceIdentity) -> Vec<Netns> {
        if self.of.get(&ns) == Some(&identity) {
            return Vec::new();
        }
        let mut affected = self.forget(&ns).1;
        let group = self.groups.entry(identity).or_default();
        let at = group
            .iter()
            .position(|m| rank(m) > rank(&ns))
            .unwrap_or(group.len());
        group.insert(at, ns.clone());
        self.of.insert(ns, identity);
        affected.extend(group.iter().cloned());
        affected
    }

    /// `ns` vanished or names no namespace any more. Returns the alias that became canonical
    /// in its place, if it was canonical and one remains, and the namespaces whose canonical
    /// may have changed.
    pub(super) fn forget(&mut self, ns: &Netns) -> (Option<Netns>, Vec<Netns>) {
        let Some(identity) = self.of.remove(ns) else {
            return (None, Vec::new());
        };
        let group = self
            .groups
            .get_mut(&identity)
            .expect("every identified namespace is in its group");
        let was_canonical = group.first() == Some(ns);
        group.retain(|m| m != ns);
        let affected: Vec<Netns> = std::iter::once(ns.clone())
            .chain(group.iter().cloned())
            .collect();
        let promoted = group.first().cloned().filter(|_| was_canonical);
        if group.is_empty() {
            self.groups.remove(&identity);
        }
        (promoted, affected)
    }

    /// The namespace every reference to `ns` acts in: its group's canonical, or `ns` itself.
    pub(super) fn canonical(&self, ns: Netns) -> Netns {
        match self.of.get(&ns).and_then(|i| self.groups.get(i)) {
            Some(group) => group[0].clone(),
            None => ns,
        }
    }

    /// Every namespace sharing `ns`'s identity, the canonical first; empty if it has no
    /// identity known.
    pub(super) fn group(&self, ns: &Netns) -> &[Netns] {
        self.of
            .get(ns)
            .and_then(|i| self.groups.get(i))
            .map_or(&[], Vec::as_slice)
    }

    pub(super) fn identity(&self, ns: &Netns) -> Option<NamespaceIdentity> {
        self.of.get(ns).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NamespaceIdentity = NamespaceIdentity { dev: 4, ino: 1 };
    const B: NamespaceIdentity = NamespaceIdentity { dev: 4, ino: 2 };

    fn named(n: &str) -> Netns {
        Netns::Named(n.into())
    }

    #[test]
    fn an_unidentified_namespace_is_its_own_canonical() {
        let ids = Identities::default();
        assert_eq!(ids.canonical(Netns::Pid(7)), Netns::Pid(7));
        assert!(ids.group(&Netns::Pid(7)).is_empty());
    }

    #[test]
    fn a_pid_inside_a_named_namespace_is_its_alias_whatever_the_order() {
        for pid_first in [false, true] {
            let mut ids = Identities::default();
            if pid_first {
                assert_eq!(ids.identify(Netns::Pid(7), A), vec![Netns::Pid(7)]);
            }
            let affected = ids.identify(named("t"), A);
            assert!(affected.contains(&named("t")), "{affected:?}");
            if !pid_first {
                ids.identify(Netns::Pid(7), A);
            }
            assert_eq!(ids.canonical(Netns::Pid(7)), named("t"), "{pid_first}");
            assert_eq!(ids.canonical(named("t")), named("t"));
            assert_eq!(ids.group(&Netns::Pid(7)), &[named("t"), Netns::Pid(7)]);
        }
    }

    #[test]
    fn the_agents_own_pid_is_an_alias_of_the_default_namespace() {
        let mut ids = Identities::default();
        ids.identify(Netns::Pid(1), A);
        ids.identify(Netns::Default, A);
        assert_eq!(ids.canonical(Netns::Pid(1)), Netns::Default);
        assert_eq!(ids.canonical(Netns::Pid(2)), Netns::Pid(2));
    }

    #[test]
    fn among_equals_the_first_identified_is_canonical() {
        let mut ids = Identities::default();
        ids.identify(named("b"), A);
        ids.identify(named("a"), A);
        assert_eq!(ids.canonical(named("a")), named("b"));
        ids.identify(Netns::Pid(9), B);
        assert_eq!(ids.canonical(Netns::Pid(9)), Netns::Pid(9));
    }

    #[test]
    fn the_same_report_twice_changes_nothing() {
        let mut ids = Identities::default();
        ids.identify(named("t"), A);
        assert!(ids.identify(named("t"), A).is_empty());
    }

    #[test]
    fn a_namespace_identified_anew_leaves_its_old_group() {
        let mut ids = Identities::default();
        ids.identify(named("t"), A);
        ids.identify(Netns::Pid(7), A);
        let affected = ids.identify(named("t"), B);
        assert!(affected.contains(&Netns::Pid(7)), "{affected:?}");
        assert_eq!(ids.canonical(Netns::Pid(7)), Netns::Pid(7));
        assert_eq!(ids.identity(&named("t")), Some(B));
    }

    #[test]
    fn when_the_canonical_vanishes_the_next_alias_takes_over() {
        let mut ids = Identities::default();
        ids.identify(named("t"), A);
        ids.identify(Netns::Pid(7), A);
        ids.identify(Netns::Pid(8), A);
        let (promoted, affected) = ids.forget(&named("t"));
        assert_eq!(promoted, Some(Netns::Pid(7)));
        assert_eq!(affected.len(), 3, "{affected:?}");
        assert_eq!(ids.canonical(Netns::Pid(8)), Netns::Pid(7));
        assert_eq!(ids.canonical(named("t")), named("t"));
        assert_eq!(ids.identity(&named("t")), None);
    }

    #[test]
    fn when_an_alias_vanishes_nothing_is_promoted() {
        let mut ids = Identities::default();
        ids.identify(named("t"), A);
        ids.identify(Netns::Pid(7), A);
        assert_eq!(ids.forget(&Netns::Pid(7)).0, None);
        assert_eq!(ids.forget(&named("t")).0, None);
        assert!(ids.is_empty());
        assert_eq!(ids.forget(&named("t")), (None, vec![]));
    }

    #[test]
    fn the_stored_form_reads_back_the_same() {
        let mut ids = Identities::default();
        ids.identify(Netns::Pid(7), A);
        ids.identify(named("t"), A);
        ids.identify(Netns::Default, B);
        let text = serde_json::to_string(&ids).expect("encodes");
        let back: Identities = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, ids);
        assert_eq!(back.canonical(Netns::Pid(7)), named("t"));
    }
}
