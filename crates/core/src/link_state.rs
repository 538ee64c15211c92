//! What a link is doing right now, as vpp-agent's `InterfaceState` reports it: admin and
//! operational status, index, MTU, MAC and counters. None of it is desired state or policy: the
//! core never decides on it, so it lives beside the model for the backends to fill and the
//! daemon to report (`nsagentctl state`, state notifications).

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, ErrorKind};
use crate::model::MacAddr;
use crate::netns::Netns;
use crate::observed::LinkKind;

/// RFC 2863 operational status, as the kernel reports it (`IFLA_OPERSTATE`, `IF_OPER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

impl OperState {
    /// From the kernel's `IF_OPER_*` number; a number it may add later reads as unknown.
    pub fn from_kernel(value: u8) -> OperState {
        match value {
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            _ => OperState::Unknown,
        }
    }
}

/// A link's counters since it was made (`IFLA_STATS64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One link as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkState {
    pub name: String,
    pub ifindex: u32,
    pub kind: LinkKind,
    /// `IFF_UP`: what was asked of the link.
    pub admin_up: bool,
    /// What the link can do: an up veth whose other end is down has no carrier and is `down`;
    /// dummies and loopbacks, which have no carrier to speak of, are `unknown` when up.
    pub oper: OperState,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    pub stats: LinkStats,
    /// In Mb/s, as the driver reports it (ethtool's link modes; a veth says 10000); `None` for
    /// links whose driver reports none (loopback, dummy) or an unknown speed.
    pub speed_mbps: Option<u32>,
}

/// The error of a look at the links of `ns` that could not be taken.
pub fn link_states_failed(ns: &Netns, kind: ErrorKind, message: impl Into<String>) -> BackendError {
    BackendError {
        kind,
        errno: None,
        op: format!("read the links of {ns}"),
        message: message.into(),
        namespace: Some(ns.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_numbers_read_as_rfc_2863_states_and_unknown_ones_as_unknown() {
        assert_eq!(OperState::from_kernel(6), OperState::Up);
        assert_eq!(OperState::from_kernel(3), OperState::LowerLayerDown);
        assert_eq!(OperState::from_kernel(2), OperState::Down);
        assert_eq!(OperState::from_kernel(0), OperState::Unknown);
        assert_eq!(OperState::from_kernel(42), OperState::Unknown);
        assert_eq!(
            serde_json::to_value(OperState::LowerLayerDown).expect("json"),
            "lower-layer-down"
        );
    }
}
