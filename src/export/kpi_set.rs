//! The KPIs of one query over one time range, built series by series: each series' own KPI,
//! and the aggregates over all of them (one per kind present). Used by the merge (the whole
//! collection window) and by [`super::windowed`] (each named window), so both compute the same
//! way.
//!
//! Gauge values are appended to a spill file as each series is finished, and the pooled
//! percentiles are selected from it at the end: memory is one series, not the query.

use super::kpi::{
    gauge_kpi, histogram_kpi, percentiles_from_file, sum_counters, CounterAcc, GaugeStats,
    Integral, Kpi, BUCKETS_NOTE, GAUGE_METHOD, HISTOGRAM_METHOD, POOLED_NOTE,
};
use super::matrix::Labels;
use super::merge::SeriesOut;
use super::series::series_key;
use super::CollectError;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// KPIs of one query being built.
pub(crate) struct KpiSet {
    query: String,
    spill_path: PathBuf,
    spill: BufWriter<File>,
    pooled: GaugeStats,
    /// Sum of the gauge series' integrals, if any had one.
    integral: Option<f64>,
    counters: Vec<Kpi>,
    buckets: BTreeMap<Labels, Vec<(f64, CounterAcc)>>,
    series: Vec<SeriesOut>,
}

impl KpiSet {
    /// `spill` is a scratch file, removed by [`KpiSet::finish`].
    pub(crate) fn new(query: &str, spill: &Path) -> Result<Self, CollectError> {
        let f = File::create(spill).map_err(|e| CollectError::io(spill, e))?;
        Ok(KpiSet {
            query: query.to_owned(),
            spill_path: spill.to_owned(),
            spill: BufWriter::new(f),
            pooled: GaugeStats::default(),
            integral: None,
            counters: Vec::new(),
            buckets: BTreeMap::new(),
            series: Vec::new(),
        })
    }

    /// A gauge series: its finite `values` (reordered), how many were NaN or ±Inf, and its
    /// integral over time.
    pub(crate) fn gauge(
        &mut self,
        key: &str,
        labels: &Labels,
        values: &mut [f64],
        nonfinite: u64,
        integral: &Integral,
    ) -> Result<(), CollectError> {
        if let Some(i) = integral.value() {
            self.integral = Some(self.integral.unwrap_or(0.0) + i);
        }
        for &v in values.iter() {
            self.spill
                .write_all(&v.to_le_bytes())
                .map_err(|e| CollectError::io(&self.spill_path, e))?;
            self.pooled.push(v);
        }
        self.pooled.nonfinite += nonfinite;
        self.series.push(SeriesOut {
            key: key.to_owned(),
            labels: labels.clone(),
            kpi: Some(gauge_kpi(values, nonfinite, integral)),
        });
        Ok(())
    }

    /// A counter series.
    pub(crate) fn counter(&mut self, key: &str, labels: &Labels, acc: &CounterAcc) {
        let k = acc.kpi();
        self.counters.push(k.clone());
        self.series.push(SeriesOut {
            key: key.to_owned(),
            labels: labels.clone(),
            kpi: Some(k),
        });
    }

    /// One bucket (`le`) of the histogram whose other labels are `group`.
    pub(crate) fn bucket(&mut self, group: Labels, le: f64, acc: CounterAcc) {
        self.buckets.entry(group).or_default().push((le, acc));
    }

    /// The series' KPIs (histograms per bucket group, after the other series) and the
    /// aggregates: pooled gauges, summed counters, bucket increases summed by `le`.
    pub(crate) fn finish(mut self) -> Result<(Vec<SeriesOut>, Vec<Kpi>), CollectError> {
        let path = self.spill_path.clone();
        let result = self.finish_inner();
        let _ = std::fs::remove_file(&path);
        result
    }

    fn finish_inner(&mut self) -> Result<(Vec<SeriesOut>, Vec<Kpi>), CollectError> {
        let spill = &self.spill_path;
        self.spill.flush().map_err(|e| CollectError::io(spill, e))?;
        let mut aggregate = Vec::new();
        let pooled = self.pooled;
        if pooled.n > 0 || pooled.nonfinite > 0 {
            let q =
                percentiles_from_file(spill, pooled.n).map_err(|e| CollectError::io(spill, e))?;
            let mut k = pooled.kpi(q, format!("{GAUGE_METHOD}{POOLED_NOTE}"));
            k.integral = self.integral;
            aggregate.push(k);
        }
        if !self.counters.is_empty() {
            aggregate.push(sum_counters(self.counters.iter()));
        }
        let mut series = std::mem::take(&mut self.series);
        if !self.buckets.is_empty() {
            let mut total: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
            let mut samples_all = 0;
            for (group, bs) in &self.buckets {
                let counts: Vec<(f64, f64)> = bs.iter().map(|(le, a)| (*le, a.increase)).collect();
                let samples: u64 = bs.iter().map(|(_, a)| a.n).sum();
                samples_all += samples;
                for &(le, c) in &counts {
                    total.entry(le.to_bits()).or_insert((le, 0.0)).1 += c;
                }
                series.push(SeriesOut {
                    key: series_key(&self.query, group),
                    labels: group.clone(),
                    kpi: Some(histogram_kpi(&counts, samples, HISTOGRAM_METHOD.to_owned())),
                });
            }
            let counts: Vec<(f64, f64)> = total.into_values().collect();
            aggregate.push(histogram_kpi(
                &counts,
                samples_all,
                format!("{HISTOGRAM_METHOD}{BUCKETS_NOTE}"),
            ));
        }
        Ok((series, aggregate))
    }
}

/// The labels of a histogram's bucket group: all but `le` and `__name__`.
pub(crate) fn bucket_group(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| k != "le" && k != "__name__")
        .cloned()
        .collect()
}
