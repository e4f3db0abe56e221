//! Crash safety: `benchmon serve` killed with SIGKILL again and again in the middle of starts,
//! registration bursts and collections, restarted on the same state directory each time.
//! Whatever it acknowledged survives, nothing runs that it cannot stop, and nothing
//! half-written is left: no complete-looking partial bundle, no temp file.

use crate::binary::*;
use crate::support::{free_port, processes_mentioning};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Kill rounds; each is a server start, a burst of work and a SIGKILL part-way through it.
const ROUNDS: u64 = 8;

struct Serve {
    child: tokio::process::Child,
    url: String,
}

/// `benchmon serve` (local launcher: the kills should not flood the cluster) on `port`.
async fn serve(root: &Path, port: u16) -> Serve {
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = command(BIN, &url);
    cmd.args(["serve", "--launcher", "local"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(root.join("state"))
        .arg("--artifacts-dir")
        .arg(root.join("artifacts"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    let health = format!("{url}/health");
    eventually("the server answers", Duration::from_secs(20), || async {
        reqwest::get(&health).await.ok().map(|_| ())
    })
    .await;
    Serve { child, url }
}

/// POSTs `body`; true when the server acknowledged it (2xx).
async fn acked(http: &reqwest::Client, url: String, body: Value) -> bool {
    let sent = http.post(url).json(&body).send().await;
    sent.is_ok_and(|r| r.status().is_success())
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test]
async fn kill_9_during_starts_registrations_and_collections_loses_nothing_acknowledged() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut sessions = BTreeSet::new();
    let mut clients: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Collection answers by status (0: killed before it answered).
    let mut collections: BTreeMap<String, usize> = BTreeMap::new();

    for round in 0..ROUNDS {
        let server = serve(root.path(), port).await;
        let api = format!("{}/api/v1", server.url);
        let id = format!("crash-{round}");
        // The session this round creates and starts; registrations and a collection go to
        // the previous round's (running, or starting again after the restart).
        let mut burst = tokio::task::JoinSet::new();
        {
            let (http, api, id) = (http.clone(), api.clone(), id.clone());
            burst.spawn(async move {
                let created = acked(
                    &http,
                    format!("{api}/sessions"),
                    json!({"run_id": id, "scrape_interval": "1s"}),
                )
                .await;
                if created {
                    acked(&http, format!("{api}/sessions/{id}/start"), json!({})).await;
                }
                (created.then_some(id), None::<String>)
            });
        }
        if let Some(prev) = round.checked_sub(1).map(|r| format!("crash-{r}")) {
            for c in 0..20 {
                let (http, api, prev) = (http.clone(), api.clone(), prev.clone());
                burst.spawn(async move {
                    let client = format!("c{round}-{c}");
                    let reg = json!({"client_id": client, "node": "n1", "exporters": {"node": format!("n1:{}", 9100 + c)}});
                    let ok = acked(&http, format!("{api}/sessions/{prev}/clients"), reg).await;
                    (None, ok.then(|| format!("{prev}/{client}")))
                });
            }
        }
        // A collection from a session two rounds old, running by now.
        if let Some(old) = round.checked_sub(2).map(|r| format!("crash-{r}")) {
            let (http, api) = (http.clone(), api.clone());
            burst.spawn(async move {
                let body = json!({"last": "5s", "run_id": format!("r{round}"), "formats": ["csv", "json", "parquet"]});
                let sent = http.post(format!("{api}/sessions/{old}/collect")).json(&body).send().await;
                let status = sent.map_or(0, |r| r.status().as_u16());
                (None, Some(format!("collection {status}")))
            });
        }
        // Kill part-way: early, mid-burst, or after the start has reached the launcher.
        tokio::time::sleep(Duration::from_millis(
            [30, 150, 400, 900, 1500, 2500][round as usize % 6],
        ))
        .await;
        let mut child = server.child;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        while let Some(done) = burst.join_next().await {
            let (session, client) = done.unwrap();
            sessions.extend(session);
            if let Some(status) = client
                .as_deref()
                .and_then(|c| c.strip_prefix("collection "))
            {
                *collections.entry(status.to_owned()).or_insert(0) += 1;
                continue;
            }
            if let Some((s, c)) = client.as_deref().and_then(|sc| sc.split_once('/')) {
                clients
                    .entry(s.to_owned())
                    .or_default()
                    .insert(c.to_owned());
            }
        }
    }

    // The final restart: every acknowledged session and registration is there.
    let server = serve(root.path(), port).await;
    let client = benchmon::client::Client::new(&server.url, None).unwrap();
    let listed: BTreeSet<String> = client
        .list_sessions(None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.session_id.to_string())
        .collect();
    assert!(
        sessions.is_subset(&listed),
        "lost sessions: {:?}",
        sessions.difference(&listed)
    );
    let mut registrations = 0;
    for (session, acked_clients) in &clients {
        let targets = client.targets(&session.parse().unwrap()).await.unwrap();
        let present: BTreeSet<String> = targets
            .clients
            .iter()
            .map(|c| c.client_id.to_string())
            .collect();
        assert!(
            acked_clients.is_subset(&present),
            "{session}: lost {:?}",
            acked_clients.difference(&present)
        );
        registrations += acked_clients.len();
    }
    assert!(
        sessions.len() >= ROUNDS as usize / 2,
        "too few acknowledged sessions: {sessions:?}"
    );
    assert!(
        registrations > 0,
        "no registration was acknowledged before a kill"
    );

    // No temp file of an interrupted write is left in the state directory.
    let state = root.path().join("state");
    let temps: Vec<PathBuf> = files(&state)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(benchmon::fsutil::is_atomic_temp)
        })
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");

    // Every bundle in place is complete; a killed one is only ever a hidden `.tmp-*` dir.
    for manifest in files(&root.path().join("artifacts"))
        .iter()
        .filter(|p| p.ends_with("MANIFEST.json"))
    {
        let bundle = manifest.parent().unwrap();
        let hidden = bundle
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with('.');
        if hidden {
            continue;
        }
        let m: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
        assert_eq!(m["complete"], true, "{}", manifest.display());
    }

    // Partial bundles the kills left (hidden temp dirs, removed by a later collection into the
    // same directory once 24 h old): counted for the report.
    let partial = files(&root.path().join("artifacts"))
        .iter()
        .filter_map(|p| p.parent())
        .filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
        })
        .collect::<BTreeSet<_>>()
        .len();

    // No orphan: deleting every session through the restarted server ends every Prometheus.
    let needle = state.to_string_lossy().into_owned();
    let prometheus = processes_mentioning(&needle)
        .iter()
        .filter(|c| c.starts_with("prometheus "))
        .count();
    for id in &listed {
        client.delete_session(id).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The server's own command line names the state directory too.
        let left: Vec<String> = processes_mentioning(&needle)
            .into_iter()
            .filter(|c| !c.contains(" serve "))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "orphans: {left:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut child = server.child;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    eprintln!(
        "{ROUNDS} kill -9 rounds: {} sessions, {registrations} registrations, collections \
         {collections:?} (by status), {partial} partial bundles; {prometheus} Prometheus running before the deletes; {:?}",
        sessions.len(),
        started.elapsed()
    );
}
