//! Targets of a session: client exporters and services, registered by users and written as
//! Prometheus file_sd files; listed with live health from Prometheus.

mod file_sd;
mod model;
mod registry;

pub use file_sd::{client_groups, service_groups, TargetGroup};
pub use model::{
    ClientRegistration, ConfigView, ScraperConfig, ServiceRegistration, TargetHealth, TargetKind,
    TargetList, TargetView,
};
pub use registry::{
    clients, deregister_client, deregister_service, rebuild_file_sd, register_client,
    register_service, services, DeregisterError,
};

use crate::prometheus::{redact_store_secrets, render_prometheus_config, PromClient};
use crate::session::{SessionCell, SessionError, SessionState, Sessions};
use std::collections::BTreeMap;

/// The session's registered targets by exporter kind (`service` for services): what its job
/// is sized for.
pub async fn expected_targets(cell: &SessionCell) -> crate::launcher::ExpectedTargets {
    let mut by_kind = BTreeMap::new();
    for c in clients(cell).await {
        for kind in c.exporters.keys().filter(|k| c.enabled(k)) {
            *by_kind.entry(kind.to_string()).or_insert(0) += 1;
        }
    }
    let services = services(cell).await.len() as u64;
    if services > 0 {
        by_kind.insert("service".to_owned(), services);
    }
    crate::launcher::ExpectedTargets(by_kind)
}

/// Every registered target with its labels, and live health while the session runs.
pub async fn list_targets(sessions: &Sessions, cell: &SessionCell) -> TargetList {
    let session = cell.snapshot();
    let clients = clients(cell).await;
    let services = services(cell).await;
    let mut targets = Vec::new();
    for c in &clients {
        for (kind, addr) in &c.exporters {
            let enabled = c.enabled(kind);
            let labels = client_groups(&session, c)
                .into_iter()
                .find(|g| g.labels.get("exporter").map(String::as_str) == Some(kind.as_str()))
                .map(|g| g.labels)
                .unwrap_or_default();
            targets.push(TargetView {
                kind: TargetKind::Exporter,
                client_id: Some(c.client_id.to_string()),
                node: Some(c.node.to_string()),
                exporter: Some(kind.to_string()),
                service: None,
                address: addr.to_string(),
                enabled,
                labels,
                health: None,
            });
        }
    }
    for s in &services {
        let group = service_groups(&session, s).into_iter().next();
        let (address, labels) = group
            .map(|g| (g.targets.into_iter().next().unwrap_or_default(), g.labels))
            .unwrap_or_default();
        targets.push(TargetView {
            kind: TargetKind::Service,
            client_id: s.client_id.as_ref().map(ToString::to_string),
            node: None,
            exporter: None,
            service: Some(s.name.to_string()),
            address,
            enabled: true,
            labels,
            health: None,
        });
    }
    let health_note = match (&session.prometheus_url, session.state) {
        // Sharded: each agent knows its own share of the targets.
        (_, state) if session.store.sharded() && state.is_live() => {
            let mut active = Vec::new();
            let mut errors = Vec::new();
            for j in session.scraper_jobs.iter().filter(|j| j.lost.is_none()) {
                let (Some(node), Some(port)) = (&j.node, j.port) else {
                    continue;
                };
                let url = format!("http://{node}:{port}");
                match PromClient::new(sessions.http.clone(), &url).targets().await {
                    Ok(mut a) => active.append(&mut a),
                    Err(e) => errors.push(format!("scraper {}: {e}", j.index)),
                }
            }
            attach_health(&mut targets, &active);
            (!errors.is_empty()).then(|| errors.join("; "))
        }
        (Some(url), SessionState::Running) => {
            let prom = PromClient::new(sessions.http.clone(), url);
            match prom.targets().await {
                Ok(active) => {
                    attach_health(&mut targets, &active);
                    None
                }
                Err(e) => Some(format!("cannot read targets from Prometheus: {e}")),
            }
        }
        _ => Some(format!(
            "session is {}: no live health",
            session.state.as_str()
        )),
    };
    TargetList {
        session_id: session.session_id.to_string(),
        clients,
        services,
        targets,
        health_note,
    }
}

/// Matches registered targets to Prometheus's active targets by pool and identity labels.
fn attach_health(targets: &mut [TargetView], active: &[crate::prometheus::client::ActiveTarget]) {
    for t in targets.iter_mut().filter(|t| t.enabled) {
        let (pool, key, value) = match t.kind {
            TargetKind::Exporter => ("exporters", "exporter", t.exporter.clone()),
            TargetKind::Service => ("services", "service", t.service.clone()),
        };
        let found = active.iter().find(|a| {
            a.scrape_pool == pool
                && a.labels.get(key) == value.as_ref()
                && a.labels.get("client_id") == t.client_id.as_ref()
        });
        if let Some(a) = found {
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            t.health = Some(TargetHealth {
                health: a.health.clone(),
                last_scrape: non_empty(&a.last_scrape).filter(|s| !s.starts_with("0001-")),
                last_error: non_empty(&a.last_error),
                last_scrape_duration_seconds: (a.last_scrape_duration > 0.0)
                    .then_some(a.last_scrape_duration),
                scrape_url: a.scrape_url.clone(),
            });
        }
    }
}

/// The rendered prometheus.yml (as on disk once started, else rendered now), the job script
/// and every file_sd file.
pub async fn config_view(
    sessions: &Sessions,
    cell: &SessionCell,
) -> Result<ConfigView, SessionError> {
    let session = cell.snapshot();
    let prometheus_yml = match tokio::fs::read_to_string(cell.paths.prometheus_yml()).await {
        Ok(text) => Some(text),
        Err(_) if session.store.sharded() => None,
        Err(_) => Some(
            render_prometheus_config(
                &session.scrape_spec(),
                &cell.paths,
                &sessions.render_context(),
            )
            .map_err(|e| SessionError::Render {
                what: "prometheus.yml",
                message: e.to_string(),
            })?,
        ),
    };
    let job_script = tokio::fs::read_to_string(cell.paths.job_script())
        .await
        .ok();
    let mut file_sd = BTreeMap::new();
    if let Ok(mut rd) = tokio::fs::read_dir(cell.paths.file_sd()).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(bytes) = tokio::fs::read(e.path()).await {
                if let Ok(v) = serde_json::from_slice(&bytes) {
                    file_sd.insert(name, v);
                }
            }
        }
    }
    Ok(ConfigView {
        session_id: session.session_id.to_string(),
        prometheus_yml,
        job_script,
        file_sd,
        rules: tokio::fs::read_to_string(cell.paths.rules()).await.ok(),
        scrapers: scraper_configs(cell, &session).await,
    })
}

/// The config and script each scraper job was given, from its directory (a scraper's files
/// are written before its submit and kept after it ends).
async fn scraper_configs(
    cell: &SessionCell,
    session: &crate::session::Session,
) -> Vec<ScraperConfig> {
    let mut indexes: Vec<u16> = session.scraper_jobs.iter().map(|j| j.index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let mut out = Vec::with_capacity(indexes.len());
    for index in indexes {
        let job = cell.paths.scraper_job(index);
        let Ok(yml) = tokio::fs::read_to_string(&job.config).await else {
            continue;
        };
        out.push(ScraperConfig {
            index,
            prometheus_yml: redact_store_secrets(&yml),
            job_script: tokio::fs::read_to_string(&job.script).await.ok(),
        });
    }
    out
}
