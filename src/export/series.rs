//! Series identity: the canonical label string and the short key used in `samples.csv`.

use super::matrix::Labels;
use sha2::{Digest, Sha256};

/// `{__name__="up",job="a\"b"}`: labels in name order, values escaped as in PromQL.
pub(crate) fn label_string(labels: &Labels) -> String {
    let mut s = String::with_capacity(
        2 + labels
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>(),
    );
    push_label_string(labels, &mut s);
    s
}

/// [`label_string`] appended to `s`.
fn push_label_string(labels: &Labels, s: &mut String) {
    s.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        // Most values need no escaping: copied whole, not char by char.
        if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
            s.push_str(v);
            s.push('"');
            continue;
        }
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
}

thread_local! {
    /// The label string being hashed by [`series_key`], reused: one allocation per thread,
    /// not per series.
    static KEY_SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `s` and 16 hex digits of sha256(query name, NUL, label string): the same series of the same
/// query gets the same key in every collection. The letter keeps CSV readers (pandas) from
/// taking an all-digit key for a number.
pub(crate) fn series_key(query: &str, labels: &Labels) -> String {
    let mut h = Sha256::new();
    h.update(query.as_bytes());
    h.update([0u8]);
    KEY_SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        push_label_string(labels, scratch);
        h.update(scratch.as_bytes());
    });
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(17);
    key.push('s');
    for b in &digest[..8] {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    key
}

/// The value of label `name`, if present.
pub(crate) fn label<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(k, _)| k.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_strings_escape_and_keys_are_stable() {
        let l: Labels = vec![
            ("__name__".into(), "up".into()),
            ("job".into(), "a\"b\\".into()),
        ];
        assert_eq!(label_string(&l), r#"{__name__="up",job="a\"b\\"}"#);
        assert_eq!(series_key("q", &l), series_key("q", &l.clone()));
        assert_ne!(series_key("q", &l), series_key("r", &l));
        assert_eq!(series_key("q", &l).len(), 17);
        assert_eq!(label(&l, "job"), Some("a\"b\\"));
        assert_eq!(label(&l, "le"), None);
    }
}
