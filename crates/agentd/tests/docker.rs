//! nsagentd with the netlink backend and the Docker watcher, against the real kernel and a real
//! Docker daemon: veth pairs that follow a microservice's container through start, stop and
//! restart, duplicate labels, and repairs of what someone else broke (a named namespace deleted,
//! an MTU changed by hand).
//!
//! Needs root, dockerd and nats-server (CI has them); `scripts/docker-test-env.sh ensure` is run
//! first and starts dockerd and imports the busybox image if needed. Every namespace and
//! container is named after the test process and removed by a guard, also when a test fails.
//! The daemon runs in the host's namespace but only ever gets items in namespaces the test made.

mod common;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{client, request, Daemon, Nats};
use serde_json::Value;

const IMAGE: &str = "nsagent-test-busybox:latest";

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// Held for reading by every test, for writing by the one that restarts dockerd. Taken first in
/// each test, so released last, after its containers are removed.
static DOCKERD: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A short name no other test or test process uses (interface and namespace names are short).
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip netns del NAME`, done by someone else than the agent. `ip` unmounts the namespace and
/// then unlinks its file; the agent, woken by the unmount, may mount a new namespace on the
/// file in between, and then `ip` fails with EBUSY. That is the agent repairing the deletion
/// faster than `ip` finished it, not a failure: the namespace was gone, and is back.
fn delete_namespace_by_hand(name: &str) {
    let out = run("ip", &["netns", "del", name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("Device or resource busy"),
        "ip netns del {name} failed: {err}"
    );
}

/// Root, a running dockerd and the test image, or a panic that says what is missing.
fn require_environment() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let root = run("id", &["-u"]).stdout == b"0\n";
        if !root {
            return Err("these tests need root (network namespaces, docker)".into());
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/docker-test-env.sh"
        );
        let out = run(script, &["ensure"]);
        if !out.status.success() {
            return Err(format!(
                "{script} ensure failed (dockerd and the busybox image are needed): {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

/// A named network namespace, deleted on drop. Drop it after the agent, which would re-create
/// it.
struct NamedNs(String);

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.0]);
    }
}

/// A container, removed on drop.
struct Container(String);

impl Container {
    fn run(name: &str, label: &str) -> Container {
        let c = Container(name.to_string());
        ok(
            "docker",
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "-e",
                &format!("MICROSERVICE_LABEL={label}"),
                IMAGE,
                "sleep",
                "3600",
            ],
        );
        c
    }

    fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec", self.0.as_str()];
        all.extend_from_slice(args);
        run("docker", &all)
    }

    fn stop(&self) {
        ok("docker", &["stop", "-t", "0", &self.0]);
    }

    fn start(&self) {
        ok("docker", &["start", &self.0]);
    }

    fn id(&self) -> String {
        ok("docker", &["inspect", "-f", "{{.Id}}", &self.0])
            .trim()
            .to_string()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = run("docker", &["rm", "-f", &self.0]);
    }
}

/// nats-server and a netlink nsagentd following Docker.
struct Agent {
    daemon: Daemon,
    client: async_nats::Client,
    /// Kept running while the agent is.
    _nats: Nats,
    _dir: tempfile::TempDir,
}

impl Agent {
    async fn start() -> Agent {
        Agent::start_with_env(&[]).await
    }

    async fn start_with_env(env: &[(&str, &str)]) -> Agent {
        require_environment();
        let nats = Nats::start();
        let dir = tempfile::tempdir().expect("tmp");
        let label = unique("dk");
        let daemon = Daemon::start_with_env(
            &nats.url(),
            &label,
            &dir.path().join("data"),
            "netlink",
            &["--docker"],
            env,
        );
        let client = client(&nats.url()).await;
        common::wait_ready(&client, &label).await;
        Agent {
            _nats: nats,
            daemon,
            client,
            _dir: dir,
        }
    }

    /// Stops the daemon (SIGTERM) and starts it again on the same log.
    async fn restart(&mut self) {
        let status = self.daemon.terminate();
        assert!(status.success(), "{}", self.log_tail());
        let label = self.daemon.label.clone();
        let data = self.daemon.data_dir.clone();
        self.daemon =
            Daemon::start_backend(&self._nats.url(), &label, &data, "netlink", &["--docker"]);
        common::wait_ready(&self.client, &label).await;
    }

    fn subject(&self, what: &str) -> String {
        format!("nsagent.{}.{what}", self.daemon.label)
    }

    async fn put(&self, items: &[Value]) {
        let ops: Vec<Value> = items
            .iter()
            .map(|v| serde_json::json!({"put": {"key": key(v), "value": v}}))
            .collect();
        let body = serde_json::json!({ "txn": ops }).to_string();
        let reply = request(
            &self.client,
            &self.subject("intents"),
            body.as_bytes(),
            Duration::from_secs(10),
        )
        .await
        .expect("intent reply");
        assert!(reply.get("seq").is_some(), "{reply}");
    }

    /// A veth pair between the named namespace `ns` (end `<ms>-ns`, called `host_if`, address
    /// `<net>.1/24`) and the microservice `ms` (end `<ms>-ms`, called eth1, `<net>.2/24`);
    /// returns the names of the two ends.
    async fn put_pair_to_microservice(
        &self,
        ns: &NamedNs,
        ms: &str,
        host_if: &str,
        net: &str,
    ) -> (String, String) {
        let (a, b) = (format!("{ms}-ns"), format!("{ms}-ms"));
        self.put(&[
            veth(&a, &b, host_if, &format!("{net}.1/24"), named(&ns.0)),
            veth(&b, &a, "eth1", &format!("{net}.2/24"), microservice(ms)),
        ])
        .await;
        (a, b)
    }

    /// (state, detail) of one interface.
    async fn status(&self, name: &str) -> (String, String) {
        let body = serde_json::json!({ "key": interface_key(name) }).to_string();
        let v = request(
            &self.client,
            &self.subject("status"),
            body.as_bytes(),
            Duration::from_secs(10),
        )
        .await
        .expect("status");
        let item = &v["items"][0];
        (
            item["state"].as_str().unwrap_or_default().to_string(),
            item["detail"].as_str().unwrap_or_default().to_string(),
        )
    }

    async fn explain(&self, name: &str) -> Value {
        let body = serde_json::json!({ "key": interface_key(name) }).to_string();
        request(
            &self.client,
            &self.subject("explain"),
            body.as_bytes(),
            Duration::from_secs(10),
        )
        .await
        .expect("explain")
    }

    /// Waits until every named interface is applied.
    async fn wait_applied(&self, names: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut last = None;
            for n in names {
                let s = self.status(n).await;
                if s.0 != "applied" {
                    last = Some((n.to_string(), s));
                    break;
                }
            }
            let Some(last) = last else { return };
            assert!(
                Instant::now() < deadline,
                "not applied: {last:?}\ndaemon log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_state(&self, name: &str, state: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status(name).await;
            if s.0 == state {
                return s.1;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never {state}: {s:?}\ndaemon log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = self.daemon.log_text();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn interface_key(name: &str) -> String {
    format!("config/linux/interfaces/v2/interface/{name}")
}

fn key(v: &Value) -> String {
    interface_key(v["name"].as_str().expect("name"))
}

fn veth(name: &str, peer: &str, host_if: &str, addr: &str, ns: Value) -> Value {
    serde_json::json!({
        "name": name, "type": "VETH", "enabled": true, "host_if_name": host_if,
        "ip_addresses": [addr], "namespace": ns, "veth": {"peer_if_name": peer},
    })
}

fn named(ns: &str) -> Value {
    serde_json::json!({"type": "NSID", "reference": ns})
}

fn microservice(label: &str) -> Value {
    serde_json::json!({"type": "MICROSERVICE", "reference": label})
}

/// Whether `dev` exists in the named namespace.
fn link_in(ns: &str, dev: &str) -> bool {
    run("ip", &["-n", ns, "link", "show", "dev", dev])
        .status
        .success()
}

async fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_veth_pair_follows_its_microservice_through_stop_and_start() {
    let _docker = DOCKERD.read().await;
    // Made before the agent, so dropped after it: a running agent would re-create it.
    let ns = NamedNs(unique("nsa"));
    let agent = Agent::start().await;
    let ms = unique("ms-");
    let name = unique("nsagent-e2e-");
    let (a, b) = agent
        .put_pair_to_microservice(&ns, &ms, "vx0", "10.77.0")
        .await;
    // Nothing can happen before the container runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (state, detail) = agent.status(&b).await;
    assert_eq!(state, "pending", "{detail}");
    assert!(detail.contains(&ms), "{detail}");
    assert!(
        !link_in(&ns.0, "vx0"),
        "the pair was made without its container"
    );

    let c = Container::run(&name, &ms);
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    let inside = c.exec(&["ip", "addr", "show", "dev", "eth1"]);
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(text.contains("10.77.0.2/24"), "{text}");
    let ping = c.exec(&["ping", "-c1", "-W1", "10.77.0.1"]);
    assert!(
        ping.status.success(),
        "ping from the container: {}{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );

    c.stop();
    wait_until(
        "the pair to go with the container",
        Duration::from_secs(10),
        || !link_in(&ns.0, "vx0"),
    )
    .await;
    let detail = agent
        .wait_state(&b, "pending", Duration::from_secs(10))
        .await;
    assert!(detail.contains(&ms), "{detail}");

    c.start();
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    assert!(link_in(&ns.0, "vx0"));
    let ping = c.exec(&["ping", "-c1", "-W1", "10.77.0.1"]);
    assert!(ping.status.success(), "ping after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_with_one_label_are_reported_and_the_newest_wins() {
    let _docker = DOCKERD.read().await;
    // Made before the agent, so dropped after it: a running agent would re-create it.
    let ns = NamedNs(unique("nsa"));
    let agent = Agent::start().await;
    let ms = unique("ms-");
    let (a, b) = agent
        .put_pair_to_microservice(&ns, &ms, "vd0", "10.78.0")
        .await;
    let first = Container::run(&unique("nsagent-e2e-"), &ms);
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    assert!(first.exec(&["ip", "link", "show", "eth1"]).status.success());

    let second = Container::run(&unique("nsagent-e2e-"), &ms);
    let second_id = second.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = agent.explain(&b).await;
        let warnings = e["warnings"].to_string();
        let moved = second
            .exec(&["ip", "link", "show", "eth1"])
            .status
            .success();
        if warnings.contains("2 containers")
            && warnings.contains(&second_id)
            && moved
            && e["state"].to_string().to_lowercase().contains("applied")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "duplicate not reported or the newest did not win: {e}\n{}",
            agent.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !first.exec(&["ip", "link", "show", "eth1"]).status.success(),
        "the older container still has the interface"
    );
    assert!(
        agent.daemon.log_text().contains("newest wins"),
        "no log warning"
    );
    let ping = second.exec(&["ping", "-c1", "-W1", "10.78.0.1"]);
    assert!(ping.status.success(), "ping from the newest container");
}

fn mtu(ns: &str, dev: &str) -> Option<u64> {
    let out = run("ip", &["-j", "-n", ns, "link", "show", "dev", dev]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v[0]["mtu"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_and_a_hand_changed_mtu_are_repaired() {
    let _docker = DOCKERD.write().await;
    let (ns1, ns2) = (NamedNs(unique("nsa")), NamedNs(unique("nsb")));
    let agent = Agent::start().await;
    let (a, b) = (unique("seed-a"), unique("seed-b"));
    let mut left = veth(&a, &b, "s0", "192.168.22.1/24", named(&ns1.0));
    left["mtu"] = 1400.into();
    agent
        .put(&[left, veth(&b, &a, "s1", "192.168.22.2/24", named(&ns2.0))])
        .await;
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    ok(
        "ip",
        &[
            "netns",
            "exec",
            &ns1.0,
            "ping",
            "-c1",
            "-W1",
            "192.168.22.2",
        ],
    );
    // Someone deletes the namespace: only the agent makes it again, with its end of the pair.
    // (Its items may pass through "pending" too quickly for a state event of their own: the
    // daemon publishes an item's last state per batch.)
    let netns_file = format!("/var/run/netns/{}", ns1.0);
    delete_namespace_by_hand(&ns1.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(std::path::Path::new(&netns_file).exists() && link_in(&ns1.0, "s0")) {
        assert!(
            Instant::now() < deadline,
            "the agent did not re-create the namespace and its link\n{}",
            agent.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    assert!(link_in(&ns1.0, "s0"), "the namespace and its end came back");
    ok(
        "ip",
        &[
            "netns",
            "exec",
            &ns1.0,
            "ping",
            "-c1",
            "-W1",
            "192.168.22.2",
        ],
    );

    // Someone changes the MTU of a managed link: the watcher notices, the agent corrects it.
    ok(
        "ip",
        &["-n", &ns1.0, "link", "set", "dev", "s0", "mtu", "1300"],
    );
    wait_until("the MTU to be corrected", Duration::from_secs(10), || {
        mtu(&ns1.0, "s0") == Some(1400)
    })
    .await;
    // An address removed by hand comes back too.
    ok(
        "ip",
        &["-n", &ns2.0, "addr", "del", "192.168.22.2/24", "dev", "s1"],
    );
    wait_until("the address to come back", Duration::from_secs(10), || {
        String::from_utf8_lossy(&run("ip", &["-n", &ns2.0, "addr", "show", "dev", "s1"]).stdout)
            .contains("192.168.22.2/24")
    })
    .await;
    let log = agent.daemon.log_text();
    assert!(log.contains("observing again"), "no reobservation logged");
}

/// A new host name renames the link where it is: same link (same index), same address, the
/// pair still one, traffic still flowing; nothing is re-created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_name_renames_the_link_in_place() {
    let _docker = DOCKERD.read().await;
    let (ns1, ns2) = (NamedNs(unique("nsa")), NamedNs(unique("nsb")));
    let agent = Agent::start().await;
    let (a, b) = (unique("rn-a"), unique("rn-b"));
    agent
        .put(&[
            veth(&a, &b, "r0", "192.168.23.1/24", named(&ns1.0)),
            veth(&b, &a, "r1", "192.168.23.2/24", named(&ns2.0)),
        ])
        .await;
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    let index = |dev: &str| {
        String::from_utf8_lossy(
            &run("ip", &["-n", &ns1.0, "-o", "link", "show", "dev", dev]).stdout,
        )
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string()
    };
    let before = index("r0");
    assert!(!before.is_empty(), "r0 exists");

    agent
        .put(&[veth(&a, &b, "r0-renamed", "192.168.23.1/24", named(&ns1.0))])
        .await;
    wait_until(
        "the link to carry its new name",
        Duration::from_secs(10),
        || link_in(&ns1.0, "r0-renamed"),
    )
    .await;
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    assert!(!link_in(&ns1.0, "r0"), "the old name is gone");
    assert_eq!(index("r0-renamed"), before, "the same link, not a new one");
    let addr = run("ip", &["-n", &ns1.0, "addr", "show", "dev", "r0-renamed"]);
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains("192.168.23.1/24"),
        "the address stayed"
    );
    ok(
        "ip",
        &[
            "netns",
            "exec",
            &ns1.0,
            "ping",
            "-c1",
            "-W1",
            "192.168.23.2",
        ],
    );
}

/// The interface index of `dev` in the container: it changes when the link is re-created.
fn ifindex_in(c: &Container, dev: &str) -> String {
    let out = c.exec(&["cat", &format!("/sys/class/net/{dev}/ifindex")]);
    assert!(out.status.success(), "{dev} missing in {}", c.0);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_restart_with_the_container_running_changes_nothing() {
    let _docker = DOCKERD.read().await;
    let ns = NamedNs(unique("nsa"));
    let mut agent = Agent::start().await;
    let ms = unique("ms-");
    let (a, b) = agent
        .put_pair_to_microservice(&ns, &ms, "vr0", "10.76.0")
        .await;
    let c = Container::run(&unique("nsagent-e2e-"), &ms);
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    let before = ifindex_in(&c, "eth1");

    agent.restart().await;
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    // Give a wrong resync time to act.
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.wait_applied(&[&a, &b], Duration::from_secs(1)).await;
    assert_eq!(ifindex_in(&c, "eth1"), before, "the link was re-created");

    // Stopped while the agent is down: the restarted agent finds the namespace gone.
    let status = agent.daemon.terminate();
    assert!(status.success());
    c.stop();
    agent.daemon = Daemon::start_backend(
        &agent._nats.url(),
        &agent.daemon.label.clone(),
        &agent.daemon.data_dir.clone(),
        "netlink",
        &["--docker"],
    );
    common::wait_ready(&agent.client, &agent.daemon.label).await;
    let detail = agent
        .wait_state(&b, "pending", Duration::from_secs(10))
        .await;
    assert!(detail.contains(&ms), "{detail}");
    c.start();
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_docker_items_in_microservices_say_docker_is_not_connected() {
    let _docker = DOCKERD.read().await;
    let ns = NamedNs(unique("nsa"));
    let agent = Agent::start_with_env(&[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]).await;
    let ms = unique("ms-");
    let (_, b) = agent
        .put_pair_to_microservice(&ns, &ms, "vn0", "10.75.0")
        .await;
    let detail = agent
        .wait_state(&b, "pending", Duration::from_secs(10))
        .await;
    assert!(detail.contains("docker not connected"), "{detail}");
    assert!(detail.contains(&ms), "{detail}");
}

/// Brings dockerd back even when the test fails half-way.
struct DockerdBack;

impl Drop for DockerdBack {
    fn drop(&mut self) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/docker-test-env.sh"
        );
        let out = run(script, &["start"]);
        if !out.status.success() {
            eprintln!(
                "could not restart dockerd: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn container_pid(c: &Container) -> u32 {
    ok("docker", &["inspect", "-f", "{{.State.Pid}}", &c.0])
        .trim()
        .parse()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_daemon_crash_and_restart_moves_the_pair_to_the_new_process() {
    let _docker = DOCKERD.write().await;
    let ns = NamedNs(unique("nsa"));
    let agent = Agent::start().await;
    let ms = unique("ms-");
    let (a, b) = agent
        .put_pair_to_microservice(&ns, &ms, "vk0", "10.74.0")
        .await;
    let name = unique("nsagent-e2e-");
    let c = Container(name.clone());
    ok(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--restart=always",
            "-e",
            &format!("MICROSERVICE_LABEL={ms}"),
            IMAGE,
            "sleep",
            "3600",
        ],
    );
    agent.wait_applied(&[&a, &b], Duration::from_secs(20)).await;
    let old_pid = container_pid(&c);

    // A crash: the restarted daemon kills the orphaned container and starts it again (restart
    // policy) before it serves the API.
    let back = DockerdBack;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/docker-test-env.sh"
    );
    ok(script, &["kill"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = agent.daemon.log_text();
        if log.contains("Docker watch session ended") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outage was not noticed:\n{}",
            agent.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(back);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pid = container_pid(&c);
        let e = agent.explain(&b).await;
        if pid != 0
            && pid != old_pid
            && e["namespace"] == serde_json::json!({ "Pid": pid })
            && e["state"].to_string().to_lowercase().contains("applied")
            && agent.status(&a).await.0 == "applied"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pair did not follow the restarted container (pid {old_pid} -> {pid}): {e}\n{}",
            agent.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ping = c.exec(&["ping", "-c1", "-W1", "10.74.0.1"]);
    assert!(ping.status.success(), "ping from the restarted container");
}
