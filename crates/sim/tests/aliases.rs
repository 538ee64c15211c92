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
fn a_named_namespace_whose_name_goes_lives_on_under_its_process() {
    let mut k = SimKernel::default();
    let t = Netns::Named("t".into());
    assert_eq!(k.alias_pid(&t), Err(SimError::NoSuchNamespace(t.clone())));
    k.appear(t.clone()).expect("appears");
    let before = k.identity(&t);
    let pid = k.alias_pid(&t).expect("t exists");
    let p = Netns::Pid(pid);
    assert_ne!(k.identity(&Netns::Default), before);
    assert_eq!(k.aliases(), vec![(p.clone(), t.clone())]);
    k.apply(&dummy(t.clone(), "d0")).expect("created");

    assert_eq!(k.vanish(&t), Ok(vec![]), "nothing is destroyed");
    assert!(k.aliases().is_empty());
    assert!(!k.contains_namespace(&t));
    assert_eq!(k.identity(&p), before, "the same namespace");
    assert!(k.link(&p, "d0").is_some(), "with what it held");

    k.appear(t.clone()).expect("a new one under the name");
    assert_ne!(k.identity(&t), before);
    assert_ne!(
        k.alias_pid(&t).expect("t exists"),
        pid,
        "pids are not reused at once"
    );
    k.vanish(&p).expect("its process exits");
    assert!(!k.contains_namespace(&p));
}
