//! `report.html`: a self-contained page (no scripts, no external resources) with the KPI table,
//! coverage, and one chart per query drawn by plotters' SVG backend and embedded inline. The
//! named windows are shaded and labelled on every chart, and the session's events in the
//! collection are marked on every chart (a line in the kind's colour, the name, a tooltip) and
//! listed in an Events table.
//!
//! The template only prints strings prepared here; askama escapes them (`.html`). The SVG is
//! inserted unescaped: plotters escapes the text it draws.
//!
//! Files: `tables` (KPI and coverage rows), `draw` (the charts), `markers` (events on them).

mod draw;
mod markers;
mod meta;
mod tables;

use super::chart::ChartData;
use super::coverage::CoverageReport;
use super::energy::EnergyRow;
use super::events::EventRow;
use super::quality::{Quality, Verdict};
use super::windowed::WindowSummary;
use super::{CollectError, MarkedWindow, QueryReport};
use askama::Template;
use draw::{draw, Overlays};
use tables::{CovRow, KpiRow};

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
    /// The session's events (those inside the collection are shown).
    pub(crate) events: &'a [EventRow],
    pub(crate) verdict: &'a Verdict,
    /// KPIs of each named window overlapping the collection.
    pub(crate) window_kpis: &'a [WindowSummary],
    pub(crate) energy: &'a [EnergyRow],
    /// The manifest's `context`: the run metadata of the header.
    pub(crate) context: &'a serde_json::Value,
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

struct ChartView {
    name: String,
    promql: String,
    note: String,
    /// The labels all series share (legends show only the others).
    common: String,
    /// Banded charts: the series with the highest and lowest means, for people to find.
    outliers: Vec<String>,
    /// `(label, #rrggbb)` per line.
    legend: Vec<(String, String)>,
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
    rows: Vec<KpiRow>,
    methods: Vec<String>,
    coverage: Vec<CovRow>,
    coverage_note: String,
    windows: Vec<(String, String, String)>,
    /// Run metadata: `(label, value)`.
    meta: Vec<(String, String)>,
    /// `(window, scope, target, metric, value for people, method)`.
    energy: Vec<[String; 6]>,
    /// `(alert, state, first seen, last seen, labels)`: the session's alerts in the window.
    alerts: Vec<[String; 5]>,
    events: Vec<EventView>,
    charts: Vec<ChartView>,
}

/// One row of the Events table.
struct EventView {
    time: String,
    kind: String,
    name: String,
    severity: String,
    progress: String,
    message: String,
    /// The marker's colour, for the swatch that ties the row to the charts.
    color: &'static str,
}

/// The events inside the collection, in time order.
fn event_rows(events: &[EventRow], start_s: f64, end_s: f64) -> Vec<EventView> {
    events
        .iter()
        .filter(|e| (start_s..=end_s).contains(&e.timestamp.unix_secs_f64()))
        .map(|e| EventView {
            time: e.timestamp.to_string(),
            kind: e.kind.clone(),
            name: e.name.clone(),
            severity: e.severity.clone().unwrap_or_default(),
            progress: e.progress.map(|p| format!("{p} %")).unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            color: markers::color(e),
        })
        .collect()
}

/// The alerts the caller listed in the manifest's context (`alerts`, as `alerts.csv` has them).
fn alert_rows(context: &serde_json::Value) -> Vec<[String; 5]> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    context["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .map(|a| {
                    let labels = a["labels"]
                        .as_object()
                        .map(|l| {
                            l.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    [
                        text(&a["alertname"]),
                        text(&a["alertstate"]),
                        text(&a["first_seen"]),
                        text(&a["last_seen"]),
                        labels,
                    ]
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Renders `report.html`.
pub(crate) fn render(input: &ReportInput<'_>) -> Result<String, CollectError> {
    let (rows, methods) = tables::kpi_rows(input.queries, input.window_kpis);
    let coverage = tables::coverage_rows(input.coverage);
    let overlays = Overlays {
        windows: input.windows,
        events: input.events,
    };
    let mut charts = Vec::new();
    for c in input.charts {
        let q = input.queries.iter().find(|q| q.name == c.query);
        let unit = q.and_then(|q| q.unit);
        let note = if c.banded {
            format!(
                "{} series: minimum, mean and maximum over all series per time bin; the series \
                 with the highest and lowest means are named below",
                c.series
            )
        } else {
            format!("{} series: mean per time bin", c.series)
        };
        let outliers = c
            .outliers
            .iter()
            .map(|o| {
                format!(
                    "{} mean: {} — {}",
                    o.rank,
                    crate::export::human(o.mean, unit),
                    o.label
                )
            })
            .collect();
        charts.push(ChartView {
            name: c.query.clone(),
            promql: q.map(|q| q.sent_promql.clone()).unwrap_or_default(),
            note,
            common: c.common.clone(),
            outliers,
            legend: draw::legend(c),
            svg: draw(
                c,
                input.start_s,
                input.end_s,
                &overlays,
                q.and_then(|q| q.unit),
            )
            .map_err(CollectError::Report)?,
        });
    }
    let energy = input
        .energy
        .iter()
        .map(|r| {
            [
                r.window.clone(),
                r.scope.to_owned(),
                r.target.clone(),
                r.metric.replace('_', " "),
                crate::export::human(r.value, Some(r.unit)),
                r.method.clone(),
            ]
        })
        .collect();
    ReportHtml {
        meta: meta::run_metadata(input.context, &input.prometheus, &input.version),
        energy,
        alerts: alert_rows(input.context),
        events: event_rows(input.events, input.start_s, input.end_s),
        banner: Banner::new(input.verdict),
        title: input.title.to_owned(),
        generated: crate::domain::Timestamp::now().to_string(),
        window: input.window.clone(),
        step: input.step.clone(),
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
