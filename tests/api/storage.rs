//! A full or read-only artifacts filesystem: a clear problem naming the directory and the
//! cause, and nothing complete-looking left behind. The filesystem is a real tmpfs the test
//! mounts (CI runs as root); a fake would not show what the kernel answers.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `size` mounted at a directory, unmounted on drop (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs(at.to_owned()))
    }

    fn remount_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Every file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

#[tokio::test]
async fn a_full_artifacts_filesystem_is_a_507_and_a_read_only_one_names_the_directory() {
    let dirs = Dirs::new();
    let fs = match Tmpfs::mount(&dirs.artifacts, "48k") {
        Ok(fs) => fs,
        Err(why) => {
            // Only where mounting is impossible (not root, no CAP_SYS_ADMIN); CI runs as root.
            eprintln!("SKIPPED: cannot mount a tmpfs for the disk-full test: {why}");
            return;
        }
    };
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Local), dirs).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("full");
    app.create_session(&id).await;
    let client =
        json!({"client_id": "c1", "node": "localhost", "exporters": {"node": exporter.address()}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    let prom = app.start_and_wait(&id).await;
    query_until_present(
        &prom,
        &format!(r#"node_load1{{session="{id}"}}"#),
        Duration::from_secs(40),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let body = json!({"last": "20s", "out_dir": "runs", "run_id": "r1", "formats": ["csv", "json", "parquet"]});
    let answer = app.collect(&id, &from_json(body.clone())).await;
    assert_eq!(answer.content_type, "application/problem+json");
    let problem = answer.problem(507);
    assert_eq!(
        problem.kind, "/problems/insufficient-storage",
        "{problem:?}"
    );
    assert_eq!(problem.field.as_deref(), Some("out_dir"));
    let runs = std::fs::canonicalize(&app.dirs.artifacts)
        .unwrap()
        .join("runs");
    assert!(
        problem.detail.contains(runs.to_str().unwrap()),
        "{problem:?}"
    );
    assert!(problem.detail.contains("No space left"), "{problem:?}");
    let mut left = Vec::new();
    files(&app.dirs.artifacts, &mut left);
    assert!(
        !left.iter().any(|p| p.ends_with("MANIFEST.json")),
        "a complete-looking bundle was left: {left:?}"
    );

    fs.remount_read_only();
    let problem = app.collect(&id, &from_json(body)).await.problem(500);
    assert_eq!(
        problem.kind, "/problems/storage-not-writable",
        "{problem:?}"
    );
    assert_eq!(problem.field.as_deref(), Some("out_dir"));
    assert!(
        problem.detail.contains("Read-only file system"),
        "{problem:?}"
    );
    assert!(
        problem.detail.contains(runs.to_str().unwrap()),
        "{problem:?}"
    );

    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
    drop(fs);
}
