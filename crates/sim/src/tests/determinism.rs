//! The dump is canonical and the kernel deterministic.

use super::*;

#[test]
fn the_dump_is_canonical_whatever_the_order_of_operations() {
    let build = |order: &[&str]| {
        let mut k = kernel();
        let a = ns("a");
        dummy(&mut k, &a, "d0");
        up(&mut k, &a, "d0");
        for addr in order {
            add_addr(&mut k, &a, "d0", addr);
        }
        for n in ["10.3.0.0/24", "10.2.0.0/24"] {
            add_route(&mut k, &a, route("d0", n, None));
        }
        k.dump()
    };
    assert_eq!(
        build(&["10.1.0.1/24", "fd00::1/64", "10.2.0.1/24"]),
        build(&["fd00::1/64", "10.2.0.1/24", "10.1.0.1/24"])
    );
}

#[test]
fn the_same_operations_give_the_same_kernel() {
    let run = || {
        let mut k = SimKernel::default();
        let ms = k.start_microservice("ms").expect("start");
        veth(&mut k, &Netns::Default, "h0", &ms.netns(), "eth0");
        up(&mut k, &Netns::Default, "h0");
        up(&mut k, &ms.netns(), "eth0");
        add_addr(&mut k, &ms.netns(), "eth0", "10.1.0.2/24");
        add_route(
            &mut k,
            &ms.netns(),
            route("eth0", "0.0.0.0/0", Some("10.1.0.1")),
        );
        let snap = k.observe(&k.namespaces()).expect("observe");
        (k.dump(), snap, k.counters())
    };
    assert_eq!(run(), run());
}
