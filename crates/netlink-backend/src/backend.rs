//! The kernel backend: commands grouped by namespace, pipelined on one socket per namespace,
//! namespaces worked on in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nsagent_core::errno;
use nsagent_core::{
    link_states_failed, Backend, BackendError, ChainSnapshot, ChecksumOffload, Command, ErrorKind,
    LinkChange, LinkKind, LinkState, Master, Netns, NewLink, Op, Snapshot, ROUTE_PROTOCOL,
};

use crate::echo::Echoes;
use crate::ethtool;
use crate::firewall;
use crate::message;
use crate::namespace::{self, NsFile, NsId};
use crate::observe;
use crate::socket::{KernelError, NetlinkSocket, Outcome, Request};
use crate::tap;

type Shared<T> = Arc<Mutex<T>>;

/// Commands of one job, with their positions in the batch.
type Indexed<'a> = Vec<(usize, &'a Op)>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The NETLINK_ROUTE sockets of the backend, one per namespace, and which incarnation of each
/// namespace the backend last worked in.
///
/// An open socket keeps its namespace alive, and with it every veth inside and their peers in
/// other namespaces: a namespace whose process exited or whose file was removed only dies once
/// its socket is closed. [`SocketCache::forget`] closes it; the watcher calls it when it sees a
/// namespace go. A socket is also replaced when its namespace file names a different namespace
/// than when the socket was opened (a named namespace re-created, a pid reused).
///
/// The incarnation is what the watcher compares against when it has not seen a namespace
/// itself: a namespace the backend created (or worked in) and someone deleted before the
/// watcher's next look must still be reported gone, or the core would believe in it forever.
#[derive(Clone, Default)]
pub struct SocketCache {
    inner: Shared<HashMap<Netns, Cached>>,
    /// What the backend's batches are changing, for the watcher to know its echoes by.
    echoes: Shared<Echoes>,
}

struct Cached {
    id: NsId,
    /// Absent for a namespace the backend created but has not sent a request to yet.
    socket: Option<OpenSocket>,
}

struct OpenSocket {
    port_id: u32,
    sock: Shared<NetlinkSocket>,
}

impl SocketCache {
    /// Closes the socket of `ns`, if one is open and no command is using it right now (one in
    /// use is closed when that command ends), and forgets which incarnation of it the backend
    /// knew.
    pub fn forget(&self, ns: &Netns) {
        lock(&self.inner).remove(ns);
    }

    /// Namespaces that have an open socket.
    pub fn cached(&self) -> Vec<Netns> {
        let mut v: Vec<Netns> = lock(&self.inner)
            .iter()
            .filter(|(_, c)| c.socket.is_some())
            .map(|(ns, _)| ns.clone())
            .collect();
        v.sort();
        v
    }

    /// What the backend is changing right now (see `echo.rs`).
    pub(crate) fn echoes(&self) -> MutexGuard<'_, Echoes> {
        lock(&self.echoes)
    }

    /// Port ids of the open sockets: notifications carrying one were caused by the backend.
    pub(crate) fn port_ids(&self) -> HashSet<u32> {
        lock(&self.inner)
            .values()
            .filter_map(|c| c.socket.as_ref().map(|s| s.port_id))
            .collect()
    }

    /// The incarnation of `ns` the backend last created or worked in, if it has not been
    /// forgotten since.
    pub(crate) fn known_id(&self, ns: &Netns) -> Option<NsId> {
        lock(&self.inner).get(ns).map(|c| c.id)
    }

    /// Records that the backend created `ns` as incarnation `id`.
    fn created(&self, ns: &Netns, id: NsId) {
        let mut inner = lock(&self.inner);
        match inner.get(ns) {
            Some(c) if c.id == id => {}
            _ => {
                inner.insert(ns.clone(), Cached { id, socket: None });
            }
        }
    }

    fn get(&self, ns: &Netns) -> io::Result<Shared<NetlinkSocket>> {
        let file = namespace::open(ns)?;
        if let Some(Cached {
            id,
            socket: Some(open),
        }) = lock(&self.inner).get(ns)
        {
            if *id == file.id {
                return Ok(open.sock.clone());
            }
        }
        let sock = namespace::socket_in(ns, &file)?;
        let port_id = sock.port_id()?;
        let sock = Arc::new(Mutex::new(sock));
        lock(&self.inner).insert(
            ns.clone(),
            Cached {
                id: file.id,
                socket: Some(OpenSocket {
                    port_id,
                    sock: sock.clone(),
                }),
            },
        );
        Ok(sock)
    }
}

/// Applies nsagent commands to the running kernel.
pub struct NetlinkBackend {
    sockets: SocketCache,
    parallelism: usize,
    /// The `rtm_protocol` routes are added with, and the only one dumped: routes of other
    /// protocols (the kernel's, routing daemons', another agent's) are not this agent's.
    route_protocol: u8,
}

impl Default for NetlinkBackend {
    fn default() -> Self {
        NetlinkBackend::new()
    }
}

impl NetlinkBackend {
    pub fn new() -> NetlinkBackend {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        NetlinkBackend {
            sockets: SocketCache::default(),
            parallelism: (cores * 2).clamp(2, 16),
            route_protocol: ROUTE_PROTOCOL,
        }
    }

    /// Marks routes with `protocol` instead of [`ROUTE_PROTOCOL`], and sees only those (the
    /// daemon's `--route-protocol`, checked with `nsagent_core::check_route_protocol`).
    pub fn with_route_protocol(mut self, protocol: u8) -> NetlinkBackend {
        self.route_protocol = protocol;
        self
    }

    /// How many namespaces are worked on at once.
    pub fn with_parallelism(mut self, threads: usize) -> NetlinkBackend {
        self.parallelism = threads.max(1);
        self
    }

    /// The socket cache, shared with a [`crate::Watcher`] so that it can close the sockets of
    /// namespaces that went away.
    pub fn sockets(&self) -> SocketCache {
        self.sockets.clone()
    }

    /// Closes the socket of `ns` (see [`SocketCache::forget`]).
    pub fn forget(&self, ns: &Netns) {
        self.sockets.forget(ns);
    }

    /// Runs `job` for each item on up to `parallelism` threads.
    fn parallel<J: Sync, R: Send>(&self, jobs: &[J], job: impl Fn(&J) -> R + Sync) -> Vec<R> {
        let workers = self.parallelism.min(jobs.len());
        if workers <= 1 {
            return jobs.iter().map(job).collect();
        }
        let next = AtomicUsize::new(0);
        let results: Vec<Mutex<Option<R>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(j) = jobs.get(i) else { break };
                    *lock(&results[i]) = Some(job(j));
                });
            }
        });
        results
            .into_iter()
            .filter_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}

/// A request that must wait for another to succeed, in some namespace.
struct FollowUp {
    cmd: usize,
    ns: Netns,
    request: Request,
}

/// What one namespace's share of a batch came to.
struct GroupResult {
    results: Vec<(usize, Result<(), BackendError>)>,
    follow_ups: Vec<FollowUp>,
}

fn gone(op: &Op, ns: &Netns, e: &io::Error) -> BackendError {
    BackendError::namespace_gone(op, ns, format!("cannot open {ns} ({}): {e}", ns.path()))
}

fn kernel(op: &Op, ns: &Netns, e: &KernelError) -> BackendError {
    BackendError::from_errno(op, e.errno, format!("{ns}: {}", e.describe()))
}

fn io_failure(op: &Op, ns: &Netns, e: &io::Error) -> BackendError {
    match e.raw_os_error() {
        Some(code) => BackendError::from_errno(op, code, format!("{ns}: netlink socket: {e}")),
        None => BackendError::new(op, ErrorKind::Other, format!("{ns}: netlink socket: {e}")),
    }
}

fn encode_failure(op: &Op, e: &message::EncodeError) -> BackendError {
    BackendError::new(op, ErrorKind::Other, e.to_string())
}

/// The link a command needs the index of.
fn link_needed(op: &Op) -> Option<&str> {
    match op {
        Op::AddAddress { link, .. } | Op::DelAddress { link, .. } => Some(link),
        Op::AddRoute { route, .. }
        | Op::ReplaceRoute { route, .. }
        | Op::DelRoute { route, .. } => {
            // A dropping route has no device.
            Some(route.dev.as_str()).filter(|d| !d.is_empty())
        }
        Op::SetNeighbour { link, .. } | Op::DelNeighbour { link, .. } => Some(link),
        Op::AddFdb { link, .. } | Op::DelFdb { link, .. } => Some(link),
        Op::RenameLink { name, .. } | Op::MoveLink { name, .. } => Some(name),
        Op::CreateLink {
            kind: NewLink::Macvlan { parent, .. },
            ..
        } => Some(parent),
        Op::CreateLink {
            kind:
                NewLink::Vxlan {
                    underlay: Some((_, underlay)),
                    ..
                },
            ..
        } => Some(underlay),
        _ => None,
    }
}

/// The namespace whose socket carries `op`: its own, but a MACVLAN's parent's or a VXLAN's
/// underlay's for its creation, which names that link by an index of that namespace.
fn sent_in(op: &Op) -> Netns {
    match op {
        Op::CreateLink {
            kind: NewLink::Macvlan { parent_ns, .. },
            ..
        } => parent_ns.clone(),
        Op::CreateLink {
            kind:
                NewLink::Vxlan {
                    underlay: Some((underlay_ns, _)),
                    ..
                },
            ..
        } => underlay_ns.clone(),
        _ => op.namespace(),
    }
}

/// The link a command enslaves another to, whose index it needs too.
/// The links of a multipath route's paths, whose indexes its `RTA_MULTIPATH` carries.
fn hops_needed(op: &Op) -> Vec<&str> {
    match op {
        Op::AddRoute { route, .. }
        | Op::ReplaceRoute { route, .. }
        | Op::DelRoute { route, .. } => route.hops.iter().map(|h| h.dev.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// The indexes of a multipath route's paths' links, in order, from the names resolved for
/// its group; a link missing is ENODEV, as the kernel answers for an `RTA_OIF` it lacks.
fn hop_indexes(
    op: &Op,
    ns: &Netns,
    indexes: &HashMap<String, Result<u32, KernelError>>,
) -> Result<Vec<u32>, BackendError> {
    hops_needed(op)
        .into_iter()
        .map(|name| match indexes.get(name) {
            Some(Ok(index)) => Ok(*index),
            Some(Err(e)) => Err(BackendError::from_errno(
                op,
                e.errno,
                format!("{ns}: looking up link '{name}': {}", e.describe()),
            )),
            None => Err(BackendError::from_errno(
                op,
                errno::ENODEV,
                format!("{ns}: no link '{name}'"),
            )),
        })
        .collect()
}

fn master_needed(op: &Op) -> Option<&str> {
    match op {
        Op::SetLink {
            change:
                LinkChange {
                    master: Some(Master::Set(m)),
                    ..
                },
            ..
        } => Some(m),
        _ => None,
    }
}

/// `IFLA_MASTER` of a link change: the index of its new master (resolved with the group's
/// names), 0 to release it, `None` to leave it.
fn master_index(
    op: &Op,
    ns: &Netns,
    change: &LinkChange,
    indexes: &HashMap<String, Result<u32, KernelError>>,
) -> Result<Option<u32>, BackendError> {
    match &change.master {
        None => Ok(None),
        Some(Master::Release) => Ok(Some(0)),
        Some(Master::Set(m)) => match indexes.get(m.as_str()) {
            Some(Ok(index)) => Ok(Some(*index)),
            Some(Err(e)) => Err(BackendError::from_errno(
                op,
                e.errno,
                format!("{ns}: looking up link '{m}': {}", e.describe()),
            )),
            None => Err(BackendError::from_errno(
                op,
                errno::ENODEV,
                format!("{ns}: no link '{m}'"),
            )),
        },
    }
}

/// Resolves link names to indexes with one pipelined exchange.
fn resolve(
    sock: &mut NetlinkSocket,
    names: Vec<&str>,
) -> io::Result<HashMap<String, Result<u32, KernelError>>> {
    let mut requests = Vec::with_capacity(names.len());
    for name in &names {
        requests.push(message::get_link(name).map_err(io::Error::other)?);
    }
    let outcomes = sock.transact(&mut requests)?;
    let mut map = HashMap::new();
    for (name, outcome) in names.into_iter().zip(outcomes) {
        let index = outcome.and_then(|replies| {
            replies
                .iter()
                .find_map(|r| observe::parse_link(&r.payload).ok())
                .map(|l| l.index as u32)
                .ok_or(KernelError {
                    errno: errno::ENODEV,
                    message: Some("no link in the reply".into()),
                })
        });
        map.insert(name.to_string(), index);
    }
    Ok(map)
}

/// Applies the commands of one namespace on its socket: link names are resolved to indexes
/// in one exchange, then every request is sent in another, so a namespace costs two round
/// trips however many commands it has. A socket that fails is forgotten, so the next batch
/// opens a fresh one.
fn apply_group(
    cache: &SocketCache,
    ns: &Netns,
    cmds: &[(usize, &Op)],
    route_protocol: u8,
) -> GroupResult {
    let mut out = GroupResult {
        results: Vec::with_capacity(cmds.len()),
        follow_ups: Vec::new(),
    };
    let sock = match cache.get(ns) {
        Ok(s) => s,
        Err(e) => {
            out.results
                .extend(cmds.iter().map(|(i, op)| (*i, Err(gone(op, ns, &e)))));
            return out;
        }
    };
    let mut sock = lock(&sock);
    let fail = |out: &mut GroupResult, cmds: &[(usize, &Op)], e: &io::Error| {
        out.results
            .extend(cmds.iter().map(|(i, op)| (*i, Err(io_failure(op, ns, e)))));
        cache.forget(ns);
    };

    let mut names: Vec<&str> = cmds
        .iter()
        .flat_map(|(_, op)| {
            link_needed(op)
                .into_iter()
                .chain(master_needed(op))
                .chain(hops_needed(op))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let indexes = if names.is_empty() {
        HashMap::new()
    } else {
        match resolve(&mut sock, names) {
            Ok(m) => m,
            Err(e) => {
                fail(&mut out, cmds, &e);
                return out;
            }
        }
    };

    // Peer namespace files stay open until the kernel has read their fds.
    let mut keep_open: Vec<NsFile> = Vec::new();
    let mut requests: Vec<Request> = Vec::with_capacity(cmds.len());
    let mut sent: Vec<(usize, &Op)> = Vec::with_capacity(cmds.len());
    for &(i, op) in cmds {
        match prepare(cache, ns, op, &indexes, &mut keep_open, route_protocol) {
            Ok(Some(r)) => {
                requests.push(r);
                sent.push((i, op));
            }
            Ok(None) => {
                out.results.push((i, Ok(())));
                // A TAP, made without a request: its attributes follow as for any link.
                out.follow_ups.extend(link_follow_ups(i, op));
            }
            Err(e) => out.results.push((i, Err(e))),
        }
    }
    if requests.is_empty() {
        return out;
    }
    let outcomes: Vec<Outcome> = match sock.transact(&mut requests) {
        Ok(o) => o,
        Err(e) => {
            fail(&mut out, &sent, &e);
            return out;
        }
    };
    drop(keep_open);
    for ((i, op), outcome) in sent.into_iter().zip(outcomes) {
        match outcome {
            Ok(_) => {
                out.results.push((i, Ok(())));
                out.follow_ups.extend(link_follow_ups(i, op));
            }
            Err(e) => out.results.push((i, Err(kernel(op, ns, &e)))),
        }
    }
    out
}

/// The index of the link `op` needs, from the names resolved for its group; 0 for an op that
/// needs none.
fn index_for(
    op: &Op,
    ns: &Netns,
    indexes: &HashMap<String, Result<u32, KernelError>>,
) -> Result<u32, BackendError> {
    match link_needed(op).map(|name| (name, indexes.get(name))) {
        None => Ok(0),
        Some((_, Some(Ok(index)))) => Ok(*index),
        Some((name, Some(Err(e)))) => Err(BackendError::from_errno(
            op,
            e.errno,
            format!("{ns}: looking up link '{name}': {}", e.describe()),
        )),
        Some((name, None)) => Err(BackendError::from_errno(
            op,
            errno::ENODEV,
            format!("{ns}: no link '{name}'"),
        )),
    }
}

/// A file descriptor of `other` for a request sent in `ns` that places a link there
/// (`IFLA_NET_NS_FD`), or `None` when the two are one; the file is kept in `keep_open`, which
/// must outlive the request's sending.
fn other_namespace_fd(
    op: &Op,
    ns: &Netns,
    other: &Netns,
    keep_open: &mut Vec<NsFile>,
) -> Result<Option<RawFd>, BackendError> {
    if other == ns {
        return Ok(None);
    }
    let f = namespace::open(other).map_err(|e| gone(op, other, &e))?;
    let fd = f.fd.as_raw_fd();
    keep_open.push(f);
    Ok(Some(fd))
}

/// The request that carries out `op` in `ns`, or `None` for an op done without one (a
/// namespace creation, done here). A veth peer's namespace file is opened into `keep_open`,
/// which must outlive the request's sending.
fn prepare(
    cache: &SocketCache,
    ns: &Netns,
    op: &Op,
    indexes: &HashMap<String, Result<u32, KernelError>>,
    keep_open: &mut Vec<NsFile>,
    route_protocol: u8,
) -> Result<Option<Request>, BackendError> {
    let index = index_for(op, ns, indexes)?;
    let request = match op {
        Op::CreateLink {
            link,
            kind: NewLink::Dummy,
            ..
        } => message::new_link(link, None),
        Op::CreateLink {
            link,
            kind: NewLink::Veth { peer_ns, peer },
            ..
        } => {
            let fd = other_namespace_fd(op, ns, peer_ns, keep_open)?;
            message::new_link(link, Some((peer, fd)))
        }
        Op::DeleteLink { name, .. } => message::del_link(name),
        Op::SetLink { name, change, .. } => {
            message::set_link(name, change, master_index(op, ns, change, indexes)?)
        }
        Op::CreateLink {
            link,
            kind: NewLink::Vrf { table },
            ..
        } => message::new_vrf(link, *table),
        Op::CreateLink {
            ns: own,
            link,
            kind: NewLink::Macvlan { mode, .. },
        } => {
            // `ns` is the parent's, where the request is sent.
            let fd = other_namespace_fd(op, ns, own, keep_open)?;
            crate::macvlan::create(link, index, *mode, fd)
        }
        Op::CreateLink {
            ns: own,
            link,
            kind: NewLink::Vxlan { tunnel, underlay },
        } => {
            // `ns` is the underlay's, if any, where the request is sent.
            let fd = other_namespace_fd(op, ns, own, keep_open)?;
            crate::vxlan::create(link, tunnel, underlay.as_ref().map(|_| index), fd)
        }
        Op::CreateLink {
            link,
            kind: NewLink::Bridge(settings),
            ..
        } => message::new_bridge(link, settings),
        Op::CreateLink {
            link,
            kind: NewLink::Tap(settings),
            ..
        } => {
            return tap::create(ns, &link.name, settings)
                .map(|()| None)
                .map_err(|e| match e.raw_os_error() {
                    Some(code) => BackendError::from_errno(op, code, format!("{ns}: {e}")),
                    None => gone(op, ns, &e),
                })
        }
        Op::AddAddress { addr, .. } => message::add_address(index, addr),
        Op::DelAddress { addr, .. } => message::del_address(index, addr),
        Op::AddRoute { route, .. } | Op::ReplaceRoute { route, .. } => {
            message::put_route(index, &hop_indexes(op, ns, indexes)?, route, route_protocol)
        }
        Op::DelRoute { route, .. } => {
            message::del_route(index, &hop_indexes(op, ns, indexes)?, route)
        }
        Op::SetNeighbour { ip, mac, .. } => message::set_neighbour(index, ip, *mac, route_protocol),
        Op::DelNeighbour { ip, .. } => message::del_neighbour(index, ip),
        Op::AddFdb { mac, remote, .. } => crate::fdb::add(index, *mac, remote),
        Op::DelFdb { mac, remote, .. } => crate::fdb::del(index, *mac, remote),
        // Interfaces go by name: a rule needs no index (see `rule.rs`).
        Op::AddRule { rule, .. } => crate::rule::add(rule, route_protocol),
        Op::DelRule { rule, .. } => crate::rule::del(rule, route_protocol),
        Op::RenameLink { new_name, .. } => message::rename_link(index, new_name),
        Op::MoveLink { to, new_name, .. } if to == ns => message::rename_link(index, new_name),
        Op::MoveLink { to, new_name, .. } => {
            let f = name_free_in(op, to, new_name)?;
            let fd = f.fd.as_raw_fd();
            keep_open.push(f);
            message::move_link(index, fd, new_name)
        }
        Op::CreateNamespace { .. } => return create_namespace(cache, op).map(|()| None),
        // Never grouped with rtnetlink requests (`apply_batch`): done with the iptables tools,
        // and through ethtool's generic netlink family.
        Op::SetChain { .. } | Op::DeleteChain { .. } => return firewall::apply(op).map(|()| None),
        Op::SetOffload { .. } => return set_offload(op).map(|()| None),
    };
    request.map(Some).map_err(|e| encode_failure(op, &e))
}

/// Opens the namespace a link is moved to, once sure that `name` is free there: the kernel
/// would move the link first and then fail to rename it (EEXIST), leaving it half moved. A
/// socket of its own, not the cached one: another group may hold that one's lock meanwhile.
fn name_free_in(op: &Op, to: &Netns, name: &str) -> Result<NsFile, BackendError> {
    let file = namespace::open(to).map_err(|e| gone(op, to, &e))?;
    let mut sock = namespace::socket_in(to, &file).map_err(|e| io_failure(op, to, &e))?;
    let mut ask = [message::get_link(name).map_err(|e| encode_failure(op, &e))?];
    let outcome = sock
        .transact(&mut ask)
        .map_err(|e| io_failure(op, to, &e))?;
    match outcome.into_iter().next() {
        Some(Err(e)) if e.errno == errno::ENODEV => Ok(file),
        Some(Err(e)) => Err(kernel(op, to, &e)),
        _ => Err(BackendError::from_errno(
            op,
            errno::EEXIST,
            format!("{to}: a link named {name} exists"),
        )),
    }
}

/// Each namespace once, in the order first asked for.
fn unique(namespaces: &[Netns]) -> Vec<Netns> {
    let mut seen = HashSet::new();
    namespaces
        .iter()
        .filter(|ns| seen.insert(*ns))
        .cloned()
        .collect()
}

/// Fills in the checksum offloading of the veths of a namespace, read from ethtool in one
/// dump. Where ethtool cannot be asked (a kernel without its netlink family), they stay
/// unknown, and a change the core then asks for fails with the reason.
fn add_offloads(observed: &mut observe::Observed) {
    let veths = observed.ns.links.iter().any(|l| l.kind == LinkKind::Veth);
    if !veths {
        return;
    }
    let ns = &observed.ns.ns;
    let Ok(found) = namespace::generic_socket_in(ns).and_then(|mut s| ethtool::offloads(&mut s))
    else {
        return;
    };
    // By name, once: a namespace may hold thousands of veths.
    let by_name: HashMap<&str, ChecksumOffload> = found
        .into_iter()
        .filter_map(|(index, o)| Some((observed.names.get(&(index as i32))?.as_str(), o)))
        .collect();
    for l in observed.ns.links.iter_mut() {
        if let Some(o) = by_name
            .get(l.name.as_str())
            .filter(|_| l.kind == LinkKind::Veth)
        {
            l.checksum_offload = *o;
        }
    }
}

/// Changes a link's checksum offloading: one ethtool request on a generic netlink socket of
/// the link's namespace.
fn set_offload(op: &Op) -> Result<(), BackendError> {
    let Op::SetOffload { ns, name, offload } = op else {
        return Ok(());
    };
    let mut sock = namespace::generic_socket_in(ns).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) if *ns != Netns::Default => gone(op, ns, &e),
        _ => io_failure(op, ns, &e),
    })?;
    let family = ethtool::family(&mut sock)
        .map_err(|e| BackendError::new(op, ErrorKind::Other, format!("{ns}: {e}")))?;
    let outcome = sock
        .transact(&mut [ethtool::set_features(family, name, offload)])
        .map_err(|e| io_failure(op, ns, &e))?;
    match outcome.into_iter().next() {
        Some(Err(e)) => Err(kernel(op, ns, &e)),
        _ => Ok(()),
    }
}

/// What RTM_NEWLINK cannot do, done by RTM_SETLINK once the creation succeeded (never before:
/// had the name been taken, the change would hit someone else's link):
/// - the kernel ignores `IFLA_IFALIAS` when it creates a link;
/// - a veth peer cannot be created up: the kernel opens it before the pair is joined, and the
///   open fails with ENOTCONN.
fn link_follow_ups(cmd: usize, op: &Op) -> Vec<FollowUp> {
    let Op::CreateLink { ns, link, kind } = op else {
        return Vec::new();
    };
    let mut v = Vec::new();
    let mut add = |ns: &Netns, name: &str, change: LinkChange| {
        if !change.is_empty() {
            if let Ok(request) = message::set_link(name, &change, None) {
                v.push(FollowUp {
                    cmd,
                    ns: ns.clone(),
                    request,
                });
            }
        }
    };
    add(
        ns,
        &link.name,
        match kind {
            // Made through /dev/net/tun, with nothing of the spec but its name.
            NewLink::Tap(_) => LinkChange {
                alias: link.alias.clone(),
                mtu: link.mtu,
                mac: link.mac,
                up: link.up.then_some(true),
                ..LinkChange::default()
            },
            _ => LinkChange {
                alias: link.alias.clone(),
                ..LinkChange::default()
            },
        },
    );
    if let NewLink::Veth { peer_ns, peer } = kind {
        add(
            peer_ns,
            &peer.name,
            LinkChange {
                alias: peer.alias.clone(),
                up: peer.up.then_some(true),
                ..LinkChange::default()
            },
        );
    }
    v
}

fn create_namespace(cache: &SocketCache, op: &Op) -> Result<(), BackendError> {
    let Op::CreateNamespace { name } = op else {
        return Ok(());
    };
    let id = namespace::create_named(name).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => BackendError::from_errno(
            op,
            libc::ELOOP,
            format!(
                "{}/{name} is a symbolic link, which nsagent does not follow; remove it",
                namespace::NETNS_RUN_DIR
            ),
        ),
        Some(libc::ENOTDIR) => BackendError::from_errno(
            op,
            libc::ENOTDIR,
            format!(
                "{} is not a directory (a symbolic link?), which nsagent does not follow",
                namespace::NETNS_RUN_DIR
            ),
        ),
        Some(code) => BackendError::from_errno(
            op,
            code,
            format!("creating {}/{name}: {e}", namespace::NETNS_RUN_DIR),
        ),
        None => BackendError::new(
            op,
            ErrorKind::Other,
            format!("creating {}/{name}: {e}", namespace::NETNS_RUN_DIR),
        ),
    })?;
    cache.created(&Netns::Named(name.clone()), id);
    Ok(())
}

/// Sends follow-up requests of one namespace; returns the commands whose follow-up failed.
fn apply_follow_ups(
    cache: &SocketCache,
    ns: &Netns,
    ups: &[&FollowUp],
    ops: &[&Op],
) -> Vec<(usize, BackendError)> {
    let fail = |msg: String, kind: ErrorKind| -> Vec<(usize, BackendError)> {
        ups.iter()
            .map(|u| (u.cmd, BackendError::new(ops[u.cmd], kind, msg.clone())))
            .collect()
    };
    let sock = match cache.get(ns) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("completing the new link: cannot open {ns}: {e}");
            return ups
                .iter()
                .map(|u| {
                    (
                        u.cmd,
                        BackendError::namespace_gone(ops[u.cmd], ns, msg.clone()),
                    )
                })
                .collect();
        }
    };
    let mut sock = lock(&sock);
    let mut requests: Vec<Request> = ups.iter().map(|u| u.request.clone()).collect();
    match sock.transact(&mut requests) {
        Ok(outcomes) => ups
            .iter()
            .zip(outcomes)
            .filter_map(|(u, o)| {
                o.err().map(|e| {
                    (
                        u.cmd,
                        BackendError::from_errno(
                            ops[u.cmd],
                            e.errno,
                            format!("{ns}: completing the new link: {}", e.describe()),
                        ),
                    )
                })
            })
            .collect(),
        Err(e) => {
            cache.forget(ns);
            fail(
                format!("{ns}: completing the new link: {e}"),
                ErrorKind::Other,
            )
        }
    }
}

fn failure(ns: &Netns, e: io::Error) -> BackendError {
    BackendError {
        kind: ErrorKind::Other,
        errno: e.raw_os_error(),
        op: format!("observe {ns}"),
        message: e.to_string(),
        namespace: Some(ns.clone()),
    }
}

/// Fills in where each observed veth's other end is. A peer in another namespace is known by
/// that namespace's id as seen from the veth's own (`IFLA_LINK_NETNSID`), so each namespace
/// holding such veths is asked the ids of the other observed namespaces.
fn resolve_peers(
    cache: &SocketCache,
    observed: &mut [observe::Observed],
    pool: &NetlinkBackend,
) -> Result<(), BackendError> {
    let asking: Vec<usize> = (0..observed.len())
        .filter(|&i| observed[i].peers.iter().any(|(_, _, nsid)| nsid.is_some()))
        .collect();
    // Namespace files of every observed namespace, open while the ids are asked for.
    let files: Vec<Option<NsFile>> = if asking.is_empty() {
        Vec::new()
    } else {
        observed
            .iter()
            .map(|o| namespace::open(&o.ns.ns).ok())
            .collect()
    };
    let fds: Vec<std::os::fd::RawFd> = files
        .iter()
        .map(|f| f.as_ref().map_or(-1, |f| f.fd.as_raw_fd()))
        .collect();
    let ids = pool.parallel(&asking, |&i| {
        let ns = &observed[i].ns.ns;
        let sock = cache.get(ns).map_err(|e| failure(ns, e))?;
        let mut sock = lock(&sock);
        let valid: Vec<(usize, std::os::fd::RawFd)> = fds
            .iter()
            .enumerate()
            .filter(|(j, fd)| *j != i && **fd >= 0)
            .map(|(j, fd)| (j, *fd))
            .collect();
        let raw: Vec<std::os::fd::RawFd> = valid.iter().map(|(_, fd)| *fd).collect();
        let answers = observe::namespace_ids(&mut sock, &raw).map_err(|e| failure(ns, e))?;
        let map: HashMap<i32, usize> = valid
            .iter()
            .zip(answers)
            .filter_map(|((j, _), id)| id.map(|id| (id, *j)))
            .collect();
        Ok::<_, BackendError>(map)
    });
    let mut by_ns: HashMap<usize, HashMap<i32, usize>> = HashMap::new();
    for (i, r) in asking.iter().zip(ids) {
        by_ns.insert(*i, r?);
    }
    drop(files);
    let mut found: Vec<(usize, String, Netns, String)> = Vec::new();
    for (i, o) in observed.iter().enumerate() {
        for (name, index, nsid) in &o.peers {
            let target = match nsid {
                None => Some(i),
                Some(id) => by_ns.get(&i).and_then(|m| m.get(id)).copied(),
            };
            if let Some(t) = target {
                if let Some(peer_name) = observed[t].names.get(index) {
                    found.push((
                        i,
                        name.clone(),
                        observed[t].ns.ns.clone(),
                        peer_name.clone(),
                    ));
                }
            }
        }
    }
    for (i, name, peer_ns, peer_name) in found {
        if let Some(link) = observed[i].ns.links.iter_mut().find(|l| l.name == name) {
            // A MACVLAN's `IFLA_LINK` names its parent, a veth's its other end.
            match link.kind {
                LinkKind::Macvlan | LinkKind::Vxlan => link.parent = Some((peer_ns, peer_name)),
                _ => link.peer = Some((peer_ns, peer_name)),
            }
        }
    }
    Ok(())
}

impl Backend for NetlinkBackend {
    fn apply(&mut self, op: &Op) -> Result<(), BackendError> {
        let cmd = Command {
            id: nsagent_core::CommandId(0),
            op: op.clone(),
        };
        self.apply_batch(std::slice::from_ref(&cmd))
            .pop()
            .unwrap_or(Ok(()))
    }

    fn apply_batch(&mut self, commands: &[Command]) -> Vec<Result<(), BackendError>> {
        let ops: Vec<&Op> = commands.iter().map(|c| &c.op).collect();
        // Before anything is sent: the first notification may come before the reply.
        self.sockets
            .echoes()
            .expect(&ops, std::time::Instant::now());
        // Namespace creations have no socket to share: each is a job of its own.
        let mut groups: BTreeMap<Option<Netns>, Indexed> = BTreeMap::new();
        let mut creations: Vec<Indexed> = Vec::new();
        let mut apart: Vec<usize> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::CreateNamespace { .. } => creations.push(vec![(i, *op)]),
                // Not rtnetlink: the iptables tools, each a process of its own; ethtool, on a
                // socket of its own.
                Op::SetChain { .. } | Op::DeleteChain { .. } | Op::SetOffload { .. } => {
                    apart.push(i)
                }
                _ => groups.entry(Some(sent_in(op))).or_default().push((i, *op)),
            }
        }
        let mut jobs: Vec<(Option<Netns>, Indexed)> = groups.into_iter().collect();
        jobs.extend(creations.into_iter().map(|c| (None, c)));
        let cache = &self.sockets;
        let protocol = self.route_protocol;
        let done = self.parallel(&jobs, |(ns, cmds)| match ns {
            Some(ns) => apply_group(cache, ns, cmds, protocol),
            None => GroupResult {
                results: cmds
                    .iter()
                    .map(|(i, op)| (*i, create_namespace(cache, op)))
                    .collect(),
                follow_ups: Vec::new(),
            },
        });

        let apart_results = self.parallel(&apart, |&i| match ops[i] {
            Op::SetOffload { .. } => (i, set_offload(ops[i])),
            op => (i, firewall::apply(op)),
        });

        let mut results: Vec<Result<(), BackendError>> = vec![Ok(()); commands.len()];
        for (i, r) in apart_results {
            results[i] = r;
        }
        let mut follow_ups: BTreeMap<Netns, Vec<&FollowUp>> = BTreeMap::new();
        for group in &done {
            for (i, r) in &group.results {
                results[*i] = r.clone();
            }
            for f in &group.follow_ups {
                follow_ups.entry(f.ns.clone()).or_default().push(f);
            }
        }
        if !follow_ups.is_empty() {
            let jobs: Vec<(Netns, Vec<&FollowUp>)> = follow_ups.into_iter().collect();
            let failed = self.parallel(&jobs, |(ns, ups)| apply_follow_ups(cache, ns, ups, &ops));
            // A link that could not be completed is deleted again (with its peer), so that a
            // failed creation leaves nothing behind for the core to trip over.
            let mut undo: BTreeMap<Netns, Vec<Request>> = BTreeMap::new();
            for (i, e) in failed.into_iter().flatten() {
                if results[i].is_ok() {
                    if let Op::CreateLink { ns, link, .. } = ops[i] {
                        if let Ok(r) = message::del_link(&link.name) {
                            undo.entry(ns.clone()).or_default().push(r);
                        }
                    }
                }
                results[i] = Err(e);
            }
            let undo: Vec<(Netns, Vec<Request>)> = undo.into_iter().collect();
            self.parallel(&undo, |(ns, requests)| {
                if let Ok(sock) = cache.get(ns) {
                    let _ = lock(&sock).transact(&mut requests.clone());
                }
            });
        }
        results
    }

    fn observe(&mut self, namespaces: &[Netns]) -> Result<Snapshot, BackendError> {
        let cache = &self.sockets;
        let protocol = self.route_protocol;
        let unique = unique(namespaces);
        let found = self.parallel(&unique, |ns| {
            let Ok(sock) = cache.get(ns) else {
                return Ok(None);
            };
            let mut sock = lock(&sock);
            let mut observed = observe::observe(&mut sock, ns.clone(), protocol).map_err(|e| {
                cache.forget(ns);
                failure(ns, e)
            })?;
            add_offloads(&mut observed);
            Ok(Some(observed))
        });
        let mut snapshot = Snapshot::default();
        let mut observed = Vec::new();
        for (ns, r) in unique.iter().zip(found) {
            match r? {
                Some(o) => observed.push(o),
                None => snapshot.missing.push(ns.clone()),
            }
        }
        resolve_peers(cache, &mut observed, self)?;
        snapshot.namespaces = observed.into_iter().map(|o| o.ns).collect();
        Ok(snapshot)
    }

    fn observe_chains(&mut self, namespaces: &[Netns]) -> Result<ChainSnapshot, BackendError> {
        let unique = unique(namespaces);
        let found = self.parallel(&unique, |ns| (ns.clone(), firewall::observe(ns)));
        let mut snapshot = ChainSnapshot::default();
        for (ns, tables) in found {
            match tables {
                Ok(t) => snapshot.namespaces.push((ns, t)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => snapshot.missing.push(ns),
                Err(e) => {
                    return Err(BackendError {
                        kind: ErrorKind::Other,
                        errno: e.raw_os_error(),
                        op: format!("observe the iptables tables of {ns}"),
                        message: e.to_string(),
                        namespace: Some(ns),
                    })
                }
            }
        }
        Ok(snapshot)
    }

    fn link_states(&mut self, ns: &Netns) -> Result<Vec<LinkState>, BackendError> {
        let sock = self
            .sockets
            .get(ns)
            .map_err(|e| link_states_failed(ns, ErrorKind::NamespaceGone, e.to_string()))?;
        let mut sock = lock(&sock);
        let mut states = observe::link_states(&mut sock).map_err(|e| {
            self.sockets.forget(ns);
            link_states_failed(ns, ErrorKind::Other, e.to_string())
        })?;
        // A speed is a nicety: without ethtool's family the states are still the states.
        if let Ok(speeds) =
            namespace::generic_socket_in(ns).and_then(|mut s| ethtool::speeds(&mut s))
        {
            let speeds: HashMap<u32, u32> = speeds.into_iter().collect();
            for s in &mut states {
                s.speed_mbps = speeds.get(&s.ifindex).copied();
            }
        }
        Ok(states)
    }
}
