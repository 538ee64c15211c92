//! Every validation rule of the model, and vpp-agent's own JSON accepted as it is.

use nsagent_core::Item;
use nsagent_core::*;
use serde_json::{json, Value};

const IF: &str = "config/linux/interfaces/v2/interface/";

fn reject(key: &str, value: Value) -> ValidationError {
    match Item::decode(key, &value) {
        Ok(item) => panic!("accepted {value}: {item:?}"),
        Err(e) => e,
    }
}

fn assert_rejects(key: &str, value: Value, field: &str, reason_part: &str) {
    let e = reject(key, value);
    assert_eq!(e.field, field, "{e}");
    assert!(
        e.reason.contains(reason_part),
        "reason '{}' lacks '{reason_part}'",
        e.reason
    );
}

fn dummy(extra: Value) -> Value {
    let mut v = json!({"name": "d1", "type": "DUMMY"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn vpp_agent_veth_json_loads_as_it_is() {
    let v = json!({
        "name": "veth1", "type": "VETH", "enabled": true,
        "namespace": {"type": "NSID", "reference": "ns1"},
        "ip_addresses": ["192.168.22.1/24", "2001:db8::1/64"],
        "phys_address": "D2:74:8C:12:67:D2", "mtu": 1500,
        "veth": {"peer_if_name": "veth2", "rx_checksum_offloading": "CHKSM_OFFLOAD_DEFAULT"}
    });
    let Item::Interface(i) = Item::decode(&format!("{IF}veth1"), &v).unwrap() else {
        panic!()
    };
    assert_eq!(i.host_if_name, "veth1");
    assert_eq!(i.namespace, NamespaceRef::Named("ns1".into()));
    assert_eq!(i.ip_addresses.len(), 2);
    assert_eq!(i.veth_peer.as_deref(), Some("veth2"));
    assert_eq!(i.phys_address.unwrap().to_string(), "d2:74:8c:12:67:d2");
    // And it round-trips through the JSON it prints.
    assert_eq!(
        Item::decode(&format!("{IF}veth1"), &Item::Interface(i.clone()).to_json()).unwrap(),
        Item::Interface(i)
    );
}

#[test]
fn route_and_arp_keys_round_trip() {
    let r = json!({"outgoing_interface": "veth1", "dst_network": "10.0.0.0/8", "gw_addr": "192.168.22.2", "metric": 10, "scope": "GLOBAL"});
    let item = Item::decode("config/linux/l3/v2/route/10.0.0.0/8/veth1", &r).unwrap();
    assert_eq!(
        item.key().to_string(),
        "config/linux/l3/v2/route/10.0.0.0/8/veth1"
    );
    let a = json!({"interface": "veth1", "ip_address": "192.168.22.9", "hw_address": "02:00:00:00:00:09"});
    let item = Item::decode("config/linux/l3/v2/arp/veth1/192.168.22.9", &a).unwrap();
    assert_eq!(
        item.key().to_string(),
        "config/linux/l3/v2/arp/veth1/192.168.22.9"
    );
    assert_eq!(Item::decode_unkeyed(&a).unwrap(), item);
}

#[test]
fn host_name_longer_than_15_bytes_is_rejected() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"host_if_name": "a234567890123456"})),
        "host_if_name",
        "at most 15",
    );
    // The logical name stands in for the host name when none is given.
    assert_rejects(
        &format!("{IF}a234567890123456"),
        json!({"name": "a234567890123456", "type": "DUMMY"}),
        "name",
        "at most 15",
    );
}

#[test]
fn host_name_with_slash_whitespace_or_nul_is_rejected() {
    for bad in ["a/b", "a b", "a\tb", "a\0b", "a:b", ".."] {
        let e = reject(&format!("{IF}d1"), dummy(json!({"host_if_name": bad})));
        assert_eq!(e.field, "host_if_name", "{bad:?}: {e}");
    }
}

#[test]
fn bad_cidr_is_rejected() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"ip_addresses": ["10.0.0.1"]})),
        "ip_addresses[0]",
        "prefix length",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"ip_addresses": ["10.0.0.1/24", "10.0.0.300/24"]})),
        "ip_addresses[1]",
        "10.0.0.300/24",
    );
    let r = json!({"outgoing_interface": "d1", "dst_network": "10.0.0.1/8"});
    assert_rejects(
        "config/linux/l3/v2/route/10.0.0.1/8/d1",
        r,
        "dst_network",
        "host bits",
    );
}

#[test]
fn bad_mac_is_rejected() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"phys_address": "02:00:00:00:00"})),
        "phys_address",
        "fewer than 6",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"phys_address": "zz:00:00:00:00:00"})),
        "phys_address",
        "not hex",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"phys_address": "01:00:5e:00:00:01"})),
        "phys_address",
        "multicast",
    );
    let a = json!({"interface": "d1", "ip_address": "10.0.0.1", "hw_address": "nope"});
    assert_rejects(
        "config/linux/l3/v2/arp/d1/10.0.0.1",
        a,
        "hw_address",
        "nope",
    );
}

#[test]
fn mtu_out_of_range_is_rejected() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"mtu": 67})),
        "mtu",
        "out of range",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"mtu": 65536})),
        "mtu",
        "out of range",
    );
    assert!(
        Item::decode(&format!("{IF}d1"), &dummy(json!({"mtu": 0}))).is_ok(),
        "0 leaves the MTU alone"
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"mtu": 1000, "ip_addresses": ["fd00::1/64"]})),
        "mtu",
        "IPv6 minimum",
    );
}

#[test]
fn veth_that_is_its_own_peer_or_names_no_peer_is_rejected() {
    let k = format!("{IF}v1");
    assert_rejects(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {"peer_if_name": "v1"}}),
        "veth.peer_if_name",
        "own peer",
    );
    assert_rejects(
        &k,
        json!({"name": "v1", "type": "VETH"}),
        "veth.peer_if_name",
        "must name its peer",
    );
    assert_rejects(
        &k,
        json!({"name": "v1", "type": "VETH", "veth": {}}),
        "veth.peer_if_name",
        "must name its peer",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"veth": {"peer_if_name": "x"}})),
        "veth",
        "only a VETH",
    );
}

#[test]
fn nsid_reference_with_slash_or_dotdot_is_rejected() {
    for bad in ["a/b", "..", "x..y", ""] {
        let e = reject(
            &format!("{IF}d1"),
            dummy(json!({"namespace": {"type": "NSID", "reference": bad}})),
        );
        assert_eq!(e.field, "namespace.reference", "{bad:?}: {e}");
    }
}

#[test]
fn fd_path_outside_the_namespace_files_is_rejected() {
    for bad in [
        "/etc/passwd",
        "/proc/12/ns/mnt",
        "/proc/x/ns/net",
        "/proc/12/task/ns/net",
        "/var/run/netns/../x",
        "relative",
    ] {
        let e = reject(
            &format!("{IF}d1"),
            dummy(json!({"namespace": {"type": "FD", "reference": bad}})),
        );
        assert_eq!(e.field, "namespace.reference", "{bad:?}: {e}");
    }
    let ok = |path: &str| {
        let Item::Interface(i) = Item::decode(
            &format!("{IF}d1"),
            &dummy(json!({"namespace": {"type": "FD", "reference": path}})),
        )
        .unwrap() else {
            panic!()
        };
        i.namespace
    };
    assert_eq!(ok("/proc/12/ns/net"), NamespaceRef::Pid(12));
    assert_eq!(
        ok("/proc/12/task/13/ns/net"),
        NamespaceRef::Task { pid: 12, tid: 13 }
    );
    assert_eq!(
        ok("/var/run/netns/blue"),
        NamespaceRef::Named("blue".into())
    );
}

#[test]
fn pid_reference_must_be_a_process_id() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"namespace": {"type": "PID", "reference": "abc"}})),
        "namespace.reference",
        "not a process id",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"namespace": {"type": "PID", "reference": "0"}})),
        "namespace.reference",
        "pid 0",
    );
}

#[test]
fn link_scope_route_with_a_gateway_is_rejected() {
    let r = json!({"outgoing_interface": "d1", "dst_network": "10.0.0.0/8", "gw_addr": "192.168.1.1", "scope": "LINK"});
    assert_rejects(
        "config/linux/l3/v2/route/10.0.0.0/8/d1",
        r,
        "scope",
        "cannot have a gateway",
    );
    let r =
        json!({"outgoing_interface": "d1", "dst_network": "10.0.0.0/8", "gw_addr": "2001:db8::1"});
    assert_rejects(
        "config/linux/l3/v2/route/10.0.0.0/8/d1",
        r,
        "gw_addr",
        "different address families",
    );
}

#[test]
fn key_that_does_not_match_the_value_is_rejected() {
    assert_rejects(
        &format!("{IF}other"),
        dummy(json!({})),
        "key",
        "does not match",
    );
    let r = json!({"outgoing_interface": "d1", "dst_network": "10.1.0.0/16"});
    assert_rejects(
        "config/linux/l3/v2/route/10.0.0.0/8/d1",
        r,
        "key",
        "does not match",
    );
    assert_rejects(
        "config/unknown/x",
        dummy(json!({})),
        "key",
        "no known prefix",
    );
}

#[test]
fn unknown_fields_and_types_are_named() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"colour": "red"})),
        "colour",
        "unknown field",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"mtu": "big"})),
        "mtu",
        "invalid type",
    );
    assert_rejects(&format!("{IF}d1"), json!({"name": "d1"}), "type", "missing");
    assert_rejects(
        &format!("{IF}d1"),
        json!({"name": "d1", "type": "VRF_DEVICE"}),
        "vrf_dev.routing_table",
        "missing",
    );
    assert_rejects(
        &format!("{IF}d1"),
        json!({"name": "d1", "type": "WIREGUARD"}),
        "type",
        "is not one of",
    );
    assert_rejects(
        &format!("{IF}v1"),
        json!({"name": "v1", "type": "VETH", "veth": {"peer_if_name": "v2", "tx_checksum_offloading": "CHKSM_OFFLOAD_OF"}}),
        "veth.tx_checksum_offloading",
        "CHKSM_OFFLOAD_OF",
    );
    let e = Item::decode_unkeyed(&json!({"foo": 1})).unwrap_err();
    assert_eq!(e.field, "value");
    let e = Item::decode_unkeyed(&json!([1])).unwrap_err();
    assert!(e.reason.contains("JSON object"));
}

#[test]
fn arp_needs_a_unicast_ip_and_a_mac() {
    let a =
        json!({"interface": "d1", "ip_address": "224.0.0.1", "hw_address": "02:00:00:00:00:01"});
    assert_rejects(
        "config/linux/l3/v2/arp/d1/224.0.0.1",
        a,
        "ip_address",
        "unicast",
    );
    let a = json!({"interface": "d1", "ip_address": "10.0.0.1"});
    assert_rejects(
        "config/linux/l3/v2/arp/d1/10.0.0.1",
        a,
        "hw_address",
        "missing",
    );
}

#[test]
fn type_errors_name_the_field_as_written() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"mtu": "15OO"})),
        "mtu",
        "expected a number",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"ip_addresses": ["10.0.0.1/24", 7]})),
        "ip_addresses[1]",
        "invalid type",
    );
    assert_rejects(
        &format!("{IF}v1"),
        json!({"name": "v1", "type": "VETH", "veth": {"peer_if_name": 2}}),
        "veth.peer_if_name",
        "invalid type",
    );
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"namespace": {"type": "NSID", "reference": ["n1"]}})),
        "namespace.reference",
        "invalid type",
    );
    let r = json!({"outgoing_interface": "d1", "dst_network": "10.0.0.0/8", "metric": -1});
    assert_rejects(
        "config/linux/l3/v2/route/10.0.0.0/8/d1",
        r,
        "metric",
        "expected a number",
    );
    // A value that is not an object at all is the value's own fault.
    assert_rejects(&format!("{IF}d1"), json!("d1"), "value", "invalid type");
}

#[test]
fn mac_octet_with_a_sign_is_rejected() {
    for bad in [
        "+2:00:00:00:00:01",
        "02:00:00:00:00:+1",
        "02:00:00:00:00:+f",
    ] {
        assert_rejects(
            &format!("{IF}d1"),
            dummy(json!({"phys_address": bad})),
            "phys_address",
            "not hex",
        );
        let a = json!({"interface": "d1", "ip_address": "10.0.0.1", "hw_address": bad});
        assert_rejects(
            "config/linux/l3/v2/arp/d1/10.0.0.1",
            a,
            "hw_address",
            "not hex",
        );
    }
}

#[test]
fn arp_hw_address_must_be_unicast_and_not_zero() {
    for bad in [
        "01:00:5e:00:00:01",
        "ff:ff:ff:ff:ff:ff",
        "00:00:00:00:00:00",
    ] {
        let a = json!({"interface": "d1", "ip_address": "10.0.0.1", "hw_address": bad});
        assert_rejects(
            "config/linux/l3/v2/arp/d1/10.0.0.1",
            a,
            "hw_address",
            "unicast",
        );
    }
    let a = json!({"interface": "d1", "ip_address": "10.0.0.1", "hw_address": "02:00:00:00:00:01"});
    assert!(Item::decode("config/linux/l3/v2/arp/d1/10.0.0.1", &a).is_ok());
}

#[test]
fn bidi_control_and_format_characters_in_names_are_rejected() {
    for c in [
        '\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}', '\u{AD}', '\u{7F}', '\u{85}',
    ] {
        let bad = format!("a{c}b");
        let e = reject(
            &format!("{IF}{bad}"),
            json!({"name": bad, "type": "DUMMY", "host_if_name": "d1"}),
        );
        assert_eq!(e.field, "key", "{c:?} in the key: {e}");
        let e = reject(&format!("{IF}d1"), dummy(json!({"host_if_name": bad})));
        assert_eq!(e.field, "host_if_name", "{c:?}: {e}");
        let e = reject(
            &format!("{IF}v1"),
            json!({"name": "v1", "type": "VETH", "veth": {"peer_if_name": bad}}),
        );
        assert_eq!(e.field, "veth.peer_if_name", "{c:?}: {e}");
        for (kind, reference) in [
            ("NSID", bad.clone()),
            ("FD", format!("/var/run/netns/{bad}")),
            ("MICROSERVICE", bad.clone()),
        ] {
            let e = reject(
                &format!("{IF}d1"),
                dummy(json!({"namespace": {"type": kind, "reference": reference}})),
            );
            assert_eq!(e.field, "namespace.reference", "{kind} {c:?}: {e}");
        }
        let r = json!({"outgoing_interface": bad, "dst_network": "10.0.0.0/8"});
        let e = reject("config/linux/l3/v2/route/10.0.0.0/8/d1", r);
        assert_eq!(e.field, "outgoing_interface", "{c:?}: {e}");
    }
}

#[test]
fn host_name_limit_counts_bytes_not_characters() {
    // Eight characters, sixteen bytes.
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"host_if_name": "éééééééé"})),
        "host_if_name",
        "16 bytes",
    );
    assert!(Item::decode(
        &format!("{IF}d1"),
        &dummy(json!({"host_if_name": "ééééééé"}))
    )
    .is_ok());
}

#[test]
fn broadcast_multicast_and_unspecified_interface_addresses_are_rejected() {
    for bad in [
        "255.255.255.255/32",
        "0.0.0.0/8",
        "0.0.0.0/0",
        "224.0.0.1/32",
        "ff02::1/128",
        "::/0",
    ] {
        assert_rejects(
            &format!("{IF}d1"),
            dummy(json!({"ip_addresses": ["10.0.0.1/24", bad]})),
            "ip_addresses[1]",
            "unicast",
        );
    }
}

#[test]
fn pid_references_are_canonical_and_within_pid_max_limit() {
    for bad in ["4294967295", "4194305", "+1", "01", "00", "-1", " 1"] {
        let e = reject(
            &format!("{IF}d1"),
            dummy(json!({"namespace": {"type": "PID", "reference": bad}})),
        );
        assert_eq!(e.field, "namespace.reference", "{bad:?}: {e}");
        for path in [
            format!("/proc/{bad}/ns/net"),
            format!("/proc/{bad}/task/12/ns/net"),
            format!("/proc/12/task/{bad}/ns/net"),
        ] {
            let e = reject(
                &format!("{IF}d1"),
                dummy(json!({"namespace": {"type": "FD", "reference": path}})),
            );
            assert_eq!(e.field, "namespace.reference", "{path:?}: {e}");
        }
    }
    let e = reject(
        &format!("{IF}d1"),
        dummy(json!({"namespace": {"type": "PID", "reference": "4294967295"}})),
    );
    assert!(e.reason.contains("4194304"), "{e}");
    assert!(Item::decode(
        &format!("{IF}d1"),
        &dummy(json!({"namespace": {"type": "PID", "reference": "4194304"}}))
    )
    .is_ok());
}

#[test]
fn owned_link_named_lo_is_rejected() {
    assert_rejects(
        &format!("{IF}d1"),
        dummy(json!({"host_if_name": "lo"})),
        "host_if_name",
        "LOOPBACK",
    );
    assert_rejects(
        &format!("{IF}lo"),
        json!({"name": "lo", "type": "DUMMY"}),
        "name",
        "loopback",
    );
    assert_rejects(
        &format!("{IF}v1"),
        json!({"name": "v1", "type": "VETH", "host_if_name": "lo", "veth": {"peer_if_name": "v2"}}),
        "host_if_name",
        "LOOPBACK",
    );
    // Borrowed links may be lo: that is what LOOPBACK and EXISTING are for.
    for kind in ["LOOPBACK", "EXISTING"] {
        let v = json!({"name": "l0", "type": kind, "host_if_name": "lo"});
        assert!(Item::decode(&format!("{IF}l0"), &v).is_ok(), "{kind}");
    }
}

#[test]
fn item_names_are_limited_so_that_the_links_mark_fits_in_an_alias() {
    let longest = "n".repeat(MAX_ITEM_NAME_LEN);
    let v = json!({"name": longest, "type": "DUMMY", "host_if_name": "d1"});
    assert!(Item::decode(&format!("{IF}{longest}"), &v).is_ok());
    let long = "n".repeat(MAX_ITEM_NAME_LEN + 1);
    let v = json!({"name": long, "type": "DUMMY", "host_if_name": "d1"});
    assert_rejects(
        &format!("{IF}{long}"),
        v,
        "key",
        &format!("the limit is {MAX_ITEM_NAME_LEN}"),
    );
}
