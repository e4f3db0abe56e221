//! Events: kept with the session in time order, validated, and still there after a restart;
//! a phase event that opens and closes a window atomically, and the bundle's `events.csv` after
//! a restart. (`events.csv` next to pushed metrics is checked in `push.rs`.)

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};

async fn post_event(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let (status, _, out) = app
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{id}/events"),
            Some(body),
        )
        .await;
    (status, out)
}

#[tokio::test]
async fn events_are_kept_in_time_order_validated_and_survive_a_restart() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("events");
    app.create_session(&id).await;

    let (status, warmup) = post_event(&app, &id, json!({"kind": "phase", "name": "warmup"})).await;
    assert_eq!(status, 201, "{warmup}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let alert = json!({"kind": "alert", "name": "latency", "severity": "warning", "message": "p99 over 2 s"});
    let (status, alert) = post_event(&app, &id, alert).await;
    assert_eq!(status, 201, "{alert}");
    // Back-dated to the warmup's instant: listed before the alert.
    let progress = json!({"kind": "progress", "name": "steady", "progress": 40, "timestamp": warmup["timestamp"]});
    let (status, progress) = post_event(&app, &id, progress).await;
    assert_eq!(status, 201, "{progress}");
    assert_eq!(
        alert,
        json!({"timestamp": alert["timestamp"], "kind": "alert", "name": "latency", "message": "p99 over 2 s", "severity": "warning", "progress": null, "window": null})
    );

    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let refused = [
        (
            json!({"kind": "progress", "name": "x", "progress": 140}),
            "progress",
        ),
        (
            json!({"kind": "note", "name": "x", "timestamp": in_an_hour}),
            "timestamp",
        ),
        (
            json!({"kind": "note", "name": "x", "timestamp": "2001-01-01T00:00:00Z"}),
            "timestamp",
        ),
        (json!({"kind": "bogus", "name": "x"}), "kind"),
        (
            json!({"kind": "note", "name": "x", "message": "m".repeat(1025)}),
            "message",
        ),
    ];
    for (body, field) in refused {
        let (status, problem) = post_event(&app, &id, body).await;
        assert_eq!(
            (status, &problem["field"]),
            (422, &json!(field)),
            "{problem}"
        );
    }
    let (status, _) = post_event(
        &app,
        "no-such-session",
        json!({"kind": "note", "name": "x"}),
    )
    .await;
    assert_eq!(status, 404);

    let path = format!("/api/v1/sessions/{id}/events");
    let (status, _, listed) = app.send(Method::GET, &path, None).await;
    assert_eq!(
        (status, listed.clone()),
        (200, json!([warmup, progress, alert]))
    );

    let dirs = app.shutdown().await;
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Slurm), dirs.clone()).await;
    let (status, _, again) = app.send(Method::GET, &path, None).await;
    assert_eq!((status, again), (200, listed));
    app.delete(&id).await.success(204);
    app.shutdown().await;
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `(window, mean, samples)` of the aggregate rows of `query` in a bundle's summary.csv.
fn window_rows(bundle: &str, query: &str) -> Vec<(String, f64, u64)> {
    let mut r = csv::Reader::from_path(std::path::Path::new(bundle).join("summary.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (q, scope, window, mean, samples) = (
        col("query"),
        col("scope"),
        col("window"),
        col("mean"),
        col("samples"),
    );
    r.records()
        .map(Result::unwrap)
        .filter(|rec| &rec[q] == query && &rec[scope] == "aggregate")
        .map(|rec| {
            (
                rec[window].to_owned(),
                rec[mean].parse().unwrap(),
                rec[samples].parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_phase_start_and_end_make_a_window_at_their_timestamps_that_yields_kpis_and_survives_restarts(
) {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("phase");
    app.create(&from_json(json!({"run_id": id, "scrape_interval": "1s"})))
        .await
        .success(201);
    app.start_and_wait(&id).await;
    let created = app.session(&id).await.success(200).created_at.unix_millis();
    // Every timestamp below lies after the session's creation and before now.
    while chrono::Utc::now().timestamp_millis() < created + 4_500 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let t0 = (created / 1000 + 2) * 1000;
    let (start_ms, end_ms) = (t0 + 500, t0 + 1_500);

    let start = json!({"kind": "phase", "name": "steady", "window": "start", "timestamp": rfc3339(start_ms)});
    let (status, started) = post_event(&app, &id, start.clone()).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["window"], "start");
    // A window of that name exists: 409 naming `name`, and no event kept.
    let (status, problem) = post_event(&app, &id, start).await;
    assert_eq!(
        (status, &problem["field"]),
        (409, &json!("name")),
        "{problem}"
    );
    // Ending a window that is not open, ending before the start, a window on a note.
    let refused = [
        (
            json!({"kind": "phase", "name": "decode", "window": "end"}),
            409,
            "name",
        ),
        (
            json!({"kind": "phase", "name": "steady", "window": "end", "timestamp": rfc3339(start_ms - 100)}),
            422,
            "timestamp",
        ),
        (
            json!({"kind": "note", "name": "steady", "window": "end"}),
            422,
            "window",
        ),
    ];
    for (body, code, field) in refused {
        let (status, problem) = post_event(&app, &id, body).await;
        assert_eq!(
            (status, &problem["field"]),
            (code, &json!(field)),
            "{problem}"
        );
    }
    let end =
        json!({"kind": "phase", "name": "steady", "window": "end", "timestamp": rfc3339(end_ms)});
    let (status, ended) = post_event(&app, &id, end.clone()).await;
    assert_eq!(status, 201, "{ended}");
    let (status, problem) = post_event(&app, &id, end).await;
    assert_eq!(
        (status, &problem["field"]),
        (409, &json!("name")),
        "{problem}"
    );

    let windows = app.windows(&id).await.success(200);
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(windows[0].start.unix_millis(), start_ms);
    assert_eq!(windows[0].end.map(|e| e.unix_millis()), Some(end_ms));
    assert!(!windows[0].open);
    let path = format!("/api/v1/sessions/{id}/events");
    let (_, _, events) = app.send(Method::GET, &path, None).await;
    assert_eq!(events, json!([started, ended]));

    // A gauge pushed every 250 ms over [t0, t0 + 2 s] with the value k: the window holds
    // k = 2..=6, so its KPI row has 5 samples and mean 4.
    let text: String = (0..=8)
        .map(|k| format!("harness_phase_value {k} {}\n", t0 + k * 250))
        .collect();
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/sessions/{id}/metrics")))
        .header("Content-Type", "text/plain")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let collect = json!({
        "window_start": rfc3339(t0), "window_end": rfc3339(t0 + 2_000), "step": "250ms",
        "profiles": false, "raw": false, "run_id": "first",
        "queries": {"value": "harness_phase_value{source=\"push\"}"},
    });
    let collect_path = format!("/api/v1/sessions/{id}/collect");
    let (status, _, out) = app
        .send(Method::POST, &collect_path, Some(collect.clone()))
        .await;
    assert_eq!(status, 201, "{out}");
    let bundle = out["bundle_dir"].as_str().unwrap().to_owned();
    assert_eq!(
        window_rows(&bundle, "value"),
        vec![("collection".into(), 4.0, 9), ("steady".into(), 4.0, 5)]
    );
    app.client.stop_session(&id).await.unwrap();

    // A crash between the commit and the rewrite of both files: the journal holds a phase
    // event and its window; the restarted server finishes the commit.
    let dirs = app.shutdown().await;
    let session_dir = dirs.state.join("sessions").join(&id);
    let mut journal_events = events.as_array().unwrap().clone();
    let cooldown = json!({"timestamp": rfc3339(t0 + 1_800), "kind": "phase", "name": "cooldown",
        "message": null, "severity": null, "progress": null, "window": "start"});
    journal_events.push(cooldown.clone());
    let mut journal_windows = serde_json::to_value(&windows).unwrap();
    journal_windows
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "cooldown", "start": rfc3339(t0 + 1_800), "end": null, "open": true}));
    let journal = json!({"events": journal_events, "windows": journal_windows});
    std::fs::write(
        session_dir.join("phase-journal.json"),
        serde_json::to_vec(&journal).unwrap(),
    )
    .unwrap();
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Local), dirs.clone()).await;
    assert!(!session_dir.join("phase-journal.json").exists());
    let (_, _, after) = app.send(Method::GET, &path, None).await;
    assert_eq!(after, json!([started, ended, cooldown]));
    let names: Vec<String> = app
        .windows(&id)
        .await
        .success(200)
        .iter()
        .map(|w| w.name.to_string())
        .collect();
    assert_eq!(names, ["steady", "cooldown"]);

    // After the restart the events still go into the next bundle's events.csv (from the
    // stopped session's TSDB, through an offline Prometheus).
    let mut again = collect;
    again["run_id"] = json!("after-restart");
    let (status, _, out) = app.send(Method::POST, &collect_path, Some(again)).await;
    assert_eq!(status, 201, "{out}");
    let csv = std::fs::read_to_string(
        std::path::Path::new(out["bundle_dir"].as_str().unwrap()).join("events.csv"),
    )
    .unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with(&format!("{start_ms},")) && rows[0].contains(",phase,steady,"));
    assert!(rows[1].starts_with(&format!("{end_ms},")) && rows[1].ends_with(",steady"));
    assert!(rows[2].contains(",phase,cooldown,") && rows[2].ends_with(",cooldown"));
    app.delete(&id).await.success(204);
    app.shutdown().await;
}
