//! The core driven against the real kernel through this backend: the seed scenario of issue 4
//! and resync after a restart.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::*;
use nsagent_core::{
    AgentIdentity, Backend, Core, CoreConfig, Event, Item, ItemKey, ItemState, Netns, Op, Timestamp,
};
use nsagent_netlink::{NamespaceEvent, NetlinkBackend, Watcher};
use serde_json::{json, Value};

fn key(name: &str) -> String {
    format!("config/linux/interfaces/v2/interface/{name}")
}

fn veth_item(name: &str, peer: &str, ns: &str, addr: &str) -> (String, Value) {
    let v = json!({
        "name": name, "type": "VETH", "enabled": true, "ip_addresses": [addr],
        "veth": {"peer_if_name": peer}, "namespace": {"type": "NSID", "reference": ns},
        "mtu": 1500
    });
    (key(name), v)
}

/// The core, the backend and the watcher, driven the way the daemon drives them.
struct Agent {
    core: Core,
    backend: NetlinkBackend,
    watcher: Watcher,
    events: Receiver<NamespaceEvent>,
    start: Instant,
    seq: u64,
    applied: Vec<Op>,
}

impl Agent {
    fn new() -> Agent {
        let backend = NetlinkBackend::new();
        let (watcher, events) = Watcher::start(backend.sockets()).unwrap();
        let core = Core::new(CoreConfig {
            retry_base_ms: 50,
            retry_max_ms: 400,
            ..CoreConfig::default()
        });
        Agent {
            core,
            backend,
            watcher,
            events,
            start: Instant::now(),
            seq: 0,
            applied: Vec::new(),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.start.elapsed().as_millis() as u64)
    }

    fn handle(&mut self, e: Event) {
        let now = self.now();
        self.core.handle(now, e);
    }

    fn put(&mut self, (key, value): (String, Value)) {
        self.seq += 1;
        let item = Item::decode(&key, &value).expect("valid item");
        self.handle(Event::Put {
            seq: self.seq,
            item,
        });
    }

    fn delete(&mut self, name: &str) {
        self.seq += 1;
        self.handle(Event::Delete {
            seq: self.seq,
            key: ItemKey::Interface(name.into()),
        });
    }

    /// Start-up: observe what the core will need, as the daemon does.
    fn resync(&mut self) {
        let namespaces = self.core.namespaces_to_observe();
        for ns in &namespaces {
            self.watcher.watch(ns.clone());
        }
        let snapshot = self.backend.observe(&namespaces).expect("observe");
        self.handle(Event::Observed(snapshot));
    }

    /// Applies commands, feeds watcher events and timers, until `done` holds or 10 s pass.
    fn settle(&mut self, mut done: impl FnMut(&Agent) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            while let Ok(ev) = self.events.try_recv() {
                let e = match ev {
                    NamespaceEvent::Appeared(ns, identity) => {
                        Event::NamespaceIdentified { ns, identity }
                    }
                    NamespaceEvent::Vanished(ns) => Event::NamespaceVanished { ns },
                    NamespaceEvent::Changed(ns) => match self.backend.observe(&[ns]) {
                        Ok(s) => Event::Observed(s),
                        Err(_) => continue,
                    },
                };
                self.handle(e);
            }
            if self.core.poll_timeout().is_some_and(|t| t <= self.now()) {
                self.handle(Event::TimerFired);
            }
            let now = self.now();
            self.drain(now);
            for ns in self.core.namespaces_to_observe() {
                self.watcher.watch(ns);
            }
            if done(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn drain(&mut self, now: Timestamp) {
        loop {
            let mut batch = Vec::new();
            while let Some(c) = self.core.poll_command() {
                batch.push(c);
            }
            if batch.is_empty() {
                return;
            }
            let results = self.backend.apply_batch(&batch);
            for (c, r) in batch.iter().zip(results) {
                self.applied.push(c.op.clone());
                let e = match r {
                    Ok(()) => Event::CommandSucceeded { id: c.id },
                    Err(error) => Event::CommandFailed { id: c.id, error },
                };
                self.core.handle(now, e);
            }
        }
    }

    fn state(&self, name: &str) -> Option<ItemState> {
        self.core.status(&ItemKey::Interface(name.into()))
    }

    fn all_applied(&self) -> bool {
        self.core
            .statuses()
            .iter()
            .all(|(_, s)| *s == ItemState::Applied)
    }
}

fn pingable(from: &TestNs, to: &str) -> bool {
    if std::process::Command::new("ping")
        .arg("-V")
        .output()
        .is_ok()
    {
        return from.exec(&["ping", "-c1", "-W1", to]);
    }
    // Without ping: a TCP connection refused by the far end proves the packets went across.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &from.name,
            "timeout",
            "2",
            "bash",
            "-c",
            &format!("echo > /dev/tcp/{to}/9"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).contains("refused")
}

fn pair_in_kernel(a: &TestNs, b: &TestNs) -> bool {
    a.link("veth1").is_some() && b.link("veth2").is_some()
}

#[test]
fn seed_scenario_veth_between_two_named_namespaces() {
    let a = TestNs::unmade();
    let b = TestNs::unmade();
    let mut agent = Agent::new();
    agent.resync();
    agent.put(veth_item("veth1", "veth2", &a.name, "192.168.22.1/24"));
    agent.put(veth_item("veth2", "veth1", &b.name, "192.168.22.2/24"));
    assert!(
        agent.settle(|g| g.all_applied()),
        "{:?}",
        agent.core.statuses()
    );
    assert!(
        agent
            .applied
            .iter()
            .any(|op| matches!(op, Op::CreateNamespace { .. })),
        "the core made the namespaces"
    );
    assert_eq!(a.addresses("veth1"), vec!["192.168.22.1/24".to_string()]);
    assert_eq!(b.addresses("veth2"), vec!["192.168.22.2/24".to_string()]);
    assert_eq!(
        a.link("veth1").unwrap()["ifalias"],
        AgentIdentity::default().mark("veth1").as_str()
    );
    assert!(pingable(&a, "192.168.22.2"), "ping across the pair");

    // Delete one end: the pair is gone from the kernel; the other end waits for its peer.
    agent.delete("veth2");
    assert!(agent.settle(|g| g.state("veth2").is_none() && !pair_in_kernel(&a, &b)));
    assert!(a.link("veth1").is_none(), "the kept end went with its peer");
    assert!(
        matches!(agent.state("veth1"), Some(ItemState::Pending { .. })),
        "{:?}",
        agent.state("veth1")
    );

    // Put it back: the pair returns.
    agent.put(veth_item("veth2", "veth1", &b.name, "192.168.22.2/24"));
    assert!(
        agent.settle(|g| g.all_applied()),
        "{:?}",
        agent.core.statuses()
    );
    assert!(pair_in_kernel(&a, &b));
    assert!(pingable(&a, "192.168.22.2"));

    // Delete a namespace by hand: the items go pending, then come back with the namespace.
    run("ip", &["netns", "del", &b.name]);
    let vanished = NamespaceEvent::Vanished(b.netns());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ev = agent.events.recv_timeout(Duration::from_millis(100));
        if ev.as_ref() == Ok(&vanished) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher reports the namespace gone"
        );
    }
    agent.handle(Event::NamespaceVanished { ns: b.netns() });
    for name in ["veth1", "veth2"] {
        assert!(
            matches!(agent.state(name), Some(ItemState::Pending { .. })),
            "{name}: {:?}",
            agent.state(name)
        );
    }
    assert!(
        agent.settle(|g| g.all_applied() && pair_in_kernel(&a, &b)),
        "{:?}",
        agent.core.statuses()
    );
    assert!(
        pingable(&a, "192.168.22.2"),
        "ping after the namespace came back"
    );
}

#[test]
fn resync_after_restart_changes_nothing_then_corrects_and_cleans_up() {
    let a = TestNs::unmade();
    let b = TestNs::unmade();
    let items = [
        veth_item("rs1", "rs2", &a.name, "192.168.23.1/24"),
        veth_item("rs2", "rs1", &b.name, "192.168.23.2/24"),
    ];
    {
        let mut first = Agent::new();
        first.resync();
        for it in items.clone() {
            first.put(it);
        }
        // A managed link the next run no longer wants.
        first.put(veth_item("stale1", "stale2", &a.name, "192.168.24.1/24"));
        first.put(veth_item("stale2", "stale1", &b.name, "192.168.24.2/24"));
        assert!(
            first.settle(|g| g.all_applied()),
            "{:?}",
            first.core.statuses()
        );
    }
    // Unmanaged links with similar names, made by hand.
    run(
        "ip",
        &[
            "-n", &a.name, "link", "add", "rs1x", "type", "veth", "peer", "name", "rs1y",
        ],
    );

    // Restart with the same desired state minus the stale pair.
    let mut second = Agent::new();
    for it in items.clone() {
        second.put(it);
    }
    second.resync();
    assert!(
        second.settle(|g| g.all_applied() && a.link("stale1").is_none()),
        "{:?}",
        second.core.statuses()
    );
    let changes: Vec<&Op> = second
        .applied
        .iter()
        .filter(|op| !matches!(op, Op::CreateNamespace { .. }))
        .collect();
    assert!(
        changes
            .iter()
            .all(|op| matches!(op, Op::DeleteLink { name, .. } if name.starts_with("stale"))),
        "only the stale link is touched: {changes:?}"
    );
    assert!(b.link("stale2").is_none());
    assert!(
        a.link("rs1x").is_some() && a.link("rs1y").is_some(),
        "unmanaged links are left alone"
    );

    // Changed by hand: MTU and an address removed; re-observing corrects both.
    run("ip", &["-n", &a.name, "link", "set", "rs1", "mtu", "1400"]);
    run(
        "ip",
        &[
            "-n",
            &a.name,
            "addr",
            "del",
            "192.168.23.1/24",
            "dev",
            "rs1",
        ],
    );
    assert!(
        second.settle(|_| a.link("rs1").map(|l| l["mtu"] == 1500).unwrap_or(false)
            && a.addresses("rs1") == vec!["192.168.23.1/24".to_string()])
    );
}

#[test]
fn a_pid_namespace_whose_process_exits_leaves_its_items_pending_and_its_peer_destroyed() {
    let mut child = unshared_sleeper();
    let pid = child.id();
    let hub = TestNs::unmade();
    let mut agent = Agent::new();
    agent.resync();
    agent.put((
        key("pv1"),
        json!({"name": "pv1", "type": "VETH", "enabled": true, "ip_addresses": ["192.168.25.1/24"],
               "veth": {"peer_if_name": "pv2"}, "namespace": {"type": "PID", "reference": pid.to_string()}}),
    ));
    agent.put(veth_item("pv2", "pv1", &hub.name, "192.168.25.2/24"));
    agent.watcher.watch(Netns::Pid(pid));
    assert!(
        agent.settle(|g| g.all_applied()),
        "{:?}",
        agent.core.statuses()
    );
    assert!(hub.link("pv2").is_some());

    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        agent.settle(|g| matches!(g.state("pv1"), Some(ItemState::Pending { .. }))),
        "{:?}",
        agent.state("pv1")
    );
    assert!(
        agent.settle(|_| hub.link("pv2").is_none()),
        "nothing keeps the dead namespace, so the peer went with it"
    );
    // Nothing brings the process back: after a while with retries and timers, still pending.
    let until = Instant::now() + Duration::from_millis(1500);
    agent.settle(|_| Instant::now() > until);
    for name in ["pv1", "pv2"] {
        assert!(
            matches!(agent.state(name), Some(ItemState::Pending { .. })),
            "{name}: {:?}",
            agent.state(name)
        );
    }
}
