//! Helpers for tests against the real kernel: uniquely named namespaces that are removed even
//! when a test fails, and `ip -j` as an independent view of what the kernel holds.

#![allow(dead_code)]

use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};

use nsagent_core::{
    Backend, BackendError, Command, CommandId, LinkSpec, Netns, NewLink, Op, RouteSpec,
};
use nsagent_netlink::NetlinkBackend;
use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A named namespace that is deleted when the guard drops.
pub struct TestNs {
    pub name: String,
}

impl TestNs {
    /// Creates the namespace with `ip netns add`, independently of the backend.
    pub fn new() -> TestNs {
        let ns = TestNs::unmade();
        run("ip", &["netns", "add", &ns.name]);
        ns
    }

    /// A unique name whose namespace does not exist (yet); removed on drop if it came to be.
    pub fn unmade() -> TestNs {
        TestNs {
            name: unique("nsa"),
        }
    }

    pub fn netns(&self) -> Netns {
        Netns::Named(self.name.clone())
    }

    pub fn ip(&self, args: &[&str]) -> Value {
        let mut full = vec!["-n", &self.name, "-j"];
        full.extend_from_slice(args);
        ip_json(&full)
    }

    pub fn links(&self) -> Vec<Value> {
        self.ip(&["-d", "link", "show"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn link(&self, name: &str) -> Option<Value> {
        self.links().into_iter().find(|l| l["ifname"] == name)
    }

    pub fn addresses(&self, name: &str) -> Vec<String> {
        let v = self.ip(&["addr", "show", "dev", name]);
        let mut out = Vec::new();
        for link in v.as_array().into_iter().flatten() {
            for a in link["addr_info"].as_array().into_iter().flatten() {
                if a["scope"] == "link" && a["family"] == "inet6" {
                    continue;
                }
                out.push(format!(
                    "{}/{}",
                    a["local"].as_str().unwrap_or(""),
                    a["prefixlen"]
                ));
            }
        }
        out.sort();
        out
    }

    pub fn exec(&self, args: &[&str]) -> bool {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        Process::new("ip")
            .args(&full)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Process::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Process::new(cmd).args(args).output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip_json(args: &[&str]) -> Value {
    let out = run("ip", args);
    if out.trim().is_empty() {
        return Value::Array(vec![]);
    }
    serde_json::from_str(&out).expect("ip -j output is JSON")
}

pub fn spec(name: &str) -> LinkSpec {
    LinkSpec {
        name: name.to_string(),
        mtu: None,
        mac: None,
        alias: None,
        up: false,
    }
}

pub fn veth(ns: &TestNs, name: &str, peer_ns: &TestNs, peer: &str) -> Op {
    Op::CreateLink {
        ns: ns.netns(),
        link: spec(name),
        kind: NewLink::Veth {
            peer_ns: peer_ns.netns(),
            peer: spec(peer),
        },
    }
}

pub fn apply(backend: &mut NetlinkBackend, op: Op) -> Result<(), BackendError> {
    backend.apply(&op)
}

pub fn batch(backend: &mut NetlinkBackend, ops: Vec<Op>) -> Vec<Result<(), BackendError>> {
    let cmds: Vec<Command> = ops
        .into_iter()
        .enumerate()
        .map(|(i, op)| Command {
            id: CommandId(i as u64),
            op,
        })
        .collect();
    backend.apply_batch(&cmds)
}

/// A process in a network namespace of its own (`unshare -n sleep 60`), returned only once
/// the unshare has happened: until then `/proc/<pid>/ns/net` is this process's namespace, and
/// a test that looks too early sees the wrong namespace (a flaky `Appeared` identity in CI).
pub fn unshared_sleeper() -> std::process::Child {
    let mut child = Process::new("unshare")
        .args(["-n", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("unshare");
    let pid = child.id();
    let own = std::fs::read_link("/proc/self/ns/net").expect("own namespace");
    let unshared = eventually(|| {
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .map(|l| l != own)
            .unwrap_or(false)
    });
    if !unshared {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unshare -n did not give process {pid} a namespace of its own within 5 s");
    }
    child
}

/// Waits (up to 5 s) for `cond`; namespace teardown destroys links asynchronously.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// The mountinfo line of the mount that holds `path` as this process sees it: the mount id
/// the kernel reports for an open file of it (fdinfo's `mnt_id`), looked up in mountinfo.
/// Searching mountinfo by path is not enough: mounts hidden under a later mount of a parent are
/// listed there too.
pub fn visible_mount(mountinfo: &str, path: &str) -> Option<String> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).ok()?;
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd())).ok()?;
    let id = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))?
        .trim()
        .to_string();
    mountinfo
        .lines()
        .find(|l| l.split(' ').next() == Some(id.as_str()))
        .map(str::to_string)
}

/// How many mounts are stacked at `point` from `top` down (`top` included): each one sits on
/// the one before it at the same point. 0 when `top` is not mounted at `point`.
pub fn stack_depth(mountinfo: &str, top: &str, point: &str) -> usize {
    let at_point = |l: &&str| l.split(' ').nth(4) == Some(point);
    let mut depth = 0;
    let mut line = Some(top).filter(at_point);
    while let Some(l) = line {
        depth += 1;
        let parent = l.split(' ').nth(1);
        line = mountinfo
            .lines()
            .filter(at_point)
            .find(|m| m.split(' ').next() == parent);
    }
    depth
}

/// Where `/var/run/netns` really is (`/run/netns` where `/var/run` links to `/run`), as
/// mountinfo names it.
pub fn netns_run_dir() -> String {
    std::fs::canonicalize("/var/run")
        .map(|p| format!("{}/netns", p.display()))
        .unwrap_or_else(|_| "/var/run/netns".to_string())
}

/// Applies each command to both kernels: what differs between them, or from what is expected.
pub fn alike(
    sim: &mut nsagent_sim::SimKernel,
    real: &mut NetlinkBackend,
    ops: &[(Op, Option<i32>)],
) -> Vec<String> {
    let mut differences = Vec::new();
    for (op, want) in ops {
        let s = sim.apply(op).map_err(|e| e.errno);
        let r = real.apply(op).map_err(|e| e.errno);
        if s != r {
            differences.push(format!("{op}: sim {s:?}, kernel {r:?}"));
        }
        if r.err().flatten() != *want {
            differences.push(format!("{op}: kernel {r:?}, expected {want:?}"));
        }
    }
    differences
}

pub fn add_route(ns: &Netns, route: RouteSpec) -> Op {
    Op::AddRoute {
        ns: ns.clone(),
        route,
    }
}

pub fn del_route(ns: &Netns, route: RouteSpec) -> Op {
    Op::DelRoute {
        ns: ns.clone(),
        route,
    }
}

/// A backend's routes in `ns` (the agent's), each in one canonical text, sorted: the sim's and
/// the kernel's compare as equal lists.
pub fn routes_seen(b: &mut dyn Backend, ns: &Netns) -> Vec<String> {
    let seen = b.observe(std::slice::from_ref(ns)).expect("observe");
    let mut out: Vec<String> = seen
        .namespaces
        .iter()
        .flat_map(|n| n.routes.iter())
        .map(|r| format!("{r:?}"))
        .collect();
    out.sort();
    out
}
