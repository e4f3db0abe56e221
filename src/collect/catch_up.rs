//! Waiting for a sharded session's store to hold the whole window.
//!
//! The scrapers (Prometheus agents) remote-write their samples in batches: about a second
//! behind when idle, many seconds when the node is loaded. A collection right after its window
//! would then miss the window's last seconds of scraped data while pushed samples (written
//! synchronously) are all there. So before collecting, benchmon asks the store for every
//! target's newest `up` sample and waits, bounded, until each live scraper that has sent any
//! has reached the window's end with all its recently heard targets (a scraper spreads its
//! targets' scrapes over the interval and sends them on several queues, so its newest sample
//! alone says too little: a full-suite run collected 6 of 300 targets one scrape short). A scraper the poller knows silent (an open silence, see
//! `session::silence`) is not waited for: it would hold every collection for the whole limit.

use crate::prometheus::PromClient;
use crate::session::Session;
use std::time::Duration;

/// How long a collection waits for lagging scrapers before it reads what the store has.
pub(super) const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);

/// Scrapers (by shard index) still behind `end_ms` when the wait gave up; empty when the store
/// caught up (or there is nothing to wait for).
pub(super) async fn wait_for_scrapers(
    store: &PromClient,
    session: &Session,
    end_ms: i64,
    limit: Duration,
) -> Vec<u16> {
    let live: Vec<u16> = session
        .scraper_jobs
        .iter()
        .filter(|j| j.lost.is_none() && j.open_silence().is_none())
        .map(|j| j.index)
        .collect();
    if live.is_empty() {
        return Vec::new();
    }
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        // Targets not heard for as long as makes a scraper silent are not waited for.
        let recent = crate::session::silence_limit(&session.scrape_interval);
        let recent_ms = i64::try_from(recent.as_millis()).unwrap_or(i64::MAX);
        let newest = store
            .reached_by_scraper(&session.run_id, recent_ms, Duration::from_secs(30))
            .await;
        let behind: Vec<u16> = match newest {
            Ok(newest) => live
                .iter()
                .copied()
                // A scraper with no `up` at all has no targets (hashmod gave it none) or has
                // never sent: nothing to wait for, and coverage shows the latter.
                .filter(|i| newest.get(i).is_some_and(|&t| t < end_ms))
                .collect(),
            // A store that cannot say is not waited on: the collection reports what it reads.
            Err(e) => {
                tracing::warn!(session = %session.run_id, "cannot tell how far the scrapers are: {e}");
                return Vec::new();
            }
        };
        if behind.is_empty() || tokio::time::Instant::now() >= deadline {
            return behind;
        }
        tokio::time::sleep(POLL).await;
    }
}
