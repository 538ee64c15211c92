//! The kernel form of a policy rule, as commands and observations carry it.

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::{Family, RuleAction};

/// A policy rule as the kernel knows it: every field is its identity (`ip rule` has no
/// replace), interfaces by their kernel names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleSpec {
    pub family: Family,
    pub priority: u32,
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    /// Kernel name of the link packets come in through (`FRA_IIFNAME`).
    pub iif: Option<String>,
    /// Kernel name of the link packets leave through (`FRA_OIFNAME`).
    pub oif: Option<String>,
    /// Mark and mask; the kernel gives a mark without a mask all ones, so the mask is always
    /// here when the mark is.
    pub fwmark: Option<(u32, u32)>,
    pub action: RuleAction,
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.family {
            Family::Ipv4 => "",
            Family::Ipv6 => "-6 ",
        };
        write!(f, "{v}pref {}", self.priority)?;
        if let Some(s) = self.src {
            write!(f, " from {s}")?;
        }
        if let Some(d) = self.dst {
            write!(f, " to {d}")?;
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
        }
        if let Some((mark, mask)) = self.fwmark {
            write!(f, " fwmark {mark:#x}/{mask:#x}")?;
        }
        match self.action {
            RuleAction::Lookup(t) => write!(f, " lookup {t}"),
            RuleAction::Blackhole => write!(f, " blackhole"),
            RuleAction::Unreachable => write!(f, " unreachable"),
            RuleAction::Prohibit => write!(f, " prohibit"),
        }
    }
}
