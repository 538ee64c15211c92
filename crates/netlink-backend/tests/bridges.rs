//! Bridges against the real kernel, and the sim beside it: the same commands succeed or fail
//! alike (with the same errno), and both kernels end up showing the same bridges, settings,
//! ports, MTUs and MACs — a bridge's MTU and MAC follow its ports unless someone set them.

mod common;

use common::*;
use nsagent_core::{
    errno, Backend, BridgeChange, BridgeSettings, LinkChange, LinkSpec, MacAddr, Master, NewLink,
    Op, Snapshot,
};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::{SimConfig, SimKernel};

fn bridge(ns: &TestNs, name: &str, mac: Option<MacAddr>, settings: BridgeSettings) -> Op {
    Op::CreateLink {
        ns: ns.netns(),
        link: LinkSpec {
            name: name.into(),
            mtu: None,
            mac,
            alias: Some(format!("nsagent:{name}")),
            up: true,
        },
        kind: NewLink::Bridge(settings),
    }
}

fn set(ns: &TestNs, name: &str, change: LinkChange) -> Op {
    Op::SetLink {
        ns: ns.netns(),
        name: name.into(),
        change,
    }
}

fn master(ns: &TestNs, name: &str, to: Option<&str>) -> Op {
    set(
        ns,
        name,
        LinkChange {
            master: Some(match to {
                Some(m) => Master::Set(m.into()),
                None => Master::Release,
            }),
            ..LinkChange::default()
        },
    )
}

fn settings(change: BridgeChange) -> LinkChange {
    LinkChange {
        bridge: Some(change),
        ..LinkChange::default()
    }
}

fn pair(ns: &TestNs, name: &str, peer: &str, mac: [u8; 6], mtu: u32) -> Op {
    Op::CreateLink {
        ns: ns.netns(),
        link: LinkSpec {
            name: name.into(),
            mtu: Some(mtu),
            mac: Some(MacAddr(mac)),
            alias: Some(format!("nsagent:{name}")),
            up: true,
        },
        kind: NewLink::Veth {
            peer_ns: ns.netns(),
            peer: LinkSpec {
                name: peer.into(),
                mtu: None,
                mac: Some(MacAddr([2, 0, 0, 0, 0x0f, mac[5]])),
                alias: Some(format!("nsagent:{peer}")),
                up: true,
            },
        },
    }
}

/// Whether this kernel's bridges do VLAN filtering (`CONFIG_BRIDGE_VLAN_FILTERING`).
fn kernel_filters_vlans() -> bool {
    let probe = TestNs::new();
    probe.exec(&[
        "ip",
        "link",
        "add",
        "vfprobe",
        "type",
        "bridge",
        "vlan_filtering",
        "1",
    ])
}

/// The links of a snapshot, by name, as far as both kernels must agree: the kernel's own
/// link-local addresses are left out (a bridge gets carrier, and one, only a moment after a
/// port does).
fn links(s: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = s.namespaces[0]
        .links
        .iter()
        .map(|l| {
            let addrs: Vec<_> = l
                .addresses
                .iter()
                .filter(|a| !a.to_string().starts_with("fe80"))
                .collect();
            format!(
                "{} {:?} mtu={} mac={:?} up={} master={:?} bridge={:?} addrs={addrs:?}",
                l.name, l.kind, l.mtu, l.mac, l.up, l.master, l.bridge
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn bridges_their_ports_and_settings_alike_in_the_sim_and_the_kernel() {
    let a = TestNs::new();
    let vlans = kernel_filters_vlans();
    if !vlans {
        eprintln!("this kernel has no bridge VLAN filtering: the sim is told so, and the attribute is checked to be refused");
    }
    let mut sim = SimKernel::new(SimConfig {
        bridge_vlan_filtering: vlans,
        ..SimConfig::default()
    });
    sim.appear(a.netns()).expect("ns");
    let mut real = NetlinkBackend::new();
    let stp = BridgeSettings {
        stp: true,
        vlan_filtering: false,
        ageing_time_seconds: 20,
    };
    let set_mac = MacAddr([2, 0, 0, 0, 0x0b, 1]);
    let ops = vec![
        (bridge(&a, "br0", None, BridgeSettings::default()), None),
        (bridge(&a, "br1", Some(set_mac), stp), None),
        (
            bridge(&a, "br0", None, BridgeSettings::default()),
            Some(errno::EEXIST),
        ),
        (
            bridge(
                &a,
                "brv",
                None,
                BridgeSettings {
                    vlan_filtering: true,
                    ..BridgeSettings::default()
                },
            ),
            (!vlans).then_some(errno::EOPNOTSUPP),
        ),
        (pair(&a, "pa", "qa", [2, 0, 0, 0, 0, 9], 1400), None),
        (pair(&a, "pb", "qb", [2, 0, 0, 0, 0, 5], 1500), None),
        // Ports: the bridge takes the smallest MTU and the lowest MAC of its ports.
        (master(&a, "pa", Some("br0")), None),
        (master(&a, "pb", Some("br0")), None),
    ];
    let mut differences = alike(&mut sim, &mut real, &ops);
    let both = links(&real.observe(&[a.netns()]).expect("observe"));
    assert_eq!(links(&sim.observe(&[a.netns()]).expect("observe")), both);
    let br0 = both.iter().find(|l| l.starts_with("br0 ")).expect("br0");
    assert!(
        br0.contains("mtu=1400 mac=Some(02:00:00:00:00:05)"),
        "the smallest MTU, the lowest MAC: {br0}"
    );
    let ops = vec![
        (master(&a, "pb", Some("br1")), None),
        // What a bridge refuses as a port, and what cannot take ports.
        (master(&a, "br1", Some("br0")), Some(errno::ELOOP)),
        (master(&a, "br0", Some("br0")), Some(errno::ELOOP)),
        (master(&a, "lo", Some("br0")), Some(errno::EINVAL)),
        (master(&a, "qa", Some("pa")), Some(errno::EOPNOTSUPP)),
        (master(&a, "qa", Some("nosuch")), Some(errno::ENODEV)),
        // A port's MTU change is followed; settings change in place.
        (
            set(
                &a,
                "pa",
                LinkChange {
                    mtu: Some(1300),
                    ..LinkChange::default()
                },
            ),
            None,
        ),
        (
            set(
                &a,
                "br0",
                settings(BridgeChange {
                    stp: Some(true),
                    ageing_time_seconds: Some(45),
                    ..BridgeChange::default()
                }),
            ),
            None,
        ),
        (
            set(
                &a,
                "br1",
                settings(BridgeChange {
                    stp: Some(false),
                    ..BridgeChange::default()
                }),
            ),
            None,
        ),
        (
            set(
                &a,
                "br0",
                settings(BridgeChange {
                    vlan_filtering: Some(false),
                    ..BridgeChange::default()
                }),
            ),
            (!vlans).then_some(errno::EOPNOTSUPP),
        ),
        (
            set(
                &a,
                "pa",
                settings(BridgeChange {
                    stp: Some(true),
                    ..BridgeChange::default()
                }),
            ),
            Some(errno::EOPNOTSUPP),
        ),
        (
            set(
                &a,
                "br0",
                LinkChange {
                    mtu: Some(65536),
                    ..LinkChange::default()
                },
            ),
            Some(errno::EINVAL),
        ),
    ];
    differences.extend(alike(&mut sim, &mut real, &ops));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let seen_real = real.observe(&[a.netns()]).expect("observe");
    let seen_sim = sim.observe(&[a.netns()]).expect("observe");
    assert_eq!(links(&seen_sim), links(&seen_real));
    let br0 = links(&seen_real)
        .into_iter()
        .find(|l| l.starts_with("br0 "))
        .expect("br0");
    assert!(br0.contains("mtu=1300"), "{br0}");
    assert!(br0.contains("stp: true"), "{br0}");
    assert!(br0.contains("ageing_time_seconds: 45"), "{br0}");

    // Ports leave: the bridge's MTU goes back to 1500, its MAC to zero without ports; a
    // bridge deleted releases its ports; a port deleted leaves.
    let more = [
        master(&a, "pa", None),
        Op::DeleteLink {
            ns: a.netns(),
            name: "br1".into(),
        },
    ];
    for op in &more {
        let s = sim.apply(op).map_err(|e| e.errno);
        let r = real.apply(op).map_err(|e| e.errno);
        assert_eq!(s, r, "{op}");
        assert_eq!(r, Ok(()), "{op}");
    }
    let seen_real = real.observe(&[a.netns()]).expect("observe");
    let seen_sim = sim.observe(&[a.netns()]).expect("observe");
    assert_eq!(links(&seen_sim), links(&seen_real));
    let all = links(&seen_real).join("\n");
    assert!(
        all.contains("br0 Bridge mtu=1500 mac=Some(00:00:00:00:00:00)"),
        "{all}"
    );
    assert!(
        all.contains("pb Veth mtu=1500") && all.contains("master=None"),
        "{all}"
    );
}
