//! What a KV watch may change: the watch starts with the whole bucket every time, so the driver
//! must tell a change from a repetition, and a key missing from the bucket from one that was
//! never there.

use std::collections::{BTreeSet, HashSet};

use nsagent_core::{Core, Item, ItemKey};

use crate::journal::{Journal, Origin};
use crate::protocol::IntentOp;

/// Whether a KV change would change nothing: logging the whole bucket again on each start of
/// the watch would only grow the log. Only decidable from the core's state when no earlier op
/// of this batch touched the key, so the caller keeps `touched` for the batch.
pub(super) fn is_no_op(core: &Core, op: &IntentOp, touched: &HashSet<ItemKey>) -> bool {
    match op {
        IntentOp::Put(item) => {
            let key = item.key();
            !touched.contains(&key)
                && core
                    .explain(&key)
                    .and_then(|e| e.desired)
                    .is_some_and(|d| d == item.to_json())
        }
        IntentOp::Delete(key) => !touched.contains(key) && core.status(key).is_none(),
    }
}

/// Desired items whose last intent came from the KV bucket and that are not in `present`, to be
/// deleted. An item whose last intent is no longer in the log (retention) is kept: when in
/// doubt, nothing is deleted.
pub(super) fn orphans(core: &Core, journal: &Journal, present: &BTreeSet<ItemKey>) -> Vec<ItemKey> {
    let from_kv = |seq: u64| {
        journal
            .read(seq..=seq)
            .next()
            .and_then(|r| r.ok())
            .is_some_and(|(_, r)| r.is_ok_and(|r| matches!(r.origin, Origin::Kv { .. })))
    };
    core.desired()
        .iter()
        .map(Item::key)
        .filter(|k| !present.contains(k))
        .filter(|k| {
            core.explain(k)
                .and_then(|e| e.last_seq)
                .is_some_and(from_kv)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use nsagent_core::{CoreConfig, Event, Timestamp};

    use super::*;
    use crate::journal::{JournalConfig, Record};

    fn dummy(name: &str, mtu: u32) -> Item {
        Item::decode_unkeyed(&serde_json::json!({"name": name, "type": "DUMMY", "mtu": mtu}))
            .expect("valid")
    }

    fn fresh() -> (tempfile::TempDir, Journal, Core) {
        let dir = tempfile::tempdir().expect("tmp");
        let (journal, _) = Journal::open(dir.path(), JournalConfig::default()).expect("open");
        (dir, journal, Core::new(CoreConfig::default()))
    }

    /// Logs a put of each item with its origin and feeds it to `core`.
    fn put(journal: &mut Journal, core: &mut Core, items: Vec<(Item, Origin)>) {
        let mut batch = journal.batch();
        for (item, origin) in items {
            let seq = batch.next_seq();
            batch.push(Record::new(Timestamp(1), origin, Event::Put { seq, item }));
        }
        journal.commit(&batch, false).expect("commit");
        for (_, r) in batch.into_records() {
            core.handle(r.at, r.event);
        }
    }

    #[test]
    fn a_repeated_value_is_a_no_op_unless_the_batch_touched_the_key() {
        let (_dir, mut journal, mut core) = fresh();
        put(
            &mut journal,
            &mut core,
            vec![(dummy("a", 1400), Origin::Kv { revision: 1 })],
        );
        let mut touched = HashSet::new();
        assert!(is_no_op(
            &core,
            &IntentOp::Put(Box::new(dummy("a", 1400))),
            &touched
        ));
        assert!(!is_no_op(
            &core,
            &IntentOp::Put(Box::new(dummy("a", 1500))),
            &touched
        ));
        let gone = IntentOp::Delete(dummy("b", 1400).key());
        assert!(is_no_op(&core, &gone, &touched));
        assert!(!is_no_op(
            &core,
            &IntentOp::Delete(dummy("a", 1400).key()),
            &touched
        ));
        touched.insert(dummy("a", 1400).key());
        assert!(!is_no_op(
            &core,
            &IntentOp::Put(Box::new(dummy("a", 1400))),
            &touched
        ));
    }

    #[test]
    fn only_items_last_set_from_the_bucket_and_missing_from_it_are_orphans() {
        let (_dir, mut journal, mut core) = fresh();
        put(
            &mut journal,
            &mut core,
            vec![
                (dummy("kv", 1400), Origin::Kv { revision: 1 }),
                (dummy("kept", 1400), Origin::Kv { revision: 2 }),
                (dummy("request", 1400), Origin::Request),
            ],
        );
        let present = BTreeSet::from([dummy("kept", 1400).key()]);
        assert_eq!(
            orphans(&core, &journal, &present),
            vec![dummy("kv", 1400).key()]
        );
    }
}
