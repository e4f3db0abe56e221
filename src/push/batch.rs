//! A validated push grouped into series: timestamps checked against the session's life, the
//! session's labels added, samples in time order per series.

use super::{LabelPairs, PushError, Sample, MAX_FUTURE_SKEW_MS};
use std::collections::BTreeMap;

/// What of the session a batch depends on.
pub struct BatchContext<'a> {
    /// Labels every pushed series gets (`session`, `run_id`, the session's labels, `source`,
    /// `client_id`), names unique.
    pub labels: Vec<(&'a str, &'a str)>,
    /// The earliest timestamp taken: when the session's job was submitted.
    pub not_before_ms: i64,
    /// benchmon's clock when the request arrived; also the timestamp of untimed samples.
    pub now_ms: i64,
}

/// Series (sorted labels, `__name__` included) and their samples as `(timestamp_ms, value)`.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub series: BTreeMap<LabelPairs, Vec<(i64, f64)>>,
    pub samples: usize,
}

impl Batch {
    pub fn new(samples: Vec<Sample>, ctx: &BatchContext<'_>) -> Result<Batch, PushError> {
        let mut batch = Batch::default();
        let latest = ctx.now_ms + MAX_FUTURE_SKEW_MS;
        for s in samples {
            let ts = s.timestamp_ms.unwrap_or(ctx.now_ms);
            if ts > latest {
                return Err(PushError::new(
                    &s.origin,
                    format!("timestamp {ts} is {} ms in the future; at most {MAX_FUTURE_SKEW_MS} ms of clock skew is allowed", ts - ctx.now_ms),
                ));
            }
            // The same skew on this side: a compute node's clock may be behind benchmon's.
            if ts < ctx.not_before_ms - MAX_FUTURE_SKEW_MS {
                return Err(PushError::new(
                    &s.origin,
                    format!(
                        "timestamp {ts} is more than {MAX_FUTURE_SKEW_MS} ms before the session's job was started ({} ms)",
                        ctx.not_before_ms
                    ),
                ));
            }
            let mut labels = s.labels;
            labels.push(("__name__".to_owned(), s.name));
            labels.extend(
                ctx.labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            labels.sort();
            let points = batch.series.entry(labels).or_default();
            if points.iter().any(|(t, _)| *t == ts) {
                return Err(PushError::new(
                    &s.origin,
                    format!(
                        "a sample of the same series at timestamp {ts} is already in this request"
                    ),
                ));
            }
            points.push((ts, s.value));
            batch.samples += 1;
        }
        for points in batch.series.values_mut() {
            points.sort_by_key(|(t, _)| *t);
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ts: Option<i64>) -> Sample {
        Sample {
            name: "x".into(),
            labels: vec![("a".into(), "1".into())],
            value: 1.0,
            timestamp_ms: ts,
            origin: "line 3".into(),
        }
    }

    fn ctx() -> BatchContext<'static> {
        BatchContext {
            labels: vec![("session", "s1"), ("source", "push")],
            not_before_ms: 7_000,
            now_ms: 100_000,
        }
    }

    #[test]
    fn a_batch_groups_series_with_the_session_labels_in_time_order() {
        let b = Batch::new(
            vec![sample(Some(50_000)), sample(None), sample(Some(2_000))],
            &ctx(),
        )
        .unwrap();
        assert_eq!(b.samples, 3);
        let (labels, points) = b.series.into_iter().next().unwrap();
        let names: Vec<_> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["__name__", "a", "session", "source"]);
        assert_eq!(points, vec![(2_000, 1.0), (50_000, 1.0), (100_000, 1.0)]);
    }

    #[test]
    fn future_early_and_duplicate_timestamps_are_refused() {
        let err = |s: Vec<Sample>| Batch::new(s, &ctx()).unwrap_err().to_string();
        assert_eq!(err(vec![sample(Some(105_001))]), "line 3: timestamp 105001 is 5001 ms in the future; at most 5000 ms of clock skew is allowed");
        assert_eq!(
            err(vec![sample(Some(1_999))]),
            "line 3: timestamp 1999 is more than 5000 ms before the session's job was started (7000 ms)"
        );
        assert_eq!(
            err(vec![sample(Some(2_000)), sample(Some(2_000))]),
            "line 3: a sample of the same series at timestamp 2000 is already in this request"
        );
    }
}
