//! vpp-agent's JSON in every spelling the protobuf-JSON mapping allows, built from the proto
//! definitions of each model (`ligato.linux.interfaces.Interface`, `ligato.linux.l3.Route`,
//! `ligato.linux.l3.ARPEntry`, `ligato.linux.namespace.NetNamespace`, and v1's
//! `LinuxInterfaces.Interface` with its namespace union): vpp-agent's own test resources, and
//! documents written the way `agentctl generate` writes them, every field present.

use nsagent_core::*;
use serde_json::{json, Value};

const IF: &str = "config/linux/interfaces/v2/interface/";
const IF_V1: &str = "linux/config/v1/interface/";

fn accept(key: &str, value: Value) -> Item {
    Item::decode(key, &value).unwrap_or_else(|e| panic!("{key} = {value} refused: {e}"))
}

fn interface(key: &str, value: Value) -> Interface {
    match accept(key, value) {
        Item::Interface(i) => i,
        other => panic!("not an interface: {other:?}"),
    }
}

fn refuse(key: &str, value: Value, field: &str, reason_part: &str) {
    match Item::decode(key, &value) {
        Ok(item) => panic!("{value} accepted as {item:?}"),
        Err(e) => {
            assert_eq!(e.field, field, "{value}: {e}");
            assert!(
                e.reason.contains(reason_part),
                "{value}: '{e}' lacks '{reason_part}'"
            );
        }
    }
}

/// vpp-agent's `tests/robot/resources/linux_veth_interface.json`, its placeholders filled in:
/// the namespace's type is a number (1 = NSID).
#[test]
fn vpp_agent_robot_veth_resource_loads() {
    let i = interface(
        &format!("{IF}vethVPP1"),
        json!({
            "enabled": true, "mtu": 1500, "ip_addresses": ["10.10.1.1/24"],
            "namespace": {"reference": "ns1", "type": 1},
            "name": "vethVPP1", "host_if_name": "veth-vpp1", "phys_address": "12:11:11:11:11:11",
            "type": "VETH", "veth": {"peer_if_name": "vethNS1"}
        }),
    );
    assert_eq!(i.namespace, NamespaceRef::Named("ns1".into()));
    assert_eq!(i.kind, InterfaceType::Veth);
    let i = interface(
        &format!("{IF}m1"),
        json!({"name": "m1", "type": 1, "namespace": {"type": 4, "reference": "ms1"}, "veth": {"peer_if_name": "m2"}}),
    );
    assert_eq!(i.namespace, NamespaceRef::Microservice("ms1".into()));
}

/// Every field of `Interface` written, zeros included, in lowerCamelCase, as `agentctl
/// generate` writes it: the same item as the few fields that matter.
#[test]
fn a_generated_interface_with_every_field_is_its_short_form() {
    let full = json!({
        "name": "v1", "type": "VETH",
        "namespace": {"type": "NSID", "reference": "ns1"},
        "hostIfName": "", "enabled": true, "ipAddresses": ["10.0.0.1/24"], "physAddress": "",
        "mtu": 0, "linkOnly": false, "vrfMasterInterface": "",
        "veth": {"peerIfName": "v2", "rxChecksumOffloading": "CHKSM_OFFLOAD_DEFAULT", "txChecksumOffloading": 0}
    });
    let short = json!({"name": "v1", "type": "VETH", "namespace": {"type": "NSID", "reference": "ns1"},
        "enabled": true, "ip_addresses": ["10.0.0.1/24"], "veth": {"peer_if_name": "v2"}});
    assert_eq!(
        accept(&format!("{IF}v1"), full),
        accept(&format!("{IF}v1"), short.clone())
    );
    // Unset written as null, an empty list, an enum's zero by name, a message of zeros.
    let nulls = json!({
        "name": "v1", "type": "VETH", "namespace": {"type": "NSID", "reference": "ns1"},
        "host_if_name": null, "enabled": true, "ip_addresses": ["10.0.0.1/24"], "phys_address": null,
        "mtu": null, "link_only": null, "vrf_master_interface": null,
        "veth": {"peer_if_name": "v2", "rx_checksum_offloading": null}
    });
    assert_eq!(
        accept(&format!("{IF}v1"), nulls),
        accept(&format!("{IF}v1"), short)
    );
    let d = json!({"name": "d1", "type": 6, "namespace": {"type": "UNDEFINED", "reference": ""},
        "ipAddresses": [], "tap": {"vppTapIfName": ""}, "veth": null});
    let i = interface(&format!("{IF}d1"), d);
    assert_eq!(
        (i.kind, i.namespace),
        (InterfaceType::Dummy, NamespaceRef::Default)
    );
    let d = json!({"name": "d1", "type": "DUMMY", "vrfDev": {"routingTable": 0}, "veth": {"peerIfName": ""}});
    assert_eq!(interface(&format!("{IF}d1"), d).kind, InterfaceType::Dummy);
}

#[test]
fn numbers_may_be_quoted_or_written_with_a_zero_fraction() {
    let i = interface(
        &format!("{IF}d1"),
        json!({"name": "d1", "type": "DUMMY", "mtu": "1400"}),
    );
    assert_eq!(i.mtu, Some(1400));
    let i = interface(
        &format!("{IF}d1"),
        json!({"name": "d1", "type": "DUMMY", "mtu": 1400.0}),
    );
    assert_eq!(i.mtu, Some(1400));
    for bad in [
        json!(1400.5),
        json!("-1"),
        json!("1e3"),
        json!(4294967296u64),
        json!(true),
    ] {
        refuse(
            &format!("{IF}d1"),
            json!({"name": "d1", "type": "DUMMY", "mtu": bad}),
            "mtu",
            "expected a number",
        );
    }
}

#[test]
fn errors_name_the_field_as_written() {
    let k = format!("{IF}v1");
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "ipAddresses": ["10.0.0.1/24", "x"]}),
        "ipAddresses[1]",
        "not an address",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "ip_addresses": ["10.0.0.1/24", "x"]}),
        "ip_addresses[1]",
        "not an address",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "ipAddresses": ["10.0.0.1/24", 7]}),
        "ipAddresses[1]",
        "invalid type",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peerIfName": 2}}),
        "veth.peerIfName",
        "invalid type",
    );
    // A field the user did not write is named in the style they wrote the others in.
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "hostIfName": "x"}),
        "veth.peerIfName",
        "must name its peer",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "host_if_name": "x"}),
        "veth.peer_if_name",
        "must name its peer",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "hostIfName": "a:b"}),
        "hostIfName",
        "does not allow",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "namespace": {"type": 1, "reference": ["n"]}}),
        "namespace.reference",
        "invalid type",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "namespace": "ns1"}),
        "namespace",
        "expected an object",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "physAddress": "01:00:00:00:00:01"}),
        "physAddress",
        "multicast",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": 9}),
        "type",
        "is not one of",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "enabled": 1}),
        "enabled",
        "true or false",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "linkOnly": "yes"}),
        "linkOnly",
        "true or false",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "colourName": 1}),
        "colourName",
        "unknown field",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peerIfName": "v2", "peer": 1}}),
        "veth.peer",
        "unknown field",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "host_if_name": "a", "hostIfName": "a"}),
        "host_if_name",
        "given twice, also as 'hostIfName'",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peerIfName": "v2"}, "tap": {"vppTapIfName": "t"}}),
        "veth",
        "'tap' is already set",
    );
    refuse(&k, json!("v1"), "value", "JSON object");
}

/// Settings of models not supported yet: their zeros are unset, anything else is refused.
#[test]
fn settings_of_another_type_are_refused_on_their_field() {
    let k = format!("{IF}v1");
    let i = interface(
        &k,
        json!({"name": "v1", "type": "DUMMY", "vrfMasterInterface": "vrf1"}),
    );
    assert_eq!(
        i.vrf_master.as_deref(),
        Some("vrf1"),
        "any link may be a VRF's"
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "vrf_dev": {"routing_table": 5}}),
        "vrf_dev",
        "for type VRF_DEVICE only",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "DUMMY", "tap": {"vppTapIfName": "t"}}),
        "tap",
        "for type TAP_TO_VPP only",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": 2}),
        "tap.vpp_tap_if_name",
        "missing",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VRF_DEVICE"}),
        "vrf_dev.routing_table",
        "missing",
    );
    let v = interface(
        &k,
        json!({"name": "v1", "type": 5, "vrfDev": {"routingTable": "10"}}),
    );
    assert_eq!((v.kind, v.vrf_table), (InterfaceType::Vrf, Some(10)));
}

/// `veth.rx/tx_checksum_offloading`, vpp-agent's `ChecksumOffloading`: by number or name, in
/// either spelling; DEFAULT (0) leaves the kernel's setting.
#[test]
fn checksum_offloading_reads_in_every_spelling() {
    let k = format!("{IF}v1");
    let i = interface(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peerIfName": "v2", "rxChecksumOffloading": 2, "txChecksumOffloading": 0}}),
    );
    assert_eq!(
        i.checksum_offload,
        ChecksumOffload {
            rx: Some(false),
            tx: None
        }
    );
    let i = interface(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peer_if_name": "v2", "tx_checksum_offloading": "CHKSM_OFFLOAD_ENABLED", "rx_checksum_offloading": "CHKSM_OFFLOAD_DISABLED"}}),
    );
    assert_eq!(
        i.checksum_offload,
        ChecksumOffload {
            rx: Some(false),
            tx: Some(true)
        }
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peerIfName": "v2", "txChecksumOffloading": "OFF"}}),
        "veth.txChecksumOffloading",
        "OFF",
    );
    refuse(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peerIfName": "v2", "rxChecksumOffloading": 7}}),
        "veth.rxChecksumOffloading",
        "7",
    );
}

#[test]
fn routes_and_arp_entries_in_camel_case_with_numbered_scopes() {
    let r = accept(
        "config/linux/l3/v2/route/10.9.0.0/16/v1",
        json!({"outgoingInterface": "v1", "scope": 1, "dstNetwork": "10.9.0.0/16", "gwAddr": "10.0.0.2", "metric": "7"}),
    );
    let Item::Route(r) = r else { panic!() };
    assert_eq!((r.scope, r.metric), (RouteScope::Global, 7));
    let same = Item::decode_unkeyed(
        &json!({"outgoingInterface": "v1", "scope": "GLOBAL", "dstNetwork": "10.9.0.0/16", "gwAddr": "10.0.0.2", "metric": 7}),
    );
    assert_eq!(same, Ok(Item::Route(r)));
    let generated = json!({"outgoingInterface": "v1", "scope": 0, "dstNetwork": "10.9.0.0/16", "gwAddr": "", "metric": 0});
    let Item::Route(r) = accept("config/linux/l3/v2/route/10.9.0.0/16/v1", generated) else {
        panic!()
    };
    assert_eq!((r.scope, r.gw_addr), (RouteScope::Link, None));
    refuse(
        "config/linux/l3/v2/route/10.9.0.0/16/v1",
        json!({"outgoingInterface": "v1", "dstNetwork": "10.9.0.0/16", "scope": 7}),
        "scope",
        "is not one of",
    );
    refuse(
        "config/linux/l3/v2/route/10.9.0.0/16/v1",
        json!({"outgoingInterface": "v1", "dstNetwork": "10.9.0.1/16"}),
        "dstNetwork",
        "host bits",
    );
    let a = json!({"interface": "v1", "ipAddress": "10.0.0.9", "hwAddress": "02:00:00:00:00:09"});
    assert_eq!(
        Item::decode_unkeyed(&a),
        Item::decode("config/linux/l3/v2/arp/v1/10.0.0.9", &a)
    );
    assert!(Item::decode_unkeyed(&a).is_ok());
    refuse(
        "config/linux/l3/v2/arp/v1/10.0.0.9",
        json!({"interface": "v1", "ipAddress": "10.0.0.9", "hwAddress": ""}),
        "hwAddress",
        "missing",
    );
}

/// The namespace model of vpp-agent's documentation: set the type, then the reference in the
/// field that type reads.
#[test]
fn the_v1_namespace_union_reads_as_the_v2_reference() {
    let ns = |n: Value| {
        interface(
            &format!("{IF}d1"),
            json!({"name": "d1", "type": "DUMMY", "namespace": n}),
        )
        .namespace
    };
    assert_eq!(
        ns(json!({"type": "MICROSERVICE_REF_NS", "microservice": "ms1"})),
        NamespaceRef::Microservice("ms1".into())
    );
    assert_eq!(
        ns(json!({"type": 1, "microservice": "ms1"})),
        NamespaceRef::Microservice("ms1".into())
    );
    assert_eq!(
        ns(json!({"type": "NAMED_NS", "name": "ns1"})),
        NamespaceRef::Named("ns1".into())
    );
    assert_eq!(
        ns(json!({"type": "FILE_REF_NS", "filepath": "/proc/77/ns/net"})),
        NamespaceRef::Pid(77)
    );
    assert_eq!(
        ns(json!({"type": "PID_REF_NS", "pid": 501})),
        NamespaceRef::Pid(501)
    );
    assert_eq!(ns(json!({"pid": "501"})), NamespaceRef::Pid(501));
    // Every field written, as a generator writes the union: only the type's field counts.
    assert_eq!(
        ns(json!({"type": 2, "pid": 0, "microservice": "", "name": "ns1", "filepath": ""})),
        NamespaceRef::Named("ns1".into())
    );
    assert_eq!(
        ns(json!({"type": "NAMED_NS", "name": ""})),
        NamespaceRef::Default
    );
    assert_eq!(
        ns(json!({"type": 0, "pid": 0, "microservice": "", "name": "", "filepath": ""})),
        NamespaceRef::Default
    );
    let k = format!("{IF}d1");
    let d = |n: Value| json!({"name": "d1", "type": "DUMMY", "namespace": n});
    refuse(
        &k,
        d(json!({"type": "MICROSERVICE_REF_NS", "microservice": ""})),
        "namespace.microservice",
        "label",
    );
    refuse(
        &k,
        d(json!({"type": "MICROSERVICE_REF_NS", "name": "x"})),
        "namespace.name",
        "whose reference is 'microservice'",
    );
    refuse(
        &k,
        d(json!({"type": "FILE_REF_NS", "filepath": "/tmp/x"})),
        "namespace.filepath",
        "is not /proc",
    );
    refuse(
        &k,
        d(json!({"type": "NAMED_NS", "name": "a/b"})),
        "namespace.name",
        "may not contain",
    );
    refuse(
        &k,
        d(json!({"type": "NAMED_NS", "name": "n1", "reference": "n1"})),
        "namespace.reference",
        "write one form",
    );
    refuse(
        &k,
        d(json!({"type": "NSID", "name": "n1"})),
        "namespace.type",
        "is not one of",
    );
    refuse(
        &k,
        d(json!({"type": "PID_REF_NS", "pid": -4})),
        "namespace.pid",
        "expected a number",
    );
    refuse(
        &k,
        d(json!({"type": "PID_REF_NS", "pid": 5000000})),
        "namespace.pid",
        "not a process id",
    );
    refuse(
        &k,
        d(json!({"type": "NAMED_NS", "label": "x"})),
        "namespace.label",
        "unknown field",
    );
}

/// v1 keys, with or without vpp-agent's `/vnf-agent/<label>/` prefix, name today's items.
#[test]
fn v1_keys_are_aliases_of_todays_keys() {
    let v2 = accept(
        &format!("{IF}veth1"),
        json!({"name": "veth1", "type": "VETH", "enabled": true,
        "namespace": {"type": "NSID", "reference": "ns1"}, "veth": {"peer_if_name": "veth2"}}),
    );
    // vpp-agent-ctl's v1 veth1.json: the union and a type by name.
    let v1 = json!({"name": "veth1", "type": "VETH", "enabled": true,
        "namespace": {"type": "NAMED_NS", "name": "ns1"}, "veth": {"peer_if_name": "veth2"}});
    for key in [
        format!("{IF_V1}veth1"),
        format!("/vnf-agent/agent1/{IF_V1}veth1"),
        format!("vnf-agent/agent1/{IF_V1}veth1"),
    ] {
        assert_eq!(accept(&key, v1.clone()), v2, "{key}");
        assert_eq!(key.parse::<ItemKey>(), Ok(v2.key()), "{key}");
    }
    assert_eq!(
        accept(&format!("/vnf-agent/agent1/{IF}veth1"), v1.clone()),
        v2
    );
    // v1's type numbers: VETH is its zero, so a VETH leaves it out; and a description.
    let bare = json!({"name": "veth1", "description": "to ns1", "enabled": true,
        "namespace": {"type": 2, "name": "ns1"}, "veth": {"peerIfName": "veth2"}});
    assert_eq!(accept(&format!("{IF_V1}veth1"), bare), v2);
    // Under a v1 key a namespace type alone is a v1 number: 1 is MICROSERVICE_REF_NS.
    refuse(
        &format!("{IF_V1}veth1"),
        json!({"name": "veth1", "namespace": {"type": 1}, "veth": {"peer_if_name": "veth2"}}),
        "namespace.microservice",
        "label",
    );
    refuse(
        &format!("{IF_V1}t1"),
        json!({"name": "t1", "type": 1}),
        "type",
        "AUTO_TAP is not supported yet",
    );
    refuse(
        &format!("{IF_V1}t1"),
        json!({"name": "t1", "tap": {"tempIfName": "x"}}),
        "tap",
        "not supported yet",
    );
    refuse(
        &format!("{IF_V1}t1"),
        json!({"name": "t1", "type": "LOOPBACK"}),
        "type",
        "is not one of",
    );
    refuse(
        &format!("{IF_V1}veth1"),
        json!({"name": "veth2", "veth": {"peer_if_name": "veth1"}}),
        "key",
        "does not match",
    );
    refuse(
        "/vnf-agent//linux/config/v1/interface/x",
        json!({}),
        "key",
        "/vnf-agent/<label>/",
    );
    refuse(&format!("{IF_V1}a b"), json!({}), "key", "contains");
}

#[test]
fn an_empty_or_missing_name_is_named() {
    refuse(
        &format!("{IF}v1"),
        json!({"name": "", "type": "DUMMY"}),
        "name",
        "empty",
    );
    refuse(
        &format!("{IF}v1"),
        json!({"type": "DUMMY"}),
        "name",
        "empty",
    );
    refuse(
        "config/linux/l3/v2/route/10.9.0.0/16/v1",
        json!({"outgoingInterface": "", "dstNetwork": "10.9.0.0/16"}),
        "outgoingInterface",
        "empty",
    );
    refuse(
        "config/linux/l3/v2/route/10.9.0.0/16/v1",
        json!({"outgoingInterface": "v1"}),
        "dstNetwork",
        "not a CIDR",
    );
}
