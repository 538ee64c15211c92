//! `t0`: a TAP_TO_VPP item, and `vpp0`, the TAP that "VPP" makes in the default namespace now
//! and then and removes again, wherever it is by then. Whenever it is quiet and the TAP is
//! there, it is where `t0` wants it (its namespace, its host name) with what `t0` sets, or, with
//! no `t0` to hold it (none put, or its namespace not there), at home as VPP made it. The agent
//! never makes or deletes the TAP: the kernel refuses to delete it (it is not the agent's kind
//! of link), and the unmanaged-links checker leaves it to this one.
//!
//! "As VPP made it" is what the agent can know: after a restart that lost the agent's state
//! while it held the TAP, what the TAP holds then is its original for the agent; and a TAP that
//! was away from home and from where `t0` wants it then cannot be found again by anyone but
//! VPP, which is not the agent's failure. Either lasts until VPP makes a new TAP.

use std::collections::BTreeSet;

use ipnet::IpNet;
use nsagent_core::{Item, ItemKey, MacAddr, Netns};
use nsagent_sim::{LinkDump, SeedKind, SeedLink};
use serde_json::json;

use super::replay::Action;
use super::swarm::Feature;
use super::{Violation, World};

/// The TAP's name at home, in the default namespace.
pub(super) const TAP_HOME: &str = "vpp0";
/// VPP's alias on its TAP: how the harness knows it wherever it is and whatever it is called.
const TAP_ALIAS: &str = "vpp:tap0";
const TAP_MAC: MacAddr = MacAddr([0x02, 0xfe, 0, 0, 0, 0x01]);
const TAP_MTU: u32 = 1500;

fn t0() -> ItemKey {
    ItemKey::Interface("t0".into())
}

/// How much of the TAP's state the checker may judge (see the module's doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum TapKnown {
    /// All of it.
    #[default]
    Fully,
    /// Where it is, not what it holds: the agent's state was lost while it held the TAP.
    Place,
    /// Nothing: the agent's state was lost while the TAP was on its way, out of its reach.
    Nothing,
}

/// Whether a link is VPP's TAP.
pub(super) fn is_tap(l: &LinkDump) -> bool {
    l.alias.as_deref() == Some(TAP_ALIAS)
}

impl World {
    /// One step of the TAP's world: `t0` put with random settings, or VPP making its TAP (when
    /// it has none) or removing it.
    pub(super) fn tap_step(&mut self) {
        if self.rng.chance(55) {
            return self.put_tap();
        }
        if self.tap_now().is_none() {
            self.make_tap()
        } else {
            self.remove_tap()
        }
    }

    /// Puts `t0`: in any namespace, under the TAP's own name or another, with what it sets
    /// drawn at random (`enabled` absent now and then: the TAP's own state is kept).
    fn put_tap(&mut self) {
        let host = *self.rng.pick(&["t0", "t0", TAP_HOME]);
        let mut v = json!({"name": "t0", "type": "TAP_TO_VPP", "host_if_name": host,
                           "tap": {"vpp_tap_if_name": TAP_HOME}});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        match self.rng.below(4) {
            0 => v["enabled"] = json!(true),
            1 => v["enabled"] = json!(false),
            2 => v["enabled"] = json!(true),
            _ => {}
        }
        if self.rng.chance(30) && self.on(Feature::Mtu) {
            v["mtu"] = json!(1350);
        }
        if self.rng.chance(15) && self.on(Feature::Mac) {
            v["phys_address"] = json!("02:00:00:00:7a:02");
        }
        let mut addrs = Vec::new();
        for a in ["10.248.0.1/24", "10.248.1.1/24"] {
            if self.rng.chance(50) {
                addrs.push(a);
            }
        }
        v["ip_addresses"] = json!(addrs);
        self.put(t0(), v);
    }

    /// VPP makes its TAP at home, down, if it has none; the kernel watch tells the agent.
    pub(super) fn make_tap(&mut self) {
        self.record(&Action::TapMade);
        if self.tap_now().is_some() || self.kernel.link(&Netns::Default, TAP_HOME).is_some() {
            return;
        }
        let mut seed = SeedLink::new(TAP_HOME, SeedKind::Other);
        seed.alias = Some(TAP_ALIAS.into());
        seed.mac = Some(TAP_MAC);
        seed.mtu = TAP_MTU;
        if self.kernel.seed_link(&Netns::Default, seed).is_err() {
            return;
        }
        self.exercised("TAP made by VPP".into());
        self.trace(format!("{} VPP makes its TAP {TAP_HOME}", self.now));
        self.tap_known = TapKnown::Fully;
        self.drifted.push((Netns::Default, 1));
    }

    /// VPP removes its TAP, wherever the agent put it; the kernel watch tells the agent.
    pub(super) fn remove_tap(&mut self) {
        self.record(&Action::TapRemoved);
        let Some((ns, tap)) = self.tap_now() else {
            return;
        };
        if self.kernel.unseed_link(&ns, &tap.name).is_err() {
            return;
        }
        self.exercised("TAP removed by VPP".into());
        self.trace(format!(
            "{} VPP removes its TAP ({} in {ns})",
            self.now, tap.name
        ));
        self.drifted.push((ns, 1));
    }

    /// VPP's TAP, where it is now (the real namespace).
    pub(super) fn tap_now(&self) -> Option<(Netns, LinkDump)> {
        self.kernel.dump().namespaces.into_iter().find_map(|n| {
            let ns = n.ns;
            n.unmanaged
                .into_iter()
                .chain(n.managed)
                .find(is_tap)
                .map(|l| (ns, l))
        })
    }

    /// Where `t0` wants the TAP, if it is desired and its namespace is there.
    fn tap_wanted(&self) -> Option<(Netns, &nsagent_core::Interface)> {
        match self.desired.get(&t0()) {
            Some(Item::Interface(i)) => self.available(&i.namespace).map(|ns| (ns, i)),
            _ => None,
        }
    }

    /// Where `t0`, desired and not applied, may look for its TAP: its place and home.
    pub(super) fn tap_sought(&self) -> Vec<Netns> {
        if self.core.status(&t0()) == Some(nsagent_core::ItemState::Applied) {
            return Vec::new();
        }
        match self.tap_wanted() {
            Some((ns, _)) => vec![Netns::Default, ns],
            None if self.desired.contains_key(&t0()) => vec![Netns::Default],
            None => Vec::new(),
        }
    }

    /// At a restart that loses the agent's state: how much of the TAP the agent can still know.
    pub(super) fn forget_tap(&mut self) {
        let Some((ns, tap)) = self.tap_now() else {
            return;
        };
        let at_home = ns == Netns::Default && tap.name == TAP_HOME;
        let wanted_here = self
            .tap_wanted()
            .is_some_and(|(wns, i)| *self.kernel.real(&wns) == ns && i.host_if_name == tap.name);
        let pristine = at_home
            && !tap.up
            && tap.mtu == TAP_MTU
            && tap.mac == TAP_MAC
            && tap.addresses.is_empty();
        self.tap_known = match self.tap_known {
            TapKnown::Nothing => TapKnown::Nothing,
            _ if !at_home && !wanted_here => TapKnown::Nothing,
            _ if !pristine => TapKnown::Place,
            known => known,
        };
    }

    /// The TAP, if it is there, is where `t0` wants it with what `t0` sets, or at home as VPP
    /// made it.
    pub(super) fn check_tap(&self) -> Result<(), Violation> {
        if !self.on(Feature::Tap) || self.tap_known == TapKnown::Nothing {
            return Ok(());
        }
        let dump = self.kernel.dump();
        let taps: Vec<(&Netns, &LinkDump)> = dump
            .namespaces
            .iter()
            .flat_map(|n| {
                n.unmanaged
                    .iter()
                    .chain(&n.managed)
                    .map(move |l| (&n.ns, l))
            })
            .filter(|(_, l)| is_tap(l))
            .collect();
        let [(ns, tap)] = taps.as_slice() else {
            if taps.is_empty() {
                return Ok(());
            }
            return Err(self.violation(format!("VPP's TAP is in the kernel twice: {taps:?}")));
        };
        let wanted = self.tap_wanted();
        let (place, problems) = match &wanted {
            Some((wns, i)) => (
                (self.kernel.real(wns).clone(), i.host_if_name.clone()),
                self.tap_differences(tap, Some(i)),
            ),
            None => (
                (Netns::Default, TAP_HOME.to_string()),
                self.tap_differences(tap, None),
            ),
        };
        if (*ns, &tap.name) != (&place.0, &place.1) {
            return Err(self.violation(format!(
                "VPP's TAP is {} in {ns}, should be {} in {} ({}); core: {:?}",
                tap.name,
                place.1,
                place.0,
                if wanted.is_some() {
                    "t0 holds it"
                } else {
                    "no t0 holds it"
                },
                self.core.explain(&t0())
            )));
        }
        if self.tap_known == TapKnown::Fully && !problems.is_empty() {
            return Err(self.violation(format!(
                "VPP's TAP {} in {ns}: {}; core: {:?}",
                tap.name,
                problems.join(", "),
                self.core.explain(&t0())
            )));
        }
        Ok(())
    }

    /// What of the TAP differs from what `t0` sets on it (`Some`), or from what VPP made.
    fn tap_differences(
        &self,
        tap: &LinkDump,
        held: Option<&nsagent_core::Interface>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut differs = |what: &str, got: String, want: String| {
            if got != want {
                problems.push(format!("{what} {got}, should be {want}"));
            }
        };
        let got: BTreeSet<IpNet> = tap.addresses.iter().copied().collect();
        match held {
            Some(i) => {
                if let Some(up) = i.enabled {
                    differs("up", tap.up.to_string(), up.to_string());
                }
                if let Some(mtu) = i.mtu {
                    differs("mtu", tap.mtu.to_string(), mtu.to_string());
                }
                if let Some(mac) = i.phys_address {
                    differs("mac", tap.mac.to_string(), mac.to_string());
                }
                // VPP gives its TAP no addresses, and a move drops what it has.
                let want: BTreeSet<IpNet> = i.ip_addresses.iter().copied().collect();
                differs("addresses", format!("{got:?}"), format!("{want:?}"));
            }
            None => {
                differs("up", tap.up.to_string(), false.to_string());
                differs("mtu", tap.mtu.to_string(), TAP_MTU.to_string());
                differs("mac", tap.mac.to_string(), TAP_MAC.to_string());
                differs("addresses", format!("{got:?}"), "{}".into());
            }
        }
        problems
    }
}
