//! What to change on a link the item holds in place, one step at a time: the attributes a
//! link is created with, the attribute change that brings it to what is wanted (the MAC of a
//! link that is up, the mark of an adopted one), then checksum offloading, then one address.
//! Pure: `link.rs` issues what these return.

use ipnet::IpNet;

use crate::command::{BridgeChange, LinkChange, LinkSpec, Master, Op};
use crate::identity::AgentIdentity;
use crate::model::{Interface, InterfaceType};

use super::borrow::Wanted;
use super::state::{LinkActual, LinkRole};

/// The attributes a link is created with.
pub(super) fn link_spec(me: &AgentIdentity, iface: &Interface, owned: bool) -> LinkSpec {
    LinkSpec {
        name: iface.host_if_name.clone(),
        mtu: iface.mtu,
        mac: if iface.link_only {
            None
        } else if iface.kind == InterfaceType::Bridge {
            Some(
                iface
                    .phys_address
                    .unwrap_or_else(|| me.stable_mac(&iface.name)),
            )
        } else {
            iface.phys_address
        },
        alias: owned.then(|| me.mark(&iface.name)),
        up: iface.enabled.unwrap_or(false),
    }
}

/// The change of attributes that brings a link in place to `want`, if any differ. A link
/// without this agent's mark (a legacy one, adopted) is re-marked.
pub(super) fn attribute_change(
    me: &AgentIdentity,
    a: &LinkActual,
    want: &Wanted,
    item: Option<&str>,
) -> Option<Op> {
    let owned = a.role.owned();
    let unknown = a.attributes_unknown;
    let mut change = LinkChange {
        up: want.up.filter(|u| unknown || a.up != *u),
        mtu: want.mtu.filter(|m| {
            let follows_ports = matches!(a.role, LinkRole::Bridge(_)) && !a.mtu_pinned;
            unknown || a.mtu != Some(*m) || follows_ports
        }),
        mac: want.mac.filter(|m| unknown || a.mac != Some(*m)),
        alias: item
            .filter(|name| owned && !me.marks(a.alias.as_deref(), name))
            .map(|name| me.mark(name)),
        // Only what is believed to differ: a kernel without VLAN filtering refuses even a 0.
        bridge: match (&a.role, &want.bridge) {
            (LinkRole::Bridge(seen), Some(want)) => BridgeChange::between(seen, want),
            _ => None,
        },
        master: match &want.master {
            // Releasing a link not known to be enslaved would only be noise.
            Some(m) if a.master != *m || (unknown && m.is_some()) => Some(match m {
                Some(name) => Master::Set(name.clone()),
                None => Master::Release,
            }),
            _ => None,
        },
    };
    if change.is_empty() {
        return None;
    }
    if change.mac.is_some() {
        if change.up == Some(true) {
            // Set the address while still down; bring it up on the next round.
            change.up = None;
        } else if a.up && !owned {
            // veth and dummy links change their address live; many drivers of links the
            // agent borrows answer EBUSY while up, so take it down first, alone: the kernel
            // sets the address of a request before its flags.
            change = LinkChange {
                up: Some(false),
                ..LinkChange::default()
            };
        }
    }
    Some(Op::SetLink {
        ns: a.ns.clone(),
        name: a.name.clone(),
        change,
    })
}

/// The next change that brings a link in place (right namespace, name and role) to what the
/// item wants: attributes first, then checksum offloading, then one address to delete, then
/// one to add; `None` once
/// nothing differs. `kept`: addresses that were on a borrowed link before, never deleted.
pub(super) fn configuration_step(
    me: &AgentIdentity,
    a: &LinkActual,
    iface: &Interface,
    want: &Wanted,
    kept: &[IpNet],
) -> Option<Op> {
    if let Some(op) = attribute_change(me, a, want, Some(&iface.name)) {
        return Some(op);
    }
    // Not a link attribute of rtnetlink's but an ethtool feature: a command of its own.
    let offload = iface.checksum_offload.change_from(&a.checksum_offload);
    if !offload.is_empty() {
        return Some(Op::SetOffload {
            ns: a.ns.clone(),
            name: a.name.clone(),
            offload,
        });
    }
    if iface.link_only {
        return None;
    }
    let extra = a
        .addresses
        .iter()
        .find(|x| !iface.ip_addresses.contains(x) && !kept.contains(x));
    // One that was on a borrowed link before is there as far as the core knows (`kept` holds
    // only those still there: see `Loan::present` in borrow.rs).
    let missing = iface
        .ip_addresses
        .iter()
        .find(|x| !a.addresses.contains(x) && !kept.contains(x));
    match (extra, missing) {
        (Some(addr), _) => Some(Op::DelAddress {
            ns: a.ns.clone(),
            link: a.name.clone(),
            addr: *addr,
        }),
        (None, Some(addr)) => Some(Op::AddAddress {
            ns: a.ns.clone(),
            link: a.name.clone(),
            addr: *addr,
        }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
