//! Knows which Docker container runs each microservice, so that interfaces, routes and ARP
//! entries can target a container's network namespace before the container even exists. It
//! keeps a live map from microservice label to container id and pid — a container is a
//! microservice when its environment has `MICROSERVICE_LABEL=<label>` (vpp-agent's convention)
//! or it carries the Docker label `nsagent.microservice=<label>` — and reports every change as
//! an [`nsagent_core::Event`] (`MicroserviceStarted`, `MicroserviceStopped`,
//! `MicroserviceWatch`), the vocabulary the core already speaks.
//!
//! The policy (what counts as a change, who wins when two containers claim one label, what a
//! resync must report) lives in [`MicroserviceMap`], which does no I/O; [`watch`] is the thin
//! bollard layer that feeds it from the daemon's container list and event stream, negotiates
//! the API version (Debian's daemon speaks 1.41, older than bollard's default), and reconnects
//! with capped exponential backoff when the daemon restarts.
//!
//! # What the events promise
//!
//! * `MicroserviceStarted { label, container_id, pid, duplicates }` is sent whenever the winner
//!   of a label, its pid, or the list of losing duplicates changes. A new winner (a newer
//!   duplicate started, or the winner stopped and an older duplicate takes over) is a plain
//!   `MicroserviceStarted` that replaces the previous one: the loser still runs, so no
//!   `MicroserviceStopped` is sent for it. When the duplicates list alone changes, the same
//!   container and pid are sent again with the new list.
//! * `MicroserviceStopped { label, container_id }` is sent only when no running container
//!   carries the label any more, and always names the container last reported as started.
//! * `MicroserviceWatch { connected: false }` is sent once per outage (also when the daemon is
//!   unreachable from the start). It does not mean the containers stopped: the map keeps them,
//!   and after reconnecting the watcher lists the containers again and sends only the
//!   differences (stops for vanished containers, starts for new containers and changed pids),
//!   then `MicroserviceWatch { connected: true }`.
//!
//! # What the agent needs to enter a container's namespace
//!
//! The core enters a microservice's namespace through `/proc/<pid>/ns/net`, where `<pid>` is
//! the container's init process as the Docker daemon sees it.
//!
//! * **Agent on the host** (the usual case): the daemon runs in the host's pid namespace, so the
//!   pid it reports is a host pid and the agent, also in the host's pid namespace, opens
//!   `/proc/<pid>/ns/net` directly. `--pid=host` is a `docker run` option for containers; a
//!   process on the host is already there. It needs read/write access to
//!   `/var/run/docker.sock` (root or the `docker` group), and `CAP_SYS_ADMIN` (to `setns` into
//!   another namespace) and `CAP_NET_ADMIN` (to configure links there) — root has both.
//! * **Agent in a container**: it needs the daemon's socket mounted
//!   (`-v /var/run/docker.sock:/var/run/docker.sock`); the host's pids, either by sharing the
//!   host's pid namespace (`--pid=host`) or by mounting the host's `/proc` somewhere and opening
//!   `<that>/<pid>/ns/net` (a container's own `/proc` only shows its own pid namespace, where the
//!   daemon's pids mean nothing); `CAP_SYS_ADMIN` and `CAP_NET_ADMIN` (`--cap-add SYS_ADMIN
//!   --cap-add NET_ADMIN`, or `--privileged`); and, to manage the host's own links, the host's
//!   network namespace (`--network=host`). A seccomp or AppArmor profile that forbids `setns`
//!   must be relaxed as well.
//!
//! # Tests
//!
//! The integration tests (`tests/docker.rs`) and the `start_latency` bench run against a real
//! daemon as root. `scripts/docker-test-env.sh ensure` installs `docker.io` and
//! `busybox-static` if missing, starts `dockerd` if `docker info` fails, and imports the image
//! `nsagent-test-busybox:latest` from a busybox root file system (no registry needed); the
//! tests call it themselves and fail with its message when they cannot run.

mod backoff;
mod error;
mod map;
mod observation;
mod watcher;

pub use error::{ObservationError, WatchError};
pub use map::{Entry, MicroserviceMap};
pub use observation::{
    inspect, microservice_label, Inspected, Observation, StartTime, DOCKER_LABEL, ENV_LABEL,
};
pub use watcher::{connect, watch, WatchConfig, DEFAULT_SOCKET};
