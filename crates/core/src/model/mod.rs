//! The configuration model: what users publish, in the JSON shape of vpp-agent's Linux model
//! (`ligato.linux.interfaces.Interface`, `ligato.linux.l3.ARPEntry`, `ligato.linux.l3.Route`),
//! so that files written for vpp-agent load unchanged, and nsagent's extensions in that style.
//!
//! Values are decoded with [`Item::decode`], which checks both the JSON shape and the meaning
//! (names, addresses, references) and reports the first problem as a [`ValidationError`] naming
//! the field. A decoded [`Item`] is therefore always valid; the core never sees bad input.

mod arp;
mod bridge;
mod fdb;
mod interface;
mod key;
mod macvlan;
mod policy_rule;
mod protojson;
mod route;
mod rulechain;
mod tap;
mod validation;
mod vxlan;
pub(crate) mod wire;

pub(crate) use validation::is_invisible;

use serde::{Deserialize, Serialize};

pub use arp::{ArpEntry, MacAddr};
pub use bridge::{BridgeSettings, DEFAULT_AGEING_TIME_SECONDS, MAX_AGEING_TIME_SECONDS};
pub use fdb::FdbEntry;
pub use interface::{ChecksumOffload, Interface, InterfaceType};
pub use key::ItemKey;
pub use macvlan::{MacvlanMode, MacvlanSettings};
pub use policy_rule::{PolicyRule, RuleAction};

use key::KeyVersion;
use protojson::Model;
pub use route::{NextHop, Route, RouteScope, RouteType};
pub(crate) use route::{LOCAL_TABLE, MAIN_TABLE};
pub use rulechain::{Builtin, Chain, Family, Policy, RuleChain, Table, OWN_CHAIN_PREFIX};
pub use tap::TapSettings;
pub use vxlan::{VxlanSettings, VxlanTunnel, VXLAN_DEFAULT_PORT, VXLAN_MAX_VNI};

/// A rejected value: which field, and why. Shown to publishers as `{"field", "reason"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// One validated item of desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Item {
    Interface(Interface),
    Arp(ArpEntry),
    Route(Route),
    RuleChain(RuleChain),
    /// A VXLAN's FDB entry. (Last, so that logged items keep their encoding.)
    Fdb(FdbEntry),
    /// A routing policy database entry. (After FDB entries, for the same reason.)
    PolicyRule(PolicyRule),
}

impl Item {
    /// The key this item is stored under.
    pub fn key(&self) -> ItemKey {
        match self {
            Item::Interface(i) => ItemKey::Interface(i.name.clone()),
            Item::Arp(a) => ItemKey::Arp {
                interface: a.interface.clone(),
                ip: a.ip_address,
            },
            Item::Route(r) => ItemKey::Route {
                dst: r.dst_network,
                interface: r.outgoing_interface.clone(),
                table: r.table,
            },
            Item::RuleChain(c) => ItemKey::RuleChain(c.name.clone()),
            Item::PolicyRule(r) => ItemKey::PolicyRule(r.name.clone()),
            Item::Fdb(f) => ItemKey::Fdb {
                interface: f.interface.clone(),
                mac: f.hw_address,
                remote: f.remote_ip,
            },
        }
    }

    /// Decodes and validates the JSON value published under `key`. The key decides which model
    /// the value must follow, and the value must name the same item as the key. This and
    /// [`Item::decode_unkeyed`] are the one way in for every intake path: both read the value
    /// with the protobuf-JSON mapping (`protojson.rs`), so every path accepts the same spellings.
    pub fn decode(key: &str, value: &serde_json::Value) -> Result<Item, ValidationError> {
        let (parsed_key, version) = key::parse_versioned(key)?;
        let model = match (&parsed_key, version) {
            (ItemKey::Interface(_), KeyVersion::V1) => Model::InterfaceV1,
            (ItemKey::Interface(_), KeyVersion::V2) => Model::Interface,
            (ItemKey::Arp { .. }, _) => Model::Arp,
            (ItemKey::Route { .. }, _) => Model::Route,
            (ItemKey::RuleChain(_), _) => Model::RuleChain,
            (ItemKey::Fdb { .. }, _) => Model::Fdb,
            (ItemKey::PolicyRule(_), _) => Model::PolicyRule,
        };
        let item = decode_as(model, value)?;
        let derived = item.key();
        if derived != parsed_key {
            return Err(ValidationError::new(
                "key",
                format!("key '{key}' does not match the value, which names '{derived}'"),
            ));
        }
        Ok(item)
    }

    /// Decodes a value whose key is derived from the value itself (files given to `nsagentctl
    /// put`). The kind of item is guessed from the fields present (in either spelling), as
    /// vpp-agent's files carry none.
    pub fn decode_unkeyed(value: &serde_json::Value) -> Result<Item, ValidationError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ValidationError::new("value", "expected a JSON object"))?;
        let has = |name: &str| protojson::has_field(obj, name);
        // A rule chain's zero enums (FILTER, CUSTOM) are left out of its JSON form, but a CUSTOM
        // chain has a name and any other has a chain_type.
        let chain_fields = [
            "rules",
            "chain_type",
            "chain_name",
            "table",
            "default_policy",
        ];
        // A policy rule may name what a route or chain does, but only a rule has a priority
        // (which it must have); a route may name a table too, but only a route has these.
        let model = if has("priority") || has("action") || has("fwmark") {
            Model::PolicyRule
        } else if has("outgoing_interface") || has("dst_network") {
            Model::Route
        } else if chain_fields.into_iter().any(has) {
            Model::RuleChain
        } else if has("remote_ip") && !has("name") {
            Model::Fdb
        } else if has("hw_address") || has("ip_address") {
            Model::Arp
        } else if has("name") {
            Model::Interface
        } else {
            return Err(ValidationError::new(
                "value",
                "cannot tell the item kind: expected an interface (name), ARP entry (interface, ip_address, hw_address), route (outgoing_interface, dst_network), rule chain (rules, table, chain_type), FDB entry (interface, hw_address, remote_ip) or policy rule (priority)",
            ));
        };
        decode_as(model, value)
    }

    /// The JSON form of this item, in vpp-agent's shape.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Item::Interface(i) => serde_json::to_value(wire::Interface::from(i)),
            Item::Arp(a) => serde_json::to_value(wire::ArpEntry::from(a)),
            Item::Route(r) => serde_json::to_value(wire::Route::from(r)),
            Item::RuleChain(c) => serde_json::to_value(wire::RuleChain::from(c)),
            Item::Fdb(f) => serde_json::to_value(wire::FdbEntry::from(f)),
            Item::PolicyRule(r) => serde_json::to_value(wire::PolicyRule::from(r)),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Reads `value` as `model`: the protobuf-JSON mapping first, then the wire shape, then the
/// checks of meaning; every error names the field as the user wrote it.
fn decode_as(model: Model, value: &serde_json::Value) -> Result<Item, ValidationError> {
    let (canonical, spelling) = protojson::normalize(model, value)?;
    let checked =
        match model {
            Model::Interface | Model::InterfaceV1 => wire_from_value::<wire::Interface>(&canonical)
                .and_then(|w| w.validate().map(Item::Interface)),
            Model::Arp => wire_from_value::<wire::ArpEntry>(&canonical)
                .and_then(|w| w.validate().map(Item::Arp)),
            Model::Route => wire_from_value::<wire::Route>(&canonical)
                .and_then(|w| w.validate().map(Item::Route)),
            Model::RuleChain => wire_from_value::<wire::RuleChain>(&canonical)
                .and_then(|w| w.validate().map(Item::RuleChain)),
            Model::Fdb => wire_from_value::<wire::FdbEntry>(&canonical)
                .and_then(|w| w.validate().map(Item::Fdb)),
            Model::PolicyRule => wire_from_value::<wire::PolicyRule>(&canonical)
                .and_then(|w| w.validate().map(Item::PolicyRule)),
        };
    checked.map_err(|e| spelling.rename(e))
}

/// Reads a canonical value (proto names, enums by name) as its wire shape. The mapping has
/// already checked every field's JSON type, so this fails only if the two disagree; the error
/// still names the field.
fn wire_from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = friendly_reason(&e.inner().to_string());
        let field = if path == "." || path.is_empty() {
            "value".to_string()
        } else {
            path
        };
        ValidationError::new(field, msg)
    })
}

/// Serde names the Rust type it wanted; publishers write JSON, so say what JSON it must be.
fn friendly_reason(msg: &str) -> String {
    msg.replace(
        "expected u32",
        "expected a number (a whole number from 0 to 4294967295)",
    )
}
