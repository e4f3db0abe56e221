//! Hosts, ports, `host:port` pairs and metrics endpoint URLs.

use super::{only_chars, string_newtype, Invalid};
use std::fmt;

/// A TCP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Port(u16);

/// An integer 1–65535 in the OpenAPI document, as `Port::new` takes it.
impl utoipa::PartialSchema for Port {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(65535))
            .examples([9090])
            .into()
    }
}

impl utoipa::ToSchema for Port {}

impl Port {
    pub fn new(n: u64) -> Result<Self, Invalid> {
        match u16::try_from(n) {
            Ok(p) if p >= 1 => Ok(Port(p)),
            _ => Err(Invalid::new(format!("port must be 1 to 65535, got {n}"))),
        }
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Wide enough to report 70000 or -1 as "out of range" rather than a type error.
        let n = i64::deserialize(d)?;
        u64::try_from(n)
            .map_err(|_| Invalid::new(format!("port must be 1 to 65535, got {n}")))
            .and_then(Port::new)
            .map_err(serde::de::Error::custom)
    }
}

/// A host name, IPv4 address or bracket-less IPv6 address, as it may appear in a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(value_type = String, example = "mel2153")]
pub struct Host(String);

impl Host {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(Host(s.to_owned()));
        }
        let labels_ok = s
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && only_chars(l, "-_"));
        if s.is_empty() || s.len() > 253 || !labels_ok {
            return Err(Invalid::new(format!(
                "{s:?} is not a host name or IP address"
            )));
        }
        Ok(Host(s.to_owned()))
    }

    /// The host as it appears in a URL authority (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.0.contains(':') {
            format!("[{}]", self.0)
        } else {
            self.0.clone()
        }
    }
}
string_newtype!(Host);

/// `host:port` of an exporter (`mel2153:9100`, `10.0.0.5:9400`, `[::1]:9100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(value_type = String, example = "mel2153:9100")]
pub struct HostPort(String);

impl HostPort {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new(format!("{s:?} is not host:port (e.g. mel2153:9100)"));
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            (h, p)
        } else {
            s.rsplit_once(':').ok_or_else(bad)?
        };
        let host = Host::parse(host)?;
        let port: u64 = port.parse().map_err(|_| bad())?;
        let port = Port::new(port)?;
        Ok(HostPort(format!("{}:{}", host.authority(), port)))
    }
}
string_newtype!(HostPort);

/// Longest metrics URL, in bytes (it is stored in every registration and file_sd file).
pub const MAX_ENDPOINT_BYTES: usize = 2048;

/// A service's `/metrics` URL: http or https, a host, an optional port, path and query.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, example = "http://mel2153:8000/metrics")]
pub struct MetricsEndpoint(String);

impl MetricsEndpoint {
    /// The `url` crate repairs what it parses (`http:///metrics` becomes `http://metrics/`, a
    /// newline or tab is dropped, `\\` becomes `/`), so those are refused on the raw text first,
    /// and the text itself is what is stored: the URL scraped is the URL the user sent.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() > MAX_ENDPOINT_BYTES {
            return Err(Invalid::new(format!(
                "the URL is {} bytes long; at most {MAX_ENDPOINT_BYTES} are allowed",
                s.len()
            )));
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_control() || c.is_whitespace() || *c == '\\')
        {
            return Err(Invalid::new(format!(
                "the URL contains {c:?}; control characters, spaces and backslashes are not allowed"
            )));
        }
        let authority = s
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .ok_or_else(|| Invalid::new(format!("{s:?} is not a URL (scheme://host/path)")))?;
        if authority.contains('@') {
            return Err(Invalid::new(
                "user-info (user@ or user:password@) is not allowed in the URL",
            ));
        }
        let host_part = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        if host_part.is_empty() {
            return Err(Invalid::new(format!("{s:?} has no host")));
        }
        let url =
            url::Url::parse(s).map_err(|e| Invalid::new(format!("{s:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Invalid::new(format!(
                "scheme must be http or https, got {:?}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new("credentials in the URL are not supported"));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("a metrics URL may not have a #fragment"));
        }
        // Each query parameter becomes a `__param_<key>` label, so the key must be a valid
        // label-name tail, or Prometheus would reject the whole file_sd file.
        if let Some((bad, _)) = url.query_pairs().find(|(k, _)| {
            k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }) {
            return Err(Invalid::new(format!(
                "query parameter name {bad:?} may contain only letters, digits and '_'"
            )));
        }
        let mut keys = std::collections::BTreeSet::new();
        if let Some(dup) = url
            .query_pairs()
            .map(|(k, _)| k.into_owned())
            .find(|k| !keys.insert(k.clone()))
        {
            return Err(Invalid::new(format!(
                "query parameter {dup:?} appears twice; Prometheus can pass only one value per parameter"
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Invalid::new("the URL needs a host"))?;
        Host::parse(host.trim_start_matches('[').trim_end_matches(']'))?;
        Ok(MetricsEndpoint(s.to_owned()))
    }

    pub fn url(&self) -> Option<url::Url> {
        url::Url::parse(&self.0).ok()
    }
}
string_newtype!(MetricsEndpoint);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parses_names_ipv4_and_ipv6() {
        assert_eq!(
            HostPort::parse("mel2153:9100").map(|h| h.to_string()),
            Ok("mel2153:9100".into())
        );
        assert_eq!(
            HostPort::parse("[::1]:9100").map(|h| h.to_string()),
            Ok("[::1]:9100".into())
        );
        for bad in [
            "mel2153",
            "mel2153:0",
            "mel2153:70000",
            "a b:1",
            ":9100",
            "x:y",
            "h:1\n",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_must_be_http_with_a_host() {
        assert!(MetricsEndpoint::parse("http://mel2153:8000/metrics?x=1").is_ok());
        for bad in [
            "ftp://h/metrics",
            "mel2153:8000",
            "http://u:p@h/m",
            "http://h/m#f",
            "http:///metrics",
            "http://:8000/metrics",
            "http://127.0.0.1:18499/m\netrics",
            "http://h/m\tx",
            "http://h/m x",
            "http://h\\m",
            "http://@h/m",
            "http://u@h/m",
            "http://[]:80/m",
        ] {
            assert!(MetricsEndpoint::parse(bad).is_err(), "{bad:?}");
        }
        // Stored exactly as sent, not as the URL parser would re-serialize it.
        for good in ["http://h:8000", "HTTP://H/m?x=1", "http://[::1]:9/m"] {
            assert_eq!(
                MetricsEndpoint::parse(good).map(|e| e.to_string()),
                Ok(good.to_owned())
            );
        }
    }
}
