use super::*;
use crate::prometheus::remote_read::selector::MatchOp;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    l
}

/// A group's matchers, compiled as Prometheus reads them (regexes anchored; absent label = "").
struct Compiled(Vec<(MatchOp, String, Option<regex::Regex>, String)>);

impl Compiled {
    fn new(m: &[Matcher]) -> Self {
        Compiled(
            m.iter()
                .map(|m| {
                    let re = matches!(m.op, MatchOp::Re | MatchOp::Nre)
                        .then(|| regex::Regex::new(&format!("^(?:{})$", m.value)).unwrap());
                    (m.op, m.name.clone(), re, m.value.clone())
                })
                .collect(),
        )
    }

    fn selects(&self, s: &Labels) -> bool {
        self.0.iter().all(|(op, name, re, want)| {
            let v = value(s, name);
            match (op, re) {
                (MatchOp::Eq, _) => v == want,
                (MatchOp::Neq, _) => v != want,
                (MatchOp::Re, Some(re)) => re.is_match(v),
                (MatchOp::Nre, Some(re)) => !re.is_match(v),
                _ => unreachable!(),
            }
        })
    }
}

fn selects(m: &[Matcher], s: &Labels) -> bool {
    Compiled::new(m).selects(s)
}

/// Every series in exactly one group, no group over `cap`, and each group's count right.
fn assert_partition(series: &[Labels], groups: &[SeriesGroup], cap: u64) {
    let compiled: Vec<Compiled> = groups.iter().map(|g| Compiled::new(&g.matchers)).collect();
    for s in series {
        let n = compiled.iter().filter(|c| c.selects(s)).count();
        assert_eq!(n, 1, "{s:?} is in {n} groups: {groups:#?}");
    }
    for (g, c) in groups.iter().zip(&compiled) {
        let n = series.iter().filter(|s| c.selects(s)).count() as u64;
        assert_eq!(n, g.series, "{g:?}");
        assert!(g.series <= cap, "{g:?} over {cap}");
    }
}

fn node_series(instances: usize, cpus: usize) -> Vec<Labels> {
    let mut out = Vec::new();
    for i in 0..instances {
        for c in 0..cpus {
            for mode in ["idle", "user", "system"] {
                let inst = format!("node{i:02}.example:9100");
                let cpu = c.to_string();
                out.push(labels(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("instance", &inst),
                    ("cpu", &cpu),
                    ("mode", mode),
                ]));
            }
        }
    }
    out
}

#[test]
fn names_are_packed_in_order_up_to_the_cap_and_a_big_name_stands_alone() {
    let counts: Vec<(String, u64)> = [("a", 30), ("b", 20), ("c", 1), ("d", 500), ("e", 50)]
        .iter()
        .map(|(n, c)| ((*n).to_owned(), *c))
        .collect();
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        pack_names(&counts, 50),
        vec![
            NamePack::Names {
                names: names(&["a", "b"]),
                series: 50
            },
            NamePack::Names {
                names: names(&["c"]),
                series: 1
            },
            NamePack::Big {
                name: "d".into(),
                series: 500
            },
            NamePack::Names {
                names: names(&["e"]),
                series: 50
            },
        ]
    );
    assert!(pack_names(&[], 50).is_empty());
}

#[test]
fn a_big_name_is_split_by_its_widest_label_into_groups_under_the_cap() {
    // 20 instances × 4 cpus × 3 modes = 240 series; `instance` has the most values (20).
    let series = node_series(20, 4);
    let groups = split(&series, 50);
    assert_partition(&series, &groups, 50);
    // 12 series per instance, 4 instances per group: 5 groups.
    assert_eq!(groups.len(), 5, "{groups:#?}");
    assert!(groups.iter().all(|g| g.matchers[0].name == "instance"));
    assert_eq!(groups[0].matchers[0].op, MatchOp::Re);
    // The last group selects the rest: an instance the plan never saw lands there.
    let last = groups.last().unwrap();
    assert_eq!(last.matchers[0].op, MatchOp::Nre);
    let unseen = labels(&[
        ("__name__", "node_cpu_seconds_total"),
        ("instance", "new:9100"),
        ("cpu", "0"),
        ("mode", "idle"),
    ]);
    let homes = groups
        .iter()
        .filter(|g| selects(&g.matchers, &unseen))
        .count();
    assert_eq!(homes, 1);
}

#[test]
fn a_value_over_the_cap_is_split_again_by_another_label() {
    // 40 small instances (one series each) and one with 30 cpus: `instance` is the widest
    // label (41 values), and its value `big` alone is over a cap of 20, so it is split by cpu.
    let mut series = Vec::new();
    for i in 0..40 {
        let inst = format!("n{i:02}");
        series.push(labels(&[
            ("__name__", "m"),
            ("instance", &inst),
            ("cpu", "0"),
        ]));
    }
    for c in 0..30 {
        let cpu = c.to_string();
        series.push(labels(&[
            ("__name__", "m"),
            ("instance", "big"),
            ("cpu", &cpu),
        ]));
    }
    let groups = split(&series, 20);
    assert_partition(&series, &groups, 20);
    let nested: Vec<&SeriesGroup> = groups.iter().filter(|g| g.matchers.len() == 2).collect();
    assert_eq!(nested.len(), 2, "{groups:#?}");
    assert!(nested.iter().all(|g| g.matchers[0].value == "big"
        && g.matchers[0].op == MatchOp::Eq
        && g.matchers[1].name == "cpu"));
}

#[test]
fn series_without_the_split_label_are_a_value_of_their_own() {
    let mut series = node_series(10, 2);
    for i in 0..7 {
        let id = i.to_string();
        series.push(labels(&[
            ("__name__", "node_cpu_seconds_total"),
            ("id", &id),
        ]));
    }
    let groups = split(&series, 8);
    assert_partition(&series, &groups, 8);
}

#[test]
fn a_set_under_the_cap_is_one_group_without_matchers() {
    let series = node_series(2, 2);
    assert_eq!(
        split(&series, 12),
        vec![SeriesGroup {
            matchers: vec![],
            series: 12
        }]
    );
}
