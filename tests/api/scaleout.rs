//! `store: "victoriametrics"` on real SLURM: a VictoriaMetrics job fed by Prometheus agents,
//! each scraping its hashmod share of many synthetic exporters.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::{Session, SessionState};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Targets of each test: enough that every one of 3 shards gets some.
const TARGETS: usize = 90;

/// One process serving `/metrics` on many loopback ports (aborted on drop).
pub(crate) struct SyntheticExporters {
    pub(crate) ports: Vec<u16>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SyntheticExporters {
    pub(crate) async fn start(n: usize) -> SyntheticExporters {
        SyntheticExporters::start_on([127, 0, 0, 1].into(), n).await
    }

    /// `n` exporters listening on `ip` (an address the scraping nodes reach).
    pub(crate) async fn start_on(ip: std::net::IpAddr, n: usize) -> SyntheticExporters {
        let mut ports = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            ports.push(port);
            tasks.push(serve_exposition(listener, move || {
                format!("synthetic_value{{port=\"{port}\"}} 1\n")
            }));
        }
        SyntheticExporters { ports, tasks }
    }
}

impl Drop for SyntheticExporters {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

/// An instant query's result vector at `base`.
pub(crate) async fn query(base: &str, promql: &str) -> Vec<Value> {
    let v: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// A running `victoriametrics` session with 3 scrapers and [`TARGETS`] exporters, once every
/// target's `up` is in the store; returns the session and its store URL.
async fn sharded_session(app: &TestApp, id: &str, exporters: &SyntheticExporters) -> String {
    app.create(&from_json(json!({
        "run_id": id, "scrape_interval": "1s", "store": "victoriametrics", "scrapers": 3
    })))
    .await
    .success(201);
    for (i, port) in exporters.ports.iter().enumerate() {
        let client = json!({"client_id": format!("c{i:03}"), "node": "localhost",
            "exporters": {"node": format!("127.0.0.1:{port}")}});
        app.register_client(id, &from_json(client))
            .await
            .success(201);
    }
    let store = app.start_and_wait(id).await;
    let up = format!(r#"count(up{{session="{id}"}} == 1)"#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = query(&store, &up).await;
        let n = n
            .first()
            .map(|r| r["value"][1].as_str().unwrap().to_owned());
        if n.as_deref() == Some(&TARGETS.to_string()) {
            return store;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "count(up == 1) is {n:?}, not {TARGETS}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `instance` → `scraper` of every target's `up` series in the store.
pub(crate) async fn scraper_of_each_target(store: &str, id: &str) -> BTreeMap<String, Vec<String>> {
    let mut by_instance: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in query(store, &format!(r#"up{{session="{id}"}}"#)).await {
        let m = &r["metric"];
        by_instance
            .entry(m["instance"].as_str().unwrap().to_owned())
            .or_default()
            .push(m["scraper"].as_str().unwrap().to_owned());
    }
    by_instance
}

/// `instance` of every flagged target of a collection's coverage, sorted.
pub(crate) fn flagged(out: &benchmon::client::CollectResult) -> Vec<String> {
    let mut flagged: Vec<String> = out.extra["coverage"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["flagged"] == true)
        .map(|t| t["instance"].as_str().unwrap().to_owned())
        .collect();
    flagged.sort();
    flagged
}

pub(crate) fn running_jobs(s: &Session) -> Vec<String> {
    let mut jobs: Vec<String> = s.scraper_jobs.iter().map(|j| j.job_id.clone()).collect();
    jobs.extend(s.job_id.clone());
    jobs
}

/// The raw samples of a session's collection `out`, read again from `store` by range-vector
/// queries (the fallback) into a bundle of their own.
async fn raw_by_queries(
    store: &str,
    id: &str,
    out: &benchmon::client::CollectResult,
) -> benchmon::export::CollectionOutcome {
    use benchmon::export::{formats::Formats, RawOptions, RawSource};
    let at = |k: &str| serde_json::from_value(out.extra[k].clone()).unwrap();
    let dir = tempfile::tempdir().unwrap().keep();
    let plan = benchmon::export::CollectionPlan {
        prometheus_url: store.to_owned(),
        start: at("window_start"),
        end: at("window_end"),
        step: None,
        scrape_interval: Some(benchmon::domain::PromDuration::parse("1s").unwrap()),
        queries: vec![],
        raw_selectors: vec![format!(r#"{{session="{id}"}}"#)],
        coverage_selector: None,
        windows: vec![],
        events: vec![],
        bundle_parent: dir,
        bundle_name: "fallback".into(),
        raw_options: RawOptions {
            source: RawSource::Query,
            formats: Formats::from_list(&[benchmon::export::formats::SampleFormat::Csv]),
            ..RawOptions::default()
        },
        max_points: None,
        samples_parquet: false,
        samples_json: false,
        manifest_extra: json!({}),
        quality: Default::default(),
        extra_files: Vec::new(),
        known_gaps: Vec::new(),
    };
    benchmon::export::collect(&reqwest::Client::new(), plan, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn three_scrapers_feed_victoriametrics_each_target_once_and_the_window_collects() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporters = SyntheticExporters::start(TARGETS).await;
    let id = unique_id("vm3");
    let store = sharded_session(&app, &id, &exporters).await;

    let s = app.session(&id).await.success(200);
    assert_eq!(s.state, SessionState::Running);
    assert_eq!(s.scraper_jobs.len(), 3);
    for j in &s.scraper_jobs {
        assert_eq!(squeue_state(&j.job_id), "RUNNING", "scraper {}", j.index);
        assert!(j.ready && j.port.is_some() && j.lost.is_none(), "{j:?}");
    }
    assert_eq!(squeue_state(s.job_id.as_deref().unwrap()), "RUNNING");

    // The targets view asks every agent for its share's health.
    let view = app.targets(&id).await.success(200);
    assert_eq!(view.health_note, None);
    let up = view
        .targets
        .iter()
        .filter(|t| t.health.as_ref().is_some_and(|h| h.health == "up"));
    assert_eq!(up.count(), TARGETS);

    // Every target is scraped by exactly one scraper, and the shards all have a share.
    let by_instance = scraper_of_each_target(&store, &id).await;
    assert_eq!(by_instance.len(), TARGETS);
    let twice: Vec<_> = by_instance.iter().filter(|(_, s)| s.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "scraped by more than one scraper: {twice:?}"
    );
    let shards: BTreeSet<&str> = by_instance.values().map(|s| s[0].as_str()).collect();
    assert_eq!(shards, BTreeSet::from(["0", "1", "2"]));
    // Every sample once: one `synthetic_value` series per target, one sample per scrape (a
    // window that ended 3 s ago, so every scraper has sent it).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let per_target = query(
        &store,
        &format!(r#"count_over_time(synthetic_value{{session="{id}"}}[5s] offset 3s)"#),
    )
    .await;
    assert_eq!(per_target.len(), TARGETS);
    for r in &per_target {
        let n: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
        assert!((4.0..=6.0).contains(&n), "{r}");
    }

    let out = app
        .collect(&id, &from_json(json!({"last": "5s", "formats": ["csv"]})))
        .await
        .success(201);
    assert_eq!(out.manifest["context"]["store"], "victoriametrics");
    assert_eq!(
        out.manifest["raw"]["method"], "export",
        "{}",
        out.manifest["raw"]
    );
    // The range-vector fallback over the same window of the same store writes the same rows.
    let fallback = raw_by_queries(&store, &id, &out).await;
    assert_eq!(
        fallback.raw_samples,
        out.extra["raw_samples"].as_u64().unwrap()
    );
    for file in ["raw.csv", "raw_series.csv"] {
        let a = std::fs::read(std::path::Path::new(&out.bundle_dir).join(file)).unwrap();
        let b = std::fs::read(fallback.bundle_dir.join(file)).unwrap();
        assert!(a == b, "{file} differs between export and queries");
    }
    let coverage = &out.extra["coverage"];
    assert_eq!(coverage["targets"].as_array().unwrap().len(), TARGETS);
    assert_eq!(coverage["flagged"], 0, "{coverage}");
    // Per target: synthetic_value, up and the four other series Prometheus adds per scrape.
    assert_eq!(out.extra["raw_series"], TARGETS * 6);

    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    for job in running_jobs(&stopped) {
        assert_eq!(squeue_state(&job), "", "job {job} still active");
    }

    // The store's data was copied back from the node: an offline VictoriaMetrics over it
    // gives the same window the same samples.
    let window = json!({"window_start": out.extra["window_start"], "formats": ["csv"],
        "window_end": out.extra["window_end"]});
    let after = app.collect(&id, &from_json(window)).await.success(201);
    assert_eq!(after.manifest["context"]["prometheus_source"], "offline");
    assert_eq!(after.samples, out.samples);
    assert_eq!(after.extra["raw_samples"], out.extra["raw_samples"]);
    let csv = |r: &benchmon::client::CollectResult| {
        std::fs::read(std::path::Path::new(&r.bundle_dir).join("raw.csv")).unwrap()
    };
    assert!(csv(&after) == csv(&out), "raw.csv differs offline");
    app.shutdown().await;
}

/// A scraper job that ends behind benchmon's back is submitted again: the same shard, so its
/// targets' series go on after a gap that coverage flags; a restarted benchmon follows the
/// replacement, and stop ends every job.
#[tokio::test]
async fn a_cancelled_scraper_is_replaced_and_only_its_targets_gap_is_flagged() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporters = SyntheticExporters::start(TARGETS).await;
    let id = unique_id("vmlost");
    let store = sharded_session(&app, &id, &exporters).await;
    // Every target scraped for a while before the loss.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let by_instance = scraper_of_each_target(&store, &id).await;
    let s = app.session(&id).await.success(200);
    let victim = s
        .scraper_jobs
        .iter()
        .find(|j| j.index == 1)
        .unwrap()
        .clone();
    let expected: Vec<String> = by_instance
        .iter()
        .filter(|(_, s)| s == &&vec!["1".to_owned()])
        .map(|(i, _)| i.clone())
        .collect();
    assert!(!expected.is_empty());

    let cancelled_at = chrono::Utc::now();
    sh("scancel", &[&victim.job_id]);
    // Lost, replaced by a job of the same shard, running again once that one listens.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let s = loop {
        let s = app.session(&id).await.success(200);
        let replacement = s.scraper_jobs.iter().skip(3).find(|j| j.index == 1);
        if s.state == SessionState::Running && replacement.is_some_and(|j| j.ready) {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let replaced_after = (chrono::Utc::now() - cancelled_at).to_std().unwrap();
    assert_eq!(s.scraper_jobs.len(), 4, "{:?}", s.scraper_jobs);
    let lost = s.scraper_jobs[1].lost.clone().expect("scraper 1 lost");
    assert_eq!(lost.targets, expected);
    assert!(lost.reason.contains(&victim.job_id), "{}", lost.reason);
    let replacement = &s.scraper_jobs[3];
    assert_eq!(
        lost.replaced_by.as_deref(),
        Some(replacement.job_id.as_str())
    );
    assert_eq!((replacement.index, replacement.lost.is_none()), (1, true));
    assert_eq!(squeue_state(&replacement.job_id), "RUNNING");
    assert!(
        s.scraper_jobs.iter().all(|j| j.silences.is_empty()),
        "{s:?}"
    );
    // The lost job's write-ahead log moved aside: the replacement starts on a directory of its
    // own (the lost one may still run on a cut-off node, holding the old one's lock).
    let shard_dir = app.dirs.state.join("sessions").join(&id).join("scrapers/1");
    assert!(shard_dir.join(format!("wal.{}", victim.job_id)).is_dir());
    assert!(shard_dir.join("wal").is_dir());

    // The replacement scrapes the same targets into the same series.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let fresh = format!(
        r#"count(timestamp(up{{session="{id}",scraper="1"}}) > {})"#,
        replacement.listening_since.unwrap().unix_millis() / 1000
    );
    loop {
        let n = query(&store, &fresh).await;
        let n = n
            .first()
            .map(|r| r["value"][1].as_str().unwrap().to_owned());
        if n.as_deref() == Some(&expected.len().to_string()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{n:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(scraper_of_each_target(&store, &id).await, by_instance);

    // A window over the loss flags exactly the lost shard's targets, each with one gap; one
    // after the replacement started flags none.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let over = app
        .collect(
            &id,
            &from_json(json!({
                "window_start": (cancelled_at - chrono::Duration::seconds(5)).to_rfc3339(),
                "window_end": (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339(),
                "profiles": false})),
        )
        .await
        .success(201);
    assert_eq!(flagged(&over), expected);
    let mut longest = 0.0f64;
    for t in over.extra["coverage"]["targets"].as_array().unwrap() {
        let gaps = t["gaps"].as_array().unwrap();
        assert_eq!(gaps.len(), usize::from(t["flagged"] == true), "{t}");
        longest = gaps
            .iter()
            .map(|g| g["seconds"].as_f64().unwrap())
            .fold(longest, f64::max);
    }
    eprintln!(
        "scaleout: running again {replaced_after:?} after the cancel; the longest gap {longest} s"
    );
    let after = app
        .collect(&id, &from_json(json!({"last": "5s", "profiles": false})))
        .await
        .success(201);
    assert_eq!(flagged(&after), Vec::<String>::new());

    // A restarted benchmon follows the same jobs, the replacement among them; stop ends them.
    let dirs = app.shutdown().await;
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Slurm), dirs).await;
    let again = app.session(&id).await.success(200);
    assert_eq!(again.state, SessionState::Running);
    let jobs = |s: &Session| -> Vec<(u16, String, Option<String>)> {
        s.scraper_jobs
            .iter()
            .map(|j| {
                let replaced_by = j.lost.as_ref().and_then(|l| l.replaced_by.clone());
                (j.index, j.job_id.clone(), replaced_by)
            })
            .collect()
    };
    assert_eq!(jobs(&again), jobs(&s));
    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    for job in running_jobs(&stopped) {
        assert_eq!(squeue_state(&job), "", "job {job} still active");
    }
    app.shutdown().await;
}

/// A store this test runs itself (killed on drop): benchmon is only told its URLs.
pub(crate) struct OwnStore {
    child: std::process::Child,
    pub(crate) base: String,
    _data: tempfile::TempDir,
}

impl OwnStore {
    pub(crate) async fn start(program: &str) -> OwnStore {
        OwnStore::start_with(program, &[]).await
    }

    /// A VictoriaMetrics given `extra` flags too (`-httpAuth.username=…`).
    pub(crate) async fn start_with(program: &str, extra: &[String]) -> OwnStore {
        let port = free_port();
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().display();
        let args: Vec<String> = match program {
            "victoria-metrics" => [
                format!("-storageDataPath={dir}"),
                format!("-httpListenAddr=127.0.0.1:{port}"),
                "-search.latencyOffset=0s".into(),
            ]
            .into_iter()
            .chain(extra.iter().cloned())
            .collect(),
            _ => vec![
                format!("--storage.tsdb.path={dir}"),
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!("--config.file={}", write_empty_config(data.path())),
                "--web.enable-remote-write-receiver".into(),
            ],
        };
        let child = std::process::Command::new(program)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let store = OwnStore {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        for _ in 0..100 {
            let ready = reqwest::get(format!("{}/-/ready", store.base)).await;
            if matches!(ready, Ok(r) if r.status().is_success()) {
                return store;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{program} on {port} did not come up");
    }
}

fn write_empty_config(dir: &std::path::Path) -> String {
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, "global: {}\n").unwrap();
    path.display().to_string()
}

impl Drop for OwnStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running session of `scrapers` agents feeding `store` (which benchmon did not start), once
/// every one of `exporters` has its `up` there.
async fn session_on_own_store(
    app: &TestApp,
    store: &OwnStore,
    id: &str,
    exporters: &SyntheticExporters,
    scrapers: usize,
) -> Session {
    app.create(&from_json(
        json!({"run_id": id, "scrape_interval": "1s", "scrapers": scrapers,
        "store": {"remote_write_url": format!("{}/api/v1/write", store.base),
                  "query_url": store.base}}),
    ))
    .await
    .success(201);
    register_all(app, id, exporters).await;
    app.start(id, &from_json(json!({"time_limit": "00:20:00"})))
        .await
        .success(202);
    let s = app
        .client
        .wait_for(id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    let up = format!(r#"up{{session="{id}"}} == 1"#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while query(&store.base, &up).await.len() < exporters.ports.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every target in the store"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    s
}

/// A session on `store` with 2 scrapers: every target in the store once, a push stored there,
/// a collection from it, and after stop (no job of benchmon's holds the data) a collection
/// from it again.
async fn scrapers_feed_a_store_benchmon_did_not_start(program: &str) {
    let store = OwnStore::start(program).await;
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporters = SyntheticExporters::start(12).await;
    let id = unique_id("remote");
    let s = session_on_own_store(&app, &store, &id, &exporters, 2).await;
    assert_eq!((s.job_id.as_deref(), s.scraper_jobs.len()), (None, 2));
    let by_instance = scraper_of_each_target(&store.base, &id).await;
    assert_eq!(by_instance.len(), 12);
    assert!(
        by_instance.values().all(|s| s.len() == 1),
        "{by_instance:?}"
    );
    // A push goes to the store's remote_write_url (its query URL may be another service).
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/sessions/{id}/metrics")))
        .header("Content-Type", "text/plain")
        .body("loadgen_ops_total 7\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let pushed = format!(r#"loadgen_ops_total{{session="{id}",source="push"}}"#);
    let pushed = query_until_present(&store.base, &pushed, Duration::from_secs(10)).await;
    assert_eq!(pushed[0]["value"][1], "7", "{pushed:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let live = app
        .collect(&id, &from_json(json!({"last": "3s", "profiles": false})))
        .await
        .success(201);
    assert_eq!(live.manifest["context"]["store"], "remote");
    assert_eq!(
        live.extra["coverage"]["targets"].as_array().unwrap().len(),
        12
    );

    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    for job in running_jobs(&stopped) {
        assert_eq!(squeue_state(&job), "", "job {job} still active");
    }
    let after = app
        .collect(&id, &from_json(json!({"last": "20s", "profiles": false})))
        .await
        .success(201);
    assert_eq!(after.manifest["context"]["prometheus_source"], "store");
    // The 12 targets' 6 series each, and the pushed one.
    assert_eq!(after.extra["raw_series"], 12 * 6 + 1);
    app.shutdown().await;
}

#[tokio::test]
async fn scrapers_feed_a_victoriametrics_benchmon_did_not_start() {
    scrapers_feed_a_store_benchmon_did_not_start("victoria-metrics").await;
}

#[tokio::test]
async fn scrapers_feed_a_prometheus_remote_write_receiver_benchmon_did_not_start() {
    scrapers_feed_a_store_benchmon_did_not_start("prometheus").await;
}

/// Registers `exporters` as clients of session `id`.
async fn register_all(app: &TestApp, id: &str, exporters: &SyntheticExporters) {
    for (i, port) in exporters.ports.iter().enumerate() {
        let client = json!({"client_id": format!("c{i:03}"), "node": "localhost",
            "exporters": {"node": format!("127.0.0.1:{port}")}});
        app.register_client(id, &from_json(client))
            .await
            .success(201);
    }
}

/// A VictoriaMetrics that requires basic auth: a session given the credentials (and a tenant
/// header) is fed and collected, also after a restart of benchmon, and never shows them; one
/// with a wrong password fails saying so.
#[tokio::test]
async fn a_store_requiring_basic_auth_takes_the_sessions_credentials_and_never_shows_them() {
    let password = "s3cr:t \"pw\" #1 é";
    let store = OwnStore::start_with(
        "victoria-metrics",
        &[
            "-httpAuth.username=bench".into(),
            format!("-httpAuth.password={password}"),
        ],
    )
    .await;
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporters = SyntheticExporters::start(6).await;
    let id = unique_id("auth");
    let remote = |pw: &str| {
        json!({"remote_write_url": format!("{}/api/v1/write", store.base),
            "query_url": store.base, "headers": {"X-Scope-OrgID": "tenant-7"},
            "basic_auth": {"username": "bench", "password": pw}})
    };
    let (status, _, created) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": id, "scrape_interval": "1s", "scrapers": 2,
                "store": remote(password)})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["store"]["basic_auth"]["password"], "<redacted>");
    assert_eq!(created["store"]["basic_auth"]["username"], "bench");
    assert_eq!(created["store"]["headers"]["X-Scope-OrgID"], "<redacted>");
    register_all(&app, &id, &exporters).await;
    app.start(&id, &from_json(json!({"time_limit": "00:20:00"})))
        .await
        .success(202);
    app.client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    let authed = reqwest::Client::new();
    let up = format!(r#"up{{session="{id}"}} == 1"#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = authed
            .get(format!("{}/api/v1/query", store.base))
            .basic_auth("bench", Some(password))
            .query(&[("query", up.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["data"]["result"].as_array().map_or(0, Vec::len) == 6 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = app
        .collect(&id, &from_json(json!({"last": "3s", "profiles": false})))
        .await
        .success(201);
    assert_eq!(out.manifest["raw"]["method"], "export");
    assert_eq!(
        out.extra["coverage"]["targets"].as_array().unwrap().len(),
        6
    );

    // The password is in the credentials file and the scrapers' configs (both 0600) only.
    let dir = app.dirs.state.join("sessions").join(&id);
    let (_, _, view) = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{id}"),
            None,
        )
        .await;
    let manifest =
        std::fs::read_to_string(std::path::Path::new(&out.bundle_dir).join("MANIFEST.json"))
            .unwrap();
    let record = std::fs::read_to_string(dir.join("session.json")).unwrap();
    for (what, text) in [
        ("view", view.to_string()),
        ("manifest", manifest),
        ("session.json", record),
    ] {
        assert!(!text.contains("s3cr:t"), "the password is in the {what}");
        assert!(!text.contains("tenant-7"), "the tenant is in the {what}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let creds = dir.join("store-credentials.json");
    assert!(std::fs::read_to_string(&creds).unwrap().contains("s3cr:t"));
    assert_eq!(mode(&creds), 0o600);
    let scraper_yml = dir.join("scrapers").join("0").join("prometheus.yml");
    assert!(std::fs::read_to_string(&scraper_yml)
        .unwrap()
        .contains("tenant-7"));
    assert_eq!(mode(&scraper_yml), 0o600);

    // The config view: no prometheus.yml of the session's own (the store scrapes nothing), what
    // each scraper was told with the credentials' two lines redacted and nothing else changed.
    let config = app.config(&id).await.success(200);
    assert_eq!(config.prometheus_yml, None);
    let indexes: Vec<u16> = config.scrapers.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1]);
    for s in &config.scrapers {
        let yml = &s.prometheus_yml;
        let file = dir.join("scrapers").join(s.index.to_string());
        let on_disk = std::fs::read_to_string(file.join("prometheus.yml")).unwrap();
        assert!(
            !yml.contains("s3cr:t") && !yml.contains("tenant-7"),
            "{yml}"
        );
        assert_eq!(on_disk.lines().count(), yml.lines().count());
        let changed: Vec<&str> = on_disk
            .lines()
            .zip(yml.lines())
            .filter(|(a, b)| a != b)
            .map(|(_, b)| b.trim())
            .collect();
        assert_eq!(
            changed,
            [
                r#""X-Scope-OrgID": "<redacted>""#,
                r#"password: "<redacted>""#
            ],
            "{yml}"
        );
        assert!(
            yml.contains(&format!("{}/api/v1/write", store.base)),
            "{yml}"
        );
        assert_eq!(
            s.job_script.as_deref(),
            std::fs::read_to_string(file.join("scraper-job.sh"))
                .ok()
                .as_deref()
        );
    }
    let shown = serde_json::to_string(&config).unwrap();
    assert!(!shown.contains("s3cr:t") && !shown.contains("tenant-7"));

    // A restarted benchmon reads the credentials back: it still collects from the store.
    let dirs = app.shutdown().await;
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Slurm), dirs).await;
    let again = app
        .collect(&id, &from_json(json!({"last": "3s", "profiles": false})))
        .await
        .success(201);
    assert_eq!(
        again.extra["coverage"]["targets"].as_array().unwrap().len(),
        6
    );
    let stopped = app.client.stop_session(&id).await.unwrap();
    for job in running_jobs(&stopped) {
        assert_eq!(squeue_state(&job), "", "job {job} still active");
    }

    // A wrong password: the session fails at start, saying the store refused and where to look.
    let bad = unique_id("authbad");
    app.create(&from_json(json!({"run_id": bad, "scrapers": 1,
        "store": remote("wrong")})))
        .await
        .success(201);
    register_all(&app, &bad, &exporters).await;
    app.start(&bad, &from_json(json!({"time_limit": "00:20:00"})))
        .await
        .success(202);
    let failed = app
        .client
        .wait_for(&bad, SessionState::Failed, Duration::from_secs(30))
        .await
        .unwrap();
    let reason = failed.failure_reason.unwrap_or_default();
    assert!(
        reason.contains("401") && reason.contains("store.basic_auth"),
        "{reason}"
    );
    assert!(failed.scraper_jobs.is_empty(), "{:?}", failed.scraper_jobs);
    app.shutdown().await;
}

/// A store that stalls across the end of a window (SIGSTOP: a real VictoriaMetrics, frozen the
/// way an overloaded or swapping node freezes it) holds the scrapers' last seconds back; the
/// collection sent right after the window waits until the store has every live scraper's
/// samples up to the window's end, so each target's last sample is within one scrape of it.
#[tokio::test]
async fn a_collection_right_after_its_window_waits_for_scrapers_held_back_by_a_stalled_store() {
    let store = OwnStore::start("victoria-metrics").await;
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporters = SyntheticExporters::start(4).await;
    let id = unique_id("catchup");
    session_on_own_store(&app, &store, &id, &exporters, 1).await;
    let signal = |sig: &str| {
        let pid = store.child.id().to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    let start = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal("-STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = chrono::Utc::now().timestamp_millis();
    // Resumed 6 s after the window's end: after the collection's own fixed wait (one scrape
    // and the scrapers' 2 s flush), so only the catch-up wait can take the held-back samples.
    let resume = std::thread::spawn({
        let pid = store.child.id().to_string();
        move || {
            std::thread::sleep(Duration::from_secs(6));
            std::process::Command::new("kill")
                .args(["-CONT", &pid])
                .status()
                .unwrap()
        }
    });
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let out = app
        .collect(
            &id,
            &from_json(json!({"window_start": iso(start), "window_end": iso(end),
                "profiles": false, "formats": ["csv"]})),
        )
        .await;
    assert!(resume.join().unwrap().success());
    let out = out.success(201);
    let bundle = std::path::PathBuf::from(&out.bundle_dir);
    let series = std::fs::read_to_string(bundle.join("raw_series.csv")).unwrap();
    let synthetic: BTreeSet<&str> = series
        .lines()
        .filter(|l| l.contains("synthetic_value"))
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert_eq!(synthetic.len(), 4, "{series}");
    let raw = std::fs::read_to_string(bundle.join("raw.csv")).unwrap();
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for line in raw.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if synthetic.contains(f[2]) {
            let t: i64 = f[0].parse().unwrap();
            let e = last.entry(f[2]).or_insert(t);
            *e = (*e).max(t);
        }
    }
    assert_eq!(last.len(), 4, "{last:?}");
    for (s, t) in &last {
        assert!(
            *t >= end - 1_500,
            "series {s}: last sample {} ms before the window's end",
            end - t
        );
    }
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
