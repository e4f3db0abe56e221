//! Prometheus remote write 1.0 (`/api/v1/write`), the sending side: one snappy-compressed
//! protobuf `WriteRequest` per push. The messages mirror `prompb/remote.proto` and
//! `prompb/types.proto` (package `prometheus`), written with `prost`'s derive like the
//! remote-read ones, so no `protoc` is needed.
//!
//! The receiver (`--web.enable-remote-write-receiver`) appends a whole request with one TSDB
//! appender and rolls it back on the first sample it refuses (out of bounds, duplicate), so a
//! request is stored whole or not at all.

use super::client::PromError;
use super::remote_read::proto::Label;
use crate::push::Batch;
use prost::Message;
use std::time::Duration;

/// `prometheus.WriteRequest` (field 3, metadata, is not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The protobuf of a batch (labels come sorted from [`Batch`]).
pub fn write_request(batch: &Batch) -> WriteRequest {
    WriteRequest {
        timeseries: batch
            .series
            .iter()
            .map(|(labels, points)| TimeSeries {
                labels: labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples: points
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
            })
            .collect(),
    }
}

/// The remote-write endpoint of a store whose API is at `base` (Prometheus with the receiver
/// on, VictoriaMetrics single-node).
pub fn endpoint(base: &str) -> String {
    format!("{}/api/v1/write", base.trim_end_matches('/'))
}

/// Sends a batch to the remote-write endpoint `url`. A 4xx means the store refused a sample
/// (Prometheus then stored none of the request); it comes back as [`PromError::Status`].
pub async fn send(http: &reqwest::Client, url: &str, batch: &Batch) -> Result<(), PromError> {
    let url = url.to_owned();
    let body = snap::raw::Encoder::new()
        .compress_vec(&write_request(batch).encode_to_vec())
        .map_err(|e| PromError::Status {
            url: url.clone(),
            status: 0,
            body: format!("cannot snappy-compress the request: {e}"),
        })?;
    let resp = http
        .post(&url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .await
        .map_err(|source| PromError::Http {
            url: url.clone(),
            source,
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    Err(PromError::Status {
        url,
        status: status.as_u16(),
        body: body.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_request_round_trips_through_snappy_and_protobuf() {
        let mut batch = Batch::default();
        batch.series.insert(
            vec![("__name__".into(), "x".into()), ("a".into(), "1".into())],
            vec![(1_000, 1.5), (2_000, 2.5)],
        );
        let bytes = snap::raw::Encoder::new()
            .compress_vec(&write_request(&batch).encode_to_vec())
            .unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&bytes).unwrap();
        let back = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(back.timeseries.len(), 1);
        assert_eq!(back.timeseries[0].labels[0].name, "__name__");
        assert_eq!(
            back.timeseries[0].samples,
            vec![
                Sample {
                    value: 1.5,
                    timestamp: 1_000
                },
                Sample {
                    value: 2.5,
                    timestamp: 2_000
                }
            ]
        );
    }
}
