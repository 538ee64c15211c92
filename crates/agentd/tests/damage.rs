//! A damaged data directory is detected, reported and refused, never silently shortened:
//! real sled data dirs holding 3,000 acknowledged records, damaged the ways disks and people
//! damage them (a flipped byte, random flips, a zeroed block, a truncated or deleted file).
//! Opening must either read every acknowledged record back, or fail naming the damage; with
//! `repair` it opens, keeps what reads, writes a report and never reuses a sequence number.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

use nsagent_agentd::{Journal, JournalConfig, JournalError, Origin, Record};
use nsagent_core::{Event, Item, Timestamp};

const ACKED: u64 = 3_000;

fn record(seq: u64) -> Record {
    let name = format!("d{seq}");
    let value = serde_json::json!({"name": name, "type": "VETH", "enabled": true,
        "ip_addresses": [format!("10.{}.{}.1/24", seq / 250, seq % 250)],
        "veth": {"peer_if_name": format!("p{seq}")}});
    Record {
        at: Timestamp(seq),
        origin: Origin::Request,
        event: Event::Put {
            seq,
            item: Item::decode_unkeyed(&value).expect("item"),
        },
    }
}

/// A closed data dir holding records 1..=ACKED, every group of ten committed durably (acked).
fn acked_dir(root: &Path) -> PathBuf {
    let dir = root.join("good");
    let (mut j, _) = Journal::open(&dir, JournalConfig::default()).expect("open");
    while j.last_seq() < ACKED {
        let mut b = j.batch();
        for _ in 0..10 {
            let seq = b.next_seq();
            b.push(record(seq));
        }
        j.commit(&b, true).expect("commit");
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}

/// Every record the log reads back, which must be exactly what was written.
fn readable(j: &Journal) -> Vec<u64> {
    j.read(1..=u64::MAX)
        .filter_map(|r| match r.expect("io") {
            (seq, Ok(rec)) => {
                assert_eq!(rec, record(seq), "record {seq} reads back changed");
                Some(seq)
            }
            (_, Err(_)) => None,
        })
        .collect()
}

/// Opens a damaged copy: it must read every acked record back or refuse. Then, with repair, it
/// must open, report what it lost, and continue after the highest number ever used.
fn check(name: &str, dir: &Path) {
    let first = Journal::open(dir, JournalConfig::default());
    eprintln!(
        "{name}: {:?}",
        first.as_ref().map(|(_, r)| r).map_err(|e| e.to_string())
    );
    match first {
        Ok((j, report)) => {
            let seqs = readable(&j);
            assert_eq!(
                seqs.len() as u64,
                ACKED,
                "{name}: opened without complaint but reads only {} of {ACKED} records ({report:?})",
                seqs.len()
            );
            return;
        }
        Err(e) => {
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    JournalError::Damaged { .. }
                        | JournalError::Open { .. }
                        | JournalError::Unreadable { .. }
                ),
                "{name}: {text}"
            );
            if let JournalError::Damaged { first, last, .. } = e {
                assert!(
                    first >= 1 && first <= last && last <= ACKED,
                    "{name}: {text}"
                );
                assert!(text.contains("--repair"), "{name}: {text}");
            }
        }
    }
    // Refusing changed nothing: refusing again says the same.
    assert!(
        Journal::open(dir, JournalConfig::default()).is_err(),
        "{name}: second open"
    );
    let repair = JournalConfig {
        repair: true,
        ..JournalConfig::default()
    };
    let opened = Journal::open(dir, repair.clone());
    let Ok((mut j, report)) = opened else {
        // sled itself cannot open what is left: the error must say so, naming the directory.
        let e = opened.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(&dir.display().to_string()), "{name}: {e}");
        return;
    };
    let kept = readable(&j).len() as u64;
    eprintln!("{name}: repaired, kept {kept}: {:?}", report.repair);
    let repaired = report
        .repair
        .unwrap_or_else(|| panic!("{name}: no repair reported"));
    let lost: u64 = repaired.lost.iter().map(|(a, b, _)| b - a + 1).sum();
    assert!(
        kept + lost >= ACKED,
        "{name}: kept {kept} + lost {lost} < {ACKED}"
    );
    assert!(repaired.report.exists(), "{name}: no report file");
    // New records never reuse a number that was handed out before.
    assert!(
        j.batch().next_seq() > ACKED,
        "{name}: next seq {}",
        j.batch().next_seq()
    );
    let mut b = j.batch();
    let seq = b.push(record(ACKED + 1));
    j.commit(&b, true).expect("commit after repair");
    drop(j);
    // The repaired log opens cleanly from now on, holes and all.
    let (j, report) = Journal::open(dir, JournalConfig::default()).expect("reopen after repair");
    assert!(
        report.repair.is_none() && report.cut.is_none(),
        "{name}: {report:?}"
    );
    assert!(j.last_seq() >= seq);
}

/// Deterministic positions for the random flips.
fn positions(len: u64, count: usize, mut seed: u64) -> Vec<u64> {
    (0..count)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % len
        })
        .collect()
}

fn damaged_copy(good: &Path, root: &Path, name: &str, damage: impl FnOnce(&Path)) -> PathBuf {
    let dir = root.join(name);
    copy_dir(good, &dir);
    damage(&dir.join("db"));
    dir
}

/// Something done to sled's `db` file.
type Damage = Box<dyn FnOnce(&Path)>;

fn flip(path: &Path, at: &[u64]) {
    let mut bytes = std::fs::read(path).expect("read db");
    for &i in at {
        bytes[i as usize] ^= 0x5a;
    }
    std::fs::write(path, bytes).expect("write db");
}

#[test]
fn every_kind_of_damage_is_read_back_whole_or_refused_and_repair_keeps_the_rest() {
    let root = tempfile::tempdir().expect("tmp");
    let good = acked_dir(root.path());
    let len = std::fs::metadata(good.join("db")).expect("db").len();
    assert!(len > 100_000, "db is only {len} bytes");
    let cases: Vec<(&str, Damage)> = vec![
        (
            "one byte flipped at 25%",
            Box::new(move |db| flip(db, &[len / 4])),
        ),
        (
            "sixteen random flips",
            Box::new(move |db| flip(db, &positions(len, 16, 7))),
        ),
        (
            "64 KiB zeroed",
            Box::new(move |db| {
                let mut bytes = std::fs::read(db).expect("read");
                let start = (len / 2) as usize;
                let end = (start + 65_536).min(bytes.len());
                bytes[start..end].fill(0);
                std::fs::write(db, bytes).expect("write");
            }),
        ),
        (
            "truncated to nothing",
            Box::new(|db| {
                std::fs::File::options()
                    .write(true)
                    .open(db)
                    .expect("open")
                    .set_len(0)
                    .expect("truncate")
            }),
        ),
        (
            "deleted",
            Box::new(|db| std::fs::remove_file(db).expect("rm")),
        ),
    ];
    for (name, damage) in cases {
        let dir = damaged_copy(&good, root.path(), &name.replace(' ', "-"), damage);
        check(name, &dir);
    }
    // The undamaged original still reads whole.
    let (j, report) = Journal::open(&good, JournalConfig::default()).expect("good");
    assert_eq!(report.cut, None);
    assert_eq!(readable(&j).len() as u64, ACKED);
}

#[test]
fn a_deleted_mark_with_its_log_intact_opens_and_a_damaged_mark_is_refused() {
    let root = tempfile::tempdir().expect("tmp");
    let good = acked_dir(root.path());
    // Without the mark (a data dir from before marks) the log opens as it is.
    let old = root.path().join("old");
    copy_dir(&good, &old);
    std::fs::remove_file(old.join("nsagent.mark")).expect("rm mark");
    let (j, _) = Journal::open(&old, JournalConfig::default()).expect("open");
    assert_eq!(readable(&j).len() as u64, ACKED);
    drop(j);
    assert!(
        old.join("nsagent.mark").exists(),
        "the mark is kept from now on"
    );
    // A mark that no longer reads cannot vouch for the log.
    let bad = root.path().join("bad");
    copy_dir(&good, &bad);
    std::fs::write(bad.join("nsagent.mark"), [0u8; 1024]).expect("zero mark");
    let e = Journal::open(&bad, JournalConfig::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("high-water mark"), "{e}");
}

fn ctl_verify(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nsagentctl"))
        .args(["-o", "json", "log", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .expect("nsagentctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_refuses_a_damaged_log_names_the_bucket_and_repairs_only_when_asked() {
    let nats = Nats::start();
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("d");
    let label = unique_label("damage");
    let c = client(&nats.url()).await;
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &["--kv"]);
    wait_ready(&c, &label).await;
    let subject = format!("nsagent.{label}.intents");
    for i in 0..50 {
        let reply = request(
            &c,
            &subject,
            &put_body(&format!("k{i}")),
            Duration::from_secs(5),
        )
        .await
        .expect("ack");
        assert!(reply["seq"].is_u64(), "{reply}");
    }
    assert!(daemon.terminate().success());
    let (ok, text) = ctl_verify(&dir);
    assert!(ok, "an intact log verifies: {text}");

    // The disk loses sled's file.
    std::fs::File::options()
        .write(true)
        .open(dir.join("db"))
        .expect("db")
        .set_len(0)
        .expect("truncate");
    let (ok, text) = ctl_verify(&dir);
    assert!(!ok && text.contains("is damaged"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_nsagentd"))
        .args([
            "--label",
            &label,
            "--nats",
            &nats.url(),
            "--backend",
            "sim",
            "--kv",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .expect("nsagentd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a damaged log: {err}");
    assert!(
        err.contains("is damaged") && err.contains("--repair"),
        "{err}"
    );
    assert!(err.contains(&format!("nsagent_{label}")), "{err}");

    // With --repair it starts, says what was lost, and carries on.
    let _repaired = Daemon::start(&nats.url(), &label, &dir, &["--kv", "--repair"]);
    wait_ready(&c, &label).await;
    let reply = request(&c, &subject, &put_body("after"), Duration::from_secs(5))
        .await
        .expect("ack");
    let seq = reply["seq"].as_u64().expect("seq");
    assert!(seq > 50, "sequence number {seq} handed out again");
    let report = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("repair-"))
        .expect("a repair report");
    let text = std::fs::read_to_string(report.path()).expect("report");
    assert!(text.contains("..="), "{text}");
}

/// A small tmpfs of its own, unmounted on drop even when the test fails.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = std::env::temp_dir().join(unique_label("nsa-full"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_intents_keeps_answering_and_recovers_when_space_returns() {
    let disk = SmallDisk::mount(16);
    let nats = Nats::start();
    let dir = disk.0.join("d");
    let label = unique_label("full");
    let c = client(&nats.url()).await;
    let mut daemon = Daemon::start(&nats.url(), &label, &dir, &[]);
    wait_ready(&c, &label).await;
    let subject = format!("nsagent.{label}.intents");
    // Leave the log a little room, then put until it says the disk is full.
    let filler = disk.0.join("filler");
    let free = free_bytes(&disk.0);
    std::fs::write(&filler, vec![7u8; (free - 3 * 1024 * 1024) as usize]).expect("filler");
    let mut acked = Vec::new();
    let refusal = loop {
        let name = format!("f{}", acked.len());
        let reply = request(&c, &subject, &put_body(&name), Duration::from_secs(5))
            .await
            .expect("every intent gets an answer, also on a full disk");
        if reply["seq"].is_u64() {
            acked.push(name);
            assert!(acked.len() < 100_000, "the disk never filled");
            continue;
        }
        break reply;
    };
    assert_eq!(refusal["error"]["field"], "body", "{refusal}");
    let reason = refusal["error"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no space left on device"), "{refusal}");
    assert!(!acked.is_empty());
    // Queries keep answering while it is full, and a second intent is refused the same way.
    assert_eq!(statuses(&c, &label).await.len(), acked.len());
    let again = request(&c, &subject, &put_body("again"), Duration::from_secs(5))
        .await
        .expect("answer");
    assert!(again["error"].is_object(), "{again}");

    // Space comes back: intents are taken again, without a restart.
    std::fs::remove_file(&filler).expect("rm filler");
    let reply = request(&c, &subject, &put_body("after"), Duration::from_secs(5))
        .await
        .expect("answer");
    assert!(reply["seq"].is_u64(), "{reply}");
    acked.push("after".into());
    let keys: Vec<String> = acked.iter().map(|n| dummy(n).0).collect();
    wait_applied(&c, &label, &keys, Duration::from_secs(20)).await;

    // SIGTERM stops it promptly, and a restart has every acknowledged intent.
    let started = std::time::Instant::now();
    assert!(daemon.terminate().success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let _again = Daemon::start(&nats.url(), &label, &dir, &[]);
    wait_ready(&c, &label).await;
    wait_applied(&c, &label, &keys, Duration::from_secs(20)).await;
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}
