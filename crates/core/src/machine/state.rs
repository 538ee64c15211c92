//! What the core believes, slot by slot: the one place where an item's desired value and the
//! kernel objects the core thinks it holds sit side by side. Everything here is what a snapshot
//! stores (`State`); anything derivable from it lives in `index.rs` and is rebuilt on restore.
//! Slots are reached only through `slot`/`slot_mut` with a live id, so that a freed slot can be
//! reused without an id ever pointing at the wrong item's state unnoticed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::borrow::Borrows;
use super::dirty::Resource;
use super::identities::Identities;
use super::stale::StaleObjects;
use crate::command::{Command, CommandId, Op, RouteSpec, RuleSpec};
use crate::event::Timestamp;
use crate::firewall::ChainSpec;
use crate::model::{
    BridgeSettings, ChecksumOffload, Interface, Item, ItemKey, MacAddr, MacvlanMode, TapSettings,
    VxlanTunnel,
};
use crate::netns::Netns;
use crate::status::ItemState;

use super::index::remove_from_fx;
use super::timers::Timers;
use super::{Core, CoreConfig};

/// Index of an item's slot. Stable for the item's lifetime; reused after it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct ItemId(pub(super) u32);

/// What the core believes the kernel holds for an interface item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LinkActual {
    pub(super) ns: Netns,
    pub(super) name: String,
    /// Encoded as `shape`, its name when snapshots were first written.
    #[serde(rename = "shape")]
    pub(super) role: LinkRole,
    pub(super) up: bool,
    /// `None`: not known (left at the kernel's default).
    pub(super) mtu: Option<u32>,
    pub(super) mac: Option<MacAddr>,
    pub(super) alias: Option<String>,
    /// For owned links, every address on the link; for borrowed links, the ones the agent added.
    pub(super) addresses: Vec<IpNet>,
    /// For a veth: the other end, when known (always for pairs the agent created).
    #[serde(default)]
    pub(super) peer_link: Option<(Netns, String)>,
    /// A borrowed link adopted without being observed: its attributes are not known until a
    /// change of the agent's succeeds, so every wanted attribute is set, not only differences.
    #[serde(default)]
    pub(super) attributes_unknown: bool,
    /// `None` each way: not known.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub(super) checksum_offload: ChecksumOffload,
    /// The link it is enslaved to, by name; `None`: none.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub(super) master: Option<String>,
    /// For a bridge: whether its MTU is known to have been set (when made, or since), which
    /// the kernel then keeps; unset, it follows its ports' smallest, so an item's MTU that
    /// happens to match is set anyway to hold.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    pub(super) mtu_pinned: bool,
}

/// How an item holds its link in the kernel, as the core believes it. Not the user's
/// `InterfaceType` (EXISTING and LOOPBACK are both `Borrowed` here), nor the kernel's
/// `LinkKind`: what matters to decisions is whether the agent owns the link and, for a veth,
/// which item holds the other end. `WantedRole` (in `link.rs`) is the same idea for the link
/// an item asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum LinkRole {
    /// One end of a pair the agent created; the other end belongs to the named item.
    Veth { peer_item: String },
    /// A dummy link the agent created.
    Dummy,
    /// A link someone else created (EXISTING, LOOPBACK): configured, never deleted.
    Borrowed,
    /// A VRF device the agent created, with its table.
    Vrf { table: u32 },
    /// A bridge the agent created, with its settings as last set or seen.
    Bridge(BridgeSettings),
    /// A TAP the agent created, with its settings.
    Tap(TapSettings),
    /// A MACVLAN the agent created on the link of the item `parent_item`, with its mode, and
    /// where that link is (followed through its renames and moves; `None` where a look could
    /// not tell). (Last, so that snapshots keep their encoding.)
    Macvlan {
        parent_item: String,
        mode: MacvlanMode,
        parent_link: Option<(Netns, String)>,
    },
    /// A VXLAN the agent created with this tunnel, on the link of the item `parent_item` (its
    /// underlay; `None`: none), and where that link is, as for a MACVLAN. (Last, so that
    /// snapshots keep their encoding.)
    Vxlan {
        tunnel: VxlanTunnel,
        parent_item: Option<String>,
        parent_link: Option<(Netns, String)>,
    },
}

impl LinkRole {
    /// Whether the agent created the link, and so may rename and delete it.
    pub(super) fn owned(&self) -> bool {
        !matches!(self, LinkRole::Borrowed)
    }

    /// For a link made on another item's link (a MACVLAN, a VXLAN with an underlay): that
    /// item, its parent (`stacked.rs`).
    pub(super) fn parent_item(&self) -> Option<&str> {
        match self {
            LinkRole::Macvlan { parent_item, .. } => Some(parent_item),
            LinkRole::Vxlan { parent_item, .. } => parent_item.as_deref(),
            _ => None,
        }
    }

    /// Where the parent's link is, as last known.
    pub(super) fn parent_link(&self) -> Option<&(Netns, String)> {
        match self {
            LinkRole::Macvlan { parent_link, .. } | LinkRole::Vxlan { parent_link, .. } => {
                parent_link.as_ref()
            }
            _ => None,
        }
    }

    /// Where the parent's link is, to be followed (`None`: not a link made on a parent).
    pub(super) fn parent_link_mut(&mut self) -> Option<&mut Option<(Netns, String)>> {
        match self {
            LinkRole::Macvlan { parent_link, .. } => Some(parent_link),
            LinkRole::Vxlan {
                parent_link,
                parent_item: Some(_),
                ..
            } => Some(parent_link),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RouteActual {
    pub(super) ns: Netns,
    pub(super) route: RouteSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct NeighbourActual {
    pub(super) ns: Netns,
    pub(super) link: String,
    pub(super) ip: IpAddr,
    pub(super) mac: MacAddr,
}

/// A VXLAN's permanent FDB entry, as the core believes the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FdbActual {
    pub(super) ns: Netns,
    pub(super) link: String,
    pub(super) mac: MacAddr,
    pub(super) remote: IpAddr,
}

/// A policy rule the core believes the kernel holds, with the agent's protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RuleActual {
    pub(super) ns: Netns,
    pub(super) rule: RuleSpec,
}

/// What the core believes the kernel holds for a rule chain item: its rules as last written
/// or observed intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ChainActual {
    pub(super) ns: Netns,
    pub(super) spec: ChainSpec,
    /// `false`: a chain of the item's is there, but a look found it other than `spec` says
    /// (changed by hand, or written before a restart): to be written again whole, in place,
    /// and removed by this spec's holder and mark if the item goes elsewhere.
    pub(super) intact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Actual {
    None,
    Link(LinkActual),
    Route(RouteActual),
    Neighbour(NeighbourActual),
    Chain(ChainActual),
    Fdb(FdbActual),
    /// A policy rule. (Last, so that snapshots keep their encoding.)
    Rule(RuleActual),
}

impl Actual {
    pub(super) fn ns(&self) -> Option<&Netns> {
        match self {
            Actual::None => None,
            Actual::Link(l) => Some(&l.ns),
            Actual::Route(r) => Some(&r.ns),
            Actual::Neighbour(n) => Some(&n.ns),
            Actual::Chain(c) => Some(&c.ns),
            Actual::Fdb(f) => Some(&f.ns),
            Actual::Rule(r) => Some(&r.ns),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Slot {
    pub(super) key: ItemKey,
    /// `None` once deleted: the slot lives on until the item's objects are gone.
    pub(super) desired: Option<Arc<Item>>,
    pub(super) last_seq: Option<u64>,
    pub(super) actual: Actual,
    pub(super) in_flight: Option<CommandId>,
    pub(super) state: ItemState,
    /// Failures since the last success or change of desired state.
    pub(super) attempts: u32,
    pub(super) last_error: Option<String>,
    /// Set while waiting for a retry timer.
    pub(super) retry_at: Option<Timestamp>,
    /// A terminal failure: nothing is retried until the desired state changes.
    pub(super) blocked: bool,
    /// Interfaces only: the link in the kernel is the one the desired state asks for (same
    /// namespace, name and kind), whatever its attributes. Routes and neighbours may use it.
    pub(super) link_ok: bool,
    /// Interfaces only: another item that wants the same link name in the same namespace and
    /// wins it. Kept up to date with the claims, so that reconciling needs no lookup.
    #[serde(skip)]
    pub(super) name_taken_by: Option<ItemId>,
    #[serde(skip)]
    pub(super) dirty: bool,
    /// Listed in `State::changed`.
    pub(super) changed: bool,
    /// When the item was first put, counted in item creations: the oldest claimant wins a
    /// contested link name.
    #[serde(default)]
    pub(super) born: u64,
    /// The last failure was EEXIST: a link of that name was still there, typically the far
    /// end of a veth the kernel destroys some time after its namespace. The next observation
    /// of the namespace retries at once instead of waiting out the backoff.
    #[serde(default)]
    pub(super) retry_on_observe: bool,
    /// The kernel refused to rename the link while it was up (EBUSY: Linux before 6.2 renames
    /// only links that are down), so the next try takes it down first.
    #[serde(default)]
    pub(super) rename_when_down: bool,
}

/// The state of a named namespace, which the agent creates when an item needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum NamedState {
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
pub(super) struct Microservice {
    pub(super) container_id: String,
    pub(super) pid: u32,
    pub(super) duplicates: Vec<String>,
}

/// Who waits for a command's result. Recorded by `issue` and read once by `on_result`, which
/// dispatches on it: each owner has its own meaning of success and its own retry state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Owner {
    /// An item; for veth pair commands, the item at the other end too.
    Item {
        id: ItemId,
        peer: Option<ItemId>,
    },
    Namespace(String),
    /// A stale managed object found by resync, removed on no item's behalf.
    /// Encoded under its old name, so that snapshots taken before the rename still load.
    #[serde(rename = "Orphan")]
    Stale(u64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct InFlight {
    pub(super) op: Op,
    pub(super) owner: Owner,
    /// Generation of the namespaces the command acts in (its own, and a veth peer's), when it
    /// was issued. A namespace that vanished since took the command's work with it, whatever
    /// the result says. Encoded as `epochs`, its name when snapshots were first written.
    #[serde(rename = "epochs")]
    pub(super) generations: (u64, Option<u64>),
}

/// Everything that is not derivable from the rest: this is what a snapshot stores. Its field
/// order and types are the snapshot's encoding, so they change only with a new snapshot
/// version; lookups derived from it belong in `Indexes`, never here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) config: CoreConfig,
    pub(super) now: Timestamp,
    pub(super) slots: Vec<Option<Slot>>,
    pub(super) free: Vec<u32>,
    pub(super) named: BTreeMap<String, NamedState>,
    /// PID and task namespaces known to exist.
    pub(super) available: BTreeSet<Netns>,
    pub(super) microservices: BTreeMap<String, Microservice>,
    pub(super) watch_connected: bool,
    /// Bumped each time a namespace vanishes. Encoded as `epochs` (its first name).
    #[serde(with = "pairs", rename = "epochs")]
    pub(super) generations: BTreeMap<Netns, u64>,
    pub(super) in_flight: BTreeMap<CommandId, InFlight>,
    pub(super) next_command: u64,
    pub(super) timers: Timers,
    pub(super) outbox: VecDeque<Command>,
    /// Items waiting for a resource to be released, and what they wait for.
    #[serde(with = "pairs")]
    pub(super) waiters: BTreeMap<Resource, BTreeSet<ItemId>>,
    /// Encoded as `orphans` (its first name).
    #[serde(rename = "orphans")]
    pub(super) stale: StaleObjects,
    /// Gives each new item its age: the oldest claimant wins a contested link name.
    pub(super) next_born: u64,
    /// After a restart nothing is issued until the kernel has been observed.
    pub(super) awaiting_resync: bool,
    /// Items whose state changed since [`Core::take_state_changes`]; each at most once, as
    /// told by its slot's `changed` flag.
    pub(super) changed: Vec<ItemId>,
    pub(super) removed: Vec<ItemKey>,
    /// Which namespaces are one (`identities.rs`). Absent from snapshots taken before
    /// identities, and left out while empty so that those snapshots read back unchanged.
    #[serde(default, skip_serializing_if = "Identities::is_empty")]
    pub(super) identities: Identities,
    /// What the agent changed on borrowed links, to restore; absent in older snapshots.
    #[serde(
        default,
        skip_serializing_if = "Borrows::is_empty",
        deserialize_with = "borrows_or_none"
    )]
    pub(super) borrows: Borrows,
}

/// Version 1 snapshots (positional) end before `borrows`, so reading it runs out of input:
/// that means none. Stored values are checksummed before they are decoded, so an error here
/// is the end of an older format, not damage.
fn borrows_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Borrows, D::Error> {
    Ok(Borrows::deserialize(d).unwrap_or_default())
}

pub(super) const NO_SLOT: &str = "item id refers to a live slot";

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

impl Core {
    /// Makes a restored state self-consistent, so that a damaged snapshot degrades into
    /// re-doing some work rather than a panic: free-list entries must name empty slots, and an
    /// item waiting for a command must have that command in flight.
    pub(super) fn sanitize(&mut self) {
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

    pub(super) fn slot(&self, id: ItemId) -> &Slot {
        self.s.slots[id.0 as usize].as_ref().expect(NO_SLOT)
    }

    pub(super) fn slot_mut(&mut self, id: ItemId) -> &mut Slot {
        self.s.slots[id.0 as usize].as_mut().expect(NO_SLOT)
    }

    pub(super) fn interface_slot(&self, name: &str) -> Option<(ItemId, &Slot)> {
        let id = *self.ix.names.get(name)?;
        Some((id, self.slot(id)))
    }

    pub(super) fn desired_interface(&self, id: ItemId) -> Option<&Interface> {
        match self.slot(id).desired.as_deref() {
            Some(Item::Interface(i)) => Some(i),
            _ => None,
        }
    }

    pub(super) fn live(&self, id: ItemId) -> bool {
        matches!(self.s.slots.get(id.0 as usize), Some(Some(_)))
    }

    pub(super) fn alloc_slot(&mut self, key: ItemKey) -> ItemId {
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

    pub(super) fn free_slot(&mut self, id: ItemId) {
        let slot = self.s.slots[id.0 as usize].take().expect(NO_SLOT);
        self.ix.by_key.remove(&slot.key);
        match &slot.key {
            ItemKey::Interface(name) => {
                self.ix.names.remove(name);
            }
            ItemKey::RuleChain(_) => {
                self.ix.chains.remove(&id);
            }
            ItemKey::PolicyRule(_) => {
                self.ix.policy_rules.remove(&id);
            }
            _ => remove_from_fx(&mut self.ix.referrers, slot.key.interface(), id),
        }
        // A waiter that is gone is skipped when woken (`live`), and its id may be reused by an
        // item that will simply be marked once more than needed.
        self.s.removed.push(slot.key.clone());
        self.s.free.push(id.0);
        // Items that named this one (as peer, as interface) learn that it is gone.
        self.mark_dependents_dirty(&slot.key);
    }

    pub(super) fn set_state(&mut self, id: ItemId, state: ItemState) {
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
}
