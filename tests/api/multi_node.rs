//! Sessions on the multi-node dev cluster (`slurm/dev-cluster.sh up --nodes 3`, as `.ci/run`
//! brings it up): namespaced nodes with their own hostname, address on a private subnet and
//! node-local TMPDIR, in partition `multi` (partition `cpu` stays the host node alone).

use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::{SessionState, StartSession};
use reqwest::Method;
use serde_json::json;
use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

/// The nodes of partition `multi` other than this host: the namespaced ones. Fails, naming the
/// command that makes them, on a cluster without them: this test must not pass by skipping.
pub(crate) fn namespaced_nodes() -> Vec<String> {
    let host = sh("hostname", &["-s"]).trim().to_owned();
    let listed = sh("sinfo", &["-h", "-N", "-p", "multi", "-o", "%N"]);
    let mut nodes: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != host)
        .map(str::to_owned)
        .collect();
    nodes.dedup();
    assert!(
        !nodes.is_empty(),
        "no namespaced node in partition multi (sinfo -h -N: {:?}): this test needs the \
         multi-node dev cluster, `slurm/dev-cluster.sh up --nodes 3` (.ci/run starts it)",
        sh("sinfo", &["-h", "-N", "-o", "%N %P %T"])
    );
    nodes
}

/// A node's `NodeAddr` from `scontrol show node`.
pub(crate) fn node_addr(node: &str) -> IpAddr {
    let out = sh("scontrol", &["show", "node", "-o", node]);
    let addr = out
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("NodeAddr="))
        .unwrap_or_else(|| panic!("no NodeAddr for {node} in {out}"));
    addr.parse()
        .unwrap_or_else(|e| panic!("NodeAddr {addr} of {node}: {e}"))
}

/// This host's own address on the network that reaches `peer` (the source address the kernel
/// picks for it; a UDP connect sends nothing).
pub(crate) fn local_addr_towards(peer: IpAddr) -> IpAddr {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect((peer, 9)).unwrap();
    socket.local_addr().unwrap().ip()
}

#[tokio::test]
async fn a_session_pinned_to_a_namespaced_node_scrapes_the_host_over_the_private_subnet_and_collects_a_window(
) {
    let _nodes_in_use = multi_node_lock(false).await;
    let nodes = namespaced_nodes();
    let node = nodes[0].as_str();
    let node_ip = node_addr(node);
    let gateway = local_addr_towards(node_ip);
    assert_ne!(gateway, node_ip);
    assert!(
        !gateway.is_loopback(),
        "{node} ({node_ip}) is reached over loopback"
    );

    // The exporter listens on the host's address on the private subnet only, and is registered
    // by the host's name: on the node that name is the gateway (on the host it is 127.0.0.1,
    // where nothing listens on this port), so every sample crossed the node's veth.
    let exporter = NodeExporter::start_on(gateway, &[]).await;
    let host = sh("hostname", &["-s"]).trim().to_owned();
    let target = format!("{host}:{}", exporter.port);

    // The node's own TMPDIR for the TSDB (the site default), not the tests' shared directory.
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site.storage.local_dir = None;
    let app = spawn_app_with(settings, dirs).await;
    let id = unique_id("multinode");
    app.create_session(&id).await;
    let client = json!({"client_id": "client-001", "node": host, "exporters": {"node": target}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    let start: StartSession = from_json(json!({
        "partition": "multi", "nodelist": node, "time_limit": "00:20:00"
    }));
    app.start(&id, &start).await.success(202);
    let s = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(90))
        .await
        .unwrap();
    let job = s.slurm_job_id.clone().unwrap();
    assert_eq!(s.node.as_deref(), Some(node), "{s:?}");
    assert_eq!(sh("squeue", &["-h", "-j", &job, "-o", "%N"]).trim(), node);
    // benchmon reaches the job's Prometheus by the node's name, on the node's address.
    let prom = s.prometheus_url.clone().unwrap();
    assert!(prom.contains(node), "{prom}");

    let up = query_until_present(
        &prom,
        &format!(r#"up{{session="{id}",job="node"}} == 1"#),
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(up[0]["metric"]["instance"], target.as_str(), "{up:?}");
    query_until_present(
        &prom,
        &format!(r#"node_load1{{session="{id}"}}"#),
        Duration::from_secs(20),
    )
    .await;

    app.add_window(&id, &from_json(json!({"name": "steady"})))
        .await
        .success(201);
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.close_window(&id, "steady").await.success(200);
    let body = json!({"window": "steady", "run_id": "multi-node"});
    let path = format!("/api/v1/sessions/{id}/collect");
    let (status, _, out) = app.send(Method::POST, &path, Some(body)).await;
    assert_eq!(status, 201, "{out}");
    let cpu = out["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"].as_str().unwrap().contains("cpu"))
        .unwrap();
    assert_eq!(cpu["status"], "ok", "{cpu}");
    let targets = out["coverage"]["targets"].as_array().unwrap();
    let scraped = targets
        .iter()
        .find(|t| t["labels"]["exporter"] == "node")
        .unwrap();
    assert!(scraped["up"].as_u64().unwrap() >= 3, "{scraped}");
    let bundle = std::path::PathBuf::from(out["bundle_dir"].as_str().unwrap());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["context"]["session"]["node"], node);

    // The TSDB lived on the node's own disk (its TMPDIR, a directory of that node alone) and
    // came back to the session directory when the job ended.
    let on_node = std::path::Path::new("/var/tmp/benchmon-dev-nodes")
        .join(node)
        .join(format!("benchmon-{id}-{job}"));
    assert!(
        on_node.join("wal").is_dir(),
        "the TSDB is not in {node}'s own TMPDIR ({})",
        on_node.display()
    );
    let shared = app.dirs.state.join("sessions").join(&id).join("tsdb");
    assert!(
        !shared.join("wal").exists(),
        "the TSDB was written to the session directory"
    );
    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    assert!(
        shared.join("wal").is_dir(),
        "the TSDB did not come back from {node}"
    );
    assert!(!on_node.exists(), "{node} kept its copy");
    app.shutdown().await;
}

/// Runs `slurm/dev-cluster.sh` with `args`; returns (success, stdout + stderr).
pub(crate) fn dev_cluster(args: &[&str]) -> (bool, String) {
    let out =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/slurm/dev-cluster.sh"))
            .args(args)
            .output()
            .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_dev_cluster_lists_every_namespaced_node_and_refuses_nodes_it_did_not_make() {
    // Every link up: not while another test has a node cut off.
    let _nodes_in_use = multi_node_lock(false).await;
    let nodes = namespaced_nodes();
    let (ok, status) = dev_cluster(&["status"]);
    assert!(ok, "{status}");
    for node in &nodes {
        let line = status
            .lines()
            .find(|l| l.starts_with("node:") && l.split_whitespace().nth(1) == Some(node))
            .unwrap_or_else(|| panic!("{node} missing from status:\n{status}"));
        assert!(
            line.contains("slurmd running") && line.contains("link up"),
            "{line}"
        );
        assert!(line.contains(&node_addr(node).to_string()), "{line}");
    }

    // Checked before anything is touched: the running cluster stays as it is.
    for bad in ["0", "17", "three"] {
        let (ok, out) = dev_cluster(&["up", "--nodes", bad]);
        assert!(!ok, "up --nodes {bad}: {out}");
        assert!(
            out.contains("--nodes must be a number from 1 to 16"),
            "{out}"
        );
    }
    for verb in ["node-down", "node-kill", "node-up"] {
        let (ok, out) = dev_cluster(&[verb, "no-such-node"]);
        assert!(!ok, "{verb}: {out}");
        assert!(out.contains("no namespaced node 'no-such-node'"), "{out}");
        assert!(
            out.contains(&nodes[0]),
            "{verb} does not name the nodes: {out}"
        );
    }
    assert_eq!(namespaced_nodes(), nodes);
}
