//! Prometheus durations (`15s`, `1h30m`, `500ms`), also accepted as plain seconds.

use super::{string_newtype, Invalid};
use std::time::Duration;

/// A duration in Prometheus's syntax, kept in canonical text form so it can be written into a
/// Prometheus config verbatim. Plain numbers are read as seconds (`"30"` → `30s`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^([0-9]+(y|w|d|h|m|s|ms))+$|^[0-9]+(\.[0-9]+)?$", example = "15s")]
pub struct PromDuration(String);

const UNITS: [(&str, u64); 7] = [
    ("ms", 1),
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
];

impl PromDuration {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if let Ok(secs) = s.parse::<f64>() {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(Invalid::new("must be a positive number of seconds"));
            }
            let ms = (secs * 1000.0).round() as u64;
            return Self::from_millis(ms);
        }
        let ms = parse_units(s).ok_or_else(|| {
            Invalid::new(format!(
                "{s:?} is not a Prometheus duration (e.g. 15s, 1m30s, 500ms, 2h) or seconds"
            ))
        })?;
        if ms == 0 {
            return Err(Invalid::new("must be greater than zero"));
        }
        Self::check_max(ms)?;
        Ok(PromDuration(s.to_owned()))
    }

    /// Longer than any benchmark or retention anyone means: 100 years.
    const MAX_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

    fn check_max(ms: u64) -> Result<(), Invalid> {
        if ms > Self::MAX_MS {
            return Err(Invalid::new("may be at most 100 years"));
        }
        Ok(())
    }

    /// Canonical form of a whole number of milliseconds (`1500` → `1s500ms`).
    pub fn from_millis(ms: u64) -> Result<Self, Invalid> {
        if ms == 0 {
            return Err(Invalid::new("must be at least 1ms"));
        }
        Self::check_max(ms)?;
        let mut rest = ms;
        let mut out = String::new();
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if rest >= size {
                out.push_str(&format!("{}{unit}", rest / size));
                rest %= size;
            }
        }
        Ok(PromDuration(out))
    }

    pub fn from_secs(secs: u64) -> Self {
        PromDuration(format!("{secs}s"))
    }

    pub fn as_millis(&self) -> u64 {
        parse_units(&self.0).unwrap_or(0)
    }

    pub fn as_duration(&self) -> Duration {
        Duration::from_millis(self.as_millis())
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.as_millis() as f64 / 1000.0
    }
}
string_newtype!(PromDuration);

/// Parses `1h30m`-style text into milliseconds; units must appear largest first, once each.
fn parse_units(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = s;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (rank, (unit, size)) = UNITS
            .iter()
            .enumerate()
            .find(|(_, (u, _))| rest.starts_with(u))?;
        // "ms" is listed first only so it wins over "m"; for ordering it is the smallest unit.
        let order = if *unit == "ms" { UNITS.len() } else { rank };
        if last_rank.is_some_and(|r| order <= r) {
            return None;
        }
        last_rank = Some(order);
        total = total.checked_add(n.checked_mul(*size)?)?;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(
            PromDuration::parse("15s").map(|d| d.as_millis()),
            Ok(15_000)
        );
        assert_eq!(
            PromDuration::parse("1h30m").map(|d| d.as_millis()),
            Ok(5_400_000)
        );
        assert_eq!(PromDuration::parse("500ms").map(|d| d.as_millis()), Ok(500));
        assert_eq!(
            PromDuration::parse("30").map(|d| d.to_string()),
            Ok("30s".into())
        );
        assert_eq!(
            PromDuration::parse("1.5").map(|d| d.to_string()),
            Ok("1s500ms".into())
        );
        for bad in [
            "", "0s", "s", "m5", "5m1h", "1x", "-3", "1e400", "1e300", "1h h", "200y",
        ] {
            assert!(PromDuration::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(PromDuration::parse("5m1h").is_err());
    }
}
