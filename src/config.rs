//! Server configuration: command-line flags (each with a `BENCHMON_*` env var) and an optional
//! TOML file of site defaults. Everything is validated on load; there is no global config.

use crate::domain::{PromDuration, SlurmOptions};
use crate::export::QualityThresholds;
use crate::launcher::LauncherKind;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Flags of `benchmon serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BENCHMON_LISTEN", default_value = "127.0.0.1:8002")]
    pub listen: SocketAddr,
    /// Directory for session state (session.json, Prometheus config, file_sd targets, TSDB).
    /// With the SLURM launcher it must be on a filesystem the compute nodes share.
    #[arg(long, env = "BENCHMON_STATE_DIR", default_value = "benchmon-state")]
    pub state_dir: PathBuf,
    /// Root directory for collected artifact bundles; `out_dir` of a collection resolves under it.
    #[arg(
        long,
        env = "BENCHMON_ARTIFACTS_DIR",
        default_value = "benchmon-artifacts"
    )]
    pub artifacts_dir: PathBuf,
    /// How Prometheus is run.
    #[arg(long, env = "BENCHMON_LAUNCHER", value_enum, default_value = "slurm")]
    pub launcher: LauncherKind,
    /// URL at which compute nodes reach this server (for sessions that scrape benchmon itself);
    /// default: derived from --listen (the host name when listening on all interfaces).
    #[arg(long, env = "BENCHMON_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// TOML file with site defaults (see README, "Configuration").
    #[arg(long, env = "BENCHMON_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Site defaults from the TOML file; every key is optional.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    pub auth: AuthSettings,
    pub slurm: SlurmDefaults,
    pub prometheus: PrometheusSettings,
    pub server: ServerSettings,
    pub collect: CollectSettings,
    pub storage: StorageSettings,
    pub topology: TopologySettings,
}

/// `[topology]`: the store and scrapers of a session whose create request names none, and how
/// the VictoriaMetrics job runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopologySettings {
    /// `"prometheus"`, `"victoriametrics"` or `{ remote_write_url, query_url }`.
    pub store: crate::domain::StoreSpec,
    /// Scraper jobs of a sharded session; unset, sized from the expected series at `start`.
    pub scrapers: Option<crate::domain::ScraperCount>,
    /// Nodes for the scrapers of a sharded session whose request names none (scraper i on
    /// entry i mod len).
    pub scraper_nodes: Option<crate::domain::ScraperNodes>,
    /// VictoriaMetrics as argv words (a binary, or a container runtime's command); benchmon
    /// appends its flags.
    pub victoriametrics_command: Vec<String>,
    /// vmalert as argv words: it runs in a `victoriametrics` session's store job and evaluates
    /// the session's rules and the site's rule packs there. Empty: no vmalert, and `rules` on
    /// such a session are refused.
    pub vmalert_command: Vec<String>,
}

impl Default for TopologySettings {
    fn default() -> Self {
        TopologySettings {
            store: Default::default(),
            scrapers: None,
            scraper_nodes: None,
            victoriametrics_command: vec!["victoria-metrics".into()],
            vmalert_command: vec!["vmalert".into()],
        }
    }
}

/// Where a job's Prometheus keeps its TSDB while it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// On the node's own disk, copied into the session directory when the job ends (true, the
    /// default: Prometheus does not support NFS/Lustre for its TSDB), or directly in the
    /// session directory (false).
    pub node_local: bool,
    /// Absolute directory on the node for it; default `$TMPDIR`, else `/tmp`.
    pub local_dir: Option<String>,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            node_local: true,
            local_dir: None,
        }
    }
}

/// Default of `collect.max_points`.
pub const DEFAULT_MAX_POINTS: u64 = 500_000_000;

/// Where collections may write, and how much.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectSettings {
    /// Absolute directories besides the artifacts root where `out_dir` may point.
    pub allowed_roots: Vec<PathBuf>,
    /// An absolute `out_dir` outside every allowed root is re-rooted under the artifacts root
    /// (true, the default) or refused with 403 (false).
    pub reroot_absolute: bool,
    /// A collection estimated to write more points (range-query points plus raw samples) is
    /// refused with 422 before anything is written. The default, 500 M, is ≈ 1 GB of raw
    /// Parquet; a 256-node × 1 s × 1 h raw export (≈ 1.7 G samples) needs it raised.
    pub max_points: u64,
    /// Collections running at once; one more is answered 503 (clients retry it). Each holds
    /// one series and a Parquet row group in memory, plus its fetches' chunks.
    pub max_concurrent: usize,
    /// `[collect.quality]`: what makes a collection `partial` (see [`QualityThresholds`]).
    pub quality: QualityThresholds,
}

/// Default of `collect.max_concurrent`.
pub const DEFAULT_MAX_CONCURRENT_COLLECTIONS: usize = 4;

impl Default for CollectSettings {
    fn default() -> Self {
        CollectSettings {
            allowed_roots: Vec::new(),
            reroot_absolute: true,
            max_points: DEFAULT_MAX_POINTS,
            max_concurrent: DEFAULT_MAX_CONCURRENT_COLLECTIONS,
            quality: QualityThresholds::default(),
        }
    }
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GET routes only.
    Read,
    /// Every route.
    Write,
}

/// One API token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A label for the operator (never the token itself in logs).
    #[serde(default)]
    pub name: String,
    pub role: Role,
    pub token: String,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenEntry {{ name: {:?}, role: {:?}, token: <redacted> }}",
            self.name, self.role
        )
    }
}

/// Bearer tokens; none means the API is open.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub tokens: Vec<TokenEntry>,
    /// A TOML file with more `[[tokens]]` entries (kept out of the main config, e.g. mode 0600).
    pub tokens_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

/// `[slurm]`: defaults for the start request's fields (the same [`SlurmOptions`]) and extra
/// `sbatch` arguments.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct SlurmDefaults {
    pub options: SlurmOptions,
    /// Extra `sbatch` arguments, passed as separate argv entries (e.g. `["--mem=2G"]`).
    pub sbatch_extra: Vec<String>,
}

/// `sbatch_extra` is taken out first; every other key must be a [`SlurmOptions`] field (serde's
/// `flatten` would lose `deny_unknown_fields`).
impl TryFrom<toml::Table> for SlurmDefaults {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let sbatch_extra = match table.remove("sbatch_extra") {
            Some(v) => v.try_into().map_err(|e| format!("sbatch_extra: {e}"))?,
            None => Vec::new(),
        };
        let options =
            SlurmOptions::deserialize(toml::Value::Table(table)).map_err(|e| e.to_string())?;
        Ok(SlurmDefaults {
            options,
            sbatch_extra,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusSettings {
    /// The Prometheus binary as the compute node sees it (a path or a name on its PATH).
    pub binary: String,
    /// The whole command that runs Prometheus, as argv words, when it is not a plain binary:
    /// a container, e.g. `["apptainer", "exec", "--bind", "/shared", "prom.sif", "prometheus"]`.
    /// benchmon appends Prometheus's flags. Used for every Prometheus benchmon starts (the job
    /// and the offline one for collections after the job); replaces `binary`.
    pub command: Vec<String>,
    /// Extra Prometheus flags appended to the command line.
    pub extra_args: Vec<String>,
    /// How long a started job may take to report a ready Prometheus before the session fails.
    pub startup_timeout: PromDuration,
    /// How often Prometheus re-reads file_sd target files (inotify usually beats it; this bounds
    /// the delay on shared filesystems where inotify does not fire).
    pub sd_refresh_interval: PromDuration,
    /// Start Prometheus with `--web.enable-lifecycle` (`/-/reload`, `/-/quit`). On by default, as
    /// the session spec asks; anyone who reaches the node's port can then stop the session's
    /// Prometheus, so a site on a shared network may turn it off (benchmon itself never calls it:
    /// targets change through file_sd).
    pub enable_lifecycle: bool,
    /// promtool on benchmon's own host, which checks a session's rules before they are used.
    pub promtool: String,
    /// Rule files every session's Prometheus loads besides its own rules (default packs:
    /// target down, GPU temperature, throttling — `examples/rules/site-defaults.yml`), on a
    /// filesystem the compute nodes read; checked with promtool when benchmon starts.
    pub rule_packs: Vec<std::path::PathBuf>,
}

impl PrometheusSettings {
    /// The argv words that start Prometheus, before its flags: `command`, or `binary` alone.
    pub fn argv(&self) -> Vec<String> {
        match self.command.is_empty() {
            true => vec![self.binary.clone()],
            false => self.command.clone(),
        }
    }
}

impl Default for PrometheusSettings {
    fn default() -> Self {
        PrometheusSettings {
            binary: "prometheus".into(),
            command: Vec::new(),
            extra_args: Vec::new(),
            startup_timeout: PromDuration::from_secs(180),
            sd_refresh_interval: PromDuration::from_secs(5),
            enable_lifecycle: true,
            promtool: "promtool".into(),
            rule_packs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// How often the job poller asks the launcher about each active session.
    pub poll_interval: PromDuration,
    /// How long `stop` waits for the scheduler to report the job gone.
    pub stop_timeout: PromDuration,
    /// The most bytes a request body may have; a larger one is refused with 413 before it is
    /// read in full. API bodies are small JSON documents (a label set is at most 4 KiB).
    pub max_body_bytes: usize,
    /// The longest `?timeout=` a long-poll (`?wait=STATE`) may ask for; longer is a 422.
    pub max_wait: PromDuration,
}

/// Default of `server.max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            poll_interval: PromDuration::from_secs(1),
            stop_timeout: PromDuration::from_secs(90),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_wait: PromDuration::from_secs(3600),
        }
    }
}

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl SiteConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_in(&text, base).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        Self::from_toml_in(text, Path::new("."))
    }

    /// Parses a config whose relative paths (`auth.tokens_file`) are relative to `base`, the
    /// config file's directory.
    pub fn from_toml_in(text: &str, base: &Path) -> Result<Self, String> {
        let mut cfg: SiteConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(file) = &cfg.auth.tokens_file {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read tokens_file {}: {e}", path.display()))?;
            let more: TokensFile = toml::from_str(&text)
                .map_err(|e| format!("invalid tokens_file {}: {e}", path.display()))?;
            cfg.auth.tokens.extend(more.tokens);
        }
        if let Some(t) = cfg.auth.tokens.iter().find(|t| t.token.len() < 16) {
            return Err(format!("token {:?} is shorter than 16 characters", t.name));
        }
        // A header value cannot carry them, so such a token could never match.
        if let Some(t) = cfg
            .auth
            .tokens
            .iter()
            .find(|t| t.token.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!("token {:?} contains whitespace", t.name));
        }
        if let Some(dir) = &cfg.storage.local_dir {
            if !dir.starts_with('/') || dir.contains(['\n', '\r', '\0']) {
                return Err(format!(
                    "storage.local_dir {dir:?} must be an absolute path on one line"
                ));
            }
        }
        let prom = &cfg.prometheus;
        if !prom.command.is_empty() && prom.binary != PrometheusSettings::default().binary {
            return Err(
                "prometheus.command replaces prometheus.binary: give one of them".to_owned(),
            );
        }
        if cfg
            .topology
            .victoriametrics_command
            .first()
            .is_none_or(|w| w.is_empty())
        {
            return Err("topology.victoriametrics_command must start with a program".to_owned());
        }
        if cfg
            .topology
            .vmalert_command
            .first()
            .is_some_and(|w| w.is_empty())
        {
            return Err("topology.vmalert_command must start with a program".to_owned());
        }
        if prom.command.first().is_some_and(|w| w.is_empty()) {
            return Err("prometheus.command must start with a program".to_owned());
        }
        let args = cfg
            .slurm
            .sbatch_extra
            .iter()
            .chain(&cfg.prometheus.extra_args)
            .chain(&cfg.prometheus.command)
            .chain(&cfg.topology.victoriametrics_command)
            .chain(&cfg.topology.vmalert_command);
        if let Some(bad) = args.clone().find(|a| a.contains(['\n', '\r', '\0'])) {
            return Err(format!("argument {bad:?} contains a line break or NUL"));
        }
        cfg.collect.quality.validate()?;
        Ok(cfg)
    }
}

/// Everything the server needs, resolved from flags and the site file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub advertise_url: Option<String>,
    pub state_dir: PathBuf,
    pub artifacts_dir: PathBuf,
    pub launcher: LauncherKind,
    pub site: SiteConfig,
}

impl Settings {
    /// How a compute node reaches this server.
    pub fn advertised_url(&self) -> String {
        if let Some(u) = &self.advertise_url {
            return u.trim_end_matches('/').to_owned();
        }
        let ip = self.listen.ip();
        let host = if ip.is_unspecified() {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("http://{host}:{}", self.listen.port())
    }

    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let site = match &args.config {
            Some(p) => SiteConfig::load(p)?,
            None => SiteConfig::default(),
        };
        Ok(Settings {
            listen: args.listen,
            advertise_url: args.advertise_url.clone(),
            state_dir: args.state_dir.clone(),
            artifacts_dir: args.artifacts_dir.clone(),
            launcher: args.launcher,
            site,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_command_replaces_binary_and_is_checked() {
        let cfg = SiteConfig::from_toml(
            "[prometheus]\ncommand = [\"apptainer\", \"exec\", \"p.sif\", \"prometheus\"]\n",
        )
        .unwrap();
        assert_eq!(
            cfg.prometheus.argv(),
            ["apptainer", "exec", "p.sif", "prometheus"]
        );
        assert_eq!(SiteConfig::default().prometheus.argv(), ["prometheus"]);
        let both = "[prometheus]\nbinary = \"/opt/p\"\ncommand = [\"x\"]\n";
        assert!(SiteConfig::from_toml(both)
            .unwrap_err()
            .contains("give one"));
        let empty = "[prometheus]\ncommand = [\"\"]\n";
        assert!(SiteConfig::from_toml(empty)
            .unwrap_err()
            .contains("program"));
        let newline = "[prometheus]\ncommand = [\"a\\nb\"]\n";
        assert!(SiteConfig::from_toml(newline)
            .unwrap_err()
            .contains("line break"));
    }

    #[test]
    fn site_config_validates_defaults_with_the_same_rules_as_requests() {
        assert!(SiteConfig::from_toml("[slurm]\npartition = \"cpu\"\n").is_ok());
        assert!(SiteConfig::from_toml("[slurm]\npartition = \"cpu; rm -rf /\"\n").is_err());
        assert!(
            SiteConfig::from_toml("[slurm]\nsbatch_extra = [\"--mem=1G\\n#SBATCH\"]\n").is_err()
        );
        assert!(SiteConfig::from_toml("[nope]\n").is_err());
        assert!(
            SiteConfig::from_toml("[[auth.tokens]]\nrole = \"read\"\ntoken = \"short\"\n").is_err()
        );
        let spaced = "[[auth.tokens]]\nrole = \"read\"\ntoken = \" 0123456789abcdefgh \"\n";
        assert!(SiteConfig::from_toml(spaced).is_err());
        let q = SiteConfig::from_toml("[collect.quality]\nmin_coverage = 0.5\n").unwrap();
        assert_eq!(q.collect.quality.min_coverage, 0.5);
        assert_eq!(q.collect.quality.gap_intervals, 2.0);
        assert!(SiteConfig::from_toml("[collect.quality]\nmin_coverage = 2\n").is_err());
        assert!(SiteConfig::from_toml("[collect.quality]\nmin_cov = 0.5\n").is_err());
    }
}
