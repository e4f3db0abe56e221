//! The collect request as the API takes it, the response it gets, and the checks made before
//! any Prometheus is asked (or started): exactly one window, not in the future, an allowed
//! out_dir.

use super::{invalid, CollectionError};
use crate::domain::{PromDuration, RunId, Timestamp, WindowName};
use crate::export::{self, formats::SampleFormat};
use crate::session::{Session, Sessions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use utoipa::ToSchema;

/// `POST /api/v1/sessions/{id}/collect`. The window is exactly one of: `window_start` +
/// `window_end`, `window` (a named window), or `last` (a duration up to now).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectRequest {
    /// RFC 3339 or unix seconds.
    #[serde(default)]
    pub window_start: Option<Timestamp>,
    /// Must be after `window_start` (JSON Schema cannot compare two fields: a 422 on
    /// `window_end`).
    #[serde(default)]
    pub window_end: Option<Timestamp>,
    /// A named window of the session.
    #[serde(default)]
    pub window: Option<WindowName>,
    /// The last N (e.g. `10m`) up to now.
    #[serde(default)]
    pub last: Option<PromDuration>,
    /// Query resolution (default: the scrape interval).
    #[serde(default)]
    pub step: Option<PromDuration>,
    /// Where the bundle goes, under the artifacts root (see README, "Artifacts").
    #[serde(default)]
    pub out_dir: Option<String>,
    /// Bundle directory name (default `collect-<time>`); never overwrites an earlier bundle.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// Extra queries: name → PromQL, or name → `{"promql": …, "unit": …}` to give the values'
    /// unit (`bytes`, `seconds`, `watts` …: then the report prints them for people).
    #[serde(default)]
    pub queries: BTreeMap<String, QuerySpec>,
    /// Include the default profile queries (default true).
    #[serde(default)]
    pub profiles: Option<bool>,
    /// Include a raw export of every series of the session (default true).
    #[serde(default)]
    pub raw: Option<bool>,
    /// Sample files besides `samples.csv`, any of `parquet`, `csv`, `json`: the raw export in
    /// each (`raw.parquet`; `raw.csv` + `raw_series.csv`; `raw.json`), and for the queries with
    /// `parquet` also `samples.parquet`, with `json` also `samples.json`. Omitted:
    /// `raw.parquet` only.
    #[serde(default)]
    #[schema(max_items = 3)]
    pub formats: Option<Vec<SampleFormat>>,
    /// Absolute limits on this collection's KPIs (`{"query": …, "kpi": "p99", "max": 0.5}`),
    /// judged once the bundle is written; the answer's `thresholds` says which passed.
    #[serde(default)]
    pub thresholds: Vec<super::thresholds::Threshold>,
}

/// A user query: the plain PromQL string, or the object form with a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySpec {
    pub promql: String,
    pub unit: Option<export::Unit>,
}

/// `oneOf: [string, {promql, unit?}]`, as the request takes it.
impl utoipa::PartialSchema for QuerySpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::Ref;
        let string = || ObjectBuilder::new().schema_type(Type::String);
        OneOfBuilder::new()
            .item(string().description(Some("PromQL")))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("promql", string())
                    .required("promql")
                    .property("unit", Ref::from_schema_name("Unit"))
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .description(Some(
                "PromQL, or {\"promql\": PromQL, \"unit\": Unit} to give the values' unit",
            ))
            .into()
    }
}

impl ToSchema for QuerySpec {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "Unit".into(),
            <export::Unit as utoipa::PartialSchema>::schema(),
        ));
    }
}

impl From<String> for QuerySpec {
    fn from(promql: String) -> Self {
        QuerySpec { promql, unit: None }
    }
}

/// The object form, strict: an unknown key is an error naming it.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct QueryObject {
    promql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<export::Unit>,
}

/// Written back (into the manifest's copy of the request) in the form it came in.
impl Serialize for QuerySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.unit {
            None => s.serialize_str(&self.promql),
            Some(unit) => QueryObject {
                promql: self.promql.clone(),
                unit: Some(unit),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for QuerySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = QuerySpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a PromQL string or {"promql": "…", "unit": "…"}"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<QuerySpec, E> {
                Ok(QuerySpec::from(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<QuerySpec, A::Error> {
                let o =
                    QueryObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(QuerySpec {
                    promql: o.promql,
                    unit: o.unit,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The answer to a collection: the seed's `artifacts` (file paths) plus everything measured,
/// and the verdict: `quality` is `ok`, `partial` or `empty`, with `quality_reasons`. The status
/// is 201 whatever the verdict: the bundle was written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectResponse {
    /// The verdict on the data: `ok`, `partial` (see `quality_reasons`) or `empty` (not a
    /// single sample). `manifest.complete` only says every file was written.
    pub quality: export::Quality,
    /// Why the quality is not `ok`, each naming the queries or targets concerned.
    pub quality_reasons: Vec<export::Reason>,
    /// Facts that did not lower the verdict.
    pub quality_notes: Vec<String>,
    /// The site's thresholds the verdict applied (`collect.quality`).
    pub quality_thresholds: export::QualityThresholds,
    /// Paths of every file in the bundle (the seed's `response.json()["artifacts"]`).
    pub artifacts: Vec<String>,
    #[schema(value_type = String)]
    pub bundle_dir: PathBuf,
    /// Path of `report.html`.
    pub report: Option<String>,
    /// The named window collected, if one was.
    pub window: Option<String>,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub step: PromDuration,
    /// Every file with size and sha256.
    pub files: Vec<export::Artifact>,
    pub queries: Vec<export::QueryReport>,
    /// Default-profile or user queries that matched nothing in the window.
    pub absent_queries: Vec<String>,
    pub coverage: Option<export::CoverageReport>,
    /// Scrape gaps, also flagged in the manifest.
    pub gaps: Vec<export::Gap>,
    pub samples: u64,
    pub raw_series: u64,
    pub raw_samples: u64,
    pub duration_seconds: f64,
    /// The bundle's MANIFEST.json.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    /// The request's thresholds judged on the bundle's KPIs (absent when none were given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<super::thresholds::ThresholdReport>,
}

/// Resolves the request's window to (start, end, name).
async fn resolve_window(
    sessions: &Sessions,
    id: &RunId,
    req: &CollectRequest,
) -> Result<(Timestamp, Timestamp, Option<String>), CollectionError> {
    let modes = [
        req.window_start.is_some() || req.window_end.is_some(),
        req.window.is_some(),
        req.last.is_some(),
    ];
    if modes.iter().filter(|m| **m).count() != 1 {
        return Err(invalid(
            "window",
            "give exactly one of: window_start and window_end, window (a name), or last (e.g. 10m)",
        ));
    }
    let now = Timestamp::now();
    let (start, end, name) = if let Some(name) = &req.window {
        let w = sessions
            .window(id, name)
            .await
            .map_err(|e| invalid("window", e.to_string()))?;
        (w.start, w.end.unwrap_or(now), Some(name.to_string()))
    } else if let Some(last) = &req.last {
        let start_ms = now.unix_millis() - i64::try_from(last.as_millis()).unwrap_or(i64::MAX);
        let start =
            Timestamp::from_unix(start_ms as f64 / 1000.0).map_err(|e| invalid("last", e.0))?;
        (start, now, None)
    } else {
        let start = req
            .window_start
            .ok_or_else(|| invalid("window_start", "missing window_start"))?;
        let end = req
            .window_end
            .ok_or_else(|| invalid("window_end", "missing window_end"))?;
        (start, end, None)
    };
    if end <= start {
        return Err(invalid(
            "window_end",
            format!("window_end {end} is not after window_start {start}"),
        ));
    }
    Ok((start, end, name))
}

/// A request with its window and out_dir checked, before any Prometheus is asked (or started).
pub(super) struct CheckedRequest {
    pub req: CollectRequest,
    pub start: Timestamp,
    pub end: Timestamp,
    pub window_name: Option<String>,
    pub bundle_parent: PathBuf,
}

pub(super) fn scrape_millis(session: &Session) -> i64 {
    i64::try_from(session.scrape_interval.as_duration().as_millis()).unwrap_or(i64::MAX)
}

pub(super) async fn check_request(
    sessions: &Sessions,
    session: &Session,
    req: CollectRequest,
) -> Result<CheckedRequest, CollectionError> {
    let id = &session.session_id;
    let (start, end, window_name) = resolve_window(sessions, id, &req).await?;
    super::thresholds::validate(&req.thresholds).map_err(|(field, why)| invalid(&field, why))?;
    if end.unix_millis() > Timestamp::now().unix_millis() + scrape_millis(session) {
        return Err(invalid(
            "window_end",
            format!("window_end {end} is in the future"),
        ));
    }
    let policy = sessions.out_dir_policy();
    let session_name = id.to_string();
    let out_dir = req.out_dir.clone();
    let bundle_parent =
        tokio::task::spawn_blocking(move || policy.resolve(&session_name, out_dir.as_deref()))
            .await
            .map_err(|e| invalid("out_dir", e.to_string()))??;
    Ok(CheckedRequest {
        req,
        start,
        end,
        window_name,
        bundle_parent,
    })
}
