//! MACVLANs in the simulated kernel: a link on a lower link (its parent), possibly in another
//! namespace, and what the kernel does to one when its parent changes. Every rule was checked
//! against Linux 6.18 with `ip` (the lower link a veth, in a namespace of the test's own):
//!
//! - created from the parent's namespace (`IFLA_LINK`) straight into its own (`IFLA_NET_NS_FD`);
//!   a missing parent is ENODEV, `lo` as a parent is EINVAL, a bridge port as a parent is EBUSY
//!   (the port holds the parent's rx handler), a name taken in the MACVLAN's namespace EEXIST;
//! - a MACVLAN named as a parent gives one on that one's parent (`mm@if3`);
//! - one that is up has a MAC of its own on its parent: bringing one up (when made up, too,
//!   which then makes nothing) with its parent's MAC or an up sibling's is EADDRINUSE, and so
//!   is setting such a MAC while it is up; while it is down anything goes;
//! - a PASSTHRU one is the only one on its parent: a second of any mode, or a PASSTHRU beside
//!   others, is EINVAL; it takes its parent's MAC, and a MAC set on either is set on both;
//! - the kernel's own mode, without `IFLA_MACVLAN_MODE`, is VEPA (the backend always sends one);
//! - its MTU is its parent's unless given, and never above it (EINVAL, when made or set);
//!   lowering the parent's lowers the MACVLAN's (below 1280, dropping its IPv6), raising it
//!   leaves it be;
//! - it has carrier while it is up and its parent has carrier (LOWERLAYERDOWN otherwise);
//! - a parent with MACVLANs cannot be made a bridge port (EBUSY); a MACVLAN can;
//! - renaming the parent or moving it to another namespace leaves the MACVLAN as it is;
//!   deleting the parent, or the parent going with its namespace, deletes it, wherever it is
//!   (and the VXLANs on it, `vxlan.rs`).

use nsagent_core::errno::{EADDRINUSE, EBUSY, EEXIST, EINVAL, ENODEV};
use nsagent_core::{LinkChange, LinkKind, LinkSpec, MacAddr, MacvlanMode, Netns};

use crate::kernel::{refuse, Outcome, SimKernel};
use crate::namespace::{Link, PeerRef};

impl SimKernel {
    /// `ip link add link PARENT name NAME netns NS type macvlan mode MODE`, sent in
    /// `parent_ns` (the caller has checked the name and MAC).
    pub(crate) fn create_macvlan(
        &mut self,
        ns: &Netns,
        spec: &LinkSpec,
        parent_ns: &Netns,
        parent: &str,
        mode: MacvlanMode,
    ) -> Outcome {
        let lower = self.lower_for(parent_ns, parent)?;
        let (lower_mtu, lower_mac) = {
            let l = self.link_at(&lower).expect("lower_for found it");
            (l.mtu, l.mac)
        };
        let siblings: Vec<Option<MacvlanMode>> = self
            .macvlans_on(&lower)
            .iter()
            .map(|(n, name)| {
                self.link_at(&PeerRef {
                    ns: n.clone(),
                    name: name.clone(),
                })
            })
            .map(|l| l.and_then(|l| l.macvlan_mode))
            .collect();
        if !siblings.is_empty()
            && (mode == MacvlanMode::Passthru || siblings.contains(&Some(MacvlanMode::Passthru)))
        {
            return Err(refuse(
                EINVAL,
                format!("a passthru macvlan is the only one on {}", lower.name),
            ));
        }
        if self.namespace(ns)?.links.contains_key(&spec.name) {
            return Err(refuse(EEXIST, format!("a link named {} exists", spec.name)));
        }
        crate::kernel::check_mtu(LinkKind::Macvlan, spec.mtu)?;
        if spec.mtu.is_some_and(|m| m > lower_mtu) {
            return Err(refuse(
                EINVAL,
                format!("a macvlan's MTU cannot exceed its parent's ({lower_mtu})"),
            ));
        }
        let mut link = self.new_link(LinkKind::Macvlan, spec, None);
        if mode == MacvlanMode::Passthru {
            link.mac = lower_mac;
        } else if spec.up && self.mac_busy(&lower, link.mac, None) {
            return Err(refuse(
                EADDRINUSE,
                format!("{} is in use on {}", link.mac, lower.name),
            ));
        }
        let namespace = self.namespace_mut(ns)?;
        let link = Link {
            ifindex: namespace.allocate_ifindex(),
            mtu: spec.mtu.unwrap_or(lower_mtu),
            lower: Some(lower),
            macvlan_mode: Some(mode),
            ..link
        };
        namespace.links.insert(spec.name.clone(), link);
        Ok(())
    }

    /// The link a MACVLAN made on `parent` in `ns` sits on: `parent`'s, or its own parent's if
    /// it is a MACVLAN.
    fn lower_for(&self, ns: &Netns, parent: &str) -> Outcome<PeerRef> {
        let real = self.real(ns).clone();
        let link = self
            .namespace(&real)?
            .links
            .get(parent)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {parent}")))?;
        if link.kind == LinkKind::Loopback {
            return Err(refuse(EINVAL, "lo cannot be a macvlan's parent"));
        }
        if let Some(lower) = &link.lower {
            return Ok(lower.clone());
        }
        let port_of_bridge = link
            .master
            .and_then(|m| self.namespace(&real).ok()?.name_of(m).map(str::to_string))
            .and_then(|m| self.namespace(&real).ok()?.links.get(&m).map(|l| l.kind))
            == Some(LinkKind::Bridge);
        if port_of_bridge {
            return Err(refuse(EBUSY, format!("{parent} is a bridge port")));
        }
        Ok(PeerRef {
            ns: real,
            name: parent.to_string(),
        })
    }

    fn link_at(&self, at: &PeerRef) -> Option<&Link> {
        self.namespaces.get(&at.ns)?.links.get(&at.name)
    }

    /// The MACVLANs on the link `name` in `ns`, wherever they are (namespace as stored, name):
    /// what the kernel deletes along with it.
    pub fn macvlans_of(&self, ns: &Netns, name: &str) -> Vec<(Netns, String)> {
        self.macvlans_on(&PeerRef {
            ns: self.real(ns).clone(),
            name: name.to_string(),
        })
    }

    /// The MACVLANs on the link `lower` (namespace as stored), wherever they are.
    pub(crate) fn macvlans_on(&self, lower: &PeerRef) -> Vec<(Netns, String)> {
        let mut out = Vec::new();
        for (ns, n) in &self.namespaces {
            for (name, l) in &n.links {
                if l.kind == LinkKind::Macvlan && l.lower.as_ref() == Some(lower) {
                    out.push((ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    /// The links made on the link `lower` (namespace as stored), MACVLANs and VXLANs,
    /// wherever they are.
    pub(crate) fn stacked_on(&self, lower: &PeerRef) -> Vec<(Netns, String)> {
        let mut out = Vec::new();
        for (ns, n) in &self.namespaces {
            for (name, l) in &n.links {
                if l.lower.as_ref() == Some(lower) {
                    out.push((ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    /// The link `name` in `ns` (as stored) is gone: so are the MACVLANs and VXLANs on it,
    /// which are returned.
    pub(crate) fn remove_stacked_on(&mut self, ns: &Netns, name: &str) -> Vec<(Netns, String)> {
        let lower = PeerRef {
            ns: ns.clone(),
            name: name.to_string(),
        };
        let mut gone = Vec::new();
        for (n, m) in self.stacked_on(&lower) {
            if self.remove_port_aware(&n, &m).is_some() {
                // And what is on that one (a VXLAN on a MACVLAN).
                let above = self.remove_stacked_on(&n, &m);
                gone.push((n, m));
                gone.extend(above);
            }
        }
        gone
    }

    /// The link `from` is now `to` (renamed, or moved to another namespace): its MACVLANs stay
    /// on it, and so do its VXLANs if it was renamed; moved, it takes its VXLANs' socket's
    /// namespace away from them, and the kernel deletes them (`vxlan.rs`).
    pub(crate) fn lower_moved(&mut self, from: &PeerRef, to: &PeerRef) {
        if from.ns != to.ns {
            for (n, m) in self.vxlans_on(from) {
                self.remove_port_aware(&n, &m);
            }
        }
        for (n, m) in self.stacked_on(from) {
            if let Some(l) = self
                .namespaces
                .get_mut(&n)
                .and_then(|x| x.links.get_mut(&m))
            {
                l.lower = Some(to.clone());
            }
        }
    }

    /// Whether a MACVLAN on `lower` that is up may not have `mac`: its parent's, or that of
    /// an up sibling other than `me`.
    fn mac_busy(&self, lower: &PeerRef, mac: MacAddr, me: Option<&PeerRef>) -> bool {
        if self.link_at(lower).is_some_and(|l| l.mac == mac) {
            return true;
        }
        self.macvlans_on(lower).into_iter().any(|(n, m)| {
            let at = PeerRef { ns: n, name: m };
            Some(&at) != me && self.link_at(&at).is_some_and(|l| l.up && l.mac == mac)
        })
    }

    /// Whether the MACVLAN `name` in `ns` (as stored) may be up with the MAC `mac`, or have
    /// it while up (not PASSTHRU, whose MAC is its parent's).
    pub(crate) fn check_macvlan_mac(&self, ns: &Netns, name: &str, mac: MacAddr) -> Outcome {
        let at = PeerRef {
            ns: ns.clone(),
            name: name.to_string(),
        };
        let Some(link) = self.link_at(&at) else {
            return Ok(());
        };
        match &link.lower {
            Some(lower)
                if link.macvlan_mode != Some(MacvlanMode::Passthru)
                    && self.mac_busy(lower, mac, Some(&at)) =>
            {
                Err(refuse(
                    EADDRINUSE,
                    format!("{mac} is in use on {}", lower.name),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The MTU a MACVLAN may be set to: not above its parent's.
    pub(crate) fn check_macvlan_mtu(&self, link: &Link, mtu: u32) -> Outcome {
        let lower_mtu = link
            .lower
            .as_ref()
            .and_then(|l| self.link_at(l))
            .map(|l| l.mtu);
        match lower_mtu {
            Some(max) if mtu > max => Err(refuse(
                EINVAL,
                format!("a macvlan's MTU cannot exceed its parent's ({max})"),
            )),
            _ => Ok(()),
        }
    }

    /// The parent `lower`'s MTU was set to `mtu`: its MACVLANs above it come down to it.
    pub(crate) fn lower_mtu_set(&mut self, lower: &PeerRef, mtu: u32) {
        for (n, m) in self.macvlans_on(lower) {
            let above = self
                .link_at(&PeerRef {
                    ns: n.clone(),
                    name: m.clone(),
                })
                .is_some_and(|l| l.mtu > mtu);
            if above {
                // As if set on it, with what the kernel drops below the IPv6 minimum.
                let change = LinkChange {
                    mtu: Some(mtu),
                    ..LinkChange::default()
                };
                let _ = self.set_link(&n, &m, &change);
            }
        }
    }

    /// The parent `lower`'s MAC is now `mac`: a PASSTHRU MACVLAN on it has it too.
    pub(crate) fn lower_mac_set(&mut self, lower: &PeerRef, mac: MacAddr) {
        for (n, m) in self.macvlans_on(lower) {
            if let Some(l) = self
                .namespaces
                .get_mut(&n)
                .and_then(|x| x.links.get_mut(&m))
            {
                if l.macvlan_mode == Some(MacvlanMode::Passthru) {
                    l.mac = mac;
                }
            }
        }
    }

    /// Whether the link `name` in `ns` (as stored) has MACVLANs on it.
    pub(crate) fn is_lower(&self, ns: &Netns, name: &str) -> bool {
        !self
            .macvlans_on(&PeerRef {
                ns: ns.clone(),
                name: name.to_string(),
            })
            .is_empty()
    }
}
