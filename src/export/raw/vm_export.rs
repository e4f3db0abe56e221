//! The raw export from a VictoriaMetrics: its streaming `/api/v1/export` (one JSON line per
//! series: `{"metric":{…},"values":[…],"timestamps":[…]}`), which VictoriaMetrics serves instead
//! of Prometheus's remote read.
//!
//! VictoriaMetrics sends series in its own index order, not sorted by labels as Prometheus
//! does, so the lines are first spilled to a file in the bundle's temp directory with only each
//! series' labels and the line's place kept in memory; then, sorted by labels, each line is read
//! back, parsed and written ([`RawFiles`]). Memory is the series' labels (as the range-vector
//! fallback holds them too) plus one series, whatever the samples; the files are the same,
//! byte for byte, as the fallback writes from the same store: values keep the text
//! VictoriaMetrics writes (`0.0000001`, `+Inf`), which is what its query API sends too.
//!
//! VictoriaMetrics stores no NaN but Prometheus's staleness markers; those are dropped, as range-
//! vector queries drop them.

use super::files::{RawFiles, RawWritten};
use super::{label_names, RawOutcome, RawRequest};
use crate::export::matrix::Labels;
use crate::export::plan::{unix_text, RAW};
use crate::export::CollectError;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Name of the spill file in the bundle's temp directory (removed once read back).
const SPILL: &str = ".raw_export.spill";
/// Longest line accepted: one series of ≈ 10 M samples.
const MAX_LINE: usize = 256 << 20;

/// Where one exported line was spilled.
struct Spilled {
    labels: Labels,
    offset: u64,
    len: u64,
}

/// Streams the raw samples of `req` from VictoriaMetrics' `/api/v1/export` into `dir`.
pub async fn export_vm(
    http: &reqwest::Client,
    req: &RawRequest<'_>,
    dir: &Path,
    cancel: &CancellationToken,
) -> Result<RawOutcome, CollectError> {
    let url = format!("{}/api/v1/export", req.url.trim_end_matches('/'));
    let mut form: Vec<(&str, String)> = req
        .selectors
        .iter()
        .map(|s| ("match[]", s.clone()))
        .collect();
    form.push(("start", unix_text(req.start_ms)));
    form.push(("end", unix_text(req.end_ms)));
    let http_err = |source| CollectError::Http {
        query: RAW.to_owned(),
        url: url.clone(),
        source,
    };
    let mut resp = http.post(&url).form(&form).send().await.map_err(http_err)?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned();
        // No such endpoint: not a VictoriaMetrics (a 400 is a refused request, an error).
        if matches!(status.as_u16(), 404 | 405 | 501) {
            return Ok(RawOutcome::Unsupported(format!(
                "{url} answered HTTP {status}: {}",
                body.trim()
            )));
        }
        return Err(CollectError::Status {
            query: RAW.to_owned(),
            url,
            status: status.as_u16(),
            body,
        });
    }
    let spill_path = dir.join(SPILL);
    // Read back after the stream ended: opened for both.
    let spill = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&spill_path)
        .map_err(|e| CollectError::io(&spill_path, e))?;
    let mut writer = BufWriter::with_capacity(1 << 20, spill);
    let mut index: Vec<Spilled> = Vec::new();
    let (mut pending, mut offset) = (Vec::<u8>::new(), 0u64);
    loop {
        let chunk = tokio::select! {
            _ = cancel.cancelled() => return Err(CollectError::Cancelled),
            c = resp.chunk() => c.map_err(http_err)?,
        };
        let Some(chunk) = chunk else { break };
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + nl];
            start += nl + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let labels = parse_labels(line).map_err(|reason| bad_line(reason, index.len()))?;
            writer
                .write_all(line)
                .map_err(|e| CollectError::io(&spill_path, e))?;
            index.push(Spilled {
                labels,
                offset,
                len: line.len() as u64,
            });
            offset += line.len() as u64;
        }
        pending.drain(..start);
        if pending.len() > MAX_LINE {
            return Err(bad_line(
                format!("a line longer than {MAX_LINE} bytes"),
                index.len(),
            ));
        }
    }
    if !pending.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_line(
            "the answer ended inside a line".into(),
            index.len(),
        ));
    }
    let spill = writer
        .into_inner()
        .map_err(|e| CollectError::io(&spill_path, e.into_error()))?;
    let label_names = label_names(http, req).await?;
    let (dir, formats) = (dir.to_owned(), req.formats);
    let written = tokio::task::spawn_blocking(move || {
        let r = write_sorted(&dir, &label_names, formats, &spill, &spill_path, index);
        let _ = std::fs::remove_file(&spill_path);
        r
    })
    .await
    .map_err(|e| CollectError::Task(e.to_string()))??;
    Ok(RawOutcome::Written(written))
}

fn bad_line(reason: String, line: usize) -> CollectError {
    CollectError::Response {
        query: RAW.to_owned(),
        reason: format!("/api/v1/export line {}: {reason}", line + 1),
    }
}

/// Reads the spilled lines back in label order and writes them; lines of the same series (an
/// export may split one) are joined in time order.
fn write_sorted(
    dir: &Path,
    label_names: &[String],
    formats: crate::export::formats::Formats,
    spill: &File,
    spill_path: &PathBuf,
    mut index: Vec<Spilled>,
) -> Result<RawWritten, CollectError> {
    index.sort_by(|a, b| a.labels.cmp(&b.labels).then(a.offset.cmp(&b.offset)));
    let mut files = RawFiles::create(dir, label_names, formats)?;
    let mut buf = Vec::new();
    let mut i = 0;
    while i < index.len() {
        let mut j = i + 1;
        while j < index.len() && index[j].labels == index[i].labels {
            j += 1;
        }
        let mut series = ExportedSeries::default();
        for s in &index[i..j] {
            buf.resize(usize::try_from(s.len).unwrap_or(usize::MAX), 0);
            spill
                .read_exact_at(&mut buf, s.offset)
                .map_err(|e| CollectError::io(spill_path, e))?;
            parse_samples(&buf, &mut series).map_err(|reason| bad_line(reason, i))?;
        }
        if j - i > 1 {
            series.sort();
        }
        files.write_series_as(&index[i].labels, &series.samples, |k, _, out| {
            out.extend_from_slice(series.value_text(k).as_bytes())
        })?;
        i = j;
    }
    files.finish()
}

/// One series' samples and, for each, the value's text as VictoriaMetrics wrote it (spans of
/// one string: no allocation per sample).
#[derive(Default)]
struct ExportedSeries {
    samples: Vec<(i64, f64)>,
    spans: Vec<(u32, u32)>,
    text: String,
}

impl ExportedSeries {
    fn push(&mut self, ms: i64, value: f64, text: &str) -> Result<(), String> {
        let at = u32::try_from(self.text.len()).map_err(|_| "a series over 4 GB of values")?;
        self.text.push_str(text);
        self.samples.push((ms, value));
        self.spans.push((at, at + text.len() as u32));
        Ok(())
    }

    fn value_text(&self, k: usize) -> &str {
        let (a, b) = self.spans[k];
        &self.text[a as usize..b as usize]
    }

    /// Time order (a series in several lines), the last of equal timestamps kept.
    fn sort(&mut self) {
        let mut order: Vec<usize> = (0..self.samples.len()).collect();
        order.sort_by_key(|&k| self.samples[k].0);
        let mut samples: Vec<(i64, f64)> = Vec::with_capacity(order.len());
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(order.len());
        for k in order {
            if samples.last().is_some_and(|l| l.0 == self.samples[k].0) {
                samples.pop();
                spans.pop();
            }
            samples.push(self.samples[k]);
            spans.push(self.spans[k]);
        }
        (self.samples, self.spans) = (samples, spans);
    }
}

/// The `metric` object of a line: its labels sorted by name (`__name__` included).
fn parse_labels(line: &[u8]) -> Result<Labels, String> {
    let mut labels = None;
    walk(line, |key, value| {
        if key == "metric" {
            let map: BTreeMap<String, String> =
                serde_json::from_slice(value).map_err(|e| format!("metric: {e}"))?;
            labels = Some(map.into_iter().collect());
        }
        Ok(())
    })?;
    labels.ok_or_else(|| "no \"metric\"".to_owned())
}

/// Appends the samples of a line to `out`, staleness markers (NaN) left out.
fn parse_samples(line: &[u8], out: &mut ExportedSeries) -> Result<(), String> {
    let (mut values, mut stamps) = (None, None);
    walk(line, |key, value| {
        match key {
            "values" => values = Some(array_items(value)?),
            "timestamps" => stamps = Some(array_items(value)?),
            _ => {}
        }
        Ok(())
    })?;
    let (Some(values), Some(stamps)) = (values, stamps) else {
        return Err("no \"values\" or no \"timestamps\"".into());
    };
    if values.len() != stamps.len() {
        return Err(format!(
            "{} values but {} timestamps",
            values.len(),
            stamps.len()
        ));
    }
    for (v, t) in values.into_iter().zip(stamps) {
        let ms: i64 = t.parse().map_err(|_| format!("timestamp {t:?}"))?;
        let value = parse_value(v).ok_or_else(|| format!("value {v:?}"))?;
        if value.is_nan() {
            continue;
        }
        out.push(ms, value, v)?;
    }
    Ok(())
}

/// A value as VictoriaMetrics writes it: a JSON number, or `+Inf`/`-Inf`/`NaN` (not JSON);
/// a staleness marker may come as `null` (seen from the 1.79 package when an agent was
/// cancelled mid-session): NaN too, so dropped.
fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" | "null" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

/// Calls `f(key, value bytes)` for each member of the line's top-level object. The values
/// may hold `+Inf`/`NaN` (not JSON), so only strings and brackets are tracked here.
fn walk<'a>(
    line: &'a [u8],
    mut f: impl FnMut(&str, &'a [u8]) -> Result<(), String>,
) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err("not an object".into());
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b'}') => return Ok(()),
            Some(b',') => {
                i += 1;
                continue;
            }
            Some(b'"') => {}
            _ => return Err(format!("unexpected byte at {i}")),
        }
        let key_end = string_end(b, i)?;
        let key: String = serde_json::from_str(&text[i..key_end]).map_err(|e| e.to_string())?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(format!("no ':' after {key:?}"));
        }
        i = skip_ws(b, i + 1);
        let end = value_end(b, i)?;
        f(&key, &b[i..end])?;
        i = end;
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index after the closing quote of the string opening at `i`.
fn string_end(b: &[u8], i: usize) -> Result<usize, String> {
    let mut k = i + 1;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            b'"' => return Ok(k + 1),
            _ => k += 1,
        }
    }
    Err("unterminated string".into())
}

/// The index after the value starting at `i`: an object or array (brackets balanced outside
/// strings), a string, or a bare token up to `,` or `}`.
fn value_end(b: &[u8], i: usize) -> Result<usize, String> {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut k = i;
            while k < b.len() {
                match b[k] {
                    b'"' => {
                        k = string_end(b, k)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(k + 1);
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
            Err("unbalanced brackets".into())
        }
        Some(_) => {
            let mut k = i;
            while k < b.len() && !matches!(b[k], b',' | b'}') {
                k += 1;
            }
            Ok(k)
        }
        None => Err("a member without a value".into()),
    }
}

/// The items of a flat array of numbers (`[1,2.5,+Inf]`) as their texts.
fn array_items(v: &[u8]) -> Result<Vec<&str>, String> {
    let text = std::str::from_utf8(v).map_err(|e| e.to_string())?;
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("not an array")?
        .trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    Ok(inner.split(',').map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_infinities_and_a_staleness_marker_parses() {
        let line = br#"{"metric":{"__name__":"up","job":"a\"b,}"},"values":[1,+Inf,-Inf,NaN,0.0000001,null],"timestamps":[1,2,3,4,5,6]}"#;
        let labels = parse_labels(line).unwrap();
        assert_eq!(
            labels,
            vec![
                ("__name__".to_owned(), "up".to_owned()),
                ("job".to_owned(), "a\"b,}".to_owned())
            ]
        );
        let mut s = ExportedSeries::default();
        parse_samples(line, &mut s).unwrap();
        assert_eq!(
            s.samples,
            vec![
                (1, 1.0),
                (2, f64::INFINITY),
                (3, f64::NEG_INFINITY),
                (5, 1e-7)
            ]
        );
        let texts: Vec<&str> = (0..4).map(|k| s.value_text(k)).collect();
        assert_eq!(texts, ["1", "+Inf", "-Inf", "0.0000001"]);
    }

    #[test]
    fn bad_lines_are_errors() {
        for bad in [
            &br#"{"metric":{"a":"b"},"values":[1,2],"timestamps":[1]}"#[..],
            br#"{"metric":{"a":"b"},"values":[x],"timestamps":[1]}"#,
            br#"{"metric":{"a":"b"}"#,
            br#"["metric"]"#,
        ] {
            let mut s = ExportedSeries::default();
            let r = parse_labels(bad).and_then(|_| parse_samples(bad, &mut s));
            assert!(r.is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_series_split_over_lines_is_joined_in_time_order() {
        let mut s = ExportedSeries::default();
        parse_samples(br#"{"values":[3,4],"timestamps":[30,40]}"#, &mut s).unwrap();
        parse_samples(br#"{"values":[1,5],"timestamps":[10,40]}"#, &mut s).unwrap();
        s.sort();
        assert_eq!(s.samples, vec![(10, 1.0), (30, 3.0), (40, 5.0)]);
    }
}
