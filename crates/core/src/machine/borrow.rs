//! Borrowing: links someone else created (EXISTING, LOOPBACK) are lent to an item, never given.
//! The agent changes only what the item sets, remembers the value each attribute had before its
//! first change, and puts it back when the item is deleted or stops setting it; of the
//! addresses it removes only those that were not on the link when it first saw it. A link
//! another agent marked as its own is never borrowed.
//!
//! Originals must be read from an observation, never guessed: a link is first observed (the
//! core asks the driver through [`crate::Core::poll_resync`]) before anything is changed on it.
//! Which links may be borrowed at all, and which carry the agent's own way to its NATS server,
//! is data given by the daemon ([`BorrowPolicy`], logged as [`crate::Event::BorrowPolicy`]), so
//! a replay refuses the same items.
//!
//! Driving: `Core` calls [`Borrows::observed`] for every borrowing item of an observed
//! namespace, [`Borrows::record`] before issuing a change of a borrowed link, [`Borrows::settle`]
//! before computing the next step, and [`Borrows::release`] once the link is let go. All of it
//! is part of the snapshot (`State::borrows`), so what must be restored survives restarts.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::command::LinkChange;
use crate::model::{BridgeSettings, Interface, MacAddr};
use crate::netns::Netns;
use crate::observed::ObservedLink;

use super::state::{ItemId, LinkActual};
use super::Core;
use crate::backend::{errno, BackendError, ErrorKind};
use crate::model::InterfaceType;
use crate::status::ItemState;

/// Which existing links items may borrow, and which the agent needs for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BorrowPolicy {
    /// Link names (a trailing `*` matches any rest) that may be borrowed; empty: any link.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Links that carry the agent's route to its NATS server.
    #[serde(default)]
    pub protected: Vec<ProtectedLink>,
}

/// A link the agent reaches its NATS server through: never taken down or stripped of the
/// address it uses (moving a borrowed link is something the agent never does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedLink {
    pub ns: Netns,
    pub name: String,
    /// The source address the agent's connection uses, when known.
    pub address: Option<IpAddr>,
    /// The server address routed through it, for messages.
    pub server: IpAddr,
}

impl BorrowPolicy {
    /// Why an item may not borrow its link, if it may not; `None` when it may.
    pub fn refusal(&self, ns: &Netns, iface: &Interface) -> Option<String> {
        let name = iface.host_if_name.as_str();
        if !self.allow.is_empty() && !self.allow.iter().any(|p| glob_matches(p, name)) {
            return Some(format!(
                "link '{name}' may not be borrowed: it matches none of --borrow-allow {}",
                self.allow.join(",")
            ));
        }
        let p = self
            .protected
            .iter()
            .find(|p| &p.ns == ns && p.name == name)?;
        let why = format!(
            "link '{name}' carries the agent's route to its NATS server {}",
            p.server
        );
        if iface.enabled == Some(false) {
            return Some(format!("{why}; enabled: false would take it down"));
        }
        if iface.phys_address.is_some() && !iface.link_only {
            return Some(format!(
                "{why}; phys_address would take it down while the address changes"
            ));
        }
        None
    }
}

fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// What the agent changed on one borrowed link, and what was there before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Loan {
    ns: Netns,
    link: String,
    /// Each attribute's value before the agent first changed it; `None`: not changed.
    up: Option<bool>,
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    /// The addresses on the link when the agent first saw it, asked for by the item or not:
    /// never removed, since the agent did not add them. (After the agent lost its state, the
    /// addresses it had added count as there before, and stay: a leak of its own, never a
    /// removal of someone else's.)
    present: Vec<IpNet>,
    /// For a TAP taken over from the default namespace (TAP_TO_VPP): the name it had there,
    /// under which it is moved back when let go.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    home: Option<String>,
    /// The link it was enslaved to before the agent first changed that (`Some(None)`: none).
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    master: Option<Option<String>>,
    /// A TAP that landed in its place (fetched) and was not looked at there since: the
    /// addresses on it are not known yet, so the first look fills `present` instead of
    /// pruning it, and nothing is changed on it before that look.
    #[serde(
        default,
        deserialize_with = "crate::added_fields::absent_in_version_1",
        skip_serializing_if = "crate::added_fields::is_default"
    )]
    unseen: bool,
}

impl Loan {
    /// The loan of a link nothing was changed on yet, with the addresses already there.
    fn untouched(ns: &Netns, link: &str, present: Vec<IpNet>) -> Loan {
        Loan {
            ns: ns.clone(),
            link: link.to_string(),
            up: None,
            mtu: None,
            mac: None,
            present,
            home: None,
            master: None,
            unseen: false,
        }
    }
}

/// The attributes to bring a link to; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Wanted {
    pub(super) up: Option<bool>,
    pub(super) mtu: Option<u32>,
    pub(super) mac: Option<MacAddr>,
    /// The link to be enslaved to (`Some(None)`: none); `None` leaves it as it is. Not
    /// known from the item alone (a VRF is named by its item): the caller sets it.
    pub(super) master: Option<Option<String>>,
    /// A bridge's settings (an owned BRIDGE's only).
    pub(super) bridge: Option<BridgeSettings>,
}

impl Wanted {
    /// What an item asks of a link, before anything borrowed is taken into account.
    pub(super) fn of(iface: &Interface, owned: bool) -> Wanted {
        Wanted {
            up: if owned {
                Some(iface.enabled.unwrap_or(false))
            } else {
                iface.enabled
            },
            mtu: iface.mtu,
            mac: if iface.link_only {
                None
            } else {
                iface.phys_address
            },
            master: None,
            bridge: iface.bridge.filter(|_| owned),
        }
    }
}

/// The loans of every borrowed link, the links waiting for their first observation, and the
/// policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Borrows {
    #[serde(default)]
    loans: Vec<Loan>,
    /// Links an item wants to borrow, asked to be observed and not seen since.
    #[serde(default)]
    observing: Vec<(Netns, String)>,
    #[serde(default)]
    pub(super) policy: BorrowPolicy,
}

impl Borrows {
    pub(super) fn is_empty(&self) -> bool {
        *self == Borrows::default()
    }

    fn loan(&self, ns: &Netns, link: &str) -> Option<&Loan> {
        self.loans.iter().find(|l| &l.ns == ns && l.link == link)
    }

    fn loan_mut(&mut self, ns: &Netns, link: &str) -> Option<&mut Loan> {
        self.loans
            .iter_mut()
            .find(|l| &l.ns == ns && l.link == link)
    }

    /// Notes that the link was asked to be observed before it is borrowed, so that its absence
    /// in the answer is a failure; `false` if already noted.
    pub(super) fn want_observation(&mut self, ns: &Netns, link: &str) -> bool {
        let key = (ns.clone(), link.to_string());
        if self.observing.contains(&key) {
            return false;
        }
        self.observing.push(key);
        true
    }

    /// A borrowing item's namespace was observed, with its link or without. A link seen for
    /// the first time gets its loan, holding the addresses already there. Says whether the
    /// observation was asked for the link, so that a missing link is told once per ask.
    pub(super) fn observed(&mut self, ns: &Netns, link: &str, seen: Option<&ObservedLink>) -> bool {
        let before = self.observing.len();
        self.observing.retain(|(n, l)| !(n == ns && l == link));
        if let Some(l) = seen {
            self.seen_addresses(ns, link, &l.addresses);
        }
        if let (Some(l), None) = (seen, self.loan(ns, link)) {
            self.loans
                .push(Loan::untouched(ns, link, l.addresses.clone()));
        }
        self.observing.len() != before
    }

    /// A change is about to be issued on a borrowed link: each attribute changed for the first
    /// time keeps the value the core believes the link has now, if it knows it.
    pub(super) fn record(&mut self, a: &LinkActual, change: &LinkChange) {
        if a.attributes_unknown {
            return;
        }
        if self.loan(&a.ns, &a.name).is_none() {
            // Borrowed before loans were kept: the addresses there then are not known.
            self.loans.push(Loan::untouched(&a.ns, &a.name, vec![]));
        }
        let loan = self.loan_mut(&a.ns, &a.name).expect("made above");
        if change.up.is_some() && loan.up.is_none() {
            loan.up = Some(a.up);
        }
        if change.mtu.is_some() && loan.mtu.is_none() {
            loan.mtu = a.mtu;
        }
        if change.mac.is_some() && loan.mac.is_none() {
            loan.mac = a.mac;
        }
        if change.master.is_some() && loan.master.is_none() {
            loan.master = Some(a.master.clone());
        }
    }

    /// What to bring a borrowed link to: what the item sets (nothing once deleted), and for
    /// what it does not set but the agent changed, the original.
    pub(super) fn wanted(&self, a: &LinkActual, iface: Option<&Interface>) -> Wanted {
        let mut w = iface.map(|i| Wanted::of(i, false)).unwrap_or_default();
        if let Some(loan) = self.loan(&a.ns, &a.name) {
            w.up = w.up.or(loan.up);
            w.mtu = w.mtu.or(loan.mtu);
            w.mac = w.mac.or(loan.mac);
            w.master = w.master.or(loan.master.clone());
        }
        w
    }

    /// An attribute the item does not set and that is back at its original is no longer
    /// changed: forgotten, so that a later change records the value of that time.
    pub(super) fn settle(&mut self, a: &LinkActual, iface: Option<&Interface>) {
        let set = iface.map(|i| Wanted::of(i, false)).unwrap_or_default();
        let Some(loan) = self.loan_mut(&a.ns, &a.name) else {
            return;
        };
        if set.up.is_none() && loan.up == Some(a.up) {
            loan.up = None;
        }
        if set.mtu.is_none() && loan.mtu.is_some() && loan.mtu == a.mtu {
            loan.mtu = None;
        }
        if set.mac.is_none() && loan.mac.is_some() && loan.mac == a.mac {
            loan.mac = None;
        }
        let sets_master = iface.is_some_and(|i| i.master().is_some());
        if !sets_master && loan.master.as_ref() == Some(&a.master) {
            loan.master = None;
        }
    }

    /// The addresses that were on the link before it was borrowed: kept whatever the item says.
    pub(super) fn kept(&self, ns: &Netns, link: &str) -> &[IpNet] {
        self.loan(ns, link).map_or(&[], |l| &l.present)
    }

    /// A look at a borrowed link showed `addresses`: one that was there before and is gone now
    /// (removed by hand) is no longer kept; if the item asks for it, the agent adds it, and it
    /// is the agent's from then on.
    /// A TAP that landed unseen (`landed`) takes the addresses of its first look as those
    /// that were there before.
    pub(super) fn seen_addresses(&mut self, ns: &Netns, link: &str, addresses: &[IpNet]) {
        if let Some(loan) = self.loan_mut(ns, link) {
            if loan.unseen {
                loan.present = addresses.to_vec();
                loan.unseen = false;
            } else {
                loan.present.retain(|a| addresses.contains(a));
            }
        }
    }

    /// The kernel dropped the IPv6 addresses of a borrowed link (taken down, MTU below 1280):
    /// those that were there before are gone too.
    pub(super) fn dropped_ipv6(&mut self, ns: &Netns, link: &str) {
        if let Some(loan) = self.loan_mut(ns, link) {
            loan.present.retain(|a| a.addr().is_ipv4());
        }
    }

    /// `ns` was observed: whatever was asked of it has its answer, and an item that still
    /// needs to see its link (it was busy then) asks again. The loan of a link the look did
    /// not find (`there` says which are there) ends: a link made again under that name (VPP's
    /// new TAP) is a new link, whose originals are its own.
    pub(super) fn observed_namespace(&mut self, ns: &Netns, there: impl Fn(&str) -> bool) {
        self.observing.retain(|(n, _)| n != ns);
        self.loans.retain(|l| &l.ns != ns || there(&l.link));
    }

    /// `ns` vanished, and its links with it.
    pub(super) fn forget_namespace(&mut self, ns: &Netns) {
        self.observing.retain(|(n, _)| n != ns);
        self.loans.retain(|l| &l.ns != ns);
    }

    /// The borrowed link is a TAP taken from the default namespace, where it was `home`.
    pub(super) fn set_home(&mut self, ns: &Netns, link: &str, home: &str) {
        if let Some(loan) = self.loan_mut(ns, link) {
            loan.home = Some(home.to_string());
        }
    }

    /// Whether the agent holds the link on loan (has changed it, or may).
    pub(super) fn lent(&self, ns: &Netns, link: &str) -> bool {
        self.loan(ns, link).is_some()
    }

    /// A TAP on its way straight back home, fetched for no one: its loan says only where home
    /// is, so that its move's result reads as a give-back.
    pub(super) fn returning(&mut self, ns: &Netns, link: &str, home: &str) {
        self.lent_from_home(ns, link, home, false);
    }

    /// A TAP fetched from home landed in its place: its loan says where home is from now on,
    /// so that whatever becomes of its item before a look there (deleted, put elsewhere, put
    /// home) gives it back; what it is like there is read by that look (`unseen`).
    pub(super) fn landed(&mut self, ns: &Netns, link: &str, home: &str) {
        self.lent_from_home(ns, link, home, true);
    }

    /// A fresh loan of a link taken from `home`, nothing of it set yet.
    fn lent_from_home(&mut self, ns: &Netns, link: &str, home: &str, unseen: bool) {
        self.release(ns, link);
        let mut loan = Loan::untouched(ns, link, vec![]);
        loan.home = Some(home.to_string());
        loan.unseen = unseen;
        self.loans.push(loan);
    }

    /// Whether the link is a TAP that landed and was not looked at since.
    pub(super) fn unseen(&self, ns: &Netns, link: &str) -> bool {
        self.loan(ns, link).is_some_and(|l| l.unseen)
    }

    /// The name in the default namespace a borrowed link goes back to when let go, if it was
    /// taken from there.
    pub(super) fn home(&self, ns: &Netns, link: &str) -> Option<&str> {
        self.loan(ns, link)?.home.as_deref()
    }

    /// The link is given back down whatever it was before: a TAP given back within its
    /// namespace is renamed, which kernels before 6.2 do only to a link that is down (as a
    /// move to another namespace takes it down anyway).
    pub(super) fn give_back_down(&mut self, ns: &Netns, link: &str) {
        if let Some(loan) = self.loan_mut(ns, link) {
            loan.up = Some(false);
        }
    }

    /// The link is let go: nothing more to restore.
    pub(super) fn release(&mut self, ns: &Netns, link: &str) {
        self.loans.retain(|l| !(&l.ns == ns && l.link == link));
        self.observing.retain(|(n, l)| !(n == ns && l == link));
    }
}

impl Core {
    /// A new policy: items it refused before are judged again, and so are those it refuses now
    /// (a link already borrowed is given back).
    pub(super) fn on_borrow_policy(&mut self, policy: BorrowPolicy) {
        self.s.borrows.policy = policy;
        let borrowing: Vec<ItemId> = (0..self.s.slots.len() as u32)
            .map(ItemId)
            .filter(|&id| self.live(id))
            .filter(|&id| {
                self.desired_interface(id).is_some_and(|i| {
                    matches!(i.kind, InterfaceType::Existing | InterfaceType::Loopback)
                })
            })
            .collect();
        for id in borrowing {
            if self.slot(id).last_error.as_deref() == Some(REFUSED) {
                self.slot_mut(id).blocked = false;
            }
            self.mark_dirty(id);
        }
    }

    /// The item may not borrow its link: failed for good, until its value or the policy
    /// changes, with the reason in its state.
    pub(super) fn refuse(&mut self, id: ItemId, reason: String) {
        let slot = self.slot_mut(id);
        slot.blocked = true;
        slot.last_error = Some(REFUSED.to_string());
        let attempts = slot.attempts;
        self.set_state(
            id,
            ItemState::Failed {
                error: format!("refused: {reason}"),
                attempts,
                retry_at: None,
            },
        );
    }

    /// An observation asked for a borrowed link did not show it: the item fails as a change of
    /// a missing link does (ENODEV), and is retried after the backoff.
    pub(super) fn borrowed_link_missing(&mut self, id: ItemId, ns: &Netns, name: &str) {
        let error = BackendError {
            kind: ErrorKind::NoSuchDevice,
            errno: Some(errno::ENODEV),
            op: format!("borrow link {name} in {ns}"),
            message: "no such link".to_string(),
            namespace: None,
        };
        self.record_failure(id, &error.to_string(), &error);
    }
}

/// `last_error` of an item refused by the policy, which a new policy judges again.
const REFUSED: &str = "refused by the borrowing policy";

#[cfg(test)]
mod tests;
