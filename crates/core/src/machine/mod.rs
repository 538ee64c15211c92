//! The state machine: desired items and observations in, commands out.
//!
//! For every item the core keeps two things side by side: what the user wants (`desired`) and
//! what it believes the kernel holds for the item (`actual`), the belief being updated only by
//! command results and observed snapshots. An event marks the items it may affect as dirty;
//! reconciling a dirty item compares the two and emits at most one command for it, so work is
//! proportional to what changed and never to the size of the configuration.
//!
//! Ordering rules live here and nowhere else: links are reconciled before the routes and
//! neighbours that depend on them; an item with a command in flight waits for its result; both
//! ends of a veth pair must be idle before the pair is created or deleted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::backend::{errno, BackendError, ErrorKind};
use crate::command::{Command, CommandId, LinkChange, LinkSpec, NewLink, Op, RouteSpec};
use crate::event::{Event, Timestamp};
use crate::model::{Interface, InterfaceType, Item, ItemKey, MacAddr};
use crate::netns::{NamespaceRef, Netns};
use crate::observed::{LinkKind, ObservedLink, ObservedNamespace, Snapshot, ALIAS_PREFIX};
use crate::orphan::{Orphans, Resource};
use crate::status::{Explanation, ItemState, PendingReason};

/// Tunables of the core's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreConfig {
    /// Delay before the first retry of a failed command; doubled on each further failure.
    pub retry_base_ms: u64,
    /// Longest delay between retries.
    pub retry_max_ms: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            retry_base_ms: 100,
            retry_max_ms: 30_000,
        }
    }
}

/// Index of an item's slot. Stable for the item's lifetime; reused after it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct ItemId(u32);

/// What the core believes the kernel holds for an interface item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LinkActual {
    ns: Netns,
    name: String,
    shape: Shape,
    up: bool,
    /// `None`: not known (left at the kernel's default).
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    alias: Option<String>,
    /// For owned links, every address on the link; for borrowed links, the ones the agent added.
    addresses: Vec<IpNet>,
    /// For a veth: the other end, when known (always for pairs the agent created).
    #[serde(default)]
    peer_link: Option<(Netns, String)>,
    /// A borrowed link adopted without being observed: its attributes are not known until a
    /// change of the agent's succeeds, so every wanted attribute is set, not only differences.
    #[serde(default)]
    attributes_unknown: bool,
}

/// How an item holds its link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Shape {
    /// One end of a pair the agent created; the other end belongs to the named item.
    Veth { peer_item: String },
    /// A dummy link the agent created.
    Dummy,
    /// A link someone else created (EXISTING, LOOPBACK): configured, never deleted.
    Borrowed,
}

impl Shape {
    fn owned(&self) -> bool {
        !matches!(self, Shape::Borrowed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RouteActual {
    ns: Netns,
    route: RouteSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct NeighbourActual {
    ns: Netns,
    link: String,
    ip: IpAddr,
    mac: MacAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Actual {
    None,
    Link(LinkActual),
    Route(RouteActual),
    Neighbour(NeighbourActual),
}

impl Actual {
    fn ns(&self) -> Option<&Netns> {
        match self {
            Actual::None => None,
            Actual::Link(l) => Some(&l.ns),
            Actual::Route(r) => Some(&r.ns),
            Actual::Neighbour(n) => Some(&n.ns),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    key: ItemKey,
    /// `None` once deleted: the slot lives on until the item's objects are gone.
    desired: Option<Arc<Item>>,
    last_seq: Option<u64>,
    actual: Actual,
    in_flight: Option<CommandId>,
    state: ItemState,
    /// Failures since the last success or change of desired state.
    attempts: u32,
    last_error: Option<String>,
    /// Set while waiting for a retry timer.
    retry_at: Option<Timestamp>,
    /// A terminal failure: nothing is retried until the desired state changes.
    blocked: bool,
    /// Interfaces only: the link in the kernel is the one the desired state asks for (same
    /// namespace, name and kind), whatever its attributes. Routes and neighbours may use it.
    link_ok: bool,
    /// Interfaces only: another item that wants the same link name in the same namespace and
    /// wins it. Kept up to date with the claims, so that reconciling needs no lookup.
    #[serde(skip)]
    name_taken_by: Option<ItemId>,
    #[serde(skip)]
    dirty: bool,
    /// Listed in `State::changed`.
    changed: bool,
    /// When the item was first put, counted in item creations: the oldest claimant wins a
    /// contested link name.
    #[serde(default)]
    born: u64,
    /// The last failure was EEXIST: a link of that name was still there, typically the far
    /// end of a veth the kernel destroys some time after its namespace. The next observation
    /// of the namespace retries at once instead of waiting out the backoff.
    #[serde(default)]
    retry_on_observe: bool,
    /// The kernel refused to rename the link while it was up (EBUSY: Linux before 6.2 renames
    /// only links that are down), so the next try takes it down first.
    #[serde(default)]
    rename_when_down: bool,
}

/// The state of a named namespace, which the agent creates when an item needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum NamedState {
    /// Not known to exist: created when an item needs it.
    Absent,
    /// `attempts`: failed creations before this one.
    Creating {
        attempts: u32,
    },
    Present,
    /// Creation failed; retried at the time given.
    Failed {
        retry_at: Timestamp,
        attempts: u32,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Microservice {
    container_id: String,
    pid: u32,
    duplicates: Vec<String>,
}

/// Who waits for a command's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Owner {
    /// An item; for veth pair commands, the item at the other end too.
    Item {
        id: ItemId,
        peer: Option<ItemId>,
    },
    Namespace(String),
    /// A stale managed object found by resync, removed on no item's behalf.
    Orphan(u64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InFlight {
    op: Op,
    owner: Owner,
    /// Generation of the namespaces the command acts in (its own, and a veth peer's), when it
    /// was issued. A namespace that vanished since took the command's work with it, whatever
    /// the result says.
    epochs: (u64, Option<u64>),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum TimerKey {
    Item(ItemId),
    Namespace(String),
    Orphan(u64),
}

/// Everything that is not derivable from the rest: this is what a snapshot stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    config: CoreConfig,
    now: Timestamp,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    named: BTreeMap<String, NamedState>,
    /// PID and task namespaces known to exist.
    available: BTreeSet<Netns>,
    microservices: BTreeMap<String, Microservice>,
    watch_connected: bool,
    /// Bumped each time a namespace vanishes.
    #[serde(with = "pairs")]
    epochs: BTreeMap<Netns, u64>,
    in_flight: BTreeMap<CommandId, InFlight>,
    next_command: u64,
    timers: BTreeSet<(Timestamp, TimerKey)>,
    outbox: VecDeque<Command>,
    /// Items waiting for a resource to be released, and what they wait for.
    #[serde(with = "pairs")]
    waiters: BTreeMap<Resource, BTreeSet<ItemId>>,
    orphans: Orphans,
    /// Gives each new item its age: the oldest claimant wins a contested link name.
    next_born: u64,
    /// After a restart nothing is issued until the kernel has been observed.
    awaiting_resync: bool,
    /// Items whose state changed since [`Core::take_state_changes`]; each at most once, as
    /// told by its slot's `changed` flag.
    changed: Vec<ItemId>,
    removed: Vec<ItemKey>,
}

/// Lookups rebuilt from [`State`] after a restore.
#[derive(Debug, Clone, Default)]
struct Indexes {
    by_key: FxHashMap<ItemKey, ItemId>,
    /// Interface items by logical name: the same as `by_key`, looked up by `&str`.
    names: FxHashMap<String, ItemId>,
    /// Items that name an interface: its routes and ARPs (by their key), and veths naming it
    /// as their peer.
    referrers: FxHashMap<String, BTreeSet<ItemId>>,
    /// Interface items by their desired namespace. Ordered: it is iterated.
    ns_members: BTreeMap<NamespaceRef, BTreeSet<ItemId>>,
    /// Items with objects in a namespace.
    actual_in: FxHashMap<Netns, BTreeSet<ItemId>>,
    /// Interface items by the link name they want, with the namespace they want it in.
    host_claims: FxHashMap<(NamespaceRef, String), Vec<ItemId>>,
    link_owner: FxHashMap<(Netns, String), ItemId>,
    /// Route and neighbour items with objects on a link.
    on_link: FxHashMap<(Netns, String), BTreeSet<ItemId>>,
    route_owner: FxHashMap<(Netns, IpNet, u32), ItemId>,
    /// Routes being added (command in flight), by the item adding them: a second item with
    /// the same destination and metric waits rather than replace it unseen.
    route_adding: FxHashMap<(Netns, IpNet, u32), ItemId>,
    /// Link names being taken (a creation or rename in flight), by the item taking them: an
    /// item that wins the name meanwhile waits, rather than collide with it in the kernel.
    link_naming: FxHashMap<(Netns, String), ItemId>,
    /// Commands in flight per namespace they act in (both, for a veth pair).
    in_flight_ns: FxHashMap<Netns, u32>,
}

/// The core state machine. See the crate documentation.
#[derive(Debug, Clone)]
pub struct Core {
    s: State,
    ix: Indexes,
    /// Dirty interface items, reconciled before the dirty routes and neighbours.
    dirty_links: VecDeque<ItemId>,
    dirty_l3: VecDeque<ItemId>,
    /// Reused for lists of items to mark, so that marking allocates nothing.
    scratch: Vec<ItemId>,
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

const NO_SLOT: &str = "item id refers to a live slot";

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
            epochs: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_command: 1,
            timers: BTreeSet::new(),
            outbox: VecDeque::new(),
            waiters: BTreeMap::new(),
            orphans: Orphans::default(),
            next_born: 0,
            awaiting_resync: false,
            changed: Vec::new(),
            removed: Vec::new(),
        })
    }

    fn from_state(s: State) -> Core {
        let mut core = Core {
            s,
            ix: Indexes::default(),
            dirty_links: VecDeque::new(),
            dirty_l3: VecDeque::new(),
            scratch: Vec::new(),
        };
        core.sanitize();
        core.s.orphans.rebuild();
        let in_flight: Vec<(Op, Owner)> = core
            .s
            .in_flight
            .values()
            .map(|f| (f.op.clone(), f.owner.clone()))
            .collect();
        for (op, owner) in in_flight {
            core.reserve_route(&op, &owner);
            core.count_in_flight(&op, true);
        }
        for i in 0..core.s.slots.len() {
            let id = ItemId(i as u32);
            let Some(slot) = &core.s.slots[i] else {
                continue;
            };
            let key = slot.key.clone();
            let desired = slot.desired.clone();
            let actual = slot.actual.clone();
            core.index_key(id, &key);
            if let Some(item) = &desired {
                core.index_desired(id, item);
            }
            core.index_actual(id, &actual);
        }
        core
    }

    /// Makes a restored state self-consistent, so that a damaged snapshot degrades into
    /// re-doing some work rather than a panic: free-list entries must name empty slots, and an
    /// item waiting for a command must have that command in flight.
    fn sanitize(&mut self) {
        let len = self.s.slots.len();
        let mut seen = BTreeSet::new();
        let slots = &self.s.slots;
        self.s
            .free
            .retain(|&i| (i as usize) < len && slots[i as usize].is_none() && seen.insert(i));
        let in_flight = &self.s.in_flight;
        for slot in self.s.slots.iter_mut().flatten() {
            if slot.in_flight.is_some_and(|c| !in_flight.contains_key(&c)) {
                slot.in_flight = None;
            }
        }
    }

    // ----- public API -------------------------------------------------------------------------

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
        }
        self.reconcile_dirty();
        self.issue_due_orphans();
    }

    /// The next command to apply, if any.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.s.outbox.pop_front()
    }

    /// When the core next wants [`Event::TimerFired`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.s.timers.first().map(|(t, _)| *t)
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

    /// Everything known about one item.
    pub fn explain(&self, key: &ItemKey) -> Option<Explanation> {
        let id = *self.ix.by_key.get(key)?;
        let slot = self.slot(id);
        let namespace = match slot.desired.as_deref() {
            Some(Item::Interface(i)) => self.resolve(&i.namespace).ok(),
            Some(_) => {
                self.interface_slot(key.interface())
                    .and_then(|(_, s)| match s.desired.as_deref() {
                        Some(Item::Interface(i)) => self.resolve(&i.namespace).ok(),
                        _ => None,
                    })
            }
            None => slot.actual.ns().cloned(),
        };
        let in_kernel = match &slot.actual {
            Actual::None => vec![],
            Actual::Link(l) => {
                let mut v = vec![format!(
                    "link {} in {} ({}), {}{}{}",
                    l.name,
                    l.ns,
                    match &l.shape {
                        Shape::Veth { peer_item } => format!("veth, peer item '{peer_item}'"),
                        Shape::Dummy => "dummy".to_string(),
                        Shape::Borrowed => "not created by the agent".to_string(),
                    },
                    if l.up { "up" } else { "down" },
                    l.mtu.map(|m| format!(", mtu {m}")).unwrap_or_default(),
                    l.mac.map(|m| format!(", mac {m}")).unwrap_or_default(),
                )];
                v.extend(
                    l.addresses
                        .iter()
                        .map(|a| format!("address {a} on {}", l.name)),
                );
                v
            }
            Actual::Route(r) => vec![format!(
                "route {}{} dev {} metric {} in {}",
                r.route.dst,
                r.route.gw.map(|g| format!(" via {g}")).unwrap_or_default(),
                r.route.dev,
                r.route.metric,
                r.ns
            )],
            Actual::Neighbour(n) => vec![format!(
                "neighbour {} lladdr {} on {} in {}",
                n.ip, n.mac, n.link, n.ns
            )],
        };
        let mut state = slot.state.clone();
        if let (ItemState::Pending { reasons }, Some(Item::Interface(i))) =
            (&mut state, slot.desired.as_deref())
        {
            if let NamespaceRef::Named(n) = &i.namespace {
                if let Some(NamedState::Failed { error, .. }) = self.s.named.get(n) {
                    reasons.push(PendingReason::NamespaceBeingCreated(format!(
                        "{n} (last attempt failed: {error})"
                    )));
                }
            }
        }
        let mut warnings = Vec::new();
        if let Some(Item::Interface(Interface {
            namespace: NamespaceRef::Microservice(label),
            ..
        })) = slot.desired.as_deref()
        {
            if let Some(ms) = self
                .s
                .microservices
                .get(label)
                .filter(|ms| !ms.duplicates.is_empty())
            {
                warnings.push(format!(
                    "microservice '{label}' runs in {} containers; using the newest, {}, and ignoring {}",
                    ms.duplicates.len() + 1,
                    ms.container_id,
                    ms.duplicates.join(", ")
                ));
            }
        }
        Some(Explanation {
            warnings,
            key: key.to_string(),
            state,
            desired: slot.desired.as_deref().map(Item::to_json),
            last_seq: slot.last_seq,
            namespace,
            in_kernel,
            in_flight: slot
                .in_flight
                .and_then(|c| self.s.in_flight.get(&c))
                .map(|f| f.op.to_string()),
            last_error: slot.last_error.clone(),
        })
    }

    // ----- slots and indexes ------------------------------------------------------------------

    fn slot(&self, id: ItemId) -> &Slot {
        self.s.slots[id.0 as usize].as_ref().expect(NO_SLOT)
    }

    fn slot_mut(&mut self, id: ItemId) -> &mut Slot {
        self.s.slots[id.0 as usize].as_mut().expect(NO_SLOT)
    }

    fn interface_slot(&self, name: &str) -> Option<(ItemId, &Slot)> {
        let id = *self.ix.names.get(name)?;
        Some((id, self.slot(id)))
    }

    fn desired_interface(&self, id: ItemId) -> Option<&Interface> {
        match self.slot(id).desired.as_deref() {
            Some(Item::Interface(i)) => Some(i),
            _ => None,
        }
    }

    fn index_key(&mut self, id: ItemId, key: &ItemKey) {
        self.ix.by_key.insert(key.clone(), id);
        if let ItemKey::Interface(name) = key {
            self.ix.names.insert(name.clone(), id);
        } else {
            self.ix
                .referrers
                .entry(key.interface().to_string())
                .or_default()
                .insert(id);
        }
    }

    fn index_desired(&mut self, id: ItemId, item: &Item) {
        if let Item::Interface(i) = item {
            self.ix
                .ns_members
                .entry(i.namespace.clone())
                .or_default()
                .insert(id);
            let claim = (i.namespace.clone(), i.host_if_name.clone());
            self.ix
                .host_claims
                .entry(claim.clone())
                .or_default()
                .push(id);
            self.settle_claims(&claim);
            if let Some(peer) = &i.veth_peer {
                self.ix
                    .referrers
                    .entry(peer.clone())
                    .or_default()
                    .insert(id);
            }
        }
    }

    fn unindex_desired(&mut self, id: ItemId, item: &Item) {
        if let Item::Interface(i) = item {
            remove_from(&mut self.ix.ns_members, &i.namespace, id);
            let claim = (i.namespace.clone(), i.host_if_name.clone());
            if let Some(claims) = self.ix.host_claims.get_mut(&claim) {
                claims.retain(|c| *c != id);
                if claims.is_empty() {
                    self.ix.host_claims.remove(&claim);
                }
            }
            self.slot_mut(id).name_taken_by = None;
            self.settle_claims(&claim);
            if let Some(peer) = &i.veth_peer {
                remove_from_fx(&mut self.ix.referrers, peer, id);
            }
        }
    }

    fn index_actual(&mut self, id: ItemId, actual: &Actual) {
        if let Some(ns) = actual.ns() {
            self.ix.actual_in.entry(ns.clone()).or_default().insert(id);
        }
        match actual {
            Actual::Link(l) => {
                self.ix
                    .link_owner
                    .insert((l.ns.clone(), l.name.clone()), id);
            }
            Actual::Route(r) => {
                self.ix
                    .route_owner
                    .insert((r.ns.clone(), r.route.dst, r.route.metric), id);
                self.ix
                    .on_link
                    .entry((r.ns.clone(), r.route.dev.clone()))
                    .or_default()
                    .insert(id);
            }
            Actual::Neighbour(n) => {
                self.ix
                    .on_link
                    .entry((n.ns.clone(), n.link.clone()))
                    .or_default()
                    .insert(id);
            }
            Actual::None => {}
        }
    }

    fn unindex_actual(&mut self, id: ItemId, actual: &Actual) {
        if let Some(ns) = actual.ns() {
            remove_from_fx(&mut self.ix.actual_in, ns, id);
        }
        let released = match actual {
            Actual::Link(l) => {
                let key = (l.ns.clone(), l.name.clone());
                if self.ix.link_owner.get(&key) == Some(&id) {
                    self.ix.link_owner.remove(&key);
                }
                Some(Resource::LinkName(key.0, key.1))
            }
            Actual::Route(r) => {
                remove_from_fx(
                    &mut self.ix.on_link,
                    &(r.ns.clone(), r.route.dev.clone()),
                    id,
                );
                let key = (r.ns.clone(), r.route.dst, r.route.metric);
                if self.ix.route_owner.get(&key) == Some(&id) {
                    self.ix.route_owner.remove(&key);
                }
                Some(Resource::Route(key.0, key.1, key.2))
            }
            Actual::Neighbour(n) => {
                remove_from_fx(&mut self.ix.on_link, &(n.ns.clone(), n.link.clone()), id);
                None
            }
            Actual::None => None,
        };
        if let Some(res) = released {
            self.wake_waiters(&res);
        }
    }

    fn set_actual(&mut self, id: ItemId, actual: Actual) {
        let old = std::mem::replace(&mut self.slot_mut(id).actual, Actual::None);
        self.unindex_actual(id, &old);
        self.index_actual(id, &actual);
        self.slot_mut(id).actual = actual;
        self.mark_related_dirty(id);
    }

    /// Changes attributes of an item's link in place: its identity (namespace, name) and so
    /// the indexes stay as they are.
    /// `wakes_dependents`: the change is one routes and neighbours read (up, addresses).
    fn update_link(&mut self, id: ItemId, wakes_dependents: bool, f: impl FnOnce(&mut LinkActual)) {
        if let Actual::Link(link) = &mut self.slot_mut(id).actual {
            f(link);
        }
        if wakes_dependents {
            self.mark_related_dirty(id);
        } else {
            // The command's result already woke whoever waited for it.
            self.mark_dirty(id);
        }
    }

    fn wait_for(&mut self, res: Resource, id: ItemId) {
        self.s.waiters.entry(res).or_default().insert(id);
    }

    fn wake_waiters(&mut self, res: &Resource) {
        if self.s.waiters.is_empty() {
            return;
        }
        let Some(woken) = self.s.waiters.remove(res) else {
            return;
        };
        for id in woken {
            if self.live(id) {
                self.mark_dirty(id);
            }
        }
    }

    fn live(&self, id: ItemId) -> bool {
        matches!(self.s.slots.get(id.0 as usize), Some(Some(_)))
    }

    fn alloc_slot(&mut self, key: ItemKey) -> ItemId {
        let slot = Slot {
            key: key.clone(),
            desired: None,
            last_seq: None,
            actual: Actual::None,
            in_flight: None,
            state: ItemState::Pending { reasons: vec![] },
            attempts: 0,
            last_error: None,
            retry_at: None,
            blocked: false,
            link_ok: false,
            name_taken_by: None,
            dirty: false,
            changed: false,
            born: self.s.next_born,
            retry_on_observe: false,
            rename_when_down: false,
        };
        self.s.next_born += 1;
        let id = match self.s.free.pop() {
            Some(i) => {
                self.s.slots[i as usize] = Some(slot);
                ItemId(i)
            }
            None => {
                self.s.slots.push(Some(slot));
                ItemId(self.s.slots.len() as u32 - 1)
            }
        };
        self.index_key(id, &key);
        id
    }

    fn free_slot(&mut self, id: ItemId) {
        let slot = self.s.slots[id.0 as usize].take().expect(NO_SLOT);
        self.ix.by_key.remove(&slot.key);
        if let ItemKey::Interface(name) = &slot.key {
            self.ix.names.remove(name);
        } else {
            remove_from_fx(&mut self.ix.referrers, slot.key.interface(), id);
        }
        // A waiter that is gone is skipped when woken (`live`), and its id may be reused by an
        // item that will simply be marked once more than needed.
        self.s.removed.push(slot.key.clone());
        self.s.free.push(id.0);
        // Items that named this one (as peer, as interface) learn that it is gone.
        self.mark_dependents_dirty(&slot.key);
    }

    // ----- dirtiness --------------------------------------------------------------------------

    fn mark_dirty(&mut self, id: ItemId) {
        let slot = self.slot_mut(id);
        if slot.dirty {
            return;
        }
        slot.dirty = true;
        if matches!(slot.key, ItemKey::Interface(_)) {
            self.dirty_links.push_back(id);
        } else {
            self.dirty_l3.push_back(id);
        }
    }

    /// Marks the items whose decisions read this item's desired or actual state.
    fn mark_related_dirty(&mut self, id: ItemId) {
        self.mark_dirty(id);
        let mut ids = std::mem::take(&mut self.scratch);
        let slot = self.slot(id);
        if let ItemKey::Interface(name) = &slot.key {
            self.dependents_of(name, &mut ids);
            if let Some(Item::Interface(i)) = slot.desired.as_deref() {
                if let Some(&pid) = i.veth_peer.as_deref().and_then(|p| self.ix.names.get(p)) {
                    ids.push(pid);
                }
            }
            if let Actual::Link(LinkActual {
                shape: Shape::Veth { peer_item },
                ..
            }) = &slot.actual
            {
                if let Some(&pid) = self.ix.names.get(peer_item.as_str()) {
                    ids.push(pid);
                }
            }
        }
        for other in ids.drain(..) {
            self.mark_dirty(other);
        }
        self.scratch = ids;
    }

    /// Like [`Core::mark_related_dirty`], but only items that are not applied: those that may
    /// be waiting for this item.
    fn mark_waiting_related_dirty(&mut self, id: ItemId) {
        let mut ids = std::mem::take(&mut self.scratch);
        let slot = self.slot(id);
        if let ItemKey::Interface(name) = &slot.key {
            self.dependents_of(name, &mut ids);
            if let Some(Item::Interface(i)) = slot.desired.as_deref() {
                if let Some(&pid) = i.veth_peer.as_deref().and_then(|p| self.ix.names.get(p)) {
                    ids.push(pid);
                }
            }
        }
        for other in ids.drain(..) {
            if self.slot(other).state != ItemState::Applied {
                self.mark_dirty(other);
            }
        }
        self.scratch = ids;
    }

    /// The items that refer to the interface `name`: its routes and ARPs, and veths naming it
    /// as their peer.
    fn dependents_of(&self, name: &str, into: &mut Vec<ItemId>) {
        if let Some(set) = self.ix.referrers.get(name) {
            into.extend(set.iter().copied());
        }
    }

    /// Marks the items that refer to `key` by name: routes and ARPs on an interface, and veths
    /// naming it as their peer.
    fn mark_dependents_dirty(&mut self, key: &ItemKey) {
        if let ItemKey::Interface(name) = key {
            let mut ids = std::mem::take(&mut self.scratch);
            self.dependents_of(name, &mut ids);
            for id in ids.drain(..) {
                self.mark_dirty(id);
            }
            self.scratch = ids;
        }
    }

    /// [`Core::mark_dependents_dirty`] for a live item.
    fn mark_dependents_dirty_of(&mut self, id: ItemId) {
        let key = std::mem::replace(
            &mut self.slot_mut(id).key,
            ItemKey::Interface(String::new()),
        );
        self.mark_dependents_dirty(&key);
        self.slot_mut(id).key = key;
    }

    fn mark_members_dirty(&mut self, r: &NamespaceRef) {
        let ids: Vec<ItemId> = match self.ix.ns_members.get(r) {
            Some(set) => set.iter().copied().collect(),
            None => return,
        };
        for id in ids {
            self.mark_dirty(id);
        }
    }

    fn reconcile_dirty(&mut self) {
        if self.s.awaiting_resync {
            return;
        }
        loop {
            if let Some(id) = self.dirty_links.pop_front() {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                    self.reconcile(id);
                }
            } else if let Some(id) = self.dirty_l3.pop_front() {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                    self.reconcile(id);
                }
            } else {
                break;
            }
        }
    }

    fn set_state(&mut self, id: ItemId, state: ItemState) {
        let slot = self.slot_mut(id);
        if slot.state == state {
            return;
        }
        let was_applied = slot.state == ItemState::Applied;
        let is_applied = state == ItemState::Applied;
        slot.state = state;
        let key_is_interface = matches!(slot.key, ItemKey::Interface(_));
        if !std::mem::replace(&mut self.slot_mut(id).changed, true) {
            self.s.changed.push(id);
        }
        // Routes and neighbours are added only once their interface is applied.
        if key_is_interface && was_applied != is_applied {
            self.mark_dependents_dirty_of(id);
        }
    }

    // ----- desired state ----------------------------------------------------------------------

    fn on_put(&mut self, seq: u64, item: Item) {
        let key = item.key();
        let id = match self.ix.by_key.get(&key) {
            Some(id) => *id,
            None => self.alloc_slot(key),
        };
        let slot = self.slot_mut(id);
        slot.last_seq = Some(seq);
        if slot.desired.as_deref() == Some(&item) {
            return;
        }
        let item = Arc::new(item);
        slot.attempts = 0;
        slot.blocked = false;
        let had_timer = slot.retry_at.take();
        let old = slot.desired.replace(item.clone());
        if let Some(at) = had_timer {
            self.s.timers.remove(&(at, TimerKey::Item(id)));
        }
        self.unblock_partner(&item);
        if old.as_deref().is_some_and(|old| same_placement(old, &item)) {
            // Only attributes changed (MTU, addresses, ...): no other item reads them before
            // they reach the kernel, and what they change there wakes whoever depends on it.
            self.mark_dirty(id);
            return;
        }
        if let Some(old) = &old {
            self.mark_claims_dirty(old);
            self.unindex_desired(id, old);
        }
        self.index_desired(id, &item);
        self.mark_claims_dirty(&item);
        self.mark_related_dirty(id);
        if let Some(Item::Interface(old)) = old.as_deref() {
            // A veth that named another peer before: that peer must learn it lost its partner.
            if let Some(p) = &old.veth_peer {
                if let Some((pid, _)) = self.interface_slot(p) {
                    self.mark_dirty(pid);
                }
            }
        }
    }

    fn on_delete(&mut self, seq: u64, key: ItemKey) {
        let Some(&id) = self.ix.by_key.get(&key) else {
            return;
        };
        let slot = self.slot_mut(id);
        slot.last_seq = Some(seq);
        let Some(old) = slot.desired.take() else {
            return;
        };
        slot.attempts = 0;
        slot.blocked = false;
        if let Some(at) = slot.retry_at.take() {
            self.s.timers.remove(&(at, TimerKey::Item(id)));
        }
        self.unindex_desired(id, &old);
        self.mark_claims_dirty(&old);
        self.mark_related_dirty(id);
        if let Item::Interface(i) = &*old {
            if let Some(p) = &i.veth_peer {
                if let Some((pid, _)) = self.interface_slot(p) {
                    self.mark_dirty(pid);
                }
            }
        }
    }

    /// A veth pair fails as one: when one end changes, the other end may try again too.
    fn unblock_partner(&mut self, item: &Item) {
        let Item::Interface(Interface {
            veth_peer: Some(peer),
            ..
        }) = item
        else {
            return;
        };
        let Some(&pid) = self.ix.names.get(peer.as_str()) else {
            return;
        };
        let slot = self.slot_mut(pid);
        if slot.blocked {
            slot.blocked = false;
            slot.attempts = 0;
            self.mark_dirty(pid);
        }
    }

    /// Items competing with `item` for a link name learn that the competition changed.
    fn mark_claims_dirty(&mut self, item: &Item) {
        if let Item::Interface(i) = item {
            let ids: Vec<ItemId> = self
                .ix
                .host_claims
                .get(&(i.namespace.clone(), i.host_if_name.clone()))
                .cloned()
                .unwrap_or_default();
            for id in ids {
                self.mark_dirty(id);
            }
        }
    }

    // ----- namespaces and microservices -------------------------------------------------------

    /// Turns a reference into a namespace commands can act in, or says why it cannot.
    fn resolve(&self, r: &NamespaceRef) -> Result<Netns, PendingReason> {
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
    fn refs_of(&self, ns: &Netns) -> Vec<NamespaceRef> {
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

    fn on_namespace_available(&mut self, ns: &Netns) {
        match ns {
            Netns::Default => return,
            Netns::Named(n) => {
                let state = self.s.named.entry(n.clone()).or_insert(NamedState::Absent);
                if *state == NamedState::Present {
                    return;
                }
                if let NamedState::Failed { retry_at, .. } = state {
                    let at = *retry_at;
                    self.s.timers.remove(&(at, TimerKey::Namespace(n.clone())));
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
    fn on_namespace_vanished(&mut self, ns: &Netns) {
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
        *self.s.epochs.entry(ns.clone()).or_insert(0) += 1;
        for o in self.s.orphans.in_namespace(ns) {
            if self
                .s
                .orphans
                .get(o)
                .is_some_and(|orphan| orphan.in_flight.is_none())
            {
                self.finish_orphan(o, true);
            }
        }
        let holders: Vec<ItemId> = self
            .ix
            .actual_in
            .get(ns)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in holders {
            self.forget_kernel_objects(id);
        }
        for r in refs {
            self.mark_members_dirty(&r);
        }
    }

    /// The kernel no longer holds this item's objects (its link, or its route or neighbour):
    /// forget them, along with what went with them — the other end of a veth, and the routes
    /// and neighbours on the link.
    fn forget_kernel_objects(&mut self, id: ItemId) {
        let actual = self.slot(id).actual.clone();
        if actual == Actual::None {
            return;
        }
        self.set_actual(id, Actual::None);
        if let Actual::Link(link) = actual {
            self.slot_mut(id).link_ok = false;
            self.forget_link_dependents(&link.ns, &link.name);
            if let Some((pns, pname)) = &link.peer_link {
                self.forget_link_at(pns, pname);
            }
            if let Shape::Veth { peer_item } = &link.shape {
                if let Some((pid, peer)) = self.interface_slot(peer_item) {
                    let peer_is_partner = matches!(
                        &peer.actual,
                        Actual::Link(LinkActual { shape: Shape::Veth { peer_item: back }, .. }) if *back == self.slot(id).key.interface()
                    );
                    if peer_is_partner {
                        self.forget_kernel_objects(pid);
                    }
                }
            }
        }
    }

    /// The kernel removed the link `name` in `ns` (the far end of a removed veth): forget the
    /// item's belief about it, and any stale-object removal aimed at it or at what was on it.
    fn forget_link_at(&mut self, ns: &Netns, name: &str) {
        if let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), name.to_string())) {
            if matches!(&self.slot(owner).actual, Actual::Link(l) if l.ns == *ns && l.name == name)
            {
                self.forget_kernel_objects(owner);
            }
        }
        for o in self.s.orphans.on_link(ns, name) {
            let gone = self.s.orphans.get(o).is_some_and(|orphan| {
                orphan.in_flight.is_none() && matches!(orphan.op, Op::DeleteLink { .. })
            });
            if gone {
                self.finish_orphan(o, true);
            }
        }
        self.forget_link_dependents(ns, name);
    }

    /// A stale object's removal is over: done, found pointless, or given up. `gone`: the object
    /// is not in the kernel any more, and neither is what went with it.
    fn finish_orphan(&mut self, o: u64, gone: bool) {
        let Some(orphan) = self.s.orphans.remove(o) else {
            return;
        };
        if let Some(at) = orphan.retry_at {
            self.s.timers.remove(&(at, TimerKey::Orphan(o)));
        }
        for res in orphan.resources() {
            self.wake_waiters(&res);
        }
        if let (true, Op::DeleteLink { ns, name }) = (gone, &orphan.op) {
            self.forget_link_dependents(ns, name);
            if let Some((pns, pname)) = &orphan.peer_link {
                self.forget_link_at(pns, pname);
            }
        }
        // Whatever waited on these links (routes parked behind the removal) gets its turn.
        let links = orphan.link().into_iter().chain(orphan.peer_link.clone());
        for (ns, name) in links {
            if let Some(&owner) = self.ix.link_owner.get(&(ns.clone(), name.clone())) {
                self.mark_related_dirty(owner);
            }
            let on: Vec<ItemId> = self
                .ix
                .on_link
                .get(&(ns, name))
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for id in on {
                self.mark_dirty(id);
            }
        }
    }

    /// Whether a stale object's removal, pending or in flight, is about the object an item
    /// wants to make: the item waits for it rather than race it.
    fn blocked_by_orphan(&mut self, res: Resource, id: ItemId) -> bool {
        let blocked = self.s.orphans.blocks(&res);
        if blocked {
            self.wait_for(res, id);
        }
        blocked
    }

    /// Routes and neighbours on a link that the kernel removed, along with the link.
    fn forget_link_dependents(&mut self, ns: &Netns, link: &str) {
        self.forget_on_link(
            ns,
            link,
            Flushed {
                routes: true,
                neighbours: true,
                ipv6: None,
            },
        );
    }

    /// Routes and neighbour entries on a link that the kernel flushed.
    fn forget_on_link(&mut self, ns: &Netns, link: &str, what: Flushed) {
        let Flushed {
            routes,
            neighbours,
            ipv6,
        } = what;
        // Stale objects waiting for a retry of their removal went with the flush too.
        let family = |v6: bool| ipv6.is_none_or(|want| want == v6);
        for o in self.s.orphans.on_link(ns, link) {
            let flushed = self.s.orphans.get(o).is_some_and(|orphan| {
                orphan.in_flight.is_none()
                    && match &orphan.op {
                        Op::DelRoute { route, .. } => routes && family(route.dst.addr().is_ipv6()),
                        Op::DelNeighbour { ip, .. } => neighbours && family(ip.is_ipv6()),
                        _ => false,
                    }
            });
            if flushed {
                self.finish_orphan(o, true);
            }
        }
        let holders: Vec<ItemId> = self
            .ix
            .on_link
            .get(&(ns.clone(), link.to_string()))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in holders {
            let on_link = match &self.slot(id).actual {
                Actual::Route(r) => {
                    routes
                        && r.route.dev == link
                        && ipv6.is_none_or(|v6| r.route.dst.addr().is_ipv6() == v6)
                }
                Actual::Neighbour(n) => {
                    neighbours && n.link == link && ipv6.is_none_or(|v6| n.ip.is_ipv6() == v6)
                }
                _ => false,
            };
            if on_link {
                self.set_actual(id, Actual::None);
            }
        }
    }

    fn on_microservice_started(
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

    fn on_microservice_stopped(&mut self, label: &str, container_id: &str) {
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

    fn on_microservice_watch(&mut self, connected: bool) {
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

    // ----- timers and restarts ----------------------------------------------------------------

    fn on_timer(&mut self) {
        while let Some((at, key)) = self.s.timers.first().cloned() {
            if at > self.s.now {
                break;
            }
            self.s.timers.pop_first();
            match key {
                TimerKey::Item(id) => {
                    if self.live(id) {
                        self.slot_mut(id).retry_at = None;
                        self.mark_dirty(id);
                    }
                }
                TimerKey::Namespace(n) => {
                    if let Some(NamedState::Failed { attempts, .. }) = self.s.named.get(&n) {
                        let attempts = *attempts;
                        if self
                            .ix
                            .ns_members
                            .contains_key(&NamespaceRef::Named(n.clone()))
                        {
                            self.s
                                .named
                                .insert(n.clone(), NamedState::Creating { attempts });
                            self.issue(
                                Op::CreateNamespace { name: n.clone() },
                                Owner::Namespace(n),
                            );
                        } else {
                            self.s.named.insert(n, NamedState::Absent);
                        }
                    }
                }
                TimerKey::Orphan(o) => {
                    if let Some(orphan) = self.s.orphans.get_mut(o) {
                        orphan.retry_at = None;
                        self.s.orphans.requeue(o);
                    }
                }
            }
        }
    }

    fn on_restarted(&mut self) {
        let forgotten = std::mem::take(&mut self.s.in_flight);
        self.ix.route_adding.clear();
        self.ix.link_naming.clear();
        self.ix.in_flight_ns.clear();
        self.s.outbox.clear();
        for (_, f) in forgotten {
            match f.owner {
                Owner::Item { id, peer } => {
                    for id in std::iter::once(id).chain(peer) {
                        if self.live(id) {
                            self.slot_mut(id).in_flight = None;
                            self.mark_dirty(id);
                        }
                    }
                }
                Owner::Namespace(n) => {
                    self.s.named.insert(n.clone(), NamedState::Absent);
                    self.mark_members_dirty(&NamespaceRef::Named(n));
                }
                Owner::Orphan(_) => {}
            }
        }
        // Stale objects are found again by the resync that follows.
        for (o, orphan) in self.s.orphans.clear() {
            if let Some(at) = orphan.retry_at {
                self.s.timers.remove(&(at, TimerKey::Orphan(o)));
            }
        }
        self.s.awaiting_resync = true;
    }

    // ----- command results --------------------------------------------------------------------

    fn issue(&mut self, op: Op, owner: Owner) {
        let id = CommandId(self.s.next_command);
        self.s.next_command += 1;
        let epochs = self.epochs_of(&op);
        if let Owner::Item { id: item, peer } = &owner {
            self.slot_mut(*item).in_flight = Some(id);
            if let Some(p) = peer {
                self.slot_mut(*p).in_flight = Some(id);
            }
        }
        self.reserve_route(&op, &owner);
        self.count_in_flight(&op, true);
        self.s.in_flight.insert(
            id,
            InFlight {
                op: op.clone(),
                owner,
                epochs,
            },
        );
        self.s.outbox.push_back(Command { id, op });
    }

    fn count_in_flight(&mut self, op: &Op, up: bool) {
        for ns in std::iter::once(op.namespace()).chain(op.peer_namespace().cloned()) {
            if up {
                *self.ix.in_flight_ns.entry(ns).or_insert(0) += 1;
            } else if let Some(n) = self.ix.in_flight_ns.get_mut(&ns) {
                *n -= 1;
                if *n == 0 {
                    self.ix.in_flight_ns.remove(&ns);
                    // A named namespace waits for the commands aimed at its previous
                    // incarnation before it is made again.
                    if let Netns::Named(name) = &ns {
                        if self.s.named.get(name) == Some(&NamedState::Absent) {
                            self.mark_members_dirty(&NamespaceRef::Named(name.clone()));
                        }
                    }
                }
            }
        }
    }

    fn reserve_route(&mut self, op: &Op, owner: &Owner) {
        if let (Op::AddRoute { ns, route }, Owner::Item { id, .. }) = (op, owner) {
            self.ix
                .route_adding
                .insert((ns.clone(), route.dst, route.metric), *id);
        }
        if let Owner::Item { id, peer } = owner {
            for (i, name) in link_names_taken(op).into_iter().enumerate() {
                let by = if i == 0 { *id } else { peer.unwrap_or(*id) };
                self.ix.link_naming.insert(name, by);
            }
        }
    }

    /// The route an item was adding is added, or not: the slot is free for others to look at.
    fn release_route(&mut self, op: &Op) {
        if let Op::AddRoute { ns, route } = op {
            let key = (ns.clone(), route.dst, route.metric);
            if self.ix.route_adding.remove(&key).is_some() {
                self.wake_waiters(&Resource::Route(key.0, key.1, key.2));
            }
        }
        for name in link_names_taken(op) {
            if self.ix.link_naming.remove(&name).is_some() {
                self.wake_waiters(&Resource::LinkName(name.0, name.1));
            }
        }
    }

    fn epoch(&self, ns: &Netns) -> u64 {
        if self.s.epochs.is_empty() {
            return 0;
        }
        self.s.epochs.get(ns).copied().unwrap_or(0)
    }

    fn epochs_of(&self, op: &Op) -> (u64, Option<u64>) {
        (
            self.epoch(&op.namespace()),
            op.peer_namespace().map(|ns| self.epoch(ns)),
        )
    }

    fn on_result(&mut self, cid: CommandId, result: Result<(), BackendError>) {
        // A result for a command the core no longer waits for (answered twice, or issued
        // before a restart) changes nothing.
        let Some(flight) = self.s.in_flight.remove(&cid) else {
            return;
        };
        let stale = self.epochs_of(&flight.op) != flight.epochs;
        self.count_in_flight(&flight.op, false);
        match &flight.owner {
            Owner::Namespace(n) => {
                let n = n.clone();
                return self.on_namespace_result(&n, &flight.op, result, stale);
            }
            Owner::Orphan(o) => return self.on_orphan_result(*o, &flight, result, stale),
            Owner::Item { .. } => self.release_route(&flight.op),
        }
        let ids: Vec<ItemId> = match &flight.owner {
            Owner::Item { id, peer } => std::iter::once(*id)
                .chain(*peer)
                .filter(|i| self.live(*i))
                .collect(),
            _ => vec![],
        };
        for id in &ids {
            if self.slot(*id).in_flight == Some(cid) {
                self.slot_mut(*id).in_flight = None;
            }
            self.mark_dirty(*id);
            // Whoever waited for this command (the veth partner, routes and neighbours on this
            // link or the partner's) gets its turn; whoever is applied did not wait.
            self.mark_waiting_related_dirty(*id);
            if let Actual::Link(LinkActual {
                peer_link: Some(peer),
                ..
            }) = &self.slot(*id).actual
            {
                if let Some(&pid) = self.ix.link_owner.get(peer) {
                    self.mark_waiting_related_dirty(pid);
                }
            }
        }
        let result = match result {
            Err(e) if self.failure_means_done(&flight.op, &e) => Ok(()),
            other => other,
        };
        match result {
            Ok(()) => {
                for id in &ids {
                    let slot = self.slot_mut(*id);
                    slot.attempts = 0;
                }
                if !stale {
                    self.apply_effect(&flight.op, &flight.owner);
                }
            }
            Err(error) => self.on_failure(&flight, &ids, error, stale),
        }
    }

    /// A named namespace was created, or not. If it vanished meanwhile, the answer says nothing
    /// sure (the vanish may be of the namespace created, or of an older one): the core creates
    /// it again, which is harmless if it exists.
    fn on_namespace_result(
        &mut self,
        n: &str,
        op: &Op,
        result: Result<(), BackendError>,
        stale: bool,
    ) {
        if stale {
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
        let at = self.s.now.plus_millis(backoff(
            self.s.config.retry_base_ms,
            self.s.config.retry_max_ms,
            attempts,
        ));
        let failed = NamedState::Failed {
            retry_at: at,
            attempts,
            error: error.to_string(),
        };
        self.s.named.insert(n.to_string(), failed);
        self.s
            .timers
            .insert((at, TimerKey::Namespace(n.to_string())));
    }

    /// Errors that say the command's goal already holds.
    fn failure_means_done(&self, op: &Op, e: &BackendError) -> bool {
        match op {
            Op::DeleteLink { .. } => e.kind == ErrorKind::NoSuchDevice,
            // The kernel answers EADDRNOTAVAIL when the address is not on the link.
            Op::DelAddress { .. } => {
                matches!(e.kind, ErrorKind::NoSuchDevice | ErrorKind::NotFound)
                    || e.errno == Some(errno::EADDRNOTAVAIL)
            }
            Op::DelRoute { .. } | Op::DelNeighbour { .. } => {
                matches!(e.kind, ErrorKind::NoSuchDevice | ErrorKind::NotFound)
            }
            Op::AddAddress { .. } | Op::CreateNamespace { .. } => {
                e.kind == ErrorKind::AlreadyExists
            }
            _ => false,
        }
    }

    fn on_failure(&mut self, flight: &InFlight, ids: &[ItemId], error: BackendError, stale: bool) {
        if error.kind == ErrorKind::NamespaceGone {
            // Which namespace: the backend says; a command in one namespace tells by itself. A
            // veth spans two, and guessing would wipe what the core knows of a healthy one, so
            // an unnamed one is left for the watcher to report.
            let gone: Vec<Netns> = match (&error.namespace, &flight.op) {
                (Some(ns), _) => vec![ns.clone()],
                (
                    None,
                    Op::CreateLink {
                        kind: NewLink::Veth { .. },
                        ..
                    },
                ) => vec![],
                (None, op) => vec![op.namespace()],
            };
            if !stale {
                for ns in &gone {
                    self.on_namespace_vanished(ns);
                }
            }
            // A PID or task namespace that is gone makes its items pending until it is back.
            // Anything else (a named namespace, which is re-created; a backend that says the
            // agent's own namespace is gone) backs off like after any failure, lest the core
            // spin on a namespace it cannot enter.
            let only_processes = !gone.is_empty()
                && gone
                    .iter()
                    .all(|ns| matches!(ns, Netns::Pid(_) | Netns::Task { .. }));
            if only_processes {
                return;
            }
        }
        if stale && error.kind != ErrorKind::NamespaceGone {
            // The namespace vanished after the command was issued: the failure is explained.
            return;
        }
        if matches!(flight.op, Op::RenameLink { .. }) && error.errno == Some(errno::EBUSY) {
            if let Some(&id) = ids.first() {
                self.slot_mut(id).rename_when_down = true;
            }
        }
        if error.kind == ErrorKind::NoSuchDevice {
            // The link went away behind the agent's back: forget it so that it is re-created.
            if let Some(link_item) = self.link_item_of(&flight.op, ids) {
                self.forget_kernel_objects(link_item);
            }
        }
        // Only items' commands come here: namespaces' and stale objects' results have their
        // own handling in `on_result`.
        let text = error.to_string();
        for &id in ids {
            let base = self.s.config.retry_base_ms;
            let max = self.s.config.retry_max_ms;
            let now = self.s.now;
            let slot = self.slot_mut(id);
            slot.attempts += 1;
            slot.last_error = Some(text.clone());
            let attempts = slot.attempts;
            slot.retry_on_observe = error.kind == ErrorKind::AlreadyExists;
            if error.kind.is_retriable() {
                let at = now.plus_millis(backoff(base, max, attempts));
                slot.retry_at = Some(at);
                self.s.timers.insert((at, TimerKey::Item(id)));
                self.set_state(
                    id,
                    ItemState::Failed {
                        error: text.clone(),
                        attempts,
                        retry_at: Some(at),
                    },
                );
            } else {
                slot.blocked = true;
                self.set_state(
                    id,
                    ItemState::Failed {
                        error: text.clone(),
                        attempts,
                        retry_at: None,
                    },
                );
            }
        }
    }

    /// The interface item whose link a command acts on.
    fn link_item_of(&self, op: &Op, ids: &[ItemId]) -> Option<ItemId> {
        let first = *ids.first()?;
        match op {
            Op::SetLink { .. }
            | Op::RenameLink { .. }
            | Op::AddAddress { .. }
            | Op::DelAddress { .. }
            | Op::DeleteLink { .. } => Some(first),
            Op::AddRoute { .. } | Op::ReplaceRoute { .. } | Op::SetNeighbour { .. } => {
                let name = self.slot(first).key.interface().to_string();
                self.interface_slot(&name).map(|(id, _)| id)
            }
            _ => None,
        }
    }

    fn apply_effect(&mut self, op: &Op, owner: &Owner) {
        let (id, peer) = match owner {
            Owner::Item { id, peer } => (*id, *peer),
            // Namespaces' and stale objects' results are handled in `on_result`.
            Owner::Namespace(_) | Owner::Orphan(_) => return,
        };
        if !self.live(id) {
            return;
        }
        match op {
            Op::CreateNamespace { .. } => {}
            Op::CreateLink { ns, link, kind } => match kind {
                NewLink::Dummy => self.set_actual(
                    id,
                    Actual::Link(link_from_spec(ns, link, Shape::Dummy, None)),
                ),
                NewLink::Veth {
                    peer_ns,
                    peer: peer_spec,
                } => {
                    let me = self.slot(id).key.interface().to_string();
                    let other = peer
                        .map(|p| self.slot(p).key.interface().to_string())
                        .unwrap_or_default();
                    let mine = link_from_spec(
                        ns,
                        link,
                        Shape::Veth { peer_item: other },
                        Some((peer_ns.clone(), peer_spec.name.clone())),
                    );
                    self.set_actual(id, Actual::Link(mine));
                    if let Some(p) = peer.filter(|p| self.live(*p)) {
                        let theirs = link_from_spec(
                            peer_ns,
                            peer_spec,
                            Shape::Veth { peer_item: me },
                            Some((ns.clone(), link.name.clone())),
                        );
                        self.set_actual(p, Actual::Link(theirs));
                    }
                }
            },
            Op::DeleteLink { .. } => self.forget_kernel_objects(id),
            Op::SetLink { ns, name, change } => {
                let mut flushes = Vec::new();
                self.update_link(id, change.up.is_some() || change.mac.is_some(), |link| {
                    if let Some(up) = change.up {
                        link.up = up;
                        if !up {
                            // Taking a link down makes the kernel drop its routes, its neighbour
                            // entries and (keep_addr_on_down=0) its IPv6 addresses.
                            link.addresses.retain(|a| a.addr().is_ipv4());
                            flushes.push(Flushed {
                                routes: true,
                                neighbours: true,
                                ipv6: None,
                            });
                        }
                    }
                    if let Some(mtu) = change.mtu {
                        link.mtu = Some(mtu);
                        if mtu < IPV6_MIN_MTU {
                            // Below the IPv6 minimum the kernel disables IPv6 on the link.
                            link.addresses.retain(|a| a.addr().is_ipv4());
                            flushes.push(Flushed {
                                routes: true,
                                neighbours: true,
                                ipv6: Some(true),
                            });
                        }
                    }
                    if let Some(mac) = change.mac {
                        link.mac = Some(mac);
                        // Setting a link's address flushes all its neighbour entries.
                        flushes.push(Flushed {
                            routes: false,
                            neighbours: true,
                            ipv6: None,
                        });
                    }
                    if let Some(alias) = &change.alias {
                        link.alias = Some(alias.clone());
                    }
                    link.attributes_unknown = false;
                });
                for what in flushes {
                    self.forget_on_link(ns, name, what);
                }
            }
            Op::AddAddress { addr, .. } => self.update_link(id, true, |link| {
                if !link.addresses.contains(addr) {
                    link.addresses.push(*addr);
                }
            }),
            Op::DelAddress {
                ns,
                link: name,
                addr,
            } => {
                let mut last_ipv4 = false;
                self.update_link(id, true, |link| {
                    // With promote_secondaries off (a new namespace's default), deleting the
                    // primary IPv4 address of a subnet deletes that subnet's secondaries too.
                    let primary = addr.addr().is_ipv4()
                        && link.addresses.iter().find(|a| same_subnet(a, addr)) == Some(addr);
                    link.addresses
                        .retain(|a| a != addr && !(primary && same_subnet(a, addr)));
                    // Removing a link's last IPv4 address disables IPv4 on it. On a borrowed link
                    // the agent knows only its own addresses, so it assumes the worst.
                    last_ipv4 =
                        addr.addr().is_ipv4() && !link.addresses.iter().any(|a| a.addr().is_ipv4());
                });
                if last_ipv4 {
                    // With IPv4 disabled go its routes and its (ARP) neighbour entries.
                    self.forget_on_link(
                        ns,
                        name,
                        Flushed {
                            routes: true,
                            neighbours: true,
                            ipv6: Some(false),
                        },
                    );
                }
            }
            // A route or neighbour lives on its link: if the core learnt meanwhile that the link
            // is gone (the far end of its veth went with a namespace), so is what was added.
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route }
                if !self.link_known(ns, &route.dev) =>
            {
                self.set_actual(id, Actual::None)
            }
            Op::SetNeighbour { ns, link, .. } if !self.link_known(ns, link) => {
                self.set_actual(id, Actual::None)
            }
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route } => {
                self.set_actual(
                    id,
                    Actual::Route(RouteActual {
                        ns: ns.clone(),
                        route: route.clone(),
                    }),
                );
            }
            Op::DelRoute { .. } | Op::DelNeighbour { .. } => self.set_actual(id, Actual::None),
            Op::RenameLink { ns, name, new_name } => self.on_renamed(id, ns, name, new_name),
            Op::SetNeighbour { ns, link, ip, mac } => {
                let n = NeighbourActual {
                    ns: ns.clone(),
                    link: link.clone(),
                    ip: *ip,
                    mac: *mac,
                };
                self.set_actual(id, Actual::Neighbour(n));
            }
        }
    }

    // ----- resync -----------------------------------------------------------------------------

    fn on_observed(&mut self, snapshot: Snapshot) {
        let after_restart = std::mem::take(&mut self.s.awaiting_resync);
        if after_restart {
            // Items marked while the core waited are reconciled below anyway. Starting from an
            // empty queue makes the order the same whether or not the state was restored from
            // a snapshot in between (the queue is not part of a snapshot).
            for id in self
                .dirty_links
                .drain(..)
                .chain(self.dirty_l3.drain(..))
                .collect::<Vec<_>>()
            {
                if self.live(id) {
                    self.slot_mut(id).dirty = false;
                }
            }
        }
        for obs in &snapshot.namespaces {
            self.observe_namespace(obs);
        }
        for ns in &snapshot.missing {
            let known = match ns {
                Netns::Default => false,
                Netns::Named(n) => self.s.named.get(n) == Some(&NamedState::Present),
                other => self.s.available.contains(other),
            };
            if known || self.ix.actual_in.get(ns).is_some_and(|s| !s.is_empty()) {
                self.on_namespace_vanished(ns);
            }
        }
        if after_restart {
            // Whatever waited for the resync gets its turn.
            let all: Vec<ItemId> = (0..self.s.slots.len() as u32)
                .map(ItemId)
                .filter(|id| self.live(*id))
                .collect();
            for id in all {
                self.mark_dirty(id);
            }
        }
    }

    fn observe_namespace(&mut self, obs: &ObservedNamespace) {
        let ns = &obs.ns;
        self.on_namespace_available(ns);
        for r in self.refs_of(ns) {
            self.mark_members_dirty(&r);
            self.retry_on_observe(&r);
        }
        let links: BTreeMap<&str, &ObservedLink> =
            obs.links.iter().map(|l| (l.name.as_str(), l)).collect();
        let mut claimed_links: BTreeSet<&str> = BTreeSet::new();
        let mut claimed_routes: BTreeSet<usize> = BTreeSet::new();
        let mut claimed_neigh: BTreeSet<usize> = BTreeSet::new();
        // Links being renamed: a snapshot taken meanwhile may show either name, and shows
        // what is on the link under the name it had then. Until the result comes, the core
        // keeps calling a link by its old name, a veth's other end included.
        let mut renaming: BTreeMap<String, String> = BTreeMap::new();
        let mut renamed_from: BTreeMap<(Netns, String), String> = BTreeMap::new();
        for f in self.s.in_flight.values() {
            if let Op::RenameLink {
                ns: at,
                name,
                new_name,
            } = &f.op
            {
                if at == ns {
                    renaming.insert(name.clone(), new_name.clone());
                }
                renamed_from.insert((at.clone(), new_name.clone()), name.clone());
            }
        }
        let on_dev = |believed: &str, seen: &str| {
            seen == believed || renaming.get(believed).is_some_and(|n| n == seen)
        };
        let believed_peer = |seen: &Option<(Netns, String)>| {
            seen.as_ref().map(|(pns, name)| {
                let key = (pns.clone(), name.clone());
                match renamed_from.get(&key) {
                    Some(old) => (key.0, old.clone()),
                    None => key,
                }
            })
        };

        // 1. What the core believed is in this namespace, corrected by what is there.
        let holders: Vec<ItemId> = self
            .ix
            .actual_in
            .get(ns)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        // A link of the core's under another name than it believes is one whose rename went
        // through while its result was lost (to a restart): it keeps its link, renamed.
        for &id in &holders {
            if self.slot(id).in_flight.is_some() {
                continue;
            }
            let Actual::Link(a) = &self.slot(id).actual else {
                continue;
            };
            if links.contains_key(a.name.as_str()) {
                continue;
            }
            let me = self.slot(id).key.interface();
            let renamed = obs.links.iter().find(|l| {
                alias_is(l.alias.as_deref(), me)
                    && shape_fits(&a.shape, l.kind)
                    && a.shape.owned()
                    && !self
                        .ix
                        .link_owner
                        .contains_key(&(ns.clone(), l.name.clone()))
            });
            if let Some(l) = renamed {
                let old = a.name.clone();
                self.on_renamed(id, ns, &old, &l.name);
            }
        }
        for id in holders {
            if self.slot(id).in_flight.is_some() {
                // Its result will tell; a snapshot taken meanwhile may predate it. What it
                // holds is still its own, not a stale object.
                match &self.slot(id).actual {
                    Actual::Link(l) => {
                        let new_name = renaming.get(&l.name).map(String::as_str);
                        for name in std::iter::once(l.name.as_str()).chain(new_name) {
                            if let Some((name, _)) = links.get_key_value(name) {
                                claimed_links.insert(name);
                            }
                        }
                    }
                    Actual::Route(r) => {
                        let found = obs.routes.iter().position(|o| {
                            on_dev(&r.route.dev, &o.dev)
                                && o.dst == r.route.dst
                                && o.metric == r.route.metric
                        });
                        claimed_routes.extend(found);
                    }
                    Actual::Neighbour(n) => {
                        let found = obs
                            .neighbours
                            .iter()
                            .position(|o| on_dev(&n.link, &o.link) && o.ip == n.ip);
                        claimed_neigh.extend(found);
                    }
                    Actual::None => {}
                }
                continue;
            }
            match self.slot(id).actual.clone() {
                Actual::Link(mut a) => match links.get(a.name.as_str()) {
                    Some(l) if shape_fits(&a.shape, l.kind) => {
                        claimed_links.insert(l.name.as_str());
                        let desired = self
                            .desired_interface(id)
                            .map(|i| i.ip_addresses.clone())
                            .unwrap_or_default();
                        a.up = l.up;
                        a.mtu = Some(l.mtu);
                        a.mac = l.mac;
                        a.alias = l.alias.clone();
                        a.attributes_unknown = false;
                        if l.peer.is_some() {
                            a.peer_link = believed_peer(&l.peer);
                        }
                        a.addresses = observed_addresses(&a, l, &desired);
                        self.set_actual(id, Actual::Link(a));
                    }
                    _ => self.forget_kernel_objects(id),
                },
                Actual::Route(r) => {
                    let found = obs.routes.iter().position(|o| {
                        on_dev(&r.route.dev, &o.dev)
                            && o.dst == r.route.dst
                            && o.metric == r.route.metric
                    });
                    match found {
                        Some(i) => {
                            claimed_routes.insert(i);
                            let route = obs.routes[i].clone();
                            self.set_actual(
                                id,
                                Actual::Route(RouteActual {
                                    ns: ns.clone(),
                                    route,
                                }),
                            );
                        }
                        None => self.set_actual(id, Actual::None),
                    }
                }
                Actual::Neighbour(n) => {
                    let found = obs
                        .neighbours
                        .iter()
                        .position(|o| on_dev(&n.link, &o.link) && o.ip == n.ip);
                    match found {
                        Some(i) => {
                            claimed_neigh.insert(i);
                            let mac = obs.neighbours[i].mac;
                            self.set_actual(id, Actual::Neighbour(NeighbourActual { mac, ..n }));
                        }
                        None => self.set_actual(id, Actual::None),
                    }
                }
                Actual::None => {}
            }
        }

        // 2. Managed links the core did not know of: adopt them for their item, or remove them.
        let mut managed: BTreeMap<&str, &str> = BTreeMap::new(); // link name -> item name
        let mut orphaned: BTreeSet<&str> = BTreeSet::new();
        for l in &obs.links {
            let Some(item_name) = l
                .alias
                .as_deref()
                .and_then(|a| a.strip_prefix(ALIAS_PREFIX))
            else {
                continue;
            };
            managed.insert(l.name.as_str(), item_name);
            if claimed_links.contains(l.name.as_str()) {
                continue;
            }
            if self
                .interface_slot(item_name)
                .is_some_and(|(_, s)| s.in_flight.is_some())
            {
                // Its item is creating it right now: the snapshot may predate the result.
                continue;
            }
            let adopt = self.interface_slot(item_name).and_then(|(id, s)| {
                let fits = matches!(s.desired.as_deref(), Some(Item::Interface(i)) if i.kind == InterfaceType::Veth || i.kind == InterfaceType::Dummy);
                (fits && s.actual == Actual::None && s.in_flight.is_none()).then_some(id)
            });
            match adopt {
                Some(id) => {
                    let iface = self
                        .desired_interface(id)
                        .cloned()
                        .expect("adopted item is an interface");
                    let shape = match l.kind {
                        LinkKind::Veth => Shape::Veth {
                            peer_item: iface.veth_peer.clone().unwrap_or_default(),
                        },
                        _ => Shape::Dummy,
                    };
                    let mut a = LinkActual {
                        ns: ns.clone(),
                        name: l.name.clone(),
                        shape,
                        up: l.up,
                        mtu: Some(l.mtu),
                        mac: l.mac,
                        alias: l.alias.clone(),
                        addresses: vec![],
                        peer_link: believed_peer(&l.peer),
                        attributes_unknown: false,
                    };
                    a.addresses = observed_addresses(&a, l, &iface.ip_addresses);
                    self.set_actual(id, Actual::Link(a));
                }
                // An item that borrows exactly this link (it was the agent's before, under the
                // same item) keeps it, and step 3 below takes it.
                None if self.interface_slot(item_name).is_some_and(|(_, s)| {
                    matches!(s.desired.as_deref(), Some(Item::Interface(i))
                        if matches!(i.kind, InterfaceType::Existing | InterfaceType::Loopback)
                            && i.host_if_name == l.name
                            && self.resolve(&i.namespace).as_ref() == Ok(ns))
                }) => {}
                None => {
                    orphaned.insert(l.name.as_str());
                    self.remove_orphan(
                        Op::DeleteLink {
                            ns: ns.clone(),
                            name: l.name.clone(),
                        },
                        l.peer.clone(),
                    );
                }
            }
        }

        // 3. Links the agent borrows (EXISTING, LOOPBACK) in this namespace.
        let members: Vec<ItemId> = self
            .refs_of(ns)
            .iter()
            .filter_map(|r| self.ix.ns_members.get(r))
            .flat_map(|s| s.iter().copied())
            .collect();
        for id in members {
            let Some(iface) = self.desired_interface(id).cloned() else {
                continue;
            };
            if !matches!(
                iface.kind,
                InterfaceType::Existing | InterfaceType::Loopback
            ) {
                continue;
            }
            if self.slot(id).actual != Actual::None || self.slot(id).in_flight.is_some() {
                continue;
            }
            // A stale managed link being removed is no one's to borrow.
            let link = links
                .get(iface.host_if_name.as_str())
                .filter(|l| !orphaned.contains(l.name.as_str()));
            if let Some(l) = link {
                let mut a = LinkActual {
                    ns: ns.clone(),
                    name: l.name.clone(),
                    shape: Shape::Borrowed,
                    up: l.up,
                    mtu: Some(l.mtu),
                    mac: l.mac,
                    alias: l.alias.clone(),
                    addresses: vec![],
                    peer_link: None,
                    attributes_unknown: false,
                };
                a.addresses = observed_addresses(&a, l, &iface.ip_addresses);
                self.set_actual(id, Actual::Link(a));
            }
        }

        // 4. Routes and neighbours on managed links: adopt or remove.
        for (i, r) in obs.routes.iter().enumerate() {
            if claimed_routes.contains(&i) {
                continue;
            }
            let Some(item_name) = managed.get(r.dev.as_str()) else {
                continue;
            };
            let key = ItemKey::Route {
                dst: r.dst,
                interface: item_name.to_string(),
            };
            if self.busy(&key) {
                continue;
            }
            match self.adoptable(&key) {
                Some(id) => self.set_actual(
                    id,
                    Actual::Route(RouteActual {
                        ns: ns.clone(),
                        route: r.clone(),
                    }),
                ),
                None => self.remove_orphan(
                    Op::DelRoute {
                        ns: ns.clone(),
                        route: r.clone(),
                    },
                    None,
                ),
            }
        }
        for (i, n) in obs.neighbours.iter().enumerate() {
            if claimed_neigh.contains(&i) {
                continue;
            }
            let Some(item_name) = managed.get(n.link.as_str()) else {
                continue;
            };
            let key = ItemKey::Arp {
                interface: item_name.to_string(),
                ip: n.ip,
            };
            if self.busy(&key) {
                continue;
            }
            match self.adoptable(&key) {
                Some(id) => {
                    let a = NeighbourActual {
                        ns: ns.clone(),
                        link: n.link.clone(),
                        ip: n.ip,
                        mac: n.mac,
                    };
                    self.set_actual(id, Actual::Neighbour(a))
                }
                None => self.remove_orphan(
                    Op::DelNeighbour {
                        ns: ns.clone(),
                        link: n.link.clone(),
                        ip: n.ip,
                    },
                    None,
                ),
            }
        }
    }

    fn remove_orphan(&mut self, op: Op, peer_link: Option<(Netns, String)>) {
        self.s.orphans.add(op, peer_link);
    }

    /// Issues the removals of stale objects that are due, after the items had their turn: a
    /// stale route or neighbour on a link with a command in flight waits for it, since that
    /// command may remove or flush it and removing it as well would race.
    fn issue_due_orphans(&mut self) {
        if self.s.orphans.is_empty() || self.s.awaiting_resync {
            return;
        }
        for o in self.s.orphans.take_due() {
            let Some(orphan) = self.s.orphans.get(o) else {
                continue;
            };
            if orphan.in_flight.is_some() || orphan.retry_at.is_some() {
                continue;
            }
            let waits = match &orphan.op {
                Op::DelRoute { ns, route } => self.link_busy(ns, &route.dev),
                Op::DelNeighbour { ns, link, .. } => self.link_busy(ns, link),
                _ => false,
            };
            if waits {
                self.s.orphans.requeue(o);
                continue;
            }
            let op = orphan.op.clone();
            let cid = CommandId(self.s.next_command);
            if let Some(orphan) = self.s.orphans.get_mut(o) {
                orphan.in_flight = Some(cid);
            }
            self.issue(op, Owner::Orphan(o));
        }
    }

    fn on_orphan_result(
        &mut self,
        o: u64,
        flight: &InFlight,
        result: Result<(), BackendError>,
        stale: bool,
    ) {
        let retry = match result {
            Ok(()) => None,
            // The namespace vanished meanwhile: the object went with it.
            Err(_) if stale => None,
            Err(e)
                if self.failure_means_done(&flight.op, &e)
                    || e.kind == ErrorKind::NamespaceGone =>
            {
                None
            }
            Err(e) => Some(e),
        };
        let Some(error) = retry else {
            return self.finish_orphan(o, true);
        };
        if !error.kind.is_retriable() {
            // Nothing more to try; the next resync will find it again.
            return self.finish_orphan(o, false);
        }
        let (base, max, now) = (
            self.s.config.retry_base_ms,
            self.s.config.retry_max_ms,
            self.s.now,
        );
        if let Some(orphan) = self.s.orphans.get_mut(o) {
            orphan.in_flight = None;
            orphan.attempts += 1;
            let at = now.plus_millis(backoff(base, max, orphan.attempts));
            orphan.retry_at = Some(at);
            self.s.timers.insert((at, TimerKey::Orphan(o)));
        }
    }

    /// Whether some item believes the link `name` in `ns` is in the kernel.
    fn link_known(&self, ns: &Netns, name: &str) -> bool {
        self.ix
            .link_owner
            .contains_key(&(ns.clone(), name.to_string()))
    }

    /// Whether a command in flight may change or remove the link `name` in `ns`: one of the
    /// item holding it, of the item holding its veth partner, or a stale link's removal.
    fn link_busy(&self, ns: &Netns, name: &str) -> bool {
        let key = (ns.clone(), name.to_string());
        if let Some(&owner) = self.ix.link_owner.get(&key) {
            let slot = self.slot(owner);
            if slot.in_flight.is_some() {
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
                    .is_some_and(|p| self.slot(*p).in_flight.is_some())
                {
                    return true;
                }
            }
        }
        self.s.orphans.blocks(&Resource::LinkName(key.0, key.1))
    }

    /// Whether the item with this key has a command in flight: whatever the kernel shows of it
    /// may be older than that command's result, so a resync leaves it alone.
    fn busy(&self, key: &ItemKey) -> bool {
        self.ix
            .by_key
            .get(key)
            .is_some_and(|id| self.slot(*id).in_flight.is_some())
    }

    /// Items of this namespace (and their veth partners) that wait to retry after EEXIST try
    /// again now: the observation may be the news that the old link is gone.
    fn retry_on_observe(&mut self, r: &NamespaceRef) {
        let Some(members) = self.ix.ns_members.get(r) else {
            return;
        };
        let mut ids: Vec<ItemId> = Vec::new();
        for &id in members {
            if self.slot(id).retry_on_observe {
                ids.push(id);
                if let Some(Item::Interface(i)) = self.slot(id).desired.as_deref() {
                    if let Some(&pid) = i.veth_peer.as_deref().and_then(|p| self.ix.names.get(p)) {
                        ids.push(pid);
                    }
                }
            }
        }
        for id in ids {
            let slot = self.slot_mut(id);
            slot.retry_on_observe = false;
            if let Some(at) = slot.retry_at.take() {
                self.s.timers.remove(&(at, TimerKey::Item(id)));
                self.mark_dirty(id);
            }
        }
    }

    fn adoptable(&self, key: &ItemKey) -> Option<ItemId> {
        let id = *self.ix.by_key.get(key)?;
        let s = self.slot(id);
        (s.desired.is_some() && s.actual == Actual::None && s.in_flight.is_none()).then_some(id)
    }

    // ----- reconciliation ---------------------------------------------------------------------

    fn reconcile(&mut self, id: ItemId) {
        let slot = self.slot(id);
        if slot.in_flight.is_some() || slot.blocked || slot.retry_at.is_some() {
            return;
        }
        if !matches!(slot.key, ItemKey::Interface(_)) {
            // Whatever a route or neighbour would do, wanted or not, would race a command in
            // flight on its interface (which may be removing the link and all on it), or the
            // removal of the link's veth partner. Their results mark it dirty again.
            let busy_interface = self
                .interface_slot(slot.key.interface())
                .is_some_and(|(_, i)| {
                    i.in_flight.is_some()
                        || matches!(&i.actual, Actual::Link(l) if self.link_busy(&l.ns, &l.name))
                });
            let busy_link = match &slot.actual {
                Actual::Route(r) => self.link_busy(&r.ns, &r.route.dev),
                Actual::Neighbour(n) => self.link_busy(&n.ns, &n.link),
                _ => false,
            };
            if busy_interface || busy_link {
                // Waiting, and saying so: whoever finishes wakes the items that are not applied.
                if self.slot(id).state == ItemState::Applied {
                    self.set_state(id, ItemState::InProgress);
                }
                return;
            }
        }
        match slot.key {
            ItemKey::Interface(_) => self.reconcile_interface(id),
            ItemKey::Route { .. } | ItemKey::Arp { .. } => self.reconcile_l3(id),
        }
    }

    /// The link an interface item asks for now, or why it cannot have one.
    fn link_target(&self, id: ItemId, iface: &Interface) -> Result<LinkTarget, Vec<PendingReason>> {
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
        let shape = match iface.kind {
            InterfaceType::Veth => {
                let peer_name = iface.veth_peer.as_deref().unwrap_or_default();
                match self
                    .interface_slot(peer_name)
                    .map(|(pid, s)| (pid, s.desired.as_deref()))
                {
                    Some((pid, Some(Item::Interface(peer)))) => {
                        if peer.kind != InterfaceType::Veth {
                            reasons.push(PendingReason::PeerNotVeth(peer_name.to_string()));
                            None
                        } else if peer.veth_peer.as_deref() != Some(iface.name.as_str()) {
                            reasons.push(PendingReason::PeerMismatch {
                                peer: peer_name.to_string(),
                                peers_peer: peer.veth_peer.clone().unwrap_or_default(),
                            });
                            None
                        } else {
                            let peer_ns = self
                                .resolve(&peer.namespace)
                                .map_err(|r| reasons.push(r))
                                .ok();
                            if self.host_name_winner(pid).is_some() {
                                reasons.push(PendingReason::PeerPending(peer_name.to_string()));
                            }
                            peer_ns.map(|peer_ns| TargetShape::Veth { peer: pid, peer_ns })
                        }
                    }
                    _ => {
                        reasons.push(PendingReason::PeerNotConfigured(peer_name.to_string()));
                        None
                    }
                }
            }
            InterfaceType::Dummy => Some(TargetShape::Dummy),
            InterfaceType::Existing | InterfaceType::Loopback => Some(TargetShape::Borrowed),
        };
        match (ns, shape) {
            (Some(ns), Some(shape)) if reasons.is_empty() => Ok(LinkTarget { ns, shape }),
            _ => Err(reasons),
        }
    }

    /// The item that wins the link name this item wants, if it is another one.
    fn host_name_winner(&self, id: ItemId) -> Option<String> {
        let winner = self.slot(id).name_taken_by?;
        Some(self.slot(winner).key.interface().to_string())
    }

    /// Decides which of the items that want one link name in one namespace wins it: the oldest
    /// item, so that an applied link is never taken over by a newcomer.
    fn settle_claims(&mut self, claim: &(NamespaceRef, String)) {
        let Some(claims) = self.ix.host_claims.get(claim) else {
            return;
        };
        let claims = claims.clone();
        let winner = claims
            .iter()
            .copied()
            .min_by_key(|id| (self.slot(*id).born, *id));
        for id in claims {
            self.slot_mut(id).name_taken_by = winner.filter(|w| *w != id);
        }
    }

    fn ensure_named_namespace(&mut self, r: &NamespaceRef) {
        if let NamespaceRef::Named(n) = r {
            // Commands still in flight may have been aimed at a previous incarnation of the
            // namespace: making it again now would let them land in the new one unseen.
            let busy = self.ix.in_flight_ns.contains_key(&Netns::Named(n.clone()));
            let state = self.s.named.entry(n.clone()).or_insert(NamedState::Absent);
            if *state == NamedState::Absent && !busy {
                *state = NamedState::Creating { attempts: 0 };
                self.issue(
                    Op::CreateNamespace { name: n.clone() },
                    Owner::Namespace(n.clone()),
                );
            }
        }
    }

    fn reconcile_interface(&mut self, id: ItemId) {
        // A cheap handle on the desired value: it stays readable while the core changes.
        let desired_item = self.slot(id).desired.clone();
        let desired = match desired_item.as_deref() {
            Some(Item::Interface(i)) => Some(i),
            _ => None,
        };
        let target = match desired {
            Some(iface) => {
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
                    && (!matches!(a.shape, Shape::Veth { .. })
                        || self.veth_partner(id, a).is_some())
                    && desired.is_none_or(|i| self.may_rename(id, a, &i.host_if_name)),
            ),
            _ => None,
        };
        if let Some(fits) = fits {
            self.slot_mut(id).link_ok = fits;
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
        if fits.is_none() {
            return self.create_link(id, target, iface);
        }

        let op = {
            let Actual::Link(a) = &self.slot(id).actual else {
                unreachable!("fits is known, so a link is")
            };
            if a.name != iface.host_if_name {
                let wanted = Resource::LinkName(a.ns.clone(), iface.host_if_name.clone());
                let rename = Op::RenameLink {
                    ns: a.ns.clone(),
                    name: a.name.clone(),
                    new_name: iface.host_if_name.clone(),
                };
                let op = if a.up && self.slot(id).rename_when_down {
                    Op::SetLink {
                        ns: a.ns.clone(),
                        name: a.name.clone(),
                        change: LinkChange {
                            up: Some(false),
                            ..LinkChange::default()
                        },
                    }
                } else {
                    rename
                };
                // A stale link of that name is on its way out: rename once it is gone. Stale
                // routes and neighbours being removed through the link go first too: their
                // removals name it by its present name.
                let through: Vec<Resource> = self
                    .s
                    .orphans
                    .on_link(&a.ns, &a.name)
                    .into_iter()
                    .filter_map(|o| self.s.orphans.get(o))
                    .flat_map(|o| o.resources())
                    .collect();
                if self.blocked_by_orphan(wanted, id) || !through.is_empty() {
                    for res in through {
                        self.wait_for(res, id);
                    }
                    return self.set_state(id, ItemState::InProgress);
                }
                self.issue(op, Owner::Item { id, peer: None });
                return self.set_state(id, ItemState::InProgress);
            }
            let mac = if iface.link_only {
                None
            } else {
                iface.phys_address
            };
            let owned = a.shape.owned();
            let unknown = a.attributes_unknown;
            let mut change = LinkChange {
                up: (unknown || a.up != iface.enabled).then_some(iface.enabled),
                mtu: iface.mtu.filter(|m| unknown || a.mtu != Some(*m)),
                mac: mac.filter(|m| unknown || a.mac != Some(*m)),
                alias: (owned && !alias_is(a.alias.as_deref(), &iface.name))
                    .then(|| format!("{ALIAS_PREFIX}{}", iface.name)),
            };
            if !change.is_empty() {
                if change.mac.is_some() {
                    if change.up == Some(true) {
                        // Set the address while still down; bring it up on the next round.
                        change.up = None;
                    } else if a.up && !owned {
                        // veth and dummy links change their address live; many drivers of
                        // links the agent borrows answer EBUSY while up, so take it down first.
                        change.up = Some(false);
                    }
                }
                Some(Op::SetLink {
                    ns: a.ns.clone(),
                    name: a.name.clone(),
                    change,
                })
            } else if iface.link_only {
                None
            } else {
                let extra = a.addresses.iter().find(|x| !iface.ip_addresses.contains(x));
                let missing = iface.ip_addresses.iter().find(|x| !a.addresses.contains(x));
                match (extra, missing) {
                    (Some(addr), _) => Some(Op::DelAddress {
                        ns: a.ns.clone(),
                        link: a.name.clone(),
                        addr: *addr,
                    }),
                    (None, Some(addr)) => Some(Op::AddAddress {
                        ns: a.ns.clone(),
                        link: a.name.clone(),
                        addr: *addr,
                    }),
                    (None, None) => None,
                }
            }
        };
        match op {
            Some(op) => {
                self.issue(op, Owner::Item { id, peer: None });
                self.set_state(id, ItemState::InProgress)
            }
            None => self.set_state(id, ItemState::Applied),
        }
    }

    /// Takes away a link that does not fit what the item wants (or is no longer wanted).
    fn remove_link(&mut self, id: ItemId, still_desired: bool) {
        let Actual::Link(a) = self.slot(id).actual.clone() else {
            return;
        };
        let busy = if still_desired {
            ItemState::InProgress
        } else {
            ItemState::Removing
        };
        if a.shape.owned() {
            // Whoever holds the other end of this pair in the kernel loses it too.
            let peer = self
                .kernel_partner(&a)
                .or_else(|| self.veth_partner(id, &a));
            if peer.is_some_and(|p| self.slot(p).in_flight.is_some()) {
                return self.set_state(id, ItemState::InProgress);
            }
            // The other end is a stale link being removed: that takes this end along.
            if let Some((pns, pname)) = &a.peer_link {
                let res = Resource::LinkName(pns.clone(), pname.clone());
                if self.blocked_by_orphan(res, id) {
                    return self.set_state(id, busy);
                }
            }
            self.issue(
                Op::DeleteLink {
                    ns: a.ns,
                    name: a.name,
                },
                Owner::Item { id, peer },
            );
        } else if let Some(addr) = a.addresses.first() {
            let op = Op::DelAddress {
                ns: a.ns.clone(),
                link: a.name.clone(),
                addr: *addr,
            };
            self.issue(op, Owner::Item { id, peer: None });
        } else {
            // A borrowed link is let go as it is.
            self.set_actual(id, Actual::None);
            return self.reconcile_interface(id);
        }
        self.set_state(id, busy)
    }

    /// The item holding the link the kernel pairs with this veth end, whatever the items' names
    /// say: removing one end removes that one.
    fn kernel_partner(&self, a: &LinkActual) -> Option<ItemId> {
        let (ns, name) = a.peer_link.as_ref()?;
        let pid = *self.ix.link_owner.get(&(ns.clone(), name.clone()))?;
        matches!(&self.slot(pid).actual, Actual::Link(l) if l.ns == *ns && l.name == *name)
            .then_some(pid)
    }

    /// The item holding the other end of this item's veth, if it believes so too.
    fn veth_partner(&self, id: ItemId, a: &LinkActual) -> Option<ItemId> {
        let Shape::Veth { peer_item } = &a.shape else {
            return None;
        };
        if let Some(peer_link) = &a.peer_link {
            // The kernel's word on which link is the other end beats the items' names.
            let pid = *self.ix.link_owner.get(peer_link)?;
            return (self.slot(pid).key.interface() == peer_item).then_some(pid);
        }
        let (pid, peer) = self.interface_slot(peer_item)?;
        let me = self.slot(id).key.interface();
        match &peer.actual {
            Actual::Link(LinkActual {
                shape: Shape::Veth { peer_item: back },
                ..
            }) if back == me => Some(pid),
            _ => None,
        }
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

    /// The kernel renamed the item's link. Everything on it stayed (the link kept its index),
    /// so the core's account of its routes, neighbours and veth peer follows the new name.
    fn on_renamed(&mut self, id: ItemId, ns: &Netns, old: &str, new: &str) {
        let Actual::Link(mut link) = self.slot(id).actual.clone() else {
            return;
        };
        if link.ns != *ns || link.name != old {
            return;
        }
        self.slot_mut(id).rename_when_down = false;
        self.s.orphans.rename_link(ns, old, new);
        link.name = new.to_string();
        let peer_link = link.peer_link.clone();
        self.set_actual(id, Actual::Link(link));
        let was = (ns.clone(), old.to_string());
        if let Some(&p) = peer_link.as_ref().and_then(|k| self.ix.link_owner.get(k)) {
            if let Actual::Link(other) = &mut self.slot_mut(p).actual {
                if other.peer_link.as_ref() == Some(&was) {
                    other.peer_link = Some((ns.clone(), new.to_string()));
                }
            }
        }
        let mut on: Vec<ItemId> = self
            .ix
            .on_link
            .get(&was)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        on.sort_unstable();
        for d in on {
            let mut actual = self.slot(d).actual.clone();
            match &mut actual {
                Actual::Route(r) => r.route.dev = new.to_string(),
                Actual::Neighbour(n) => n.link = new.to_string(),
                _ => continue,
            }
            self.set_actual(d, actual);
        }
    }

    fn create_link(&mut self, id: ItemId, target: LinkTarget, iface: &Interface) {
        let owner_peer = match &target.shape {
            TargetShape::Veth { peer, .. } => {
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
        let spec = link_spec(iface, target.shape.owned());
        let peer_spec = match &target.shape {
            TargetShape::Veth { peer, .. } => match self.desired_interface(*peer) {
                Some(p) => Some(link_spec(p, true)),
                None => return self.set_state(id, ItemState::InProgress),
            },
            _ => None,
        };
        // A link of the same name may still be held by another item on its way out.
        let mut names = vec![(target.ns.clone(), spec.name.clone())];
        if let (TargetShape::Veth { peer_ns, .. }, Some(p)) = (&target.shape, &peer_spec) {
            names.push((peer_ns.clone(), p.name.clone()));
        }
        for (ns, name) in names {
            if self.blocked_by_orphan(Resource::LinkName(ns.clone(), name.clone()), id) {
                return self.set_state(id, ItemState::InProgress);
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
                    return self.set_state(id, ItemState::InProgress);
                }
            }
        }
        let op = match (target.shape, peer_spec) {
            (TargetShape::Veth { peer_ns, .. }, Some(peer_spec)) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Veth {
                    peer_ns,
                    peer: peer_spec,
                },
            },
            (TargetShape::Veth { .. }, None) => unreachable!("a veth target has a peer spec"),
            (TargetShape::Dummy, _) => Op::CreateLink {
                ns: target.ns,
                link: spec,
                kind: NewLink::Dummy,
            },
            (TargetShape::Borrowed, _) => {
                // Configure someone else's link: the whole desired link state at once.
                let change = LinkChange {
                    up: Some(spec.up),
                    mtu: spec.mtu,
                    mac: spec.mac,
                    alias: None,
                };
                let adopted = LinkActual {
                    ns: target.ns.clone(),
                    name: spec.name.clone(),
                    shape: Shape::Borrowed,
                    up: spec.up,
                    mtu: None,
                    mac: None,
                    alias: None,
                    addresses: vec![],
                    peer_link: None,
                    attributes_unknown: true,
                };
                // Believe the link is there with unknown attributes: the SetLink below fails
                // with ENODEV if it is not, which makes the core forget it again, and any other
                // failure leaves the attributes unknown, so the next try sets them all again.
                self.set_actual(id, Actual::Link(adopted));
                Op::SetLink {
                    ns: target.ns,
                    name: spec.name,
                    change,
                }
            }
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

    /// What a route or neighbour can rely on: its interface's link, if it is in place and up.
    /// `Ok(None)`: the interface has a command in flight; decide when its result is in.
    fn usable_link(&self, name: &str) -> Result<Option<(LinkActual, bool)>, PendingReason> {
        let Some((_, iface)) = self.interface_slot(name) else {
            return Err(PendingReason::InterfaceNotConfigured(name.to_string()));
        };
        // While the interface has a command in flight (possibly removing the link and with it
        // everything on it), anything done to its routes and neighbours would race it.
        if iface.in_flight.is_some() {
            return Ok(None);
        }
        let Some(Item::Interface(desired)) = iface.desired.as_deref() else {
            return Err(PendingReason::InterfaceNotConfigured(name.to_string()));
        };
        if !desired.enabled {
            return Err(PendingReason::InterfaceDisabled(name.to_string()));
        }
        match &iface.actual {
            Actual::Link(l) if iface.link_ok && l.up => {
                Ok(Some((l.clone(), iface.state == ItemState::Applied)))
            }
            _ => Err(PendingReason::InterfaceNotReady(name.to_string())),
        }
    }

    /// Routes and neighbours: both live on their interface's link and follow one pattern.
    fn reconcile_l3(&mut self, id: ItemId) {
        let interface = self.slot(id).key.interface().to_string();
        let desired_item = self.slot(id).desired.clone();
        let target: Result<(Netns, L3Target, bool), Option<PendingReason>> =
            match desired_item.as_deref() {
                None => Err(None),
                Some(item) => match self.usable_link(&interface) {
                    Err(reason) => Err(Some(reason)),
                    Ok(None) => return,
                    Ok(Some((link, ready))) => L3Target::of(item, &link, &interface)
                        .map(|t| (link.ns, t, ready))
                        .map_err(Some),
                },
            };
        let busy = if desired_item.is_some() {
            ItemState::InProgress
        } else {
            ItemState::Removing
        };
        let actual = self.slot(id).actual.clone();
        if actual != Actual::None {
            let op = match target
                .as_ref()
                .ok()
                .filter(|(ns, t, _)| t.fits(&actual, ns))
            {
                None => actual.removal(),
                Some((ns, t, _)) => t.update(&actual, ns),
            };
            return match op {
                Some(op) => {
                    self.issue(op, Owner::Item { id, peer: None });
                    self.set_state(id, busy)
                }
                None => self.set_state(id, ItemState::Applied),
            };
        }
        let pending = |reason| ItemState::Pending {
            reasons: vec![reason],
        };
        match target {
            Err(None) => self.free_slot(id),
            Err(Some(reason)) => self.set_state(id, pending(reason)),
            Ok((_, _, false)) => {
                self.set_state(id, pending(PendingReason::InterfaceNotReady(interface)))
            }
            Ok((ns, target, true)) => {
                if self.blocked_by_orphan(target.resource(&ns), id) {
                    return self.set_state(id, ItemState::InProgress);
                }
                if let L3Target::Route(spec) = &target {
                    let slot_key = (ns.clone(), spec.dst, spec.metric);
                    let holder = self
                        .ix
                        .route_owner
                        .get(&slot_key)
                        .or_else(|| self.ix.route_adding.get(&slot_key));
                    if let Some(&holder) = holder.filter(|h| **h != id) {
                        let by = self.slot(holder).key.to_string();
                        self.wait_for(target.resource(&ns), id);
                        return self.set_state(id, pending(PendingReason::RouteTaken { by }));
                    }
                }
                self.issue(target.addition(ns), Owner::Item { id, peer: None });
                self.set_state(id, ItemState::InProgress)
            }
        }
    }
}

/// What a route or neighbour item wants in the kernel, on its interface's link.
enum L3Target {
    Route(RouteSpec),
    Neighbour {
        link: String,
        ip: IpAddr,
        mac: MacAddr,
    },
}

impl L3Target {
    fn of(item: &Item, link: &LinkActual, interface: &str) -> Result<L3Target, PendingReason> {
        match item {
            Item::Route(r) => {
                let reachable = r
                    .gw_addr
                    .is_none_or(|gw| link.addresses.iter().any(|a| a.contains(&gw)));
                if !reachable {
                    return Err(PendingReason::GatewayUnreachable {
                        gw: r.gw_addr.map(|g| g.to_string()).unwrap_or_default(),
                        interface: interface.to_string(),
                    });
                }
                Ok(L3Target::Route(RouteSpec {
                    dev: link.name.clone(),
                    dst: r.dst_network,
                    gw: r.gw_addr,
                    metric: kernel_metric(r.dst_network, r.metric),
                    scope: kernel_scope(r.dst_network, r.scope),
                }))
            }
            Item::Arp(a) => Ok(L3Target::Neighbour {
                link: link.name.clone(),
                ip: a.ip_address,
                mac: a.hw_address,
            }),
            Item::Interface(_) => Err(PendingReason::InterfaceNotConfigured(interface.to_string())),
        }
    }

    /// Whether what is in the kernel can become this in place: same namespace and link, and
    /// for a route the same destination and metric (the kernel's identity of a route).
    fn fits(&self, actual: &Actual, ns: &Netns) -> bool {
        match (self, actual) {
            (L3Target::Route(spec), Actual::Route(a)) => {
                a.ns == *ns
                    && a.route.dev == spec.dev
                    && a.route.dst == spec.dst
                    && a.route.metric == spec.metric
            }
            (L3Target::Neighbour { link, ip, .. }, Actual::Neighbour(a)) => {
                a.ns == *ns && a.link == *link && a.ip == *ip
            }
            _ => false,
        }
    }

    /// The in-place change that makes what is there this, if it differs.
    fn update(&self, actual: &Actual, ns: &Netns) -> Option<Op> {
        match (self, actual) {
            (L3Target::Route(spec), Actual::Route(a)) if a.route != *spec => {
                Some(Op::ReplaceRoute {
                    ns: ns.clone(),
                    route: spec.clone(),
                })
            }
            (L3Target::Neighbour { link, ip, mac }, Actual::Neighbour(a)) if a.mac != *mac => {
                Some(Op::SetNeighbour {
                    ns: ns.clone(),
                    link: link.clone(),
                    ip: *ip,
                    mac: *mac,
                })
            }
            _ => None,
        }
    }

    fn addition(self, ns: Netns) -> Op {
        match self {
            L3Target::Route(route) => Op::AddRoute { ns, route },
            L3Target::Neighbour { link, ip, mac } => Op::SetNeighbour { ns, link, ip, mac },
        }
    }

    fn resource(&self, ns: &Netns) -> Resource {
        match self {
            L3Target::Route(spec) => Resource::Route(ns.clone(), spec.dst, spec.metric),
            L3Target::Neighbour { link, ip, .. } => {
                Resource::Neighbour(ns.clone(), link.clone(), *ip)
            }
        }
    }
}

impl Actual {
    /// The command that removes a route or neighbour the kernel holds.
    fn removal(&self) -> Option<Op> {
        match self {
            Actual::Route(r) => Some(Op::DelRoute {
                ns: r.ns.clone(),
                route: r.route.clone(),
            }),
            Actual::Neighbour(n) => Some(Op::DelNeighbour {
                ns: n.ns.clone(),
                link: n.link.clone(),
                ip: n.ip,
            }),
            _ => None,
        }
    }
}

/// Where the link of an interface item should be; the rest of what it should be is the
/// item's desired value, read from there when needed so that nothing is copied on the way.
struct LinkTarget {
    ns: Netns,
    shape: TargetShape,
}

enum TargetShape {
    Veth { peer: ItemId, peer_ns: Netns },
    Dummy,
    Borrowed,
}

impl LinkTarget {
    /// Whether an existing link can be brought to this target in place. Namespace, kind and
    /// veth peer cannot change without re-creating the link; a link the agent owns is renamed
    /// in place, while a borrowed one is known by its name, so another name is another link.
    fn fits(&self, a: &LinkActual, iface: &Interface) -> bool {
        if a.ns != self.ns || (!self.shape.owned() && a.name != iface.host_if_name) {
            return false;
        }
        match (&self.shape, &a.shape) {
            (TargetShape::Dummy, Shape::Dummy) | (TargetShape::Borrowed, Shape::Borrowed) => true,
            (TargetShape::Veth { .. }, Shape::Veth { peer_item }) => {
                iface.veth_peer.as_deref() == Some(peer_item.as_str())
            }
            _ => false,
        }
    }
}

/// The link names a command gives to links: the new link (and its veth peer), or the new name.
fn link_names_taken(op: &Op) -> Vec<(Netns, String)> {
    match op {
        Op::CreateLink { ns, link, kind } => {
            let mut v = vec![(ns.clone(), link.name.clone())];
            if let NewLink::Veth { peer_ns, peer } = kind {
                v.push((peer_ns.clone(), peer.name.clone()));
            }
            v
        }
        Op::RenameLink { ns, new_name, .. } => vec![(ns.clone(), new_name.clone())],
        _ => vec![],
    }
}

/// Whether a link carries the alias that marks it as this item's.
fn alias_is(alias: Option<&str>, item: &str) -> bool {
    alias.and_then(|a| a.strip_prefix(ALIAS_PREFIX)) == Some(item)
}

impl TargetShape {
    fn owned(&self) -> bool {
        !matches!(self, TargetShape::Borrowed)
    }
}

/// The attributes a link is created (or, when borrowed, configured) with.
fn link_spec(iface: &Interface, owned: bool) -> LinkSpec {
    LinkSpec {
        name: iface.host_if_name.clone(),
        mtu: iface.mtu,
        mac: if iface.link_only {
            None
        } else {
            iface.phys_address
        },
        alias: owned.then(|| format!("{ALIAS_PREFIX}{}", iface.name)),
        up: iface.enabled,
    }
}

fn shape_fits(shape: &Shape, kind: LinkKind) -> bool {
    match shape {
        Shape::Veth { .. } => kind == LinkKind::Veth,
        Shape::Dummy => kind == LinkKind::Dummy,
        Shape::Borrowed => true,
    }
}

fn link_from_spec(
    ns: &Netns,
    spec: &LinkSpec,
    shape: Shape,
    peer_link: Option<(Netns, String)>,
) -> LinkActual {
    LinkActual {
        ns: ns.clone(),
        name: spec.name.clone(),
        shape,
        up: spec.up,
        mtu: spec.mtu,
        mac: spec.mac,
        alias: spec.alias.clone(),
        addresses: vec![],
        peer_link,
        attributes_unknown: false,
    }
}

/// Which observed addresses count as the item's. On a link the agent owns, every address does,
/// except the IPv6 link-local ones the kernel adds by itself (unless asked for). On a borrowed
/// link only those the agent added or is asked to add: the rest are someone else's.
fn observed_addresses(a: &LinkActual, l: &ObservedLink, desired: &[IpNet]) -> Vec<IpNet> {
    l.addresses
        .iter()
        .filter(|addr| {
            if desired.contains(addr) {
                return true;
            }
            if a.shape.owned() {
                !is_ipv6_link_local(addr)
            } else {
                a.addresses.contains(addr)
            }
        })
        .copied()
        .collect()
}

/// Whether two values of an interface place it the same way: same kind, namespace, link name
/// and peer. Only then can other items ignore the change.
fn same_placement(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Interface(a), Item::Interface(b)) => {
            a.kind == b.kind
                && a.namespace == b.namespace
                && a.host_if_name == b.host_if_name
                && a.veth_peer == b.veth_peer
                && a.enabled == b.enabled
        }
        _ => false,
    }
}

/// What the kernel flushed from a link.
#[derive(Clone, Copy)]
struct Flushed {
    routes: bool,
    neighbours: bool,
    /// Only this family (`Some(true)`: IPv6), or both.
    ipv6: Option<bool>,
}

/// Below this MTU the kernel disables IPv6 on a link.
const IPV6_MIN_MTU: u32 = 1280;

fn same_subnet(a: &IpNet, b: &IpNet) -> bool {
    a.prefix_len() == b.prefix_len()
        && a.network() == b.network()
        && a.addr().is_ipv4() == b.addr().is_ipv4()
}

/// The metric the kernel stores: an IPv6 route asked for with metric 0 gets 1024
/// (IP6_RT_PRIO_USER), and must be compared as such on resync.
fn kernel_metric(dst: IpNet, metric: u32) -> u32 {
    match (dst, metric) {
        (IpNet::V6(_), 0) => 1024,
        _ => metric,
    }
}

/// The scope the kernel stores: IPv6 routes have no scope of their own and report global.
fn kernel_scope(dst: IpNet, scope: crate::model::RouteScope) -> crate::model::RouteScope {
    match dst {
        IpNet::V6(_) => crate::model::RouteScope::Global,
        IpNet::V4(_) => scope,
    }
}

/// Serializes a map with non-string keys as a list of pairs, so that the state also fits JSON.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<
        'de,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    >(
        d: D,
    ) -> Result<BTreeMap<K, V>, D::Error> {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

fn is_ipv6_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

fn backoff(base: u64, max: u64, attempts: u32) -> u64 {
    let shift = attempts.saturating_sub(1).min(32);
    base.saturating_mul(1u64 << shift).min(max)
}

fn remove_from<K: Ord>(map: &mut BTreeMap<K, BTreeSet<ItemId>>, key: &K, id: ItemId) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

fn remove_from_fx<K, Q>(map: &mut FxHashMap<Q, BTreeSet<ItemId>>, key: &K, id: ItemId)
where
    K: std::hash::Hash + Eq + ?Sized,
    Q: std::hash::Hash + Eq + std::borrow::Borrow<K>,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
