//! Desired state from the JetStream key-value bucket `nsagent_<label>`, the NATS counterpart of
//! vpp-agent's etcd prefix. The watch starts with the last value of every key (so intents written
//! while the agent was down, or a wiped data dir, converge) and then follows changes; each one is
//! an intent logged with its KV revision. A delete or purge is a delete intent.

use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream::kv::{Config, Entry, Operation};
use futures::StreamExt;
use nsagent_core::{Item, ItemKey, ValidationError};

use crate::driver::{Input, Reply};
use crate::journal::Origin;
use crate::protocol::{IntentOp, MAX_PAYLOAD};

/// Watches the bucket for ever, starting over (with a full read) whenever the watch breaks.
pub fn spawn(
    client: async_nats::Client,
    bucket: String,
    input: mpsc::Sender<Input>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match watch(&client, &bucket, &input).await {
                Ok(()) => return,
                Err(WatchEnd::Raced) => {
                    tracing::debug!(bucket = %bucket, "KV bucket changed while its watch began; reading it again");
                    continue;
                }
                Err(WatchEnd::Broken(e)) => {
                    tracing::warn!(bucket = %bucket, error = %e, "KV watch broken; restarting it")
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Why a watch ended while the driver was still there.
enum WatchEnd {
    /// The server or the connection ended it.
    Broken(String),
    /// The bucket was empty, and changed between the empty read and the start of the watch of
    /// what comes next: what came in between must be read from the bucket's history.
    Raced,
}

impl From<String> for WatchEnd {
    fn from(e: String) -> WatchEnd {
        WatchEnd::Broken(e)
    }
}

/// Returns `Ok` only when the driver is gone.
async fn watch(
    client: &async_nats::Client,
    bucket: &str,
    input: &mpsc::Sender<Input>,
) -> Result<(), WatchEnd> {
    let store = open_bucket(client, bucket).await?;
    let info = store
        .stream
        .get_info()
        .await
        .map_err(|e| format!("reading the state of bucket {bucket}: {e}"))?;
    let before = info.state.last_sequence;
    let started = Input::KvWatch {
        bucket_created: info.created.to_string(),
    };
    if input.send(started).is_err() {
        return Ok(());
    }
    // The watch first replays the newest entry of every key (delete markers included, each
    // with its revision), then follows changes. Once the replay is over, items that were set
    // from the bucket and that it no longer mentions at all (history and markers gone, as
    // when the bucket was replaced) are deleted.
    let mut follow = Follow {
        input,
        replayed: Some(std::collections::BTreeSet::new()),
    };
    let mut entries = store
        .watch_with_history(">")
        .await
        .map_err(|e| format!("watching {bucket}: {e}"))?;
    tracing::info!(bucket, "watching KV bucket");
    let mut replayed_any = false;
    while let Some(entry) = entries.next().await {
        replayed_any = true;
        if !follow.entry(&entry.map_err(|e| e.to_string())?) {
            return Ok(());
        }
    }
    if replayed_any {
        return Err(WatchEnd::Broken("watch ended".into()));
    }
    // A bucket with nothing to replay ends a history watch at once: follow new changes
    // instead, after the (empty) replay is over. A change that lands before the new watch
    // starts moves the bucket's last revision; then read everything again.
    if !follow.replay_over() {
        return Ok(());
    }
    let mut entries = store
        .watch(">")
        .await
        .map_err(|e| format!("watching {bucket}: {e}"))?;
    if last_revision(&store).await? != before {
        return Err(WatchEnd::Raced);
    }
    while let Some(entry) = entries.next().await {
        if !follow.entry(&entry.map_err(|e| e.to_string())?) {
            return Ok(());
        }
    }
    Err(WatchEnd::Broken("watch ended".into()))
}

async fn open_bucket(
    client: &async_nats::Client,
    bucket: &str,
) -> Result<async_nats::jetstream::kv::Store, String> {
    let js = async_nats::jetstream::new(client.clone());
    match js.get_key_value(bucket).await {
        Ok(store) => Ok(store),
        Err(_) => js
            .create_key_value(Config {
                bucket: bucket.to_string(),
                history: 1,
                ..Config::default()
            })
            .await
            .map_err(|e| format!("creating bucket {bucket}: {e}")),
    }
}

/// The sequence number of the newest message in the bucket's stream, 0 for none ever, asked of
/// the server now (`Store::status` answers from what was cached when the bucket was opened).
async fn last_revision(store: &async_nats::jetstream::kv::Store) -> Result<u64, String> {
    store
        .stream
        .get_info()
        .await
        .map(|info| info.state.last_sequence)
        .map_err(|e| format!("reading the state of bucket {}: {e}", store.name))
}

/// Turns watched entries into intents for the driver.
struct Follow<'a> {
    input: &'a mpsc::Sender<Input>,
    /// The keys the initial replay mentioned, until it is over.
    replayed: Option<std::collections::BTreeSet<ItemKey>>,
}

impl Follow<'_> {
    /// Forwards one entry; false once the driver is gone.
    fn entry(&mut self, entry: &Entry) -> bool {
        match to_op(entry) {
            Ok(op) => {
                if let (Some(present), IntentOp::Put(item)) = (self.replayed.as_mut(), &op) {
                    present.insert(item.key());
                }
                let intent = Input::Intent {
                    ops: vec![op],
                    origin: Origin::Kv {
                        revision: entry.revision,
                    },
                    reply: Reply::None,
                };
                if self.input.send(intent).is_err() {
                    return false;
                }
            }
            Err(e) => {
                // A key with a bad value is still in the bucket: not a reason to delete it.
                if let (Some(present), Ok(key)) =
                    (self.replayed.as_mut(), entry.key.parse::<ItemKey>())
                {
                    present.insert(key);
                }
                tracing::warn!(key = %entry.key, revision = entry.revision, field = %e.field, reason = %e.reason, "KV value rejected")
            }
        }
        entry.delta != 0 || self.replay_over()
    }

    /// Tells the driver which keys the bucket holds, once; false once the driver is gone.
    fn replay_over(&mut self) -> bool {
        match self.replayed.take() {
            Some(present) => self.input.send(Input::KvResync { present }).is_ok(),
            None => true,
        }
    }
}

fn to_op(entry: &Entry) -> Result<IntentOp, ValidationError> {
    match entry.operation {
        Operation::Put => decode_put(&entry.key, &entry.value),
        Operation::Delete | Operation::Purge => entry.key.parse::<ItemKey>().map(IntentOp::Delete),
    }
}

fn decode_put(key: &str, value: &[u8]) -> Result<IntentOp, ValidationError> {
    if value.len() > MAX_PAYLOAD {
        return Err(ValidationError::new(
            "value",
            format!("{} bytes exceed the limit of {MAX_PAYLOAD}", value.len()),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(value)
        .map_err(|e| ValidationError::new("value", format!("malformed JSON: {e}")))?;
    Item::decode(key, &json).map(|i| IntentOp::Put(Box::new(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_validated_like_intents() {
        let key = "config/linux/interfaces/v2/interface/d1";
        assert!(matches!(
            decode_put(key, br#"{"name":"d1","type":"DUMMY"}"#),
            Ok(IntentOp::Put(_))
        ));
        assert_eq!(decode_put(key, b"{").expect_err("json").field, "value");
        assert_eq!(
            decode_put(key, br#"{"name":"d2","type":"DUMMY"}"#)
                .expect_err("mismatch")
                .field,
            "key"
        );
        let e = decode_put(key, br#"{"name":"d1","type":"DUMMY","mtu":"15OO"}"#)
            .expect_err("mtu not a number");
        assert_eq!(e.field, "mtu", "{e}");
        assert!(e.reason.contains("expected a number"), "{e}");
        // The bucket takes what vpp-agent stores: camelCase, enum numbers, zeros, v1 keys.
        let stored =
            br#"{"name":"d1","type":6,"hostIfName":"","mtu":0,"ipAddresses":["10.0.0.1/24"]}"#;
        let Ok(IntentOp::Put(item)) = decode_put(key, stored) else {
            panic!("vpp-agent's form refused")
        };
        assert_eq!(item.key().to_string(), key);
        let v1 = "/vnf-agent/a1/linux/config/v1/interface/v1";
        let stored = br#"{"name":"v1","namespace":{"type":1,"microservice":"ms1"},"veth":{"peer_if_name":"v2"}}"#;
        let Ok(IntentOp::Put(item)) = decode_put(v1, stored) else {
            panic!("v1 refused")
        };
        assert_eq!(
            item.key().to_string(),
            "config/linux/interfaces/v2/interface/v1"
        );
        let e = decode_put(key, br#"{"name":"d1","type":"DUMMY","ipAddresses":[1]}"#)
            .expect_err("address as a number");
        assert_eq!(e.field, "ipAddresses[0]", "{e}");
        assert_eq!(
            decode_put(key, &vec![b' '; MAX_PAYLOAD + 1])
                .expect_err("size")
                .field,
            "value"
        );
    }
}
