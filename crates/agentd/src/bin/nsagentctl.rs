//! `nsagentctl`: publish intents to an nsagent daemon, query it, and replay its logs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use nsagent_agentd::{
    connect, humanize_times, log_row, put_bodies, read_items, render, replay_offline,
    verify_offline, Format, NatsAuth, Show, Subjects, MAX_PAYLOAD, MAX_TXN_OPS,
};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "nsagentctl",
    version,
    about = "Control an nsagent daemon over NATS"
)]
struct Cli {
    /// Agent label.
    #[arg(long, env = "NSAGENT_LABEL", global = true, default_value = "default")]
    label: String,
    /// NATS server URL.
    #[arg(
        long,
        env = "NSAGENT_NATS",
        global = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value = "table"
    )]
    output: Format,
    /// Seconds to wait for an answer.
    #[arg(long, global = true, default_value_t = 5)]
    timeout: u64,
    #[command(flatten)]
    auth: NatsAuth,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum LogCheck {
    /// Check a copy of a data directory's log offline, as the daemon would at start and more
    /// (every record, also those before the newest snapshot); exits non-zero on damage.
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// Put the items of a JSON or YAML file ('-' for stdin); keys are derived from the values.
    Put {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Delete the item with this key.
    Del { key: String },
    /// Desired items, optionally only those whose key starts with PREFIX.
    Get { prefix: Option<String> },
    /// State of every item, or of one.
    Status { key: Option<String> },
    /// Wait until every item (under PREFIX, if given: at least one) is applied: exits 0 then,
    /// or after `--within` seconds with the items that are not (or none under PREFIX), and
    /// exits 1. Polls a count of items by
    /// state, which costs the agent next to nothing.
    Wait {
        prefix: Option<String>,
        /// Seconds to wait at most.
        #[arg(long, default_value_t = 60)]
        within: u64,
        /// Milliseconds between two looks.
        #[arg(long, default_value_t = 50)]
        every: u64,
    },
    /// Everything the agent knows about one item.
    Explain { key: String },
    /// Look at the kernel again now and repair what changed behind the agent's back: every
    /// namespace, or the one named (`default`, a named namespace's name, /var/run/netns/<name>,
    /// /proc/<pid>/ns/net). Answers once the agent has taken in what it saw.
    Resync {
        #[arg(long)]
        ns: Option<String>,
    },
    /// The state of the link each interface item holds (or NAME's): admin and operational
    /// status, index, MTU, MAC, and with `-o yaml` or `-o json` its counters. Changes are
    /// published on `nsagent.<label>.interface-state`.
    State {
        name: Option<String>,
        /// Print each change as it is published (one JSON object a line) until interrupted.
        #[arg(long)]
        watch: bool,
    },
    /// What the kernel holds now, as the agent observes it: every link (with whose it is, by
    /// its mark) and address, and the agent's routes and neighbours, of every namespace the
    /// agent manages something in, or of the one named (as for `resync`). `get` is the desired
    /// state, `status` the agent's view of it, `dump` the kernel's.
    Dump {
        #[arg(long)]
        ns: Option<String>,
    },
    /// The event log.
    Log {
        #[command(subcommand)]
        check: Option<LogCheck>,
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Keep printing new records as they are logged.
        #[arg(long)]
        follow: bool,
    },
    /// Replay a log offline (on a copy, with the simulated kernel; no daemon, no root).
    Replay {
        #[arg(long)]
        data_dir: PathBuf,
        /// Stop after this sequence number.
        #[arg(long)]
        until: Option<u64>,
        #[arg(long, value_enum, default_value = "state")]
        show: Show,
    },
}

/// Writes a line to stdout; a reader that went away (`nsagentctl log | head`) ends the
/// program quietly with success, as other Unix tools do, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => { write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `outln!` without the newline.
macro_rules! out {
    ($($arg:tt)*) => { write_stdout(format_args!($($arg)*)) };
}

fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("nsagentctl: writing to stdout: {e}");
        std::process::exit(1);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nsagentctl: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Cmd::Replay {
        data_dir,
        until,
        show,
    } = &cli.command
    {
        return replay(data_dir, &cli.label, *until, *show, cli.output);
    }
    if let Cmd::Log {
        check: Some(LogCheck::Verify { data_dir }),
        ..
    } = &cli.command
    {
        return verify(data_dir, cli.output);
    }
    let client = connect(&cli.nats, &cli.auth, "nsagentctl", true)
        .await
        .map_err(|e| e.to_string())?;
    let agent = Agent {
        client,
        subjects: Subjects::new(&cli.label),
        timeout: Duration::from_secs(cli.timeout),
        format: cli.output,
    };
    let subjects = &agent.subjects;
    match cli.command {
        Cmd::Put { file } => agent.put(&file).await,
        Cmd::Del { key } => {
            let body = serde_json::json!({"delete": {"key": key}});
            let v = agent.ask(&subjects.intents, body).await?;
            Ok(agent.show(&v, &["seq"]))
        }
        Cmd::Get { prefix } => {
            let v = agent
                .ask_all(&subjects.get, serde_json::json!({"prefix": prefix}))
                .await?;
            Ok(agent.show(&v, &["key", "value"]))
        }
        Cmd::Status { key } => {
            let v = agent
                .ask_all(&subjects.status, serde_json::json!({"key": key}))
                .await?;
            Ok(agent.show(&v, &["key", "state", "detail"]))
        }
        Cmd::Wait {
            prefix,
            within,
            every,
        } => agent.wait(prefix, within, every).await,
        Cmd::Explain { key } => {
            let v = agent
                .ask(&subjects.explain, serde_json::json!({"key": key}))
                .await?;
            Ok(agent.show_tree(&v))
        }
        Cmd::Resync { ns } => {
            let v = agent
                .ask(&subjects.resync, serde_json::json!({"ns": ns}))
                .await?;
            Ok(agent.show(&v, &["seq"]))
        }
        Cmd::State { watch: true, .. } => agent.watch_states().await,
        Cmd::State { name, .. } => {
            let v = agent
                .ask(&subjects.state, serde_json::json!({"name": name}))
                .await?;
            let v = match v.get("interfaces") {
                // The table shows a list of `items`.
                Some(list) if agent.format == Format::Table => serde_json::json!({"items": list}),
                _ => v,
            };
            Ok(agent.show(
                &v,
                &[
                    "name",
                    "internal_name",
                    "namespace",
                    "admin_status",
                    "oper_status",
                    "if_index",
                    "mtu",
                ],
            ))
        }
        Cmd::Dump { ns } => {
            let v = agent
                .ask(&subjects.dump, serde_json::json!({"ns": ns}))
                .await?;
            Ok(agent.show_tree(&v))
        }
        Cmd::Log { from, follow, .. } => agent.log(from, follow).await,
        Cmd::Replay { .. } => Err("unreachable: replay runs offline".into()),
    }
}

/// A daemon reached over NATS, and how its answers are shown.
struct Agent {
    client: async_nats::Client,
    subjects: Subjects,
    timeout: Duration,
    format: Format,
}

impl Agent {
    async fn ask(&self, subject: &str, body: Value) -> Result<Value, String> {
        let reply = tokio::time::timeout(
            self.timeout,
            self.client
                .request(subject.to_string(), body.to_string().into()),
        )
        .await
        .map_err(|_| {
            format!(
                "no answer on {subject} within {}s: is nsagentd running?",
                self.timeout.as_secs()
            )
        })?
        .map_err(|e| format!("request on {subject}: {e}"))?;
        serde_json::from_slice::<Value>(&reply.payload)
            .map_err(|e| format!("unreadable answer: {e}"))
    }

    /// Prints an answer, or its error on stderr with a failing exit code.
    /// Asks for a list of items, following the pages the agent cuts it into (each reply fits
    /// one NATS message; `next` says where the following page starts).
    async fn ask_all(&self, subject: &str, mut body: Value) -> Result<Value, String> {
        let mut all = self.ask(subject, body.clone()).await?;
        while let Some(next) = all.get_mut("next").map(Value::take) {
            if let Some(o) = all.as_object_mut() {
                o.remove("next");
            }
            body["after"] = next;
            let page = self.ask(subject, body.clone()).await?;
            if page.get("error").is_some() {
                return Ok(page);
            }
            let more = page.get("items").and_then(Value::as_array).cloned();
            if let (Some(items), Some(more)) =
                (all.get_mut("items").and_then(Value::as_array_mut), more)
            {
                items.extend(more);
            }
            if let Some(next) = page.get("next") {
                all["next"] = next.clone();
            }
        }
        Ok(all)
    }

    fn show(&self, v: &Value, cols: &[&str]) -> ExitCode {
        if let Some(err) = v.get("error") {
            eprintln!(
                "error: {}: {}",
                err.get("field").and_then(Value::as_str).unwrap_or("?"),
                err.get("reason").and_then(Value::as_str).unwrap_or("?")
            );
            return ExitCode::FAILURE;
        }
        outln!("{}", render(v, self.format, cols));
        ExitCode::SUCCESS
    }

    /// An answer that is a tree (explain, dump): a table cannot show it, so YAML unless another
    /// format was asked for.
    fn show_tree(&self, v: &Value) -> ExitCode {
        if v.get("error").is_some() {
            return self.show(v, &[]);
        }
        // The default output is for people: times in RFC 3339. One asked for keeps the numbers.
        if self.format == Format::Table {
            let mut v = v.clone();
            humanize_times(&mut v);
            outln!("{}", render(&v, Format::Yaml, &[]));
        } else {
            outln!("{}", render(v, self.format, &[]));
        }
        ExitCode::SUCCESS
    }

    /// `nsagentctl state --watch`: prints interface state notifications as they come.
    async fn watch_states(&self) -> Result<ExitCode, String> {
        use futures::StreamExt;
        let mut sub = self
            .client
            .subscribe(self.subjects.interface_state.clone())
            .await
            .map_err(|e| format!("subscribing to {}: {e}", self.subjects.interface_state))?;
        while let Some(msg) = sub.next().await {
            outln!("{}", String::from_utf8_lossy(&msg.payload));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `nsagentctl wait`: polls the count of items by state until every one is applied.
    async fn wait(
        &self,
        prefix: Option<String>,
        within: u64,
        every: u64,
    ) -> Result<ExitCode, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(within);
        let body = serde_json::json!({"prefix": prefix, "summary": true});
        loop {
            let v = self.ask(&self.subjects.status, body.clone()).await?;
            if v.get("error").is_some() {
                return Ok(self.show(&v, &[]));
            }
            let total = v["total"].as_u64().unwrap_or(0);
            let count = |state: &str| v["counts"][state].as_u64().unwrap_or(0);
            // A deleted item is listed as removed until the agent forgets it: done too. A
            // prefix names items that must be there: none yet is not done (they may still
            // come through the KV bucket), and a typo must not pass for success.
            let (applied, removed) = (count("applied"), count("removed"));
            if applied + removed == total && (total > 0 || prefix.is_none()) {
                outln!("{applied} of {total} items applied");
                return Ok(ExitCode::SUCCESS);
            }
            if tokio::time::Instant::now() >= deadline {
                if total == 0 {
                    eprintln!(
                        "nsagentctl: no item under '{}' after {within}s",
                        prefix.as_deref().unwrap_or_default()
                    );
                    return Ok(ExitCode::FAILURE);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(every.max(1))).await;
        }
        let v = self
            .ask_all(&self.subjects.status, serde_json::json!({"prefix": prefix}))
            .await?;
        let waiting: Vec<Value> = v["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i["state"] != "applied" && i["state"] != "removed")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        eprintln!(
            "nsagentctl: {} items not applied after {within}s",
            waiting.len()
        );
        self.show(
            &serde_json::json!({ "items": waiting }),
            &["key", "state", "detail"],
        );
        Ok(ExitCode::FAILURE)
    }

    /// Puts the items of `file` in transactions of bounded size, stopping at the first refusal.
    async fn put(&self, file: &std::path::Path) -> Result<ExitCode, String> {
        let items = read_items(file).map_err(|e| e.to_string())?;
        let mut last = Value::Null;
        // What one message may hold: the server's limit and the agent's, less the envelope.
        let max_bytes = self
            .client
            .server_info()
            .max_payload
            .min(MAX_PAYLOAD)
            .saturating_sub(1024);
        for body in put_bodies(&items, MAX_TXN_OPS, max_bytes) {
            last = self.ask(&self.subjects.intents, body).await?;
            if last.get("error").is_some() {
                return Ok(self.show(&last, &[]));
            }
        }
        let v = serde_json::json!({"items": items.len(), "seq": last.get("seq")});
        Ok(self.show(&v, &["items", "seq"]))
    }

    /// Prints the log page by page from `from`; with `follow`, keeps asking for new records.
    async fn log(&self, from: u64, follow: bool) -> Result<ExitCode, String> {
        let mut next = from;
        let mut header = true;
        loop {
            let v = self
                .ask(&self.subjects.log, serde_json::json!({"from": next}))
                .await?;
            if v.get("error").is_some() {
                return Ok(self.show(&v, &[]));
            }
            let records = v
                .get("records")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(last) = records
                .last()
                .and_then(|r| r.get("seq"))
                .and_then(Value::as_u64)
            {
                next = last + 1;
            }
            print_log(&records, self.format, header);
            header = false;
            if records.is_empty() {
                if !follow {
                    return Ok(ExitCode::SUCCESS);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// The log for people: a line per record with its sequence number, its time in RFC 3339 and
/// its summary (`LogEntry::summary`); for programs, each record's JSON as the agent sent it.
fn print_log(records: &[Value], format: Format, header: bool) {
    match format {
        Format::Table => {
            let rows: Vec<Value> = records.iter().map(log_row).collect();
            let text = render(
                &serde_json::json!({"records": rows}),
                Format::Table,
                &["seq", "time", "event"],
            );
            let mut lines = text.lines();
            if !header {
                lines.next();
            }
            for l in lines {
                outln!("{l}");
            }
        }
        // One JSON document per record, so --follow output can be piped.
        Format::Json => records.iter().for_each(|r| outln!("{r}")),
        Format::Yaml => records
            .iter()
            .for_each(|r| out!("---\n{}", serde_yaml::to_string(r).unwrap_or_default())),
    }
}

fn verify(data_dir: &std::path::Path, format: Format) -> Result<ExitCode, String> {
    let report = verify_offline(data_dir).map_err(|e| e.to_string())?;
    let value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    outln!(
        "{}",
        render(
            &value,
            if format == Format::Table {
                Format::Yaml
            } else {
                format
            },
            &[]
        )
    );
    Ok(if report.damage.is_none() && report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn replay(
    data_dir: &std::path::Path,
    label: &str,
    until: Option<u64>,
    show: Show,
    format: Format,
) -> Result<ExitCode, String> {
    let bar = indicatif::ProgressBar::hidden();
    let report = replay_offline(data_dir, label, until, show, |done, total| {
        if total >= 10_000 && bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total);
        }
        if done % 1024 == 0 || done == total {
            bar.set_position(done);
        }
    })
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    match (format, show) {
        (Format::Table, Show::Commands) => {
            let v = serde_json::json!({"items": value["commands"]});
            outln!("{}", render(&v, Format::Table, &["seq", "id", "command"]));
        }
        (Format::Table, Show::State) => {
            let v = serde_json::json!({"items": value["items"]});
            outln!("{}", render(&v, Format::Table, &["key", "state", "detail"]));
        }
        _ => outln!("{}", render(&value, format, &[])),
    }
    eprintln!(
        "replayed {} records{} up to {}; {} command result(s) differ in the simulated kernel",
        report.replayed,
        report
            .from_snapshot
            .map(|s| format!(" after snapshot {s}"))
            .unwrap_or_default(),
        report.last_seq,
        report.sim_divergences
    );
    Ok(ExitCode::SUCCESS)
}
