//! Units of query values: declared by every profile query and optionally by user queries,
//! written next to the KPIs in the summary files (the numbers there stay exact, in the unit),
//! and used by the report to print values for people (GiB, ms, %, kW).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a query's values measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Bytes,
    /// MiB (2^20 bytes), as DCGM reports framebuffer memory.
    Mebibytes,
    BytesPerSecond,
    Seconds,
    /// A fraction 0–1 (shown as a percentage).
    Ratio,
    /// 0–100.
    Percent,
    Watts,
    Joules,
    Celsius,
    Tokens,
    TokensPerSecond,
    RequestsPerSecond,
    JoulesPerToken,
    TokensPerJoule,
    /// A plain count (requests running, targets up).
    Count,
}

impl Unit {
    /// The unit as written in the summary files and on chart axes.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Bytes => "B",
            Unit::Mebibytes => "MiB",
            Unit::BytesPerSecond => "B/s",
            Unit::Seconds => "s",
            Unit::Ratio => "ratio",
            Unit::Percent => "%",
            Unit::Watts => "W",
            Unit::Joules => "J",
            Unit::Celsius => "°C",
            Unit::Tokens => "tokens",
            Unit::TokensPerSecond => "tokens/s",
            Unit::RequestsPerSecond => "req/s",
            Unit::JoulesPerToken => "J/token",
            Unit::TokensPerJoule => "tokens/J",
            Unit::Count => "count",
        }
    }

    /// The serde name (`bytes_per_second`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Mebibytes => "mebibytes",
            Unit::BytesPerSecond => "bytes_per_second",
            Unit::Seconds => "seconds",
            Unit::Ratio => "ratio",
            Unit::Percent => "percent",
            Unit::Watts => "watts",
            Unit::Joules => "joules",
            Unit::Celsius => "celsius",
            Unit::Tokens => "tokens",
            Unit::TokensPerSecond => "tokens_per_second",
            Unit::RequestsPerSecond => "requests_per_second",
            Unit::JoulesPerToken => "joules_per_token",
            Unit::TokensPerJoule => "tokens_per_joule",
            Unit::Count => "count",
        }
    }
}

/// At most 4 significant digits, trailing zeros dropped, an exponent only when huge or tiny.
pub(crate) fn sig4(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{x:.3e}");
    }
    let decimals = if a == 0.0 {
        0
    } else {
        (3 - a.log10().floor() as i32).clamp(0, 6) as usize
    };
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// `x` scaled by the largest prefix that keeps it ≥ 1: `steps` are `(factor, suffix)` from the
/// smallest up.
fn scaled(x: f64, steps: &[(f64, &str)]) -> String {
    let a = x.abs();
    let mut best = steps[0];
    for &s in steps {
        if a >= s.0 {
            best = s;
        }
    }
    format!("{} {}", sig4(x / best.0), best.1)
}

const BYTES: [(f64, &str); 6] = [
    (1.0, "B"),
    (1024.0, "KiB"),
    (1048576.0, "MiB"),
    (1073741824.0, "GiB"),
    (1099511627776.0, "TiB"),
    (1125899906842624.0, "PiB"),
];

fn bytes(x: f64, suffix: &str) -> String {
    let steps: Vec<(f64, String)> = BYTES
        .iter()
        .map(|&(f, s)| (f, format!("{s}{suffix}")))
        .collect();
    let refs: Vec<(f64, &str)> = steps.iter().map(|(f, s)| (*f, s.as_str())).collect();
    scaled(x, &refs)
}

fn si(x: f64, unit: &str) -> String {
    let names = [
        (1e-3, format!("m{unit}")),
        (1.0, unit.to_owned()),
        (1e3, format!("k{unit}")),
        (1e6, format!("M{unit}")),
        (1e9, format!("G{unit}")),
    ];
    let refs: Vec<(f64, &str)> = names.iter().map(|(f, s)| (*f, s.as_str())).collect();
    scaled(x, &refs)
}

/// A value for people: `4.616 GiB`, `12.5 ms`, `87.5 %`, `1.2 kW`; the plain number without a
/// unit. Zero is `0` plus the unit.
pub fn human(x: f64, unit: Option<Unit>) -> String {
    let Some(unit) = unit else {
        return sig4(x);
    };
    if !x.is_finite() {
        return format!("{x} {}", unit.symbol());
    }
    match unit {
        Unit::Bytes => bytes(x, ""),
        Unit::Mebibytes => bytes(x * 1048576.0, ""),
        Unit::BytesPerSecond => bytes(x, "/s"),
        Unit::Seconds => {
            let steps = [
                (1e-9, "ns"),
                (1e-6, "µs"),
                (1e-3, "ms"),
                (1.0, "s"),
                (60.0, "min"),
                (3600.0, "h"),
            ];
            if x == 0.0 {
                "0 s".into()
            } else {
                scaled(x, &steps)
            }
        }
        Unit::Ratio => format!("{} %", sig4(x * 100.0)),
        Unit::Percent => format!("{} %", sig4(x)),
        Unit::Watts => si(x, "W"),
        Unit::Joules => si(x, "J"),
        Unit::Celsius => format!("{} °C", sig4(x)),
        Unit::JoulesPerToken => si(x, "J/token"),
        other => format!("{} {}", sig4(x), other.symbol()),
    }
}

/// An axis tick: like [`human`], but a value within a millionth of the axis span of zero is
/// zero (float steps put ticks at `6.939e-18` on a flat-zero chart).
pub fn tick(y: f64, span: f64, unit: Option<Unit>) -> String {
    let y = if span > 0.0 && y.abs() < span * 1e-6 {
        0.0
    } else {
        y
    };
    human(y, unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_naturally_in_their_unit() {
        assert_eq!(human(4.956e8, Some(Unit::Bytes)), "472.6 MiB");
        assert_eq!(human(5.0 * 1073741824.0, Some(Unit::Bytes)), "5 GiB");
        assert_eq!(human(0.0125, Some(Unit::Seconds)), "12.5 ms");
        assert_eq!(human(0.875, Some(Unit::Ratio)), "87.5 %");
        assert_eq!(human(1234.0, Some(Unit::Watts)), "1.234 kW");
        assert_eq!(human(3.6e6, Some(Unit::Joules)), "3.6 MJ");
        assert_eq!(human(2048.0, Some(Unit::Mebibytes)), "2 GiB");
        assert_eq!(human(1.5e6, Some(Unit::BytesPerSecond)), "1.431 MiB/s");
        assert_eq!(human(0.0, Some(Unit::Bytes)), "0 B");
        assert_eq!(human(0.0, Some(Unit::Seconds)), "0 s");
        assert_eq!(human(42.0, Some(Unit::Celsius)), "42 °C");
        assert_eq!(human(50.5, None), "50.5");
        assert_eq!(human(95.049999999, None), "95.05");
        assert_eq!(human(1234567.0, None), "1.235e6");
    }

    #[test]
    fn ticks_near_zero_are_zero() {
        assert_eq!(tick(6.939e-18, 0.1, Some(Unit::Ratio)), "0 %");
        assert_eq!(tick(-6.939e-18, 1.0, None), "0");
        assert_eq!(tick(0.05, 0.1, Some(Unit::Ratio)), "5 %");
    }
}
