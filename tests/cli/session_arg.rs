//! The session argument, the same on every command: a positional `SESSION`, `--session` or
//! `BENCHMON_SESSION`; a positional and a flag that differ are a usage error.

use crate::binary::*;
use crate::support::spawn_app;
use benchmon::launcher::LauncherKind;

/// Every command that takes a session: its words before the session, and what follows it
/// (the command's own positional first, where it has one).
fn session_commands(rules: &str, metrics: &str) -> Vec<(Vec<&'static str>, Vec<String>)> {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        (vec!["session", "start"], vec![]),
        (vec!["session", "status"], vec![]),
        (vec!["session", "stop"], vec![]),
        (vec!["session", "delete"], vec![]),
        (vec!["session", "rules"], vec![rules.to_owned()]),
        (
            vec!["register", "client"],
            owned(&[
                "--exporter",
                "node=vm:9100",
                "--client-id",
                "c1",
                "--node",
                "vm",
            ]),
        ),
        (
            vec!["register", "service"],
            owned(&["--name", "svc", "--endpoint", "http://vm:1/metrics"]),
        ),
        (
            vec!["deregister", "client"],
            owned(&["--client-id", "c1", "--node", "vm"]),
        ),
        (vec!["deregister", "service"], owned(&["--name", "svc"])),
        (
            vec!["window", "open"],
            owned(&["steady", "--start", "2025-11-04T10:00:00Z"]),
        ),
        (vec!["window", "close"], owned(&["steady"])),
        (
            vec!["window", "add"],
            owned(&["w1", "--start", "1762250400", "--end", "1762250460"]),
        ),
        (vec!["window", "list"], vec![]),
        (vec!["window", "delete"], owned(&["steady"])),
        (vec!["collect"], owned(&["--last", "1m"])),
        (vec!["push"], vec![metrics.to_owned()]),
        (vec!["event"], owned(&["warmup", "--kind", "phase"])),
        (vec!["event"], owned(&["--list"])),
        (vec!["targets"], vec![]),
        (vec!["collections"], vec![]),
        (vec!["config"], vec![]),
    ]
}

#[tokio::test]
async fn every_session_command_takes_the_session_as_positional_flag_or_environment() {
    let app = spawn_app(LauncherKind::Local).await;
    let url = app.url("");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, "groups: []\n").unwrap();
    let metrics = dir.path().join("m.prom");
    std::fs::write(&metrics, "harness_ops_total 1\n").unwrap();
    let commands = session_commands(rules.to_str().unwrap(), metrics.to_str().unwrap());
    assert!(commands.len() > 20);
    for (words, rest) in &commands {
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        // No such session: the server's 404 names the session the request went to.
        for form in ["positional", "flag", "env"] {
            let ghost = format!("ghost-{form}");
            let mut args = words.clone();
            let mut cmd = command(BIN, &url);
            match form {
                "positional" => args.push(&ghost),
                "flag" => args.extend(["--session", &ghost]),
                _ => {
                    cmd.env("BENCHMON_SESSION", &ghost);
                }
            }
            args.extend(&rest);
            cmd.args(&args).env("BENCHMON_RETRIES", "0");
            let run = output(cmd).await;
            assert_eq!(run.code, 1, "{args:?} ({form}):\n{run}");
            assert!(
                run.stderr.contains(&format!("session {ghost} not found")),
                "{args:?} ({form}):\n{run}"
            );
        }
        // Both, differently: a usage error naming both, and no request.
        let mut args = words.clone();
        args.extend(["ghost-a", "--session", "ghost-b"]);
        args.extend(&rest);
        let run = cli(&url, &args).await;
        assert_eq!(run.code, 2, "{args:?}:\n{run}");
        assert!(
            run.stderr.contains("SESSION ghost-a") && run.stderr.contains("--session ghost-b"),
            "{args:?}:\n{run}"
        );
        // None at all: a usage error saying how to give one.
        let mut args = words.clone();
        args.extend(&rest);
        let run = cli(&url, &args).await;
        assert_eq!(run.code, 2, "{args:?}:\n{run}");
        assert!(run.stderr.contains("BENCHMON_SESSION"), "{args:?}:\n{run}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_three_forms_reach_the_same_session_and_options_may_stand_between_the_positionals() {
    let app = spawn_app(LauncherKind::Local).await;
    let url = app.url("");
    // create takes the new session's id the same three ways.
    cli(&url, &["session", "create", "arg-pos"]).await.success();
    cli(&url, &["session", "create", "--session", "arg-flag"])
        .await
        .success();
    let mut cmd = command(BIN, &url);
    cmd.args(["session", "create"])
        .env("BENCHMON_SESSION", "arg-env");
    output(cmd).await.success();
    for id in ["arg-pos", "arg-flag", "arg-env"] {
        app.session(id).await.success(200);
    }

    // Options between SESSION and NAME; then the flag and the environment forms.
    let args = [
        "window",
        "open",
        "arg-pos",
        "--start",
        "1762250400",
        "steady",
    ];
    cli(&url, &args).await.success();
    cli(&url, &["window", "close", "--session", "arg-pos", "steady"])
        .await
        .success();
    let mut cmd = command(BIN, &url);
    cmd.args([
        "window",
        "add",
        "--start",
        "1762250400",
        "--end",
        "1762250460",
        "w2",
    ])
    .env("BENCHMON_SESSION", "arg-pos");
    output(cmd).await.success();
    let windows = app.windows("arg-pos").await.success(200);
    let names: Vec<_> = windows.iter().map(|w| w.name.to_string()).collect();
    assert_eq!(names, ["steady", "w2"]);
    assert!(windows.iter().all(|w| w.end.is_some()), "{windows:?}");

    // The positional wins over the environment.
    let mut cmd = command(BIN, &url);
    cmd.args(["event", "arg-flag", "--kind", "note", "hello", "--json"])
        .env("BENCHMON_SESSION", "arg-env");
    output(cmd).await.success();
    let listed = cli(&url, &["event", "arg-flag", "--list", "--json"])
        .await
        .success()
        .json();
    assert_eq!(listed[0]["name"], "hello", "{listed}");
    let other = cli(&url, &["event", "--list", "-s", "arg-env", "--json"])
        .await
        .success()
        .json();
    assert_eq!(other, serde_json::json!([]));
    app.shutdown().await;
}
