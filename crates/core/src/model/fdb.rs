//! FDB items: a VXLAN's forwarding database entries, each sending frames for one MAC (the zero
//! MAC: every frame no other entry claims, flooded to each VTEP listed for it) to one remote
//! VTEP, as `bridge fdb append MAC dev VXLAN dst IP` does. With them an overlay needs neither
//! a `remote_ip` nor learning: a control plane (or a user) publishes where each host is. An
//! extension of vpp-agent's model in its style: `ligato.linux.l3.ARPEntry`'s fields where they
//! mean the same (`interface`, `hw_address`), and `remote_ip` as the VXLAN names its remote.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::validation::check_logical_name;
use super::{wire, MacAddr, ValidationError};

/// A validated FDB entry: its identity is all of it (the interface, the MAC and the VTEP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    /// Logical name of the VXLAN interface item the entry lives on.
    pub interface: String,
    pub hw_address: MacAddr,
    /// The VTEP that frames for `hw_address` are sent to.
    pub remote_ip: IpAddr,
}

impl wire::FdbEntry {
    pub(super) fn validate(self) -> Result<FdbEntry, ValidationError> {
        check_logical_name("interface", &self.interface)?;
        if self.hw_address.is_empty() {
            return Err(ValidationError::new(
                "hw_address",
                "missing; 00:00:00:00:00:00 is the entry for every frame no other entry claims",
            ));
        }
        let hw_address: MacAddr = self
            .hw_address
            .parse()
            .map_err(|reason: String| ValidationError::new("hw_address", reason))?;
        if self.remote_ip.is_empty() {
            return Err(ValidationError::new(
                "remote_ip",
                "missing; the VTEP that frames for hw_address go to",
            ));
        }
        let remote_ip: IpAddr = self.remote_ip.parse().map_err(|_| {
            ValidationError::new(
                "remote_ip",
                format!("'{}' is not an IP address", self.remote_ip),
            )
        })?;
        if remote_ip.is_unspecified() {
            return Err(ValidationError::new(
                "remote_ip",
                format!("'{remote_ip}' is the unspecified address, no VTEP"),
            ));
        }
        Ok(FdbEntry {
            interface: self.interface,
            hw_address,
            remote_ip,
        })
    }
}

impl From<&FdbEntry> for wire::FdbEntry {
    fn from(f: &FdbEntry) -> Self {
        wire::FdbEntry {
            interface: f.interface.clone(),
            hw_address: f.hw_address.to_string(),
            remote_ip: f.remote_ip.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(interface: &str, mac: &str, remote: &str) -> wire::FdbEntry {
        wire::FdbEntry {
            interface: interface.into(),
            hw_address: mac.into(),
            remote_ip: remote.into(),
        }
    }

    #[test]
    fn an_entry_names_its_vxlan_its_mac_and_its_vtep() {
        let e = wire("vx1", "00:00:00:00:00:00", "192.168.77.2")
            .validate()
            .unwrap();
        assert_eq!(e.hw_address, MacAddr([0; 6]));
        assert_eq!(wire::FdbEntry::from(&e).validate(), Ok(e));
        for (w, field) in [
            (wire("", "02:00:00:00:00:01", "10.0.0.1"), "interface"),
            (wire("a/b", "02:00:00:00:00:01", "10.0.0.1"), "interface"),
            (wire("vx1", "", "10.0.0.1"), "hw_address"),
            (wire("vx1", "02:00:00:00:01", "10.0.0.1"), "hw_address"),
            (wire("vx1", "02:00:00:00:00:01", ""), "remote_ip"),
            (wire("vx1", "02:00:00:00:00:01", "10.0.0.300"), "remote_ip"),
            (wire("vx1", "02:00:00:00:00:01", "::"), "remote_ip"),
        ] {
            assert_eq!(w.validate().unwrap_err().field, field);
        }
    }
}
