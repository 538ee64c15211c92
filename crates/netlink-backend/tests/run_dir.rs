//! Preparing `/var/run/netns` as `ip netns add` does: a shared mount point, made once, however
//! many named namespaces are created at the same moment.
//!
//! Each case runs in a child process with a private mount namespace and a fresh tmpfs on `/run`
//! (`unshare --mount --propagation private`), so it starts from a run directory that is not a
//! mount point without touching the host's, and everything it mounts vanishes with the child.
//! The children are the `#[ignore]`d tests below; their parents run them with `--ignored`.

mod common;

use std::process::Command as Process;

use common::*;
use nix::mount::{mount, MsFlags};
use nsagent_core::Op;
use nsagent_netlink::NetlinkBackend;

/// Runs the ignored test `name` of this binary in a private mount namespace and fails with its
/// output unless it passes.
fn in_private_mount_namespace(name: &str) {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Process::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(exe)
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .expect("run unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} failed in its child:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run:\n{text}");
}

/// In the child: a fresh, empty `/run`, seen by this process alone.
fn fresh_run() {
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=4m"),
    )
    .expect("tmpfs on /run");
    assert!(
        !std::path::Path::new("/run/netns").exists(),
        "/run is not fresh"
    );
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Creates `count` named namespaces, each from its own thread and backend, all at once.
fn create_concurrently(count: usize) {
    let start = std::sync::Arc::new(std::sync::Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|i| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut b = NetlinkBackend::new();
                start.wait();
                apply(
                    &mut b,
                    Op::CreateNamespace {
                        name: format!("race-{i}"),
                    },
                )
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        t.join()
            .expect("thread")
            .unwrap_or_else(|e| panic!("namespace race-{i}: {e}"));
    }
    for i in 0..count {
        let links = ip_json(&["-n", &format!("race-{i}"), "-j", "link", "show"]);
        assert_eq!(links.as_array().map(Vec::len), Some(1), "race-{i}: {links}");
    }
}

/// The mount visible at the run dir, which must be a single mount (nothing stacked under it)
/// and shared.
fn visible_run_dir_mount() -> (String, usize) {
    let info = mountinfo();
    let point = netns_run_dir();
    let top = visible_mount(&info, &point).expect("a mount holds the run dir");
    let depth = stack_depth(&info, &top, &point);
    (top, depth)
}

fn assert_one_shared_mount() {
    let (top, depth) = visible_run_dir_mount();
    assert_eq!(
        depth,
        1,
        "stacked mounts at the run dir, top {top}:\n{}",
        mountinfo()
    );
    assert!(top.contains("shared:"), "not shared: {top}");
}

#[test]
fn many_namespaces_created_at_once_leave_exactly_one_shared_mount() {
    in_private_mount_namespace("child_creates_namespaces_concurrently_on_a_fresh_run");
}

#[test]
#[ignore = "run by many_namespaces_created_at_once_leave_exactly_one_shared_mount in a private mount namespace"]
fn child_creates_namespaces_concurrently_on_a_fresh_run() {
    fresh_run();
    create_concurrently(16);
    assert_one_shared_mount();
    // `ip` sees them as named namespaces: the shared mount is the visible one.
    let list = ip_json(&["-j", "netns", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(16), "{list}");
}

#[test]
fn a_run_dir_that_is_a_mount_point_already_is_never_mounted_again() {
    in_private_mount_namespace("child_finds_an_unshared_mount_point");
}

#[test]
#[ignore = "run by a_run_dir_that_is_a_mount_point_already_is_never_mounted_again in a private mount namespace"]
fn child_finds_an_unshared_mount_point() {
    fresh_run();
    // Someone else made the directory a mount point, but not a shared one.
    std::fs::create_dir_all("/run/netns").unwrap();
    mount(
        Some("/run/netns"),
        "/run/netns",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .expect("bind");
    mount(
        None::<&str>,
        "/run/netns",
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("private");
    let (top, depth) = visible_run_dir_mount();
    assert_eq!(depth, 1, "{top}");
    assert!(!top.contains("shared:"), "{top}");
    create_concurrently(4);
    assert_one_shared_mount();
}
