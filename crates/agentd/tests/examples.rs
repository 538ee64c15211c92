//! Every file in `examples/` loads through nsagentctl's reader, which reads each item with the
//! core's one intake path (`Item::decode_unkeyed`): the vpp-agent-style files (enum numbers,
//! camelCase, zero values, the v1 namespace union) as well as the plain ones.

use std::path::Path;

use nsagent_agentd::read_items;
use nsagent_core::{Builtin, Chain, ChecksumOffload, InterfaceType, Item, NamespaceRef};

#[test]
fn every_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 13, "{files:?}");
    let mut all = Vec::new();
    for file in &files {
        let items = read_items(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!items.is_empty(), "{} holds no item", file.display());
        for item in &items {
            // What the agent stores reads back as the same item.
            let key = item.key().to_string();
            assert_eq!(Item::decode(&key, &item.to_json()).as_ref(), Ok(item));
        }
        all.extend(items);
    }
    let ns = |name: &str| {
        all.iter()
            .find_map(|i| match i {
                Item::Interface(i) if i.name == name => Some(i.namespace.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no interface {name}"))
    };
    assert_eq!(ns("gen-veth2"), NamespaceRef::Named("nsa-demo-2".into()));
    assert_eq!(ns("robot-veth2"), NamespaceRef::Microservice("ms1".into()));
    assert_eq!(ns("union-veth1"), NamespaceRef::Named("nsa-demo-1".into()));
    assert_eq!(ns("union-veth2"), NamespaceRef::Microservice("ms1".into()));
    assert_eq!(ns("union-lo"), NamespaceRef::Named("nsa-demo-1".into()));
    // Every interface type nsagent supports has an example.
    for kind in [
        InterfaceType::Veth,
        InterfaceType::Loopback,
        InterfaceType::Existing,
        InterfaceType::Dummy,
        InterfaceType::TapToVpp,
        InterfaceType::Vrf,
        InterfaceType::Bridge,
        InterfaceType::Tap,
        InterfaceType::Macvlan,
        InterfaceType::Vxlan,
    ] {
        assert!(
            all.iter()
                .any(|i| matches!(i, Item::Interface(i) if i.kind == kind)),
            "no example of {kind:?}"
        );
    }
    assert!(
        all.iter().any(|i| matches!(i, Item::Arp(_))),
        "no ARP example"
    );
    assert!(
        all.iter()
            .any(|i| matches!(i, Item::Fdb(f) if f.interface == "vx-demo-b")),
        "no FDB example"
    );
    let rules = all
        .iter()
        .filter(|i| matches!(i, Item::PolicyRule(r) if r.namespace == NamespaceRef::Named("nsa-demo-1".into())))
        .count();
    assert_eq!(rules, 3, "the policy rule examples");
    assert!(
        all.iter()
            .any(|i| matches!(i, Item::Route(r) if r.next_hops.len() == 2)),
        "no multipath route example"
    );
    let routes = all.iter().filter(|i| matches!(i, Item::Route(_))).count();
    assert!(routes >= 3, "{routes} routes");
    let chain = all
        .iter()
        .find_map(|i| match i {
            Item::RuleChain(c) if c.name == "demo-no-ping" => Some(c),
            _ => None,
        })
        .expect("the rule chain example");
    let iface = |name: &str| {
        all.iter()
            .find_map(|i| match i {
                Item::Interface(i) if i.name == name => Some(i.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no interface {name}"))
    };
    assert_eq!(iface("vpp-tap1").vpp_tap.as_deref(), Some("tap-vpp1"));
    assert_eq!(iface("vrf-blue").vrf_table, Some(100));
    assert_eq!(iface("br-port1").bridge_master.as_deref(), Some("br-demo"));
    assert_eq!(iface("tap-demo").tap.and_then(|t| t.owner), Some(1000));
    assert_eq!(iface("mv-demo2").macvlan_parent(), Some("mv-parent"));
    assert_eq!(iface("vx-demo-a").parent(), Some("vx-underlay-a"));
    assert_eq!(iface("vx-demo-b").vxlan.map(|v| v.tunnel.vni), Some(100));
    assert_eq!(
        iface("br-demo").bridge.map(|b| b.ageing_time_seconds),
        Some(60)
    );
    assert_eq!(iface("blue-veth1").vrf_master.as_deref(), Some("vrf-blue"));
    assert_eq!(
        iface("off-veth1").checksum_offload,
        ChecksumOffload {
            rx: Some(false),
            tx: Some(false)
        }
    );
    assert!(iface("dhcp-veth1").link_only);
    assert_eq!(chain.chain, Chain::Builtin(Builtin::Input));
    assert_eq!(chain.rules, ["-i demo-veth2 -p icmp -j DROP"]);
}
