//! Reads `/api/v1/series` as it arrives: each series' label set is handed to a callback and
//! dropped, so counting the series of 500 k series costs one label set of memory, not the list.

use crate::export::matrix::Labels;
use crate::export::plan::{unix_text, RAW};
use crate::export::CollectError;
use futures_util::TryStreamExt;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Bytes of an error body kept for the error message.
const ERROR_BODY_MAX: usize = 2000;

/// Receives the series of an answer, one at a time.
pub(crate) trait SeriesSink {
    fn series(&mut self, labels: Labels);
}

/// Every series, kept.
impl SeriesSink for Vec<Labels> {
    fn series(&mut self, labels: Labels) {
        self.push(labels);
    }
}

/// Hands every series (labels sorted by name) that `selector` matches in `[start_ms, end_ms]`
/// to `sink`, on a blocking thread as the answer is parsed; returns the sink.
pub(crate) async fn each_series<S>(
    http: &reqwest::Client,
    base: &str,
    selector: &str,
    (start_ms, end_ms): (i64, i64),
    sink: S,
) -> Result<S, CollectError>
where
    S: SeriesSink + Send + 'static,
{
    let url = format!("{}/api/v1/series", base.trim_end_matches('/'));
    let form = [
        ("match[]", selector.to_owned()),
        ("start", unix_text(start_ms)),
        ("end", unix_text(end_ms)),
    ];
    let http_err = |source| CollectError::Http {
        query: RAW.to_owned(),
        url: url.clone(),
        source,
    };
    let resp = http.post(&url).form(&form).send().await.map_err(http_err)?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.bytes().await.map_err(http_err)?;
        return Err(CollectError::Status {
            query: RAW.to_owned(),
            url,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_MAX)]).into_owned(),
        });
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    let reader = std::io::BufReader::new(SyncIoBridge::new(StreamReader::new(stream)));
    let selector = selector.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut sink = sink;
        let mut de = serde_json::Deserializer::from_reader(reader);
        let answer = Envelope { each: &mut sink }
            .deserialize(&mut de)
            .map_err(|e| e.to_string())
            .and_then(|a| a);
        match answer {
            Ok(()) => Ok(sink),
            Err(reason) => Err(CollectError::Response {
                query: RAW.to_owned(),
                reason: format!("series of {selector}: {reason}"),
            }),
        }
    })
    .await
    .map_err(|e| CollectError::Task(e.to_string()))?
}

/// `{"status":…,"data":[{…},…],"error":…}`: the series go to `each`; the value is the API's
/// error, if it reported one.
struct Envelope<'a, F> {
    each: &'a mut F,
}

impl<'de, F: SeriesSink> DeserializeSeed<'de> for Envelope<'_, F> {
    type Value = Result<(), String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: SeriesSink> Visitor<'de> for Envelope<'_, F> {
    type Value = Result<(), String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Prometheus API answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut status, mut error) = (String::new(), String::new());
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" => status = map.next_value()?,
                "error" => error = map.next_value()?,
                "data" => map.next_value_seed(Data {
                    each: &mut *self.each,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match status.as_str() {
            "success" => Ok(()),
            _ => Err(format!("status {status:?}: {error}")),
        })
    }
}

/// The `data` array, one label set at a time.
struct Data<'a, F> {
    each: &'a mut F,
}

impl<'de, F: SeriesSink> DeserializeSeed<'de> for Data<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: SeriesSink> Visitor<'de> for Data<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of label sets")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(labels) = seq.next_element::<BTreeMap<String, String>>()? {
            self.each.series(labels.into_iter().collect());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> (Result<(), String>, Vec<Labels>) {
        let mut got: Vec<Labels> = Vec::new();
        let mut de = serde_json::Deserializer::from_str(body);
        let r = Envelope { each: &mut got }.deserialize(&mut de).unwrap();
        (r, got)
    }

    #[test]
    fn every_label_set_is_handed_over_sorted_by_name() {
        let (r, got) = parse(
            r#"{"status":"success","data":[{"__name__":"up","job":"a","instance":"x"},{"__name__":"up","Z":"1"}],"warnings":["w"]}"#,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(got.len(), 2);
        let names: Vec<&str> = got[0].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["__name__", "instance", "job"]);
        assert_eq!(got[1][0], ("Z".to_owned(), "1".to_owned()));
    }

    #[test]
    fn an_api_error_is_reported_with_its_message() {
        let (r, got) = parse(r#"{"status":"error","errorType":"bad_data","error":"nope"}"#);
        assert!(got.is_empty());
        assert!(r.unwrap_err().contains("nope"));
    }
}
