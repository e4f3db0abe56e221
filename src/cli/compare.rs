//! `benchmon compare BASELINE CANDIDATE` and `benchmon history DIR…`: verdicts across runs,
//! read from bundle directories on this machine (no server needed).
//!
//! Exit codes of `compare`, so a CI job or an sbatch script can gate on it: 0 no regression,
//! 3 at least one `regression`, 1 an error (a bundle unreadable, outputs not written), 2 usage
//! (bad arguments or an invalid tolerance file).

use super::output::{line, Table};
use crate::compare::tolerance::{Limit, LimitSpec, Rule};
use crate::compare::{self, history, Bundle, CompareError, Direction, Options, TolerancesSpec};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when the candidate regressed.
pub const EXIT_REGRESSION: u8 = 3;

/// Compare a candidate bundle's KPIs against a baseline bundle's.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The baseline: a bundle directory, or SESSION/COLLECTION of a benchmon server (its bundle
    /// directory must be readable here, as on a shared filesystem).
    pub baseline: PathBuf,
    /// The candidate: a bundle directory or SESSION/COLLECTION.
    pub candidate: PathBuf,
    /// URL of the benchmon server that resolves SESSION/COLLECTION names.
    #[arg(long, env = "BENCHMON_URL", default_value = "http://127.0.0.1:8002")]
    pub server: String,
    /// Bearer token, for servers that require one.
    #[arg(long, env = "BENCHMON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TOML file of `[[rule]]` tables: query, kpi, max_regression ("10%" or absolute),
    /// optional direction ("lower"/"higher") and window; first matching rule applies.
    #[arg(long)]
    pub tolerances: Option<PathBuf>,
    /// A catch-all rule after the file's: every KPI with a direction may get this much worse
    /// ("10%" or absolute) before it is a regression.
    #[arg(long, value_name = "LIMIT")]
    pub max_regression: Option<String>,
    /// Changes within this are "same" ("1%" by default, or absolute).
    #[arg(long, value_name = "LIMIT")]
    pub noise: Option<String>,
    /// Labels that do not identify a series across runs (comma-separated); replaces the
    /// default session,run_id,scraper.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub ignore_labels: Option<Vec<String>>,
    /// Compare `instance` with its port (by default host:9100 and host:9101 match).
    #[arg(long)]
    pub keep_instance_port: bool,
    /// Which way is better for matching queries, QUERY=lower|higher (QUERY may end in *).
    #[arg(long = "direction", value_name = "QUERY=lower|higher")]
    pub directions: Vec<String>,
    /// Print the comparison as JSON (compare.json's content) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write compare.csv, compare.json and compare.html into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Why `compare` failed, with its exit code.
enum Failure {
    Usage(String),
    Error(String),
}

fn limit(text: &str, flag: &str) -> Result<Limit, Failure> {
    Limit::parse(&LimitSpec::Text(text.to_owned()))
        .map_err(|e| Failure::Usage(format!("{flag}: {e}")))
}

fn options(args: &CompareArgs) -> Result<Options, Failure> {
    let spec = match &args.tolerances {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--tolerances {}: {e}", path.display())))?;
            TolerancesSpec::from_toml(&text)
                .map_err(|e| Failure::Usage(format!("--tolerances {}: {e}", path.display())))?
        }
        None => TolerancesSpec::default(),
    };
    let mut opts = Options::from_spec(&spec, "").map_err(|e| match &args.tolerances {
        Some(p) => Failure::Usage(format!("--tolerances {}: {e}", p.display())),
        None => Failure::Usage(e.to_string()),
    })?;
    if let Some(n) = &args.noise {
        opts.noise = limit(n, "--noise")?;
    }
    if let Some(m) = &args.max_regression {
        opts.rules.push(Rule {
            query: "*".into(),
            kpi: "*".into(),
            limit: limit(m, "--max-regression")?,
            direction: None,
            window: None,
        });
    }
    if let Some(names) = &args.ignore_labels {
        opts.identity.ignored = names.iter().filter(|n| !n.is_empty()).cloned().collect();
    }
    opts.identity.strip_instance_port = !args.keep_instance_port;
    for d in &args.directions {
        let (q, dir) =
            super::split_kv(d).map_err(|e| Failure::Usage(format!("--direction {e}")))?;
        let dir = match dir {
            "lower" => Direction::Lower,
            "higher" => Direction::Higher,
            other => {
                return Err(Failure::Usage(format!(
                    "--direction {q}={other}: lower or higher"
                )))
            }
        };
        opts.directions.push((q.to_owned(), dir));
    }
    Ok(opts)
}

fn human(c: &compare::Comparison) {
    line(&format!(
        "baseline:  {} ({})",
        c.baseline.id, c.baseline.dir
    ));
    line(&format!(
        "candidate: {} ({})",
        c.candidate.id, c.candidate.dir
    ));
    let counts: Vec<String> = compare::Verdict::ALL
        .iter()
        .map(|v| format!("{} {}", c.counts.get(*v), v.as_str()))
        .collect();
    line(&format!("verdicts:  {}", counts.join(", ")));
    let mut t = Table::new(&[
        "VERDICT",
        "WINDOW",
        "QUERY",
        "SERIES",
        "KPI",
        "BASELINE",
        "CANDIDATE",
        "DELTA",
        "REL",
    ]);
    let shown: Vec<&compare::Row> = c
        .rows
        .iter()
        .filter(|r| r.verdict != compare::Verdict::Same)
        .take(30)
        .collect();
    // Six significant digits for reading; compare.csv and --json keep every digit.
    let f = |x: Option<f64>| {
        x.map(|v| {
            let s = format!("{v:.6e}");
            s.parse::<f64>().map_or(s, |r| r.to_string())
        })
        .unwrap_or_default()
    };
    for r in &shown {
        t.row(vec![
            r.verdict.as_str().to_owned(),
            r.window.clone(),
            r.query.clone(),
            if r.scope == "aggregate" {
                "(all)".into()
            } else {
                r.series.clone()
            },
            r.kpi.clone(),
            f(r.baseline),
            f(r.candidate),
            f(r.delta),
            r.relative
                .map(|x| format!("{:+.2}%", x * 100.0))
                .unwrap_or_default(),
        ]);
    }
    if !shown.is_empty() {
        line(t.render().trim_end());
    }
    line(if c.regression {
        "REGRESSION"
    } else {
        "no regression"
    });
}

/// The bundle directory `arg` names: itself when it is a directory or not a `SESSION/COLLECTION`
/// name, else the directory the server's index records for that collection.
async fn locate(arg: &std::path::Path, args: &CompareArgs) -> Result<PathBuf, Failure> {
    let text = arg.to_string_lossy();
    let Ok(r) = crate::domain::CollectionRef::parse(&text) else {
        return Ok(arg.to_owned());
    };
    if arg.is_dir() {
        return Ok(arg.to_owned());
    }
    let fail = |e: String| Failure::Error(format!("{text}: {e}"));
    let session = r.session().map_err(|e| Failure::Usage(e.to_string()))?;
    let token = args.token.clone().filter(|t| !t.is_empty());
    let client =
        crate::client::Client::new(&args.server, token).map_err(|e| fail(e.to_string()))?;
    let entries = client
        .collections(&session)
        .await
        .map_err(|e| fail(e.to_string()))?;
    entries
        .iter()
        .rev()
        .filter_map(|e| e.get("bundle_dir").and_then(|d| d.as_str()))
        .map(PathBuf::from)
        .find(|d| d.file_name().is_some_and(|n| n == r.collection()))
        .ok_or_else(|| {
            fail(format!(
                "session {session} has no collection {:?}",
                r.collection()
            ))
        })
}

async fn run_compare(args: &CompareArgs) -> Result<bool, Failure> {
    let opts = options(args)?;
    let read = |p: PathBuf| Bundle::read(&p).map_err(|e| Failure::Error(e.to_string()));
    let base = read(locate(&args.baseline, args).await?)?;
    let cand = read(locate(&args.candidate, args).await?)?;
    let c = compare::compare(&base, &cand, &opts);
    if let Some(dir) = &args.out {
        compare::files::write_all(dir, &c, &base, &cand, &opts.identity)
            .map_err(|e| Failure::Error(e.to_string()))?;
    }
    if args.json {
        line(&serde_json::to_string_pretty(&c).unwrap_or_default());
    } else {
        human(&c);
        if let Some(dir) = &args.out {
            line(&format!("wrote {}", dir.join("compare.html").display()));
        }
    }
    Ok(c.regression)
}

/// Runs `benchmon compare` and returns its exit code (0, 3, 1 or 2).
pub async fn compare_command(args: CompareArgs) -> ExitCode {
    match run_compare(&args).await {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(EXIT_REGRESSION),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Error(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Write the KPIs of many bundles as one table (history.csv, history.parquet).
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Bundle directories, or directories of bundles (a shell glob works too).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Directory for history.csv and history.parquet.
    #[arg(long)]
    pub out: PathBuf,
}

fn run_history(args: &HistoryArgs) -> Result<(), CompareError> {
    let bundles = history::find_bundles(&args.dirs)?;
    let rows = history::rows(&bundles);
    let files = history::write(&args.out, &rows)?;
    line(&format!("{} bundles, {} rows", bundles.len(), rows.len()));
    for f in files {
        line(&format!("wrote {}", f.display()));
    }
    Ok(())
}

/// Runs `benchmon history`: 0 written, 1 an error.
pub fn history_command(args: HistoryArgs) -> ExitCode {
    match run_history(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
