//! Misuse of the simulator by a harness, as opposed to kernel errors, which are reported to the
//! core through [`nsagent_core::BackendError`] exactly as a real kernel would.

use nsagent_core::Netns;

/// A harness asked the simulator for something that cannot happen on a real host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The agent's own namespace lives as long as the agent; it can neither vanish nor appear.
    #[error("the default namespace cannot {action}")]
    DefaultNamespace { action: &'static str },
    #[error("{0} does not exist")]
    NoSuchNamespace(Netns),
    #[error("{0} exists already")]
    NamespaceExists(Netns),
    #[error("cannot seed link '{name}' in {ns}: {reason}")]
    BadSeed {
        ns: Netns,
        name: String,
        reason: String,
    },
    #[error("microservice '{0}' is not running")]
    NotRunning(String),
    #[error("microservice '{0}' is running already")]
    AlreadyRunning(String),
}
