//! Chart data, downsampled while the samples stream past: the window is cut into [`BINS`]
//! time bins. A query with at most [`MAX_LINES`] series is drawn one line per series (the mean
//! of each bin); a larger one as the minimum, mean and maximum over all its series per bin.
//! Memory is fixed per query, whatever the window.

use super::matrix::Labels;
use super::series::label_string;

/// Time bins per chart.
pub(crate) const BINS: usize = 400;
/// Queries with more series are drawn as min/mean/max bands.
pub(crate) const MAX_LINES: usize = 8;

/// Min, max, sum and count of the finite samples in one bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bin {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) sum: f64,
    pub(crate) n: u32,
}

impl Default for Bin {
    fn default() -> Self {
        Bin {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            n: 0,
        }
    }
}

impl Bin {
    fn push(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.n += 1;
    }

    fn merge(&mut self, o: &Bin) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.n += o.n;
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }
}

/// Maps timestamps of the window to bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Binning {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
}

impl Binning {
    pub(crate) fn index(&self, ms: i64) -> Option<usize> {
        if ms < self.start_ms || ms > self.end_ms {
            return None;
        }
        // Windows are below 10^13 ms, so the product fits in an i64.
        let span = self.end_ms - self.start_ms + 1;
        Some(((ms - self.start_ms) * BINS as i64 / span) as usize)
    }

    /// Unix seconds at the middle of bin `i`.
    pub(crate) fn center(&self, i: usize) -> f64 {
        let span = (self.end_ms - self.start_ms + 1) as f64;
        (self.start_ms as f64 + span * (i as f64 + 0.5) / BINS as f64) / 1000.0
    }
}

/// Bins over all series of one chunk.
#[derive(Debug, Clone)]
pub(crate) struct ChartAcc {
    pub(crate) binning: Binning,
    pub(crate) all: Vec<Bin>,
}

impl ChartAcc {
    pub(crate) fn new(binning: Binning) -> Self {
        ChartAcc {
            binning,
            all: vec![Bin::default(); BINS],
        }
    }

    /// Adds a finite sample to the overall bins and, if given, to a series' own bins.
    pub(crate) fn push(&mut self, ms: i64, v: f64, own: Option<&mut Vec<Bin>>) {
        let Some(i) = self.binning.index(ms) else {
            return;
        };
        self.all[i].push(v);
        if let Some(own) = own {
            if own.is_empty() {
                own.resize(BINS, Bin::default());
            }
            own[i].push(v);
        }
    }

    pub(crate) fn merge(&mut self, o: &ChartAcc) {
        for (a, b) in self.all.iter_mut().zip(&o.all) {
            a.merge(b);
        }
    }
}

/// Adds `b`'s bins to `a`'s.
pub(crate) fn merge_bins(a: &mut Vec<Bin>, b: &[Bin]) {
    if a.is_empty() {
        a.extend_from_slice(b);
    } else {
        for (x, y) in a.iter_mut().zip(b) {
            x.merge(y);
        }
    }
}

/// One line of a chart: `(unix seconds, value)` points, gaps where a bin is empty.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub(crate) label: String,
    pub(crate) points: Vec<(f64, Option<f64>)>,
}

/// What the report draws for one query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChartData {
    pub(crate) query: String,
    pub(crate) lines: Vec<Line>,
    /// True when the lines are min/mean/max over more than [`MAX_LINES`] series.
    pub(crate) banded: bool,
    pub(crate) series: u64,
    /// The labels every series shares, `{k="v",…}` (the legends show only the others).
    pub(crate) common: String,
    /// Banded charts: the series with the highest and the lowest means, named by the labels
    /// that tell them apart, so an outlier node can be found without a line of its own.
    pub(crate) outliers: Vec<Outlier>,
}

/// A series named under a banded chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outlier {
    /// `highest` or `lowest`.
    pub(crate) rank: &'static str,
    pub(crate) label: String,
    pub(crate) mean: f64,
}

/// Series named on each side of a banded chart.
pub(crate) const OUTLIERS: usize = 3;

/// The labels all `sets` share (same value in each), and each set's other labels as
/// `{k="v",…}`: what tells the series apart, for legends. One set: nothing is "other", so it
/// keeps all its labels.
pub(crate) fn split_common(sets: &[&Labels]) -> (Labels, Vec<String>) {
    let Some(first) = sets.first() else {
        return (Vec::new(), Vec::new());
    };
    if sets.len() == 1 {
        return (Vec::new(), vec![label_string(first)]);
    }
    let common: Labels = first
        .iter()
        .filter(|kv| sets.iter().all(|s| s.contains(kv)))
        .cloned()
        .collect();
    let rest = sets
        .iter()
        .map(|s| {
            let own: Labels = s
                .iter()
                .filter(|kv| !common.contains(kv))
                .cloned()
                .collect();
            label_string(&own)
        })
        .collect();
    (common, rest)
}

/// The [`OUTLIERS`] highest and lowest of `(label, mean)`, highest first.
pub(crate) fn outliers(mut means: Vec<(String, f64)>) -> Vec<Outlier> {
    means.retain(|m| m.1.is_finite());
    means.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n = means.len();
    let top = OUTLIERS.min(n);
    let bottom = OUTLIERS.min(n - top);
    let mut out: Vec<Outlier> = means[..top]
        .iter()
        .map(|(l, m)| Outlier {
            rank: "highest",
            label: l.clone(),
            mean: *m,
        })
        .collect();
    out.extend(means[n - bottom..].iter().rev().map(|(l, m)| Outlier {
        rank: "lowest",
        label: l.clone(),
        mean: *m,
    }));
    out
}

/// Lines for a query: one per series if `per_series` is given, else min/mean/max.
pub(crate) fn chart_lines(
    acc: &ChartAcc,
    per_series: Option<Vec<(String, Vec<Bin>)>>,
) -> (Vec<Line>, bool) {
    let b = acc.binning;
    let line = |label: &str, bins: &[Bin], f: &dyn Fn(&Bin) -> Option<f64>| Line {
        label: label.to_owned(),
        points: bins
            .iter()
            .enumerate()
            .map(|(i, x)| (b.center(i), f(x)))
            .collect(),
    };
    match per_series {
        Some(series) => (
            series
                .iter()
                .map(|(l, bins)| line(l, bins, &Bin::mean))
                .collect(),
            false,
        ),
        None => (
            vec![
                line("max", &acc.all, &|x| (x.n > 0).then_some(x.max)),
                line("mean", &acc.all, &Bin::mean),
                line("min", &acc.all, &|x| (x.n > 0).then_some(x.min)),
            ],
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legends_keep_only_the_labels_that_differ_and_outliers_are_named() {
        let l = |node: &str| -> Labels {
            vec![
                ("job".into(), "node".into()),
                ("node".into(), node.into()),
                ("session".into(), "s".into()),
            ]
        };
        let (a, b) = (l("n1"), l("n2"));
        let (common, rest) = split_common(&[&a, &b]);
        assert_eq!(label_string(&common), r#"{job="node",session="s"}"#);
        assert_eq!(rest, [r#"{node="n1"}"#, r#"{node="n2"}"#]);
        let means = (0..10).map(|i| (format!("n{i}"), f64::from(i))).collect();
        let o = outliers(means);
        let names: Vec<(&str, &str)> = o.iter().map(|x| (x.rank, x.label.as_str())).collect();
        assert_eq!(
            names,
            [
                ("highest", "n9"),
                ("highest", "n8"),
                ("highest", "n7"),
                ("lowest", "n0"),
                ("lowest", "n1"),
                ("lowest", "n2")
            ]
        );
        assert_eq!(outliers(vec![("a".into(), 1.0)]).len(), 1);
    }

    #[test]
    fn binning_covers_the_window_inclusively() {
        let b = Binning {
            start_ms: 1000,
            end_ms: 1000 + 3_999_999,
        };
        assert_eq!(b.index(1000), Some(0));
        assert_eq!(b.index(1000 + 3_999_999), Some(BINS - 1));
        assert_eq!(b.index(999), None);
    }
}
