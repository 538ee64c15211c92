//! Answers to `status`, `get`, `explain` and `log` requests, as the JSON the reply carries.

use std::collections::BTreeMap;

use nsagent_core::{
    AgentIdentity, BackendError, ChainSnapshot, ChecksumOffload, Core, ItemKey, ItemState,
    LinkState, Mark, Netns, Snapshot,
};
use serde_json::Value;

use super::Query;
use crate::human;
use crate::journal::Journal;
use crate::protocol::{error_value, GetEntry, LogEntry, LogReply, LogRequest, StatusEntry};

/// Records sent in one `log` reply at most; NATS messages are limited to 1 MiB by default.
const LOG_PAGE: usize = 500;

/// Answers `query` from the core's state. Called by the driver loop only after the batch the
/// query arrived with was fed to the core, so an answer reflects every intent acknowledged
/// before it.
pub(super) fn answer(core: &Core, query: Query) -> Value {
    let matches = |key: &ItemKey, prefix: &Option<String>, after: &Option<String>| {
        let key = key.to_string();
        prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && after.as_deref().is_none_or(|a| key.as_str() > a)
    };
    match query {
        Query::Status { key: Some(key), .. } => match core.status(&key) {
            Some(state) => serde_json::json!({ "items": [status_entry(&key, &state)] }),
            None => not_found(&key),
        },
        Query::Status {
            key: None,
            prefix,
            summary: true,
            ..
        } => {
            let counts = core.state_counts(prefix.as_deref());
            let total: usize = counts.values().sum();
            serde_json::json!({ "counts": counts, "total": total })
        }
        Query::Status {
            key: None,
            prefix,
            after,
            summary: false,
        } => {
            let items: Vec<_> = core
                .statuses()
                .iter()
                .filter(|(k, _)| matches(k, &prefix, &after))
                .map(|(k, s)| status_entry(k, s))
                .collect();
            serde_json::json!({ "items": items })
        }
        Query::Get { prefix, after } => {
            let items: Vec<_> = core
                .desired()
                .into_iter()
                .filter(|i| matches(&i.key(), &prefix, &after))
                .map(|i| GetEntry {
                    key: i.key().to_string(),
                    value: i.to_json(),
                })
                .collect();
            serde_json::json!({ "items": items })
        }
        Query::Explain { key } => match core.explain(&key) {
            Some(e) => serde_json::to_value(e).unwrap_or(Value::Null),
            None => not_found(&key),
        },
    }
}

/// `nsagentctl dump`: a snapshot as JSON, each link with whose it is as `identity` reads its
/// mark, and each namespace's iptables chains as the look at them found them (the agent's
/// rules, and a count of everyone else's). Namespaces are named as `--ns` takes them
/// (`default`, or the file that names one).
pub(super) fn dump_value(
    snapshot: &Snapshot,
    chains: &Result<ChainSnapshot, BackendError>,
    identity: &AgentIdentity,
) -> Value {
    let name = ns_name;
    let namespaces: Vec<Value> = snapshot
        .namespaces
        .iter()
        .map(|n| {
            let links: Vec<Value> = n
                .links
                .iter()
                .map(|l| {
                    let owner = match identity.read(l.alias.as_deref()) {
                        Mark::Mine(item) => format!("this agent, item {item}"),
                        Mark::Legacy(item) => format!("legacy mark, item {item}"),
                        Mark::Foreign => "another agent".to_string(),
                        Mark::Unmarked => "none".to_string(),
                    };
                    serde_json::json!({
                        "name": l.name,
                        "kind": format!("{:?}", l.kind).to_lowercase(),
                        "owner": owner,
                        "alias": l.alias,
                        "up": l.up,
                        "mtu": l.mtu,
                        "mac": l.mac.map(|m| m.to_string()),
                        "addresses": l.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "peer": l.peer.as_ref().map(|(ns, p)| format!("{p} in {}", name(ns))),
                        "checksum_offload": offload_value(&l.checksum_offload),
                    })
                })
                .collect();
            let routes: Vec<Value> = n
                .routes
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "dst": r.dst.to_string(),
                        "dev": r.dev,
                        "gw": r.gw.map(|g| g.to_string()),
                        "metric": r.metric,
                        "scope": format!("{:?}", r.scope).to_lowercase(),
                    })
                })
                .collect();
            let neighbours: Vec<Value> = n
                .neighbours
                .iter()
                .map(|x| serde_json::json!({"link": x.link, "ip": x.ip.to_string(), "mac": x.mac.to_string()}))
                .collect();
            serde_json::json!({
                "ns": name(&n.ns),
                "links": links,
                "routes": routes,
                "neighbours": neighbours,
                "iptables": tables_value(chains, &n.ns),
            })
        })
        .collect();
    let missing: Vec<String> = snapshot.missing.iter().map(name).collect();
    serde_json::json!({ "namespaces": namespaces, "missing": missing })
}

/// Known checksum offloading (veths), as `ethtool -k` says it; null where not read.
fn offload_value(o: &ChecksumOffload) -> Value {
    let way = |on: Option<bool>| on.map(|on| if on { "on" } else { "off" });
    if o.rx.is_none() && o.tx.is_none() {
        return Value::Null;
    }
    serde_json::json!({"rx": way(o.rx), "tx": way(o.tx)})
}

/// One namespace's tables from a look at the chains, or why there is none.
fn tables_value(chains: &Result<ChainSnapshot, BackendError>, ns: &Netns) -> Value {
    let snapshot = match chains {
        Ok(s) => s,
        Err(e) => return serde_json::json!({ "error": e.to_string() }),
    };
    let Some((_, tables)) = snapshot.namespaces.iter().find(|(n, _)| n == ns) else {
        return serde_json::json!([]);
    };
    let tables: Vec<Value> = tables
        .iter()
        .map(|t| {
            let chains: Vec<Value> = t
                .chains
                .iter()
                .map(|c| {
                    let rules: Vec<Value> = c
                        .rules
                        .iter()
                        .map(|r| serde_json::json!({"rule": r.text, "mark": r.comment}))
                        .collect();
                    serde_json::json!({
                        "chain": c.name,
                        "policy": c.policy,
                        "rules_of_this_agent": rules,
                        "rules_of_others": c.others,
                    })
                })
                .collect();
            serde_json::json!({
                "family": format!("{:?}", t.family).to_lowercase(),
                "table": t.table.name(),
                "chains": chains,
            })
        })
        .collect();
    Value::Array(tables)
}

/// The state of the link each interface item holds, as vpp-agent's `InterfaceState` names
/// its fields; a link its namespace does not show (or a namespace that cannot be read) is
/// `not-present`.
pub(super) fn states_value(
    targets: &[(String, Netns, String)],
    read: &BTreeMap<Netns, Result<Vec<LinkState>, BackendError>>,
) -> Value {
    let interfaces: Vec<Value> = targets
        .iter()
        .map(|(item, ns, link)| {
            let mut v = serde_json::json!({
                "name": item,
                "internal_name": link,
                "namespace": ns_name(ns),
            });
            let found = match read.get(ns) {
                Some(Ok(states)) => states.iter().find(|s| &s.name == link),
                Some(Err(e)) => {
                    v["error"] = e.to_string().into();
                    None
                }
                None => None,
            };
            match found {
                Some(s) => {
                    let up = |b: bool| if b { "up" } else { "down" };
                    v["type"] = format!("{:?}", s.kind).to_lowercase().into();
                    v["if_index"] = s.ifindex.into();
                    v["admin_status"] = up(s.admin_up).into();
                    v["oper_status"] = serde_json::to_value(s.oper).unwrap_or_default();
                    v["mtu"] = s.mtu.into();
                    v["phys_address"] = s.mac.map(|m| m.to_string()).into();
                    v["statistics"] = serde_json::to_value(s.stats).unwrap_or_default();
                    // vpp-agent's `speed` is in bits per second.
                    v["speed"] = s.speed_mbps.map(|m| u64::from(m) * 1_000_000).into();
                }
                None => v["oper_status"] = "not-present".into(),
            }
            v
        })
        .collect();
    serde_json::json!({ "interfaces": interfaces })
}

/// A namespace as `--ns` takes it: `default`, or the file that names it.
fn ns_name(ns: &Netns) -> String {
    match ns {
        Netns::Default => "default".to_string(),
        other => other.path(),
    }
}

fn status_entry(key: &ItemKey, state: &ItemState) -> StatusEntry {
    StatusEntry {
        key: key.to_string(),
        state: state.name().to_string(),
        detail: human::state_detail(state),
    }
}

fn not_found(key: &ItemKey) -> Value {
    error_value("key", format!("'{key}' is not known to the agent"))
}

/// A page of the log as JSON. Reads a clone of the journal, not the driver's: the log is
/// answered on the async side, so that paging through a long history never holds up intake.
pub fn read_log(journal: &Journal, req: &LogRequest) -> Value {
    let limit = req.limit.unwrap_or(LOG_PAGE).min(LOG_PAGE);
    let mut records = Vec::new();
    for item in journal.read(req.from..=u64::MAX).take(limit) {
        match item {
            Ok((seq, Ok(r))) => records.push(LogEntry::from_record(seq, &r)),
            Ok((seq, Err(e))) => records.push(LogEntry {
                seq,
                at: None,
                origin: None,
                event: None,
                error: Some(e.to_string()),
            }),
            Err(e) => return error_value("log", e),
        }
    }
    serde_json::to_value(LogReply {
        records,
        last_seq: journal.stored_last_seq(),
    })
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use nsagent_core::{CoreConfig, Event, Item, Timestamp};

    use super::*;
    use crate::journal::{JournalConfig, Origin, Record};

    fn core_with_d1() -> Core {
        let mut core = Core::new(CoreConfig::default());
        let item = Item::decode_unkeyed(&serde_json::json!({"name": "d1", "type": "DUMMY"}))
            .expect("valid");
        core.handle(Timestamp(1), Event::Put { seq: 1, item });
        core
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key_and_prefixes_filter() {
        let core = core_with_d1();
        let key: ItemKey = "config/linux/interfaces/v2/interface/d1"
            .parse()
            .expect("key");
        let other: ItemKey = "config/linux/interfaces/v2/interface/d2"
            .parse()
            .expect("key");
        let v = answer(
            &core,
            Query::Status {
                key: Some(key.clone()),
                prefix: None,
                after: None,
                summary: false,
            },
        );
        assert_eq!(v["items"][0]["key"], key.to_string());
        let v = answer(&core, Query::Explain { key: other.clone() });
        assert_eq!(v["error"]["field"], "key");
        assert_eq!(
            v["error"]["reason"],
            format!("'{other}' is not known to the agent")
        );
        let v = answer(
            &core,
            Query::Get {
                prefix: Some("config/linux/l3".into()),
                after: None,
            },
        );
        assert_eq!(v["items"].as_array().map(Vec::len), Some(0));
        let v = answer(
            &core,
            Query::Get {
                prefix: None,
                after: None,
            },
        );
        assert_eq!(v["items"][0]["value"]["name"], "d1");
    }

    #[test]
    fn a_summary_counts_the_items_of_each_state_under_the_prefix() {
        let mut core = core_with_d1();
        let item = Item::decode_unkeyed(&serde_json::json!({"name": "d2", "type": "DUMMY"}))
            .expect("valid");
        core.handle(Timestamp(2), Event::Put { seq: 2, item });
        let summary = |prefix: &str| {
            answer(
                &core,
                Query::Status {
                    key: None,
                    prefix: Some(prefix.into()),
                    after: None,
                    summary: true,
                },
            )
        };
        let v = summary("config/linux/interfaces/");
        assert_eq!(v["total"], 2);
        let counted: u64 = v["counts"]
            .as_object()
            .expect("counts")
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counted, 2, "{v}");
        assert!(v.get("items").is_none(), "no items listed: {v}");
        let v = summary("config/linux/interfaces/v2/interface/d2");
        assert_eq!(v["total"], 1, "{v}");
        let v = summary("config/linux/l3/");
        assert_eq!(v["total"], 0);
        assert_eq!(v["counts"], serde_json::json!({}));
    }

    #[test]
    fn a_dump_says_whose_each_link_is_and_names_namespaces_as_ns_takes_them() {
        use nsagent_core::{InstanceId, LinkKind, ObservedLink, ObservedNamespace};
        let me = AgentIdentity::new("me", InstanceId(1)).expect("identity");
        let other = AgentIdentity::new("other", InstanceId(2)).expect("identity");
        let link = |name: &str, alias: Option<String>| ObservedLink {
            name: name.into(),
            kind: LinkKind::Veth,
            alias,
            mtu: 1500,
            mac: None,
            up: true,
            addresses: vec!["10.0.0.1/24".parse().expect("net")],
            peer: Some((Netns::Default, "p".into())),
            checksum_offload: ChecksumOffload {
                rx: Some(false),
                tx: Some(true),
            },
            master: None,
            vrf_table: None,
            bridge: None,
            tap: None,
            macvlan_mode: None,
            parent: None,
            vxlan: None,
            fdb: vec![],
        };
        let snapshot = Snapshot {
            namespaces: vec![ObservedNamespace {
                ns: Netns::Named("blue".into()),
                links: vec![
                    link("a", Some(me.mark("x"))),
                    link("b", Some(other.mark("x"))),
                    link("c", Some("nsagent:old".into())),
                    link("d", None),
                ],
                routes: vec![],
                neighbours: vec![],
                rules: vec![],
            }],
            missing: vec![Netns::Pid(7)],
        };
        let chains = ChainSnapshot {
            namespaces: vec![(
                Netns::Named("blue".into()),
                vec![nsagent_core::ObservedTable {
                    family: nsagent_core::Family::Ipv4,
                    table: nsagent_core::Table::Filter,
                    chains: vec![nsagent_core::ObservedChain {
                        name: "INPUT".into(),
                        policy: Some("DROP".into()),
                        rules: vec![nsagent_core::ObservedRule {
                            comment: Some(me.mark("fw")),
                            target: Some("NSA-1".into()),
                            text: "-j NSA-1".into(),
                        }],
                        others: 2,
                    }],
                }],
            )],
            missing: vec![],
        };
        let v = dump_value(&snapshot, &Ok(chains), &me);
        let ns = &v["namespaces"][0];
        assert_eq!(ns["ns"], "/var/run/netns/blue");
        let owners: Vec<&str> = ns["links"]
            .as_array()
            .expect("links")
            .iter()
            .map(|l| l["owner"].as_str().expect("owner"))
            .collect();
        assert_eq!(
            owners,
            [
                "this agent, item x",
                "another agent",
                "legacy mark, item old",
                "none"
            ]
        );
        assert_eq!(ns["links"][0]["addresses"][0], "10.0.0.1/24");
        assert_eq!(ns["links"][0]["peer"], "p in default");
        assert_eq!(v["missing"][0], "/proc/7/ns/net");
        assert_eq!(
            ns["links"][0]["checksum_offload"],
            serde_json::json!({"rx": "off", "tx": "on"})
        );
        let input = &ns["iptables"][0]["chains"][0];
        assert_eq!(ns["iptables"][0]["table"], "filter");
        assert_eq!(input["policy"], "DROP");
        assert_eq!(input["rules_of_this_agent"][0]["rule"], "-j NSA-1");
        assert_eq!(input["rules_of_others"], 2);
        let failed = BackendError {
            kind: nsagent_core::ErrorKind::Other,
            errno: None,
            op: "observe the iptables tables".into(),
            message: "cannot run iptables-save".into(),
            namespace: None,
        };
        let v = dump_value(&snapshot, &Err(failed), &me);
        let error = v["namespaces"][0]["iptables"]["error"]
            .as_str()
            .expect("error");
        assert!(error.contains("iptables-save"), "{v}");
    }

    #[test]
    fn the_log_is_read_in_pages() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        let mut batch = journal.batch();
        for _ in 0..LOG_PAGE + 2 {
            batch.push(Record::new(Timestamp(7), Origin::Agent, Event::TimerFired));
        }
        journal.commit(&batch, true).expect("commit");
        let page = |from, limit| read_log(&journal, &LogRequest { from, limit });
        let v = page(0, None);
        assert_eq!(v["records"].as_array().map(Vec::len), Some(LOG_PAGE));
        assert_eq!(v["last_seq"], LOG_PAGE as u64 + 2);
        let v = page(LOG_PAGE as u64 + 1, Some(10));
        assert_eq!(v["records"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["records"][0]["at"], 7);
    }
}
