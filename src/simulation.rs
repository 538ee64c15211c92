//! Deterministic simulation of the whole agent: the core driven against the in-memory kernel
//! from one `u64` seed, with random intents, namespaces and microservices coming and going, and
//! injected faults, followed by a liveness phase with faults off.
//!
//! The harness checks the core against an oracle of its own — a direct, independent reading of
//! the rules ("a veth exists when both ends are configured and both namespaces are there", ...) —
//! never against the core's own beliefs, so a wrong rule in the core cannot hide. Invariants:
//! - whenever the core is quiet (no retry pending, no fault queued, no vanish unannounced), the
//!   kernel's managed state equals the desired state restricted to what is available;
//! - links the agent does not manage are never touched;
//! - no command is issued for an item whose dependencies do not hold, and, the sim being the
//!   kernel, no command fails by the kernel's own rules unless the core could not know better
//!   (a namespace vanished and nobody told it yet);
//! - the same seed gives the same trace, byte for byte (checked by running twice).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use nsagent_core::errno;
use nsagent_core::{
    Backend, Command, Core, CoreConfig, Event, Interface, InterfaceType, Item, ItemKey, LinkKind,
    MacAddr, NamespaceRef, Netns, NewLink, Op, RouteScope, RouteSpec, Timestamp,
};
use nsagent_core::{ALIAS_PREFIX, ROUTE_PROTOCOL};
use nsagent_sim::{Fault, SeedKind, SeedLink, SimConfig, SimKernel};
use serde_json::json;

/// What one run does.
#[derive(Debug, Clone, Copy)]
pub struct SimulationConfig {
    pub seed: u64,
    pub steps: usize,
    /// Inject backend faults and silent namespace vanishes.
    pub faults: bool,
    /// At "restart from snapshot" steps, really serialize the core and restore it. Off, the
    /// same core goes on: the trace must be the same either way.
    pub restore_snapshots: bool,
}

impl SimulationConfig {
    pub fn new(seed: u64, steps: usize) -> SimulationConfig {
        SimulationConfig {
            seed,
            steps,
            faults: true,
            restore_snapshots: true,
        }
    }
}

/// What a run that held every invariant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    /// FNV-1a of every event fed to the core and every command it issued, with results.
    pub trace_hash: u64,
    pub events: u64,
    pub commands: u64,
    /// How many times the full convergence check ran (on quiet steps and at the end).
    pub convergence_checks: u64,
    /// Items applied at the end, and items still pending for lack of a dependency.
    pub applied: usize,
    pub pending: usize,
}

/// A broken invariant, with what is needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub seed: u64,
    pub step: usize,
    pub what: String,
    pub recent: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation seed {} broke an invariant at step {}: {}",
            self.seed, self.step, self.what
        )?;
        writeln!(
            f,
            "reproduce with: SIM_SEED={} cargo test --release --test simulation",
            self.seed
        )?;
        writeln!(f, "last trace lines:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs one simulation.
pub fn run(config: SimulationConfig) -> Result<Report, Violation> {
    let mut w = World::new(config);
    w.setup()?;
    for step in 1..=config.steps {
        w.step = step;
        w.random_step()?;
        w.pump()?;
        w.check_step()?;
    }
    w.step = config.steps + 1;
    w.liveness()?;
    let statuses = w.core.statuses();
    Ok(Report {
        seed: config.seed,
        trace_hash: w.trace_hash,
        events: w.events,
        commands: w.commands,
        convergence_checks: w.convergence_checks,
        applied: statuses
            .iter()
            .filter(|(_, s)| *s == nsagent_core::ItemState::Applied)
            .count(),
        pending: statuses
            .iter()
            .filter(|(_, s)| matches!(s, nsagent_core::ItemState::Pending { .. }))
            .count(),
    })
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const NAMED: [&str; 3] = ["n0", "n1", "n2"];
const PIDS: [u32; 2] = [501, 502];
const LABELS: [&str; 2] = ["ms0", "ms1"];
/// Veth items come in partner pairs (v0,v1), (v2,v3), ...; dummies after them.
const VETHS: usize = 8;
const DUMMIES: usize = 3;

fn iface_name(k: usize) -> String {
    if k < VETHS {
        format!("v{k}")
    } else {
        format!("d{}", k - VETHS)
    }
}

struct World {
    seed: u64,
    faults: bool,
    rng: Rng,
    core: Core,
    kernel: SimKernel,
    now: u64,
    seq: u64,
    step: usize,
    desired: BTreeMap<ItemKey, Item>,
    /// Links the agent must never touch, as they were seeded (minus vanished namespaces).
    unmanaged: Vec<(Netns, nsagent_sim::LinkDump)>,
    /// Namespaces that vanished without the core being told yet, and in how many steps it is.
    unannounced: Vec<(Netns, u32)>,
    /// Command results on their way back: applied in the kernel, not yet told to the core.
    held: Vec<(Command, Result<(), nsagent_core::BackendError>)>,
    /// In the liveness phase nothing is held back any more.
    settling: bool,
    /// Addresses on a `lo` that the agent added before a restart that lost its state and that
    /// no item wanted then: it cannot know they were its own, so they are someone else's now.
    foreign_lo: BTreeMap<Netns, BTreeSet<IpNet>>,
    restore_snapshots: bool,
    trace_hash: u64,
    recent: VecDeque<String>,
    events: u64,
    commands: u64,
    convergence_checks: u64,
}

impl World {
    fn new(config: SimulationConfig) -> World {
        World {
            seed: config.seed,
            faults: config.faults,
            rng: Rng(config.seed),
            core: Core::new(CoreConfig::default()),
            // One seed in four runs a kernel older than 6.2, which renames only links that
            // are down.
            kernel: SimKernel::new(SimConfig {
                live_rename: !config.seed.is_multiple_of(4),
                ..SimConfig::default()
            }),
            now: 0,
            seq: 0,
            step: 0,
            desired: BTreeMap::new(),
            unmanaged: Vec::new(),
            unannounced: Vec::new(),
            held: Vec::new(),
            settling: false,
            foreign_lo: BTreeMap::new(),
            restore_snapshots: config.restore_snapshots,
            trace_hash: 0xcbf2_9ce4_8422_2325,
            recent: VecDeque::new(),
            events: 0,
            commands: 0,
            convergence_checks: 0,
        }
    }

    fn violation(&self, what: impl Into<String>) -> Violation {
        Violation {
            seed: self.seed,
            step: self.step,
            what: what.into(),
            recent: self.recent.iter().cloned().collect(),
        }
    }

    fn trace(&mut self, line: String) {
        for b in line.as_bytes().iter().chain(b"\n") {
            self.trace_hash ^= u64::from(*b);
            self.trace_hash = self.trace_hash.wrapping_mul(0x0100_0000_01b3);
        }
        if self.recent.len() == 500 {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    fn feed(&mut self, event: Event) {
        self.events += 1;
        self.trace(format!("{} event {event:?}", self.now));
        self.core.handle(Timestamp(self.now), event);
    }

    fn setup(&mut self) -> Result<(), Violation> {
        let sim_err = |e: nsagent_sim::SimError| Violation {
            seed: 0,
            step: 0,
            what: format!("setting up the sim failed: {e}"),
            recent: vec![],
        };
        // Someone else's links, a stale link of a previous run, and a namespace to hold some.
        self.kernel
            .appear(Netns::Named("n0".into()))
            .map_err(sim_err)?;
        self.kernel.appear(Netns::Pid(PIDS[0])).map_err(sim_err)?;
        let mut u0 = SeedLink::new("u0", SeedKind::Dummy);
        u0.up = true;
        u0.addresses = vec!["10.200.0.1/24".parse().expect("literal")];
        self.kernel
            .seed_link(&Netns::Default, u0)
            .map_err(sim_err)?;
        self.kernel
            .seed_link(&Netns::Default, SeedLink::new("eth9", SeedKind::Other))
            .map_err(sim_err)?;
        self.kernel
            .seed_link(
                &Netns::Named("n0".into()),
                SeedLink::new("u2", SeedKind::Dummy),
            )
            .map_err(sim_err)?;
        for (ns, name) in [(Netns::Default, "ghost"), (Netns::Named("n0".into()), "v0")] {
            let mut stale = SeedLink::new(name, SeedKind::Dummy);
            stale.alias = Some(format!("{ALIAS_PREFIX}{name}"));
            self.kernel.seed_link(&ns, stale).map_err(sim_err)?;
        }
        self.unmanaged = self.unmanaged_now();

        self.feed(Event::MicroserviceWatch { connected: true });
        self.feed(Event::NamespaceAvailable {
            ns: Netns::Pid(PIDS[0]),
        });
        self.resync_after_restart()?;
        if self
            .kernel
            .dump()
            .managed()
            .iter()
            .any(|(_, l)| l.name == "ghost" || l.name == "v0")
        {
            return Err(self.violation("resync at start-up left stale managed links in place"));
        }
        Ok(())
    }

    fn unmanaged_now(&self) -> Vec<(Netns, nsagent_sim::LinkDump)> {
        // `lo` is the kernel's; what the agent may do to it is not under test here.
        self.kernel
            .dump()
            .unmanaged()
            .into_iter()
            .filter(|(_, l)| l.name != "lo")
            .collect()
    }

    fn resync_after_restart(&mut self) -> Result<(), Violation> {
        self.feed(Event::Restarted);
        let mut wanted = self.core.namespaces_to_observe();
        wanted.extend(self.kernel.namespaces());
        wanted.sort();
        wanted.dedup();
        let snapshot = self
            .kernel
            .observe(&wanted)
            .map_err(|e| self.violation(format!("observe failed: {e}")))?;
        self.feed(Event::Observed(snapshot));
        self.pump()
    }

    // ----- random steps -----------------------------------------------------------------------

    fn random_step(&mut self) -> Result<(), Violation> {
        self.announce_due();
        let roll = self.rng.below(100);
        match roll {
            0..=27 => self.put_interface(),
            28..=34 => self.delete_kind(|k| matches!(k, ItemKey::Interface(_))),
            35..=46 => self.put_route(),
            47..=50 => self.delete_kind(|k| matches!(k, ItemKey::Route { .. })),
            51..=57 => self.put_arp(),
            58..=60 => self.delete_kind(|k| matches!(k, ItemKey::Arp { .. })),
            61..=64 => self.vanish_named(false),
            65..=69 => self.toggle_process(),
            70..=75 => self.microservice_step(),
            76..=81 if self.faults => self.inject_fault(),
            82..=84 if self.faults => self.vanish_named(true),
            85..=87 if !self.held.is_empty() => return self.reobserve(),
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

    fn put(&mut self, key: ItemKey, value: serde_json::Value) {
        let item = match Item::decode(&key.to_string(), &value) {
            Ok(item) => item,
            Err(e) => panic!("the harness generated an invalid item {key}: {e}"),
        };
        self.seq += 1;
        self.desired.insert(key, item.clone());
        self.feed(Event::Put {
            seq: self.seq,
            item,
        });
    }

    fn random_namespace(&mut self) -> serde_json::Value {
        match self.rng.below(10) {
            0..=3 => serde_json::Value::Null,
            4..=6 => json!({"type": "NSID", "reference": self.rng.pick(&NAMED)}),
            7 => json!({"type": "PID", "reference": self.rng.pick(&PIDS).to_string()}),
            _ => json!({"type": "MICROSERVICE", "reference": self.rng.pick(&LABELS)}),
        }
    }

    fn put_interface(&mut self) {
        if self.rng.chance(8) {
            return self.put_loopback();
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
            if self.rng.chance(if i == 0 { 70 } else { 30 }) {
                addrs.push(a.clone());
            }
        }
        let mut v = json!({"name": name, "type": if k < VETHS { "VETH" } else { "DUMMY" }, "enabled": self.rng.chance(85), "ip_addresses": addrs});
        let ns = self.random_namespace();
        if !ns.is_null() {
            v["namespace"] = ns;
        }
        match self.rng.below(4) {
            0 => v["mtu"] = json!(1400),
            1 => v["mtu"] = json!(9000),
            _ => {}
        }
        if self.rng.chance(20) {
            v["phys_address"] = json!(format!("02:00:00:00:{k:02x}:{:02x}", self.rng.below(4)));
        }
        if self.rng.chance(5) {
            v["link_only"] = json!(true);
        }
        // Another host name renames the link in place; another item's name makes the two
        // compete for it, or swap names.
        match self.rng.below(10) {
            0 => v["host_if_name"] = json!(format!("{name}r")),
            1 => {
                let other = self.rng.below((VETHS + DUMMIES) as u64) as usize;
                v["host_if_name"] = json!(iface_name(other));
            }
            _ => {}
        }
        if k < VETHS {
            let peer = if self.rng.chance(92) {
                k ^ 1
            } else {
                self.rng.below(VETHS as u64) as usize
            };
            let peer = if peer == k { k ^ 1 } else { peer };
            v["veth"] = json!({"peer_if_name": iface_name(peer)});
        }
        self.put(ItemKey::Interface(name), v);
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
        let key = ItemKey::Route {
            dst: dst.parse().expect("generated network"),
            interface: name,
        };
        self.put(key, v);
    }

    fn put_arp(&mut self) {
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

    fn delete_kind(&mut self, kind: impl Fn(&ItemKey) -> bool) {
        let keys: Vec<ItemKey> = self.desired.keys().filter(|k| kind(k)).cloned().collect();
        if keys.is_empty() {
            return;
        }
        let key = self.rng.pick(&keys).clone();
        self.desired.remove(&key);
        self.seq += 1;
        self.feed(Event::Delete { seq: self.seq, key });
    }

    fn vanish(&mut self, ns: &Netns, silently: bool) {
        if self.kernel.vanish(ns).is_err() {
            return;
        }
        self.foreign_lo.remove(ns);
        self.unmanaged.retain(|(n, _)| n != ns);
        if silently {
            let delay = 1 + self.rng.below(3) as u32;
            self.trace(format!(
                "{} silent vanish of {ns}, announced in {delay} steps",
                self.now
            ));
            self.unannounced.push((ns.clone(), delay));
        } else {
            self.feed(Event::NamespaceVanished { ns: ns.clone() });
        }
    }

    fn vanish_named(&mut self, silently: bool) {
        let ns = Netns::Named(self.rng.pick(&NAMED).to_string());
        if self.kernel.contains_namespace(&ns) && !self.is_unannounced(&ns) {
            self.vanish(&ns, silently);
        }
    }

    fn is_unannounced(&self, ns: &Netns) -> bool {
        self.unannounced.iter().any(|(n, _)| n == ns)
    }

    fn toggle_process(&mut self) {
        let ns = Netns::Pid(*self.rng.pick(&PIDS));
        if self.is_unannounced(&ns) {
            return;
        }
        if self.kernel.contains_namespace(&ns) {
            let silently = self.faults && self.rng.chance(50);
            self.vanish(&ns, silently);
        } else if self.kernel.appear(ns.clone()).is_ok() {
            self.feed(Event::NamespaceAvailable { ns });
        }
    }

    fn microservice_step(&mut self) {
        let label = *self.rng.pick(&LABELS);
        match self.kernel.microservice(label).cloned() {
            None => {
                if let Ok(ms) = self.kernel.start_microservice(label) {
                    self.feed(ms.started_event());
                }
            }
            Some(_) if self.rng.chance(50) => {
                if let Ok(ms) = self.kernel.stop_microservice(label) {
                    self.feed(ms.stopped_event());
                }
            }
            Some(_) => {
                if let Ok((old, new)) = self.kernel.restart_microservice(label) {
                    // Docker may report the stop, or only the start with its new pid.
                    if self.rng.chance(50) {
                        self.feed(old.stopped_event());
                    }
                    self.feed(new.started_event());
                }
            }
        }
    }

    fn inject_fault(&mut self) {
        let count = 1 + self.rng.below(3) as u32;
        // Transient errors only: EEXIST or ENODEV would lie about the kernel's state, and the
        // core rightly believes them.
        let errno = *self
            .rng
            .pick(&[errno::EBUSY, errno::ENOBUFS, errno::EAGAIN, errno::ENOMEM]);
        self.trace(format!("{} inject {count} x errno {errno}", self.now));
        self.kernel.fail_next(count, Fault::Errno(errno));
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        if self.core.poll_timeout().is_some_and(|t| t.0 <= self.now) {
            self.feed(Event::TimerFired);
        }
    }

    fn announce_due(&mut self) {
        let mut due = Vec::new();
        for (ns, steps) in &mut self.unannounced {
            *steps -= 1;
            if *steps == 0 {
                due.push(ns.clone());
            }
        }
        self.unannounced.retain(|(_, s)| *s > 0);
        for ns in due {
            self.feed(Event::NamespaceVanished { ns });
        }
    }

    /// The agent restarts: from a snapshot of its state, or with its state lost (then the
    /// desired state comes back from the KV bucket, as the daemon does with `--kv`).
    fn restart(&mut self, lose_state: bool) -> Result<(), Violation> {
        // Results on their way die with the process; the kernel keeps what they did, and the
        // resync below shows it.
        self.held.clear();
        if lose_state {
            self.trace(format!("{} restart with state lost", self.now));
            self.forget_lo_addresses();
            self.core = Core::new(CoreConfig::default());
            self.feed(Event::MicroserviceWatch { connected: true });
            let present: Vec<Netns> = self
                .kernel
                .namespaces()
                .into_iter()
                .filter(|n| matches!(n, Netns::Pid(_)))
                .collect();
            for ns in present {
                self.feed(Event::NamespaceAvailable { ns });
            }
            for ms in self.kernel.microservices() {
                self.feed(ms.started_event());
            }
            let items: Vec<Item> = self.desired.values().cloned().collect();
            for item in items {
                self.seq += 1;
                self.feed(Event::Put {
                    seq: self.seq,
                    item,
                });
            }
        } else {
            self.trace(format!("{} restart from snapshot", self.now));
            if !self.restore_snapshots {
                self.unannounced.clear();
                return self.resync_after_restart();
            }
            let bytes = serde_json::to_vec(&self.core)
                .map_err(|e| self.violation(format!("snapshot: {e}")))?;
            self.core = serde_json::from_slice(&bytes)
                .map_err(|e| self.violation(format!("restore: {e}")))?;
        }
        // Whatever the watcher had not announced yet, the kernel shows now.
        self.unannounced.clear();
        self.resync_after_restart()
    }

    // ----- applying commands ------------------------------------------------------------------

    /// Applies the core's commands until it is idle. Each batch is applied in a random order:
    /// the core promises that commands outstanding together are independent.
    fn pump(&mut self) -> Result<(), Violation> {
        for (c, r) in std::mem::take(&mut self.held) {
            self.deliver(&c, r);
        }
        let mut may_hold = !self.settling;
        for _round in 0..10_000 {
            let mut batch: Vec<Command> = Vec::new();
            while let Some(c) = self.core.poll_command() {
                batch.push(c);
            }
            if batch.is_empty() {
                return Ok(());
            }
            for c in &batch {
                self.check_dependencies(c)?;
            }
            let mut order: Vec<usize> = (0..batch.len()).collect();
            for i in (1..order.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
            let mut results = vec![None; batch.len()];
            // A vanish nobody announced excuses the whole batch, even once a command of it
            // has made the namespace again.
            let unannounced = !self.unannounced.is_empty();
            for &i in &order {
                let before = self.kernel.counters().ops_injected;
                let result = self.kernel.apply(&batch[i].op);
                let injected = self.kernel.counters().ops_injected > before;
                // On a borrowed link the agent knows only the addresses it added; one that was
                // there already answers EEXIST, which the core rightly takes as done.
                let borrowed_address_there = matches!(
                    (&batch[i].op, &result),
                    (Op::AddAddress { link, .. }, Err(e)) if link == "lo" && e.errno == Some(errno::EEXIST)
                );
                // A kernel older than 6.2 refuses to rename a link that is up: the agent learns
                // so from the answer, as it would on such a machine.
                let old_kernel_rename = matches!(
                    (&batch[i].op, &result),
                    (Op::RenameLink { .. }, Err(e)) if e.errno == Some(errno::EBUSY)
                        && !self.kernel.config().live_rename
                );
                if let (Err(e), false, false, false) =
                    (&result, injected, borrowed_address_there, old_kernel_rename)
                {
                    if !unannounced {
                        let issued: Vec<String> = batch
                            .iter()
                            .map(|c| format!("{} {}", c.id.0, c.op))
                            .collect();
                        return Err(self.violation(format!(
                            "the kernel refused command {} ({}) by its own rules: {e}\n  \
                             issued together: {}",
                            batch[i].id.0,
                            batch[i].op,
                            issued.join("; ")
                        )));
                    }
                }
                // An address the agent adds (or finds there as it adds it) is the agent's again.
                if let Op::AddAddress { ns, link, addr } = &batch[i].op {
                    let added = result
                        .as_ref()
                        .map_or_else(|e| e.errno == Some(errno::EEXIST), |_| true);
                    if link == "lo" && added {
                        if let Some(foreign) = self.foreign_lo.get_mut(ns) {
                            foreign.remove(addr);
                        }
                    }
                }
                if let (Op::CreateNamespace { name }, Ok(())) = (&batch[i].op, &result) {
                    // The agent re-created it: nothing is left for the watcher to announce.
                    let ns = Netns::Named(name.clone());
                    self.unannounced.retain(|(n, _)| *n != ns);
                }
                results[i] = Some(result);
            }
            // Sometimes the results stay on their way while the next things happen: the
            // kernel has done the work, the core does not know yet.
            let hold = may_hold && self.rng.chance(15);
            may_hold = false;
            for (c, r) in batch.into_iter().zip(results) {
                let r = r.expect("every command was applied");
                if hold {
                    self.trace(format!("{} command {} {:?} held", self.now, c.id.0, c.op));
                    self.held.push((c, r));
                } else {
                    self.deliver(&c, r);
                }
            }
            if hold {
                return Ok(());
            }
        }
        Err(self.violation("the core did not become idle after 10,000 rounds of commands"))
    }

    /// The watcher saw something change and the kernel is observed again, while results are
    /// still on their way: the snapshot shows what the core has not been told yet.
    fn reobserve(&mut self) -> Result<(), Violation> {
        let namespaces = self.kernel.namespaces();
        let snapshot = self
            .kernel
            .observe(&namespaces)
            .map_err(|e| self.violation(format!("observe failed: {e}")))?;
        self.feed(Event::Observed(snapshot));
        Ok(())
    }

    fn deliver(&mut self, c: &Command, r: Result<(), nsagent_core::BackendError>) {
        self.commands += 1;
        self.trace(format!(
            "{} command {} {:?} -> {:?}",
            self.now,
            c.id.0,
            c.op,
            r.as_ref().map_err(|e| e.to_string())
        ));
        let event = Event::command_result(c.id, r);
        self.core.handle(Timestamp(self.now), event);
    }

    /// Desired interfaces whose link is called `host` in `ns`: those that want that name (in
    /// whatever namespace), and the one whose alias the link carries (a rename may still be
    /// to come).
    fn interfaces_named(&self, ns: &Netns, host: &str) -> Vec<Interface> {
        let owner = self
            .kernel
            .link(ns, host)
            .and_then(|l| l.alias)
            .and_then(|a| a.strip_prefix(ALIAS_PREFIX).map(String::from));
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

    /// Why a route command for interface `i` is not justified, if it is not.
    fn route_justified(&self, ns: &Netns, route: &RouteSpec, i: &Interface) -> Result<(), String> {
        let key = ItemKey::Route {
            dst: route.dst,
            interface: i.name.clone(),
        };
        let Some(Item::Route(r)) = self.desired.get(&key) else {
            return Err(format!("{key} is not desired"));
        };
        if !i.enabled {
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
        let knowable = !i.link_only || self.unannounced.is_empty();
        if let (Some(gw), true) = (r.gw_addr, knowable) {
            if !addrs.iter().any(|a| a.contains(&gw)) {
                return Err(format!("gateway {gw} is outside the subnets of {}", i.name));
            }
        }
        Ok(())
    }

    /// The harness's own reading of "no command for an item whose dependencies do not hold".
    fn check_dependencies(&self, c: &Command) -> Result<(), Violation> {
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
                let Some(me) = link
                    .alias
                    .as_deref()
                    .and_then(|a| a.strip_prefix(ALIAS_PREFIX))
                    .and_then(iface)
                else {
                    return fail("no interface item wants it".into());
                };
                if let NewLink::Veth { peer, .. } = kind {
                    let other = peer
                        .alias
                        .as_deref()
                        .and_then(|a| a.strip_prefix(ALIAS_PREFIX))
                        .and_then(iface);
                    let paired = other.as_ref().is_some_and(|o| {
                        o.kind == InterfaceType::Veth
                            && o.veth_peer.as_deref() == Some(me.name.as_str())
                            && me.veth_peer.as_deref() == Some(o.name.as_str())
                    });
                    if !paired {
                        return fail("the two veth ends do not both want this pair".into());
                    }
                }
            }
            // A route or neighbour names its link by host name, which any interface item may
            // have chosen: the command is fine if one item of that host name justifies it.
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
                    } else if !i.enabled {
                        why = format!("interface {} is disabled", i.name);
                    } else {
                        return Ok(());
                    }
                }
                return fail(why);
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

    // ----- invariants -------------------------------------------------------------------------

    fn check_step(&mut self) -> Result<(), Violation> {
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
            && self.kernel.pending_faults() == 0;
        if quiet {
            self.check_converged()?;
        }
        Ok(())
    }

    fn liveness(&mut self) -> Result<(), Violation> {
        self.settling = true;
        self.kernel.clear_faults();
        let due: Vec<Netns> = self.unannounced.drain(..).map(|(n, _)| n).collect();
        for ns in due {
            self.feed(Event::NamespaceVanished { ns });
        }
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
        self.check_converged()
    }

    /// Where the kernel should be, by the oracle, and where it is.
    fn check_converged(&mut self) -> Result<(), Violation> {
        self.convergence_checks += 1;
        self.check_loopbacks()?;
        let mut found: BTreeMap<(Netns, String), ExpectedLink> = BTreeMap::new();
        for (ns, l) in self.kernel.dump().managed() {
            let routes = l
                .routes
                .iter()
                .filter(|r| r.protocol == ROUTE_PROTOCOL)
                .map(|r| (r.route.dst, r.route.gw, r.route.metric, r.route.scope))
                .collect();
            found.insert(
                (ns, l.name.clone()),
                ExpectedLink {
                    kind: l.kind,
                    up: l.up,
                    mtu: Some(l.mtu),
                    mac: Some(l.mac),
                    addresses: l.addresses.iter().copied().collect(),
                    addresses_unmanaged: false,
                    peer: l.peer.clone(),
                    routes,
                    neighbours: l.neighbours.iter().copied().collect(),
                },
            );
        }
        let expected = self.oracle(&found);
        let mut problems = Vec::new();
        for (key, want) in &expected {
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
                        .map(|want| {
                            let mut want_cmp = want.clone();
                            // Attributes the configuration leaves open are whatever the kernel
                            // has.
                            if want.mtu.is_none() {
                                want_cmp.mtu = got.mtu;
                            }
                            if want.mac.is_none() {
                                want_cmp.mac = got.mac;
                            }
                            if want.addresses_unmanaged {
                                want_cmp.addresses = got.addresses.clone();
                                want_cmp.addresses_unmanaged = false;
                            }
                            want_cmp
                        })
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

    /// At a restart that loses the agent's state: what its `lo`s hold beyond what `l0` wants
    /// becomes someone else's.
    fn forget_lo_addresses(&mut self) {
        let wanted: Option<(Netns, Vec<IpNet>)> = match self
            .desired
            .get(&ItemKey::Interface("l0".into()))
        {
            Some(Item::Interface(i)) => i.namespace.fixed().map(|ns| (ns, i.ip_addresses.clone())),
            _ => None,
        };
        for n in self.kernel.dump().namespaces {
            let Some(lo) = n.unmanaged.iter().find(|l| l.name == "lo") else {
                continue;
            };
            let foreign = self.foreign_lo.entry(n.ns.clone()).or_default();
            for a in &lo.addresses {
                let kept = wanted
                    .as_ref()
                    .is_some_and(|(ns, want)| *ns == n.ns && want.contains(a));
                if !kept {
                    foreign.insert(*a);
                }
            }
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
                    if lo.up != i.enabled || got != want {
                        let explained = self.core.explain(&ItemKey::Interface("l0".into()));
                        return Err(self.violation(format!(
                            "lo in {} is {} with {got:?}; l0 wants it {} with {want:?}; core: {explained:?}",
                            n.ns,
                            if lo.up { "up" } else { "down" },
                            if i.enabled { "up" } else { "down" }
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

    fn available(&self, r: &NamespaceRef) -> Option<Netns> {
        match r {
            NamespaceRef::Default => Some(Netns::Default),
            // The agent creates named namespaces that are missing.
            NamespaceRef::Named(n) => Some(Netns::Named(n.clone())),
            NamespaceRef::Microservice(label) => self.kernel.microservice(label).map(|m| m.netns()),
            other => other
                .fixed()
                .filter(|ns| self.kernel.contains_namespace(ns)),
        }
    }

    /// The managed links the rules call for, written from the rules and not from the core.
    /// `found` is consulted only for what the configuration leaves to others: the addresses of
    /// a `link_only` interface, which decide whether its routes' gateways are reachable.
    ///
    /// Items that want the same link name in the same namespace compete for it: the rules only
    /// say that one of them has it, so any one is accepted (`Expected::candidates`), and a veth
    /// whose other end competes may be absent.
    fn oracle(
        &self,
        found: &BTreeMap<(Netns, String), ExpectedLink>,
    ) -> BTreeMap<(Netns, String), Expected> {
        let mut links: BTreeMap<String, ((Netns, String), ExpectedLink)> = BTreeMap::new();
        let mut placed: BTreeMap<String, (Netns, String, bool, Vec<IpNet>)> = BTreeMap::new();
        for item in self.desired.values() {
            let Item::Interface(i) = item else { continue };
            let Some(ns) = self.available(&i.namespace) else {
                continue;
            };
            let (kind, peer) = match i.kind {
                InterfaceType::Dummy => (LinkKind::Dummy, None),
                InterfaceType::Veth => {
                    let p = i.veth_peer.as_deref().unwrap_or_default();
                    let Some(Item::Interface(peer)) =
                        self.desired.get(&ItemKey::Interface(p.to_string()))
                    else {
                        continue;
                    };
                    if peer.kind != InterfaceType::Veth
                        || peer.veth_peer.as_deref() != Some(i.name.as_str())
                    {
                        continue;
                    }
                    let Some(peer_ns) = self.available(&peer.namespace) else {
                        continue;
                    };
                    (LinkKind::Veth, Some((peer_ns, peer.host_if_name.clone())))
                }
                _ => continue,
            };
            // A link-only interface's addresses are someone else's business: the agent neither
            // adds nor removes them.
            let addresses: Vec<IpNet> = if i.link_only {
                found
                    .get(&(ns.clone(), i.host_if_name.clone()))
                    .map(|l| l.addresses.iter().copied().collect())
                    .unwrap_or_default()
            } else {
                i.ip_addresses.clone()
            };
            placed.insert(
                i.name.clone(),
                (
                    ns.clone(),
                    i.host_if_name.clone(),
                    i.enabled,
                    addresses.clone(),
                ),
            );
            links.insert(
                i.name.clone(),
                (
                    (ns, i.host_if_name.clone()),
                    ExpectedLink {
                        kind,
                        up: i.enabled,
                        mtu: i.mtu,
                        mac: if i.link_only { None } else { i.phys_address },
                        addresses: addresses.into_iter().collect(),
                        addresses_unmanaged: i.link_only,
                        peer,
                        routes: BTreeSet::new(),
                        neighbours: BTreeSet::new(),
                    },
                ),
            );
        }
        for item in self.desired.values() {
            match item {
                Item::Route(r) => {
                    let Some((ns, host, true, addrs)) = placed.get(&r.outgoing_interface) else {
                        continue;
                    };
                    if r.gw_addr
                        .is_some_and(|gw| !addrs.iter().any(|a| a.contains(&gw)))
                    {
                        continue;
                    }
                    let metric = if r.dst_network.addr().is_ipv6() && r.metric == 0 {
                        1024
                    } else {
                        r.metric
                    };
                    if let Some((key, l)) = links.get_mut(&r.outgoing_interface) {
                        if *key == (ns.clone(), host.clone()) {
                            l.routes.insert((r.dst_network, r.gw_addr, metric, r.scope));
                        }
                    }
                }
                Item::Arp(a) => {
                    let Some((ns, host, true, _)) = placed.get(&a.interface) else {
                        continue;
                    };
                    if let Some((key, l)) = links.get_mut(&a.interface) {
                        if *key == (ns.clone(), host.clone()) {
                            l.neighbours.insert((a.ip_address, a.hw_address));
                        }
                    }
                }
                Item::Interface(_) => {}
            }
        }
        // Every desired interface claims its host name under its namespace reference, placed
        // or not; the oldest claim wins, and the oracle does not model age.
        let mut claims: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for item in self.desired.values() {
            if let Item::Interface(i) = item {
                claims
                    .entry((format!("{:?}", i.namespace), i.host_if_name.clone()))
                    .or_default()
                    .push(i.name.clone());
            }
        }
        let mut contested: BTreeSet<&str> = BTreeSet::new();
        let mut winner_may_be_unplaced: BTreeSet<&str> = BTreeSet::new();
        for items in claims.values().filter(|items| items.len() > 1) {
            let unplaced = items.iter().any(|i| !links.contains_key(i));
            for i in items {
                contested.insert(i);
                if unplaced {
                    winner_may_be_unplaced.insert(i);
                }
            }
        }
        // Different references can name one namespace (a PID and the microservice running as
        // it): their items compete for link names too.
        let mut by_key: BTreeMap<&(Netns, String), Vec<&str>> = BTreeMap::new();
        for (item, (key, _)) in &links {
            by_key.entry(key).or_default().push(item);
        }
        for items in by_key.values().filter(|items| items.len() > 1) {
            contested.extend(items.iter().copied());
        }
        let mut expected: BTreeMap<(Netns, String), Expected> = BTreeMap::new();
        for (item, (key, link)) in &links {
            let peer_contested = match self.desired.get(&ItemKey::Interface(item.clone())) {
                Some(Item::Interface(i)) => i
                    .veth_peer
                    .as_deref()
                    .is_some_and(|p| contested.contains(p)),
                _ => false,
            };
            let e = expected.entry(key.clone()).or_default();
            e.candidates.push(link.clone());
            e.may_be_absent |= peer_contested || winner_may_be_unplaced.contains(item.as_str());
        }
        expected
    }
}

/// What a link name in a namespace should hold: one of the candidates, or maybe nothing.
#[derive(Debug, Default)]
struct Expected {
    candidates: Vec<ExpectedLink>,
    may_be_absent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedLink {
    kind: LinkKind,
    up: bool,
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    addresses: BTreeSet<IpNet>,
    /// `link_only`: the addresses are not the agent's to judge.
    addresses_unmanaged: bool,
    peer: Option<(Netns, String)>,
    routes: BTreeSet<(IpNet, Option<IpAddr>, u32, RouteScope)>,
    neighbours: BTreeSet<(IpAddr, MacAddr)>,
}
