//! The NATS protocol between publishers, `nsagentctl` and the daemon: subjects, intent bodies
//! and their validation, and the shapes of replies.
//!
//! Validation happens here, before anything reaches the log: a request is either turned into
//! fully validated operations or rejected with an error that names the field, so a bad publisher
//! can never get anything into the log or stop the daemon.

use nsagent_core::{Item, ItemKey, Netns, Timestamp, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::journal::Record;

/// Largest intent body accepted. vpp-agent items are a few hundred bytes; this leaves room for
/// transactions of a few hundred items while keeping one request from tying up the daemon.
pub const MAX_PAYLOAD: usize = 256 * 1024;
/// Most operations in one transaction.
pub const MAX_TXN_OPS: usize = 1000;

/// The subjects of one agent.
#[derive(Debug, Clone)]
pub struct Subjects {
    pub intents: String,
    pub status: String,
    pub get: String,
    pub explain: String,
    pub log: String,
    pub resync: String,
    pub dump: String,
    /// `nsagentctl state`: interface states on request, with counters.
    pub state: String,
    /// Where changes of interface states are published.
    pub interface_state: String,
    events_prefix: String,
}

impl Subjects {
    pub fn new(label: &str) -> Subjects {
        let base = format!("nsagent.{label}");
        Subjects {
            intents: format!("{base}.intents"),
            status: format!("{base}.status"),
            get: format!("{base}.get"),
            explain: format!("{base}.explain"),
            log: format!("{base}.log"),
            resync: format!("{base}.resync"),
            dump: format!("{base}.dump"),
            state: format!("{base}.state"),
            interface_state: format!("{base}.interface-state"),
            events_prefix: format!("{base}.events"),
        }
    }

    /// Where a state change of `key` is published: `nsagent.<label>.events.<kind>.<state>`.
    pub fn event(&self, key: &ItemKey, state: &str) -> String {
        let kind = match key {
            ItemKey::Interface(_) => "interface",
            ItemKey::Arp { .. } => "arp",
            ItemKey::Route { .. } => "route",
            ItemKey::RuleChain(_) => "rulechain",
            ItemKey::Fdb { .. } => "fdb",
            ItemKey::PolicyRule(_) => "policy-rule",
        };
        format!("{}.{kind}.{state}", self.events_prefix)
    }
}

/// Name of the JetStream key-value bucket of an agent.
pub fn kv_bucket(label: &str) -> String {
    format!("nsagent_{label}")
}

/// Whether `label` can be used as a subject token and in a bucket name.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("label is empty".into());
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "label '{label}' contains {c:?}; use letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

/// One validated operation of an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentOp {
    /// Boxed: an interface is large, and most operations of a batch are small.
    Put(Box<Item>),
    Delete(ItemKey),
}

/// Turns a request body into validated operations, all or nothing.
pub fn parse_intent(body: &[u8]) -> Result<Vec<IntentOp>, ValidationError> {
    if body.len() > MAX_PAYLOAD {
        return Err(ValidationError::new(
            "body",
            format!(
                "payload of {} bytes exceeds the limit of {MAX_PAYLOAD} bytes",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ValidationError::new("body", format!("malformed JSON: {e}")))?;
    let obj = single_key_object(&value, "body")?;
    let (verb, arg) = obj
        .iter()
        .next()
        .ok_or_else(|| ValidationError::new("body", "empty object"))?;
    match verb.as_str() {
        "txn" => {
            let ops = arg.as_array().ok_or_else(|| {
                ValidationError::new(
                    "txn",
                    "expected a list of {\"put\"} / {\"delete\"} operations",
                )
            })?;
            if ops.is_empty() {
                return Err(ValidationError::new("txn", "empty transaction"));
            }
            if ops.len() > MAX_TXN_OPS {
                return Err(ValidationError::new(
                    "txn",
                    format!(
                        "{} operations; at most {MAX_TXN_OPS} per transaction",
                        ops.len()
                    ),
                ));
            }
            ops.iter()
                .enumerate()
                .map(|(i, op)| {
                    let here = format!("txn[{i}]");
                    let obj = single_key_object(op, &here)?;
                    let (verb, arg) = obj
                        .iter()
                        .next()
                        .ok_or_else(|| ValidationError::new(&here, "empty object"))?;
                    parse_op(verb, arg, &format!("{here}."))
                })
                .collect()
        }
        _ => parse_op(verb, arg, "").map(|op| vec![op]),
    }
}

fn single_key_object<'a>(
    value: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, ValidationError> {
    let obj = value.as_object().ok_or_else(|| {
        ValidationError::new(
            field,
            "expected an object with one of \"put\", \"delete\", \"txn\"",
        )
    })?;
    if obj.len() != 1 {
        let keys: Vec<_> = obj.keys().map(String::as_str).collect();
        return Err(ValidationError::new(
            field,
            format!("expected exactly one of \"put\", \"delete\", \"txn\"; found {keys:?}"),
        ));
    }
    Ok(obj)
}

fn parse_op(verb: &str, arg: &Value, at: &str) -> Result<IntentOp, ValidationError> {
    let field = |name: &str| format!("{at}{verb}.{name}");
    let expect_fields = |allowed: &[&str]| -> Result<&Map<String, Value>, ValidationError> {
        let obj = arg
            .as_object()
            .ok_or_else(|| ValidationError::new(format!("{at}{verb}"), "expected an object"))?;
        if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ValidationError::new(
                field(unknown),
                format!("unknown field; expected {allowed:?}"),
            ));
        }
        Ok(obj)
    };
    let key_of = |obj: &Map<String, Value>| -> Result<String, ValidationError> {
        match obj.get("key") {
            Some(Value::String(k)) => Ok(k.clone()),
            Some(_) => Err(ValidationError::new(field("key"), "expected a string")),
            None => Err(ValidationError::new(field("key"), "missing")),
        }
    };
    match verb {
        "put" => {
            let obj = expect_fields(&["key", "value"])?;
            let key = key_of(obj)?;
            let value = obj
                .get("value")
                .ok_or_else(|| ValidationError::new(field("value"), "missing"))?;
            let item = Item::decode(&key, value).map_err(|e| {
                // The core names fields of the value (or "key"); say where they are.
                let name = if e.field == "key" {
                    field("key")
                } else if e.field == "value" {
                    // The value itself is at fault (not an object, say), not a field inside it.
                    field("value")
                } else {
                    format!("{}.{}", field("value"), e.field)
                };
                ValidationError::new(name, e.reason)
            })?;
            Ok(IntentOp::Put(Box::new(item)))
        }
        "delete" => {
            let obj = expect_fields(&["key"])?;
            let key = key_of(obj)?;
            let key = key
                .parse::<ItemKey>()
                .map_err(|e| ValidationError::new(field("key"), e.reason))?;
            Ok(IntentOp::Delete(key))
        }
        "txn" if !at.is_empty() => Err(ValidationError::new(
            format!("{at}txn"),
            "transactions do not nest",
        )),
        other => Err(ValidationError::new(
            format!("{at}{other}"),
            "unknown operation; expected \"put\", \"delete\" or \"txn\"",
        )),
    }
}

/// The reply to an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntentReply {
    /// Durably logged; `seq` is the sequence number of the request's last operation.
    Seq(u64),
    Error(ErrorBody),
}

/// What was wrong, by field, in every failed reply: a client can point at the field it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub field: String,
    pub reason: String,
}

impl ErrorBody {
    pub fn new(field: &str, reason: impl std::fmt::Display) -> ErrorBody {
        ErrorBody {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A failed answer to a query or a log request: the same `{"error": {"field", "reason"}}` as a
/// refused intent, so that a client reads every failure one way.
pub fn error_value(field: &str, reason: impl std::fmt::Display) -> Value {
    serde_json::json!({ "error": ErrorBody::new(field, reason) })
}

impl From<ValidationError> for ErrorBody {
    fn from(e: ValidationError) -> Self {
        ErrorBody {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl IntentReply {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing these plain types cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Body of `status`, `get` and `explain` requests; empty bodies mean "everything".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only items whose key sorts after this one: the `next` of the page before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// `status` only: answer how many items are in each state (`counts`, `total`) instead of
    /// listing them; cheap enough to poll (`nsagentctl wait`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub summary: bool,
}

/// Body of a `state` request; an empty body asks for every interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    /// An interface item's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Turns a `state` request body into the interface it names (`None`: all), or the error.
pub fn parse_state_request(body: &[u8]) -> Result<Option<String>, Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<StateRequest>(body)
        .map(|r| r.name)
        .map_err(|e| error_value("body", e))
}

/// Body of a `resync` or `dump` request; an empty body means every namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResyncRequest {
    /// `default`, `/var/run/netns/<name>`, `/proc/<pid>/ns/net` or a named namespace's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<String>,
}

/// Turns a `resync` or `dump` request body into the namespace it names (`None`: all of them),
/// or the error to answer, naming the field.
pub fn parse_namespace_request(body: &[u8]) -> Result<Option<Netns>, Value> {
    let req: ResyncRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ResyncRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| error_value("body", e))?
    };
    req.ns
        .map(|text| Netns::parse("ns", &text))
        .transpose()
        .map_err(|e| error_value(&e.field, e.reason))
}

/// Cuts an answer to what one NATS message of `max_payload` bytes holds. A list of `items`
/// (status, get) keeps its first items and says with `next` which key to ask `after` for the
/// rest; a page of `records` (log) keeps its first records, and the asker goes on from the
/// last one it got. Anything else is left whole. At least one entry is always kept, so that
/// paging advances; an entry bigger than a message on its own cannot be sent, and the caller
/// reports the failure to publish.
pub fn fit_to_payload(mut answer: Value, max_payload: usize) -> Value {
    // Room for the envelope around the list and for `next`.
    let budget = max_payload.saturating_sub(1024);
    if answer.to_string().len() <= budget {
        return answer;
    }
    for list in ["items", "records"] {
        let Some(entries) = answer.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        let mut used = 0;
        let keep = entries
            .iter()
            .position(|e| {
                used += e.to_string().len() + 1;
                used > budget
            })
            .unwrap_or(entries.len())
            .max(1);
        entries.truncate(keep);
        let next = (list == "items")
            .then(|| entries.last().and_then(|e| e.get("key")).cloned())
            .flatten();
        if let Some(next) = next {
            answer["next"] = next;
        }
    }
    answer
}

/// One item's state, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntry {
    pub key: String,
    /// applied, pending, in-progress, failed, removing.
    pub state: String,
    /// The state with its reasons, in words.
    pub detail: String,
}

/// One desired item, as `get` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetEntry {
    pub key: String,
    pub value: Value,
}

/// Body of a `log` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRequest {
    #[serde(default)]
    pub from: u64,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One log record in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LogEntry {
    /// A record as the `log` reply carries it: its event and origin as their JSON, for programs
    /// (`nsagentctl log -o json` prints it as it is).
    pub fn from_record(seq: u64, record: &Record) -> LogEntry {
        LogEntry {
            seq,
            at: Some(record.at.0),
            origin: serde_json::to_value(&record.origin).ok(),
            event: serde_json::to_value(&record.event).ok(),
            error: None,
        }
    }

    /// The record back from its JSON, for `nsagentctl log` to summarize: the log's types are
    /// what a summary is written for, and the reply stays the one machine-readable form.
    pub fn record(&self) -> Result<Record, EntryError> {
        if let Some(e) = &self.error {
            return Err(EntryError::Unreadable(e.clone()));
        }
        fn field<T: serde::de::DeserializeOwned>(
            name: &'static str,
            v: Option<&Value>,
        ) -> Result<T, EntryError> {
            let v = v.ok_or(EntryError::Missing(name))?;
            serde_json::from_value(v.clone()).map_err(|e| EntryError::Decode {
                field: name,
                reason: e.to_string(),
            })
        }
        let at = self.at.ok_or(EntryError::Missing("at"))?;
        Ok(Record::new(
            Timestamp(at),
            field("origin", self.origin.as_ref())?,
            field("event", self.event.as_ref())?,
        ))
    }

    /// The record in one line ([`Record::summary`]), or, for a record this build cannot read
    /// back (the daemon could not read it, or it is newer than this `nsagentctl`), why, with
    /// the event's JSON as the daemon sent it.
    pub fn summary(&self) -> String {
        match self.record() {
            Ok(record) => record.summary(),
            Err(e @ EntryError::Unreadable(_)) => e.to_string(),
            Err(e) => match &self.event {
                Some(event) => format!("{e}: {event}"),
                None => e.to_string(),
            },
        }
    }
}

/// Why a log entry does not read back as a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The daemon could not read the stored record (it says why).
    #[error("unreadable record: {0}")]
    Unreadable(String),
    #[error("the record has no {0}")]
    Missing(&'static str),
    /// A field this build does not know, such as an event of a newer daemon.
    #[error("the record's {field} does not read ({reason})")]
    Decode { field: &'static str, reason: String },
}

/// One page of the log, with where the log ends, so that a follower knows whether to ask on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogReply {
    pub records: Vec<LogEntry>,
    pub last_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_cut_to_what_one_message_holds_and_says_where_to_go_on() {
        let items: Vec<Value> = (0..1000)
            .map(|i| serde_json::json!({"key": format!("k{i:04}"), "state": "applied"}))
            .collect();
        let whole = serde_json::json!({ "items": items });
        let cut = fit_to_payload(whole.clone(), 8192);
        assert!(cut.to_string().len() <= 8192, "{}", cut.to_string().len());
        let kept = cut["items"].as_array().expect("items");
        assert!(kept.len() > 10 && kept.len() < 1000, "{}", kept.len());
        assert_eq!(cut["next"], kept[kept.len() - 1]["key"]);
        // What fits is left whole, without `next`.
        assert_eq!(fit_to_payload(whole.clone(), 1 << 20), whole);
        // A log page keeps its first records; the asker goes on from the last seq it got.
        let records: Vec<Value> = (0..1000)
            .map(|i| serde_json::json!({"seq": i, "event": "x".repeat(50)}))
            .collect();
        let page = fit_to_payload(
            serde_json::json!({"records": records, "last_seq": 999}),
            8192,
        );
        assert!(page.to_string().len() <= 8192);
        assert!(page.get("next").is_none());
        assert_eq!(page["last_seq"], 999);
        // One entry too big for a message alone is still sent, so paging moves on.
        let big =
            serde_json::json!({"items": [{"key": "a", "v": "x".repeat(10_000)}, {"key": "b"}]});
        assert_eq!(
            fit_to_payload(big, 4096)["items"].as_array().map(Vec::len),
            Some(1)
        );
    }

    fn err(body: &str) -> ValidationError {
        parse_intent(body.as_bytes()).expect_err(body)
    }

    const KEY: &str = "config/linux/interfaces/v2/interface/d1";

    #[test]
    fn resync_requests_name_a_namespace_or_none_and_bad_ones_name_the_field() {
        assert_eq!(parse_namespace_request(b""), Ok(None));
        assert_eq!(parse_namespace_request(b"{}"), Ok(None));
        assert_eq!(
            parse_namespace_request(br#"{"ns": "blue"}"#),
            Ok(Some(Netns::Named("blue".into())))
        );
        assert_eq!(
            parse_namespace_request(br#"{"ns": "default"}"#),
            Ok(Some(Netns::Default))
        );
        let field = |body: &[u8]| {
            parse_namespace_request(body).expect_err("refused")["error"]["field"].clone()
        };
        assert_eq!(field(br#"{"ns": "a/b"}"#), "ns");
        assert_eq!(field(br#"{"ns": "/etc/passwd"}"#), "ns");
        assert_eq!(field(br#"{"ns": 7}"#), "body");
        assert_eq!(field(br#"{"namespace": "x"}"#), "body");
        assert_eq!(field(b"not json"), "body");
    }

    #[test]
    fn put_delete_and_txn_parse() {
        let put =
            format!(r#"{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": "DUMMY"}}}}}}"#);
        let ops = parse_intent(put.as_bytes()).expect("put");
        assert!(
            matches!(&ops[..], [IntentOp::Put(item)] if matches!(&**item, Item::Interface(i) if i.name == "d1"))
        );
        let del = format!(r#"{{"delete": {{"key": "{KEY}"}}}}"#);
        assert_eq!(
            parse_intent(del.as_bytes()).expect("del"),
            vec![IntentOp::Delete(ItemKey::Interface("d1".into()))]
        );
        let txn = format!(r#"{{"txn": [{put}, {del}]}}"#);
        assert_eq!(parse_intent(txn.as_bytes()).expect("txn").len(), 2);
    }

    /// A request carries what vpp-agent stores: the robot resource's `"type": 1` namespace,
    /// camelCase, zeros written out, under a v1 key with vpp-agent's prefix.
    #[test]
    fn requests_take_vpp_agents_protobuf_json() {
        let body = br#"{"txn": [
            {"put": {"key": "/vnf-agent/a1/linux/config/v1/interface/v1", "value":
                {"name": "v1", "namespace": {"type": "NAMED_NS", "name": "ns1", "pid": 0}, "veth": {"peerIfName": "v2"}}}},
            {"put": {"key": "config/linux/interfaces/v2/interface/v2", "value":
                {"name": "v2", "type": 1, "namespace": {"reference": "ns1", "type": 1}, "hostIfName": "",
                 "mtu": 0, "vrfMasterInterface": "", "veth": {"peerIfName": "v1", "txChecksumOffloading": 0}}}},
            {"put": {"key": "config/linux/l3/v2/route/10.9.0.0/16/v1", "value":
                {"outgoingInterface": "v1", "dstNetwork": "10.9.0.0/16", "scope": 3, "gwAddr": "", "metric": 0}}}
        ]}"#;
        let ops = parse_intent(body).expect("vpp-agent's JSON");
        let keys: Vec<String> = ops
            .iter()
            .map(|op| match op {
                IntentOp::Put(i) => i.key().to_string(),
                IntentOp::Delete(k) => k.to_string(),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "config/linux/interfaces/v2/interface/v1",
                "config/linux/interfaces/v2/interface/v2",
                "config/linux/l3/v2/route/10.9.0.0/16/v1"
            ]
        );
        let del = br#"{"delete": {"key": "linux/config/v1/interface/v1"}}"#;
        assert_eq!(
            parse_intent(del).expect("v1 delete"),
            vec![IntentOp::Delete(ItemKey::Interface("v1".into()))]
        );
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let cases = [
            ("{not json", "body", "malformed JSON"),
            ("[1]", "body", "expected an object"),
            (r#"{"put": {}, "delete": {}}"#, "body", "exactly one"),
            (r#"{"upsert": {}}"#, "upsert", "unknown operation"),
            (
                r#"{"put": {"key": "x", "value": {}, "extra": 1}}"#,
                "put.extra",
                "unknown field",
            ),
            (r#"{"put": {"value": {}}}"#, "put.key", "missing"),
            (r#"{"put": {"key": 5, "value": {}}}"#, "put.key", "string"),
            (
                &format!(r#"{{"put": {{"key": "{KEY}"}}}}"#),
                "put.value",
                "missing",
            ),
            (
                r#"{"put": {"key": "bogus/key", "value": {"name": "d1"}}}"#,
                "put.key",
                "prefix",
            ),
            (
                &format!(
                    r#"{{"put": {{"key": "{KEY}", "value": {{"name": "d2", "type": "DUMMY"}}}}}}"#
                ),
                "put.key",
                "does not match",
            ),
            (
                &format!(
                    r#"{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": "DUMMY", "mtu": 5}}}}}}"#
                ),
                "put.value.mtu",
                "",
            ),
            (
                &format!(
                    r#"{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": "DUMMY", "colour": 5}}}}}}"#
                ),
                "put.value.colour",
                "unknown field",
            ),
            (
                r#"{"delete": {"key": "config/linux/l3/v2/arp/x"}}"#,
                "delete.key",
                "",
            ),
            (
                &format!(
                    r#"{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": "DUMMY", "mtu": "15OO"}}}}}}"#
                ),
                "put.value.mtu",
                "expected a number",
            ),
            (
                &format!(
                    r#"{{"txn": [{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": "DUMMY", "ip_addresses": ["10.0.0.1/24", 1]}}}}}}]}}"#
                ),
                "txn[0].put.value.ip_addresses[1]",
                "invalid type",
            ),
            (
                &format!(r#"{{"put": {{"key": "{KEY}", "value": "d1"}}}}"#),
                "put.value",
                "invalid type",
            ),
            (
                &format!(
                    r#"{{"txn": [{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": 6, "ipAddresses": ["10.0.0.1/24", 1]}}}}}}]}}"#
                ),
                "txn[0].put.value.ipAddresses[1]",
                "invalid type",
            ),
            (
                &format!(
                    r#"{{"put": {{"key": "{KEY}", "value": {{"name": "d1", "type": "DUMMY", "namespace": {{"type": "NAMED_NS", "name": "a/b"}}}}}}}}"#
                ),
                "put.value.namespace.name",
                "may not contain",
            ),
            (r#"{"txn": []}"#, "txn", "empty"),
            (r#"{"txn": {}}"#, "txn", "list"),
            (r#"{"txn": [{"txn": []}]}"#, "txn[0].txn", "nest"),
            (
                &format!(
                    r#"{{"txn": [{{"delete": {{"key": "{KEY}"}}}}, {{"delete": {{"key": 1}}}}]}}"#
                ),
                "txn[1].delete.key",
                "string",
            ),
        ];
        for (body, field, reason) in cases {
            let e = err(body);
            assert_eq!(e.field, field, "{body}: {e}");
            assert!(e.reason.contains(reason), "{body}: {e}");
        }
    }

    #[test]
    fn oversize_payloads_and_huge_transactions_are_refused() {
        let big = vec![b' '; MAX_PAYLOAD + 1];
        let e = parse_intent(&big).expect_err("too big");
        assert_eq!(e.field, "body");
        assert!(e.reason.contains("exceeds"), "{e}");
        let one = format!(r#"{{"delete": {{"key": "{KEY}"}}}}"#);
        let ops = vec![one.as_str(); MAX_TXN_OPS + 1].join(",");
        let e = err(&format!(r#"{{"txn": [{ops}]}}"#));
        assert_eq!(e.field, "txn");
    }

    #[test]
    fn replies_have_the_documented_shape() {
        assert_eq!(
            String::from_utf8(IntentReply::Seq(7).to_bytes()).expect("utf8"),
            r#"{"seq":7}"#
        );
        let e = IntentReply::Error(ValidationError::new("put.key", "bad").into());
        assert_eq!(
            String::from_utf8(e.to_bytes()).expect("utf8"),
            r#"{"error":{"field":"put.key","reason":"bad"}}"#
        );
        assert_eq!(
            error_value("key", "'x' is not known").to_string(),
            r#"{"error":{"field":"key","reason":"'x' is not known"}}"#
        );
    }

    #[test]
    fn labels_must_be_subject_tokens() {
        assert!(check_label("host-1_a").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label("a.b").is_err());
        assert!(check_label("a*").is_err());
    }
}

#[cfg(test)]
mod log_entry_tests {
    use nsagent_core::{BackendError, BorrowPolicy, CommandId, Event, NamespaceIdentity, Op};
    use serde_json::json;

    use super::*;
    use crate::journal::Origin;

    /// One event of every kind, as the daemon logs them.
    fn every_kind() -> Vec<Event> {
        let item = Item::decode_unkeyed(&json!({"name": "d1", "type": "DUMMY", "mtu": 1400}))
            .expect("item");
        let op = Op::DeleteLink {
            ns: Netns::Default,
            name: "d1".into(),
        };
        let snapshot = serde_json::from_value(json!({"missing": [{"Pid": 9}], "namespaces": [
            {"links": [{"addresses": ["10.0.0.1/24"], "alias": "nsagent:a/b:d1", "kind": "Dummy",
              "mac": [2, 0, 0, 0, 0, 1], "mtu": 1400, "name": "d1", "peer": null, "up": true}],
             "neighbours": [], "ns": "Default", "routes": []}]}))
        .expect("snapshot");
        let chains =
            serde_json::from_value(json!({"missing": [], "namespaces": [["Default", []]]}))
                .expect("chains");
        vec![
            Event::Put { seq: 1, item },
            Event::Delete {
                seq: 2,
                key: "config/linux/l3/v2/route/10.1.0.0/24/veth1"
                    .parse()
                    .expect("key"),
            },
            Event::NamespaceAvailable {
                ns: Netns::Named("blue".into()),
            },
            Event::NamespaceVanished { ns: Netns::Pid(3) },
            Event::MicroserviceStarted {
                label: "web".into(),
                container_id: "abc".into(),
                pid: 4,
                duplicates: vec!["def".into()],
            },
            Event::MicroserviceStopped {
                label: "web".into(),
                container_id: "abc".into(),
            },
            Event::MicroserviceWatch { connected: true },
            Event::CommandSucceeded { id: CommandId(5) },
            Event::CommandFailed {
                id: CommandId(6),
                error: BackendError::from_errno(&op, 17, "File exists"),
            },
            Event::TimerFired,
            Event::Restarted,
            Event::Observed(snapshot),
            Event::ResyncRequested { ns: None },
            Event::NamespaceIdentified {
                ns: Netns::Default,
                identity: NamespaceIdentity { dev: 4, ino: 5 },
            },
            Event::BorrowPolicy(BorrowPolicy {
                allow: vec!["lo".into()],
                protected: vec![],
            }),
            Event::ChainsObserved(chains),
        ]
    }

    /// `nsagentctl log` summarizes what it reads back from the reply's JSON, so every kind of
    /// event must come back from it as it was logged.
    #[test]
    fn every_kind_of_record_reads_back_from_its_json() {
        for (i, event) in every_kind().into_iter().enumerate() {
            let record = Record::new(Timestamp(1_796_148_352_540), Origin::Kernel, event);
            let sent =
                serde_json::to_string(&LogEntry::from_record(i as u64 + 1, &record)).expect("json");
            let entry: LogEntry = serde_json::from_str(&sent).expect("entry");
            assert_eq!(entry.record(), Ok(record.clone()), "{sent}");
            assert_eq!(entry.summary(), record.summary(), "{sent}");
        }
    }

    #[test]
    fn a_record_that_does_not_read_back_says_why_and_shows_what_came() {
        let entry = |v: Value| serde_json::from_value::<LogEntry>(v).expect("entry");
        let unreadable = entry(json!({"seq": 4, "error": "record checksum mismatch"}));
        assert_eq!(
            unreadable.record(),
            Err(EntryError::Unreadable("record checksum mismatch".into()))
        );
        assert_eq!(
            unreadable.summary(),
            "unreadable record: record checksum mismatch"
        );
        let newer = entry(
            json!({"seq": 5, "at": 1, "origin": "Agent", "event": {"Teleported": {"to": "mars"}}}),
        );
        match newer.record() {
            Err(EntryError::Decode {
                field: "event",
                reason,
            }) => {
                assert!(reason.contains("Teleported"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let line = newer.summary();
        assert!(
            line.starts_with("the record's event does not read (")
                && line.ends_with(r#": {"Teleported":{"to":"mars"}}"#),
            "{line}"
        );
        let bad_origin = entry(json!({"seq": 6, "at": 1, "origin": "Moon", "event": "TimerFired"}));
        assert!(
            matches!(
                bad_origin.record(),
                Err(EntryError::Decode {
                    field: "origin",
                    ..
                })
            ),
            "{:?}",
            bad_origin.record()
        );
        assert!(bad_origin.summary().ends_with(r#": "TimerFired""#));
        for (missing, v) in [
            (
                "at",
                json!({"seq": 7, "origin": "Agent", "event": "TimerFired"}),
            ),
            ("origin", json!({"seq": 7, "at": 1, "event": "TimerFired"})),
            ("event", json!({"seq": 7, "at": 1, "origin": "Agent"})),
        ] {
            let e = entry(v);
            assert_eq!(e.record(), Err(EntryError::Missing(missing)));
            let line = e.summary();
            assert!(
                line.starts_with(&format!("the record has no {missing}")),
                "{line}"
            );
        }
    }
}
