//! The harness of the rule tests: a core, and a kernel played by hand — the test feeds events,
//! answers each command itself (ok, or an errno), and reads back what the core did.
#![allow(dead_code)]

use nsagent_core::errno;
use nsagent_core::*;
use serde_json::{json, Value};

pub struct Harness {
    pub core: Core,
    pub now: u64,
    seq: u64,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(CoreConfig::default())
    }

    pub fn with_config(config: CoreConfig) -> Harness {
        let mut d = Harness {
            core: Core::new(config),
            now: 0,
            seq: 0,
        };
        d.core
            .handle(Timestamp(0), Event::MicroserviceWatch { connected: true });
        d
    }

    pub fn event(&mut self, e: Event) {
        self.core.handle(Timestamp(self.now), e);
    }

    pub fn put(&mut self, key: &str, value: Value) {
        let item = Item::decode(key, &value).unwrap_or_else(|e| panic!("bad test item {key}: {e}"));
        self.seq += 1;
        self.event(Event::Put {
            seq: self.seq,
            item,
        });
    }

    pub fn delete(&mut self, key: &str) {
        self.seq += 1;
        self.event(Event::Delete {
            seq: self.seq,
            key: key.parse().unwrap(),
        });
    }

    /// Commands queued right now, not answered.
    pub fn pending(&mut self) -> Vec<Command> {
        let mut v = Vec::new();
        while let Some(c) = self.core.poll_command() {
            v.push(c);
        }
        v
    }

    pub fn ok(&mut self, c: &Command) {
        self.event(Event::CommandSucceeded { id: c.id });
    }

    pub fn fail(&mut self, c: &Command, errno: i32) {
        let error = BackendError::from_errno(&c.op, errno, "injected");
        self.event(Event::CommandFailed { id: c.id, error });
    }

    /// Answers every command with success until the core is idle; returns them in order.
    pub fn settle(&mut self) -> Vec<Op> {
        let mut ops = Vec::new();
        loop {
            let batch = self.pending();
            if batch.is_empty() {
                return ops;
            }
            for c in batch {
                self.ok(&c);
                ops.push(c.op);
            }
        }
    }

    pub fn state(&self, key: &str) -> ItemState {
        self.core
            .status(&key.parse().unwrap())
            .unwrap_or_else(|| panic!("no item {key}"))
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        if self.core.poll_timeout().is_some_and(|t| t.0 <= self.now) {
            self.event(Event::TimerFired);
        }
    }
}

impl Harness {
    /// The core asked to observe the default namespace (a link to borrow): it is given a
    /// snapshot holding `links` and nothing else.
    pub fn observe_default(&mut self, links: Vec<ObservedLink>) {
        let asked = self.core.poll_resync().unwrap_or_default();
        assert!(asked.contains(&Netns::Default), "not asked: {asked:?}");
        self.event(default_seen(links));
    }
}

/// A snapshot of the default namespace holding `links` and nothing else.
pub fn default_seen(links: Vec<ObservedLink>) -> Event {
    Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links,
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    })
}

/// The master changes among `ops` of the link `name`.
pub fn enslaving<'a>(ops: &'a [Op], name: &str) -> Vec<&'a Master> {
    ops.iter()
        .filter_map(|op| match op {
            Op::SetLink {
                name: n, change, ..
            } if n == name => change.master.as_ref(),
            _ => None,
        })
        .collect()
}

/// A link someone else made, as observed.
pub fn host_link(name: &str, up: bool, mtu: u32, addrs: &[&str]) -> ObservedLink {
    ObservedLink {
        name: name.into(),
        kind: LinkKind::Other,
        alias: None,
        mtu,
        mac: Some("02:00:00:00:00:aa".parse().unwrap()),
        up,
        addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        peer: None,
        checksum_offload: Default::default(),
        master: None,
        vrf_table: None,
        bridge: None,
        tap: None,
        macvlan_mode: None,
        parent: None,
        vxlan: None,
        fdb: vec![],
    }
}

pub const EEXIST: i32 = errno::EEXIST;

pub fn iface_key(name: &str) -> String {
    format!("config/linux/interfaces/v2/interface/{name}")
}

pub fn veth(name: &str, peer: &str, ns: Option<&str>, addr: &str) -> (String, Value) {
    let mut v = json!({"name": name, "type": "VETH", "enabled": true, "ip_addresses": [addr], "veth": {"peer_if_name": peer}});
    if let Some(ns) = ns {
        v["namespace"] = json!({"type": "NSID", "reference": ns});
    }
    (iface_key(name), v)
}

pub fn is_applied(s: &ItemState) -> bool {
    *s == ItemState::Applied
}

pub fn reasons(s: &ItemState) -> Vec<String> {
    match s {
        ItemState::Pending { reasons } => reasons.iter().map(|r| r.to_string()).collect(),
        other => panic!("expected pending, got {other}"),
    }
}

/// The mark of the harness core's own link for `item` (the default identity's).
pub fn mine(item: &str) -> String {
    AgentIdentity::default().mark(item)
}

/// A look at the default namespace that finds only the agent's dummy `name`, with `addrs`.
pub fn dummy_seen(name: &str, up: bool, addrs: &[&str]) -> Event {
    Event::Observed(Snapshot {
        namespaces: vec![ObservedNamespace {
            ns: Netns::Default,
            links: vec![ObservedLink {
                name: name.into(),
                kind: LinkKind::Dummy,
                alias: Some(mine(name)),
                mtu: 1500,
                mac: None,
                up,
                addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
                peer: None,
                checksum_offload: Default::default(),
                master: None,
                vrf_table: None,
                bridge: None,
                tap: None,
                macvlan_mode: None,
                parent: None,
                vxlan: None,
                fdb: vec![],
            }],
            routes: vec![],
            neighbours: vec![],
            rules: vec![],
        }],
        missing: vec![],
    })
}
