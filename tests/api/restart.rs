//! What a crash leaves behind is cleaned at start-up, and nothing else is.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use serde_json::json;

#[tokio::test]
async fn temp_files_of_interrupted_writes_are_removed_at_start_up_and_nothing_else() {
    let app = spawn_app(LauncherKind::Local).await;
    app.create_session("crashy").await;
    let reg = json!({"client_id": "c1", "node": "n1", "exporters": {"node": "n1:9100"}});
    app.register_client("crashy", &from_json(reg))
        .await
        .success(201);
    let dirs = app.shutdown().await;

    // What a kill -9 in the middle of write_atomic leaves: `.tmp` + 6 random characters.
    let session = dirs.state.join("sessions/crashy");
    let ours = [
        session.join(".tmpAb3xY9"),
        session.join("registrations/.tmpq8ZzL0"),
        session.join("file_sd/.tmp000000"),
    ];
    // Names benchmon does not create stay, whoever put them there (file_sd/ is benchmon's
    // alone: it is rebuilt from the registrations at start-up).
    let theirs = [
        session.join(".tmp-notes"),
        session.join("registrations/.tmpAb3xY9.json"),
        session.join("notes.tmp"),
        session.join("runtime/.endpoint.tmp"),
    ];
    for p in ours.iter().chain(&theirs) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"{\"half\": ").unwrap();
    }

    let settings = test_settings(&dirs, LauncherKind::Local);
    let app = spawn_app_with(settings, dirs.clone()).await;
    for p in &ours {
        assert!(!p.exists(), "{} survived the restart", p.display());
    }
    for p in &theirs {
        assert!(p.exists(), "{} was removed", p.display());
    }
    // The session and its registration are intact.
    let targets = app.targets("crashy").await.success(200);
    assert_eq!(targets.clients.len(), 1);
    app.shutdown().await;
}
