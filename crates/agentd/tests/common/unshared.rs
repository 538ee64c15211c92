//! For the tests that run a whole agent in a network namespace of their own (`unshare -n` and
//! a shell script): whether they can, the script's shell helpers, and reading its sections.

use std::process::Command;

/// Making a network namespace needs root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// `wait_for WHAT COMMAND...`: runs the command every 0.1 s until it succeeds, for 20 s at most,
/// then says what never happened and shows the agent's status (the script defines `ctl`).
pub const WAIT_FOR: &str = r#"
wait_for() { # what, command...
  what=$1; shift
  for i in $(seq 200); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "never: $what"; ctl status || true; return 1
}
"#;

/// What the script printed after `=== name`, up to the next `===`.
pub fn section<'a>(text: &'a str, name: &str, all: &str) -> &'a str {
    text.split(&format!("=== {name}\n"))
        .nth(1)
        .and_then(|s| s.split("===").next())
        .unwrap_or_else(|| panic!("no section {name}: {all}"))
}

/// Runs `script` (after [`WAIT_FOR`]) in a network namespace of its own for at most `secs`,
/// with `DIR`, `NSAGENTD` and `NSAGENTCTL` set; fails the test if it fails. Returns what it
/// printed, and, for failure messages, that with its stderr and the agent's log (`log` in
/// `dir`).
pub fn run(script: &str, dir: &std::path::Path, secs: u32, log: &str) -> (String, String) {
    let out = Command::new("unshare")
        .args(["-n", "timeout", &secs.to_string(), "sh", "-c"])
        .arg(format!("{WAIT_FOR}{script}"))
        .env("DIR", dir)
        .env("NSAGENTD", env!("CARGO_BIN_EXE_nsagentd"))
        .env("NSAGENTCTL", env!("CARGO_BIN_EXE_nsagentctl"))
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let log = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
    let all = format!("{text}\n{}\n{log}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    (text, all)
}
