//! Summaries anonymized ahead of sending.
//!
//! While the hub is away, or slower than the node, a background task anonymizes what the
//! outbox will send next, so that a backlog drains at the speed of the wire and the hub rather
//! than of segmentation, and staff see the records the privacy gate holds back as soon as they
//! are imported rather than when the hub is next reachable.
//!
//! NB: outcomes are kept in memory only, as the `pilot_anon::Outcome` values the anonymizer
//! returned in this process, so the sync path still sends nothing but `Anonymized` values. An
//! outcome is a pure function of the record at its outbox sequence and of the day (demands
//! expire), so [`build_batch`](crate::sync::build_batch) uses a prepared outcome only for the
//! same sequence and day and anonymizes anything else at send time, exactly as without this
//! module. At most `sync.prepare_ahead` outcomes are held.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pilot_anon::{Anonymizer, HoldReason, Outcome};
use pilot_model::{Date, LocalId, Seq};
use pilot_store::{NodeStore, OutboxOp};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::Result;
use crate::sync::SyncStatus;

/// Outcomes anonymized ahead of sending, by outbox sequence.
#[derive(Debug)]
pub struct Prepared {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Outcomes by outbox sequence, with the day they were computed for.
    outcomes: BTreeMap<u64, (Date, Outcome)>,
    /// Every sequence at or below this has been prepared, or passed over (left to be
    /// anonymized at send time).
    cursor: Seq,
    /// Every sequence at or below this has been sent; nothing at or below it is kept.
    sent: Seq,
}

impl Prepared {
    /// An empty set that holds at most `capacity` outcomes (0: prepare nothing).
    pub fn new(capacity: usize) -> Self {
        Prepared { capacity, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Entries are inserted and removed whole, so a panic elsewhere leaves nothing half done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outcome prepared for `seq` as of `today`, removed from the set; `None` if there is
    /// none (or it was computed on another day).
    pub fn take(&self, seq: Seq, today: Date) -> Option<Outcome> {
        let (day, outcome) = self.lock().outcomes.remove(&seq.0)?;
        (day == today).then_some(outcome)
    }

    /// Forgets every outcome at or below `seq`, which has been sent, and never prepares those
    /// sequences again.
    pub fn sent_through(&self, seq: Seq) {
        let mut inner = self.lock();
        inner.sent = inner.sent.max(seq);
        inner.cursor = inner.cursor.max(seq);
        let keep = inner.outcomes.split_off(&(seq.0 + 1));
        inner.outcomes = keep;
    }

    /// The highest sequence prepared or passed over (left to be anonymized at send time).
    pub fn cursor(&self) -> Seq {
        self.lock().cursor
    }

    /// How many outcomes are held.
    pub fn len(&self) -> usize {
        self.lock().outcomes.len()
    }

    /// Whether no outcome is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Anonymizes, ahead of sending, up to `limit` outbox entries after the set's cursor (fewer if
/// the set is nearly full), and marks the records the privacy gate holds back. Returns how many
/// outbox entries it covered: 0 when there is nothing to do or no room.
///
/// The first `lead` entries after what was sent are passed over (left to be anonymized at send
/// time): while a sync session is sending, those are about to be sent, and preparing them too
/// would only do the same work twice.
pub fn prepare_ahead(
    store: &NodeStore,
    anon: &Anonymizer,
    prepared: &Prepared,
    today: Date,
    limit: usize,
    lead: u64,
) -> Result<usize> {
    let (after, room) = {
        let inner = prepared.lock();
        let after = inner.cursor.max(Seq(inner.sent.0.saturating_add(lead)));
        (after, prepared.capacity.saturating_sub(inner.outcomes.len()))
    };
    if room == 0 {
        return Ok(0);
    }
    let entries = store.outbox_after(after, limit.min(room))?;
    let Some(&(through, _)) = entries.last() else { return Ok(0) };
    let covered = entries.len();
    let mut ready = Vec::with_capacity(covered);
    for (seq, entry) in entries {
        if entry.op != OutboxOp::Upsert {
            continue;
        }
        let Some(stored) = store.get(&entry.local_id)? else { continue };
        if stored.seq != seq {
            continue;
        }
        let outcome = anon.anonymize(&stored.record, today);
        mark_held(store, &entry.local_id, &outcome)?;
        ready.push((seq, outcome));
    }
    let mut inner = prepared.lock();
    // What was sent meanwhile is not kept.
    let sent = inner.sent;
    for (seq, outcome) in ready.into_iter().filter(|(seq, _)| *seq > sent) {
        inner.outcomes.insert(seq.0, (today, outcome));
    }
    inner.cursor = inner.cursor.max(through);
    Ok(covered)
}

/// Records whether the privacy gate holds `id` back, for staff to see and fix.
///
/// A record that is simply not shared (draft, closed, withdrawn, expired) is not "held back":
/// only the gate's refusals are.
pub(crate) fn mark_held(store: &NodeStore, id: &LocalId, outcome: &Outcome) -> Result<()> {
    match outcome {
        Outcome::Share(_) => store.set_held(id, None)?,
        Outcome::Withhold { reason, .. } => {
            let held = !matches!(reason, HoldReason::NotShared(_) | HoldReason::Expired(_));
            let mark = format!("{}\t{reason}", reason.code());
            store.set_held(id, held.then_some(mark.as_str()))?;
        }
    }
    Ok(())
}

/// The task that keeps [`Prepared`] filled.
#[derive(Debug, Clone)]
pub struct Preparer {
    /// The node's store.
    pub store: NodeStore,
    /// The anonymizer.
    pub anon: Arc<Anonymizer>,
    /// The sync state, whose prepared set this task fills and whose gate a backup holds.
    pub status: Arc<SyncStatus>,
    /// Outbox entries anonymized per step.
    pub chunk: usize,
    /// Entries after what was sent that are left to the sync task while it is connected (its
    /// batches in flight).
    pub lead: u64,
    /// How long to wait when there is nothing to prepare or no room.
    pub idle: Duration,
}

impl Preparer {
    /// Runs until `token` is cancelled.
    pub async fn run(self, token: CancellationToken) {
        loop {
            let step = self.clone();
            let today = crate::intake::now().date();
            let result = tokio::task::spawn_blocking(move || {
                let _step = step.status.gate();
                let lead = if step.status.connected() { step.lead } else { 0 };
                let prepared = step.status.prepared();
                prepare_ahead(&step.store, &step.anon, prepared, today, step.chunk, lead)
            })
            .await;
            let wait = match result {
                Ok(Ok(0)) => true,
                Ok(Ok(n)) => {
                    debug!(entries = n, "anonymized ahead of sending");
                    false
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "preparing summaries failed; they are made at send time");
                    true
                }
                Err(e) => {
                    warn!(error = %e, "preparing summaries failed; they are made at send time");
                    true
                }
            };
            if wait {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(self.idle) => {}
                }
            } else if token.is_cancelled() {
                return;
            }
        }
    }
}
