//! A record in one line, for `nsagentctl log`: what happened and, when that is news, who told
//! the agent (the kernel, Docker, the bucket).
//!
//! The log's JSON is the whole event, which is what a program wants and more than a person can
//! read (a resync's snapshot is every link of a namespace). Every event has its line here, in
//! one exhaustive match, so an event added to the core does not compile until it has one.

use nsagent_core::{
    BackendError, BorrowPolicy, ChainSnapshot, Event, ItemKey, Netns, ProtectedLink, Snapshot,
};

use super::{Origin, Record};

impl Record {
    /// The record in one line: its origin's prefix (none for intents by request and for the
    /// agent's own events), then what happened, e.g. `kernel: namespace blue vanished`. Never
    /// more than one line, whatever the kernel's messages hold.
    pub fn summary(&self) -> String {
        one_line(&format!(
            "{}{}",
            origin_prefix(&self.origin),
            event_summary(&self.event)
        ))
    }
}

/// Who told the agent, when the event alone does not say it: a put may come by request or from
/// the bucket, a namespace's news from the kernel watcher or a resync.
fn origin_prefix(origin: &Origin) -> String {
    match origin {
        Origin::Agent | Origin::Request => String::new(),
        Origin::Kv { revision } => format!("kv revision {revision}: "),
        Origin::KvResync => "kv resync: ".to_string(),
        Origin::Docker => "docker: ".to_string(),
        Origin::Kernel => "kernel: ".to_string(),
    }
}

/// What the event says happened, in a few words.
fn event_summary(event: &Event) -> String {
    match event {
        Event::Put { item, .. } => format!("put {}", key_words(&item.key())),
        Event::Delete { key, .. } => format!("delete {}", key_words(key)),
        Event::NamespaceAvailable { ns } => format!("{} available", ns_words(ns)),
        Event::NamespaceVanished { ns } => format!("{} vanished", ns_words(ns)),
        Event::NamespaceIdentified { ns, identity } => {
            format!("{} available ({identity})", ns_words(ns))
        }
        Event::MicroserviceStarted {
            label,
            container_id,
            pid,
            duplicates,
        } => {
            let lost = match duplicates.len() {
                0 => String::new(),
                n => format!(", beating {}", count(n, "other container")),
            };
            format!(
                "microservice {label} started: container {}, pid {pid}{lost}",
                short_id(container_id)
            )
        }
        Event::MicroserviceStopped {
            label,
            container_id,
        } => format!(
            "microservice {label} stopped: container {}",
            short_id(container_id)
        ),
        Event::MicroserviceWatch { connected } => format!(
            "microservice watch {}",
            if *connected {
                "connected"
            } else {
                "disconnected"
            }
        ),
        Event::CommandSucceeded { id } => format!("command {} ok", id.0),
        Event::CommandFailed { id, error } => {
            format!("command {} failed: {}", id.0, failure_words(error))
        }
        Event::TimerFired => "timer fired".to_string(),
        Event::Restarted => "agent restarted".to_string(),
        Event::Observed(snapshot) => observed_words(snapshot),
        Event::ChainsObserved(chains) => chains_words(chains),
        Event::ResyncRequested { ns } => match ns {
            Some(ns) => format!("resync of {} requested", ns_words(ns)),
            None => "resync of every namespace requested".to_string(),
        },
        Event::BorrowPolicy(policy) => policy_words(policy),
    }
}

/// An item by its kind and the part of its key that names it (`route 10.1.0.0/24/veth1`);
/// the whole key's prefix (`config/linux/l3/v2/route/`) says nothing more.
fn key_words(key: &ItemKey) -> String {
    match key {
        ItemKey::Interface(name) => format!("interface {name}"),
        ItemKey::Arp { interface, ip } => format!("arp {interface}/{ip}"),
        ItemKey::Route {
            dst,
            interface,
            table: None,
        } => format!("route {dst}/{interface}"),
        ItemKey::Route {
            dst,
            interface,
            table: Some(t),
        } => format!("route {dst}/{interface} table {t}"),
        ItemKey::RuleChain(name) => format!("rule chain {name}"),
        ItemKey::Fdb {
            interface,
            mac,
            remote,
        } => format!("fdb {interface}/{mac}/{remote}"),
        ItemKey::PolicyRule(name) => format!("policy rule {name}"),
    }
}

/// A namespace as `ip netns` users name it: `namespace blue`, `namespace default`.
fn ns_words(ns: &Netns) -> String {
    match ns {
        Netns::Default => "namespace default".to_string(),
        Netns::Named(name) => format!("namespace {name}"),
        Netns::Pid(pid) => format!("namespace of pid {pid}"),
        Netns::Task { pid, tid } => format!("namespace of pid {pid} task {tid}"),
    }
}

/// One namespace by name, several by their number.
fn namespaces_words<'a>(mut list: impl ExactSizeIterator<Item = &'a Netns>) -> String {
    match list.len() {
        0 => "no namespace".to_string(),
        1 => list.next().map(ns_words).unwrap_or_default(),
        n => count(n, "namespace"),
    }
}

/// The errno by its name, as `errno(3)` and the kernel's headers spell it, and its number:
/// what a person looks up. The message and the command are in the record's JSON.
fn failure_words(error: &BackendError) -> String {
    match error.errno {
        Some(n) => match nix::errno::Errno::from_raw(n) {
            nix::errno::Errno::UnknownErrno => format!("errno {n}"),
            known => format!("{known:?} (errno {n})"),
        },
        None => error.message.clone(),
    }
}

fn observed_words(snapshot: &Snapshot) -> String {
    let ns = &snapshot.namespaces;
    let links: usize = ns.iter().map(|n| n.links.len()).sum();
    let routes: usize = ns.iter().map(|n| n.routes.len()).sum();
    let neighbours: usize = ns.iter().map(|n| n.neighbours.len()).sum();
    format!(
        "observed {}: {}, {}, {}{}",
        namespaces_words(ns.iter().map(|n| &n.ns)),
        count(links, "link"),
        count(routes, "route"),
        count(neighbours, "neighbour"),
        missing_words(&snapshot.missing)
    )
}

fn chains_words(chains: &ChainSnapshot) -> String {
    let observed = chains.namespaces.iter().flat_map(|(_, tables)| tables);
    let all: Vec<_> = observed.flat_map(|t| &t.chains).collect();
    let marked: usize = all.iter().map(|c| c.rules.len()).sum();
    let others: usize = all.iter().map(|c| c.others as usize).sum();
    format!(
        "observed the iptables chains of {}: {}, {} marked by agents, {}{}",
        namespaces_words(chains.namespaces.iter().map(|(ns, _)| ns)),
        count(all.len(), "chain"),
        count(marked, "rule"),
        count(others, "other rule"),
        missing_words(&chains.missing)
    )
}

/// `; gone: namespace blue`, when a look could not open some of the namespaces it was for.
fn missing_words(missing: &[Netns]) -> String {
    if missing.is_empty() {
        return String::new();
    }
    let names: Vec<String> = missing.iter().map(ns_words).collect();
    format!("; gone: {}", names.join(", "))
}

fn policy_words(policy: &BorrowPolicy) -> String {
    let allow = if policy.allow.is_empty() {
        "any link".to_string()
    } else {
        policy.allow.join(", ")
    };
    let protected: Vec<String> = policy
        .protected
        .iter()
        .map(|ProtectedLink { ns, name, .. }| format!("{name} in {}", ns_words(ns)))
        .collect();
    format!(
        "borrow policy: may borrow {allow}; protected: {}",
        if protected.is_empty() {
            "none".to_string()
        } else {
            protected.join(", ")
        }
    )
}

/// `1 link`, `3 links`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// A container id as `docker ps` shows it: its first 12 characters.
fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Every run of white space (a kernel message's or iptables' newlines included) as one space,
/// so that a summary is one line of the log's table.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use nsagent_core::{CommandId, ErrorKind, Item, NamespaceIdentity, Op, Timestamp};
    use serde_json::json;

    use super::*;

    fn line(origin: Origin, event: Event) -> String {
        Record::new(Timestamp(1), origin, event).summary()
    }

    fn agent(event: Event) -> String {
        line(Origin::Agent, event)
    }

    fn item(v: serde_json::Value) -> Item {
        Item::decode_unkeyed(&v).expect("valid item")
    }

    fn named(name: &str) -> Netns {
        Netns::Named(name.into())
    }

    #[test]
    fn puts_and_deletes_name_the_item_by_kind_and_name() {
        let put = |v| {
            line(
                Origin::Request,
                Event::Put {
                    seq: 7,
                    item: item(v),
                },
            )
        };
        assert_eq!(
            put(json!({"name": "demo-veth1", "type": "VETH", "veth": {"peer_if_name": "x"}})),
            "put interface demo-veth1"
        );
        assert_eq!(
            put(
                json!({"interface": "veth1", "ip_address": "10.1.0.9", "hw_address": "02:00:00:00:00:01"})
            ),
            "put arp veth1/10.1.0.9"
        );
        let key = |k: &str| k.parse::<ItemKey>().expect("key");
        let delete = |k| Event::Delete {
            seq: 9,
            key: key(k),
        };
        assert_eq!(
            agent(delete("config/linux/l3/v2/route/10.1.0.0/24/veth1")),
            "delete route 10.1.0.0/24/veth1"
        );
        assert_eq!(
            line(
                Origin::Kv { revision: 12 },
                delete("config/linux/iptables/v2/rulechain/web")
            ),
            "kv revision 12: delete rule chain web"
        );
        assert_eq!(
            line(
                Origin::KvResync,
                delete("config/linux/interfaces/v2/interface/d1")
            ),
            "kv resync: delete interface d1"
        );
    }

    #[test]
    fn namespaces_are_named_as_ip_netns_names_them() {
        let kernel = |e| line(Origin::Kernel, e);
        assert_eq!(
            kernel(Event::NamespaceAvailable {
                ns: named("nsa-demo-2")
            }),
            "kernel: namespace nsa-demo-2 available"
        );
        assert_eq!(
            kernel(Event::NamespaceVanished { ns: Netns::Pid(42) }),
            "kernel: namespace of pid 42 vanished"
        );
        assert_eq!(
            kernel(Event::NamespaceIdentified {
                ns: Netns::Default,
                identity: NamespaceIdentity {
                    dev: 4,
                    ino: 4026531840
                },
            }),
            "kernel: namespace default available (device 4 inode 4026531840)"
        );
        assert_eq!(
            agent(Event::ResyncRequested {
                ns: Some(Netns::Task { pid: 5, tid: 6 })
            }),
            "resync of namespace of pid 5 task 6 requested"
        );
        assert_eq!(
            agent(Event::ResyncRequested { ns: None }),
            "resync of every namespace requested"
        );
    }

    #[test]
    fn microservices_show_their_container_short_and_pid() {
        let docker = |e| line(Origin::Docker, e);
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            docker(Event::MicroserviceStarted {
                label: "web".into(),
                container_id: id.into(),
                pid: 4242,
                duplicates: vec![],
            }),
            "docker: microservice web started: container 0123456789ab, pid 4242"
        );
        assert_eq!(
            docker(Event::MicroserviceStarted {
                label: "web".into(),
                container_id: "short".into(),
                pid: 1,
                duplicates: vec!["a".into(), "b".into()],
            }),
            "docker: microservice web started: container short, pid 1, beating 2 other containers"
        );
        assert_eq!(
            docker(Event::MicroserviceStopped {
                label: "web".into(),
                container_id: id.into(),
            }),
            "docker: microservice web stopped: container 0123456789ab"
        );
        assert_eq!(
            docker(Event::MicroserviceWatch { connected: true }),
            "docker: microservice watch connected"
        );
        assert_eq!(
            docker(Event::MicroserviceWatch { connected: false }),
            "docker: microservice watch disconnected"
        );
    }

    #[test]
    fn command_results_show_the_errno_by_name_and_number() {
        let op = Op::DeleteLink {
            ns: Netns::Default,
            name: "d1".into(),
        };
        let failed = |error| agent(Event::command_result(CommandId(12), Err(error)));
        assert_eq!(
            agent(Event::CommandSucceeded { id: CommandId(12) }),
            "command 12 ok"
        );
        assert_eq!(
            failed(BackendError::from_errno(&op, 17, "File exists")),
            "command 12 failed: EEXIST (errno 17)"
        );
        assert_eq!(
            failed(BackendError::from_errno(&op, 4095, "?")),
            "command 12 failed: errno 4095"
        );
        // Without an errno, the message, on one line however many it had.
        assert_eq!(
            failed(BackendError::new(
                &op,
                ErrorKind::Other,
                "iptables-restore:\n  line 2 failed\n"
            )),
            "command 12 failed: iptables-restore: line 2 failed"
        );
    }

    #[test]
    fn the_agents_own_events_say_what_they_are() {
        assert_eq!(agent(Event::TimerFired), "timer fired");
        assert_eq!(agent(Event::Restarted), "agent restarted");
        assert_eq!(
            agent(Event::BorrowPolicy(BorrowPolicy::default())),
            "borrow policy: may borrow any link; protected: none"
        );
        let policy: BorrowPolicy = serde_json::from_value(json!({
            "allow": ["lo", "eth*"],
            "protected": [{"ns": "Default", "name": "lo", "address": "127.0.0.1", "server": "127.0.0.1"}],
        }))
        .expect("policy");
        assert_eq!(
            agent(Event::BorrowPolicy(policy)),
            "borrow policy: may borrow lo, eth*; protected: lo in namespace default"
        );
    }

    #[test]
    fn a_look_at_the_kernel_is_counted_not_listed() {
        let link = json!({"addresses": [], "alias": null, "kind": "Loopback", "mac": [0, 0, 0, 0, 0, 0],
            "mtu": 65536, "name": "lo", "peer": null, "up": true});
        let one: Snapshot = serde_json::from_value(json!({"missing": [],
            "namespaces": [{"links": [link], "neighbours": [], "ns": "Default", "routes": []}]}))
        .expect("snapshot");
        assert_eq!(
            line(Origin::Kernel, Event::Observed(one)),
            "kernel: observed namespace default: 1 link, 0 routes, 0 neighbours"
        );
        let two: Snapshot =
            serde_json::from_value(json!({"missing": [{"Named": "blue"}, {"Pid": 3}],
            "namespaces": [
                {"links": [link, link], "neighbours": [], "ns": "Default", "routes": []},
                {"links": [], "neighbours": [], "ns": {"Named": "red"}, "routes": []}]}))
            .expect("snapshot");
        assert_eq!(
            agent(Event::Observed(two)),
            "observed 2 namespaces: 2 links, 0 routes, 0 neighbours; gone: namespace blue, namespace of pid 3"
        );
        let none = Snapshot {
            namespaces: vec![],
            missing: vec![named("blue")],
        };
        assert_eq!(
            agent(Event::Observed(none)),
            "observed no namespace: 0 links, 0 routes, 0 neighbours; gone: namespace blue"
        );
    }

    #[test]
    fn a_look_at_iptables_counts_chains_and_rules() {
        let chains: ChainSnapshot = serde_json::from_value(json!({"missing": [{"Named": "gone"}],
            "namespaces": [[{"Named": "blue"}, [{"family": "Ipv4", "table": "Filter", "chains": [
                {"name": "INPUT", "policy": "ACCEPT", "rules": [{"comment": "nsagent:x", "target": "NSA-1", "text": "-j NSA-1"}], "others": 3},
                {"name": "NSA-1", "policy": null, "rules": [], "others": 0}]}]]]}))
        .expect("chains");
        assert_eq!(
            agent(Event::ChainsObserved(chains)),
            "observed the iptables chains of namespace blue: 2 chains, 1 rule marked by agents, 3 other rules; gone: namespace gone"
        );
        let empty = ChainSnapshot {
            namespaces: vec![],
            missing: vec![],
        };
        assert_eq!(
            agent(Event::ChainsObserved(empty)),
            "observed the iptables chains of no namespace: 0 chains, 0 rules marked by agents, 0 other rules"
        );
    }
}
