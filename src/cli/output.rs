//! What the CLI prints: aligned tables and `key: value` blocks on stdout, JSON with `--json`,
//! errors and progress on stderr (a spinner when stderr is a terminal, plain lines otherwise;
//! nothing with `--quiet`), and a collection's progress bar ([`CollectBar`]: a terminal only).

use super::CliError;
use crate::client::ClientError;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes a line to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn line(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn eline(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Human or JSON output, as `--json` chose; progress or none, as `--quiet` chose.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    /// Whether a progress bar would be seen: stderr is a terminal and `--quiet` was not given.
    /// Without one, scripts get exactly the output they always got.
    pub fn bar_visible(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints `value` as pretty JSON when `--json` was given, otherwise the human form.
    pub fn show<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            line(&serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            let text = human(value);
            if !text.is_empty() {
                line(text.trim_end());
            }
        }
    }

    /// A progress indicator; silent with `--quiet`, and in `--json` mode unless stderr is a
    /// terminal.
    pub fn progress(&self, text: impl Into<String>) -> Progress {
        Progress::start(text.into(), !self.json, self.quiet)
    }

    /// Reports an error on stderr (and the problem JSON on stdout with `--json`) and picks the
    /// exit code.
    pub fn error(&self, e: &CliError) -> ExitCode {
        match e {
            CliError::Usage(msg) => {
                eline(&format!("error: {msg}"));
                return ExitCode::from(2);
            }
            CliError::ThresholdsFailed { .. } => {
                eline(&format!("error: {e}"));
                return ExitCode::from(super::collect::EXIT_THRESHOLD);
            }
            CliError::Client(ClientError::Problem(p)) => {
                if self.json {
                    line(&serde_json::to_string_pretty(p).unwrap_or_default());
                }
                eline(&format!("error: {} ({})", p.title, p.status));
                eline(&format!("  {}", p.detail));
                if let Some(f) = &p.field {
                    eline(&format!("  field: {f}"));
                }
                if let Some(i) = &p.instance {
                    eline(&format!("  request: {i}"));
                }
            }
            CliError::SessionEnded {
                output_tail: Some(tail),
                ..
            } => {
                eline(&format!("error: {e}"));
                eline("  last lines of the job's output:");
                for l in tail.lines() {
                    eline(&format!("    {l}"));
                }
            }
            CliError::Quality { quality, .. } => {
                eline(&format!("error: {e}"));
                return ExitCode::from(if quality == "empty" { 4 } else { 3 });
            }
            _ => eline(&format!("error: {e}")),
        }
        ExitCode::from(1)
    }
}

/// A table with aligned columns separated by two spaces; empty cells print as `-`.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cell = |r: &[String], i: usize| -> String {
            match r.get(i).map(String::as_str) {
                None | Some("") => "-".to_owned(),
                Some(s) => s.replace(['\n', '\t'], " "),
            }
        };
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(cell(r, i).chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for r in std::iter::once(&header).chain(&self.rows) {
            let mut text = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cell(r, i);
                text.push_str(&c);
                if i + 1 < widths.len() {
                    let pad = w - c.chars().count() + 2;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines with the values aligned; pairs with an empty value are left out.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        let key = format!("{k}:");
        out.push_str(&format!("{key:<width$}{v}\n"));
    }
    out
}

/// A spinner with a changing text and the elapsed time while stderr is a terminal; otherwise
/// each new text on its own line (readable in a job's log), or nothing when `lines` is false.
pub struct Progress {
    text: Arc<Mutex<String>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    lines: bool,
    started: Instant,
}

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Progress {
    fn start(text: String, lines: bool, quiet: bool) -> Self {
        let lines = lines && !quiet;
        let shared = Arc::new(Mutex::new(text.clone()));
        let started = Instant::now();
        let ticker = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let shared = shared.clone();
            tokio::spawn(async move {
                for frame in FRAMES.iter().cycle() {
                    let text = shared.lock().map(|t| t.clone()).unwrap_or_default();
                    let secs = started.elapsed().as_secs();
                    {
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r\x1b[2K{frame} {text} ({secs}s)");
                        let _ = err.flush();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        });
        if ticker.is_none() && lines {
            eline(&text);
        }
        Progress {
            text: shared,
            ticker,
            lines,
            started,
        }
    }

    /// Replaces the text (a new line without a terminal, if it changed).
    pub fn set(&self, text: impl Into<String>) {
        let text = text.into();
        let Ok(mut current) = self.text.lock() else {
            return;
        };
        if *current != text {
            if self.ticker.is_none() && self.lines {
                eline(&text);
            }
            *current = text;
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Progress {
    /// Stops the spinner and clears its line.
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// A collection's progress bar on stderr: the server's samples and bytes so far, and its query
/// chunks as a bar once it knows how many there are. indicatif draws nothing when stderr is
/// not a terminal; callers make it only when [`Output::bar_visible`].
pub struct CollectBar {
    bar: indicatif::ProgressBar,
    what: String,
}

impl CollectBar {
    pub fn new(what: String) -> Self {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{what}: waiting for the server"));
        bar.enable_steady_tick(Duration::from_millis(100));
        CollectBar { bar, what }
    }

    /// Shows the server's latest counts.
    pub fn update(&self, p: &crate::collect::progress::CollectProgress) {
        if p.chunks > 0 && self.bar.length().is_none() {
            self.bar.set_length(p.chunks as u64);
            self.bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:20}] {pos}/{len} chunks ({elapsed})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
        self.bar.set_position(p.chunks_done as u64);
        self.bar.set_message(format!(
            "{}: {} samples, {}",
            self.what,
            indicatif::HumanCount(p.samples),
            indicatif::HumanBytes(p.bytes)
        ));
    }
}

impl Drop for CollectBar {
    /// Clears the bar: the summary follows on stdout.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A duration for humans: `45s`, `3m05s`, `1h02m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_mark_empty_cells() {
        let mut t = Table::new(&["SESSION", "STATE"]);
        t.row(vec!["bench-01".into(), "running".into()]);
        t.row(vec!["b".into(), String::new()]);
        assert_eq!(
            t.render(),
            "SESSION   STATE\nbench-01  running\nb         -\n"
        );
    }

    #[test]
    fn fields_align_values_and_skip_empty_ones() {
        let text = fields(&[
            ("state", "running".into()),
            ("job", String::new()),
            ("prometheus", "x".into()),
        ]);
        assert_eq!(text, "state:      running\nprometheus: x\n");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h02m");
    }
}
