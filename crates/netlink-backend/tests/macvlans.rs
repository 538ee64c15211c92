//! MACVLANs the agent makes (`NewLink::Macvlan`) against the real kernel, and the sim beside
//! it: made from the parent's namespace into another, the same commands succeed or fail alike
//! (with the same errno), and both kernels show the same MACVLANs on the same parents, in the
//! same modes, with the MTUs the kernel gave them, and delete them with their parent.

mod common;

use common::*;
use nsagent_core::{
    errno, Backend, LinkChange, LinkKind, LinkSpec, MacAddr, MacvlanMode, Master, Netns, NewLink,
    Op, Snapshot,
};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

fn macvlan(
    ns: &TestNs,
    name: &str,
    parent_ns: &TestNs,
    parent: &str,
    mode: MacvlanMode,
    mtu: Option<u32>,
) -> Op {
    Op::CreateLink {
        ns: ns.netns(),
        link: LinkSpec {
            name: name.into(),
            mtu,
            // A passthru MACVLAN takes its parent's MAC whatever is asked.
            mac: Some(mac_of(name)),
            alias: Some(format!("nsagent:{name}")),
            up: true,
        },
        kind: NewLink::Macvlan {
            parent_ns: parent_ns.netns(),
            parent: parent.into(),
            mode,
        },
    }
}

/// A MAC of the test's own for each name: an up MACVLAN's must differ from its siblings'.
fn mac_of(name: &str) -> MacAddr {
    let n = name
        .bytes()
        .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    MacAddr([2, 0, 0, 0, 0x6d, n])
}

fn set(ns: &TestNs, name: &str, change: LinkChange) -> Op {
    Op::SetLink {
        ns: ns.netns(),
        name: name.into(),
        change,
    }
}

fn mtu(m: u32) -> LinkChange {
    LinkChange {
        mtu: Some(m),
        ..LinkChange::default()
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
            let mac = match l.macvlan_mode {
                // Another link's, random: compared apart.
                Some(MacvlanMode::Passthru) | None => None,
                Some(_) => l.mac,
            };
            out.push(format!(
                "{}:{} {:?} mtu={} up={} alias={:?} mode={:?} parent={:?} mac={mac:?}",
                label(&n.ns),
                l.name,
                l.kind,
                l.mtu,
                l.up,
                l.alias,
                l.macvlan_mode,
                l.parent
                    .as_ref()
                    .map(|(ns, p)| format!("{}:{p}", label(ns))),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn macvlans_are_made_refused_and_deleted_alike_in_the_sim_and_the_kernel() {
    let (a, b) = (TestNs::new(), TestNs::new());
    let names = [(a.netns(), "a"), (b.netns(), "b")];
    let mut sim = SimKernel::default();
    sim.appear(a.netns()).expect("ns");
    sim.appear(b.netns()).expect("ns");
    let mut real = NetlinkBackend::new();
    let bridge = Op::CreateLink {
        ns: a.netns(),
        link: spec("br0"),
        kind: NewLink::Bridge(Default::default()),
    };
    let ops = [
        (veth(&a, "p0", &a, "p1"), None),
        (set(&a, "p0", mtu(1400)), None),
        (macvlan(&b, "m0", &a, "p0", MacvlanMode::Bridge, None), None),
        (
            macvlan(&b, "m1", &a, "p0", MacvlanMode::Private, Some(1300)),
            None,
        ),
        // Above the parent's MTU, when made or set.
        (
            macvlan(&b, "m2", &a, "p0", MacvlanMode::Vepa, Some(1500)),
            Some(errno::EINVAL),
        ),
        (set(&b, "m0", mtu(1401)), Some(errno::EINVAL)),
        // An up MACVLAN's MAC is its own on its parent: made up with a sibling's, nothing is
        // made; set to it while up, refused; made down with it, made (and not brought up).
        (
            Op::CreateLink {
                ns: b.netns(),
                link: LinkSpec {
                    mac: Some(mac_of("m0")),
                    ..spec("m5")
                },
                kind: NewLink::Macvlan {
                    parent_ns: a.netns(),
                    parent: "p0".into(),
                    mode: MacvlanMode::Bridge,
                },
            },
            None,
        ),
        (
            set(
                &b,
                "m5",
                LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            ),
            Some(errno::EADDRINUSE),
        ),
        (
            set(
                &b,
                "m1",
                LinkChange {
                    mac: Some(mac_of("m0")),
                    ..LinkChange::default()
                },
            ),
            Some(errno::EADDRINUSE),
        ),
        (
            Op::CreateLink {
                ns: b.netns(),
                link: LinkSpec {
                    mac: Some(mac_of("m0")),
                    up: true,
                    ..spec("m6")
                },
                kind: NewLink::Macvlan {
                    parent_ns: a.netns(),
                    parent: "p0".into(),
                    mode: MacvlanMode::Bridge,
                },
            },
            Some(errno::EADDRINUSE),
        ),
        // A name taken where the MACVLAN goes; a missing parent; lo as a parent.
        (
            macvlan(&b, "m0", &a, "p0", MacvlanMode::Bridge, None),
            Some(errno::EEXIST),
        ),
        (
            macvlan(&b, "m3", &a, "nope", MacvlanMode::Bridge, None),
            Some(errno::ENODEV),
        ),
        (
            macvlan(&b, "m3", &a, "lo", MacvlanMode::Bridge, None),
            Some(errno::EINVAL),
        ),
        // PASSTHRU is alone on its parent, both ways round.
        (
            macvlan(&a, "pt0", &a, "p1", MacvlanMode::Passthru, None),
            None,
        ),
        (
            macvlan(&a, "pt1", &a, "p1", MacvlanMode::Bridge, None),
            Some(errno::EINVAL),
        ),
        (
            macvlan(&b, "m4", &a, "p0", MacvlanMode::Passthru, None),
            Some(errno::EINVAL),
        ),
        // Lowering the parent's MTU lowers the MACVLANs above it; raising it leaves them.
        (set(&a, "p0", mtu(1350)), None),
        (set(&a, "p0", mtu(1400)), None),
        // A parent with MACVLANs is no bridge port; a MACVLAN can be one.
        (bridge, None),
        (
            set(
                &a,
                "p0",
                LinkChange {
                    master: Some(Master::Set("br0".into())),
                    ..LinkChange::default()
                },
            ),
            Some(errno::EBUSY),
        ),
        (
            set(
                &a,
                "pt0",
                LinkChange {
                    master: Some(Master::Set("br0".into())),
                    ..LinkChange::default()
                },
            ),
            None,
        ),
        // Renaming the parent leaves its MACVLANs on it.
        (
            Op::RenameLink {
                ns: a.netns(),
                name: "p0".into(),
                new_name: "p0r".into(),
            },
            None,
        ),
    ];
    let mut differences = alike(&mut sim, &mut real, &ops);
    let both = [a.netns(), b.netns()];
    let seen_real = real.observe(&both).expect("observe");
    let seen_sim = sim.observe(&both).expect("observe");
    assert_eq!(links(&seen_sim, &names), links(&seen_real, &names));
    let m0 = seen_real.namespaces[1]
        .links
        .iter()
        .find(|l| l.name == "m0")
        .expect("m0 in b");
    assert_eq!(m0.kind, LinkKind::Macvlan);
    assert_eq!(m0.macvlan_mode, Some(MacvlanMode::Bridge));
    assert_eq!(m0.parent, Some((a.netns(), "p0r".to_string())));
    assert_eq!(m0.mtu, 1350, "lowered with its parent, not raised again");
    let pt0 = seen_real.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == "pt0")
        .expect("pt0 in a");
    let p1 = seen_real.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == "p1")
        .expect("p1");
    assert_eq!(pt0.mac, p1.mac, "a passthru MACVLAN has its parent's MAC");

    // The parent goes, and its MACVLANs with it, in every namespace; so does the other end
    // of the veth, and the PASSTHRU one on it.
    differences.extend(alike(
        &mut sim,
        &mut real,
        &[(
            Op::DeleteLink {
                ns: a.netns(),
                name: "p0r".into(),
            },
            None,
        )],
    ));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let seen_real = real.observe(&both).expect("observe");
    let seen_sim = sim.observe(&both).expect("observe");
    assert_eq!(links(&seen_sim, &names), links(&seen_real, &names));
    let all = links(&seen_real, &names).join("\n");
    assert!(!all.contains("Macvlan") && all.contains("a:br0"), "{all}");
}
