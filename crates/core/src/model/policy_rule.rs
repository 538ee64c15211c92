//! Policy rule items: entries of a namespace's routing policy database, as `ip rule` makes
//! them: which packets (by source, destination, incoming or outgoing interface, firewall mark)
//! are routed by which table, or dropped. nsagent's extension of vpp-agent's model (which has
//! no rules), in its style: a logical name as the key's last segment, the namespace as rule
//! chains name theirs, interfaces by their logical names, enums by name.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, Family, ValidationError};
use crate::netns::NamespaceRef;

/// What a rule does with the packets it matches, as in `fib_rule_hdr.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RuleAction {
    /// Route them by this table (`FR_ACT_TO_TBL`).
    Lookup(u32),
    /// Drop them silently.
    Blackhole,
    /// Drop them and answer "network unreachable".
    Unreachable,
    /// Drop them and answer "administratively prohibited".
    Prohibit,
}

impl RuleAction {
    /// The `fib_rule_hdr.action` value the kernel uses.
    pub fn fr_action(self) -> u8 {
        match self {
            RuleAction::Lookup(_) => 1,
            RuleAction::Blackhole => 6,
            RuleAction::Unreachable => 7,
            RuleAction::Prohibit => 8,
        }
    }

    /// The action a kernel rule has, if nsagent knows it (`table` is the rule's table).
    pub fn from_fr_action(action: u8, table: u32) -> Option<RuleAction> {
        match action {
            1 => Some(RuleAction::Lookup(table)),
            6 => Some(RuleAction::Blackhole),
            7 => Some(RuleAction::Unreachable),
            8 => Some(RuleAction::Prohibit),
            _ => None,
        }
    }

    /// The table the rule looks up, if it does.
    pub fn table(self) -> Option<u32> {
        match self {
            RuleAction::Lookup(t) => Some(t),
            _ => None,
        }
    }
}

/// A validated policy rule. Its kernel identity is all of it but its name and namespace: the
/// kernel knows a rule by its priority, selectors and action, so a change is a new rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// Logical name: the item's identity and the last segment of its key.
    pub name: String,
    pub namespace: NamespaceRef,
    pub family: Family,
    /// Where the rule stands in the database: lower is looked at first. Never 0, which the
    /// kernel's rule for the local table holds (and which proto3 cannot tell from unset).
    pub priority: u32,
    pub src_network: Option<IpNet>,
    pub dst_network: Option<IpNet>,
    /// Logical name of the interface item packets must come in through.
    pub incoming_interface: Option<String>,
    /// Logical name of the interface item packets must leave through (a socket bound to it).
    pub outgoing_interface: Option<String>,
    /// The firewall mark packets must carry, under its mask (all ones unless given).
    pub fwmark: Option<(u32, u32)>,
    pub action: RuleAction,
}

impl PolicyRule {
    /// The interface items the rule names: it waits until each has its link.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.incoming_interface
            .iter()
            .chain(self.outgoing_interface.iter())
            .map(String::as_str)
    }
}

fn network(field: &str, text: &str) -> Result<Option<IpNet>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    let net: IpNet = text.parse().map_err(|_| {
        ValidationError::new(field, format!("'{text}' is not a network (address/prefix)"))
    })?;
    if net.trunc() != net {
        return Err(ValidationError::new(
            field,
            format!("'{text}' has host bits set; did you mean {}?", net.trunc()),
        ));
    }
    Ok(Some(net))
}

impl wire::PolicyRule {
    pub(super) fn validate(self) -> Result<PolicyRule, ValidationError> {
        check_logical_name("name", &self.name)?;
        let namespace = match &self.namespace {
            None => NamespaceRef::Default,
            Some(ns) => NamespaceRef::from_wire(ns.kind, &ns.reference)?,
        };
        if self.priority == 0 {
            return Err(ValidationError::new(
                "priority",
                "missing; where the rule stands (1..=4294967295, lower first); 0 is the kernel's rule for the local table",
            ));
        }
        let src_network = network("src_network", &self.src_network)?;
        let dst_network = network("dst_network", &self.dst_network)?;
        let family = family_of(self.family, src_network, dst_network)?;
        // A network of prefix 0 matches every address: the kernel keeps no such selector
        // (measured), so neither does the rule, lest it never read back as written.
        let src_network = src_network.filter(|n| n.prefix_len() > 0);
        let dst_network = dst_network.filter(|n| n.prefix_len() > 0);
        let mut interfaces = [None, None];
        for (i, (field, name)) in [
            ("incoming_interface", &self.incoming_interface),
            ("outgoing_interface", &self.outgoing_interface),
        ]
        .into_iter()
        .enumerate()
        {
            if !name.is_empty() {
                check_logical_name(field, name)?;
                interfaces[i] = Some(name.clone());
            }
        }
        let [incoming_interface, outgoing_interface] = interfaces;
        let fwmark = match (self.fwmark, self.fwmask) {
            (0, 0) => None,
            (0, _) => return Err(ValidationError::new(
                "fwmask",
                "a mask needs fwmark (a mark of 0 cannot be written: proto3 takes it for unset)",
            )),
            (mark, 0) => Some((mark, u32::MAX)),
            (mark, mask) if mark & !mask != 0 => {
                return Err(ValidationError::new(
                    "fwmark",
                    format!("{mark:#x} has bits outside fwmask {mask:#x}: no packet would match"),
                ))
            }
            (mark, mask) => Some((mark, mask)),
        };
        let action = action_of(self.action, self.table)?;
        Ok(PolicyRule {
            name: self.name,
            namespace,
            family,
            priority: self.priority,
            src_network,
            dst_network,
            incoming_interface,
            outgoing_interface,
            fwmark,
            action,
        })
    }
}

/// The rule's family: its networks', which must agree with each other and with `family` when
/// that says IPV6 (IPV4 is proto3's zero, so it cannot be told from unset).
fn family_of(
    asked: wire::RuleFamilyName,
    src: Option<IpNet>,
    dst: Option<IpNet>,
) -> Result<Family, ValidationError> {
    let of = |n: IpNet| match n {
        IpNet::V4(_) => Family::Ipv4,
        IpNet::V6(_) => Family::Ipv6,
    };
    let name = |f: Family| match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    };
    let mut family = match asked {
        wire::RuleFamilyName::Ipv4 => None,
        wire::RuleFamilyName::Ipv6 => Some(Family::Ipv6),
    };
    for (field, net) in [("src_network", src), ("dst_network", dst)] {
        let Some(net) = net else { continue };
        match family {
            Some(f) if f != of(net) => {
                return Err(ValidationError::new(
                    field,
                    format!("'{net}' is {}, the rule is {}", name(of(net)), name(f)),
                ))
            }
            _ => family = Some(of(net)),
        }
    }
    Ok(family.unwrap_or(Family::Ipv4))
}

fn action_of(action: wire::RuleActionName, table: u32) -> Result<RuleAction, ValidationError> {
    use wire::RuleActionName as A;
    let dropping = match action {
        A::Lookup if table == 0 => {
            return Err(ValidationError::new(
                "table",
                "missing; the routing table a LOOKUP rule routes by (254 is main)",
            ))
        }
        A::Lookup => return Ok(RuleAction::Lookup(table)),
        A::Blackhole => RuleAction::Blackhole,
        A::Unreachable => RuleAction::Unreachable,
        A::Prohibit => RuleAction::Prohibit,
    };
    if table != 0 {
        return Err(ValidationError::new(
            "table",
            format!("a rule that drops what it matches ({action:?}) looks up no table"),
        ));
    }
    Ok(dropping)
}

impl From<&PolicyRule> for wire::PolicyRule {
    fn from(r: &PolicyRule) -> Self {
        let (fwmark, fwmask) = match r.fwmark {
            None => (0, 0),
            Some((mark, u32::MAX)) => (mark, 0),
            Some((mark, mask)) => (mark, mask),
        };
        let action = match r.action {
            RuleAction::Lookup(_) => wire::RuleActionName::Lookup,
            RuleAction::Blackhole => wire::RuleActionName::Blackhole,
            RuleAction::Unreachable => wire::RuleActionName::Unreachable,
            RuleAction::Prohibit => wire::RuleActionName::Prohibit,
        };
        wire::PolicyRule {
            name: r.name.clone(),
            namespace: r.namespace.to_wire(),
            family: match r.family {
                Family::Ipv4 => wire::RuleFamilyName::Ipv4,
                Family::Ipv6 => wire::RuleFamilyName::Ipv6,
            },
            priority: r.priority,
            src_network: r.src_network.map(|n| n.to_string()).unwrap_or_default(),
            dst_network: r.dst_network.map(|n| n.to_string()).unwrap_or_default(),
            incoming_interface: r.incoming_interface.clone().unwrap_or_default(),
            outgoing_interface: r.outgoing_interface.clone().unwrap_or_default(),
            fwmark,
            fwmask,
            table: r.action.table().unwrap_or(0),
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_rule(priority: u32, src: &str, table: u32) -> wire::PolicyRule {
        wire::PolicyRule {
            name: "r1".into(),
            priority,
            src_network: src.into(),
            table,
            ..Default::default()
        }
    }

    #[test]
    fn a_rule_routes_what_it_matches_by_its_table_and_round_trips() {
        let mut w = wire_rule(100, "10.1.0.0/16", 100);
        w.fwmark = 7;
        w.incoming_interface = "veth1".into();
        let r = w.validate().unwrap();
        assert_eq!(r.family, Family::Ipv4);
        assert_eq!(r.action, RuleAction::Lookup(100));
        assert_eq!(r.fwmark, Some((7, u32::MAX)));
        assert_eq!(r.interfaces().collect::<Vec<_>>(), ["veth1"]);
        assert_eq!(wire::PolicyRule::from(&r).validate(), Ok(r));
        let v6 = wire_rule(5, "fd00:1::/64", 7).validate().unwrap();
        assert_eq!(v6.family, Family::Ipv6);
        assert_eq!(wire::PolicyRule::from(&v6).validate(), Ok(v6));
        // From everywhere is no selector, but still says the family.
        let all = wire_rule(5, "::/0", 7).validate().unwrap();
        assert_eq!((all.src_network, all.family), (None, Family::Ipv6));
        assert_eq!(wire::PolicyRule::from(&all).validate(), Ok(all));
    }

    #[test]
    fn bad_rules_name_the_field_and_why() {
        let cases: Vec<(wire::PolicyRule, &str, &str)> = vec![
            (wire_rule(0, "", 100), "priority", "missing"),
            (
                wire_rule(1, "10.1.0.1/16", 100),
                "src_network",
                "did you mean 10.1.0.0/16",
            ),
            (wire_rule(1, "ten", 100), "src_network", "not a network"),
            (wire_rule(1, "", 0), "table", "missing"),
            (
                wire::PolicyRule {
                    dst_network: "fd00::/8".into(),
                    ..wire_rule(1, "10.0.0.0/8", 1)
                },
                "dst_network",
                "is IPv6, the rule is IPv4",
            ),
            (
                wire::PolicyRule {
                    family: wire::RuleFamilyName::Ipv6,
                    ..wire_rule(1, "10.0.0.0/8", 1)
                },
                "src_network",
                "is IPv4, the rule is IPv6",
            ),
            (
                wire::PolicyRule {
                    action: wire::RuleActionName::Blackhole,
                    ..wire_rule(1, "", 100)
                },
                "table",
                "looks up no table",
            ),
            (
                wire::PolicyRule {
                    fwmask: 0xff,
                    ..wire_rule(1, "", 100)
                },
                "fwmask",
                "needs fwmark",
            ),
            (
                wire::PolicyRule {
                    fwmark: 0x100,
                    fwmask: 0xff,
                    ..wire_rule(1, "", 100)
                },
                "fwmark",
                "outside fwmask",
            ),
            (
                wire::PolicyRule {
                    outgoing_interface: "a/b".into(),
                    ..wire_rule(1, "", 100)
                },
                "outgoing_interface",
                "",
            ),
        ];
        for (w, field, reason) in cases {
            let e = w.validate().expect_err(field);
            assert_eq!(e.field, field, "{e}");
            assert!(e.reason.contains(reason), "{e}");
        }
    }

    #[test]
    fn dropping_rules_have_no_table_and_kernel_actions_read_back() {
        let w = wire::PolicyRule {
            action: wire::RuleActionName::Prohibit,
            family: wire::RuleFamilyName::Ipv6,
            ..wire_rule(9, "", 0)
        };
        let r = w.validate().unwrap();
        assert_eq!((r.action, r.family), (RuleAction::Prohibit, Family::Ipv6));
        for a in [
            RuleAction::Lookup(100),
            RuleAction::Blackhole,
            RuleAction::Unreachable,
            RuleAction::Prohibit,
        ] {
            let table = a.table().unwrap_or(0);
            assert_eq!(RuleAction::from_fr_action(a.fr_action(), table), Some(a));
        }
        assert_eq!(
            RuleAction::from_fr_action(2, 0),
            None,
            "goto is not nsagent's"
        );
    }
}
