mod common;

use common::*;
use nsagent_netlink::NetlinkBackend;

#[test]
fn veth_peer_is_created_in_its_namespace() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut backend = NetlinkBackend::new();
    apply(&mut backend, veth(&a, "va", &b, "vb")).expect("create veth");
    let la = a.link("va").expect("va in a");
    let lb = b.link("vb").expect("vb in b");
    assert_eq!(la["linkinfo"]["info_kind"], "veth");
    assert_eq!(lb["linkinfo"]["info_kind"], "veth");
}
