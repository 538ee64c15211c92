//! Rule chains through the iptables tools: `iptables-save` to read a namespace's tables,
//! `iptables-restore --noflush` to write one table in one atomic commit (the nf_tables or
//! legacy backend, whichever the host's iptables is), each run inside the namespace by entering
//! it between fork and exec. What to write is `ChainSpec`'s (see `nsagent_core::ChainSpec`);
//! this file only turns it into a restore script, after reading the table once to find the
//! agent's jumps and to refuse a holder chain that holds someone else's rules.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nsagent_core::{
    errno, rule_words, BackendError, ChainSpec, ErrorKind, Family, Netns, ObservedChain,
    ObservedRule, ObservedTable, Op, Table,
};

use crate::namespace;

const TABLES: [Table; 5] = [
    Table::Filter,
    Table::Nat,
    Table::Mangle,
    Table::Raw,
    Table::Security,
];

fn tool(family: Family, what: &str) -> String {
    match family {
        Family::Ipv4 => format!("iptables-{what}"),
        Family::Ipv6 => format!("ip6tables-{what}"),
    }
}

/// Runs `program args` in `ns` with `input` on its stdin; its stdout, or its stderr as the
/// error.
fn run_in(
    ns: &Netns,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> io::Result<Result<String, String>> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Kept open until the child has started: it enters the namespace through this fd.
    let file: Option<OwnedFd> = match ns {
        Netns::Default => None,
        other => Some(namespace::open(other)?.fd),
    };
    if let Some(fd) = &file {
        let raw = fd.as_raw_fd();
        // SAFETY: setns is async-signal-safe and touches nothing of the parent's.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(raw, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // Not ENOENT when the tool is missing: that would read as the namespace being gone.
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::other(format!("cannot run {program}: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    drop(file);
    if out.status.success() {
        Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).trim().to_string()))
    }
}

/// Every table of both families in `ns`.
pub(crate) fn observe(ns: &Netns) -> io::Result<Vec<ObservedTable>> {
    let mut out = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        match run_in(ns, &tool(family, "save"), &[], None)? {
            Ok(text) => out.extend(parse_save(family, &text).into_iter().map(|mut t| {
                t.chains.retain(ObservedChain::worth_reporting);
                t
            })),
            Err(e) => return Err(io::Error::other(format!("{}: {e}", tool(family, "save")))),
        }
    }
    Ok(out)
}

fn read_table(ns: &Netns, family: Family, table: Table) -> io::Result<Option<ObservedTable>> {
    match run_in(ns, &tool(family, "save"), &["-t", table.name()], None)? {
        Ok(text) => Ok(parse_save(family, &text).into_iter().next()),
        // A table the kernel has not made yet in this namespace reads as empty.
        Err(_) => Ok(None),
    }
}

/// Applies a chain command.
pub(crate) fn apply(op: &Op) -> Result<(), BackendError> {
    let (ns, spec, set) = match op {
        Op::SetChain { ns, chain } => (ns, chain, true),
        Op::DeleteChain { ns, chain } => (ns, chain, false),
        _ => return Ok(()),
    };
    let gone = |e: io::Error| {
        if e.raw_os_error() == Some(libc::ENOENT) && *ns != Netns::Default {
            BackendError::namespace_gone(op, ns, e.to_string())
        } else {
            BackendError::new(op, ErrorKind::Other, e.to_string())
        }
    };
    let current = read_table(ns, spec.family, spec.table).map_err(gone)?;
    let script = if set {
        set_script(spec, current.as_ref())
            .map_err(|m| BackendError::from_errno(op, errno::EEXIST, m))?
    } else {
        match delete_script(spec, current.as_ref()) {
            Some(s) => s,
            None => return Ok(()),
        }
    };
    let args = ["--noflush", "-w"];
    match run_in(ns, &tool(spec.family, "restore"), &args, Some(&script)).map_err(gone)? {
        Ok(_) => Ok(()),
        Err(stderr) => Err(BackendError::from_errno(
            op,
            errno::EINVAL,
            explain_failure(spec, &stderr, set),
        )),
    }
}

/// Rules of the script start on this line (1: `*table`, 2: the holder's declaration).
fn first_rule_line(spec: &ChainSpec) -> usize {
    3 + usize::from(spec.policy.is_some() && spec.jump_from().is_some())
}

fn set_script(spec: &ChainSpec, current: Option<&ObservedTable>) -> Result<String, String> {
    let chains = current.map(|t| t.chains.as_slice()).unwrap_or_default();
    if let Some(holder) = chains.iter().find(|c| c.name == spec.holder) {
        if !spec.may_take(holder) {
            return Err(format!(
                "chain {} exists with rules nsagent did not write",
                spec.holder
            ));
        }
    }
    let mut s = format!("*{}\n:{} - [0:0]\n", spec.table.name(), spec.holder);
    if let (Some(from), Some(p)) = (spec.jump_from(), spec.policy) {
        s.push_str(&format!(":{from} {} [0:0]\n", p.name()));
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        s.push_str(&format!(
            "-A {} -m comment --comment \"{}\" {rule}\n",
            spec.holder,
            spec.rule_comment(i)
        ));
    }
    s.push_str(&format!(
        "-A {} -m comment --comment \"{}\" -j RETURN\n",
        spec.holder,
        spec.end_comment()
    ));
    if let Some(from) = spec.jump_from() {
        let jumps = chains
            .iter()
            .find(|c| c.name == from)
            .is_some_and(|c| c.rules.iter().any(|r| is_jump(spec, r)));
        if !jumps {
            s.push_str(&format!(
                "-A {from} -m comment --comment \"{}\" -j {}\n",
                spec.mark, spec.holder
            ));
        }
    }
    s.push_str("COMMIT\n");
    Ok(s)
}

fn is_jump(spec: &ChainSpec, r: &ObservedRule) -> bool {
    r.comment.as_deref() == Some(spec.mark.as_str())
        && r.target.as_deref() == Some(spec.holder.as_str())
}

/// `None` when nothing of the spec's is there.
fn delete_script(spec: &ChainSpec, current: Option<&ObservedTable>) -> Option<String> {
    let chains = current.map(|t| t.chains.as_slice()).unwrap_or_default();
    // Someone else's chain of that name is never flushed: only the agent's jumps go.
    let holder = chains
        .iter()
        .any(|c| c.name == spec.holder && spec.may_take(c));
    let mut s = format!("*{}\n", spec.table.name());
    let mut any = false;
    for chain in chains {
        for r in chain.rules.iter().filter(|r| is_jump(spec, r)) {
            s.push_str(&format!("-D {} {}\n", chain.name, r.text));
            any = true;
        }
    }
    if let (Some(from), Some(_)) = (spec.jump_from(), spec.policy) {
        s.push_str(&format!(":{from} ACCEPT [0:0]\n"));
        any = true;
    }
    if holder {
        s.push_str(&format!(":{} - [0:0]\n-X {}\n", spec.holder, spec.holder));
        any = true;
    }
    s.push_str("COMMIT\n");
    any.then_some(s)
}

/// iptables-restore names the line it stopped at; a line of a rule is named as the user wrote
/// it, by its place in the item's `rules`.
fn explain_failure(spec: &ChainSpec, stderr: &str, set: bool) -> String {
    let first = stderr.lines().next().unwrap_or(stderr);
    let line = stderr.split("line").skip(1).find_map(|rest| {
        let digits: String = rest
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<usize>().ok()
    });
    match line.and_then(|l| l.checked_sub(first_rule_line(spec))) {
        Some(i) if set && i < spec.rules.len() => {
            format!("rules[{i}] ('{}'): {first}", spec.rules[i])
        }
        _ => stderr.replace('\n', "; "),
    }
}

/// Reads `iptables-save` output: tables, chains with their policies, rules with their comment,
/// target and text (what follows `-A <chain> `).
pub(crate) fn parse_save(family: Family, text: &str) -> Vec<ObservedTable> {
    let mut tables: Vec<ObservedTable> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            if let Some(table) = TABLES.into_iter().find(|t| t.name() == name.trim()) {
                tables.push(ObservedTable {
                    family,
                    table,
                    chains: vec![],
                });
            }
            continue;
        }
        let Some(t) = tables.last_mut() else {
            continue;
        };
        if let Some(decl) = line.strip_prefix(':') {
            let mut words = decl.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let policy = words.next().filter(|p| *p != "-").map(str::to_string);
            t.chains.push(ObservedChain::new(name, policy));
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let (chain, rule) = rest.split_once(' ').unwrap_or((rest, ""));
            let words = rule_words(rule).unwrap_or_default();
            let after = |opt: &[&str]| {
                words
                    .windows(2)
                    .find(|w| opt.contains(&w[0].as_str()))
                    .map(|w| w[1].clone())
            };
            let observed = ObservedRule {
                comment: after(&["--comment"]),
                target: after(&["-j", "-g", "--jump", "--goto"]),
                text: rule.to_string(),
            };
            match t.chains.iter_mut().find(|c| c.name == chain) {
                Some(c) => c.push(observed),
                None => {
                    let mut c = ObservedChain::new(chain, None);
                    c.push(observed);
                    t.chains.push(c);
                }
            }
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsagent_core::{Builtin, Chain, Policy};

    const SAVED: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:NSA-1 - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m comment --comment "nsagent:a/1:web" -j NSA-1
-A NSA-1 -p icmp -m comment --comment "nsagent:a/1:web#0.abc" -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -m comment --comment "a \"quoted\" one" -j RETURN
-A PREROUTING -m comment --comment "nsagent:a/1:x \"q\"" -j RETURN
COMMIT
"#;

    fn spec() -> ChainSpec {
        ChainSpec {
            family: Family::Ipv4,
            table: Table::Filter,
            chain: Chain::Builtin(Builtin::Input),
            holder: "NSA-1".into(),
            policy: Some(Policy::Drop),
            rules: vec!["-p icmp -j ACCEPT".into()],
            mark: "nsagent:a/1:web".into(),
        }
    }

    #[test]
    fn saved_tables_read_with_policies_comments_and_targets() {
        let t = parse_save(Family::Ipv4, SAVED);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].chains[0].policy.as_deref(), Some("DROP"));
        assert_eq!(t[0].chains[3].policy, None);
        let jump = &t[0].chains[0].rules[0];
        assert_eq!(jump.comment.as_deref(), Some("nsagent:a/1:web"));
        assert_eq!(jump.target.as_deref(), Some("NSA-1"));
        assert_eq!(t[0].chains[0].others, 1, "someone else's rule, counted");
        assert_eq!(
            t[1].chains[0].others, 1,
            "a quoted comment of someone else's"
        );
        assert_eq!(
            t[1].chains[0].rules[0].comment.as_deref(),
            Some("nsagent:a/1:x \"q\""),
            "quotes inside a comment read back"
        );
    }

    #[test]
    fn a_set_script_declares_the_holder_and_adds_a_jump_only_when_missing() {
        let s = spec();
        let script = set_script(&s, None).unwrap();
        assert!(script.starts_with("*filter\n:NSA-1 - [0:0]\n:INPUT DROP [0:0]\n"));
        assert!(script.contains(&format!(
            "-A NSA-1 -m comment --comment \"{}\" -p icmp",
            s.rule_comment(0)
        )));
        assert!(script.contains("-A INPUT -m comment --comment \"nsagent:a/1:web\" -j NSA-1\n"));
        let current = parse_save(Family::Ipv4, SAVED);
        let again = set_script(&s, current.first()).unwrap();
        assert!(!again.contains("-A INPUT"), "{again}");
    }

    #[test]
    fn a_holder_with_someone_elses_rules_is_refused() {
        let mut s = spec();
        s.holder = "INPUT".into();
        let current = parse_save(Family::Ipv4, SAVED);
        assert!(set_script(&s, current.first()).is_err());
    }

    #[test]
    fn a_delete_script_removes_jumps_policy_and_holder_and_nothing_is_no_script() {
        let s = spec();
        let current = parse_save(Family::Ipv4, SAVED);
        let script = delete_script(&s, current.first()).unwrap();
        assert!(script.contains("-D INPUT -m comment --comment \"nsagent:a/1:web\" -j NSA-1\n"));
        assert!(script.contains(":INPUT ACCEPT [0:0]\n:NSA-1 - [0:0]\n-X NSA-1\n"));
        let mut none = s.clone();
        none.policy = None;
        assert_eq!(delete_script(&none, None), None);
        let mut theirs = none.clone();
        theirs.holder = "INPUT".into();
        assert_eq!(
            delete_script(&theirs, current.first()),
            None,
            "a built-in chain is never deleted"
        );
    }

    #[test]
    fn a_failed_line_is_named_as_the_rule_the_user_wrote() {
        let s = spec();
        let err = "iptables-restore v1.8.9 (nf_tables): unknown option \"--bogus\"\nError occurred at line: 4\nTry";
        assert_eq!(
            explain_failure(&s, err, true),
            "rules[0] ('-p icmp -j ACCEPT'): iptables-restore v1.8.9 (nf_tables): unknown option \"--bogus\""
        );
        assert!(explain_failure(&s, "iptables-restore: line 2 failed", true).contains("line 2"));
    }
}
