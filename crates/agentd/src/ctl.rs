//! What `nsagentctl` does besides talking to NATS: reading item files, rendering answers, and
//! replaying a log offline.

use std::path::{Path, PathBuf};

use nsagent_core::{AgentIdentity, Command, CoreConfig, Item, Timestamp};

use crate::{human, instance};
use nsagent_sim::{SimConfig, SimKernel};
use serde::Serialize;
use serde_json::Value;

use crate::journal::{Journal, JournalConfig, Record};
use crate::protocol::LogEntry;
use crate::replay::{self, ReplayError};

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// Why `nsagentctl` could not read an item file or replay a log; it names the file, the item
/// and the field, so that the user can fix the input without guessing.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: neither JSON ({json}) nor YAML ({yaml})")]
    Syntax {
        path: String,
        json: String,
        yaml: String,
    },
    #[error("{path}: {at}{field}: {reason}")]
    Invalid {
        path: String,
        at: String,
        field: String,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Reads items from a JSON or YAML file: one item, a list of items, or a vpp-agent config
/// document (`linuxConfig: {interfaces, arpEntries, routes}`, camelCase or snake_case). Every
/// item's key is derived from its value, and every item is read by the core's one intake path
/// (`Item::decode_unkeyed`), so a file accepts the spellings a request or the bucket does.
pub fn read_items(path: &Path) -> Result<Vec<Item>, CtlError> {
    let p = path.display().to_string();
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|source| CtlError::Read {
        path: p.clone(),
        source,
    })?;
    let doc: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(json) => serde_yaml::from_str(&text).map_err(|yaml| CtlError::Syntax {
            path: p.clone(),
            json: json.to_string(),
            yaml: yaml.to_string(),
        })?,
    };
    let values = item_values(doc);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Item::decode_unkeyed(v).map_err(|e| CtlError::Invalid {
                path: p.clone(),
                at: if values.len() > 1 {
                    format!("item {i}: ")
                } else {
                    String::new()
                },
                field: e.field,
                reason: e.reason,
            })
        })
        .collect()
}

fn item_values(doc: Value) -> Vec<Value> {
    match doc {
        Value::Array(list) => list,
        Value::Object(mut obj) => {
            let config = obj
                .remove("linuxConfig")
                .or_else(|| obj.remove("linux_config"));
            match config {
                Some(Value::Object(cfg)) => {
                    let mut out = Vec::new();
                    for (name, list) in cfg {
                        if matches!(
                            snake(&name).as_str(),
                            "interfaces" | "arp_entries" | "routes"
                        ) {
                            if let Value::Array(items) = list {
                                out.extend(items);
                            }
                        }
                    }
                    out
                }
                _ => vec![Value::Object(obj)],
            }
        }
        other => vec![other],
    }
}

/// The config document's list names, in either spelling (`arpEntries`, `arp_entries`); the
/// items' own fields are left to the core's protobuf-JSON mapping.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The intent bodies that put `items`: transactions of at most `per_txn` operations and about
/// `max_bytes` each (a server's message limit), so that every body can be sent. An item too
/// big for `max_bytes` on its own still gets a body, which the server or agent then refuses.
pub fn put_bodies(items: &[Item], per_txn: usize, max_bytes: usize) -> Vec<Value> {
    let op =
        |i: &Item| serde_json::json!({"put": {"key": i.key().to_string(), "value": i.to_json()}});
    if items.len() == 1 {
        return vec![op(&items[0])];
    }
    let mut bodies = Vec::new();
    let mut txn: Vec<Value> = Vec::new();
    let mut size = 0;
    for item in items {
        let next = op(item);
        let len = next.to_string().len() + 1;
        if !txn.is_empty() && (txn.len() >= per_txn.max(1) || size + len > max_bytes) {
            bodies.push(serde_json::json!({ "txn": std::mem::take(&mut txn) }));
            size = 0;
        }
        size += len;
        txn.push(next);
    }
    if !txn.is_empty() {
        bodies.push(serde_json::json!({ "txn": txn }));
    }
    bodies
}

/// Renders a value in the chosen format; `table` renders rows of the given columns.
pub fn render(value: &Value, format: Format, columns: &[&str]) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(value).unwrap_or_default(),
        Format::Yaml => serde_yaml::to_string(value).unwrap_or_default(),
        Format::Table => {
            let rows: Vec<&Value> = match value.get("items").or_else(|| value.get("records")) {
                Some(Value::Array(items)) => items.iter().collect(),
                _ => vec![value],
            };
            table(&rows, columns)
        }
    }
}

/// One row of `nsagentctl log`'s table: the record's sequence number, its time in RFC 3339
/// and its summary ([`LogEntry::summary`]). A value that is not a log entry at all (no agent
/// sends one) is shown as its JSON rather than dropped.
pub fn log_row(record: &Value) -> Value {
    match serde_json::from_value::<LogEntry>(record.clone()) {
        Ok(entry) => serde_json::json!({
            "seq": entry.seq,
            "time": entry.at.map(|ms| human::time_text(Timestamp(ms))),
            "event": entry.summary(),
        }),
        Err(e) => serde_json::json!({
            "seq": record.get("seq"),
            "event": format!("not a log record ({e}): {record}"),
        }),
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn table(rows: &[&Value], columns: &[&str]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cell(r.get(*c))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: Vec<String>| {
        let mut s = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i + 1 == vals.len() {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(columns.iter().map(|c| c.to_uppercase()).collect())];
    out.extend(cells.into_iter().map(line));
    out.join("\n")
}

/// What `replay` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Show {
    State,
    Commands,
}

/// What `nsagentctl log verify` found in a copy of a data directory.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Why the daemon would refuse to start on it, if it would.
    pub damage: Option<String>,
    pub first_seq: Option<u64>,
    pub last_seq: u64,
    pub records: u64,
    pub snapshots: Vec<u64>,
    /// A never-acknowledged tail the daemon would cut: (first, count, reason).
    pub torn_tail: Option<(u64, u64, String)>,
    /// Snapshots that do not read, with why (the daemon deletes them and uses an older one).
    pub bad_snapshots: Vec<String>,
    /// Records anywhere in the log (also before the newest snapshot, which start-up does not
    /// read) that do not decode.
    pub unreadable: Vec<String>,
}

/// Checks a copy of the log in `data_dir`, so a running daemon is not disturbed and nothing in
/// the original is changed.
pub fn verify_offline(data_dir: &Path) -> Result<VerifyReport, CtlError> {
    let copy = tempdir_for_copy()?;
    copy_dir(data_dir, copy.path())
        .map_err(|e| CtlError::Other(format!("copying {}: {e}", data_dir.display())))?;
    let mut report = VerifyReport {
        damage: None,
        first_seq: None,
        last_seq: 0,
        records: 0,
        snapshots: Vec::new(),
        torn_tail: None,
        bad_snapshots: Vec::new(),
        unreadable: Vec::new(),
    };
    let (journal, opened) = match Journal::open(copy.path(), JournalConfig::default()) {
        Ok(j) => j,
        Err(e) => {
            report.damage = Some(e.to_string().replace(
                &copy.path().display().to_string(),
                &data_dir.display().to_string(),
            ));
            return Ok(report);
        }
    };
    report.torn_tail = opened.cut.map(|c| (c.first_bad, c.removed, c.reason));
    report.bad_snapshots = opened
        .bad_snapshots
        .iter()
        .map(|(seq, e)| format!("{seq}: {e}"))
        .collect();
    report.first_seq = journal.first_seq();
    report.last_seq = journal.last_seq();
    report.snapshots = journal.snapshot_seqs();
    for item in journal.read(0..=u64::MAX) {
        match item.map_err(|e| CtlError::Other(e.to_string()))? {
            (_, Ok(_)) => report.records += 1,
            (seq, Err(e)) => report.unreadable.push(format!("{seq}: {e}")),
        }
    }
    Ok(report)
}

/// The outcome of an offline replay.
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    pub replayed: u64,
    pub from_snapshot: Option<u64>,
    pub last_seq: u64,
    /// Commands with the sequence number of the event that caused them (`--show commands`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Value>,
    /// Item states after the replay (`--show state`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Value>,
    /// The simulated kernel after applying the replayed commands (`--show state`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Value>,
    /// Commands whose result in the simulated kernel differs from the logged one: where the
    /// real kernel and the simulation disagree (or the log started from a snapshot).
    pub sim_divergences: u64,
}

/// Replays a copy of the log in `data_dir` (so a running daemon is not disturbed) up to
/// `until`, applying the commands to a simulated kernel while feeding the core the logged
/// results. `progress` is called with (done, total).
pub fn replay_offline(
    data_dir: &Path,
    label: &str,
    until: Option<u64>,
    show: Show,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, CtlError> {
    let copy = tempdir_for_copy()?;
    copy_dir(data_dir, copy.path())
        .map_err(|e| CtlError::Other(format!("copying {}: {e}", data_dir.display())))?;
    let (journal, report) = Journal::open(copy.path(), JournalConfig::default())
        .map_err(|e| CtlError::Other(format!("opening the copy of {}: {e}", data_dir.display())))?;
    if let Some(cut) = report.cut {
        eprintln!(
            "note: damaged tail cut from record {} ({} records): {}",
            cut.first_bad, cut.removed, cut.reason
        );
    }
    let until = until.unwrap_or(u64::MAX);
    let total = journal.last_seq().min(until);
    let mut sim = SimKernel::new(SimConfig::default());
    let mut commands = Vec::new();
    let mut issued: std::collections::BTreeMap<u64, bool> = std::collections::BTreeMap::new();
    let mut divergences = 0;
    // The agent's identity, so that its own links in logged snapshots read as its own (and
    // the replayed commands carry its marks); a data dir without an id never made a link.
    let config = match instance::load(data_dir).map_err(|e| CtlError::Other(e.to_string()))? {
        Some(id) => CoreConfig {
            identity: AgentIdentity::new(label, id)
                .map_err(|e| CtlError::Other(format!("--label: {}", e.reason)))?,
            ..CoreConfig::default()
        },
        None => CoreConfig::default(),
    };
    let restored = replay::replay_from_start(
        &journal,
        config,
        until,
        |seq, record: &Record, cmds: &[Command]| {
            use nsagent_core::{Backend, Event};
            match &record.event {
                Event::CommandSucceeded { id } => {
                    divergences += u64::from(issued.remove(&id.0) == Some(false))
                }
                Event::CommandFailed { id, .. } => {
                    divergences += u64::from(issued.remove(&id.0) == Some(true))
                }
                _ => {}
            }
            for c in cmds {
                let ok = sim.apply(&c.op).is_ok();
                issued.insert(c.id.0, ok);
                if show == Show::Commands {
                    commands.push(serde_json::json!({"seq": seq, "id": c.id.0, "command": c.op.to_string(), "op": c.op}));
                }
            }
            progress(seq, total);
        },
    )?;
    let mut out = ReplayReport {
        replayed: restored.replayed,
        from_snapshot: restored.snapshot_seq,
        last_seq: total,
        commands,
        items: Vec::new(),
        kernel: None,
        sim_divergences: divergences,
    };
    if show == Show::State {
        out.items = restored
            .core
            .statuses()
            .iter()
            .map(|(k, s)| serde_json::json!({"key": k.to_string(), "state": s.name(), "detail": human::state_detail(s)}))
            .collect();
        out.kernel = serde_json::to_value(sim.dump()).ok();
    }
    Ok(out)
}

fn tempdir_for_copy() -> Result<TempDir, CtlError> {
    let base = std::env::temp_dir().join(format!("nsagentctl-replay-{}", std::process::id()));
    std::fs::create_dir_all(&base)
        .map_err(|e| CtlError::Other(format!("creating {}: {e}", base.display())))?;
    Ok(TempDir(base))
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if !from.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a directory",
        ));
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn files_hold_one_item_a_list_or_a_vpp_agent_config() {
        let dir = tempfile::tempdir().expect("tmp");
        let one = write(dir.path(), "one.json", r#"{"name": "d1", "type": "DUMMY"}"#);
        assert_eq!(read_items(&one).expect("one").len(), 1);
        let list = write(
            dir.path(),
            "list.yaml",
            "- name: d1\n  type: DUMMY\n- name: d2\n  type: DUMMY\n  mtu: 1400\n",
        );
        assert_eq!(read_items(&list).expect("list").len(), 2);
        let vpp = write(
            dir.path(),
            "vpp.yaml",
            "linuxConfig:\n  interfaces:\n    - name: v1\n      type: VETH\n      hostIfName: veth-a\n      veth:\n        peerIfName: v2\n  routes:\n    - outgoingInterface: v1\n      dstNetwork: 10.9.0.0/16\n      scope: LINK\n",
        );
        let items = read_items(&vpp).expect("vpp");
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].key().to_string(),
            "config/linux/interfaces/v2/interface/v1"
        );
    }

    /// vpp-agent's protobuf-JSON, YAML too: numbers for enums, camelCase, zeros written out,
    /// the v1 namespace union; errors name the field as the file writes it.
    #[test]
    fn files_take_every_protobuf_json_spelling() {
        let dir = tempfile::tempdir().expect("tmp");
        let one = write(
            dir.path(),
            "one.json",
            r#"{"name": "v1", "type": 1, "hostIfName": "", "mtu": 0, "vrfMasterInterface": "",
                "namespace": {"reference": "ns1", "type": 1}, "veth": {"peerIfName": "v2", "rxChecksumOffloading": 0}}"#,
        );
        let want = Item::decode_unkeyed(&serde_json::json!({"name": "v1", "type": "VETH",
            "namespace": {"type": "NSID", "reference": "ns1"}, "veth": {"peer_if_name": "v2"}}))
        .expect("short form");
        assert_eq!(read_items(&one).expect("one"), vec![want]);
        let yaml = write(
            dir.path(),
            "v1.yaml",
            "- name: m1\n  type: DUMMY\n  namespace:\n    type: MICROSERVICE_REF_NS\n    microservice: ms1\n- outgoingInterface: m1\n  dstNetwork: 10.9.0.0/16\n  scope: 3\n  metric: 0\n",
        );
        let items = read_items(&yaml).expect("yaml");
        assert_eq!(
            items
                .iter()
                .map(|i| i.key().to_string())
                .collect::<Vec<_>>(),
            [
                "config/linux/interfaces/v2/interface/m1",
                "config/linux/l3/v2/route/10.9.0.0/16/m1"
            ]
        );
        let bad = write(
            dir.path(),
            "bad.yaml",
            "linuxConfig:\n  interfaces:\n    - name: d1\n      type: DUMMY\n      ipAddresses: [10.0.0.1/24, nowhere]\n",
        );
        let e = read_items(&bad).expect_err("address").to_string();
        assert!(e.contains("ipAddresses[1]"), "{e}");
    }

    #[test]
    fn bad_files_name_the_file_the_item_and_the_field() {
        let dir = tempfile::tempdir().expect("tmp");
        let bad = write(
            dir.path(),
            "bad.json",
            r#"[{"name": "d1", "type": "DUMMY"}, {"name": "d2", "type": "DUMMY", "mtu": 1}]"#,
        );
        let e = read_items(&bad).expect_err("mtu").to_string();
        assert!(
            e.contains("bad.json") && e.contains("item 1") && e.contains("mtu"),
            "{e}"
        );
        let junk = write(dir.path(), "junk", "{ [");
        assert!(matches!(read_items(&junk), Err(CtlError::Syntax { .. })));
        assert!(matches!(
            read_items(&dir.path().join("missing")),
            Err(CtlError::Read { .. })
        ));
    }

    #[test]
    fn many_items_go_in_transactions_of_bounded_size() {
        let items: Vec<Item> = (0..5)
            .map(|i| {
                Item::decode_unkeyed(&serde_json::json!({"name": format!("d{i}"), "type": "DUMMY"}))
                    .expect("item")
            })
            .collect();
        let bodies = put_bodies(&items, 2, usize::MAX);
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[2]["txn"].as_array().map(Vec::len), Some(1));
        assert!(put_bodies(&items[..1], 2, usize::MAX)[0]
            .get("put")
            .is_some());
        // A byte budget cuts transactions too, and every body stays within it.
        let small = put_bodies(&items, 100, 200);
        assert!(small.len() > 1, "{small:?}");
        assert!(
            small.iter().all(|b| b.to_string().len() <= 230),
            "{small:?}"
        );
    }

    #[test]
    fn log_rows_show_the_time_and_the_summary() {
        let row = log_row(&serde_json::json!({"seq": 3, "at": 1_796_148_352_540_u64,
            "origin": "Request", "event": {"Delete": {"seq": 3, "key": {"Interface": "d1"}}}}));
        assert_eq!(
            row,
            serde_json::json!({"seq": 3, "time": "2026-12-01T18:05:52.540Z", "event": "delete interface d1"})
        );
        // An unreadable record has no time; the table shows `-`.
        let row = log_row(&serde_json::json!({"seq": 4, "error": "bad checksum"}));
        assert_eq!(row["time"], Value::Null);
        assert_eq!(row["event"], "unreadable record: bad checksum");
        let text = render(
            &serde_json::json!({ "records": [row] }),
            Format::Table,
            &["seq", "time", "event"],
        );
        assert_eq!(
            text,
            "SEQ  TIME  EVENT\n4    -     unreadable record: bad checksum"
        );
        // Not a log entry at all.
        let row = log_row(&serde_json::json!({"seq": "x"}));
        assert!(
            row["event"].as_str().is_some_and(
                |e| e.starts_with("not a log record (") && e.ends_with(r#"{"seq":"x"}"#)
            ),
            "{row}"
        );
    }

    #[test]
    fn tables_align_columns() {
        let v = serde_json::json!({"items": [{"key": "a", "state": "applied"}, {"key": "longer", "state": null}]});
        assert_eq!(
            render(&v, Format::Table, &["key", "state"]),
            "KEY     STATE\na       applied\nlonger  -"
        );
    }
}
