//! Registrations → Prometheus file_sd target groups.
//!
//! Each client and each service has its own file (`client-<id>.json`, `service-<name>.json`),
//! so a registration rewrites one small file, and Prometheus picks it up without a restart.
//! Labels are JSON strings, so any UTF-8 value is safe.

use super::model::{ClientRegistration, ServiceRegistration};
use crate::session::Session;
use serde::Serialize;
use std::collections::BTreeMap;

/// One file_sd target group.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Labels every target of the session carries: the session's own labels, then identity.
fn base_labels(session: &Session) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = session
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    l.insert("session".into(), session.session_id.to_string());
    l.insert("run_id".into(), session.run_id.to_string());
    l
}

/// Groups for a client: one per enabled exporter.
pub fn client_groups(session: &Session, c: &ClientRegistration) -> Vec<TargetGroup> {
    c.exporters
        .iter()
        .filter(|(kind, _)| c.enabled(kind))
        .map(|(kind, addr)| {
            let mut labels = base_labels(session);
            labels.extend(c.labels.iter().map(|(k, v)| (k.to_string(), v.clone())));
            labels.insert("client_id".into(), c.client_id.to_string());
            labels.insert("node".into(), c.node.to_string());
            labels.insert("exporter".into(), kind.to_string());
            labels.insert("job".into(), kind.to_string());
            TargetGroup {
                targets: vec![addr.to_string()],
                labels,
            }
        })
        .collect()
}

/// The `host:port` and scrape labels (`__scheme__`, `__metrics_path__`, `__param_*`) of a URL.
pub fn endpoint_parts(s: &ServiceRegistration) -> (String, BTreeMap<String, String>) {
    let mut labels = BTreeMap::new();
    let Some(url) = s.endpoint.url() else {
        return (s.endpoint.to_string(), labels);
    };
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port_or_known_default().unwrap_or(80);
    labels.insert("__scheme__".into(), url.scheme().to_owned());
    labels.insert("__metrics_path__".into(), url.path().to_owned());
    for (k, v) in url.query_pairs() {
        labels.insert(format!("__param_{k}"), v.into_owned());
    }
    (format!("{host}:{port}"), labels)
}

/// The group for a service.
pub fn service_groups(session: &Session, s: &ServiceRegistration) -> Vec<TargetGroup> {
    let (address, scrape_labels) = endpoint_parts(s);
    let mut labels = base_labels(session);
    labels.extend(s.labels.iter().map(|(k, v)| (k.to_string(), v.clone())));
    labels.extend(scrape_labels);
    labels.insert("service".into(), s.name.to_string());
    labels.insert("job".into(), s.name.to_string());
    if let Some(c) = &s.client_id {
        labels.insert("client_id".into(), c.to_string());
    }
    vec![TargetGroup {
        targets: vec![address],
        labels,
    }]
}
