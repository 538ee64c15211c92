//! The thin I/O shell around [`MicroserviceMap`]: one session with the daemon lists and
//! inspects the running containers, then follows the event stream; when the session breaks the
//! watcher says so, waits (capped exponential backoff) and starts a new session, whose listing
//! resyncs the map.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::errors::Error as DockerError;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use nsagent_core::Event;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::error::WatchError;
use crate::map::MicroserviceMap;
use crate::observation::{inspect, Inspected, Observation, StartTime};

/// Where the daemon listens when nothing else is said.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Container actions that can change which process serves a label. `kill`, `pause` and `oom`
/// are left out on purpose: a signal or a freeze leaves the namespace in place, and an exit is
/// always followed by `die`.
const WATCHED_ACTIONS: [&str; 5] = ["start", "restart", "die", "stop", "destroy"];

#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Path of the daemon's unix socket (a `unix://` prefix is accepted).
    pub socket: String,
    /// Limit on one request to the daemon (not on the event stream, which lasts a session).
    pub request_timeout: Duration,
    /// First delay before reconnecting; doubles on each failure up to `reconnect_max`.
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
}

impl WatchConfig {
    /// The defaults, with the socket taken from `DOCKER_HOST` when that names a unix socket
    /// (the only transport the watcher uses: the namespaces it reports are on this host).
    pub fn from_env() -> WatchConfig {
        WatchConfig {
            socket: socket_from_docker_host(std::env::var("DOCKER_HOST").ok()),
            ..WatchConfig::default()
        }
    }
}

fn socket_from_docker_host(docker_host: Option<String>) -> String {
    match docker_host {
        Some(host) if host.starts_with("unix://") && host.len() > "unix://".len() => {
            host["unix://".len()..].to_string()
        }
        Some(host) if !host.is_empty() => {
            tracing::warn!(docker_host = %host, "DOCKER_HOST is not a unix socket; using {DEFAULT_SOCKET}");
            DEFAULT_SOCKET.to_string()
        }
        _ => DEFAULT_SOCKET.to_string(),
    }
}

/// Opens a client on the daemon's socket and settles the API version: bollard speaks its
/// newest API by default, which an older daemon (Debian's speaks 1.41) rejects, so the client
/// is downgraded to the daemon's version before any other request.
pub async fn connect(config: &WatchConfig) -> Result<Docker, WatchError> {
    let timeout = config.request_timeout.as_secs().max(1);
    let docker = Docker::connect_with_unix(&config.socket, timeout, API_DEFAULT_VERSION).map_err(
        |source| WatchError::Connect {
            socket: config.socket.clone(),
            source,
        },
    )?;
    docker
        .negotiate_version()
        .await
        .map_err(WatchError::Negotiate)
}

impl Default for WatchConfig {
    fn default() -> WatchConfig {
        WatchConfig {
            socket: DEFAULT_SOCKET.to_string(),
            request_timeout: Duration::from_secs(10),
            reconnect_base: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
        }
    }
}

/// Follows the daemon until the receiver of `events` is dropped.
///
/// The events sent are `MicroserviceStarted`, `MicroserviceStopped` and `MicroserviceWatch`,
/// ready for `nsagent_core::Core::handle`. Failures of the daemon never end this function: they
/// become `MicroserviceWatch { connected: false }`, a reconnection and a resync.
pub async fn watch(config: WatchConfig, events: mpsc::Sender<Event>) {
    let mut watcher = Watcher {
        backoff: Backoff::new(config.reconnect_base, config.reconnect_max),
        config,
        map: MicroserviceMap::new(),
        out: events,
    };
    watcher.run().await;
}

struct Watcher {
    config: WatchConfig,
    backoff: Backoff,
    map: MicroserviceMap,
    out: mpsc::Sender<Event>,
}

impl Watcher {
    async fn run(&mut self) {
        // A second handle only to notice the receiver going away while a session waits.
        let out = self.out.clone();
        loop {
            let result = tokio::select! {
                r = self.session() => r,
                () = out.closed() => Err(WatchError::Closed),
            };
            let err = match result {
                Err(WatchError::Closed) => return,
                Err(err) => err,
                Ok(()) => WatchError::EventsEnded,
            };
            tracing::warn!(error = %err, "Docker watch session ended");
            let events = self.map.disconnected();
            if self.emit(events).await.is_err() {
                return;
            }
            let delay = self.backoff.next_delay();
            tracing::debug!(?delay, "reconnecting to the Docker daemon after a delay");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.out.closed() => return,
            }
        }
    }

    async fn session(&mut self) -> Result<(), WatchError> {
        let timeout = self.config.request_timeout.as_secs().max(1);
        let docker = Docker::connect_with_unix(&self.config.socket, timeout, API_DEFAULT_VERSION)
            .map_err(|source| WatchError::Connect {
            socket: self.config.socket.clone(),
            source,
        })?;
        // bollard speaks its newest API by default; an older daemon (Debian's speaks 1.41)
        // rejects that, so settle on the lower of the two first.
        let docker = docker
            .negotiate_version()
            .await
            .map_err(WatchError::Negotiate)?;
        tracing::info!(api = %docker.client_version(), "connected to the Docker daemon");

        // Events from just before the listing are replayed by the daemon, so nothing that
        // happens between the listing and the subscription is lost; the map makes the overlap
        // harmless (re-inspection on start, stale exits ignored).
        let since = unix_seconds(SystemTime::now()) - 1.0;
        let observations = self.list(&docker).await?;
        let events = self.map.resync(observations);
        self.emit(events).await?;
        self.backoff.reset();

        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                WATCHED_ACTIONS.iter().map(|a| a.to_string()).collect(),
            ),
        ]);
        let options = EventsOptions {
            since: Some(format!("{since:.9}")),
            until: None,
            filters: Some(filters),
        };
        let mut stream = docker.events(Some(options));
        while let Some(item) = stream.next().await {
            let message = item.map_err(WatchError::Events)?;
            self.handle(&docker, message).await?;
        }
        Err(WatchError::EventsEnded)
    }

    async fn list(&self, docker: &Docker) -> Result<Vec<Observation>, WatchError> {
        let options = ListContainersOptions {
            all: false,
            ..Default::default()
        };
        let summaries = docker
            .list_containers(Some(options))
            .await
            .map_err(WatchError::List)?;
        let mut observations = Vec::new();
        for summary in summaries {
            let Some(id) = summary.id else { continue };
            if let Lookup::Found(Inspected::Running(obs)) = self.inspect(docker, &id).await? {
                observations.push(obs);
            }
        }
        Ok(observations)
    }

    /// Inspects one container; only a failure of the connection is an error.
    async fn inspect(&self, docker: &Docker, id: &str) -> Result<Lookup, WatchError> {
        classify(id, docker.inspect_container(id, None).await)
    }

    async fn handle(&mut self, docker: &Docker, message: EventMessage) -> Result<(), WatchError> {
        let Some((id, reaction)) = reaction(&message) else {
            return Ok(());
        };
        let events = match reaction {
            Reaction::Inspect => match self.inspect(docker, &id).await? {
                Lookup::Found(Inspected::Running(obs)) => self.map.observe_running(obs),
                Lookup::Found(_) | Lookup::Gone => self.map.observe_gone(&id),
                Lookup::Unusable => Vec::new(),
            },
            Reaction::Exit(at) => self.map.observe_exit(&id, at),
            Reaction::Gone => self.map.observe_gone(&id),
        };
        self.emit(events).await
    }

    async fn emit(&self, events: Vec<Event>) -> Result<(), WatchError> {
        for event in events {
            tracing::info!(?event, "microservice change");
            self.out.send(event).await.map_err(|_| WatchError::Closed)?;
        }
        Ok(())
    }
}

/// What an inspection found out about one container.
#[derive(Debug, PartialEq)]
enum Lookup {
    Found(Inspected),
    /// The daemon does not know the container (any more).
    Gone,
    /// The daemon answered, but not usably (logged): the map keeps what it knew.
    Unusable,
}

/// Sorts the outcome of an inspection: a missing container and a refusal about one container
/// are that container's business; anything else means the connection is broken.
fn classify(
    id: &str,
    result: Result<bollard::models::ContainerInspectResponse, DockerError>,
) -> Result<Lookup, WatchError> {
    match result {
        Ok(resp) => match inspect(&resp) {
            Ok(verdict) => Ok(Lookup::Found(verdict)),
            Err(err) => {
                tracing::warn!(container = id, error = %err, "ignoring container");
                Ok(Lookup::Unusable)
            }
        },
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(Lookup::Gone),
        Err(DockerError::DockerResponseServerError {
            status_code,
            message,
        }) => {
            tracing::warn!(
                container = id,
                status_code,
                message,
                "cannot inspect container"
            );
            Ok(Lookup::Unusable)
        }
        Err(source) => Err(WatchError::Inspect {
            container_id: id.to_string(),
            source,
        }),
    }
}

/// What an event from the daemon asks of the map.
#[derive(Debug, PartialEq)]
enum Reaction {
    /// A process started: ask the daemon for its pid and labels.
    Inspect,
    /// The container's process exited at this time.
    Exit(StartTime),
    /// The container no longer exists.
    Gone,
}

fn reaction(message: &EventMessage) -> Option<(String, Reaction)> {
    if message.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let id = message
        .actor
        .as_ref()?
        .id
        .clone()
        .filter(|id| !id.is_empty())?;
    let reaction = match message.action.as_deref()? {
        "start" | "restart" => Reaction::Inspect,
        "die" | "stop" => Reaction::Exit(event_time(message.time_nano, message.time)),
        "destroy" => Reaction::Gone,
        _ => return None,
    };
    Some((id, reaction))
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The daemon's time of an event. An exit must never be mistaken for a stale one, so when only
/// whole seconds are known the end of that second is taken, and no time at all counts as newer
/// than anything.
fn event_time(time_nano: Option<i64>, time: Option<i64>) -> StartTime {
    match (time_nano, time) {
        (Some(ns), _) => StartTime(i128::from(ns)),
        (None, Some(s)) => StartTime((i128::from(s) + 1) * 1_000_000_000 - 1),
        (None, None) => StartTime(i128::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable_config(dir: &str) -> WatchConfig {
        WatchConfig {
            socket: format!("{dir}/no-such-docker.sock"),
            reconnect_base: Duration::from_millis(1),
            reconnect_max: Duration::from_millis(5),
            ..WatchConfig::default()
        }
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nsagent-dw-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn docker_host_unix_socket_is_used() {
        assert_eq!(
            socket_from_docker_host(Some("unix:///run/user/docker.sock".into())),
            "/run/user/docker.sock"
        );
    }

    #[test]
    fn docker_host_absent_empty_or_not_unix_falls_back_to_the_default_socket() {
        for host in [
            None,
            Some(String::new()),
            Some("unix://".into()),
            Some("tcp://127.0.0.1:2375".into()),
        ] {
            assert_eq!(
                socket_from_docker_host(host.clone()),
                DEFAULT_SOCKET,
                "{host:?}"
            );
        }
    }

    #[tokio::test]
    async fn missing_socket_is_a_connect_error() {
        let dir = scratch_dir("missing");
        let err = connect(&unreachable_config(&dir.display().to_string()))
            .await
            .expect_err("no daemon there");
        assert!(matches!(err, WatchError::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("no-such-docker.sock"), "{err}");
    }

    #[tokio::test]
    async fn socket_that_is_not_a_daemon_is_a_negotiation_error() {
        let dir = scratch_dir("mute");
        let path = dir.join("mute.sock");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        // Accepts and hangs up at once, as a crashing daemon would.
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        let config = WatchConfig {
            socket: path.display().to_string(),
            ..WatchConfig::default()
        };
        let err = connect(&config).await.expect_err("not a daemon");
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(err, WatchError::Negotiate(_)), "{err:?}");
    }

    #[tokio::test]
    async fn unreachable_daemon_reports_disconnected_once_and_keeps_retrying() {
        let dir = scratch_dir("retry");
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(watch(unreachable_config(&dir.display().to_string()), tx));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            rx.recv().await,
            Some(Event::MicroserviceWatch { connected: false })
        );
        // Many retries later (1-5 ms apart), still nothing more to say.
        let more = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        assert!(more.is_err(), "unexpected {more:?}");
        assert!(!task.is_finished(), "the watcher must keep retrying");
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("watcher stops once its receiver is gone")
            .expect("watcher task did not panic");
    }

    fn message(typ: EventMessageTypeEnum, action: &str, id: Option<&str>) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(bollard::models::EventActor {
                id: id.map(str::to_string),
                attributes: None,
            }),
            time: Some(7),
            time_nano: Some(7_000_000_123),
            ..Default::default()
        }
    }

    #[test]
    fn start_and_restart_events_ask_for_an_inspection() {
        for action in ["start", "restart"] {
            let m = message(EventMessageTypeEnum::CONTAINER, action, Some("c1"));
            assert_eq!(
                reaction(&m),
                Some(("c1".to_string(), Reaction::Inspect)),
                "{action}"
            );
        }
    }

    #[test]
    fn die_and_stop_events_are_exits_at_the_event_time() {
        for action in ["die", "stop"] {
            let m = message(EventMessageTypeEnum::CONTAINER, action, Some("c1"));
            assert_eq!(
                reaction(&m),
                Some(("c1".to_string(), Reaction::Exit(StartTime(7_000_000_123))))
            );
        }
    }

    #[test]
    fn destroy_event_means_gone() {
        let m = message(EventMessageTypeEnum::CONTAINER, "destroy", Some("c1"));
        assert_eq!(reaction(&m), Some(("c1".to_string(), Reaction::Gone)));
    }

    #[test]
    fn events_that_leave_the_namespace_in_place_are_ignored() {
        for action in [
            "kill",
            "pause",
            "unpause",
            "oom",
            "create",
            "attach",
            "exec_start: sh",
        ] {
            let m = message(EventMessageTypeEnum::CONTAINER, action, Some("c1"));
            assert_eq!(reaction(&m), None, "{action}");
        }
    }

    #[test]
    fn events_without_container_id_or_of_other_types_are_ignored() {
        assert_eq!(
            reaction(&message(EventMessageTypeEnum::CONTAINER, "start", None)),
            None
        );
        assert_eq!(
            reaction(&message(EventMessageTypeEnum::CONTAINER, "start", Some(""))),
            None
        );
        assert_eq!(
            reaction(&message(EventMessageTypeEnum::NETWORK, "start", Some("c1"))),
            None
        );
        let mut no_action = message(EventMessageTypeEnum::CONTAINER, "start", Some("c1"));
        no_action.action = None;
        assert_eq!(reaction(&no_action), None);
    }

    fn server_error(status_code: u16) -> DockerError {
        DockerError::DockerResponseServerError {
            status_code,
            message: "no".into(),
        }
    }

    #[test]
    fn inspecting_a_vanished_container_finds_it_gone() {
        assert_eq!(
            classify("c1", Err(server_error(404))).expect("not fatal"),
            Lookup::Gone
        );
    }

    #[test]
    fn daemon_refusal_about_one_container_is_not_fatal() {
        assert_eq!(
            classify("c1", Err(server_error(500))).expect("not fatal"),
            Lookup::Unusable
        );
    }

    #[test]
    fn malformed_description_is_not_fatal() {
        let resp = bollard::models::ContainerInspectResponse::default();
        assert_eq!(
            classify("c1", Ok(resp)).expect("not fatal"),
            Lookup::Unusable
        );
    }

    #[test]
    fn broken_connection_during_inspection_ends_the_session() {
        let err = classify("c1", Err(DockerError::RequestTimeoutError)).expect_err("fatal");
        assert!(
            matches!(err, WatchError::Inspect { ref container_id, .. } if container_id == "c1"),
            "{err:?}"
        );
    }

    #[test]
    fn usable_description_is_found() {
        let resp = bollard::models::ContainerInspectResponse {
            id: Some("c1".into()),
            ..Default::default()
        };
        assert_eq!(
            classify("c1", Ok(resp)).expect("not fatal"),
            Lookup::Found(Inspected::NotMicroservice {
                container_id: "c1".into()
            })
        );
    }

    #[test]
    fn event_time_prefers_nanoseconds() {
        assert_eq!(
            event_time(Some(1_500_000_000), Some(1)),
            StartTime(1_500_000_000)
        );
    }

    #[test]
    fn event_time_in_whole_seconds_is_the_end_of_that_second() {
        // An exit at 1.9 s reported as "1" must not look older than a start at 1.3 s.
        assert_eq!(event_time(None, Some(1)), StartTime(1_999_999_999));
    }

    #[test]
    fn event_without_time_is_newer_than_anything() {
        assert_eq!(event_time(None, None), StartTime(i128::MAX));
    }
}
