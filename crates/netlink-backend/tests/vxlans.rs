//! VXLANs the agent makes (`NewLink::Vxlan`) against the real kernel, and the sim beside it:
//! made from the underlay's namespace into another, or where they live without one, the same
//! commands succeed or fail alike (with the same errno), and both kernels show the same VXLANs
//! with the same tunnels, underlays and MTUs, and delete them with their underlay, also when
//! it moves.

mod common;

use common::*;
use nsagent_core::{
    errno, Backend, LinkChange, LinkKind, LinkSpec, Netns, NewLink, Op, Snapshot, VxlanTunnel,
};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

fn tunnel(vni: u32, remote: &str) -> VxlanTunnel {
    VxlanTunnel {
        vni,
        local: Some("10.77.0.1".parse().unwrap()),
        remote: Some(remote.parse().unwrap()),
        dst_port: 4789,
        learning: true,
    }
}

fn vxlan(ns: &TestNs, name: &str, t: VxlanTunnel, on: Option<(&TestNs, &str)>) -> Op {
    vxlan_mtu(ns, name, t, on, None)
}

fn vxlan_mtu(
    ns: &TestNs,
    name: &str,
    tunnel: VxlanTunnel,
    on: Option<(&TestNs, &str)>,
    mtu: Option<u32>,
) -> Op {
    Op::CreateLink {
        ns: ns.netns(),
        link: LinkSpec {
            name: name.into(),
            mtu,
            mac: None,
            alias: Some(format!("nsagent:{name}")),
            up: true,
        },
        kind: NewLink::Vxlan {
            tunnel,
            underlay: on.map(|(n, l)| (n.netns(), l.to_string())),
        },
    }
}

fn set_mtu(ns: &TestNs, name: &str, m: u32) -> Op {
    Op::SetLink {
        ns: ns.netns(),
        name: name.into(),
        change: LinkChange {
            mtu: Some(m),
            ..LinkChange::default()
        },
    }
}

/// What both kernels must agree on, with the test's namespaces named alike.
fn links(s: &Snapshot, names: &[(Netns, &str)]) -> Vec<String> {
    let label = |ns: &Netns| {
        names
            .iter()
            .find(|(n, _)| n == ns)
            .map_or("?", |(_, l)| *l)
            .to_string()
    };
    let mut out = Vec::new();
    for n in &s.namespaces {
        for l in &n.links {
            out.push(format!(
                "{}:{} {:?} mtu={} up={} alias={:?} tunnel={:?} parent={:?}",
                label(&n.ns),
                l.name,
                l.kind,
                l.mtu,
                l.up,
                l.alias,
                l.vxlan,
                l.parent
                    .as_ref()
                    .filter(|_| l.kind == LinkKind::Vxlan)
                    .map(|(ns, p)| format!("{}:{p}", label(ns))),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn vxlans_are_made_refused_and_deleted_alike_in_the_sim_and_the_kernel() {
    let (a, b, c) = (TestNs::new(), TestNs::new(), TestNs::new());
    let names = [(a.netns(), "a"), (b.netns(), "b"), (c.netns(), "c")];
    let mut sim = SimKernel::default();
    for n in [&a, &b, &c] {
        sim.appear(n.netns()).expect("ns");
    }
    let mut real = NetlinkBackend::new();
    let ops = [
        (veth(&a, "u0", &a, "u1"), None),
        // On the underlay, from its namespace into another: 1500 less 50.
        (
            vxlan(&b, "vx0", tunnel(42, "10.77.0.2"), Some((&a, "u0"))),
            None,
        ),
        // Asked above that when made: the most it may have, silently.
        (
            vxlan_mtu(
                &b,
                "vx1",
                tunnel(43, "10.77.0.2"),
                Some((&a, "u0")),
                Some(1480),
            ),
            None,
        ),
        // Set above it: refused; below: taken.
        (set_mtu(&b, "vx0", 1451), Some(errno::EINVAL)),
        (set_mtu(&b, "vx0", 1400), None),
        // Over IPv6 the headroom is 70.
        (
            vxlan(
                &b,
                "vx6",
                VxlanTunnel {
                    local: None,
                    ..tunnel(44, "fd00::2")
                },
                Some((&a, "u0")),
            ),
            None,
        ),
        // One VNI per port and family among the VXLANs made from one namespace.
        (
            vxlan(&c, "vx2", tunnel(42, "10.77.0.3"), Some((&a, "u1"))),
            Some(errno::EEXIST),
        ),
        (
            vxlan(
                &c,
                "vx2",
                VxlanTunnel {
                    dst_port: 4790,
                    ..tunnel(42, "10.77.0.3")
                },
                Some((&a, "u1")),
            ),
            None,
        ),
        // Made from another namespace, the same VNI is free again.
        (vxlan(&c, "vx3", tunnel(42, "10.77.0.3"), None), None),
        // A name taken where it goes; a missing underlay; lo as one.
        (
            vxlan(&b, "vx0", tunnel(45, "10.77.0.2"), Some((&a, "u0"))),
            Some(errno::EEXIST),
        ),
        (
            vxlan(&b, "vx4", tunnel(46, "10.77.0.2"), Some((&a, "nope"))),
            Some(errno::ENODEV),
        ),
        (
            vxlan(&b, "vx5", tunnel(47, "10.77.0.2"), Some((&a, "lo"))),
            None,
        ),
        // The underlay's MTU lowered leaves its VXLANs be.
        (set_mtu(&a, "u0", 1300), None),
        // Renaming the underlay leaves its VXLANs on it.
        (
            Op::RenameLink {
                ns: a.netns(),
                name: "u0".into(),
                new_name: "u0r".into(),
            },
            None,
        ),
    ];
    let mut differences = alike(&mut sim, &mut real, &ops);
    let all = [a.netns(), b.netns(), c.netns()];
    let seen_real = real.observe(&all).expect("observe");
    let seen_sim = sim.observe(&all).expect("observe");
    assert_eq!(links(&seen_sim, &names), links(&seen_real, &names));
    let find = |s: &Snapshot, name: &str| {
        s.namespaces
            .iter()
            .flat_map(|n| n.links.iter())
            .find(|l| l.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let vx0 = find(&seen_real, "vx0");
    assert_eq!(vx0.kind, LinkKind::Vxlan);
    assert_eq!(vx0.vxlan, Some(tunnel(42, "10.77.0.2")));
    assert_eq!(vx0.parent, Some((a.netns(), "u0r".to_string())));
    assert_eq!(vx0.mtu, 1400, "set, and not lowered with its underlay");
    assert_eq!(find(&seen_real, "vx1").mtu, 1450, "the most it may have");
    assert_eq!(find(&seen_real, "vx6").mtu, 1430, "IPv6's headroom");
    assert_eq!(find(&seen_real, "vx5").mtu, 65486, "lo's 65536 less 50");
    assert_eq!(find(&seen_real, "vx3").parent, None);

    // The underlay moved to another namespace: its VXLANs go; the other end of the veth,
    // deleted, takes its own along.
    differences.extend(alike(
        &mut sim,
        &mut real,
        &[
            (
                Op::MoveLink {
                    ns: a.netns(),
                    name: "u0r".into(),
                    to: c.netns(),
                    new_name: "u0m".into(),
                },
                None,
            ),
            (
                Op::DeleteLink {
                    ns: a.netns(),
                    name: "u1".into(),
                },
                None,
            ),
        ],
    ));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let seen_real = real.observe(&all).expect("observe");
    let seen_sim = sim.observe(&all).expect("observe");
    assert_eq!(links(&seen_sim, &names), links(&seen_real, &names));
    let left = links(&seen_real, &names).join("\n");
    assert!(left.contains("c:vx3 Vxlan"), "{left}");
    assert!(left.contains("b:vx5 Vxlan"), "lo stays: {left}");
    for gone in ["vx0", "vx1", "vx6", "vx2"] {
        assert!(!left.contains(&format!(":{gone} ")), "{gone}: {left}");
    }
}

fn fdb(ns: &TestNs, link: &str, mac: &str, remote: &str, add: bool) -> Op {
    let (ns, link, mac, remote) = (
        ns.netns(),
        link.to_string(),
        mac.parse().expect("mac"),
        remote.parse().expect("ip"),
    );
    if add {
        Op::AddFdb {
            ns,
            link,
            mac,
            remote,
        }
    } else {
        Op::DelFdb {
            ns,
            link,
            mac,
            remote,
        }
    }
}

/// Every VXLAN's FDB, by name, as both kernels show it.
fn fdbs(s: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = s
        .namespaces
        .iter()
        .flat_map(|n| n.links.iter())
        .filter(|l| l.kind == LinkKind::Vxlan)
        .map(|l| format!("{} {:?}", l.name, l.fdb))
        .collect();
    out.sort();
    out
}

#[test]
fn fdb_entries_are_added_refused_and_deleted_alike_in_the_sim_and_the_kernel() {
    let a = TestNs::new();
    let mut sim = SimKernel::default();
    sim.appear(a.netns()).expect("ns");
    let mut real = NetlinkBackend::new();
    let zero = "00:00:00:00:00:00";
    let no_remote = VxlanTunnel {
        remote: None,
        learning: false,
        ..tunnel(50, "10.77.0.2")
    };
    let ops = [
        (veth(&a, "u0", &a, "u1"), None),
        // Its remote is its FDB's entry for the zero MAC; one without has none.
        (
            vxlan(&a, "vx0", tunnel(51, "10.77.0.9"), Some((&a, "u0"))),
            None,
        ),
        (vxlan(&a, "vx1", no_remote, Some((&a, "u0"))), None),
        (fdb(&a, "vx1", zero, "10.77.0.2", true), None),
        (fdb(&a, "vx1", zero, "10.77.0.3", true), None),
        // Appended again: no error, no second entry.
        (fdb(&a, "vx1", zero, "10.77.0.2", true), None),
        (fdb(&a, "vx1", "02:00:00:00:00:01", "10.77.0.4", true), None),
        // A VTEP of the other family; a missing link.
        (
            fdb(&a, "vx1", "02:00:00:00:00:01", "fd00::4", true),
            Some(errno::EAFNOSUPPORT),
        ),
        (
            fdb(&a, "nope", zero, "10.77.0.2", true),
            Some(errno::ENODEV),
        ),
        // Deleted: one of two VTEPs of a MAC; a MAC without entries; a VTEP the MAC lacks.
        (fdb(&a, "vx1", zero, "10.77.0.3", false), None),
        (
            fdb(&a, "vx1", "02:00:00:00:00:09", "10.77.0.4", false),
            Some(errno::ENOENT),
        ),
        (
            fdb(&a, "vx1", "02:00:00:00:00:01", "10.77.0.5", false),
            None,
        ),
        // Down, a VXLAN keeps its permanent entries.
        (
            Op::SetLink {
                ns: a.netns(),
                name: "vx1".into(),
                change: LinkChange {
                    up: Some(false),
                    ..LinkChange::default()
                },
            },
            None,
        ),
    ];
    let differences = alike(&mut sim, &mut real, &ops);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let both = [a.netns()];
    let seen_real = real.observe(&both).expect("observe");
    let seen_sim = sim.observe(&both).expect("observe");
    assert_eq!(fdbs(&seen_sim), fdbs(&seen_real));
    let shown = fdbs(&seen_real).join("\n");
    assert!(
        shown.contains("vx0 [(00:00:00:00:00:00, 10.77.0.9)]"),
        "{shown}"
    );
    assert!(
        shown.contains("vx1 [(00:00:00:00:00:00, 10.77.0.2), (02:00:00:00:00:01, 10.77.0.4)]"),
        "{shown}"
    );
}
