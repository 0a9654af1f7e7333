//! The city's match list as the hub pushes it (`Matches.Subscribe`): a task keeps the latest
//! list in memory, and the node's APIs answer from it instead of asking the hub each time.
//!
//! The list only ever holds matches the hub computed for this city's own records (the hub
//! checks the certificate's city); joining them with raw records stays in `intake`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use pilot_proto::framing::MatchListAssembler;
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

/// The latest pushed list and when it arrived.
#[derive(Debug, Default)]
pub struct MatchFeed {
    latest: RwLock<Option<(u64, Arc<Vec<pb::Match>>)>>,
}

impl MatchFeed {
    /// The latest list with at most `per_record` matches per record, if there is one and
    /// `per_record` is within what the subscription carries.
    pub fn matches(&self, per_record: u32) -> Option<Vec<pb::Match>> {
        if per_record > FEED_PER_RECORD {
            return None;
        }
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        let (_, list) = latest.as_ref()?;
        // The hub orders matches by subject, then score: keep the first n of each subject.
        let mut out = Vec::new();
        let mut last: Option<&pb::SummaryKey> = None;
        let mut n = 0;
        for m in list.iter() {
            if m.subject.as_ref() != last {
                last = m.subject.as_ref();
                n = 0;
            }
            if n < per_record {
                out.push(m.clone());
            }
            n += 1;
        }
        Some(out)
    }

    /// When the list last arrived, in ms since the epoch (0 if never).
    pub fn updated_ms(&self) -> u64 {
        self.latest.read().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |(t, _)| *t)
    }

    fn set(&self, list: Vec<pb::Match>) {
        let now = crate::intake::now().0;
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = Some((now, Arc::new(list)));
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
                // A long list comes in several messages; only a whole one replaces the last.
                let mut pieces = MatchListAssembler::new(FEED_MAX_MATCHES);
                while let Some(msg) = stream
                    .message()
                    .await
                    .map_err(|s| crate::Error::HubUnavailable(s.to_string()))?
                {
                    let whole = pieces
                        .push(msg)
                        .map_err(|e| crate::Error::HubUnavailable(e.to_string()))?;
                    if let Some(list) = whole {
                        debug!(matches = list.len(), "match list pushed");
                        self.set(list);
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
