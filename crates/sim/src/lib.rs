//! An in-memory Linux kernel for testing nsagent without root. [`SimKernel`] implements the same
//! [`nsagent_core::Backend`] trait as the netlink backend and follows the kernel's own rules —
//! names unique per namespace, veth pairs that live and die together, the errno each refusal
//! gets, the flushes Linux performs when a link goes down or an address goes away — as measured
//! on a real kernel. Because it is deterministic (no clock, no randomness, ordered maps only) a
//! simulation harness can drive the core against it from a seed, inject faults (failed
//! operations, vanishing namespaces, restarting microservices) and compare its canonical
//! [`StateDump`] with the desired state after every step.

mod drive;
mod dump;
mod error;
mod fault;
mod firewall;
mod kernel;
mod macvlan;
mod microservice;
mod multipath;
mod namespace;
mod route_types;
mod rules;
mod vxlan;

pub use drive::run_until_idle;
pub use dump::{LinkDump, NamespaceDump, RouteDump, StateDump};
pub use error::SimError;
pub use fault::Fault;
pub use firewall::BAD_RULE_WORD;
pub use kernel::{Counters, SeedKind, SeedLink, SimConfig, SimKernel, IPV6_DEFAULT_METRIC};
pub use microservice::Microservice;

#[cfg(test)]
mod tests;
