//! `compare.csv`, `compare.json` and `compare.html`, each written atomically (a temp file
//! renamed into place), so a CI job never reads half a verdict.

use super::engine::Row;
use super::html::{self, ChartInput};
use super::labels::Identity;
use super::{timeline, Bundle, CompareError, Comparison, Verdict};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Queries charted in `compare.html`, the most severe first.
const CHARTS: usize = 12;

const COLUMNS: [&str; 15] = [
    "verdict",
    "window",
    "query",
    "scope",
    "kind",
    "series",
    "kpi",
    "baseline",
    "candidate",
    "delta",
    "relative",
    "unit",
    "direction",
    "max_regression",
    "key",
];

fn cell(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// `compare.csv`: one row per matched KPI, the JSON's rows flattened.
pub fn csv_bytes(rows: &[Row]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for r in rows {
        let direction = r.direction.map(|d| match d {
            super::Direction::Lower => "lower",
            super::Direction::Higher => "higher",
        });
        w.write_record([
            r.verdict.as_str(),
            &r.window,
            &r.query,
            &r.scope,
            &r.kind,
            &r.series,
            &r.kpi,
            &cell(r.baseline),
            &cell(r.candidate),
            &cell(r.delta),
            &cell(r.relative),
            r.unit.as_deref().unwrap_or(""),
            direction.unwrap_or(""),
            r.max_regression.as_deref().unwrap_or(""),
            &format!("{}|{}|{}|{}", r.window, r.query, r.series, r.kpi),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The charts of the judged queries (most severe first, at most [`CHARTS`]).
fn charts(c: &Comparison, base: &Bundle, cand: &Bundle, id: &Identity) -> Vec<ChartInput> {
    let mut order: Vec<&Row> = Vec::new();
    for r in c.rows.iter().filter(|r| r.verdict != Verdict::Same) {
        if order.len() < CHARTS && !order.iter().any(|o| o.query == r.query) {
            order.push(r);
        }
    }
    let queries: BTreeSet<String> = order.iter().map(|r| r.query.clone()).collect();
    // A bundle whose samples cannot be read still gets its tables; its charts stay empty.
    let read = |b: &Bundle| {
        timeline::read(b, &queries, id).unwrap_or_else(|e| {
            tracing::warn!("{}: no charts: {e}", b.dir.display());
            Default::default()
        })
    };
    let (bl, cl) = (read(base), read(cand));
    order
        .into_iter()
        .map(|r| ChartInput {
            query: r.query.clone(),
            unit: r.unit.clone(),
            seconds: (base.end - base.start).max(cand.end - cand.start),
            baseline: bl
                .get(&r.query)
                .map(|l| l.lines(base.end - base.start))
                .unwrap_or_default(),
            candidate: cl
                .get(&r.query)
                .map(|l| l.lines(cand.end - cand.start))
                .unwrap_or_default(),
        })
        .collect()
}

/// Writes `dir/name` through a temp file renamed into place, readable by all like a bundle's
/// files (they are results to share, not state).
pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, CompareError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let fail = |source| CompareError::Write {
        path: path.clone(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(fail)?;
    tmp.persist(&path).map_err(|e| fail(e.error))?;
    crate::fsutil::sync_dir(dir);
    Ok(path)
}

/// Writes the three files into `dir` (created if missing) and returns their paths.
pub fn write_all(
    dir: &Path,
    c: &Comparison,
    base: &Bundle,
    cand: &Bundle,
    identity: &Identity,
) -> Result<Vec<PathBuf>, CompareError> {
    std::fs::create_dir_all(dir).map_err(|source| CompareError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let csv = csv_bytes(&c.rows).map_err(|e| CompareError::Render(e.to_string()))?;
    let mut json = serde_json::to_vec_pretty(c).map_err(|e| CompareError::Render(e.to_string()))?;
    json.push(b'\n');
    let page = html::render(c, &charts(c, base, cand, identity)).map_err(CompareError::Render)?;
    Ok(vec![
        write(dir, "compare.csv", &csv)?,
        write(dir, "compare.json", &json)?,
        write(dir, "compare.html", page.as_bytes())?,
    ])
}
