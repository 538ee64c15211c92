//! `apply_batch`: many namespaces, many requests in flight, results in command order.

mod common;

use common::*;
use nsagent_core::errno;
use nsagent_core::{ErrorKind, LinkChange, LinkSpec, NewLink, Op};
use nsagent_netlink::NetlinkBackend;

#[test]
fn a_batch_over_many_namespaces_reports_each_result_in_order() {
    let spaces: Vec<TestNs> = (0..6).map(|_| TestNs::unmade()).collect();
    let hub = TestNs::new();
    let mut b = NetlinkBackend::new().with_parallelism(3);
    let created = batch(
        &mut b,
        spaces
            .iter()
            .map(|s| Op::CreateNamespace {
                name: s.name.clone(),
            })
            .collect(),
    );
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let mut ops = Vec::new();
    for (i, s) in spaces.iter().enumerate() {
        ops.push(Op::CreateLink {
            ns: s.netns(),
            link: LinkSpec {
                alias: Some(format!("nsagent:e{i}")),
                up: true,
                ..spec(&format!("e{i}"))
            },
            kind: NewLink::Veth {
                peer_ns: hub.netns(),
                peer: LinkSpec {
                    up: true,
                    ..spec(&format!("h{i}"))
                },
            },
        });
    }
    // Failures mixed in: a link that is not there, a namespace that is not there.
    ops.push(Op::DeleteLink {
        ns: hub.netns(),
        name: "absent".into(),
    });
    let missing = TestNs::unmade();
    ops.push(Op::DeleteLink {
        ns: missing.netns(),
        name: "x".into(),
    });
    let results = batch(&mut b, ops);
    for r in &results[..6] {
        r.as_ref().expect("veth");
    }
    assert_eq!(results[6].as_ref().unwrap_err().errno, Some(errno::ENODEV));
    assert_eq!(
        results[7].as_ref().unwrap_err().kind,
        ErrorKind::NamespaceGone
    );
    for (i, s) in spaces.iter().enumerate() {
        let l = s.link(&format!("e{i}")).expect("end");
        assert_eq!(l["ifalias"], format!("nsagent:e{i}"));
        let h = hub.link(&format!("h{i}")).expect("peer in the hub");
        assert!(h["flags"].as_array().unwrap().contains(&"UP".into()));
    }

    let addrs = batch(
        &mut b,
        spaces
            .iter()
            .enumerate()
            .map(|(i, s)| Op::AddAddress {
                ns: s.netns(),
                link: format!("e{i}"),
                addr: format!("10.5.{i}.1/24").parse().unwrap(),
            })
            .collect(),
    );
    assert!(addrs.iter().all(|r| r.is_ok()), "{addrs:?}");
    assert_eq!(spaces[3].addresses("e3"), vec!["10.5.3.1/24".to_string()]);
}

#[test]
fn more_requests_than_one_window_in_one_namespace() {
    let a = TestNs::new();
    let mut b = NetlinkBackend::new();
    apply(&mut b, veth(&a, "w0", &a, "w1")).unwrap();
    apply(
        &mut b,
        Op::SetLink {
            ns: a.netns(),
            name: "w0".into(),
            change: LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        },
    )
    .unwrap();
    let mut ops: Vec<Op> = (0..300u32)
        .map(|i| Op::AddAddress {
            ns: a.netns(),
            link: "w0".into(),
            addr: format!("10.{}.{}.1/32", 100 + i / 250, i % 250)
                .parse()
                .unwrap(),
        })
        .collect();
    ops.insert(
        150,
        Op::AddAddress {
            ns: a.netns(),
            link: "w0".into(),
            addr: "10.100.0.1/32".parse().unwrap(),
        },
    );
    let results = batch(&mut b, ops);
    assert_eq!(results.len(), 301);
    assert_eq!(
        results[150].as_ref().unwrap_err().errno,
        Some(errno::EEXIST),
        "the duplicate, and only it, fails"
    );
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(a.addresses("w0").len(), 300);
}
