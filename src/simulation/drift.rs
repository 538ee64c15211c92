//! External drift: someone changes the agent's objects behind its back — removes a route, a
//! neighbour or an address, changes a link's MTU, checksum offloading or admin state, or adds a permanent
//! neighbour of their own on one of its links (never the agent's to remove), or, as a DHCP
//! client would, puts on a `link_only` interface's link an address its item lists — and the change
//! notification reaches the core a step or two later, either as the watcher's new look at the
//! namespace or as an operator's `nsagentctl resync --ns` (`Event::ResyncRequested`, answered
//! through `Core::poll_resync`). Until the notification the core cannot know, so the
//! convergence and honesty checks wait for it (`drift_pending`); once it is delivered, the
//! kernel must converge again and no item the kernel does not hold may be reported applied.
//!
//! A notification is delivered only while no command result is in transit: the core leaves
//! the objects of items with a command in flight alone when it reads a snapshot (it may
//! predate the result), so a change to one of them is not seen by that snapshot. On a real
//! host the next notification or the periodic resync catches it; here the notification waits.
//!
//! Its draws come from a stream of their own, so that the workload's draws stay the same.

use nsagent_core::ROUTE_PROTOCOL;
use nsagent_core::{Backend, Event, Item, ItemKey, ItemState, LinkChange, MacAddr, Netns, Op};

use ipnet::IpNet;

use super::{variant, Violation, World};

/// One change made by hand.
#[derive(Debug, Clone)]
enum Drift {
    /// A change to one of the agent's objects, as a person's `ip` command would make it.
    Kernel(Op),
    /// A permanent neighbour of their own on one of the agent's links (no protocol).
    HandNeighbour {
        ns: Netns,
        link: String,
        ip: std::net::IpAddr,
        mac: MacAddr,
    },
}

/// Percent of steps at which something drifts.
const DRIFT_CHANCE: u64 = 6;

impl World {
    /// Whether a drift has not been told to the core yet.
    pub(super) fn drift_pending(&self) -> bool {
        !self.drifted.is_empty()
    }

    /// Now and then, changes one managed object by hand. Only while no result is in transit:
    /// a change racing a command on the same object is found by the periodic resync on a
    /// real host, which the simulation does not run.
    pub(super) fn maybe_drift(&mut self) {
        if !self.faults || !self.held.is_empty() || !self.drift_rng.chance(DRIFT_CHANCE) {
            return;
        }
        let choices = self.drift_choices();
        if choices.is_empty() {
            return;
        }
        let op = self.drift_rng.pick(&choices).clone();
        let applied = match &op {
            Drift::Kernel(op) => self.kernel.apply(op).is_ok(),
            Drift::HandNeighbour { ns, link, ip, mac } => {
                self.kernel.seed_neighbour(ns, link, *ip, *mac, 0).is_ok()
            }
        };
        if !applied {
            return;
        }
        let (kind, line, ns) = match &op {
            Drift::Kernel(op) => {
                let line = format!("{op:?}");
                (variant(&line).to_string(), line, op.namespace())
            }
            Drift::HandNeighbour { ns, link, ip, mac } => (
                "hand-made neighbour".to_string(),
                format!("ip neigh add {ip} lladdr {mac} dev {link} nud permanent in {ns}"),
                ns.clone(),
            ),
        };
        self.exercised(format!("drift {kind}"));
        self.trace(format!("{} drift {line}", self.now));
        let steps = 1 + self.drift_rng.below(2) as u32;
        self.drifted.push((ns, steps));
    }

    /// The addresses a `link_only` item placed on this link lists and the link lacks: what a
    /// DHCP client or a CNI plugin would add.
    fn listed_but_missing(&self, ns: &Netns, link: &str, on_link: &[IpNet]) -> Vec<IpNet> {
        let mut missing = Vec::new();
        for item in self.desired.values() {
            let Item::Interface(i) = item else { continue };
            if i.link_only
                && i.host_if_name == link
                && self.available(&i.namespace).as_ref() == Some(ns)
            {
                missing.extend(i.ip_addresses.iter().filter(|a| !on_link.contains(a)));
            }
        }
        missing
    }

    /// What a person could do by hand to the agent's objects right now.
    fn drift_choices(&self) -> Vec<Drift> {
        let mut choices = Vec::new();
        let mut ops = Vec::new();
        for (ns, l) in self.kernel.dump().marked_by(&super::identity()) {
            // An address no ARP item of the workload uses (neighbour tables ignore subnets).
            let octet = l.name.bytes().map(u32::from).sum::<u32>() % 200;
            choices.push(Drift::HandNeighbour {
                ns: ns.clone(),
                link: l.name.clone(),
                ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 254, 0, octet as u8 + 1)),
                mac: MacAddr([0x02, 0xee, 0, 0, 0, octet as u8 + 1]),
            });
            for r in l.routes.iter().filter(|r| r.protocol == ROUTE_PROTOCOL) {
                ops.push(Op::DelRoute {
                    ns: ns.clone(),
                    route: r.route.clone(),
                });
            }
            for (ip, _) in &l.neighbours {
                ops.push(Op::DelNeighbour {
                    ns: ns.clone(),
                    link: l.name.clone(),
                    ip: *ip,
                });
            }
            // Someone else's business on a link-only interface: its listed addresses.
            for addr in self.listed_but_missing(&ns, &l.name, &l.addresses) {
                ops.push(Op::AddAddress {
                    ns: ns.clone(),
                    link: l.name.clone(),
                    addr,
                });
            }
            for addr in &l.addresses {
                ops.push(Op::DelAddress {
                    ns: ns.clone(),
                    link: l.name.clone(),
                    addr: *addr,
                });
            }
            if l.kind == nsagent_core::LinkKind::Veth {
                // `ethtool -K <veth> rx off` (or on).
                ops.push(Op::SetOffload {
                    ns: ns.clone(),
                    name: l.name.clone(),
                    offload: nsagent_core::ChecksumOffload {
                        rx: Some(!l.checksum_offload.0),
                        tx: None,
                    },
                });
            }
            let mtu = if l.mtu == 1500 { 1450 } else { 1500 };
            let changes = [
                LinkChange {
                    mtu: Some(mtu),
                    ..LinkChange::default()
                },
                LinkChange {
                    up: Some(false),
                    ..LinkChange::default()
                },
            ];
            for change in changes {
                if change.up != Some(false) || l.up {
                    ops.push(Op::SetLink {
                        ns: ns.clone(),
                        name: l.name.clone(),
                        change,
                    });
                }
            }
        }
        choices.extend(ops.into_iter().map(Drift::Kernel));
        choices
    }

    /// Delivers the change notifications that are due, and applies what the core makes of
    /// them before the world moves on (as the daemon dispatches a turn's commands at once).
    pub(super) fn notify_drift_due(&mut self) -> Result<(), Violation> {
        if !self.held.is_empty() {
            // A snapshot taken while results are on their way leaves their items alone, and
            // so may miss a change to them; the watcher is late instead, as it may be.
            return Ok(());
        }
        let mut due = Vec::new();
        for (ns, steps) in &mut self.drifted {
            *steps -= 1;
            if *steps == 0 {
                due.push(ns.clone());
            }
        }
        self.drifted.retain(|(_, s)| *s > 0);
        due.sort();
        due.dedup();
        if due.is_empty() {
            return Ok(());
        }
        for ns in due {
            self.notify_drift(ns)?;
        }
        self.pump()
    }

    /// Delivers every notification still on its way (the liveness phase), once every result
    /// is delivered.
    pub(super) fn notify_all_drift(&mut self) -> Result<(), Violation> {
        self.pump()?;
        let mut due: Vec<Netns> = self.drifted.drain(..).map(|(ns, _)| ns).collect();
        due.sort();
        due.dedup();
        for ns in due {
            self.notify_drift(ns)?;
        }
        Ok(())
    }

    /// The core hears of a change in `ns`: the watcher observes it again, or an operator asks
    /// for its resync and the core says what to observe.
    fn notify_drift(&mut self, ns: Netns) -> Result<(), Violation> {
        let mut wanted = vec![ns.clone()];
        if self.drift_rng.chance(50) {
            self.exercised("drift told by a resync request".into());
            self.feed(Event::ResyncRequested {
                ns: Some(ns.clone()),
            });
            let asked = self.core.poll_resync().unwrap_or_default();
            // A TAP_TO_VPP item that lost its TAP looks for it in its place and at home.
            let tap_looks = self.tap_sought();
            if asked.iter().any(|n| *n != ns && !tap_looks.contains(n)) {
                return Err(self.violation(format!(
                    "a resync of {ns} asked for other namespaces too: {asked:?}"
                )));
            }
            if !asked.is_empty() {
                wanted = asked;
            }
        }
        let snapshot = self
            .kernel
            .observe(&wanted)
            .map_err(|e| self.violation(format!("observe failed: {e}")))?;
        self.feed(Event::Observed(snapshot));
        Ok(())
    }

    /// With every change told and every result delivered, an item reported applied is held by
    /// the kernel: its link exists (and is up when enabled), its route or neighbour is there.
    pub(super) fn check_applied_held(&self) -> Result<(), Violation> {
        let dump = self.kernel.dump();
        for (key, state) in self.core.statuses() {
            if state != ItemState::Applied {
                continue;
            }
            if let Some(Item::RuleChain(c)) = self.desired.get(&key) {
                self.check_chain_held(&key, c)?;
                continue;
            }
            if let Some(Item::PolicyRule(r)) = self.desired.get(&key) {
                self.check_rule_held(&key, r)?;
                continue;
            }
            let Some(Item::Interface(i)) = self
                .desired
                .get(&ItemKey::Interface(key.interface().to_string()))
            else {
                continue;
            };
            let Some(link) = self
                .available(&i.namespace)
                .and_then(|ns| dump.link(&ns, &i.host_if_name))
            else {
                return Err(self.violation(format!(
                    "{key} is reported applied, but the link {} of {} is not in the kernel",
                    i.host_if_name, i.name
                )));
            };
            let held = match &key {
                ItemKey::Interface(_) => !i.enabled.unwrap_or(false) || link.up,
                ItemKey::Route { dst, .. } => link
                    .routes
                    .iter()
                    .any(|r| r.route.dst == *dst && r.protocol == ROUTE_PROTOCOL),
                ItemKey::Arp { ip, .. } => link.neighbours.iter().any(|(n, _)| n == ip),
                ItemKey::Fdb { mac, remote, .. } => link.fdb.contains(&(*mac, *remote)),
                ItemKey::RuleChain(_) | ItemKey::PolicyRule(_) => true,
            };
            if !held {
                return Err(self.violation(format!(
                    "{key} is reported applied, but the kernel does not hold it"
                )));
            }
        }
        Ok(())
    }
}
