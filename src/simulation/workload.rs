//! The workload: what the outside world does to the agent at each step — intents put and
//! deleted, named and process namespaces appearing and vanishing, microservices starting,
//! stopping and restarting, time passing. Faults and restarts are drawn from the same roll (so
//! one seed orders everything) but live in `faults.rs`.

use nsagent_core::{Event, Item, ItemKey, Netns};
use serde_json::json;

use super::replay::Action;
use super::swarm::Feature;
use super::{Violation, World};

pub(super) const NAMED: [&str; 3] = ["n0", "n1", "n2"];
pub(super) const PIDS: [u32; 2] = [501, 502];
pub(super) const LABELS: [&str; 2] = ["ms0", "ms1"];
/// Pids of processes in other namespaces: the first in the agent's own (the issue's case: an
/// item under the agent's pid), the second in the first named namespace.
pub(super) const ALIAS_PIDS: [u32; 2] = [601, 602];

/// The namespace the process of alias pid `pid` lives in.
fn alias_home(pid: u32) -> Netns {
    if pid == ALIAS_PIDS[0] {
        Netns::Default
    } else {
        Netns::Named(NAMED[0].to_string())
    }
}
/// Veth items come in partner pairs (v0,v1), (v2,v3), ...; dummies after them.
pub(super) const VETHS: usize = 8;
pub(super) const DUMMIES: usize = 3;
/// The VRF item interfaces may be enslaved to.
pub(super) const VRF: &str = "r0";
/// The bridge item interfaces may be ports of.
pub(super) const BRIDGE: &str = "b0";
/// The VXLAN item, and the addresses of its tunnel.
pub(super) const VXLAN: &str = "x0";
const VXLAN_LOCAL: &str = "10.30.0.1";
const VXLAN_REMOTE: &str = "10.30.0.2";

pub(super) fn iface_name(k: usize) -> String {
    if k < VETHS {
        format!("v{k}")
    } else {
        format!("d{}", k - VETHS)
    }
}

impl World {
    /// One step of the outside world, chosen by one roll of the dice (rolled again while it
    /// lands on a feature the seed's swarm turned off).
    pub(super) fn random_step(&mut self) -> Result<(), Violation> {
        self.announce_due();
        let mut roll = self.rng.below(100);
        while self.swarmed_off(roll) {
            roll = self.rng.below(100);
        }
        match roll {
            0..=27 => self.put_interface(),
            28..=34 => self.delete_kind(|k| matches!(k, ItemKey::Interface(_))),
            35..=46 => self.put_route(),
            47..=50 => self.delete_kind(|k| matches!(k, ItemKey::Route { .. })),
            51..=57 => self.put_arp(),
            58..=60 => self.delete_kind(|k| matches!(k, ItemKey::Arp { .. } | ItemKey::Fdb { .. })),
            61..=64 => self.vanish_named(false),
            65..=69 => self.toggle_process(),
            70..=75 => self.microservice_step(),
            76..=81 if self.faults => self.inject_fault(),
            82..=84 if self.faults => self.vanish_named(true),
            85..=87 if !self.held.is_empty() && self.on(Feature::Reobserves) => {
                return self.reobserve()
            }
            85..=94 => {
                let ms = self.rng.below(2_000);
                self.advance(ms)
            }
            95..=97 => return self.restart(false),
            98..=99 => return self.restart(true),
            _ => {
                let ms = self.rng.below(500);
                self.advance(ms)
            }
        }
        Ok(())
    }

    /// Whether the swarm turned off what this roll of `random_step` would do.
    fn swarmed_off(&self, roll: u64) -> bool {
        let needs: &[Feature] = match roll {
            28..=34 | 47..=50 | 58..=60 => &[Feature::Deletes],
            35..=46 => &[Feature::Routes],
            51..=57 => &[Feature::Arp],
            61..=64 => &[Feature::NamedVanishes],
            65..=69 => &[Feature::ProcessNamespaces],
            70..=75 => &[Feature::Microservices],
            76..=81 => return self.faults && self.errnos().is_empty(),
            82..=84 if self.faults => &[Feature::SilentVanishes, Feature::NamedVanishes],
            95..=97 => &[Feature::RestartsFromSnapshot],
            98..=99 => &[Feature::RestartsWithStateLost],
            _ => &[],
        };
        !needs.iter().all(|f| self.on(*f))
    }

    /// Publishes one intent, and remembers it as desired: the oracle reads `desired`, never
    /// the core.
    pub(super) fn put(&mut self, key: ItemKey, value: serde_json::Value) {
        if let Err(e) = self.put_value(&key.to_string(), value) {
            panic!("the harness generated an invalid item {key}: {e}");
        }
    }

    /// Publishes the value under `key`, if it is a valid item.
    pub(super) fn put_value(
        &mut self,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), nsagent_core::ValidationError> {
        self.record(&Action::Put {
            key: key.to_string(),
            value: value.clone(),
        });
        let item = Item::decode(key, &value)?;
        let item_key = item.key();
        let (spelled_key, spelled) = self.respell(&item_key, value.clone());
        match Item::decode(&spelled_key, &spelled) {
            Ok(same) if same == item => {}
            other => self.intake_errors.push(format!(
                "{key} spelled as {spelled_key} = {spelled} reads as {other:?}, not as {item:?}"
            )),
        }
        // Broken variants are made from the workload's own spelling, so that each breaks one
        // field in the spelling the breakage names.
        self.check_intake(&item_key, &value, &item);
        self.seq += 1;
        self.desired.insert(item.key(), item.clone());
        self.feed(Event::Put {
            seq: self.seq,
            item,
        });
        Ok(())
    }

    /// A namespace reference of any kind the agent supports, named ones most often.
    pub(super) fn random_namespace(&mut self) -> serde_json::Value {
        match self.rng.below(10) {
            0..=3 if self.on(Feature::Aliases) && self.rng.chance(40) => {
                json!({"type": "PID", "reference": self.rng.pick(&ALIAS_PIDS).to_string()})
            }
            0..=3 => serde_json::Value::Null,
            4..=6 if self.on(Feature::NamedNamespaces) => {
                json!({"type": "NSID", "reference": self.rng.pick(&NAMED)})
            }
            7 if self.on(Feature::ProcessNamespaces) => {
                json!({"type": "PID", "reference": self.rng.pick(&PIDS).to_string()})
            }
            8..=9 if self.on(Feature::Microservices) => {
                json!({"type": "MICROSERVICE", "reference": self.rng.pick(&LABELS)})
            }
            _ => serde_json::Value::Null,
        }
    }

    /// A veth end or dummy with random attributes; some choices are made rare on purpose so
    /// that renames, competing names and odd peers all happen within a few hundred steps.
    fn put_interface(&mut self) {
        if self.rng.chance(8) && self.on(Feature::Loopback) {
            return self.put_loopback();
        }
        if self.on(Feature::Borrow) && self.rng.chance(10) {
            return self.put_existing();
        }
        if self.on(Feature::Chains) && self.rng.chance(12) {
            return self.chain_step();
        }
        if self.on(Feature::PolicyRules) && self.rng.chance(10) {
            return self.policy_rule_step();
        }
        if self.on(Feature::Vrf) && self.rng.chance(8) {
            return self.put_vrf();
        }
        if self.on(Feature::Tap) && self.rng.chance(8) {
            return self.tap_step();
        }
        if self.on(Feature::Bridge) && self.rng.chance(8) {
            return self.put_bridge();
        }
        if self.on(Feature::PlainTap) && self.rng.chance(6) {
            return self.put_plain_tap();
        }
        if self.on(Feature::Macvlan) && self.rng.chance(8) {
            return self.put_macvlan();
        }
        if self.on(Feature::Vxlan) && self.rng.chance(8) {
            return self.put_vxlan();
        }
        let k = self.rng.below((VETHS + DUMMIES) as u64) as usize;
        let name = iface_name(k);
        let mut addrs = Vec::new();
        for (i, a) in [
            format!("10.{k}.0.1/24"),
            format!("10.{k}.1.1/24"),
            format!("fd00:{k}::1/64"),
        ]
        .iter()
        .enumerate()
        {
            if self.rng.chance(if i == 0 { 70 } else { 30 }) && (i < 2 || self.on(Feature::Ipv6)) {
                addrs.push(a.clone());
            }
        }
        let enabled = self.rng.chance(85) || !self.on(Feature::Disabled);
        let mut v = json!({"name": name, "type": if k < VETHS { "VETH" } else { "DUMMY" }, "enabled": enabled, "ip_addresses": addrs});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        match self.rng.below(4) {
            0 if self.on(Feature::Mtu) => v["mtu"] = json!(1400),
            1 if self.on(Feature::Mtu) => v["mtu"] = json!(9000),
            _ => {}
        }
        if self.rng.chance(20) && self.on(Feature::Mac) {
            v["phys_address"] = json!(format!("02:00:00:00:{k:02x}:{:02x}", self.rng.below(4)));
        }
        if self.rng.chance(5) && self.on(Feature::LinkOnly) {
            v["link_only"] = json!(true);
        }
        if self.rng.chance(25) && self.on(Feature::Vrf) {
            v["vrf_master_interface"] = json!(VRF);
        } else if self.on(Feature::Bridge) && self.rng.chance(30) {
            v["bridge_master_interface"] = json!(BRIDGE);
        }
        // Another host name renames the link in place; another item's name makes the two
        // compete for it, or swap names.
        match self.rng.below(10) {
            0 if self.on(Feature::Renames) => v["host_if_name"] = json!(format!("{name}r")),
            1 if self.on(Feature::Renames) => {
                let other = self.rng.below((VETHS + DUMMIES) as u64) as usize;
                v["host_if_name"] = json!(iface_name(other));
            }
            _ => {}
        }
        if k < VETHS {
            let peer = if self.rng.chance(92) || !self.on(Feature::OddPeers) {
                k ^ 1
            } else {
                self.rng.below(VETHS as u64) as usize
            };
            let peer = if peer == k { k ^ 1 } else { peer };
            v["veth"] = json!({"peer_if_name": iface_name(peer)});
            if self.rng.chance(30) && self.on(Feature::Offload) {
                let ways = [
                    "CHKSM_OFFLOAD_DEFAULT",
                    "CHKSM_OFFLOAD_ENABLED",
                    "CHKSM_OFFLOAD_DISABLED",
                ];
                v["veth"]["rx_checksum_offloading"] = json!(self.rng.pick(&ways));
                v["veth"]["tx_checksum_offloading"] = json!(self.rng.pick(&ways));
            }
        }
        self.put(ItemKey::Interface(name), v);
    }

    /// `r0`, a VRF in one of the namespaces interfaces use; its table changes now and then,
    /// which re-makes it (and its members with it).
    fn put_vrf(&mut self) {
        let table = *self.rng.pick(&[100u32, 101]);
        let mut v = json!({"name": VRF, "type": "VRF_DEVICE", "enabled": self.rng.chance(80),
                           "vrf_dev": {"routing_table": table}});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        self.put(ItemKey::Interface(VRF.into()), v);
    }

    /// `b0`, a bridge in one of the namespaces interfaces use, with settings that change in
    /// place now and then; with its own MAC or one that follows its ports.
    fn put_bridge(&mut self) {
        let mut v = json!({"name": BRIDGE, "type": "BRIDGE", "enabled": self.rng.chance(85),
                           "ip_addresses": ["10.20.0.1/24"],
                           "bridge": {"stp": self.rng.chance(30),
                                      "vlan_filtering": self.rng.chance(20),
                                      "ageing_time_seconds": *self.rng.pick(&[0u32, 10, 600])}});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        if self.on(Feature::Mac) && self.rng.chance(30) {
            v["phys_address"] = json!("02:00:00:00:b0:01");
        }
        if self.on(Feature::Mtu) && self.rng.chance(20) {
            v["mtu"] = json!(1450);
        }
        self.put(ItemKey::Interface(BRIDGE.into()), v);
    }

    /// `m0`, a MACVLAN on a veth end, a dummy, the bridge or the TAP, in any mode; a new parent
    /// or mode re-makes it. Its MAC, when it has one, is no other link's: an up MACVLAN's must
    /// differ from its parent's and its siblings' (EADDRINUSE), and a PASSTHRU one has none.
    fn put_macvlan(&mut self) {
        let mut parents: Vec<String> = (0..VETHS + DUMMIES).map(iface_name).collect();
        if self.on(Feature::Bridge) {
            parents.push(BRIDGE.into());
        }
        if self.on(Feature::PlainTap) {
            parents.push("p0".into());
        }
        let parent = self.rng.pick(&parents).clone();
        let mode = *self.rng.pick(&["BRIDGE", "PRIVATE", "VEPA", "PASSTHRU"]);
        let mut v = json!({"name": "m0", "type": "MACVLAN", "enabled": self.rng.chance(85),
                           "ip_addresses": ["10.22.0.1/24"],
                           "macvlan": {"parent_interface": parent, "mode": mode}});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        if self.on(Feature::Mtu) && self.rng.chance(20) {
            // At or under every MTU a parent is given here: above it the kernel refuses.
            v["mtu"] = json!(1300);
        }
        if self.on(Feature::Mac) && mode != "PASSTHRU" && self.rng.chance(20) {
            v["phys_address"] = json!("02:00:00:00:4d:01");
        }
        if self.on(Feature::Vrf) && self.rng.chance(15) {
            v["vrf_master_interface"] = json!(VRF);
        } else if self.on(Feature::Bridge) && parent != BRIDGE && self.rng.chance(20) {
            v["bridge_master_interface"] = json!(BRIDGE);
        }
        self.put(ItemKey::Interface("m0".into()), v);
    }

    /// `p0`, a TAP the agent makes, with settings that change now and then (which re-makes it),
    /// sometimes a port of `b0`.
    fn put_plain_tap(&mut self) {
        let mut v = json!({"name": "p0", "type": "TAP", "enabled": self.rng.chance(85),
                           "ip_addresses": ["10.21.0.1/24"],
                           "tap": {"owner": *self.rng.pick(&[0u32, 1000]),
                                   "multi_queue": self.rng.chance(30)}});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        if self.on(Feature::Bridge) && self.rng.chance(40) {
            v["bridge_master_interface"] = json!(BRIDGE);
        }
        self.put(ItemKey::Interface("p0".into()), v);
    }

    /// `l0` configures the `lo` of a named namespace: a link the agent borrows, never creates.
    fn put_loopback(&mut self) {
        let mut addrs = Vec::new();
        for a in ["10.250.0.1/32", "10.250.0.2/32", "fd00:250::1/128"] {
            if self.rng.chance(50) {
                addrs.push(a);
            }
        }
        let ns = *self.rng.pick(&NAMED);
        let v = json!({
            "name": "l0", "type": "LOOPBACK", "enabled": self.rng.chance(80), "ip_addresses": addrs,
            "namespace": {"type": "NSID", "reference": ns},
        });
        self.put(ItemKey::Interface("l0".into()), v);
    }

    /// A route through one interface; some gateways lie outside that interface's subnets,
    /// so that the reachability rule is exercised.
    fn put_route(&mut self) {
        let k = self.rng.below((VETHS + DUMMIES) as u64) as usize;
        let name = iface_name(k);
        let (dst, gw) = match self.rng.below(4) {
            0 => (
                format!("10.{}.0.0/16", 100 + k),
                Some(format!("10.{k}.0.254")),
            ),
            1 => (
                format!("10.{}.0.0/24", 150 + k),
                Some(format!("10.{k}.1.254")),
            ),
            2 => (format!("10.{}.0.0/24", 200 + k), None),
            _ => (format!("fd99:{k}::/48"), Some(format!("fd00:{k}::fe"))),
        };
        let mut v = json!({"outgoing_interface": name, "dst_network": dst, "metric": *self.rng.pick(&[0, 10])});
        if let Some(gw) = gw {
            v["gw_addr"] = json!(gw);
        }
        let mut table = None;
        if self.on(Feature::RouteTables) {
            if self.rng.chance(40) {
                table = Some(*self.rng.pick(&[200u32, 201]));
                v["table"] = json!(table);
            }
            if self.rng.chance(30) {
                v["mtu"] = json!(*self.rng.pick(&[1280u32, 1400]));
            }
        }
        if self.on(Feature::Ecmp) && self.rng.chance(35) {
            self.second_path(&mut v, k, &dst);
        }
        let key = ItemKey::Route {
            dst: dst.parse().expect("generated network"),
            interface: name,
            table,
        };
        self.put(key, v);
    }

    /// Makes route `v` (through interface `k`) multipath: its own path, and one through
    /// another veth end or dummy whose gateway is inside that one's first subnet, or now and
    /// then outside its subnets.
    fn second_path(&mut self, v: &mut serde_json::Value, k: usize, dst: &str) {
        let others: Vec<usize> = (0..VETHS + DUMMIES).filter(|j| *j != k).collect();
        let j = *self.rng.pick(&others);
        let gw = if dst.contains(':') {
            format!("fd00:{j}::fe")
        } else if self.rng.chance(85) {
            format!("10.{j}.0.253")
        } else {
            format!("10.{j}.2.253")
        };
        let own = v
            .as_object_mut()
            .and_then(|o| o.remove("gw_addr"))
            .unwrap_or(serde_json::Value::Null);
        let mut first = json!({"weight": 1 + self.rng.below(4)});
        if !own.is_null() {
            first["gw_addr"] = own;
        }
        v["next_hops"] = json!([first, {"outgoing_interface": iface_name(j), "gw_addr": gw,
                                        "weight": 1 + self.rng.below(4)}]);
    }

    /// `x0`, a VXLAN on a veth end, a dummy, the bridge, the MACVLAN or no underlay, with a
    /// VNI, remote and learning that change now and then (which re-makes it). It has no MTU
    /// of its own: the kernel's is the most its underlay allows.
    fn put_vxlan(&mut self) {
        let mut underlays: Vec<Option<String>> =
            (0..VETHS + DUMMIES).map(|k| Some(iface_name(k))).collect();
        underlays.push(None);
        if self.on(Feature::Bridge) {
            underlays.push(Some(BRIDGE.into()));
        }
        if self.on(Feature::Macvlan) {
            underlays.push(Some("m0".into()));
        }
        let underlay = self.rng.pick(&underlays).clone();
        let mut tunnel = json!({"vni": *self.rng.pick(&[42u32, 43]), "local_ip": VXLAN_LOCAL});
        if self.rng.chance(60) {
            tunnel["remote_ip"] = json!(VXLAN_REMOTE);
        }
        if self.rng.chance(30) {
            tunnel["no_learning"] = json!(true);
        }
        if let Some(u) = &underlay {
            tunnel["underlay_interface"] = json!(u);
        }
        let mut v = json!({"name": VXLAN, "type": "VXLAN", "enabled": self.rng.chance(85),
                           "ip_addresses": ["10.31.0.1/24"], "vxlan": tunnel});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        if self.on(Feature::Bridge) && underlay.as_deref() != Some(BRIDGE) && self.rng.chance(25) {
            v["bridge_master_interface"] = json!(BRIDGE);
        } else if self.on(Feature::Vrf) && self.rng.chance(10) {
            v["vrf_master_interface"] = json!(VRF);
        }
        self.put(ItemKey::Interface(VXLAN.into()), v);
    }

    /// An FDB entry on `x0`, now and then on a link that is no VXLAN (where it waits).
    fn put_fdb(&mut self) {
        let interface = if self.rng.chance(85) {
            VXLAN.to_string()
        } else {
            iface_name(self.rng.below((VETHS + DUMMIES) as u64) as usize)
        };
        let mac = *self.rng.pick(&["00:00:00:00:00:00", "02:00:00:00:58:01"]);
        let remote = *self.rng.pick(&["10.30.0.3", "10.30.0.4"]);
        let key = ItemKey::Fdb {
            interface: interface.clone(),
            mac: mac.parse().expect("generated MAC"),
            remote: remote.parse().expect("generated address"),
        };
        self.put(
            key,
            json!({"interface": interface, "hw_address": mac, "remote_ip": remote}),
        );
    }

    /// A permanent neighbour on one interface.
    fn put_arp(&mut self) {
        if self.on(Feature::Vxlan) && self.rng.chance(25) {
            return self.put_fdb();
        }
        if self.on(Feature::Bridge) && self.rng.chance(15) {
            // On the bridge, whose MAC may follow its ports, flushing its neighbours.
            let ip = format!("10.20.0.{}", 7 + self.rng.below(2));
            let key = ItemKey::Arp {
                interface: BRIDGE.into(),
                ip: ip.parse().expect("generated address"),
            };
            let v =
                json!({"interface": BRIDGE, "ip_address": ip, "hw_address": "02:aa:00:00:b0:07"});
            return self.put(key, v);
        }
        let k = self.rng.below((VETHS + DUMMIES) as u64) as usize;
        let name = iface_name(k);
        let ip = format!("10.{k}.0.{}", 7 + self.rng.below(2));
        let mac = format!("02:aa:00:00:{k:02x}:{:02x}", self.rng.below(3));
        let key = ItemKey::Arp {
            interface: name.clone(),
            ip: ip.parse().expect("generated address"),
        };
        self.put(
            key,
            json!({"interface": name, "ip_address": ip, "hw_address": mac}),
        );
    }

    /// Deletes one desired item of a kind, if there is one.
    fn delete_kind(&mut self, kind: impl Fn(&ItemKey) -> bool) {
        let keys: Vec<ItemKey> = self.desired.keys().filter(|k| kind(k)).cloned().collect();
        if keys.is_empty() {
            return;
        }
        let key = self.rng.pick(&keys).clone();
        self.delete(key);
    }

    /// Deletes a desired item (one nobody put is left alone, as the workload never deletes
    /// such).
    pub(super) fn delete(&mut self, key: ItemKey) {
        self.record(&Action::Delete {
            key: key.to_string(),
        });
        if self.desired.remove(&key).is_none() {
            return;
        }
        self.seq += 1;
        self.feed(Event::Delete { seq: self.seq, key });
    }

    /// A namespace goes away in the kernel. Announced, the core hears of it now; silently (a
    /// fault: the watcher is late), only a few steps later, and meanwhile its commands may fail
    /// for reasons it cannot know.
    fn vanish(&mut self, ns: &Netns, silently: bool) {
        let delay = silently.then(|| 1 + self.rng.below(3) as u32);
        self.vanish_now(ns, delay);
    }

    /// A namespace the kernel has, and whose vanish is not yet to be announced, vanishes;
    /// with a delay, silently.
    pub(super) fn vanish_now(&mut self, ns: &Netns, delay: Option<u32>) {
        self.record(&Action::Vanish {
            ns: ns.clone(),
            silently: delay,
        });
        // A named namespace with a process inside lives on under that process's pid, with
        // the links others made there.
        let handed_over = self.kernel.aliases().iter().any(|(_, of)| of == ns);
        if self.is_unannounced(ns) || self.kernel.vanish(ns).is_err() {
            return;
        }
        self.foreign_lo.remove(ns);
        self.unmanaged.retain(|(n, _)| n != ns);
        if handed_over {
            self.exercised("alias outlives its namespace's name".into());
            self.unmanaged = self.unmanaged_now();
        }
        if let Some(delay) = delay {
            self.exercised("fault silent vanish".into());
            self.trace(format!(
                "{} silent vanish of {ns}, announced in {delay} steps",
                self.now
            ));
            self.unannounced.push((ns.clone(), delay));
        } else {
            self.feed(Event::NamespaceVanished { ns: ns.clone() });
        }
    }

    /// A named namespace is removed by someone else; the agent re-creates those it needs.
    fn vanish_named(&mut self, silently: bool) {
        let ns = Netns::Named(self.rng.pick(&NAMED).to_string());
        // Not while a process lives inside: the namespace would live on under its pid, a
        // hand-over the core's own tests cover (`crates/core/tests/aliases.rs`); here a
        // command's result held across it is still taken for outdated, and the link it
        // removed believed there.
        let inhabited = self.kernel.aliases().iter().any(|(_, of)| *of == ns);
        if self.kernel.contains_namespace(&ns) && !self.is_unannounced(&ns) && !inhabited {
            self.vanish(&ns, silently);
        }
    }

    /// A process namespace appears or its process exits.
    fn toggle_process(&mut self) {
        if self.on(Feature::Aliases)
            && (!self.on(Feature::ProcessNamespaces) || self.rng.chance(40))
        {
            return self.toggle_alias();
        }
        let ns = Netns::Pid(*self.rng.pick(&PIDS));
        if self.is_unannounced(&ns) {
            return;
        }
        if self.kernel.contains_namespace(&ns) {
            let silently = self.faults && self.on(Feature::SilentVanishes) && self.rng.chance(50);
            self.vanish(&ns, silently);
        } else {
            self.appear(ns);
        }
    }

    /// A process starts in the default or a named namespace, or exits.
    fn toggle_alias(&mut self) {
        let pid = *self.rng.pick(&ALIAS_PIDS);
        let ns = Netns::Pid(pid);
        // Once its home's name was deleted, the pid names the namespace alone.
        if self.kernel.contains_namespace(&ns) {
            self.vanish(&ns, false);
        } else {
            self.alias(ns, alias_home(pid));
        }
    }

    /// `ns` (a pid) starts inside `of`, if `of` is there and the pid free. The watcher reports
    /// both with their identity, as it would on the real kernel once the core watches them.
    pub(super) fn alias(&mut self, ns: Netns, of: Netns) {
        self.record(&Action::Alias {
            ns: ns.clone(),
            of: of.clone(),
        });
        if self.is_unannounced(&of) || self.kernel.alias(ns.clone(), &of).is_err() {
            return;
        }
        self.exercised("alias of a namespace".into());
        self.identify(&[of, ns]);
    }

    /// Tells the core the identity of each of `namespaces` that exists.
    pub(super) fn identify(&mut self, namespaces: &[Netns]) {
        for ns in namespaces {
            if let Some(identity) = self.kernel.identity(ns) {
                self.feed(Event::NamespaceIdentified {
                    ns: ns.clone(),
                    identity,
                });
            }
        }
    }

    /// After a restart that lost the core's state: the watcher reports every alias again,
    /// with the namespace it names.
    pub(super) fn identify_aliases(&mut self) {
        if !self.on(Feature::Aliases) {
            return;
        }
        self.identify(&[Netns::Default]);
        for (alias, of) in self.kernel.aliases() {
            self.identify(&[of, alias]);
        }
    }

    /// A namespace the kernel does not have appears.
    pub(super) fn appear(&mut self, ns: Netns) {
        self.record(&Action::Appear { ns: ns.clone() });
        if !self.is_unannounced(&ns) && self.kernel.appear(ns.clone()).is_ok() {
            self.feed(Event::NamespaceAvailable { ns });
        }
    }

    /// A microservice starts, stops, or restarts with a fresh pid (and so a fresh namespace).
    fn microservice_step(&mut self) {
        let label = *self.rng.pick(&LABELS);
        match self.kernel.microservice(label).cloned() {
            None => self.start_microservice(label),
            Some(_) if self.rng.chance(50) => self.stop_microservice(label),
            Some(_) => {
                // Docker may report the stop, or only the start with its new pid.
                let report_stop = self.rng.chance(50);
                self.restart_microservice(label, report_stop);
            }
        }
    }

    pub(super) fn start_microservice(&mut self, label: &str) {
        self.record(&Action::StartMicroservice {
            label: label.to_string(),
        });
        if let Ok(ms) = self.kernel.start_microservice(label) {
            self.feed(ms.started_event());
        }
    }

    pub(super) fn stop_microservice(&mut self, label: &str) {
        self.record(&Action::StopMicroservice {
            label: label.to_string(),
        });
        if let Ok(ms) = self.kernel.stop_microservice(label) {
            self.feed(ms.stopped_event());
        }
    }

    pub(super) fn restart_microservice(&mut self, label: &str, report_stop: bool) {
        self.record(&Action::RestartMicroservice {
            label: label.to_string(),
            report_stop,
        });
        if let Ok((old, new)) = self.kernel.restart_microservice(label) {
            if report_stop {
                self.feed(old.stopped_event());
            }
            self.feed(new.started_event());
        }
    }

    /// Time passes; the core hears of it only when one of its timers is due.
    pub(super) fn advance(&mut self, ms: u64) {
        self.record(&Action::Advance { ms });
        self.now += ms;
        if self.core.poll_timeout().is_some_and(|t| t.0 <= self.now) {
            self.feed(Event::TimerFired);
        }
    }
}
