//! Appends the parts of one query, in chunk order, to the bundle's sample files and finishes
//! its KPIs and chart.
//!
//! Series are written in label order (as Prometheus sorts them), each with all its chunks'
//! samples in time order, so a chunked collection writes exactly the bytes one big query would.
//! Gauge values are read back one series at a time for its percentiles, then appended to a
//! query-wide spill file from which the pooled percentiles are selected.

use super::bundle::HashedFile;
use super::chart::{chart_lines, merge_bins, Bin, ChartAcc, ChartData, MAX_LINES};
use super::kpi::{
    gauge_kpi, histogram_kpi, parse_le, percentiles_from_file, sum_counters, CounterAcc,
    GaugeStats, Kpi, KpiKind, BUCKETS_NOTE, GAUGE_METHOD, HISTOGRAM_METHOD, POOLED_NOTE,
};
use super::matrix::Labels;
use super::part::{remove_part, ChunkPart, PartSeries};
use super::series::{label, label_string, series_key};
use super::CollectError;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The sample files one merge appends to (`samples.*` or `raw.*`).
pub struct SampleFiles {
    pub csv: HashedFile,
    pub json: HashedFile,
    /// Whether a series object has been written to the JSON array yet.
    pub json_started: bool,
}

impl SampleFiles {
    pub fn create(dir: &Path, stem: &str) -> Result<Self, CollectError> {
        let mut csv = HashedFile::create(dir, &format!("{stem}.csv"))?;
        csv.write(b"timestamp,query,series,value\n")?;
        let mut json = HashedFile::create(dir, &format!("{stem}.json"))?;
        json.write(b"{\"format\":\"benchmon.samples/v1\",\"series\":[\n")?;
        Ok(SampleFiles {
            csv,
            json,
            json_started: false,
        })
    }

    pub fn finish(mut self) -> Result<[super::Artifact; 2], CollectError> {
        self.json.write(b"\n]}\n")?;
        Ok([self.csv.finish()?, self.json.finish()?])
    }
}

/// One series (or, for histograms, one bucket group) of a merged query.
#[derive(Debug, Clone)]
pub struct SeriesOut {
    pub key: String,
    pub labels: Labels,
    pub kpi: Option<Kpi>,
}

/// A merged query.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Every series, for `series.csv` (histogram buckets individually).
    pub series: Vec<(String, Labels)>,
    /// KPIs per series (gauges, counters) and per bucket group (histograms).
    pub kpis: Vec<SeriesOut>,
    pub aggregate: Vec<Kpi>,
    pub samples: u64,
    pub chart: Option<ChartData>,
    pub warnings: Vec<String>,
}

/// Copies `len` bytes at `off` of `src` into `dst`.
fn copy_range(
    src: &File,
    path: &Path,
    off: u64,
    len: u64,
    dst: &mut HashedFile,
    buf: &mut [u8],
) -> Result<(), CollectError> {
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], off + done)
            .map_err(|e| CollectError::io(path, e))?;
        dst.write(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

struct Opened {
    files: [File; 3],
    paths: [PathBuf; 3],
}

/// Merges `parts` (all chunks of one query, in chunk order) into `out`.
pub fn merge_query(
    query: &str,
    parts: Vec<ChunkPart>,
    out: &mut SampleFiles,
    spill: &Path,
) -> Result<Merged, CollectError> {
    let mut opened = Vec::with_capacity(parts.len());
    for p in &parts {
        let mut files = Vec::with_capacity(3);
        for path in &p.paths {
            files.push(File::open(path).map_err(|e| CollectError::io(path, e))?);
        }
        let files: [File; 3] = files
            .try_into()
            .map_err(|_| CollectError::Task("part files".into()))?;
        opened.push(Opened {
            files,
            paths: p.paths.clone(),
        });
    }
    // Every series with its pieces, in label order.
    let mut index: HashMap<&Labels, usize> = HashMap::new();
    let mut order: Vec<Vec<(usize, &PartSeries)>> = Vec::new();
    for (pi, p) in parts.iter().enumerate() {
        for s in &p.series {
            let slot = *index.entry(&s.labels).or_insert_with(|| {
                order.push(Vec::new());
                order.len() - 1
            });
            order[slot].push((pi, s));
        }
    }
    order.sort_by(|a, b| a[0].1.labels.cmp(&b[0].1.labels));

    let mut m = Merged {
        samples: parts.iter().map(|p| p.samples).sum(),
        ..Merged::default()
    };
    for p in &parts {
        m.warnings.extend(p.meta.warnings.iter().cloned());
        if p.meta.native_histogram_series > 0 {
            m.warnings.push(format!(
                "{} native histogram series skipped (not supported)",
                p.meta.native_histogram_series
            ));
        }
    }
    m.warnings.sort();
    m.warnings.dedup();

    let mut buf = vec![0u8; 1 << 20];
    let mut spill_file =
        std::io::BufWriter::new(File::create(spill).map_err(|e| CollectError::io(spill, e))?);
    let mut pooled = GaugeStats::default();
    let mut gauge_values: Vec<f64> = Vec::new();
    let mut buckets: BTreeMap<Labels, Vec<(f64, CounterAcc)>> = BTreeMap::new();
    let mut counters = Vec::new();
    let mut lines: Vec<(String, Vec<Bin>)> = Vec::new();

    for pieces in &order {
        let first = pieces[0].1;
        m.series.push((first.key.clone(), first.labels.clone()));
        // samples.csv: the rows of every piece, coalescing adjacent ranges.
        let mut run: Option<(usize, u64, u64)> = None;
        for &(pi, s) in pieces {
            match run {
                Some((rp, off, len)) if rp == pi && off + len == s.csv.0 => {
                    run = Some((rp, off, len + s.csv.1))
                }
                _ => {
                    if let Some((rp, off, len)) = run {
                        copy_range(
                            &opened[rp].files[0],
                            &opened[rp].paths[0],
                            off,
                            len,
                            &mut out.csv,
                            &mut buf,
                        )?;
                    }
                    run = Some((pi, s.csv.0, s.csv.1));
                }
            }
        }
        if let Some((rp, off, len)) = run {
            copy_range(
                &opened[rp].files[0],
                &opened[rp].paths[0],
                off,
                len,
                &mut out.csv,
                &mut buf,
            )?;
        }
        // samples.json: one object per series.
        let labels_json: BTreeMap<&str, &str> = first
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let head = serde_json::json!({"query": query, "series": first.key, "labels": labels_json});
        let head = serde_json::to_string(&head).map_err(|e| CollectError::Task(e.to_string()))?;
        out.json
            .write(if out.json_started { b",\n" } else { b"" })?;
        out.json_started = true;
        out.json.write(&head.as_bytes()[..head.len() - 1])?;
        out.json.write(b",\"values\":[")?;
        let mut wrote = false;
        for &(pi, s) in pieces {
            if s.json.1 == 0 {
                continue;
            }
            if wrote {
                out.json.write(b",")?;
            }
            copy_range(
                &opened[pi].files[1],
                &opened[pi].paths[1],
                s.json.0,
                s.json.1,
                &mut out.json,
                &mut buf,
            )?;
            wrote = true;
        }
        out.json.write(b"]}")?;

        // KPIs.
        match first.kind {
            None => {}
            Some(KpiKind::Gauge) => {
                gauge_values.clear();
                let mut nonfinite = 0;
                for &(pi, s) in pieces {
                    nonfinite += s.nonfinite;
                    read_f64s(
                        &opened[pi].files[2],
                        &opened[pi].paths[2],
                        s.vals,
                        &mut gauge_values,
                        &mut buf,
                    )?;
                }
                for &v in &gauge_values {
                    spill_file
                        .write_all(&v.to_le_bytes())
                        .map_err(|e| CollectError::io(spill, e))?;
                    pooled.push(v);
                }
                pooled.nonfinite += nonfinite;
                let k = gauge_kpi(&mut gauge_values, nonfinite);
                m.kpis.push(SeriesOut {
                    key: first.key.clone(),
                    labels: first.labels.clone(),
                    kpi: Some(k),
                });
            }
            Some(kind) => {
                let mut acc = CounterAcc::default();
                for &(_, s) in pieces {
                    acc.append(&s.counter);
                }
                let le = label(&first.labels, "le").and_then(parse_le);
                if let (KpiKind::Histogram, Some(le)) = (kind, le) {
                    let group: Labels = first
                        .labels
                        .iter()
                        .filter(|(k, _)| k != "le" && k != "__name__")
                        .cloned()
                        .collect();
                    buckets.entry(group).or_default().push((le, acc));
                } else {
                    let k = acc.kpi();
                    counters.push(k.clone());
                    m.kpis.push(SeriesOut {
                        key: first.key.clone(),
                        labels: first.labels.clone(),
                        kpi: Some(k),
                    });
                }
            }
        }
        if first.kind.is_some() && order.len() <= MAX_LINES {
            let mut bins = Vec::new();
            for &(_, s) in pieces {
                merge_bins(&mut bins, &s.bins);
            }
            lines.push((label_string(&first.labels), bins));
        }
    }
    spill_file.flush().map_err(|e| CollectError::io(spill, e))?;
    drop(spill_file);

    // Aggregates, one per kind present.
    if pooled.n > 0 || pooled.nonfinite > 0 {
        let q = percentiles_from_file(spill, pooled.n).map_err(|e| CollectError::io(spill, e))?;
        m.aggregate
            .push(pooled.kpi(q, format!("{GAUGE_METHOD}{POOLED_NOTE}")));
    }
    if !counters.is_empty() {
        m.aggregate.push(sum_counters(counters.iter()));
    }
    if !buckets.is_empty() {
        let mut total: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        let mut samples_all = 0;
        for (group, bs) in &buckets {
            let counts: Vec<(f64, f64)> = bs.iter().map(|(le, a)| (*le, a.increase)).collect();
            let samples: u64 = bs.iter().map(|(_, a)| a.n).sum();
            samples_all += samples;
            for &(le, c) in &counts {
                total.entry(le.to_bits()).or_insert((le, 0.0)).1 += c;
            }
            m.kpis.push(SeriesOut {
                key: series_key(query, group),
                labels: group.clone(),
                kpi: Some(histogram_kpi(&counts, samples, HISTOGRAM_METHOD.to_owned())),
            });
        }
        let counts: Vec<(f64, f64)> = total.into_values().collect();
        m.aggregate.push(histogram_kpi(
            &counts,
            samples_all,
            format!("{HISTOGRAM_METHOD}{BUCKETS_NOTE}"),
        ));
    }
    let _ = std::fs::remove_file(spill);

    // Chart.
    let mut acc: Option<ChartAcc> = None;
    for p in &parts {
        if let Some(c) = &p.chart {
            match acc.as_mut() {
                Some(a) => a.merge(c),
                None => acc = Some(c.clone()),
            }
        }
    }
    if let Some(acc) = acc.filter(|_| !order.is_empty()) {
        let per_series = (order.len() <= MAX_LINES).then_some(lines);
        let (lines, banded) = chart_lines(&acc, per_series);
        m.chart = Some(ChartData {
            query: query.to_owned(),
            lines,
            banded,
            series: order.len() as u64,
        });
    }
    drop(opened);
    for p in &parts {
        remove_part(&p.paths);
    }
    Ok(m)
}

/// Appends the `(offset, count)` f64s of a part's values file to `out`.
fn read_f64s(
    f: &File,
    path: &Path,
    (off, n): (u64, u64),
    out: &mut Vec<f64>,
    buf: &mut [u8],
) -> Result<(), CollectError> {
    let mut done = 0;
    while done < n {
        let k = (n - done).min((buf.len() / 8) as u64) as usize;
        f.read_exact_at(&mut buf[..k * 8], (off + done) * 8)
            .map_err(|e| CollectError::io(path, e))?;
        out.extend(buf[..k * 8].chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        }));
        done += k as u64;
    }
    Ok(())
}
