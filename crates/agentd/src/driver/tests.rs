//! The driver as a whole: started on a journal and a backend, fed through its input, restarted
//! on the same log, and stopped by a dying backend.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nsagent_core::{
    Backend, BackendError, Command, CoreConfig, Event, Item, ItemKey, Netns, Op, Snapshot,
};
use nsagent_sim::{Fault, SimConfig, SimKernel};
use serde_json::Value;

use super::{BackendFactory, Driver, DriverConfig, Input, Output, Query, Reply};
use crate::journal::{Journal, JournalConfig, Origin, Record};
use crate::protocol::{IntentOp, IntentReply};
use crate::replay;

/// The sim kernel, recording every command it is given, with faults injected up front.
struct Recording {
    kernel: SimKernel,
    seen: Arc<Mutex<Vec<Command>>>,
}

impl Backend for Recording {
    fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
        self.kernel.apply(op)
    }

    fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
        self.seen
            .lock()
            .expect("lock")
            .extend(commands.iter().cloned());
        commands.iter().map(|c| self.kernel.apply(&c.op)).collect()
    }

    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
        self.kernel.observe(namespaces)
    }
}

fn factory(seen: Arc<Mutex<Vec<Command>>>, faults: u32) -> BackendFactory {
    Box::new(move || {
        let mut kernel = SimKernel::new(SimConfig::default());
        kernel.fail_next(faults, Fault::Errno(nsagent_core::errno::EBUSY));
        Ok(Box::new(Recording { kernel, seen }) as Box<dyn Backend>)
    })
}

fn item(v: serde_json::Value) -> Item {
    Item::decode_unkeyed(&v).expect("valid")
}

fn send(driver: &Driver, ops: Vec<IntentOp>) -> IntentReply {
    let (tx, rx) = mpsc::channel();
    driver
        .input
        .send(Input::Intent {
            ops,
            origin: Origin::Request,
            reply: Reply::Channel(tx),
        })
        .expect("send");
    rx.recv_timeout(Duration::from_secs(5)).expect("ack")
}

fn status(driver: &Driver) -> Value {
    let (tx, rx) = tokio::sync::oneshot::channel();
    driver
        .input
        .send(Input::Query {
            query: Query::Status {
                key: None,
                prefix: None,
                after: None,
                summary: false,
            },
            reply: tx,
        })
        .expect("send");
    rx.blocking_recv().expect("answer")
}

fn wait_all_applied(driver: &Driver, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = status(driver);
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.len() == count && items.iter().all(|i| i["state"] == "applied") {
            return;
        }
        assert!(Instant::now() < deadline, "not applied: {v}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn workload() -> Vec<Vec<IntentOp>> {
    let mut batches = vec![vec![
        IntentOp::Put(Box::new(item(
            serde_json::json!({"name": "v1", "type": "VETH", "enabled": true,
            "ip_addresses": ["10.1.0.1/24"], "veth": {"peer_if_name": "v2"}}),
        ))),
        IntentOp::Put(Box::new(item(
            serde_json::json!({"name": "v2", "type": "VETH", "enabled": true,
            "namespace": {"type": "NSID", "reference": "blue"}, "veth": {"peer_if_name": "v1"}}),
        ))),
    ]];
    for i in 0..30 {
        batches.push(vec![IntentOp::Put(Box::new(item(
            serde_json::json!({"name": format!("d{i}"), "type": "DUMMY", "enabled": true}),
        )))]);
    }
    batches.push(vec![IntentOp::Put(Box::new(item(
        serde_json::json!({"outgoing_interface": "v1",
        "dst_network": "10.9.0.0/16", "gw_addr": "10.1.0.2"}),
    )))]);
    batches.push(vec![IntentOp::Delete(ItemKey::Interface("d3".into()))]);
    batches
}

#[test]
fn replaying_the_log_yields_the_same_commands_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tmp");
    let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (out, _out_rx) = tokio::sync::mpsc::unbounded_channel();
    // Failing operations make the core retry through the timer, so timer events are logged too.
    let driver = Driver::start(
        journal,
        DriverConfig::default(),
        factory(seen.clone(), 3),
        out,
    )
    .expect("start");
    let mut last = 0;
    for ops in workload() {
        match send(&driver, ops) {
            IntentReply::Seq(s) => {
                assert!(s > last);
                last = s;
            }
            IntentReply::Error(e) => panic!("{e:?}"),
        }
    }
    wait_all_applied(&driver, 32);
    driver.shutdown().expect("clean stop");

    let (journal, report) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
    assert!(report.cut.is_none());
    let (records, replayed) = replay_all(&journal);
    let timers = records
        .iter()
        .filter(|r| matches!(r.event, Event::TimerFired))
        .count();
    let live = seen.lock().expect("lock").clone();
    assert!(timers > 0, "the injected faults should have caused retries");
    assert_eq!(
        bincode::serialize(&replayed).expect("ser"),
        bincode::serialize(&live).expect("ser")
    );
}

#[test]
fn a_restart_restores_from_the_snapshot_and_resyncs_with_the_fresh_kernel() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = DriverConfig {
        snapshot_every: 7,
        ..DriverConfig::default()
    };
    let (journal, _) = Journal::open(
        dir.path(),
        JournalConfig {
            retention: Some(0),
            ..JournalConfig::default()
        },
    )
    .expect("open");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
    let driver =
        Driver::start(journal, config.clone(), factory(seen.clone(), 0), out).expect("start");
    for ops in workload() {
        send(&driver, ops);
    }
    wait_all_applied(&driver, 32);
    driver.shutdown().expect("stop");

    let (journal, _) = Journal::open(
        dir.path(),
        JournalConfig {
            retention: Some(0),
            ..JournalConfig::default()
        },
    )
    .expect("reopen");
    assert!(
        journal.first_seq().unwrap_or(0) > 1,
        "retention trimmed the records before the snapshots"
    );
    assert!(!journal.snapshot_seqs().is_empty());
    seen.lock().expect("lock").clear();
    let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
    // A new sim kernel is empty: resync must re-create everything.
    let driver = Driver::start(journal, config, factory(seen.clone(), 0), out).expect("restart");
    wait_all_applied(&driver, 32);
    assert!(
        !seen.lock().expect("lock").is_empty(),
        "resync re-created the links"
    );
    driver.shutdown().expect("stop");
}

/// The sim kernel shared with the test, which plays Docker and the neighbour who changes
/// links by hand.
struct SharedKernel {
    kernel: Arc<Mutex<SimKernel>>,
    seen: Arc<Mutex<Vec<Command>>>,
}

impl Backend for SharedKernel {
    fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
        self.kernel.lock().expect("lock").apply(op)
    }

    fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
        self.seen
            .lock()
            .expect("lock")
            .extend(commands.iter().cloned());
        let mut kernel = self.kernel.lock().expect("lock");
        commands.iter().map(|c| kernel.apply(&c.op)).collect()
    }

    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
        self.kernel.lock().expect("lock").observe(namespaces)
    }
}

fn item_state(driver: &Driver, key: &str) -> String {
    let v = status(driver);
    v["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["key"].as_str().is_some_and(|k| k.ends_with(key)))
        })
        .map(|i| format!("{} {}", i["state"], i["detail"]))
        .unwrap_or_default()
}

/// A veth pair between the host and the microservice `ms1`.
fn pair_into_ms1() -> Vec<IntentOp> {
    vec![
        IntentOp::Put(Box::new(item(
            serde_json::json!({"name": "h1", "type": "VETH", "enabled": true,
            "ip_addresses": ["10.5.0.1/24"], "veth": {"peer_if_name": "c1"}}),
        ))),
        IntentOp::Put(Box::new(item(
            serde_json::json!({"name": "c1", "type": "VETH", "enabled": true,
            "host_if_name": "eth1", "ip_addresses": ["10.5.0.2/24"],
            "namespace": {"type": "MICROSERVICE", "reference": "ms1"},
            "veth": {"peer_if_name": "h1"}}),
        ))),
    ]
}

/// Someone deletes the host end by hand; only a new look at the namespace tells, and then
/// the pair is made again.
fn delete_h1_by_hand_and_reobserve(
    driver: &Driver,
    kernel: &Mutex<SimKernel>,
    seen: &Mutex<Vec<Command>>,
) {
    kernel
        .lock()
        .expect("lock")
        .apply(&Op::DeleteLink {
            ns: Netns::Default,
            name: "h1".into(),
        })
        .expect("delete by hand");
    let before = seen.lock().expect("lock").len();
    driver
        .input
        .send(Input::Reobserve(vec![Netns::Default, Netns::Default]))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().expect("lock").len() == before {
        assert!(Instant::now() < deadline, "the pair was not re-created");
        thread::sleep(Duration::from_millis(10));
    }
    wait_all_applied(driver, 2);
    assert!(kernel
        .lock()
        .expect("lock")
        .dump()
        .link(&Netns::Default, "h1")
        .is_some());
}

/// Every record of the log, and the commands a fresh core issues when they are replayed.
fn replay_all(journal: &Journal) -> (Vec<Record>, Vec<Command>) {
    let mut records = Vec::new();
    let mut commands = Vec::new();
    replay::replay_from_start(journal, CoreConfig::default(), u64::MAX, |_, r, cmds| {
        records.push(r.clone());
        commands.extend(cmds.iter().cloned());
    })
    .expect("replay");
    (records, commands)
}

#[test]
fn observations_and_reobservations_go_through_the_log_and_replay_identically() {
    let dir = tempfile::tempdir().expect("tmp");
    let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
    let kernel = Arc::new(Mutex::new(SimKernel::new(SimConfig::default())));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let backend = SharedKernel {
        kernel: kernel.clone(),
        seen: seen.clone(),
    };
    let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let config = DriverConfig {
        publish_namespaces: true,
        ..DriverConfig::default()
    };
    let driver = Driver::start(
        journal,
        config,
        Box::new(move || Ok(Box::new(backend) as Box<dyn Backend>)),
        out,
    )
    .expect("start");
    let observe = |events: Vec<Event>, origin: Origin| {
        driver
            .input
            .send(Input::Observe { events, origin })
            .expect("send")
    };
    observe(
        vec![Event::MicroserviceWatch { connected: false }],
        Origin::Docker,
    );
    send(&driver, pair_into_ms1());
    let state = item_state(&driver, "c1");
    assert!(
        state.contains("pending") && state.contains("docker not connected"),
        "{state}"
    );

    let ms = kernel
        .lock()
        .expect("lock")
        .start_microservice("ms1")
        .expect("start ms1");
    observe(
        vec![
            Event::MicroserviceWatch { connected: true },
            ms.started_event(),
        ],
        Origin::Docker,
    );
    wait_all_applied(&driver, 2);

    delete_h1_by_hand_and_reobserve(&driver, &kernel, &seen);
    driver.shutdown().expect("stop");

    let mut published = Vec::new();
    while let Ok(o) = out_rx.try_recv() {
        if let Output::Namespaces(list) = o {
            published.push(list);
        }
    }
    assert!(
        published.iter().any(|l| l.contains(&ms.netns())),
        "the container's namespace is to be watched: {published:?}"
    );

    let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
    let (records, replayed) = replay_all(&journal);
    let origins: Vec<_> = records
        .iter()
        .map(|r| (r.origin.clone(), std::mem::discriminant(&r.event)))
        .collect();
    let observed = std::mem::discriminant(&Event::Observed(Snapshot::default()));
    assert!(origins.contains(&(Origin::Kernel, observed)), "{origins:?}");
    assert_eq!(
        origins.iter().filter(|(o, _)| *o == Origin::Docker).count(),
        3
    );
    let live = seen.lock().expect("lock").clone();
    assert_eq!(
        bincode::serialize(&replayed).expect("ser"),
        bincode::serialize(&live).expect("ser")
    );
}

/// A backend that dies on its first command.
struct Dying;

impl Backend for Dying {
    fn apply(&mut self, _: &Op) -> Result<(), BackendError> {
        panic!("backend died (on purpose, in a test)")
    }

    fn observe(&mut self, _: &[Netns]) -> Result<Snapshot, BackendError> {
        Ok(Snapshot::default())
    }
}

#[test]
fn the_driver_stops_with_an_error_when_the_backend_thread_dies() {
    let dir = tempfile::tempdir().expect("tmp");
    let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
    let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut driver = Driver::start(
        journal,
        DriverConfig::default(),
        Box::new(|| Ok(Box::new(Dying) as Box<dyn Backend>)),
        out,
    )
    .expect("start");
    let exited = driver.exited().expect("exit signal");
    let put = |name: &str| {
        vec![IntentOp::Put(Box::new(item(
            serde_json::json!({"name": name, "type": "DUMMY"}),
        )))]
    };
    send(&driver, put("a"));
    // Commands for the next intent find the backend thread gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    while driver
        .input
        .send(Input::Intent {
            ops: put(&format!("b{n}")),
            origin: Origin::Request,
            reply: Reply::None,
        })
        .is_ok()
    {
        n += 1;
        assert!(
            Instant::now() < deadline,
            "the driver kept running without a backend"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(exited.blocking_recv().is_ok());
    let err = driver.shutdown().expect_err("error");
    assert!(err.to_string().contains("backend thread exited"), "{err}");
}

#[test]
fn a_backend_that_cannot_start_is_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
    let (out, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = Driver::start(
        journal,
        DriverConfig::default(),
        Box::new(|| Err("no netlink".into())),
        out,
    )
    .err()
    .expect("fails");
    assert!(err.to_string().contains("no netlink"), "{err}");
}

fn resync(driver: &Driver, ns: Option<Netns>) -> Value {
    let (tx, rx) = tokio::sync::oneshot::channel();
    driver
        .input
        .send(Input::Resync { ns, reply: tx })
        .expect("send");
    rx.blocking_recv().expect("answer")
}

fn drift_driver(dir: &std::path::Path, every_ms: Option<u64>) -> (Driver, Arc<Mutex<SimKernel>>) {
    let (journal, _) = Journal::open(dir, JournalConfig::default()).expect("open");
    let kernel = Arc::new(Mutex::new(SimKernel::new(SimConfig::default())));
    let backend = SharedKernel {
        kernel: kernel.clone(),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let (out, _out_rx) = tokio::sync::mpsc::unbounded_channel();
    let config = DriverConfig {
        resync_interval_ms: every_ms,
        ..DriverConfig::default()
    };
    let driver = Driver::start(
        journal,
        config,
        Box::new(move || Ok(Box::new(backend) as Box<dyn Backend>)),
        out,
    )
    .expect("start");
    let ops = vec![
        IntentOp::Put(Box::new(item(
            serde_json::json!({"name": "r1", "type": "DUMMY",
            "enabled": true, "ip_addresses": ["10.9.0.1/24"]}),
        ))),
        IntentOp::Put(Box::new(item(
            serde_json::json!({"outgoing_interface": "r1",
            "dst_network": "10.10.0.0/24", "gw_addr": "10.9.0.2"}),
        ))),
    ];
    send(&driver, ops);
    wait_all_applied(&driver, 2);
    (driver, kernel)
}

fn route_held(kernel: &Mutex<SimKernel>) -> bool {
    let snapshot = kernel
        .lock()
        .expect("lock")
        .observe(&[Netns::Default])
        .expect("observe");
    snapshot.namespaces[0]
        .routes
        .iter()
        .any(|r| r.dst.to_string() == "10.10.0.0/24")
}

/// Deletes the route behind the driver's back, the way `ip route del` does.
fn delete_route_by_hand(kernel: &Mutex<SimKernel>) {
    kernel
        .lock()
        .expect("lock")
        .apply(&Op::DelRoute {
            ns: Netns::Default,
            route: nsagent_core::RouteSpec {
                dev: "r1".into(),
                dst: "10.10.0.0/24".parse().expect("literal"),
                gw: Some("10.9.0.2".parse().expect("literal")),
                metric: 0,
                scope: nsagent_core::RouteScope::Global,
                table: None,
                kind: Default::default(),
                src: None,
                mtu: None,
                hops: Vec::new(),
            },
        })
        .expect("delete by hand");
    assert!(!route_held(kernel));
}

#[test]
fn a_resync_on_request_is_logged_repairs_drift_and_is_answered_after_the_snapshot_is_taken_in() {
    let dir = tempfile::tempdir().expect("tmp");
    let (driver, kernel) = drift_driver(dir.path(), None);
    delete_route_by_hand(&kernel);
    let answer = resync(&driver, Some(Netns::Default));
    let seq = answer["seq"].as_u64().unwrap_or_else(|| panic!("{answer}"));
    // The snapshot is in: the route is no longer believed held, whatever the result of its
    // new creation says.
    let state = item_state(&driver, "10.10.0.0/24");
    assert!(
        !state.starts_with("\"applied\"") || route_held(&kernel),
        "{state}"
    );
    wait_all_applied(&driver, 2);
    assert!(route_held(&kernel));
    let bad = resync(&driver, Some(Netns::Named("nobody".into())));
    assert_eq!(bad["error"]["field"], "ns", "{bad}");
    assert!(resync(&driver, None)["seq"].as_u64() > Some(seq));
    driver.shutdown().expect("stop");

    let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("reopen");
    let (records, _) = replay_all(&journal);
    let at = records
        .iter()
        .position(|r| {
            r.event
                == Event::ResyncRequested {
                    ns: Some(Netns::Default),
                }
        })
        .expect("the request is logged");
    assert_eq!(records[at].origin, Origin::Request);
    assert!(
        records[at..]
            .iter()
            .any(|r| matches!(r.event, Event::Observed(_)) && r.origin == Origin::Kernel),
        "the snapshot it caused follows it"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r.event, Event::ResyncRequested { .. }))
            .count(),
        2,
        "a namespace the agent does not manage is refused before the log"
    );
}

#[test]
fn the_periodic_resync_repairs_drift_nobody_told_of() {
    let dir = tempfile::tempdir().expect("tmp");
    let (driver, kernel) = drift_driver(dir.path(), Some(200));
    delete_route_by_hand(&kernel);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !route_held(&kernel) {
        assert!(Instant::now() < deadline, "the route was not restored");
        thread::sleep(Duration::from_millis(20));
    }
    wait_all_applied(&driver, 2);
    driver.shutdown().expect("stop");
}
