//! Tests of the vector-selector parser.

use super::*;

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher {
        op,
        name: name.into(),
        value: value.into(),
    }
}

fn name(v: &str) -> Matcher {
    m(MatchOp::Eq, "__name__", v)
}

#[test]
fn bare_metric_name_is_a_name_matcher() {
    assert_eq!(parse_selector("up").unwrap(), vec![name("up")]);
    assert_eq!(
        parse_selector("  node:cpu_seconds:rate5m \n").unwrap(),
        vec![name("node:cpu_seconds:rate5m")]
    );
    assert_eq!(parse_selector("_x9").unwrap(), vec![name("_x9")]);
}

#[test]
fn metric_with_label_matchers_of_every_kind() {
    assert_eq!(
        parse_selector(r#"up{a="b"}"#).unwrap(),
        vec![name("up"), m(MatchOp::Eq, "a", "b")]
    );
    assert_eq!(
        parse_selector(r#" { a = "b" , c!="d",e=~"f.*",  g!~'h', } "#).unwrap(),
        vec![
            m(MatchOp::Eq, "a", "b"),
            m(MatchOp::Neq, "c", "d"),
            m(MatchOp::Re, "e", "f.*"),
            m(MatchOp::Nre, "g", "h"),
        ]
    );
    assert_eq!(
        parse_selector("x {}").unwrap(),
        vec![name("x")],
        "empty braces after a name"
    );
    assert_eq!(
        parse_selector(r#"{__name__=~"up|foo"}"#).unwrap(),
        vec![m(MatchOp::Re, "__name__", "up|foo")]
    );
}

#[test]
fn strings_follow_go_escapes_in_each_quote_style() {
    let one = |s: &str| parse_selector(&format!("{{a={s}}}")).map(|v| v[0].value.clone());
    assert_eq!(one(r#""a\"b\\c\n\t""#).unwrap(), "a\"b\\c\n\t");
    assert_eq!(one(r"'it\'s'").unwrap(), "it's");
    assert_eq!(one(r#"'say "hi"'"#).unwrap(), "say \"hi\"");
    assert_eq!(one(r"`raw\n\d+`").unwrap(), r"raw\n\d+");
    assert_eq!(one(r#""\x41\101\u00e9\U0001F600""#).unwrap(), "AAé😀");
    assert_eq!(one(r#""\a\b\f\r\v""#).unwrap(), "\x07\x08\x0c\r\x0b");
    assert_eq!(one(r#""é""#).unwrap(), "é");
    assert!(matches!(
        one(r#""\'""#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert!(matches!(
        one(r#"'\"'"#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert!(matches!(
        one(r#""\q""#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert!(matches!(
        one(r#""\x4""#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert!(matches!(
        one(r#""\777""#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert!(matches!(
        one(r#""\xff""#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert!(matches!(
        one(r#""\ud800""#),
        Err(SelectorError::BadEscape { .. })
    ));
    assert_eq!(
        parse_selector(r#"{a="b}"#),
        Err(SelectorError::UnterminatedString { offset: 3 })
    );
    assert!(matches!(
        parse_selector("{a=\"b\nc\"}"),
        Err(SelectorError::UnterminatedString { .. })
    ));
    assert!(matches!(
        parse_selector("{a=`b}"),
        Err(SelectorError::UnterminatedString { .. })
    ));
}

#[test]
fn anything_but_a_vector_selector_is_refused() {
    for bad in [
        "rate(x[5m])",
        "x[5m]",
        "x offset 5m",
        "x + y",
        "x{a=\"b\"}[1m]",
        "x{a=\"b\"} y",
        "{a b}",
        "{a=b}",
        "{a==\"b\"}",
        "{a=\"b\" c=\"d\"}",
        "{,}",
        "{1a=\"b\"}",
        "x{",
        "x{a=\"b\"",
        "9x",
        "\"x\"",
        "x{}{}",
    ] {
        assert!(
            matches!(parse_selector(bad), Err(SelectorError::Unexpected { .. })),
            "{bad}: {:?}",
            parse_selector(bad)
        );
    }
    let err = parse_selector("x[5m]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected '[' at offset 1: expected the end of the selector (range selectors are not allowed)"
    );
}

#[test]
fn selectors_that_match_everything_are_refused() {
    assert_eq!(parse_selector(""), Err(SelectorError::Empty));
    assert_eq!(parse_selector("  "), Err(SelectorError::Empty));
    for bad in [
        "{}",
        "{ , }",
        r#"{a=""}"#,
        r#"{a!="x"}"#,
        r#"{a=~".*"}"#,
        r#"{a!~"x+"}"#,
        r#"{a=~"x?",b=""}"#,
    ] {
        let got = parse_selector(bad);
        assert!(
            matches!(
                got,
                Err(SelectorError::MatchesEmpty) | Err(SelectorError::Unexpected { .. })
            ),
            "{bad}: {got:?}"
        );
    }
    assert_eq!(parse_selector("{}"), Err(SelectorError::MatchesEmpty));
    assert_eq!(
        parse_selector(r#"{a=~".*"}"#),
        Err(SelectorError::MatchesEmpty)
    );
    // One non-empty matcher is enough.
    assert!(parse_selector(r#"{a=~".*",b!=""}"#).is_ok());
    assert!(parse_selector(r#"{a=~".+"}"#).is_ok());
    assert!(parse_selector(r#"{a!~""}"#).is_ok());
    assert!(parse_selector(r#"{a=~"x|"}"#).is_err());
}

#[test]
fn metric_name_twice_and_bad_regex_are_refused() {
    assert_eq!(
        parse_selector(r#"up{__name__="x"}"#),
        Err(SelectorError::NameTwice { offset: 3 })
    );
    assert!(matches!(
        parse_selector(r#"up{a=~"("}"#),
        Err(SelectorError::InvalidRegex { ref name, .. }) if name == "a"
    ));
}
