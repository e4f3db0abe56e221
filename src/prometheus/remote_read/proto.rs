//! The protobuf messages of Prometheus's remote-read API that this client sends and receives.
//!
//! They mirror `prompb/remote.proto` and `prompb/types.proto` of the Prometheus repository
//! (package `prometheus`), field numbers and enum values included, restricted to what a
//! streamed (`STREAMED_XOR_CHUNKS`) read needs. They are written by hand with `prost`'s derive
//! rather than generated, so that building benchmon needs neither `protoc` nor a build script.
//! Unknown fields (e.g. those a newer Prometheus adds) are skipped by `prost` on decoding.

/// `prometheus.ReadRequest`: one or more queries, and the response types we accept.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Packed (proto3 default for repeated enums), in order of preference.
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.ReadRequest.ResponseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One snappy-compressed `ReadResponse` with raw samples; whole result in memory server-side.
    Samples = 0,
    /// Length-delimited, CRC-checked `ChunkedReadResponse` frames: what this client asks for.
    StreamedXorChunks = 1,
}

/// `prometheus.Query`: a time range (inclusive, ms) and the matchers of one selector.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// `prometheus.LabelMatcher`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    #[prost(enumeration = "MatcherType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.LabelMatcher.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatcherType {
    Eq = 0,
    Neq = 1,
    Re = 2,
    Nre = 3,
}

/// `prometheus.ReadHints`: optional hints to the server; a raw read sends none.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadHints {
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    #[prost(string, tag = "2")]
    pub func: String,
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
}

/// `prometheus.ChunkedReadResponse`: the message inside one frame of a streamed response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Index into `ReadRequest.queries` these series answer.
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// `prometheus.ChunkedSeries`: sorted labels and some chunks (in start-time order, may overlap)
/// of one series. A long series may be split over several consecutive entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Chunk`: one TSDB chunk covering `[min_time_ms, max_time_ms]` (inclusive).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `prometheus.Chunk.Encoding`, matching Prometheus's `chunkenc.Encoding` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    Unknown = 0,
    Xor = 1,
    Histogram = 2,
    FloatHistogram = 3,
}

impl ChunkEncoding {
    /// The name in the `.proto`, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ChunkEncoding::Unknown => "UNKNOWN",
            ChunkEncoding::Xor => "XOR",
            ChunkEncoding::Histogram => "HISTOGRAM",
            ChunkEncoding::FloatHistogram => "FLOAT_HISTOGRAM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Bytes written by hand from the proto definitions: pins the field numbers and wire types.
    #[test]
    fn read_request_encodes_with_prompb_field_numbers() {
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 1,
                end_timestamp_ms: 2,
                matchers: vec![LabelMatcher {
                    r#type: MatcherType::Re as i32,
                    name: "a".into(),
                    value: "b".into(),
                }],
                hints: None,
            }],
            accepted_response_types: vec![ResponseType::StreamedXorChunks as i32],
        };
        let bytes = req.encode_to_vec();
        let matcher = [0x08, 0x02, 0x12, 0x01, b'a', 0x1a, 0x01, b'b'];
        let mut query = vec![0x08, 0x01, 0x10, 0x02, 0x1a, matcher.len() as u8];
        query.extend_from_slice(&matcher);
        let mut want = vec![0x0a, query.len() as u8];
        want.extend_from_slice(&query);
        want.extend_from_slice(&[0x12, 0x01, 0x01]); // packed enum list [1]
        assert_eq!(bytes, want);
        assert_eq!(ReadRequest::decode(&bytes[..]).unwrap(), req);
    }

    #[test]
    fn chunked_read_response_decodes_hand_written_bytes() {
        // Chunk{min=5, max=6, type=XOR, data=[0xAB]}
        let chunk = [0x08, 0x05, 0x10, 0x06, 0x18, 0x01, 0x22, 0x01, 0xab];
        // Label{name="n", value="v"}
        let label = [0x0a, 0x01, b'n', 0x12, 0x01, b'v'];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.extend_from_slice(&[0x12, chunk.len() as u8]);
        series.extend_from_slice(&chunk);
        let mut msg = vec![0x0a, series.len() as u8];
        msg.extend_from_slice(&series);
        msg.extend_from_slice(&[0x10, 0x00]);
        let resp = ChunkedReadResponse::decode(&msg[..]).unwrap();
        assert_eq!(resp.chunked_series.len(), 1);
        let s = &resp.chunked_series[0];
        assert_eq!(s.labels[0].name, "n");
        assert_eq!(s.labels[0].value, "v");
        assert_eq!(s.chunks[0].min_time_ms, 5);
        assert_eq!(s.chunks[0].max_time_ms, 6);
        assert_eq!(s.chunks[0].r#type(), ChunkEncoding::Xor);
        assert_eq!(s.chunks[0].data, vec![0xab]);
    }
}
