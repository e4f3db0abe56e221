//! Timestamps accepted as RFC 3339 or unix seconds.

use super::Invalid;
use chrono::{DateTime, TimeZone, Utc};

/// An instant given as RFC 3339 (`2025-11-04T10:00:00Z`, fractional seconds allowed) or unix
/// seconds (`1762250400`, `1762250400.5`, as a JSON number or string). Serializes as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

/// The schema says what `parse` takes: a string (RFC 3339 or unix seconds) or a number of unix
/// seconds in chrono's range; answers are always RFC 3339 strings.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("RFC 3339, or unix seconds as a string"))
            .examples(["2025-11-04T10:00:00Z"]);
        let number = ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some("unix seconds"))
            .minimum(Some(0.0))
            .maximum(Some(253_402_300_799.0));
        OneOfBuilder::new().item(text).item(number).into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Timestamp {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if let Ok(secs) = s.parse::<f64>() {
            return Self::from_unix(secs);
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| {
                Invalid::new(format!(
                    "{s:?} is neither RFC 3339 (2025-11-04T10:00:00Z) nor unix seconds: {e}"
                ))
            })
    }

    pub fn from_unix(secs: f64) -> Result<Self, Invalid> {
        if !secs.is_finite() || !(0.0..=253_402_300_799.0).contains(&secs) {
            return Err(Invalid::new(format!("{secs} is not a valid unix time")));
        }
        let ms = (secs * 1000.0).round() as i64;
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(Timestamp)
            .ok_or_else(|| Invalid::new(format!("{secs} is not a valid unix time")))
    }

    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }

    pub fn unix_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn unix_secs_f64(&self) -> f64 {
        self.0.timestamp_millis() as f64 / 1000.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl std::str::FromStr for Timestamp {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Self::parse(s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Timestamp::from_unix(n),
            Raw::Text(s) => Timestamp::parse(&s),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_rfc3339_python_isoformat_and_unix() {
        let a = Timestamp::parse("2025-11-04T10:00:00Z").map(|t| t.unix_millis());
        assert_eq!(a, Ok(1_762_250_400_000));
        // datetime.utcnow().isoformat() + "Z", as in the seed's Python example.
        let b = Timestamp::parse("2025-11-04T10:00:00.123456Z").map(|t| t.unix_millis());
        assert_eq!(b, Ok(1_762_250_400_123));
        assert_eq!(
            Timestamp::parse("1762250400.5").map(|t| t.unix_millis()),
            Ok(1_762_250_400_500)
        );
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("-1").is_err());
    }
}
