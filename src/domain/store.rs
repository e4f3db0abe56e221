//! Where a session's samples are stored — its topology — and how many scrapers feed the store.
//!
//! `"prometheus"` is one Prometheus job that scrapes and stores; `"victoriametrics"` is a
//! VictoriaMetrics job plus N Prometheus agents, each scraping its share of the targets and
//! remote-writing to it; `{remote_write_url, query_url}` is a store the site already runs, fed
//! by the agents alone. The URLs end up quoted in YAML and in HTTP requests, never in a shell.

use super::{string_newtype, Host, Invalid};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, SchemaFormat};

/// An http(s) URL of a store's API: a host, no credentials (they would be echoed in views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let url =
            url::Url::parse(s).map_err(|e| Invalid::new(format!("{s:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Invalid::new(format!(
                "scheme must be http or https, got {:?}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(
                "credentials in the URL are not supported (views show it)",
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("a store URL may not have a #fragment"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Invalid::new("the URL needs a host"))?;
        Host::parse(host.trim_start_matches('[').trim_end_matches(']'))?;
        Ok(StoreUrl(url.to_string()))
    }
}
string_newtype!(StoreUrl);

/// A store the site already runs: benchmon starts only the scrapers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteStore {
    /// Where the scrapers send samples (Prometheus remote-write protocol).
    pub remote_write_url: StoreUrl,
    /// Base URL of the store's Prometheus-compatible query API (`…/api/v1/query_range` below it).
    pub query_url: StoreUrl,
    /// Headers sent with every write and query (a tenant: `X-Scope-OrgID`); values are secrets.
    #[serde(default, skip_serializing_if = "StoreHeaders::is_empty")]
    pub headers: StoreHeaders,
    /// HTTP basic auth for writes and queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// A file holding a bearer token (read by the scrapers and by benchmon at each use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<TokenFile>,
}

impl RemoteStore {
    /// Every secret of the store, by the field that holds it (`headers.X-Scope-OrgID`,
    /// `basic_auth.password`).
    pub fn secrets(&self) -> Vec<(String, &Secret)> {
        let mut out: Vec<(String, &Secret)> = self
            .headers
            .0
            .iter()
            .map(|(k, v)| (format!("headers.{k}"), v))
            .collect();
        if let Some(b) = &self.basic_auth {
            out.push(("basic_auth.password".into(), &b.password));
        }
        out
    }

    /// Puts back the secrets of `saved` (as [`secrets`](Self::secrets) names them), into a
    /// record read from `session.json`, where they are redacted.
    pub fn restore_secrets(&mut self, saved: &std::collections::BTreeMap<String, String>) {
        for (name, value) in self.headers.0.iter_mut() {
            if let Some(v) = saved.get(&format!("headers.{name}")) {
                *value = Secret(v.clone());
            }
        }
        if let (Some(b), Some(v)) = (self.basic_auth.as_mut(), saved.get("basic_auth.password")) {
            b.password = Secret(v.clone());
        }
    }
}

/// A credential given in a request: kept in memory and in the session's own 0600 credentials
/// file, written as `"<redacted>"` everywhere else — views, `session.json`, manifests, logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// What a secret serializes as.
    pub const REDACTED: &'static str = "<redacted>";

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 4096 {
            return Err(Invalid::new("must be 1 to 4096 bytes"));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new("may not contain control characters"));
        }
        Ok(Secret(s.to_owned()))
    }

    /// The value itself: for the HTTP request or the scraper config that needs it, nowhere
    /// else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Read back from a redacted record, the value unknown.
    pub fn is_redacted(&self) -> bool {
        self.0 == Self::REDACTED
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match EXPOSE.with(std::cell::Cell::get) {
            true => s.serialize_str(&self.0),
            false => s.serialize_str(Self::REDACTED),
        }
    }
}

thread_local! {
    static EXPOSE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (a synchronous serialization) with secrets written as their values: only for the
/// body benchmon's own client sends to benchmon, never for anything stored or shown.
pub fn with_secrets_exposed<T>(f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            EXPOSE.with(|e| e.set(false));
        }
    }
    EXPOSE.with(|e| e.set(true));
    let _reset = Reset;
    f()
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Secret::parse(&s).map_err(de::Error::custom)
    }
}

/// Headers names Prometheus's remote write sets itself (it refuses them in `headers`) or that
/// carry the credentials given by their own fields.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "content-encoding",
    "content-length",
    "content-type",
    "host",
    "user-agent",
    "x-prometheus-remote-read-version",
    "x-prometheus-remote-write-version",
];

/// A store's extra headers: at most 16, names of letters, digits and `-`, values secrets that
/// are valid HTTP header values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StoreHeaders(std::collections::BTreeMap<String, Secret>);

impl StoreHeaders {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<'de> Deserialize<'de> for StoreHeaders {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, Secret>::deserialize(d)?;
        if map.len() > 16 {
            return Err(de::Error::custom("at most 16 headers"));
        }
        for (name, value) in &map {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(de::Error::custom(format!(
                    "header name {name:?}: letters, digits and '-', 1 to 64"
                )));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(de::Error::custom(format!(
                    "header {name:?} is set by the scrapers or by basic_auth /                      bearer_token_file, not here"
                )));
            }
            let printable = value.0.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
            if !printable && !value.is_redacted() {
                return Err(de::Error::custom(format!(
                    "header {name:?}: the value must be printable ASCII"
                )));
            }
        }
        Ok(StoreHeaders(map))
    }
}

/// HTTP basic auth for a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: AuthUser,
    pub password: Secret,
}

/// A basic-auth user name: 1 to 256 characters, no control characters and no `:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser(String);

impl AuthUser {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.chars().count() > 256 {
            return Err(Invalid::new("must be 1 to 256 characters"));
        }
        if s.chars().any(|c| c.is_control() || c == ':') {
            return Err(Invalid::new("may not contain ':' or control characters"));
        }
        Ok(AuthUser(s.to_owned()))
    }
}
string_newtype!(AuthUser);

/// An absolute path of a file holding a bearer token (printable, at most 4096 bytes). Its
/// existence is checked at create, its content read at each use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFile(String);

impl TokenFile {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if !s.starts_with('/') || s.len() > 4096 {
            return Err(Invalid::new(
                "must be an absolute path of at most 4096 bytes",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new("may not contain control characters"));
        }
        Ok(TokenFile(s.to_owned()))
    }
    pub fn path(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}
string_newtype!(TokenFile);

/// A session's topology: `"prometheus"` (default), `"victoriametrics"`, or a remote store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreSpec {
    /// One Prometheus job scrapes and stores (the original topology).
    #[default]
    Prometheus,
    /// benchmon runs VictoriaMetrics single-node as a job, fed by N scraper jobs.
    VictoriaMetrics,
    /// The site's store, fed by N scraper jobs.
    Remote(RemoteStore),
}

impl StoreSpec {
    /// Whether scraper jobs (Prometheus agents) feed the store.
    pub fn sharded(&self) -> bool {
        !matches!(self, StoreSpec::Prometheus)
    }

    /// The name the manifest and the views use.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreSpec::Prometheus => "prometheus",
            StoreSpec::VictoriaMetrics => "victoriametrics",
            StoreSpec::Remote(_) => "remote",
        }
    }

    /// Parses the CLI's and the site file's word (`prometheus` or `victoriametrics`).
    pub fn parse_word(s: &str) -> Result<Self, Invalid> {
        match s {
            "prometheus" => Ok(StoreSpec::Prometheus),
            "victoriametrics" => Ok(StoreSpec::VictoriaMetrics),
            other => Err(Invalid::new(format!(
                "store {other:?} is not one of \"prometheus\", \"victoriametrics\" or \
                 {{\"remote_write_url\", \"query_url\"}}"
            ))),
        }
    }
}

impl Serialize for StoreSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StoreSpec::Remote(r) => r.serialize(s),
            other => s.serialize_str(other.kind()),
        }
    }
}

impl<'de> Deserialize<'de> for StoreSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StoreSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "\"prometheus\", \"victoriametrics\" or {\"remote_write_url\", \"query_url\"}",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StoreSpec, E> {
                StoreSpec::parse_word(s).map_err(E::custom)
            }
            // Through the map access it was given, so an error inside names its path
            // (`store.query_url`).
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StoreSpec, A::Error> {
                RemoteStore::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(StoreSpec::Remote)
            }
        }
        d.deserialize_any(V)
    }
}

impl utoipa::PartialSchema for StoreSpec {
    fn schema() -> RefOr<Schema> {
        let url = || {
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .format(Some(SchemaFormat::Custom("uri".into())))
        };
        let words = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(["prometheus", "victoriametrics"]));
        let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
        let headers = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .additional_properties(Some(text()))
            .description(Some(
                "Headers for every write and query (a tenant: `X-Scope-OrgID`); values are                  shown as `<redacted>`.",
            ));
        let basic_auth = ObjectBuilder::new()
            .property("username", text())
            .property(
                "password",
                text().description(Some("shown as `<redacted>`")),
            )
            .required("username")
            .required("password");
        let remote = ObjectBuilder::new()
            .property("remote_write_url", url())
            .property("query_url", url())
            .property("headers", headers)
            .property("basic_auth", basic_auth)
            .property(
                "bearer_token_file",
                text().description(Some(
                    "Absolute path of a file holding a bearer token, readable by benchmon and                      on the nodes; not with basic_auth.",
                )),
            )
            .required("remote_write_url")
            .required("query_url");
        OneOfBuilder::new()
            .item(words)
            .item(remote)
            .description(Some(
                "Where samples are stored: `prometheus` (one Prometheus job, the default), \
                 `victoriametrics` (a VictoriaMetrics job fed by `scrapers` Prometheus agents) or \
                 a store the site runs, fed by the agents alone.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for StoreSpec {}

/// Number of scraper jobs of a sharded session: 1 to 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct ScraperCount(u16);

impl ScraperCount {
    pub const MAX: u16 = 64;
    pub fn new(n: u64) -> Result<Self, Invalid> {
        match u16::try_from(n) {
            Ok(n @ 1..=Self::MAX) => Ok(ScraperCount(n)),
            _ => Err(Invalid::new(format!(
                "scrapers must be between 1 and {}, not {n}",
                Self::MAX
            ))),
        }
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u64> for ScraperCount {
    type Error = Invalid;
    fn try_from(n: u64) -> Result<Self, Invalid> {
        Self::new(n)
    }
}

impl From<ScraperCount> for u64 {
    fn from(c: ScraperCount) -> u64 {
        c.0.into()
    }
}

impl std::str::FromStr for ScraperCount {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let n = s
            .parse::<u64>()
            .map_err(|_| Invalid::new(format!("scrapers {s:?} is not a whole number")))?;
        Self::new(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_a_word_or_a_remote_store_and_round_trips() {
        let p: StoreSpec = serde_json::from_str("\"prometheus\"").unwrap();
        assert_eq!(p, StoreSpec::Prometheus);
        let v: StoreSpec = serde_json::from_str("\"victoriametrics\"").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"victoriametrics\"");
        let r: StoreSpec = serde_json::from_str(
            r#"{"remote_write_url":"http://vm:8428/api/v1/write","query_url":"http://vm:8428"}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"remote_write_url":"http://vm:8428/api/v1/write","query_url":"http://vm:8428/"})
        );
        assert!(serde_json::from_str::<StoreSpec>("\"thanos\"").is_err());
        assert!(serde_json::from_str::<StoreSpec>("3").is_err());
    }

    #[test]
    fn a_bad_remote_url_is_reported_at_its_path() {
        let body = r#"{"remote_write_url":"http://vm/w","query_url":"ftp://vm"}"#;
        let de = &mut serde_json::Deserializer::from_str(body);
        let err = serde_path_to_error::deserialize::<_, StoreSpec>(de).unwrap_err();
        assert_eq!(err.path().to_string(), "query_url");
        for bad in [
            "vm:8428",
            "http://u:p@vm/",
            "http://vm/#x",
            "http://vm:99999/",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credentials_are_redacted_except_in_the_clients_request_body() {
        let body = r#"{"remote_write_url":"http://vm/w","query_url":"http://vm/",
            "headers":{"X-Scope-OrgID":"t-1"},"basic_auth":{"username":"u","password":"pw!"}}"#;
        let store: StoreSpec = serde_json::from_str(body).unwrap();
        let shown = serde_json::to_string(&store).unwrap();
        assert!(!shown.contains("pw!") && !shown.contains("t-1"), "{shown}");
        assert!(shown.contains(r#""password":"<redacted>""#), "{shown}");
        let debug = format!("{store:?}");
        assert!(!debug.contains("pw!") && !debug.contains("t-1"), "{debug}");
        let sent = with_secrets_exposed(|| serde_json::to_string(&store).unwrap());
        assert!(sent.contains(r#""password":"pw!""#), "{sent}");
        // Only inside: the next serialization redacts again.
        assert_eq!(serde_json::to_string(&store).unwrap(), shown);
        let StoreSpec::Remote(r) = &store else {
            panic!("{store:?}")
        };
        let mut read_back: StoreSpec = serde_json::from_str(&shown).unwrap();
        let StoreSpec::Remote(rb) = &mut read_back else {
            panic!("{read_back:?}")
        };
        let saved = r
            .secrets()
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect();
        rb.restore_secrets(&saved);
        assert_eq!(read_back, store);
    }

    #[test]
    fn scrapers_are_between_one_and_sixty_four() {
        assert!(ScraperCount::new(0).is_err());
        assert_eq!(ScraperCount::new(64).map(ScraperCount::get), Ok(64));
        assert!(ScraperCount::new(65).is_err());
        assert!("x".parse::<ScraperCount>().is_err());
    }
}
