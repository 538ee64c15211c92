//! `Core::explain`: everything the core knows about one item, in words, for `nsagentctl
//! explain`. Read-only: explaining never changes a decision.

use crate::model::{Interface, Item, ItemKey};
use crate::netns::NamespaceRef;
use crate::status::{Explanation, ItemState, PendingReason};

use super::state::{Actual, LinkRole, NamedState};
use super::Core;

/// The kernel objects an item holds, as the core believes them, one line each.
fn in_kernel(actual: &Actual) -> Vec<String> {
    match actual {
        Actual::None => vec![],
        Actual::Link(l) => {
            let mut v = vec![format!(
                "link {} in {} ({}), {}{}{}",
                l.name,
                l.ns,
                match &l.role {
                    LinkRole::Veth { peer_item } => format!("veth, peer item '{peer_item}'"),
                    LinkRole::Dummy => "dummy".to_string(),
                    LinkRole::Borrowed => "not created by the agent".to_string(),
                    LinkRole::Vrf { table } => format!("vrf, table {table}"),
                    LinkRole::Macvlan {
                        parent_item, mode, ..
                    } => format!(
                        "macvlan, mode {}, on the link of item '{parent_item}'",
                        mode.name().to_lowercase()
                    ),
                    LinkRole::Vxlan {
                        tunnel,
                        parent_item,
                        ..
                    } => format!(
                        "vxlan, vni {}{}{}, port {}{}{}",
                        tunnel.vni,
                        tunnel
                            .local
                            .map(|l| format!(", local {l}"))
                            .unwrap_or_default(),
                        tunnel
                            .remote
                            .map(|r| format!(", remote {r}"))
                            .unwrap_or_default(),
                        tunnel.dst_port,
                        if tunnel.learning { "" } else { ", no learning" },
                        parent_item
                            .as_ref()
                            .map(|p| format!(", on the link of item '{p}'"))
                            .unwrap_or_default()
                    ),
                    LinkRole::Tap(t) => format!(
                        "tap, owner {}, group {}{}",
                        t.owner.map_or("any".to_string(), |o| o.to_string()),
                        t.group.map_or("none".to_string(), |g| g.to_string()),
                        if t.multi_queue { ", multi-queue" } else { "" }
                    ),
                    LinkRole::Bridge(b) => format!(
                        "bridge, stp {}, vlan filtering {}, ageing {} s",
                        if b.stp { "on" } else { "off" },
                        if b.vlan_filtering { "on" } else { "off" },
                        b.ageing_time_seconds
                    ),
                },
                if l.up { "up" } else { "down" },
                l.mtu.map(|m| format!(", mtu {m}")).unwrap_or_default(),
                l.mac.map(|m| format!(", mac {m}")).unwrap_or_default(),
            )];
            v.extend(
                l.addresses
                    .iter()
                    .map(|a| format!("address {a} on {}", l.name)),
            );
            v
        }
        Actual::Route(r) if !r.route.hops.is_empty() => vec![format!(
            "route {}{} metric {} in {}",
            r.route.dst,
            r.route
                .hops
                .iter()
                .map(|h| format!(
                    " nexthop{} dev {} weight {}",
                    h.gw.map(|g| format!(" via {g}")).unwrap_or_default(),
                    h.dev,
                    h.weight
                ))
                .collect::<String>(),
            r.route.metric,
            r.ns
        )],
        Actual::Route(r) => vec![format!(
            "route {}{} dev {} metric {} in {}",
            r.route.dst,
            r.route.gw.map(|g| format!(" via {g}")).unwrap_or_default(),
            r.route.dev,
            r.route.metric,
            r.ns
        )],
        Actual::Neighbour(n) => vec![format!(
            "neighbour {} lladdr {} on {} in {}",
            n.ip, n.mac, n.link, n.ns
        )],
        Actual::Fdb(f) => vec![format!(
            "fdb entry {} dst {} on {} in {}",
            f.mac, f.remote, f.link, f.ns
        )],
        Actual::Rule(r) => vec![format!("rule {} in {}", r.rule, r.ns)],
        Actual::Chain(c) => vec![format!(
            "{} rule(s) in chain {} of the {:?} {} table in {}{}",
            c.spec.rules.len(),
            c.spec.holder,
            c.spec.family,
            c.spec.table.name(),
            c.ns,
            c.spec
                .jump_from()
                .map(|b| format!(", jumped to from {b}"))
                .unwrap_or_default()
        )],
    }
}

impl Core {
    /// Everything known about one item.
    pub fn explain(&self, key: &ItemKey) -> Option<Explanation> {
        let id = *self.ix.by_key.get(key)?;
        let slot = self.slot(id);
        let namespace = match slot.desired.as_deref() {
            Some(Item::Interface(i)) => self.resolve(&i.namespace).ok(),
            Some(Item::RuleChain(c)) => self.resolve(&c.namespace).ok(),
            Some(_) => {
                self.interface_slot(key.interface())
                    .and_then(|(_, s)| match s.desired.as_deref() {
                        Some(Item::Interface(i)) => self.resolve(&i.namespace).ok(),
                        _ => None,
                    })
            }
            None => slot.actual.ns().cloned(),
        };
        let in_kernel = in_kernel(&slot.actual);
        let mut state = slot.state.clone();
        if let (ItemState::Pending { reasons }, Some(Item::Interface(i))) =
            (&mut state, slot.desired.as_deref())
        {
            if let NamespaceRef::Named(n) = &i.namespace {
                if let Some(NamedState::Failed { error, .. }) = self.s.named.get(n) {
                    reasons.push(PendingReason::NamespaceBeingCreated(format!(
                        "{n} (last attempt failed: {error})"
                    )));
                }
            }
        }
        let warnings = self.warnings(slot.desired.as_deref());
        Some(Explanation {
            warnings,
            key: key.to_string(),
            state,
            desired: slot.desired.as_deref().map(Item::to_json),
            last_seq: slot.last_seq,
            namespace,
            in_kernel,
            in_flight: slot
                .in_flight
                .and_then(|c| self.s.in_flight.get(&c))
                .map(|f| f.op.to_string()),
            last_error: slot.last_error.clone(),
        })
    }

    /// What the user should know although nothing is wrong with the item itself.
    fn warnings(&self, desired: Option<&Item>) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(Item::Interface(i)) = desired {
            let aliases = self.aliases_of(&i.namespace);
            if !aliases.is_empty() {
                let others: Vec<String> = aliases.iter().map(|r| r.to_string()).collect();
                let acts_in = self
                    .resolve(&i.namespace)
                    .map(|ns| ns.to_string())
                    .unwrap_or_default();
                let identity = self
                    .resolve_alone(&i.namespace)
                    .ok()
                    .and_then(|ns| self.s.identities.identity(&ns))
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default();
                warnings.push(format!(
                    "{} is the same namespace as {}{identity}: items under these references \
                     share it (and contest its link names); commands act in {acts_in}",
                    i.namespace,
                    others.join(", "),
                ));
            }
        }
        if let Some(Item::Interface(Interface {
            namespace: NamespaceRef::Microservice(label),
            ..
        })) = desired
        {
            if let Some(ms) = self
                .s
                .microservices
                .get(label)
                .filter(|ms| !ms.duplicates.is_empty())
            {
                let ignored = ms.duplicates.join(", ");
                warnings.push(format!(
                    "microservice '{label}' runs in {} containers; using the newest, {}, and \
                     ignoring {ignored}",
                    ms.duplicates.len() + 1,
                    ms.container_id,
                ));
            }
        }
        warnings
    }
}
