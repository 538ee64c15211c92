//! Pids that live in another namespace: one namespace under two references.

use nsagent_core::{Backend, LinkSpec, Netns, NewLink, Op};
use nsagent_sim::{SimError, SimKernel};

fn dummy(ns: Netns, name: &str) -> Op {
    Op::CreateLink {
        ns,
        link: LinkSpec {
            name: name.into(),
            mtu: None,
            mac: None,
            alias: None,
            up: true,
        },
        kind: NewLink::Dummy,
    }
}

#[test]
fn an_alias_is_the_same_namespace_with_the_same_identity() {
    let mut k = SimKernel::default();
    let own = k.alias_pid(&Netns::Default).expect("default exists");
    let alias = Netns::Pid(own);
    assert_eq!(k.identity(&alias), k.identity(&Netns::Default));
    assert_eq!(
        k.alias(alias.clone(), &Netns::Default),
        Err(SimError::NamespaceExists(alias.clone())),
        "a pid that is taken"
    );
    let named = Netns::Named("x".into());
    assert_eq!(
        k.alias(named.clone(), &Netns::Default),
        Err(SimError::NamespaceExists(named)),
        "only a process can live in another namespace"
    );
    k.apply(&dummy(alias.clone(), "d0"))
        .expect("created through the alias");
    assert!(k.link(&Netns::Default, "d0").is_some());
    let seen = k.observe(std::slice::from_ref(&alias)).expect("observe");
    assert_eq!(seen.namespaces[0].ns, alias);
    assert!(seen.namespaces[0].links.iter().any(|l| l.name == "d0"));

    // Its process exits: the namespace stays.
    k.vanish(&alias).expect("the alias goes");
    assert!(!k.contains_namespace(&alias));
    assert!(k.link(&Netns::Default, "d0").is_some());
}

#[test]
fn a_vanished_namespace_takes_its_aliases_and_a_new_one_has_a_new_identity() {
    let mut k = SimKernel::default();
    let t = Netns::Named("t".into());
    assert_eq!(k.alias_pid(&t), Err(SimError::NoSuchNamespace(t.clone())));
    k.appear(t.clone()).expect("appears");
    let before = k.identity(&t);
    let pid = k.alias_pid(&t).expect("t exists");
    assert_ne!(k.identity(&Netns::Default), before);
    assert_eq!(k.aliases(), vec![(Netns::Pid(pid), t.clone())]);
    k.vanish(&t).expect("vanishes");
    assert!(k.aliases().is_empty());
    assert!(!k.contains_namespace(&Netns::Pid(pid)));
    k.appear(t.clone()).expect("again");
    assert_ne!(k.identity(&t), before);
    assert_ne!(
        k.alias_pid(&t).expect("t exists"),
        pid,
        "pids are not reused at once"
    );
}
