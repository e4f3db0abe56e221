//! Classic histograms: quantiles from bucket increases, exactly as Prometheus's
//! `histogram_quantile` computes them.

use super::{Kpi, KpiKind, QUANTILES};

/// Parses a bucket's `le` (`0.5`, `+Inf`).
pub(crate) fn parse_le(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        s => s.parse().ok(),
    }
}

/// Quantile `q` of cumulative buckets `(upper bound, count)`, as Prometheus's
/// `histogram_quantile` (promql/quantile.go, `bucketQuantile`).
pub(crate) fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Coalesce equal bounds, then force the counts to be monotonic.
    b.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 += later.1;
        }
        same
    });
    let mut max = f64::NEG_INFINITY;
    for x in &mut b {
        max = max.max(x.1);
        x.1 = max;
    }
    let last = *b.last()?;
    if !last.0.is_infinite() || b.len() < 2 || last.1 <= 0.0 {
        return None;
    }
    let mut rank = q * last.1;
    let i = b[..b.len() - 1]
        .iter()
        .position(|x| x.1 >= rank)
        .unwrap_or(b.len() - 1);
    if i == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    if i == 0 && b[0].0 <= 0.0 {
        return Some(b[0].0);
    }
    let (mut start, end, mut count) = (0.0, b[i].0, b[i].1);
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    Some(start + (end - start) * (rank / count))
}

/// Histogram KPI from each bucket's `(le, increase)` and the bucket samples seen.
pub(crate) fn histogram_kpi(buckets: &[(f64, f64)], samples: u64, method: String) -> Kpi {
    let mut k = Kpi::empty(KpiKind::Histogram, method);
    k.samples = samples;
    k.observations = buckets.iter().find(|b| b.0.is_infinite()).map(|b| b.1);
    k.set_quantiles(QUANTILES.map(|q| bucket_quantile(q, buckets)));
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::kpi::HISTOGRAM_METHOD;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn histogram_quantiles_follow_prometheus() {
        let inf = f64::INFINITY;
        let b = [
            (0.1, 10.0),
            (0.5, 60.0),
            (1.0, 90.0),
            (2.5, 100.0),
            (inf, 100.0),
        ];
        assert!(close(bucket_quantile(0.5, &b), 0.42));
        assert!(close(bucket_quantile(0.95, &b), 1.75));
        assert!(close(bucket_quantile(0.99, &b), 2.35));
        // A rank in the +Inf bucket gives the highest finite bound.
        assert!(close(
            bucket_quantile(0.99, &[(1.0, 50.0), (inf, 100.0)]),
            1.0
        ));
        assert_eq!(bucket_quantile(0.5, &[(1.0, 0.0), (inf, 0.0)]), None);
        assert_eq!(bucket_quantile(0.5, &[(1.0, 5.0)]), None);
        let k = histogram_kpi(&b, 5, HISTOGRAM_METHOD.into());
        assert_eq!(k.observations, Some(100.0));
    }
}
