//! Observers: the sources of events that are neither intents nor command results — the kernel
//! watcher (namespaces gone or back, links, addresses, routes or neighbours changed by someone else) and the Docker watcher
//! (microservices started or stopped). Both only feed the driver's input, so what they saw is
//! logged before the core sees it, like everything else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nsagent_core::{Event, Netns};
use nsagent_netlink::{NamespaceEvent, SocketCache, Watcher};

use crate::driver::Input;
use crate::journal::Origin;

/// How long changes in one namespace are gathered before it is observed again: a script
/// changing several things costs one observation, and the first change waits at most this long.
const REOBSERVE_DELAY: Duration = Duration::from_millis(100);

/// The kernel watcher and what it has been told to watch.
pub struct KernelWatch {
    watcher: Watcher,
    watched: BTreeSet<Netns>,
}

impl KernelWatch {
    /// Starts the watcher on the backend's socket cache (so that it can close the socket of a
    /// namespace that went away, letting the kernel destroy it) and a thread that turns its
    /// events into driver input.
    pub fn start(sockets: SocketCache, input: mpsc::Sender<Input>) -> std::io::Result<KernelWatch> {
        let (watcher, events) = Watcher::start(sockets)?;
        std::thread::Builder::new()
            .name("nsagent-kwatch".into())
            .spawn(move || forward_kernel_events(events, input, REOBSERVE_DELAY))?;
        Ok(KernelWatch {
            watcher,
            watched: BTreeSet::new(),
        })
    }

    /// Watches exactly `namespaces`.
    pub fn set(&mut self, namespaces: Vec<Netns>) {
        let wanted: BTreeSet<Netns> = namespaces.into_iter().collect();
        for gone in self.watched.difference(&wanted) {
            self.watcher.unwatch(gone);
        }
        for new in wanted.difference(&self.watched) {
            self.watcher.watch(new.clone());
        }
        self.watched = wanted;
    }
}

/// Appeared and vanished namespaces go to the core at once; a changed one is observed again
/// `delay` after its first change. Returns when either side hangs up.
fn forward_kernel_events(
    events: mpsc::Receiver<NamespaceEvent>,
    input: mpsc::Sender<Input>,
    delay: Duration,
) {
    let mut due: BTreeMap<Netns, Instant> = BTreeMap::new();
    loop {
        let next = match due.values().min() {
            Some(at) => events.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => events
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let observed = match next {
            Ok(NamespaceEvent::Appeared(ns, identity)) => {
                Some(Event::NamespaceIdentified { ns, identity })
            }
            Ok(NamespaceEvent::Vanished(ns)) => {
                due.remove(&ns);
                Some(Event::NamespaceVanished { ns })
            }
            Ok(NamespaceEvent::Changed(ns)) => {
                due.entry(ns).or_insert_with(|| Instant::now() + delay);
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if let Some(event) = observed {
            tracing::info!(?event, "namespace change seen");
            let sent = input.send(Input::Observe {
                events: vec![event],
                origin: Origin::Kernel,
            });
            if sent.is_err() {
                return;
            }
        }
        let now = Instant::now();
        let ready: Vec<Netns> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(ns, _)| ns.clone())
            .collect();
        if !ready.is_empty() {
            for ns in &ready {
                due.remove(ns);
            }
            tracing::info!(namespaces = ?ready, "namespaces changed by someone else; observing again");
            if input.send(Input::Reobserve(ready)).is_err() {
                return;
            }
        }
    }
}

/// Follows the Docker daemon and feeds its events to the driver. The core first hears that
/// Docker is not connected, so that items waiting for a microservice say so until the watcher's
/// first listing arrives.
pub fn spawn_docker(
    config: nsagent_docker_watch::WatchConfig,
    input: mpsc::Sender<Input>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let _ = input.send(Input::Observe {
        events: vec![Event::MicroserviceWatch { connected: false }],
        origin: Origin::Docker,
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let watch = tokio::spawn(nsagent_docker_watch::watch(config, tx));
    let forward = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut events = vec![first];
            while let Ok(e) = rx.try_recv() {
                events.push(e);
            }
            for e in &events {
                if let Event::MicroserviceStarted {
                    label,
                    container_id,
                    duplicates,
                    ..
                } = e
                {
                    if !duplicates.is_empty() {
                        tracing::warn!(%label, using = %container_id, ignored = ?duplicates,
                            "several running containers carry one microservice label; the newest wins");
                    }
                }
            }
            let sent = input.send(Input::Observe {
                events,
                origin: Origin::Docker,
            });
            if sent.is_err() {
                return;
            }
        }
    });
    vec![watch, forward]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: nsagent_core::NamespaceIdentity = nsagent_core::NamespaceIdentity { dev: 4, ino: 9 };

    fn observed(rx: &mpsc::Receiver<Input>) -> Input {
        rx.recv_timeout(Duration::from_secs(5)).expect("input")
    }

    #[test]
    fn changes_are_gathered_and_namespaces_pass_at_once() {
        let (ev_tx, ev_rx) = mpsc::channel();
        let (in_tx, in_rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            forward_kernel_events(ev_rx, in_tx, Duration::from_millis(100))
        });
        let a = Netns::Named("a".into());
        let b = Netns::Named("b".into());
        let started = Instant::now();
        for _ in 0..5 {
            ev_tx
                .send(NamespaceEvent::Changed(a.clone()))
                .expect("send");
        }
        ev_tx
            .send(NamespaceEvent::Changed(b.clone()))
            .expect("send");
        ev_tx
            .send(NamespaceEvent::Appeared(b.clone(), ID))
            .expect("send");
        match observed(&in_rx) {
            Input::Observe { events, origin } => {
                assert_eq!(
                    events,
                    vec![Event::NamespaceIdentified {
                        ns: b.clone(),
                        identity: ID
                    }]
                );
                assert_eq!(origin, Origin::Kernel);
            }
            _ => panic!("expected the appeared namespace first"),
        }
        // Five changes of `a` make one reobservation. `b` changed a moment later, so it comes in
        // the same one unless the thread was held up in between (a loaded machine).
        let mut reobserved = Vec::new();
        while reobserved.len() < 2 {
            match observed(&in_rx) {
                Input::Reobserve(list) => {
                    assert!(started.elapsed() >= Duration::from_millis(100));
                    reobserved.extend(list);
                }
                _ => panic!("expected reobservations of both"),
            }
        }
        assert_eq!(reobserved, vec![a.clone(), b.clone()]);
        // A namespace that vanishes before its delay is not observed again.
        ev_tx
            .send(NamespaceEvent::Changed(a.clone()))
            .expect("send");
        ev_tx
            .send(NamespaceEvent::Vanished(a.clone()))
            .expect("send");
        match observed(&in_rx) {
            Input::Observe { events, .. } => {
                assert_eq!(events, vec![Event::NamespaceVanished { ns: a.clone() }])
            }
            _ => panic!("expected the vanished namespace"),
        }
        assert!(in_rx.recv_timeout(Duration::from_millis(300)).is_err());
        drop(ev_tx);
        t.join().expect("the thread ends when the watcher goes");
    }

    #[test]
    fn the_thread_ends_when_the_driver_is_gone() {
        let (ev_tx, ev_rx) = mpsc::channel();
        let (in_tx, in_rx) = mpsc::channel();
        drop(in_rx);
        let t = std::thread::spawn(move || {
            forward_kernel_events(ev_rx, in_tx, Duration::from_millis(10))
        });
        ev_tx
            .send(NamespaceEvent::Appeared(Netns::Pid(1), ID))
            .expect("send");
        t.join().expect("ends");
    }
}
