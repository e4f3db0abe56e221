//! A borrowing decoder of one `ChunkedReadResponse` frame.
//!
//! prost decodes a frame into owned messages: two `String`s per label and a `Vec` per chunk,
//! allocated and freed for every series. At hundreds of thousands of short series that was a
//! sixth of a raw export's CPU (malloc and free). This decoder walks the protobuf wire format
//! in place and hands out each series' labels and chunks as slices of the frame; the proto
//! definitions in [`super::proto`] stay the reference (the tests decode prost's own encoding).
//!
//! Wire format (protobuf encoding): a message is a sequence of `key` varints (`field << 3 |
//! wire type`) each followed by a varint (type 0), 8 bytes (1), a length-prefixed payload (2)
//! or 4 bytes (5). Unknown fields are skipped; groups (3, 4) are not used by these messages and
//! are an error, as is anything running past its payload.

/// What can be wrong with a frame's protobuf payload.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("varint longer than 10 bytes")]
    VarintOverflow,
    #[error("field {field} has wire type {wire_type}, expected {expected}")]
    WireType {
        field: u64,
        wire_type: u64,
        expected: u64,
    },
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u64),
    #[error("label {0} is not UTF-8")]
    NotUtf8(&'static str),
}

/// One chunk of a series, its data borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkView<'a> {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// `prometheus.Chunk.Encoding` as sent.
    pub encoding: i32,
    pub data: &'a [u8],
}

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

/// A field's value, by wire type.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut x: u64 = 0;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            x |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(x);
            }
        }
        Err(if self.buf.len() >= 10 {
            WireError::VarintOverflow
        } else {
            WireError::Truncated(what)
        })
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = usize::try_from(n).map_err(|_| WireError::Truncated(what))?;
        if n > self.buf.len() {
            return Err(WireError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field as `(field number, value)`, `None` at the end of the message.
    fn field(&mut self, what: &'static str) -> Result<Option<(u64, Value<'a>)>, WireError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint(what)?;
        let (field, wire_type) = (key >> 3, key & 7);
        let value = match wire_type {
            0 => Value::Varint(self.varint(what)?),
            1 => {
                self.take(8, what)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint(what)?;
                Value::Bytes(self.take(len, what)?)
            }
            5 => {
                self.take(4, what)?;
                Value::Fixed
            }
            other => return Err(WireError::UnsupportedWireType(other)),
        };
        Ok(Some((field, value)))
    }
}

/// The payload of a length-delimited field, or an error naming the field.
fn bytes<'a>(field: u64, value: Value<'a>) -> Result<&'a [u8], WireError> {
    match value {
        Value::Bytes(b) => Ok(b),
        Value::Varint(_) => Err(WireError::WireType {
            field,
            wire_type: 0,
            expected: 2,
        }),
        Value::Fixed => Err(WireError::WireType {
            field,
            wire_type: 1,
            expected: 2,
        }),
    }
}

/// The varint of a scalar field, or an error naming the field.
fn varint(field: u64, value: Value<'_>) -> Result<u64, WireError> {
    match value {
        Value::Varint(v) => Ok(v),
        _ => Err(WireError::WireType {
            field,
            wire_type: 2,
            expected: 0,
        }),
    }
}

fn utf8<'a>(b: &'a [u8], what: &'static str) -> Result<&'a str, WireError> {
    std::str::from_utf8(b).map_err(|_| WireError::NotUtf8(what))
}

/// `prometheus.Label { string name = 1; string value = 2; }`.
fn label(msg: &[u8]) -> Result<(&str, &str), WireError> {
    let mut r = Reader { buf: msg };
    let (mut name, mut value) = ("", "");
    while let Some((field, v)) = r.field("label")? {
        match field {
            1 => name = utf8(bytes(field, v)?, "name")?,
            2 => value = utf8(bytes(field, v)?, "value")?,
            _ => {}
        }
    }
    Ok((name, value))
}

/// `prometheus.Chunk { int64 min_time_ms = 1; int64 max_time_ms = 2; Encoding type = 3;
/// bytes data = 4; }`.
fn chunk(msg: &[u8]) -> Result<ChunkView<'_>, WireError> {
    let mut r = Reader { buf: msg };
    let mut c = ChunkView {
        min_time_ms: 0,
        max_time_ms: 0,
        encoding: 0,
        data: &[],
    };
    while let Some((field, v)) = r.field("chunk")? {
        // int64 and enum fields are two's-complement varints, truncated as protobuf says.
        match field {
            1 => c.min_time_ms = varint(field, v)? as i64,
            2 => c.max_time_ms = varint(field, v)? as i64,
            3 => c.encoding = varint(field, v)? as i32,
            4 => c.data = bytes(field, v)?,
            _ => {}
        }
    }
    Ok(c)
}

/// Calls `each` with the labels and chunks of every `ChunkedSeries` of a
/// `ChunkedReadResponse { repeated ChunkedSeries chunked_series = 1; int64 query_index = 2; }`,
/// in order. Two scratch vectors are allocated per frame, none per series.
pub fn for_each_series<'a, E: From<WireError>>(
    frame: &'a [u8],
    mut each: impl FnMut(&[(&'a str, &'a str)], &[ChunkView<'a>]) -> Result<(), E>,
) -> Result<(), E> {
    let mut labels: Vec<(&'a str, &'a str)> = Vec::new();
    let mut chunks: Vec<ChunkView<'a>> = Vec::new();
    let mut r = Reader { buf: frame };
    while let Some((field, v)) = r.field("response")? {
        if field != 1 {
            continue;
        }
        labels.clear();
        chunks.clear();
        let mut s = Reader {
            buf: bytes(field, v)?,
        };
        while let Some((field, v)) = s.field("series")? {
            match field {
                1 => labels.push(label(bytes(field, v)?)?),
                2 => chunks.push(chunk(bytes(field, v)?)?),
                _ => {}
            }
        }
        each(&labels, &chunks)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::proto::{Chunk, ChunkedReadResponse, ChunkedSeries, Label};
    use super::*;
    use prost::Message;

    type Decoded = Vec<(Vec<(String, String)>, Vec<(i64, i64, i32, Vec<u8>)>)>;

    fn decode(frame: &[u8]) -> Result<Decoded, WireError> {
        let mut out = Vec::new();
        for_each_series(frame, |labels, chunks| {
            out.push((
                labels
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
                chunks
                    .iter()
                    .map(|c| (c.min_time_ms, c.max_time_ms, c.encoding, c.data.to_vec()))
                    .collect(),
            ));
            Ok::<_, WireError>(())
        })?;
        Ok(out)
    }

    fn as_prost_decoded(msg: &ChunkedReadResponse) -> Decoded {
        msg.chunked_series
            .iter()
            .map(|s| {
                (
                    s.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    s.chunks
                        .iter()
                        .map(|c| (c.min_time_ms, c.max_time_ms, c.r#type, c.data.clone()))
                        .collect(),
                )
            })
            .collect()
    }

    /// A small deterministic generator, as the XOR tests use.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn random_response(rng: &mut Rng) -> ChunkedReadResponse {
        let text = |rng: &mut Rng| -> String {
            let n = (rng.next() % 12) as usize;
            ["a", "é", "\"", "node-001:9100", "", "\u{1F600}", "_"]
                .iter()
                .cycle()
                .skip((rng.next() % 7) as usize)
                .take(n)
                .copied()
                .collect()
        };
        ChunkedReadResponse {
            chunked_series: (0..rng.next() % 5)
                .map(|_| ChunkedSeries {
                    labels: (0..rng.next() % 6)
                        .map(|_| Label {
                            name: text(rng),
                            value: text(rng),
                        })
                        .collect(),
                    chunks: (0..rng.next() % 4)
                        .map(|_| Chunk {
                            // Negative and large times exercise 10-byte varints.
                            min_time_ms: rng.next() as i64,
                            max_time_ms: (rng.next() % 1000) as i64 - 500,
                            r#type: (rng.next() % 4) as i32,
                            data: (0..rng.next() % 40).map(|_| rng.next() as u8).collect(),
                        })
                        .collect(),
                })
                .collect(),
            query_index: (rng.next() % 3) as i64,
        }
    }

    #[test]
    fn decodes_what_prost_encodes() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let msg = random_response(&mut rng);
            let frame = msg.encode_to_vec();
            assert_eq!(decode(&frame).unwrap(), as_prost_decoded(&msg));
        }
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let msg = ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries {
                labels: vec![Label {
                    name: "job".into(),
                    value: "x".into(),
                }],
                chunks: vec![],
            }],
            query_index: 7,
        };
        let mut frame = msg.encode_to_vec();
        // Field 9 as fixed64, fixed32, varint and bytes after the known ones.
        frame.extend_from_slice(&[9 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        frame.extend_from_slice(&[9 << 3 | 5, 1, 2, 3, 4]);
        frame.extend_from_slice(&[9 << 3, 0x80, 0x01]);
        frame.extend_from_slice(&[9 << 3 | 2, 2, b'h', b'i']);
        assert_eq!(decode(&frame).unwrap(), as_prost_decoded(&msg));
    }

    #[test]
    fn every_truncation_is_an_error_or_a_prefix_and_random_bytes_never_panic() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let frame = random_response(&mut rng).encode_to_vec();
            for cut in 0..frame.len() {
                // A cut on a field boundary is a valid shorter message; prost agrees on which.
                let prost = ChunkedReadResponse::decode(&frame[..cut]);
                let ours = decode(&frame[..cut]);
                assert_eq!(ours.is_ok(), prost.is_ok(), "cut at {cut} of {frame:?}");
                if let (Ok(ours), Ok(p)) = (ours, prost) {
                    assert_eq!(ours, as_prost_decoded(&p));
                }
            }
        }
        for _ in 0..5000 {
            let bytes: Vec<u8> = (0..rng.next() % 64).map(|_| rng.next() as u8).collect();
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn a_label_that_is_not_utf8_is_an_error() {
        // Series { label { name = "\xff" } }
        let frame = [0x0a, 5, 0x0a, 3, 0x0a, 1, 0xff];
        assert_eq!(decode(&frame), Err(WireError::NotUtf8("name")));
    }
}
