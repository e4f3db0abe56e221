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
    /// The next series with the same hash (a chain through the table), or [`END`].
    next: u32,
}

pub(super) struct SeriesTable {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// Per label column, one slot per entry: `None` where the series lacks the label.
    /// Column-major, as the row group is written a column at a time: a column's values are
    /// read in order, where a row-major table read them a whole row apart (at 54 label
    /// columns that cache miss per value was a tenth of a raw export's CPU).
    labels: Vec<Vec<Option<Span>>>,
    /// First entry of each hash (the others follow `Entry::next`).
    by_hash: FxHashMap<u64, u32>,
}

impl SeriesTable {
    pub(super) fn new(label_columns: usize) -> Self {
        Self {
            arena: Vec::new(),
            entries: Vec::new(),
            labels: (0..label_columns).map(|_| Vec::new()).collect(),
            by_hash: FxHashMap::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.labels.iter_mut().for_each(Vec::clear);
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
        // One slot per column, whatever `labels` holds: the columns stay aligned.
        for column in 0..self.labels.len() {
            let span = labels
                .get(column)
                .copied()
                .flatten()
                .map(|l| self.push_text(l));
            self.labels[column].push(span);
        }
        let next = self.by_hash.insert(hash, index).unwrap_or(END);
        self.entries.push(Entry {
            hash,
            query,
            series,
            next,
        });
        index
    }

    fn same_labels(&self, index: u32, labels: &[Option<&str>]) -> bool {
        labels.len() == self.labels.len()
            && self.labels.iter().zip(labels).all(|(slots, b)| {
                slots
                    .get(index as usize)
                    .is_some_and(|a| a.map(|a| self.text(a)) == b.map(str::as_bytes))
            })
    }

    /// The value of string column `column` (0 `query`, 1 `series`, then the labels) for entry
    /// `index`; `None` for a label the series lacks.
    pub(super) fn value(&self, index: u32, column: usize) -> Option<&[u8]> {
        let e = self.entries.get(index as usize)?;
        match column {
            0 => Some(self.text(e.query)),
            1 => Some(self.text(e.series)),
            label => {
                let span = self.labels.get(label - 2)?.get(index as usize)?;
                span.map(|s| self.text(s))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((a, b, c, t.len()), (0, 1, 2, 3));
        assert_eq!(t.value(b, 0), Some(b"q".as_slice()));
        assert_eq!(t.value(b, 1), Some(b"s2".as_slice()));
        assert_eq!(t.value(b, 3), Some(b"z".as_slice()));
        assert_eq!(t.value(a, 3), None);
        assert_eq!(t.value(c, 2), Some(b"w".as_slice()));
        assert!(t.is(a, "q", "s1") && !t.is(a, "q", "s2"));
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.intern("q", "s2", &[None, None]), 0);
    }
}
