//! Rendering a session's job files — the main job's (its Prometheus, or the store of a
//! `victoriametrics` session) and each scraper's — and writing them atomically before a submit.

use super::error::SessionError;
use super::manager::Sessions;
use super::model::Session;
use super::store::SessionCell;
use crate::domain::StoreSpec;
use crate::fsutil;
use crate::launcher::{render_job_script, JobResources, ScriptInputs, ServerFlavor, VmalertInputs};
use crate::paths::JobFiles;
use crate::prometheus::{render_prometheus_config, render_scraper_config, Shard};
use std::path::PathBuf;

impl Sessions {
    /// Writes the main job's files: Prometheus's config and script, or VictoriaMetrics's script.
    pub(super) async fn write_main_job(
        &self,
        cell: &SessionCell,
        session: &Session,
        resources: &JobResources,
    ) -> Result<(), SessionError> {
        let job = cell.paths.main_job();
        let mut files = Vec::new();
        let flavor = match session.store {
            StoreSpec::VictoriaMetrics => ServerFlavor::VictoriaMetrics,
            _ => {
                let yml = render_prometheus_config(
                    &session.scrape_spec(),
                    &cell.paths,
                    &self.render_context(),
                )
                .map_err(|e| render_error("prometheus.yml", e))?;
                files.push((job.config.clone(), yml.into_bytes()));
                ServerFlavor::Prometheus
            }
        };
        let mut inputs = self.script_inputs(session, resources, flavor);
        if flavor == ServerFlavor::VictoriaMetrics {
            inputs.vmalert = self.vmalert_inputs(cell, session);
            if let Some(v) = &inputs.vmalert {
                v.check().map_err(|message| SessionError::Render {
                    what: "store job script",
                    message,
                })?;
            }
        }
        let script = render_job_script(&job, &inputs).map_err(|e| render_error("job script", e))?;
        files.push((job.script.clone(), script.into_bytes()));
        write_job(&job, files).await
    }

    /// Writes scraper `shard.index`'s config and script; returns where they are.
    pub(super) async fn write_scraper_job(
        &self,
        cell: &SessionCell,
        session: &Session,
        resources: &JobResources,
        shard: &Shard,
    ) -> Result<JobFiles, SessionError> {
        let job = cell.paths.scraper_job(shard.index);
        let yml = render_scraper_config(
            &session.scrape_spec(),
            &cell.paths,
            &self.render_context(),
            shard,
        )
        .map_err(|e| render_error("scraper config", e))?;
        let flavor = ServerFlavor::Agent { index: shard.index };
        let script = render_job_script(&job, &self.script_inputs(session, resources, flavor))
            .map_err(|e| render_error("scraper job script", e))?;
        let files = vec![
            (job.config.clone(), yml.into_bytes()),
            (job.script.clone(), script.into_bytes()),
        ];
        write_job(&job, files).await?;
        Ok(job)
    }

    /// vmalert in a `victoriametrics` store job: always, unless the site runs none, so that
    /// rules put while the session runs are evaluated from then on.
    fn vmalert_inputs(&self, cell: &SessionCell, session: &Session) -> Option<VmalertInputs> {
        let command = self.settings.site.topology.vmalert_command.clone();
        if command.is_empty() {
            return None;
        }
        let mut rule_files = self.render_context().rule_packs;
        rule_files.push(cell.paths.rules().to_string_lossy().into_owned());
        Some(VmalertInputs {
            command,
            rule_files,
            evaluation_interval: session.scrape_interval.clone(),
            // What every scraped series carries besides its target's own labels.
            external_labels: vec![
                format!("session={}", session.session_id),
                format!("run_id={}", session.run_id),
            ],
        })
    }

    fn script_inputs<'a>(
        &'a self,
        session: &'a Session,
        resources: &'a JobResources,
        flavor: ServerFlavor,
    ) -> ScriptInputs<'a> {
        let site = &self.settings.site;
        let prom = &site.prometheus;
        let vm = flavor == ServerFlavor::VictoriaMetrics;
        let agent = matches!(flavor, ServerFlavor::Agent { .. });
        ScriptInputs {
            run_id: session.run_id.as_str(),
            flavor,
            resources,
            // A fixed port is the store's (or the single Prometheus's); scrapers pick theirs.
            port: session.prometheus_port.map(|p| p.get()).filter(|_| !agent),
            prometheus_command: if vm {
                site.topology.victoriametrics_command.clone()
            } else {
                prom.argv()
            },
            retention: session.retention.as_ref().filter(|_| !agent),
            extra_args: if vm { &[] } else { &prom.extra_args },
            enable_lifecycle: prom.enable_lifecycle,
            // An agent's write-ahead log only buffers what it has not sent yet: nothing to keep.
            node_local: site.storage.node_local && !agent,
            local_dir: site.storage.local_dir.as_deref(),
            vmalert: None,
        }
    }
}

fn render_error(what: &'static str, e: askama::Error) -> SessionError {
    SessionError::Render {
        what,
        message: e.to_string(),
    }
}

/// Creates the job's directories, removes what a previous job reported (it must not be
/// mistaken for this one's), and writes `files` atomically.
async fn write_job(job: &JobFiles, files: Vec<(PathBuf, Vec<u8>)>) -> Result<(), SessionError> {
    let (dir, runtime) = (job.dir.clone(), job.runtime.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&runtime)?;
        for stale in ["endpoint", "self.json"] {
            match std::fs::remove_file(runtime.join(stale)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        for (path, bytes) in &files {
            fsutil::write_atomic(path, bytes)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| SessionError::io(&dir, std::io::Error::other(e)))?
    .map_err(|e| SessionError::io(&job.dir, e))
}
