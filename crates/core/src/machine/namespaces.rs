//! Namespace references and the namespaces they resolve to: named namespaces the agent creates,
//! PID and task namespaces that come and go, microservices whose pid changes on restart. A
//! namespace that vanishes bumps its generation, so that results of commands issued before can
//! be told apart from results about the new one. References that name one namespace (by its
//! identity, `identities.rs`) resolve to the same one, the group's canonical.

use crate::backend::BackendError;
use crate::command::Op;
use crate::netns::{NamespaceIdentity, NamespaceRef, Netns};
use crate::status::PendingReason;

use super::index::ids_in;
use super::state::{Actual, ItemId, Microservice, NamedState, Owner};
use super::timers::TimerKey;
use super::Core;

impl Core {
    /// Turns a reference into a namespace commands can act in, or says why it cannot. A
    /// reference to an alias resolves to its canonical namespace.
    pub(super) fn resolve(&self, r: &NamespaceRef) -> Result<Netns, PendingReason> {
        self.resolve_alone(r)
            .map(|ns| self.s.identities.canonical(ns))
    }

    /// The namespace `r` names, whatever other references name it too.
    pub(super) fn resolve_alone(&self, r: &NamespaceRef) -> Result<Netns, PendingReason> {
        match r {
            NamespaceRef::Default => Ok(Netns::Default),
            NamespaceRef::Named(n) => match self.s.named.get(n) {
                Some(NamedState::Present) => Ok(Netns::Named(n.clone())),
                _ => Err(PendingReason::NamespaceBeingCreated(n.clone())),
            },
            NamespaceRef::Pid(_) | NamespaceRef::Task { .. } => {
                let ns = r.fixed().expect("pid and task references are fixed");
                if self.s.available.contains(&ns) {
                    Ok(ns)
                } else {
                    Err(PendingReason::NamespaceNotAvailable(r.clone()))
                }
            }
            NamespaceRef::Microservice(label) => match self.s.microservices.get(label) {
                Some(ms) => Ok(Netns::Pid(ms.pid)),
                None if !self.s.watch_connected => {
                    Err(PendingReason::MicroserviceWatchDisconnected(label.clone()))
                }
                None => Err(PendingReason::MicroserviceNotRunning(label.clone())),
            },
        }
    }

    /// References that currently resolve to `ns`.
    pub(super) fn refs_of(&self, ns: &Netns) -> Vec<NamespaceRef> {
        let mut refs = Vec::with_capacity(2);
        refs.push(match ns {
            Netns::Default => NamespaceRef::Default,
            Netns::Named(n) => NamespaceRef::Named(n.clone()),
            Netns::Pid(p) => NamespaceRef::Pid(*p),
            Netns::Task { pid, tid } => NamespaceRef::Task {
                pid: *pid,
                tid: *tid,
            },
        });
        if let Netns::Pid(p) = ns {
            for (label, ms) in &self.s.microservices {
                if ms.pid == *p {
                    refs.push(NamespaceRef::Microservice(label.clone()));
                }
            }
        }
        refs
    }

    /// References whose items act in `ns`: those that resolve to it, and those of the
    /// namespaces sharing its identity (a pid living in it), whose commands act in it too.
    pub(super) fn refs_acting_in(&self, ns: &Netns) -> Vec<NamespaceRef> {
        let group = self.s.identities.group(ns);
        if group.is_empty() {
            return self.refs_of(ns);
        }
        group.iter().flat_map(|n| self.refs_of(n)).collect()
    }

    /// A namespace is available and is the namespace `identity`: if another reference names
    /// it too, the items of both now act in one namespace, the group's canonical.
    pub(super) fn on_namespace_identified(&mut self, ns: Netns, identity: NamespaceIdentity) {
        let affected = self.s.identities.identify(ns.clone(), identity);
        self.on_namespace_available(&ns);
        self.mark_namespaces_dirty(&affected);
    }

    fn mark_namespaces_dirty(&mut self, namespaces: &[Netns]) {
        for ns in namespaces {
            for r in self.refs_of(ns) {
                self.mark_members_dirty(&r);
            }
        }
    }

    /// Other references that name the namespace `r` resolves to, for warnings and name
    /// contests: empty unless it has aliases.
    pub(super) fn aliases_of(&self, r: &NamespaceRef) -> Vec<NamespaceRef> {
        let Ok(own) = self.resolve_alone(r) else {
            return Vec::new();
        };
        let mut refs: Vec<NamespaceRef> = Vec::new();
        for ns in self.s.identities.group(&own) {
            refs.extend(self.refs_of(ns).into_iter().filter(|o| o != r));
        }
        refs
    }

    pub(super) fn on_namespace_available(&mut self, ns: &Netns) {
        match ns {
            Netns::Default => return,
            Netns::Named(n) => {
                let state = self.s.named.entry(n.clone()).or_insert(NamedState::Absent);
                if *state == NamedState::Present {
                    return;
                }
                if let NamedState::Failed { retry_at, .. } = state {
                    let mut handle = Some(*retry_at);
                    self.s
                        .timers
                        .cancel(&mut handle, TimerKey::Namespace(n.clone()));
                }
                *state = NamedState::Present;
            }
            Netns::Pid(_) | Netns::Task { .. } => {
                if !self.s.available.insert(ns.clone()) {
                    return;
                }
            }
        }
        for r in self.refs_of(ns) {
            self.mark_members_dirty(&r);
        }
    }

    /// A namespace is gone, and the kernel destroyed everything in it, including the far ends
    /// of veth pairs that had one end inside.
    pub(super) fn on_namespace_vanished(&mut self, ns: &Netns) {
        let refs = self.refs_of(ns);
        match ns {
            // The agent's own namespace cannot vanish while the agent runs.
            Netns::Default => return,
            Netns::Named(n) => {
                if let Some(state) = self.s.named.get_mut(n) {
                    if !matches!(state, NamedState::Creating { .. }) {
                        *state = NamedState::Absent;
                    }
                }
            }
            Netns::Pid(p) => {
                self.s.available.remove(ns);
                // A microservice whose process is gone is not running, whatever Docker says
                // later; its next start brings a new pid.
                self.s.microservices.retain(|_, ms| ms.pid != *p);
            }
            Netns::Task { .. } => {
                self.s.available.remove(ns);
            }
        }
        // Its links went with it: nothing to give back, nothing to wait for.
        self.s.borrows.forget_namespace(ns);
        *self.s.generations.entry(ns.clone()).or_insert(0) += 1;
        let (promoted, affected) = self.s.identities.forget(ns);
        if let Some(promoted) = promoted {
            // The namespace lives on through an alias, and with it every object in it: they
            // are believed there now, where items under the alias keep them and the others
            // move theirs away. An observation settles what was in flight.
            self.rehome(ns, &promoted);
            self.resync.wanted.insert(promoted);
        }
        self.mark_namespaces_dirty(&affected);
        for o in self.s.stale.in_namespace(ns) {
            if self
                .s
                .stale
                .get(o)
                .is_some_and(|obj| obj.in_flight.is_none())
            {
                self.finish_stale(o, true);
            }
        }
        let holders: Vec<ItemId> = ids_in(self.ix.actual_in.get(ns));
        for id in holders {
            self.forget_kernel_objects(id);
        }
        for r in refs {
            self.mark_members_dirty(&r);
        }
    }

    /// Every belief about objects in `from` (and of veth ends whose other end is there) is
    /// moved to `to`, the same kernel namespace under another reference.
    fn rehome(&mut self, from: &Netns, to: &Netns) {
        let move_ns = |ns: &mut Netns| {
            if ns == from {
                *ns = to.clone();
            }
        };
        for i in 0..self.s.slots.len() as u32 {
            let id = ItemId(i);
            if !self.live(id) {
                continue;
            }
            let mut actual = self.slot(id).actual.clone();
            match &mut actual {
                Actual::None => continue,
                Actual::Chain(c) => move_ns(&mut c.ns),
                Actual::Link(l) => {
                    move_ns(&mut l.ns);
                    if let Some((peer_ns, _)) = &mut l.peer_link {
                        move_ns(peer_ns);
                    }
                    if let Some(Some((parent_ns, _))) = l.role.parent_link_mut() {
                        move_ns(parent_ns);
                    }
                }
                Actual::Route(r) => move_ns(&mut r.ns),
                Actual::Neighbour(n) => move_ns(&mut n.ns),
                Actual::Fdb(f) => move_ns(&mut f.ns),
                Actual::Rule(r) => move_ns(&mut r.ns),
            }
            if actual != self.slot(id).actual {
                self.set_actual(id, actual);
                self.mark_dirty(id);
            }
        }
    }

    pub(super) fn on_microservice_started(
        &mut self,
        label: String,
        container_id: String,
        pid: u32,
        duplicates: Vec<String>,
    ) {
        let new = Microservice {
            container_id,
            pid,
            duplicates,
        };
        match self.s.microservices.get(&label) {
            Some(old) if *old == new => return,
            Some(old) if old.pid != pid && !new.duplicates.contains(&old.container_id) => {
                // Restarted with a new process: the old namespace is gone.
                let old_ns = Netns::Pid(old.pid);
                self.on_namespace_vanished(&old_ns);
            }
            // A newer container took the label over while the old one still runs: its
            // namespace is still there, so the items' links are moved (deleted there, created
            // in the new one) like after any change of namespace.
            _ => {}
        }
        self.s.microservices.insert(label.clone(), new);
        self.mark_members_dirty(&NamespaceRef::Microservice(label));
    }

    pub(super) fn on_microservice_stopped(&mut self, label: &str, container_id: &str) {
        let Some(ms) = self.s.microservices.get(label) else {
            return;
        };
        if ms.container_id != container_id {
            return;
        }
        let ns = Netns::Pid(ms.pid);
        self.s.microservices.remove(label);
        self.on_namespace_vanished(&ns);
        self.mark_members_dirty(&NamespaceRef::Microservice(label.to_string()));
    }

    pub(super) fn on_microservice_watch(&mut self, connected: bool) {
        if self.s.watch_connected == connected {
            return;
        }
        self.s.watch_connected = connected;
        let refs: Vec<NamespaceRef> = self
            .ix
            .ns_members
            .keys()
            .filter(|r| matches!(r, NamespaceRef::Microservice(_)))
            .cloned()
            .collect();
        for r in refs {
            self.mark_members_dirty(&r);
        }
    }

    pub(super) fn generation(&self, ns: &Netns) -> u64 {
        if self.s.generations.is_empty() {
            return 0;
        }
        self.s.generations.get(ns).copied().unwrap_or(0)
    }

    pub(super) fn generations_of(&self, op: &Op) -> (u64, Option<u64>) {
        (
            self.generation(&op.namespace()),
            op.peer_namespace().map(|ns| self.generation(ns)),
        )
    }

    /// A named namespace was created, or not. If it vanished meanwhile, the answer says nothing
    /// sure (the vanish may be of the namespace created, or of an older one): the core creates
    /// it again, which is harmless if it exists.
    pub(super) fn on_namespace_result(
        &mut self,
        n: &str,
        op: &Op,
        result: Result<(), BackendError>,
        outdated: bool,
    ) {
        if outdated {
            self.s.named.insert(n.to_string(), NamedState::Absent);
            return self.mark_members_dirty(&NamespaceRef::Named(n.to_string()));
        }
        let error = match result {
            Ok(()) => None,
            Err(e) if self.failure_means_done(op, &e) => None,
            Err(e) => Some(e),
        };
        let Some(error) = error else {
            self.s.named.insert(n.to_string(), NamedState::Present);
            return self.mark_members_dirty(&NamespaceRef::Named(n.to_string()));
        };
        let attempts = match self.s.named.get(n) {
            Some(NamedState::Creating { attempts }) => attempts + 1,
            _ => 1,
        };
        let at = self.retry_time(attempts);
        let failed = NamedState::Failed {
            retry_at: at,
            attempts,
            error: error.to_string(),
        };
        self.s.named.insert(n.to_string(), failed);
        let mut handle = None;
        self.s
            .timers
            .arm(&mut handle, at, TimerKey::Namespace(n.to_string()));
    }

    pub(super) fn ensure_named_namespace(&mut self, r: &NamespaceRef) {
        if let NamespaceRef::Named(n) = r {
            // Commands still in flight may have been aimed at a previous incarnation of the
            // namespace: making it again now would let them land in the new one unseen.
            let commands_there = self.ix.in_flight_ns.contains_key(&Netns::Named(n.clone()));
            let state = self.s.named.entry(n.clone()).or_insert(NamedState::Absent);
            if *state == NamedState::Absent && !commands_there {
                *state = NamedState::Creating { attempts: 0 };
                self.issue(
                    Op::CreateNamespace { name: n.clone() },
                    Owner::Namespace(n.clone()),
                );
            }
        }
    }
}
