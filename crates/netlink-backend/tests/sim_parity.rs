//! The same scenario through the simulated kernel and the real one, through the core: both must
//! end in the same observed state. This checks the simulator against the kernel it imitates.

mod common;

use common::*;
use nsagent_core::{
    Backend, Core, CoreConfig, Event, Item, ItemKey, LinkChange, LinkSpec, MacAddr, Netns, NewLink,
    ObservedNamespace, Op, RouteScope, RouteSpec, Timestamp,
};
use nsagent_netlink::NetlinkBackend;
use nsagent_sim::{run_until_idle, SimConfig, SimKernel};
use serde_json::{json, Value};

fn veth(name: &str, peer: &str, ns: &str, addr: &str, mac: &str) -> (String, Value) {
    let v = json!({
        "name": name, "type": "VETH", "enabled": true, "ip_addresses": [addr], "mtu": 1400,
        "phys_address": mac, "veth": {"peer_if_name": peer}, "namespace": {"type": "NSID", "reference": ns}
    });
    (format!("config/linux/interfaces/v2/interface/{name}"), v)
}

/// One agent per kernel, fed the same events.
struct Twin {
    cores: [Core; 2],
    sim: SimKernel,
    real: NetlinkBackend,
    seq: u64,
}

impl Twin {
    fn event(&mut self, e: Event) {
        for core in &mut self.cores {
            core.handle(Timestamp(0), e.clone());
        }
        run_until_idle(&mut self.cores[0], &mut self.sim, Timestamp(0));
        run_until_idle(&mut self.cores[1], &mut self.real, Timestamp(0));
    }

    fn put(&mut self, (key, value): (String, Value)) {
        self.seq += 1;
        let item = Item::decode(&key, &value).expect("valid item");
        self.event(Event::Put {
            seq: self.seq,
            item,
        });
    }

    fn delete(&mut self, key: ItemKey) {
        self.seq += 1;
        self.event(Event::Delete { seq: self.seq, key });
    }

    /// Both kernels' views of the namespaces, in a form that leaves out what differs by nature
    /// (the kernel's random MACs of unconfigured links).
    fn compare(&mut self, namespaces: &[Netns], step: &str) -> Vec<String> {
        let sim = self.sim.observe(namespaces).expect("sim observe");
        let real = self.real.observe(namespaces).expect("kernel observe");
        assert_eq!(sim.missing, real.missing, "{step}: missing namespaces");
        let norm = |ns: &[ObservedNamespace]| -> Vec<String> {
            let mut out = Vec::new();
            for o in ns {
                let mut links: Vec<_> = o.links.iter().collect();
                links.sort_by(|a, b| a.name.cmp(&b.name));
                for l in links {
                    let mac = if l.alias.is_some() {
                        format!("{:?}", l.mac)
                    } else {
                        "-".into()
                    };
                    out.push(format!(
                        "{} link {} {:?} alias={:?} mtu={} mac={mac} up={} addrs={:?} peer={:?}",
                        o.ns, l.name, l.kind, l.alias, l.mtu, l.up, l.addresses, l.peer
                    ));
                }
                let mut routes = o.routes.clone();
                routes.sort();
                for r in routes {
                    out.push(format!("{} route {r:?}", o.ns));
                }
                let mut neigh: Vec<String> = o
                    .neighbours
                    .iter()
                    .map(|n| format!("{} neigh {n:?}", o.ns))
                    .collect();
                neigh.sort();
                out.extend(neigh);
            }
            out
        };
        let real = norm(&real.namespaces);
        assert_eq!(norm(&sim.namespaces), real, "{step}: sim and kernel differ");
        real
    }
}

#[test]
fn seed_scenario_ends_in_the_same_state_in_the_sim_and_the_kernel() {
    let a = TestNs::unmade();
    let b = TestNs::unmade();
    let namespaces = [a.netns(), b.netns()];
    let mut t = Twin {
        cores: [
            Core::new(CoreConfig::default()),
            Core::new(CoreConfig::default()),
        ],
        sim: SimKernel::new(SimConfig::default()),
        real: NetlinkBackend::new(),
        seq: 0,
    };
    t.put(veth(
        "veth1",
        "veth2",
        &a.name,
        "192.168.22.1/24",
        "02:00:00:00:22:01",
    ));
    t.put(veth(
        "veth2",
        "veth1",
        &b.name,
        "192.168.22.2/24",
        "02:00:00:00:22:02",
    ));
    t.put((
        "config/linux/l3/v2/route/10.30.0.0/16/veth1".into(),
        json!({"outgoing_interface": "veth1", "dst_network": "10.30.0.0/16", "gw_addr": "192.168.22.2", "metric": 10}),
    ));
    t.put((
        "config/linux/l3/v2/arp/veth1/192.168.22.9".into(),
        json!({"interface": "veth1", "ip_address": "192.168.22.9", "hw_address": "02:00:00:00:22:09"}),
    ));
    assert!(a.link("veth1").is_some(), "the real kernel has the pair");
    let seen = t.compare(&namespaces, "after the pair, route and neighbour");
    for what in ["link veth1", "link veth2", " route ", " neigh "] {
        assert!(
            seen.iter().any(|l| l.contains(what)),
            "{what} compared: {seen:#?}"
        );
    }

    t.delete(ItemKey::Interface("veth2".into()));
    assert!(a.link("veth1").is_none());
    t.compare(&namespaces, "after deleting one end");

    t.put(veth(
        "veth2",
        "veth1",
        &b.name,
        "192.168.22.2/24",
        "02:00:00:00:22:02",
    ));
    assert!(a.link("veth1").is_some());
    t.compare(&namespaces, "after putting it back");

    // A new host name: renamed in place, its route, neighbour and peer following it.
    let (key, mut value) = veth(
        "veth1",
        "veth2",
        &a.name,
        "192.168.22.1/24",
        "02:00:00:00:22:01",
    );
    value["host_if_name"] = json!("veth1r");
    t.put((key, value));
    assert!(a.link("veth1").is_none() && a.link("veth1r").is_some());
    let seen = t.compare(&namespaces, "after renaming one end");
    for what in ["link veth1r", " route "] {
        assert!(
            seen.iter().any(|l| l.contains(what)),
            "{what} compared: {seen:#?}"
        );
    }
}

fn spec(name: &str, up: bool) -> LinkSpec {
    LinkSpec {
        name: name.into(),
        mtu: None,
        mac: None,
        alias: Some(format!("nsagent:{name}")),
        up,
    }
}

fn route(dst: &str, gw: Option<&str>, metric: u32, scope: RouteScope) -> RouteSpec {
    RouteSpec {
        dev: "p0".into(),
        dst: dst.parse().unwrap(),
        gw: gw.map(|g| g.parse().unwrap()),
        metric,
        scope,
        table: None,
        kind: Default::default(),
        src: None,
        mtu: None,
        hops: Vec::new(),
    }
}

fn pair(na: &Netns, nb: &Netns, name: &str, peer: &str, up: bool) -> Op {
    Op::CreateLink {
        ns: na.clone(),
        link: spec(name, up),
        kind: NewLink::Veth {
            peer_ns: nb.clone(),
            peer: spec(peer, up),
        },
    }
}

/// Namespaces made twice, veth pairs with a taken name, a pair in a missing namespace.
fn namespace_and_link_probes(a: &TestNs, b: &TestNs, missing: &TestNs) -> Vec<Op> {
    let (na, nb) = (&a.netns(), &b.netns());
    vec![
        Op::CreateNamespace {
            name: a.name.clone(),
        },
        Op::CreateNamespace {
            name: b.name.clone(),
        },
        Op::CreateNamespace {
            name: a.name.clone(),
        },
        pair(na, nb, "p0", "q0", true),
        pair(na, nb, "p0", "q9", true),
        pair(na, nb, "d0", "q1", false),
        Op::CreateLink {
            ns: missing.netns(),
            link: spec("m0", false),
            kind: NewLink::Veth {
                peer_ns: nb.clone(),
                peer: spec("m1", false),
            },
        },
    ]
}

/// Addresses, routes and neighbours: duplicates, missing links, unreachable gateways.
fn l3_probes(na: &Netns) -> Vec<Op> {
    vec![
        Op::AddAddress {
            ns: na.clone(),
            link: "p0".into(),
            addr: "10.1.0.1/24".parse().unwrap(),
        },
        Op::AddAddress {
            ns: na.clone(),
            link: "p0".into(),
            addr: "10.1.0.1/24".parse().unwrap(),
        },
        Op::AddAddress {
            ns: na.clone(),
            link: "p0".into(),
            addr: "fd00:1::1/64".parse().unwrap(),
        },
        Op::AddAddress {
            ns: na.clone(),
            link: "nope".into(),
            addr: "10.1.0.1/24".parse().unwrap(),
        },
        Op::DelAddress {
            ns: na.clone(),
            link: "p0".into(),
            addr: "10.2.0.1/24".parse().unwrap(),
        },
        Op::AddRoute {
            ns: na.clone(),
            route: route("10.50.0.0/16", Some("10.1.0.2"), 5, RouteScope::Global),
        },
        Op::AddRoute {
            ns: na.clone(),
            route: route("10.51.0.0/16", Some("10.9.0.2"), 5, RouteScope::Global),
        },
        Op::ReplaceRoute {
            ns: na.clone(),
            route: route("10.50.0.0/16", Some("10.1.0.3"), 5, RouteScope::Global),
        },
        Op::DelRoute {
            ns: na.clone(),
            route: route("10.52.0.0/16", None, 5, RouteScope::Global),
        },
        Op::AddRoute {
            ns: na.clone(),
            route: RouteSpec {
                dev: "d0".into(),
                ..route("10.53.0.0/16", None, 0, RouteScope::Link)
            },
        },
        Op::SetNeighbour {
            ns: na.clone(),
            link: "p0".into(),
            ip: "10.1.0.9".parse().unwrap(),
            mac: MacAddr([2, 0, 0, 0, 0, 9]),
        },
        Op::DelNeighbour {
            ns: na.clone(),
            link: "p0".into(),
            ip: "10.1.0.8".parse().unwrap(),
        },
    ]
}

/// Link changes, renames to taken or bad names, deletions of a veth from either end.
fn link_change_probes(na: &Netns, nb: &Netns) -> Vec<Op> {
    vec![
        Op::SetLink {
            ns: na.clone(),
            name: "p0".into(),
            change: LinkChange {
                mtu: Some(70000),
                ..LinkChange::default()
            },
        },
        Op::SetLink {
            ns: na.clone(),
            name: "p0".into(),
            change: LinkChange {
                mac: Some(MacAddr([2, 9, 9, 9, 9, 9])),
                ..LinkChange::default()
            },
        },
        Op::SetLink {
            ns: na.clone(),
            name: "nope".into(),
            change: LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        },
        Op::RenameLink {
            ns: na.clone(),
            name: "p0".into(),
            new_name: "p0".into(),
        },
        Op::RenameLink {
            ns: na.clone(),
            name: "d0".into(),
            new_name: "p0".into(),
        },
        Op::RenameLink {
            ns: na.clone(),
            name: "nope".into(),
            new_name: "nope2".into(),
        },
        Op::RenameLink {
            ns: na.clone(),
            name: "d0".into(),
            new_name: "d0-renamed-far-too-long".into(),
        },
        Op::RenameLink {
            ns: na.clone(),
            name: "d0".into(),
            new_name: "d1".into(),
        },
        Op::AddRoute {
            ns: na.clone(),
            route: RouteSpec {
                dev: "d0".into(),
                ..route("10.54.0.0/16", None, 0, RouteScope::Link)
            },
        },
        Op::DeleteLink {
            ns: nb.clone(),
            name: "q0".into(),
        },
        Op::DeleteLink {
            ns: na.clone(),
            name: "p0".into(),
        },
        Op::DelRoute {
            ns: na.clone(),
            route: route("10.50.0.0/16", None, 5, RouteScope::Global),
        },
    ]
}

/// The same commands, applied directly to both kernels, succeed or fail alike, with the same
/// errno.
#[test]
fn commands_succeed_and_fail_alike_in_the_sim_and_the_kernel() {
    let a = TestNs::unmade();
    let b = TestNs::unmade();
    let missing = TestNs::unmade();
    let (na, nb) = (a.netns(), b.netns());
    let mut ops = namespace_and_link_probes(&a, &b, &missing);
    ops.extend(l3_probes(&na));
    ops.extend(link_change_probes(&na, &nb));
    let mut sim = SimKernel::new(SimConfig::default());
    let mut real = NetlinkBackend::new();
    let mut differences = Vec::new();
    let mut failures = 0;
    for op in &ops {
        let s = sim.apply(op).map_err(|e| (e.kind, e.errno));
        let r = real.apply(op).map_err(|e| (e.kind, e.errno));
        failures += usize::from(r.is_err());
        if s != r {
            differences.push(format!("{op}: sim {s:?}, kernel {r:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "sim and kernel disagree:\n{}",
        differences.join("\n")
    );
    assert!(
        failures >= 12,
        "most probes are meant to fail, so the errnos get compared: {failures}"
    );
}
