//! Harness of the end-to-end tests: a real nats-server with JetStream on a free loopback port and
//! a temporary store, the real `nsagentd` binary, and a few NATS helpers. Every process started
//! here is killed when its guard drops, also when a test fails.

#![allow(dead_code)]

pub mod unshared;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A label no other test (or test process) uses.
pub fn unique_label(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn wait_for_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() == up {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "port {port} did not become {}",
        if up { "reachable" } else { "free" }
    );
}

/// A nats-server of our own.
pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Nats {
    pub fn start() -> Nats {
        Nats::start_with(&[])
    }

    /// With extra nats-server arguments (authentication, for instance).
    pub fn start_with(extra: &[&str]) -> Nats {
        assert!(
            Path::new(NATS_SERVER).exists(),
            "{NATS_SERVER} is missing: apt-get install nats-server"
        );
        let mut nats = Nats {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        nats.spawn();
        nats
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))
            .expect("nats log");
        let child = Command::new(NATS_SERVER)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        wait_for_port(self.port, true);
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        wait_for_port(self.port, false);
    }

    /// Stops the server and starts it again on the same port with the same store.
    pub fn restart(&mut self, down_for: Duration) {
        self.stop();
        std::thread::sleep(down_for);
        self.spawn();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An `nsagentd` process.
pub struct Daemon {
    child: Option<Child>,
    pub label: String,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl Daemon {
    pub fn start(nats_url: &str, label: &str, data_dir: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_backend(nats_url, label, data_dir, "sim", extra)
    }

    pub fn start_backend(
        nats_url: &str,
        label: &str,
        data_dir: &Path,
        backend: &str,
        extra: &[&str],
    ) -> Daemon {
        Daemon::start_with_env(nats_url, label, data_dir, backend, extra, &[])
    }

    pub fn start_with_env(
        nats_url: &str,
        label: &str,
        data_dir: &Path,
        backend: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let log = data_dir.with_extension("log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("daemon log");
        let child = Command::new(env!("CARGO_BIN_EXE_nsagentd"))
            .args([
                "--label",
                label,
                "--nats",
                nats_url,
                "--backend",
                backend,
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("NSAGENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start nsagentd");
        Daemon {
            child: Some(child),
            label: label.to_string(),
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = c.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!(
                    "nsagentd did not exit on SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub async fn client(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|n| Duration::from_millis((n as u64 * 50).min(500)))
        .connect(url)
        .await
        .expect("connect to nats")
}

/// One request; `Err` on timeout or no responders.
pub async fn request(
    client: &async_nats::Client,
    subject: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Value, String> {
    let reply = tokio::time::timeout(
        timeout,
        client.request(subject.to_string(), body.to_vec().into()),
    )
    .await
    .map_err(|_| "timeout".to_string())?
    .map_err(|e| e.to_string())?;
    serde_json::from_slice(&reply.payload).map_err(|e| format!("bad reply {e}"))
}

/// Waits until the daemon of `label` answers status requests.
pub async fn wait_ready(client: &async_nats::Client, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if request(
            client,
            &format!("nsagent.{label}.status"),
            b"",
            Duration::from_millis(500),
        )
        .await
        .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nsagentd {label} never answered");
}

pub fn dummy(name: &str) -> (String, Value) {
    (
        format!("config/linux/interfaces/v2/interface/{name}"),
        serde_json::json!({"name": name, "type": "DUMMY", "enabled": true, "ip_addresses": ["10.20.0.1/24"]}),
    )
}

pub fn put_body(name: &str) -> Vec<u8> {
    let (key, value) = dummy(name);
    serde_json::json!({"put": {"key": key, "value": value}})
        .to_string()
        .into_bytes()
}

/// Every item's state, by key.
pub async fn statuses(
    client: &async_nats::Client,
    label: &str,
) -> std::collections::BTreeMap<String, String> {
    let v = request(
        client,
        &format!("nsagent.{label}.status"),
        b"",
        Duration::from_secs(10),
    )
    .await
    .expect("status");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap_or_default().to_string(),
                i["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits until every key in `keys` is applied.
pub async fn wait_applied(
    client: &async_nats::Client,
    label: &str,
    keys: &[String],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let states = statuses(client, label).await;
        let missing: Vec<_> = keys
            .iter()
            .filter(|k| states.get(*k).map(String::as_str) != Some("applied"))
            .collect();
        if missing.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{} of {} keys not applied, e.g. {:?} -> {:?}",
                missing.len(),
                keys.len(),
                missing[0],
                states.get(missing[0])
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The KV bucket the agent `label` makes for itself, once it is there: the agent answers
/// requests before its KV intake has made the bucket, so a test that wants the bucket waits.
pub async fn agent_bucket(
    js: &async_nats::jetstream::Context,
    label: &str,
) -> async_nats::jetstream::kv::Store {
    let bucket = format!("nsagent_{label}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(kv) = js.get_key_value(&bucket).await {
            return kv;
        }
        assert!(Instant::now() < deadline, "bucket {bucket} not created");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
