//! Link-local IPv6 addresses: when the kernel adds them, and turning them off.

use super::*;

#[test]
fn a_veth_gets_its_link_local_address_only_when_both_ends_are_up() {
    let mut k = kernel();
    let (a, b) = (ns("a"), ns("b"));
    let mac0 = mac("12:6d:e3:19:0f:60");
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: LinkSpec {
                mac: Some(mac0),
                ..managed("v0")
            },
            kind: NewLink::Veth {
                peer_ns: b.clone(),
                peer: managed("p0"),
            },
        },
    );
    up(&mut k, &a, "v0");
    assert!(
        link(&k, &a, "v0").kernel_addresses.is_empty(),
        "no carrier while the peer is down"
    );
    up(&mut k, &b, "p0");
    assert_eq!(
        link(&k, &a, "v0").kernel_addresses,
        vec![net("fe80::106d:e3ff:fe19:f60/64")]
    );
    assert_eq!(link(&k, &b, "p0").kernel_addresses.len(), 1);
}

#[test]
fn a_dummy_gets_its_link_local_address_when_up() {
    let mut k = kernel();
    let a = ns("a");
    ok(
        &mut k,
        Op::CreateLink {
            ns: a.clone(),
            link: LinkSpec {
                mac: Some(mac("02:00:00:00:00:bb")),
                up: true,
                ..managed("d0")
            },
            kind: NewLink::Dummy,
        },
    );
    assert_eq!(
        link(&k, &a, "d0").kernel_addresses,
        vec![net("fe80::ff:fe00:bb/64")]
    );
}

#[test]
fn link_local_addresses_can_be_switched_off() {
    let mut k = SimKernel::new(SimConfig {
        ipv6_link_local: false,
        ..SimConfig::default()
    });
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    ok(
        &mut k,
        Op::CreateLink {
            ns: ns("a"),
            link: LinkSpec {
                up: true,
                ..managed("d0")
            },
            kind: NewLink::Dummy,
        },
    );
    assert!(link(&k, &ns("a"), "d0").kernel_addresses.is_empty());
}
