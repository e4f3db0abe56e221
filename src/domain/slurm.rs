//! Values that end up on `#SBATCH` lines.
//!
//! sbatch reads those lines itself (no shell), so quoting cannot protect them: each value must
//! match a grammar without whitespace, newlines or anything sbatch would read as another option.

use super::{only_chars, string_newtype, Invalid};

fn check_slurm_word(s: &str, extra: &str, what: &str) -> Result<(), Invalid> {
    if s.is_empty() || s.len() > 128 {
        return Err(Invalid::new(format!(
            "{what} must be 1 to 128 characters long"
        )));
    }
    if !only_chars(s, extra) {
        return Err(Invalid::new(format!(
            "{what} {s:?} may contain only letters, digits and {}",
            extra
                .chars()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(())
}

/// A partition, account or QOS name: `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Za-z0-9_.-]{1,128}$", example = "cpu")]
pub struct SlurmName(String);

impl SlurmName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_slurm_word(s, "_.-", "name")?;
        Ok(SlurmName(s.to_owned()))
    }
}
string_newtype!(SlurmName);

/// A `--constraint` expression: features joined by `&`, `|`, `,`, with `[]`, `()`, `*` counts.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, example = "gpu&a100")]
pub struct SlurmConstraint(String);

impl SlurmConstraint {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_slurm_word(s, "_.-&|,[]()*:", "constraint")?;
        Ok(SlurmConstraint(s.to_owned()))
    }
}
string_newtype!(SlurmConstraint);

/// A `--nodelist` host list (`node[01-04],gpu5`).
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, example = "node[01-04]")]
pub struct SlurmNodeList(String);

impl SlurmNodeList {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_slurm_word(s, "_.-,[]", "nodelist")?;
        Ok(SlurmNodeList(s.to_owned()))
    }
}
string_newtype!(SlurmNodeList);

/// One SLURM node name (`bmnode1`, `gpu-a100-07`): a single host, never a host list, so a job
/// given it as `--nodelist` runs on exactly that node.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Za-z0-9_.-]{1,128}$", example = "node07")]
pub struct SlurmNodeName(String);

impl SlurmNodeName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_slurm_word(s, "_.-", "node name")?;
        Ok(SlurmNodeName(s.to_owned()))
    }

    /// The node as a `--nodelist` of one.
    pub fn as_nodelist(&self) -> SlurmNodeList {
        SlurmNodeList(self.0.clone())
    }
}
string_newtype!(SlurmNodeName);

/// Where a sharded session's scrapers run: scraper `i` is submitted with
/// `--nodelist=<entry i mod len>`. 1 to [`ScraperNodes::MAX`] node names (a name may repeat).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScraperNodes(Vec<SlurmNodeName>);

impl ScraperNodes {
    /// As many as there may be scrapers.
    pub const MAX: usize = 64;

    pub fn new(nodes: Vec<SlurmNodeName>) -> Result<Self, Invalid> {
        if nodes.is_empty() || nodes.len() > Self::MAX {
            return Err(Invalid::new(format!(
                "scraper_nodes must list 1 to {} node names, not {}",
                Self::MAX,
                nodes.len()
            )));
        }
        Ok(ScraperNodes(nodes))
    }

    /// The node of scraper `index`.
    pub fn for_scraper(&self, index: u16) -> &SlurmNodeName {
        &self.0[usize::from(index) % self.0.len()]
    }

    pub fn iter(&self) -> impl Iterator<Item = &SlurmNodeName> {
        self.0.iter()
    }
}

impl<'de> serde::Deserialize<'de> for ScraperNodes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Bounded while reading: a huge array is refused at its 65th entry, not after.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ScraperNodes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an array of 1 to {} node names", ScraperNodes::MAX)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ScraperNodes, A::Error> {
                let mut nodes = Vec::new();
                while let Some(n) = seq.next_element::<SlurmNodeName>()? {
                    if nodes.len() == ScraperNodes::MAX {
                        return Err(serde::de::Error::custom(format!(
                            "scraper_nodes must list at most {} node names",
                            ScraperNodes::MAX
                        )));
                    }
                    nodes.push(n);
                }
                ScraperNodes::new(nodes).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_seq(V)
    }
}

impl utoipa::PartialSchema for ScraperNodes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .pattern(Some(r"^[A-Za-z0-9_.-]{1,128}$")),
            )
            .min_items(Some(1))
            .max_items(Some(Self::MAX))
            .description(Some(
                "SLURM node names for the scrapers: scraper i runs on entry i mod len (its \
                 `--nodelist`); the store job keeps `nodelist` of the start request.",
            ))
            .examples(Some(serde_json::json!(["node01", "node02", "node03"])))
            .into()
    }
}

impl utoipa::ToSchema for ScraperNodes {}

/// A SLURM time limit: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`, or
/// `UNLIMITED`/`INFINITE`.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, example = "02:00:00")]
pub struct TimeLimit(String);

impl TimeLimit {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(format!(
                "{s:?} is not a SLURM time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)"
            ))
        };
        if matches!(s, "UNLIMITED" | "INFINITE") {
            return Ok(TimeLimit(s.to_owned()));
        }
        let (days, clock) = match s.split_once('-') {
            Some((d, c)) => (Some(d), c),
            None => (None, s),
        };
        let num = |p: &str| -> Result<u64, Invalid> {
            if p.is_empty() || p.len() > 6 || !p.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        if let Some(d) = days {
            num(d)?;
        }
        let parts: Vec<&str> = clock.split(':').collect();
        let nums = parts
            .iter()
            .map(|p| num(p))
            .collect::<Result<Vec<_>, _>>()?;
        let sixty = |n: &u64| *n < 60;
        let ok = match (days.is_some(), nums.as_slice()) {
            (false, [_m]) => true,
            (false, [_m, s]) => sixty(s),
            (_, [_h, m, s]) => sixty(m) && sixty(s),
            (true, [h]) => *h < 24,
            (true, [h, m]) => *h < 24 && sixty(m),
            _ => false,
        };
        if !ok {
            return Err(bad());
        }
        Ok(TimeLimit(s.to_owned()))
    }
}
string_newtype!(TimeLimit);

/// A whole number within bounds that crosses the edge as a JSON number or a flag: validated
/// once, on deserialising and parsing alike, with an error naming the field and the bounds.
macro_rules! bounded_count {
    ($(#[$doc:meta])* $ty:ident($inner:ty), $field:literal, $min:expr, $max:expr, $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $ty($inner);

        impl $ty {
            pub const MIN: $inner = $min;
            pub const MAX: $inner = $max;
            pub fn new(n: u64) -> Result<Self, Invalid> {
                match <$inner>::try_from(n) {
                    Ok(n @ Self::MIN..=Self::MAX) => Ok($ty(n)),
                    _ => Err(Invalid::new(format!(
                        "{} must be between {} and {}{}, not {n}",
                        $field,
                        Self::MIN,
                        Self::MAX,
                        $unit
                    ))),
                }
            }
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl TryFrom<u64> for $ty {
            type Error = Invalid;
            fn try_from(n: u64) -> Result<Self, Invalid> {
                Self::new(n)
            }
        }

        impl From<$ty> for u64 {
            fn from(c: $ty) -> u64 {
                c.0.into()
            }
        }

        impl std::str::FromStr for $ty {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                let n = s.parse::<u64>().map_err(|_| {
                    Invalid::new(format!("{} {s:?} is not a whole number", $field))
                })?;
                Self::new(n)
            }
        }
    };
}

bounded_count!(
    /// `--cpus-per-task` of a job: 1 to 1024.
    CpuCount(u16), "cpus_per_task", 1, 1024, ""
);
bounded_count!(
    /// `--mem` of a job in MiB: 64 MiB to 16 TiB.
    MemMb(u32), "mem_mb", 64, 16 * 1024 * 1024, " (MiB)"
);

/// The SLURM options of a Prometheus job, declared once: the start request's body, the site
/// defaults (`[slurm]` in the TOML) and `benchmon session start`'s flags are all this struct.
/// Field help lives in `#[arg(help)]` rather than doc comments so the OpenAPI schema keeps its
/// plain properties.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    clap::Args,
)]
#[serde(deny_unknown_fields)]
#[schema(
    as = StartSession,
    description = "`POST /api/v1/sessions/{id}/start`; omitted fields take the site defaults."
)]
pub struct SlurmOptions {
    #[arg(
        long,
        env = "BENCHMON_PARTITION",
        help = "SLURM partition (site default when omitted)."
    )]
    #[serde(default)]
    pub partition: Option<SlurmName>,
    #[arg(
        long,
        help = "Time limit of the Prometheus job, e.g. 02:00:00 (site default when omitted)."
    )]
    #[serde(default)]
    pub time_limit: Option<TimeLimit>,
    #[arg(long, env = "BENCHMON_ACCOUNT", help = "SLURM account.")]
    #[serde(default)]
    pub account: Option<SlurmName>,
    #[arg(long, help = "SLURM QOS.")]
    #[serde(default)]
    pub qos: Option<SlurmName>,
    #[arg(long, help = "SLURM node feature constraint.")]
    #[serde(default)]
    pub constraint: Option<SlurmConstraint>,
    #[arg(long, help = "Nodes to run Prometheus on (SLURM node list).")]
    #[serde(default)]
    pub nodelist: Option<SlurmNodeList>,
    #[arg(
        long,
        help = "CPUs of the Prometheus job (default: sized from the registered targets)."
    )]
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1024, example = 2)]
    pub cpus_per_task: Option<CpuCount>,
    #[arg(
        long,
        help = "Memory of the Prometheus job in MiB (default: sized from the registered targets)."
    )]
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 64, maximum = 16777216, example = 4096)]
    pub mem_mb: Option<MemMb>,
}

impl SlurmOptions {
    /// These options, with `defaults` filling what they leave out.
    pub fn or(self, defaults: &SlurmOptions) -> SlurmOptions {
        SlurmOptions {
            partition: self.partition.or_else(|| defaults.partition.clone()),
            time_limit: self.time_limit.or_else(|| defaults.time_limit.clone()),
            account: self.account.or_else(|| defaults.account.clone()),
            qos: self.qos.or_else(|| defaults.qos.clone()),
            constraint: self.constraint.or_else(|| defaults.constraint.clone()),
            nodelist: self.nodelist.or_else(|| defaults.nodelist.clone()),
            cpus_per_task: self.cpus_per_task.or(defaults.cpus_per_task),
            mem_mb: self.mem_mb.or(defaults.mem_mb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_with_shell_or_sbatch_syntax_are_refused() {
        for bad in [
            "",
            "cpu gpu",
            "cpu\n#SBATCH --x",
            "cpu;rm",
            "$(x)",
            "a`b`",
            "a'b",
        ] {
            assert!(SlurmName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SlurmName::parse("gpu-a100.x_1").is_ok());
    }

    #[test]
    fn scraper_nodes_are_single_node_names_one_to_sixty_four() {
        let ok: ScraperNodes = serde_json::from_str(r#"["bmnode1","bmnode2","vm"]"#).unwrap();
        assert_eq!(ok.for_scraper(0).as_str(), "bmnode1");
        assert_eq!(ok.for_scraper(4).as_str(), "bmnode2");
        for bad in [
            r#"[]"#,
            r#"["node[1-2]"]"#,
            r#"["a,b"]"#,
            r#"["a b"]"#,
            r#"["x\n#SBATCH --uid=0"]"#,
            r#""bmnode1""#,
        ] {
            assert!(serde_json::from_str::<ScraperNodes>(bad).is_err(), "{bad}");
        }
        let many = serde_json::to_string(&vec!["n"; 65]).unwrap();
        let err = serde_json::from_str::<ScraperNodes>(&many).unwrap_err();
        assert!(err.to_string().contains("at most 64"), "{err}");
    }

    #[test]
    fn time_limits_follow_slurm_formats() {
        for good in [
            "30",
            "30:00",
            "02:00:00",
            "1-0",
            "1-02:30",
            "2-00:00:00",
            "UNLIMITED",
        ] {
            assert!(TimeLimit::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "abc",
            "1:2:3:4",
            "02:60:00",
            "1-25",
            "-5",
            "1h",
            "02:00:00\n",
            "1- 2",
        ] {
            assert!(TimeLimit::parse(bad).is_err(), "{bad:?}");
        }
    }
}
