//! Which files a collection writes its samples into: Parquet (typed columns, ≈ 1–4 bytes per
//! sample), CSV (today's tidy `timestamp,query,series,value` layout) and JSON.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One sample file format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    /// `raw.parquet` / `samples.parquet`: timestamp (ms, UTC), value (f64), query, series and
    /// one dictionary-encoded column per label; zstd.
    Parquet,
    /// `*.csv` plus `*_series.csv`/`series.csv` with the labels.
    Csv,
    /// `*.json`, one object per series.
    Json,
}

impl std::str::FromStr for SampleFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "parquet" => Ok(SampleFormat::Parquet),
            "csv" => Ok(SampleFormat::Csv),
            "json" => Ok(SampleFormat::Json),
            other => Err(format!(
                "unknown format {other:?}; one of parquet, csv, json"
            )),
        }
    }
}

/// The formats of one table (raw samples, or the query samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub parquet: bool,
    pub csv: bool,
    pub json: bool,
}

impl Formats {
    /// Raw samples by default: Parquet only (CSV costs ≈ 41 B per sample, JSON ≈ 34 more).
    pub const RAW_DEFAULT: Formats = Formats {
        parquet: true,
        csv: false,
        json: false,
    };
    /// Exactly the formats listed (an empty list writes no sample file).
    pub fn from_list(list: &[SampleFormat]) -> Formats {
        Formats {
            parquet: list.contains(&SampleFormat::Parquet),
            csv: list.contains(&SampleFormat::Csv),
            json: list.contains(&SampleFormat::Json),
        }
    }
}
