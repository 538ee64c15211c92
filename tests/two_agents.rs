//! Two agents with different identities sharing one (simulated) kernel, over many seeds: each
//! puts and deletes its own items (with the same item names as the other's, so that only the
//! identity in the mark tells their links apart), restarts with and without its state, and
//! resyncs while the other works. Neither may ever remove or change a link the other marks, or
//! anything on it — checked on every command, against the kernel as it is when the command is
//! applied — and in the end each converges to its own desired state beside the other's.

use std::collections::BTreeMap;

use nsagent_core::{
    AgentIdentity, Backend, BackendError, ChainSnapshot, Command, Core, CoreConfig, Event,
    InstanceId, Item, ItemKey, ItemState, Mark, Netns, Op, Snapshot, Timestamp,
};
use nsagent_sim::{run_until_idle, SimConfig, SimKernel};
use serde_json::json;

/// A kernel shared by the agents; each agent applies its commands through its own view, which
/// records every command that targets a link marked by another identity.
struct View<'k> {
    kernel: &'k mut SimKernel,
    me: AgentIdentity,
    violations: &'k mut Vec<String>,
}

impl View<'_> {
    /// The links a command removes or changes (or changes something on).
    fn targets(&self, op: &Op) -> Vec<(Netns, String)> {
        let link = |ns: &Netns, name: &str| vec![(ns.clone(), name.to_string())];
        match op {
            Op::DeleteLink { ns, name } => {
                let mut v = link(ns, name);
                // A veth's deletion takes its other end with it.
                v.extend(self.kernel.link(ns, name).and_then(|l| l.peer));
                v
            }
            Op::SetLink { ns, name, .. }
            | Op::SetOffload { ns, name, .. }
            | Op::RenameLink { ns, name, .. }
            | Op::MoveLink { ns, name, .. } => link(ns, name),
            Op::AddAddress { ns, link: l, .. }
            | Op::DelAddress { ns, link: l, .. }
            | Op::SetNeighbour { ns, link: l, .. }
            | Op::DelNeighbour { ns, link: l, .. }
            | Op::AddFdb { ns, link: l, .. }
            | Op::DelFdb { ns, link: l, .. } => link(ns, l),
            Op::AddRoute { ns, route }
            | Op::ReplaceRoute { ns, route }
            | Op::DelRoute { ns, route } => link(ns, &route.dev),
            Op::CreateNamespace { .. }
            | Op::CreateLink { .. }
            | Op::SetChain { .. }
            | Op::DeleteChain { .. }
            | Op::AddRule { .. }
            | Op::DelRule { .. } => vec![],
        }
    }
}

impl Backend for View<'_> {
    fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
        for (ns, name) in self.targets(op) {
            let alias = self.kernel.link(&ns, &name).and_then(|l| l.alias);
            if matches!(self.me.read(alias.as_deref()), Mark::Foreign) {
                self.violations.push(format!(
                    "agent {} issued {op}: {name} in {ns} is marked {alias:?}",
                    self.me.label()
                ));
            }
        }
        if let Op::SetChain { chain, .. } | Op::DeleteChain { chain, .. } = op {
            if matches!(self.me.read(Some(&chain.mark)), Mark::Foreign) {
                self.violations.push(format!(
                    "agent {} issued {op} for another agent's chain {}",
                    self.me.label(),
                    chain.holder
                ));
            }
        }
        self.kernel.apply(op)
    }

    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
        self.kernel.observe(namespaces)
    }

    fn observe_chains(&mut self, namespaces: &[Netns]) -> Result<ChainSnapshot, BackendError> {
        self.kernel.observe_chains(namespaces)
    }
}

struct Agent {
    config: CoreConfig,
    core: Core,
    /// The items this agent may want (all of them, by key) and those it wants now.
    pool: BTreeMap<ItemKey, Item>,
    desired: BTreeMap<ItemKey, Item>,
    seq: u64,
}

const PAIRS: u32 = 3;

fn item(key: String, value: serde_json::Value) -> (ItemKey, Item) {
    let item = Item::decode(&key, &value).unwrap_or_else(|e| panic!("{key}: {e}"));
    (item.key(), item)
}

/// An agent's items: veth pairs from the default namespace into a namespace both agents use or
/// one of its own, a route and a neighbour on each pair's first end, and a dummy whose host
/// name both agents want (the oldest claimant's link stays, the other waits). The item names
/// are the same for both agents; host names and addresses are not.
fn pool(label: &str, a: u32) -> BTreeMap<ItemKey, Item> {
    let iface = |name: &str| format!("config/linux/interfaces/v2/interface/{name}");
    let mut items = BTreeMap::new();
    for k in 0..PAIRS {
        let (first, second) = (format!("v{}", 2 * k), format!("v{}", 2 * k + 1));
        let ns = if k % 2 == 0 {
            "common".to_string()
        } else {
            format!("{label}n")
        };
        items.extend([
            item(
                iface(&first),
                json!({"name": first, "type": "VETH", "enabled": true,
                    "host_if_name": format!("{label}v{k}"),
                    "ip_addresses": [format!("10.{a}.{k}.1/24")],
                    "veth": {"peer_if_name": second}}),
            ),
            item(
                iface(&second),
                json!({"name": second, "type": "VETH", "enabled": true,
                    "host_if_name": format!("{label}p{k}"),
                    "namespace": {"type": "NSID", "reference": ns},
                    "ip_addresses": [format!("10.{a}.{k}.2/24")],
                    "veth": {"peer_if_name": first}}),
            ),
            item(
                format!("config/linux/l3/v2/route/10.{}.{k}.0/24/{first}", 100 + a),
                json!({"outgoing_interface": first, "dst_network": format!("10.{}.{k}.0/24", 100 + a),
                    "gw_addr": format!("10.{a}.{k}.2")}),
            ),
            item(
                format!("config/linux/l3/v2/arp/{first}/10.{a}.{k}.7"),
                json!({"interface": first, "ip_address": format!("10.{a}.{k}.7"),
                    "hw_address": format!("02:00:00:00:{a:02x}:{k:02x}")}),
            ),
        ]);
    }
    items.extend([item(
        iface("c"),
        json!({"name": "c", "type": "DUMMY", "enabled": true, "host_if_name": "contested"}),
    )]);
    items
}

impl Agent {
    fn new(label: &str, instance: u64, a: u32) -> Agent {
        let identity = AgentIdentity::new(label, InstanceId(instance)).expect("identity");
        let config = CoreConfig {
            identity,
            ..CoreConfig::default()
        };
        Agent {
            core: Core::new(config.clone()),
            config,
            pool: pool(label, a),
            desired: BTreeMap::new(),
            seq: 0,
        }
    }

    fn put(&mut self, now: u64, key: &ItemKey) {
        let item = self.pool[key].clone();
        self.desired.insert(key.clone(), item.clone());
        self.seq += 1;
        let seq = self.seq;
        self.core.handle(Timestamp(now), Event::Put { seq, item });
    }

    fn delete(&mut self, now: u64, key: &ItemKey) {
        self.desired.remove(key);
        self.seq += 1;
        let (seq, key) = (self.seq, key.clone());
        self.core.handle(Timestamp(now), Event::Delete { seq, key });
    }

    /// A restart, from the state it had or with its state lost (then its desired state comes
    /// back, as from the KV bucket), followed by the resync every start does.
    fn restart(&mut self, now: u64, lose_state: bool, view: &mut View) {
        if lose_state {
            self.core = Core::new(self.config.clone());
            self.core
                .handle(Timestamp(now), Event::MicroserviceWatch { connected: true });
            for key in self.desired.keys().cloned().collect::<Vec<_>>() {
                self.put(now, &key);
            }
        }
        self.core.handle(Timestamp(now), Event::Restarted);
        let snapshot = view
            .observe(&self.core.namespaces_to_observe())
            .expect("observe");
        self.core.handle(Timestamp(now), Event::Observed(snapshot));
    }

    fn run(&mut self, now: u64, view: &mut View) {
        if self.core.poll_timeout().is_some_and(|t| t.0 <= now) {
            self.core.handle(Timestamp(now), Event::TimerFired);
        }
        run_until_idle(&mut self.core, view, Timestamp(now));
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut kernel = SimKernel::new(SimConfig::default());
    let mut violations = Vec::new();
    let mut agents = [
        Agent::new("alpha", 0x1234_5678_9abc_def0, 1),
        Agent::new("beta", 0x0fed_cba9_8765_4321, 2),
    ];
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut now = 0;
    for agent in agents.iter_mut() {
        let mut view = View {
            kernel: &mut kernel,
            me: agent.config.identity.clone(),
            violations: &mut violations,
        };
        agent.restart(0, true, &mut view);
        // The contested name goes to whoever asks first; here, the first agent.
        let c = agent.pool.keys().find(|k| k.interface() == "c").cloned();
        agent.put(0, &c.expect("c"));
        agent.run(0, &mut view);
    }
    for _ in 0..120 {
        now += 50 + rng.below(400);
        let who = rng.below(2) as usize;
        let agent = &mut agents[who];
        let mut view = View {
            kernel: &mut kernel,
            me: agent.config.identity.clone(),
            violations: &mut violations,
        };
        let keys: Vec<ItemKey> = agent.pool.keys().cloned().collect();
        let key = keys[rng.below(keys.len() as u64) as usize].clone();
        match rng.below(10) {
            0..=4 => agent.put(now, &key),
            5 | 6 if key.interface() != "c" => agent.delete(now, &key),
            7 => agent.restart(now, false, &mut view),
            8 => agent.restart(now, true, &mut view),
            _ => {}
        }
        agent.run(now, &mut view);
        // The other agent's timers and resyncs go on meanwhile.
        let other = &mut agents[1 - who];
        let mut view = View {
            kernel: &mut kernel,
            me: other.config.identity.clone(),
            violations: &mut violations,
        };
        other.run(now, &mut view);
        if let Some(v) = violations.first() {
            return Err(format!("seed {seed}: {v}"));
        }
    }
    // In the end each wants all of its items, and both settle side by side.
    for agent in agents.iter_mut() {
        for key in agent.pool.keys().cloned().collect::<Vec<_>>() {
            agent.put(now, &key);
        }
    }
    for round in 0..40 {
        now += 5_000;
        for agent in agents.iter_mut() {
            let mut view = View {
                kernel: &mut kernel,
                me: agent.config.identity.clone(),
                violations: &mut violations,
            };
            if round % 10 == 9 {
                agent.restart(now, false, &mut view);
            }
            agent.run(now, &mut view);
        }
    }
    if let Some(v) = violations.first() {
        return Err(format!("seed {seed}: {v}"));
    }
    let contested = kernel
        .link(&Netns::Default, "contested")
        .and_then(|l| l.alias);
    for agent in &agents {
        let me = &agent.config.identity;
        for key in agent.pool.keys() {
            let state = agent.core.status(key);
            let holds_contested = matches!(me.read(contested.as_deref()), Mark::Mine("c"));
            let expect_applied = key.interface() != "c" || holds_contested;
            if expect_applied != (state == Some(ItemState::Applied)) {
                return Err(format!(
                    "seed {seed}: agent {}: {key} is {state:?} (contested link {contested:?})",
                    me.label()
                ));
            }
        }
        let marked = kernel.dump().marked_by(me).len();
        // Both ends of each pair, and the contested dummy if it holds it.
        let want = 2 * PAIRS as usize
            + usize::from(matches!(me.read(contested.as_deref()), Mark::Mine(_)));
        if marked != want {
            return Err(format!(
                "seed {seed}: agent {} has {marked} links in the kernel, wants {want}",
                me.label()
            ));
        }
    }
    Ok(())
}

#[test]
fn two_agents_on_one_kernel_never_touch_each_others_links() {
    let seeds = std::env::var("TWO_AGENT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60u64);
    for seed in 1..=seeds {
        run_seed(seed).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The view's check itself: a command on a link the other agent marks is reported.
#[test]
fn the_view_reports_a_command_on_the_other_agents_link() {
    let mut kernel = SimKernel::new(SimConfig::default());
    let mut violations = Vec::new();
    let mut alpha = Agent::new("alpha", 1, 1);
    let beta = Agent::new("beta", 2, 2);
    let mut view = View {
        kernel: &mut kernel,
        me: alpha.config.identity.clone(),
        violations: &mut violations,
    };
    alpha.restart(0, true, &mut view);
    let key = alpha.pool.keys().find(|k| k.interface() == "c").cloned();
    alpha.put(0, &key.expect("c"));
    alpha.run(0, &mut view);
    let mut view = View {
        kernel: &mut kernel,
        me: beta.config.identity.clone(),
        violations: &mut violations,
    };
    let delete = Command {
        id: nsagent_core::CommandId(1),
        op: Op::DeleteLink {
            ns: Netns::Default,
            name: "contested".into(),
        },
    };
    assert!(view.apply_batch(&[delete])[0].is_ok());
    assert_eq!(violations.len(), 1, "{violations:?}");
}
