//! Kernel benchmark (needs root): N veth pairs, one end in each of M named namespaces and the
//! other in a hub namespace, an address on each end, both up; made by `ip -batch`, by the
//! backend, and by the core driving the backend, each in namespaces of its own, in one run.
//! Then a resync of many managed links: observe every namespace and let the core compare.
//! Run it with `benches/kernel/run.sh`; every namespace it made is deleted at the end.

use std::io::Write;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use nsagent_core::{
    Backend, Command, CommandId, Core, CoreConfig, Event, Item, LinkSpec, Netns, NewLink, Op,
    Timestamp,
};
use nsagent_netlink::NetlinkBackend;
use serde_json::json;

struct Args {
    rounds: usize,
    pairs: usize,
    namespaces: usize,
    resync_links: usize,
}

fn args() -> Args {
    let mut a = Args {
        rounds: 3,
        pairs: 1000,
        namespaces: 100,
        resync_links: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--pairs", Some(v)) => a.pairs = v,
            ("--rounds", Some(v)) => a.rounds = v,
            ("--namespaces", Some(v)) => a.namespaces = v,
            ("--resync-links", Some(v)) => a.resync_links = v,
            _ => {
                eprintln!("usage: kernel_bench [--rounds R] [--pairs N] [--namespaces M] [--resync-links L]");
                std::process::exit(2);
            }
        }
    }
    a.namespaces = a.namespaces.max(1);
    a.rounds = a.rounds.max(1);
    a
}

/// Every namespace the benchmark made; deleted on drop, even after a panic.
struct Namespaces {
    hubs: Vec<String>,
    spokes: Vec<String>,
}

impl Namespaces {
    fn new() -> Namespaces {
        Namespaces {
            hubs: Vec::new(),
            spokes: Vec::new(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.hubs.iter().chain(&self.spokes)
    }

    fn make(&mut self, tag: &str, count: usize) -> (String, Vec<String>) {
        let base = format!("nsab-{}-{tag}", std::process::id());
        let hub = format!("{base}-hub");
        let spokes: Vec<String> = (0..count).map(|k| format!("{base}-{k}")).collect();
        let mut script = String::new();
        for n in std::iter::once(&hub).chain(&spokes) {
            script.push_str(&format!("netns add {n}\n"));
        }
        ip_batch(None, &script);
        self.hubs.push(hub.clone());
        self.spokes.extend(spokes.iter().cloned());
        (hub, spokes)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // The kernel destroys the veths of a deleted namespace later, in a worker that holds
        // the rtnl lock, and whatever runs meanwhile pays for it. Deleting the spokes first and
        // waiting until every hub is down to its loopback waits for exactly that work.
        let script: String = self
            .spokes
            .iter()
            .map(|n| format!("netns del {n}\n"))
            .collect();
        ip_batch_lenient(&script);
        let deadline = Instant::now() + Duration::from_secs(120);
        for hub in &self.hubs {
            while Instant::now() < deadline {
                let out = Process::new("ip")
                    .args(["-n", hub, "-o", "link", "show"])
                    .output();
                if out
                    .map(|o| o.stdout.iter().filter(|b| **b == b'\n').count() <= 1)
                    .unwrap_or(true)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let script: String = self
            .hubs
            .iter()
            .map(|n| format!("netns del {n}\n"))
            .collect();
        ip_batch_lenient(&script);
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn ip_batch(ns: Option<&str>, script: &str) {
    let mut cmd = Process::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run ip");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write batch");
    let status = child.wait().expect("wait for ip");
    assert!(status.success(), "ip -batch failed");
}

fn ip_batch_lenient(script: &str) {
    if let Ok(mut child) = Process::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(script.as_bytes());
        }
        let _ = child.wait();
    }
}

/// Pair `i`: its spoke namespace, link names and addresses.
fn pair(i: usize, spokes: &[String]) -> (String, String, String, String, String) {
    let base = i * 4;
    let a = format!("10.200.{}.{}/30", base >> 8, (base & 255) + 1);
    let b = format!("10.200.{}.{}/30", base >> 8, (base & 255) + 2);
    (
        spokes[i % spokes.len()].clone(),
        format!("e{i}"),
        format!("h{i}"),
        a,
        b,
    )
}

/// Checks, untimed, that the hub holds every pair's end, up and addressed.
fn verify(backend: &mut NetlinkBackend, hub: &str, pairs: usize) {
    let snap = backend
        .observe(&[Netns::Named(hub.to_string())])
        .expect("observe hub");
    let links = &snap.namespaces[0].links;
    let good = links
        .iter()
        .filter(|l| l.name.starts_with('h') && l.up && l.addresses.len() == 1)
        .count();
    assert_eq!(good, pairs, "every hub end is up with its address");
}

fn run_ip(hub: &str, spokes: &[String], pairs: usize) -> Duration {
    let mut per_spoke: Vec<String> = vec![String::new(); spokes.len()];
    let mut hub_script = String::new();
    for i in 0..pairs {
        let (_, e, h, a, b) = pair(i, spokes);
        let s = &mut per_spoke[i % spokes.len()];
        s.push_str(&format!(
            "link add {e} up type veth peer name {h} netns {hub}\naddr add {a} dev {e}\n"
        ));
        hub_script.push_str(&format!("link set {h} up\naddr add {b} dev {h}\n"));
    }
    let start = Instant::now();
    for (ns, script) in spokes.iter().zip(&per_spoke) {
        ip_batch(Some(ns), script);
    }
    ip_batch(Some(hub), &hub_script);
    start.elapsed()
}

fn spec(name: &str, up: bool) -> LinkSpec {
    LinkSpec {
        name: name.into(),
        mtu: None,
        mac: None,
        alias: Some(format!("nsagent:{name}")),
        up,
    }
}

fn commands(ops: Vec<Op>) -> Vec<Command> {
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| Command {
            id: CommandId(i as u64),
            op,
        })
        .collect()
}

fn check(results: Vec<Result<(), nsagent_core::BackendError>>) {
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        panic!("backend command failed: {e}");
    }
}

fn run_backend(
    backend: &mut NetlinkBackend,
    hub: &str,
    spokes: &[String],
    pairs: usize,
) -> Duration {
    let hub_ns = Netns::Named(hub.to_string());
    let mut links = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..pairs {
        let (ns, e, h, a, b) = pair(i, spokes);
        let ns = Netns::Named(ns);
        links.push(Op::CreateLink {
            ns: ns.clone(),
            link: spec(&e, true),
            kind: NewLink::Veth {
                peer_ns: hub_ns.clone(),
                peer: spec(&h, true),
            },
        });
        addrs.push(Op::AddAddress {
            ns,
            link: e,
            addr: a.parse().expect("address"),
        });
        addrs.push(Op::AddAddress {
            ns: hub_ns.clone(),
            link: h,
            addr: b.parse().expect("address"),
        });
    }
    let (links, addrs) = (commands(links), commands(addrs));
    let start = Instant::now();
    check(backend.apply_batch(&links));
    let mid = start.elapsed();
    check(backend.apply_batch(&addrs));
    let took = start.elapsed();
    if std::env::var_os("KERNEL_BENCH_VERBOSE").is_some() {
        println!(
            "  backend: links {:.3} s, addresses {:.3} s",
            mid.as_secs_f64(),
            (took - mid).as_secs_f64()
        );
    }
    took
}

fn items(hub: &str, spokes: &[String], pairs: usize) -> Vec<Item> {
    let mut v = Vec::with_capacity(pairs * 2);
    for i in 0..pairs {
        let (ns, e, h, a, b) = pair(i, spokes);
        for (name, peer, ns, addr) in [(&e, &h, ns.as_str(), &a), (&h, &e, hub, &b)] {
            let value = json!({
                "name": name, "type": "VETH", "enabled": true, "ip_addresses": [addr],
                "veth": {"peer_if_name": peer}, "namespace": {"type": "NSID", "reference": ns}
            });
            v.push(
                Item::decode(
                    &format!("config/linux/interfaces/v2/interface/{name}"),
                    &value,
                )
                .expect("valid item"),
            );
        }
    }
    v
}

/// The core with the desired state loaded and a start-up resync done, as the daemon starts.
fn core_with(backend: &mut NetlinkBackend, items: Vec<Item>) -> Core {
    let mut core = Core::new(CoreConfig::default());
    for (seq, item) in items.into_iter().enumerate() {
        core.handle(
            Timestamp(0),
            Event::Put {
                seq: seq as u64 + 1,
                item,
            },
        );
    }
    let snap = backend
        .observe(&core.namespaces_to_observe())
        .expect("observe");
    core.handle(Timestamp(0), Event::Observed(snap));
    core
}

/// The backend, counting the batches the core hands it.
struct Counting<'a> {
    inner: &'a mut NetlinkBackend,
    batches: Vec<usize>,
}

impl Backend for Counting<'_> {
    fn apply(&mut self, op: &Op) -> Result<(), nsagent_core::BackendError> {
        self.batches.push(1);
        self.inner.apply(op)
    }
    fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), nsagent_core::BackendError>> {
        self.batches.push(commands.len());
        self.inner.apply_batch(commands)
    }
    fn observe(
        &mut self,
        namespaces: &[Netns],
    ) -> Result<nsagent_core::Snapshot, nsagent_core::BackendError> {
        self.inner.observe(namespaces)
    }
}

fn run_core(core: &mut Core, backend: &mut NetlinkBackend) -> (Duration, usize) {
    let mut counting = Counting {
        inner: backend,
        batches: Vec::new(),
    };
    let start = Instant::now();
    let applied = nsagent_sim::run_until_idle(core, &mut counting, Timestamp(1));
    let took = start.elapsed();
    if std::env::var_os("KERNEL_BENCH_VERBOSE").is_some() {
        println!("  core batches: {:?}", counting.batches);
    }
    (took, applied)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let mut backend = NetlinkBackend::new();
    if let Some(p) = std::env::var("KERNEL_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        backend = backend.with_parallelism(p);
    }
    println!(
        "kernel benchmark: {} veth pairs, {} spoke namespaces + 1 hub, address on each end, both up; {} rounds",
        a.pairs, a.namespaces, a.rounds
    );
    let (mut ip, mut be, mut co) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..a.rounds {
        // Each way runs in namespaces of its own, deleted (waiting for the kernel) before the
        // next way runs: `ip -n` copies the mount table, which grows with every named
        // namespace. The order rotates so that none always runs first.
        for k in 0..3 {
            let mut made = Namespaces::new();
            match (round + k) % 3 {
                0 => {
                    let (hub, spokes) = made.make(&format!("ip{round}"), a.namespaces);
                    let t = run_ip(&hub, &spokes, a.pairs);
                    verify(&mut backend, &hub, a.pairs);
                    println!(
                        "round {round}: ip -batch              {:>6.0} pairs/s",
                        rate(a.pairs, t)
                    );
                    ip.push(t);
                }
                1 => {
                    let (hub, spokes) = made.make(&format!("be{round}"), a.namespaces);
                    let t = run_backend(&mut backend, &hub, &spokes, a.pairs);
                    verify(&mut backend, &hub, a.pairs);
                    println!(
                        "round {round}: nsagent backend        {:>6.0} pairs/s",
                        rate(a.pairs, t)
                    );
                    be.push(t);
                }
                _ => {
                    let (hub, spokes) = made.make(&format!("co{round}"), a.namespaces);
                    let mut core = core_with(&mut backend, items(&hub, &spokes, a.pairs));
                    let (t, applied) = run_core(&mut core, &mut backend);
                    verify(&mut backend, &hub, a.pairs);
                    assert!(
                        core.statuses().iter().all(|(_, s)| s.name() == "applied"),
                        "every item applied"
                    );
                    println!("round {round}: nsagent core + backend {:>6.0} pairs/s ({applied} commands)", rate(a.pairs, t));
                    co.push(t);
                }
            }
            for ns in made.all() {
                backend.forget(&Netns::Named(ns.clone()));
            }
        }
    }
    print_medians(a.pairs, ip, be, co);
    if a.resync_links >= 2 {
        resync(&a, &mut backend);
    }
}

fn print_medians(pairs: usize, ip: Vec<Duration>, be: Vec<Duration>, co: Vec<Duration>) {
    let (ip, be, co) = (median(ip), median(be), median(co));
    println!(
        "median ip -batch              {:>8.0} pairs/s  ({:.3} s)",
        rate(pairs, ip),
        ip.as_secs_f64()
    );
    println!(
        "median nsagent backend        {:>8.0} pairs/s  ({:.3} s)",
        rate(pairs, be),
        be.as_secs_f64()
    );
    println!(
        "median nsagent core + backend {:>8.0} pairs/s  ({:.3} s)",
        rate(pairs, co),
        co.as_secs_f64()
    );
    println!(
        "ratio backend / ip -batch: {:.2}x",
        rate(pairs, be) / rate(pairs, ip)
    );
    println!(
        "ratio core    / ip -batch: {:.2}x",
        rate(pairs, co) / rate(pairs, ip)
    );
}

/// A restarted agent against `a.resync_links` links made by `backend`: how long loading the
/// configuration, observing and comparing take.
fn resync(a: &Args, backend: &mut NetlinkBackend) {
    let mut made = Namespaces::new();
    let pairs = a.resync_links / 2;
    let (hub, spokes) = made.make("rs", a.namespaces);
    run_backend(backend, &hub, &spokes, pairs);
    let items = items(&hub, &spokes, pairs);
    for ns in made.all() {
        backend.forget(&Netns::Named(ns.clone()));
    }
    // A restarted agent: a new backend (no sockets yet) and a new core with the same config.
    let mut fresh = NetlinkBackend::new();
    let start = Instant::now();
    let mut core = core_with(&mut fresh, items);
    let (_, applied) = run_core(&mut core, &mut fresh);
    let took = start.elapsed();
    println!(
        "resync of {} managed links in {} namespaces: {:.3} s (load config + observe + compare; {applied} commands issued)",
        pairs * 2,
        a.namespaces + 1,
        took.as_secs_f64()
    );
    for ns in made.all() {
        fresh.forget(&Netns::Named(ns.clone()));
    }
}
