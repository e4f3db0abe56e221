//! The series side of the fallback plan, pure: metric names packed into groups of at most `cap`
//! series, and a name with more series than that split by the values of its other labels.
//!
//! A split takes the label with the most distinct values among the name's series, packs its
//! values (in order) into groups of at most `cap` series, and splits again, by another label, a
//! value that alone has more. The last group of a split selects its values with `!~` the values
//! of every other group, so the groups together select every series of the name — also one
//! whose value the plan did not see.

use super::promql::one_of;
use crate::export::matrix::Labels;
use crate::prometheus::remote_read::selector::{MatchOp, Matcher};
use std::collections::{BTreeMap, BTreeSet};

/// Most names one group's `__name__` regex lists (a bound on the request's length).
const MAX_NAMES_PER_GROUP: usize = 1000;
/// Most labels a split fixes, one inside the other (a set of distinct series always has a label
/// that tells two apart, so this is only a guard).
const MAX_DEPTH: usize = 8;

/// Consecutive metric names whose series are fetched together, or one name with too many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NamePack {
    Names { names: Vec<String>, series: u64 },
    Big { name: String, series: u64 },
}

/// Packs `counts` (series per name, in name order) into groups of at most `cap` series.
pub(crate) fn pack_names(counts: &[(String, u64)], cap: u64) -> Vec<NamePack> {
    let mut out = Vec::new();
    let (mut names, mut series) = (Vec::new(), 0u64);
    let flush = |names: &mut Vec<String>, series: &mut u64, out: &mut Vec<NamePack>| {
        if !names.is_empty() {
            out.push(NamePack::Names {
                names: std::mem::take(names),
                series: std::mem::take(series),
            });
        }
    };
    for (name, n) in counts {
        if *n > cap {
            flush(&mut names, &mut series, &mut out);
            out.push(NamePack::Big {
                name: name.clone(),
                series: *n,
            });
            continue;
        }
        if series + n > cap || names.len() == MAX_NAMES_PER_GROUP {
            flush(&mut names, &mut series, &mut out);
        }
        names.push(name.clone());
        series += n;
    }
    flush(&mut names, &mut series, &mut out);
    out
}

/// Matchers that select one group's series, and how many it had when planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesGroup {
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) series: u64,
}

/// Splits the series of one name (`series`, label sets sorted by name) into groups of at most
/// `cap` series, by their labels' values.
pub(crate) fn split(series: &[Labels], cap: u64) -> Vec<SeriesGroup> {
    let mut out = Vec::new();
    let refs: Vec<&Labels> = series.iter().collect();
    split_into(&refs, &mut Vec::new(), Vec::new(), cap.max(1), &mut out);
    out
}

fn value<'a>(labels: &'a Labels, name: &str) -> &'a str {
    labels
        .binary_search_by(|(k, _)| k.as_str().cmp(name))
        .ok()
        .and_then(|i| labels.get(i))
        .map_or("", |(_, v)| v.as_str())
}

/// The label not in `fixed` with the most distinct values among `series` (the first by name on a
/// tie), if one has more than one.
fn widest_label<'a>(series: &[&'a Labels], fixed: &[String]) -> Option<&'a str> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for s in series {
        names.extend(s.iter().map(|(k, _)| k.as_str()));
    }
    names.remove("__name__");
    let mut best: Option<(&str, usize)> = None;
    for name in names.into_iter().filter(|n| !fixed.iter().any(|f| f == n)) {
        let distinct: BTreeSet<&str> = series.iter().map(|s| value(s, name)).collect();
        if distinct.len() > best.map_or(1, |(_, n)| n) {
            best = Some((name, distinct.len()));
        }
    }
    best.map(|(name, _)| name)
}

fn split_into(
    series: &[&Labels],
    fixed: &mut Vec<String>,
    matchers: Vec<Matcher>,
    cap: u64,
    out: &mut Vec<SeriesGroup>,
) {
    let whole = |out: &mut Vec<SeriesGroup>, matchers| {
        out.push(SeriesGroup {
            matchers,
            series: series.len() as u64,
        })
    };
    if series.len() as u64 <= cap || fixed.len() == MAX_DEPTH {
        return whole(out, matchers);
    }
    let Some(label) = widest_label(series, fixed) else {
        return whole(out, matchers);
    };
    let mut by_value: BTreeMap<&str, Vec<&Labels>> = BTreeMap::new();
    for s in series {
        by_value.entry(value(s, label)).or_default().push(s);
    }
    // Packs of values in order; a value over the cap alone is split further.
    let mut packs: Vec<Vec<&str>> = vec![Vec::new()];
    let mut pack_series = 0u64;
    let mut over: Vec<&str> = Vec::new();
    for (v, members) in &by_value {
        let n = members.len() as u64;
        if n > cap {
            over.push(v);
            continue;
        }
        if pack_series + n > cap {
            packs.push(Vec::new());
            pack_series = 0;
        }
        pack_series += n;
        if let Some(last) = packs.last_mut() {
            last.push(v);
        }
    }
    fixed.push(label.to_owned());
    for v in &over {
        let mut m = matchers.clone();
        m.push(one_of(label, &[v]));
        split_into(&by_value[v], fixed, m, cap, out);
    }
    fixed.pop();
    let count = |values: &[&str]| -> u64 { values.iter().map(|v| by_value[v].len() as u64).sum() };
    packs.retain(|p| !p.is_empty());
    let last = packs.pop().unwrap_or_default();
    for p in &packs {
        let mut m = matchers.clone();
        m.push(one_of(label, p));
        out.push(SeriesGroup {
            matchers: m,
            series: count(p),
        });
    }
    // The rest: every value no other group of this split selects.
    let others: Vec<&str> = packs.iter().flatten().chain(&over).copied().collect();
    let mut m = matchers;
    if !others.is_empty() {
        let mut rest = one_of(label, &others);
        rest.op = match rest.op {
            MatchOp::Eq => MatchOp::Neq,
            _ => MatchOp::Nre,
        };
        m.push(rest);
    }
    out.push(SeriesGroup {
        matchers: m,
        series: count(&last),
    });
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
