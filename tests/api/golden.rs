//! Golden files for what benchmon renders: a change to prometheus.yml or the job script shows
//! up as a diff in review. Regenerate with `BENCHMON_UPDATE_GOLDEN=1 cargo test --test api golden`.

use benchmon::launcher::JobResources;
use benchmon::launcher::{render_job_script, ScriptInputs, ServerFlavor, VmalertInputs};
use benchmon::paths::SessionPaths;
use benchmon::prometheus::{render_prometheus_config, RenderContext};
use benchmon::session::Session;
use std::path::Path;

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("BENCHMON_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs from the rendering; run BENCHMON_UPDATE_GOLDEN=1 cargo test --test api golden\n--- rendered ---\n{actual}",
        path.display()
    );
}

fn session() -> Session {
    serde_json::from_value(serde_json::json!({
        "session_id": "benchmark-01", "run_id": "benchmark-01", "state": "created",
        "prometheus_port": null, "prom_host": null, "scrape_interval": "15s", "retention": "30d",
        "labels": {"model": "gpt2 \"large\"\n", "team": "hpc"}, "scrape_benchmon": true,
        "launcher": "slurm", "resources": null, "job_id": null, "slurm_job_id": null,
        "scheduler_state": null, "scheduler_reason": null, "node": null, "port": null,
        "prometheus_url": null, "ready": false, "created_at": "2025-11-04T10:00:00Z",
        "started_at": null, "running_at": null, "stopped_at": null, "failure_reason": null,
        "output_tail": null
    }))
    .unwrap()
}

#[test]
fn the_prometheus_config_matches_its_golden_file() {
    let s = session();
    let paths = SessionPaths::new(Path::new("/shared/benchmon state"), &s.session_id);
    let ctx = RenderContext {
        sd_refresh_interval: benchmon::domain::PromDuration::parse("5s").unwrap(),
        benchmon_url: "http://head01:8002".into(),
        rule_packs: Vec::new(),
    };
    golden(
        "prometheus.yml",
        &render_prometheus_config(&s.scrape_spec(), &paths, &ctx).unwrap(),
    );
}

/// The job script of the golden session with `resources`.
fn job_script(resources: &JobResources) -> String {
    let s = session();
    let paths = SessionPaths::new(Path::new("/shared/benchmon state"), &s.session_id);
    render_job_script(
        &paths.main_job(),
        &ScriptInputs {
            run_id: "benchmark-01",
            flavor: ServerFlavor::Prometheus,
            resources,
            port: None,
            prometheus_command: vec!["/opt/prometheus/bin/prometheus".to_owned()],
            retention: s.retention.as_ref(),
            extra_args: &[
                "--query.max-samples=1000000".to_owned(),
                "--log.level=it's".to_owned(),
            ],
            enable_lifecycle: true,
            node_local: true,
            local_dir: None,
            vmalert: None,
        },
    )
    .unwrap()
}

#[test]
fn the_job_script_matches_its_golden_file() {
    let resources: JobResources = serde_json::from_value(serde_json::json!({
        "partition": "cpu", "time_limit": "02:00:00", "account": "proj-1", "qos": "normal",
        "constraint": "gpu&a100", "nodelist": "node[01-02]"
    }))
    .unwrap();
    golden("prometheus-job.sh", &job_script(&resources));
}

/// The `#SBATCH` lines of a job sized for `nodes` node-exporter targets and `gpus` DCGM ones
/// scraped every `interval_s`.
fn sized_sbatch_lines(nodes: u64, gpus: u64, interval_s: f64) -> Vec<String> {
    use benchmon::launcher::{apply_sizing, size_job, ExpectedTargets};
    let targets = ExpectedTargets([("node".into(), nodes), ("dcgm".into(), gpus)].into());
    let sizing = size_job(&targets, interval_s);
    let resources = JobResources(apply_sizing(Default::default(), &sizing));
    job_script(&resources)
        .lines()
        .filter(|l| l.starts_with("#SBATCH --cpus") || l.starts_with("#SBATCH --mem"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn jobs_are_sized_from_their_targets_for_10_and_1000_nodes() {
    // 10 nodes at 15 s: 10,000 series, 667 samples/s → 1 CPU, 512 + 69 MiB → 768 MiB.
    assert_eq!(
        sized_sbatch_lines(10, 0, 15.0),
        ["#SBATCH --cpus-per-task=1", "#SBATCH --mem=768M"]
    );
    // 1,000 nodes with 8 GPUs of DCGM each at 1 s: 1.33 M series and samples/s → 6 CPUs,
    // 512 + 9,133 MiB → 9,728 MiB.
    assert_eq!(
        sized_sbatch_lines(1000, 1000, 1.0),
        ["#SBATCH --cpus-per-task=6", "#SBATCH --mem=9728M"]
    );
}

/// Writes `yml` to `file` and checks it with promtool as an agent's config.
fn agent_config_passes_promtool(file: &Path, yml: &str) {
    std::fs::write(file, yml).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "config", "--agent", "--syntax-only"])
        .arg(file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{yml}\n{check:?}");
}

/// A scraper's config (shard 1 of 3, writing to a store) and the store's and scraper's job
/// scripts: golden files, and promtool (agent mode) and bash accept them.
#[test]
fn the_scraper_config_and_the_sharded_job_scripts_match_their_golden_files() {
    use benchmon::prometheus::{render_scraper_config, Shard};
    let s = session();
    let paths = SessionPaths::new(Path::new("/shared/benchmon state"), &s.session_id);
    let ctx = RenderContext {
        sd_refresh_interval: benchmon::domain::PromDuration::parse("5s").unwrap(),
        benchmon_url: "http://head01:8002".into(),
        rule_packs: vec!["/etc/benchmon/rules/node.yml".into()],
    };
    let shard = Shard {
        index: 1,
        count: 3,
        remote_write_url: "http://node07:21234/api/v1/write".into(),
        auth: Default::default(),
    };
    let yml = render_scraper_config(&s.scrape_spec(), &paths, &ctx, &shard).unwrap();
    golden("scraper.yml", &yml);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scraper.yml");
    agent_config_passes_promtool(&file, &yml);

    // A remote store's credentials: every value a quoted YAML scalar, whatever it holds; a
    // YAML parser reads them back unchanged, promtool accepts the config (basic auth and a
    // bearer token file are each alone, as Prometheus wants).
    let header = "team: a \"#1\" {x}";
    let password = "p@ss: 'w\\rd' # not a comment\u{e9}";
    for (name, basic, token) in [
        ("scraper-basic-auth.yml", true, None),
        ("scraper-bearer.yml", false, Some("/etc/bench mon/token")),
    ] {
        let shard = Shard {
            auth: benchmon::prometheus::StoreAuth {
                headers: vec![("X-Scope-OrgID".into(), header.into())],
                basic_auth: basic.then(|| ("bench user".into(), password.into())),
                bearer_token_file: token.map(str::to_owned),
            },
            remote_write_url: shard.remote_write_url.clone(),
            index: shard.index,
            count: shard.count,
        };
        let yml = render_scraper_config(&s.scrape_spec(), &paths, &ctx, &shard).unwrap();
        golden(name, &yml);
        // As the config view shows it: the header value and the password redacted, the rest
        // as it was (promtool still accepts it).
        let shown = benchmon::prometheus::redact_store_secrets(&yml);
        let quoted = |v: &str| serde_json::to_string(v).unwrap();
        assert!(yml.contains(&quoted(header)), "{yml}");
        assert!(
            !shown.contains(&quoted(header)) && !shown.contains("p@ss"),
            "{shown}"
        );
        for (yml, secret_header, secret_password) in [
            (&yml, header, password),
            (&shown, "<redacted>", "<redacted>"),
        ] {
            agent_config_passes_promtool(&file, yml);
            let read = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import json,sys,yaml; \
                    rw = yaml.safe_load(open(sys.argv[1]))['remote_write'][0]; \
                    print(json.dumps([rw['headers'], rw.get('basic_auth'), rw.get('authorization'), rw['url']]))",
                ])
                .arg(&file)
                .output()
                .unwrap();
            assert!(read.status.success(), "{read:?}");
            let got: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
            assert_eq!(got[0]["X-Scope-OrgID"], secret_header);
            assert_eq!(got[3], shard.remote_write_url);
            match token {
                None => {
                    assert_eq!(got[1]["password"], secret_password);
                    assert_eq!(got[1]["username"], "bench user");
                }
                Some(t) => assert_eq!(got[2]["credentials_file"], t),
            }
        }
        assert_eq!(shown.lines().count(), yml.lines().count());
    }

    let resources = JobResources::default();
    let vm = ServerFlavor::VictoriaMetrics;
    for (name, flavor, job, command) in [
        ("store-job.sh", vm, paths.main_job(), "victoria-metrics"),
        (
            "scraper-job.sh",
            ServerFlavor::Agent { index: 1 },
            paths.scraper_job(1),
            "prometheus",
        ),
    ] {
        let script = render_job_script(
            &job,
            &ScriptInputs {
                run_id: "benchmark-01",
                flavor,
                resources: &resources,
                port: None,
                prometheus_command: vec![command.to_owned()],
                retention: s.retention.as_ref(),
                extra_args: &[],
                enable_lifecycle: true,
                node_local: flavor == ServerFlavor::VictoriaMetrics,
                local_dir: None,
                // The store job runs vmalert on the site's packs and the session's rules.
                vmalert: (flavor == ServerFlavor::VictoriaMetrics).then(|| VmalertInputs {
                    command: vec!["vmalert".to_owned()],
                    rule_files: vec![
                        "/etc/benchmon/rules/node.yml".to_owned(),
                        paths.rules().to_string_lossy().into_owned(),
                    ],
                    evaluation_interval: s.scrape_interval.clone(),
                    external_labels: vec![
                        "session=benchmark-01".to_owned(),
                        "run_id=benchmark-01".to_owned(),
                    ],
                }),
            },
        )
        .unwrap();
        golden(name, &script);
        let bash = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(bash.status.success(), "{name}: {bash:?}");
    }
}
