//! ARP (permanent neighbour) items, and the MAC addresses they and interfaces carry.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, ValidationError};

/// A 48-bit Ethernet address, written `aa:bb:cc:dd:ee:ff` in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts
                .next()
                .ok_or_else(|| format!("'{s}' has fewer than 6 octets"))?;
            if part.len() != 2 {
                return Err(format!("'{s}' is not six two-digit hex octets"));
            }
            // `from_str_radix` takes a leading sign as part of the number ("+2" is 2).
            if !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("'{part}' in '{s}' is not hex"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| format!("'{part}' in '{s}' is not hex"))?;
        }
        if parts.next().is_some() {
            return Err(format!("'{s}' has more than 6 octets"));
        }
        Ok(MacAddr(out))
    }
}

/// A validated permanent neighbour (ARP/NDP) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpEntry {
    /// Logical name of the interface item the entry lives on.
    pub interface: String,
    pub ip_address: IpAddr,
    pub hw_address: MacAddr,
}

impl wire::ArpEntry {
    pub(super) fn validate(self) -> Result<ArpEntry, ValidationError> {
        check_logical_name("interface", &self.interface)?;
        let ip_address: IpAddr = self.ip_address.parse().map_err(|_| {
            ValidationError::new(
                "ip_address",
                format!("'{}' is not an IP address", self.ip_address),
            )
        })?;
        if ip_address.is_unspecified() || ip_address.is_multicast() {
            return Err(ValidationError::new(
                "ip_address",
                format!("'{ip_address}' is not a unicast address"),
            ));
        }
        if self.hw_address.is_empty() {
            return Err(ValidationError::new("hw_address", "missing"));
        }
        let hw_address: MacAddr = self
            .hw_address
            .parse()
            .map_err(|reason: String| ValidationError::new("hw_address", reason))?;
        // A neighbour is one host: the kernel maps multicast IPs itself, and a zero MAC is none.
        if hw_address.is_multicast() || hw_address.0 == [0; 6] {
            return Err(ValidationError::new(
                "hw_address",
                format!("'{hw_address}' is a multicast or zero address; a neighbour needs a unicast MAC"),
            ));
        }
        Ok(ArpEntry {
            interface: self.interface,
            ip_address,
            hw_address,
        })
    }
}

impl From<&ArpEntry> for wire::ArpEntry {
    fn from(a: &ArpEntry) -> Self {
        wire::ArpEntry {
            interface: a.interface.clone(),
            ip_address: a.ip_address.to_string(),
            hw_address: a.hw_address.to_string(),
        }
    }
}
