//! The Prometheus text exposition format (version 0.0.4), as client libraries write it:
//! `name{label="value",…} value [timestamp_ms]` per line, `#` lines being comments, `# HELP`
//! and `# TYPE`. Errors name the 1-based line.

use super::{validate, LabelPairs, PushError, Sample};

/// Parses a whole body; the first bad line refuses it.
pub fn parse(body: &str, session_labels: &[&str]) -> Result<Vec<Sample>, PushError> {
    let mut out = Vec::new();
    for (i, raw) in body.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("line {}", i + 1);
        out.push(parse_line(&origin, line, session_labels)?);
        if out.len() > super::MAX_SAMPLES {
            return Err(PushError::new(
                origin,
                format!(
                    "more than {} samples in one request; split the push",
                    super::MAX_SAMPLES
                ),
            ));
        }
    }
    Ok(out)
}

fn parse_line(origin: &str, line: &str, session_labels: &[&str]) -> Result<Sample, PushError> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    validate::metric_name(origin, name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(origin, after)?;
        for (k, v) in &parsed {
            validate::label(origin, k, v, session_labels)?;
        }
        labels = parsed;
        rest = tail;
    }
    let labels = validate::label_set(origin, labels)?;
    let mut fields = rest.split_ascii_whitespace();
    let value_text = fields
        .next()
        .ok_or_else(|| PushError::new(origin, "the sample has no value"))?;
    let value: f64 = value_text
        .parse()
        .map_err(|_| PushError::new(origin, format!("value {value_text:?} is not a number")))?;
    validate::value(origin, value)?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            PushError::new(
                origin,
                format!("timestamp {t:?} is not an integer of milliseconds"),
            )
        })?),
    };
    if let Some(extra) = fields.next() {
        return Err(PushError::new(
            origin,
            format!("unexpected {extra:?} after the timestamp"),
        ));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
        origin: origin.to_owned(),
    })
}

/// Parses `a="x",b="y"}` (the text after `{`), returning the pairs and the text after `}`.
fn parse_labels<'a>(origin: &str, mut s: &'a str) -> Result<(LabelPairs, &'a str), PushError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(tail) = s.strip_prefix('}') {
            return Ok((out, tail));
        }
        let eq = s
            .find('=')
            .ok_or_else(|| PushError::new(origin, "a label has no '=' (or '}' is missing)"))?;
        let name = s[..eq].trim().to_owned();
        s = s[eq + 1..].trim_start();
        let body = s.strip_prefix('"').ok_or_else(|| {
            PushError::new(origin, format!("the value of label {name:?} is not quoted"))
        })?;
        let (value, tail) = unquote(body).ok_or_else(|| {
            PushError::new(
                origin,
                format!("the value of label {name:?} has no closing quote or a bad escape"),
            )
        })?;
        out.push((name, value));
        s = tail.trim_start();
        if let Some(tail) = s.strip_prefix(',') {
            s = tail;
        } else if !s.starts_with('}') {
            return Err(PushError::new(
                origin,
                "labels must be separated by ',' and closed by '}'",
            ));
        }
    }
}

/// Reads a quoted value up to its closing quote (`\\`, `\"` and `\n` escapes).
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                _ => return None,
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_escapes_values_and_timestamps() {
        let body = "# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"\\n\",} 3.5 1700000000123\n\ny 2\n";
        let s = parse(body, &[]).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(
            s[0].labels,
            vec![("a".into(), "1".into()), ("b".into(), "q\"\n".into())]
        );
        assert_eq!(s[0].value, 3.5);
        assert_eq!(s[0].timestamp_ms, Some(1_700_000_000_123));
        assert_eq!(s[0].origin, "line 2");
        assert_eq!(s[1].timestamp_ms, None);
        assert_eq!(s[1].origin, "line 4");
    }

    #[test]
    fn histogram_buckets_keep_their_inf_le_label() {
        let s = parse("h_bucket{le=\"+Inf\"} 10", &[]).unwrap();
        assert_eq!(s[0].labels, vec![("le".into(), "+Inf".into())]);
    }

    #[test]
    fn bad_lines_are_named_with_their_reason() {
        let err = |body: &str| parse(body, &["model"]).unwrap_err().to_string();
        assert_eq!(
            err("ok 1\n1bad 2"),
            "line 2: metric name \"1bad\" must match [a-zA-Z_:][a-zA-Z0-9_:]*"
        );
        assert_eq!(err("x{session=\"a\"} 1"), "line 1: label \"session\" is set by benchmon on every pushed series and may not be given");
        assert_eq!(err("x{model=\"a\"} 1"), "line 1: label \"model\" is set by benchmon on every pushed series and may not be given");
        assert_eq!(
            err("x{__x=\"a\"} 1"),
            "line 1: label name \"__x\" may not start with '__' (reserved by Prometheus)"
        );
        assert_eq!(
            err("x NaN"),
            "line 1: value NaN is not finite; NaN and ±Inf are refused"
        );
        assert_eq!(
            err("x +Inf"),
            "line 1: value inf is not finite; NaN and ±Inf are refused"
        );
        assert_eq!(err("x"), "line 1: the sample has no value");
        assert_eq!(
            err("x 1 2 3"),
            "line 1: unexpected \"3\" after the timestamp"
        );
        assert_eq!(
            err("x 1 1.5"),
            "line 1: timestamp \"1.5\" is not an integer of milliseconds"
        );
        assert_eq!(
            err("x{a=\"1\",a=\"2\"} 1"),
            "line 1: label \"a\" is given twice"
        );
        assert_eq!(
            err("x{a=\"1\" 1"),
            "line 1: labels must be separated by ',' and closed by '}'"
        );
    }
}
