//! Injected faults, counters and batches.

use super::*;

#[test]
fn injected_faults_fail_the_next_n_operations_without_effect() {
    let mut k = kernel();
    let a = ns("a");
    k.fail_next(2, Fault::Errno(ENOBUFS));
    let before = k.dump();
    for name in ["d0", "d1"] {
        let e = err(
            &mut k,
            Op::CreateLink {
                ns: a.clone(),
                link: spec(name),
                kind: NewLink::Dummy,
            },
        );
        assert_eq!((e.errno, e.kind), (Some(ENOBUFS), ErrorKind::Busy));
    }
    assert_eq!(k.dump(), before);
    assert_eq!(k.pending_faults(), 0);
    dummy(&mut k, &a, "d0");
}

#[test]
fn injected_namespace_gone_reports_namespace_gone() {
    let mut k = kernel();
    k.fail_next(1, Fault::NamespaceGone);
    let e = err(
        &mut k,
        Op::CreateLink {
            ns: ns("a"),
            link: spec("d0"),
            kind: NewLink::Dummy,
        },
    );
    assert_eq!((e.kind, e.errno), (ErrorKind::NamespaceGone, None));
    assert!(
        k.contains_namespace(&ns("a")),
        "an injected failure does not remove the namespace"
    );
}

#[test]
fn injected_faults_queue_in_order_and_can_be_cleared() {
    let mut k = kernel();
    k.fail_next(1, Fault::Errno(EBUSY));
    k.fail_next(1, Fault::Errno(ENOBUFS));
    let op = Op::CreateLink {
        ns: ns("a"),
        link: spec("d0"),
        kind: NewLink::Dummy,
    };
    assert_eq!(errno(&mut k, op.clone()), EBUSY);
    assert_eq!(errno(&mut k, op.clone()), ENOBUFS);
    k.fail_next(5, Fault::Errno(EBUSY));
    assert_eq!(k.pending_faults(), 5);
    k.clear_faults();
    ok(&mut k, op);
}

#[test]
fn counters_count_applied_refused_and_injected_operations() {
    let mut k = SimKernel::default();
    ok(&mut k, Op::CreateNamespace { name: "a".into() });
    let _ = k.apply(&Op::DeleteLink {
        ns: ns("a"),
        name: "nope".into(),
    });
    let _ = k.apply(&Op::DeleteLink {
        ns: ns("gone"),
        name: "nope".into(),
    });
    k.fail_next(1, Fault::Errno(EBUSY));
    let _ = k.apply(&Op::CreateNamespace { name: "b".into() });
    let c = k.counters();
    assert_eq!((c.ops_applied, c.ops_refused, c.ops_injected), (1, 2, 1));
}

#[test]
fn apply_batch_applies_each_command_in_order() {
    let mut k = kernel();
    let cmds = vec![
        nsagent_core::Command {
            id: nsagent_core::CommandId(1),
            op: Op::CreateLink {
                ns: ns("a"),
                link: spec("d0"),
                kind: NewLink::Dummy,
            },
        },
        nsagent_core::Command {
            id: nsagent_core::CommandId(2),
            op: Op::DeleteLink {
                ns: ns("a"),
                name: "nope".into(),
            },
        },
    ];
    let results = k.apply_batch(&cmds);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().map_err(|e| e.errno), Err(Some(ENODEV)));
}
