//! Item keys: where an item is published, and so its identity.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{MacAddr, ValidationError};

/// Key prefix of interface items.
const INTERFACE_PREFIX: &str = "config/linux/interfaces/v2/interface/";
/// Key prefix of ARP (permanent neighbour) items.
const ARP_PREFIX: &str = "config/linux/l3/v2/arp/";
/// Key prefix of route items.
const ROUTE_PREFIX: &str = "config/linux/l3/v2/route/";

/// What follows a route key's interface when the route is asked for in a table of its own.
const ROUTE_TABLE_SEGMENT: &str = "/table/";

/// Key prefix of FDB items (nsagent's extension).
const FDB_PREFIX: &str = "config/linux/l2/v2/fdb/";

/// Key prefix of policy rule items (nsagent's extension).
const POLICY_RULE_PREFIX: &str = "config/linux/l3/v2/policy-rule/";

/// Key prefix of iptables rule chain items.
const RULE_CHAIN_PREFIX: &str = "config/linux/iptables/v2/rulechain/";

/// vpp-agent v1's key prefix of interface items, an alias of [`INTERFACE_PREFIX`]: a v1 item
/// and its v2 twin are one item.
const INTERFACE_V1_PREFIX: &str = "linux/config/v1/interface/";
/// The etcd prefix vpp-agent puts before every key, `/vnf-agent/<label>/`.
const AGENT_PREFIX: &str = "vnf-agent/";

/// Which of vpp-agent's model versions a key is of; the value under it follows that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyVersion {
    V1,
    V2,
}

/// Identity of an item: what its key says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ItemKey {
    Interface(String),
    Arp {
        interface: String,
        ip: IpAddr,
    },
    Route {
        dst: IpNet,
        interface: String,
        /// The table the route is asked for in, when the value names one (`/table/<n>` after
        /// the interface); `None`: main, or the interface's VRF's.
        #[serde(
            default,
            deserialize_with = "crate::added_fields::absent_in_version_1",
            skip_serializing_if = "crate::added_fields::is_default"
        )]
        table: Option<u32>,
    },
    RuleChain(String),
    /// A VXLAN's FDB entry: all of it is its identity. (Last, so that logged keys keep their
    /// encoding.)
    Fdb {
        interface: String,
        mac: MacAddr,
        remote: IpAddr,
    },
    /// A policy rule, by its logical name. (After FDB entries, for the same reason.)
    PolicyRule(String),
}

impl ItemKey {
    /// The logical interface name this item is about or depends on; for a rule chain or a
    /// policy rule, which may depend on several, its own name.
    pub fn interface(&self) -> &str {
        match self {
            ItemKey::Interface(name) | ItemKey::RuleChain(name) | ItemKey::PolicyRule(name) => name,
            ItemKey::Arp { interface, .. }
            | ItemKey::Route { interface, .. }
            | ItemKey::Fdb { interface, .. } => interface,
        }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemKey::Interface(name) => write!(f, "{INTERFACE_PREFIX}{name}"),
            ItemKey::Arp { interface, ip } => write!(f, "{ARP_PREFIX}{interface}/{ip}"),
            ItemKey::Route {
                dst,
                interface,
                table,
            } => {
                write!(f, "{ROUTE_PREFIX}{dst}/{interface}")?;
                match table {
                    Some(t) => write!(f, "{ROUTE_TABLE_SEGMENT}{t}"),
                    None => Ok(()),
                }
            }
            ItemKey::RuleChain(name) => write!(f, "{RULE_CHAIN_PREFIX}{name}"),
            ItemKey::Fdb {
                interface,
                mac,
                remote,
            } => write!(f, "{FDB_PREFIX}{interface}/{mac}/{remote}"),
            ItemKey::PolicyRule(name) => write!(f, "{POLICY_RULE_PREFIX}{name}"),
        }
    }
}

impl FromStr for ItemKey {
    type Err = ValidationError;
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        parse_versioned(key).map(|(k, _)| k)
    }
}

/// Removes vpp-agent's `/vnf-agent/<label>/` prefix, if there is one. Any label is taken: the
/// bucket or subject a key arrives on already says which agent it is for.
fn strip_agent_prefix(key: &str) -> Result<&str, ValidationError> {
    let Some(rest) = key.trim_start_matches('/').strip_prefix(AGENT_PREFIX) else {
        return Ok(key);
    };
    match rest.split_once('/') {
        Some((label, rest)) if !label.is_empty() => Ok(rest),
        _ => Err(ValidationError::new(
            "key",
            format!("'{key}' is not /vnf-agent/<label>/<key>"),
        )),
    }
}

/// The item a key names, and the model version of the value under it.
pub(super) fn parse_versioned(full: &str) -> Result<(ItemKey, KeyVersion), ValidationError> {
    let key = strip_agent_prefix(full)?;
    if let Some(name) = key.strip_prefix(INTERFACE_V1_PREFIX) {
        check_logical_name("key", name)?;
        return Ok((ItemKey::Interface(name.to_string()), KeyVersion::V1));
    }
    parse_v2(key).map(|k| (k, KeyVersion::V2))
}

fn parse_v2(key: &str) -> Result<ItemKey, ValidationError> {
    let bad = |reason: String| ValidationError::new("key", reason);
    if let Some(name) = key.strip_prefix(INTERFACE_PREFIX) {
        check_logical_name("key", name)?;
        return Ok(ItemKey::Interface(name.to_string()));
    }
    if let Some(name) = key.strip_prefix(RULE_CHAIN_PREFIX) {
        check_logical_name("key", name)?;
        return Ok(ItemKey::RuleChain(name.to_string()));
    }
    if let Some(name) = key.strip_prefix(POLICY_RULE_PREFIX) {
        check_logical_name("key", name)?;
        return Ok(ItemKey::PolicyRule(name.to_string()));
    }
    if let Some(rest) = key.strip_prefix(ARP_PREFIX) {
        let (interface, ip) = rest
            .split_once('/')
            .ok_or_else(|| bad(format!("'{key}' is not {ARP_PREFIX}<interface>/<ip>")))?;
        check_logical_name("key", interface)?;
        let ip = ip
            .parse()
            .map_err(|_| bad(format!("'{ip}' in '{key}' is not an IP address")))?;
        return Ok(ItemKey::Arp {
            interface: interface.to_string(),
            ip,
        });
    }
    if let Some(rest) = key.strip_prefix(ROUTE_PREFIX) {
        return parse_route(key, rest);
    }
    if let Some(rest) = key.strip_prefix(FDB_PREFIX) {
        return parse_fdb(key, rest);
    }
    Err(bad(format!(
        "'{key}' has no known prefix ({INTERFACE_PREFIX}, {ARP_PREFIX}, {ROUTE_PREFIX}, {RULE_CHAIN_PREFIX}, {FDB_PREFIX}, {POLICY_RULE_PREFIX}, {INTERFACE_V1_PREFIX}, each optionally after /vnf-agent/<label>/)"
    )))
}

/// `<dst-network>/<interface>[/table/<n>]` after the route prefix. The destination itself holds
/// one '/', and an interface name none.
fn parse_route(key: &str, rest: &str) -> Result<ItemKey, ValidationError> {
    let bad = |reason: String| ValidationError::new("key", reason);
    let form = format!("{ROUTE_PREFIX}<dst-network>/<interface>[{ROUTE_TABLE_SEGMENT}<table>]");
    let parts: Vec<&str> = rest.split('/').collect();
    let (dst, interface, table) = match parts.as_slice() {
        [ip, len, interface] => (format!("{ip}/{len}"), *interface, None),
        [ip, len, interface, "table", t] => (format!("{ip}/{len}"), *interface, Some(*t)),
        _ => return Err(bad(format!("'{key}' is not {form}"))),
    };
    check_logical_name("key", interface)?;
    let dst = dst
        .parse()
        .map_err(|_| bad(format!("'{dst}' in '{key}' is not a CIDR network")))?;
    let table = match table.map(str::parse::<u32>) {
        None => None,
        Some(Ok(t)) if t != 0 => Some(t),
        Some(_) => {
            return Err(bad(format!(
                "the table in '{key}' is not a routing table number (1 to 4294967295)"
            )))
        }
    };
    Ok(ItemKey::Route {
        dst,
        interface: interface.to_string(),
        table,
    })
}

/// `<interface>/<mac>/<remote-ip>` after the FDB prefix.
fn parse_fdb(key: &str, rest: &str) -> Result<ItemKey, ValidationError> {
    let bad = |reason: String| ValidationError::new("key", reason);
    let mut parts = rest.splitn(3, '/');
    let (Some(interface), Some(mac), Some(remote)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "'{key}' is not {FDB_PREFIX}<interface>/<mac>/<remote-ip>"
        )));
    };
    check_logical_name("key", interface)?;
    let mac = mac
        .parse()
        .map_err(|why: String| bad(format!("in '{key}': {why}")))?;
    let remote = remote
        .parse()
        .map_err(|_| bad(format!("'{remote}' in '{key}' is not an IP address")))?;
    Ok(ItemKey::Fdb {
        interface: interface.to_string(),
        mac,
        remote,
    })
}
