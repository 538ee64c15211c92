//! VXLAN (nsagent's extension): a tunnel link the agent makes, on an underlay item's link or
//! none. With an underlay it waits for it, is made from the underlay's namespace straight into
//! its own, and goes with it (the kernel deletes it along, also when the underlay moves); its
//! MTU is kept below the underlay's as the kernel does; a changed tunnel re-makes it; after a
//! restart it is taken back only with its tunnel and on its underlay.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn underlay(mtu: u32) -> serde_json::Value {
    json!({"name": "up", "type": "DUMMY", "host_if_name": "up0", "enabled": true, "mtu": mtu,
           "ip_addresses": ["192.168.50.1/24"]})
}

fn vxlan(vni: u32, underlay: Option<&str>) -> serde_json::Value {
    let mut v = json!({"name": "vx", "type": "VXLAN", "host_if_name": "vx0", "enabled": true,
           "namespace": {"type": "NSID", "reference": "blue"},
           "ip_addresses": ["10.8.0.1/24"],
           "vxlan": {"vni": vni, "local_ip": "192.168.50.1", "remote_ip": "192.168.50.2"}});
    if let Some(u) = underlay {
        v["vxlan"]["underlay_interface"] = json!(u);
    }
    v
}

fn blue() -> Netns {
    Netns::Named("blue".into())
}

/// The VXLAN made in `ops`: its tunnel and underlay.
fn vxlan_made(ops: &[Op]) -> Option<(VxlanTunnel, Option<(Netns, String)>)> {
    ops.iter().find_map(|op| match op {
        Op::CreateLink {
            ns,
            link,
            kind: NewLink::Vxlan { tunnel, underlay },
        } if *ns == blue() && link.name == "vx0" => Some((*tunnel, underlay.clone())),
        _ => None,
    })
}

fn on_underlay() -> Option<(Netns, String)> {
    Some((Netns::Default, "up0".to_string()))
}

#[test]
fn a_vxlan_waits_for_its_underlay_then_is_made_on_it_in_its_own_namespace() {
    let mut d = Harness::new();
    d.put(&iface_key("vx"), vxlan(42, Some("up")));
    d.settle();
    assert_eq!(
        reasons(&d.state(&iface_key("vx"))),
        vec!["interface 'up' is not configured"]
    );
    d.put(&iface_key("up"), underlay(1500));
    let ops = d.settle();
    let underlay_made = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "up0"));
    let made = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "vx0"));
    assert!(underlay_made.is_some() && made > underlay_made, "{ops:?}");
    let (tunnel, at) = vxlan_made(&ops).expect("made");
    assert_eq!(at, on_underlay());
    assert_eq!(
        tunnel,
        VxlanTunnel {
            vni: 42,
            local: Some("192.168.50.1".parse().unwrap()),
            remote: Some("192.168.50.2".parse().unwrap()),
            dst_port: VXLAN_DEFAULT_PORT,
            learning: true,
        }
    );
    assert!(is_applied(&d.state(&iface_key("vx"))));
    let explained = format!("{:?}", d.core.explain(&iface_key("vx").parse().unwrap()));
    assert!(
        explained.contains("vxlan, vni 42, local 192.168.50.1, remote 192.168.50.2, port 4789, on the link of item 'up'"),
        "{explained}"
    );
    // The command reads as `ip` would say it.
    let shown = ops
        .iter()
        .find(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "vx0"))
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(shown.contains("create vxlan vx0 (vni 42"), "{shown}");
    assert!(
        shown.ends_with(") in namespace 'blue' on up0 in default namespace"),
        "{shown}"
    );
}

#[test]
fn a_vxlan_without_an_underlay_is_made_at_once_where_it_lives() {
    let mut d = Harness::new();
    d.put(&iface_key("vx"), vxlan(7, None));
    let ops = d.settle();
    let (tunnel, at) = vxlan_made(&ops).expect("made");
    assert_eq!((tunnel.vni, at), (7, None));
    assert!(is_applied(&d.state(&iface_key("vx"))));
}

#[test]
fn a_vxlan_goes_with_its_underlay_and_a_new_vni_re_makes_it() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), underlay(1500));
    d.put(&iface_key("vx"), vxlan(42, Some("up")));
    d.settle();
    d.put(&iface_key("vx"), vxlan(43, Some("up")));
    let ops = d.settle();
    let deleted = ops
        .iter()
        .position(|op| matches!(op, Op::DeleteLink { name, .. } if name == "vx0"));
    let made = ops
        .iter()
        .position(|op| matches!(op, Op::CreateLink { link, .. } if link.name == "vx0"));
    assert!(deleted.is_some() && made > deleted, "{ops:?}");
    assert_eq!(vxlan_made(&ops).map(|(t, _)| t.vni), Some(43));
    // The underlay moved elsewhere is made again there: the kernel deletes the VXLAN with
    // the old one, so the core leaves that to it, and makes the VXLAN again on the new one.
    let mut moved = underlay(1500);
    moved["namespace"] = json!({"type": "NSID", "reference": "red"});
    d.put(&iface_key("up"), moved);
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "vx0")),
        "{ops:?}"
    );
    assert_eq!(
        vxlan_made(&ops).map(|(_, at)| at),
        Some(Some((Netns::Named("red".into()), "up0".to_string())))
    );
    // The underlay deleted: the VXLAN went with it and waits.
    d.delete(&iface_key("up"));
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "vx0")),
        "{ops:?}"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("vx"))),
        vec!["interface 'up' is not configured"]
    );
    let explained = format!("{:?}", d.core.explain(&iface_key("vx").parse().unwrap()));
    assert!(!explained.contains("link vx0"), "{explained}");
}

#[test]
fn a_vxlan_may_sit_on_a_bridge_port_and_be_one() {
    let mut d = Harness::new();
    d.put(
        &iface_key("br"),
        json!({"name": "br", "type": "BRIDGE", "host_if_name": "br0", "enabled": true}),
    );
    let mut up = underlay(1500);
    up["bridge_master_interface"] = json!("br");
    d.put(&iface_key("up"), up);
    let mut vx = vxlan(42, Some("up"));
    vx["namespace"] = json!(null);
    vx["bridge_master_interface"] = json!("br");
    d.put(&iface_key("vx"), vx);
    d.settle();
    assert!(
        is_applied(&d.state(&iface_key("vx"))),
        "{:?}",
        d.state(&iface_key("vx"))
    );
}

#[test]
fn a_vxlan_asked_above_its_underlays_mtu_gets_the_most_and_then_fails_on_the_rest() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), underlay(1500));
    let mut vx = vxlan(42, Some("up"));
    vx["mtu"] = json!(1480);
    d.put(&iface_key("vx"), vx);
    // The kernel makes it with 1450 (1500 less the IPv4 headroom), silently: the core
    // believes that, and asks for 1480, which the kernel refuses.
    let mut set_mtu = None;
    for _ in 0..20 {
        for c in d.pending() {
            match &c.op {
                Op::SetLink { name, change, .. } if name == "vx0" && change.mtu == Some(1480) => {
                    set_mtu = Some(c.op.clone());
                    d.fail(&c, errno::EINVAL);
                }
                _ => d.ok(&c),
            }
        }
    }
    assert!(set_mtu.is_some(), "no MTU set after the creation");
    match d.state(&iface_key("vx")) {
        ItemState::Failed { error, .. } => {
            assert!(
                error.contains("mtu 1480") && error.contains("errno 22"),
                "{error}"
            )
        }
        s => panic!("{s:?}"),
    }
    // Within what the underlay allows, it holds.
    let mut vx = vxlan(42, Some("up"));
    vx["mtu"] = json!(1450);
    d.put(&iface_key("vx"), vx);
    let ops = d.settle();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::SetLink { name, change, .. } if name == "vx0" && change.mtu.is_some())),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("vx"))));
}

fn seen_vxlan(vni: u32, parent: Option<(Netns, String)>) -> ObservedLink {
    let mut l = host_link("vx0", true, 1450, &["10.8.0.1/24"]);
    l.kind = LinkKind::Vxlan;
    l.alias = Some(mine("vx"));
    l.vxlan = Some(VxlanTunnel {
        vni,
        local: Some("192.168.50.1".parse().unwrap()),
        remote: Some("192.168.50.2".parse().unwrap()),
        dst_port: VXLAN_DEFAULT_PORT,
        learning: true,
    });
    l.parent = parent;
    l
}

#[test]
fn a_vxlan_found_after_a_restart_is_taken_back_only_with_its_tunnel_on_its_underlay() {
    let elsewhere = Some((Netns::Default, "eth7".to_string()));
    for (vni, at, re_made) in [
        (42, on_underlay(), false),
        (43, on_underlay(), true),
        (42, elsewhere, true),
        (42, None, true),
    ] {
        let mut d = Harness::new();
        d.put(&iface_key("up"), underlay(1500));
        d.put(&iface_key("vx"), vxlan(42, Some("up")));
        d.event(Event::Restarted);
        let mut up = host_link("up0", true, 1500, &["192.168.50.1/24"]);
        up.kind = LinkKind::Dummy;
        up.alias = Some(mine("up"));
        d.event(Event::Observed(Snapshot {
            namespaces: vec![
                ObservedNamespace {
                    ns: Netns::Default,
                    links: vec![up],
                    routes: vec![],
                    neighbours: vec![],
                    rules: vec![],
                },
                ObservedNamespace {
                    ns: blue(),
                    links: vec![seen_vxlan(vni, at.clone())],
                    routes: vec![],
                    neighbours: vec![],
                    rules: vec![],
                },
            ],
            missing: vec![],
        }));
        let ops = d.settle();
        assert_eq!(vxlan_made(&ops).is_some(), re_made, "{vni} {at:?}: {ops:?}");
        assert!(is_applied(&d.state(&iface_key("vx"))));
    }
}

#[test]
fn vxlan_settings_are_checked_on_their_fields() {
    let bad = |v: serde_json::Value, field: &str| {
        let e = Item::decode_unkeyed(&v).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    };
    bad(json!({"name": "v", "type": "VXLAN"}), "vxlan.vni");
    bad(
        json!({"name": "v", "type": "VXLAN", "vxlan": {"vni": 16777216}}),
        "vxlan.vni",
    );
    bad(
        json!({"name": "v", "type": "VXLAN", "vxlan": {"vni": 1, "remoteIp": "10.0.0.300"}}),
        // As the user spelled it.
        "vxlan.remoteIp",
    );
    bad(
        json!({"name": "v", "type": "VXLAN", "vxlan": {"vni": 1, "group": "239.0.0.1"}}),
        "vxlan.group",
    );
    bad(
        json!({"name": "v", "type": "VXLAN", "vxlan": {"vni": 1, "dst_port": 65536}}),
        "vxlan.dst_port",
    );
    bad(
        json!({"name": "v", "type": "DUMMY", "vxlan": {"vni": 1}}),
        "vxlan",
    );
    bad(
        json!({"name": "v", "type": "VXLAN", "macvlan": {"parent_interface": "p"}, "vxlan": {"vni": 1}}),
        "vxlan",
    );
    // The protobuf-JSON spellings: camelCase names, enums by number.
    let Item::Interface(i) = Item::decode_unkeyed(&json!({"name": "v", "type": 104,
        "vxlan": {"vni": 9, "underlayInterface": "eth0", "group": "239.1.1.1", "noLearning": true}}))
    .expect("valid") else {
        panic!()
    };
    assert_eq!(i.kind, InterfaceType::Vxlan);
    assert_eq!(i.parent(), Some("eth0"));
    let s = i.vxlan.expect("settings");
    assert_eq!(s.tunnel.remote, Some("239.1.1.1".parse().unwrap()));
    assert!(!s.tunnel.learning);
}

#[test]
fn a_vxlan_moved_off_its_underlay_while_a_sibling_is_being_made_there_is_removed_after() {
    let mut d = Harness::new();
    d.put(&iface_key("up"), underlay(1500));
    d.put(&iface_key("vx"), vxlan(42, Some("up")));
    d.settle();
    // A MACVLAN being made on the same underlay: its command is on its way.
    d.put(
        &iface_key("mv"),
        json!({"name": "mv", "type": "MACVLAN", "host_if_name": "mv0",
               "macvlan": {"parent_interface": "up"}}),
    );
    let held = d.pending();
    assert!(
        held.iter()
            .any(|c| matches!(&c.op, Op::CreateLink { link, .. } if link.name == "mv0")),
        "{held:?}"
    );
    // Meanwhile the VXLAN is asked onto an underlay that is not there: its link waits for
    // the sibling's result, then goes.
    d.put(&iface_key("vx"), vxlan(42, Some("elsewhere")));
    assert!(d.pending().is_empty());
    for c in &held {
        d.ok(c);
    }
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name == "vx0")),
        "{ops:?}"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("vx"))),
        vec!["interface 'elsewhere' is not configured"]
    );
}
