//! The invariants checked during a run: every command's dependencies hold when it is issued;
//! the simulated kernel stays a kernel (veth ends in pairs); links the agent does not manage
//! are never touched; whenever the core is quiet, and after the liveness phase, the kernel's
//! managed state is what the oracle calls for.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use nsagent_core::Backend;
use nsagent_core::{
    Command, Event, Interface, InterfaceType, Item, ItemKey, Netns, NewLink, Op, RouteSpec,
};

use super::oracle::{found_links, Expected, ExpectedLink, LinkKey};
use super::{Violation, World};

impl World {
    /// Desired interfaces whose link is called `host` in `ns`: those that want that name (in
    /// whatever namespace), and the one whose alias the link carries (a rename may still be
    /// to come).
    fn interfaces_named(&self, ns: &Netns, host: &str) -> Vec<Interface> {
        let owner = self
            .kernel
            .link(ns, host)
            .and_then(|l| l.alias)
            .and_then(|a| super::marked_item(Some(&a)).map(String::from));
        self.desired
            .values()
            .filter_map(|item| match item {
                Item::Interface(i) if i.host_if_name == host || owner.as_ref() == Some(&i.name) => {
                    Some(i.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The desired route item of `interface` a kernel route is: the one naming its table, or
    /// the one naming none.
    fn route_item(&self, route: &RouteSpec, interface: &str) -> Option<&nsagent_core::Route> {
        let key = |table| ItemKey::Route {
            dst: route.dst,
            interface: interface.to_string(),
            table,
        };
        match self
            .desired
            .get(&key(Some(route.table.unwrap_or(254))))
            .or_else(|| self.desired.get(&key(None)))
        {
            Some(Item::Route(r)) => Some(r),
            _ => None,
        }
    }

    /// Why a route command for interface `i` is not justified, if it is not.
    fn route_justified(&self, ns: &Netns, route: &RouteSpec, i: &Interface) -> Result<(), String> {
        let Some(r) = self.route_item(route, &i.name) else {
            return Err(format!(
                "{} is not desired",
                ItemKey::Route {
                    dst: route.dst,
                    interface: i.name.clone(),
                    table: None
                }
            ));
        };
        if !i.enabled.unwrap_or(false) {
            return Err(format!("interface {} is disabled", i.name));
        }
        let addrs = if i.link_only {
            let dump = self.kernel.dump();
            dump.link(ns, &route.dev)
                .map(|l| l.addresses.clone())
                .unwrap_or_default()
        } else {
            i.ip_addresses.clone()
        };
        // A link-only interface's addresses are read from the kernel, which may have lost the
        // link to a vanish nobody has announced yet: the core cannot know.
        let knowable = !i.link_only || (self.unannounced.is_empty() && !self.drift_pending());
        if let (Some(gw), true) = (r.gw_addr, knowable) {
            if !addrs.iter().any(|a| a.contains(&gw)) {
                return Err(format!("gateway {gw} is outside the subnets of {}", i.name));
            }
        }
        Ok(())
    }

    /// Why a multipath route command is not justified, if it is not: a route item of one of
    /// its paths' interfaces wants it, and every path's interface is enabled with the path's
    /// gateway in one of its subnets.
    fn multipath_justified(&self, ns: &Netns, route: &RouteSpec) -> Result<(), String> {
        let mut why = format!("no route item wants {}", route.dst);
        for dev in route.devs() {
            for i in self.interfaces_named(ns, dev) {
                let Some(r) = self.route_item(route, &i.name) else {
                    continue;
                };
                match self.paths_hold(r) {
                    Ok(()) => return Ok(()),
                    Err(e) => why = e,
                }
            }
        }
        Err(why)
    }

    /// Every path of a multipath route item: its interface enabled, its gateway in one of the
    /// interface's subnets (link-only interfaces left to the kernel's word, as for one path).
    fn paths_hold(&self, r: &nsagent_core::Route) -> Result<(), String> {
        for h in &r.next_hops {
            let Some(Item::Interface(i)) = self
                .desired
                .get(&ItemKey::Interface(h.outgoing_interface.clone()))
            else {
                return Err(format!("interface {} is not desired", h.outgoing_interface));
            };
            if !i.enabled.unwrap_or(false) {
                return Err(format!("interface {} is disabled", i.name));
            }
            if let (Some(gw), false) = (h.gw_addr, i.link_only) {
                if !i.ip_addresses.iter().any(|a| a.contains(&gw)) {
                    return Err(format!("gateway {gw} is outside the subnets of {}", i.name));
                }
            }
        }
        Ok(())
    }

    /// The harness's own reading of "no command for an item whose dependencies do not hold".
    pub(super) fn check_dependencies(&self, c: &Command) -> Result<(), Violation> {
        let iface = |name: &str| match self.desired.get(&ItemKey::Interface(name.to_string())) {
            Some(Item::Interface(i)) => Some(i.clone()),
            _ => None,
        };
        let fail = |why: String| {
            Err(self.violation(format!(
                "command {} ({}) issued although {why}",
                c.id.0, c.op
            )))
        };
        match &c.op {
            Op::CreateLink { link, kind, .. } => {
                let Some(me) = super::marked_item(link.alias.as_deref()).and_then(iface) else {
                    return fail("no interface item wants it".into());
                };
                if let NewLink::Veth { peer, .. } = kind {
                    let other = super::marked_item(peer.alias.as_deref()).and_then(iface);
                    let paired = other.as_ref().is_some_and(|o| {
                        o.kind == InterfaceType::Veth
                            && o.veth_peer.as_deref() == Some(me.name.as_str())
                            && me.veth_peer.as_deref() == Some(o.name.as_str())
                    });
                    if !paired {
                        return fail("the two veth ends do not both want this pair".into());
                    }
                }
                // A MACVLAN is made only on its parent item's link, where that item wants it.
                if let NewLink::Macvlan {
                    parent_ns, parent, ..
                } = kind
                {
                    let wanted = me.macvlan_parent().and_then(iface);
                    // A parent's namespace gone without the core being told yet is still
                    // there as far as it can know.
                    let on_it = wanted.as_ref().is_some_and(|p| {
                        p.host_if_name == *parent
                            && (self.available(&p.namespace).as_ref() == Some(parent_ns)
                                || self.is_unannounced(parent_ns))
                    });
                    if !on_it {
                        return fail(format!(
                            "{parent} in {parent_ns} is not the link of {}'s parent item",
                            me.name
                        ));
                    }
                }
                // A VXLAN is made on its underlay item's link, where that item wants it, or on
                // none if it names none.
                if let NewLink::Vxlan { underlay, .. } = kind {
                    let wanted = me
                        .vxlan
                        .as_ref()
                        .and_then(|v| v.underlay.as_deref())
                        .map(iface);
                    let fits = match (underlay, wanted) {
                        (None, None) => true,
                        (Some((uns, u)), Some(Some(p))) => {
                            p.host_if_name == *u
                                && (self.available(&p.namespace).as_ref() == Some(uns)
                                    || self.is_unannounced(uns))
                        }
                        _ => false,
                    };
                    if !fits {
                        return fail(format!(
                            "{underlay:?} is not the link of {}'s underlay item",
                            me.name
                        ));
                    }
                }
            }
            // A route or neighbour names its link by host name, which any interface item may
            // have chosen: the command is fine if one item of that host name justifies it.
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route }
                if !route.hops.is_empty() =>
            {
                if let Err(why) = self.multipath_justified(ns, route) {
                    return fail(why);
                }
            }
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route } => {
                let mut why = format!("no interface item has a link named {}", route.dev);
                for i in self.interfaces_named(ns, &route.dev) {
                    match self.route_justified(ns, route, &i) {
                        Ok(()) => return Ok(()),
                        Err(e) => why = e,
                    }
                }
                return fail(why);
            }
            Op::SetNeighbour { ns, link, ip, .. } => {
                let mut why = format!("no interface item has a link named {link}");
                for i in self.interfaces_named(ns, link) {
                    let key = ItemKey::Arp {
                        interface: i.name.clone(),
                        ip: *ip,
                    };
                    if !self.desired.contains_key(&key) {
                        why = format!("{key} is not desired");
                    } else if !i.enabled.unwrap_or(false) {
                        why = format!("interface {} is disabled", i.name);
                    } else {
                        return Ok(());
                    }
                }
                return fail(why);
            }
            // An FDB entry goes only on an enabled VXLAN whose item wants it.
            Op::AddFdb {
                ns,
                link,
                mac,
                remote,
            } => {
                let mut why = format!("no interface item has a link named {link}");
                for i in self.interfaces_named(ns, link) {
                    let key = ItemKey::Fdb {
                        interface: i.name.clone(),
                        mac: *mac,
                        remote: *remote,
                    };
                    if !self.desired.contains_key(&key) {
                        why = format!("{key} is not desired");
                    } else if i.kind != InterfaceType::Vxlan {
                        why = format!("interface {} is not a VXLAN", i.name);
                    } else if !i.enabled.unwrap_or(false) {
                        why = format!("interface {} is disabled", i.name);
                    } else {
                        return Ok(());
                    }
                }
                return fail(why);
            }
            // Permanent neighbours someone else made on the agent's links are theirs.
            Op::DelNeighbour { ns, link, ip } => {
                let foreign = self
                    .kernel
                    .link(ns, link)
                    .is_some_and(|l| l.foreign_neighbours.iter().any(|(n, _, _)| n == ip));
                if foreign {
                    return fail(format!("the neighbour {ip} on {link} was made by hand"));
                }
            }
            Op::AddAddress { link, addr, .. } => {
                // The link is named by its host name; `lo` belongs to `l0`.
                let wanted = self.desired.values().any(|item| {
                    matches!(item, Item::Interface(i)
                        if i.host_if_name == *link && i.ip_addresses.contains(addr) && !i.link_only)
                });
                if !wanted {
                    return fail(format!("no interface named {link} wants {addr}"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The invariants of every step; the convergence check only when the core is quiet.
    pub(super) fn check_step(&mut self) -> Result<(), Violation> {
        // The in-memory kernel itself must stay a kernel: veth ends come in pairs.
        let dump = self.kernel.dump();
        for n in &dump.namespaces {
            for l in n.managed.iter().chain(n.unmanaged.iter()) {
                if let Some((pns, pname)) = &l.peer {
                    let back = dump.link(pns, pname).and_then(|p| p.peer.clone());
                    if back != Some((n.ns.clone(), l.name.clone())) {
                        return Err(self.violation(format!(
                            "the simulated kernel lost a veth pairing: {} in {} names {pname} in {pns}, which names {back:?}",
                            l.name, n.ns
                        )));
                    }
                }
            }
        }
        let changed = self.ifindexes.check(&dump);
        if !changed.is_empty() {
            return Err(self.violation(format!(
                "a link's ifindex changed where it should not:\n  {}",
                changed.join("\n  ")
            )));
        }
        let now = self.unmanaged_now();
        if now != self.unmanaged {
            return Err(self.violation(format!(
                "unmanaged links changed:\nexpected {:?}\nfound    {:?}",
                self.unmanaged, now
            )));
        }
        let quiet = self.core.poll_timeout().is_none()
            && self.held.is_empty()
            && self.unannounced.is_empty()
            && self.kernel.pending_faults() == 0
            && !self.drift_pending();
        if quiet {
            self.check_converged()?;
            self.check_chains()?;
            self.check_policy_rules()?;
            self.check_applied_held()?;
        }
        Ok(())
    }

    /// Faults off, announcements made, timers run out: every retry must end, and the
    /// kernel converge.
    pub(super) fn liveness(&mut self) -> Result<(), Violation> {
        self.settling = true;
        self.kernel.clear_faults();
        let due: Vec<Netns> = self.unannounced.iter().map(|(n, _)| n.clone()).collect();
        for ns in due {
            self.announce(ns);
        }
        self.notify_all_drift()?;
        self.pump()?;
        for _ in 0..100 {
            let Some(at) = self.core.poll_timeout() else {
                break;
            };
            self.now = self.now.max(at.0);
            self.feed(Event::TimerFired);
            self.pump()?;
        }
        if let Some(at) = self.core.poll_timeout() {
            return Err(self.violation(format!(
                "still retrying after the liveness phase (next at {} ms)",
                at.0
            )));
        }
        self.check_step()?;
        self.check_converged()?;
        if self.rules_left_beside_items() {
            // A rule the agent left before it lost its state, at an item's place, goes at
            // the agent's next look and not before (`policy_rules.rs`): that look is the
            // last change.
            let wanted = self.core.namespaces_to_observe();
            let snapshot = self
                .kernel
                .observe(&wanted)
                .map_err(|e| self.violation(format!("observe failed: {e}")))?;
            self.feed(Event::Observed(snapshot));
            self.pump()?;
            if self.rules_left_beside_items() {
                return Err(self.violation("a look left rules beside an item's at its place"));
            }
            self.check_converged()?;
        }
        self.check_observing_changes_nothing()
    }

    /// Converged means at rest: observing every namespace the core watches (aliases of one
    /// namespace among them) issues nothing, so no link is deleted and made again for ever.
    fn check_observing_changes_nothing(&mut self) -> Result<(), Violation> {
        let before = self.commands;
        let wanted = self.core.namespaces_to_observe();
        for _ in 0..2 {
            let snapshot = self
                .kernel
                .observe(&wanted)
                .map_err(|e| self.violation(format!("observe failed: {e}")))?;
            self.feed(Event::Observed(snapshot));
            self.pump()?;
        }
        if self.commands != before {
            return Err(self.violation(format!(
                "observing the converged kernel ({wanted:?}) made the core issue {} command(s)",
                self.commands - before
            )));
        }
        Ok(())
    }

    /// Where the kernel should be, by the oracle, and where it is.
    fn check_converged(&mut self) -> Result<(), Violation> {
        self.convergence_checks += 1;
        self.check_loopbacks()?;
        self.check_borrowed()?;
        self.check_tap()?;
        let found = found_links(&self.kernel.dump());
        let expected = self.oracle(&found);
        let problems = differences(&expected, &found);
        if problems.is_empty() {
            Ok(())
        } else {
            let statuses: Vec<String> = self
                .core
                .statuses()
                .iter()
                .map(|(k, s)| format!("{k}: {s}"))
                .collect();
            Err(self.violation(format!(
                "the kernel does not match the desired state:\n  {}\ncore says:\n  {}",
                problems.join("\n  "),
                statuses.join("\n  ")
            )))
        }
    }

    /// The `lo` that `l0` wants is up as asked and holds exactly its addresses; every other
    /// `lo` holds none that a request added (the agent takes back what it added when `l0`
    /// moves away, and adds nothing elsewhere).
    fn check_loopbacks(&self) -> Result<(), Violation> {
        let wanted = match self.desired.get(&ItemKey::Interface("l0".into())) {
            Some(Item::Interface(i)) => self.available(&i.namespace).map(|ns| (ns, i.clone())),
            _ => None,
        };
        for n in self.kernel.dump().namespaces {
            let Some(lo) = n.unmanaged.iter().find(|l| l.name == "lo") else {
                continue;
            };
            let foreign = self.foreign_lo.get(&n.ns).cloned().unwrap_or_default();
            let all: BTreeSet<IpNet> = lo.addresses.iter().copied().collect();
            match &wanted {
                Some((ns, i)) if *ns == n.ns => {
                    let want: BTreeSet<IpNet> = i.ip_addresses.iter().copied().collect();
                    // Every wanted address is there (perhaps adopted from before a state loss);
                    // anything else there is someone else's.
                    let got: BTreeSet<IpNet> = all
                        .iter()
                        .copied()
                        .filter(|a| want.contains(a) || !foreign.contains(a))
                        .collect();
                    // Without `enabled` the admin state is whatever it was: not the agent's.
                    if i.enabled.is_some_and(|e| lo.up != e) || got != want {
                        let explained = self.core.explain(&ItemKey::Interface("l0".into()));
                        return Err(self.violation(format!(
                            "lo in {} is {} with {got:?}; l0 wants it {} with {want:?}; core: {explained:?}",
                            n.ns,
                            if lo.up { "up" } else { "down" },
                            match i.enabled {
                                Some(true) => "up",
                                Some(false) => "down",
                                None => "as it is",
                            }
                        )));
                    }
                }
                _ if !all.is_subset(&foreign) => {
                    return Err(self.violation(format!(
                        "lo in {} keeps addresses {all:?} no item wants",
                        n.ns
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// How the kernel's managed links differ from the oracle's, one line per link.
fn differences(
    expected: &BTreeMap<LinkKey, Expected>,
    found: &BTreeMap<LinkKey, ExpectedLink>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, want) in expected {
        match found.get(key) {
            None if want.may_be_absent => {}
            None => problems.push(format!(
                "missing link {} in {}: want one of {:?}",
                key.1, key.0, want.candidates
            )),
            Some(got) => {
                let normalized: Vec<ExpectedLink> = want
                    .candidates
                    .iter()
                    .map(|want| normalize(want, got))
                    .collect();
                if !normalized.contains(got) {
                    problems.push(format!(
                        "link {} in {} differs:\n    want one of {normalized:?}\n    got  {got:?}",
                        key.1, key.0
                    ));
                }
            }
        }
    }
    for key in found.keys() {
        if !expected.contains_key(key) {
            problems.push(format!("unexpected managed link {} in {}", key.1, key.0));
        }
    }
    problems
}

/// Attributes the configuration leaves open are whatever the kernel has.
fn normalize(want: &ExpectedLink, got: &ExpectedLink) -> ExpectedLink {
    let mut want_cmp = want.clone();
    if want.mtu.is_none() {
        want_cmp.mtu = got.mtu;
    }
    if want.mac.is_none() {
        want_cmp.mac = got.mac;
    }
    let (rx, tx) = want.checksum_offload;
    want_cmp.checksum_offload = (rx.or(got.checksum_offload.0), tx.or(got.checksum_offload.1));
    if want.addresses_unmanaged {
        want_cmp.addresses = got.addresses.clone();
        want_cmp.addresses_unmanaged = false;
    }
    want_cmp
}
