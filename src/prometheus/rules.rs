//! Alert and recording rules of a session: accepted as Prometheus rule-group YAML text or as
//! the same document in JSON, and checked by `promtool check rules` before Prometheus ever
//! sees them.
//!
//! The text is handed to promtool (and later Prometheus) as a file named on the command line,
//! never through a shell; promtool parses it strictly (unknown keys, bad PromQL, bad
//! durations and templates are errors), so a file that passed is one Prometheus loads.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// The most rule text a session may carry.
pub const MAX_RULES_BYTES: usize = 256 * 1024;
/// How long promtool may take.
const PROMTOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Rule groups as YAML text (`groups: [...]`) or as the same document in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RulesSpec {
    /// Prometheus rule file YAML.
    Yaml(String),
    /// The rule file as JSON: `{"groups": [{"name": …, "rules": [{"alert"|"record": …, "expr": …}]}]}`.
    #[schema(value_type = Object)]
    Groups(serde_json::Map<String, serde_json::Value>),
}

impl RulesSpec {
    /// The rule file's text: YAML as given, or the JSON document (JSON is YAML).
    pub fn to_text(&self) -> String {
        match self {
            RulesSpec::Yaml(s) => s.clone(),
            RulesSpec::Groups(m) => {
                let mut s = serde_json::to_string_pretty(m).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }
}

/// Why a rule file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// promtool found errors; its own words.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot run {promtool}: {message}")]
    Promtool { promtool: String, message: String },
}

/// Runs `promtool check rules` on `text`.
pub async fn check_rules(promtool: &str, text: &str) -> Result<(), CheckError> {
    check_size(text)?;
    let fail = |message: String| CheckError::Promtool {
        promtool: promtool.to_owned(),
        message,
    };
    let (_dir, file) = temp_rules(text).await.map_err(|e| fail(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(promtool);
    cmd.arg("check").arg("rules").arg(&file);
    let out = run(cmd).await.map_err(fail)?;
    if out.status.success() {
        return Ok(());
    }
    // promtool names the temp file; the user knows it as "rules".
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = said.replace(&*file.to_string_lossy(), "rules");
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Checking ") && *l != "FAILED:")
        .collect();
    Err(CheckError::Invalid(lines.join("; ")))
}

/// Runs `vmalert -dryRun` on `text`: the rules of a `victoriametrics` session are evaluated by
/// vmalert, which refuses some files promtool takes (`keep_firing_for`, say). `vmalert` is
/// the site's argv for it.
pub async fn check_rules_vmalert(vmalert: &[String], text: &str) -> Result<(), CheckError> {
    check_size(text)?;
    let fail = |message: String| CheckError::Promtool {
        promtool: vmalert.join(" "),
        message,
    };
    let Some((program, args)) = vmalert.split_first() else {
        return Err(fail("no vmalert command".into()));
    };
    let (_dir, file) = temp_rules(text).await.map_err(|e| fail(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .arg("-dryRun")
        .arg("-loggerLevel=ERROR")
        .arg(format!("-rule={}", file.display()));
    let out = run(cmd).await.map_err(fail)?;
    if out.status.success() {
        return Ok(());
    }
    // Its log line: `<time>\tfatal\t<source>\tfailed to parse [\"<file>\"]: <why>`.
    let said = String::from_utf8_lossy(&out.stderr).replace(&*file.to_string_lossy(), "rules");
    let why: Vec<&str> = said
        .lines()
        .filter_map(|l| l.split('\t').next_back())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if why.is_empty() {
        return Err(fail(format!("exited with {}", out.status)));
    }
    Err(CheckError::Invalid(why.join("; ")))
}

/// The text in a rule file of its own (removed with the directory).
async fn temp_rules(text: &str) -> std::io::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("rules.yml");
    tokio::fs::write(&file, text).await?;
    Ok((dir, file))
}

/// Runs a checker, bounded in time, never through a shell.
async fn run(mut cmd: tokio::process::Command) -> Result<std::process::Output, String> {
    let out = cmd.kill_on_drop(true).output();
    tokio::time::timeout(PROMTOOL_TIMEOUT, out)
        .await
        .map_err(|_| format!("no answer within {PROMTOOL_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())
}

fn check_size(text: &str) -> Result<(), CheckError> {
    if text.len() > MAX_RULES_BYTES {
        return Err(CheckError::Invalid(format!(
            "the rules are {} bytes; at most {MAX_RULES_BYTES} are accepted",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Err(CheckError::Invalid("the rules are empty".into()));
    }
    Ok(())
}
