//! Scrapers placed on chosen nodes of the multi-node dev cluster (`scraper_nodes`), and a
//! scraper whose node is cut off the network: benchmon notices from the store, long before
//! SLURM's `SlurmdTimeout` would.

use crate::multi_node::{dev_cluster, local_addr_towards, namespaced_nodes, node_addr};
use crate::scaleout::{flagged, query, running_jobs, scraper_of_each_target, SyntheticExporters};
use crate::support::*;
use benchmon::client::CollectResult;
use benchmon::launcher::LauncherKind;
use benchmon::session::{Session, SessionState};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Targets of the session: 3 shards of about 100.
const TARGETS: usize = 300;

/// A namespaced node cut off the network (`dev-cluster.sh node-down`) until dropped: then
/// reconnected (`node-up`, which waits until SLURM can use it), also when the test fails.
struct NodeCut {
    node: Option<String>,
}

impl NodeCut {
    fn cut(node: &str) -> NodeCut {
        let (ok, out) = dev_cluster(&["node-down", node]);
        assert!(ok, "node-down {node}: {out}");
        NodeCut {
            node: Some(node.to_owned()),
        }
    }

    fn restore(&mut self) {
        if let Some(node) = self.node.take() {
            let (ok, out) = dev_cluster(&["node-up", &node]);
            assert!(ok, "node-up {node}: {out}");
        }
    }
}

impl Drop for NodeCut {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let (ok, out) = dev_cluster(&["node-up", &node]);
            if !ok {
                eprintln!("node-up {node} failed: {out}");
            }
        }
    }
}

/// The node squeue says job `job` runs on.
fn squeue_node(job: &str) -> String {
    sh("squeue", &["-h", "-j", job, "-o", "%N"])
        .trim()
        .to_owned()
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Collects `[start, end]` of session `id` (the raw samples as CSV); returns the result and how
/// long the request took.
async fn collect_between(
    app: &TestApp,
    id: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> (CollectResult, Duration) {
    let asked = Instant::now();
    let body = json!({"window_start": iso(start), "window_end": iso(end),
        "profiles": false, "formats": ["csv"]});
    let out = app.collect(id, &from_json(body)).await.success(201);
    (out, asked.elapsed())
}

/// The session waited for, `wanted`, within `secs`.
async fn wait_state(app: &TestApp, id: &str, wanted: SessionState, secs: u64) -> Session {
    app.client
        .wait_for(id, wanted, Duration::from_secs(secs))
        .await
        .unwrap_or_else(|e| panic!("waiting for {}: {e}", wanted.as_str()))
}

#[tokio::test]
async fn scrapers_placed_on_three_nodes_scrape_each_target_once_and_one_cut_off_is_noticed_from_the_store(
) {
    // Nobody else's job is on the namespaced nodes while one of them is cut off.
    let _nodes = multi_node_lock(true).await;
    let namespaced = namespaced_nodes();
    assert!(namespaced.len() >= 2, "{namespaced:?}");
    let host = sh("hostname", &["-s"]).trim().to_owned();
    let (store_node, cut_node) = (namespaced[0].clone(), namespaced[1].clone());
    let placement = [store_node.clone(), cut_node.clone(), host.clone()];

    // The exporters listen on the host's address on the nodes' subnet: every node reaches it,
    // the host's own scraper included.
    let gateway = local_addr_towards(node_addr(&store_node));
    let exporters = SyntheticExporters::start_on(gateway, TARGETS).await;
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("placed");
    app.create(&from_json(json!({
        "run_id": id, "scrape_interval": "2s", "store": "victoriametrics", "scrapers": 3,
        "scraper_nodes": placement,
    })))
    .await
    .success(201);
    for (i, port) in exporters.ports.iter().enumerate() {
        let client = json!({"client_id": format!("c{i:03}"), "node": host,
            "exporters": {"node": format!("{gateway}:{port}")}});
        app.register_client(&id, &from_json(client))
            .await
            .success(201);
    }
    // The store on one node (the start request's nodelist), the scrapers where placed.
    let start = json!({"partition": "multi", "nodelist": store_node, "time_limit": "00:20:00"});
    app.start(&id, &from_json(start)).await.success(202);
    let s = wait_state(&app, &id, SessionState::Running, 120).await;
    let store = s.prometheus_url.clone().unwrap();
    assert_eq!(s.node.as_deref(), Some(store_node.as_str()));
    assert_eq!(squeue_node(s.job_id.as_deref().unwrap()), store_node);
    let mut ran_on = BTreeSet::new();
    for j in &s.scraper_jobs {
        let wanted = &placement[usize::from(j.index)];
        assert_eq!(
            j.requested_node.as_ref().map(|n| n.as_str()),
            Some(wanted.as_str())
        );
        // Where SLURM really runs it, and the view says the same.
        assert_eq!(&squeue_node(&j.job_id), wanted, "scraper {}", j.index);
        assert_eq!(j.node.as_ref(), Some(wanted), "scraper {}", j.index);
        ran_on.insert(wanted.clone());
    }
    assert_eq!(ran_on.len(), 3, "{:?}", s.scraper_jobs);
    let scraper_job_script = std::fs::read_to_string(
        app.dirs
            .state
            .join(format!("sessions/{id}/scrapers/1/scraper-job.sh")),
    )
    .unwrap();
    assert!(
        scraper_job_script.contains(&format!("#SBATCH --nodelist={cut_node}\n")),
        "{scraper_job_script}"
    );

    // Every target's `up` in the store, each from exactly one scraper.
    let up = format!(r#"count(up{{session="{id}"}} == 1)"#);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = query(&store, &up).await;
        let n = n
            .first()
            .map(|r| r["value"][1].as_str().unwrap().to_owned());
        if n.as_deref() == Some(&TARGETS.to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "count(up == 1) is {n:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let by_instance = scraper_of_each_target(&store, &id).await;
    assert_eq!(by_instance.len(), TARGETS);
    let twice: Vec<_> = by_instance.iter().filter(|(_, s)| s.len() != 1).collect();
    assert!(twice.is_empty(), "scraped by two scrapers: {twice:?}");
    let mut shards: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (instance, s) in &by_instance {
        shards.entry(&s[0]).or_default().push(instance.clone());
    }
    assert_eq!(shards.keys().copied().collect::<Vec<_>>(), ["0", "1", "2"]);

    // A window of 10 s: every target's samples, none flagged.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let now = chrono::Utc::now();
    let (out, _) = collect_between(
        &app,
        &id,
        now - chrono::Duration::seconds(11),
        now - chrono::Duration::seconds(1),
    )
    .await;
    let coverage = &out.extra["coverage"];
    assert_eq!(coverage["targets"].as_array().unwrap().len(), TARGETS);
    assert_eq!(flagged(&out), Vec::<String>::new(), "{coverage}");
    let series =
        std::fs::read_to_string(std::path::Path::new(&out.bundle_dir).join("raw_series.csv"))
            .unwrap();
    let with_samples: BTreeSet<&str> = series
        .lines()
        .filter(|l| l.contains("synthetic_value"))
        .filter_map(|l| l.split("port=").nth(1))
        .collect();
    assert_eq!(
        with_samples.len(),
        TARGETS,
        "synthetic_value series in the window"
    );
    for t in coverage["targets"].as_array().unwrap() {
        assert!(t["scrapes"].as_u64().unwrap() >= 4, "{t}");
    }

    // Scraper 1's node cut off: its job still runs for SLURM (which would notice only after
    // SlurmdTimeout, 120 s), but the store stops hearing from it.
    let victims = shards["1"].clone();
    let before_cut = chrono::Utc::now();
    let mut cut = NodeCut::cut(&cut_node);
    let cut_at = Instant::now();
    let s = wait_state(&app, &id, SessionState::Degraded, 45).await;
    let noticed_after = cut_at.elapsed();
    let silent: Vec<_> = s
        .scraper_jobs
        .iter()
        .filter(|j| !j.silences.is_empty())
        .collect();
    assert_eq!(silent.len(), 1, "{:?}", s.scraper_jobs);
    let j = silent[0];
    assert_eq!(j.index, 1);
    assert!(j.lost.is_none(), "{j:?}");
    assert_eq!(squeue_state(&j.job_id), "RUNNING");
    let silence = j.open_silence().expect("an open silence");
    assert_eq!(silence.node.as_deref(), Some(cut_node.as_str()));
    assert_eq!(silence.targets, victims);
    assert!(
        silence.reason.contains(&cut_node) && silence.reason.contains(&j.job_id),
        "{}",
        silence.reason
    );
    assert!(silence.from.datetime() <= chrono::Utc::now());
    // Noticed once the limit (15 s) had passed since its last sample, not before.
    assert!(
        noticed_after >= Duration::from_secs(12),
        "{noticed_after:?}"
    );

    // A collection while it is silent does not wait for it (the catch-up wait skips it) and
    // flags exactly its targets.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (during, took) = collect_between(
        &app,
        &id,
        before_cut - chrono::Duration::seconds(10),
        chrono::Utc::now() - chrono::Duration::seconds(1),
    )
    .await;
    assert!(
        took < Duration::from_secs(20),
        "the collection took {took:?}"
    );
    eprintln!("placement: silence noticed {noticed_after:?} after the cut; a collection during it took {took:?}");
    assert_eq!(flagged(&during), victims);
    assert_eq!(during.quality.as_deref(), Some("partial"));

    // Reconnected: the agent sends what it buffered, and once it has caught up the session is
    // running again; the record keeps the silence with its end.
    let restoring = Instant::now();
    cut.restore();
    let node_up = restoring.elapsed();
    let s = wait_state(&app, &id, SessionState::Running, 120).await;
    eprintln!(
        "placement: node-up took {node_up:?}, running again {:?} after it",
        restoring.elapsed() - node_up
    );
    let j = &s.scraper_jobs[1];
    let closed = j.silences.last().unwrap();
    assert_eq!(j.silences.len(), 1, "{:?}", j.silences);
    let to = closed.to.expect("the silence ended");
    assert!(closed.from < to, "{closed:?}");
    assert!(s.scraper_jobs.iter().all(|j| j.open_silence().is_none()));

    // A window spanning the whole cut flags exactly those targets, the silence as a gap.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (after, _) = collect_between(
        &app,
        &id,
        before_cut - chrono::Duration::seconds(10),
        chrono::Utc::now() - chrono::Duration::seconds(1),
    )
    .await;
    assert_eq!(flagged(&after), victims);
    let gap_causes: BTreeSet<String> = after
        .gaps
        .iter()
        .filter_map(|g| g["cause"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(gap_causes.len(), 1, "{gap_causes:?}");
    let cause = gap_causes.into_iter().next().unwrap();
    assert!(
        cause.contains("scraper 1") && cause.contains(&cut_node),
        "{cause}"
    );

    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    for job in running_jobs(&stopped) {
        assert_eq!(squeue_state(&job), "", "job {job} still active");
    }
    app.shutdown().await;
}
