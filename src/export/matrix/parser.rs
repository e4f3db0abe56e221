//! The matrix parser's state machine and tokenizer: resumable at item boundaries, it consumes
//! as many complete items of a block as it can and hands them to the [`MatrixSink`].

use super::{MatrixError, MatrixMeta, MatrixSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Top,
    Data,
    Result,
    Series,
    Values,
    Done,
}

/// Outcome of trying to parse one item: done up to a position, or the block ended inside it.
enum Step<T> {
    Item(T),
    More,
    /// Consumed up to here, then the block ended inside an item.
    Stop(usize),
}

type Res<T, E> = Result<Step<T>, MatrixError<E>>;

pub(super) struct Parser {
    state: State,
    status: Option<String>,
    error_type: String,
    error: String,
    result_type: Option<String>,
    saw_result: bool,
    in_series: bool,
    meta: MatrixMeta,
    /// Bytes consumed before the current block, for error offsets.
    base: u64,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t' | b',') {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON string starting at `b[i] == '"'`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    None
}

/// End (exclusive) of the JSON value starting at `b[i]`, or `None` if the block ends first.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let j = i + b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))?;
            Some(j)
        }
    }
}

/// Timestamp text (`1762250400`, `1762250400.5`, `1.7622504e9`) to milliseconds.
#[inline]
pub(super) fn ts_millis(t: &[u8]) -> Option<i64> {
    // Fast path, what Prometheus writes: up to 15 integer digits and up to 3 decimals.
    let n = t.len();
    let (mut secs, mut i) = (0i64, 0usize);
    while i < n && i < 15 {
        let d = t[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        secs = secs * 10 + i64::from(d);
        i += 1;
    }
    if i > 0 && i == n {
        return Some(secs * 1000);
    }
    if i > 0 && t[i] == b'.' && n - i <= 4 && n - i >= 2 {
        let (mut ms, mut scale, mut ok) = (0i64, 100i64, true);
        for &c in &t[i + 1..] {
            let d = c.wrapping_sub(b'0');
            ok &= d <= 9;
            ms += i64::from(d) * scale;
            scale /= 10;
        }
        if ok {
            return Some(secs * 1000 + ms);
        }
    }
    let f: f64 = std::str::from_utf8(t).ok()?.parse().ok()?;
    (f.is_finite() && f.abs() < 1e15).then(|| (f * 1000.0).round() as i64)
}

impl Parser {
    pub(super) fn new() -> Self {
        Parser {
            state: State::Start,
            status: None,
            error_type: String::new(),
            error: String::new(),
            result_type: None,
            saw_result: false,
            in_series: false,
            meta: MatrixMeta::default(),
            base: 0,
        }
    }

    /// Whether the top-level object is closed.
    pub(super) fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Records that `used` bytes of the block were consumed, for error offsets.
    pub(super) fn consumed(&mut self, used: usize) {
        self.base += used as u64;
    }

    pub(super) fn malformed<E>(&self, at: usize, reason: impl Into<String>) -> MatrixError<E> {
        MatrixError::Malformed {
            offset: self.base + at as u64,
            reason: reason.into(),
        }
    }

    pub(super) fn finish<E>(self) -> Result<MatrixMeta, MatrixError<E>> {
        match self.status.as_deref() {
            Some("success") => {}
            Some("error") => {
                return Err(MatrixError::Api {
                    error_type: self.error_type,
                    error: self.error,
                })
            }
            other => return Err(self.malformed(0, format!("status is {other:?}"))),
        }
        if self.result_type.as_deref() != Some("matrix") || !self.saw_result {
            return Err(self.malformed(
                0,
                format!(
                    "expected a matrix result, got resultType {:?}",
                    self.result_type
                ),
            ));
        }
        Ok(self.meta)
    }

    /// Parses as many complete items of `b` as possible; returns the bytes consumed.
    pub(super) fn feed<S: MatrixSink>(
        &mut self,
        b: &[u8],
        sink: &mut S,
    ) -> Result<usize, MatrixError<S::Error>> {
        let mut i = 0;
        loop {
            i = skip_ws(b, i);
            if i >= b.len() {
                return Ok(i);
            }
            let step = match self.state {
                State::Start => self.open(b, i, b'{', State::Top),
                State::Top | State::Data => self.object_key(b, i),
                State::Result => self.result_item(b, i),
                State::Series => self.series_key(b, i, sink),
                State::Values => self.values(b, i, sink),
                State::Done => Ok(Step::Item(b.len())),
            }?;
            match step {
                Step::Item(next) => i = next,
                Step::More => return Ok(i),
                Step::Stop(at) => return Ok(at),
            }
        }
    }

    fn open<E>(&mut self, b: &[u8], i: usize, c: u8, next: State) -> Res<usize, E> {
        if b[i] != c {
            return Err(self.malformed(i, format!("expected {:?}", c as char)));
        }
        self.state = next;
        Ok(Step::Item(i + 1))
    }

    /// Reads `"key":` at `b[i]`; returns the key and the position of its value.
    fn key<E>(&self, b: &[u8], i: usize) -> Res<(String, usize), E> {
        if b[i] != b'"' {
            return Err(self.malformed(i, "expected a key"));
        }
        let Some(end) = string_end(b, i) else {
            return Ok(Step::More);
        };
        let key: String =
            serde_json::from_slice(&b[i..end]).map_err(|e| self.malformed(i, e.to_string()))?;
        let j = skip_ws(b, end);
        match b.get(j) {
            None => Ok(Step::More),
            Some(b':') => {
                let v = skip_ws(b, j + 1);
                if v >= b.len() {
                    Ok(Step::More)
                } else {
                    Ok(Step::Item((key, v)))
                }
            }
            Some(_) => Err(self.malformed(j, "expected ':'")),
        }
    }

    /// A complete scalar/array value at `b[v]`, deserialized.
    fn whole<T: serde::de::DeserializeOwned, E>(&self, b: &[u8], v: usize) -> Res<(T, usize), E> {
        let Some(end) = value_end(b, v) else {
            return Ok(Step::More);
        };
        let t = serde_json::from_slice(&b[v..end]).map_err(|e| self.malformed(v, e.to_string()))?;
        Ok(Step::Item((t, end)))
    }

    /// A key (or the closing brace) of the top-level or `data` object.
    fn object_key<E>(&mut self, b: &[u8], i: usize) -> Res<usize, E> {
        let top = self.state == State::Top;
        if b[i] == b'}' {
            self.state = if top { State::Done } else { State::Top };
            return Ok(Step::Item(i + 1));
        }
        let Step::Item((key, v)) = self.key(b, i)? else {
            return Ok(Step::More);
        };
        let end = match (top, key.as_str()) {
            (true, "data") => return self.open(b, v, b'{', State::Data),
            (false, "result") => {
                self.saw_result = true;
                return self.open(b, v, b'[', State::Result);
            }
            (true, "status") | (true, "errorType") | (true, "error") | (false, "resultType") => {
                let Step::Item((s, end)) = self.whole::<String, E>(b, v)? else {
                    return Ok(Step::More);
                };
                match key.as_str() {
                    "status" => self.status = Some(s),
                    "errorType" => self.error_type = s,
                    "error" => self.error = s,
                    _ => self.result_type = Some(s),
                }
                end
            }
            (true, "warnings") | (true, "infos") => {
                let Step::Item((w, end)) = self.whole::<Vec<String>, E>(b, v)? else {
                    return Ok(Step::More);
                };
                self.meta.warnings.extend(w);
                end
            }
            _ => match value_end(b, v) {
                Some(end) => end,
                None => return Ok(Step::More),
            },
        };
        Ok(Step::Item(end))
    }

    /// The start of a series object, or the end of the result array.
    fn result_item<E>(&mut self, b: &[u8], i: usize) -> Res<usize, E> {
        match b[i] {
            b']' => {
                self.state = State::Data;
                Ok(Step::Item(i + 1))
            }
            b'{' => {
                self.state = State::Series;
                self.in_series = false;
                Ok(Step::Item(i + 1))
            }
            _ => Err(self.malformed(i, "expected a series object")),
        }
    }

    fn series_key<S: MatrixSink>(
        &mut self,
        b: &[u8],
        i: usize,
        sink: &mut S,
    ) -> Res<usize, S::Error> {
        if b[i] == b'}' {
            if self.in_series {
                sink.end_series().map_err(MatrixError::Sink)?;
            }
            self.state = State::Result;
            return Ok(Step::Item(i + 1));
        }
        let Step::Item((key, v)) = self.key(b, i)? else {
            return Ok(Step::More);
        };
        match key.as_str() {
            "metric" => {
                if self.in_series {
                    return Err(self.malformed(i, "two label sets in one series"));
                }
                let Step::Item((map, end)) =
                    self.whole::<std::collections::BTreeMap<String, String>, S::Error>(b, v)?
                else {
                    return Ok(Step::More);
                };
                sink.series(map.into_iter().collect())
                    .map_err(MatrixError::Sink)?;
                self.in_series = true;
                Ok(Step::Item(end))
            }
            "values" => {
                if !self.in_series {
                    return Err(self.malformed(i, "values before the series' labels"));
                }
                self.open(b, v, b'[', State::Values)
            }
            other => {
                if other == "histograms" {
                    self.meta.native_histogram_series += 1;
                }
                match value_end(b, v) {
                    Some(end) => Ok(Step::Item(end)),
                    None => Ok(Step::More),
                }
            }
        }
    }

    /// Samples `[ts,"value"]` until the closing bracket of the values array: the hot loop.
    fn values<S: MatrixSink>(
        &mut self,
        b: &[u8],
        mut i: usize,
        sink: &mut S,
    ) -> Res<usize, S::Error> {
        loop {
            i = skip_ws(b, i);
            let Some(&c) = b.get(i) else {
                return Ok(Step::Stop(i));
            };
            if c == b']' {
                self.state = State::Series;
                return Ok(Step::Item(i + 1));
            }
            if c != b'[' {
                return Err(self.malformed(i, "expected a [timestamp, \"value\"] pair"));
            }
            // Timestamp: a JSON number.
            let ts_start = skip_ws(b, i + 1);
            let mut j = ts_start;
            while j < b.len() && matches!(b[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                j += 1;
            }
            let ts_end = j;
            let j = skip_ws(b, j); // also skips the comma
            let Some(&q) = b.get(j) else {
                return Ok(Step::Stop(i));
            };
            if q != b'"' {
                return Err(self.malformed(j, "expected a quoted sample value"));
            }
            let v_start = j + 1;
            let Some(len) = b[v_start..].iter().position(|&c| c == b'"' || c == b'\\') else {
                return Ok(Step::Stop(i));
            };
            let v_end = v_start + len;
            if b[v_end] == b'\\' {
                return Err(self.malformed(v_end, "escaped sample value"));
            }
            let k = skip_ws_only(b, v_end + 1);
            let Some(&close) = b.get(k) else {
                return Ok(Step::Stop(i));
            };
            if close != b']' {
                return Err(self.malformed(k, "expected ']' after a sample"));
            }
            let ts_text = &b[ts_start..ts_end];
            let Some(ms) = ts_millis(ts_text) else {
                return Err(self.malformed(ts_start, "bad timestamp"));
            };
            sink.sample(ms, ts_text, &b[v_start..v_end])
                .map_err(MatrixError::Sink)?;
            i = k + 1;
        }
    }
}

fn skip_ws_only(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}
