//! Unit tests of the stale objects' bookkeeping (`machine/stale.rs`).

use super::*;
use crate::command::RouteSpec;
use crate::model::RouteScope;
use crate::observed::LinkKind;

fn ns() -> Netns {
    Netns::Named("a".into())
}

fn del_route(dev: &str) -> Op {
    Op::DelRoute {
        ns: ns(),
        route: RouteSpec {
            dev: dev.into(),
            dst: "10.1.0.0/16".parse().unwrap(),
            gw: None,
            metric: 0,
            scope: RouteScope::Link,
            table: None,
            kind: Default::default(),
            src: None,
            mtu: None,
            hops: Vec::new(),
        },
    }
}

#[test]
fn a_removal_blocks_what_it_holds_until_it_is_removed() {
    let mut stale = StaleObjects::default();
    let peer = Some((Netns::Default, "v2".to_string()));
    stale.add(
        Op::DeleteLink {
            ns: ns(),
            name: "v1".into(),
        },
        peer,
        None,
    );
    assert!(stale.blocks(&Resource::LinkName(ns(), "v1".into())));
    assert!(stale.blocks(&Resource::LinkName(Netns::Default, "v2".into())));
    assert_eq!(stale.in_namespace(&Netns::Default).len(), 1);
    let due: Vec<u64> = stale.take_due().into();
    assert_eq!(due.len(), 1);
    stale.remove(due[0]);
    assert!(!stale.blocks(&Resource::LinkName(ns(), "v1".into())));
    assert!(stale.is_empty());
}

#[test]
fn a_removal_covered_by_a_queued_one_is_not_queued_twice() {
    let mut stale = StaleObjects::default();
    stale.add(del_route("v1"), None, None);
    stale.add(del_route("v1"), None, None);
    assert_eq!(stale.take_due().len(), 1);
}

#[test]
fn removals_through_a_renamed_link_follow_its_new_name_and_survive_a_rebuild() {
    let mut stale = StaleObjects::default();
    stale.add(del_route("v1"), None, None);
    stale.rename_link(&ns(), "v1", "v9");
    assert!(stale.on_link(&ns(), "v1").is_empty());
    let o = stale.on_link(&ns(), "v9");
    assert_eq!(o.len(), 1);
    assert!(
        matches!(&stale.get(o[0]).unwrap().op, Op::DelRoute { route, .. } if route.dev == "v9")
    );
    let mut restored: StaleObjects =
        serde_json::from_str(&serde_json::to_string(&stale).unwrap()).unwrap();
    restored.rebuild();
    assert_eq!(restored.on_link(&ns(), "v9"), o);
}

/// A veth end, up, as a resync sees it with `alias`.
fn veth_seen(name: &str, alias: &str) -> ObservedLink {
    ObservedLink {
        name: name.into(),
        kind: LinkKind::Veth,
        alias: Some(alias.into()),
        mtu: 1500,
        mac: None,
        up: true,
        addresses: vec![],
        peer: None,
        checksum_offload: Default::default(),
        master: None,
        vrf_table: None,
        bridge: None,
        tap: None,
        macvlan_mode: None,
        parent: None,
        vxlan: None,
        fdb: vec![],
    }
}

fn delete_link(ns: Netns, name: &str) -> Op {
    Op::DeleteLink {
        ns,
        name: name.into(),
    }
}

#[test]
fn a_removal_queued_again_remembers_the_link_as_the_latest_resync_saw_it() {
    let seen = |name: &str, up: bool| ObservedLink {
        up,
        ..veth_seen(name, &format!("nsagent:{name}"))
    };
    let mut stale = StaleObjects::default();
    let del = delete_link;
    let v2 = Some((Netns::Default, "v2".into()));
    let v1 = Some((ns(), "v1".into()));
    stale.add(del(ns(), "v1"), v2.clone(), Some((ns(), seen("v1", true))));
    stale.add(
        del(Netns::Default, "v2"),
        v1.clone(),
        Some((Netns::Default, seen("v2", true))),
    );
    // A later resync: both ends were taken down by hand since.
    stale.add(del(ns(), "v1"), v2, Some((ns(), seen("v1", false))));
    stale.add(
        del(Netns::Default, "v2"),
        v1,
        Some((Netns::Default, seen("v2", false))),
    );
    assert_eq!(stale.take_due().len(), 1, "still one removal");
    let id = AgentIdentity::default();
    let a = stale.waiting_link_of(&ns(), "v1", &id).expect("end v1");
    assert!(!a.link.up, "the end as last seen");
    assert!(!a.other_seen.expect("other end seen").1.up);
    let b = stale
        .waiting_link_of(&Netns::Default, "v2", &id)
        .expect("end v2");
    assert!(!b.link.up, "the other end as last seen");
}

#[test]
fn the_other_end_of_a_stale_pair_is_remembered_with_the_removal_that_takes_it() {
    let seen = veth_seen;
    let mut stale = StaleObjects::default();
    let del = delete_link;
    stale.add(
        del(ns(), "v1"),
        Some((Netns::Default, "v2".into())),
        Some((ns(), seen("v1", "nsagent:a"))),
    );
    stale.add(
        del(Netns::Default, "v2"),
        Some((ns(), "v1".into())),
        Some((Netns::Default, seen("v2", "nsagent:b"))),
    );
    assert_eq!(stale.take_due().len(), 1, "the second end is covered");
    let a = stale
        .waiting_link_of(&ns(), "a", &AgentIdentity::default())
        .expect("end a");
    assert_eq!(a.other, Some((Netns::Default, "v2".into())));
    assert_eq!(a.other_seen.map(|(_, l)| l.name), Some("v2".into()));
    let b = stale
        .waiting_link_of(&Netns::Default, "b", &AgentIdentity::default())
        .expect("end b");
    assert_eq!(b.removal, a.removal);
    assert_eq!(b.other, Some((ns(), "v1".into())));
    assert!(
        stale
            .waiting_link_of(&Netns::Default, "a", &AgentIdentity::default())
            .is_none(),
        "wrong namespace"
    );
    stale.get_mut(a.removal).unwrap().in_flight = Some(CommandId(1));
    assert!(
        stale
            .waiting_link_of(&ns(), "a", &AgentIdentity::default())
            .is_none(),
        "on its way"
    );
}
