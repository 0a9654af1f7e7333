//! The city's match list as the hub pushes it (`Matches.Subscribe`): a task keeps the latest
//! list in memory, and the node's APIs answer from it instead of asking the hub each time.
//!
//! The hub sends the whole list first, then updates that replace the matches of the records
//! they name (`pilot_proto::framing`); the feed applies each as a whole, once complete.
//!
//! The list only ever holds matches the hub computed for this city's own records (the hub
//! checks the certificate's city); joining them with raw records stays in `intake`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pilot_config::metrics::LabeledCounter;
use pilot_proto::framing::{MatchListAssembler, Pushed};
use pilot_proto::pb;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::grpc::hub_client::HubClient;
use crate::sync::Backoff;

/// Matches per record the subscription asks for; requests for more go to the hub directly.
pub const FEED_PER_RECORD: u32 = 20;

/// Most matches a pushed list may hold (100,000 records × [`FEED_PER_RECORD`]); a list that
/// grows past it without ending drops the subscription, which starts afresh.
const FEED_MAX_MATCHES: usize = 100_000 * FEED_PER_RECORD as usize;

/// The latest pushed list and when it last changed.
#[derive(Debug, Default)]
pub struct MatchFeed {
    latest: RwLock<Option<Latest>>,
    /// Lists applied, by kind (`whole`, `update`), for the metrics.
    pub received: LabeledCounter,
}

/// The list as pushed so far.
#[derive(Debug)]
struct Latest {
    /// When the last whole list or update arrived, in ms since the epoch.
    updated_ms: u64,
    /// Each record's matches, best first, by (city, pseudonym): the hub's order.
    by_record: BTreeMap<(String, String), Vec<pb::Match>>,
}

/// The key a match is filed under: its subject.
fn record_of(m: &pb::Match) -> (String, String) {
    m.subject.as_ref().map(|k| (k.city.clone(), k.pseudonym.clone())).unwrap_or_default()
}

impl MatchFeed {
    /// The latest list with at most `per_record` matches per record, if there is one and
    /// `per_record` is within what the subscription carries.
    pub fn matches(&self, per_record: u32) -> Option<Vec<pb::Match>> {
        if per_record > FEED_PER_RECORD {
            return None;
        }
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        let latest = latest.as_ref()?;
        // Each record's matches are best first: keep the first n of each.
        let per_record = per_record as usize;
        Some(latest.by_record.values().flat_map(|ms| ms.iter().take(per_record).cloned()).collect())
    }

    /// When the list last changed, in ms since the epoch (0 if never).
    pub fn updated_ms(&self) -> u64 {
        self.latest.read().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |l| l.updated_ms)
    }

    /// Applies a complete whole list or update; an update before any whole list is refused.
    fn apply(&self, pushed: Pushed) -> Result<(), crate::Error> {
        let now = crate::intake::now().0;
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        match pushed {
            Pushed::Whole(list) => {
                let mut by_record: BTreeMap<(String, String), Vec<pb::Match>> = BTreeMap::new();
                for m in list {
                    by_record.entry(record_of(&m)).or_default().push(m);
                }
                *latest = Some(Latest { updated_ms: now, by_record });
                self.received.add("whole", 1);
            }
            Pushed::Update(records) => {
                let Some(latest) = latest.as_mut() else {
                    return Err(crate::Error::HubUnavailable(
                        "the hub sent an update of the match list before the list itself".into(),
                    ));
                };
                for (key, matches) in records {
                    let key = (key.city, key.pseudonym);
                    if matches.is_empty() {
                        latest.by_record.remove(&key);
                    } else {
                        latest.by_record.insert(key, matches);
                    }
                }
                latest.updated_ms = now;
                self.received.add("update", 1);
            }
        }
        Ok(())
    }

    fn clear(&self) {
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Keeps the subscription open until `token` fires, reconnecting with backoff. While it is
    /// down the list is dropped, so the APIs ask the hub (and say so if it is away) rather than
    /// serve a list that may be stale.
    pub async fn run(self: Arc<Self>, hub: HubClient, token: CancellationToken) {
        let mut backoff = Backoff::new(200, 30_000);
        loop {
            let session = async {
                let mut stream = hub.subscribe(FEED_PER_RECORD).await?;
                backoff.reset();
                info!("subscribed to the hub's match list");
                // A long list or update comes in several messages; only a complete one is
                // applied.
                let mut pieces = MatchListAssembler::new(FEED_MAX_MATCHES);
                while let Some(msg) = stream
                    .message()
                    .await
                    .map_err(|s| crate::Error::HubUnavailable(s.to_string()))?
                {
                    let whole = pieces
                        .push(msg)
                        .map_err(|e| crate::Error::HubUnavailable(e.to_string()))?;
                    match whole {
                        Some(Pushed::Whole(list)) => {
                            debug!(matches = list.len(), "match list pushed");
                            self.apply(Pushed::Whole(list))?;
                        }
                        Some(Pushed::Update(records)) => {
                            debug!(records = records.len(), "match list updated");
                            self.apply(Pushed::Update(records))?;
                        }
                        None => {}
                    }
                }
                Ok::<(), crate::Error>(())
            };
            let ended = tokio::select! {
                _ = token.cancelled() => return,
                r = session => r,
            };
            self.clear();
            if let Err(e) = ended {
                debug!(error = %e, "match subscription ended");
            }
            let delay = backoff.next_delay(rand::random());
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(delay.max(Duration::from_millis(100))) => {}
            }
        }
    }
}
