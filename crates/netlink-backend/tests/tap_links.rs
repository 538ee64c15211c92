//! TAPs the agent makes (`NewLink::Tap`) against the real kernel, and the sim beside it: the
//! same commands succeed or fail alike (with the same errno), and both kernels show the same
//! TAPs with the same settings, attributes and mark afterwards.

mod common;

use common::*;
use nsagent_core::{
    errno, Backend, LinkChange, LinkKind, LinkSpec, MacAddr, Master, NewLink, Op, Snapshot,
    TapSettings,
};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::SimKernel;

fn tap(ns: &TestNs, name: &str, mtu: Option<u32>, settings: TapSettings) -> Op {
    Op::CreateLink {
        ns: ns.netns(),
        link: LinkSpec {
            name: name.into(),
            mtu,
            mac: Some(MacAddr([2, 0, 0, 0, 0x7a, name.len() as u8])),
            alias: Some(format!("nsagent:{name}")),
            up: true,
        },
        kind: NewLink::Tap(settings),
    }
}

fn links(s: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = s.namespaces[0]
        .links
        .iter()
        .map(|l| {
            format!(
                "{} {:?} mtu={} mac={:?} up={} alias={:?} master={:?} tap={:?} addrs={:?}",
                l.name, l.kind, l.mtu, l.mac, l.up, l.alias, l.master, l.tap, l.addresses
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn taps_are_made_configured_and_deleted_alike_in_the_sim_and_the_kernel() {
    let a = TestNs::new();
    let mut sim = SimKernel::default();
    sim.appear(a.netns()).expect("ns");
    let mut real = NetlinkBackend::new();
    let owned = TapSettings {
        owner: Some(1000),
        group: Some(100),
        multi_queue: true,
    };
    let ops = [
        (tap(&a, "tp0", Some(9000), owned), None),
        (tap(&a, "tp01", None, TapSettings::default()), None),
        (
            tap(&a, "tp0", None, TapSettings::default()),
            Some(errno::EEXIST),
        ),
        // Refused by the link once made: made, then taken away again.
        (
            tap(&a, "tp02", Some(65522), TapSettings::default()),
            Some(errno::EINVAL),
        ),
        (
            Op::CreateLink {
                ns: a.netns(),
                link: LinkSpec {
                    name: "br0".into(),
                    mtu: None,
                    mac: Some(MacAddr([2, 0, 0, 0, 0x7b, 1])),
                    alias: None,
                    up: true,
                },
                kind: NewLink::Bridge(Default::default()),
            },
            None,
        ),
        (
            Op::SetLink {
                ns: a.netns(),
                name: "tp01".into(),
                change: LinkChange {
                    master: Some(Master::Set("br0".into())),
                    ..LinkChange::default()
                },
            },
            None,
        ),
        (
            Op::DeleteLink {
                ns: a.netns(),
                name: "tp0".into(),
            },
            None,
        ),
    ];
    let (made, rest) = ops.split_at(1);
    let mut differences = alike(&mut sim, &mut real, made);
    // Before it is deleted: its settings as both show them.
    let seen_real = real.observe(&[a.netns()]).expect("observe");
    let seen_sim = sim.observe(&[a.netns()]).expect("observe");
    assert_eq!(links(&seen_sim), links(&seen_real));
    let tp0 = seen_real.namespaces[0]
        .links
        .iter()
        .find(|l| l.name == "tp0")
        .expect("tp0");
    assert_eq!(tp0.kind, LinkKind::Tap);
    assert_eq!(tp0.tap, Some(owned));
    assert_eq!((tp0.mtu, tp0.up), (9000, true));
    differences.extend(alike(&mut sim, &mut real, rest));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let seen_real = real.observe(&[a.netns()]).expect("observe");
    let seen_sim = sim.observe(&[a.netns()]).expect("observe");
    assert_eq!(links(&seen_sim), links(&seen_real));
    let all = links(&seen_real).join("\n");
    assert!(!all.contains("tp0 ") && !all.contains("tp02"), "{all}");
    assert!(
        all.contains("tp01 Tap") && all.contains("master=Some(\"br0\")"),
        "{all}"
    );
}
