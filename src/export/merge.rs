//! Appends the parts of one query, in chunk order, to the bundle's sample files and finishes
//! its KPIs and chart.
//!
//! Series are written in label order (as Prometheus sorts them), each with all its chunks'
//! samples in time order, so a chunked collection writes exactly the bytes one big query would.
//! Gauge values are read back one series at a time for its percentiles, then appended to a
//! query-wide spill file from which the pooled percentiles are selected.

use super::bundle::HashedFile;
use super::chart::{
    chart_lines, merge_bins, outliers, split_common, Bin, ChartAcc, ChartData, MAX_LINES,
};
use super::kpi::{parse_le, CounterAcc, Integral, Kpi, KpiKind};
use super::kpi_set::{bucket_group, KpiSet};
use super::matrix::Labels;
use super::part::{remove_part, ChunkPart, PartSeries};
use super::series::{label, label_string};
use super::CollectError;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The sample files one merge appends to (`samples.*` or `raw.*`).
pub(crate) struct SampleFiles {
    pub(crate) csv: HashedFile,
    /// Only when the formats ask for JSON: it repeats the CSV's samples at ≈ 47 more bytes
    /// each, and writing and hashing it was a third of a query export's CPU.
    pub(crate) json: Option<HashedFile>,
    /// Whether a series object has been written to the JSON array yet.
    pub(crate) json_started: bool,
}

impl SampleFiles {
    pub(crate) fn create(dir: &Path, stem: &str, json: bool) -> Result<Self, CollectError> {
        let mut csv = HashedFile::create(dir, &format!("{stem}.csv"))?;
        csv.write(b"timestamp_ms,query,series,value\n")?;
        let json = match json {
            true => {
                let mut f = HashedFile::create(dir, &format!("{stem}.json"))?;
                f.write(b"{\"format\":\"benchmon.samples/v2\",\"series\":[\n")?;
                Some(f)
            }
            false => None,
        };
        Ok(SampleFiles {
            csv,
            json,
            json_started: false,
        })
    }

    pub(crate) fn finish(self) -> Result<Vec<super::Artifact>, CollectError> {
        let mut arts = vec![self.csv.finish()?];
        if let Some(mut json) = self.json {
            json.write(b"\n]}\n")?;
            arts.push(json.finish()?);
        }
        Ok(arts)
    }
}

/// One series (or, for histograms, one bucket group) of a merged query.
#[derive(Debug, Clone)]
pub(crate) struct SeriesOut {
    pub(crate) key: String,
    pub(crate) labels: Labels,
    pub(crate) kpi: Option<Kpi>,
}

/// A merged query.
#[derive(Debug, Clone, Default)]
pub(crate) struct Merged {
    /// Every series, for `series.csv` (histogram buckets individually).
    pub(crate) series: Vec<(String, Labels)>,
    /// KPIs per series (gauges, counters) and per bucket group (histograms).
    pub(crate) kpis: Vec<SeriesOut>,
    pub(crate) aggregate: Vec<Kpi>,
    pub(crate) samples: u64,
    pub(crate) chart: Option<ChartData>,
    pub(crate) warnings: Vec<String>,
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

/// A series' pieces `(part index, series in that part)`, in chunk order.
type Pieces<'a> = Vec<(usize, &'a PartSeries)>;

fn open_parts(parts: &[ChunkPart]) -> Result<Vec<Opened>, CollectError> {
    let mut opened = Vec::with_capacity(parts.len());
    for p in parts {
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
    Ok(opened)
}

/// Every series with its pieces, in label order.
fn series_order(parts: &[ChunkPart]) -> Vec<Pieces<'_>> {
    let mut index: HashMap<&Labels, usize> = HashMap::new();
    let mut order: Vec<Pieces<'_>> = Vec::new();
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
    order
}

fn join<T>(r: std::thread::Result<Result<T, CollectError>>) -> Result<T, CollectError> {
    r.map_err(|_| CollectError::Task("merge thread panicked".into()))?
}

/// Merges `parts` (all chunks of one query, in chunk order) into `out`. The CSV and the JSON
/// are copied (and hashed) on two threads while this one computes the KPIs.
pub(crate) fn merge_query(
    query: &str,
    parts: Vec<ChunkPart>,
    out: &mut SampleFiles,
    spill: &Path,
) -> Result<Merged, CollectError> {
    let opened = open_parts(&parts)?;
    let order = series_order(&parts);
    let mut warnings: Vec<String> = parts.iter().flat_map(|p| p.meta.warnings.clone()).collect();
    let native: u64 = parts.iter().map(|p| p.meta.native_histogram_series).sum();
    if native > 0 {
        warnings.push(format!(
            "{native} native histogram series skipped (not supported)"
        ));
    }
    warnings.sort();
    warnings.dedup();
    let SampleFiles {
        csv,
        json,
        json_started,
    } = out;
    let (c, j, k) = std::thread::scope(|sc| {
        let c = sc.spawn(|| copy_csv(&order, &opened, csv));
        let j = sc.spawn(|| match json {
            Some(json) => copy_json(query, &order, &opened, json, json_started),
            None => Ok(()),
        });
        let k = kpis(query, &order, &opened, spill);
        (c.join(), j.join(), k)
    });
    let _ = std::fs::remove_file(spill);
    join(c)?;
    join(j)?;
    let k = k?;
    let mut m = Merged {
        series: order
            .iter()
            .map(|p| (p[0].1.key.clone(), p[0].1.labels.clone()))
            .collect(),
        kpis: k.kpis,
        aggregate: k.aggregate,
        samples: parts.iter().map(|p| p.samples).sum(),
        chart: None,
        warnings,
    };
    // Chart: not for histogram buckets (their `_p95` companion query is charted instead).
    let histogram = order
        .iter()
        .any(|p| p[0].1.kind == Some(KpiKind::Histogram));
    let mut acc: Option<ChartAcc> = None;
    for c in parts.iter().filter_map(|p| p.chart.as_ref()) {
        match acc.as_mut() {
            Some(a) => a.merge(c),
            None => acc = Some(c.clone()),
        }
    }
    if let Some(acc) = acc.filter(|_| !order.is_empty() && !histogram) {
        let sets: Vec<&Labels> = order.iter().map(|p| &p[0].1.labels).collect();
        let (common, own) = split_common(&sets);
        let banded = order.len() > MAX_LINES;
        let per_series = (!banded).then(|| {
            k.lines
                .into_iter()
                .map(|(i, bins)| (own[i].clone(), bins))
                .collect()
        });
        let means = banded.then(|| {
            let by_key: HashMap<&str, usize> = order
                .iter()
                .enumerate()
                .map(|(i, p)| (p[0].1.key.as_str(), i))
                .collect();
            m.kpis
                .iter()
                .filter_map(|s| {
                    let k = s.kpi.as_ref()?;
                    let mean = k.mean.or(k.rate_per_second)?;
                    Some((own[*by_key.get(s.key.as_str())?].clone(), mean))
                })
                .collect()
        });
        let (lines, banded) = chart_lines(&acc, per_series);
        m.chart = Some(ChartData {
            query: query.to_owned(),
            lines,
            banded,
            series: order.len() as u64,
            common: label_string(&common),
            outliers: means.map(outliers).unwrap_or_default(),
        });
    }
    drop(opened);
    for p in &parts {
        remove_part(&p.paths);
    }
    Ok(m)
}

/// samples.csv: the rows of every piece, adjacent ranges coalesced into one copy.
fn copy_csv(
    order: &[Pieces<'_>],
    opened: &[Opened],
    out: &mut HashedFile,
) -> Result<(), CollectError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut run: Option<(usize, u64, u64)> = None;
    for &(pi, s) in order.iter().flatten() {
        match run {
            Some((rp, off, len)) if rp == pi && off + len == s.csv.0 => {
                run = Some((rp, off, len + s.csv.1))
            }
            _ => {
                if let Some((rp, off, len)) = run {
                    let o = &opened[rp];
                    copy_range(&o.files[0], &o.paths[0], off, len, out, &mut buf)?;
                }
                run = Some((pi, s.csv.0, s.csv.1));
            }
        }
    }
    if let Some((rp, off, len)) = run {
        let o = &opened[rp];
        copy_range(&o.files[0], &o.paths[0], off, len, out, &mut buf)?;
    }
    Ok(())
}

/// samples.json: one object per series, its pieces' pairs joined.
fn copy_json(
    query: &str,
    order: &[Pieces<'_>],
    opened: &[Opened],
    out: &mut HashedFile,
    started: &mut bool,
) -> Result<(), CollectError> {
    let mut buf = vec![0u8; 1 << 20];
    let q = serde_json::to_string(query).map_err(|e| CollectError::Task(e.to_string()))?;
    for pieces in order {
        let first = pieces[0].1;
        let labels: BTreeMap<&str, &str> = first
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let labels =
            serde_json::to_string(&labels).map_err(|e| CollectError::Task(e.to_string()))?;
        if *started {
            out.write(b",\n")?;
        }
        *started = true;
        let head = format!(
            "{{\"query\":{q},\"series\":\"{}\",\"labels\":{labels},\"values\":[",
            first.key
        );
        out.write(head.as_bytes())?;
        let mut wrote = false;
        for &(pi, s) in pieces {
            if s.json.1 == 0 {
                continue;
            }
            if wrote {
                out.write(b",")?;
            }
            let o = &opened[pi];
            copy_range(&o.files[1], &o.paths[1], s.json.0, s.json.1, out, &mut buf)?;
            wrote = true;
        }
        out.write(b"]}")?;
    }
    Ok(())
}

struct KpiOut {
    kpis: Vec<SeriesOut>,
    aggregate: Vec<Kpi>,
    /// `(index in the series order, bins)` for small queries.
    lines: Vec<(usize, Vec<Bin>)>,
}

/// KPIs per series and per query; chart lines for small queries.
fn kpis(
    query: &str,
    order: &[Pieces<'_>],
    opened: &[Opened],
    spill: &Path,
) -> Result<KpiOut, CollectError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut set = KpiSet::new(query, spill)?;
    let mut values: Vec<f64> = Vec::new();
    let mut lines = Vec::new();
    for (idx, pieces) in order.iter().enumerate() {
        let first = pieces[0].1;
        match first.kind {
            None => {}
            Some(KpiKind::Gauge) => {
                values.clear();
                let mut nonfinite = 0;
                let mut integral = Integral::default();
                for &(pi, s) in pieces {
                    nonfinite += s.nonfinite;
                    integral.append(&s.integral);
                    let o = &opened[pi];
                    read_f64s(&o.files[2], &o.paths[2], s.vals, &mut values, &mut buf)?;
                }
                set.gauge(&first.key, &first.labels, &mut values, nonfinite, &integral)?;
            }
            Some(kind) => {
                let mut acc = CounterAcc::default();
                for &(_, s) in pieces {
                    acc.append(&s.counter);
                }
                let le = label(&first.labels, "le").and_then(parse_le);
                match (kind, le) {
                    (KpiKind::Histogram, Some(le)) => {
                        set.bucket(bucket_group(&first.labels), le, acc)
                    }
                    _ => set.counter(&first.key, &first.labels, &acc),
                }
            }
        }
        if first.kind.is_some() && order.len() <= MAX_LINES {
            let mut bins = Vec::new();
            for &(_, s) in pieces {
                merge_bins(&mut bins, &s.bins);
            }
            lines.push((idx, bins));
        }
    }
    let (kpis, aggregate) = set.finish()?;
    Ok(KpiOut {
        kpis,
        aggregate,
        lines,
    })
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
