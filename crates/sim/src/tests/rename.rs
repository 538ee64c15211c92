//! Renaming links in place, and kernels before 6.2 that rename only links that are down.

use super::*;

fn rename(k: &mut SimKernel, here: &Netns, name: &str, new_name: &str) -> Result<(), BackendError> {
    k.apply(&Op::RenameLink {
        ns: here.clone(),
        name: name.to_string(),
        new_name: new_name.to_string(),
    })
}

#[test]
fn rename_keeps_the_link_and_everything_on_it_and_its_peer_follows() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    veth(&mut k, &a, "ra", &b, "rb");
    up(&mut k, &a, "ra");
    up(&mut k, &b, "rb");
    add_addr(&mut k, &a, "ra", "10.7.0.1/24");
    add_route(&mut k, &a, route("ra", "10.8.0.0/24", Some("10.7.0.2")));
    ok(
        &mut k,
        Op::SetNeighbour {
            ns: a.clone(),
            link: "ra".into(),
            ip: ip("10.7.0.9"),
            mac: mac("02:00:00:00:00:09"),
        },
    );
    let before = link(&k, &a, "ra");

    rename(&mut k, &a, "ra", "ra-new").expect("an up link is renamed live");
    assert!(!has_link(&k, &a, "ra"));
    let after = link(&k, &a, "ra-new");
    assert_eq!(after.ifindex, before.ifindex);
    assert!(after.up);
    assert_eq!(after.addresses, before.addresses);
    assert_eq!(after.kernel_addresses, before.kernel_addresses);
    assert_eq!(after.neighbours, before.neighbours);
    assert!(
        !after.routes.is_empty() && after.routes.iter().all(|r| r.route.dev == "ra-new"),
        "{:?}",
        after.routes
    );
    assert_eq!(after.routes.len(), before.routes.len());
    assert_eq!(link(&k, &b, "rb").peer, Some((a.clone(), "ra-new".into())));

    // The pair is still one: deleting the far end takes the renamed end with it.
    ok(
        &mut k,
        Op::DeleteLink {
            ns: b.clone(),
            name: "rb".into(),
        },
    );
    assert!(!has_link(&k, &a, "ra-new"));
}

#[test]
fn rename_errors_are_the_kernels() {
    let mut k = kernel();
    let a = ns("a");
    veth(&mut k, &a, "x1", &a, "x2");
    let code = |r: Result<(), BackendError>| r.err().and_then(|e| e.errno);
    assert_eq!(code(rename(&mut k, &a, "x1", "x2")), Some(EEXIST));
    assert_eq!(code(rename(&mut k, &a, "x1", "lo")), Some(EEXIST));
    assert_eq!(code(rename(&mut k, &a, "nope", "x3")), Some(ENODEV));
    assert_eq!(
        code(rename(&mut k, &a, "x1", "a-name-too-long-x")),
        Some(ERANGE)
    );
    let gone = rename(&mut k, &ns("gone"), "x1", "x3").expect_err("no such namespace");
    assert_eq!(gone.kind, ErrorKind::NamespaceGone, "{gone}");
    rename(&mut k, &a, "x1", "x1").expect("its own name changes nothing");
    assert!(has_link(&k, &a, "x1") && has_link(&k, &a, "x2"));
}

#[test]
fn a_kernel_before_6_2_renames_only_links_that_are_down() {
    let mut k = SimKernel::new(SimConfig {
        live_rename: false,
        ..SimConfig::default()
    });
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    let a = ns("a");
    veth(&mut k, &a, "x1", &a, "x2");
    up(&mut k, &a, "x1");
    let busy = rename(&mut k, &a, "x1", "x3").expect_err("up");
    assert_eq!(busy.errno, Some(EBUSY), "{busy}");
    down(&mut k, &a, "x1");
    rename(&mut k, &a, "x1", "x3").expect("down");
    assert!(has_link(&k, &a, "x3"));
}
