//! Waiting for a sharded session's store to hold the whole window.
//!
//! The scrapers (Prometheus agents) remote-write their samples in batches: about a second
//! behind when idle, many seconds when the node is loaded. A collection right after its window
//! would then miss the window's last seconds of scraped data while pushed samples (written
//! synchronously) are all there. So before collecting, benchmon asks the store for the newest
//! `up` sample of each live scraper and waits, bounded, until every one that has sent any has
//! reached the window's end.

use crate::prometheus::client::PromError;
use crate::prometheus::PromClient;
use crate::session::Session;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a collection waits for lagging scrapers before it reads what the store has.
pub(super) const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);

#[derive(serde::Deserialize)]
struct Vector {
    result: Vec<Sample>,
}

#[derive(serde::Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

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
        .filter(|j| j.lost.is_none())
        .map(|j| j.index)
        .collect();
    if live.is_empty() {
        return Vec::new();
    }
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let behind: Vec<u16> = match newest_up(store, session).await {
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

/// The newest `up` sample's time (ms) per scraper index, as the store has it now.
async fn newest_up(store: &PromClient, session: &Session) -> Result<BTreeMap<u16, i64>, PromError> {
    let selector = format!(
        "up{{session={}}}",
        crate::domain::yaml_quote(session.run_id.as_str())
    );
    let v: Vector = store
        .get_api(
            "/api/v1/query",
            &[("query", format!("max by (scraper) (timestamp({selector}))"))],
        )
        .await?;
    Ok(v.result
        .into_iter()
        .filter_map(|s| {
            let index = s.metric.get("scraper")?.parse().ok()?;
            let secs: f64 = s.value.1.parse().ok()?;
            Some((index, (secs * 1000.0).round() as i64))
        })
        .collect())
}
