//! Incremental parser for Prometheus's matrix responses (`query_range`, or an instant query of
//! a range vector).
//!
//! The body `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{…},
//! "values":[[ts,"v"],…]},…]},"warnings":[…]}` is read in blocks and handed over as it goes:
//! each series' labels, then each sample with its timestamp and Prometheus's value text. No
//! matrix is built; the buffer holds one block plus at most one unfinished item (a sample, or a
//! series' label object), whatever the size of the response.
//!
//! The parser resumes at item boundaries: when a block ends inside an item, the item is parsed
//! again once the next block has arrived. Keys are matched by name, so key order does not
//! matter, except that a series' `metric` must come before its `values` (as Prometheus writes
//! it). Native histogram samples (`histograms`) are skipped and counted.
//!
//! Here: the sink contract and the loop that reads blocks; the state machine and the tokenizer
//! are in `parser`.

mod parser;

use parser::Parser;
use std::io::Read;

/// Label pairs sorted by name (the order Prometheus sorts label sets in).
pub(crate) type Labels = Vec<(String, String)>;

/// Receives a matrix as it is parsed. Errors abort the parse and are passed through.
pub(crate) trait MatrixSink {
    type Error;
    fn series(&mut self, labels: Labels) -> Result<(), Self::Error>;
    /// `ts_text` is the timestamp as Prometheus wrote it (unix seconds), `value` its value text.
    fn sample(&mut self, ts_ms: i64, ts_text: &[u8], value: &[u8]) -> Result<(), Self::Error>;
    fn end_series(&mut self) -> Result<(), Self::Error>;
}

/// Warnings and infos Prometheus attached to the response.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct MatrixMeta {
    pub(crate) warnings: Vec<String>,
    pub(crate) native_histogram_series: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum MatrixError<E> {
    #[error("reading the response failed: {0}")]
    Read(std::io::Error),
    #[error("malformed response at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    #[error("{error_type}: {error}")]
    Api { error_type: String, error: String },
    #[error(transparent)]
    Sink(E),
}

/// Block size for reads.
const BLOCK: usize = 256 * 1024;

/// Parses a matrix response from `reader` into `sink`.
pub(crate) fn parse_matrix<R: Read, S: MatrixSink>(
    mut reader: R,
    sink: &mut S,
) -> Result<MatrixMeta, MatrixError<S::Error>> {
    let mut p = Parser::new();
    let mut buf = vec![0u8; BLOCK];
    let (mut lo, mut hi) = (0usize, 0usize);
    loop {
        if lo > 0 {
            buf.copy_within(lo..hi, 0);
            hi -= lo;
            lo = 0;
        }
        if hi == buf.len() {
            // One item larger than the buffer (a huge label set): grow.
            buf.resize(buf.len() * 2, 0);
        }
        let n = loop {
            match reader.read(&mut buf[hi..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MatrixError::Read(e)),
            }
        };
        hi += n;
        let used = p.feed(&buf[lo..hi], sink)?;
        p.consumed(used);
        lo += used;
        if n == 0 {
            if !p.done() {
                return Err(p.malformed(hi - lo, "response ended early"));
            }
            return p.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parser::ts_millis;
    use super::*;

    type Sample = (i64, String, String);

    #[derive(Default)]
    struct Collect(Vec<(Labels, Vec<Sample>)>);

    impl MatrixSink for Collect {
        type Error = String;
        fn series(&mut self, labels: Labels) -> Result<(), String> {
            self.0.push((labels, Vec::new()));
            Ok(())
        }
        fn sample(&mut self, ms: i64, t: &[u8], v: &[u8]) -> Result<(), String> {
            let s = |x: &[u8]| String::from_utf8_lossy(x).into_owned();
            self.0
                .last_mut()
                .ok_or("no series")?
                .1
                .push((ms, s(t), s(v)));
            Ok(())
        }
        fn end_series(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    /// Hands out `data` a few bytes at a time, to hit every resume point.
    struct Dribble<'a>(&'a [u8], usize);
    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    const BODY: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"job":"a \"q\"","__name__":"up"},"values":[[1762250400,"1"],[1762250400.5,"NaN"],[1762250401.125,"+Inf"]]},
        {"metric":{},"values":[[1,"1e-05"]]},
        {"metric":{"x":"}]"},"values":[]}]},"warnings":["w1"],"infos":["i1"]}"#;

    #[test]
    fn parses_the_same_whatever_the_block_boundaries() {
        for step in [1, 2, 3, 7, 64, 100_000] {
            let mut sink = Collect::default();
            let meta = parse_matrix(Dribble(BODY.as_bytes(), step), &mut sink).unwrap();
            assert_eq!(meta.warnings, vec!["w1", "i1"]);
            assert_eq!(sink.0.len(), 3, "step {step}");
            let (labels, samples) = &sink.0[0];
            assert_eq!(labels[0], ("__name__".into(), "up".into()));
            assert_eq!(labels[1], ("job".into(), "a \"q\"".into()));
            assert_eq!(
                samples[1],
                (1_762_250_400_500, "1762250400.5".into(), "NaN".into())
            );
            assert_eq!(samples[2].0, 1_762_250_401_125);
            assert_eq!(sink.0[1].1, vec![(1000, "1".into(), "1e-05".into())]);
            assert_eq!(sink.0[2].0, vec![("x".into(), "}]".into())]);
        }
    }

    #[test]
    fn api_errors_and_truncation_are_reported() {
        let err = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        let r = parse_matrix(err.as_bytes(), &mut Collect::default());
        assert!(
            matches!(r, Err(MatrixError::Api { ref error_type, ref error }) if error_type == "bad_data" && error == "parse error")
        );
        let cut = &BODY[..BODY.len() - 20];
        assert!(matches!(
            parse_matrix(cut.as_bytes(), &mut Collect::default()),
            Err(MatrixError::Malformed { .. })
        ));
        let values_first = r#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[],"metric":{}}]}}"#;
        assert!(matches!(
            parse_matrix(values_first.as_bytes(), &mut Collect::default()),
            Err(MatrixError::Malformed { .. })
        ));
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(
            parse_matrix(vector.as_bytes(), &mut Collect::default()),
            Err(MatrixError::Malformed { .. })
        ));
    }

    #[test]
    fn timestamps_convert_exactly() {
        assert_eq!(ts_millis(b"1762250400"), Some(1_762_250_400_000));
        assert_eq!(ts_millis(b"1762250400.1"), Some(1_762_250_400_100));
        assert_eq!(ts_millis(b"1762250400.123"), Some(1_762_250_400_123));
        assert_eq!(ts_millis(b"1.7622504e9"), Some(1_762_250_400_000));
        assert_eq!(ts_millis(b"x"), None);
        assert_eq!(ts_millis(b"1762250400.1234"), Some(1_762_250_400_123));
        assert_eq!(ts_millis(b"1."), Some(1000));
        assert_eq!(ts_millis(b"99999999999999999999"), None);
    }
}
