//! The simulated kernel: namespaces, the requests of [`Op`] with the errors Linux gives them, the
//! side effects Linux applies on its own, and the faults a harness injects.
//!
//! Every rule below was checked against Linux 6.18 with `ip` and `strace` (the errno is the one
//! in the kernel's NLMSG_ERROR answer), unless its comment says it was not.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use nsagent_core::errno::{
    EADDRNOTAVAIL, EBUSY, EEXIST, EHOSTUNREACH, EINVAL, ELOOP, ENETDOWN, ENETUNREACH, ENODEV,
    ENOENT, EOPNOTSUPP, ERANGE, ESRCH,
};
use nsagent_core::ROUTE_PROTOCOL;
use nsagent_core::{
    link_states_failed, Backend, BackendError, BridgeSettings, ChainSnapshot, ChecksumOffload,
    ErrorKind, Family, LinkChange, LinkKind, LinkSpec, LinkState, LinkStats, MacAddr, MacvlanMode,
    Master, NamespaceIdentity, Netns, NewLink, ObservedLink, ObservedNamespace, ObservedNeighbour,
    ObservedTable, Op, OperState, RouteScope, RouteSpec, Snapshot, Table, TapSettings,
};
use serde::{Deserialize, Serialize};

use crate::dump::{LinkDump, NamespaceDump, RouteDump, StateDump};
use crate::error::SimError;
use crate::fault::{Fault, FaultQueue};
use crate::microservice::Microservice;
use crate::namespace::{
    has_host_bits, link_local, loopback_v4, loopback_v6, masked, Address, Link, Namespace, Origin,
    PeerRef, RouteKey, StoredRoute,
};

/// The metric the kernel gives an IPv6 route that asks for metric 0 (IP6_RT_PRIO_USER).
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// Longest alias the kernel stores (IFALIASZ - 1).
const MAX_ALIAS_LEN: usize = 255;
/// Longest interface name (IFNAMSIZ - 1).
const MAX_NAME_LEN: usize = 15;

/// Switches for kernel behaviour that depends on sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Whether a link that gains carrier (veth: both ends up; dummy: up) gets its EUI-64
    /// link-local IPv6 address, as Linux does with the default `addrgenmode eui64`.
    pub ipv6_link_local: bool,
    /// `net.ipv4.conf.*.promote_secondaries`. 0 in a new namespace (verified), so deleting the
    /// primary IPv4 address of a subnet deletes that subnet's secondary addresses too.
    pub promote_secondaries: bool,
    /// The pid the first simulated microservice gets; later ones count up from it.
    pub first_pid: u32,
    /// Whether a link that is up can be renamed, as since Linux 6.2; before, EBUSY.
    #[serde(default = "yes")]
    pub live_rename: bool,
    /// Whether bridges do VLAN filtering (`CONFIG_BRIDGE_VLAN_FILTERING`); without it the
    /// kernel refuses `IFLA_BR_VLAN_FILTERING` whatever its value, with EOPNOTSUPP (verified
    /// on this project's CI kernel, which lacks it).
    #[serde(default = "yes")]
    pub bridge_vlan_filtering: bool,
}

fn yes() -> bool {
    true
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ipv6_link_local: true,
            promote_secondaries: false,
            first_pid: 10_000,
            live_rename: true,
            bridge_vlan_filtering: true,
        }
    }
}

/// How many operations the kernel saw and how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Operations that succeeded.
    pub ops_applied: u64,
    /// Operations the kernel's own rules refused (EEXIST, ENODEV, a vanished namespace, ...).
    pub ops_refused: u64,
    /// Operations failed by an injected fault, without any effect.
    pub ops_injected: u64,
}

/// The kinds of link a test may place outside the agent's control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeedKind {
    /// A dummy another tool made: the kernel lets anyone delete it.
    Dummy,
    /// Hardware or anything else the kernel refuses to delete.
    Other,
}

/// A link that exists before the agent starts, made by someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedLink {
    pub name: String,
    pub kind: SeedKind,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    pub up: bool,
    /// Usually `None`; an alias with the agent's prefix makes a stale managed link for resync
    /// tests.
    pub alias: Option<String>,
    pub addresses: Vec<IpNet>,
}

impl SeedLink {
    /// A down link with MTU 1500, no alias and no addresses.
    pub fn new(name: impl Into<String>, kind: SeedKind) -> SeedLink {
        SeedLink {
            name: name.into(),
            kind,
            mtu: 1500,
            mac: None,
            up: false,
            alias: None,
            addresses: Vec::new(),
        }
    }
}

/// Why the kernel refused a request.
#[derive(Debug)]
pub(crate) enum Refusal {
    Errno(i32, String),
    Gone(Netns),
}

pub(crate) fn refuse(errno: i32, message: impl Into<String>) -> Refusal {
    Refusal::Errno(errno, message.into())
}

pub(crate) type Outcome<T = ()> = Result<T, Refusal>;

/// An in-memory Linux kernel with any number of network namespaces. Deterministic: ifindexes,
/// MACs, pids and container ids come from counters, and everything is kept in ordered maps.
#[derive(Debug, Clone)]
pub struct SimKernel {
    config: SimConfig,
    pub(crate) namespaces: BTreeMap<Netns, Namespace>,
    next_mac: u32,
    next_pid: u32,
    next_container: u64,
    microservices: BTreeMap<String, Microservice>,
    faults: FaultQueue,
    counters: Counters,
    /// Pids of processes that live in another process's or a named namespace: each is one
    /// more reference to that namespace (its key in `namespaces`), not a namespace of its own.
    aliases: BTreeMap<Netns, Netns>,
    /// Each namespace's nsfs inode, new for each namespace made (its identity).
    inodes: BTreeMap<Netns, u64>,
    next_inode: u64,
}

impl Default for SimKernel {
    fn default() -> Self {
        SimKernel::new(SimConfig::default())
    }
}

impl SimKernel {
    /// A host with only its default namespace, whose `lo` is up as on any booted host.
    pub fn new(config: SimConfig) -> SimKernel {
        let mut kernel = SimKernel {
            config,
            namespaces: BTreeMap::new(),
            next_mac: 1,
            next_pid: config.first_pid,
            next_container: 1,
            microservices: BTreeMap::new(),
            faults: FaultQueue::default(),
            counters: Counters::default(),
            aliases: BTreeMap::new(),
            inodes: BTreeMap::new(),
            next_inode: 4_026_531_840,
        };
        kernel.namespaces.insert(Netns::Default, Namespace::new());
        kernel.born(&Netns::Default);
        kernel.set_admin_state(&Netns::Default, "lo", true);
        kernel
    }

    pub fn config(&self) -> SimConfig {
        self.config
    }

    // ----- faults and namespaces coming and going -----

    /// Makes the next `count` operations fail with `fault`, after any failures already queued.
    pub fn fail_next(&mut self, count: u32, fault: Fault) {
        self.faults.push(count, fault);
    }

    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Injected failures not yet spent.
    pub fn pending_faults(&self) -> usize {
        self.faults.len()
    }

    /// A namespace appears: a process with its own namespace started, or a file in
    /// /var/run/netns was made by someone else. It holds only a down `lo`.
    pub fn appear(&mut self, ns: Netns) -> Result<(), SimError> {
        if ns == Netns::Default {
            return Err(SimError::DefaultNamespace { action: "appear" });
        }
        if self.contains_namespace(&ns) {
            return Err(SimError::NamespaceExists(ns));
        }
        self.born(&ns);
        self.namespaces.insert(ns, Namespace::new());
        Ok(())
    }

    /// A namespace was made: it gets an identity of its own.
    fn born(&mut self, ns: &Netns) {
        self.inodes.insert(ns.clone(), self.next_inode);
        self.next_inode += 1;
    }

    /// A process starts inside the existing namespace `of` (`ip netns exec`, or a process of
    /// the agent's own namespace): a fresh pid, whose `Netns::Pid` is an alias of `of` until
    /// the process exits ([`SimKernel::vanish`] of the alias) or `of` goes.
    pub fn alias_pid(&mut self, of: &Netns) -> Result<u32, SimError> {
        let pid = self.fresh_pid();
        self.alias(Netns::Pid(pid), of)?;
        Ok(pid)
    }

    /// The same with a pid of the caller's choosing, which must not be taken.
    pub fn alias(&mut self, alias: Netns, of: &Netns) -> Result<(), SimError> {
        if !matches!(alias, Netns::Pid(_)) || self.contains_namespace(&alias) {
            return Err(SimError::NamespaceExists(alias));
        }
        let of = self.real(of).clone();
        if !self.namespaces.contains_key(&of) {
            return Err(SimError::NoSuchNamespace(of));
        }
        self.aliases.insert(alias, of);
        Ok(())
    }

    /// The namespace's identity (the same for every reference to it), if it exists.
    pub fn identity(&self, ns: &Netns) -> Option<NamespaceIdentity> {
        self.inodes
            .get(self.real(ns))
            .map(|ino| NamespaceIdentity { dev: 4, ino: *ino })
    }

    /// The references that are aliases, with the namespace each names.
    pub fn aliases(&self) -> Vec<(Netns, Netns)> {
        self.aliases
            .iter()
            .map(|(a, of)| (a.clone(), of.clone()))
            .collect()
    }

    /// The key of the namespace `ns` names: itself, or the namespace it is an alias of.
    pub fn real<'a>(&'a self, ns: &'a Netns) -> &'a Netns {
        self.aliases.get(ns).unwrap_or(ns)
    }

    fn fresh_pid(&mut self) -> u32 {
        while self.contains_namespace(&Netns::Pid(self.next_pid)) {
            self.next_pid += 1;
        }
        self.next_pid += 1;
        self.next_pid - 1
    }

    /// A namespace vanishes (its last process exited, its file was removed). The kernel destroys
    /// its links, and deleting a veth end deletes its peer, so the peers of its veths in other
    /// namespaces go too, with their addresses, routes and neighbours (verified with
    /// `ip netns del`). Returns the peers destroyed elsewhere.
    ///
    /// An alias vanishing (its process exits) leaves the namespace as it is. A namespace with
    /// aliases does not die when its reference goes (`ip netns del` while a process runs
    /// inside): it lives on under its first alias, with everything in it.
    pub fn vanish(&mut self, ns: &Netns) -> Result<Vec<(Netns, String)>, SimError> {
        if self.aliases.remove(ns).is_some() {
            return Ok(Vec::new());
        }
        if *ns == Netns::Default {
            return Err(SimError::DefaultNamespace { action: "vanish" });
        }
        if let Some(heir) = self
            .aliases
            .iter()
            .find(|(_, of)| *of == ns)
            .map(|(a, _)| a.clone())
        {
            return self.hand_over(ns, heir);
        }
        self.inodes.remove(ns);
        let gone = self
            .namespaces
            .remove(ns)
            .ok_or_else(|| SimError::NoSuchNamespace(ns.clone()))?;
        let mut destroyed = Vec::new();
        for (name, link) in &gone.links {
            destroyed.extend(self.remove_stacked_on(ns, name));
            if let Some(peer) = &link.peer {
                if self.remove_port_aware(&peer.ns, &peer.name).is_some() {
                    destroyed.push((peer.ns.clone(), peer.name.clone()));
                    destroyed.extend(self.remove_stacked_on(&peer.ns, &peer.name));
                }
            }
        }
        Ok(destroyed)
    }

    /// `ns`'s reference is gone, `heir` (an alias of it) now names it alone.
    fn hand_over(&mut self, ns: &Netns, heir: Netns) -> Result<Vec<(Netns, String)>, SimError> {
        let namespace = self
            .namespaces
            .remove(ns)
            .ok_or_else(|| SimError::NoSuchNamespace(ns.clone()))?;
        self.aliases.remove(&heir);
        for of in self.aliases.values_mut() {
            if of == ns {
                *of = heir.clone();
            }
        }
        if let Some(ino) = self.inodes.remove(ns) {
            self.inodes.insert(heir.clone(), ino);
        }
        for other in self.namespaces.values_mut() {
            for link in other.links.values_mut() {
                if let Some(peer) = &mut link.peer {
                    if peer.ns == *ns {
                        peer.ns = heir.clone();
                    }
                }
            }
        }
        let mut namespace = namespace;
        for link in namespace.links.values_mut() {
            if let Some(peer) = &mut link.peer {
                if peer.ns == *ns {
                    peer.ns = heir.clone();
                }
            }
        }
        self.namespaces.insert(heir, namespace);
        Ok(Vec::new())
    }

    pub fn contains_namespace(&self, ns: &Netns) -> bool {
        self.namespaces.contains_key(self.real(ns))
    }

    /// Every namespace that exists, sorted.
    pub fn namespaces(&self) -> Vec<Netns> {
        self.namespaces.keys().cloned().collect()
    }

    // ----- microservices -----

    /// Starts a container for `label`: a fresh pid (never one whose namespace exists) and a
    /// fresh container id, and the namespace of that pid. The result carries the event to send.
    pub fn start_microservice(&mut self, label: &str) -> Result<Microservice, SimError> {
        if self.microservices.contains_key(label) {
            return Err(SimError::AlreadyRunning(label.to_string()));
        }
        let pid = self.fresh_pid();
        let container_id = format!("sim{:012x}", self.next_container);
        self.next_container += 1;
        self.namespaces.insert(Netns::Pid(pid), Namespace::new());
        self.born(&Netns::Pid(pid));
        let ms = Microservice {
            label: label.to_string(),
            container_id,
            pid,
        };
        self.microservices.insert(label.to_string(), ms.clone());
        Ok(ms)
    }

    /// Stops the container of `label`: its namespace vanishes, taking veth peers with it.
    pub fn stop_microservice(&mut self, label: &str) -> Result<Microservice, SimError> {
        let ms = self
            .microservices
            .remove(label)
            .ok_or_else(|| SimError::NotRunning(label.to_string()))?;
        // The harness may have made the namespace vanish on its own already; the container is
        // stopped either way.
        let _ = self.vanish(&ms.netns());
        Ok(ms)
    }

    /// Stops and starts again: the new container has a new pid, so a new, empty namespace.
    pub fn restart_microservice(
        &mut self,
        label: &str,
    ) -> Result<(Microservice, Microservice), SimError> {
        let old = self.stop_microservice(label)?;
        let new = self.start_microservice(label)?;
        Ok((old, new))
    }

    pub fn microservice(&self, label: &str) -> Option<&Microservice> {
        self.microservices.get(label)
    }

    /// Running microservices, sorted by label.
    pub fn microservices(&self) -> Vec<Microservice> {
        self.microservices.values().cloned().collect()
    }

    // ----- seeding what others made -----

    /// The iptables tables of `ns` with every rule, as `iptables-save` prints them (where
    /// `observe_chains` reports only the agents' rules), for a harness's checks.
    pub fn chains(&self, ns: &Netns) -> Option<Vec<ObservedTable>> {
        self.namespaces.get(self.real(ns)).map(|n| n.tables.all())
    }

    /// A hand appends a rule of nobody's to `chain` of a table in `ns` (the chain made if it is
    /// missing), as `iptables -A` would.
    pub fn add_foreign_rule(
        &mut self,
        ns: &Netns,
        family: Family,
        table: Table,
        chain: &str,
        text: &str,
    ) -> Result<(), SimError> {
        let real = self.real(ns).clone();
        let n = self
            .namespaces
            .get_mut(&real)
            .ok_or_else(|| SimError::NoSuchNamespace(ns.clone()))?;
        n.tables.add_foreign(family, table, chain, text);
        Ok(())
    }

    /// A hand deletes rule `index` of `chain`; says whether there was one.
    pub fn remove_rule(
        &mut self,
        ns: &Netns,
        family: Family,
        table: Table,
        chain: &str,
        index: usize,
    ) -> bool {
        let real = self.real(ns).clone();
        self.namespaces
            .get_mut(&real)
            .is_some_and(|n| n.tables.remove_rule(family, table, chain, index))
    }

    /// Places a link the agent did not make. Seeds bypass the request path: they are what was
    /// there before, so they neither count as operations nor meet injected faults.
    pub fn seed_link(&mut self, ns: &Netns, seed: SeedLink) -> Result<(), SimError> {
        let bad = |reason: &str| SimError::BadSeed {
            ns: ns.clone(),
            name: seed.name.clone(),
            reason: reason.to_string(),
        };
        let kind = match seed.kind {
            SeedKind::Dummy => LinkKind::Dummy,
            SeedKind::Other => LinkKind::Other,
        };
        if check_name(&seed.name).is_err() {
            return Err(bad("not a valid interface name"));
        }
        if check_mac(seed.mac).is_err() {
            return Err(bad("multicast or zero MAC"));
        }
        if check_mtu(kind, Some(seed.mtu)).is_err() {
            return Err(bad("MTU out of range"));
        }
        let mac = seed.mac.unwrap_or_else(|| self.fresh_mac());
        let namespace = self
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| SimError::NoSuchNamespace(ns.clone()))?;
        if namespace.links.contains_key(&seed.name) {
            return Err(bad("the name is taken"));
        }
        let ifindex = namespace.allocate_ifindex();
        let mut addresses: Vec<Address> = Vec::new();
        for net in &seed.addresses {
            if addresses.iter().any(|a| a.net == *net) {
                return Err(bad("duplicate address"));
            }
            addresses.push(Address {
                net: *net,
                origin: Origin::Configured,
            });
        }
        let alias = seed.alias.clone().filter(|a| !a.is_empty());
        let link = Link {
            ifindex,
            kind,
            alias,
            mtu: seed.mtu,
            mac,
            up: false,
            addresses,
            peer: None,
            rx_checksum: true,
            tx_checksum: true,
            master: None,
            vrf_table: None,
            // Someone else's bridge, as `ip link add type bridge` makes it.
            bridge: (kind == LinkKind::Bridge).then(BridgeSettings::default),
            tap: (kind == LinkKind::Tap).then(TapSettings::default),
            mtu_set: true,
            mac_set: true,
            lower: None,
            macvlan_mode: None,
            vxlan: None,
            fdb: vec![],
        };
        namespace.links.insert(seed.name.clone(), link);
        if seed.up {
            self.set_admin_state(ns, &seed.name, true);
        }
        Ok(())
    }

    /// Removes a link as the one who made it would (VPP deleting its TAP), wherever it is now,
    /// with its routes and neighbours. Like a seed, it bypasses the request path.
    pub fn unseed_link(&mut self, ns: &Netns, name: &str) -> Result<(), SimError> {
        let real = self.real(ns).clone();
        if !self.namespaces.contains_key(&real) {
            return Err(SimError::NoSuchNamespace(ns.clone()));
        }
        match self.remove_port_aware(&real, name) {
            Some(_) => Ok(()),
            None => Err(SimError::BadSeed {
                ns: ns.clone(),
                name: name.to_string(),
                reason: "no such link".into(),
            }),
        }
    }

    /// Places a route someone else installed (a DHCP client, the boot scripts), with its
    /// protocol. Only the device must exist.
    pub fn seed_route(
        &mut self,
        ns: &Netns,
        route: RouteSpec,
        protocol: u8,
    ) -> Result<(), SimError> {
        let namespace = self
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| SimError::NoSuchNamespace(ns.clone()))?;
        if !namespace.links.contains_key(&route.dev) {
            return Err(SimError::BadSeed {
                ns: ns.clone(),
                name: route.dev.clone(),
                reason: "no such link for the route".into(),
            });
        }
        let key = RouteKey {
            dst: masked(route.dst),
            metric: route.metric,
            table: route.table,
        };
        namespace.routes.put(
            key,
            StoredRoute {
                spec: RouteSpec {
                    dst: key.dst,
                    ..route
                },
                protocol,
            },
        );
        Ok(())
    }

    /// Places a permanent neighbour someone else made (`ip neigh add ... nud permanent`, with
    /// `protocol` 0 when the tool sets none). Only the device must exist.
    pub fn seed_neighbour(
        &mut self,
        ns: &Netns,
        link: &str,
        ip: IpAddr,
        mac: MacAddr,
        protocol: u8,
    ) -> Result<(), SimError> {
        let namespace = self
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| SimError::NoSuchNamespace(ns.clone()))?;
        if !namespace.links.contains_key(link) {
            return Err(SimError::BadSeed {
                ns: ns.clone(),
                name: link.to_string(),
                reason: "no such link for the neighbour".into(),
            });
        }
        namespace.neighbours.set(link, ip, mac, protocol);
        Ok(())
    }

    // ----- inspection -----

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The whole kernel in canonical form, managed links apart from the rest.
    /// One link as [`SimKernel::dump`] would show it, without dumping everything.
    pub fn link(&self, ns: &Netns, name: &str) -> Option<LinkDump> {
        let namespace = self.namespaces.get(self.real(ns))?;
        let link = namespace.links.get(name)?;
        Some(link_dump(namespace, name, link))
    }

    pub fn dump(&self) -> StateDump {
        let namespaces = self
            .namespaces
            .iter()
            .map(|(ns, namespace)| {
                let mut managed = Vec::new();
                let mut unmanaged = Vec::new();
                for (name, link) in &namespace.links {
                    let dump = link_dump(namespace, name, link);
                    if dump.is_managed() {
                        managed.push(dump);
                    } else {
                        unmanaged.push(dump);
                    }
                }
                NamespaceDump {
                    ns: ns.clone(),
                    managed,
                    unmanaged,
                }
            })
            .collect();
        StateDump { namespaces }
    }

    // ----- the request path -----

    fn execute(&mut self, op: &Op) -> Outcome {
        match op {
            Op::CreateNamespace { name } => {
                // `ip netns add` of an existing name fails, but the agent's request is "make sure
                // it exists", which the backend implements as success.
                let ns = Netns::Named(name.clone());
                if !self.namespaces.contains_key(&ns) {
                    self.born(&ns);
                    self.namespaces.insert(ns, Namespace::new());
                }
                Ok(())
            }
            Op::CreateLink { ns, link, kind } => self.create_link(ns, link, kind),
            Op::DeleteLink { ns, name } => self.delete_link(ns, name),
            Op::SetLink { ns, name, change } => self.set_link(ns, name, change),
            Op::SetOffload { ns, name, offload } => self.set_offload(ns, name, offload),
            Op::AddAddress { ns, link, addr } => self.add_address(ns, link, *addr),
            Op::DelAddress { ns, link, addr } => self.del_address(ns, link, *addr),
            Op::AddRoute { ns, route } | Op::ReplaceRoute { ns, route } => {
                self.replace_route(ns, route)
            }
            Op::DelRoute { ns, route } => self.del_route(ns, route),
            Op::SetNeighbour { ns, link, ip, mac } => self.set_neighbour(ns, link, *ip, *mac),
            Op::DelNeighbour { ns, link, ip } => self.del_neighbour(ns, link, *ip),
            Op::RenameLink { ns, name, new_name } => self.rename_link(ns, name, new_name),
            Op::MoveLink {
                ns,
                name,
                to,
                new_name,
            } => self.move_link(ns, name, to, new_name),
            Op::SetChain { ns, chain } => self
                .namespace_mut(ns)?
                .tables
                .set(chain)
                .map_err(|(e, m)| refuse(e, m)),
            Op::DeleteChain { ns, chain } => {
                self.namespace_mut(ns)?.tables.delete(chain);
                Ok(())
            }
            Op::AddFdb {
                ns,
                link,
                mac,
                remote,
            } => self.add_fdb(ns, link, *mac, *remote),
            Op::DelFdb {
                ns,
                link,
                mac,
                remote,
            } => self.del_fdb(ns, link, *mac, *remote),
            Op::AddRule { ns, rule } => self.add_rule(ns, rule),
            Op::DelRule { ns, rule } => self.del_rule(ns, rule),
        }
    }

    pub(crate) fn namespace(&self, ns: &Netns) -> Outcome<&Namespace> {
        self.namespaces
            .get(self.real(ns))
            .ok_or_else(|| Refusal::Gone(ns.clone()))
    }

    pub(crate) fn namespace_mut(&mut self, ns: &Netns) -> Outcome<&mut Namespace> {
        let ns = self.real(ns).clone();
        self.namespaces
            .get_mut(&ns)
            .ok_or_else(|| Refusal::Gone(ns.clone()))
    }

    fn fresh_mac(&mut self) -> MacAddr {
        let n = self.next_mac.to_be_bytes();
        self.next_mac = self.next_mac.wrapping_add(1);
        // Locally administered unicast, as the kernel's random addresses are.
        MacAddr([0x02, 0x53, n[0], n[1], n[2], n[3]])
    }

    /// Creates a dummy or a veth pair. Verified: a name taken in the namespace gives EEXIST
    /// (also when the peer's name is taken in the peer's namespace, or both ends share a name in
    /// one namespace); a multicast MAC on either end gives EADDRNOTAVAIL; an MTU outside 68..=65535
    /// on either end gives EINVAL; MTU, MAC, alias and up are applied at creation; the peer is
    /// created directly in its namespace.
    fn create_link(&mut self, ns: &Netns, spec: &LinkSpec, kind: &NewLink) -> Outcome {
        let namespace = self.namespace(ns)?;
        check_name(&spec.name)?;
        if namespace.links.contains_key(&spec.name) {
            return Err(refuse(EEXIST, format!("a link named {} exists", spec.name)));
        }
        check_mac(spec.mac)?;
        match kind {
            NewLink::Vrf { table } => {
                check_mtu(LinkKind::Vrf, spec.mtu)?;
                let link = self.new_link(LinkKind::Vrf, spec, None);
                let namespace = self.namespace_mut(ns)?;
                let link = Link {
                    ifindex: namespace.allocate_ifindex(),
                    mtu: spec.mtu.unwrap_or(65575),
                    vrf_table: Some(*table),
                    ..link
                };
                namespace.links.insert(spec.name.clone(), link);
            }
            NewLink::Bridge(settings) => {
                check_mtu(LinkKind::Bridge, spec.mtu)?;
                if settings.vlan_filtering && !self.config.bridge_vlan_filtering {
                    return Err(refuse(
                        EOPNOTSUPP,
                        "this kernel's bridges have no VLAN filtering",
                    ));
                }
                let link = self.new_link(LinkKind::Bridge, spec, None);
                let namespace = self.namespace_mut(ns)?;
                let link = Link {
                    ifindex: namespace.allocate_ifindex(),
                    bridge: Some(*settings),
                    ..link
                };
                namespace.links.insert(spec.name.clone(), link);
            }
            NewLink::Tap(settings) => {
                // Through /dev/net/tun: a name taken is EBUSY there (`TUNSETIFF` with
                // IFF_TUN_EXCL, verified), which the backend reports as EEXIST, as for any
                // other creation.
                check_mtu(LinkKind::Tap, spec.mtu)?;
                let link = self.new_link(LinkKind::Tap, spec, None);
                let namespace = self.namespace_mut(ns)?;
                let link = Link {
                    ifindex: namespace.allocate_ifindex(),
                    tap: Some(*settings),
                    ..link
                };
                namespace.links.insert(spec.name.clone(), link);
            }
            NewLink::Macvlan {
                parent_ns,
                parent,
                mode,
            } => self.create_macvlan(ns, spec, parent_ns, parent, *mode)?,
            NewLink::Vxlan { tunnel, underlay } => {
                self.create_vxlan(ns, spec, tunnel, underlay.as_ref())?
            }
            NewLink::Dummy => {
                check_mtu(LinkKind::Dummy, spec.mtu)?;
                let link = self.new_link(LinkKind::Dummy, spec, None);
                let namespace = self.namespace_mut(ns)?;
                let link = Link {
                    ifindex: namespace.allocate_ifindex(),
                    ..link
                };
                namespace.links.insert(spec.name.clone(), link);
            }
            NewLink::Veth { peer_ns, peer } => {
                check_name(&peer.name)?;
                check_mac(peer.mac)?;
                check_mtu(LinkKind::Veth, spec.mtu)?;
                check_mtu(LinkKind::Veth, peer.mtu)?;
                let other = self.namespace(peer_ns)?;
                if other.links.contains_key(&peer.name) || (peer_ns == ns && peer.name == spec.name)
                {
                    return Err(refuse(
                        EEXIST,
                        format!("a link named {} exists in {peer_ns}", peer.name),
                    ));
                }
                let here = PeerRef {
                    ns: self.real(peer_ns).clone(),
                    name: peer.name.clone(),
                };
                let there = PeerRef {
                    ns: self.real(ns).clone(),
                    name: spec.name.clone(),
                };
                let peer_link = self.new_link(LinkKind::Veth, peer, Some(there));
                let link = self.new_link(LinkKind::Veth, spec, Some(here));
                // The kernel registers the peer first, so it gets the lower ifindex when both
                // ends share a namespace.
                let other = self.namespace_mut(peer_ns)?;
                let peer_link = Link {
                    ifindex: other.allocate_ifindex(),
                    ..peer_link
                };
                other.links.insert(peer.name.clone(), peer_link);
                let namespace = self.namespace_mut(ns)?;
                let link = Link {
                    ifindex: namespace.allocate_ifindex(),
                    ..link
                };
                namespace.links.insert(spec.name.clone(), link);
                if peer.up {
                    self.set_admin_state(peer_ns, &peer.name, true);
                }
            }
        }
        if spec.up {
            self.set_admin_state(ns, &spec.name, true);
        }
        Ok(())
    }

    /// A down link from a spec; the caller assigns the ifindex and brings it up.
    pub(crate) fn new_link(
        &mut self,
        kind: LinkKind,
        spec: &LinkSpec,
        peer: Option<PeerRef>,
    ) -> Link {
        let mac = spec.mac.unwrap_or_else(|| self.fresh_mac());
        Link {
            ifindex: 0,
            kind,
            alias: spec.alias.clone().filter(|a| !a.is_empty()),
            mtu: spec.mtu.unwrap_or(1500),
            mac,
            up: false,
            addresses: Vec::new(),
            peer,
            rx_checksum: true,
            tx_checksum: true,
            master: None,
            vrf_table: None,
            bridge: None,
            tap: None,
            lower: None,
            macvlan_mode: None,
            vxlan: None,
            fdb: vec![],
            mtu_set: spec.mtu.is_some(),
            mac_set: spec.mac.is_some(),
        }
    }

    /// Verified: a missing link gives ENODEV; `lo` gives EOPNOTSUPP (and so does any link whose
    /// driver has no `dellink`, such as hardware, which `LinkKind::Other` stands for); deleting
    /// either end of a veth deletes the other end, in whatever namespace it is.
    fn delete_link(&mut self, ns: &Netns, name: &str) -> Outcome {
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        if matches!(link.kind, LinkKind::Loopback | LinkKind::Other) {
            return Err(refuse(EOPNOTSUPP, format!("{name} cannot be deleted")));
        }
        let removed = namespace.remove_link(name);
        if let Some(gone) = &removed {
            // A VRF or bridge deleted releases its ports; a VRF cycles each.
            let ports: Vec<String> = namespace
                .links
                .iter()
                .filter(|(_, l)| l.master == Some(gone.ifindex))
                .map(|(n, _)| n.clone())
                .collect();
            for port in ports {
                if let Some(l) = self.namespace_mut(ns)?.links.get_mut(&port) {
                    l.master = None;
                }
                if gone.kind == LinkKind::Vrf {
                    self.cycle(ns, &port);
                }
            }
            // A port deleted leaves its bridge.
            if let Some(bridge) = gone.master {
                self.bridge_follows_ports(ns, bridge);
            }
        }
        // The kernel deletes the MACVLANs on what went, wherever they are (`macvlan.rs`).
        let real = self.real(ns).clone();
        self.remove_stacked_on(&real, name);
        if let Some(peer) = removed.and_then(|l| l.peer) {
            self.remove_port_aware(&peer.ns, &peer.name);
            self.remove_stacked_on(&peer.ns, &peer.name);
        }
        Ok(())
    }

    /// Removes a link from its namespace (`ns` as stored, not an alias); a bridge it was a port
    /// of follows the ports it has left.
    pub(crate) fn remove_port_aware(&mut self, ns: &Netns, name: &str) -> Option<Link> {
        let gone = self.namespaces.get_mut(ns)?.remove_link(name)?;
        if let Some(bridge) = gone.master {
            self.bridge_follows_ports(ns, bridge);
        }
        Some(gone)
    }

    /// Verified: a missing link gives ENODEV; a name another link has gives EEXIST; its own name
    /// succeeds and changes nothing. The link keeps its index, addresses, routes (the kernel's
    /// prefix routes too) and neighbours, also while up (Linux renames live links since 6.2),
    /// `lo` included; the other end of a veth then names it by its new name.
    fn rename_link(&mut self, ns: &Netns, name: &str, new_name: &str) -> Outcome {
        let live_rename = self.config.live_rename;
        let namespace = self.namespace_mut(ns)?;
        if !namespace.links.contains_key(name) {
            return Err(refuse(ENODEV, format!("no link named {name}")));
        }
        if name == new_name {
            return Ok(());
        }
        check_name(new_name)?;
        if namespace.links.contains_key(new_name) {
            return Err(refuse(EEXIST, format!("a link named {new_name} exists")));
        }
        if !live_rename && namespace.links.get(name).is_some_and(|l| l.up) {
            return Err(refuse(
                EBUSY,
                format!("{name} is up (this kernel renames only links that are down)"),
            ));
        }
        let peer = namespace
            .rename_link(name, new_name)
            .and_then(|l| l.peer.clone());
        let real = self.real(ns).clone();
        self.lower_moved(
            &PeerRef {
                ns: real.clone(),
                name: name.to_string(),
            },
            &PeerRef {
                ns: real,
                name: new_name.to_string(),
            },
        );
        if let Some(peer) = peer {
            let far = self
                .namespaces
                .get_mut(&peer.ns)
                .and_then(|n| n.links.get_mut(&peer.name))
                .and_then(|l| l.peer.as_mut());
            if let Some(back) = far {
                back.name = new_name.to_string();
            }
        }
        Ok(())
    }

    /// As `ip link set NAME netns TO name NEW` (verified on Linux 6.18 with a TAP): a missing
    /// link is ENODEV, `lo` is EINVAL (it never leaves its namespace), a name taken in the
    /// target is EEXIST (the backend checks before moving, as the kernel would otherwise move
    /// the link and then fail the rename). The link keeps its MTU, MAC and alias, and its index
    /// unless the target uses it; it arrives down, without addresses, and its routes and
    /// neighbours stay behind, deleted. Into its own namespace it is a rename.
    fn move_link(&mut self, ns: &Netns, name: &str, to: &Netns, new_name: &str) -> Outcome {
        let (from, to) = (self.real(ns).clone(), self.real(to).clone());
        let source = self.namespace_mut(&from)?;
        let link = source
            .links
            .get(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        if link.kind == LinkKind::Loopback {
            return Err(refuse(EINVAL, format!("{name} cannot leave its namespace")));
        }
        if from == to {
            return self.rename_link(&from, name, new_name);
        }
        check_name(new_name)?;
        let target = self.namespace_mut(&to)?;
        if target.links.contains_key(new_name) {
            return Err(refuse(
                EEXIST,
                format!("a link named {new_name} exists in {to}"),
            ));
        }
        let taken: Vec<u32> = target.links.values().map(|l| l.ifindex).collect();
        self.set_admin_state(&from, name, false);
        let source = self.namespace_mut(&from)?;
        let Some(mut link) = source.remove_link(name) else {
            return Err(refuse(ENODEV, format!("no link named {name}")));
        };
        link.addresses.clear();
        // A link leaving its namespace leaves its master too.
        if let Some(bridge) = link.master.take() {
            self.bridge_follows_ports(&from, bridge);
        }
        let target = self.namespace_mut(&to)?;
        if taken.contains(&link.ifindex) {
            link.ifindex = target.allocate_ifindex();
        } else {
            target.keep_ifindex(link.ifindex);
        }
        let peer = link.peer.clone();
        target.links.insert(new_name.to_string(), link);
        self.lower_moved(
            &PeerRef {
                ns: from.clone(),
                name: name.to_string(),
            },
            &PeerRef {
                ns: to.clone(),
                name: new_name.to_string(),
            },
        );
        if let Some(peer) = peer {
            let back = self
                .namespaces
                .get_mut(&peer.ns)
                .and_then(|n| n.links.get_mut(&peer.name))
                .and_then(|l| l.peer.as_mut());
            if let Some(back) = back {
                back.ns = to.clone();
                back.name = new_name.to_string();
            }
        }
        Ok(())
    }

    /// Applies the change in the kernel's own order (address, MTU, alias, flags) and stops at
    /// the first error, keeping what was already changed, as `do_setlink` does. Verified: a
    /// missing link gives ENODEV; a multicast MAC gives EADDRNOTAVAIL; a veth's MAC can be
    /// changed while it is up, without touching its link-local address, but any MAC change
    /// flushes the link's neighbours; an MTU outside the driver's range gives EINVAL, `lo` takes
    /// any MTU; MTU (at or above 1280) and alias changes leave neighbours alone.
    /// As ethtool's FEATURES_SET: a missing link is ENODEV (verified: "no device matches
    /// name"); a feature the device cannot change is left as it is, without an error.
    fn set_offload(&mut self, ns: &Netns, name: &str, offload: &ChecksumOffload) -> Outcome {
        let link = self
            .namespace_mut(ns)?
            .links
            .get_mut(name)
            .ok_or_else(|| refuse(ENODEV, format!("no device matches name {name}")))?;
        if link.kind == LinkKind::Loopback {
            return Ok(());
        }
        if let Some(rx) = offload.rx {
            link.rx_checksum = rx;
        }
        if let Some(tx) = offload.tx {
            link.tx_checksum = tx;
        }
        Ok(())
    }

    pub(crate) fn set_link(&mut self, ns: &Netns, name: &str, change: &LinkChange) -> Outcome {
        let vlan_filtering = self.config.bridge_vlan_filtering;
        let mut port_of = None;
        let here = PeerRef {
            ns: self.real(ns).clone(),
            name: name.to_string(),
        };
        if let Some(link) = self
            .namespace(ns)?
            .links
            .get(name)
            .filter(|l| l.kind == LinkKind::Macvlan)
        {
            // In `do_setlink`'s order: the address (checked only while up), the MTU, the
            // flags (up with the address it has by then).
            let mac = change.mac.unwrap_or(link.mac);
            if change.mac.is_some() && link.up {
                self.check_macvlan_mac(&here.ns, name, mac)?;
            }
            if let Some(mtu) = change.mtu {
                self.check_macvlan_mtu(link, mtu)?;
            }
            if change.up == Some(true) && !link.up {
                self.check_macvlan_mac(&here.ns, name, mac)?;
            }
        }
        if let (Some(link), Some(mtu)) = (
            self.namespace(ns)?
                .links
                .get(name)
                .filter(|l| l.vxlan.is_some()),
            change.mtu,
        ) {
            self.check_vxlan_mtu(link, mtu)?;
        }
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get_mut(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        if let Some(b) = &change.bridge {
            // Sent as RTM_NEWLINK with the kind's data, which the kernel hands the driver
            // (`changelink`) before the generic attributes: a link of another kind is
            // EOPNOTSUPP, and so is any VLAN filtering attribute where bridges lack it.
            let Some(settings) = link.bridge.as_mut() else {
                return Err(refuse(EOPNOTSUPP, format!("{name} is not a bridge")));
            };
            if b.vlan_filtering.is_some() && !vlan_filtering {
                return Err(refuse(
                    EOPNOTSUPP,
                    "this kernel's bridges have no VLAN filtering",
                ));
            }
            *settings = b.applied_to(settings);
        }
        if let Some(mac) = change.mac {
            check_mac(Some(mac))?;
            // veth, dummy and lo set IFF_LIVE_ADDR_CHANGE; many hardware drivers do not and
            // answer EBUSY while up (not verified here: this host has no such device to spare).
            if link.up && link.kind == LinkKind::Other {
                return Err(refuse(
                    EBUSY,
                    format!("{name} is up and cannot change its address live"),
                ));
            }
            link.mac = mac;
            link.mac_set = true;
            let passthru_on = link
                .lower
                .clone()
                .filter(|_| link.macvlan_mode == Some(MacvlanMode::Passthru));
            // Setting the address, even to the one the link has, flushes every neighbour entry
            // of the link, permanent ones and both families included (verified).
            namespace.neighbours.remove_of_link(name, |_| true);
            // A PASSTHRU MACVLAN's MAC is its parent's, both ways (`macvlan.rs`).
            match passthru_on {
                Some(lower) => {
                    let change = LinkChange {
                        mac: Some(mac),
                        ..LinkChange::default()
                    };
                    let _ = self.set_link(&lower.ns, &lower.name, &change);
                }
                None => self.lower_mac_set(&here, mac),
            }
        }
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get_mut(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        if let Some(mtu) = change.mtu {
            check_mtu(link.kind, Some(mtu))?;
            let had_ipv6 = link.ipv6_enabled();
            link.mtu = mtu;
            link.mtu_set = true;
            port_of = link.master;
            let has_ipv6 = link.ipv6_enabled();
            let up_loopback = link.up && link.kind == LinkKind::Loopback;
            if had_ipv6 && !has_ipv6 {
                namespace.flush_ipv6(name);
            } else if !had_ipv6 && has_ipv6 {
                // Raising the MTU again re-enables IPv6 (verified: the link-local address comes
                // back, configured addresses do not).
                if up_loopback {
                    link.add_kernel_address(loopback_v6());
                }
                self.gain_carrier(ns, name);
            }
        }
        if let Some(alias) = &change.alias {
            if alias.len() > MAX_ALIAS_LEN {
                // The attribute policy rejects a string longer than its bound with ERANGE
                // (verified with a raw RTM_SETLINK: `ip` refuses such an alias itself).
                return Err(refuse(
                    ERANGE,
                    format!("alias of {name} is longer than {MAX_ALIAS_LEN} bytes"),
                ));
            }
            if let Some(link) = self.namespace_mut(ns)?.links.get_mut(name) {
                // An empty IFLA_IFALIAS removes the alias.
                link.alias = Some(alias.clone()).filter(|a| !a.is_empty());
            }
        }
        if let Some(up) = change.up {
            self.set_admin_state(ns, name, up);
        }
        if let Some(bridge) = port_of {
            self.bridge_follows_ports(ns, bridge);
        }
        if let Some(mtu) = change.mtu {
            self.lower_mtu_set(&here, mtu);
        }
        if let Some(master) = &change.master {
            self.set_master(ns, name, master)?;
        }
        Ok(())
    }

    /// `IFLA_MASTER`, after the flags as in `do_setlink`. Verified with a bridge (this host has
    /// no VRF module): a master that cannot take ports (a veth) is EOPNOTSUPP, `lo` as a port
    /// is EINVAL, a bridge as a port of a bridge (itself included) is ELOOP, a missing master
    /// is ENODEV (the backend resolves its name first), and a port of one bridge set to another
    /// moves. From the VRF driver's source: a VRF refuses an L3 master as a port (EINVAL), and
    /// takes a port it gains or loses down and up again (`cycle_netdev`) when it is up: its
    /// routes, neighbours and IPv6 addresses go, as on any down. A bridge leaves its ports as
    /// they are, and follows them itself ([`SimKernel::bridge_follows_ports`]).
    fn set_master(&mut self, ns: &Netns, name: &str, master: &Master) -> Outcome {
        let has_macvlans = self.is_lower(self.real(ns), name);
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        let (index, kind, old) = (link.ifindex, link.kind, link.master);
        let new = match master {
            Master::Release => None,
            Master::Set(m) => {
                let upper = namespace
                    .links
                    .get(m)
                    .ok_or_else(|| refuse(ENODEV, format!("no link named {m}")))?;
                match upper.kind {
                    LinkKind::Vrf => {
                        if matches!(kind, LinkKind::Loopback | LinkKind::Vrf)
                            || upper.ifindex == index
                        {
                            return Err(refuse(EINVAL, format!("{name} cannot be a port of {m}")));
                        }
                    }
                    LinkKind::Bridge => {
                        if kind == LinkKind::Bridge {
                            return Err(refuse(ELOOP, "a bridge cannot be a port of a bridge"));
                        }
                        if has_macvlans {
                            return Err(refuse(EBUSY, format!("{name} has macvlans on it")));
                        }
                        if kind == LinkKind::Loopback {
                            return Err(refuse(EINVAL, format!("{name} cannot be a port of {m}")));
                        }
                    }
                    _ => return Err(refuse(EOPNOTSUPP, format!("{m} cannot take ports"))),
                }
                Some(upper.ifindex)
            }
        };
        if old == new {
            return Ok(());
        }
        let is_vrf = |n: &Namespace, i: Option<u32>| {
            i.and_then(|i| n.name_of(i))
                .and_then(|m| n.links.get(m))
                .is_some_and(|l| l.kind == LinkKind::Vrf)
        };
        let cycles = is_vrf(namespace, old) || is_vrf(namespace, new);
        if let Some(link) = namespace.links.get_mut(name) {
            link.master = new;
        }
        if cycles {
            self.cycle(ns, name);
        }
        for bridge in [old, new].into_iter().flatten() {
            self.bridge_follows_ports(ns, bridge);
        }
        let real = self.real(ns).clone();
        self.gain_carrier(&real, name);
        Ok(())
    }

    /// A bridge whose MTU nobody set takes its ports' smallest (1500 without ports), and one
    /// whose MAC nobody set takes its ports' lowest (all zeros without ports), which the kernel
    /// announces as an address change, flushing the bridge's neighbour entries (verified: MTU
    /// and MAC; the flush is `neigh_changeaddr`'s).
    fn bridge_follows_ports(&mut self, ns: &Netns, bridge: u32) {
        let Ok(namespace) = self.namespace_mut(ns) else {
            return;
        };
        let Some(name) = namespace.name_of(bridge).map(str::to_string) else {
            return;
        };
        let ports: Vec<(u32, MacAddr)> = namespace
            .links
            .values()
            .filter(|l| l.master == Some(bridge))
            .map(|l| (l.mtu, l.mac))
            .collect();
        let Some(link) = namespace.links.get_mut(&name) else {
            return;
        };
        if link.kind != LinkKind::Bridge {
            return;
        }
        if !link.mtu_set {
            link.mtu = ports.iter().map(|p| p.0).min().unwrap_or(1500);
        }
        let mac = ports.iter().map(|p| p.1).min().unwrap_or(MacAddr([0; 6]));
        if !link.mac_set && link.mac != mac {
            link.mac = mac;
            namespace.neighbours.remove_of_link(&name, |_| true);
        }
    }

    /// Down and up again, if up: what a VRF does to a port it gains or loses.
    fn cycle(&mut self, ns: &Netns, name: &str) {
        let up = self
            .namespace(ns)
            .is_ok_and(|n| n.links.get(name).is_some_and(|l| l.up));
        if up {
            self.set_admin_state(ns, name, false);
            self.set_admin_state(ns, name, true);
        }
    }

    /// The administrative state and what Linux does when it changes. Going up: `lo` gets
    /// 127.0.0.1/8 and ::1/128 whenever it comes up (verified, even after they were deleted); a
    /// link that now has carrier gets its link-local address (a veth has carrier only while
    /// both ends are up, so bringing one end up can give the other end its address). Going
    /// down: see [`Namespace::flush_on_down`]. A veth whose peer goes down loses carrier and
    /// keeps everything (its routes are only marked `linkdown`).
    fn set_admin_state(&mut self, ns: &Netns, name: &str, up: bool) {
        let real = self.real(ns).clone();
        let ns = &real;
        let Some(namespace) = self.namespaces.get_mut(ns) else {
            return;
        };
        let Some(link) = namespace.links.get_mut(name) else {
            return;
        };
        if link.up == up {
            return;
        }
        link.up = up;
        if !up {
            namespace.flush_on_down(name);
            return;
        }
        if link.kind == LinkKind::Loopback {
            link.add_kernel_address(loopback_v4());
            if link.ipv6_enabled() {
                link.add_kernel_address(loopback_v6());
            }
        }
        let peer = link.peer.clone();
        self.gain_carrier(ns, name);
        if let Some(peer) = peer {
            self.gain_carrier(&peer.ns, &peer.name);
        }
    }

    /// Whether the link is up and its lower layer too.
    fn has_carrier(&self, ns: &Netns, name: &str) -> bool {
        let Some(link) = self
            .namespaces
            .get(self.real(ns))
            .and_then(|n| n.links.get(name))
        else {
            return false;
        };
        if !link.up {
            return false;
        }
        match (&link.kind, &link.peer) {
            (LinkKind::Veth, Some(peer)) => self
                .namespaces
                .get(&peer.ns)
                .and_then(|n| n.links.get(&peer.name))
                .is_some_and(|p| p.up),
            (LinkKind::Veth, None) => false,
            // A MACVLAN has carrier while its parent has (verified: LOWERLAYERDOWN otherwise).
            (LinkKind::Macvlan, _) => link
                .lower
                .as_ref()
                .is_some_and(|l| self.has_carrier(&l.ns, &l.name)),
            // A TAP has carrier only while a process has it open, which none here does
            // (verified: NO-CARRIER when up).
            (LinkKind::Tap, _) => false,
            // A bridge has carrier while a port has (verified: NO-CARRIER without ports; with
            // STP on the kernel waits out the forwarding delay first, which the sim skips).
            (LinkKind::Bridge, _) => {
                let index = link.ifindex;
                self.namespaces.get(self.real(ns)).is_some_and(|n| {
                    n.links
                        .iter()
                        .any(|(port, l)| l.master == Some(index) && self.has_carrier(ns, port))
                })
            }
            _ => true,
        }
    }

    /// Gives a link with carrier and IPv6 its EUI-64 link-local address, as addrconf does when
    /// the link becomes ready (verified: the address appears only once a veth's peer is up too,
    /// and is derived from the MAC the link has at that moment).
    fn gain_carrier(&mut self, ns: &Netns, name: &str) {
        if !self.config.ipv6_link_local || !self.has_carrier(ns, name) {
            return;
        }
        if let Some(link) = self
            .namespaces
            .get_mut(ns)
            .and_then(|n| n.links.get_mut(name))
        {
            if link.kind != LinkKind::Loopback && link.ipv6_enabled() {
                let address = link_local(link.mac);
                link.add_kernel_address(address);
            }
        }
        // A port with carrier gives its bridge carrier.
        let master = self
            .namespaces
            .get(ns)
            .and_then(|n| n.name_of(n.links.get(name)?.master?))
            .map(str::to_string);
        if let Some(master) = master {
            self.gain_carrier(ns, &master);
        }
        // So does a parent its MACVLANs.
        let here = PeerRef {
            ns: self.real(ns).clone(),
            name: name.to_string(),
        };
        for (n, m) in self.macvlans_on(&here) {
            self.gain_carrier(&n, &m);
        }
    }

    /// Verified: a missing link gives ENODEV. An IPv4 address is a duplicate (EEXIST) when the
    /// same address with the same prefix length is there (10.1.0.1/24 and 10.1.0.1/16 may
    /// coexist); an IPv6 address is a duplicate whatever its prefix length (fd00::1/48 after
    /// fd00::1/64 gives EEXIST). IPv6 on a link with an MTU below 1280 gives EINVAL. Addresses
    /// may be added to a link that is down.
    fn add_address(&mut self, ns: &Netns, name: &str, addr: IpNet) -> Outcome {
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get_mut(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        let duplicate = match addr {
            IpNet::V4(_) => link.addresses.iter().any(|a| a.net == addr),
            IpNet::V6(_) => {
                if !link.ipv6_enabled() {
                    return Err(refuse(
                        EINVAL,
                        format!("IPv6 is disabled on {name} (MTU {})", link.mtu),
                    ));
                }
                link.addresses.iter().any(|a| a.net.addr() == addr.addr())
            }
        };
        if duplicate {
            return Err(refuse(
                EEXIST,
                format!("{addr} is already assigned to {name}"),
            ));
        }
        link.addresses.push(Address {
            net: addr,
            origin: Origin::Configured,
        });
        Ok(())
    }

    /// Verified: a missing link gives ENODEV; an address that is not there with exactly this
    /// prefix length gives EADDRNOTAVAIL (both families). Deleting the primary IPv4 address of a
    /// subnet deletes the subnet's secondary addresses too (promote_secondaries = 0), and
    /// deleting the last IPv4 address flushes the link's IPv4 routes (see
    /// [`Namespace::flush_ipv4`]).
    fn del_address(&mut self, ns: &Netns, name: &str, addr: IpNet) -> Outcome {
        let promote = self.config.promote_secondaries;
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get_mut(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        let index = link
            .addresses
            .iter()
            .position(|a| a.net == addr)
            .ok_or_else(|| refuse(EADDRNOTAVAIL, format!("{addr} is not assigned to {name}")))?;
        if let IpNet::V4(removed) = addr {
            let same_subnet = |net: &IpNet| match net {
                IpNet::V4(v4) => {
                    v4.prefix_len() == removed.prefix_len() && v4.network() == removed.network()
                }
                IpNet::V6(_) => false,
            };
            let primary = !link.addresses[..index].iter().any(|a| same_subnet(&a.net));
            let mut gone = vec![link.addresses.remove(index).net.addr()];
            if primary && !promote {
                link.addresses.retain(|a| {
                    let keep = !same_subnet(&a.net);
                    if !keep {
                        gone.push(a.net.addr());
                    }
                    keep
                });
            }
            if !link.has_ipv4() {
                namespace.flush_ipv4(name);
            }
            namespace.drop_routes_from(&gone);
        } else {
            link.addresses.remove(index);
        }
        Ok(())
    }

    /// AddRoute and ReplaceRoute both create or replace (NLM_F_CREATE | NLM_F_REPLACE) the
    /// route with this destination and metric in the main table, whatever its device. Verified:
    /// - a missing device gives ENODEV;
    /// - IPv4 destination with host bits: EINVAL; IPv6 destination: host bits masked off;
    /// - no gateway, device down: ENETDOWN (both families);
    /// - IPv4 gateway not inside a subnet of an address of the up device (or a static
    ///   link-scope route of the device), device down included: ENETUNREACH;
    /// - IPv4 gateway with host scope: EINVAL; with link scope: ENETUNREACH;
    /// - IPv6 gateway not covered by an address prefix or gateway-less route of the up device,
    ///   device down included: EHOSTUNREACH; a link-local gateway needs only the device up
    ///   (else ENETDOWN); a multicast gateway gives EINVAL;
    /// - IPv6 on a device whose MTU is below 1280: ENODEV;
    /// - a gateway of the other family: ENETUNREACH for an IPv4 route, ERANGE for an IPv6 one;
    /// - IPv6 metric 0 becomes 1024, and IPv6 routes always report scope global.
    fn replace_route(&mut self, ns: &Netns, route: &RouteSpec) -> Outcome {
        if !route.kind.has_device() {
            return self.put_dropping_route(ns, route);
        }
        if !route.hops.is_empty() {
            return self.put_multipath_route(ns, route);
        }
        let namespace = self.namespace(ns)?;
        if let Some(src) = route.src {
            check_preferred_source(namespace, src)?;
        }
        let spec = one_path(namespace, route)?;
        self.namespace_mut(ns)?.routes.put_agent(spec);
        Ok(())
    }

    /// Verified: a route that does not match gives ESRCH. A route matches on destination,
    /// metric (0 matches any), device and, when given, gateway. The kernel would also match an
    /// IPv4 route's scope if the request named one (a delete with `scope host` of a link-scope
    /// route gives ESRCH), but the netlink backend deletes with RT_SCOPE_NOWHERE, which matches
    /// any scope, so the sim ignores the scope. A missing device gives ENODEV: the backend
    /// resolves the name before asking.
    fn del_route(&mut self, ns: &Netns, route: &RouteSpec) -> Outcome {
        if !route.hops.is_empty() {
            return self.del_multipath_route(ns, route);
        }
        let namespace = self.namespace_mut(ns)?;
        let dev = &route.dev;
        if !dev.is_empty() && !namespace.links.contains_key(dev) {
            return Err(refuse(ENODEV, format!("no link named {dev}")));
        }
        if route.dst.addr().is_ipv4() && has_host_bits(&route.dst) {
            return Err(refuse(EINVAL, format!("{} has host bits set", route.dst)));
        }
        let dst = masked(route.dst);
        let found = namespace.routes.to_dst(dst).find_map(|(key, stored)| {
            let s = &stored.spec;
            let matches = (route.metric == 0 || key.metric == route.metric)
                && key.table == route.table
                && s.kind == route.kind
                && s.dev == *dev
                && (route.gw.is_none() || route.gw == s.gw);
            matches.then_some(*key)
        });
        let key = found.ok_or_else(|| {
            refuse(
                ESRCH,
                format!("no route {dst} metric {} via {dev}", route.metric),
            )
        })?;
        namespace.routes.remove(&key);
        Ok(())
    }

    /// Verified: creates or replaces a permanent entry; a missing link gives ENODEV; an IPv6
    /// neighbour on a link with IPv6 disabled gives EINVAL. The link may be down (the entry
    /// survives coming up, but not going down).
    fn set_neighbour(&mut self, ns: &Netns, name: &str, ip: IpAddr, mac: MacAddr) -> Outcome {
        let namespace = self.namespace_mut(ns)?;
        let link = namespace
            .links
            .get(name)
            .ok_or_else(|| refuse(ENODEV, format!("no link named {name}")))?;
        if ip.is_ipv6() && !link.ipv6_enabled() {
            return Err(refuse(EINVAL, format!("IPv6 is disabled on {name}")));
        }
        namespace.neighbours.set(name, ip, mac, ROUTE_PROTOCOL);
        Ok(())
    }

    /// Verified: a missing link gives ENODEV, a missing entry ENOENT.
    fn del_neighbour(&mut self, ns: &Netns, name: &str, ip: IpAddr) -> Outcome {
        let namespace = self.namespace_mut(ns)?;
        if !namespace.links.contains_key(name) {
            return Err(refuse(ENODEV, format!("no link named {name}")));
        }
        namespace
            .neighbours
            .remove(name, ip)
            .map(|_| ())
            .ok_or_else(|| refuse(ENOENT, format!("no neighbour {ip} on {name}")))
    }
}

impl Backend for SimKernel {
    /// An injected fault, if one is queued, wins and changes nothing; otherwise the kernel's
    /// rules decide.
    fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
        if let Some(fault) = self.faults.next() {
            self.counters.ops_injected += 1;
            return Err(match fault {
                Fault::Errno(errno) => BackendError::from_errno(op, errno, "injected fault"),
                Fault::NamespaceGone => BackendError::new(
                    op,
                    ErrorKind::NamespaceGone,
                    "injected fault: namespace gone",
                ),
            });
        }
        match self.execute(op) {
            Ok(()) => {
                self.counters.ops_applied += 1;
                Ok(())
            }
            Err(Refusal::Errno(errno, message)) => {
                self.counters.ops_refused += 1;
                Err(BackendError::from_errno(op, errno, message))
            }
            Err(Refusal::Gone(ns)) => {
                self.counters.ops_refused += 1;
                Err(BackendError::namespace_gone(
                    op,
                    &ns,
                    format!("{ns} does not exist"),
                ))
            }
        }
    }

    /// Every link of `ns` in ifindex order. Nothing passes traffic here, so the counters are
    /// zero; operational status follows carrier as the kernel's does (verified): down links are
    /// down, an up veth is up while its other end is up too and down (no carrier) otherwise,
    /// and links without carrier detection (dummy, loopback) are unknown when up.
    fn link_states(&mut self, ns: &Netns) -> Result<Vec<LinkState>, BackendError> {
        let Some(namespace) = self.namespaces.get(self.real(ns)) else {
            return Err(link_states_failed(
                ns,
                ErrorKind::NamespaceGone,
                format!("{ns} does not exist"),
            ));
        };
        let mut links: Vec<(&String, &Link)> = namespace.links.iter().collect();
        links.sort_by_key(|(_, l)| l.ifindex);
        Ok(links
            .into_iter()
            .map(|(name, l)| LinkState {
                name: name.clone(),
                ifindex: l.ifindex,
                kind: l.kind,
                admin_up: l.up,
                oper: match (l.up, l.kind) {
                    (false, _) => OperState::Down,
                    (true, LinkKind::Veth) if self.has_carrier(ns, name) => OperState::Up,
                    (true, LinkKind::Veth) => OperState::Down,
                    (true, LinkKind::Bridge) if self.has_carrier(ns, name) => OperState::Up,
                    (true, LinkKind::Bridge) => OperState::Down,
                    (true, LinkKind::Tap) => OperState::Down,
                    (true, _) => OperState::Unknown,
                },
                mtu: l.mtu,
                mac: Some(l.mac),
                stats: LinkStats::default(),
                // As the kernel's veth driver reports (verified with ethtool); the others none.
                speed_mbps: (l.kind == LinkKind::Veth).then_some(10_000),
            })
            .collect())
    }

    /// Links in ifindex order with the addresses that were asked for, in the order they were
    /// added; the addresses the kernel made itself (`lo`'s, link-local ones) are left out, as the
    /// netlink backend leaves out addresses whose IFA_PROTO says the kernel made them. Then the
    /// agent's routes (protocol [`ROUTE_PROTOCOL`]; the kernel's connected routes are not
    /// listed) and its permanent neighbours (the same protocol; entries made by hand are left out,
    /// as the netlink backend leaves them out). Namespaces asked for twice are reported once.
    fn observe_chains(&mut self, namespaces: &[Netns]) -> Result<ChainSnapshot, BackendError> {
        let mut snapshot = ChainSnapshot::default();
        for ns in namespaces {
            match self.namespaces.get(self.real(ns)) {
                Some(n) => snapshot.namespaces.push((ns.clone(), n.tables.observe())),
                None => snapshot.missing.push(ns.clone()),
            }
        }
        Ok(snapshot)
    }

    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
        let mut snapshot = Snapshot::default();
        let mut seen: BTreeSet<&Netns> = BTreeSet::new();
        for ns in namespaces {
            if !seen.insert(ns) {
                continue;
            }
            let Some(namespace) = self.namespaces.get(self.real(ns)) else {
                snapshot.missing.push(ns.clone());
                continue;
            };
            let mut links: Vec<(&String, &Link)> = namespace.links.iter().collect();
            links.sort_by_key(|(_, l)| l.ifindex);
            let links = links
                .into_iter()
                .map(|(name, l)| ObservedLink {
                    name: name.clone(),
                    kind: l.kind,
                    alias: l.alias.clone(),
                    mtu: l.mtu,
                    mac: Some(l.mac),
                    up: l.up,
                    addresses: l
                        .addresses
                        .iter()
                        .filter(|a| a.origin == Origin::Configured)
                        .map(|a| a.net)
                        .collect(),
                    peer: l.peer.as_ref().map(|p| (p.ns.clone(), p.name.clone())),
                    // As the netlink backend looks: for veths only.
                    checksum_offload: if l.kind == LinkKind::Veth {
                        ChecksumOffload {
                            rx: Some(l.rx_checksum),
                            tx: Some(l.tx_checksum),
                        }
                    } else {
                        ChecksumOffload::default()
                    },
                    master: l
                        .master
                        .and_then(|m| namespace.name_of(m))
                        .map(str::to_string),
                    vrf_table: l.vrf_table,
                    bridge: l.bridge,
                    tap: l.tap,
                    macvlan_mode: l.macvlan_mode,
                    parent: l.lower.as_ref().map(|p| (p.ns.clone(), p.name.clone())),
                    vxlan: l.vxlan.as_ref().map(|(t, _)| *t),
                    fdb: {
                        let mut fdb = l.fdb.clone();
                        fdb.sort();
                        fdb
                    },
                })
                .collect();
            let routes = namespace
                .routes
                .all()
                .filter(|r| r.protocol == ROUTE_PROTOCOL)
                .map(|r| r.spec.clone())
                .collect();
            let neighbours = namespace
                .neighbours
                .all()
                .filter(|(_, _, _, protocol)| *protocol == ROUTE_PROTOCOL)
                .map(|(link, ip, mac, _)| ObservedNeighbour {
                    link: link.to_string(),
                    ip,
                    mac,
                })
                .collect();
            // Sorted, as the netlink backend reports them.
            let mut rules: Vec<_> = namespace
                .rules
                .all()
                .filter(|r| r.protocol == ROUTE_PROTOCOL)
                .map(|r| r.spec.clone())
                .collect();
            rules.sort();
            snapshot.namespaces.push(ObservedNamespace {
                ns: ns.clone(),
                links,
                routes,
                neighbours,
                rules,
            });
        }
        Ok(snapshot)
    }
}

fn link_dump(namespace: &Namespace, name: &str, link: &Link) -> LinkDump {
    let mut addresses: Vec<IpNet> = link
        .addresses
        .iter()
        .filter(|a| a.origin == Origin::Configured)
        .map(|a| a.net)
        .collect();
    addresses.sort();
    let mut kernel_addresses: Vec<IpNet> = link
        .addresses
        .iter()
        .filter(|a| a.origin == Origin::Kernel)
        .map(|a| a.net)
        .collect();
    kernel_addresses.sort();
    let routes = namespace
        .routes
        .of_dev(name)
        .map(|(_, r)| RouteDump {
            route: r.spec.clone(),
            protocol: r.protocol,
        })
        .collect();
    let (neighbours, foreign_neighbours): (Vec<_>, Vec<_>) = namespace
        .neighbours
        .of_link(name)
        .partition(|(_, _, protocol)| *protocol == ROUTE_PROTOCOL);
    let neighbours = neighbours
        .into_iter()
        .map(|(ip, mac, _)| (ip, mac))
        .collect();
    LinkDump {
        name: name.to_string(),
        ifindex: link.ifindex,
        kind: link.kind,
        alias: link.alias.clone(),
        mtu: link.mtu,
        mac: link.mac,
        up: link.up,
        addresses,
        kernel_addresses,
        peer: link.peer.as_ref().map(|p| (p.ns.clone(), p.name.clone())),
        routes,
        neighbours,
        foreign_neighbours,
        fdb: {
            let mut fdb = link.fdb.clone();
            fdb.sort();
            fdb
        },
        checksum_offload: (link.rx_checksum, link.tx_checksum),
        master: link
            .master
            .and_then(|m| namespace.name_of(m))
            .map(str::to_string),
        vrf_table: link.vrf_table,
        bridge: link.bridge,
        tap: link.tap,
        macvlan: link
            .macvlan_mode
            .zip(link.lower.as_ref().map(|l| (l.ns.clone(), l.name.clone()))),
        vxlan: link.vxlan.as_ref().map(|(t, _)| {
            let lower = link.lower.as_ref().map(|l| (l.ns.clone(), l.name.clone()));
            (*t, lower)
        }),
    }
}

/// A preferred source must be an address of the namespace, on any of its links; else
/// EINVAL ("Invalid prefsrc address" for IPv4, "Invalid source address" for IPv6).
pub(crate) fn check_preferred_source(namespace: &Namespace, src: IpAddr) -> Outcome {
    let local = namespace
        .links
        .values()
        .any(|l| l.addresses.iter().any(|a| a.net.addr() == src));
    if local {
        Ok(())
    } else {
        Err(refuse(
            EINVAL,
            format!("preferred source {src} is no address of the namespace"),
        ))
    }
}

/// The kernel looks the gateway up with the route's scope plus one and the device as output.
/// So a global or site route needs the gateway inside a connected subnet of the up device or a
/// gateway-less static route through it of narrower scope (link or host; a global one does not
/// count); a link-scope route needs a host-scope one or the device's own address. All verified.
fn ipv4_gateway_reachable(
    namespace: &Namespace,
    dev: &str,
    link: &Link,
    gw: IpAddr,
    scope: RouteScope,
) -> bool {
    if !link.up {
        return false;
    }
    let via_route = |wanted: &dyn Fn(RouteScope) -> bool| {
        namespace.routes.of_dev(dev).any(|(_, r)| {
            r.spec.gw.is_none()
                && r.spec.hops.is_empty()
                && wanted(r.spec.scope)
                && r.spec.dst.contains(&gw)
        })
    };
    match scope {
        RouteScope::Global | RouteScope::Site => {
            link.addresses
                .iter()
                .any(|a| a.net.addr().is_ipv4() && a.net.contains(&gw))
                || via_route(&|s| s != RouteScope::Global)
        }
        RouteScope::Link => {
            link.addresses.iter().any(|a| a.net.addr() == gw)
                || via_route(&|s| s == RouteScope::Host)
        }
        RouteScope::Host => false,
    }
}

/// The gateway must be covered by a route of the up device that has no gateway itself: an
/// address's prefix route or a static device route.
fn ipv6_gateway_reachable(namespace: &Namespace, dev: &str, link: &Link, gw: IpAddr) -> bool {
    link.up
        && (link
            .addresses
            .iter()
            .any(|a| a.net.addr().is_ipv6() && a.net.contains(&gw))
            || namespace.routes.of_dev(dev).any(|(_, r)| {
                r.spec.gw.is_none() && r.spec.hops.is_empty() && r.spec.dst.contains(&gw)
            }))
}

fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// `dev_valid_name`: not empty, not `.` or `..`, no `/`, `:` or whitespace (EINVAL); longer
/// than 15 bytes is refused by the attribute policy (ERANGE, verified with a raw RTM_NEWLINK).
fn check_name(name: &str) -> Outcome {
    if name.len() > MAX_NAME_LEN {
        return Err(refuse(
            ERANGE,
            format!("interface name '{name}' is longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(refuse(
            EINVAL,
            format!("'{}' is not a valid interface name", name.escape_debug()),
        ));
    }
    Ok(())
}

/// `is_valid_ether_addr`: neither multicast nor all zeros (EADDRNOTAVAIL, verified for
/// multicast).
fn check_mac(mac: Option<MacAddr>) -> Outcome {
    match mac {
        Some(m) if m.is_multicast() || m.0 == [0; 6] => Err(refuse(
            EADDRNOTAVAIL,
            format!("{m} is not a unicast address"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn check_mtu(kind: LinkKind, mtu: Option<u32>) -> Outcome {
    match (mtu, Link::mtu_range(kind)) {
        (Some(m), Some((min, max))) if m < min || m > max => {
            Err(refuse(EINVAL, format!("MTU {m} is outside {min}..={max}")))
        }
        _ => Ok(()),
    }
}

/// The checks of a route of one path through `route.dev` (a multipath route's each path too),
/// and the route as the kernel stores it.
pub(crate) fn one_path(namespace: &Namespace, route: &RouteSpec) -> Outcome<RouteSpec> {
    let dev = &route.dev;
    let link = namespace
        .links
        .get(dev)
        .ok_or_else(|| refuse(ENODEV, format!("no link named {dev}")))?;
    let mut spec = route.clone();
    match route.dst {
        IpNet::V4(_) => {
            if has_host_bits(&route.dst) {
                return Err(refuse(EINVAL, format!("{} has host bits set", route.dst)));
            }
            match route.gw {
                None if !link.up => return Err(refuse(ENETDOWN, format!("{dev} is down"))),
                None => {}
                Some(IpAddr::V6(gw)) => {
                    // The kernel reads the first four bytes of the 16-byte RTA_GATEWAY as
                    // an IPv4 address, which no subnet of the link covers (verified:
                    // fd00::2 gave ENETUNREACH).
                    return Err(refuse(
                        ENETUNREACH,
                        format!("IPv6 gateway {gw} for an IPv4 route"),
                    ));
                }
                Some(IpAddr::V4(_)) if route.scope == RouteScope::Host => {
                    return Err(refuse(
                        EINVAL,
                        "a route with host scope cannot have a gateway",
                    ))
                }
                Some(gw) if !ipv4_gateway_reachable(namespace, dev, link, gw, route.scope) => {
                    return Err(refuse(
                        ENETUNREACH,
                        format!("gateway {gw} is not reachable through {dev}"),
                    ));
                }
                Some(_) => {}
            }
        }
        IpNet::V6(_) => {
            if !link.ipv6_enabled() {
                return Err(refuse(ENODEV, format!("IPv6 is disabled on {dev}")));
            }
            spec.dst = masked(route.dst);
            spec.scope = RouteScope::Global;
            if spec.metric == 0 {
                spec.metric = IPV6_DEFAULT_METRIC;
            }
            match route.gw {
                None if !link.up => return Err(refuse(ENETDOWN, format!("{dev} is down"))),
                None => {}
                Some(IpAddr::V4(gw)) => {
                    // A 4-byte RTA_GATEWAY is shorter than the policy's 16 (verified).
                    return Err(refuse(
                        ERANGE,
                        format!("IPv4 gateway {gw} for an IPv6 route"),
                    ));
                }
                Some(IpAddr::V6(gw)) if gw.is_multicast() || gw.is_unspecified() => {
                    return Err(refuse(EINVAL, format!("invalid gateway address {gw}")))
                }
                Some(IpAddr::V6(gw)) if is_link_local(gw) && !link.up => {
                    return Err(refuse(ENETDOWN, format!("{dev} is down")));
                }
                Some(IpAddr::V6(gw)) if is_link_local(gw) => {}
                Some(gw) if !ipv6_gateway_reachable(namespace, dev, link, gw) => {
                    return Err(refuse(
                        EHOSTUNREACH,
                        format!("no route to gateway {gw} through {dev}"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(spec)
}
