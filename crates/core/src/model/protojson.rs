//! The protobuf-JSON mapping of vpp-agent's Linux models, applied to every value before it is
//! read as a [`wire`](super::wire) shape, so that every intake path (request-reply, the KV
//! bucket, `nsagentctl put` with JSON or YAML) accepts exactly the same spellings.
//!
//! vpp-agent stores what its protobuf-JSON marshaller writes, and the mapping lets a parser meet
//! each value in more than one spelling. [`normalize`] turns every spelling into the one the
//! wire shapes read: proto field names, enum values by name, and a field written as its zero
//! value (`""`, `0`, `false`, `[]`, `null`, an enum's zero, a message holding only zeros) left
//! out, as proto3 cannot tell it from an unset one. It also keeps how the user wrote each field
//! ([`Spelling`]), so that an error found later, on the canonical form, still names the field
//! as written (`ipAddresses[1]`, not `ip_addresses[1]`).
//!
//! The v1 namespace union (`type` one of `PID_REF_NS`, `MICROSERVICE_REF_NS`, `NAMED_NS`,
//! `FILE_REF_NS`, the reference in `pid`, `microservice`, `name` or `filepath`) is turned into
//! the v2 form here too, with its fields remembered under the v2 names they became.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ValidationError;

mod schema;

use schema::*;

/// Which proto message a value must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Model {
    /// `ligato.linux.interfaces.Interface`.
    Interface,
    /// v1's `interfaces.LinuxInterfaces.Interface`, published under a v1 key.
    InterfaceV1,
    /// `ligato.linux.l3.Route`.
    Route,
    /// `ligato.linux.l3.ARPEntry`.
    Arp,
    /// nsagent's FDB entry (`fdb.rs`).
    Fdb,
    /// `ligato.linux.iptables.RuleChain`.
    RuleChain,
    /// nsagent's policy rule (`policy_rule.rs`).
    PolicyRule,
}

/// How the user wrote each field, by its canonical path (indices left out).
#[derive(Debug, Default)]
pub(super) struct Spelling {
    written: HashMap<String, String>,
    /// Whether the user wrote any field in lowerCamelCase: fields they did not write at all
    /// (a missing peer, say) are then named in that style too.
    camel: bool,
}

impl Spelling {
    /// `field` (a canonical path such as `veth.peer_if_name` or `ip_addresses[1]`) as the user
    /// wrote it. `key` and `value` name the key and the whole value, and stay as they are.
    pub(super) fn written(&self, field: &str) -> String {
        if field == "key" || field == "value" {
            return field.to_string();
        }
        let mut canonical = String::new();
        let mut out = String::new();
        for segment in field.split('.') {
            let (name, index) = segment
                .find('[')
                .map_or((segment, ""), |at| segment.split_at(at));
            if !canonical.is_empty() {
                canonical.push('.');
                out.push('.');
            }
            canonical.push_str(name);
            match self.written.get(&canonical) {
                Some(w) => out.push_str(w),
                None if self.camel => out.push_str(&camel(name)),
                None => out.push_str(name),
            }
            out.push_str(index);
        }
        out
    }

    /// Names an error found on the canonical form as the user wrote it.
    pub(super) fn rename(&self, e: ValidationError) -> ValidationError {
        ValidationError::new(self.written(&e.field), e.reason)
    }
}

/// protobuf-JSON's name of a field: lowerCamelCase of the proto name.
pub(super) fn camel(proto: &str) -> String {
    let mut out = String::with_capacity(proto.len());
    let mut upper = false;
    for c in proto.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether an object has the field `proto` in either spelling.
pub(super) fn has_field(obj: &Map<String, Value>, proto: &str) -> bool {
    obj.contains_key(proto) || obj.contains_key(&camel(proto))
}

/// The canonical form of `value` as a `model`, and how its fields were written. Errors name
/// the field as written.
pub(super) fn normalize(model: Model, value: &Value) -> Result<(Value, Spelling), ValidationError> {
    let fields = match model {
        Model::Interface => INTERFACE,
        Model::InterfaceV1 => INTERFACE_V1,
        Model::Route => ROUTE,
        Model::Arp => ARP,
        Model::Fdb => FDB,
        Model::RuleChain => RULE_CHAIN,
        Model::PolicyRule => POLICY_RULE,
    };
    let mut n = Normalizer {
        spelling: Spelling::default(),
        v1: model == Model::InterfaceV1,
    };
    let obj = value.as_object().ok_or_else(|| {
        ValidationError::new(
            "value",
            format!("invalid type: expected a JSON object, found {value}"),
        )
    })?;
    let mut out = n.message(fields, "", "", obj)?;
    if model == Model::InterfaceV1 {
        n.v1_to_v2(&mut out)?;
    }
    Ok((Value::Object(out), n.spelling))
}

struct Normalizer {
    spelling: Spelling,
    /// Read under a v1 key: a namespace's `type` alone is read with v1's numbers.
    v1: bool,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Normalizer {
    /// One message: each field found by either of its names, read by its kind, zeros left out.
    fn message(
        &mut self,
        fields: &'static [Field],
        canonical: &str,
        written: &str,
        obj: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ValidationError> {
        let mut out = Map::new();
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut link_set: Option<String> = None;
        for (key, value) in obj {
            let at = join(written, key);
            let field = fields
                .iter()
                .find(|f| key == f.name || *key == camel(f.name))
                .ok_or_else(|| {
                    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    ValidationError::new(
                        &at,
                        format!("unknown field; expected one of {}", names.join(", ")),
                    )
                })?;
            if let Some(other) = seen.insert(field.name, key) {
                return Err(ValidationError::new(
                    &at,
                    format!("given twice, also as '{other}'"),
                ));
            }
            if key != field.name {
                self.spelling.camel = true;
            }
            let path = join(canonical, field.name);
            self.spelling.written.insert(path.clone(), key.clone());
            let Some(v) = self.value(field.kind, &path, &at, value)? else {
                continue;
            };
            if field.oneof {
                if let Some(first) = &link_set {
                    return Err(ValidationError::new(
                        &at,
                        format!("'{first}' is already set; veth, tap, vrf_dev, bridge, macvlan and vxlan are one choice (the link), at most one may be set"),
                    ));
                }
                link_set = Some(key.clone());
            }
            out.insert(field.name.to_string(), v);
        }
        Ok(out)
    }

    /// One field's value in its canonical form, `None` for a zero value.
    fn value(
        &mut self,
        kind: Kind,
        canonical: &str,
        at: &str,
        value: &Value,
    ) -> Result<Option<Value>, ValidationError> {
        if value.is_null() {
            return Ok(None);
        }
        let wrong = |what: &str| {
            ValidationError::new(at, format!("invalid type: expected {what}, found {value}"))
        };
        Ok(match kind {
            Kind::Str => match value {
                Value::String(s) if s.is_empty() => None,
                Value::String(_) => Some(value.clone()),
                _ => return Err(wrong("a string")),
            },
            Kind::Bool => match value {
                Value::Bool(b) => b.then_some(Value::Bool(true)),
                _ => return Err(wrong("true or false")),
            },
            Kind::U32 => match whole_number(value) {
                Some(0) => None,
                Some(n) => Some(Value::from(n)),
                None => return Err(wrong("a number (a whole number from 0 to 4294967295)")),
            },
            Kind::Strings => {
                let list = value.as_array().ok_or_else(|| wrong("a list of strings"))?;
                for (i, item) in list.iter().enumerate() {
                    if !item.is_string() {
                        return Err(ValidationError::new(
                            format!("{at}[{i}]"),
                            format!("invalid type: expected a string, found {item}"),
                        ));
                    }
                }
                (!list.is_empty()).then(|| value.clone())
            }
            Kind::Enum(values) => match enum_name(values, at, value)? {
                (_, 0) => None,
                (name, _) => Some(Value::from(name)),
            },
            Kind::Msg(fields) => {
                let obj = value.as_object().ok_or_else(|| wrong("an object"))?;
                let out = self.message(fields, canonical, at, obj)?;
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Kind::Msgs(fields) => {
                let list = value.as_array().ok_or_else(|| wrong("a list of objects"))?;
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    let at = format!("{at}[{i}]");
                    let obj = item.as_object().ok_or_else(|| {
                        ValidationError::new(
                            &at,
                            format!("invalid type: expected an object, found {item}"),
                        )
                    })?;
                    out.push(Value::Object(self.message(fields, canonical, &at, obj)?));
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            Kind::Namespace => {
                let obj = value.as_object().ok_or_else(|| wrong("an object"))?;
                self.namespace(canonical, at, obj)?
            }
        })
    }

    /// A namespace in either form, as the v2 form (`type`, `reference`), `None` for the default.
    fn namespace(
        &mut self,
        canonical: &str,
        at: &str,
        obj: &Map<String, Value>,
    ) -> Result<Option<Value>, ValidationError> {
        for key in obj.keys() {
            if !NAMESPACE_FIELDS.contains(&key.as_str()) {
                return Err(ValidationError::new(
                    join(at, key),
                    format!(
                        "unknown field; expected one of {}",
                        NAMESPACE_FIELDS.join(", ")
                    ),
                ));
            }
        }
        let v1_field = ["pid", "microservice", "name", "filepath"]
            .into_iter()
            .find(|k| obj.contains_key(*k));
        let v1_type = obj
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| NAMESPACE_TYPE_V1.iter().any(|(n, _)| *n == t));
        let v1 = v1_field.is_some() || v1_type || (self.v1 && !obj.contains_key("reference"));
        if !v1 {
            let out = self.message(NAMESPACE_V2, canonical, at, obj)?;
            return Ok((!out.is_empty()).then_some(Value::Object(out)));
        }
        if obj.contains_key("reference") {
            return Err(ValidationError::new(
                join(at, "reference"),
                format!(
                    "belongs to the v2 namespace (type NSID, PID, FD, MICROSERVICE), but {} is of the v1 union (type PID_REF_NS, MICROSERVICE_REF_NS, NAMED_NS, FILE_REF_NS; the reference in pid, microservice, name or filepath); write one form",
                    v1_field.map_or("the type".to_string(), |k| format!("'{k}'"))
                ),
            ));
        }
        self.v1_namespace(canonical, at, obj)
    }

    /// v1's union: the type says which field holds the reference; a zero reference of PID_REF_NS
    /// or NAMED_NS is the default namespace (v1 wrote the default as `name: ""`).
    fn v1_namespace(
        &mut self,
        canonical: &str,
        at: &str,
        obj: &Map<String, Value>,
    ) -> Result<Option<Value>, ValidationError> {
        let mut out = self.message(NAMESPACE_V1, canonical, at, obj)?;
        let kind = out
            .remove("type")
            .and_then(|t| t.as_str().map(str::to_string))
            .unwrap_or_else(|| "PID_REF_NS".to_string());
        let (field, v2_type) = match kind.as_str() {
            "MICROSERVICE_REF_NS" => ("microservice", "MICROSERVICE"),
            "NAMED_NS" => ("name", "NSID"),
            "FILE_REF_NS" => ("filepath", "FD"),
            _ => ("pid", "PID"),
        };
        let reference = out.remove(field);
        if let Some(other) = out.keys().next() {
            return Err(ValidationError::new(
                join(at, other),
                format!("is set, but the namespace's type is {kind}, whose reference is '{field}'"),
            ));
        }
        let written_type = self.spelling.written(&join(canonical, "type"));
        self.spelling
            .written
            .insert(join(canonical, "reference"), field.to_string());
        self.spelling
            .written
            .insert(join(canonical, "type"), written_type);
        let reference = match (reference, field) {
            (None, "pid" | "name") => return Ok(None),
            (None, _) => String::new(),
            (Some(Value::String(s)), _) => s,
            (Some(other), _) => other.to_string(),
        };
        let mut v2 = Map::new();
        v2.insert("type".into(), v2_type.into());
        v2.insert("reference".into(), reference.into());
        Ok(Some(Value::Object(v2)))
    }

    /// v1's interface in v2's fields: its type's zero is VETH, its description configures
    /// nothing, and its TAP is not supported yet.
    fn v1_to_v2(&mut self, out: &mut Map<String, Value>) -> Result<(), ValidationError> {
        out.remove("description");
        match out.get("type").and_then(Value::as_str) {
            None => {
                out.insert("type".into(), "VETH".into());
            }
            Some("AUTO_TAP") => {
                return Err(ValidationError::new(
                    self.spelling.written("type"),
                    "AUTO_TAP is not supported yet; supported: VETH (v1), or VETH, LOOPBACK, EXISTING, DUMMY under a v2 key",
                ))
            }
            Some(_) => {}
        }
        if out.contains_key("tap") {
            return Err(ValidationError::new(
                self.spelling.written("tap"),
                "TAP settings are not supported yet",
            ));
        }
        Ok(())
    }
}

/// A protobuf-JSON unsigned 32-bit number: a JSON number with no fraction, or a string of
/// decimal digits (the mapping lets integers be quoted).
fn whole_number(value: &Value) -> Option<u32> {
    let n = match value {
        Value::Number(n) => match n.as_u64() {
            Some(u) => u,
            None => {
                let f = n.as_f64()?;
                if f.fract() != 0.0 || f < 0.0 || f > u32::MAX as f64 {
                    return None;
                }
                f as u64
            }
        },
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    u32::try_from(n).ok()
}

/// An enum value by name or by number, as its name and number.
fn enum_name(
    values: &'static [(&'static str, i64)],
    at: &str,
    value: &Value,
) -> Result<(&'static str, i64), ValidationError> {
    let found = match value {
        Value::String(s) => values.iter().find(|(n, _)| n == s),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| values.iter().find(|(_, v)| *v == n)),
        _ => None,
    };
    found.copied().ok_or_else(|| {
        let list: Vec<String> = values.iter().map(|(n, v)| format!("{n} ({v})")).collect();
        ValidationError::new(at, format!("{value} is not one of {}", list.join(", ")))
    })
}
