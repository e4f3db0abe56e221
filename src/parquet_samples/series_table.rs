//! The distinct series of the row group being buffered, with their strings.
//!
//! Why not a `ByteArray` per string: at 12 samples a series (a 500-node session, a one-minute
//! window) the per-series allocations (query, key and every label, each its own buffer, and a
//! vector of them) cost more than the samples. Here every string of the row group lives in one
//! arena and a series is a few offsets into it; the table is emptied, capacity kept, when the
//! row group is written.

use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

/// A string in the arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

/// No further series with the same hash.
const END: u32 = u32::MAX;

struct Entry {
    hash: u64,
    query: Span,
    series: Span,
    /// Its labels: `labels[labels_from..labels_to]`.
    labels_from: usize,
    labels_to: usize,
    /// The next series with the same hash (a chain through the table), or [`END`].
    next: u32,
}

pub(super) struct SeriesTable {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// The labels the series have, as (label column, value), entry after entry and in
    /// column order within one: only those a series has. A raw export has a column per label
    /// name of the session (54 for node exporter series), a series ≈ 10 of them; a slot per
    /// column cost a tenth of the export's CPU.
    labels: Vec<(usize, Span)>,
    label_columns: usize,
    /// First entry of each hash (the others follow `Entry::next`).
    by_hash: FxHashMap<u64, u32>,
}

impl SeriesTable {
    pub(super) fn new(label_columns: usize) -> Self {
        Self {
            arena: Vec::new(),
            entries: Vec::new(),
            labels: Vec::new(),
            label_columns,
            by_hash: FxHashMap::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.labels.clear();
        self.by_hash.clear();
    }

    fn text(&self, span: Span) -> &[u8] {
        &self.arena[span.start..span.start + span.len]
    }

    fn push_text(&mut self, s: &str) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(s.as_bytes());
        Span {
            start,
            len: s.len(),
        }
    }

    /// Whether entry `index` is `(query, series)`.
    pub(super) fn is(&self, index: u32, query: &str, series: &str) -> bool {
        self.entries.get(index as usize).is_some_and(|e| {
            self.text(e.query) == query.as_bytes() && self.text(e.series) == series.as_bytes()
        })
    }

    /// Index of the series, adding it if new. `labels` has one slot per label column.
    pub(super) fn intern(&mut self, query: &str, series: &str, labels: &[Option<&str>]) -> u32 {
        // The series key stands for the labels: hashing it finds the candidates, and the
        // labels are compared too.
        let mut h = FxHasher::default();
        h.write(query.as_bytes());
        h.write_u8(0xff);
        h.write(series.as_bytes());
        let hash = h.finish();
        let mut at = self.by_hash.get(&hash).copied().unwrap_or(END);
        while at != END {
            let e = &self.entries[at as usize];
            if e.hash == hash && self.is(at, query, series) && self.same_labels(at, labels) {
                return at;
            }
            at = e.next;
        }
        // At most one entry per buffered row, and rows per group fit in u32.
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let (query, series) = (self.push_text(query), self.push_text(series));
        let labels_from = self.labels.len();
        for (column, label) in labels.iter().enumerate().take(self.label_columns) {
            if let Some(l) = label {
                let span = self.push_text(l);
                self.labels.push((column, span));
            }
        }
        let next = self.by_hash.insert(hash, index).unwrap_or(END);
        self.entries.push(Entry {
            hash,
            query,
            series,
            labels_from,
            labels_to: self.labels.len(),
            next,
        });
        index
    }

    /// The labels of entry `index`, as (label column, value).
    fn labels_of(&self, index: u32) -> &[(usize, Span)] {
        self.entries
            .get(index as usize)
            .and_then(|e| self.labels.get(e.labels_from..e.labels_to))
            .unwrap_or_default()
    }

    fn same_labels(&self, index: u32, labels: &[Option<&str>]) -> bool {
        let mut have = self.labels_of(index).iter();
        labels.len() == self.label_columns
            && labels
                .iter()
                .enumerate()
                .filter_map(|(column, l)| Some((column, (*l)?)))
                .all(|(column, l)| {
                    have.next()
                        .is_some_and(|&(c, span)| c == column && self.text(span) == l.as_bytes())
                })
            && have.next().is_none()
    }

    /// Every value of every string column (0 `query`, 1 `series`, then the labels), as
    /// (entry, column, value), entry after entry: nulls are not visited.
    pub(super) fn for_each_value<'s>(&'s self, mut f: impl FnMut(u32, usize, &'s [u8])) {
        for (index, e) in self.entries.iter().enumerate() {
            // Entries fit in u32 (at most one per buffered row).
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            f(index, 0, self.text(e.query));
            f(index, 1, self.text(e.series));
            for &(column, span) in self.labels_of(index) {
                f(index, column + 2, self.text(span));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of string column `column` for entry `index`, as `for_each_value` gives it.
    fn value(t: &SeriesTable, index: u32, column: usize) -> Option<&[u8]> {
        let mut found = None;
        t.for_each_value(|i, c, v| {
            if (i, c) == (index, column) {
                assert!(found.replace(v).is_none(), "({i}, {c}) visited twice");
            }
        });
        found
    }

    #[test]
    fn equal_series_share_an_entry_and_colliding_keys_are_told_apart_by_their_labels() {
        let mut t = SeriesTable::new(2);
        let a = t.intern("q", "s1", &[Some("x"), None]);
        let b = t.intern("q", "s2", &[Some("y"), Some("z")]);
        assert_eq!(t.intern("q", "s1", &[Some("x"), None]), a);
        // Same query and key, other labels (a 64-bit key collision): its own entry.
        let c = t.intern("q", "s1", &[Some("w"), None]);
        assert_ne!(c, a);
        assert_eq!(t.intern("q", "s1", &[Some("w"), None]), c);
        // The same value under another label name is another series.
        let d = t.intern("q", "s1", &[None, Some("x")]);
        assert_eq!(d, 3);
        assert_eq!(value(&t, d, 2), None);
        assert_eq!(value(&t, d, 3), Some(b"x".as_slice()));
        assert_eq!(t.intern("q", "s1", &[None, Some("x")]), d);
        assert_eq!((a, b, c, t.len()), (0, 1, 2, 4));
        assert_eq!(value(&t, b, 0), Some(b"q".as_slice()));
        assert_eq!(value(&t, b, 1), Some(b"s2".as_slice()));
        assert_eq!(value(&t, b, 3), Some(b"z".as_slice()));
        assert_eq!(value(&t, a, 3), None);
        assert_eq!(value(&t, c, 2), Some(b"w".as_slice()));
        assert!(t.is(a, "q", "s1") && !t.is(a, "q", "s2"));
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.intern("q", "s2", &[None, None]), 0);
    }
}
