//! Watching namespaces: which come and go, and which see link or address changes.
//!
//! One thread checks every watched namespace's file (a pid's `/proc/<pid>/ns/net` vanishes when
//! the process exits; `ip netns del` unmounts and removes `/var/run/netns/<name>`), woken early
//! by inotify on `/var/run/netns` and by any change of the mount table (a named namespace exists
//! only once it is mounted, which inotify does not see), and listens on a multicast socket inside each present
//! namespace for link, address, route and neighbour notifications (IPv4 and IPv6). Notifications
//! caused by the backend's own sockets are left out: the core knows about those already, and so
//! are the kernel's follow-ups that change nothing an observation reports and the echoes of the
//! backend's own batches (`known.rs`, `echo.rs`). So are
//! notifications of objects the agent never manages, told apart by the message alone
//! ([`concerns_managed`]): routes the kernel made (protocol `kernel`, cloned cache entries) and
//! neighbour entries updated to a state other than permanent (a learnt entry going through
//! REACHABLE, STALE, DELAY, PROBE). What that filter misses — a managed entry replaced by a
//! learnt one — is caught by the periodic resync.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use neli::consts::socket::Msg;
use neli::socket::NlSocket;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nsagent_core::{NamespaceIdentity, Netns};

use crate::backend::SocketCache;
use crate::known::Known;
use crate::namespace::{self, NsId, NETNS_RUN_DIR};
use crate::socket::{Messages, NetlinkSocket};

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NEIGH: u32 = 3;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTPROT_KERNEL: u8 = 2;
const RTM_F_CLONED: u32 = 0x200;
const NUD_PERMANENT: u16 = 0x80;
const NUD_FAILED: u16 = 0x20;
/// How often namespace files are checked when nothing wakes the watcher earlier.
const TICK: Duration = Duration::from_millis(100);

/// What the watcher saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NamespaceEvent {
    /// The namespace can be entered: it was found when first watched, or it (re)appeared. Its
    /// identity is that of the file as the watcher found it, so that the core can tell which
    /// references name one namespace.
    Appeared(Netns, NamespaceIdentity),
    /// The namespace's file is gone (its process exited, its name was deleted), or it now names
    /// a different namespace (reported as vanished, then appeared).
    Vanished(Netns),
    /// Someone other than the backend changed a link, an address, a route or a neighbour in
    /// it: observe it again.
    Changed(Netns),
}

impl NamespaceEvent {
    /// The namespace the event is about.
    pub fn namespace(&self) -> &Netns {
        match self {
            NamespaceEvent::Appeared(ns, _)
            | NamespaceEvent::Vanished(ns)
            | NamespaceEvent::Changed(ns) => ns,
        }
    }
}

struct Shared {
    watched: Mutex<BTreeSet<Netns>>,
    stop: AtomicBool,
}

/// Watches namespaces on a thread of its own; events arrive on the channel returned by
/// [`Watcher::start`]. Dropping the watcher stops the thread.
pub struct Watcher {
    shared: Arc<Shared>,
    wake: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching nothing. `sockets` is the backend's socket cache: the watcher closes the
    /// socket of a namespace that vanished, so that the namespace (and its veths) can die.
    pub fn start(sockets: SocketCache) -> io::Result<(Watcher, Receiver<NamespaceEvent>)> {
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            watched: Mutex::new(BTreeSet::new()),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let mut state = State {
            shared: shared.clone(),
            sockets,
            tx,
            wake: wake_rx,
            present: BTreeMap::new(),
            inotify: None,
            mounts: std::fs::File::open("/proc/self/mountinfo").ok(),
        };
        let thread = std::thread::Builder::new()
            .name("nsagent-watch".into())
            .spawn(move || state.run())?;
        Ok((
            Watcher {
                shared,
                wake,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Starts watching `ns`. If it exists, [`NamespaceEvent::Appeared`] follows.
    pub fn watch(&self, ns: Netns) {
        self.shared
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ns);
        self.poke();
    }

    /// Stops watching `ns`; no event is reported for it afterwards.
    pub fn unwatch(&self, ns: &Netns) {
        self.shared
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(ns);
        self.poke();
    }

    fn poke(&self) {
        let _ = (&self.wake).write(&[1]);
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.poke();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A namespace that exists, with the socket that hears its notifications.
struct Present {
    id: NsId,
    events: Option<NlSocket>,
    /// What `events` has told of the namespace's links and addresses.
    known: Known,
}

struct State {
    shared: Arc<Shared>,
    sockets: SocketCache,
    tx: Sender<NamespaceEvent>,
    wake: UnixStream,
    present: BTreeMap<Netns, Present>,
    inotify: Option<Inotify>,
    /// `/proc/self/mountinfo`, which polls as ready (POLLPRI) whenever a mount comes or goes.
    mounts: Option<std::fs::File>,
}

impl State {
    fn run(&mut self) {
        let mut buf = vec![0u8; 64 << 10];
        // Scanning stats every watched namespace: done when told to (a namespace watched or
        // unwatched, the run directory or the mount table changed) and every tick (a process
        // exits unannounced), not on every notification, of which a busy backend causes
        // thousands a second.
        let mut scan_due = true;
        let mut last_scan = Instant::now();
        while !self.shared.stop.load(Ordering::Relaxed) {
            if self.inotify.is_none() {
                self.inotify = watch_run_dir();
            }
            if scan_due || last_scan.elapsed() >= TICK {
                if self.scan().is_err() {
                    return; // the receiver is gone
                }
                scan_due = false;
                last_scan = Instant::now();
            }
            let order: Vec<Netns> = self
                .present
                .iter()
                .filter(|(_, p)| p.events.is_some())
                .map(|(n, _)| n.clone())
                .collect();
            let mut fds: Vec<PollFd> = Vec::with_capacity(order.len() + 2);
            fds.push(PollFd::new(self.wake.as_fd(), PollFlags::POLLIN));
            if let Some(i) = &self.inotify {
                fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
            }
            if let Some(m) = &self.mounts {
                // Polling is what acknowledges a change of the mount table; nothing to read.
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLPRI));
            }
            let first_ns = fds.len();
            for ns in &order {
                if let Some(Present {
                    events: Some(s), ..
                }) = self.present.get(ns)
                {
                    // SAFETY: the socket outlives `fds`, which is dropped before `present` changes.
                    fds.push(PollFd::new(
                        unsafe { std::os::fd::BorrowedFd::borrow_raw(s.as_raw_fd()) },
                        PollFlags::POLLIN,
                    ));
                }
            }
            let timeout = PollTimeout::try_from(TICK).unwrap_or(PollTimeout::MAX);
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
            drop(fds);
            scan_due = ready[..first_ns].iter().any(|&r| r);
            if ready[0] {
                let mut sink = [0u8; 64];
                while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
            }
            if let Some(i) = &self.inotify {
                if ready.get(1).copied().unwrap_or(false) {
                    let _ = i.read_events();
                }
            }
            let ours = self.sockets.port_ids();
            for (k, ns) in order.iter().enumerate() {
                if !ready.get(first_ns + k).copied().unwrap_or(false) {
                    continue;
                }
                let changed = match self.present.get_mut(ns) {
                    Some(Present {
                        events: Some(s),
                        known,
                        ..
                    }) => drain(s, &mut buf, &ours, known, ns, &self.sockets),
                    _ => false,
                };
                // Nothing is reported for a namespace unwatched while the watcher slept.
                let still_watched = self
                    .shared
                    .watched
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(ns);
                if changed
                    && still_watched
                    && self.tx.send(NamespaceEvent::Changed(ns.clone())).is_err()
                {
                    return;
                }
            }
        }
    }

    /// Compares every watched namespace with what was last seen, and reports differences.
    fn scan(&mut self) -> Result<(), mpsc::SendError<NamespaceEvent>> {
        let watched: BTreeSet<Netns> = self
            .shared
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.present.retain(|ns, _| watched.contains(ns));
        let mut to_dump = Vec::new();
        // A socket holds its network namespace alive: the backend's socket in a namespace no
        // longer watched (a stopped container's) would keep the namespace, and the veth end
        // inside it, from going with the container.
        for ns in self.sockets.cached() {
            if ns != Netns::Default && !watched.contains(&ns) {
                self.sockets.forget(&ns);
            }
        }
        for ns in watched {
            let now = namespace::identify(&ns);
            let seen = self.present.get(&ns).map(|p| p.id);
            if seen.is_some() && now == seen {
                continue;
            }
            // A namespace this thread has not seen yet may still be one the backend created or
            // worked in, and so one the core believes in: if it was deleted before this look,
            // that incarnation is gone all the same and must be reported.
            let before = seen.or_else(|| self.sockets.known_id(&ns));
            if before.is_some() && now != before {
                self.present.remove(&ns);
                self.sockets.forget(&ns);
                self.tx.send(NamespaceEvent::Vanished(ns.clone()))?;
            }
            if let Some(id) = now {
                let (events, dump) = match subscribe(&ns) {
                    Ok((s, dump)) => (Some(s), Some(dump)),
                    Err(_) => (None, None),
                };
                let known = Known::default();
                self.present
                    .insert(ns.clone(), Present { id, events, known });
                self.tx
                    .send(NamespaceEvent::Appeared(ns.clone(), id.into()))?;
                to_dump.extend(dump.map(|d| (ns, d)));
            }
        }
        // Dumped only once every new namespace is reported: a dump waits for the rtnl lock,
        // which the backend holds while it works in the namespaces reported first, and the
        // core would wait for the later ones (100 new namespaces took 0.65 s). Notifications
        // queue on the subscribed socket meanwhile and are read after the dump.
        for (ns, mut dump) in to_dump {
            // A dump that fails leaves nothing known: every notification then counts.
            let known = Known::dumped(&mut dump).unwrap_or_default();
            if let Some(p) = self.present.get_mut(&ns) {
                p.known = known;
            }
        }
        Ok(())
    }
}

fn watch_run_dir() -> Option<Inotify> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
    let flags = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO;
    inotify.add_watch(NETNS_RUN_DIR, flags).ok()?;
    Some(inotify)
}

/// A non-blocking socket in `ns` that hears link, address, route and neighbour notifications,
/// and a socket in `ns` to dump what it holds with, once the first is subscribed (so nothing
/// falls between the two).
fn subscribe(ns: &Netns) -> io::Result<(NlSocket, NetlinkSocket)> {
    let file = namespace::open(ns)?;
    let open = || {
        let s = NetlinkSocket::subscribe(&[
            RTNLGRP_LINK,
            RTNLGRP_IPV4_IFADDR,
            RTNLGRP_IPV6_IFADDR,
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV6_ROUTE,
            RTNLGRP_NEIGH,
        ])?;
        s.nonblock()?;
        Ok((s, NetlinkSocket::open()?))
    };
    if *ns == Netns::Default {
        open()
    } else {
        namespace::run_in(&file.fd, open)
    }
}

/// Reads everything queued on `sock`; true when a notification from someone other than the
/// backend changed something an observation reports (or notifications were lost, which may
/// hide one). The backend's own notifications only update what is known.
fn drain(
    sock: &NlSocket,
    buf: &mut [u8],
    ours: &HashSet<u32>,
    known: &mut Known,
    ns: &Netns,
    sockets: &SocketCache,
) -> bool {
    let mut changed = false;
    loop {
        match sock.recv(&mut *buf, Msg::empty()) {
            Ok((0, _)) => return changed,
            Ok((n, _)) => {
                for msg in Messages::new(&buf[..n]) {
                    let Ok(msg) = msg else {
                        changed = true;
                        continue;
                    };
                    let echoes = sockets.echoes();
                    let from_backend = ours.contains(&msg.pid);
                    changed |= known.learn(&msg, ns, &echoes, from_backend, Instant::now())
                        && concerns_managed(msg.ty, msg.payload);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return changed,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true, // ENOBUFS: notifications were dropped
        }
    }
}

/// Whether a notification may be about an object the agent manages. Only what the message's
/// fixed header says is used: routes of protocol `kernel` (prefix, local and link-local routes
/// the kernel adds with addresses) and cloned routes (the cache) are never the agent's, which
/// adds its routes with a protocol of its own; a neighbour update to a state without
/// NUD_PERMANENT is a learnt entry changing state (the agent's entries are permanent). A
/// deletion counts if the entry was permanent (its link went down or away) or failed (`ip neigh
/// del` marks an entry failed before it deletes it) or shows no state; the kernel's multicast
/// entries (NUD_NOARP), which it drops by the thousand as IPv6 links come and go, do not.
/// Anything else (links, addresses, messages too short to read) counts.
fn concerns_managed(ty: u16, payload: &[u8]) -> bool {
    match ty {
        RTM_NEWROUTE | RTM_DELROUTE => {
            // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
            let (Some(&protocol), Some(flags)) = (payload.get(5), payload.get(8..12)) else {
                return true;
            };
            let flags = u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]);
            protocol != RTPROT_KERNEL && flags & RTM_F_CLONED == 0
        }
        RTM_NEWNEIGH => {
            // struct ndmsg: family, pad, pad (u16), ifindex (i32), state (u16), flags, type.
            let Some(state) = payload.get(8..10) else {
                return true;
            };
            u16::from_ne_bytes([state[0], state[1]]) & NUD_PERMANENT != 0
        }
        RTM_DELNEIGH => {
            let Some(state) = payload.get(8..10) else {
                return true;
            };
            let state = u16::from_ne_bytes([state[0], state[1]]);
            state == 0 || state & (NUD_PERMANENT | NUD_FAILED) != 0
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtmsg(protocol: u8, flags: u32) -> Vec<u8> {
        let mut m = vec![2, 24, 0, 0, 254, protocol, 0, 1];
        m.extend(flags.to_ne_bytes());
        m
    }

    fn ndmsg(state: u16) -> Vec<u8> {
        let mut m = vec![2, 0, 0, 0];
        m.extend(7i32.to_ne_bytes());
        m.extend(state.to_ne_bytes());
        m.extend([0, 1]);
        m
    }

    #[test]
    fn routes_of_the_kernel_and_the_cache_do_not_count() {
        let agent = nsagent_core::ROUTE_PROTOCOL;
        assert!(concerns_managed(RTM_NEWROUTE, &rtmsg(agent, 0)));
        assert!(concerns_managed(RTM_DELROUTE, &rtmsg(agent, 0)));
        // `ip route replace` by hand (protocol boot) may take a managed route's place.
        assert!(concerns_managed(RTM_NEWROUTE, &rtmsg(3, 0)));
        assert!(!concerns_managed(RTM_NEWROUTE, &rtmsg(RTPROT_KERNEL, 0)));
        assert!(!concerns_managed(RTM_DELROUTE, &rtmsg(RTPROT_KERNEL, 0)));
        assert!(!concerns_managed(RTM_NEWROUTE, &rtmsg(agent, RTM_F_CLONED)));
        assert!(
            concerns_managed(RTM_NEWROUTE, &[2, 24]),
            "unreadable counts"
        );
    }

    #[test]
    fn learnt_neighbours_changing_state_and_multicast_deletions_do_not_count() {
        const NUD_REACHABLE: u16 = 0x02;
        const NUD_STALE: u16 = 0x04;
        const NUD_NOARP: u16 = 0x40;
        assert!(concerns_managed(RTM_NEWNEIGH, &ndmsg(NUD_PERMANENT)));
        for state in [NUD_REACHABLE, NUD_STALE, NUD_FAILED] {
            assert!(!concerns_managed(RTM_NEWNEIGH, &ndmsg(state)));
        }
        assert!(
            concerns_managed(RTM_DELNEIGH, &ndmsg(NUD_FAILED)),
            "ip neigh del"
        );
        assert!(
            concerns_managed(RTM_DELNEIGH, &ndmsg(NUD_PERMANENT)),
            "flushed with its link"
        );
        assert!(concerns_managed(RTM_DELNEIGH, &ndmsg(0)), "no state");
        assert!(
            !concerns_managed(RTM_DELNEIGH, &ndmsg(NUD_NOARP)),
            "the kernel's multicast entries"
        );
        assert!(
            concerns_managed(RTM_DELNEIGH, &[2, 0, 0]),
            "unreadable counts"
        );
        assert!(
            concerns_managed(RTM_NEWNEIGH, &[2, 0, 0]),
            "unreadable counts"
        );
        assert!(concerns_managed(16, &[]), "RTM_NEWLINK");
    }
}
