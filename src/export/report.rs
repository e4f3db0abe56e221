//! `report.html`: a self-contained page (no scripts, no external resources) with the KPI table,
//! coverage, and one chart per query drawn by plotters' SVG backend and embedded inline. The
//! named windows are shaded and labelled on every chart.
//!
//! The template only prints strings prepared here; askama escapes them (`.html`). The SVG is
//! inserted unescaped: plotters escapes the text it draws.

use super::chart::{ChartData, Line};
use super::coverage::CoverageReport;
use super::quality::{Quality, Verdict};
use super::{CollectError, MarkedWindow, QueryReport, QueryStatus};
use askama::Template;
use plotters::prelude::*;

/// Everything the report shows.
pub(crate) struct ReportInput<'a> {
    pub(crate) title: &'a str,
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
    pub(crate) window: String,
    pub(crate) step: String,
    pub(crate) prometheus: String,
    pub(crate) version: String,
    pub(crate) queries: &'a [QueryReport],
    pub(crate) coverage: Option<&'a CoverageReport>,
    pub(crate) charts: &'a [ChartData],
    pub(crate) windows: &'a [MarkedWindow],
    pub(crate) verdict: &'a Verdict,
}

/// The verdict at the top of the report.
struct Banner {
    /// `ok`, `partial`, `empty`: the CSS class too.
    quality: String,
    headline: String,
    reasons: Vec<String>,
    notes: Vec<String>,
}

impl Banner {
    fn new(v: &Verdict) -> Self {
        let headline = match v.quality {
            Quality::Ok => "OK: every query matched and every target was covered",
            Quality::Partial => "PARTIAL: some of this data is missing or incomplete",
            Quality::Empty => "EMPTY: this collection holds no data at all",
        };
        Banner {
            quality: v.quality.as_str().to_owned(),
            headline: headline.to_owned(),
            reasons: v.reasons.iter().map(|r| r.detail.clone()).collect(),
            notes: v.notes.clone(),
        }
    }
}

struct KpiRow {
    query: String,
    kind: String,
    status: String,
    absent: bool,
    series: u64,
    samples: u64,
    cells: [String; 9],
}

struct CovRow {
    target: String,
    scrapes: u64,
    expected: String,
    coverage: String,
    up: String,
    gaps: usize,
    max_gap: String,
    flagged: bool,
}

struct ChartView {
    name: String,
    promql: String,
    note: String,
    svg: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportHtml {
    banner: Banner,
    title: String,
    generated: String,
    window: String,
    step: String,
    prometheus: String,
    version: String,
    rows: Vec<KpiRow>,
    methods: Vec<String>,
    coverage: Vec<CovRow>,
    coverage_note: String,
    windows: Vec<(String, String, String)>,
    charts: Vec<ChartView>,
}

/// Compact number for tables and axes: 4 significant digits, exponent when large or tiny.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

/// Renders `report.html`.
pub(crate) fn render(input: &ReportInput<'_>) -> Result<String, CollectError> {
    let mut rows = Vec::new();
    let mut methods: Vec<String> = Vec::new();
    for q in input.queries {
        let absent = q.status == QueryStatus::Absent;
        let status = if absent { "absent" } else { "ok" }.to_owned();
        if q.aggregate.is_empty() {
            rows.push(KpiRow {
                query: q.name.clone(),
                kind: serde_json::to_value(q.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                status,
                absent,
                series: q.series,
                samples: q.samples,
                cells: Default::default(),
            });
            continue;
        }
        for k in &q.aggregate {
            if !methods.contains(&k.method) {
                methods.push(k.method.clone());
            }
            rows.push(KpiRow {
                query: q.name.clone(),
                kind: k.kind.as_str().to_owned(),
                status: status.clone(),
                absent,
                series: q.series,
                samples: k.samples,
                cells: [
                    opt(k.min),
                    opt(k.max),
                    opt(k.mean),
                    opt(k.p50),
                    opt(k.p95),
                    opt(k.p99),
                    opt(k.increase),
                    opt(k.rate_per_second),
                    opt(k.observations),
                ],
            });
        }
    }
    let coverage = input
        .coverage
        .map(|c| {
            c.targets
                .iter()
                .map(|t| CovRow {
                    target: t.target.clone(),
                    scrapes: t.scrapes,
                    expected: opt(t.expected_scrapes),
                    coverage: t
                        .coverage
                        .map(|c| format!("{:.1}%", c * 100.0))
                        .unwrap_or_default(),
                    up: t
                        .up_fraction
                        .map(|c| format!("{:.1}%", c * 100.0))
                        .unwrap_or_default(),
                    gaps: t.gaps.len(),
                    max_gap: t
                        .max_gap_seconds
                        .map(|s| format!("{s}s"))
                        .unwrap_or_default(),
                    flagged: t.flagged,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut charts = Vec::new();
    for c in input.charts {
        let q = input.queries.iter().find(|q| q.name == c.query);
        let note = if c.banded {
            format!(
                "{} series: minimum, mean and maximum over all series per time bin",
                c.series
            )
        } else {
            format!("{} series: mean per time bin", c.series)
        };
        charts.push(ChartView {
            name: c.query.clone(),
            promql: q.map(|q| q.sent_promql.clone()).unwrap_or_default(),
            note,
            svg: draw(c, input.start_s, input.end_s, input.windows)
                .map_err(CollectError::Report)?,
        });
    }
    ReportHtml {
        banner: Banner::new(input.verdict),
        title: input.title.to_owned(),
        generated: crate::domain::Timestamp::now().to_string(),
        window: input.window.clone(),
        step: input.step.clone(),
        prometheus: input.prometheus.clone(),
        version: input.version.clone(),
        rows,
        methods,
        coverage,
        coverage_note: input.coverage.map(|c| c.method.clone()).unwrap_or_default(),
        windows: input
            .windows
            .iter()
            .map(|w| (w.name.clone(), w.start.to_string(), w.end.to_string()))
            .collect(),
        charts,
    }
    .render()
    .map_err(|e| CollectError::Report(e.to_string()))
}

fn clock(secs: f64, long: bool) -> String {
    let t = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
    t.format(if long { "%m-%d %H:%M" } else { "%H:%M:%S" })
        .to_string()
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// Contiguous runs of present points.
fn segments(line: &Line) -> Vec<Vec<(f64, f64)>> {
    // Bins are finer than the samples when a window holds few of them, so empty bins between
    // present ones are normal; only a spacing well above the typical one is a real gap.
    let points: Vec<(f64, f64)> = line
        .points
        .iter()
        .filter_map(|&(x, y)| y.filter(|v| v.is_finite()).map(|y| (x, y)))
        .collect();
    let mut spacings: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    spacings.sort_by(f64::total_cmp);
    let limit = spacings
        .get(spacings.len() / 2)
        .map_or(f64::INFINITY, |typical| typical * 3.0);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    for p in points {
        match out.last_mut() {
            Some(seg) if seg.last().is_some_and(|last| p.0 - last.0 <= limit) => seg.push(p),
            _ => out.push(vec![p]),
        }
    }
    out
}

/// Draws one chart as an SVG string.
fn draw(
    c: &ChartData,
    start_s: f64,
    end_s: f64,
    windows: &[MarkedWindow],
) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let ys = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|p| p.1))
        .filter(|y| y.is_finite());
    let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    let (lo, hi) = (lo - pad, hi + pad);
    let long = end_s - start_s > 86_400.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ch = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(start_s..end_s, lo..hi)
            .map_err(|e| err(&e))?;
        ch.configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_desc("UTC")
            .x_label_formatter(&|x| clock(*x, long))
            .y_label_formatter(&|y| num(*y))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, w) in windows.iter().enumerate() {
            let (a, b) = (
                w.start.unix_secs_f64().max(start_s),
                w.end.unix_secs_f64().min(end_s),
            );
            if a > b {
                continue;
            }
            let color = Palette99::pick(i + 3).mix(0.15);
            ch.draw_series(std::iter::once(Rectangle::new(
                [(a, lo), (b, hi)],
                color.filled(),
            )))
            .map_err(|e| err(&e))?;
            ch.draw_series(std::iter::once(Text::new(
                shorten(&w.name, 30),
                (a, hi - (hi - lo) * 0.02),
                ("sans-serif", 13).into_font(),
            )))
            .map_err(|e| err(&e))?;
        }
        for (i, line) in c.lines.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let mut first = true;
            for seg in segments(line) {
                // A lone point (isolated by gaps) is a dot; a line of one point draws nothing.
                if let [p] = seg.as_slice() {
                    ch.draw_series(std::iter::once(Circle::new(*p, 3, color.filled())))
                        .map_err(|e| err(&e))?;
                }
                let s = ch
                    .draw_series(LineSeries::new(seg, color.stroke_width(2)))
                    .map_err(|e| err(&e))?;
                if first {
                    s.label(shorten(&line.label, 70)).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                    first = false;
                }
            }
        }
        ch.configure_series_labels()
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE.mix(0.85))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_samples_in_fine_bins_draw_one_line_and_real_gaps_split_it() {
        let mut points: Vec<(f64, Option<f64>)> = Vec::new();
        for i in 0..40 {
            // A sample every 4th bin, then a hole of 20 bins, then samples again.
            let present = i % 4 == 0 && !(12..32).contains(&i);
            points.push((i as f64, present.then_some(i as f64)));
        }
        let line = Line {
            label: "x".into(),
            points,
        };
        let segs = segments(&line);
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[0].len(), 3);
        assert_eq!(segs[1].len(), 2);
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(50.5), "50.5");
        assert_eq!(num(95.049999999), "95.05");
        assert_eq!(num(1234567.0), "1.235e6");
        assert_eq!(num(0.0), "0");
    }

    #[test]
    fn charts_escape_window_names() {
        let c = ChartData {
            query: "q".into(),
            lines: vec![Line {
                label: "{a=\"<b>\"}".into(),
                points: vec![(0.0, Some(1.0)), (10.0, None), (20.0, Some(2.0))],
            }],
            banded: false,
            series: 1,
        };
        let w = MarkedWindow {
            name: "<script>".into(),
            start: crate::domain::Timestamp::parse("5").unwrap(),
            end: crate::domain::Timestamp::parse("15").unwrap(),
        };
        let svg = draw(&c, 0.0, 20.0, &[w]).unwrap();
        assert!(
            svg.starts_with("<svg") && !svg.contains("<script>") && svg.contains("&lt;script&gt;")
        );
    }
}
