//! Series identity across runs: the labels that say *which* series it is, without the ones
//! that say *which run* it came from.
//!
//! Two runs of the same benchmark differ in `session`, `run_id`, the `scraper` that scraped
//! them and the port an exporter happened to get, so by default those are dropped (for
//! `instance`, only its port) before series are matched.

use std::collections::BTreeMap;

/// Labels dropped before matching unless the caller says otherwise.
pub const DEFAULT_IGNORED: [&str; 3] = ["session", "run_id", "scraper"];

/// Which labels identify a series across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Labels left out entirely.
    pub ignored: Vec<String>,
    /// Whether `instance="host:port"` is compared as `host` only.
    pub strip_instance_port: bool,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            ignored: DEFAULT_IGNORED.iter().map(|s| (*s).to_owned()).collect(),
            strip_instance_port: true,
        }
    }
}

impl Identity {
    /// The identifying labels of `labels`, as a canonical `k="v",…` string (name order).
    pub fn key(&self, labels: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for (k, v) in labels {
            if self.ignored.iter().any(|i| i == k) {
                continue;
            }
            let v = if k == "instance" && self.strip_instance_port {
                strip_port(v)
            } else {
                v.as_str()
            };
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out
    }
}

/// `host:9100` → `host`, `[::1]:9100` → `[::1]`; anything else unchanged.
fn strip_port(instance: &str) -> &str {
    match instance.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            host
        }
        _ => instance,
    }
}

/// Parses the bundle's label string `{a="x",b="y\"z"}` (the writer's escapes: `\\ \" \n`).
pub fn parse_label_string(s: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| format!("labels {s:?} are not {{…}}"))?;
    let mut out = BTreeMap::new();
    let mut chars = inner.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return Err(format!("labels {s:?}: no quote after {name}="));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return Err(format!("labels {s:?}: dangling escape")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("labels {s:?}: unterminated value")),
            }
        }
        out.insert(name, value);
        match chars.next() {
            Some(',') | None => {}
            Some(c) => return Err(format!("labels {s:?}: unexpected {c:?}")),
        }
        if chars.peek().is_none() {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_strings_round_trip_the_writers_escapes() {
        let l = parse_label_string(r#"{__name__="up",job="a\"b\\",x="l1\nl2"}"#).unwrap();
        assert_eq!(l["job"], "a\"b\\");
        assert_eq!(l["x"], "l1\nl2");
        assert_eq!(l.len(), 3);
        assert!(parse_label_string("{}").unwrap().is_empty());
        assert!(parse_label_string(r#"{a="x}"#).is_err());
    }

    #[test]
    fn identity_drops_run_labels_and_the_instance_port() {
        let l = parse_label_string(
            r#"{instance="n1:9100",job="node",run_id="r1",scraper="p",session="s1"}"#,
        )
        .unwrap();
        let id = Identity::default();
        assert_eq!(id.key(&l), r#"instance="n1",job="node""#);
        assert_eq!(strip_port("[::1]:9100"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("n1"), "n1");
        let keep = Identity {
            ignored: vec![],
            strip_instance_port: false,
        };
        assert!(keep.key(&l).contains("session=\"s1\""));
    }
}
