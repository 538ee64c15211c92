//! End-to-end tests of nsagentctl against a running nsagentd, and of credentials.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn ctl(nats: &str, label: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nsagentctl"))
        .args(["--nats", nats, "--label", label])
        .args(args)
        .output()
        .expect("run nsagentctl")
}

/// Writes `yaml` to `name` in `dir` and puts its items with `nsagentctl put -f`.
fn put_yaml(nats: &str, label: &str, dir: &std::path::Path, name: &str, yaml: &str) {
    let file = dir.join(name);
    std::fs::write(&file, yaml).expect("write");
    stdout(&ctl(
        nats,
        label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "nsagentctl failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsagentctl_puts_a_vpp_agent_file_queries_deletes_and_replays() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("ctl");
    let _d = Daemon::start(&nats.url(), &label, &dir, &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let url = nats.url();

    let file = data.path().join("veth.yaml");
    std::fs::write(
        &file,
        "- name: va\n  type: VETH\n  enabled: true\n  ip_addresses: [10.3.0.1/24]\n  veth: {peer_if_name: vb}\n\
         - name: vb\n  type: VETH\n  enabled: true\n  namespace: {type: NSID, reference: red}\n  veth: {peer_if_name: va}\n\
         - outgoing_interface: va\n  dst_network: 10.4.0.0/16\n  gw_addr: 10.3.0.2\n",
    )
    .expect("write");
    let out = stdout(&ctl(
        &url,
        &label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
    assert!(out.contains("SEQ"), "{out}");
    let keys = vec![
        "config/linux/interfaces/v2/interface/va".to_string(),
        "config/linux/interfaces/v2/interface/vb".to_string(),
        "config/linux/l3/v2/route/10.4.0.0/16/va".to_string(),
    ];
    wait_applied(&c, &label, &keys, Duration::from_secs(5)).await;

    let status = stdout(&ctl(&url, &label, &["status"]));
    assert_eq!(
        status.lines().filter(|l| l.contains("applied")).count(),
        3,
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&ctl(
        &url,
        &label,
        &["-o", "json", "get", "config/linux/interfaces/"],
    )))
    .expect("json");
    assert_eq!(json["items"].as_array().map(Vec::len), Some(2), "{json}");
    let explain = stdout(&ctl(&url, &label, &["explain", &keys[1]]));
    assert!(explain.contains("red"), "{explain}");
    let yaml = stdout(&ctl(&url, &label, &["-o", "yaml", "status", &keys[2]]));
    assert!(yaml.contains("state: applied"), "{yaml}");

    let del = ctl(&url, &label, &["del", &keys[2]]);
    stdout(&del);
    let log = stdout(&ctl(&url, &label, &["log", "--from", "1"]));
    assert!(log.contains("delete route 10.4.0.0/16/va"), "{log}");

    // Errors name the field and fail the command.
    let bad = ctl(&url, &label, &["del", "config/linux/nothing/x"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("delete.key"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let unknown = ctl(
        &url,
        &label,
        &["status", "config/linux/interfaces/v2/interface/nope"],
    );
    assert!(!unknown.status.success());

    // The route's removal is logged once the kernel answered: wait for it before the log is
    // copied for the replay (nsagentctl answers in 10 ms now, faster than that).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while stdout(&ctl(&url, &label, &["status"])).contains(&keys[2]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the route is never removed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Results (not intents) reach the disk with the next flush, at most 200 ms later
    // (`FLUSH_INTERVAL`); the replay reads a copy of the disk.
    std::thread::sleep(Duration::from_millis(400));
    check_offline_replay(&url, &label, &dir);
}

/// Offline replay of a copy of the live log of the test above reproduces the commands and the
/// state.
fn check_offline_replay(url: &str, label: &str, dir: &std::path::Path) {
    let commands = stdout(&ctl(
        url,
        label,
        &[
            "replay",
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--show",
            "commands",
        ],
    ));
    assert!(
        commands.contains("create veth vb in namespace 'red'")
            || commands.contains("create veth va"),
        "{commands}"
    );
    assert!(commands.contains("route"), "{commands}");
    let state: serde_json::Value = serde_json::from_str(&stdout(&ctl(
        url,
        label,
        &[
            "-o",
            "json",
            "replay",
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--show",
            "state",
        ],
    )))
    .expect("json");
    assert_eq!(state["items"].as_array().map(Vec::len), Some(2), "{state}");
    assert_eq!(state["sim_divergences"], 0, "{state}");
    // --until stops early: before the first put nothing is desired.
    let early: serde_json::Value = serde_json::from_str(&stdout(&ctl(
        url,
        label,
        &[
            "-o",
            "json",
            "replay",
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--until",
            "2",
        ],
    )))
    .expect("json");
    assert!(early.get("items").is_none(), "{early}");
    assert_eq!(early["replayed"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsagentctl_log_into_a_reader_that_stops_early_exits_quietly() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("pipe");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    // Enough log to overflow a pipe's buffer many times over.
    let items: Vec<serde_json::Value> = (0..400).map(|i| dummy(&format!("p{i}")).1).collect();
    let file = data.path().join("many.json");
    std::fs::write(&file, serde_json::to_vec(&items).expect("json")).expect("write");
    stdout(&ctl(
        &nats.url(),
        &label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
    // `nsagentctl -o json log --from 1 | head -c 100`: the reader goes away after 100 bytes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_nsagentctl"))
        .args([
            "--nats",
            &nats.url(),
            "--label",
            &label,
            "-o",
            "json",
            "log",
            "--from",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0u8; 100];
    std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut head).expect("read");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn nsagentctl_without_a_daemon_says_so() {
    let nats = Nats::start();
    let o = ctl(&nats.url(), "nobody", &["--timeout", "1", "status"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nsagent.nobody.status"), "{err}");
}

/// Runs `nsagentctl <args>` against `daemon` until it succeeds: the daemon connects in the
/// background, and a refused connection only shows as failing requests.
fn wait_for_status(nats: &Nats, daemon: &Daemon, args: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let o = ctl(&nats.url(), &daemon.label, args);
        if o.status.success() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}\n{}",
            String::from_utf8_lossy(&o.stderr),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_user_password_credentials_are_used() {
    let data = tempfile::tempdir().expect("tmp");
    for (server, daemon_args, ctl_args) in [
        (
            vec!["--auth", "s3cret"],
            vec!["--nats-token", "s3cret"],
            vec!["--nats-token", "s3cret"],
        ),
        (
            vec!["--user", "agent", "--pass", "pw"],
            vec!["--nats-user", "agent", "--nats-password", "pw"],
            vec!["--nats-user", "agent", "--nats-password", "pw"],
        ),
    ] {
        let nats = Nats::start_with(&server);
        let label = unique_label("auth");
        let d = Daemon::start(&nats.url(), &label, &data.path().join(&label), &daemon_args);
        let mut args = ctl_args.clone();
        args.extend(["--timeout", "1", "status"]);
        wait_for_status(&nats, &d, &args);
        // Without credentials the server refuses the client.
        let o = ctl(&nats.url(), &label, &["--timeout", "1", "status"]);
        assert!(!o.status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_larger_than_a_nats_message_come_in_pages_that_nsagentctl_follows() {
    // A server whose messages hold 64 KiB: 5,000 items' status is several times that.
    let conf = tempfile::NamedTempFile::new().expect("conf");
    std::fs::write(conf.path(), "max_payload: 65536\n").expect("write conf");
    let nats = Nats::start_with(&["-c", conf.path().to_str().expect("utf8")]);
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("pages");
    let d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let count = 5_000;
    let items: Vec<serde_json::Value> = (0..count).map(|i| dummy(&format!("pg{i:05}")).1).collect();
    let file = data.path().join("many.json");
    std::fs::write(&file, serde_json::to_vec(&items).expect("json")).expect("write");
    stdout(&ctl(
        &nats.url(),
        &label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["-o", "json", "--timeout", "20"];
        all.extend_from_slice(args);
        serde_json::from_str(&stdout(&ctl(&nats.url(), &label, &all))).expect("json")
    };
    let status = json(&["status"]);
    let keys: Vec<&str> = status["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert_eq!(keys.len(), count, "{}", d.log_text());
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "pages overlap or skip"
    );
    assert!(status.get("next").is_none());
    assert_eq!(
        json(&["get"])["items"].as_array().map(Vec::len),
        Some(count)
    );
    let log = stdout(&ctl(
        &nats.url(),
        &label,
        &["-o", "json", "log", "--from", "1"],
    ));
    assert!(
        log.lines().count() >= count,
        "{} log records",
        log.lines().count()
    );
    assert!(
        !d.log_text().contains("could not be sent"),
        "{}",
        d.log_text()
    );
}

#[test]
fn nsagentd_with_credentials_the_server_refuses_exits_with_the_servers_reason() {
    let nats = Nats::start_with(&["--user", "agent", "--pass", "pw"]);
    let data = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_nsagentd"))
        .args(["--label", &unique_label("refused"), "--nats", &nats.url()])
        .args(["--backend", "sim", "--data-dir"])
        .arg(data.path().join("d"))
        .args(["--nats-user", "agent", "--nats-password", "wrong"])
        .env("NSAGENT_LOG", "info")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nsagentd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it kept running: {err}");
    assert!(err.contains("authorization violation"), "{err}");
    assert!(!err.contains("nsagentd running"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsagentctl_log_follow_prints_records_as_they_are_logged() {
    use std::io::BufRead;
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("follow");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nsagentctl"))
        .args([
            "--nats",
            &nats.url(),
            "--label",
            &label,
            "-o",
            "json",
            "log",
            "--follow",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // Let it print the existing records, then log a new one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    request(
        &c,
        &format!("nsagent.{label}.intents"),
        &put_body("follow1"),
        Duration::from_secs(5),
    )
    .await
    .expect("ack");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains("follow1") => break true,
            _ if std::time::Instant::now() > deadline => break false,
            _ => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "the new record was not printed");
}

/// `nsagentctl log` shows a record a line: its sequence number, its time in RFC 3339 and what
/// happened in words; `-o json` prints each record as the agent sent it, times in
/// milliseconds, one object a line. The two list the same records at the same times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsagentctl_log_summarizes_each_record_and_json_keeps_it_whole() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("summary");
    let d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let url = nats.url();
    // One item the kernel takes, one it refuses (the simulated iptables knows no such option).
    put_yaml(
        &url,
        &label,
        data.path(),
        "items.yaml",
        "- name: d1\n  type: DUMMY\n  enabled: true\n\
         - name: c1\n  protocol: IPV4\n  table: FILTER\n  chain_type: CUSTOM\n  chain_name: MYCHAIN\n  rules: ['-p tcp --no-such-option']\n",
    );
    let chain = "config/linux/iptables/v2/rulechain/c1";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while statuses(&c, &label).await.get(chain).map(String::as_str) != Some("failed") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stdout(&ctl(&url, &label, &["resync", "--ns", "default"]));
    stdout(&ctl(
        &url,
        &label,
        &["del", "config/linux/interfaces/v2/interface/d1"],
    ));

    let table = stdout(&ctl(&url, &label, &["log", "--from", "1"]));
    let rows = log_table_rows(&table);
    let summaries: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    for want in [
        "agent restarted",
        "borrow policy: may borrow any link; protected: none",
        "put interface d1",
        "put rule chain c1",
        "resync of namespace default requested",
        "delete interface d1",
    ] {
        assert!(summaries.contains(&want), "no {want:?} in\n{table}");
    }
    let is = |prefix: &str, suffix: &str| {
        summaries
            .iter()
            .any(|s| s.starts_with(prefix) && s.ends_with(suffix))
    };
    assert!(is("command ", " ok"), "{table}");
    assert!(is("command ", " failed: EINVAL (errno 22)"), "{table}");
    assert!(
        is("kernel: observed namespace default: ", " neighbours"),
        "{table}"
    );
    assert!(is("observed namespace default: 1 link, ", ""), "{table}");
    // The same records, whole, with the same times in milliseconds.
    let json = stdout(&ctl(&url, &label, &["-o", "json", "log", "--from", "1"]));
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(records.len() >= rows.len(), "{json}");
    for ((seq, time, _), r) in rows.iter().zip(&records) {
        assert_eq!(r["seq"].as_u64(), Some(*seq), "{r}");
        let at = r["at"].as_u64().unwrap_or_else(|| panic!("no at in {r}"));
        assert_eq!(
            &nsagent_agentd::time_text(nsagent_core::Timestamp(at)),
            time,
            "{r}"
        );
        assert!(r["origin"].is_string() || r["origin"].is_object(), "{r}");
        assert!(r.get("summary").is_none(), "{r}");
    }
    let put = records
        .iter()
        .find(|r| r["event"]["Put"]["item"]["Interface"]["name"] == "d1")
        .unwrap_or_else(|| panic!("no put of d1 in\n{json}"));
    assert_eq!(put["origin"], "Request", "{put}");
    assert!(
        records
            .iter()
            .any(|r| r["event"]["CommandFailed"]["error"]["errno"] == 22),
        "{json}"
    );
}

/// The rows of `nsagentctl log`'s table, (seq, time, summary), each time checked to be
/// RFC 3339 with milliseconds.
fn log_table_rows(table: &str) -> Vec<(u64, String, String)> {
    let mut lines = table.lines();
    assert_eq!(
        lines.next().map(str::split_whitespace).map(Vec::from_iter),
        Some(vec!["SEQ", "TIME", "EVENT"]),
        "{table}"
    );
    // seq, time, summary.
    let rows: Vec<(u64, String, String)> = lines
        .map(|l| {
            let (seq, rest) = l.split_once(' ').unwrap_or_else(|| panic!("{l}"));
            let seq = seq.parse().unwrap_or_else(|e| panic!("{e}: {l}"));
            let (time, summary) = rest
                .trim_start()
                .split_once("  ")
                .unwrap_or_else(|| panic!("{l}"));
            (seq, time.to_string(), summary.trim_start().to_string())
        })
        .collect();
    for (seq, time, _) in &rows {
        // 2026-12-03T06:35:17.357Z
        let b = time.as_bytes();
        assert!(
            b.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z',
            "record {seq}: {time:?} is not RFC 3339 with milliseconds"
        );
    }
    rows
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl tool.
fn make_tls(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=nsagent-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
}

#[test]
fn a_tls_server_is_trusted_through_the_given_ca() {
    let tls = tempfile::tempdir().expect("tmp");
    make_tls(tls.path());
    let p = |f: &str| tls.path().join(f).to_str().expect("utf8").to_string();
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    let nats = Nats::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("tls");
    let d = Daemon::start(
        &nats.url(),
        &label,
        &data.path().join("d"),
        &["--nats-tls-ca", &ca],
    );
    wait_for_status(
        &nats,
        &d,
        &["--nats-tls-ca", &ca, "--timeout", "1", "status"],
    );
    // Without the CA the server's certificate is not trusted.
    let o = ctl(&nats.url(), &label, &["--timeout", "1", "status"]);
    assert!(!o.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsagentctl_wait_returns_once_everything_is_applied_and_names_what_is_not() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("wait");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let url = nats.url();
    let file = data.path().join("items.yaml");
    std::fs::write(
        &file,
        "- name: wa\n  type: VETH\n  enabled: true\n  veth: {peer_if_name: wb}\n\
         - name: wb\n  type: VETH\n  enabled: true\n  veth: {peer_if_name: wa}\n\
         - outgoing_interface: nowhere\n  dst_network: 10.4.0.0/16\n",
    )
    .expect("write");
    stdout(&ctl(
        &url,
        &label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
    let out = stdout(&ctl(
        &url,
        &label,
        &["wait", "config/linux/interfaces/", "--within", "10"],
    ));
    assert!(out.contains("2 of 2 items applied"), "{out}");

    // The route waits for an interface no item makes: wait gives up and names it.
    let o = ctl(&url, &label, &["wait", "--within", "1"]);
    assert!(!o.status.success(), "wait succeeded with a pending route");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 items not applied after 1s"), "{err}");
    let listed = String::from_utf8_lossy(&o.stdout);
    assert!(
        listed.contains("config/linux/l3/v2/route/10.4.0.0/16/nowhere")
            && listed.contains("pending"),
        "{listed}"
    );
    assert!(
        !listed.contains("interface/wa"),
        "applied items listed: {listed}"
    );

    // A prefix no item is under (a typo) is no success.
    let o = ctl(
        &url,
        &label,
        &[
            "wait",
            "config/linux/interfaces/v2/interface/wz",
            "--within",
            "1",
        ],
    );
    assert!(
        !o.status.success(),
        "wait succeeded with nothing to wait for"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no item under 'config/linux/interfaces/v2/interface/wz' after 1s"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsagentctl_dump_shows_what_the_kernel_holds_and_whose_it_is() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("dump");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let url = nats.url();
    let file = data.path().join("items.yaml");
    std::fs::write(
        &file,
        "- name: da\n  type: VETH\n  enabled: true\n  ip_addresses: [10.5.0.1/24]\n  veth: {peer_if_name: db}\n\
         - name: db\n  type: VETH\n  enabled: true\n  namespace: {type: NSID, reference: green}\n  veth: {peer_if_name: da}\n",
    )
    .expect("write");
    stdout(&ctl(
        &url,
        &label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
    stdout(&ctl(&url, &label, &["wait", "--within", "10"]));
    let all: serde_json::Value =
        serde_json::from_str(&stdout(&ctl(&url, &label, &["-o", "json", "dump"]))).expect("json");
    let names: Vec<&str> = all["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["ns"].as_str())
        .collect();
    assert!(
        names.contains(&"default") && names.contains(&"/var/run/netns/green"),
        "{all}"
    );
    let green: serde_json::Value = serde_json::from_str(&stdout(&ctl(
        &url,
        &label,
        &["-o", "json", "dump", "--ns", "green"],
    )))
    .expect("json");
    let db = green["namespaces"][0]["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["name"] == "db")
        .cloned()
        .unwrap_or_else(|| panic!("no db in {green}"));
    assert_eq!(db["owner"], "this agent, item db", "{db}");
    assert_eq!(db["peer"], "da in default", "{db}");
    let yaml = stdout(&ctl(&url, &label, &["dump", "--ns", "green"]));
    assert!(yaml.contains("owner: this agent, item db"), "{yaml}");

    // A namespace that is not there is listed missing; a bad name is refused, naming `ns`.
    let gone: serde_json::Value = serde_json::from_str(&stdout(&ctl(
        &url,
        &label,
        &["-o", "json", "dump", "--ns", "nowhere"],
    )))
    .expect("json");
    assert_eq!(gone["missing"][0], "/var/run/netns/nowhere", "{gone}");
    let bad = ctl(&url, &label, &["dump", "--ns", "no/such"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("error: ns:"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_states_are_answered_with_status_and_counters() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("state");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let url = nats.url();
    let file = data.path().join("items.yaml");
    std::fs::write(
        &file,
        "- name: sa\n  type: VETH\n  enabled: true\n  veth: {peer_if_name: sb}\n\
         - name: sb\n  type: VETH\n  veth: {peer_if_name: sa}\n\
         - name: sd\n  type: DUMMY\n  enabled: true\n  mtu: 1400\n",
    )
    .expect("write");
    stdout(&ctl(
        &url,
        &label,
        &["put", "-f", file.to_str().expect("utf8")],
    ));
    stdout(&ctl(&url, &label, &["wait", "--within", "10"]));
    let table = stdout(&ctl(&url, &label, &["state"]));
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name}: {table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // name, internal_name, namespace, admin, oper, index, mtu
    assert_eq!(
        &row("sa")[3..5],
        ["up", "down"],
        "its peer is down: {table}"
    );
    assert_eq!(&row("sb")[3..5], ["down", "down"], "{table}");
    assert_eq!(&row("sd")[3..5], ["up", "unknown"], "{table}");
    assert_eq!(row("sd")[6], "1400", "{table}");
    let one: serde_json::Value =
        serde_json::from_str(&stdout(&ctl(&url, &label, &["-o", "json", "state", "sd"])))
            .expect("json");
    assert_eq!(one["interfaces"].as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one["interfaces"][0]["statistics"]["rx_packets"], 0, "{one}");
    assert!(
        one["interfaces"][0]["speed"].is_null(),
        "a dummy has none: {one}"
    );
    let veth: serde_json::Value =
        serde_json::from_str(&stdout(&ctl(&url, &label, &["-o", "json", "state", "sa"])))
            .expect("json");
    assert_eq!(
        veth["interfaces"][0]["speed"], 10_000_000_000u64,
        "a veth's 10000 Mb/s, in bits per second as vpp-agent gives it: {veth}"
    );
    let bad = ctl(&url, &label, &["state", "nope"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("no interface item 'nope' holds a link"),
        "{err}"
    );
}

/// Reads notifications until `want` holds of those seen, or fails after 10 s.
async fn notifications_until(
    notes: &mut async_nats::Subscriber,
    want: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    use futures::StreamExt;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !want(&seen) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, notes.next()).await {
            Ok(Some(msg)) => seen.push(serde_json::from_slice(&msg.payload).expect("json")),
            _ => panic!("notifications so far: {seen:?}"),
        }
    }
    seen
}

fn told(seen: &[serde_json::Value], ty: &str, name: &str, oper: Option<&str>) -> bool {
    seen.iter().any(|n| {
        n["type"] == ty
            && n["state"]["name"] == name
            && oper.is_none_or(|o| n["state"]["oper_status"] == o)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_state_changes_and_deletions_are_published() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("notes");
    let _d = Daemon::start(
        &nats.url(),
        &label,
        &data.path().join("d"),
        &["--state-interval", "100ms"],
    );
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let mut notes = c
        .subscribe(format!("nsagent.{label}.interface-state"))
        .await
        .expect("subscribe");
    c.flush().await.expect("flush");
    let url = nats.url();
    let put = |name: &str, yaml: &str| put_yaml(&url, &label, data.path(), name, yaml);
    put(
        "items.yaml",
        "- name: sa\n  type: VETH\n  enabled: true\n  veth: {peer_if_name: sb}\n\
         - name: sb\n  type: VETH\n  veth: {peer_if_name: sa}\n\
         - name: sd\n  type: DUMMY\n  enabled: true\n",
    );
    // Each interface is told once it is seen, with its status then.
    let seen = notifications_until(&mut notes, |s| {
        told(s, "UPDOWN", "sa", Some("down"))
            && told(s, "UPDOWN", "sb", Some("down"))
            && told(s, "UPDOWN", "sd", Some("unknown"))
    })
    .await;
    assert!(
        seen.iter().all(|n| n["state"].get("statistics").is_none()),
        "counters are not a change: {seen:?}"
    );
    // Bringing sb up gives sa carrier: both change.
    put(
        "sb.yaml",
        "name: sb\ntype: VETH\nenabled: true\nveth: {peer_if_name: sa}\n",
    );
    notifications_until(&mut notes, |s| {
        told(s, "UPDOWN", "sa", Some("up")) && told(s, "UPDOWN", "sb", Some("up"))
    })
    .await;
    stdout(&ctl(
        &url,
        &label,
        &["del", "config/linux/interfaces/v2/interface/sd"],
    ));
    let seen = notifications_until(&mut notes, |s| told(s, "DELETED", "sd", None)).await;
    assert!(
        !told(&seen, "UPDOWN", "sa", None),
        "nothing else changed: {seen:?}"
    );
}
