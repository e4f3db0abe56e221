//! Target registration against a real Prometheus (SLURM job) and real node exporters.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn targets_registered_before_start_are_scraped_with_identity_labels() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("targets");
    app.create_session(&id).await;
    // The seed's request shapes: top-level routes with session_id in the body.
    let (status, _, body) = app
        .send(
            Method::POST,
            "/api/v1/clients",
            Some(json!({
                "session_id": id, "client_id": "client-001", "node": "localhost",
                "exporters": {"node": exporter.address(), "dcgm": "127.0.0.1:1"},
                "preferences": {"enable_node": true, "enable_dcgm": false}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(json!({
                "session_id": id, "client_id": "client-001", "name": "benchmon",
                "endpoint": format!("http://127.0.0.1:{}/metrics?format=text", app.addr.port()),
                "labels": {"model": "gpt2"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let prom = app.start_and_wait(&id).await;
    let up = query_until_present(
        &prom,
        &format!(r#"up{{session="{id}",run_id="{id}",client_id="client-001",node="localhost",exporter="node",job="node"}} == 1"#),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(up[0]["metric"]["instance"], exporter.address());
    // A real node_exporter series, carrying the same labels.
    let load = query_until_present(
        &prom,
        &format!(r#"node_load1{{session="{id}",client_id="client-001"}}"#),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(load[0]["metric"]["exporter"], "node");
    let svc = query_until_present(
        &prom,
        &format!(r#"up{{session="{id}",service="benchmon",client_id="client-001",model="gpt2",job="benchmon"}} == 1"#),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        svc[0]["metric"]["instance"],
        format!("127.0.0.1:{}", app.addr.port())
    );
    // The disabled DCGM exporter is listed but never scraped.
    assert!(active_targets(&prom)
        .await
        .iter()
        .all(|t| t["labels"]["exporter"] != "dcgm"));

    let list = app.targets(&id).await.success(200);
    let targets = &list.targets;
    assert_eq!(targets.len(), 3, "{list:?}");
    let exporter = |kind: &str| {
        targets
            .iter()
            .find(|t| t.exporter.as_deref() == Some(kind))
            .unwrap()
    };
    let node = exporter("node").health.as_ref();
    assert_eq!(node.map(|h| h.health.as_str()), Some("up"), "{list:?}");
    assert!(node.unwrap().last_scrape_duration_seconds.unwrap() > 0.0);
    let dcgm = exporter("dcgm");
    assert_eq!((dcgm.enabled, &dcgm.health), (false, &None));
    let svc = targets
        .iter()
        .find(|t| t.service.as_deref() == Some("benchmon"))
        .unwrap()
        .health
        .as_ref()
        .unwrap();
    assert_eq!(svc.health, "up");
    assert!(svc.scrape_url.ends_with("/metrics?format=text"));

    let config = app.config(&id).await.success(200);
    assert!(config
        .prometheus_yml
        .is_some_and(|y| y.contains("job_name: exporters")));
    assert!(config.file_sd["client-client-001.json"].is_array());
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn targets_registered_while_running_are_scraped_quickly_and_deregistered_ones_vanish() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("live");
    app.create_session(&id).await;
    let prom = app.start_and_wait(&id).await;

    let late = from_json(
        json!({"client_id": "late", "node": "localhost", "exporters": {"node": exporter.address()}}),
    );
    let registered = Instant::now();
    app.register_client(&id, &late).await.success(201);
    query_until_present(
        &prom,
        &format!(r#"up{{session="{id}",client_id="late"}} == 1"#),
        Duration::from_secs(20),
    )
    .await;
    let took = registered.elapsed();
    // Within two refresh intervals: Prometheus applies discovered targets at most every 5 s
    // (its scrape manager's fixed update interval), so an interval is max(file_sd refresh, 5 s).
    assert!(
        took < Duration::from_secs(10),
        "scraped only after {took:?}"
    );
    eprintln!("registration → first scrape: {took:?}");

    app.deregister_client(&id, "late").await.success(204);
    let deadline = Instant::now() + Duration::from_secs(10);
    while active_targets(&prom)
        .await
        .iter()
        .any(|t| t["labels"]["client_id"] == "late")
    {
        assert!(
            Instant::now() < deadline,
            "deregistered target still active"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let problem = app.deregister_client(&id, "late").await.problem(404);
    assert_eq!(problem.field.as_deref(), Some("client_id"));
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn hostile_label_values_round_trip_exactly_and_promtool_still_passes() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("hostile");
    app.create_session(&id).await;
    let hostile = "a\"b'c\n{{ .x }} #: - [x] & *ref !tag % @ \\ \u{1F600} ünï";
    let client = from_json(
        json!({"client_id": "h", "node": "localhost", "exporters": {"node": exporter.address()}, "labels": {"team": hostile}}),
    );
    app.register_client(&id, &client).await.success(201);
    let prom = app.start_and_wait(&id).await;
    let (ok, out) =
        promtool_check_config(&app.dirs.state.join(format!("sessions/{id}/prometheus.yml")));
    assert!(ok, "{out}");
    let up = query_until_present(
        &prom,
        &format!(r#"up{{session="{id}",client_id="h"}}"#),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(up[0]["metric"]["team"], hostile);
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_registrations_get_422_naming_the_field() {
    let app = spawn_app(LauncherKind::Slurm).await;
    app.create_session("reg").await;
    let client = |patch: Value| {
        let mut base = json!({"session_id": "reg", "client_id": "c1", "node": "n1", "exporters": {"node": "n1:9100"}});
        for (k, v) in patch.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    for (body, field) in [
        (
            client(json!({"exporters": {"node": "n1"}})),
            "exporters.node",
        ),
        (
            client(json!({"exporters": {"node": "n1:70000"}})),
            "exporters.node",
        ),
        (
            client(json!({"exporters": {"node": "n 1:9100"}})),
            "exporters.node",
        ),
        (
            client(json!({"exporters": {"no-de": "n1:9100"}})),
            "exporters.no-de",
        ),
        (client(json!({"exporters": {}})), "exporters"),
        (client(json!({"client_id": "../c"})), "client_id"),
        (client(json!({"node": "a;b"})), "node"),
        (client(json!({"labels": {"job": "x"}})), "labels.job"),
        (client(json!({"labels": {"__meta": "x"}})), "labels.__meta"),
        (client(json!({"labels": {"1a": "x"}})), "labels.1a"),
        (
            client(json!({"preferences": {"enable_dcmg": true}})),
            "preferences.enable_dcmg",
        ),
        (
            client(json!({"preferences": {"scrape": true}})),
            "preferences.scrape",
        ),
        (
            json!({"client_id": "c1", "node": "n1", "exporters": {"node": "n1:9100"}}),
            "session_id",
        ),
        (client(json!({"session_id": "../x"})), "session_id"),
    ] {
        let (status, ctype, p) = app
            .send(Method::POST, "/api/v1/clients", Some(body.clone()))
            .await;
        assert_eq!(
            (status, ctype.as_str()),
            (422, "application/problem+json"),
            "{body} → {p}"
        );
        assert_eq!(p["field"], field, "{body} → {p}");
    }
    let service =
        |endpoint: &str| json!({"session_id": "reg", "name": "svc", "endpoint": endpoint});
    for endpoint in [
        "ftp://h/metrics",
        "h:8000/metrics",
        "http://u:p@h/metrics",
        "http://h/m?a=1&a=2",
        "http:// bad/",
    ] {
        let (status, _, p) = app
            .send(Method::POST, "/api/v1/services", Some(service(endpoint)))
            .await;
        assert_eq!(
            (status, p["field"].as_str()),
            (422, Some("endpoint")),
            "{endpoint} → {p}"
        );
    }
    let (status, _, p) = app
        .send(
            Method::POST,
            "/api/v1/sessions/reg/services",
            Some(json!({"session_id": "other", "name": "s", "endpoint": "http://h/m"})),
        )
        .await;
    assert_eq!((status, p["field"].as_str()), (422, Some("session_id")));
    // Unknown session → 404; a stopped or deleted session → 409.
    let (status, _, _) = app
        .send(
            Method::POST,
            "/api/v1/clients",
            Some(client(json!({"session_id": "nope"}))),
        )
        .await;
    assert_eq!(status, 404);
    app.create_session("gone").await;
    app.client.delete_session("gone").await.unwrap();
    let (status, _, p) = app
        .send(
            Method::POST,
            "/api/v1/clients",
            Some(client(json!({"session_id": "gone"}))),
        )
        .await;
    assert_eq!(status, 409, "{p}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_stopped_session_refuses_registration() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("stopped");
    app.create_session(&id).await;
    app.start_and_wait(&id).await;
    app.client.stop_session(&id).await.unwrap();
    let p = app
        .register_service(
            &id,
            &from_json(json!({"name": "s", "endpoint": "http://h/metrics"})),
        )
        .await
        .problem(409);
    assert!(p.detail.contains("stopped"));
    app.shutdown().await;
}

#[tokio::test]
async fn two_hundred_concurrent_registrations_are_all_kept() {
    let app = spawn_app(LauncherKind::Slurm).await;
    app.create_session("crowd").await;
    let started = Instant::now();
    let sends = (0..200).map(|i| {
        let client = app.client.clone();
        async move {
            let body = json!({
                "session_id": "crowd", "client_id": format!("client-{i:03}"), "node": format!("node{i:03}"),
                "exporters": {"node": format!("node{i:03}:9100"), "dcgm": format!("node{i:03}:9400")},
                "labels": {"rack": format!("r{}", i % 7)}
            });
            client.send_raw(Method::POST, "/api/v1/clients", Some(&body)).await.unwrap().status.as_u16()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    eprintln!("200 concurrent registrations took {:?}", started.elapsed());
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");

    let list = app.targets("crowd").await.success(200);
    assert_eq!(list.clients.len(), 200);
    assert_eq!(list.targets.len(), 400);
    let sd = app.dirs.state.join("sessions/crowd/file_sd");
    let files: Vec<_> = std::fs::read_dir(&sd)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 200, "temp files left behind?");
    for f in &files {
        let groups: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(groups.as_array().unwrap().len(), 2);
    }
    // The config that will reference them is valid with all 200 files in place.
    let config = app.config("crowd").await.success(200);
    let yml = app.dirs.state.join("sessions/crowd/check.yml");
    std::fs::write(&yml, config.prometheus_yml.unwrap()).unwrap();
    let (ok, out) = promtool_check_config(&yml);
    assert!(ok, "{out}");
    app.shutdown().await;
}
