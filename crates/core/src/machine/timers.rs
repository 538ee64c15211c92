//! Timers: when the core next wants `Event::TimerFired`, and for whom. The core has no clock;
//! the driver calls `poll_timeout` after each `handle` and feeds `TimerFired` once that time has
//! come. A retry is one entry here and nowhere else, so cancelling it cannot leave a copy behind.

use serde::{Deserialize, Serialize};

use crate::command::Op;
use crate::netns::NamespaceRef;

use super::state::{ItemId, NamedState, Owner};
use super::Core;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum TimerKey {
    Item(ItemId),
    Namespace(String),
    Orphan(u64),
}

impl Core {
    pub(super) fn on_timer(&mut self) {
        while let Some((at, key)) = self.s.timers.first().cloned() {
            if at > self.s.now {
                break;
            }
            self.s.timers.pop_first();
            match key {
                TimerKey::Item(id) => {
                    if self.live(id) {
                        self.slot_mut(id).retry_at = None;
                        self.mark_dirty(id);
                    }
                }
                TimerKey::Namespace(n) => {
                    if let Some(NamedState::Failed { attempts, .. }) = self.s.named.get(&n) {
                        let attempts = *attempts;
                        if self
                            .ix
                            .ns_members
                            .contains_key(&NamespaceRef::Named(n.clone()))
                        {
                            self.s
                                .named
                                .insert(n.clone(), NamedState::Creating { attempts });
                            self.issue(
                                Op::CreateNamespace { name: n.clone() },
                                Owner::Namespace(n),
                            );
                        } else {
                            self.s.named.insert(n, NamedState::Absent);
                        }
                    }
                }
                TimerKey::Orphan(o) => {
                    if let Some(orphan) = self.s.orphans.get_mut(o) {
                        orphan.retry_at = None;
                        self.s.orphans.requeue(o);
                    }
                }
            }
        }
    }
}
