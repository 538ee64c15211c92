//! Configuration of `nsagentd`: command line, environment (`NSAGENT_*`) and a TOML file, in that
//! order of precedence.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::nats::NatsAuth;
use crate::protocol::check_label;
use nsagent_core::{check_route_protocol, AgentIdentity, InstanceId, ROUTE_PROTOCOL};

/// Which kernel the daemon configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The running Linux kernel over rtnetlink (needs CAP_NET_ADMIN and CAP_SYS_ADMIN).
    Netlink,
    /// An in-memory kernel: runs anywhere without root, for tests and demos.
    Sim,
}

/// Records kept older than the older kept snapshot when nothing says otherwise: enough to
/// replay the last hundred thousand events before it offline, and a bound on the log's size
/// (and so on sled's memory, which grows with the log) when items keep failing and every retry
/// is logged.
pub const DEFAULT_RETENTION: u64 = 100_000;

/// How much history the log keeps: `retention = 100000` or `retention = "all"` in the file,
/// `--retention 100000` or `--retention all` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Every record, from the first: the whole history stays replayable.
    All,
    /// This many records older than the older kept snapshot; older ones are removed.
    Records(u64),
}

fn parse_retention(text: &str) -> Result<Retention, String> {
    if text == "all" {
        return Ok(Retention::All);
    }
    text.parse()
        .map(Retention::Records)
        .map_err(|_| format!("retention: {text:?} is neither a number of records nor \"all\""))
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Retention, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Records(u64),
            Word(String),
        }
        match Written::deserialize(d).map_err(|_| {
            serde::de::Error::custom("retention: expected a number of records or \"all\"")
        })? {
            Written::Records(n) => Ok(Retention::Records(n)),
            Written::Word(w) => parse_retention(&w).map_err(serde::de::Error::custom),
        }
    }
}

/// `nsagentd` command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "nsagentd",
    version,
    about = "nsagent daemon: owns the network configuration of this host"
)]
pub struct Args {
    /// TOML file with any of the settings below (snake_case names); the command line and the
    /// environment override it.
    #[arg(long, env = "NSAGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Agent label: the NATS subjects are nsagent.<label>.*
    #[arg(long, env = "NSAGENT_LABEL")]
    pub label: Option<String>,
    /// NATS server URL.
    #[arg(long, env = "NSAGENT_NATS")]
    pub nats: Option<String>,
    /// Directory of the event log.
    #[arg(long, env = "NSAGENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, env = "NSAGENT_BACKEND", value_enum)]
    pub backend: Option<BackendKind>,
    /// Also take desired state from the JetStream key-value bucket nsagent_<label>.
    #[arg(long, env = "NSAGENT_KV")]
    pub kv: bool,
    /// Write a snapshot of the core every this many events.
    #[arg(long, env = "NSAGENT_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Records to keep older than the older kept snapshot (default 100000), or `all` to keep
    /// the whole history. Every retry of a failing item is logged, so keeping everything lets
    /// the log, and sled's memory with it, grow for as long as items keep failing.
    #[arg(long, env = "NSAGENT_RETENTION", value_parser = parse_retention)]
    pub retention: Option<Retention>,
    /// Open a damaged event log anyway: keep every readable record, write a report to the
    /// data directory, and continue after the highest sequence number ever used. Without it
    /// a damaged log stops the daemon.
    #[arg(long)]
    pub repair: bool,
    /// Follow the Docker daemon for microservices (default: on when /var/run/docker.sock
    /// exists or DOCKER_HOST is set).
    #[arg(long, conflicts_with = "no_docker")]
    pub docker: bool,
    /// Do not follow the Docker daemon.
    #[arg(long)]
    pub no_docker: bool,
    /// Look at every namespace again this often, to repair what changed without a
    /// notification: `60s` (the default), `500ms`, `5m`; `0` or `off` for never.
    #[arg(long, env = "NSAGENT_RESYNC_INTERVAL")]
    pub resync_interval: Option<String>,
    /// Look at the state of every managed interface this often and publish what changed
    /// (admin or operational status, deleted) on `nsagent.<label>.interface-state`: `1s` (the
    /// default), `500ms`, `5m`; `0` or `off` for never.
    #[arg(long, env = "NSAGENT_STATE_INTERVAL")]
    pub state_interval: Option<String>,
    /// Take every link marked the way agents marked them before identities
    /// (`nsagent:<item>`) for this agent's, so that those no item wants are removed. Without
    /// it only those its items want are adopted (and re-marked); the rest may be another
    /// agent's and are left alone. For a host this agent is the only one to have run on.
    #[arg(long, env = "NSAGENT_ADOPT_LEGACY")]
    pub adopt_legacy: bool,
    /// The route protocol number (`rtm_protocol`) this agent's routes carry, and the only one
    /// it takes for its own (default 4, `static`); give each agent on a host its own.
    #[arg(long, env = "NSAGENT_ROUTE_PROTOCOL")]
    pub route_protocol: Option<u32>,
    /// The existing links EXISTING and LOOPBACK items may borrow, by name, comma-separated; a
    /// trailing `*` matches any rest (`eth*`). Default: any link. The links carrying the
    /// route to the NATS server are protected whatever this says.
    #[arg(long, env = "NSAGENT_BORROW_ALLOW", value_delimiter = ',')]
    pub borrow_allow: Option<Vec<String>>,
    #[command(flatten)]
    pub auth: NatsAuth,
}

/// The TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    label: Option<String>,
    nats: Option<String>,
    data_dir: Option<PathBuf>,
    backend: Option<BackendKind>,
    kv: Option<bool>,
    snapshot_every: Option<u64>,
    retention: Option<Retention>,
    docker: Option<bool>,
    resync_interval: Option<String>,
    state_interval: Option<String>,
    adopt_legacy: Option<bool>,
    route_protocol: Option<u32>,
    borrow_allow: Option<Vec<String>>,
    #[serde(default)]
    auth: NatsAuth,
}

/// Settings after merging every source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub label: String,
    pub nats: String,
    pub data_dir: PathBuf,
    pub backend: BackendKind,
    pub kv: bool,
    pub snapshot_every: u64,
    /// Records kept older than the older kept snapshot; `None` keeps every record.
    pub retention: Option<u64>,
    /// Open a damaged log anyway (`--repair`; never from the file: a repair is a decision
    /// taken once, for one start).
    pub repair: bool,
    /// Follow the Docker daemon (microservices).
    pub docker: bool,
    /// Milliseconds between full resyncs; `None`: never.
    pub resync_interval_ms: Option<u64>,
    /// Milliseconds between looks at interface states; `None`: never.
    pub state_interval_ms: Option<u64>,
    /// Take every legacy-marked link for this agent's (`--adopt-legacy`).
    pub adopt_legacy: bool,
    /// `--route-protocol`, checked.
    pub route_protocol: u8,
    /// `--borrow-allow`, checked; empty: any link.
    pub borrow_allow: Vec<String>,
    pub auth: NatsAuth,
}

/// Why the settings cannot be used; the daemon exits with it before touching anything.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{0} is required (command line, NSAGENT_* environment or config file)")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// A link name, or a prefix of one followed by `*`.
fn check_borrow_pattern(pattern: &str) -> Result<(), String> {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    if name.contains('*') {
        return Err("`*` may only end a pattern".into());
    }
    if name.is_empty() && !pattern.ends_with('*') {
        return Err("empty name".into());
    }
    if name.len() > 15 || name.chars().any(|c| c == '/' || c.is_whitespace()) {
        return Err("not a link name (at most 15 characters, no '/' or spaces)".into());
    }
    Ok(())
}

impl DaemonConfig {
    pub fn resolve(args: Args) -> Result<DaemonConfig, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let label = args
            .label
            .or(file.label)
            .ok_or(ConfigError::Missing("--label"))?;
        check_label(&label).map_err(ConfigError::Invalid)?;
        // The label goes in every link's mark, which has a length limit of its own.
        AgentIdentity::new(&label, InstanceId(0))
            .map_err(|e| ConfigError::Invalid(format!("--label: {}", e.reason)))?;
        let snapshot_every = args
            .snapshot_every
            .or(file.snapshot_every)
            .unwrap_or(10_000);
        if snapshot_every == 0 {
            return Err(ConfigError::Invalid(
                "snapshot_every must be at least 1".into(),
            ));
        }
        let resync_interval_ms = match args.resync_interval.or(file.resync_interval) {
            Some(text) => parse_interval(&text).map_err(|reason| {
                ConfigError::Invalid(format!("resync_interval '{text}': {reason}"))
            })?,
            None => Some(DEFAULT_RESYNC_INTERVAL_MS),
        };
        let state_interval_ms = match args.state_interval.or(file.state_interval) {
            Some(text) => parse_interval(&text).map_err(|reason| {
                ConfigError::Invalid(format!("state_interval '{text}': {reason}"))
            })?,
            None => Some(DEFAULT_STATE_INTERVAL_MS),
        };
        let route_protocol = match args.route_protocol.or(file.route_protocol) {
            Some(p) => check_route_protocol("--route-protocol", p)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?,
            None => ROUTE_PROTOCOL,
        };
        let borrow_allow = args.borrow_allow.or(file.borrow_allow).unwrap_or_default();
        for pattern in &borrow_allow {
            check_borrow_pattern(pattern).map_err(|reason| {
                ConfigError::Invalid(format!("--borrow-allow '{pattern}': {reason}"))
            })?;
        }
        Ok(DaemonConfig {
            label,
            nats: args
                .nats
                .or(file.nats)
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .ok_or(ConfigError::Missing("--data-dir"))?,
            backend: args
                .backend
                .or(file.backend)
                .unwrap_or(BackendKind::Netlink),
            kv: args.kv || file.kv.unwrap_or(false),
            snapshot_every,
            retention: match args.retention.or(file.retention) {
                None => Some(DEFAULT_RETENTION),
                Some(Retention::Records(n)) => Some(n),
                Some(Retention::All) => None,
            },
            repair: args.repair,
            docker: if args.no_docker {
                false
            } else if args.docker {
                true
            } else {
                file.docker.unwrap_or_else(docker_present)
            },
            resync_interval_ms,
            state_interval_ms,
            adopt_legacy: args.adopt_legacy || file.adopt_legacy.unwrap_or(false),
            route_protocol,
            borrow_allow,
            auth: args.auth.or(file.auth),
        })
    }
}

/// A minute: drift no notification told of is repaired within it, at the cost of one dump of
/// every namespace per minute.
const DEFAULT_RESYNC_INTERVAL_MS: u64 = 60_000;

/// Interface states are looked at every second unless told otherwise: one link dump per
/// namespace holding a managed interface.
const DEFAULT_STATE_INTERVAL_MS: u64 = 1_000;

/// `<n>ms`, `<n>s`, `<n>m` or `<n>` (seconds); `0` and `off` mean never (`None`).
fn parse_interval(text: &str) -> Result<Option<u64>, String> {
    if text == "off" {
        return Ok(None);
    }
    let (digits, per) = if let Some(d) = text.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = text.strip_suffix('s') {
        (d, 1_000)
    } else if let Some(d) = text.strip_suffix('m') {
        (d, 60_000)
    } else {
        (text, 1_000)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a number with ms, s or m (60s, 500ms, 5m), 0 or off".into());
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| "the number is too large".to_string())?;
    let ms = n
        .checked_mul(per)
        .ok_or_else(|| "the interval is too long".to_string())?;
    Ok((ms > 0).then_some(ms))
}

/// Whether this host looks like it runs Docker.
fn docker_present() -> bool {
    std::env::var_os("DOCKER_HOST").is_some_and(|v| !v.is_empty())
        || Path::new(nsagent_docker_watch::DEFAULT_SOCKET).exists()
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.display().to_string(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(list: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("nsagentd").chain(list.iter().copied())).expect("args")
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "label = \"file\"\nnats = \"nats://f:1\"\ndata_dir = \"/d\"\nbackend = \"sim\"\nkv = true\n[auth]\ntoken = \"t\"\n",
        )
        .expect("write");
        let c = DaemonConfig::resolve(args(&[
            "--config",
            path.to_str().expect("utf8"),
            "--label",
            "cli",
        ]))
        .expect("ok");
        assert_eq!(c.label, "cli");
        assert_eq!(c.nats, "nats://f:1");
        assert_eq!(c.backend, BackendKind::Sim);
        assert!(c.kv);
        assert_eq!(c.auth.token.as_deref(), Some("t"));
    }

    #[test]
    fn docker_follows_the_flags_then_the_file_then_the_host() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "label = \"a\"\ndata_dir = \"/d\"\ndocker = true\n").expect("write");
        let file = path.to_str().expect("utf8");
        let c = DaemonConfig::resolve(args(&["--config", file])).expect("ok");
        assert!(c.docker);
        let c = DaemonConfig::resolve(args(&["--config", file, "--no-docker"])).expect("ok");
        assert!(!c.docker);
        std::fs::write(&path, "label = \"a\"\ndata_dir = \"/d\"\ndocker = false\n").expect("write");
        let c = DaemonConfig::resolve(args(&["--config", file])).expect("ok");
        assert!(!c.docker);
        let c = DaemonConfig::resolve(args(&["--config", file, "--docker"])).expect("ok");
        assert!(c.docker);
        let c = DaemonConfig::resolve(args(&["--label", "a", "--data-dir", "/d"])).expect("ok");
        assert_eq!(c.docker, docker_present());
        assert!(Args::try_parse_from(["nsagentd", "--docker", "--no-docker"]).is_err());
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        let e = DaemonConfig::resolve(args(&["--data-dir", "/d"])).expect_err("no label");
        assert!(e.to_string().contains("--label"), "{e}");
        let e = DaemonConfig::resolve(args(&["--label", "a"])).expect_err("no dir");
        assert!(e.to_string().contains("--data-dir"), "{e}");
        let e = DaemonConfig::resolve(args(&["--label", "a.b", "--data-dir", "/d"]))
            .expect_err("bad label");
        assert!(e.to_string().contains("a.b"), "{e}");
        let e = DaemonConfig::resolve(args(&[
            "--label",
            "a",
            "--data-dir",
            "/d",
            "--snapshot-every",
            "0",
        ]))
        .expect_err("zero");
        assert!(e.to_string().contains("snapshot_every"), "{e}");
    }

    #[test]
    fn the_resync_interval_defaults_to_a_minute_and_reads_units_and_off() {
        let base = ["--label", "a", "--data-dir", "/d"];
        let with = |v: &str| {
            let flag = format!("--resync-interval={v}");
            let mut list = base.to_vec();
            list.push(&flag);
            DaemonConfig::resolve(args(&list))
        };
        let c = DaemonConfig::resolve(args(&base)).expect("ok");
        assert_eq!(c.resync_interval_ms, Some(60_000));
        assert_eq!(with("500ms").expect("ok").resync_interval_ms, Some(500));
        assert_eq!(with("2s").expect("ok").resync_interval_ms, Some(2_000));
        assert_eq!(with("3").expect("ok").resync_interval_ms, Some(3_000));
        assert_eq!(with("5m").expect("ok").resync_interval_ms, Some(300_000));
        assert_eq!(with("0").expect("ok").resync_interval_ms, None);
        assert_eq!(with("off").expect("ok").resync_interval_ms, None);
        for bad in ["", "s", "1h", "-1s", "1.5s", "99999999999999999999m"] {
            let e = with(bad).expect_err(bad);
            assert!(e.to_string().contains("resync_interval"), "{e}");
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn the_state_interval_defaults_to_a_second_and_reads_units_and_off_and_errors_name_it() {
        let base = ["--label", "a", "--data-dir", "/d"];
        let with = |v: &str| {
            let flag = format!("--state-interval={v}");
            let mut list = base.to_vec();
            list.push(&flag);
            DaemonConfig::resolve(args(&list))
        };
        let c = DaemonConfig::resolve(args(&base)).expect("ok");
        assert_eq!(c.state_interval_ms, Some(1_000));
        assert_eq!(with("250ms").expect("ok").state_interval_ms, Some(250));
        assert_eq!(with("off").expect("ok").state_interval_ms, None);
        let e = with("soon").expect_err("bad");
        assert!(e.to_string().contains("state_interval 'soon'"), "{e}");
    }

    #[test]
    fn a_label_too_long_for_a_links_mark_is_refused_and_adopt_legacy_is_read() {
        let long = "l".repeat(33);
        let e = DaemonConfig::resolve(args(&["--label", &long, "--data-dir", "/d"]))
            .expect_err("too long");
        assert!(
            e.to_string().contains("--label") && e.to_string().contains("32"),
            "{e}"
        );
        let c = DaemonConfig::resolve(args(&["--label", "a", "--data-dir", "/d"])).expect("ok");
        assert!(!c.adopt_legacy);
        let c = DaemonConfig::resolve(args(&[
            "--label",
            "a",
            "--data-dir",
            "/d",
            "--adopt-legacy",
        ]))
        .expect("ok");
        assert!(c.adopt_legacy);
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "label = \"a\"\ndata_dir = \"/d\"\nadopt_legacy = true\nresync_interval = \"off\"\n",
        )
        .expect("write");
        let c =
            DaemonConfig::resolve(args(&["--config", path.to_str().expect("utf8")])).expect("ok");
        assert!(c.adopt_legacy);
        assert_eq!(c.resync_interval_ms, None);
    }

    #[test]
    fn retention_defaults_to_a_bound_and_all_keeps_everything() {
        let base = ["--label", "a", "--data-dir", "/d"];
        let with = |extra: &[&str]| {
            let list: Vec<&str> = base.iter().chain(extra).copied().collect();
            DaemonConfig::resolve(args(&list)).expect("ok").retention
        };
        assert_eq!(with(&[]), Some(DEFAULT_RETENTION));
        assert_eq!(with(&["--retention", "5"]), Some(5));
        assert_eq!(with(&["--retention", "all"]), None);
        let e = Args::try_parse_from(["nsagentd", "--retention", "forever"]).expect_err("bad");
        assert!(e.to_string().contains("\"forever\" is neither"), "{e}");

        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        let file = path.to_str().expect("utf8");
        for (written, resolved) in [("7", Some(7)), ("\"all\"", None)] {
            std::fs::write(
                &path,
                format!("label = \"a\"\ndata_dir = \"/d\"\nretention = {written}\n"),
            )
            .expect("write");
            let c = DaemonConfig::resolve(args(&["--config", file])).expect("ok");
            assert_eq!(c.retention, resolved, "{written}");
        }
        for bad in ["\"forever\"", "-1", "true"] {
            std::fs::write(
                &path,
                format!("label = \"a\"\ndata_dir = \"/d\"\nretention = {bad}\n"),
            )
            .expect("write");
            let e = DaemonConfig::resolve(args(&["--config", file])).expect_err(bad);
            assert!(e.to_string().contains("retention"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_route_protocol_defaults_to_static_and_reserved_numbers_are_refused() {
        let c = DaemonConfig::resolve(args(&["--label", "a", "--data-dir", "/d"])).expect("ok");
        assert_eq!(c.route_protocol, 4);
        let c = DaemonConfig::resolve(args(&[
            "--label",
            "a",
            "--data-dir",
            "/d",
            "--route-protocol",
            "201",
        ]))
        .expect("ok");
        assert_eq!(c.route_protocol, 201);
        for bad in ["2", "16", "300"] {
            let e = DaemonConfig::resolve(args(&[
                "--label",
                "a",
                "--data-dir",
                "/d",
                "--route-protocol",
                bad,
            ]))
            .expect_err(bad);
            assert!(e.to_string().contains("--route-protocol"), "{e}");
        }
    }

    #[test]
    fn borrow_allow_is_a_list_of_names_and_prefixes_and_bad_ones_are_named() {
        let c = DaemonConfig::resolve(args(&["--label", "a", "--data-dir", "/d"])).expect("ok");
        assert!(c.borrow_allow.is_empty(), "default: any link");
        let c = DaemonConfig::resolve(args(&[
            "--label",
            "a",
            "--data-dir",
            "/d",
            "--borrow-allow",
            "lo,eth*",
        ]))
        .expect("ok");
        assert_eq!(c.borrow_allow, vec!["lo".to_string(), "eth*".to_string()]);
        for (bad, why) in [
            ("e*h", "may only end"),
            ("", "empty name"),
            ("a-name-far-too-long", "not a link name"),
        ] {
            let e = DaemonConfig::resolve(args(&[
                "--label",
                "a",
                "--data-dir",
                "/d",
                "--borrow-allow",
                bad,
            ]))
            .expect_err(bad);
            let text = e.to_string();
            assert!(
                text.contains(&format!("--borrow-allow '{bad}'")) && text.contains(why),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_or_unreadable_files_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lable = \"x\"\n").expect("write");
        let e = DaemonConfig::resolve(args(&["--config", path.to_str().expect("utf8")]))
            .expect_err("typo");
        assert!(e.to_string().contains("lable"), "{e}");
        let e =
            DaemonConfig::resolve(args(&["--config", "/nonexistent.toml"])).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent.toml"), "{e}");
    }
}
