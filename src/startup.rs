//! Building and running the server: state from settings, the listener and the shutdown signal
//! passed in, so tests can use port 0 and their own shutdown.

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::launcher::LauncherKind;
use crate::launcher::{Launcher, LocalLauncher, SlurmLauncher};
use crate::session::Sessions;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A built application: its router and the handles to shut its background work down.
pub struct App {
    pub state: AppState,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

/// Resolves directories to absolute paths (job scripts run elsewhere), loads sessions and
/// re-attaches to their jobs.
pub async fn build(mut settings: Settings) -> anyhow::Result<App> {
    for dir in [&mut settings.state_dir, &mut settings.artifacts_dir] {
        std::fs::create_dir_all(&*dir)?;
        *dir = std::fs::canonicalize(&*dir)?;
    }
    for root in &mut settings.site.collect.allowed_roots {
        if let Ok(real) = std::fs::canonicalize(&*root) {
            *root = real;
        }
    }
    // A broken rule pack would fail every session's Prometheus at start: refuse it here.
    let promtool = settings.site.prometheus.promtool.clone();
    for pack in &mut settings.site.prometheus.rule_packs {
        *pack = std::fs::canonicalize(&*pack)
            .map_err(|e| anyhow::anyhow!("rule pack {}: {e}", pack.display()))?;
        let text = std::fs::read_to_string(&*pack)?;
        crate::prometheus::rules::check_rules(&promtool, &text)
            .await
            .map_err(|e| anyhow::anyhow!("rule pack {}: {e}", pack.display()))?;
        // vmalert evaluates the packs in `victoriametrics` sessions (and stops their store
        // when it cannot load them); a pack it refuses is refused here. Without vmalert on
        // this host, the sessions' jobs will tell.
        let vmalert = &settings.site.topology.vmalert_command;
        if !vmalert.is_empty() {
            use crate::prometheus::rules::{check_rules_vmalert, CheckError};
            match check_rules_vmalert(vmalert, &text).await {
                Ok(()) => {}
                Err(CheckError::Invalid(m)) => {
                    anyhow::bail!("rule pack {}: vmalert -dryRun: {m}", pack.display())
                }
                Err(e) => tracing::warn!("rule pack {}: {e}", pack.display()),
            }
        }
    }
    let launcher: Arc<dyn Launcher> = match settings.launcher {
        LauncherKind::Slurm => Arc::new(SlurmLauncher::new(settings.site.slurm.clone())),
        LauncherKind::Local => Arc::new(LocalLauncher::new()),
    };
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()?;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let auth = Arc::new(crate::api::auth::Auth::new(&settings.site.auth)?);
    if auth.enabled() {
        tracing::info!(
            "bearer-token auth on ({} tokens)",
            settings.site.auth.tokens.len()
        );
    }
    let settings = Arc::new(settings);
    let sessions = Sessions::open(
        settings.clone(),
        launcher,
        http,
        tracker.clone(),
        shutdown.clone(),
    )
    .await?;
    for cell in sessions.store.all().await {
        if let Err(e) = crate::targets::rebuild_file_sd(&cell).await {
            tracing::warn!(session = %cell.id, "cannot rebuild file_sd files: {e}");
        }
    }
    Ok(App {
        state: AppState {
            collections: Arc::new(tokio::sync::Semaphore::new(
                settings.site.collect.max_concurrent.max(1),
            )),
            sessions,
            settings,
            auth,
        },
        tracker,
        shutdown,
    })
}

/// Serves `app` on `listener` until `signal` resolves, then stops background tasks in order.
/// Jobs keep running: a restarted benchmon re-attaches to them.
pub async fn serve(
    app: App,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = api::router(app.state.clone());
    let shutdown = app.shutdown.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            signal.await;
            shutdown.cancel();
        })
        .await?;
    app.shutdown.cancel();
    app.tracker.close();
    app.tracker.wait().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
