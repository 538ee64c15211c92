//! TAP_TO_VPP: a TAP someone else makes in the default namespace is waited for, moved into the
//! item's namespace under the item's name, configured, and moved back home when the item goes.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn red() -> Netns {
    Netns::Named("red".into())
}

fn tap_item() -> serde_json::Value {
    json!({"name": "t", "type": "TAP_TO_VPP", "host_if_name": "vpp1", "enabled": true,
           "namespace": {"type": "NSID", "reference": "red"},
           "ip_addresses": ["10.5.0.1/24"], "tap": {"vpp_tap_if_name": "tap0"}})
}

fn ns_seen(ns: Netns, links: Vec<ObservedLink>) -> ObservedNamespace {
    ObservedNamespace {
        ns,
        links,
        routes: vec![],
        neighbours: vec![],
        rules: vec![],
    }
}

fn lo() -> ObservedLink {
    let mut l = host_link("lo", false, 65536, &[]);
    l.kind = LinkKind::Loopback;
    l
}

/// Answers the core's request for observations with these namespaces.
fn observe(d: &mut Harness, namespaces: Vec<ObservedNamespace>) {
    d.core.poll_resync();
    d.event(Event::Observed(Snapshot {
        namespaces,
        missing: vec![],
    }));
}

/// The item put, its namespace made, and both namespaces seen without the TAP.
fn waiting_for_tap() -> Harness {
    let mut d = Harness::new();
    d.put(&iface_key("t"), tap_item());
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::CreateNamespace { name }] if name == "red"),
        "{ops:?}"
    );
    d.settle();
    observe(
        &mut d,
        vec![
            ns_seen(Netns::Default, vec![lo()]),
            ns_seen(red(), vec![lo()]),
        ],
    );
    d
}

/// An item wanting its TAP in the default namespace as `vpp1`, and the TAP `tap0` seen at home
/// (`up` or not).
fn renamed_at_home(up: bool) -> Harness {
    let mut d = Harness::new();
    d.put(
        &iface_key("t"),
        json!({"name": "t", "type": "TAP_TO_VPP", "host_if_name": "vpp1",
               "tap": {"vpp_tap_if_name": "tap0"}}),
    );
    d.settle();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", up, 1500, &[])],
        )],
    );
    d
}

#[test]
fn the_item_waits_for_its_tap_then_takes_configures_and_gives_it_back() {
    let mut d = waiting_for_tap();
    assert_eq!(d.settle(), vec![], "nothing to do without the TAP");
    assert_eq!(
        d.core.poll_resync(),
        None,
        "no look asked again: it would say the same, and ask again, forever"
    );
    assert_eq!(
        reasons(&d.state(&iface_key("t"))),
        vec!["TAP 'tap0' is not in the default namespace yet (its creator, such as VPP, makes it)"]
    );

    // VPP makes its TAP: the kernel tells, and the agent takes it.
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", true, 1450, &["fe80::1/64"])],
        )],
    );
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::MoveLink {
            ns: Netns::Default,
            name: "tap0".into(),
            to: red(),
            new_name: "vpp1".into()
        }]
    );
    // Moved, it is looked at where it is now before anything is changed on it.
    assert!(!is_applied(&d.state(&iface_key("t"))));
    observe(
        &mut d,
        vec![ns_seen(
            red(),
            vec![lo(), host_link("vpp1", false, 1450, &[])],
        )],
    );
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(op, Op::SetLink { ns, change, .. } if *ns == red() && change.up == Some(true))),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(
            |op| matches!(op, Op::AddAddress { ns, link, .. } if *ns == red() && link == "vpp1")
        ),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("t"))));

    // Deleted: put back as it came, then home under its first name.
    d.delete(&iface_key("t"));
    let ops = d.settle();
    assert_eq!(
        ops.last(),
        Some(&Op::MoveLink {
            ns: red(),
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(|op| matches!(op, Op::DelAddress { .. })),
        "the address the agent added goes first: {ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::SetLink { change, .. } if change.up == Some(false))),
        "it is down again, as it arrived: {ops:?}"
    );
    assert!(d.core.status(&iface_key("t").parse().unwrap()).is_none());
}

#[test]
fn a_tap_found_in_place_after_the_state_was_lost_is_taken_there_and_still_goes_home() {
    let mut d = Harness::new();
    d.put(&iface_key("t"), tap_item());
    d.settle();
    observe(
        &mut d,
        vec![
            ns_seen(Netns::Default, vec![lo()]),
            ns_seen(
                red(),
                vec![lo(), host_link("vpp1", true, 1450, &["10.5.0.1/24"])],
            ),
        ],
    );
    assert_eq!(d.settle(), vec![], "already as asked: nothing moved");
    assert!(is_applied(&d.state(&iface_key("t"))));
    d.delete(&iface_key("t"));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::MoveLink {
            ns: red(),
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }],
        "what was there before is kept; the TAP goes home"
    );
}

#[test]
fn a_move_refused_is_retried_and_says_why() {
    let mut d = waiting_for_tap();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", false, 1500, &[])],
        )],
    );
    let c = d.pending();
    assert!(matches!(c.as_slice(), [c] if matches!(c.op, Op::MoveLink { .. })));
    d.fail(&c[0], EEXIST);
    match d.state(&iface_key("t")) {
        ItemState::Failed {
            error, retry_at, ..
        } => {
            assert!(error.contains("move link tap0"), "{error}");
            assert!(retry_at.is_some(), "retried");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_item_deleted_while_waiting_touches_nothing() {
    let mut d = waiting_for_tap();
    d.delete(&iface_key("t"));
    assert_eq!(d.settle(), vec![]);
    assert!(d.core.status(&iface_key("t").parse().unwrap()).is_none());
}

#[test]
fn a_tap_in_the_default_namespace_under_another_name_is_renamed_there_and_back() {
    let mut d = renamed_at_home(false);
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::MoveLink {
            ns: Netns::Default,
            name: "tap0".into(),
            to: Netns::Default,
            new_name: "vpp1".into()
        }]
    );
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("vpp1", false, 1500, &[])],
        )],
    );
    assert_eq!(d.settle(), vec![]);
    assert!(is_applied(&d.state(&iface_key("t"))));
    d.delete(&iface_key("t"));
    assert_eq!(
        d.settle(),
        vec![Op::MoveLink {
            ns: Netns::Default,
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }]
    );
}

#[test]
fn a_tap_item_names_its_tap_and_only_it_has_one() {
    let err = Item::decode_unkeyed(&json!({"name": "t", "type": "TAP_TO_VPP"})).unwrap_err();
    assert_eq!(err.field, "tap.vpp_tap_if_name");
    let err = Item::decode_unkeyed(
        &json!({"name": "t", "type": "TAP_TO_VPP", "tap": {"vppTapIfName": "bad name"}}),
    )
    .unwrap_err();
    assert_eq!(err.field, "tap.vppTapIfName", "named as written: {err}");
    let err = Item::decode_unkeyed(&json!({"name": "t", "type": "EXISTING",
        "tap": {"vpp_tap_if_name": "tap0"}}))
    .unwrap_err();
    assert_eq!(err.field, "tap");
    assert!(err.to_string().contains("TAP_TO_VPP only"), "{err}");
    // vpp-agent's number for TAP_TO_VPP is 2.
    let ok =
        Item::decode_unkeyed(&json!({"name": "t", "type": 2, "tap": {"vppTapIfName": "tap0"}}));
    assert!(ok.is_ok(), "{ok:?}");
}

/// Found by the simulation (seed 97): a TAP the item first borrowed at home, under its own
/// name, got an address; put again under another name, the TAP was renamed there (a move
/// within the namespace) with the address on it, which then counted as there before.
#[test]
fn a_tap_borrowed_at_home_is_restored_before_it_is_renamed_there() {
    let mut d = Harness::new();
    let mut t = json!({"name": "t", "type": "TAP_TO_VPP", "host_if_name": "tap0",
                       "ip_addresses": ["10.5.0.1/24"], "tap": {"vpp_tap_if_name": "tap0"}});
    d.put(&iface_key("t"), t.clone());
    d.settle();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", false, 1500, &[])],
        )],
    );
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::AddAddress { link, .. } if link == "tap0")),
        "{ops:?}"
    );
    t["host_if_name"] = json!("vpp1");
    t["ip_addresses"] = json!([]);
    d.put(&iface_key("t"), t);
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![
            Op::DelAddress {
                ns: Netns::Default,
                link: "tap0".into(),
                addr: "10.5.0.1/24".parse().unwrap()
            },
            Op::MoveLink {
                ns: Netns::Default,
                name: "tap0".into(),
                to: Netns::Default,
                new_name: "vpp1".into()
            }
        ],
        "the address goes before the rename, which needs no other look"
    );
}

/// Found by the simulation (seed 14): VPP removed the TAP the item borrowed at home, the item
/// then asked for it under another name, and VPP made it again. The loan of the first TAP
/// outlived it, so the new one counted as lent, was "restored", and the item waited forever.
#[test]
fn a_tap_made_again_is_a_new_link_and_is_fetched() {
    let mut d = Harness::new();
    let mut t = json!({"name": "t", "type": "TAP_TO_VPP", "host_if_name": "tap0",
                       "tap": {"vpp_tap_if_name": "tap0"}});
    d.put(&iface_key("t"), t.clone());
    d.settle();
    let tap = || host_link("tap0", false, 1500, &[]);
    observe(&mut d, vec![ns_seen(Netns::Default, vec![lo(), tap()])]);
    d.settle();
    assert!(is_applied(&d.state(&iface_key("t"))));
    // VPP removes it; the item looks again and waits.
    observe(&mut d, vec![ns_seen(Netns::Default, vec![lo()])]);
    d.settle();
    observe(&mut d, vec![ns_seen(Netns::Default, vec![lo()])]);
    d.settle();
    t["host_if_name"] = json!("vpp1");
    d.put(&iface_key("t"), t);
    d.settle();
    observe(&mut d, vec![ns_seen(Netns::Default, vec![lo(), tap()])]);
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::MoveLink { new_name, .. }] if new_name == "vpp1"),
        "{ops:?}; {:?}",
        d.state(&iface_key("t"))
    );
}

/// Found by the simulation (seed 24): a kernel before 6.2 renames only links that are down, and
/// a TAP's move within its namespace is a rename. Once refused (EBUSY), the TAP is taken down
/// first, as for renames.
#[test]
fn a_move_within_the_namespace_refused_while_up_takes_the_tap_down_first() {
    let mut d = renamed_at_home(true);
    let c = d.pending();
    assert!(
        matches!(c.as_slice(), [c] if matches!(c.op, Op::MoveLink { .. })),
        "{c:?}"
    );
    d.fail(&c[0], 16);
    d.advance(60_000);
    let ops = d.settle();
    assert!(
        matches!(ops.first(), Some(Op::SetLink { name, change, .. }) if name == "tap0" && change.up == Some(false)),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::MoveLink { new_name, .. } if new_name == "vpp1")),
        "{ops:?}"
    );
}

/// Found by the simulation (seed 12): an item under a pid that lives in a named namespace has
/// its TAP moved there; the look at that namespace (by its name) must let the item take it.
#[test]
fn a_tap_item_under_a_pid_living_in_a_named_namespace_takes_its_tap_there() {
    let same = NamespaceIdentity { dev: 4, ino: 77 };
    let mut d = Harness::new();
    let mut t = tap_item();
    t["namespace"] = json!({"type": "PID", "reference": "602"});
    d.event(Event::NamespaceIdentified {
        ns: red(),
        identity: same,
    });
    d.event(Event::NamespaceAvailable {
        ns: Netns::Pid(602),
    });
    d.event(Event::NamespaceIdentified {
        ns: Netns::Pid(602),
        identity: same,
    });
    d.put(&iface_key("t"), t);
    d.settle();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", false, 1500, &[])],
        )],
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::MoveLink { to, .. }] if *to == red()),
        "{ops:?}"
    );
    observe(
        &mut d,
        vec![ns_seen(
            red(),
            vec![lo(), host_link("vpp1", false, 1500, &[])],
        )],
    );
    let ops = d.settle();
    assert!(
        ops.iter().any(
            |op| matches!(op, Op::AddAddress { ns, link, .. } if *ns == red() && link == "vpp1")
        ),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("t"))));
}

/// Found by the simulation (seed 170): the item went while its TAP was on its way to the
/// item's namespace. No look there finds the TAP for anyone, so it goes straight back home.
#[test]
fn a_tap_fetched_for_an_item_that_went_meanwhile_goes_straight_back() {
    let mut d = waiting_for_tap();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", false, 1500, &[])],
        )],
    );
    let c = d.pending();
    assert!(
        matches!(c.as_slice(), [c] if matches!(c.op, Op::MoveLink { .. })),
        "{c:?}"
    );
    d.delete(&iface_key("t"));
    d.ok(&c[0]);
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::MoveLink {
            ns: red(),
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }]
    );
    assert!(d.core.status(&iface_key("t").parse().unwrap()).is_none());
}

/// Found by the campaign (seed 1176): the same within the default namespace. The move back
/// read as another fetch for no one, and the TAP went back and forth forever.
#[test]
fn a_tap_renamed_for_an_item_that_went_meanwhile_is_renamed_back_once() {
    let mut d = renamed_at_home(false);
    let c = d.pending();
    assert!(
        matches!(c.as_slice(), [c] if matches!(c.op, Op::MoveLink { .. })),
        "{c:?}"
    );
    d.delete(&iface_key("t"));
    d.ok(&c[0]);
    let back = d.pending();
    assert!(
        matches!(back.as_slice(), [b] if b.op == Op::MoveLink {
            ns: Netns::Default,
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }),
        "{back:?}"
    );
    d.ok(&back[0]);
    assert_eq!(d.settle(), vec![], "home: nothing more to do");
    assert!(d.core.status(&iface_key("t").parse().unwrap()).is_none());
}

/// A TAP fetched into `red` (the move's result in), not looked at there yet.
fn landed_unseen() -> Harness {
    let mut d = waiting_for_tap();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", false, 1500, &[])],
        )],
    );
    let c = d.pending();
    assert!(
        matches!(c.as_slice(), [c] if matches!(c.op, Op::MoveLink { .. })),
        "{c:?}"
    );
    d.ok(&c[0]);
    assert_eq!(d.settle(), vec![], "nothing is changed on it before a look");
    d
}

/// Found by the campaign (seed 137): an item deleted after its TAP landed and before a look
/// there believed nothing of it, and left VPP's TAP in its namespace under the item's name.
#[test]
fn a_tap_whose_item_goes_before_it_is_seen_in_place_goes_back_home() {
    let mut d = landed_unseen();
    d.delete(&iface_key("t"));
    assert_eq!(
        d.settle(),
        vec![Op::MoveLink {
            ns: red(),
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }]
    );
    assert!(d.core.status(&iface_key("t").parse().unwrap()).is_none());
}

/// The same with the item put back home under the TAP's own name: given back first, then
/// borrowed where it is.
#[test]
fn a_tap_wanted_home_before_it_is_seen_in_place_is_given_back_then_borrowed_there() {
    let mut d = landed_unseen();
    d.put(
        &iface_key("t"),
        json!({"name": "t", "type": "TAP_TO_VPP", "host_if_name": "tap0", "enabled": true,
               "tap": {"vpp_tap_if_name": "tap0"}}),
    );
    let back = d.pending();
    assert!(
        matches!(back.as_slice(), [b] if b.op == Op::MoveLink {
            ns: red(),
            name: "vpp1".into(),
            to: Netns::Default,
            new_name: "tap0".into()
        }),
        "{back:?}"
    );
    d.ok(&back[0]);
    d.settle();
    observe(
        &mut d,
        vec![ns_seen(
            Netns::Default,
            vec![lo(), host_link("tap0", false, 1500, &[])],
        )],
    );
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::SetLink { ns, name, change }
            if *ns == Netns::Default && name == "tap0" && change.up == Some(true))),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("t"))));
}

/// What the first look in place finds on a TAP that landed was there before the agent: kept
/// when the item lets it go.
#[test]
fn addresses_on_a_landed_tap_at_its_first_look_are_kept() {
    let mut d = landed_unseen();
    observe(
        &mut d,
        vec![ns_seen(
            red(),
            vec![lo(), host_link("vpp1", false, 1500, &["10.9.0.1/24"])],
        )],
    );
    d.settle();
    assert!(is_applied(&d.state(&iface_key("t"))));
    d.delete(&iface_key("t"));
    let ops = d.settle();
    assert!(
        !ops.iter().any(
            |op| matches!(op, Op::DelAddress { addr, .. } if addr.to_string() == "10.9.0.1/24")
        ),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(
            |op| matches!(op, Op::DelAddress { addr, .. } if addr.to_string() == "10.5.0.1/24")
        ),
        "the agent's own address goes: {ops:?}"
    );
}
