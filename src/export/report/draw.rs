//! One chart per query as an SVG string (plotters' SVG backend), the named windows shaded
//! and labelled, the events marked (see `markers`).

use super::markers::{self, Marker};
use crate::export::chart::{ChartData, Line};
use crate::export::events::EventRow;
use crate::export::unit::{tick, Unit};
use crate::export::MarkedWindow;
use plotters::prelude::*;

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

/// What is drawn over every chart: the named windows and the events.
pub(super) struct Overlays<'a> {
    pub(super) windows: &'a [MarkedWindow],
    /// Events outside the chart's span are skipped.
    pub(super) events: &'a [EventRow],
}

/// Draws one chart as an SVG string.
pub(super) fn draw(
    c: &ChartData,
    start_s: f64,
    end_s: f64,
    overlays: &Overlays<'_>,
    unit: Option<Unit>,
) -> Result<String, String> {
    let windows = overlays.windows;
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
    let mut marks = Vec::new();
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
            // A ratio's ticks print as percentages.
            .y_desc(unit.map_or("", |u| match u {
                Unit::Ratio => "%",
                other => other.symbol(),
            }))
            .y_label_formatter(&|y| tick(*y, hi - lo, unit))
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
            for seg in segments(line) {
                // A lone point (isolated by gaps) is a dot; a line of one point draws nothing.
                if let [p] = seg.as_slice() {
                    ch.draw_series(std::iter::once(Circle::new(*p, 3, color.filled())))
                        .map_err(|e| err(&e))?;
                }
                ch.draw_series(LineSeries::new(seg, color.stroke_width(2)))
                    .map_err(|e| err(&e))?;
            }
        }
        for e in overlays.events {
            let t = e.timestamp.unix_secs_f64();
            if (start_s..=end_s).contains(&t) {
                let (x, top) = ch.backend_coord(&(t, hi));
                let (_, bottom) = ch.backend_coord(&(t, lo));
                marks.push(Marker {
                    event: e,
                    x,
                    top,
                    bottom,
                });
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(markers::append(svg, &marks))
}

/// The legend, drawn by the page under the chart (never over the lines): each line's label —
/// the labels that tell the series apart — and its colour as `#rrggbb`.
pub(super) fn legend(c: &ChartData) -> Vec<(String, String)> {
    c.lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (r, g, b) = Palette99::pick(i).rgb();
            (l.label.clone(), format!("#{r:02x}{g:02x}{b:02x}"))
        })
        .collect()
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
    fn charts_escape_window_names() {
        let c = ChartData {
            query: "q".into(),
            lines: vec![Line {
                label: "{a=\"<b>\"}".into(),
                points: vec![(0.0, Some(1.0)), (10.0, None), (20.0, Some(2.0))],
            }],
            banded: false,
            series: 1,
            common: String::new(),
            outliers: vec![],
        };
        let w = MarkedWindow {
            name: "<script>".into(),
            start: crate::domain::Timestamp::parse("5").unwrap(),
            end: crate::domain::Timestamp::parse("15").unwrap(),
        };
        let overlays = Overlays {
            windows: &[w],
            events: &[],
        };
        let svg = draw(&c, 0.0, 20.0, &overlays, None).unwrap();
        assert!(
            svg.starts_with("<svg") && !svg.contains("<script>") && svg.contains("&lt;script&gt;")
        );
    }
}
