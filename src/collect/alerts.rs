//! The alerts a session's rules raised during a collection's window: read from Prometheus's
//! own `ALERTS` series (one sample per rule evaluation while an alert is pending or firing),
//! written as `alerts.csv` in the bundle and listed in its manifest.

use crate::domain::Timestamp;
use crate::export::ExtraFile;
use crate::prometheus::PromClient;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One alert in one state over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSeen {
    pub alertname: String,
    /// `pending` or `firing`.
    pub alertstate: String,
    /// First and last evaluation that had it in this state, RFC 3339.
    pub first_seen: String,
    pub last_seen: String,
    /// Evaluations that had it in this state.
    pub evaluations: u64,
    /// Its labels besides `alertname` and `alertstate`.
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Matrix {
    result: Vec<MatrixSeries>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

fn rfc3339(secs: f64) -> String {
    Timestamp::from_unix(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The alerts of `selector` (`{session="…"}`) between `start` and `end`, by name and state.
pub async fn alerts_in_window(
    client: &PromClient,
    selector: &str,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<AlertSeen>, crate::prometheus::client::PromError> {
    let secs = ((end.unix_millis() - start.unix_millis()).max(1000) + 999) / 1000;
    // A range selector at the window's end returns every evaluation's sample, with its own
    // timestamp: first and last seen are exact, not rounded to a step.
    let query = format!("ALERTS{selector}[{secs}s]");
    let m: Matrix = client
        .get_api(
            "/api/v1/query",
            &[
                ("query", query),
                ("time", format!("{}", end.unix_secs_f64())),
            ],
        )
        .await?;
    let start_s = start.unix_secs_f64();
    let mut out: Vec<AlertSeen> = m
        .result
        .into_iter()
        .filter_map(|s| {
            let times: Vec<f64> = s
                .values
                .iter()
                .map(|v| v.0)
                .filter(|t| *t >= start_s)
                .collect();
            let (first, last) = (times.first()?, times.last()?);
            let mut labels = s.metric;
            let name = labels.remove("alertname").unwrap_or_default();
            let state = labels.remove("alertstate").unwrap_or_default();
            labels.remove("__name__");
            Some(AlertSeen {
                alertname: name,
                alertstate: state,
                first_seen: rfc3339(*first),
                last_seen: rfc3339(*last),
                evaluations: times.len() as u64,
                labels,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.first_seen, &a.alertname, &a.alertstate).cmp(&(
            &b.first_seen,
            &b.alertname,
            &b.alertstate,
        ))
    });
    Ok(out)
}

/// `alerts.csv`: `alertname,alertstate,first_seen,last_seen,evaluations,labels` (labels as
/// `{k="v",…}`), a header only when nothing fired.
pub fn alerts_csv(alerts: &[AlertSeen]) -> Result<ExtraFile, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "alertname",
        "alertstate",
        "first_seen",
        "last_seen",
        "evaluations",
        "labels",
    ])?;
    for a in alerts {
        let labels: Vec<String> = a
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
            .collect();
        w.write_record([
            a.alertname.as_str(),
            &a.alertstate,
            &a.first_seen,
            &a.last_seen,
            &a.evaluations.to_string(),
            &format!("{{{}}}", labels.join(",")),
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(ExtraFile {
        name: "alerts.csv".into(),
        bytes,
    })
}
