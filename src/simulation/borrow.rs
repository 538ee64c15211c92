//! `e0`: an EXISTING item borrowing `u0` or `eth9`, links someone else made in the default
//! namespace before the agent started. Whenever it is quiet, the link `e0` holds has what
//! `e0` sets and, for everything `e0` does not set, what the link had before; every other of
//! the two (e0 deleted, or moved to the other) is exactly as it was, addresses included.
//!
//! "As it was" is what the agent can know: after a restart that lost its state, what the
//! link holds then is the new original, as it is for the agent; the addresses the agent had
//! added may stay or go from then on.

use std::collections::BTreeSet;

use ipnet::IpNet;
use nsagent_core::{Item, ItemKey, Netns};
use serde_json::json;

use super::swarm::Feature;
use super::{Violation, World};

/// The links `e0` may borrow, all in the default namespace.
const BORROWABLE: [&str; 2] = ["u0", "eth9"];

fn e0() -> ItemKey {
    ItemKey::Interface("e0".into())
}

impl World {
    /// Whether the link is one `e0` may borrow in this run: then it is checked here, not with
    /// the links the agent must never touch.
    pub(super) fn borrowable(&self, ns: &Netns, name: &str) -> bool {
        self.on(Feature::Borrow) && *ns == Netns::Default && BORROWABLE.contains(&name)
    }

    /// Puts `e0` with a random choice of what it sets; `enabled` absent as often as not.
    pub(super) fn put_existing(&mut self) {
        let link = *self.rng.pick(&BORROWABLE);
        let mut v = json!({"name": "e0", "type": "EXISTING", "host_if_name": link});
        match self.rng.below(4) {
            0 => v["enabled"] = json!(true),
            1 => v["enabled"] = json!(false),
            _ => {}
        }
        if self.rng.chance(50) {
            v["mtu"] = json!(1300);
        }
        if self.rng.chance(15) {
            v["phys_address"] = json!("02:00:00:00:e0:01");
        }
        let mut addrs = Vec::new();
        for a in ["10.249.1.1/24", "10.249.2.1/24"] {
            if self.rng.chance(50) {
                addrs.push(a);
            }
        }
        v["ip_addresses"] = json!(addrs);
        self.put(e0(), v);
    }

    /// The borrowable links as the kernel holds them now: their originals.
    pub(super) fn lend_originals(&mut self) {
        let dump = self.kernel.dump();
        self.lent = dump
            .namespaces
            .iter()
            .filter(|n| n.ns == Netns::Default)
            .flat_map(|n| n.unmanaged.iter())
            .filter(|l| BORROWABLE.contains(&l.name.as_str()))
            .map(|l| {
                let mut l = l.clone();
                l.kernel_addresses.clear();
                (l.name.clone(), l)
            })
            .collect();
    }

    /// A restart lost the agent's state, and with it what it changed: the attributes the
    /// links have now are all it can give back. Of their addresses, those the agent added and
    /// `e0` does not ask for now may be taken for someone else's and stay, or, once `e0`
    /// asks for them again, for its own: either is right from then on.
    pub(super) fn forget_loans(&mut self) {
        let originals = std::mem::take(&mut self.lent);
        self.lend_originals();
        for (name, l) in self.lent.iter_mut() {
            let Some(was) = originals.get(name) else {
                continue;
            };
            let mut unsure = was.kernel_addresses.clone();
            unsure.extend(l.addresses.iter().filter(|a| !was.addresses.contains(a)));
            unsure.sort();
            unsure.dedup();
            // `kernel_addresses` of the copy carries the addresses of unsure ownership.
            l.addresses = was.addresses.clone();
            l.kernel_addresses = unsure;
        }
    }

    /// The link `e0` holds has what it sets and its originals elsewhere; the other is as it was.
    /// The originals' `kernel_addresses` are the addresses of unsure ownership (`forget_loans`),
    /// which may be there or not.
    pub(super) fn check_borrowed(&self) -> Result<(), Violation> {
        if !self.on(Feature::Borrow) {
            return Ok(());
        }
        let wanted = match self.desired.get(&e0()) {
            Some(Item::Interface(i)) => Some(i),
            _ => None,
        };
        let dump = self.kernel.dump();
        for (name, was) in &self.lent {
            let Some(now) = dump
                .namespaces
                .iter()
                .filter(|n| n.ns == Netns::Default)
                .flat_map(|n| n.unmanaged.iter())
                .find(|l| &l.name == name)
            else {
                return Err(self.violation(format!("borrowable link {name} is gone")));
            };
            let held = wanted.filter(|i| i.host_if_name == *name);
            let mut addrs: BTreeSet<IpNet> = was.addresses.iter().copied().collect();
            let want = match held {
                Some(i) => {
                    addrs.extend(i.ip_addresses.iter().copied());
                    (
                        i.enabled.unwrap_or(was.up),
                        i.mtu.unwrap_or(was.mtu),
                        i.phys_address.unwrap_or(was.mac),
                        addrs,
                    )
                }
                None => (was.up, was.mtu, was.mac, addrs),
            };
            let unsure: BTreeSet<IpNet> = was.kernel_addresses.iter().copied().collect();
            let got = (
                now.up,
                now.mtu,
                now.mac,
                now.addresses
                    .iter()
                    .copied()
                    .filter(|a| want.3.contains(a) || !unsure.contains(a))
                    .collect::<BTreeSet<IpNet>>(),
            );
            if got != want {
                let explained = self.core.explain(&e0());
                return Err(self.violation(format!(
                    "borrowable link {name} is (up, mtu, mac, addresses) {got:?}, should be {want:?} \
                     (e0 {}); core: {explained:?}",
                    if held.is_some() { "holds it" } else { "does not hold it" }
                )));
            }
        }
        Ok(())
    }
}
