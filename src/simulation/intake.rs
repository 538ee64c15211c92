//! What publishers write, beyond the values the workload decides on: every intent is published
//! in one of the spellings that mean the same item (a namespace as an FD path, defaults written
//! out, a scope spelled as the kernel would pick it), must round-trip through its JSON form, and
//! now and then a publisher sends a broken variant first, which must be refused naming the field
//! at fault. None of this feeds the core anything the workload did not decide, so the trace is
//! the same with or without it; it draws from a stream of its own for the same reason.
//!
//! The spellings of vpp-agent's protobuf-JSON (camelCase, enum numbers, zeros, quoted integers)
//! and of v1 (its namespace union, its interface model under v1 keys) are in `spellings.rs`;
//! broken variants of those are refused naming the field as the publisher spelled it.
//!
//! Driven from `World::put`: [`World::respell`] before decoding, [`World::check_intake`] after.

use nsagent_core::{Item, ItemKey};
use serde_json::{json, Value};

use super::{spellings, World};

/// One broken variant of a published value: the change made to it, and the field the refusal
/// must name, as the publisher wrote it.
struct Breakage {
    field: &'static str,
    apply: fn(&mut Value),
}

/// Ways to break an interface value, each refused on one field.
const INTERFACE_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "name",
        apply: |v| v["name"] = json!(""),
    },
    Breakage {
        field: "name",
        apply: |v| v["name"] = json!("a/b"),
    },
    Breakage {
        field: "name",
        apply: |v| v["name"] = json!("x".repeat(256)),
    },
    Breakage {
        field: "name",
        apply: |v| v["name"] = json!("v\u{202e}1"),
    },
    Breakage {
        field: "type",
        apply: |v| {
            v.as_object_mut().map(|o| o.remove("type"));
        },
    },
    Breakage {
        field: "tap.vpp_tap_if_name",
        apply: |v| {
            v.as_object_mut().map(|o| o.remove("tap"));
            v["type"] = json!("TAP_TO_VPP");
        },
    },
    Breakage {
        field: "vrf_dev.routing_table",
        apply: |v| {
            v.as_object_mut().map(|o| {
                o.remove("tap");
                o.remove("vrf_dev")
            });
            v["type"] = json!("VRF_DEVICE");
        },
    },
    Breakage {
        field: "type",
        apply: |v| v["type"] = json!("WIREGUARD"),
    },
    Breakage {
        field: "tap",
        apply: |v| {
            // Alone: beside another link's settings (a veth's, a VRF's, a VXLAN's) it would
            // break the oneof instead; on another type than TAP_TO_VPP, whose own setting it is.
            as_type(v, "DUMMY");
            v["tap"] = json!({"vpp_tap_if_name": "t0"});
        },
    },
    Breakage {
        field: "vrf_master_interface",
        apply: |v| v["vrf_master_interface"] = json!("vrf/0"),
    },
    Breakage {
        field: "vrfMasterInterface",
        apply: |v| camel_field(v, "vrf_master_interface", json!("vrf/0")),
    },
    Breakage {
        field: "bridge_master_interface",
        apply: |v| v["bridge_master_interface"] = json!("br/0"),
    },
    Breakage {
        field: "bridge.ageing_time_seconds",
        apply: |v| {
            as_type(v, "BRIDGE");
            v["bridge"] = json!({"ageing_time_seconds": 86_401});
        },
    },
    Breakage {
        field: "tap.vpp_tap_if_name",
        apply: |v| {
            // A TAP the agent makes is named by host_if_name, not by VPP's name.
            as_type(v, "TAP");
            v["tap"] = json!({"vpp_tap_if_name": "vpp9"});
        },
    },
    Breakage {
        field: "macvlan.mode",
        apply: |v| {
            as_type(v, "MACVLAN");
            v["macvlan"] = json!({"parent_interface": "v0", "mode": "SOURCE"});
        },
    },
    Breakage {
        field: "macvlan",
        apply: |v| {
            // On another type than MACVLAN, whose own setting it is.
            as_type(v, "DUMMY");
            v["macvlan"] = json!({"parent_interface": "v0"});
        },
    },
    Breakage {
        field: "vxlan.vni",
        apply: |v| {
            as_type(v, "VXLAN");
            v["vxlan"] = json!({"vni": 16777216});
        },
    },
    Breakage {
        field: "vxlan.remote_ip",
        apply: |v| {
            as_type(v, "VXLAN");
            v["vxlan"] = json!({"vni": 5, "remote_ip": "239.1.1.1"});
        },
    },
    Breakage {
        field: "vxlan",
        apply: |v| {
            // On another type than VXLAN, whose own setting it is.
            as_type(v, "DUMMY");
            v["vxlan"] = json!({"vni": 5});
        },
    },
    Breakage {
        field: "bridge",
        apply: |v| {
            // On another type than BRIDGE, whose own setting it is.
            as_type(v, "DUMMY");
            v["bridge"] = json!({"stp": true});
        },
    },
    Breakage {
        field: "vrf_dev",
        apply: |v| {
            // On another type than VRF_DEVICE, whose own setting it is.
            as_type(v, "DUMMY");
            v["vrf_dev"] = json!({"routing_table": 3});
        },
    },
    Breakage {
        field: "type",
        apply: |v| v["type"] = json!(9),
    },
    Breakage {
        field: "tap.vpp_tap_if_name",
        apply: |v| {
            v.as_object_mut().map(|o| o.remove("tap"));
            v["type"] = json!(2);
        },
    },
    Breakage {
        field: "ipAddresses[1]",
        apply: |v| camel_field(v, "ip_addresses", json!(["10.9.9.9/24", "x"])),
    },
    Breakage {
        field: "hostIfName",
        apply: |v| camel_field(v, "host_if_name", json!("a:b")),
    },
    Breakage {
        field: "host_if_name",
        apply: |v| {
            v["host_if_name"] = json!("h0");
            v["hostIfName"] = json!("h0");
        },
    },
    Breakage {
        field: "mtu",
        apply: |v| v["mtu"] = json!("15x0"),
    },
    Breakage {
        field: "namespace.microservice",
        apply: |v| v["namespace"] = json!({"type": "MICROSERVICE_REF_NS", "microservice": ""}),
    },
    Breakage {
        field: "namespace.microservice",
        apply: |v| v["namespace"] = json!({"type": "NAMED_NS", "name": "n1", "microservice": "m"}),
    },
    Breakage {
        field: "namespace.name",
        apply: |v| v["namespace"] = json!({"type": "NAMED_NS", "name": "a/b"}),
    },
    Breakage {
        field: "namespace.filepath",
        apply: |v| v["namespace"] = json!({"type": 3, "filepath": "/tmp/ns"}),
    },
    Breakage {
        field: "namespace.pid",
        apply: |v| v["namespace"] = json!({"type": "PID_REF_NS", "pid": -1}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "NAMED_NS", "name": "n1", "reference": "n1"}),
    },
    Breakage {
        field: "namespace.type",
        apply: |v| v["namespace"] = json!({"type": 7, "reference": "n1"}),
    },
    Breakage {
        field: "namespace.ref",
        apply: |v| v["namespace"] = json!({"type": "NSID", "ref": "n1"}),
    },
    Breakage {
        field: "colour",
        apply: |v| v["colour"] = json!("red"),
    },
    Breakage {
        field: "host_if_name",
        apply: |v| v["host_if_name"] = json!("sixteen-bytes-xx"),
    },
    Breakage {
        field: "host_if_name",
        apply: |v| v["host_if_name"] = json!("a:b"),
    },
    Breakage {
        field: "host_if_name",
        apply: |v| v["host_if_name"] = json!(".."),
    },
    Breakage {
        field: "host_if_name",
        apply: |v| v["host_if_name"] = json!("a\u{200b}"),
    },
    Breakage {
        field: "ip_addresses[0]",
        apply: |v| v["ip_addresses"] = json!(["10.9.9.9"]),
    },
    Breakage {
        field: "ip_addresses[0]",
        apply: |v| v["ip_addresses"] = json!(["224.0.0.1/24"]),
    },
    Breakage {
        field: "ip_addresses[1]",
        apply: |v| v["ip_addresses"] = json!(["10.9.9.9/24", 7]),
    },
    Breakage {
        field: "phys_address",
        apply: |v| v["phys_address"] = json!("01:00:00:00:00:01"),
    },
    Breakage {
        field: "phys_address",
        apply: |v| v["phys_address"] = json!("00:00:00:00:00:00"),
    },
    Breakage {
        field: "phys_address",
        apply: |v| v["phys_address"] = json!("02:00:00:00:00"),
    },
    Breakage {
        field: "phys_address",
        apply: |v| v["phys_address"] = json!("02:00:00:00:00:0g"),
    },
    Breakage {
        field: "phys_address",
        apply: |v| v["phys_address"] = json!("020:00:00:00:00:01"),
    },
    Breakage {
        field: "phys_address",
        apply: |v| v["phys_address"] = json!("02:00:00:00:00:01:02"),
    },
    Breakage {
        field: "mtu",
        apply: |v| v["mtu"] = json!(50),
    },
    Breakage {
        field: "mtu",
        apply: |v| v["mtu"] = json!(70000),
    },
    Breakage {
        field: "mtu",
        apply: |v| v["mtu"] = json!("big"),
    },
    Breakage {
        field: "mtu",
        apply: |v| v["mtu"] = json!(-1),
    },
    Breakage {
        field: "mtu",
        apply: |v| {
            v["mtu"] = json!(1000);
            v["ip_addresses"] = json!(["fd00:9::1/64"]);
        },
    },
    Breakage {
        field: "enabled",
        apply: |v| v["enabled"] = json!("yes"),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "NSID", "reference": ""}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "NSID", "reference": "a/b"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "NSID", "reference": "a..b"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "NSID", "reference": "n".repeat(256)}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "NSID", "reference": "n\u{7}"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "PID", "reference": "0"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "PID", "reference": "0501"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "PID", "reference": "pid"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "PID", "reference": "5000000"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "FD", "reference": "/tmp/ns"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "FD", "reference": "/proc/501/fd/3"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "FD", "reference": "/run/netns/a..b"}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "MICROSERVICE", "reference": ""}),
    },
    Breakage {
        field: "namespace.reference",
        apply: |v| v["namespace"] = json!({"type": "MICROSERVICE", "reference": "m s"}),
    },
    Breakage {
        field: "namespace.type",
        apply: |v| v["namespace"] = json!({"reference": "n1"}),
    },
];

/// Ways to break a VETH's value beyond those of any interface.
const VETH_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "host_if_name",
        apply: |v| v["host_if_name"] = json!("lo"),
    },
    Breakage {
        field: "veth.peer_if_name",
        apply: |v| {
            v.as_object_mut().map(|o| o.remove("veth"));
        },
    },
    Breakage {
        field: "veth.peer_if_name",
        apply: |v| v["veth"] = json!({"peer_if_name": ""}),
    },
    Breakage {
        field: "veth.peer_if_name",
        apply: |v| v["veth"]["peer_if_name"] = v["name"].clone(),
    },
    Breakage {
        field: "veth.peer_if_name",
        apply: |v| v["veth"]["peer_if_name"] = json!("p q"),
    },
    Breakage {
        field: "veth.rx_checksum_offloading",
        apply: |v| {
            set_respelled(
                &mut v["veth"],
                "rx_checksum_offloading",
                json!("CHKSM_OFFLOAD_OFF"),
            )
        },
    },
    Breakage {
        field: "veth.tx_checksum_offloading",
        apply: |v| set_respelled(&mut v["veth"], "tx_checksum_offloading", json!(3)),
    },
    Breakage {
        field: "veth",
        apply: |v| v["type"] = json!("DUMMY"),
    },
    Breakage {
        field: "veth.peerIfName",
        apply: |v| v["veth"] = json!({"peerIfName": ""}),
    },
    Breakage {
        field: "veth.rxChecksumOffloading",
        apply: |v| {
            let peer = v["veth"]["peer_if_name"].clone();
            v["veth"] = json!({"peerIfName": peer, "rxChecksumOffloading": 9});
        },
    },
    // The oneof `link`: a TAP's settings beside the veth's (read in name order, tap first).
    Breakage {
        field: "veth",
        apply: |v| v["tap"] = json!({"vpp_tap_if_name": "t0"}),
    },
];

/// Sets a field the value may already hold in lowerCamelCase: that spelling goes, or it would
/// win over the broken value when the whole is spelled again.
fn set_respelled(obj: &mut Value, field: &str, value: Value) {
    if let Some(o) = obj.as_object_mut() {
        o.remove(&super::spellings::camel(field));
    }
    obj[field] = value;
}

const RULE_CHAIN_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "rules[0]",
        apply: |v| v["rules"] = json!(["-A INPUT -j DROP"]),
    },
    Breakage {
        field: "rules[1]",
        apply: |v| v["rules"] = json!(["-j ACCEPT", "-j \"DROP"]),
    },
    Breakage {
        field: "chain_type",
        apply: |v| {
            v["table"] = json!("RAW");
            v["chain_type"] = json!("INPUT");
            v["chain_name"] = json!("");
        },
    },
    Breakage {
        field: "chain_name",
        apply: |v| {
            v["chain_type"] = json!("CUSTOM");
            v["chain_name"] = json!("NSA-mine");
        },
    },
    Breakage {
        field: "default_policy",
        apply: |v| v["default_policy"] = json!("RETURN"),
    },
    Breakage {
        field: "interfaces[0]",
        apply: |v| v["interfaces"] = json!(["a b"]),
    },
];

const ROUTE_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "outgoing_interface",
        apply: |v| v["outgoing_interface"] = json!(""),
    },
    Breakage {
        field: "dst_network",
        apply: |v| v["dst_network"] = json!("somewhere"),
    },
    Breakage {
        field: "dst_network",
        apply: |v| v["dst_network"] = json!("10.1.2.3/16"),
    },
    Breakage {
        field: "gw_addr",
        apply: |v| v["gw_addr"] = json!("gateway"),
    },
    Breakage {
        field: "gw_addr",
        apply: |v| v["gw_addr"] = json!("224.0.0.1"),
    },
    Breakage {
        field: "gw_addr",
        apply: |v| v["gw_addr"] = json!("0.0.0.0"),
    },
    Breakage {
        field: "gw_addr",
        apply: |v| {
            v["dst_network"] = json!("10.9.0.0/16");
            v["gw_addr"] = json!("fd00::1");
        },
    },
    Breakage {
        field: "scope",
        apply: |v| {
            v["dst_network"] = json!("10.9.0.0/16");
            v["gw_addr"] = json!("10.9.0.1");
            v["scope"] = json!("LINK");
        },
    },
    Breakage {
        field: "scope",
        apply: |v| {
            v["dst_network"] = json!("10.9.0.0/16");
            v["gw_addr"] = json!("10.9.0.1");
            v["scope"] = json!("HOST");
        },
    },
    Breakage {
        field: "scope",
        apply: |v| v["scope"] = json!("UNIVERSE"),
    },
    Breakage {
        field: "metric",
        apply: |v| v["metric"] = json!(-1),
    },
    Breakage {
        field: "weight",
        apply: |v| v["weight"] = json!(1),
    },
    Breakage {
        field: "scope",
        apply: |v| v["scope"] = json!(9),
    },
    Breakage {
        field: "dstNetwork",
        apply: |v| camel_field(v, "dst_network", json!("somewhere")),
    },
    Breakage {
        field: "next_hops",
        apply: |v| {
            v["next_hops"] = json!([{"gw_addr": "10.9.0.1"}]);
        },
    },
    Breakage {
        field: "next_hops[1].weight",
        apply: |v| {
            v["dst_network"] = json!("10.9.0.0/16");
            v.as_object_mut().map(|o| o.remove("gw_addr"));
            v["next_hops"] =
                json!([{"gw_addr": "10.9.0.1"}, {"gw_addr": "10.9.0.2", "weight": 300}]);
        },
    },
    Breakage {
        field: "gwAddr",
        apply: |v| camel_field(v, "gw_addr", json!("gateway")),
    },
    Breakage {
        field: "metric",
        apply: |v| v["metric"] = json!("-1"),
    },
];

const FDB_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "interface",
        apply: |v| v["interface"] = json!(""),
    },
    Breakage {
        field: "hw_address",
        apply: |v| v["hw_address"] = json!(""),
    },
    Breakage {
        field: "hw_address",
        apply: |v| v["hw_address"] = json!("02:aa"),
    },
    Breakage {
        field: "remote_ip",
        apply: |v| v["remote_ip"] = json!("vtep"),
    },
    Breakage {
        field: "remote_ip",
        apply: |v| v["remote_ip"] = json!("0.0.0.0"),
    },
];

const POLICY_RULE_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "name",
        apply: |v| v["name"] = json!(""),
    },
    Breakage {
        field: "priority",
        apply: |v| v["priority"] = json!(0),
    },
    Breakage {
        field: "src_network",
        apply: |v| v["src_network"] = json!("10.9.0.1/16"),
    },
    Breakage {
        field: "table",
        apply: |v| {
            v["action"] = json!("LOOKUP");
            v["table"] = json!(0);
        },
    },
    Breakage {
        field: "fwmask",
        apply: |v| {
            v.as_object_mut().map(|o| o.remove("fwmark"));
            v["fwmask"] = json!(255);
        },
    },
    Breakage {
        field: "incoming_interface",
        apply: |v| v["incoming_interface"] = json!("a/b"),
    },
];

const ARP_BREAKAGES: &[Breakage] = &[
    Breakage {
        field: "interface",
        apply: |v| v["interface"] = json!(""),
    },
    Breakage {
        field: "ip_address",
        apply: |v| v["ip_address"] = json!("neighbour"),
    },
    Breakage {
        field: "ip_address",
        apply: |v| v["ip_address"] = json!("224.0.0.1"),
    },
    Breakage {
        field: "ip_address",
        apply: |v| v["ip_address"] = json!("0.0.0.0"),
    },
    Breakage {
        field: "hw_address",
        apply: |v| v["hw_address"] = json!(""),
    },
    Breakage {
        field: "hw_address",
        apply: |v| v["hw_address"] = json!("ff:ff:ff:ff:ff:ff"),
    },
    Breakage {
        field: "hw_address",
        apply: |v| v["hw_address"] = json!("02:aa"),
    },
    Breakage {
        field: "hwAddress",
        apply: |v| camel_field(v, "hw_address", json!("02:aa")),
    },
    Breakage {
        field: "ipAddress",
        apply: |v| camel_field(v, "ip_address", json!(7)),
    },
];

/// Sets a field under its lowerCamelCase name, its proto name taken out (both at once would be
/// a field given twice).
fn camel_field(v: &mut Value, proto: &str, value: Value) {
    if let Some(obj) = v.as_object_mut() {
        obj.remove(proto);
        obj.insert(spellings::camel(proto), value);
    }
}

/// Keys a publisher can get wrong whatever the value: each refused on `key`.
const BAD_KEYS: &[&str] = &[
    "config/linux/interfaces/v2/interface/",
    "config/linux/interfaces/v2/interface/a b",
    "config/linux/l3/v2/arp/v0",
    "config/linux/l3/v2/arp/v0/not-an-ip",
    "config/linux/l3/v2/route/v0",
    "config/linux/l3/v2/route/nowhere/v0",
    "config/vpp/v2/interfaces/v0",
    "linux/config/v1/interface/",
    "linux/config/v1/route/v0",
    "/vnf-agent//config/linux/interfaces/v2/interface/v0",
];

impl World {
    /// The key and value as one of the publishers who write the same item differently would
    /// send them.
    pub(super) fn respell(&mut self, key: &ItemKey, mut value: Value) -> (String, Value) {
        let r = &mut self.intake_rng;
        match key {
            ItemKey::Interface(_) => {
                let kind = value["type"].as_str().unwrap_or_default().to_string();
                let reference = value["namespace"]["reference"].as_str().map(str::to_string);
                match (value["namespace"]["type"].as_str(), reference, r.below(4)) {
                    (Some("NSID"), Some(n), 0) => {
                        value["namespace"] =
                            json!({"type": "FD", "reference": format!("/var/run/netns/{n}")})
                    }
                    (Some("NSID"), Some(n), 1) => {
                        value["namespace"] =
                            json!({"type": "FD", "reference": format!("/run/netns/{n}")})
                    }
                    (Some("PID"), Some(p), 0) => {
                        value["namespace"] =
                            json!({"type": "FD", "reference": format!("/proc/{p}/ns/net")})
                    }
                    (Some("PID"), Some(p), 1) => {
                        value["namespace"] =
                            json!({"type": "FD", "reference": format!("/proc/{p}/task/{p}/ns/net")})
                    }
                    (None, None, 0) => value["namespace"] = json!({}),
                    (None, None, 1) => {
                        value["namespace"] = json!({"type": "UNDEFINED", "reference": ""})
                    }
                    _ => {}
                }
                if value.get("host_if_name").is_none() && r.chance(30) {
                    let default = if kind == "LOOPBACK" {
                        json!("lo")
                    } else {
                        value["name"].clone()
                    };
                    value["host_if_name"] = default;
                }
                if value.get("mtu").is_none() && r.chance(20) {
                    value["mtu"] = json!(0);
                }
                if let Some(veth) = value["veth"].as_object_mut().filter(|_| r.chance(20)) {
                    for way in ["rx_checksum_offloading", "tx_checksum_offloading"] {
                        veth.entry(way).or_insert(json!("CHKSM_OFFLOAD_DEFAULT"));
                    }
                }
                if let Some(mac) = value["phys_address"].as_str().filter(|_| r.chance(50)) {
                    value["phys_address"] = json!(mac.to_uppercase());
                }
            }
            ItemKey::Route { .. } => {
                // Without a scope, a route through a gateway (or of many paths) is global and a
                // direct one on-link.
                if r.chance(40) {
                    let scope =
                        if value.get("gw_addr").is_some() || value.get("next_hops").is_some() {
                            "GLOBAL"
                        } else {
                            "LINK"
                        };
                    value["scope"] = json!(scope);
                }
                if value["metric"] == json!(0) && r.chance(50) {
                    value.as_object_mut().map(|o| o.remove("metric"));
                }
            }
            ItemKey::Arp { .. } | ItemKey::Fdb { .. } => {
                if let Some(mac) = value["hw_address"].as_str().filter(|_| r.chance(50)) {
                    value["hw_address"] = json!(mac.to_uppercase());
                }
            }
            ItemKey::PolicyRule(_) => {
                // A mark's mask of all ones is the mask of no mask; LOOKUP and IPV4 are the
                // zero values a marshaller may write out.
                if value.get("fwmark").is_some() && value.get("fwmask").is_none() && r.chance(40) {
                    value["fwmask"] = json!(u32::MAX);
                }
                if value.get("action").is_none() && r.chance(30) {
                    value["action"] = json!("LOOKUP");
                }
                if value.get("family").is_none() && r.chance(30) {
                    value["family"] = json!("IPV4");
                }
            }
            ItemKey::RuleChain(_) => {
                // Two spellings of one rule are one rule.
                if let Some(rules) = value["rules"].as_array_mut().filter(|_| r.chance(30)) {
                    for rule in rules {
                        if let Some(text) = rule.as_str() {
                            *rule = json!(format!("  {}  ", text.replace(' ', "   ")));
                        }
                    }
                }
            }
        }
        self.protojson_spelling(key, value)
    }

    /// The spellings of the protobuf-JSON mapping and of v1 (`spellings.rs`), each counted as
    /// exercised so a run shows it reached them.
    fn protojson_spelling(&mut self, key: &ItemKey, mut value: Value) -> (String, Value) {
        let r = &mut self.intake_rng;
        let mut used = Vec::new();
        let mut text = key.to_string();
        if let ItemKey::Interface(name) = key {
            if let Some(v1) = spellings::v1_interface(&value, r).filter(|_| r.chance(25)) {
                value = v1;
                text = format!("linux/config/v1/interface/{name}");
                used.push("v1 key");
            }
        }
        let v1 = !used.is_empty();
        if r.chance(20) {
            text = spellings::prefixed(&text, r);
            used.push("agent prefix");
        }
        if !v1 {
            if let Some(union) = value
                .get("namespace")
                .filter(|_| r.chance(25))
                .and_then(|ns| spellings::v1_union(ns, r))
            {
                value["namespace"] = union;
                used.push("v1 union");
            }
            if r.chance(30) {
                value = spellings::zeros_written(value, r);
                used.push("zeros");
            }
            if r.chance(30) {
                value = spellings::enums_as_numbers(value);
                used.push("enum numbers");
            }
        }
        if r.chance(10) {
            value = spellings::integers_quoted(value);
            used.push("quoted integers");
        }
        if r.chance(30) {
            value = spellings::camel_case(value);
            used.push("camelCase");
        }
        for what in used {
            self.exercised(format!("intake spelling {what}"));
        }
        (text, value)
    }

    /// After a value was accepted as `item`: its JSON form must read back as the same item,
    /// keyed or not, and its key must too; now and then a broken variant of `value` is sent
    /// first, and must be refused naming the field that was broken.
    pub(super) fn check_intake(&mut self, key: &ItemKey, value: &Value, item: &Item) {
        let text = key.to_string();
        if text.parse::<ItemKey>().as_ref() != Ok(key) {
            self.intake_errors
                .push(format!("key '{text}' does not read back"));
        }
        if let ItemKey::Interface(name) = key {
            let v1 = format!("/vnf-agent/sim-agent/linux/config/v1/interface/{name}");
            if v1.parse::<ItemKey>().as_ref() != Ok(key) {
                self.intake_errors
                    .push(format!("v1 key '{v1}' is not an alias of '{text}'"));
            }
        }
        let json = item.to_json();
        match Item::decode(&text, &json) {
            Ok(back) if back == *item => {}
            other => self.intake_errors.push(format!(
                "{text}: its JSON form {json} reads back as {other:?}"
            )),
        }
        match Item::decode_unkeyed(&json) {
            Ok(back) if back == *item => {}
            other => self.intake_errors.push(format!(
                "{text}: its JSON form {json} read without its key gives {other:?}"
            )),
        }
        if self.intake_rng.chance(30) {
            self.send_broken(key, value);
        }
    }

    /// A broken variant of an accepted value, which must be refused on the field it breaks.
    fn send_broken(&mut self, key: &ItemKey, value: &Value) {
        let text = key.to_string();
        let mut table: Vec<&Breakage> = match key {
            ItemKey::Interface(_) => INTERFACE_BREAKAGES.iter().collect(),
            ItemKey::Route { .. } => ROUTE_BREAKAGES.iter().collect(),
            ItemKey::Arp { .. } => ARP_BREAKAGES.iter().collect(),
            ItemKey::RuleChain(_) => RULE_CHAIN_BREAKAGES.iter().collect(),
            ItemKey::Fdb { .. } => FDB_BREAKAGES.iter().collect(),
            ItemKey::PolicyRule(_) => POLICY_RULE_BREAKAGES.iter().collect(),
        };
        if value["type"] == json!("VETH") {
            table.extend(VETH_BREAKAGES);
        }
        let which = self.intake_rng.below(table.len() as u64 + 3) as usize;
        let (broken, want, under) = match which.checked_sub(table.len()) {
            None => {
                let mut broken = value.clone();
                // Each breakage is of one field of a route of one path: a multipath route's
                // paths would be refused first.
                if let (ItemKey::Route { .. }, Some(o)) = (key, broken.as_object_mut()) {
                    o.remove("next_hops");
                }
                (table[which].apply)(&mut broken);
                (broken, table[which].field, text.clone())
            }
            // The value under another item's key, or under a key that is no key.
            Some(0) => (value.clone(), "key", format!("{text}x")),
            Some(1) => {
                let bad = BAD_KEYS[self.intake_rng.below(BAD_KEYS.len() as u64) as usize];
                (value.clone(), "key", bad.to_string())
            }
            // A value that is no item at all, read without a key.
            Some(_) => {
                let none = if self.intake_rng.chance(50) {
                    json!([])
                } else {
                    json!({"metric": 1})
                };
                return match Item::decode_unkeyed(&none) {
                    Err(e) if e.field == "value" => self.exercised("intake refused value".into()),
                    other => self
                        .intake_errors
                        .push(format!("{none} read without a key gave {other:?}")),
                };
            }
        };
        match Item::decode(&under, &broken) {
            Err(e) if e.field == want && !e.reason.is_empty() => {
                self.exercised(format!("intake refused {want}"));
            }
            other => self.intake_errors.push(format!(
                "{under} = {broken} should be refused on '{want}', got {other:?}"
            )),
        }
    }

    /// Scopes the workload never asks for, and a borrowed interface, still read back as
    /// themselves: what `check_intake` proves for the workload's own values.
    pub(super) fn check_other_shapes(&mut self) {
        let shapes = [
            (
                "config/linux/l3/v2/route/10.9.0.0/16/d0",
                json!({"outgoing_interface": "d0", "dst_network": "10.9.0.0/16", "scope": "SITE"}),
            ),
            (
                "config/linux/l3/v2/route/10.9.0.0/16/d0",
                json!({"outgoing_interface": "d0", "dst_network": "10.9.0.0/16", "scope": "HOST"}),
            ),
            (
                "config/linux/l3/v2/route/10.9.0.0/16/d0",
                json!({"outgoing_interface": "d0", "dst_network": "10.9.0.0/16", "scope": "UNDEFINED", "gw_addr": "10.9.0.1"}),
            ),
            (
                "config/linux/interfaces/v2/interface/e0",
                json!({"name": "e0", "type": "EXISTING", "host_if_name": "eth9", "enabled": true}),
            ),
            (
                "config/linux/interfaces/v2/interface/t0",
                json!({"name": "t0", "type": "DUMMY", "namespace": {"type": "FD", "reference": "/proc/501/task/502/ns/net"}}),
            ),
        ];
        for (key, value) in shapes {
            match Item::decode(key, &value) {
                Ok(item) => {
                    let key: ItemKey = key.parse().expect("literal key");
                    self.check_intake(&key, &value, &item);
                    if let Item::Route(r) = &item {
                        self.exercised(format!("intake scope {}", r.scope.rtm_scope()));
                    }
                }
                Err(e) => self
                    .intake_errors
                    .push(format!("{key} = {value} refused: {e}")),
            }
        }
    }
}

/// The interface made one of `kind` with no link settings (the `link` choice) and no bridge to
/// be a port of, so that a setting put on it next is the one thing wrong.
fn as_type(v: &mut Value, kind: &str) {
    if let Some(o) = v.as_object_mut() {
        for field in [
            "tap",
            "veth",
            "vrf_dev",
            "bridge",
            "bridge_master_interface",
            "macvlan",
            "vxlan",
        ] {
            o.remove(field);
        }
    }
    v["type"] = json!(kind);
}
