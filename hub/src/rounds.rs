//! The turns full rounds of match subscriptions take: at most `limits.concurrent_full_rounds`
//! run at once, so that the start of every city's subscription after a restart (each begins
//! with a full round, minutes of CPU at national scale) cannot take every core from ingest and
//! queries. The others wait, first come first served, and the metrics say how many do.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::HubMetrics;

/// Hands out turns to run a full round.
#[derive(Debug, Clone)]
pub struct RoundGate {
    turns: Arc<Semaphore>,
    metrics: Arc<HubMetrics>,
}

/// A turn to run one full round; the next waiting round starts when it is dropped.
#[derive(Debug)]
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<HubMetrics>,
}

impl RoundGate {
    /// A gate letting `at_once` full rounds run together (at least one), counting them in
    /// `metrics`.
    pub fn new(at_once: usize, metrics: Arc<HubMetrics>) -> Self {
        RoundGate { turns: Arc::new(Semaphore::new(at_once.max(1))), metrics }
    }

    /// Waits for a turn. Cancel-safe: a wait that is dropped leaves no trace.
    pub async fn turn(&self) -> Turn {
        let waiting = Waiting::new(&self.metrics);
        // NB: the semaphore is never closed, so acquiring cannot fail.
        let permit = self.turns.clone().acquire_owned().await.expect("the gate is never closed");
        drop(waiting);
        self.metrics.full_rounds_running.fetch_add(1, Ordering::Relaxed);
        Turn { _permit: permit, metrics: self.metrics.clone() }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.metrics.full_rounds_running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a round as waiting for as long as it lives.
struct Waiting<'a>(&'a HubMetrics);

impl<'a> Waiting<'a> {
    fn new(metrics: &'a HubMetrics) -> Self {
        metrics.full_rounds_waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(metrics)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.full_rounds_waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn counts(m: &HubMetrics) -> (u64, u64) {
        (
            m.full_rounds_running.load(Ordering::Relaxed),
            m.full_rounds_waiting.load(Ordering::Relaxed),
        )
    }

    #[tokio::test]
    async fn rounds_beyond_the_limit_wait_their_turn_in_order_and_show_in_the_metrics() {
        let metrics = Arc::new(HubMetrics::default());
        let gate = RoundGate::new(2, metrics.clone());
        let first = gate.turn().await;
        let second = gate.turn().await;
        assert_eq!(counts(&metrics), (2, 0));

        // Two more rounds queue up behind the two running.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for n in 3..=4 {
            let (gate, tx) = (gate.clone(), tx.clone());
            waiters.push(tokio::spawn(async move {
                let turn = gate.turn().await;
                tx.send(n).unwrap();
                // Hold the turn until the test has seen who got one.
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(turn);
            }));
            // Let this one start waiting before the next, so that the order is known.
            for _ in 0..1000 {
                if counts(&metrics).1 >= n - 2 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(counts(&metrics), (2, 2));
        assert!(rx.try_recv().is_err(), "no round may start while two run");

        drop(first);
        assert_eq!(rx.recv().await, Some(3), "the round that waited longest goes first");
        assert!(rx.try_recv().is_err(), "one turn freed, one round started");
        assert_eq!(counts(&metrics), (2, 1));

        drop(second);
        assert_eq!(rx.recv().await, Some(4));
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(counts(&metrics), (0, 0));
    }

    #[tokio::test]
    async fn a_round_that_stops_waiting_leaves_no_trace() {
        let metrics = Arc::new(HubMetrics::default());
        let gate = RoundGate::new(1, metrics.clone());
        let running = gate.turn().await;
        // A subscriber that leaves while its first round waits.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), gate.turn()).await;
        assert!(gave_up.is_err());
        assert_eq!(counts(&metrics), (1, 0));
        drop(running);
        let next = tokio::time::timeout(Duration::from_secs(5), gate.turn()).await;
        assert!(next.is_ok(), "the turn the leaver waited for is free");
        assert_eq!(counts(&metrics), (1, 0));
    }
}
