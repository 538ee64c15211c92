//! Namespace handles: named, pid and task namespaces, creation as `ip netns add` does it, and
//! the socket cache that must neither leak a thread into a namespace nor keep a dead one alive.

mod common;

use std::process::Child;

use common::*;
use nsagent_core::{ErrorKind, LinkChange, Netns, Op};
use nsagent_netlink::NetlinkBackend;

/// A process in a network namespace of its own, killed on drop.
struct Proc(Child);

impl Proc {
    fn new() -> Proc {
        Proc(unshared_sleeper())
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn links(&self) -> Vec<String> {
        let out = run(
            "nsenter",
            &[
                "-t",
                &self.pid().to_string(),
                "-n",
                "ip",
                "-j",
                "link",
                "show",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    }
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn thread_ns() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

#[test]
fn create_namespace_makes_a_namespace_ip_can_enter_and_is_idempotent() {
    let ns = TestNs::unmade();
    let mut b = NetlinkBackend::new();
    let op = Op::CreateNamespace {
        name: ns.name.clone(),
    };
    apply(&mut b, op.clone()).expect("create");
    let list = ip_json(&["-j", "netns", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == ns.name.as_str()),
        "{list}"
    );
    assert_eq!(ns.links().len(), 1, "a fresh namespace has only lo");
    // The namespace is usable by the backend too, and creating it again changes nothing.
    apply(&mut b, veth(&ns, "c0", &ns, "c1")).expect("veth in the new namespace");
    apply(&mut b, op).expect("exists already");
    assert!(ns.link("c0").is_some(), "not replaced by a new namespace");
    // /var/run/netns is a shared mount point, as ip netns add leaves it; what counts is the
    // mount that is visible there, whatever lies hidden below it.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let point = netns_run_dir();
    let top = visible_mount(&mounts, &point).expect("a mount holds the run dir");
    assert_eq!(
        top.split(' ').nth(4),
        Some(point.as_str()),
        "not a mount point: {top}"
    );
    assert!(top.contains("shared:"), "{top}");
}

#[test]
fn a_stack_of_mounts_is_counted_from_the_visible_one_down() {
    // Three binds stacked on one point, listed out of stacking order.
    let info = "30 1 0:5 / /run rw shared:1 - tmpfs t rw\n\
                41 40 0:5 /netns /run/netns rw - tmpfs t rw\n\
                42 41 0:5 /netns /run/netns rw shared:9 - tmpfs t rw\n\
                40 30 0:5 /netns /run/netns rw - tmpfs t rw\n\
                43 42 0:7 / /run/netns/x rw - nsfs n rw\n";
    let line = |id: &str| info.lines().find(|l| l.starts_with(id)).unwrap();
    assert_eq!(stack_depth(info, line("42 "), "/run/netns"), 3);
    assert_eq!(stack_depth(info, line("40 "), "/run/netns"), 1);
    assert_eq!(stack_depth(info, line("30 "), "/run/netns"), 0);
}

#[test]
fn create_namespace_mounts_over_a_leftover_plain_file() {
    let ns = TestNs::unmade();
    std::fs::create_dir_all("/var/run/netns").unwrap();
    std::fs::write(format!("/var/run/netns/{}", ns.name), b"").unwrap();
    let mut b = NetlinkBackend::new();
    let err = apply(&mut b, veth(&ns, "x0", &ns, "x1")).expect_err("a plain file is no namespace");
    assert_eq!(err.kind, ErrorKind::NamespaceGone);
    apply(
        &mut b,
        Op::CreateNamespace {
            name: ns.name.clone(),
        },
    )
    .expect("create over the file");
    apply(&mut b, veth(&ns, "x0", &ns, "x1")).expect("usable now");
    assert!(ns.link("x0").is_some());
}

#[test]
fn a_missing_namespace_is_namespace_gone_and_names_the_peer_when_it_is_the_peer() {
    let a = TestNs::new();
    let missing = TestNs::unmade();
    let mut b = NetlinkBackend::new();
    let err = apply(
        &mut b,
        Op::DeleteLink {
            ns: missing.netns(),
            name: "x".into(),
        },
    )
    .expect_err("no namespace");
    assert_eq!(err.kind, ErrorKind::NamespaceGone);
    assert_eq!(err.namespace, Some(missing.netns()));
    let err = apply(&mut b, veth(&a, "p0", &missing, "p1")).expect_err("no peer namespace");
    assert_eq!(err.kind, ErrorKind::NamespaceGone);
    assert_eq!(err.namespace, Some(missing.netns()));
    assert!(a.link("p0").is_none());
    let err = apply(
        &mut b,
        Op::DeleteLink {
            ns: Netns::Pid(u32::MAX - 1),
            name: "x".into(),
        },
    )
    .expect_err("no such pid");
    assert_eq!(err.kind, ErrorKind::NamespaceGone);
}

#[test]
fn pid_and_task_namespaces_are_reached_without_moving_the_caller() {
    let p = Proc::new();
    let a = TestNs::new();
    let before = thread_ns();
    let mut b = NetlinkBackend::new();
    let op = nsagent_core::Op::CreateLink {
        ns: Netns::Pid(p.pid()),
        link: spec("pv0"),
        kind: nsagent_core::NewLink::Veth {
            peer_ns: a.netns(),
            peer: spec("pv1"),
        },
    };
    apply(&mut b, op).expect("veth from a pid namespace");
    assert!(p.links().contains(&"pv0".to_string()));
    assert!(a.link("pv1").is_some());
    let task = Netns::Task {
        pid: p.pid(),
        tid: p.pid(),
    };
    let change = LinkChange {
        mtu: Some(1300),
        ..LinkChange::default()
    };
    apply(
        &mut b,
        Op::SetLink {
            ns: task,
            name: "pv0".into(),
            change,
        },
    )
    .expect("set through the task path");
    assert_eq!(
        thread_ns(),
        before,
        "the calling thread never left its namespace"
    );
    // Other threads did not either: every thread of this process is in its namespace.
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let t = t.unwrap().path();
        if let Ok(ns) = std::fs::read_link(t.join("ns/net")) {
            assert_eq!(ns, before, "{t:?}");
        }
    }
}

#[test]
fn an_open_socket_pins_a_dead_pid_namespace_until_forgotten() {
    let mut p = Proc::new();
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    let ns = Netns::Pid(p.pid());
    let op = nsagent_core::Op::CreateLink {
        ns: ns.clone(),
        link: spec("pin0"),
        kind: nsagent_core::NewLink::Veth {
            peer_ns: a.netns(),
            peer: spec("pin1"),
        },
    };
    apply(&mut b, op).expect("veth");
    assert_eq!(
        b.sockets().cached(),
        vec![ns.clone()],
        "only the namespace a request was sent in has a socket"
    );
    p.kill();
    // The process is gone, but the backend's socket keeps its namespace, and so the veth, alive.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(a.link("pin1").is_some(), "pinned by the open socket");
    let err = apply(
        &mut b,
        Op::DeleteLink {
            ns: ns.clone(),
            name: "pin0".into(),
        },
    )
    .expect_err("pid gone");
    assert_eq!(err.kind, ErrorKind::NamespaceGone);
    b.forget(&ns);
    assert!(b.sockets().cached().is_empty());
    assert!(
        eventually(|| a.link("pin1").is_none()),
        "the namespace died with its socket, and the peer with it"
    );
}

#[test]
fn a_recreated_named_namespace_gets_a_fresh_socket() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "r0", &a, "r1")).unwrap();
    run("ip", &["netns", "del", &a.name]);
    run("ip", &["netns", "add", &a.name]);
    assert!(a.link("r0").is_none());
    apply(&mut b, veth(&a, "r0", &a, "r1")).expect("created in the new namespace, not the old one");
    assert!(a.link("r0").is_some());
}

#[test]
fn create_namespace_reports_the_errno_of_what_failed() {
    let mut b = NetlinkBackend::new();
    let op = Op::CreateNamespace {
        name: format!("{}/inside", unique("nsa-nodir")),
    };
    let err = apply(&mut b, op).expect_err("no such directory under /var/run/netns");
    assert_eq!(err.errno, Some(2), "ENOENT: {err}");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("/var/run/netns"), "{}", err.message);
}

/// A file (a symbolic link in the run directory, its target), removed on drop.
struct Symlink(std::path::PathBuf);

impl Drop for Symlink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_symlink_in_the_run_dir_is_neither_followed_nor_mounted_over() {
    let ns = TestNs::unmade();
    let target_path = std::env::temp_dir().join(unique("nsa-target"));
    std::fs::write(&target_path, b"").expect("target file");
    let _target = Symlink(target_path.clone()); // removed on drop too
    let other = TestNs::new(); // a real namespace the link could also point at
    std::fs::create_dir_all("/var/run/netns").unwrap();
    let path = std::path::PathBuf::from(format!("/var/run/netns/{}", ns.name));
    let _link = Symlink(path.clone());
    let mut b = NetlinkBackend::new();
    // Pointing at a plain file: creating refuses, naming the link, and mounts nothing there.
    std::os::unix::fs::symlink(&target_path, &path).expect("symlink");
    let err = apply(
        &mut b,
        Op::CreateNamespace {
            name: ns.name.clone(),
        },
    )
    .expect_err("a symlink is refused");
    assert!(err.message.contains("symbolic link"), "{err}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let target_name = target_path.display().to_string();
    assert!(
        !mounts.contains(&target_name),
        "mounted over the link's target"
    );
    // Pointing at another namespace: it is not taken for the named one.
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(format!("/var/run/netns/{}", other.name), &path).expect("symlink");
    let err = apply(&mut b, veth(&ns, "y0", &ns, "y1")).expect_err("not followed");
    assert_eq!(err.kind, ErrorKind::NamespaceGone, "{err}");
    assert!(
        other.link("y0").is_none(),
        "made a link in the namespace the symlink points at"
    );
}
