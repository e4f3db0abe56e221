//! `prometheus::remote_read` against a real Prometheus: the raw samples it streams equal those
//! of the JSON range-vector query, it is not capped by `--query.max-samples`, and bad input
//! fails early.

use crate::fixtures::{TestProm, FINE_SAMPLES, T0, T_COV, T_FINE};
use benchmon::prometheus::remote_read::{read_raw, RawSeries, ReadStats, RemoteReadError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Start of the own fixtures: a day after the shared ones.
pub(crate) const T_RR: i64 = T0 + 86_400;
/// Dense series: `DENSE_SERIES` series of `DENSE_SAMPLES` samples, one per second from `T_RR`.
pub(crate) const DENSE_SERIES: i64 = 4;
pub(crate) const DENSE_SAMPLES: i64 = 30_000;

/// Values at awkward timestamps: NaN, infinities, -0, repeats, large and tiny numbers.
pub(crate) fn odd_samples() -> Vec<(String, &'static str)> {
    let values = [
        "1", "NaN", "NaN", "+Inf", "-Inf", "-0", "0", "1e308", "-1e-308", "3.14159", "3.14159",
        "NaN", "42", "-7.5", "1e-9",
    ];
    let mut t_ms = T_RR * 1000 + 7;
    let mut out = Vec::new();
    for (i, v) in values.iter().cycle().take(300).enumerate() {
        // Irregular gaps: from 1 ms to over an hour.
        t_ms += [1, 999, 15_000, 61_001, 3_700_000, 250][i % 6] + (i as i64 * 37) % 1000;
        out.push((format!("{}.{:03}", t_ms / 1000, t_ms % 1000), *v));
    }
    out
}

/// OpenMetrics text of the own fixtures.
fn own_fixtures() -> String {
    let mut s = String::from("# TYPE rr_odd gauge\n");
    for (t, v) in odd_samples() {
        writeln!(s, "rr_odd{{case=\"odd\"}} {v} {t}").unwrap();
    }
    s.push_str("# TYPE rr_dense gauge\n");
    for n in 1..=DENSE_SERIES {
        for i in 0..DENSE_SAMPLES {
            // Random-looking values so that chunks are not trivially small.
            let v = ((i * 7919 + n * 104_729) % 100_003) as f64 / 7.0;
            writeln!(s, "rr_dense{{n=\"{n}\"}} {v} {}", T_RR + i).unwrap();
        }
    }
    s.push_str("# EOF\n");
    s
}

/// A Prometheus over the own fixtures with extra flags; killed on drop.
pub(crate) async fn own_prom(flags: &[&str]) -> TestProm {
    TestProm::start_with(&own_fixtures(), flags).await
}

type Samples = Vec<(i64, f64)>;

/// Every series of a remote read, by labels.
async fn remote(
    url: &str,
    sel: &str,
    start_ms: i64,
    end_ms: i64,
) -> (BTreeMap<Vec<(String, String)>, Samples>, ReadStats) {
    let mut out = BTreeMap::new();
    let stats = read_raw(
        &reqwest::Client::new(),
        url,
        sel,
        start_ms,
        end_ms,
        &CancellationToken::new(),
        |s: RawSeries| {
            assert!(
                out.insert(s.labels, s.samples).is_none(),
                "series reported twice"
            );
            Ok::<_, std::io::Error>(())
        },
    )
    .await
    .unwrap();
    (out, stats)
}

/// The JSON API's answer to `sel[end - start]` at `end`: `Ok(series)` or `Err(error body)`.
async fn json(
    url: &str,
    sel: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<BTreeMap<Vec<(String, String)>, Samples>, String> {
    let query = format!("{sel}[{}ms]", end_ms - start_ms);
    let time = format!("{}.{:03}", end_ms / 1000, end_ms % 1000);
    let resp = reqwest::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", query.as_str()), ("time", time.as_str())])
        .send()
        .await
        .unwrap();
    let ok = resp.status().is_success();
    let v: Value = resp.json().await.unwrap();
    if !ok {
        return Err(v.to_string());
    }
    assert_eq!(v["data"]["resultType"], "matrix");
    let mut out = BTreeMap::new();
    for r in v["data"]["result"].as_array().unwrap() {
        let mut labels: Vec<(String, String)> = r["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        labels.sort();
        let samples = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v = match p[1].as_str().unwrap() {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    s => s.parse().unwrap(),
                };
                (t, v)
            })
            .collect();
        out.insert(labels, samples);
    }
    Ok(out)
}

/// Remote read and JSON agree on `sel` over `[start, end]`, series for series, value for value
/// (bits, except that NaN payloads do not survive JSON); returns the samples compared.
async fn assert_same_as_json(url: &str, sel: &str, start_ms: i64, end_ms: i64) -> usize {
    let (got, stats) = remote(url, sel, start_ms, end_ms).await;
    let want = json(url, sel, start_ms, end_ms).await.unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{sel} [{start_ms}, {end_ms}]"
    );
    let mut n = 0;
    for (labels, w) in &want {
        let g = &got[labels];
        assert_eq!(g.len(), w.len(), "{labels:?} [{start_ms}, {end_ms}]");
        for (a, b) in g.iter().zip(w) {
            let same =
                a.0 == b.0 && (a.1.to_bits() == b.1.to_bits() || (a.1.is_nan() && b.1.is_nan()));
            assert!(same, "{labels:?}: remote {a:?} vs json {b:?}");
        }
        n += w.len();
    }
    assert_eq!(stats.samples as usize, n);
    assert_eq!(stats.series as usize, want.len());
    n
}

#[tokio::test]
async fn remote_read_returns_the_same_samples_as_the_json_range_vector_query_series_for_series_value_for_value(
) {
    let prom = TestProm::start().await;
    let all = r#"{__name__=~".+"}"#;
    // The whole shared fixture; both ends fall on samples, so a left-open range would differ.
    let (start, end) = (T0 * 1000, (T_COV + 1800) * 1000);
    let n = assert_same_as_json(&prom.url, all, start, end).await;
    assert!(n as i64 > 2 * FINE_SAMPLES, "{n}");
    // Windows cutting through chunks, on and off sample timestamps.
    for (s, e) in [
        (T_FINE * 1000 + 500, T_FINE * 1000 + 5_000_500),
        (T_FINE * 1000 + 1000, T_FINE * 1000 + 7_000_000),
        (T0 * 1000 + 15_000, T0 * 1000 + 30_000),
    ] {
        assert_same_as_json(&prom.url, all, s, e).await;
    }

    let own = own_prom(&[]).await;
    let odd = odd_samples();
    let (first, last) = (&odd[0].0, &odd[odd.len() - 1].0);
    let ms = |s: &str| (s.parse::<f64>().unwrap() * 1000.0).round() as i64;
    let n = assert_same_as_json(&own.url, "rr_odd", ms(first), ms(last)).await;
    assert_eq!(n, odd.len());
    let (got, _) = remote(&own.url, "rr_odd", ms(first), ms(last)).await;
    let samples = got.values().next().unwrap();
    assert!(
        samples.iter().filter(|s| s.1.is_nan()).count() >= 40,
        "NaN values are kept"
    );
    assert!(samples.iter().any(|s| s.1.to_bits() == (-0.0f64).to_bits()));
    for (s, e) in [
        (ms(first) + 1, ms(last) - 1),
        (ms(&odd[100].0), ms(&odd[101].0)),
        (ms(&odd[5].0) + 3, ms(&odd[250].0) + 17),
    ] {
        assert_same_as_json(&own.url, "rr_odd", s, e).await;
    }
    assert_same_as_json(
        &own.url,
        r#"rr_dense{n=~"1|3"}"#,
        T_RR * 1000,
        (T_RR + DENSE_SAMPLES) * 1000,
    )
    .await;
}

#[tokio::test]
async fn a_prometheus_with_query_max_samples_100_still_streams_every_sample_through_remote_read() {
    // Small frames too, so that Prometheus splits each series over many frames.
    let prom = own_prom(&[
        "--query.max-samples=100",
        "--storage.remote.read-max-bytes-in-frame=4096",
    ])
    .await;
    let (start, end) = (T_RR * 1000, (T_RR + DENSE_SAMPLES) * 1000);
    let err = json(&prom.url, "rr_dense", start, end).await.unwrap_err();
    assert!(err.contains("too many samples"), "{err}");
    let (got, stats) = remote(&prom.url, "rr_dense", start, end).await;
    assert_eq!(got.len() as i64, DENSE_SERIES);
    for (i, (labels, samples)) in got.iter().enumerate() {
        let n = i as i64 + 1;
        assert_eq!(
            labels,
            &vec![
                ("__name__".into(), "rr_dense".into()),
                ("n".into(), n.to_string())
            ]
        );
        assert_eq!(samples.len() as i64, DENSE_SAMPLES);
        for (i, &(t, v)) in samples.iter().enumerate() {
            let i = i as i64;
            assert_eq!(
                (t, v),
                (
                    (T_RR + i) * 1000,
                    ((i * 7919 + n * 104_729) % 100_003) as f64 / 7.0
                )
            );
        }
    }
    assert_eq!(stats.samples as i64, DENSE_SERIES * DENSE_SAMPLES);
    assert!(
        stats.frames > 10 * DENSE_SERIES as u64,
        "series split over frames: {stats:?}"
    );
}

#[tokio::test]
async fn a_selector_that_matches_nothing_yields_zero_series_and_no_error() {
    let prom = TestProm::start().await;
    let (got, stats) = remote(
        &prom.url,
        r#"no_such_metric{case="x"}"#,
        0,
        (T_COV + 1800) * 1000,
    )
    .await;
    assert!(got.is_empty());
    assert_eq!((stats.series, stats.samples), (0, 0));
}

#[tokio::test]
async fn a_bad_selector_gives_the_selector_error_before_any_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    for bad in ["rate(x[5m])", "x[5m]", "{}", r#"{a=~".*"}"#] {
        let r = read_raw(
            &reqwest::Client::new(),
            &url,
            bad,
            0,
            1,
            &CancellationToken::new(),
            |_s| Ok::<_, std::io::Error>(()),
        )
        .await;
        assert!(
            matches!(r, Err(RemoteReadError::Selector(_))),
            "{bad}: {r:?}"
        );
    }
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection was made"
    );
}

#[tokio::test]
async fn remote_read_throughput_on_the_dense_fixture_is_printed() {
    let prom = own_prom(&[]).await;
    let (start, end) = (T_RR * 1000, (T_RR + DENSE_SAMPLES) * 1000);
    remote(&prom.url, "rr_dense", start, end).await; // warm the page cache
    let t = Instant::now();
    let runs = 5;
    let mut stats = ReadStats::default();
    for _ in 0..runs {
        stats = remote(&prom.url, "rr_dense", start, end).await.1;
    }
    let secs = t.elapsed().as_secs_f64() / runs as f64;
    println!(
        "remote read: {} series, {} samples, {} frames, {} bytes in {:.1} ms: {:.0} samples/s, {:.1} bytes/sample",
        stats.series,
        stats.samples,
        stats.frames,
        stats.bytes,
        secs * 1000.0,
        stats.samples as f64 / secs,
        stats.bytes as f64 / stats.samples as f64
    );
    assert_eq!(stats.samples as i64, DENSE_SERIES * DENSE_SAMPLES);
}

#[tokio::test]
async fn a_real_xor_chunk_decodes_to_the_backfilled_counter_values() {
    use benchmon::prometheus::remote_read::{frames, proto, xor};
    use prost::Message;
    let prom = TestProm::start().await;
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: T0 * 1000,
            end_timestamp_ms: T0 * 1000 + 105_000,
            matchers: vec![proto::LabelMatcher {
                r#type: proto::MatcherType::Eq as i32,
                name: "__name__".into(),
                value: "test_requests_total".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![proto::ResponseType::StreamedXorChunks as i32],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/read", prom.url))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    let mut dec = frames::FrameDecoder::default();
    dec.push(&resp.bytes().await.unwrap());
    let frame = dec.next_frame().unwrap().unwrap();
    let msg = proto::ChunkedReadResponse::decode(frame).unwrap();
    let chunk = &msg.chunked_series[0].chunks[0];
    // The fixture pasted into the XOR decoder's unit tests.
    let hex: String = chunk.data.iter().map(|b| format!("{b:02x}")).collect();
    println!("test_requests_total chunk: {hex}");
    let mut samples = Vec::new();
    xor::decode_xor(&chunk.data, &mut samples).unwrap();
    let want: Vec<(i64, f64)> = crate::fixtures::COUNTER_VALUES
        .iter()
        .enumerate()
        .map(|(i, &v)| ((T0 + 15 * i as i64) * 1000, v))
        .collect();
    assert_eq!(samples, want);
}
