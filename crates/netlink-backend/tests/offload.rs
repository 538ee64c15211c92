//! Checksum offloading through ethtool's generic netlink family, against the real kernel, and
//! checked with the `ethtool` tool as an independent view: the encoding of FEATURES_SET and the
//! reading of the FEATURES_GET dump are the kernel's layout, or these fail.

mod common;

use common::*;
use nsagent_core::{errno, Backend, ChecksumOffload, LinkKind, Op};
use nsagent_netlink::NetlinkBackend;

/// `ethtool -k` of a link in a test namespace: (rx-checksumming, tx-checksumming).
fn ethtool_k(ns: &TestNs, link: &str) -> Option<(bool, bool)> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "ethtool", "-k", link])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let on = |what: &str| {
        text.lines()
            .find(|l| l.starts_with(what))
            .map(|l| l.contains(": on"))
    };
    Some((on("rx-checksumming")?, on("tx-checksumming")?))
}

fn observed(b: &mut NetlinkBackend, ns: &TestNs, link: &str) -> ChecksumOffload {
    let snap = b.observe(&[ns.netns()]).expect("observe");
    snap.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == link)
        .map(|l| l.checksum_offload)
        .expect("link observed")
}

fn set(ns: &TestNs, name: &str, rx: Option<bool>, tx: Option<bool>) -> Op {
    Op::SetOffload {
        ns: ns.netns(),
        name: name.into(),
        offload: ChecksumOffload { rx, tx },
    }
}

#[test]
fn a_veths_offloading_is_set_each_way_and_read_back() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "oa", &a, "ob")).expect("veth");
    let on = ChecksumOffload {
        rx: Some(true),
        tx: Some(true),
    };
    assert_eq!(
        observed(&mut b, &a, "oa"),
        on,
        "a new veth offloads both ways"
    );
    let have_tool = ethtool_k(&a, "oa").is_some();
    if have_tool {
        assert_eq!(ethtool_k(&a, "oa"), Some((true, true)));
    } else {
        eprintln!("ethtool is not installed: the kernel's view is read through the backend only");
    }

    apply(&mut b, set(&a, "oa", Some(false), None)).expect("rx off");
    assert_eq!(
        observed(&mut b, &a, "oa"),
        ChecksumOffload {
            rx: Some(false),
            tx: Some(true)
        }
    );
    if have_tool {
        assert_eq!(ethtool_k(&a, "oa"), Some((false, true)), "only rx changed");
    }
    apply(&mut b, set(&a, "oa", None, Some(false))).expect("tx off");
    assert_eq!(
        observed(&mut b, &a, "oa"),
        ChecksumOffload {
            rx: Some(false),
            tx: Some(false)
        }
    );
    if have_tool {
        assert_eq!(ethtool_k(&a, "oa"), Some((false, false)));
    }
    // The other end is a link of its own.
    assert_eq!(observed(&mut b, &a, "ob"), on);
    apply(&mut b, set(&a, "oa", Some(true), Some(true))).expect("both on");
    assert_eq!(observed(&mut b, &a, "oa"), on);
}

#[test]
fn only_veths_are_reported_and_a_missing_link_is_enodev() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    let snap = b.observe(&[a.netns()]).expect("observe");
    for l in &snap.namespaces[0].links {
        assert_ne!(l.kind, LinkKind::Veth);
        assert_eq!(l.checksum_offload, ChecksumOffload::default(), "{}", l.name);
    }
    let err = apply(&mut b, set(&a, "nosuch", Some(false), None)).unwrap_err();
    assert_eq!(err.errno, Some(errno::ENODEV), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
}
