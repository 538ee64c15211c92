//! VXLANs in the simulated kernel: a tunnel link whose UDP socket lives in the namespace it
//! was made from (its underlay's, when it names one), and what the kernel does to one when its
//! underlay changes. Every rule was checked against Linux 6.18 with `ip` (the underlay a veth
//! end, in a namespace of the test's own):
//!
//! - made from the underlay's namespace (`IFLA_VXLAN_LINK`) straight into its own
//!   (`IFLA_NET_NS_FD`); a missing underlay is ENODEV, `lo` will do (MTU 65486), a name
//!   taken in the VXLAN's namespace is EEXIST;
//! - a second VXLAN with the same VNI, port and address family among those made from one
//!   namespace is EEXIST ("A VXLAN device with the specified VNI already exists");
//! - its MTU is its underlay's less the tunnel's headroom (50 bytes over IPv4, 70 over IPv6)
//!   unless given, 1500 without an underlay; one asked above that when made gets that,
//!   silently; set above it later is EINVAL; the underlay's MTU changing leaves it be;
//! - it has carrier whenever it is up, whatever its underlay's state (`UNKNOWN`, LOWER_UP);
//! - renaming the underlay leaves it as it is; deleting the underlay, moving it to another
//!   namespace, or the underlay going with its namespace deletes it, wherever it is;
//! - its remote is its FDB's entry for the zero MAC; an entry appended (`bridge fdb append`)
//!   that is there already is no error, one whose VTEP is of the other family than the
//!   tunnel's is EAFNOSUPPORT, one on a missing link ENODEV; deleting one for a MAC without
//!   entries is ENOENT, and for a MAC with entries but not that VTEP succeeds and changes
//!   nothing; entries stay when the VXLAN goes down.

use std::net::IpAddr;

use nsagent_core::errno::{EAFNOSUPPORT, EEXIST, EINVAL, ENODEV, ENOENT};
use nsagent_core::{LinkKind, LinkSpec, MacAddr, Netns, VxlanTunnel};

use crate::kernel::{check_mtu, refuse, Outcome, SimKernel};
use crate::namespace::{Link, PeerRef};

/// The most a VXLAN's MTU may be without an underlay (the kernel's `ETH_MAX_MTU`).
const MTU_WITHOUT_UNDERLAY: u32 = 65535;

impl SimKernel {
    /// `ip link add NAME netns NS type vxlan id VNI ... [dev UNDERLAY]`, sent in the
    /// underlay's namespace if there is one, else in `ns` (the caller has checked the name and
    /// MAC).
    pub(crate) fn create_vxlan(
        &mut self,
        ns: &Netns,
        spec: &LinkSpec,
        tunnel: &VxlanTunnel,
        underlay: Option<&(Netns, String)>,
    ) -> Outcome {
        let lower = match underlay {
            Some((uns, u)) => {
                let real = self.real(uns).clone();
                if !self.namespace(&real)?.links.contains_key(u) {
                    return Err(refuse(ENODEV, format!("no link named {u}")));
                }
                Some(PeerRef {
                    ns: real,
                    name: u.clone(),
                })
            }
            None => None,
        };
        let socket_ns = lower
            .as_ref()
            .map_or_else(|| self.real(ns).clone(), |l| l.ns.clone());
        if self.vni_taken(&socket_ns, tunnel) {
            return Err(refuse(
                EEXIST,
                "A VXLAN device with the specified VNI already exists",
            ));
        }
        check_mtu(LinkKind::Vxlan, spec.mtu)?;
        let most = self.most_vxlan_mtu(lower.as_ref(), tunnel);
        let link = self.new_link(LinkKind::Vxlan, spec, None);
        let namespace = self.namespace_mut(ns)?;
        let default = if lower.is_some() { most } else { 1500 };
        let link = Link {
            ifindex: namespace.allocate_ifindex(),
            mtu: spec.mtu.unwrap_or(default).min(most),
            lower,
            vxlan: Some((*tunnel, socket_ns)),
            fdb: tunnel
                .remote
                .map(|r| (MacAddr([0; 6]), r))
                .into_iter()
                .collect(),
            ..link
        };
        namespace.links.insert(spec.name.clone(), link);
        Ok(())
    }

    /// Whether a VXLAN made from `socket_ns` already has this tunnel's VNI, port and family.
    fn vni_taken(&self, socket_ns: &Netns, tunnel: &VxlanTunnel) -> bool {
        self.namespaces.values().any(|n| {
            n.links.values().any(|l| {
                l.vxlan.as_ref().is_some_and(|(t, s)| {
                    s == socket_ns
                        && t.vni == tunnel.vni
                        && t.dst_port == tunnel.dst_port
                        && t.is_ipv6() == tunnel.is_ipv6()
                })
            })
        })
    }

    /// The most a VXLAN on `lower` (none: no underlay) may have as its MTU.
    fn most_vxlan_mtu(&self, lower: Option<&PeerRef>, tunnel: &VxlanTunnel) -> u32 {
        lower
            .and_then(|l| self.namespaces.get(&l.ns)?.links.get(&l.name))
            .map_or(MTU_WITHOUT_UNDERLAY, |l| {
                l.mtu.saturating_sub(tunnel.headroom()).max(68)
            })
    }

    /// The MTU a VXLAN may be set to: not above its underlay's less the headroom.
    pub(crate) fn check_vxlan_mtu(&self, link: &Link, mtu: u32) -> Outcome {
        let Some((tunnel, _)) = &link.vxlan else {
            return Ok(());
        };
        let most = self.most_vxlan_mtu(link.lower.as_ref(), tunnel);
        if mtu > most {
            return Err(refuse(
                EINVAL,
                format!("a vxlan's MTU cannot exceed {most} on its underlay"),
            ));
        }
        Ok(())
    }

    /// The VXLANs on the link `lower` (namespace as stored), wherever they are.
    pub(crate) fn vxlans_on(&self, lower: &PeerRef) -> Vec<(Netns, String)> {
        self.stacked_on(lower)
            .into_iter()
            .filter(|(n, m)| {
                self.namespaces
                    .get(n)
                    .and_then(|x| x.links.get(m))
                    .is_some_and(|l| l.kind == LinkKind::Vxlan)
            })
            .collect()
    }

    /// The VXLANs made on the link `name` in `ns` (as stored), wherever they are: what the
    /// kernel deletes along with it, and when it leaves its namespace.
    pub fn vxlans_of(&self, ns: &Netns, name: &str) -> Vec<(Netns, String)> {
        self.vxlans_on(&PeerRef {
            ns: self.real(ns).clone(),
            name: name.to_string(),
        })
    }

    /// `bridge fdb append MAC dev LINK dst REMOTE` (self, permanent).
    pub(crate) fn add_fdb(
        &mut self,
        ns: &Netns,
        link: &str,
        mac: MacAddr,
        remote: IpAddr,
    ) -> Outcome {
        let l = self.link_mut(ns, link)?;
        // Another kind of link takes the MAC as one of its own addresses and ignores the
        // VTEP: nothing the model shows.
        let Some((tunnel, _)) = &l.vxlan else {
            return Ok(());
        };
        if remote.is_ipv6() != tunnel.is_ipv6() {
            return Err(refuse(
                EAFNOSUPPORT,
                format!("{remote} is not of {link}'s address family"),
            ));
        }
        if !l.fdb.contains(&(mac, remote)) {
            l.fdb.push((mac, remote));
        }
        Ok(())
    }

    /// `bridge fdb del MAC dev LINK dst REMOTE`.
    pub(crate) fn del_fdb(
        &mut self,
        ns: &Netns,
        link: &str,
        mac: MacAddr,
        remote: IpAddr,
    ) -> Outcome {
        let l = self.link_mut(ns, link)?;
        if !l.fdb.iter().any(|(m, _)| *m == mac) {
            return Err(refuse(ENOENT, format!("no fdb entry for {mac} on {link}")));
        }
        l.fdb.retain(|e| *e != (mac, remote));
        Ok(())
    }

    fn link_mut(&mut self, ns: &Netns, link: &str) -> Outcome<&mut Link> {
        self.namespace_mut(ns)?
            .links
            .get_mut(link)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {link}")))
    }
}
