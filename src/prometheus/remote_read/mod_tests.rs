//! Tests of series assembly and of the client against a fake server; the integration tests in
//! `tests/collect/remote_read.rs` run it against a real Prometheus.

use super::proto::{Chunk, ChunkedReadResponse, ChunkedSeries, Label};
use super::xor::tests::encode;
use super::*;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(n, v)| Label {
            name: (*n).into(),
            value: (*v).into(),
        })
        .collect()
}

fn chunk(samples: &[(i64, f64)]) -> Chunk {
    Chunk {
        min_time_ms: samples.first().map_or(0, |s| s.0),
        max_time_ms: samples.last().map_or(0, |s| s.0),
        r#type: ChunkEncoding::Xor as i32,
        data: encode(samples),
    }
}

fn series(name: &str, chunks: Vec<Chunk>) -> ChunkedSeries {
    ChunkedSeries {
        labels: labels(&[("__name__", name), ("job", "j")]),
        chunks,
    }
}

impl Assembler {
    /// [`Assembler::add`] of an owned (prost) entry.
    fn add_owned(&mut self, s: ChunkedSeries) -> Result<Option<RawSeries>, RemoteReadError> {
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        let chunks: Vec<wire::ChunkView<'_>> = s
            .chunks
            .iter()
            .map(|c| wire::ChunkView {
                min_time_ms: c.min_time_ms,
                max_time_ms: c.max_time_ms,
                encoding: c.r#type,
                data: &c.data,
            })
            .collect();
        self.add(&labels, &chunks)
    }
}

#[test]
fn a_recycled_series_is_overwritten_whole() {
    let mut a = Assembler::new(0, 100);
    a.spare.push(RawSeries {
        labels: vec![
            ("__name__".into(), "old-name-longer".into()),
            ("job".into(), "old".into()),
            ("zone".into(), "z".into()),
        ],
        samples: vec![(1, 1.0), (2, 2.0)],
    });
    assert!(a
        .add_owned(series("n", vec![chunk(&[(5, 3.0)])]))
        .unwrap()
        .is_none());
    assert!(a.spare.is_empty(), "the spare was used");
    let s = a.finish().unwrap();
    assert_eq!(
        s.labels,
        vec![("__name__".into(), "n".into()), ("job".into(), "j".into())]
    );
    assert_eq!(s.samples, vec![(5, 3.0)]);
    // A series left empty goes back to the spares.
    a.add_owned(series("e", vec![chunk(&[(500, 1.0)])]))
        .unwrap();
    assert!(a.finish().is_none());
    assert_eq!(a.spare.len(), 1);
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

#[test]
fn assembler_merges_cuts_cleans_and_skips_empty_series() {
    let mut a = Assembler::new(10, 100);
    assert!(a
        .add_owned(series(
            "a",
            vec![chunk(&[(0, 1.0), (10, 2.0), (20, stale())])]
        ))
        .unwrap()
        .is_none());
    // Same labels again: merged, overlapping chunk deduplicated (first sample wins).
    assert!(a
        .add_owned(series(
            "a",
            vec![
                chunk(&[(20, 9.0), (30, f64::NAN), (40, 4.0)]),
                chunk(&[(30, 7.0), (100, 5.0), (101, 6.0)])
            ]
        ))
        .unwrap()
        .is_none());
    // A series entirely outside the range, then a series with only a stale marker.
    let done = a
        .add_owned(series("b", vec![chunk(&[(200, 1.0)])]))
        .unwrap()
        .unwrap();
    assert_eq!(
        done.labels,
        vec![("__name__".into(), "a".into()), ("job".into(), "j".into())]
    );
    let got: Vec<(i64, u64)> = done
        .samples
        .iter()
        .map(|&(t, v)| (t, v.to_bits()))
        .collect();
    let want: Vec<(i64, u64)> = [(10, 2.0), (20, 9.0), (30, f64::NAN), (40, 4.0), (100, 5.0)]
        .iter()
        .map(|&(t, v): &(i64, f64)| (t, v.to_bits()))
        .collect();
    assert_eq!(got, want);
    assert!(
        a.add_owned(series("c", vec![chunk(&[(50, stale())])]))
            .unwrap()
            .is_none(),
        "b is empty"
    );
    assert!(a.finish().is_none(), "c is empty");
}

#[test]
fn non_xor_chunks_are_a_typed_error() {
    let mut a = Assembler::new(0, 100);
    let mut c = chunk(&[(1, 1.0)]);
    c.r#type = ChunkEncoding::Histogram as i32;
    let err = a.add_owned(series("h", vec![c])).unwrap_err();
    assert!(
        matches!(&err, RemoteReadError::UnsupportedChunk { encoding, .. } if encoding == "HISTOGRAM"),
        "{err}"
    );
}

#[test]
fn request_is_snappy_block_protobuf_asking_for_streamed_chunks() {
    let ms = selector::parse_selector(r#"up{job!~"a|b",instance="h:1.0"}"#).unwrap();
    let body = request_body(&ms, 5, 6);
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    let req = proto::ReadRequest::decode(&raw[..]).unwrap();
    assert_eq!(req.accepted_response_types, vec![1]);
    let q = &req.queries[0];
    assert_eq!((q.start_timestamp_ms, q.end_timestamp_ms), (5, 6));
    // Equality goes as the escaped, anchored regex (see `request_body`).
    assert_eq!(q.matchers[0].r#type(), MatcherType::Re);
    assert_eq!(
        (q.matchers[0].name.as_str(), q.matchers[0].value.as_str()),
        ("__name__", "up")
    );
    assert_eq!(q.matchers[1].r#type(), MatcherType::Nre);
    assert_eq!(q.matchers[1].value, "a|b");
    assert_eq!(q.matchers[2].r#type(), MatcherType::Re);
    assert_eq!(q.matchers[2].value, r"h:1\.0");
}

#[test]
fn only_the_streamed_content_type_is_accepted() {
    assert!(is_streamed(STREAMED_CONTENT_TYPE));
    assert!(is_streamed(
        "application/x-streamed-protobuf;proto=prometheus.ChunkedReadResponse"
    ));
    assert!(!is_streamed("application/x-protobuf"));
    assert!(!is_streamed("application/json"));
    assert!(!is_streamed(""));
}

/// A body of frames holding `entries`, one entry per frame.
fn body(entries: Vec<ChunkedSeries>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let msg = ChunkedReadResponse {
            chunked_series: vec![e],
            query_index: 0,
        };
        frames::encode_frame(&msg.encode_to_vec(), &mut out);
    }
    out
}

/// Serves `make()` on every request at a loopback address.
async fn serve<F>(make: F) -> String
where
    F: Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
{
    let app = axum::Router::new().route(
        "/api/v1/read",
        axum::routing::post(move || async move { make() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

/// A streamed response sending `bytes` in slices of `piece` bytes, then `tail` (e.g. pending).
fn streamed(bytes: Vec<u8>, piece: usize, hang: bool) -> axum::response::Response {
    use futures_util::StreamExt;
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    let s = futures_util::stream::iter(pieces);
    let body = if hang {
        axum::body::Body::from_stream(s.chain(futures_util::stream::pending()))
    } else {
        axum::body::Body::from_stream(s)
    };
    ([(CONTENT_TYPE, STREAMED_CONTENT_TYPE)], body).into_response()
}

async fn collect(
    url: &str,
    cancel: &CancellationToken,
) -> Result<(Vec<RawSeries>, ReadStats), RemoteReadError> {
    let mut out = Vec::new();
    let stats = read_raw(
        &reqwest::Client::new(),
        url,
        "{job=\"j\"}",
        0,
        1000,
        cancel,
        |s| {
            out.push(s);
            Ok::<_, std::io::Error>(())
        },
    )
    .await?;
    Ok((out, stats))
}

#[tokio::test]
async fn a_stream_arriving_in_small_pieces_yields_merged_series() {
    let b = body(vec![
        series("a", vec![chunk(&[(1, 1.0), (2, 2.0)])]),
        series("a", vec![chunk(&[(3, 3.0)])]),
        series("b", vec![chunk(&[(4, 4.0)])]),
    ]);
    let len = b.len() as u64;
    let url = serve(move || streamed(b.clone(), 7, false)).await;
    let (got, stats) = collect(&url, &CancellationToken::new()).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].samples, vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
    assert_eq!(got[1].samples, vec![(4, 4.0)]);
    assert_eq!(
        stats,
        ReadStats {
            series: 2,
            samples: 4,
            frames: 3,
            bytes: len
        }
    );
}

#[tokio::test]
async fn refusals_are_typed_so_callers_can_fall_back() {
    let url =
        serve(|| (axum::http::StatusCode::BAD_REQUEST, "x".repeat(5000)).into_response()).await;
    match collect(&url, &CancellationToken::new()).await {
        Err(RemoteReadError::Status { status, body }) => {
            assert_eq!(status, 400);
            assert_eq!(body.len(), MAX_ERROR_BODY_CHARS);
        }
        other => panic!("{other:?}"),
    }
    let url =
        serve(|| ([(CONTENT_TYPE, "application/x-protobuf")], "samples").into_response()).await;
    assert!(matches!(
        collect(&url, &CancellationToken::new()).await,
        Err(RemoteReadError::Unsupported { content_type }) if content_type == "application/x-protobuf"
    ));
}

#[tokio::test]
async fn truncated_or_corrupt_streams_fail() {
    let mut b = body(vec![series("a", vec![chunk(&[(1, 1.0)])])]);
    let short = b[..b.len() - 1].to_vec();
    let url = serve(move || streamed(short.clone(), 1000, false)).await;
    let err = collect(&url, &CancellationToken::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteReadError::Frame(frames::FrameError::Truncated { .. })
        ),
        "{err}"
    );
    let last = b.len() - 1;
    b[last] ^= 0x40;
    let url = serve(move || streamed(b.clone(), 1000, false)).await;
    let err = collect(&url, &CancellationToken::new()).await.unwrap_err();
    assert!(
        err.to_string().contains("frame 0: crc32c mismatch"),
        "{err}"
    );
}

#[tokio::test]
async fn cancellation_and_consumer_errors_stop_a_hanging_stream() {
    let b = body(vec![
        series("a", vec![chunk(&[(1, 1.0)])]),
        series("b", vec![chunk(&[(2, 2.0)])]),
    ]);
    let url = serve(move || streamed(b.clone(), 1000, true)).await;
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let http = reqwest::Client::new();
    let r = read_raw(&http, &url, "{job=\"j\"}", 0, 9, &cancel, |_s| {
        c2.cancel();
        Ok::<_, std::io::Error>(())
    })
    .await;
    assert!(matches!(r, Err(RemoteReadError::Cancelled)), "{r:?}");
    let r = read_raw(
        &http,
        &url,
        "{job=\"j\"}",
        0,
        9,
        &CancellationToken::new(),
        |_s| Err("full"),
    )
    .await;
    assert!(
        matches!(&r, Err(RemoteReadError::Sink(e)) if e.to_string() == "full"),
        "{r:?}"
    );
}

#[tokio::test]
async fn bad_selector_and_range_fail_before_any_request() {
    let http = reqwest::Client::new();
    let cancel = CancellationToken::new();
    let nop = |_s: RawSeries| Ok::<_, std::io::Error>(());
    let r = read_raw(
        &http,
        "http://127.0.0.1:1",
        "rate(x[5m])",
        0,
        1,
        &cancel,
        nop,
    )
    .await;
    assert!(matches!(r, Err(RemoteReadError::Selector(_))), "{r:?}");
    let r = read_raw(&http, "http://127.0.0.1:1", "x", 2, 1, &cancel, nop).await;
    assert!(
        matches!(r, Err(RemoteReadError::InvalidRange { .. })),
        "{r:?}"
    );
}
