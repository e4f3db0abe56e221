//! Exit codes: 1 with the server's problem detail, 2 for usage errors (before any request).

use crate::binary::*;
use crate::support::spawn_app;
use benchmon::launcher::LauncherKind;

#[tokio::test]
async fn an_unknown_session_exits_1_with_the_problem_detail() {
    let app = spawn_app(LauncherKind::Local).await;
    let url = app.url("");
    let run = cli(&url, &["session", "status", "nosuch"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("Not found (404)"), "{run}");
    assert!(run.stderr.contains("nosuch"), "{run}");
    assert!(run.stderr.contains("field: session_id"), "{run}");
    assert!(run.stdout.is_empty(), "{run}");

    // With --json the problem itself is printed for scripts.
    let run = cli(&url, &["session", "status", "nosuch", "--json"]).await;
    assert_eq!(run.code, 1, "{run}");
    let p = run.json();
    assert_eq!(
        (p["status"].as_u64(), p["field"].as_str()),
        (Some(404), Some("session_id"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_server_side_validation_error_exits_1_with_the_field_at_fault() {
    let app = spawn_app(LauncherKind::Local).await;
    let url = app.url("");
    cli(&url, &["session", "create", "v1"]).await.success();
    // --disable names an exporter the client does not have: only the server can tell (422).
    let run = cli(
        &url,
        &[
            "register",
            "client",
            "-s",
            "v1",
            "--node",
            "n1",
            "--exporter",
            "node=9100",
            "--disable",
            "gpu",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("(422)"), "{run}");
    assert!(
        run.stderr.contains("field: preferences.enable_gpu"),
        "{run}"
    );
    // A run id that exists already: 409.
    let run = cli(&url, &["session", "create", "v1"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("(409)") && run.stderr.contains("field: run_id"),
        "{run}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn usage_errors_exit_2_before_any_request_is_sent() {
    // Nothing listens here: a request would end in exit code 1, not 2.
    let url = format!("http://127.0.0.1:{}", crate::support::free_port());
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage"),
        (&["session"], "Usage"),
        (
            &["session", "create", "bad id!"],
            "may contain only letters",
        ),
        (
            &["session", "create", "ok", "--prometheus-port", "70000"],
            "port must be 1 to 65535",
        ),
        (
            &["session", "start", "s", "--time-limit", "forever"],
            "--time-limit",
        ),
        (&["session", "list", "--state", "asleep"], "--state"),
        (
            &["register", "client", "-s", "s", "--node", "n"],
            "--exporter",
        ),
        (
            &["register", "client", "-s", "s", "--exporter", "nonsense"],
            "not key=value",
        ),
        (
            &[
                "register",
                "client",
                "-s",
                "s",
                "--node",
                "n",
                "--exporter",
                "node=n:x",
            ],
            "not host:port",
        ),
        (
            &[
                "register",
                "service",
                "-s",
                "s",
                "--name",
                "v",
                "--endpoint",
                "ftp://x/",
            ],
            "scheme",
        ),
        (&["collect", "-s", "s"], "--last"),
        (
            &["collect", "-s", "s", "--last", "10m", "--window", "w"],
            "cannot be used with",
        ),
        (&["collect", "-s", "s", "--start", "yesterday"], "RFC 3339"),
        (
            &["window", "add", "-s", "s", "w", "--start", "1762250400"],
            "--end",
        ),
        (&["targets"], "--session"),
        (&["session", "list", "--retries", "many"], "--retries"),
    ];
    for (args, expected) in cases {
        let run = cli(&url, args).await;
        assert_eq!(run.code, 2, "benchmon {args:?}:\n{run}");
        assert!(
            run.stderr.contains(expected),
            "benchmon {args:?} should mention {expected:?}:\n{run}"
        );
    }
}

#[tokio::test]
async fn the_default_client_id_and_node_come_from_the_slurm_job() {
    let app = spawn_app(LauncherKind::Local).await;
    let url = app.url("");
    cli(&url, &["session", "create", "d1"]).await.success();
    let in_job = |args: &[&str]| {
        let mut cmd = command(BIN, &url);
        cmd.args(args)
            .env("SLURM_JOB_ID", "4711")
            .env("SLURMD_NODENAME", "node-a");
        output(cmd)
    };
    let run = in_job(&[
        "register",
        "client",
        "-s",
        "d1",
        "--exporter",
        "node=9100",
        "--json",
    ])
    .await
    .success();
    let c = run.json();
    assert_eq!(c["client_id"], "job-4711-node-a");
    assert_eq!(c["node"], "node-a");
    assert_eq!(c["exporters"]["node"], "node-a:9100");

    let run = cli(&url, &["targets", "-s", "d1"]).await.success();
    assert!(
        run.stdout.contains("job-4711-node-a") && run.stdout.contains("node-a:9100"),
        "{run}"
    );

    // The same environment finds the same client again.
    in_job(&["deregister", "client", "-s", "d1"])
        .await
        .success();
    let list = cli(&url, &["targets", "-s", "d1", "--json"])
        .await
        .success()
        .json();
    assert_eq!(list["clients"].as_array().map(Vec::len), Some(0), "{list}");
    app.shutdown().await;
}

#[tokio::test]
async fn completions_and_the_man_page_cover_every_subcommand() {
    let run = cli("http://127.0.0.1:9", &["completions", "bash"]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("complete -F _benchmon"), "{run}");
    for sub in [
        "session", "collect", "compare", "history", "export", "window", "targets",
    ] {
        assert!(
            run.stdout.contains(sub),
            "{sub} missing from the bash completions"
        );
    }
    for shell in ["zsh", "fish"] {
        let run = cli("http://127.0.0.1:9", &["completions", shell]).await;
        assert!(
            run.code == 0 && run.stdout.contains("collect"),
            "{shell}: {run}"
        );
    }
    let man = cli("http://127.0.0.1:9", &["man"]).await;
    assert_eq!(man.code, 0, "{man}");
    assert!(man.stdout.contains(".TH benchmon 1"), "{man}");
    assert!(man.stdout.contains("collect"), "{man}");
    let bad = cli("http://127.0.0.1:9", &["completions", "tcsh"]).await;
    assert_eq!(bad.code, 2, "{bad}");
}
