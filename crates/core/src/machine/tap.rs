//! TAP_TO_VPP: the Linux side of a TAP that someone else creates (VPP, in vpp-agent's world) in
//! the default namespace under a name of its choosing (`tap.vpp_tap_if_name`). The agent waits
//! for it, moves it into the item's namespace under the item's `host_if_name` (`Op::MoveLink`),
//! then configures it as a borrowed link (borrow.rs: what it changes is remembered and put back,
//! addresses already there stay); when the item goes, it is restored and moved back home under
//! its first name. The agent never creates or deletes a TAP: it is its creator's.
//!
//! A TAP has three places in the core's eyes: not seen (the item is pending, `TapMissing`), at
//! home (a belief at (default namespace, vpp_tap) with no loan: seen, not yet taken), and in
//! place (a borrowed link with a loan whose `home` says where it goes back).
//!
//! Driving: `take_borrowed_links` calls [`Core::take_taps_at_home`] when it observes the default
//! namespace, and [`Core::tap_missing`] instead of failing when a TAP item's namespace does not
//! show its link; `reconcile_interface` calls [`Core::fetch_tap`] before removing a link that
//! does not fit, and `remove_link` calls [`Core::give_back_tap`] once a borrowed link is
//! restored; the effect of a `MoveLink` is [`Core::tap_moved`].

use crate::command::Op;
use crate::identity::Mark;
use crate::model::{Interface, InterfaceType};
use crate::netns::Netns;
use crate::status::{ItemState, PendingReason};

use super::link::link_down;
use super::seen::Seen;
use super::state::{Actual, ItemId, LinkActual, LinkRole, Owner};
use super::target::LinkTarget;
use super::Core;

/// Where a TAP_TO_VPP item's TAP is before it is taken: its name in the default namespace.
fn home_of(iface: &Interface) -> Option<&str> {
    match iface.kind {
        InterfaceType::TapToVpp => iface.vpp_tap.as_deref(),
        _ => None,
    }
}

/// Whether the TAP must move (or be renamed) to reach the item's place: not when the item
/// asks for it where it already is, which is then plain borrowing.
fn must_move(home: &str, ns: &Netns, iface: &Interface) -> bool {
    !(*ns == Netns::Default && iface.host_if_name == home)
}

impl Core {
    /// The default namespace was observed: each TAP item that holds nothing yet and whose TAP
    /// is there, free, and not another agent's, takes it as seen at home, to be fetched.
    pub(super) fn take_taps_at_home(&mut self, seen: &Seen) {
        if seen.obs.ns != Netns::Default || self.ix.taps.is_empty() {
            return;
        }
        let taps: Vec<ItemId> = self.ix.taps.iter().copied().collect();
        for id in taps {
            let slot = self.slot(id);
            if slot.actual != Actual::None || slot.in_flight.is_some() {
                continue;
            }
            let Some(iface) = self.desired_interface(id) else {
                continue;
            };
            let Some(home) = home_of(iface) else {
                continue;
            };
            let Ok(ns) = self.resolve(&iface.namespace) else {
                continue;
            };
            if !must_move(home, &ns, iface) {
                continue;
            }
            let Some(l) = seen
                .links
                .get(home)
                .filter(|l| !seen.stale_links.contains(l.name.as_str()))
                .copied()
            else {
                continue;
            };
            let taken = self
                .ix
                .link_owner
                .contains_key(&(Netns::Default, home.to_string()));
            let foreign = self.s.config.identity.read(l.alias.as_deref()) == Mark::Foreign;
            if taken || foreign {
                continue;
            }
            let a = LinkActual::observed(&Netns::Default, l, LinkRole::Borrowed, None, &[]);
            self.set_actual(id, Actual::Link(a));
            self.mark_dirty(id);
        }
    }

    /// A TAP item's namespace was observed without its link: it waits for its TAP, which a
    /// look at the default namespace (asked for with this one) takes when it is there.
    pub(super) fn tap_missing(&mut self, id: ItemId, iface: &Interface) {
        let home = home_of(iface).unwrap_or_default().to_string();
        self.set_state(
            id,
            ItemState::Pending {
                reasons: vec![PendingReason::TapMissing(home)],
            },
        );
    }

    /// Whether the item was told its TAP is missing, and still wants that TAP: it waits for the
    /// next look at the default namespace (the kernel watch asks for one when a link appears
    /// there) without asking for one itself, which would only say the same again, forever.
    pub(super) fn waiting_for_tap(&self, id: ItemId, iface: &Interface) -> bool {
        let Some(home) = home_of(iface) else {
            return false;
        };
        matches!(&self.slot(id).state, ItemState::Pending { reasons }
            if matches!(reasons.as_slice(), [PendingReason::TapMissing(h)] if h == home))
    }

    /// Whether the item still wants the TAP `a` is, and it is at home: let go there (it was
    /// borrowed in place), it is fetched next without another look.
    pub(super) fn tap_sought_at_home(&self, id: ItemId, a: &LinkActual) -> bool {
        let Some(iface) = self.desired_interface(id) else {
            return false;
        };
        let Ok(ns) = self.resolve(&iface.namespace) else {
            return false;
        };
        home_of(iface).is_some_and(|home| {
            a.ns == Netns::Default && a.name == home && must_move(home, &ns, iface)
        })
    }

    /// The item's TAP is at home and the item wants it elsewhere: moved (renamed, if the item
    /// wants it in the default namespace under another name). `true` if that is the step.
    pub(super) fn fetch_tap(
        &mut self,
        id: ItemId,
        desired: Option<&Interface>,
        target: &Result<LinkTarget, Vec<PendingReason>>,
    ) -> bool {
        let (Some(iface), Ok(t)) = (desired, target) else {
            return false;
        };
        let Some(home) = home_of(iface) else {
            return false;
        };
        let Actual::Link(a) = &self.slot(id).actual else {
            return false;
        };
        let at_home = a.ns == Netns::Default && a.name == home;
        // Borrowed where it is (the item wanted it at home before), it is restored first: a
        // move within the namespace would keep what the agent added.
        if !at_home || !must_move(home, &t.ns, iface) || self.s.borrows.lent(&a.ns, &a.name) {
            return false;
        }
        if let Some(reason) = self.s.borrows.policy.refusal(&t.ns, iface) {
            self.set_actual(id, Actual::None);
            self.refuse(id, reason);
            return true;
        }
        if let Some(down) = self.down_before_rename(id, a, &t.ns) {
            self.issue(down, Owner::Item { id, peer: None });
            self.set_state(id, ItemState::InProgress);
            return true;
        }
        let op = Op::MoveLink {
            ns: Netns::Default,
            name: home.to_string(),
            to: t.ns.clone(),
            new_name: iface.host_if_name.clone(),
        };
        self.issue(op, Owner::Item { id, peer: None });
        self.set_state(id, ItemState::InProgress);
        true
    }

    /// A borrowed link the item lets go is restored; if it is a TAP taken from the default
    /// namespace, it goes back there under its first name. `true` if that is the step.
    pub(super) fn give_back_tap(&mut self, id: ItemId, a: &LinkActual, working: ItemState) -> bool {
        let Some(home) = self.s.borrows.home(&a.ns, &a.name) else {
            return false;
        };
        if a.ns == Netns::Default && a.name == home {
            return false;
        }
        if let Some(down) = self.down_before_rename(id, a, &Netns::Default) {
            self.s.borrows.give_back_down(&a.ns, &a.name);
            self.issue(down, Owner::Item { id, peer: None });
            self.set_state(id, working);
            return true;
        }
        let op = Op::MoveLink {
            ns: a.ns.clone(),
            name: a.name.clone(),
            to: Netns::Default,
            new_name: home.to_string(),
        };
        self.issue(op, Owner::Item { id, peer: None });
        self.set_state(id, working);
        true
    }

    /// A move within one namespace is a rename, which kernels before 6.2 refuse while the link
    /// is up (EBUSY): once the kernel said so (`rename_when_down`), the TAP is taken down
    /// first, as `rename_link` does for a rename.
    fn down_before_rename(&self, id: ItemId, a: &LinkActual, to: &Netns) -> Option<Op> {
        (a.ns == *to && a.up && self.slot(id).rename_when_down).then(|| link_down(&a.ns, &a.name))
    }

    /// A TAP moved: what the core believed of it is forgotten, since the kernel took it down and
    /// dropped its addresses on the way. Taken to its place, the item holds it there, unseen
    /// until a fresh look (`tap_landed`); given back, it is let go.
    pub(super) fn tap_moved(&mut self, id: ItemId, from: (&Netns, &str), to: (&Netns, &str)) {
        self.slot_mut(id).rename_when_down = false;
        // A TAP given back has its loan, which says where home is; a fetched one has none.
        let given_back = self.s.borrows.home(from.0, from.1).is_some();
        self.s.borrows.release(from.0, from.1);
        // Routes and neighbours on it went with its addresses; MACVLANs on it stay on it.
        let me = self.slot(id).key.interface().to_string();
        let kept = self.macvlans_kept(&me);
        let before = match &self.slot(id).actual {
            Actual::Link(a) => Some(a.clone()),
            _ => None,
        };
        self.forget_kernel_objects(id);
        let (was, now) = (
            (from.0.clone(), from.1.to_string()),
            (to.0.clone(), to.1.to_string()),
        );
        self.macvlans_back(&me, kept, &was, &now);
        // Fetched for a place the item no longer wants (deleted, or put elsewhere while the
        // move was on its way): no look there would find it for anyone, so it goes straight
        // back home, as it came (down, with nothing on it).
        let fetched = !given_back && *from.0 == Netns::Default;
        if fetched && self.wants_tap_at(id, from.1, to) {
            return self.tap_landed(id, before, from, to);
        }
        if fetched {
            self.s.borrows.returning(to.0, to.1, from.1);
            let op = Op::MoveLink {
                ns: to.0.clone(),
                name: to.1.to_string(),
                to: Netns::Default,
                new_name: from.1.to_string(),
            };
            self.issue(op, Owner::Item { id, peer: None });
            let working = match self.desired_interface(id) {
                Some(_) => ItemState::InProgress,
                None => ItemState::Removing,
            };
            self.set_state(id, working);
        }
    }

    /// A fetched TAP reached the place its item wants it at: the item holds it there from now
    /// on, so that a change of the item before the next look there still finds it and gives
    /// it back. Nothing is changed on it before that look (`Borrows::unseen`), which records
    /// what it is like there, to restore later. Moved to another namespace it came down with
    /// nothing on it; renamed in place it kept its flags.
    fn tap_landed(
        &mut self,
        id: ItemId,
        before: Option<LinkActual>,
        from: (&Netns, &str),
        to: (&Netns, &str),
    ) {
        let Some(mut a) = before else {
            return self.want_observed(to.0.clone());
        };
        a.up = a.up && from.0 == to.0;
        a.ns = to.0.clone();
        a.name = to.1.to_string();
        a.addresses.clear();
        a.master = None;
        a.peer_link = None;
        a.attributes_unknown = true;
        self.s.borrows.landed(to.0, to.1, from.1);
        self.set_actual(id, Actual::Link(a));
        self.want_observed(to.0.clone());
    }

    /// Whether the item wants its TAP, `home` at home, at `place`.
    fn wants_tap_at(&self, id: ItemId, home: &str, place: (&Netns, &str)) -> bool {
        let Some(iface) = self.desired_interface(id) else {
            return false;
        };
        home_of(iface) == Some(home)
            && iface.host_if_name == place.1
            && self.resolve(&iface.namespace).ok().as_ref() == Some(place.0)
    }

    /// A TAP item took its link in its place: the loan remembers where it goes back.
    pub(super) fn tap_taken(&mut self, ns: &Netns, iface: &Interface) {
        if let Some(home) = home_of(iface) {
            if must_move(home, ns, iface) {
                self.s.borrows.set_home(ns, &iface.host_if_name, home);
            }
        }
    }
}
