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
                Err(e) => {
                    tracing::warn!(bucket = %bucket, error = %e, "KV watch broken; restarting it")
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Returns `Ok` only when the driver is gone.
async fn watch(
    client: &async_nats::Client,
    bucket: &str,
    input: &mpsc::Sender<Input>,
) -> Result<(), String> {
    let js = async_nats::jetstream::new(client.clone());
    let store = match js.get_key_value(bucket).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(Config {
                bucket: bucket.to_string(),
                history: 1,
                ..Config::default()
            })
            .await
            .map_err(|e| format!("creating bucket {bucket}: {e}"))?,
    };
    // The watch first replays the newest entry of every key (delete markers included, each
    // with its revision), then follows changes. Once the replay is over, items that were set
    // from the bucket and that it no longer mentions at all (history and markers gone, as
    // when the bucket was replaced) are deleted.
    let mut replayed = Some(std::collections::BTreeSet::new());
    let empty = store
        .status()
        .await
        .map(|s| s.values() == 0)
        .unwrap_or(false);
    if empty {
        if let Some(present) = replayed.take() {
            if input.send(Input::KvResync { present }).is_err() {
                return Ok(());
            }
        }
    }
    let mut entries = store
        .watch_with_history(">")
        .await
        .map_err(|e| format!("watching {bucket}: {e}"))?;
    tracing::info!(bucket, "watching KV bucket");
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(|e| e.to_string())?;
        match to_op(&entry) {
            Ok(op) => {
                if let (Some(present), IntentOp::Put(item)) = (replayed.as_mut(), &op) {
                    present.insert(item.key());
                }
                let intent = Input::Intent {
                    ops: vec![op],
                    origin: Origin::Kv {
                        revision: entry.revision,
                    },
                    reply: Reply::None,
                };
                if input.send(intent).is_err() {
                    return Ok(());
                }
            }
            Err(e) => {
                // A key with a bad value is still in the bucket: not a reason to delete it.
                if let (Some(present), Ok(key)) = (replayed.as_mut(), entry.key.parse::<ItemKey>())
                {
                    present.insert(key);
                }
                tracing::warn!(key = %entry.key, revision = entry.revision, field = %e.field, reason = %e.reason, "KV value rejected")
            }
        }
        if entry.delta == 0 {
            if let Some(present) = replayed.take() {
                if input.send(Input::KvResync { present }).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Err("watch ended".into())
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
    Item::decode(key, &json).map(IntentOp::Put)
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
        assert_eq!(
            decode_put(key, &vec![b' '; MAX_PAYLOAD + 1])
                .expect_err("size")
                .field,
            "value"
        );
    }
}
