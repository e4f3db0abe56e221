//! What benchmon writes for Prometheus and SLURM is valid: promtool and bash agree, whatever
//! the labels contain.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use serde_json::json;

#[tokio::test]
async fn rendered_config_passes_promtool_and_the_job_script_parses_whatever_the_labels() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let hostile = "quote\" newline\n {{ template }} #comment: - [a, b] 'single' \\ ünï";
    app.create(&from_json(
        json!({"run_id": "render.1", "labels": {"model": hostile, "team": "x"}, "retention": "2h"}),
    ))
    .await
    .success(201);
    app.start("render.1", &from_json(json!({"time_limit": "5"})))
        .await
        .success(202);
    let dir = app.dirs.state.join("sessions/render.1");
    let yml = dir.join("prometheus.yml");
    let check = std::process::Command::new("promtool")
        .args(["check", "config", "--syntax-only"])
        .arg(&yml)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The label value survives YAML exactly.
    let text = std::fs::read_to_string(&yml).unwrap();
    assert!(text.contains(&serde_json::to_string(hostile).unwrap()));

    let script = dir.join("prometheus-job.sh");
    let bash = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        bash.status.success(),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    let script = std::fs::read_to_string(&script).unwrap();
    assert!(script.contains("#SBATCH --time=5\n"));
    assert!(script.contains("--storage.tsdb.retention.time=2h"));
    app.client.stop_session("render.1").await.unwrap();
    app.shutdown().await;
}
