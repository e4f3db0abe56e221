//! Alert and recording rules per session (seed 004): checked by promtool before the session
//! exists, loaded by its Prometheus, reloaded on `PUT …/rules`, and the alerts of a window in
//! its bundle's `alerts.csv`. A real local session scrapes a real node exporter whose textfile
//! gauge `bench_driven` the test switches on and off.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RULES: &str = "groups:
  - name: bench
    interval: 1s
    rules:
      - alert: DrivenHigh
        expr: bench_driven == 1
        labels:
          severity: page
      - record: bench:driven:max
        expr: max(bench_driven)
";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Sets the gauge (written aside and renamed: the collector never reads half a file).
fn drive(dir: &Path, value: u8) {
    let tmp = dir.join("drive.tmp");
    std::fs::write(&tmp, format!("bench_driven {value}\n")).unwrap();
    std::fs::rename(tmp, dir.join("drive.prom")).unwrap();
}

fn secs(rfc3339: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0
}

#[tokio::test]
async fn a_rule_with_a_syntax_error_is_a_422_with_promtools_message_and_no_session() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("badrules");
    let bad = "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: up ==\n";
    let (status, ct, p) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": id, "rules": bad})),
        )
        .await;
    assert_eq!(
        (status, ct.as_str()),
        (422, "application/problem+json"),
        "{p}"
    );
    assert_eq!(p["field"], "rules");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with("promtool check rules: "), "{detail}");
    assert!(
        detail.contains(r#"rules: 5:15: group "g", rule 1, "Broken": could not parse expression"#)
            && detail.contains("parse error"),
        "{detail}"
    );
    assert!(!detail.contains("/tmp"), "{detail}");
    app.session(&id).await.problem(404);
    // The JSON form is checked the same way: an unknown key in a rule.
    let json_bad =
        json!({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "fo": "1m"}]}]});
    let (status, _, p) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": id, "rules": json_bad})),
        )
        .await;
    assert_eq!((status, &p["field"]), (422, &json!("rules")), "{p}");
    app.session(&id).await.problem(404);
    app.shutdown().await;
}

#[tokio::test]
async fn a_rule_that_fires_in_a_window_is_in_alerts_csv_with_its_first_and_last_times() {
    let app = spawn_app(LauncherKind::Local).await;
    let textfiles = tempfile::tempdir().unwrap();
    drive(textfiles.path(), 0);
    let flags = [
        "--collector.textfile".to_owned(),
        format!(
            "--collector.textfile.directory={}",
            textfiles.path().display()
        ),
    ];
    let exporter = NodeExporter::start_with(&flags).await;
    let id = unique_id("rules");
    let (status, _, created) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": id, "scrape_interval": "1s", "rules": RULES})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let config = app.config(&id).await.success(200);
    assert_eq!(config.rules.as_deref(), Some(RULES));
    let client =
        json!({"client_id": "c1", "node": "localhost", "exporters": {"node": exporter.address()}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    let prom = app.start_and_wait(&id).await;
    let config = app.config(&id).await.success(200);
    let yml = config.prometheus_yml.unwrap();
    assert!(yml.contains("rule_files:"), "{yml}");
    query_until_present(&prom, r#"bench:driven:max"#, Duration::from_secs(40)).await;

    let start = now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let on = now();
    drive(textfiles.path(), 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let off = now();
    drive(textfiles.path(), 0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = now();
    let req = from_json(
        json!({"window_start": format!("{start:.3}"), "window_end": format!("{end:.3}"),
        "run_id": "alerts", "raw": false, "queries": {"rec": "bench:driven:max"},
        "thresholds": [{"query": "rec", "kpi": "max", "max": 0.5},
                       {"query": "rec", "kpi": "min", "min": 0},
                       {"query": "nope", "kpi": "p99", "max": 1}]}),
    );
    let out = app.collect(&id, &req).await.success(201);
    let bundle = Path::new(&out.bundle_dir);
    // Thresholds on this run's own KPIs: rec's max is 1 (over 0.5), its min 0; no `nope`.
    assert_eq!(
        out.extra["thresholds"],
        json!({"passed": false, "results": [
            {"query": "rec", "kpi": "max", "window": "collection", "value": 1.0, "min": null, "max": 0.5, "passed": false},
            {"query": "rec", "kpi": "min", "window": "collection", "value": 0.0, "min": 0.0, "max": null, "passed": true},
            {"query": "nope", "kpi": "p99", "window": "collection", "value": null, "min": null, "max": 1.0, "passed": false}]})
    );
    let (status, _, p) = app
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{id}/collect"),
            Some(json!({"last": "5s", "thresholds": [{"query": "rec", "kpi": "max"}]})),
        )
        .await;
    assert_eq!(
        (status, &p["field"]),
        (422, &json!("thresholds[0].max")),
        "{p}"
    );

    let mut csv = csv::Reader::from_path(bundle.join("alerts.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((&r[0], &r[1]), ("DrivenHigh", "firing"));
    assert!(r[5].contains(r#"severity="page""#), "{}", &r[5]);
    // Scraped within 1 s of the switch, evaluated within 1 s of the scrape (plus slack).
    let (first, last) = (secs(&r[2]), secs(&r[3]));
    assert!(first >= on && first <= on + 3.0, "first {first}, on {on}");
    assert!(
        last >= off - 2.0 && last <= off + 3.0,
        "last {last}, off {off}"
    );
    assert!(r[4].parse::<u64>().unwrap() >= 3);

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["context"]["alerts"][0]["alertname"], "DrivenHigh");
    assert_eq!(manifest["context"]["alerts"][0]["first_seen"], &r[2]);
    assert!(manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "alerts.csv"));
    // And in summary.json and the report.
    let summary: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["alerts"][0]["alertname"], "DrivenHigh");
    let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(
        report.contains(r#"<h2 id="alerts">Alerts</h2>"#)
            && report.contains("<td class=\"l\">DrivenHigh</td><td class=\"l\">firing</td>"),
        "the alert is not in the report"
    );
    // The recording rule's series is collected like any metric: it saw the gauge at 1.
    let rec = manifest["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "rec")
        .unwrap();
    assert_eq!(rec["status"], "ok");
    assert_eq!(rec["aggregate"][0]["max"], 1.0);

    // The CLI's exit code follows the thresholds: from 3 s after the switch-off the gauge is 0.
    for (threshold, code) in [("rec:max<=0.5", 0), ("rec:max>=0.5", 5)] {
        let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_benchmon"))
            .args([
                "collect",
                "--session",
                &id,
                "--start",
                &format!("{:.3}", off + 3.0),
            ])
            .args(["--end", &format!("{end:.3}"), "--query"])
            .args(["rec=bench:driven:max", "--threshold", threshold])
            .args(["--server", &app.url("")])
            .env_remove("BENCHMON_TOKEN")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&cli.stdout);
        assert_eq!(
            cli.status.code(),
            Some(code),
            "{threshold}: {text} {}",
            String::from_utf8_lossy(&cli.stderr)
        );
        assert!(text.contains("thresholds:"), "{text}");
    }
    // New rules while running: checked, written, reloaded without a restart.
    let (status, _, p) = app
        .send(
            Method::PUT,
            &format!("/api/v1/sessions/{id}/rules"),
            Some(json!({"rules": "groups: [{"})),
        )
        .await;
    assert_eq!((status, &p["field"]), (422, &json!("rules")), "{p}");
    let low = json!({"groups": [{"name": "low", "interval": "1s",
        "rules": [{"alert": "DrivenLow", "expr": "bench_driven == 0"}]}]});
    let (status, _, view) = app
        .send(
            Method::PUT,
            &format!("/api/v1/sessions/{id}/rules"),
            Some(json!({"rules": low})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["reloaded"], true);
    query_until_present(
        &prom,
        r#"ALERTS{alertname="DrivenLow"}"#,
        Duration::from_secs(20),
    )
    .await;
    assert!(app
        .config(&id)
        .await
        .success(200)
        .rules
        .unwrap()
        .contains("DrivenLow"));
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_site_rule_pack_is_loaded_by_every_session_and_a_broken_one_stops_startup() {
    let pack = std::fs::canonicalize(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/rules/site-defaults.yml"
    ))
    .unwrap();
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.prometheus.rule_packs = vec![pack.clone()];
    let app = spawn_app_with(settings, dirs.clone()).await;
    let id = unique_id("pack");
    app.create(&from_json(json!({"run_id": id, "rules": RULES})))
        .await
        .success(201);
    let yml = app.config(&id).await.success(200).prometheus_yml.unwrap();
    let pack_line = format!("  - {}\n", serde_json::to_string(&pack).unwrap());
    let session_rules = dirs.state.join("sessions").join(&id).join("rules.yml");
    let own_line = format!("  - {}\n", serde_json::to_string(&session_rules).unwrap());
    let at = yml.find("rule_files:\n").unwrap();
    assert!(
        yml[at..].starts_with(&format!("rule_files:\n{pack_line}{own_line}")),
        "{yml}"
    );
    // promtool agrees: the config and both rule files load.
    let file = dirs.state.join("check.yml");
    std::fs::write(&file, &yml).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        said.contains("SUCCESS: 3 rules found") && said.contains("SUCCESS: 2 rules found"),
        "{said}"
    );
    // `benchmon session rules` replaces them (not started: nothing to reload); a bad file is
    // the server's 422, printed with its field.
    let file = dirs.state.join("new-rules.yml");
    for (text, code) in [
        (
            "groups:\n  - name: n\n    rules:\n      - record: up:sum\n        expr: sum(up)\n",
            0,
        ),
        (
            "groups:\n  - name: n\n    rules:\n      - record: up:sum\n",
            1,
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_benchmon"))
            .args(["session", "rules", &id])
            .arg(&file)
            .args(["--server", &app.url("")])
            .env_remove("BENCHMON_TOKEN")
            .output()
            .await
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&cli.stdout),
            String::from_utf8_lossy(&cli.stderr),
        );
        assert_eq!(cli.status.code(), Some(code), "{out}{err}");
        if code == 0 {
            assert!(out.contains("replaced; they load when it starts"), "{out}");
        } else {
            assert!(
                err.contains("field: rules") && err.contains("promtool check rules"),
                "{err}"
            );
        }
    }
    let rules = app.config(&id).await.success(200).rules.unwrap();
    assert!(
        rules.contains("up:sum") && rules.contains("sum(up)"),
        "{rules}"
    );
    app.shutdown().await;

    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        broken.path(),
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up ==\n",
    )
    .unwrap();
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.prometheus.rule_packs = vec![broken.path().to_owned()];
    settings.state_dir = dirs.state.clone();
    settings.artifacts_dir = dirs.artifacts.clone();
    let err = match benchmon::startup::build(settings).await {
        Ok(_) => panic!("a broken rule pack was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("rule pack ") && err.contains("parse error"),
        "{err}"
    );
}
