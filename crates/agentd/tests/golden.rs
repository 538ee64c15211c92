//! Byte-for-byte guards on what the agent persists: the encoded core after a fixed workload (a
//! snapshot) and the encoded log group of that workload's records, in the current format; and
//! proof that every older format's fixture still reads whole. A refactoring that changes the
//! bytes changed what the core decides or how it is stored; both must be deliberate. A change
//! of format bumps the format version and adds a new fixture beside these, never rewrites the
//! old ones.
//!
//! `NSAGENT_BLESS=1 cargo test -p nsagent-agentd --test golden` rewrites the fixtures; a commit
//! that does so says why.

use std::path::PathBuf;

use nsagent_agentd::{
    decode_group, decode_snapshot, encode_group, encode_snapshot, Origin, Record, FORMAT_VERSION,
};
use nsagent_core::{
    AgentIdentity, Backend, Core, CoreConfig, Event, Item, ItemState, Netns, Op, Timestamp,
    ALIAS_PREFIX,
};
use nsagent_sim::{Fault, SimConfig, SimKernel};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Compares `bytes` with the committed fixture `name`, or rewrites it under NSAGENT_BLESS=1.
fn assert_golden(name: &str, bytes: &[u8]) {
    let path = fixture(name);
    if std::env::var_os("NSAGENT_BLESS").is_some() {
        std::fs::write(&path, bytes).expect("write fixture");
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == bytes,
        "{name}: {} bytes now, {} committed; first difference at byte {:?}",
        bytes.len(),
        want.len(),
        want.iter().zip(bytes).position(|(a, b)| a != b)
    );
}

/// A core and a sim kernel driven by hand through a fixed story, every event recorded as the
/// daemon would log it.
struct Story {
    core: Core,
    kernel: SimKernel,
    records: Vec<Record>,
    now: Timestamp,
}

impl Story {
    fn feed(&mut self, origin: Origin, event: Event) {
        self.records
            .push(Record::new(self.now, origin, event.clone()));
        self.core.handle(self.now, event);
    }

    /// Applies every command one at a time and feeds each result back, until none is left. A
    /// namespace made by a command is then reported available, as the kernel watcher does.
    fn settle(&mut self) {
        while let Some(cmd) = self.core.poll_command() {
            let result = self.kernel.apply(&cmd.op);
            let made = match (&cmd.op, &result) {
                (Op::CreateNamespace { name }, Ok(())) => Some(Netns::Named(name.clone())),
                _ => None,
            };
            self.feed(Origin::Agent, Event::command_result(cmd.id, result));
            if let Some(ns) = made {
                self.feed(Origin::Kernel, Event::NamespaceAvailable { ns });
            }
        }
    }

    fn put(&mut self, seq: u64, value: serde_json::Value) {
        let item = Item::decode_unkeyed(&value).expect("a valid item");
        self.feed(Origin::Request, Event::Put { seq, item });
        self.settle();
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_millis(ms);
        if self.core.poll_timeout().is_some_and(|t| t <= self.now) {
            self.feed(Origin::Agent, Event::TimerFired);
            self.settle();
        }
    }
}

fn story() -> Story {
    let mut s = Story {
        core: Core::new(CoreConfig::default()),
        kernel: SimKernel::new(SimConfig::default()),
        records: Vec::new(),
        now: Timestamp(1_000),
    };
    let observed = s.kernel.observe(&[Netns::Default]).expect("observe");
    s.feed(Origin::Kernel, Event::Observed(observed));
    s.settle();
    // A route that waits for its interface, then the pair it needs.
    s.put(
        1,
        json!({"outgoing_interface": "g1", "dst_network": "10.9.0.0/16", "gw_addr": "192.168.9.2"}),
    );
    s.put(
        2,
        json!({"name": "g1", "type": "VETH", "enabled": true, "mtu": 1400,
               "namespace": {"type": "NSID", "reference": "golden-a"},
               "ip_addresses": ["192.168.9.1/24"], "veth": {"peer_if_name": "g2"}}),
    );
    s.kernel.fail_next(1, Fault::Errno(16)); // EBUSY: retried with backoff
    s.put(
        3,
        json!({"name": "g2", "type": "VETH", "enabled": true,
               "namespace": {"type": "NSID", "reference": "golden-b"},
               "ip_addresses": ["192.168.9.2/24", "fd00:9::2/64"], "veth": {"peer_if_name": "g1"}}),
    );
    s.advance(5_000);
    s.put(
        4,
        json!({"interface": "g1", "ip_address": "192.168.9.99", "hw_address": "02:00:00:09:00:99"}),
    );
    // Waits for a container that never comes.
    s.put(
        5,
        json!({"name": "m1", "type": "VETH", "enabled": true,
               "namespace": {"type": "MICROSERVICE", "reference": "golden-ms"},
               "veth": {"peer_if_name": "m2"}}),
    );
    // An in-place change, a rename, and a delete.
    s.put(
        6,
        json!({"name": "g1", "type": "VETH", "enabled": true, "mtu": 1500,
               "host_if_name": "g1-renamed",
               "namespace": {"type": "NSID", "reference": "golden-a"},
               "ip_addresses": ["192.168.9.1/24"], "veth": {"peer_if_name": "g2"}}),
    );
    let key = s.records.iter().rev().find_map(|r| match &r.event {
        Event::Put { item, .. } if item.key().to_string().ends_with("/m1") => Some(item.key()),
        _ => None,
    });
    s.feed(
        Origin::Request,
        Event::Delete {
            seq: 7,
            key: key.expect("m1's key"),
        },
    );
    s.settle();
    s.advance(60_000);
    // The story must have reached the states it is about, or the bytes guard little.
    let states: Vec<String> = s
        .core
        .statuses()
        .iter()
        .map(|(k, st)| format!("{k} {st}"))
        .collect();
    let applied = s
        .core
        .statuses()
        .iter()
        .filter(|(_, st)| matches!(st, ItemState::Applied))
        .count();
    assert_eq!(applied, 4, "{states:#?}");
    s
}

#[test]
fn the_encoded_core_after_a_fixed_story_is_unchanged() {
    let s = story();
    let snapshot = encode_snapshot(&s.core).expect("encode");
    assert_eq!(snapshot.as_bytes()[0], FORMAT_VERSION);
    assert_golden("core-snapshot-v2.bin", snapshot.as_bytes());
}

#[test]
fn the_encoded_log_group_of_a_fixed_story_is_unchanged_and_decodes() {
    let s = story();
    assert!(
        s.records.len() > 20,
        "the story is too short: {}",
        s.records.len()
    );
    let group = encode_group(&s.records).expect("encode");
    assert_golden("log-group-v2.bin", &group);
    let committed = std::fs::read(fixture("log-group-v2.bin")).expect("fixture");
    assert_eq!(decode_group(&committed).expect("decode"), s.records);
}

/// Every format ever written still reads, to the same records and the same core: decoding an
/// old fixture and encoding the result gives today's fixture of the same story.
#[test]
fn every_older_formats_fixtures_read_whole() {
    let s = story();
    for version in 1..FORMAT_VERSION {
        let group = std::fs::read(fixture(&format!("log-group-v{version}.bin"))).expect("fixture");
        assert_eq!(group[0], version);
        assert_eq!(
            decode_group(&group).expect("decode"),
            s.records,
            "version {version}"
        );
        let snapshot =
            std::fs::read(fixture(&format!("core-snapshot-v{version}.bin"))).expect("fixture");
        assert_eq!(snapshot[0], version);
        let core: Core = decode_snapshot(&snapshot).expect("decode");
        // Version 1 (and 2 until identities) was written when links were marked
        // `nsagent:<item>`; the same story marks them with the default identity today. That
        // is a change of what the core believes, not of the format: compare with the marks
        // written as they were.
        let legacy = AgentIdentity::default().mark("");
        let today = serde_json::to_string(&s.core)
            .expect("encode")
            .replace(&legacy, ALIAS_PREFIX);
        assert_eq!(
            serde_json::to_string(&core).expect("encode"),
            today,
            "version {version}: the snapshot decodes to another core"
        );
    }
}
