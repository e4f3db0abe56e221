//! KPI math, exact and type-aware. Every [`Kpi`] carries the text of its method.
//!
//! - Gauges: min, max, mean (compensated sum) and p50/p95/p99 of the finite samples, the
//!   percentiles by linear interpolation between the closest ranks (numpy's default `linear`).
//!   NaN and ±Inf samples are counted in `nonfinite` and left out.
//! - Counters: the increase is the sum of the differences between consecutive samples, where a
//!   drop means the counter restarted from 0, so the new value itself is added; the rate is the
//!   increase over the seconds between the series' first and last sample (no extrapolation).
//! - Histograms (classic `_bucket` series): each bucket's increase by the counter rules, then the
//!   quantiles exactly as Prometheus's `histogram_quantile` computes them from those counts.
//!
//! Aggregates over a query: gauge statistics over all samples of all series pooled (the
//! percentiles selected exactly from a spill file, see [`super::select`]); counter
//! increases and rates summed; histogram bucket increases summed by `le`.

mod histogram;
mod integral;

pub(crate) use super::select::{percentiles_from_file, percentiles_in_place};
pub(crate) use histogram::{histogram_kpi, parse_le};
pub(crate) use integral::Integral;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) const GAUGE_METHOD: &str = "gauge: min, max, mean of the finite samples; p50/p95/p99 by linear interpolation between closest ranks (numpy 'linear': h=(n-1)p, x[floor h] + (h-floor h)(x[floor h+1]-x[floor h])); integral = trapezoid rule over consecutive samples (value x seconds); NaN/Inf samples counted in nonfinite, not used";
pub(crate) const COUNTER_METHOD: &str = "counter: increase = sum of consecutive differences, a drop is a restart from 0 so the new value is added (resets counts them); rate = increase / seconds between first and last sample, no extrapolation";
pub(crate) const HISTOGRAM_METHOD: &str = "histogram: increase of every bucket over the window (counter rules), then p50/p95/p99 as Prometheus's histogram_quantile: linear interpolation inside the bucket holding rank q*observations, first bucket starting at 0, a rank in the +Inf bucket gives the highest finite bound";
pub(crate) const POOLED_NOTE: &str = " [aggregate: all samples of all series pooled]";
pub(crate) const SUMMED_NOTE: &str = " [aggregate: increases and rates summed over series]";
pub(crate) const BUCKETS_NOTE: &str = " [aggregate: bucket increases summed by le over series]";

/// The three percentiles every KPI reports.
pub(crate) const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KpiKind {
    Gauge,
    Counter,
    Histogram,
}

impl KpiKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KpiKind::Gauge => "gauge",
            KpiKind::Counter => "counter",
            KpiKind::Histogram => "histogram",
        }
    }
}

/// Summary statistics of one series (or histogram) or of a whole query. Fields that do not
/// apply to the kind are absent; statistics of no samples are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Kpi {
    pub kind: KpiKind,
    /// Samples used (for histograms: bucket samples).
    pub samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nonfinite: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increase: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets: Option<u64>,
    /// Gauges: ∫ value dt over the samples by the trapezoid rule, in the unit × seconds (a
    /// power in W gives an energy in J); summed over series in the aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integral: Option<f64>,
    /// Histograms: observations in the window (increase of the `+Inf` bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations: Option<f64>,
    pub method: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Kpi {
    fn empty(kind: KpiKind, method: String) -> Self {
        Kpi {
            kind,
            samples: 0,
            nonfinite: 0,
            min: None,
            max: None,
            mean: None,
            p50: None,
            p95: None,
            p99: None,
            increase: None,
            rate_per_second: None,
            resets: None,
            integral: None,
            observations: None,
            method,
        }
    }

    fn set_quantiles(&mut self, q: [Option<f64>; 3]) {
        [self.p50, self.p95, self.p99] = q;
    }
}

/// Neumaier-compensated sum, so a mean over millions of samples stays exact to the last digits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sum {
    sum: f64,
    comp: f64,
}

impl Sum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Running min/max/sum/count of finite gauge samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GaugeStats {
    pub(crate) n: u64,
    pub(crate) nonfinite: u64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) sum: Sum,
}

impl Default for GaugeStats {
    fn default() -> Self {
        GaugeStats {
            n: 0,
            nonfinite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: Sum::default(),
        }
    }
}

impl GaugeStats {
    pub(crate) fn push(&mut self, x: f64) {
        if x.is_finite() {
            self.n += 1;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            self.sum.add(x);
        } else {
            self.nonfinite += 1;
        }
    }

    /// The KPI, with percentiles supplied by the caller (from memory or a spill file).
    pub(crate) fn kpi(&self, quantiles: [Option<f64>; 3], method: String) -> Kpi {
        let mut k = Kpi::empty(KpiKind::Gauge, method);
        k.samples = self.n;
        k.nonfinite = self.nonfinite;
        if self.n > 0 {
            k.min = Some(self.min);
            k.max = Some(self.max);
            k.mean = Some(self.sum.value() / self.n as f64);
        }
        k.set_quantiles(quantiles);
        k
    }
}

/// The rank positions `(floor h, floor h + 1, frac)` of quantile `q` among `n` sorted values.
pub(crate) fn ranks(n: u64, q: f64) -> (u64, u64, f64) {
    let h = (n - 1) as f64 * q;
    let lo = (h.floor() as u64).min(n - 1);
    ((lo), (lo + 1).min(n - 1), h - lo as f64)
}

/// Percentile `q` of sorted finite values, numpy `linear`: the reference the selections are
/// tested against.
#[cfg(test)]
pub(crate) fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let (lo, hi, frac) = ranks(sorted.len() as u64, q);
    let (a, b) = (sorted[lo as usize], sorted[hi as usize]);
    Some(a + frac * (b - a))
}

/// Gauge KPI of one series' finite values (reordered in place), its non-finite count and its
/// integral over time.
pub(crate) fn gauge_kpi(values: &mut [f64], nonfinite: u64, integral: &Integral) -> Kpi {
    let mut st = GaugeStats::default();
    for &v in values.iter() {
        st.push(v);
    }
    st.nonfinite = nonfinite;
    let mut k = st.kpi(percentiles_in_place(values), GAUGE_METHOD.to_owned());
    k.integral = integral.value();
    k
}

/// Counter state over consecutive samples; two accumulators of adjacent time ranges combine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CounterAcc {
    /// First and last finite sample `(ms, value)`.
    pub(crate) first: Option<(i64, f64)>,
    pub(crate) last: Option<(i64, f64)>,
    pub(crate) increase: f64,
    pub(crate) resets: u64,
    pub(crate) n: u64,
    pub(crate) nonfinite: u64,
}

fn step_increase(prev: f64, next: f64) -> (f64, bool) {
    if next >= prev {
        (next - prev, false)
    } else {
        (next, true)
    }
}

impl CounterAcc {
    pub(crate) fn push(&mut self, ms: i64, v: f64) {
        if !v.is_finite() {
            self.nonfinite += 1;
            return;
        }
        if let Some((_, prev)) = self.last {
            let (inc, reset) = step_increase(prev, v);
            self.increase += inc;
            self.resets += u64::from(reset);
        } else {
            self.first = Some((ms, v));
        }
        self.last = Some((ms, v));
        self.n += 1;
    }

    /// Appends the accumulator of the time range right after this one.
    pub(crate) fn append(&mut self, later: &CounterAcc) {
        match (self.last, later.first) {
            (Some((_, a)), Some((_, b))) => {
                let (inc, reset) = step_increase(a, b);
                self.increase += inc + later.increase;
                self.resets += u64::from(reset) + later.resets;
            }
            (None, _) => {
                self.first = later.first;
                self.increase += later.increase;
                self.resets += later.resets;
            }
            (Some(_), None) => {}
        }
        if later.last.is_some() {
            self.last = later.last;
        }
        self.n += later.n;
        self.nonfinite += later.nonfinite;
    }

    pub(crate) fn span_seconds(&self) -> Option<f64> {
        match (self.first, self.last) {
            (Some((a, _)), Some((b, _))) if b > a => Some((b - a) as f64 / 1000.0),
            _ => None,
        }
    }

    pub(crate) fn kpi(&self) -> Kpi {
        let mut k = Kpi::empty(KpiKind::Counter, COUNTER_METHOD.to_owned());
        k.samples = self.n;
        k.nonfinite = self.nonfinite;
        if self.n > 0 {
            k.increase = Some(self.increase);
            k.resets = Some(self.resets);
            k.rate_per_second = self.span_seconds().map(|s| self.increase / s);
        }
        k
    }
}

/// Sum of counter KPIs: increases and rates added.
pub(crate) fn sum_counters<'a>(kpis: impl Iterator<Item = &'a Kpi>) -> Kpi {
    let mut k = Kpi::empty(KpiKind::Counter, format!("{COUNTER_METHOD}{SUMMED_NOTE}"));
    let (mut inc, mut rate, mut resets, mut any, mut any_rate) = (0.0, 0.0, 0, false, false);
    for s in kpis {
        k.samples += s.samples;
        k.nonfinite += s.nonfinite;
        if let Some(i) = s.increase {
            inc += i;
            any = true;
        }
        if let Some(r) = s.rate_per_second {
            rate += r;
            any_rate = true;
        }
        resets += s.resets.unwrap_or(0);
    }
    if any {
        k.increase = Some(inc);
        k.resets = Some(resets);
    }
    k.rate_per_second = any_rate.then_some(rate);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn gauge_1_to_100_has_numpy_linear_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let k = gauge_kpi(&mut v, 2, &Integral::default());
        assert_eq!(
            (k.min, k.max, k.mean, k.samples, k.nonfinite),
            (Some(1.0), Some(100.0), Some(50.5), 100, 2)
        );
        assert!(
            close(k.p50, 50.5) && close(k.p95, 95.05) && close(k.p99, 99.01),
            "{k:?}"
        );
        assert!(close(percentile_sorted(&[7.0], 0.99), 7.0));
    }

    #[test]
    fn counter_increase_adds_the_value_after_a_reset() {
        let mut a = CounterAcc::default();
        for (i, v) in [0.0, 10.0, 20.0, 30.0, 40.0, 5.0, 15.0, 25.0]
            .into_iter()
            .enumerate()
        {
            a.push(i as i64 * 15_000, v);
        }
        let k = a.kpi();
        assert_eq!((k.increase, k.resets), (Some(65.0), Some(1)));
        assert!(close(k.rate_per_second, 65.0 / 105.0));
        // Split in two adjacent ranges, with the reset at the boundary: same result.
        let (mut x, mut y) = (CounterAcc::default(), CounterAcc::default());
        for (i, v) in [0.0, 10.0, 20.0, 30.0, 40.0].into_iter().enumerate() {
            x.push(i as i64, v);
        }
        for (i, v) in [5.0, 15.0, 25.0].into_iter().enumerate() {
            y.push(5 + i as i64, v);
        }
        x.append(&y);
        assert_eq!((x.increase, x.resets, x.n), (65.0, 1, 8));
    }
}
