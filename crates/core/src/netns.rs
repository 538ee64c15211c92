//! Network namespaces, as users refer to them and as the kernel knows them.
//!
//! A [`NamespaceRef`] is what an item says ("the namespace of microservice ms1"); a [`Netns`] is
//! what a command acts on ("the namespace of pid 4242"). The core turns the first into the second
//! once the reference can be resolved, and keeps items pending until then.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{is_invisible, wire, ValidationError};

/// A namespace as an item refers to it. References that name the same namespace in two ways
/// (`FD /var/run/netns/x` and `NSID x`, `FD /proc/7/ns/net` and `PID 7`) are normalized to one
/// form so that the core sees one namespace, not two.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NamespaceRef {
    /// The agent's own namespace.
    Default,
    /// `/var/run/netns/<name>`; the agent creates it when missing.
    Named(String),
    /// The namespace of a process.
    Pid(u32),
    /// The namespace of one thread of a process.
    Task { pid: u32, tid: u32 },
    /// The namespace of the container running the microservice with this label.
    Microservice(String),
}

/// A namespace a command can act on: a reference with microservices resolved to their pid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Netns {
    Default,
    Named(String),
    Pid(u32),
    Task { pid: u32, tid: u32 },
}

/// Which namespace the kernel means: the device and inode of its nsfs file, the same for every
/// file that names it (`/proc/<pid>/ns/net`, `/var/run/netns/<name>`) and stable for the
/// namespace's life. Two references with one identity are one namespace to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NamespaceIdentity {
    pub dev: u64,
    pub ino: u64,
}

impl fmt::Display for NamespaceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device {} inode {}", self.dev, self.ino)
    }
}

impl Netns {
    /// A namespace as an operator names it on a command line (`nsagentctl resync --ns`):
    /// `default`, one of the files that name a namespace (`/var/run/netns/<name>`,
    /// `/proc/<pid>/ns/net`, `/proc/<pid>/task/<tid>/ns/net`), or the name of a named one.
    /// Errors name `field`.
    pub fn parse(field: &str, text: &str) -> Result<Netns, ValidationError> {
        if text == "default" {
            return Ok(Netns::Default);
        }
        let r = if text.starts_with('/') {
            parse_namespace_path(field, text)?
        } else {
            check_namespace_name(field, text)?;
            NamespaceRef::Named(text.to_string())
        };
        // Paths and names are fixed references: only microservices lack a fixed namespace.
        r.fixed()
            .ok_or_else(|| ValidationError::new(field, format!("'{text}' names no namespace")))
    }

    /// The file that names this namespace, for backends that open it.
    pub fn path(&self) -> String {
        match self {
            Netns::Default => "/proc/self/ns/net".to_string(),
            Netns::Named(name) => format!("/var/run/netns/{name}"),
            Netns::Pid(pid) => format!("/proc/{pid}/ns/net"),
            Netns::Task { pid, tid } => format!("/proc/{pid}/task/{tid}/ns/net"),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Default => write!(f, "default namespace"),
            Netns::Named(name) => write!(f, "namespace '{name}'"),
            Netns::Pid(pid) => write!(f, "namespace of pid {pid}"),
            Netns::Task { pid, tid } => write!(f, "namespace of pid {pid} task {tid}"),
        }
    }
}

impl fmt::Display for NamespaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceRef::Microservice(label) => write!(f, "namespace of microservice '{label}'"),
            other => match other.fixed() {
                Some(ns) => ns.fmt(f),
                None => unreachable!("only microservice references lack a fixed namespace"),
            },
        }
    }
}

impl NamespaceRef {
    /// The namespace this reference always names, or `None` for a microservice, whose namespace
    /// changes with its container.
    pub fn fixed(&self) -> Option<Netns> {
        match self {
            NamespaceRef::Default => Some(Netns::Default),
            NamespaceRef::Named(n) => Some(Netns::Named(n.clone())),
            NamespaceRef::Pid(p) => Some(Netns::Pid(*p)),
            NamespaceRef::Task { pid, tid } => Some(Netns::Task {
                pid: *pid,
                tid: *tid,
            }),
            NamespaceRef::Microservice(_) => None,
        }
    }

    pub(crate) fn from_wire(
        kind: wire::NamespaceTypeName,
        reference: &str,
    ) -> Result<Self, ValidationError> {
        use wire::NamespaceTypeName as T;
        let field = "namespace.reference";
        match kind {
            T::Undefined if reference.is_empty() => Ok(NamespaceRef::Default),
            T::Undefined => Err(ValidationError::new(
                "namespace.type",
                format!("missing, but a reference '{reference}' is given; one of NSID, PID, FD, MICROSERVICE"),
            )),
            T::Nsid => {
                check_namespace_name(field, reference)?;
                Ok(NamespaceRef::Named(reference.to_string()))
            }
            T::Pid => Ok(NamespaceRef::Pid(parse_pid(field, reference)?)),
            T::Fd => parse_namespace_path(field, reference),
            T::Microservice => {
                if reference.is_empty() {
                    return Err(ValidationError::new(field, "a MICROSERVICE namespace needs the microservice label"));
                }
                if let Some(c) = reference.chars().find(|c| c.is_whitespace() || is_invisible(*c)) {
                    return Err(ValidationError::new(field, format!("microservice label contains {c:?}")));
                }
                Ok(NamespaceRef::Microservice(reference.to_string()))
            }
        }
    }

    pub(crate) fn to_wire(&self) -> Option<wire::Namespace> {
        use wire::NamespaceTypeName as T;
        let (kind, reference) = match self {
            NamespaceRef::Default => return None,
            NamespaceRef::Named(n) => (T::Nsid, n.clone()),
            NamespaceRef::Pid(p) => (T::Pid, p.to_string()),
            NamespaceRef::Task { pid, tid } => (T::Fd, format!("/proc/{pid}/task/{tid}/ns/net")),
            NamespaceRef::Microservice(l) => (T::Microservice, l.clone()),
        };
        Some(wire::Namespace { kind, reference })
    }
}

/// Names under `/var/run/netns` are single path components.
fn check_namespace_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(
            field,
            "an NSID namespace needs a name",
        ));
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err(ValidationError::new(
            field,
            format!("'{name}' may not contain '..'"),
        ));
    }
    if name.contains('/') {
        return Err(ValidationError::new(
            field,
            format!("'{name}' may not contain '/': it names a file in /var/run/netns"),
        ));
    }
    if name.len() > 255 {
        return Err(ValidationError::new(
            field,
            "namespace name is longer than 255 bytes",
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || is_invisible(*c)) {
        return Err(ValidationError::new(
            field,
            format!("'{}' contains {c:?}", name.escape_debug()),
        ));
    }
    Ok(())
}

/// Linux's PID_MAX_LIMIT: no pid or tid is ever above it, whatever `pid_max` says.
const PID_MAX_LIMIT: u32 = 4_194_304;

/// Only the canonical decimal form, as the kernel writes it in /proc: a sign or leading zero
/// would name the same process under another spelling, and so another item identity.
fn parse_pid(field: &str, text: &str) -> Result<u32, ValidationError> {
    let not_a_pid = || ValidationError::new(field, format!("'{text}' is not a process id"));
    if !text.bytes().all(|b| b.is_ascii_digit()) || text.is_empty() {
        return Err(not_a_pid());
    }
    if text == "0" {
        return Err(ValidationError::new(field, "pid 0 is not a process"));
    }
    if text.starts_with('0') {
        return Err(ValidationError::new(
            field,
            format!("'{text}' has a leading zero; write the process id as /proc does"),
        ));
    }
    match text.parse::<u32>() {
        Ok(pid) if pid <= PID_MAX_LIMIT => Ok(pid),
        _ => Err(ValidationError::new(
            field,
            format!("'{text}' is not a process id: Linux pids are 1..={PID_MAX_LIMIT}"),
        )),
    }
}

/// Accepts the three file forms that name a network namespace and nothing else, so a reference
/// can never make the agent open an arbitrary file.
fn parse_namespace_path(field: &str, path: &str) -> Result<NamespaceRef, ValidationError> {
    let bad = || {
        ValidationError::new(
            field,
            format!("'{path}' is not /proc/<pid>/ns/net, /proc/<pid>/task/<tid>/ns/net or /var/run/netns/<name>"),
        )
    };
    for prefix in ["/var/run/netns/", "/run/netns/"] {
        if let Some(name) = path.strip_prefix(prefix) {
            check_namespace_name(field, name)?;
            return Ok(NamespaceRef::Named(name.to_string()));
        }
    }
    let rest = path.strip_prefix("/proc/").ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [pid, "ns", "net"] => Ok(NamespaceRef::Pid(parse_pid(field, pid)?)),
        [pid, "task", tid, "ns", "net"] => {
            let pid = parse_pid(field, pid)?;
            let tid = parse_pid(field, tid)?;
            if pid == tid {
                Ok(NamespaceRef::Pid(pid))
            } else {
                Ok(NamespaceRef::Task { pid, tid })
            }
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_names_a_namespace_by_default_a_file_or_a_name() {
        let p = |t: &str| Netns::parse("ns", t);
        assert_eq!(p("default"), Ok(Netns::Default));
        assert_eq!(p("blue"), Ok(Netns::Named("blue".into())));
        assert_eq!(p("/var/run/netns/blue"), Ok(Netns::Named("blue".into())));
        assert_eq!(p("/proc/42/ns/net"), Ok(Netns::Pid(42)));
        assert_eq!(
            p("/proc/42/task/43/ns/net"),
            Ok(Netns::Task { pid: 42, tid: 43 })
        );
    }

    #[test]
    fn a_bad_namespace_name_is_refused_naming_the_field() {
        for bad in ["", "a/b", "..", "/etc/passwd", "/proc/0/ns/net", "a b"] {
            let e = Netns::parse("ns", bad).expect_err(bad);
            assert_eq!(e.field, "ns", "{bad}");
            assert!(!e.reason.is_empty(), "{bad}");
        }
        let e = Netns::parse("ns", "/etc/passwd").expect_err("a file");
        assert!(e.reason.contains("/etc/passwd"), "{}", e.reason);
    }
}
