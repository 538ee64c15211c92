//! End-to-end: a real nats-server, the real nsagentd with the simulated kernel, and NATS clients.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_is_acked_with_its_log_seq_and_applied_in_the_sim_backend() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("put");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;

    let reply = request(&c, &format!("nsagent.{label}.intents"), &put_body("d1"), T)
        .await
        .expect("reply");
    let seq = reply["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {reply}"));
    let (key, _) = dummy("d1");
    wait_applied(&c, &label, std::slice::from_ref(&key), T).await;

    // The acknowledged sequence number is the logged Put of that item.
    let log = request(
        &c,
        &format!("nsagent.{label}.log"),
        json!({"from": seq, "limit": 1}).to_string().as_bytes(),
        T,
    )
    .await
    .expect("log");
    let record = &log["records"][0];
    assert_eq!(record["seq"], seq);
    assert_eq!(record["origin"], "Request");
    assert_eq!(record["event"]["Put"]["seq"], seq);

    let get = request(&c, &format!("nsagent.{label}.get"), b"{}", T)
        .await
        .expect("get");
    assert_eq!(get["items"][0]["key"], key.as_str());
    let explain = request(
        &c,
        &format!("nsagent.{label}.explain"),
        json!({"key": key}).to_string().as_bytes(),
        T,
    )
    .await
    .expect("explain");
    assert_eq!(explain["state"], "Applied", "{explain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_are_published_on_the_events_subject() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("ev");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let mut events = c
        .subscribe(format!("nsagent.{label}.events.>"))
        .await
        .expect("sub");
    c.flush().await.expect("flush");
    request(&c, &format!("nsagent.{label}.intents"), &put_body("e1"), T)
        .await
        .expect("reply");
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let msg = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("an applied event")
            .expect("stream");
        let v: Value = serde_json::from_slice(&msg.payload).expect("json");
        if v["state"] == "applied" {
            assert_eq!(
                msg.subject.as_str(),
                format!("nsagent.{label}.events.interface.applied")
            );
            assert_eq!(v["key"], dummy("e1").0.as_str());
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_an_error_naming_the_field_and_the_daemon_keeps_working() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("bad");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let subject = format!("nsagent.{label}.intents");
    let key = "config/linux/interfaces/v2/interface/b1";
    let oversize = vec![b' '; 300 * 1024];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "body"),
        (json!({"put": {"key": key, "value": {"name": "b1", "type": "DUMMY"}}, "extra": 1}).to_string().into(), "body"),
        (json!({"put": {"key": key, "value": {"name": "b1"}, "colour": 1}}).to_string().into(), "put.colour"),
        (json!({"put": {"key": key, "value": {"name": "b1", "type": "DUMMY", "colour": 1}}}).to_string().into(), "put.value.colour"),
        (json!({"put": {"key": key, "value": {"name": "b2", "type": "DUMMY"}}}).to_string().into(), "put.key"),
        (json!({"put": {"key": key, "value": {"name": "b1", "type": "DUMMY", "mtu": 1}}}).to_string().into(), "put.value.mtu"),
        (json!({"put": {"key": key, "value": {"name": "b1", "type": "DUMMY", "ip_addresses": ["10.0.0.300/24"]}}}).to_string().into(), "put.value.ip_addresses"),
        (json!({"put": {"key": key, "value": {"name": "b1", "type": "DUMMY", "host_if_name": "a-much-too-long-name"}}}).to_string().into(), "put.value.host_if_name"),
        (json!({"delete": {"key": "nowhere/x"}}).to_string().into(), "delete.key"),
        (json!({"txn": [{"delete": {"key": key}}, {"put": {"key": key}}]}).to_string().into(), "txn[1].put.value"),
        (oversize, "body"),
    ];
    for (body, field) in &cases {
        let reply = request(&c, &subject, body, T).await.expect("reply");
        let err = &reply["error"];
        let got = err["field"].as_str().unwrap_or_else(|| {
            panic!(
                "no error for {}: {reply}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            )
        });
        assert!(
            got.starts_with(field),
            "expected field {field}, got {reply}"
        );
        assert!(
            !err["reason"].as_str().unwrap_or_default().is_empty(),
            "{reply}"
        );
    }
    // Nothing bad reached the log, and good input still works.
    assert!(statuses(&c, &label).await.is_empty());
    let reply = request(&c, &subject, &put_body("b1"), T)
        .await
        .expect("reply");
    assert!(reply["seq"].is_u64(), "{reply}");
    wait_applied(&c, &label, &[key.to_string()], T).await;
}

/// Publishes `names` with `parallel` requests in flight, recording acknowledged names. Failed
/// requests are retried until `retry_for` has passed since the first failure of that name.
async fn publish_all(
    c: async_nats::Client,
    subject: String,
    names: Vec<String>,
    parallel: usize,
    acked: Arc<Mutex<Vec<String>>>,
    retry: bool,
) {
    futures::stream::iter(names)
        .for_each_concurrent(parallel, |name| {
            let c = c.clone();
            let subject = subject.clone();
            let acked = acked.clone();
            async move {
                for _ in 0..if retry { 200 } else { 1 } {
                    match request(&c, &subject, &put_body(&name), Duration::from_secs(2)).await {
                        Ok(v) if v["seq"].is_u64() => {
                            acked.lock().expect("lock").push(name);
                            return;
                        }
                        Ok(v) => panic!("intent rejected: {v}"),
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_1000_intents_loses_no_acknowledged_intent() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("kill");
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &["--snapshot-every", "250"]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let names: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    let publisher = tokio::spawn(publish_all(
        c.clone(),
        format!("nsagent.{label}.intents"),
        names,
        16,
        acked.clone(),
        false,
    ));
    while acked.lock().expect("lock").len() < 400 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    daemon.kill9();
    publisher.await.expect("publisher");
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 400 && acked.len() < 1000,
        "{} acked",
        acked.len()
    );

    let _daemon = Daemon::start(&nats.url(), &label, &dir, &["--snapshot-every", "250"]);
    wait_ready(&c, &label).await;
    let keys: Vec<String> = acked.iter().map(|n| dummy(n).0).collect();
    wait_applied(&c, &label, &keys, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restart_under_load_loses_no_acknowledged_intent() {
    let mut nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("natsrestart");
    let daemon = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let names: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
    let publisher = tokio::spawn(publish_all(
        c.clone(),
        format!("nsagent.{label}.intents"),
        names,
        8,
        acked.clone(),
        true,
    ));
    while acked.lock().expect("lock").len() < 300 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let restart = tokio::task::spawn_blocking(move || {
        nats.restart(Duration::from_millis(500));
        nats
    });
    let _nats = restart.await.expect("restart");
    publisher.await.expect("publisher");
    let acked = acked.lock().expect("lock").clone();
    assert_eq!(
        acked.len(),
        1000,
        "every intent acknowledged in the end; daemon log:\n{}",
        daemon.log_text()
    );
    let keys: Vec<String> = acked.iter().map(|n| dummy(n).0).collect();
    wait_applied(&c, &label, &keys, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_the_log_exits_cleanly_and_a_restart_restores_the_state() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("term");
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &[]);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let subject = format!("nsagent.{label}.intents");
    let txn = json!({"txn": [
        {"put": {"key": dummy("t1").0, "value": dummy("t1").1}},
        {"put": {"key": dummy("t2").0, "value": dummy("t2").1}},
    ]});
    let reply = request(&c, &subject, txn.to_string().as_bytes(), T)
        .await
        .expect("reply");
    assert!(reply["seq"].is_u64(), "{reply}");
    let status = daemon.terminate();
    assert!(
        status.success(),
        "exit {status:?}; log:\n{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("log flushed"),
        "{}",
        daemon.log_text()
    );

    let _daemon = Daemon::start(&nats.url(), &label, &dir, &[]);
    wait_ready(&c, &label).await;
    wait_applied(&c, &label, &[dummy("t1").0, dummy("t2").0], T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_bucket_puts_and_deletes_become_logged_intents_also_while_the_agent_was_down() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("kv");
    let c = client(&nats.url()).await;
    let js = async_nats::jetstream::new(c.clone());
    let kv = js
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: format!("nsagent_{label}"),
            ..Default::default()
        })
        .await
        .expect("bucket");
    // Written before the agent ever ran.
    kv.put(dummy("kv1").0, dummy("kv1").1.to_string().into())
        .await
        .expect("put");
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    wait_applied(&c, &label, &[dummy("kv1").0], T).await;
    kv.put(dummy("kv2").0, dummy("kv2").1.to_string().into())
        .await
        .expect("put");
    wait_applied(&c, &label, &[dummy("kv1").0, dummy("kv2").0], T).await;

    // Changes while the agent is down converge when it is back.
    assert!(daemon.terminate().success());
    kv.delete(dummy("kv1").0).await.expect("delete");
    kv.put(dummy("kv3").0, dummy("kv3").1.to_string().into())
        .await
        .expect("put");
    let _daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    wait_applied(&c, &label, &[dummy("kv2").0, dummy("kv3").0], T).await;
    let deadline = tokio::time::Instant::now() + T;
    while statuses(&c, &label).await.contains_key(&dummy("kv1").0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "kv1 was deleted in the bucket but not in the agent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The log records the KV revision of each change.
    let log = request(&c, &format!("nsagent.{label}.log"), b"{}", T)
        .await
        .expect("log");
    let revisions: Vec<&Value> = log["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["origin"].get("Kv"))
        .collect();
    // kv1 put, kv2 put, kv1 delete, kv3 put: the unchanged kv2 read again at the restart is
    // not logged twice.
    assert_eq!(revisions.len(), 4, "{log}");
    assert!(
        revisions
            .iter()
            .all(|r| r["revision"].as_u64().is_some_and(|n| n > 0)),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_acknowledged_after_a_kv_value_outlives_the_kv_replay_at_restart() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("kvorder");
    let c = client(&nats.url()).await;
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    let js = async_nats::jetstream::new(c.clone());
    let kv = agent_bucket(&js, &label).await;
    let (key, mut value) = dummy("o1");
    value["mtu"] = serde_json::json!(1400);
    kv.put(&key, value.to_string().into()).await.expect("put");
    wait_applied(&c, &label, std::slice::from_ref(&key), T).await;
    // A newer intent by request-reply, acknowledged.
    value["mtu"] = serde_json::json!(1500);
    let body = serde_json::json!({"put": {"key": key, "value": value}}).to_string();
    let reply = request(&c, &format!("nsagent.{label}.intents"), body.as_bytes(), T)
        .await
        .expect("ack");
    assert!(reply["seq"].is_u64(), "{reply}");
    let mtu = |v: Value| v["items"][0]["value"]["mtu"].as_u64();
    let get = format!("nsagent.{label}.get");
    let got = request(&c, &get, br#"{"prefix": ""}"#, T)
        .await
        .expect("get");
    assert_eq!(mtu(got.clone()), Some(1500), "{got}");
    // The restart replays the bucket, whose value for the key is older than the intent.
    assert!(daemon.terminate().success());
    let _daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = request(&c, &get, br#"{"prefix": ""}"#, T)
        .await
        .expect("get");
    assert_eq!(
        mtu(got.clone()),
        Some(1500),
        "the KV replay undid a newer intent: {got}"
    );
    // A KV change made now is news again, and wins by being later.
    value["mtu"] = serde_json::json!(1600);
    kv.put(&key, value.to_string().into()).await.expect("put");
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let got = request(&c, &get, br#"{"prefix": ""}"#, T)
            .await
            .expect("get");
        if mtu(got.clone()) == Some(1600) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_kv_bucket_is_watched_quietly_and_its_first_key_is_applied() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("kvempty");
    let c = client(&nats.url()).await;
    let daemon = Daemon::start(&nats.url(), &label, &data.path().join("d"), &["--kv"]);
    wait_ready(&c, &label).await;
    // Long enough for a broken watch to have restarted several times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = daemon.log_text();
    assert!(!log.contains("KV watch broken"), "{log}");
    assert_eq!(log.matches("watching KV bucket").count(), 1, "{log}");
    let js = async_nats::jetstream::new(c.clone());
    let kv = agent_bucket(&js, &label).await;
    kv.put(dummy("first").0, dummy("first").1.to_string().into())
        .await
        .expect("put");
    wait_applied(&c, &label, &[dummy("first").0], T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_starts_while_nats_is_down_and_serves_once_it_is_up() {
    let mut nats = Nats::start();
    nats.stop();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("late");
    let _d = Daemon::start(&nats.url(), &label, &data.path().join("d"), &[]);
    std::thread::sleep(Duration::from_millis(700));
    nats.restart(Duration::ZERO);
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let reply = request(
        &c,
        &format!("nsagent.{label}.intents"),
        &put_body("late1"),
        T,
    )
    .await
    .expect("reply");
    assert!(reply["seq"].is_u64(), "{reply}");
    wait_applied(&c, &label, &[dummy("late1").0], T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_items_gone_from_the_bucket_are_deleted_at_start_and_request_items_are_kept() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("kvresync");
    let bucket = format!("nsagent_{label}");
    let c = client(&nats.url()).await;
    let js = async_nats::jetstream::new(c.clone());

    // No bucket yet: the daemon makes it.
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    let kv = agent_bucket(&js, &label).await;
    for name in ["g1", "g2"] {
        kv.put(dummy(name).0, dummy(name).1.to_string().into())
            .await
            .expect("put");
    }
    let reply = request(&c, &format!("nsagent.{label}.intents"), &put_body("r1"), T)
        .await
        .expect("ack");
    assert!(reply["seq"].is_u64(), "{reply}");
    wait_applied(
        &c,
        &label,
        &[dummy("g1").0, dummy("g2").0, dummy("r1").0],
        T,
    )
    .await;
    assert!(daemon.terminate().success());

    // The bucket is replaced by one holding only g2: no delete marker tells of g1.
    js.delete_key_value(&bucket).await.expect("delete bucket");
    let kv = js
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: bucket.clone(),
            ..Default::default()
        })
        .await
        .expect("bucket");
    kv.put(dummy("g2").0, dummy("g2").1.to_string().into())
        .await
        .expect("put");

    let _daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let states = statuses(&c, &label).await;
        if !states.contains_key(&dummy("g1").0) {
            assert_eq!(
                states.get(&dummy("g2").0).map(String::as_str),
                Some("applied"),
                "{states:?}"
            );
            assert_eq!(
                states.get(&dummy("r1").0).map(String::as_str),
                Some("applied"),
                "{states:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "g1 was not deleted: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_request_is_logged_and_answered_and_a_bad_one_names_the_field() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let label = unique_label("resync");
    let _d = Daemon::start(
        &nats.url(),
        &label,
        &data.path().join("d"),
        &["--resync-interval", "off"],
    );
    let c = client(&nats.url()).await;
    wait_ready(&c, &label).await;
    let subject = format!("nsagent.{label}.resync");

    let reply = request(&c, &subject, b"", T).await.expect("reply");
    let seq = reply["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {reply}"));
    let log = request(
        &c,
        &format!("nsagent.{label}.log"),
        json!({"from": seq}).to_string().as_bytes(),
        T,
    )
    .await
    .expect("log");
    let records = log["records"].as_array().expect("records");
    assert_eq!(records[0]["origin"], "Request", "{log}");
    assert!(
        records[0]["event"].get("ResyncRequested").is_some(),
        "{log}"
    );
    assert!(
        records[1..]
            .iter()
            .any(|r| r["origin"] == "Kernel" && r["event"].get("Observed").is_some()),
        "the snapshot it caused is logged before the answer: {log}"
    );

    for (body, field) in [
        (json!({"ns": "a/b"}), "ns"),
        (json!({"ns": "not-managed-here"}), "ns"),
        (json!({"namespace": "x"}), "body"),
    ] {
        let reply = request(&c, &subject, body.to_string().as_bytes(), T)
            .await
            .expect("reply");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
    }
}
