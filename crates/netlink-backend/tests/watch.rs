//! The watcher: namespaces vanishing and appearing, and changes made by others.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::*;
use nsagent_core::{LinkChange, Netns, Op};
use nsagent_netlink::{NamespaceEvent, NetlinkBackend, Watcher};

/// The event that reports `ns` appeared, with the identity it has now.
fn appeared(ns: Netns) -> NamespaceEvent {
    let identity = nsagent_netlink::identity_of(&ns).expect("the namespace exists");
    NamespaceEvent::Appeared(ns, identity)
}

fn wait_for(rx: &Receiver<NamespaceEvent>, want: &NamespaceEvent) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) if ev == *want => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn a_deleted_named_namespace_vanishes_its_socket_is_closed_and_its_veths_die() {
    let a = TestNs::new();
    let hub = TestNs::new();
    let mut b = NetlinkBackend::new();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert!(wait_for(&rx, &appeared(a.netns())));
    apply(&mut b, veth(&a, "wa", &hub, "wh")).unwrap();
    assert_eq!(b.sockets().cached(), vec![a.netns()]);

    run("ip", &["netns", "del", &a.name]);
    assert!(wait_for(&rx, &NamespaceEvent::Vanished(a.netns())));
    assert!(
        b.sockets().cached().is_empty(),
        "the watcher closed the backend's socket"
    );
    assert!(
        eventually(|| hub.link("wh").is_none()),
        "nothing pins the namespace: its veth and the peer are destroyed"
    );

    run("ip", &["netns", "add", &a.name]);
    assert!(wait_for(&rx, &appeared(a.netns())));
}

#[test]
fn a_namespace_that_is_not_there_yet_appears_when_created() {
    let a = TestNs::unmade();
    let b = NetlinkBackend::new();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing to report for a missing namespace"
    );
    run("ip", &["netns", "add", &a.name]);
    assert!(wait_for(&rx, &appeared(a.netns())));
}

/// The core believes in a namespace the backend made; if it is deleted before the watcher
/// first looks at it (the watcher is told what to watch a little later), the watcher must
/// still report it gone, or the core would wait for it forever.
#[test]
fn a_namespace_the_backend_made_and_someone_deleted_before_the_watcher_looked_is_reported_gone() {
    let a = TestNs::unmade();
    let mut b = NetlinkBackend::new();
    apply(
        &mut b,
        Op::CreateNamespace {
            name: a.name.clone(),
        },
    )
    .unwrap();
    run("ip", &["netns", "del", &a.name]);
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).ok(),
        Some(NamespaceEvent::Vanished(a.netns()))
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "reported once, and nothing appeared"
    );

    // Made again by someone else: it appears, and the old incarnation is not reported twice.
    run("ip", &["netns", "add", &a.name]);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).ok(),
        Some(appeared(a.netns()))
    );
}

/// The same when the backend has worked in the namespace (its socket there is what the
/// watcher compares with), and when the name is taken by a new namespace meanwhile.
#[test]
fn a_namespace_replaced_before_the_watcher_looked_is_reported_gone_then_back() {
    let a = TestNs::new();
    let hub = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "ra", &hub, "rh")).unwrap();
    run("ip", &["netns", "del", &a.name]);
    run("ip", &["netns", "add", &a.name]);
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).ok(),
        Some(NamespaceEvent::Vanished(a.netns()))
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).ok(),
        Some(appeared(a.netns()))
    );
    assert!(
        eventually(|| hub.link("rh").is_none()),
        "the old incarnation's socket was closed, so it died with its veth"
    );
}

/// A socket pins its network namespace: once a container's namespace is no longer watched
/// (its microservice stopped), the backend's socket in it is closed, so the namespace and the
/// veth end inside it can go with the container.
#[test]
fn a_namespace_no_longer_watched_loses_the_backends_socket_and_is_not_pinned() {
    let mut child = unshared_sleeper();
    let ns = Netns::Pid(child.id());
    let hub = TestNs::new();
    let mut b = NetlinkBackend::new();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(ns.clone());
    assert!(wait_for(&rx, &appeared(ns.clone())));
    let op = Op::CreateLink {
        ns: ns.clone(),
        link: spec("pw0"),
        kind: nsagent_core::NewLink::Veth {
            peer_ns: hub.netns(),
            peer: spec("pw1"),
        },
    };
    apply(&mut b, op).unwrap();
    assert!(b.sockets().cached().contains(&ns));
    watcher.unwatch(&ns);
    assert!(
        eventually(|| !b.sockets().cached().contains(&ns)),
        "the backend's socket in the unwatched namespace stays open"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        eventually(|| hub.link("pw1").is_none()),
        "the process is gone but something pins its namespace: the peer lives on"
    );
}

#[test]
fn a_pid_namespace_vanishes_when_its_process_exits() {
    let mut child = unshared_sleeper();
    let ns = Netns::Pid(child.id());
    let b = NetlinkBackend::new();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(ns.clone());
    assert!(wait_for(&rx, &appeared(ns.clone())));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(wait_for(&rx, &NamespaceEvent::Vanished(ns.clone())));
    assert_eq!(NamespaceEvent::Vanished(ns.clone()).namespace(), &ns);
}

#[test]
fn links_and_addresses_changed_by_someone_else_are_reported() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "c0", &a, "c1")).unwrap();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert!(wait_for(&rx, &appeared(a.netns())));
    run("ip", &["-n", &a.name, "link", "set", "c0", "mtu", "1280"]);
    assert!(
        wait_for(&rx, &NamespaceEvent::Changed(a.netns())),
        "link change"
    );
    run(
        "ip",
        &["-n", &a.name, "addr", "add", "10.4.0.1/24", "dev", "c0"],
    );
    assert!(
        wait_for(&rx, &NamespaceEvent::Changed(a.netns())),
        "address change"
    );
    watcher.unwatch(&a.netns());
    while rx.try_recv().is_ok() {}
    run("ip", &["-n", &a.name, "link", "set", "c0", "mtu", "1300"]);
    assert!(
        rx.recv_timeout(Duration::from_millis(400)).is_err(),
        "no events once unwatched"
    );
}

#[test]
fn the_backends_own_address_changes_are_not_reported() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "s0", &a, "s1")).unwrap();
    apply(
        &mut b,
        Op::SetLink {
            ns: a.netns(),
            name: "s0".into(),
            change: LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        },
    )
    .unwrap();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert!(wait_for(&rx, &appeared(a.netns())));
    // The kernel reports the operational state of a link that went up a little later, on its
    // own (linkwatch); let that pass first.
    std::thread::sleep(Duration::from_millis(1500));
    while rx.try_recv().is_ok() {}
    apply(
        &mut b,
        Op::AddAddress {
            ns: a.netns(),
            link: "s0".into(),
            addr: "10.3.0.1/24".parse().unwrap(),
        },
    )
    .unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(400)).is_err(),
        "caused by the backend itself"
    );
    run(
        "ip",
        &["-n", &a.name, "addr", "add", "10.3.0.2/24", "dev", "s0"],
    );
    assert!(wait_for(&rx, &NamespaceEvent::Changed(a.netns())));
}

/// The kernel follows the backend's own changes with notifications on no one's behalf: carrier
/// on both ends of a veth once both are up, IPv6 duplicate address detection finishing, the
/// link-local addresses it adds. None of them changes what an observation reports, so none is
/// reported; a change by hand still is.
#[test]
fn the_kernels_follow_ups_to_the_backends_changes_are_not_reported() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "k0", &a, "k1")).unwrap();
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert!(wait_for(&rx, &appeared(a.netns())));
    for (link, addr) in [("k0", "fd00:77::1/64"), ("k1", "fd00:77::2/64")] {
        let up = Op::SetLink {
            ns: a.netns(),
            name: link.into(),
            change: LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        };
        apply(&mut b, up).unwrap();
        let add = Op::AddAddress {
            ns: a.netns(),
            link: link.into(),
            addr: addr.parse().unwrap(),
        };
        apply(&mut b, add).unwrap();
    }
    // Carrier, DAD (about a second with the default settings) and link-local addresses follow.
    let quiet = rx.recv_timeout(Duration::from_millis(3000));
    assert!(quiet.is_err(), "reported a follow-up: {quiet:?}");
    run("ip", &["-n", &a.name, "link", "set", "k1", "mtu", "1280"]);
    assert!(wait_for(&rx, &NamespaceEvent::Changed(a.netns())));
}

/// Nothing arrives for a moment: what the watcher must leave out.
fn quiet(rx: &Receiver<NamespaceEvent>, what: &str) {
    assert!(
        rx.recv_timeout(Duration::from_millis(400)).is_err(),
        "reported: {what}"
    );
}

#[test]
fn routes_and_neighbours_changed_by_someone_else_are_reported_and_the_kernels_own_are_not() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "r0", &a, "r1")).unwrap();
    let ip = |args: &[&str]| {
        let mut all = vec!["-n", a.name.as_str()];
        all.extend(args);
        run("ip", &all);
    };
    // No IPv6 link-local addresses (and so no DAD notifications) to wait for.
    for link in ["r0", "r1"] {
        ip(&["link", "set", link, "addrgenmode", "none"]);
        ip(&["link", "set", link, "up"]);
    }
    let (watcher, rx) = Watcher::start(b.sockets()).unwrap();
    watcher.watch(a.netns());
    assert!(wait_for(&rx, &appeared(a.netns())));
    std::thread::sleep(Duration::from_millis(1500));
    while rx.try_recv().is_ok() {}
    let changed = NamespaceEvent::Changed(a.netns());
    for (what, args) in [
        (
            "route added",
            vec!["route", "add", "10.7.0.0/24", "dev", "r0"],
        ),
        (
            "route deleted",
            vec!["route", "del", "10.7.0.0/24", "dev", "r0"],
        ),
        (
            "IPv6 route added",
            vec!["-6", "route", "add", "fd07::/64", "dev", "r0"],
        ),
        (
            "IPv6 route deleted",
            vec!["-6", "route", "del", "fd07::/64", "dev", "r0"],
        ),
        (
            "permanent neighbour added",
            vec![
                "neigh",
                "add",
                "10.7.1.9",
                "lladdr",
                "02:00:00:00:00:09",
                "dev",
                "r0",
                "nud",
                "permanent",
            ],
        ),
        (
            "neighbour deleted",
            vec!["neigh", "del", "10.7.1.9", "dev", "r0"],
        ),
    ] {
        ip(&args);
        assert!(wait_for(&rx, &changed), "{what}");
        std::thread::sleep(Duration::from_millis(100));
        while rx.try_recv().is_ok() {}
    }
    ip(&[
        "route",
        "add",
        "10.8.0.0/24",
        "dev",
        "r0",
        "proto",
        "kernel",
    ]);
    quiet(&rx, "a route of protocol kernel");
    ip(&[
        "neigh",
        "add",
        "10.7.1.8",
        "lladdr",
        "02:00:00:00:00:08",
        "dev",
        "r0",
        "nud",
        "reachable",
    ]);
    quiet(&rx, "a learnt neighbour");
    ip(&["neigh", "change", "10.7.1.8", "dev", "r0", "nud", "stale"]);
    quiet(&rx, "a learnt neighbour changing state");
}
