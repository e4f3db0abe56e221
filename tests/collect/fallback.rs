//! The raw export's query fallback, planned by series × time: on a set with several metric
//! names and one name with many series (one of them with a label value full of characters that
//! need escaping), it writes the bytes remote read writes, and a Prometheus whose
//! `--query.max-samples` is below the series count of one scrape still gives every sample.

use crate::fixtures::{out_dir, plan, TestProm};
use crate::remote_read::T_RR;
use benchmon::export::formats::{Formats, SampleFormat};
use benchmon::export::{collect, CollectionOutcome, RawSource};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Start of these fixtures (a Prometheus of their own).
const T_FB: i64 = T_RR + 3 * 86_400;
/// `fb_many`: `INSTANCES` × `CPUS` series, one sample every 15 s.
const INSTANCES: usize = 60;
const CPUS: usize = 4;
const SCRAPES: i64 = 80;
/// The instance label of one `fb_many` series, as OpenMetrics escapes it: a quote, a
/// backslash, regex metacharacters and a newline.
const WEIRD_OM: &str = r#"we\"ird\\x.y|z*(1)\nq"#;
/// Series of the other names: `fb_a`, `fb_b` and `fb_c`.
const OTHERS: i64 = 3;

/// `fb_many`'s value at scrape `k` of series (`i`, `cpu`): NaN now and then, else exact in
/// binary (eighths), so the sum below is exact.
fn many_value(i: usize, cpu: usize, k: i64) -> Option<f64> {
    let x = (i * 31 + cpu * 7) as i64 + k * 13;
    (x % 17 != 0).then(|| (x % 1000) as f64 / 8.0)
}

fn fixtures() -> String {
    let mut s = String::from("# TYPE fb_a gauge\n");
    let odd = ["1e-09", "-0", "+Inf", "-Inf", "1e+308", "NaN", "3.25"];
    for k in 0..SCRAPES {
        writeln!(
            s,
            "fb_a{{job=\"x\"}} {} {}",
            odd[k as usize % 7],
            T_FB + 15 * k
        )
        .unwrap();
    }
    s.push_str("# TYPE fb_b gauge\n");
    for job in ["x", "y"] {
        for k in 0..SCRAPES {
            writeln!(s, "fb_b{{job=\"{job}\"}} {} {}", k * 2, T_FB + 15 * k).unwrap();
        }
    }
    s.push_str("# TYPE fb_many gauge\n");
    for i in 0..INSTANCES {
        let instance = match i {
            7 => WEIRD_OM.to_owned(),
            i => format!("node{i:02}:9100"),
        };
        for cpu in 0..CPUS {
            for k in 0..SCRAPES {
                let v = many_value(i, cpu, k).map_or("NaN".to_owned(), |v| v.to_string());
                writeln!(
                    s,
                    "fb_many{{cpu=\"{cpu}\",instance=\"{instance}\"}} {v} {}",
                    T_FB + 15 * k
                )
                .unwrap();
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

const SELECTOR: &str = r#"{__name__=~"fb_.*"}"#;

async fn fallback_prom(max_samples: u64) -> TestProm {
    TestProm::start_with(
        &fixtures(),
        &[&format!("--query.max-samples={max_samples}")],
    )
    .await
}

async fn raw_collect(
    url: &str,
    parent: &Path,
    source: RawSource,
    selector: &str,
) -> CollectionOutcome {
    let end = T_FB + 15 * SCRAPES;
    let mut p = plan(url, T_FB, end, "15s", vec![], parent);
    p.scrape_interval = Some(crate::fixtures::dur("15s"));
    p.raw_selectors = vec![selector.into()];
    p.raw_options.source = source;
    p.raw_options.formats = Formats::from_list(&[SampleFormat::Csv, SampleFormat::Json]);
    p.bundle_name = format!("{source:?}");
    collect(&reqwest::Client::new(), p, None).await.unwrap()
}

fn manifest(o: &CollectionOutcome) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(o.bundle_dir.join("MANIFEST.json")).unwrap()).unwrap()
}

const ALL_SERIES: i64 = (INSTANCES * CPUS) as i64 + OTHERS;

#[tokio::test]
async fn the_query_fallback_split_by_series_writes_the_bytes_remote_read_writes() {
    // A limit of 400 samples: groups of at most 100 series, so `fb_many` (240) is split by
    // instance and the three other names go together.
    let prom = fallback_prom(400).await;
    let (_d, out) = out_dir();
    let remote = raw_collect(&prom.url, &out, RawSource::RemoteRead, SELECTOR).await;
    let query = raw_collect(&prom.url, &out, RawSource::Query, SELECTOR).await;
    assert_eq!(remote.raw_series as i64, ALL_SERIES);
    assert_eq!(query.raw_series, remote.raw_series);
    assert_eq!(query.raw_samples as i64, ALL_SERIES * SCRAPES);
    for file in ["raw.csv", "raw_series.csv", "raw.json"] {
        let a = std::fs::read(remote.bundle_dir.join(file)).unwrap();
        let b = std::fs::read(query.bundle_dir.join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between remote read and the query fallback"
        );
    }
    let series = std::fs::read_to_string(query.bundle_dir.join("raw_series.csv")).unwrap();
    assert!(series.contains("we\"\"ird\\x.y|z*(1)\nq"), "{series}");
    let m = manifest(&query);
    let p = &m["raw"]["query_plan"];
    assert_eq!(m["raw"]["method"], "query");
    assert_eq!(p["server_max_samples"], 400);
    assert_eq!(p["request_samples"], 200);
    assert_eq!(p["series"], ALL_SERIES);
    // fb_a, fb_b together; fb_many in three groups of 25, 25 and 10 instances.
    assert_eq!(p["groups"], 4, "{p}");
    assert!(manifest(&remote)["raw"].get("query_plan").is_none());
    // `name{…}` form: the same series of one name, the same bytes.
    let (_d2, out2) = out_dir();
    let sel = r#"fb_many{cpu=~"1|3"}"#;
    let remote = raw_collect(&prom.url, &out2, RawSource::RemoteRead, sel).await;
    let query = raw_collect(&prom.url, &out2, RawSource::Query, sel).await;
    assert_eq!(query.raw_series as usize, INSTANCES * 2);
    for file in ["raw.csv", "raw_series.csv", "raw.json"] {
        let a = std::fs::read(remote.bundle_dir.join(file)).unwrap();
        let b = std::fs::read(query.bundle_dir.join(file)).unwrap();
        assert!(a == b, "{file} differs for {sel}");
    }
}

#[tokio::test]
async fn a_limit_below_one_scrape_of_every_series_still_exports_every_sample_through_queries() {
    // 200 samples: one scrape of fb_many alone (240 series) is over it, so no time chunk, however
    // short, can hold all series; the plan splits by series.
    let prom = fallback_prom(200).await;
    // Time alone cannot do it: a range of one second at a scrape holds one sample per series.
    let one_scrape = reqwest::Client::new()
        .get(format!("{}/api/v1/query", prom.url))
        .query(&[
            ("query", format!("{SELECTOR}[1s]")),
            ("time", (T_FB + 15 * 10).to_string()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(one_scrape.contains("too many samples"), "{one_scrape}");
    let (_d, out) = out_dir();
    let o = raw_collect(&prom.url, &out, RawSource::Query, SELECTOR).await;
    assert_eq!(o.raw_series as i64, ALL_SERIES);
    assert_eq!(o.raw_samples as i64, ALL_SERIES * SCRAPES);
    let p = &manifest(&o)["raw"]["query_plan"];
    assert_eq!(p["request_samples"], 100);
    assert!(p["groups"].as_u64().unwrap() >= 5, "{p}");
    // Every fb_many sample with its known value: rows per series and the sum of the values.
    let series = std::fs::read_to_string(o.bundle_dir.join("raw_series.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(series.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (key, name, inst, cpu) = (col("series"), col("__name__"), col("instance"), col("cpu"));
    let mut many: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in rdr.records() {
        let r = r.unwrap();
        if &r[name] == "fb_many" {
            let i = match &r[inst] {
                "we\"ird\\x.y|z*(1)\nq" => 7,
                other => other[4..6].parse().unwrap(),
            };
            many.insert(r[key].to_owned(), (i, r[cpu].parse().unwrap()));
        }
    }
    assert_eq!(many.len(), INSTANCES * CPUS);
    let mut got: BTreeMap<&str, (i64, f64, i64)> = BTreeMap::new();
    let csv_text = std::fs::read_to_string(o.bundle_dir.join("raw.csv")).unwrap();
    for line in csv_text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let Some(k) = many.get_key_value(f[2]) else {
            continue;
        };
        let e = got.entry(k.0.as_str()).or_default();
        e.0 += 1;
        match f[3] {
            "NaN" => e.2 += 1,
            v => e.1 += v.parse::<f64>().unwrap(),
        }
    }
    assert_eq!(got.len(), INSTANCES * CPUS);
    for (k, (rows, sum, nan)) in got {
        let (i, cpu) = many[k];
        let want: Vec<Option<f64>> = (0..SCRAPES).map(|s| many_value(i, cpu, s)).collect();
        assert_eq!(rows, SCRAPES, "{i} {cpu}");
        assert_eq!(sum, want.iter().flatten().sum::<f64>(), "{i} {cpu}");
        assert_eq!(nan, want.iter().filter(|v| v.is_none()).count() as i64);
    }
}
