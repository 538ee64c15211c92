//! The link an interface item asks for (`LinkTarget`), and whether a link the kernel holds is
//! it or can become it in place: what `link.rs` reconciles towards.

use crate::model::{BridgeSettings, Interface, MacvlanMode, TapSettings, VxlanTunnel};
use crate::netns::Netns;

use super::state::{ItemId, LinkActual, LinkRole};

/// Where the link of an interface item should be; the rest of what it should be is the
/// item's desired value, read from there when needed so that nothing is copied on the way.
pub(super) struct LinkTarget {
    pub(super) ns: Netns,
    pub(super) role: WantedRole,
    /// The kernel name of the link it is to be enslaved to (a VRF, a bridge), if any.
    pub(super) master: Option<String>,
}

/// The role an item asks its link to have: like `LinkRole`, but a wanted veth names its peer
/// by slot and knows the namespace the peer's end goes in, which a creation needs and a belief
/// does not.
pub(super) enum WantedRole {
    Veth {
        peer: ItemId,
        peer_ns: Netns,
    },
    Dummy,
    Borrowed,
    Vrf {
        table: u32,
    },
    Bridge(BridgeSettings),
    Tap(TapSettings),
    /// A MACVLAN on the link `parent` (in `parent_ns`), the parent item's.
    Macvlan {
        mode: MacvlanMode,
        parent_ns: Netns,
        parent: String,
    },
    /// A VXLAN with this tunnel, on the link `underlay` (namespace, name), the underlay
    /// item's, if it names one.
    Vxlan {
        tunnel: VxlanTunnel,
        underlay: Option<(Netns, String)>,
    },
}

impl LinkTarget {
    /// Whether an existing link can be brought to this target in place. Namespace, kind and
    /// veth peer cannot change without re-creating the link; a link the agent owns is renamed
    /// in place, while a borrowed one is known by its name, so another name is another link.
    pub(super) fn fits(&self, a: &LinkActual, iface: &Interface) -> bool {
        if a.ns != self.ns || (!self.role.owned() && a.name != iface.host_if_name) {
            return false;
        }
        match (&self.role, &a.role) {
            (WantedRole::Dummy, LinkRole::Dummy) | (WantedRole::Borrowed, LinkRole::Borrowed) => {
                true
            }
            // A VRF's table is fixed when it is made.
            (WantedRole::Vrf { table }, LinkRole::Vrf { table: has }) => table == has,
            // A bridge's settings change in place (`configure.rs`).
            (WantedRole::Bridge(_), LinkRole::Bridge(_)) => true,
            // A TAP's settings are fixed when it is made.
            (WantedRole::Tap(want), LinkRole::Tap(has)) => want == has,
            // A MACVLAN's parent and mode are fixed when it is made.
            (
                WantedRole::Macvlan { mode, .. },
                LinkRole::Macvlan {
                    parent_item,
                    mode: has,
                    ..
                },
            ) => mode == has && iface.macvlan_parent() == Some(parent_item.as_str()),
            // So are a VXLAN's tunnel and underlay.
            (
                WantedRole::Vxlan { tunnel, .. },
                LinkRole::Vxlan {
                    tunnel: has,
                    parent_item,
                    ..
                },
            ) => tunnel == has && iface.parent() == parent_item.as_deref(),
            (WantedRole::Veth { .. }, LinkRole::Veth { peer_item }) => {
                iface.veth_peer.as_deref() == Some(peer_item.as_str())
            }
            _ => false,
        }
    }
}

impl WantedRole {
    pub(super) fn owned(&self) -> bool {
        !matches!(self, WantedRole::Borrowed)
    }
}
