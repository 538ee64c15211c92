//! Whose a link is: the mark (alias) every link the agent owns carries names the agent and the
//! item, so that two agents on one host, or a process that sets an alias by hand, never get
//! each other's links taken for stale.
//!
//! # The mark, in one place
//!
//! `nsagent:<label>/<instance>:<item>`, where `<label>` is the agent's label (1 to
//! [`MAX_LABEL_LEN`] bytes of letters, digits, `-` and `_`), `<instance>` the agent's
//! [`InstanceId`] as exactly 16 lowercase hex digits (random, made once per data dir, so that
//! nobody picks it by accident), and `<item>` the interface item's name. The kernel keeps at
//! most [`MAX_ALIAS_LEN`] bytes of alias, which is why item names are limited to
//! [`MAX_ITEM_NAME_LEN`].
//!
//! Before identities, the mark was `nsagent:<item>` (the **legacy mark**). Item names never
//! contain `/`, so an alias with a `/` after the prefix is always of the new form, and one that
//! does not parse as such is another agent's (never this one's, never legacy).
//!
//! A legacy-marked link is this agent's only when an item of this agent wants it (it holds it,
//! or would adopt it), and is then re-marked; one that no item wants is left alone, because it
//! may be another (older) agent's — unless the core is told that every legacy mark on the host
//! is its own (`CoreConfig::adopt_legacy`, the daemon's `--adopt-legacy`), when such links are
//! stale like any other of its own.

use std::fmt;

use crate::model::MacAddr;
use serde::{Deserialize, Serialize};

/// What every mark starts with.
pub const ALIAS_PREFIX: &str = "nsagent:";
/// Longest agent label a mark holds.
pub const MAX_LABEL_LEN: usize = 32;
/// Longest alias the kernel keeps (`IFALIASZ` - 1).
pub const MAX_ALIAS_LEN: usize = 255;
/// Longest item name whose mark still fits in an alias, whatever the label.
pub const MAX_ITEM_NAME_LEN: usize =
    MAX_ALIAS_LEN - (ALIAS_PREFIX.len() + MAX_LABEL_LEN + 1 + INSTANCE_HEX_LEN + 1);
const INSTANCE_HEX_LEN: usize = 16;

/// Why an identity cannot be made; `field` is what the user wrote it as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct IdentityError {
    pub field: String,
    pub reason: String,
}

impl IdentityError {
    fn new(field: &str, reason: impl Into<String>) -> IdentityError {
        IdentityError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// The random part of an agent's identity, made once and kept in the agent's data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId(pub u64);

impl InstanceId {
    /// Reads the 16 lowercase hex digits it is written as, and nothing else.
    pub fn parse(field: &str, text: &str) -> Result<InstanceId, IdentityError> {
        let ok = text.len() == INSTANCE_HEX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(IdentityError::new(
                field,
                format!(
                    "'{}' is not an instance id ({INSTANCE_HEX_LEN} lowercase hex digits)",
                    text.escape_debug()
                ),
            ));
        }
        u64::from_str_radix(text, 16)
            .map(InstanceId)
            .map_err(|e| IdentityError::new(field, e.to_string()))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Who this agent is, as its marks say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentIdentity {
    label: String,
    instance: InstanceId,
}

/// What a link's alias says about whose it is, read by one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark<'a> {
    /// This agent's mark, naming the item.
    Mine(&'a str),
    /// The legacy mark `nsagent:<item>`.
    Legacy(&'a str),
    /// Another agent's mark (or a new-form mark that does not parse): never touched.
    Foreign,
    /// No mark at all: not an agent's link.
    Unmarked,
}

impl AgentIdentity {
    pub fn new(label: &str, instance: InstanceId) -> Result<AgentIdentity, IdentityError> {
        check_label(label)?;
        Ok(AgentIdentity {
            label: label.to_string(),
            instance,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// The alias of this agent's link for `item`.
    pub fn mark(&self, item: &str) -> String {
        format!("{ALIAS_PREFIX}{}/{}:{item}", self.label, self.instance)
    }

    /// The MAC the agent gives a link of `item` that the item gives none and the kernel would
    /// otherwise change by itself: a bridge takes the lowest MAC of its ports while nobody set
    /// its own, and flushes its neighbour entries each time it changes (verified), which would
    /// race the agent's neighbours on it. Derived from the mark (FNV-1a), so that it is the
    /// same after a restart and on a replay, and differs between agents and items; locally
    /// administered and unicast, as the kernel's random ones are.
    pub fn stable_mac(&self, item: &str) -> MacAddr {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.mark(item).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let b = h.to_be_bytes();
        MacAddr([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
    }

    /// Reads an alias (see the module documentation for the forms).
    pub fn read<'a>(&self, alias: Option<&'a str>) -> Mark<'a> {
        let Some(rest) = alias.and_then(|a| a.strip_prefix(ALIAS_PREFIX)) else {
            return Mark::Unmarked;
        };
        let Some((label, tail)) = rest.split_once('/') else {
            return Mark::Legacy(rest);
        };
        let Some((instance, item)) = tail.split_once(':') else {
            return Mark::Foreign;
        };
        let mine = label == self.label
            && InstanceId::parse("alias", instance).is_ok_and(|i| i == self.instance);
        if mine && !item.is_empty() {
            Mark::Mine(item)
        } else {
            Mark::Foreign
        }
    }

    /// Whether `alias` is this agent's mark for `item`.
    pub fn marks(&self, alias: Option<&str>, item: &str) -> bool {
        self.read(alias) == Mark::Mine(item)
    }
}

/// The identity of tests and tools that never share a kernel with a real agent.
impl Default for AgentIdentity {
    fn default() -> AgentIdentity {
        AgentIdentity {
            label: "nsagent".into(),
            instance: InstanceId(0),
        }
    }
}

fn check_label(label: &str) -> Result<(), IdentityError> {
    if label.is_empty() {
        return Err(IdentityError::new("label", "label is empty"));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(IdentityError::new(
            "label",
            format!(
                "label is {} bytes long; the limit is {MAX_LABEL_LEN} (it goes in every link's alias)",
                label.len()
            ),
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(IdentityError::new(
            "label",
            format!("label '{label}' contains {c:?}; use letters, digits, '-' and '_'"),
        ));
    }
    Ok(())
}

/// Route protocol numbers the kernel reserves for itself (`RTPROT_UNSPEC` .. `RTPROT_BOOT`) or
/// that well-known routing daemons use (`include/uapi/linux/rtnetlink.h`): an agent using one
/// would take their routes for its own. 4 (`RTPROT_STATIC`) is the agent's default.
const TAKEN_ROUTE_PROTOCOLS: &[u8] = &[
    0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 42, 99, 186, 187, 188, 189, 192,
];

/// Checks a route protocol number the agent is asked to mark its routes with.
pub fn check_route_protocol(field: &str, protocol: u32) -> Result<u8, IdentityError> {
    let p = u8::try_from(protocol).map_err(|_| {
        IdentityError::new(
            field,
            format!("{protocol} is not a route protocol (0..=255)"),
        )
    })?;
    if TAKEN_ROUTE_PROTOCOLS.contains(&p) {
        return Err(IdentityError::new(
            field,
            format!("route protocol {p} is the kernel's or a routing daemon's; use 4 or 19..=255 except 42, 99, 186-189, 192"),
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> AgentIdentity {
        AgentIdentity::new("edge-1", InstanceId(0x00ab_cdef_0123_4567)).expect("identity")
    }

    #[test]
    fn a_mark_reads_back_as_mine_and_as_foreign_to_any_other_identity() {
        let alias = me().mark("veth-a");
        assert_eq!(alias, "nsagent:edge-1/00abcdef01234567:veth-a");
        assert_eq!(me().read(Some(&alias)), Mark::Mine("veth-a"));
        assert!(me().marks(Some(&alias), "veth-a") && !me().marks(Some(&alias), "veth"));
        let other_instance = AgentIdentity::new("edge-1", InstanceId(1)).expect("identity");
        assert_eq!(other_instance.read(Some(&alias)), Mark::Foreign);
        let other_label =
            AgentIdentity::new("edge-2", InstanceId(0x00ab_cdef_0123_4567)).expect("identity");
        assert_eq!(other_label.read(Some(&alias)), Mark::Foreign);
    }

    #[test]
    fn legacy_marks_bad_new_marks_and_no_marks_are_told_apart() {
        assert_eq!(me().read(Some("nsagent:x")), Mark::Legacy("x"));
        assert_eq!(me().read(Some("nsagent:a:b")), Mark::Legacy("a:b"));
        assert_eq!(me().read(Some("nsagent:edge-1/zz:x")), Mark::Foreign);
        assert_eq!(
            me().read(Some("nsagent:edge-1/00abcdef01234567")),
            Mark::Foreign
        );
        assert_eq!(
            me().read(Some("nsagent:edge-1/00abcdef01234567:")),
            Mark::Foreign
        );
        assert_eq!(me().read(Some("uplink")), Mark::Unmarked);
        assert_eq!(me().read(None), Mark::Unmarked);
    }

    #[test]
    fn the_longest_mark_fits_in_an_alias() {
        let label = "l".repeat(MAX_LABEL_LEN);
        let id = AgentIdentity::new(&label, InstanceId(u64::MAX)).expect("identity");
        assert_eq!(id.mark(&"i".repeat(MAX_ITEM_NAME_LEN)).len(), MAX_ALIAS_LEN);
    }

    #[test]
    fn bad_labels_and_instance_ids_are_refused_naming_the_field() {
        let e = AgentIdentity::new("", InstanceId(0)).expect_err("empty");
        assert_eq!(e.field, "label");
        let e = AgentIdentity::new(&"l".repeat(33), InstanceId(0)).expect_err("long");
        assert!(e.reason.contains("limit is 32"), "{e}");
        let e = AgentIdentity::new("a/b", InstanceId(0)).expect_err("slash");
        assert!(e.reason.contains("'/'"), "{e}");
        assert_eq!(
            InstanceId::parse("f", "00abcdef01234567"),
            Ok(InstanceId(0x00ab_cdef_0123_4567))
        );
        for bad in [
            "",
            "00ABCDEF01234567",
            "0abcdef01234567",
            "00abcdef012345678",
            "+0abcdef01234567",
        ] {
            let e = InstanceId::parse("instance-id", bad).expect_err(bad);
            assert_eq!(e.field, "instance-id", "{bad}");
        }
    }

    #[test]
    fn route_protocols_of_the_kernel_and_routing_daemons_are_refused() {
        assert_eq!(check_route_protocol("p", 4), Ok(4));
        assert_eq!(check_route_protocol("p", 250), Ok(250));
        for bad in [0, 2, 3, 16, 186, 256] {
            let e = check_route_protocol("--route-protocol", bad).expect_err("taken");
            assert_eq!(e.field, "--route-protocol");
        }
    }
}
