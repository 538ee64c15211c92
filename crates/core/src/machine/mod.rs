//! The state machine: desired items and observations in, commands out.
//!
//! For every item the core keeps two things side by side: what the user wants (`desired`) and
//! what it believes the kernel holds for the item (`actual`), the belief being updated only by
//! command results and observed snapshots. An event marks the items it may affect as dirty;
//! reconciling a dirty item compares the two and emits at most one command for it, so work is
//! proportional to what changed and never to the size of the configuration.
//!
//! # Driving contract
//!
//! - After each [`Core::handle`], drain [`Core::poll_command`] until it returns `None`, apply
//!   the commands (in order, possibly as one batch), and feed each result back with
//!   [`Event::command_result`]. The core never waits: a command not fed back simply keeps its
//!   item waiting, which is what a result lost to a crash looks like, until
//!   [`Event::Restarted`].
//! - After each `handle`, ask [`Core::poll_timeout`] again, and feed [`Event::TimerFired`] once
//!   that time has come. The core has no clock: the `at` given to `handle` is its only time.
//! - Call [`Core::take_state_changes`] whenever status is to be published (after a batch of
//!   events is enough): it reports each changed item once, with its latest state, so calling
//!   it rarely loses nothing but intermediate states.
//! - After [`Event::Restarted`] nothing is issued until an [`Event::Observed`] snapshot of
//!   [`Core::namespaces_to_observe`] comes in.
//! - After each `handle`, also drain [`Core::poll_resync`] (after the commands): observe the
//!   namespaces it names and feed the snapshot as [`Event::Observed`]. Drain
//!   [`Core::poll_chain_resync`] likewise and feed the tables as [`Event::ChainsObserved`]. Set the period of the
//!   full resync with [`Core::set_resync_interval`] after building or restoring the core.
//!
//! # Where each rule lives
//!
//! | Rule | File |
//! |------|------|
//! | interfaces are reconciled before the routes and neighbours that read them | `dirty.rs` |
//! | an item with a command in flight waits for its result | `dirty.rs` (`reconcile`) |
//! | at most one command per item per reconcile; a result marks its waiters dirty | `flight.rs` |
//! | link names and routes being taken are reserved until the result | `flight.rs` |
//! | retries with exponential backoff, armed and cancelled in one place | `timers.rs` |
//! | terminal errors block an item until its desired value changes | `flight.rs`, `intent.rs` |
//! | errors that mean the goal already holds (ENODEV on delete, EEXIST on add, ...) | `flight.rs` |
//! | the oldest claimant wins a contested link name | `intent.rs` |
//! | namespace available before anything is done in it; named namespaces are created | `namespaces.rs` |
//! | a vanished namespace takes its objects and the far ends of its veths | `namespaces.rs`, `effects.rs` |
//! | results from a namespace's previous generation change nothing | `namespaces.rs`, `flight.rs` |
//! | microservices resolve to the newest container's pid | `namespaces.rs` |
//! | references with one identity are one namespace: aliases resolve to the canonical | `identities.rs`, `namespaces.rs` |
//! | both veth ends configured, agreeing and idle before the pair is made or removed | `veth.rs`, `link.rs` |
//! | a veth pair fails as one; the kernel's word on the other end beats the items' names | `veth.rs` |
//! | namespace, kind or peer changed: re-create; host name changed: rename in place | `link.rs` |
//! | pre-6.2 kernels (EBUSY) get the link taken down for the rename | `link.rs`, `flight.rs` |
//! | routes and ARPs wait for an applied, up interface and a reachable gateway | `l3.rs` |
//! | the kernel's flushes (link down, MTU < 1280, MAC change, last IPv4 address) | `effects.rs` |
//! | a full resync now and then, and on request; never of a namespace no item cares about | `drift.rs` |
//! | resync adopts managed objects by their mark (alias), removes stale ones, never touches unmanaged or foreign links | `resync.rs`, `crate::identity` |
//! | a legacy mark is adopted only for an item that wants it (or with `adopt_legacy`), then re-marked | `resync.rs`, `link.rs` |
//! | mid-rename, a snapshot may show either name; the link-local addresses the kernel adds are not an item's | `seen.rs` |
//! | stale objects are removed on no item's behalf and block what they stand in the way of | `stale.rs`, `crate::obj` |
//! | indexes are derived, never stored | `index.rs` |
//! | a rule chain is written whole into a chain the agent owns; the oldest item sets a built-in chain's policy; someone else's chain is refused | `chain.rs`, `crate::firewall` |
//! | a borrowed link is observed first, changed only where the item says, restored when let go; the allow-list and the agent's own NATS link are refused | `borrow.rs`, `link.rs` |
//! | a link is configured in place one step at a time: attributes, offloading, then one address | `configure.rs` |
//! | a TAP_TO_VPP item waits for its TAP at home, takes it to its place, gives it back home | `tap.rs`, `resync.rs` |
//! | a VRF's or bridge's member waits for its master's link, in its namespace | `master.rs` |
//! | a bridge's settings are changed in place; its ports are released before it is deleted | `bridge.rs`, `configure.rs` |
//! | a VRF member waits for its VRF in its namespace, is enslaved to it, and routes through its table | `vrf.rs`, `master.rs`, `l3.rs` |
//! | a MACVLAN or VXLAN waits for its parent's link, goes with it, and is never changed at once with it | `stacked.rs`, `dirty.rs` |
//! | the link an item asks for, and what fits it in place | `target.rs` |
//! | a VXLAN is made on its underlay's namespace, its MTU kept below the underlay's | `vxlan.rs` |

mod borrow;
mod bridge;
mod chain;
mod configure;
mod dirty;
mod drift;
mod effects;
mod explain;
mod flight;
mod identities;
mod index;
mod intent;
mod l3;
mod link;
mod master;
mod namespaces;
mod policy_rule;
mod reclaim;
mod resync;
mod seen;
mod stacked;
mod stale;
mod state;
mod tap;
mod target;
mod timers;
mod unclaimed;
mod veth;
mod vrf;
mod vxlan;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::event::{Event, Timestamp};
use crate::identity::AgentIdentity;
use crate::model::{Item, ItemKey};
use crate::netns::{NamespaceRef, Netns};
use crate::status::ItemState;
pub use borrow::{BorrowPolicy, ProtectedLink};
use drift::ResyncRequests;
use stale::StaleObjects;

use index::Indexes;
use state::{ItemId, State};
use timers::Timers;

/// Tunables of the core's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreConfig {
    /// Delay before the first retry of a failed command; doubled on each further failure.
    pub retry_base_ms: u64,
    /// Longest delay between retries.
    pub retry_max_ms: u64,
    /// Whose links are this core's (`crate::identity`). Not stored in snapshots: it belongs to
    /// the data dir the agent runs from, and is set again on restore ([`Core::set_identity`]).
    #[serde(skip)]
    pub identity: AgentIdentity,
    /// Take every legacy-marked link on the host for this core's, so that those no item wants
    /// are removed as stale (see `crate::identity`). Not stored in snapshots either.
    #[serde(skip)]
    pub adopt_legacy: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            retry_base_ms: 100,
            retry_max_ms: 30_000,
            identity: AgentIdentity::default(),
            adopt_legacy: false,
        }
    }
}

/// The state machine. Driven by one thread: feed it events with [`Core::handle`] and drain
/// [`Core::poll_command`] after each (see the module documentation for the whole contract).
/// It never blocks and never fails on input, because everything it decides must be
/// reproducible from the event log alone; serializing it (a snapshot) stores only `State`,
/// since everything else is rebuilt from it.
#[derive(Debug, Clone)]
pub struct Core {
    s: State,
    ix: Indexes,
    /// Dirty interface items, reconciled before the dirty routes and neighbours.
    dirty_links: VecDeque<ItemId>,
    /// Dirty MACVLANs and VXLANs, whose links sit on others': reconciled after the other
    /// links, so that they see what those links' commands are doing (`stacked.rs`).
    dirty_stacked: VecDeque<ItemId>,
    dirty_l3: VecDeque<ItemId>,
    /// Reused for lists of items to mark, so that marking allocates nothing.
    scratch: Vec<ItemId>,
    /// Resyncs wanted (on demand, periodic) and the periodic timer's entry; not stored.
    resync: ResyncRequests,
}

impl Serialize for Core {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.s.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Core {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = State::deserialize(deserializer)?;
        Ok(Core::from_state(s))
    }
}

impl Core {
    pub fn new(config: CoreConfig) -> Core {
        Core::from_state(State {
            config,
            now: Timestamp(0),
            slots: Vec::new(),
            free: Vec::new(),
            named: BTreeMap::new(),
            available: BTreeSet::new(),
            microservices: BTreeMap::new(),
            watch_connected: false,
            generations: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_command: 1,
            timers: Timers::default(),
            outbox: VecDeque::new(),
            waiters: BTreeMap::new(),
            stale: StaleObjects::default(),
            next_born: 0,
            awaiting_resync: false,
            changed: Vec::new(),
            removed: Vec::new(),
            identities: Default::default(),
            borrows: Default::default(),
        })
    }

    /// Sets the parts of the configuration a snapshot does not store (the identity and
    /// `adopt_legacy`): a core restored from a snapshot must get them from its agent before it
    /// is fed anything.
    pub fn set_identity(&mut self, identity: AgentIdentity, adopt_legacy: bool) {
        self.s.config.identity = identity;
        self.s.config.adopt_legacy = adopt_legacy;
    }

    /// Feeds one event. Commands it causes are queued for [`Core::poll_command`].
    pub fn handle(&mut self, at: Timestamp, event: Event) {
        if at > self.s.now {
            self.s.now = at;
        }
        match event {
            Event::Put { seq, item } => self.on_put(seq, item),
            Event::Delete { seq, key } => self.on_delete(seq, key),
            Event::NamespaceAvailable { ns } => self.on_namespace_available(&ns),
            Event::NamespaceVanished { ns } => self.on_namespace_vanished(&ns),
            Event::MicroserviceStarted {
                label,
                container_id,
                pid,
                duplicates,
            } => self.on_microservice_started(label, container_id, pid, duplicates),
            Event::MicroserviceStopped {
                label,
                container_id,
            } => self.on_microservice_stopped(&label, &container_id),
            Event::MicroserviceWatch { connected } => self.on_microservice_watch(connected),
            Event::CommandSucceeded { id } => self.on_result(id, Ok(())),
            Event::CommandFailed { id, error } => self.on_result(id, Err(error)),
            Event::TimerFired => self.on_timer(),
            Event::Restarted => self.on_restarted(),
            Event::Observed(snapshot) => self.on_observed(snapshot),
            Event::ResyncRequested { ns } => self.on_resync_requested(ns),
            Event::NamespaceIdentified { ns, identity } => {
                self.on_namespace_identified(ns, identity)
            }
            Event::BorrowPolicy(policy) => self.on_borrow_policy(policy),
            Event::ChainsObserved(snapshot) => self.on_chains_observed(snapshot),
        }
        self.reconcile_dirty();
        self.issue_due_stale();
        self.arm_periodic_resync();
    }

    /// The next command to apply, if any.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.s.outbox.pop_front()
    }

    /// When the core next wants [`Event::TimerFired`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.s.timers.next()
    }

    /// The state of one item, `None` if the core does not know the key.
    pub fn status(&self, key: &ItemKey) -> Option<ItemState> {
        self.ix
            .by_key
            .get(key)
            .map(|id| self.slot(*id).state.clone())
    }

    /// Every item's state, sorted by key.
    pub fn statuses(&self) -> Vec<(ItemKey, ItemState)> {
        let mut all: Vec<_> = self
            .s
            .slots
            .iter()
            .flatten()
            .map(|s| (s.key.clone(), s.state.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Whose marks this core reads as its own, for views that tell the agent's links apart.
    pub fn identity(&self) -> &AgentIdentity {
        &self.s.config.identity
    }

    /// The link each interface item holds now, by item name, sorted: which links state reports
    /// are about.
    pub fn interface_links(&self) -> Vec<(String, Netns, String)> {
        let mut all: Vec<_> = self
            .s
            .slots
            .iter()
            .flatten()
            .filter_map(|s| match (&s.key, &s.actual) {
                (ItemKey::Interface(item), state::Actual::Link(a)) => {
                    Some((item.clone(), a.ns.clone(), a.name.clone()))
                }
                _ => None,
            })
            .collect();
        all.sort();
        all
    }

    /// How many items are in each state (by [`ItemState::name`]), of those whose key starts
    /// with `prefix`: what `nsagentctl wait` polls, so it copies nothing per item.
    pub fn state_counts(&self, prefix: Option<&str>) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for s in self.s.slots.iter().flatten() {
            if prefix.is_none_or(|p| s.key.to_string().starts_with(p)) {
                *counts.entry(s.state.name()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The desired value of one item, `None` if it is not desired.
    pub fn desired_item(&self, key: &ItemKey) -> Option<&Item> {
        self.ix
            .by_key
            .get(key)
            .and_then(|id| self.slot(*id).desired.as_deref())
    }

    /// Every desired item, sorted by key.
    pub fn desired(&self) -> Vec<Item> {
        let mut all: Vec<Item> = self
            .s
            .slots
            .iter()
            .flatten()
            .filter_map(|s| s.desired.as_deref().cloned())
            .collect();
        all.sort_by_key(|i| i.key());
        all
    }

    /// Items whose state changed since the last call, with their current state; deleted items
    /// that are gone report [`ItemState::Removed`].
    pub fn take_state_changes(&mut self) -> Vec<(ItemKey, ItemState)> {
        let mut out: Vec<(ItemKey, ItemState)> = self
            .s
            .removed
            .drain(..)
            .map(|k| (k, ItemState::Removed))
            .collect();
        let changed = std::mem::take(&mut self.s.changed);
        let removed = out.len();
        for id in changed {
            if let Some(Some(slot)) = self.s.slots.get_mut(id.0 as usize) {
                if std::mem::take(&mut slot.changed) {
                    out.push((slot.key.clone(), slot.state.clone()));
                }
            }
        }
        // A key removed and then put again reports its new state, not `Removed`.
        if removed > 0 {
            let live: BTreeSet<ItemKey> = out[removed..].iter().map(|(k, _)| k.clone()).collect();
            let mut i = 0;
            out.retain(|(k, _)| {
                i += 1;
                i > removed || !live.contains(k)
            });
        }
        out
    }

    /// The namespaces whose contents the core wants to know at start-up: every namespace that
    /// an item refers to or holds objects in.
    pub fn namespaces_to_observe(&self) -> Vec<Netns> {
        let mut set = BTreeSet::new();
        set.insert(Netns::Default);
        for r in self.ix.ns_members.keys() {
            match r.fixed() {
                Some(ns) => {
                    set.insert(ns);
                }
                None => {
                    if let NamespaceRef::Microservice(label) = r {
                        if let Some(ms) = self.s.microservices.get(label) {
                            set.insert(Netns::Pid(ms.pid));
                        }
                    }
                }
            }
        }
        for slot in self.s.slots.iter().flatten() {
            if let Some(ns) = slot.actual.ns() {
                set.insert(ns.clone());
            }
        }
        // Every namespace the core believes in, referenced or not, so that no belief outlives
        // a restart unchecked.
        set.extend(self.s.named.keys().map(|n| Netns::Named(n.clone())));
        set.extend(self.s.available.iter().cloned());
        set.into_iter().collect()
    }
}
