//! Selectors of the query fallback: the user's selector with a group's matchers added.
//!
//! The user's selector is parsed into its matchers (the parser remote read uses, which follows
//! Prometheus's lexer) and written back in braces form, every value as a double-quoted PromQL
//! string, so an added matcher can never change what the user's matchers mean: `name{a="b"}`
//! becomes `{__name__="name",a="b",…}`, and a `{__name__=~"…"}` selector keeps its regex beside
//! the group's own `__name__` matcher (Prometheus takes several `__name__` matchers in braces).

use crate::prometheus::remote_read::selector::{parse_selector, MatchOp, Matcher, SelectorError};
use std::fmt::Write;

/// The matchers of `selector`, to which groups add theirs.
pub(crate) fn user_matchers(selector: &str) -> Result<Vec<Matcher>, SelectorError> {
    parse_selector(selector)
}

/// `{m1,m2,…}`: `user`, then `added`, each as `name op "value"`.
pub(crate) fn render(user: &[Matcher], added: &[Matcher]) -> String {
    let mut out = String::from("{");
    for (i, m) in user.iter().chain(added).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let op = match m.op {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        };
        out.push_str(&m.name);
        out.push_str(op);
        quote(&m.value, &mut out);
    }
    out.push('}');
    out
}

/// `value` as a double-quoted PromQL (Go) string literal: `\` and `"` escaped, control
/// characters as `\uXXXX` (a raw newline would end the string in Prometheus's lexer).
pub(crate) fn quote(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A matcher selecting exactly the series whose `label` has one of `values` (`""`: the series
/// without the label): `label="v"` for one value, else an anchored alternation of the values,
/// each escaped (Prometheus's regexes are RE2, which takes every escape `regex::escape` writes).
pub(crate) fn one_of(label: &str, values: &[&str]) -> Matcher {
    match values {
        [one] => Matcher {
            op: MatchOp::Eq,
            name: label.to_owned(),
            value: (*one).to_owned(),
        },
        many => Matcher {
            op: MatchOp::Re,
            name: label.to_owned(),
            value: many
                .iter()
                .map(|v| regex::escape(v))
                .collect::<Vec<_>>()
                .join("|"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(label: &str, values: &[&str]) -> String {
        render(
            &user_matchers(r#"{job="n"}"#).unwrap(),
            &[one_of(label, values)],
        )
    }

    #[test]
    fn a_named_selector_is_written_in_braces_form_with_the_group_matcher_after() {
        let user = user_matchers(r#"node_cpu_seconds_total{mode!="idle", cpu=~"1|2"}"#).unwrap();
        let sel = render(&user, &[one_of("instance", &["a:9100"])]);
        assert_eq!(
            sel,
            r#"{__name__="node_cpu_seconds_total",mode!="idle",cpu=~"1|2",instance="a:9100"}"#
        );
        // It parses back to the user's matchers plus the added one.
        let back = parse_selector(&sel).unwrap();
        assert_eq!(back[..3], user[..]);
        assert_eq!(back.len(), 4);
    }

    #[test]
    fn a_name_regex_selector_keeps_its_regex_beside_the_groups_names() {
        let user = user_matchers(r#"{__name__=~"rr_.*"}"#).unwrap();
        let sel = render(&user, &[one_of("__name__", &["rr_dense", "rr_odd"])]);
        assert_eq!(sel, r#"{__name__=~"rr_.*",__name__=~"rr_dense|rr_odd"}"#);
        assert_eq!(parse_selector(&sel).unwrap().len(), 2);
    }

    #[test]
    fn values_are_escaped_for_promql_strings_and_for_regexes() {
        let odd = "a\"b\\c\nd.e*|f{g}\u{7f}é";
        // One value: an equality matcher; the PromQL string round-trips through the parser.
        let sel = added("x", &[odd]);
        assert_eq!(sel, r#"{job="n",x="a\"b\\c\u000ad.e*|f{g}\u007fé"}"#);
        let back = parse_selector(&sel).unwrap();
        assert_eq!(back[1].value, odd);
        assert_eq!(back[1].op, MatchOp::Eq);
        // Several: a regex that matches exactly the values (anchored, as Prometheus anchors).
        let sel = added("x", &[odd, "", "1.5"]);
        let back = parse_selector(&sel).unwrap();
        let re = regex::Regex::new(&format!("^(?:{})$", back[1].value)).unwrap();
        for v in [odd, "", "1.5"] {
            assert!(re.is_match(v), "{v:?}");
        }
        for v in ["a", "1x5", "a\"b\\c\nd.e*", "f{g}"] {
            assert!(!re.is_match(v), "{v:?}");
        }
    }

    #[test]
    fn single_quoted_and_backquoted_user_values_are_rewritten_double_quoted() {
        let user = user_matchers(r#"up{a='it''s', b=`c\d`}"#);
        // `'it''s'` is not a Go string: refused like Prometheus refuses it.
        assert!(user.is_err());
        let user = user_matchers(r#"up{a='it\'s', b=`c\d`}"#).unwrap();
        assert_eq!(render(&user, &[]), r#"{__name__="up",a="it's",b="c\\d"}"#);
    }
}
