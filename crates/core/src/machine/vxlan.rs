//! VXLANs: the link a VXLAN item asks for, and what the kernel does when it makes one. With
//! an underlay the VXLAN is a link on a parent (`stacked.rs`): it waits for the underlay's
//! link and is made from the underlay's namespace, where its socket then lives, straight into
//! its own. The kernel keeps a VXLAN's MTU its tunnel's headroom below the underlay's: asked
//! for more when made, it silently takes the most it allows (as measured), so the belief
//! records that, and a later attempt to set more is refused (EINVAL) and reported.
//!
//! Driving: `link_target` calls [`Core::wanted_vxlan`]; the core's model of the kernel calls
//! [`Core::vxlan_made`] when a creation succeeds.

use crate::command::LinkSpec;
use crate::model::{Interface, VxlanTunnel};
use crate::netns::Netns;
use crate::status::PendingReason;

use super::effects::link_from_spec;
use super::state::{Actual, ItemId, LinkRole};
use super::target::WantedRole;
use super::Core;

impl Core {
    /// The VXLAN `iface` asks for, or `None` with why (its underlay's link is not there).
    pub(super) fn wanted_vxlan(
        &self,
        iface: &Interface,
        reasons: &mut Vec<PendingReason>,
    ) -> Option<WantedRole> {
        let tunnel = iface.vxlan.as_ref()?.tunnel;
        let underlay = match iface.parent() {
            None => None,
            Some(_) => Some(self.parent_of(iface).map_err(|r| reasons.push(r)).ok()?),
        };
        Some(WantedRole::Vxlan { tunnel, underlay })
    }

    /// The VXLAN `link` of item `id` was made in `ns`, on `underlay` if any.
    pub(super) fn vxlan_made(
        &mut self,
        id: ItemId,
        ns: &Netns,
        link: &LinkSpec,
        tunnel: &VxlanTunnel,
        underlay: &Option<(Netns, String)>,
    ) {
        let parent_item = self
            .desired_interface(id)
            .and_then(|i| i.parent())
            .map(str::to_string);
        let most = underlay
            .as_ref()
            .and_then(|u| self.ix.link_owner.get(u))
            .and_then(|&p| match &self.slot(p).actual {
                Actual::Link(l) => l.mtu,
                _ => None,
            })
            .map(|m| most_mtu(m, tunnel));
        let role = LinkRole::Vxlan {
            tunnel: *tunnel,
            parent_item,
            parent_link: underlay.clone(),
        };
        let mut actual = link_from_spec(ns, link, role, None);
        actual.mtu = match (link.mtu, most) {
            (Some(m), Some(most)) => Some(m.min(most)),
            // The kernel's own choice: the most the underlay allows.
            (None, most) => most,
            (m, None) => m,
        };
        self.set_actual(id, Actual::Link(actual));
    }
}

/// The highest MTU the kernel lets a VXLAN with `tunnel` have on an underlay of MTU `underlay`
/// (never below Ethernet's minimum).
pub(super) fn most_mtu(underlay: u32, tunnel: &VxlanTunnel) -> u32 {
    underlay.saturating_sub(tunnel.headroom()).max(68)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mtu_stays_the_headroom_below_the_underlay() {
        let mut t = VxlanTunnel {
            vni: 1,
            dst_port: 4789,
            learning: true,
            ..Default::default()
        };
        assert_eq!(most_mtu(1500, &t), 1450);
        assert_eq!(most_mtu(100, &t), 68);
        t.remote = Some("fd00::2".parse().unwrap());
        assert_eq!(most_mtu(1500, &t), 1430);
    }
}
