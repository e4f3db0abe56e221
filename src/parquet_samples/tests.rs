//! Files written here are read back with the parquet crate's own reader (and pyarrow), so the
//! checks are about what a reader sees, not about the writer's internals.

use super::*;
use parquet::basic::{ConvertedType, Type as PhysicalType};
use parquet::column::reader::{get_typed_column_reader, ColumnReader};
use parquet::data_type::ByteArrayType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::collections::BTreeMap;
use std::fs::File;

/// Everything a file holds, column by column, in file order.
#[derive(Debug, Default)]
pub(super) struct ReadBack {
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    pub query: Vec<String>,
    pub series: Vec<String>,
    /// One vector per label column, one entry per row.
    pub labels: Vec<Vec<Option<String>>>,
    pub row_group_rows: Vec<i64>,
}

fn read_strings(reader: ColumnReader, optional: bool) -> Vec<Option<String>> {
    let mut r = get_typed_column_reader::<ByteArrayType>(reader);
    let mut out = Vec::new();
    loop {
        let mut values = Vec::new();
        let mut levels = Vec::new();
        let (records, _, _) = r
            .read_records(4096, optional.then_some(&mut levels), None, &mut values)
            .unwrap();
        if records == 0 {
            break;
        }
        let mut values = values.into_iter();
        if optional {
            for level in levels {
                out.push(
                    (level == 1).then(|| values.next().unwrap().as_utf8().unwrap().to_owned()),
                );
            }
        } else {
            out.extend(values.map(|v| Some(v.as_utf8().unwrap().to_owned())));
        }
    }
    out
}

pub(super) fn read_back(file: File) -> ReadBack {
    let reader = SerializedFileReader::new(file).unwrap();
    let labels = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .num_columns()
        - 4;
    let mut out = ReadBack {
        labels: vec![Vec::new(); labels],
        ..ReadBack::default()
    };
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).unwrap();
        out.row_group_rows.push(rg.metadata().num_rows());
        let mut ts = get_typed_column_reader::<Int64Type>(rg.get_column_reader(0).unwrap());
        loop {
            let mut v = Vec::new();
            let (n, _, _) = ts.read_records(4096, None, None, &mut v).unwrap();
            if n == 0 {
                break;
            }
            out.timestamps.extend(v);
        }
        let mut vals = get_typed_column_reader::<DoubleType>(rg.get_column_reader(1).unwrap());
        loop {
            let mut v = Vec::new();
            let (n, _, _) = vals.read_records(4096, None, None, &mut v).unwrap();
            if n == 0 {
                break;
            }
            out.values.extend(v);
        }
        let flat = |v: Vec<Option<String>>| v.into_iter().map(Option::unwrap);
        out.query
            .extend(flat(read_strings(rg.get_column_reader(2).unwrap(), false)));
        out.series
            .extend(flat(read_strings(rg.get_column_reader(3).unwrap(), false)));
        for (l, column) in out.labels.iter_mut().enumerate() {
            column.extend(read_strings(rg.get_column_reader(4 + l).unwrap(), true));
        }
    }
    out
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn options(row_group_rows: usize) -> ParquetOptions {
    ParquetOptions {
        row_group_rows,
        ..ParquetOptions::default()
    }
}

fn new_writer(labels: &[&str], row_group_rows: usize) -> SampleParquetWriter<File> {
    SampleParquetWriter::new(
        tempfile::tempfile().unwrap(),
        &names(labels),
        options(row_group_rows),
    )
    .unwrap()
}

fn finish(w: SampleParquetWriter<File>) -> (ParquetSummary, File) {
    w.finish_into_inner().unwrap()
}

#[test]
fn schema_has_millisecond_utc_timestamps_doubles_required_strings_and_optional_label_strings() {
    let mut w = new_writer(&["instance", "job"], 100);
    w.write_series("up", "s0000000000000001", [("job", "node")], &[(1, 1.0)])
        .unwrap();
    let (_, file) = finish(w);
    let reader = SerializedFileReader::new(file).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let cols: Vec<_> = (0..schema.num_columns())
        .map(|i| schema.column(i))
        .collect();
    let names: Vec<_> = cols.iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(
        names,
        ["timestamp", "value", "query", "series", "instance", "job"]
    );

    assert_eq!(cols[0].physical_type(), PhysicalType::INT64);
    assert_eq!(
        cols[0].logical_type_ref(),
        Some(&LogicalType::timestamp(true, TimeUnit::MILLIS))
    );
    assert_eq!(cols[0].converted_type(), ConvertedType::TIMESTAMP_MILLIS);
    assert_eq!(cols[1].physical_type(), PhysicalType::DOUBLE);
    assert_eq!(cols[1].logical_type_ref(), None);
    for (i, c) in cols.iter().enumerate().skip(2) {
        assert_eq!(c.physical_type(), PhysicalType::BYTE_ARRAY, "{}", c.name());
        assert_eq!(
            c.logical_type_ref(),
            Some(&LogicalType::String),
            "{}",
            c.name()
        );
        let optional = c.self_type().get_basic_info().repetition() == Repetition::OPTIONAL;
        assert_eq!(optional, i >= 4, "{} optional", c.name());
    }
    for c in cols.iter().take(2) {
        assert_eq!(
            c.self_type().get_basic_info().repetition(),
            Repetition::REQUIRED
        );
    }

    // The chosen encodings are the ones in force, and pages are zstd-compressed.
    let rg = reader.metadata().row_group(0);
    let encodings = |i: usize| rg.column(i).encodings().collect::<Vec<_>>();
    assert!(
        encodings(0).contains(&Encoding::DELTA_BINARY_PACKED),
        "{:?}",
        encodings(0)
    );
    assert!(
        encodings(1).contains(&Encoding::PLAIN),
        "{:?}",
        encodings(1)
    );
    assert!(
        !encodings(1).contains(&Encoding::RLE_DICTIONARY),
        "{:?}",
        encodings(1)
    );
    for i in 2..6 {
        assert!(
            encodings(i).contains(&Encoding::RLE_DICTIONARY),
            "{:?}",
            encodings(i)
        );
    }
    for i in 0..6 {
        assert!(matches!(rg.column(i).compression(), Compression::ZSTD(_)));
    }
}

#[test]
fn values_come_back_bit_exact_including_nan_payloads_and_infinities() {
    // Prometheus' staleness marker is a NaN with payload 2; it must survive as such.
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let samples = [
        (1_700_000_000_000, 0.0),
        (1_700_000_001_003, -0.0),
        (1_700_000_002_001, f64::NAN),
        (1_700_000_003_000, stale),
        (1_700_000_004_002, f64::INFINITY),
        (1_700_000_005_001, f64::NEG_INFINITY),
        (1_700_000_006_000, 1e308),
        (1_700_000_007_000, f64::MIN_POSITIVE),
        (-5, 123_456.78),
    ];
    let mut w = new_writer(&[], 100);
    w.write_series(
        "q",
        "s00000000000000aa",
        Vec::<(&str, &str)>::new(),
        &samples,
    )
    .unwrap();
    let (summary, file) = finish(w);
    assert_eq!(summary.rows, samples.len() as u64);
    assert_eq!(summary.row_groups, 1);
    assert_eq!(summary.bytes, file.metadata().unwrap().len());
    let back = read_back(file);
    assert_eq!(back.timestamps, samples.map(|s| s.0));
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back.values), bits(&samples.map(|s| s.1)));
    assert_eq!(back.query, vec!["q"; samples.len()]);
    assert_eq!(back.series, vec!["s00000000000000aa"; samples.len()]);
}

#[test]
fn labels_a_series_lacks_are_null_and_the_others_are_in_their_columns() {
    let mut w = new_writer(&["__name__", "cpu", "mode", "device"], 100);
    w.write_series(
        "cpu",
        "sa",
        [
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "0"),
            ("mode", "idle"),
        ],
        &[(1, 1.0), (2, 2.0)],
    )
    .unwrap();
    w.write_series(
        "disk",
        "sb",
        [
            ("device", "sda"),
            ("__name__", "node_disk_read_bytes_total"),
        ],
        &[(1, 3.0)],
    )
    .unwrap();
    w.write_series("plain", "sc", [("mode", "")], &[(1, 4.0)])
        .unwrap();
    let back = read_back(finish(w).1);
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        back.labels,
        vec![
            vec![
                s("node_cpu_seconds_total"),
                s("node_cpu_seconds_total"),
                s("node_disk_read_bytes_total"),
                None
            ],
            vec![s("0"), s("0"), None, None],
            vec![s("idle"), s("idle"), None, s("")],
            vec![None, None, s("sda"), None],
        ]
    );
    assert_eq!(back.query, ["cpu", "cpu", "disk", "plain"]);
    assert_eq!(back.series, ["sa", "sa", "sb", "sc"]);
    assert_eq!(back.values, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn row_groups_split_at_row_group_rows_even_inside_one_series() {
    let mut w = new_writer(&["job"], 3);
    let a: Vec<(i64, f64)> = (0..7).map(|i| (i, i as f64)).collect();
    w.write_series("q", "sa", [("job", "a")], &a).unwrap();
    w.write_series("q", "sb", [("job", "b")], &[(0, 10.0), (1, 11.0)])
        .unwrap();
    let (summary, file) = finish(w);
    assert_eq!(
        summary,
        ParquetSummary {
            rows: 9,
            row_groups: 3,
            bytes: summary.bytes
        }
    );
    let back = read_back(file);
    assert_eq!(back.row_group_rows, [3, 3, 3]);
    assert_eq!(back.timestamps, [0, 1, 2, 3, 4, 5, 6, 0, 1]);
    assert_eq!(
        back.series,
        ["sa", "sa", "sa", "sa", "sa", "sa", "sa", "sb", "sb"]
    );
    let job: Vec<_> = back.labels[0]
        .iter()
        .map(|l| l.as_deref().unwrap())
        .collect();
    assert_eq!(job, ["a", "a", "a", "a", "a", "a", "a", "b", "b"]);
}

#[test]
fn row_groups_also_end_at_row_group_series_but_never_inside_a_series() {
    let mut w = SampleParquetWriter::new(
        tempfile::tempfile().unwrap(),
        &names(&["job"]),
        ParquetOptions {
            row_group_series: 2,
            ..ParquetOptions::default()
        },
    )
    .unwrap();
    for (key, job) in [("sa", "a"), ("sb", "b"), ("sc", "c")] {
        w.write_series("q", key, [("job", job)], &[(0, 1.0), (1, 2.0)])
            .unwrap();
    }
    // A second piece of the series just written stays in its row group.
    w.write_series("q", "sc", [("job", "c")], &[(2, 3.0)])
        .unwrap();
    w.write_series("q", "sd", [("job", "d")], &[(0, 4.0)])
        .unwrap();
    let (summary, file) = finish(w);
    assert_eq!(summary.row_groups, 2);
    let back = read_back(file);
    assert_eq!(back.row_group_rows, [4, 4]);
    assert_eq!(
        back.series,
        ["sa", "sa", "sb", "sb", "sc", "sc", "sc", "sd"]
    );
    assert_eq!(back.timestamps, [0, 1, 0, 1, 0, 1, 2, 0]);
}

#[test]
fn a_series_written_in_pieces_or_interleaved_keeps_its_own_strings() {
    let mut w = new_writer(&["job"], 4);
    w.write_series("q", "sa", [("job", "a")], &[(0, 0.0)])
        .unwrap();
    w.write_series("q", "sb", [("job", "b")], &[(0, 1.0)])
        .unwrap();
    w.write_series("q", "sa", [("job", "a")], &[(1, 2.0), (2, 3.0)])
        .unwrap();
    // Same key, different query: a different series.
    w.write_series("r", "sa", [("job", "a")], &[(0, 4.0)])
        .unwrap();
    w.write_series("q", "sb", [("job", "b")], &[(1, 5.0)])
        .unwrap();
    let back = read_back(finish(w).1);
    assert_eq!(back.row_group_rows, [4, 2]);
    assert_eq!(back.query, ["q", "q", "q", "q", "r", "q"]);
    assert_eq!(back.series, ["sa", "sb", "sa", "sa", "sa", "sb"]);
    assert_eq!(back.values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let job: Vec<_> = back.labels[0]
        .iter()
        .map(|l| l.as_deref().unwrap())
        .collect();
    assert_eq!(job, ["a", "b", "a", "a", "a", "b"]);
}

#[test]
fn runs_longer_than_one_write_batch_are_written_whole() {
    let n = BATCH_ROWS * 2 + 17;
    let mut w = new_writer(&["job", "absent"], 1 << 20);
    let samples: Vec<(i64, f64)> = (0..n as i64).map(|i| (i * 1000, 1.0)).collect();
    w.write_series("q", "sa", [("job", "a")], &samples).unwrap();
    w.write_series("q", "sb", [("job", "b")], &samples[..5])
        .unwrap();
    let back = read_back(finish(w).1);
    assert_eq!(back.timestamps.len(), n + 5);
    assert_eq!(back.series.iter().filter(|s| *s == "sa").count(), n);
    assert_eq!(back.labels[0][n - 1].as_deref(), Some("a"));
    assert_eq!(back.labels[0][n].as_deref(), Some("b"));
    assert!(back.labels[1].iter().all(Option::is_none));
}

#[test]
fn the_footer_names_the_format_and_benchmon_as_the_writer() {
    let (_, file) = finish(new_writer(&[], 10));
    let reader = SerializedFileReader::new(file).unwrap();
    let meta = reader.metadata().file_metadata();
    let kv = meta.key_value_metadata().unwrap();
    let format: Vec<_> = kv.iter().filter(|kv| kv.key == FORMAT_KEY).collect();
    assert_eq!(format.len(), 1);
    assert_eq!(format[0].value.as_deref(), Some("benchmon.samples/v1"));
    assert_eq!(
        meta.created_by(),
        Some(concat!("benchmon version ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn an_undeclared_label_is_an_error_naming_it_and_writes_nothing() {
    let mut w = new_writer(&["job"], 10);
    let err = w
        .write_series(
            "q",
            "sa",
            [("job", "a"), ("instance", "h:9100")],
            &[(0, 1.0)],
        )
        .unwrap_err();
    match &err {
        SampleParquetError::UndeclaredLabel {
            query,
            series,
            label,
        } => assert_eq!((&**query, &**series, &**label), ("q", "sa", "instance")),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("\"instance\""), "{err}");
    w.write_series("q", "sa", [("job", "a")], &[(5, 2.0)])
        .unwrap();
    let (summary, file) = finish(w);
    assert_eq!(summary.rows, 1);
    assert_eq!(read_back(file).timestamps, [5]);
}

#[test]
fn a_label_given_twice_for_one_series_is_an_error() {
    let mut w = new_writer(&["job"], 10);
    let err = w
        .write_series("q", "sa", [("job", "a"), ("job", "b")], &[(0, 1.0)])
        .unwrap_err();
    assert!(
        matches!(&err, SampleParquetError::RepeatedLabel { label, .. } if label == "job"),
        "{err:?}"
    );
}

#[test]
fn a_label_name_declared_twice_is_an_error() {
    let err = SampleParquetWriter::new(
        tempfile::tempfile().unwrap(),
        &names(&["job", "cpu", "job"]),
        ParquetOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, SampleParquetError::DuplicateLabelName { name } if name == "job"),
        "{err:?}"
    );
}

#[test]
fn zero_row_group_rows_and_unknown_zstd_levels_are_rejected() {
    let err = SampleParquetWriter::new(tempfile::tempfile().unwrap(), &[], options(0)).unwrap_err();
    assert!(
        matches!(err, SampleParquetError::RowGroupRows { rows: 0, .. }),
        "{err:?}"
    );
    let no_series = ParquetOptions {
        row_group_series: 0,
        ..ParquetOptions::default()
    };
    let err = SampleParquetWriter::new(tempfile::tempfile().unwrap(), &[], no_series).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("row_group_series must be between 1 and {}, not 0", u32::MAX)
    );
    let err = SampleParquetWriter::new(
        tempfile::tempfile().unwrap(),
        &[],
        ParquetOptions {
            zstd_level: 99,
            ..ParquetOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, SampleParquetError::ZstdLevel { level: 99, .. }),
        "{err:?}"
    );
}

#[test]
fn labels_named_like_fixed_columns_get_the_label_prefix_until_unique() {
    let declared = ["value", "label_value", "series", "instance", "timestamp"];
    assert_eq!(
        label_column_names(&names(&declared)).unwrap(),
        [
            "label_label_value",
            "label_value",
            "label_series",
            "instance",
            "label_timestamp"
        ]
    );
    let mut w = new_writer(&declared, 10);
    assert_eq!(w.label_columns()[0], "label_label_value");
    w.write_series(
        "q",
        "sa",
        [
            ("value", "v"),
            ("label_value", "lv"),
            ("series", "s"),
            ("timestamp", "t"),
        ],
        &[(7, 8.0)],
    )
    .unwrap();
    let (_, file) = finish(w);
    let back = read_back(file.try_clone().unwrap());
    assert_eq!(back.timestamps, [7]);
    assert_eq!(back.values, [8.0]);
    assert_eq!(back.series, ["sa"]);
    let s = |v: &str| vec![Some(v.to_owned())];
    assert_eq!(back.labels, [s("v"), s("lv"), s("s"), vec![None], s("t")]);
    let reader = SerializedFileReader::new(file).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let cols: Vec<_> = (0..schema.num_columns())
        .map(|i| schema.column(i).name().to_owned())
        .collect();
    assert_eq!(
        cols,
        [
            "timestamp",
            "value",
            "query",
            "series",
            "label_label_value",
            "label_value",
            "label_series",
            "instance",
            "label_timestamp"
        ]
    );
}

#[test]
fn labels_may_come_as_a_btreemap_or_a_vec_of_owned_pairs() {
    let mut w = new_writer(&["a", "b"], 10);
    let map: BTreeMap<String, String> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
    w.write_series("q", "sa", &map, &[(0, 0.0)]).unwrap();
    let pairs: Vec<(String, String)> = vec![("b".into(), "3".into())];
    w.write_series("q", "sb", &pairs, &[(0, 0.0)]).unwrap();
    let back = read_back(finish(w).1);
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(back.labels, [vec![s("1"), None], vec![s("2"), s("3")]]);
}

#[test]
fn an_empty_file_is_valid_parquet_with_zero_rows() {
    let (summary, file) = finish(new_writer(&["job"], 10));
    assert_eq!(
        summary,
        ParquetSummary {
            rows: 0,
            row_groups: 0,
            bytes: file.metadata().unwrap().len()
        }
    );
    let reader = SerializedFileReader::new(file.try_clone().unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    assert_eq!(reader.num_row_groups(), 0);
    assert_eq!(
        reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .num_columns(),
        5
    );
    let back = read_back(file);
    assert!(back.timestamps.is_empty());
}

/// The pyarrow check: a file this module writes opens in pandas with the types analyses want.
/// Fails (never skips) when pyarrow is missing, so that CI cannot pass without it.
#[test]
fn pyarrow_reads_the_file_into_pandas_with_utc_millisecond_timestamps_floats_and_strings() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import pyarrow, pandas"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "python3 cannot import pyarrow and pandas; install them with `pip install pyarrow \
             pandas`: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("python3 is needed to check the Parquet files with pyarrow: {e}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.parquet");
    let mut w = SampleParquetWriter::new(
        File::create(&path).unwrap(),
        &names(&["instance", "value", "empty"]),
        options(2),
    )
    .unwrap();
    w.write_series(
        "up",
        "s0123456789abcdef",
        [("instance", "n1:9100"), ("value", "x")],
        &[(1_700_000_000_000, 1.0), (1_700_000_015_002, f64::NAN)],
    )
    .unwrap();
    w.write_series(
        "up",
        "s1123456789abcdef",
        [("instance", "n2:9100")],
        &[(1_700_000_000_001, f64::INFINITY)],
    )
    .unwrap();
    assert_eq!(w.finish().unwrap().row_groups, 2);

    let script = r#"
import math, sys
import pyarrow as pa, pyarrow.parquet as pq, pandas as pd
t = pq.read_table(sys.argv[1])
assert t.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC"), t.schema
assert t.schema.field("value").type == pa.float64(), t.schema
for c in ["query", "series", "instance", "label_value", "empty"]:
    assert pa.types.is_string(t.schema.field(c).type) or pa.types.is_large_string(t.schema.field(c).type), t.schema
assert not t.schema.field("timestamp").nullable and t.schema.field("instance").nullable, t.schema
assert (pq.ParquetFile(sys.argv[1]).schema_arrow.metadata or {}).get(b"benchmon.format") == b"benchmon.samples/v1"
df = t.to_pandas()
assert len(df) == 3, len(df)
assert str(df["timestamp"].dtype) == "datetime64[ms, UTC]", df.dtypes
assert str(df["value"].dtype) == "float64", df.dtypes
for c in ["query", "series", "instance", "label_value", "empty"]:
    assert pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object, (c, df.dtypes)
assert df["timestamp"][1] == pd.Timestamp("2023-11-14T22:13:35.002Z"), df["timestamp"][1]
assert df["value"][0] == 1.0 and math.isnan(df["value"][1]) and df["value"][2] == math.inf
assert list(df["instance"]) == ["n1:9100", "n1:9100", "n2:9100"]
assert df["label_value"][0] == "x" and pd.isna(df["label_value"][2])
assert df["empty"].isna().all()
assert list(df["series"]) == ["s0123456789abcdef"] * 2 + ["s1123456789abcdef"]
print("ok", len(df))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 3");
}

/// The string columns benchmon encodes itself (dictionary page, RLE indices, levels), read by
/// another implementation: two data pages per column with the boundary inside a series, indices
/// two bytes wide (300 distinct values), nulls on every other series, all checked row by row.
#[test]
fn pyarrow_reads_every_row_of_multi_page_dictionary_columns_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.parquet");
    let mut w = SampleParquetWriter::new(
        File::create(&path).unwrap(),
        &names(&["node"]),
        options(1 << 20),
    )
    .unwrap();
    let (series, per_series) = (400, 400);
    for i in 0..series {
        let samples: Vec<(i64, f64)> = (0..per_series).map(|t| (t * 1000, i as f64)).collect();
        let node = format!("n{}", i % 300);
        let labels: Vec<(&str, &str)> = if i % 2 == 0 {
            vec![("node", node.as_str())]
        } else {
            Vec::new()
        };
        w.write_series("q", &format!("s{i}"), labels, &samples)
            .unwrap();
    }
    let summary = w.finish().unwrap();
    assert_eq!(summary.rows, (series * per_series) as u64);
    assert!(summary.rows as usize > super::schema::PAGE_ROWS);

    let script = r#"
import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
per = int(sys.argv[2])
series, node = t.column("series").to_pylist(), t.column("node").to_pylist()
for r, (s, n) in enumerate(zip(series, node)):
    i = r // per
    assert s == f"s{i}", (r, s)
    assert n == (f"n{i % 300}" if i % 2 == 0 else None), (r, n)
print("ok", len(series), sum(n is None for n in node))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg(per_series.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok 160000 80000"
    );
}
