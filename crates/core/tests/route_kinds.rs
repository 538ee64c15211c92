//! Routes beyond vpp-agent's model (nsagent's extension): a table of their own (named in the
//! key, so that one destination through one interface has a route per table), the dropping
//! types (blackhole, unreachable, prohibit: no device, the interface only says where), local
//! routes (to the local table, as `ip` puts them), a preferred source that must be one of the
//! interface's addresses (the route waits for it, and goes when it goes), and a path MTU.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

fn dummy(addrs: &[&str]) -> serde_json::Value {
    json!({"name": "d1", "type": "DUMMY", "enabled": true, "ip_addresses": addrs})
}

fn routes_added(ops: &[Op]) -> Vec<RouteSpec> {
    ops.iter()
        .filter_map(|op| match op {
            Op::AddRoute { route, .. } | Op::ReplaceRoute { route, .. } => Some(route.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_route_in_a_table_of_its_own_has_a_key_of_its_own_beside_mains() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let main = "config/linux/l3/v2/route/0.0.0.0/0/d1";
    let t100 = "config/linux/l3/v2/route/0.0.0.0/0/d1/table/100";
    d.put(
        main,
        json!({"outgoing_interface": "d1", "dst_network": "0.0.0.0/0", "gw_addr": "10.0.0.254"}),
    );
    d.put(
        t100,
        json!({"outgoing_interface": "d1", "dst_network": "0.0.0.0/0", "gw_addr": "10.0.0.253", "table": 100}),
    );
    let added = routes_added(&d.settle());
    let tables: Vec<Option<u32>> = added.iter().map(|r| r.table).collect();
    assert_eq!(tables, vec![None, Some(100)], "{added:?}");
    assert!(is_applied(&d.state(main)) && is_applied(&d.state(t100)));
    // Deleting one leaves the other.
    d.delete(t100);
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::DelRoute { route, .. }] if route.table == Some(100)),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(main)));
}

#[test]
fn the_key_must_name_the_table_the_value_asks_for() {
    let v = json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "table": 100});
    let err = Item::decode("config/linux/l3/v2/route/10.9.0.0/24/d1", &v).unwrap_err();
    assert_eq!(err.field, "key");
    assert!(err.reason.contains("/table/100"), "{err}");
    let err = Item::decode(
        "config/linux/l3/v2/route/10.9.0.0/24/d1/table/7",
        &json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24"}),
    )
    .unwrap_err();
    assert_eq!(err.field, "key");
    let err = Item::decode("config/linux/l3/v2/route/10.9.0.0/24/d1/table/x", &v).unwrap_err();
    assert!(err.reason.contains("routing table number"), "{err}");
    let err = Item::decode("config/linux/l3/v2/route/10.9.0.0/24/d1/tables/100", &v).unwrap_err();
    assert!(err.reason.contains("[/table/<table>]"), "{err}");
}

#[test]
fn table_254_is_main_even_for_an_interface_in_a_vrf() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let key = "config/linux/l3/v2/route/10.9.0.0/24/d1/table/254";
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "table": 254}),
    );
    let added = routes_added(&d.settle());
    assert_eq!(added.len(), 1);
    assert_eq!(
        added[0].table, None,
        "main is the kernel's 254, said as None"
    );
    assert!(is_applied(&d.state(key)));
}

#[test]
fn a_dropping_route_has_no_device_and_follows_its_interface() {
    let mut d = Harness::new();
    let key = "config/linux/l3/v2/route/10.66.0.0/16/d1";
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.66.0.0/16", "type": "BLACKHOLE"}),
    );
    d.settle();
    assert_eq!(
        reasons(&d.state(key)),
        vec!["interface 'd1' is not configured"]
    );
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let added = routes_added(&d.settle());
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].kind, RouteType::Blackhole);
    assert_eq!(added[0].dev, "");
    assert_eq!(added[0].scope, RouteScope::Global);
    assert!(is_applied(&d.state(key)));
    // Its interface disabled, it goes: it is of the interface as any route is.
    d.put(
        &iface_key("d1"),
        json!({"name": "d1", "type": "DUMMY", "enabled": false, "ip_addresses": ["10.0.0.1/24"]}),
    );
    let ops = d.settle();
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::DelRoute { route, .. } if route.kind == RouteType::Blackhole)),
        "{ops:?}"
    );
}

#[test]
fn the_type_is_changed_in_place_where_the_kernel_keeps_the_route_identity() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let key = "config/linux/l3/v2/route/10.66.0.0/16/d1";
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.66.0.0/16", "type": "UNREACHABLE"}),
    );
    d.settle();
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.66.0.0/16", "type": "PROHIBIT"}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { route, .. }] if route.kind == RouteType::Prohibit),
        "{ops:?}"
    );
    // To unicast it gains a device: removed and made again.
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.66.0.0/16"}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::DelRoute { .. }, Op::AddRoute { route, .. }] if route.dev == "d1"),
        "{ops:?}"
    );
}

#[test]
fn a_local_route_goes_to_the_local_table_unless_the_item_names_one() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    d.put(
        "config/linux/l3/v2/route/10.0.0.77/32/d1",
        json!({"outgoing_interface": "d1", "dst_network": "10.0.0.77/32", "type": "LOCAL"}),
    );
    d.put(
        "config/linux/l3/v2/route/10.0.0.78/32/d1/table/254",
        json!({"outgoing_interface": "d1", "dst_network": "10.0.0.78/32", "type": "LOCAL", "table": 254}),
    );
    let added = routes_added(&d.settle());
    let got: Vec<(Option<u32>, RouteScope)> = added.iter().map(|r| (r.table, r.scope)).collect();
    assert_eq!(
        got,
        vec![(Some(255), RouteScope::Host), (None, RouteScope::Host)]
    );
}

#[test]
fn a_preferred_source_waits_for_its_address_and_the_route_goes_with_it() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let key = "config/linux/l3/v2/route/10.9.0.0/24/d1";
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.254", "src_addr": "10.0.0.2", "mtu": 1400}),
    );
    let ops = d.settle();
    assert!(routes_added(&ops).is_empty(), "{ops:?}");
    assert_eq!(
        reasons(&d.state(key)),
        vec!["source address 10.0.0.2 is not an address of interface 'd1' yet"]
    );
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24", "10.0.0.2/24"]));
    let added = routes_added(&d.settle());
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].src, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(added[0].mtu, Some(1400));
    assert!(is_applied(&d.state(key)));
    // The address asked off: the kernel drops an IPv4 route whose source it was, so the
    // route waits again and asks nothing of the kernel.
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let ops = d.settle();
    assert!(
        ops.iter().any(|o| matches!(o, Op::DelAddress { .. })),
        "{ops:?}"
    );
    assert!(
        !ops.iter().any(|o| matches!(o, Op::DelRoute { .. })),
        "the kernel took it with the address: {ops:?}"
    );
    assert_eq!(
        reasons(&d.state(key)),
        vec!["source address 10.0.0.2 is not an address of interface 'd1' yet"]
    );
}

#[test]
fn an_mtu_change_is_made_in_place() {
    let mut d = Harness::new();
    d.put(&iface_key("d1"), dummy(&["10.0.0.1/24"]));
    let key = "config/linux/l3/v2/route/10.9.0.0/24/d1";
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "mtu": 1400}),
    );
    d.settle();
    d.put(
        key,
        json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "mtu": 1300}),
    );
    let ops = d.settle();
    assert!(
        matches!(ops.as_slice(), [Op::ReplaceRoute { route, .. }] if route.mtu == Some(1300)),
        "{ops:?}"
    );
}

#[test]
fn bad_route_fields_are_named_as_written() {
    let key = "config/linux/l3/v2/route/10.9.0.0/24/d1";
    let cases = [
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "type": "BLACKHOLE", "gw_addr": "10.0.0.1"}),
            "gw_addr",
            "no gateway",
        ),
        (
            json!({"outgoingInterface": "d1", "dstNetwork": "10.9.0.0/24", "type": "BLACKHOLE", "srcAddr": "10.0.0.1"}),
            "srcAddr",
            "no source address",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "src_addr": "fd00::1"}),
            "src_addr",
            "different address families",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "src_addr": "nope"}),
            "src_addr",
            "not an IP address",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "mtu": 67}),
            "mtu",
            "68 to 65520",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "type": "PROHIBIT", "mtu": 1400}),
            "mtu",
            "no path MTU",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "type": "LOCAL", "scope": "LINK"}),
            "scope",
            "Host-scoped",
        ),
        (
            json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "type": "ANYCAST"}),
            "type",
            "ANYCAST",
        ),
    ];
    for (value, field, reason) in cases {
        let err = Item::decode(key, &value).unwrap_err();
        assert_eq!(err.field, field, "{value}: {err}");
        assert!(err.reason.contains(reason), "{value}: {err}");
    }
    let v6 = json!({"outgoing_interface": "d1", "dst_network": "fd00:9::/64", "mtu": 1279});
    let err = Item::decode("config/linux/l3/v2/route/fd00:9::/64/d1", &v6).unwrap_err();
    assert!(err.reason.contains("1280 to 65520"), "{err}");
}

#[test]
fn an_extended_route_reads_back_as_it_was_written() {
    let v = json!({"outgoing_interface": "d1", "dst_network": "10.9.0.0/24", "gw_addr": "10.0.0.254", "table": 100, "type": "UNICAST", "src_addr": "10.0.0.1", "mtu": 1400, "metric": 7});
    let item = Item::decode("config/linux/l3/v2/route/10.9.0.0/24/d1/table/100", &v).unwrap();
    let back = item.to_json();
    let again = Item::decode("config/linux/l3/v2/route/10.9.0.0/24/d1/table/100", &back).unwrap();
    assert_eq!(item, again);
    assert_eq!(back["table"], 100);
    assert_eq!(back["src_addr"], "10.0.0.1");
    assert_eq!(
        item.key().to_string(),
        "config/linux/l3/v2/route/10.9.0.0/24/d1/table/100"
    );
}
