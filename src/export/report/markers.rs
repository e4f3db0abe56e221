//! Event markers on the charts: each event inside the chart's span is a vertical line in its
//! kind's colour, labelled with its name and with a tooltip (`<title>`: time, kind, name,
//! message). plotters has neither tooltips nor classes, so the markers are an SVG group of
//! their own, placed at the pixel positions the chart's own coordinate mapping gives and
//! appended before `</svg>`; every value in it is XML-escaped here.

use crate::export::events::EventRow;
use std::fmt::Write;

/// One marker in the chart's pixels.
pub(super) struct Marker<'a> {
    pub(super) event: &'a EventRow,
    pub(super) x: i32,
    /// The plotting area's top and bottom.
    pub(super) top: i32,
    pub(super) bottom: i32,
}

/// The kind's colour; an alert's follows its severity.
pub(super) fn color(e: &EventRow) -> &'static str {
    match (e.kind.as_str(), e.severity.as_deref()) {
        ("alert", Some("critical")) => "#c62828",
        ("alert", Some("info")) => "#6a1b9a",
        ("alert", _) => "#e65100",
        ("phase", _) => "#1565c0",
        ("progress", _) => "#2e7d32",
        _ => "#616161",
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the tooltip says: `2025-11-04T10:00:00Z phase steady (start of window): message`.
fn tooltip(e: &EventRow) -> String {
    let mut t = format!("{} {} {}", e.timestamp, e.kind, e.name);
    if let Some(s) = &e.severity {
        let _ = write!(t, " [{s}]");
    }
    if let Some(p) = e.progress {
        let _ = write!(t, " {p}%");
    }
    if let Some(m) = &e.message {
        let _ = write!(t, ": {m}");
    }
    t
}

/// The markers as one SVG group.
fn group(markers: &[Marker<'_>]) -> String {
    let mut g = String::from(r#"<g class="event-markers">"#);
    for m in markers {
        let (e, color) = (m.event, color(m.event));
        let dash = if e.kind == "phase" { "" } else { "4,3" };
        // The label reads downwards along the line's right side, below the window names.
        let (lx, ly) = (m.x + 3, m.top + 20);
        let _ = write!(
            g,
            r#"<g class="event-marker" data-kind="{kind}" data-name="{name}"><title>{title}</title><line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{color}" stroke-width="1.5" stroke-dasharray="{dash}"/><text x="{lx}" y="{ly}" transform="rotate(90 {lx} {ly})" font-family="sans-serif" font-size="11" fill="{color}">{name}</text></g>"#,
            kind = escape(&e.kind),
            name = escape(&e.name),
            title = escape(&tooltip(e)),
            x = m.x,
            top = m.top,
            bottom = m.bottom,
        );
    }
    g.push_str("</g>");
    g
}

/// `svg` with the markers drawn over the chart, before its closing tag.
pub(super) fn append(svg: String, markers: &[Marker<'_>]) -> String {
    if markers.is_empty() {
        return svg;
    }
    match svg.rfind("</svg>") {
        Some(at) => format!("{}{}{}", &svg[..at], group(markers), &svg[at..]),
        None => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_escaped_and_drawn_before_the_closing_tag() {
        let e = EventRow {
            timestamp: crate::domain::Timestamp::parse("5").unwrap(),
            kind: "alert".into(),
            name: "latency".into(),
            severity: Some("critical".into()),
            progress: None,
            message: Some("p99 <2 s> & \"rising\"".into()),
        };
        let m = Marker {
            event: &e,
            x: 100,
            top: 10,
            bottom: 300,
        };
        let svg = append("<svg>\n</svg>\n".into(), &[m]);
        assert!(
            svg.starts_with("<svg>\n<g class=\"event-markers\">"),
            "{svg}"
        );
        assert!(svg.ends_with("</g></svg>\n"), "{svg}");
        assert!(svg.contains(r#"data-kind="alert" data-name="latency""#));
        assert!(svg.contains("[critical]: p99 &lt;2 s&gt; &amp; &quot;rising&quot;</title>"));
        assert!(svg.contains(r##"stroke="#c62828""##));
        assert_eq!(append("<svg></svg>".into(), &[]), "<svg></svg>");
    }
}
