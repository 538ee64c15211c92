//! Rule chain items: validated vpp-agent `RuleChain` values (`ligato.linux.iptables`). A chain
//! is an ordered list of iptables rule strings in one table of one address family, in the
//! namespace the item names. The agent keeps them in a chain of its own so that replacing them
//! is one atomic write that never touches rules it did not write (see `Op::SetChain`).

use serde::{Deserialize, Serialize};

use super::validation::{check_logical_name, is_invisible};
use super::{wire, ValidationError};
use crate::firewall::rule_words;
use crate::netns::NamespaceRef;

/// An address family: which of the kernel's two iptables a chain is in, which of its two
/// policy databases a rule is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// The iptables table a chain belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Table {
    Filter,
    Nat,
    Mangle,
    Raw,
    Security,
}

impl Table {
    /// The name `iptables -t` takes.
    pub fn name(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
            Table::Mangle => "mangle",
            Table::Raw => "raw",
            Table::Security => "security",
        }
    }

    /// The built-in chains the kernel gives this table.
    fn builtin(self) -> &'static [Builtin] {
        use Builtin::*;
        match self {
            Table::Filter | Table::Security => &[Input, Forward, Output],
            Table::Nat => &[Prerouting, Input, Output, Postrouting],
            Table::Mangle => &[Prerouting, Input, Forward, Output, Postrouting],
            Table::Raw => &[Prerouting, Output],
        }
    }
}

/// A chain the kernel makes with its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Builtin {
    Input,
    Output,
    Forward,
    Prerouting,
    Postrouting,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Input => "INPUT",
            Builtin::Output => "OUTPUT",
            Builtin::Forward => "FORWARD",
            Builtin::Prerouting => "PREROUTING",
            Builtin::Postrouting => "POSTROUTING",
        }
    }
}

/// Which chain the rules go in: a built-in one (the agent's rules are reached from it by one
/// jump, after whatever rules are there already), or a chain of the user's naming, which the
/// agent makes and owns whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Chain {
    Builtin(Builtin),
    Custom(String),
}

impl Chain {
    pub fn name(&self) -> &str {
        match self {
            Chain::Builtin(b) => b.name(),
            Chain::Custom(n) => n,
        }
    }
}

/// A built-in chain's default policy. iptables accepts only these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Policy {
    Accept,
    Drop,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        }
    }
}

/// A validated rule chain item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChain {
    /// Logical name: the item's identity and the last segment of its key.
    pub name: String,
    pub namespace: NamespaceRef,
    /// Interface items the rules refer to: the chain waits until each is applied.
    pub interfaces: Vec<String>,
    pub family: Family,
    pub table: Table,
    pub chain: Chain,
    /// Only for a built-in chain of the filter table; `None` leaves the policy as it is.
    pub default_policy: Option<Policy>,
    /// The match and target part of each rule, in order, whitespace collapsed.
    pub rules: Vec<String>,
}

/// The longest chain name iptables takes (XT_EXTENSION_MAXNAMELEN less the NUL).
pub const CHAIN_NAME_MAX: usize = 28;
/// Chain names starting so are the agent's own (the chains its rules for built-in chains go in).
pub const OWN_CHAIN_PREFIX: &str = "NSA-";

/// iptables options that say what to do with a chain rather than what a rule matches: a rule
/// string holding one would act on some other chain than the item's.
const COMMANDS: &[&str] = &[
    "-A",
    "--append",
    "-I",
    "--insert",
    "-D",
    "--delete",
    "-R",
    "--replace",
    "-N",
    "--new-chain",
    "-X",
    "--delete-chain",
    "-F",
    "--flush",
    "-P",
    "--policy",
    "-E",
    "--rename-chain",
    "-Z",
    "--zero",
    "-L",
    "--list",
    "-S",
    "--list-rules",
    "-t",
    "--table",
    "-C",
    "--check",
];

impl wire::RuleChain {
    /// Checks the fields in the order of vpp-agent's model; the first problem is reported.
    pub(super) fn validate(self) -> Result<RuleChain, ValidationError> {
        use wire::ChainTypeName as C;
        check_logical_name("name", &self.name)?;
        let namespace = match &self.namespace {
            None => NamespaceRef::Default,
            Some(ns) => NamespaceRef::from_wire(ns.kind, &ns.reference)?,
        };
        for (i, name) in self.interfaces.iter().enumerate() {
            check_logical_name(&format!("interfaces[{i}]"), name)?;
        }
        let mut interfaces = self.interfaces.clone();
        interfaces.dedup();
        let family = match self.protocol {
            wire::ChainProtocolName::Ipv4 => Family::Ipv4,
            wire::ChainProtocolName::Ipv6 => Family::Ipv6,
        };
        let table = match self.table {
            wire::ChainTableName::Filter => Table::Filter,
            wire::ChainTableName::Nat => Table::Nat,
            wire::ChainTableName::Mangle => Table::Mangle,
            wire::ChainTableName::Raw => Table::Raw,
            wire::ChainTableName::Security => Table::Security,
        };
        let builtin = match self.chain_type {
            C::Custom => None,
            C::Input => Some(Builtin::Input),
            C::Output => Some(Builtin::Output),
            C::Forward => Some(Builtin::Forward),
            C::Prerouting => Some(Builtin::Prerouting),
            C::Postrouting => Some(Builtin::Postrouting),
        };
        let chain = match builtin {
            Some(b) if !table.builtin().contains(&b) => {
                return Err(ValidationError::new(
                    "chain_type",
                    format!("the {} table has no {} chain", table.name(), b.name()),
                ))
            }
            Some(_) if !self.chain_name.is_empty() => {
                return Err(ValidationError::new(
                    "chain_name",
                    "only a CUSTOM chain has a name of its own",
                ))
            }
            Some(b) => Chain::Builtin(b),
            None => Chain::Custom(custom_chain_name(&self.chain_name)?),
        };
        let default_policy = policy(self.default_policy, table, &chain)?;
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| rule(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuleChain {
            name: self.name,
            namespace,
            interfaces,
            family,
            table,
            chain,
            default_policy,
            rules,
        })
    }
}

fn custom_chain_name(name: &str) -> Result<String, ValidationError> {
    let bad = |reason: String| Err(ValidationError::new("chain_name", reason));
    if name.is_empty() {
        return bad("a CUSTOM chain must be named".into());
    }
    if name.len() > CHAIN_NAME_MAX {
        return bad(format!(
            "'{name}' is {} bytes long, iptables takes at most {CHAIN_NAME_MAX}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || is_invisible(*c) || *c == '"' || *c == '\'')
    {
        return bad(format!("'{}' contains {c:?}", name.escape_debug()));
    }
    if name.starts_with('-') || name.starts_with('!') {
        return bad(format!("'{name}' would read as an option"));
    }
    let upper = name.to_ascii_uppercase();
    let reserved = [
        "INPUT",
        "OUTPUT",
        "FORWARD",
        "PREROUTING",
        "POSTROUTING",
        "ACCEPT",
        "DROP",
        "QUEUE",
        "RETURN",
    ];
    if reserved.contains(&upper.as_str()) {
        return bad(format!("'{name}' is a built-in chain or target"));
    }
    if name.starts_with(OWN_CHAIN_PREFIX) {
        return bad(format!(
            "names starting with {OWN_CHAIN_PREFIX} are the agent's own chains"
        ));
    }
    Ok(name.to_string())
}

fn policy(
    p: wire::ChainPolicyName,
    table: Table,
    chain: &Chain,
) -> Result<Option<Policy>, ValidationError> {
    use wire::ChainPolicyName as P;
    let policy = match p {
        P::None => return Ok(None),
        P::Accept => Policy::Accept,
        P::Drop => Policy::Drop,
        P::Queue | P::Return => {
            let name = if p == P::Queue { "QUEUE" } else { "RETURN" };
            return Err(ValidationError::new(
                "default_policy",
                format!("{name} cannot be a chain's policy: iptables takes ACCEPT or DROP"),
            ));
        }
    };
    if table != Table::Filter || !matches!(chain, Chain::Builtin(_)) {
        return Err(ValidationError::new(
            "default_policy",
            "only a built-in chain of the FILTER table has a default policy",
        ));
    }
    Ok(Some(policy))
}

/// One rule string: a match and target, never a command on a chain, on one line, with its
/// quotes closed. Whether iptables understands it is for iptables to say when it is applied.
fn rule(i: usize, text: &str) -> Result<String, ValidationError> {
    let field = format!("rules[{i}]");
    let bad = |reason: String| Err(ValidationError::new(field.clone(), reason));
    if let Some(c) = text
        .chars()
        .find(|c| *c == '\n' || *c == '\r' || *c == '\0')
    {
        return bad(format!("a rule is one line; this one holds {c:?}"));
    }
    let words = rule_words(text).map_err(|r| ValidationError::new(field.clone(), r))?;
    if words.is_empty() {
        return bad("the rule is empty".into());
    }
    if let Some(w) = words.iter().find(|w| COMMANDS.contains(&w.as_str())) {
        return bad(format!(
            "'{w}' acts on a chain; a rule holds only matches and a target (the item says \
             which table and chain)"
        ));
    }
    if words.iter().any(|w| w == "--comment") {
        return bad("comments are the agent's (it marks its rules with them)".into());
    }
    Ok(words_to_text(text))
}

/// The rule with runs of whitespace outside quotes collapsed to one space: two spellings of
/// one rule are one rule.
fn words_to_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut space = false;
    for c in text.trim().chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

impl From<&RuleChain> for wire::RuleChain {
    fn from(c: &RuleChain) -> Self {
        wire::RuleChain {
            name: c.name.clone(),
            namespace: c.namespace.to_wire(),
            interfaces: c.interfaces.clone(),
            protocol: match c.family {
                Family::Ipv4 => wire::ChainProtocolName::Ipv4,
                Family::Ipv6 => wire::ChainProtocolName::Ipv6,
            },
            table: match c.table {
                Table::Filter => wire::ChainTableName::Filter,
                Table::Nat => wire::ChainTableName::Nat,
                Table::Mangle => wire::ChainTableName::Mangle,
                Table::Raw => wire::ChainTableName::Raw,
                Table::Security => wire::ChainTableName::Security,
            },
            chain_type: match &c.chain {
                Chain::Custom(_) => wire::ChainTypeName::Custom,
                Chain::Builtin(Builtin::Input) => wire::ChainTypeName::Input,
                Chain::Builtin(Builtin::Output) => wire::ChainTypeName::Output,
                Chain::Builtin(Builtin::Forward) => wire::ChainTypeName::Forward,
                Chain::Builtin(Builtin::Prerouting) => wire::ChainTypeName::Prerouting,
                Chain::Builtin(Builtin::Postrouting) => wire::ChainTypeName::Postrouting,
            },
            chain_name: match &c.chain {
                Chain::Custom(n) => n.clone(),
                Chain::Builtin(_) => String::new(),
            },
            default_policy: match c.default_policy {
                None => wire::ChainPolicyName::None,
                Some(Policy::Accept) => wire::ChainPolicyName::Accept,
                Some(Policy::Drop) => wire::ChainPolicyName::Drop,
            },
            rules: c.rules.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_words_split_on_whitespace_outside_quotes() {
        assert_eq!(
            rule_words(r#"-i  eth0 -m string --string "a b" -j DROP"#).unwrap(),
            ["-i", "eth0", "-m", "string", "--string", "a b", "-j", "DROP"]
        );
        assert!(rule_words(r#"-m string --string "a b"#).is_err());
        assert_eq!(
            rule_words(r#"--comment "a \"q\"""#).unwrap(),
            ["--comment", r#"a "q""#]
        );
        assert_eq!(
            words_to_text("  -i   eth0 \t -j ACCEPT "),
            "-i eth0 -j ACCEPT"
        );
        assert_eq!(words_to_text(r#"--string "a  b""#), r#"--string "a  b""#);
    }

    #[test]
    fn a_rule_may_not_act_on_a_chain_nor_carry_a_comment() {
        assert_eq!(rule(2, "-A INPUT -j DROP").unwrap_err().field, "rules[2]");
        assert!(rule(0, "-j ACCEPT -F").is_err());
        assert!(rule(0, "-m comment --comment x -j ACCEPT").is_err());
        assert!(rule(0, "   ").is_err());
        assert!(rule(0, "-j ACCEPT\n-A INPUT -j DROP").is_err());
        assert_eq!(
            rule(0, "-s 10.0.0.1  -j ACCEPT").unwrap(),
            "-s 10.0.0.1 -j ACCEPT"
        );
    }

    #[test]
    fn custom_chain_names_follow_iptables_and_leave_the_agents_own_alone() {
        assert!(custom_chain_name("web-in").is_ok());
        assert!(custom_chain_name("").is_err());
        assert!(custom_chain_name(&"x".repeat(29)).is_err());
        assert!(custom_chain_name("INPUT").is_err());
        assert!(custom_chain_name("NSA-1234").is_err());
        assert!(custom_chain_name("a b").is_err());
        assert!(custom_chain_name("-x").is_err());
    }
}
