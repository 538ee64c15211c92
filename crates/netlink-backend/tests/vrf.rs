//! VRFs and enslaving against the real kernel. `IFLA_MASTER` is the kernel's one way to enslave
//! whatever the master, so it is checked with a bridge, which this host has; VRF creation
//! itself runs where the kernel has the VRF module, and says it is skipped where it has not
//! (its bytes are checked in `message.rs` either way).

mod common;

use common::*;
use nsagent_core::{errno, Backend, LinkChange, LinkKind, LinkSpec, Master, NewLink, Op};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

fn enslave(ns: &TestNs, name: &str, master: Master) -> Op {
    Op::SetLink {
        ns: ns.netns(),
        name: name.into(),
        change: LinkChange {
            master: Some(master),
            ..LinkChange::default()
        },
    }
}

fn master_seen(b: &mut NetlinkBackend, ns: &TestNs, link: &str) -> Option<String> {
    let snap = b.observe(&[ns.netns()]).expect("observe");
    snap.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == link)
        .expect("link observed")
        .master
        .clone()
}

#[test]
fn a_link_is_enslaved_by_name_seen_with_its_master_and_released() {
    let a = TestNs::new();
    assert!(a.exec(&["ip", "link", "add", "br0", "type", "bridge"]));
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "ma", &a, "mb")).expect("veth");
    apply(&mut b, enslave(&a, "ma", Master::Set("br0".into()))).expect("enslaved");
    let shown = a.link("ma").expect("ma");
    assert_eq!(shown["master"], "br0", "{shown}");
    assert_eq!(master_seen(&mut b, &a, "ma").as_deref(), Some("br0"));
    apply(&mut b, enslave(&a, "ma", Master::Release)).expect("released");
    assert!(a.link("ma").expect("ma").get("master").is_none());
    assert_eq!(master_seen(&mut b, &a, "ma"), None);

    // What the kernel refuses, and the sim with it.
    let mut sim = SimKernel::default();
    sim.appear(a.netns()).expect("ns");
    sim.apply(&veth(&a, "ma", &a, "mb")).expect("sim veth");
    for (op, want) in [
        (
            enslave(&a, "ma", Master::Set("mb".into())),
            errno::EOPNOTSUPP,
        ),
        (
            enslave(&a, "ma", Master::Set("nosuch".into())),
            errno::ENODEV,
        ),
    ] {
        let real = apply(&mut b, op.clone()).expect_err("refused");
        assert_eq!(real.errno, Some(want), "kernel: {op}: {real}");
        let simmed = sim.apply(&op).expect_err("sim refuses");
        assert_eq!(simmed.errno, Some(want), "sim: {op}: {simmed}");
    }
}

#[test]
fn a_vrf_is_made_with_its_table_and_takes_members() {
    let a = TestNs::new();
    if !a.exec(&["ip", "link", "add", "vprobe", "type", "vrf", "table", "9"]) {
        eprintln!(
            "SKIPPED: this kernel cannot make a VRF (`ip link add type vrf` fails: no vrf module); \
             the creation's bytes are checked in message.rs"
        );
        return;
    }
    let mut b = NetlinkBackend::new();
    let spec = LinkSpec {
        name: "vrf-t".into(),
        mtu: None,
        mac: None,
        alias: None,
        up: true,
    };
    apply(
        &mut b,
        Op::CreateLink {
            ns: a.netns(),
            link: spec,
            kind: NewLink::Vrf { table: 10 },
        },
    )
    .expect("vrf made");
    let snap = b.observe(&[a.netns()]).expect("observe");
    let v = snap.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == "vrf-t")
        .expect("vrf observed");
    assert_eq!((v.kind, v.vrf_table), (LinkKind::Vrf, Some(10)));
    apply(&mut b, veth(&a, "va", &a, "vb")).expect("veth");
    apply(&mut b, enslave(&a, "va", Master::Set("vrf-t".into()))).expect("member");
    assert_eq!(master_seen(&mut b, &a, "va").as_deref(), Some("vrf-t"));
}
