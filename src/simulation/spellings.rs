//! The spellings vpp-agent's protobuf-JSON allows beyond the one the workload writes: field
//! names in lowerCamelCase, enum values as numbers, unset fields written as their zero values,
//! integers quoted, the v1 namespace union, and v1 keys (with or without vpp-agent's
//! `/vnf-agent/<label>/` prefix). Each is a pure rewrite of a value (or key) that must decode
//! to the same item; [`World::respell`](super::World) picks among them with the intake's own
//! random stream, so none of this changes the trace.

use serde_json::{json, Map, Value};

use super::rng::Rng;

const INTERFACE_TYPES: &[(&str, i64)] = &[
    ("UNDEFINED", 0),
    ("VETH", 1),
    ("TAP_TO_VPP", 2),
    ("LOOPBACK", 3),
    ("EXISTING", 4),
    ("VRF_DEVICE", 5),
    ("DUMMY", 6),
    ("BRIDGE", 101),
    ("TAP", 102),
    ("MACVLAN", 103),
    ("VXLAN", 104),
];
const NAMESPACE_TYPES: &[(&str, i64)] = &[
    ("UNDEFINED", 0),
    ("NSID", 1),
    ("PID", 2),
    ("FD", 3),
    ("MICROSERVICE", 4),
];
const SCOPES: &[(&str, i64)] = &[
    ("UNDEFINED", 0),
    ("GLOBAL", 1),
    ("SITE", 2),
    ("LINK", 3),
    ("HOST", 4),
];
const CHECKSUM: &[(&str, i64)] = &[
    ("CHKSM_OFFLOAD_DEFAULT", 0),
    ("CHKSM_OFFLOAD_ENABLED", 1),
    ("CHKSM_OFFLOAD_DISABLED", 2),
];
/// A policy rule's enums (`family`, `action`).
const POLICY_RULE_ENUMS: &[(&str, &[(&str, i64)])] = &[
    ("family", &[("IPV4", 0), ("IPV6", 1)]),
    (
        "action",
        &[
            ("LOOKUP", 0),
            ("BLACKHOLE", 1),
            ("UNREACHABLE", 2),
            ("PROHIBIT", 3),
        ],
    ),
];

const CHAIN_ENUMS: &[(&str, &[(&str, i64)])] = &[
    ("protocol", &[("IPV4", 0), ("IPV6", 1)]),
    (
        "table",
        &[
            ("FILTER", 0),
            ("NAT", 1),
            ("MANGLE", 2),
            ("RAW", 3),
            ("SECURITY", 4),
        ],
    ),
    (
        "chain_type",
        &[
            ("CUSTOM", 0),
            ("INPUT", 1),
            ("OUTPUT", 2),
            ("FORWARD", 3),
            ("PREROUTING", 4),
            ("POSTROUTING", 5),
        ],
    ),
    (
        "default_policy",
        &[
            ("NONE", 0),
            ("ACCEPT", 1),
            ("DROP", 2),
            ("QUEUE", 3),
            ("RETURN", 4),
        ],
    ),
];

/// lowerCamelCase of a proto field name, as protobuf-JSON writes it.
pub(super) fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        match (c, upper) {
            ('_', _) => upper = true,
            (c, true) => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            (c, false) => out.push(c),
        }
    }
    out
}

/// Every field name of `value`, at every depth, in lowerCamelCase.
pub(super) fn camel_case(value: Value) -> Value {
    match value {
        Value::Object(obj) => Value::Object(
            obj.into_iter()
                .map(|(k, v)| (camel(&k), camel_case(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

fn number_of(table: &[(&str, i64)], v: &mut Value) {
    if let Some(n) = v
        .as_str()
        .and_then(|s| table.iter().find(|(name, _)| *name == s))
    {
        *v = json!(n.1);
    }
}

/// Enum values (interface type, namespace type, route scope, checksum offloading) as numbers.
pub(super) fn enums_as_numbers(mut value: Value) -> Value {
    if let Some(obj) = value.as_object_mut() {
        if let Some(t) = obj.get_mut("type") {
            number_of(INTERFACE_TYPES, t);
        }
        if let Some(t) = obj.get_mut("scope") {
            number_of(SCOPES, t);
        }
        for (field, table) in CHAIN_ENUMS.iter().chain(POLICY_RULE_ENUMS) {
            if let Some(t) = obj.get_mut(*field) {
                number_of(table, t);
            }
        }
        if let Some(t) = obj.get_mut("namespace").and_then(|n| n.get_mut("type")) {
            number_of(NAMESPACE_TYPES, t);
        }
        if let Some(veth) = obj.get_mut("veth").and_then(Value::as_object_mut) {
            for side in ["rx_checksum_offloading", "tx_checksum_offloading"] {
                if let Some(c) = veth.get_mut(side) {
                    number_of(CHECKSUM, c);
                }
            }
        }
    }
    value
}

/// Every unset field of the model written as a zero value, as `agentctl generate` does; the
/// zeros of settings nsagent does not support yet (VRF) included.
pub(super) fn zeros_written(mut value: Value, rng: &mut Rng) -> Value {
    // A policy rule may name a destination and a table too; only a rule has a priority. A
    // route may name a table too; only a route has a destination.
    let is_rule = value.get("priority").is_some();
    let is_route = !is_rule && value.get("dst_network").is_some();
    let is_chain = !is_route
        && !is_rule
        && [
            "table",
            "chain_type",
            "chain_name",
            "rules",
            "default_policy",
        ]
        .iter()
        .any(|f| value.get(*f).is_some());
    let is_interface = value.get("name").is_some() && !is_chain && !is_rule;
    let zeros: &[(&str, Value)] = if is_rule {
        &[
            ("family", json!("IPV4")),
            ("src_network", json!("")),
            ("dst_network", json!("")),
            ("incoming_interface", json!("")),
            ("outgoing_interface", json!("")),
            ("fwmark", json!(0)),
            ("fwmask", json!(0)),
            ("table", json!(0)),
            ("action", json!("LOOKUP")),
            ("namespace", Value::Null),
        ]
    } else if is_chain {
        &[
            ("interfaces", json!([])),
            ("protocol", json!("IPV4")),
            ("chain_name", json!("")),
            ("default_policy", json!("NONE")),
            ("rules", json!([])),
            ("namespace", Value::Null),
        ]
    } else if is_interface {
        &[
            ("host_if_name", json!("")),
            ("enabled", json!(false)),
            ("ip_addresses", json!([])),
            ("phys_address", json!("")),
            ("mtu", json!(0)),
            ("link_only", json!(false)),
            ("vrf_master_interface", json!("")),
            ("bridge_master_interface", json!("")),
            ("namespace", Value::Null),
        ]
    } else if is_route {
        &[
            ("gw_addr", json!("")),
            ("metric", json!(0)),
            ("scope", json!("UNDEFINED")),
            ("table", json!(0)),
            ("type", json!("UNICAST")),
            ("src_addr", json!("")),
            ("mtu", json!(0)),
        ]
    } else {
        &[]
    };
    let Some(obj) = value.as_object_mut() else {
        return value;
    };
    for (field, zero) in zeros {
        // null is protobuf-JSON's unset for any field; the typed zero is what generators write.
        let zero = if rng.chance(20) {
            Value::Null
        } else {
            zero.clone()
        };
        obj.entry(*field).or_insert(zero);
    }
    if is_interface {
        if obj.get("veth").is_none() && obj.get("bridge").is_none() && rng.chance(50) {
            obj.insert("vrf_dev".into(), json!({"routing_table": 0}));
        }
        if let Some(veth) = obj.get_mut("veth").and_then(Value::as_object_mut) {
            veth.entry("rx_checksum_offloading")
                .or_insert(json!("CHKSM_OFFLOAD_DEFAULT"));
            veth.entry("tx_checksum_offloading").or_insert(json!(0));
        }
    }
    value
}

/// Integers (MTU, metric) quoted, as protobuf-JSON lets a parser meet them.
pub(super) fn integers_quoted(mut value: Value) -> Value {
    for field in ["mtu", "metric", "priority", "fwmark"] {
        if let Some(n) = value.get(field).and_then(Value::as_u64) {
            value[field] = json!(n.to_string());
        }
    }
    value
}

/// A v2 namespace reference as v1's union: the type, then the reference in its own field; the
/// union's other fields written as zeros now and then, and the type as its v1 number.
pub(super) fn v1_union(ns: &Value, rng: &mut Rng) -> Option<Value> {
    let reference = ns.get("reference")?.as_str()?;
    let (kind, number, field, value) = match ns.get("type")?.as_str()? {
        "NSID" => ("NAMED_NS", 2, "name", json!(reference)),
        "PID" => (
            "PID_REF_NS",
            0,
            "pid",
            json!(reference.parse::<u32>().ok()?),
        ),
        "FD" => ("FILE_REF_NS", 3, "filepath", json!(reference)),
        "MICROSERVICE" => ("MICROSERVICE_REF_NS", 1, "microservice", json!(reference)),
        _ => return None,
    };
    let mut union = if rng.chance(50) {
        json!({"type": number, "pid": 0, "microservice": "", "name": "", "filepath": ""})
    } else {
        json!({"type": kind})
    };
    union[field] = value;
    Some(union)
}

/// A v2 interface value as v1's model, if v1 can say it: only a VETH (v1's zero type, so left
/// out now and then), and none of the fields v1 did not have.
pub(super) fn v1_interface(value: &Value, rng: &mut Rng) -> Option<Value> {
    let mut v = value.clone();
    let obj = v.as_object_mut()?;
    let newer = [
        "link_only",
        "linkOnly",
        "vrf_master_interface",
        "vrfMasterInterface",
        "bridge_master_interface",
        "bridgeMasterInterface",
        "bridge",
    ];
    if obj.get("type") != Some(&json!("VETH")) || newer.iter().any(|k| obj.contains_key(*k)) {
        return None;
    }
    // v1's veth had its peer only: checksum offloading is not in its model.
    let offload_set = obj
        .get("veth")
        .and_then(Value::as_object)
        .is_some_and(|veth| {
            veth.iter()
                .any(|(k, v)| k.contains("checksum") && *v != json!("CHKSM_OFFLOAD_DEFAULT"))
        });
    if offload_set {
        return None;
    }
    if rng.chance(50) {
        obj.remove("type");
    }
    if let Some(veth) = obj.get_mut("veth").and_then(Value::as_object_mut) {
        veth.retain(|k, _| k == "peer_if_name");
    }
    if let Some(ns) = obj.get("namespace").cloned() {
        match v1_union(&ns, rng) {
            Some(union) => obj.insert("namespace".into(), union),
            // The default namespace, as v1 wrote it.
            None => obj.insert("namespace".into(), json!({"type": "NAMED_NS", "name": ""})),
        };
    }
    if rng.chance(30) {
        obj.insert("description".into(), json!("written by a v1 publisher"));
    }
    Some(v)
}

/// An interface's key in v1's form, or a v2 key, with vpp-agent's etcd prefix now and then.
pub(super) fn prefixed(key: &str, rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => format!("/vnf-agent/sim-agent/{key}"),
        1 => format!("vnf-agent/sim-agent/{key}"),
        _ => key.to_string(),
    }
}
