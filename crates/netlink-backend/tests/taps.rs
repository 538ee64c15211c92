//! Moving a link between namespaces (`Op::MoveLink`, used for TAP_TO_VPP) against the real
//! kernel, with TAPs made by `ip tuntap` as VPP would make its own; every outcome is also asked
//! of the simulated kernel, which must answer the same (the sim's rules are these facts).

mod common;

use common::*;
use nsagent_core::{errno, Backend, BackendError, Netns, Op};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::{SeedKind, SeedLink, SimKernel};

/// A TAP someone else made in `ns`: up, MTU 1450, an address.
fn make_tap(ns: &TestNs, name: &str) {
    assert!(
        ns.exec(&["ip", "tuntap", "add", "dev", name, "mode", "tap"]),
        "ip tuntap add {name}"
    );
    assert!(ns.exec(&["ip", "link", "set", name, "mtu", "1450", "up"]));
    assert!(ns.exec(&["ip", "addr", "add", "10.77.0.1/24", "dev", name]));
}

fn moving(from: &Netns, name: &str, to: &Netns, new_name: &str) -> Op {
    Op::MoveLink {
        ns: from.clone(),
        name: name.into(),
        to: to.clone(),
        new_name: new_name.into(),
    }
}

/// The simulated kernel with the same two namespaces and the same TAP (a link of another
/// kind than the agent's, as a seed) and, when asked, a link of the taken name in `b`.
fn sim_twin(a: &Netns, b: &Netns, tap: &str, taken_in_b: Option<&str>) -> SimKernel {
    let mut sim = SimKernel::default();
    sim.appear(a.clone()).expect("a");
    sim.appear(b.clone()).expect("b");
    let mut seed = SeedLink::new(tap, SeedKind::Other);
    seed.mtu = 1450;
    seed.up = true;
    seed.addresses = vec!["10.77.0.1/24".parse().unwrap()];
    sim.seed_link(a, seed).expect("seed tap");
    if let Some(name) = taken_in_b {
        sim.seed_link(b, SeedLink::new(name, SeedKind::Dummy))
            .expect("seed");
    }
    sim
}

fn errno_of(r: &Result<(), BackendError>) -> Option<i32> {
    r.as_ref().err().map(|e| e.errno.unwrap_or(-1))
}

#[test]
fn a_tap_moves_into_another_namespace_under_a_new_name_down_and_bare() {
    let (a, b) = (TestNs::new(), TestNs::new());
    make_tap(&a, "tapm");
    let mut real = NetlinkBackend::new();
    let op = moving(&a.netns(), "tapm", &b.netns(), "vppm");
    apply(&mut real, op.clone()).expect("moved");
    assert!(a.link("tapm").is_none(), "gone from where it was");
    let moved = b.link("vppm").expect("there under its new name");
    assert_eq!(moved["mtu"], 1450, "MTU kept: {moved}");
    let flags = moved["flags"].as_array().cloned().unwrap_or_default();
    assert!(!flags.iter().any(|f| f == "UP"), "arrives down: {moved}");
    assert!(b.addresses("vppm").is_empty(), "addresses dropped");

    let mut sim = sim_twin(&a.netns(), &b.netns(), "tapm", None);
    sim.apply(&op).expect("sim moves it too");
    let l = sim.link(&b.netns(), "vppm").expect("sim: moved");
    assert!(sim.link(&a.netns(), "tapm").is_none());
    assert_eq!((l.mtu, l.up, l.addresses.len()), (1450, false, 0));

    // And back, as the agent gives it back.
    let back = moving(&b.netns(), "vppm", &a.netns(), "tapm");
    apply(&mut real, back.clone()).expect("moved back");
    assert!(a.link("tapm").is_some() && b.link("vppm").is_none());
    sim.apply(&back).expect("sim moves it back");
    assert!(sim.link(&a.netns(), "tapm").is_some());
}

#[test]
fn a_name_taken_in_the_target_is_eexist_and_the_tap_stays_where_it_was() {
    let (a, b) = (TestNs::new(), TestNs::new());
    make_tap(&a, "tapx");
    // Something of that name there already: a veth end someone made.
    assert!(b.exec(&["ip", "link", "add", "vppx", "type", "veth", "peer", "name", "vppy"]));
    let mut real = NetlinkBackend::new();
    let op = moving(&a.netns(), "tapx", &b.netns(), "vppx");
    let r = apply(&mut real, op.clone());
    assert_eq!(errno_of(&r), Some(errno::EEXIST), "{r:?}");
    assert!(
        a.link("tapx").is_some(),
        "not half moved: still in its namespace"
    );
    assert_eq!(a.addresses("tapx"), vec!["10.77.0.1/24"], "untouched");

    let mut sim = sim_twin(&a.netns(), &b.netns(), "tapx", Some("vppx"));
    assert_eq!(errno_of(&sim.apply(&op)), Some(errno::EEXIST));
    assert!(sim.link(&a.netns(), "tapx").is_some());
}

#[test]
fn within_one_namespace_a_move_is_a_rename_and_lo_and_missing_links_are_refused() {
    let (a, b) = (TestNs::new(), TestNs::new());
    make_tap(&a, "tapr");
    let mut real = NetlinkBackend::new();
    let mut sim = sim_twin(&a.netns(), &b.netns(), "tapr", None);
    let rename = moving(&a.netns(), "tapr", &a.netns(), "vppr");
    apply(&mut real, rename.clone()).expect("renamed");
    assert!(a.link("vppr").is_some());
    assert_eq!(
        a.addresses("vppr"),
        vec!["10.77.0.1/24"],
        "a rename keeps addresses"
    );
    sim.apply(&rename).expect("sim renames");
    assert_eq!(
        sim.link(&a.netns(), "vppr").map(|l| l.addresses.len()),
        Some(1)
    );

    for (op, want) in [
        (moving(&a.netns(), "lo", &b.netns(), "lo2"), errno::EINVAL),
        (moving(&a.netns(), "nosuch", &b.netns(), "x"), errno::ENODEV),
    ] {
        let r = apply(&mut real, op.clone());
        assert_eq!(errno_of(&r), Some(want), "kernel: {op}: {r:?}");
        assert_eq!(errno_of(&sim.apply(&op)), Some(want), "sim: {op}");
    }
}
