//! `compare.html`: self-contained like the report (no scripts, no external resources). The
//! verdict summary comes first, then the worst rows, then one chart per judged query with both
//! runs overlaid on time since window start (baseline pale, candidate strong).
//!
//! The template prints prepared strings, escaped by askama (`.html`); the SVG goes in
//! unescaped, plotters escapes the text it draws.

use super::engine::Row;
use super::timeline::Line;
use super::{Comparison, Verdict};
use askama::Template;
use plotters::prelude::*;

/// Rows listed in the worst-rows table.
const WORST: usize = 25;
/// Rows listed in the full table (the CSV has every row).
const LISTED: usize = 500;

/// One chart: a query's lines in both runs.
pub(crate) struct ChartInput {
    pub(crate) query: String,
    pub(crate) unit: Option<String>,
    pub(crate) seconds: f64,
    pub(crate) baseline: Vec<Line>,
    pub(crate) candidate: Vec<Line>,
}

struct RowView {
    verdict: &'static str,
    window: String,
    query: String,
    series: String,
    kpi: String,
    baseline: String,
    candidate: String,
    delta: String,
    relative: String,
    unit: String,
    direction: String,
    limit: String,
}

struct ChartView {
    query: String,
    svg: String,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct CompareHtml {
    baseline: String,
    candidate: String,
    gate: &'static str,
    counts: Vec<(&'static str, u64)>,
    noise: String,
    ignored: String,
    worst: Vec<RowView>,
    rows: Vec<RowView>,
    more: usize,
    charts: Vec<ChartView>,
}

fn num(x: Option<f64>) -> String {
    x.map(compact).unwrap_or_default()
}

/// 4 significant digits, an exponent when large or tiny (as the report prints numbers).
fn compact(x: f64) -> String {
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

fn view(r: &Row) -> RowView {
    RowView {
        verdict: r.verdict.as_str(),
        window: r.window.clone(),
        query: r.query.clone(),
        series: if r.scope == "aggregate" {
            "(all series)".into()
        } else {
            format!("{{{}}}", r.series)
        },
        kpi: r.kpi.clone(),
        baseline: num(r.baseline),
        candidate: num(r.candidate),
        delta: num(r.delta),
        relative: r
            .relative
            .map(|x| format!("{:+.2}%", x * 100.0))
            .unwrap_or_default(),
        unit: r.unit.clone().unwrap_or_default(),
        direction: match r.direction {
            Some(super::Direction::Lower) => "lower".into(),
            Some(super::Direction::Higher) => "higher".into(),
            None => String::new(),
        },
        limit: r.max_regression.clone().unwrap_or_default(),
    }
}

/// Renders `compare.html`.
pub(crate) fn render(c: &Comparison, charts: &[ChartInput]) -> Result<String, String> {
    let judged = |r: &&Row| !matches!(r.verdict, Verdict::Same);
    let worst = c
        .rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Regression | Verdict::Worse))
        .take(WORST)
        .map(view)
        .collect();
    let listed: Vec<&Row> = c.rows.iter().filter(judged).collect();
    let charts = charts
        .iter()
        .map(|ch| {
            draw(ch).map(|svg| ChartView {
                query: ch.query.clone(),
                svg,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    CompareHtml {
        baseline: format!(
            "{} ({} → {})",
            c.baseline.id, c.baseline.window_start, c.baseline.window_end
        ),
        candidate: format!(
            "{} ({} → {})",
            c.candidate.id, c.candidate.window_start, c.candidate.window_end
        ),
        gate: if c.regression {
            "REGRESSION"
        } else {
            "no regression"
        },
        counts: Verdict::ALL
            .iter()
            .map(|v| (v.as_str(), c.counts.get(*v)))
            .collect(),
        noise: c.noise.clone(),
        ignored: c.ignored_labels.join(", "),
        worst,
        more: listed.len().saturating_sub(LISTED),
        rows: listed.into_iter().take(LISTED).map(view).collect(),
        charts,
    }
    .render()
    .map_err(|e| e.to_string())
}

/// One chart as an SVG string.
fn draw(c: &ChartInput) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let all = c.baseline.iter().chain(&c.candidate);
    let (mut lo, mut hi) = all
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
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
    let seconds = c.seconds.max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ch = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..seconds, lo..hi)
            .map_err(|e| err(&e))?;
        ch.configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_desc("seconds since window start")
            .y_desc(c.unit.clone().unwrap_or_else(|| "value".into()))
            .x_label_formatter(&|x| compact(*x))
            .y_label_formatter(&|y| compact(*y))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;
        for (run, lines, alpha, width) in [
            ("baseline", &c.baseline, 0.4, 3),
            ("candidate", &c.candidate, 1.0, 2),
        ] {
            for (i, line) in lines.iter().enumerate() {
                let color = Palette99::pick(i).mix(alpha);
                let s = ch
                    .draw_series(LineSeries::new(
                        line.points.clone(),
                        color.stroke_width(width),
                    ))
                    .map_err(|e| err(&e))?;
                let label: String = format!("{run} {}", line.label).chars().take(80).collect();
                s.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(width))
                });
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
