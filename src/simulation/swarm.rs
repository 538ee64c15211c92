//! Swarm testing: each seed draws which fault kinds and workload features are on, so that a run
//! is not always the same blend of everything. With every feature on, the common ones (puts,
//! time passing) drown the rare ones and some combinations (routes without restarts, renames
//! with only ENOBUFS faults) hardly ever happen; with a different subset per seed, each
//! combination is the whole of some runs.
//!
//! The draw has its own random stream (from the seed), so it reproduces with the seed and does
//! not shift the workload's draws. A feature that is off never happens: a step rolled for it is
//! rolled again, and an attribute drawn for it keeps its plain value.

use std::fmt;

use super::rng::Rng;

/// One thing a run may do or leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    /// Transient errnos injected into the next few kernel operations, one feature per errno.
    ErrnoEbusy,
    ErrnoEnobufs,
    ErrnoEagain,
    ErrnoEnomem,
    /// Namespaces that vanish before the watcher says so.
    SilentVanishes,
    /// Command results that stay on their way while the world moves on.
    HeldResults,
    /// The kernel observed again while results are held.
    Reobserves,
    RestartsFromSnapshot,
    RestartsWithStateLost,
    Routes,
    Arp,
    /// Deletions of interfaces, routes and ARP entries.
    Deletes,
    /// `l0`, the borrowed `lo` of a named namespace.
    Loopback,
    /// Interfaces placed in named namespaces.
    NamedNamespaces,
    /// Named namespaces removed by someone else.
    NamedVanishes,
    /// Interfaces in process namespaces, which appear and vanish.
    ProcessNamespaces,
    /// Interfaces in microservices' namespaces, which start, stop and restart.
    Microservices,
    /// Host names other than the item's name: renames in place and contested names.
    Renames,
    /// Veth ends whose peer is not their partner.
    OddPeers,
    LinkOnly,
    Mtu,
    Mac,
    Ipv6,
    /// Interfaces put disabled.
    Disabled,
    /// Pids living in the default or a named namespace: one namespace under two references.
    Aliases,
    /// `e0`, an EXISTING item borrowing `u0` or `eth9`, links someone else made.
    Borrow,
    /// Rule chains (iptables), `chains.rs`.
    Chains,
    /// Veths with checksum offloading set (`veth.rx/tx_checksum_offloading`).
    Offload,
    /// `r0`, a VRF_DEVICE, and interfaces enslaved to it (`vrf_master_interface`).
    Vrf,
    /// `t0`, a TAP_TO_VPP item, and the TAP `vpp0` that "VPP" makes and removes (`tap.rs`).
    Tap,
    /// `b0`, a BRIDGE whose settings change now and then, interfaces that are its ports
    /// (`bridge_master_interface`), and neighbours on it.
    Bridge,
    /// `p0`, a TAP the agent makes (type TAP), whose settings change now and then (re-making
    /// it), sometimes a port of `b0`.
    PlainTap,
    /// `m0`, a MACVLAN on one of the veths, dummies, `b0` or `p0`, in any mode, parent and
    /// mode changing now and then (re-making it), sometimes a port or a VRF member itself.
    Macvlan,
    /// `x0`, a VXLAN on one of the veths, dummies, `b0`, `m0` or none, its VNI, remote and
    /// underlay changing now and then (re-making it), sometimes a port or a VRF member, and
    /// FDB items on it (and now and then on a link that is no VXLAN).
    Vxlan,
    /// Routes in a table of their own (200 or 201, never a VRF's) and with a path MTU.
    RouteTables,
    /// `pr0`..`pr2`, policy rules contesting three priorities (`policy_rules.rs`).
    PolicyRules,
    /// Multipath routes: a route's gateway and a second path through another veth end or
    /// dummy (maybe in another namespace, maybe with its gateway outside its subnets), with
    /// weights that change now and then.
    Ecmp,
}

impl Feature {
    pub const ALL: [Feature; 37] = [
        Feature::ErrnoEbusy,
        Feature::ErrnoEnobufs,
        Feature::ErrnoEagain,
        Feature::ErrnoEnomem,
        Feature::SilentVanishes,
        Feature::HeldResults,
        Feature::Reobserves,
        Feature::RestartsFromSnapshot,
        Feature::RestartsWithStateLost,
        Feature::Routes,
        Feature::Arp,
        Feature::Deletes,
        Feature::Loopback,
        Feature::NamedNamespaces,
        Feature::NamedVanishes,
        Feature::ProcessNamespaces,
        Feature::Microservices,
        Feature::Renames,
        Feature::OddPeers,
        Feature::LinkOnly,
        Feature::Mtu,
        Feature::Mac,
        Feature::Ipv6,
        Feature::Disabled,
        Feature::Aliases,
        Feature::Borrow,
        Feature::Chains,
        Feature::Offload,
        Feature::Vrf,
        Feature::Tap,
        Feature::Bridge,
        Feature::PlainTap,
        Feature::Macvlan,
        Feature::Vxlan,
        Feature::RouteTables,
        Feature::PolicyRules,
        Feature::Ecmp,
    ];

    /// The feature's name in reports and in a printed recording.
    pub fn name(self) -> &'static str {
        match self {
            Feature::ErrnoEbusy => "errno-ebusy",
            Feature::ErrnoEnobufs => "errno-enobufs",
            Feature::ErrnoEagain => "errno-eagain",
            Feature::ErrnoEnomem => "errno-enomem",
            Feature::SilentVanishes => "silent-vanishes",
            Feature::HeldResults => "held-results",
            Feature::Reobserves => "reobserves",
            Feature::RestartsFromSnapshot => "restarts-from-snapshot",
            Feature::RestartsWithStateLost => "restarts-with-state-lost",
            Feature::Routes => "routes",
            Feature::Arp => "arp",
            Feature::Deletes => "deletes",
            Feature::Loopback => "loopback",
            Feature::NamedNamespaces => "named-namespaces",
            Feature::NamedVanishes => "named-vanishes",
            Feature::ProcessNamespaces => "process-namespaces",
            Feature::Microservices => "microservices",
            Feature::Renames => "renames",
            Feature::OddPeers => "odd-peers",
            Feature::LinkOnly => "link-only",
            Feature::Mtu => "mtu",
            Feature::Mac => "mac",
            Feature::Ipv6 => "ipv6",
            Feature::Disabled => "disabled",
            Feature::Aliases => "aliases",
            Feature::Borrow => "borrow",
            Feature::Chains => "chains",
            Feature::Offload => "offload",
            Feature::Vrf => "vrf",
            Feature::Tap => "tap",
            Feature::Bridge => "bridge",
            Feature::PlainTap => "plain-tap",
            Feature::Macvlan => "macvlan",
            Feature::Vxlan => "vxlan",
            Feature::RouteTables => "route-tables",
            Feature::PolicyRules => "policy-rules",
            Feature::Ecmp => "ecmp",
        }
    }

    fn bit(self) -> u64 {
        1 << (self as u64)
    }
}

/// The features a run has on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Features(u64);

impl Features {
    /// The chance, in percent, that a seed turns a feature on.
    pub const CHANCE: u64 = 50;

    /// Everything on: the run before swarm testing, and `SIM_SWARM=0`.
    pub fn all() -> Features {
        Features::from_list(&Feature::ALL)
    }

    /// Exactly these on.
    pub fn from_list(on: &[Feature]) -> Features {
        Features(on.iter().fold(0, |bits, f| bits | f.bit()))
    }

    /// The seed's draw: each feature on with [`Features::CHANCE`], from a stream of its own.
    pub fn draw(seed: u64) -> Features {
        let mut rng = Rng(seed ^ 0x5a4a_4d5f_5357_4152);
        let on: Vec<Feature> = Feature::ALL
            .into_iter()
            .filter(|_| rng.chance(Features::CHANCE))
            .collect();
        Features::from_list(&on)
    }

    pub fn on(self, feature: Feature) -> bool {
        self.0 & feature.bit() != 0
    }

    /// The features on, in their order.
    pub fn list(self) -> Vec<Feature> {
        Feature::ALL.into_iter().filter(|f| self.on(*f)).collect()
    }
}

/// `on: a, b; off: c`, as a failure prints it.
impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |on: bool| -> String {
            let names: Vec<&str> = Feature::ALL
                .into_iter()
                .filter(|x| self.on(*x) == on)
                .map(Feature::name)
                .collect();
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        };
        write!(f, "on: {}; off: {}", names(true), names(false))
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_is_the_seeds_and_varies_between_seeds() {
        assert_eq!(Features::draw(7), Features::draw(7));
        let draws: std::collections::BTreeSet<u64> =
            (1..=50).map(|s| Features::draw(s).0).collect();
        assert!(draws.len() > 40, "only {} distinct draws", draws.len());
    }

    #[test]
    fn over_many_seeds_every_feature_is_both_on_and_off() {
        for f in Feature::ALL {
            let on = (1..=200).filter(|s| Features::draw(*s).on(f)).count();
            assert!(
                (50..=150).contains(&on),
                "{} on in {on} of 200 seeds",
                f.name()
            );
        }
    }

    #[test]
    fn display_lists_what_is_on_and_off() {
        let f = Features::from_list(&[Feature::Routes, Feature::Arp]);
        let shown = f.to_string();
        assert!(
            shown.starts_with("on: routes, arp; off: errno-ebusy,"),
            "{shown}"
        );
        assert_eq!(Features::all().list().len(), Feature::ALL.len());
        assert!(Features::all().to_string().ends_with("; off: none"));
        assert!(Features::from_list(&[])
            .to_string()
            .starts_with("on: none; off: errno-ebusy"));
    }
}
